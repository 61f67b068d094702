//! MessagePack as the Node adapters write it (`notepack.io`), turned into
//! the hub's form and back: JSON text whose binary parts are Socket.IO
//! placeholders, with the bytes beside it as attachments. One serde path then
//! reads both encodings, and payloads stay raw JSON for the hub.

use std::fmt::Write as _;

use bytes::Bytes;
use serde_json::value::RawValue;

use crate::socketio::payload::Payload;

/// Nesting deeper than this is refused (a hostile publisher cannot overflow the stack).
const MAX_DEPTH: usize = 64;

/// MessagePack to JSON text; binary values become placeholders numbered in
/// the order met, their bytes collected as attachments.
pub fn to_json(msg: &[u8]) -> Result<(String, Vec<Bytes>), String> {
    let value =
        rmpv::decode::read_value_with_max_depth(&mut &msg[..], MAX_DEPTH).map_err(|e| format!("MessagePack: {e}"))?;
    let mut json = String::with_capacity(msg.len() + 16);
    let mut attachments = Vec::new();
    write_json(&value, &mut json, &mut attachments, 0)?;
    Ok((json, attachments))
}

/// Reads a message the Node adapters wrote as JSON (it starts with `{`) or
/// as MessagePack (anything else).
pub fn read<T: for<'de> serde::Deserialize<'de>>(msg: &[u8]) -> Result<(T, Vec<Bytes>), String> {
    let (json, attachments) = if msg.first() == Some(&b'{') {
        (std::str::from_utf8(msg).map_err(|e| e.to_string())?.to_string(), Vec::new())
    } else {
        to_json(msg)?
    };
    Ok((serde_json::from_str(&json).map_err(|e| format!("cluster message: {e}"))?, attachments))
}

/// A JSON value (placeholders standing for `attachments`) as MessagePack.
pub fn from_json(v: &serde_json::Value, attachments: &[Bytes]) -> Vec<u8> {
    let mut out = Vec::new();
    rmpv::encode::write_value(&mut out, &to_value(v, attachments)).expect("writing to a Vec cannot fail");
    out
}

/// The arguments of a payload as JSON values (placeholders kept).
pub fn args_of(payload: &Payload) -> Vec<serde_json::Value> {
    serde_json::from_str(payload.json()).unwrap_or_default()
}

/// `[event, ...args]` of a payload, as a JSON value.
pub fn event_array(event: &str, args: &Payload) -> serde_json::Value {
    let mut data = vec![serde_json::Value::from(event)];
    data.extend(args_of(args));
    serde_json::Value::Array(data)
}

/// Splits `[event, ...args]` (an event packet's or a server-side emit's data).
pub fn event_and_args(data: &RawValue, attachments: Vec<Bytes>) -> Option<(String, Payload)> {
    let items: Vec<&RawValue> = serde_json::from_str(data.get()).ok()?;
    let (event, args) = items.split_first()?;
    let event: String = serde_json::from_str(event.get()).ok()?;
    Some((event, raw_args(args, attachments)))
}

/// The first argument of a payload (an ack's answer), `null` without one.
pub fn first_arg(answer: &Payload) -> serde_json::Value {
    args_of(answer).into_iter().next().unwrap_or(serde_json::Value::Null)
}

fn raw_args(args: &[&RawValue], attachments: Vec<Bytes>) -> Payload {
    let mut json = String::with_capacity(2 + args.iter().map(|a| a.get().len() + 1).sum::<usize>());
    json.push('[');
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            json.push(',');
        }
        json.push_str(a.get());
    }
    json.push(']');
    Payload::from_trusted(json.into(), attachments)
}

fn to_value(v: &serde_json::Value, attachments: &[Bytes]) -> rmpv::Value {
    use rmpv::Value;
    match v {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Boolean(*b),
        serde_json::Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => Value::from(u),
            (None, Some(i)) => Value::from(i),
            _ => Value::F64(n.as_f64().unwrap_or(0.0)),
        },
        serde_json::Value::String(s) => Value::from(s.as_str()),
        serde_json::Value::Array(items) => Value::Array(items.iter().map(|i| to_value(i, attachments)).collect()),
        serde_json::Value::Object(map) => {
            if let Some(bin) = placeholder(map).and_then(|n| attachments.get(n)) {
                return Value::Binary(bin.to_vec());
            }
            Value::Map(map.iter().map(|(k, v)| (Value::from(k.as_str()), to_value(v, attachments))).collect())
        }
    }
}

fn placeholder(map: &serde_json::Map<String, serde_json::Value>) -> Option<usize> {
    if map.len() != 2 || map.get("_placeholder") != Some(&serde_json::Value::Bool(true)) {
        return None;
    }
    map.get("num")?.as_u64().map(|n| n as usize)
}

fn write_json(v: &rmpv::Value, out: &mut String, attachments: &mut Vec<Bytes>, depth: usize) -> Result<(), String> {
    use rmpv::Value;
    if depth > MAX_DEPTH {
        return Err("MessagePack nested too deeply".into());
    }
    match v {
        // notepack writes `undefined` as an extension; JSON has only null.
        Value::Nil | Value::Ext(..) => out.push_str("null"),
        Value::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Integer(i) => {
            let _ = write!(out, "{i}");
        }
        Value::F32(f) => write_float(out, f64::from(*f)),
        Value::F64(f) => write_float(out, *f),
        Value::String(s) => write_str(out, &String::from_utf8_lossy(s.as_bytes())),
        Value::Binary(b) => {
            let _ = write!(out, "{{\"_placeholder\":true,\"num\":{}}}", attachments.len());
            attachments.push(Bytes::copy_from_slice(b));
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(item, out, attachments, depth + 1)?;
            }
            out.push(']');
        }
        Value::Map(entries) => {
            out.push('{');
            for (i, (k, v)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                match k {
                    Value::String(s) => write_str(out, &String::from_utf8_lossy(s.as_bytes())),
                    other => write_str(out, &other.to_string()),
                }
                out.push(':');
                write_json(v, out, attachments, depth + 1)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

fn write_float(out: &mut String, f: f64) {
    match serde_json::Number::from_f64(f) {
        Some(n) => out.push_str(&n.to_string()),
        None => out.push_str("null"), // what JSON.stringify writes for NaN and Infinity
    }
}

fn write_str(out: &mut String, s: &str) {
    out.push_str(&serde_json::to_string(s).expect("a string always serializes"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_round_trips_through_placeholders() {
        let args = Payload::builder().arg(&"hi").unwrap().binary(vec![1u8, 2, 3]).arg(&1.5).unwrap().build();
        let msg = from_json(&event_array("ev", &args), args.attachments());
        let (json, attachments) = to_json(&msg).unwrap();
        assert_eq!(json, r#"["ev","hi",{"_placeholder":true,"num":0},1.5]"#);
        assert_eq!(attachments, vec![Bytes::from_static(&[1, 2, 3])]);
    }

    #[test]
    fn hostile_input_is_an_error_not_a_panic() {
        assert!(to_json(b"").is_err());
        assert!(to_json(&[0x93, 0xa1]).is_err());
        let mut deep = vec![0x91u8; 10_000];
        deep.push(0xc0);
        assert!(to_json(&deep).is_err());
    }
}
