//! The arguments of an event: raw JSON bytes plus binary attachments.
//!
//! The hub never builds a JSON tree of a payload (invariant 2): it keeps the
//! argument array as text and hands it on. Binary arguments are attachments,
//! referred to from the JSON by `{"_placeholder":true,"num":N}` as in the
//! Socket.IO protocol.

use bytes::Bytes;
use serde::{de::DeserializeOwned, Serialize};
use serde_json::value::RawValue;
use tungstenite::Utf8Bytes;

use crate::socketio::json;
use crate::Error;

/// Event arguments: a JSON array (as text) and its binary attachments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    json: Utf8Bytes,
    attachments: Vec<Bytes>,
}

impl Default for Payload {
    fn default() -> Self {
        Payload::empty()
    }
}

impl Payload {
    /// No arguments.
    pub fn empty() -> Payload {
        Payload { json: Utf8Bytes::from_static("[]"), attachments: Vec::new() }
    }

    /// Arguments from the text of a JSON array, e.g. `[1,"two",{"three":3}]`.
    ///
    /// ```
    /// let p = wshub::Payload::from_json(r#"["hello", 42]"#).unwrap();
    /// assert_eq!(p.json(), r#"["hello", 42]"#);
    /// assert!(wshub::Payload::from_json("{}").is_err());
    /// ```
    pub fn from_json(json: impl Into<String>) -> Result<Payload, Error> {
        let json = json.into();
        let is_array = json::first_byte(json.as_bytes()) == Some(b'[') && json::check(&json).is_ok();
        if !is_array {
            // The check says no; serde_json says where and why.
            let why = match serde_json::from_str::<Vec<&RawValue>>(&json) {
                Err(e) => e.to_string(),
                Ok(_) => format!("nested deeper than {} levels", json::MAX_DEPTH),
            };
            return Err(Error::InvalidPayload(format!("arguments must be a JSON array: {why}")));
        }
        Ok(Payload { json: Utf8Bytes::from(json), attachments: Vec::new() })
    }

    /// Arguments from any value that serialises to a JSON array (a tuple, a
    /// `Vec`, a `serde_json::Value::Array`).
    ///
    /// ```
    /// let p = wshub::Payload::from_args(&("hi", 3)).unwrap();
    /// assert_eq!(p.json(), r#"["hi",3]"#);
    /// ```
    pub fn from_args<T: Serialize + ?Sized>(args: &T) -> Result<Payload, Error> {
        let json = serde_json::to_string(args).map_err(|e| Error::InvalidPayload(e.to_string()))?;
        Payload::from_json(json)
    }

    /// One argument.
    ///
    /// ```
    /// let p = wshub::Payload::one(&"hello").unwrap();
    /// assert_eq!(p.json(), r#"["hello"]"#);
    /// ```
    pub fn one<T: Serialize + ?Sized>(arg: &T) -> Result<Payload, Error> {
        Payload::builder().arg(arg).map(PayloadBuilder::build)
    }

    /// A builder that mixes JSON and binary arguments.
    ///
    /// ```
    /// let p = wshub::Payload::builder().arg(&"file").unwrap().binary(vec![1u8, 2, 3]).build();
    /// assert_eq!(p.json(), r#"["file",{"_placeholder":true,"num":0}]"#);
    /// assert_eq!(&p.attachments()[0][..], &[1, 2, 3]);
    /// ```
    pub fn builder() -> PayloadBuilder {
        PayloadBuilder { json: String::from("["), attachments: Vec::new() }
    }

    /// Adds binary attachments to a JSON array that already holds their placeholders.
    pub fn with_attachments(mut self, attachments: Vec<Bytes>) -> Payload {
        self.attachments = attachments;
        self
    }

    /// Internal constructor for JSON known to be a valid array.
    pub(crate) fn from_trusted(json: Utf8Bytes, attachments: Vec<Bytes>) -> Payload {
        Payload { json, attachments }
    }

    /// The JSON array of the arguments.
    pub fn json(&self) -> &str {
        self.json.as_str()
    }

    /// The binary attachments, in placeholder order.
    pub fn attachments(&self) -> &[Bytes] {
        &self.attachments
    }

    /// The arguments, each as raw JSON text.
    pub fn args(&self) -> Vec<&RawValue> {
        serde_json::from_str(self.json()).unwrap_or_default()
    }

    /// Deserialises the arguments, e.g. into a tuple `(String, u32)`.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_str(self.json()).map_err(|e| Error::InvalidPayload(e.to_string()))
    }

    /// Deserialises the first argument.
    pub fn first<T: DeserializeOwned>(&self) -> Result<T, Error> {
        let args = self.args();
        let raw = args.first().ok_or_else(|| Error::InvalidPayload("no arguments".into()))?;
        serde_json::from_str(raw.get()).map_err(|e| Error::InvalidPayload(e.to_string()))
    }

    /// The text between the brackets of the array, trimmed: what follows the
    /// event name when the event is encoded.
    pub(crate) fn inner_json(&self) -> &str {
        // JSON's whitespace: four ASCII characters (a Unicode-aware trim costs more per emit).
        let ws = |c: char| matches!(c, ' ' | '\t' | '\n' | '\r');
        let s = self.json().trim_matches(ws);
        s.strip_prefix('[').and_then(|s| s.strip_suffix(']')).unwrap_or("").trim_matches(ws)
    }
}

/// Builds a [`Payload`] argument by argument.
#[derive(Debug)]
pub struct PayloadBuilder {
    json: String,
    attachments: Vec<Bytes>,
}

impl PayloadBuilder {
    fn separator(&mut self) {
        if self.json.len() > 1 {
            self.json.push(',');
        }
    }

    /// Adds a JSON argument.
    pub fn arg<T: Serialize + ?Sized>(mut self, value: &T) -> Result<PayloadBuilder, Error> {
        let text = serde_json::to_string(value).map_err(|e| Error::InvalidPayload(e.to_string()))?;
        self.separator();
        self.json.push_str(&text);
        Ok(self)
    }

    /// Adds an argument given as raw JSON text (checked).
    pub fn raw_arg(mut self, json: &str) -> Result<PayloadBuilder, Error> {
        serde_json::from_str::<&RawValue>(json).map_err(|e| Error::InvalidPayload(e.to_string()))?;
        self.separator();
        self.json.push_str(json);
        Ok(self)
    }

    /// Adds a binary argument, sent as an attachment.
    pub fn binary(mut self, data: impl Into<Bytes>) -> PayloadBuilder {
        self.separator();
        let num = self.attachments.len();
        self.json.push_str(&format!("{{\"_placeholder\":true,\"num\":{num}}}"));
        self.attachments.push(data.into());
        self
    }

    pub fn build(mut self) -> Payload {
        self.json.push(']');
        Payload { json: Utf8Bytes::from(self.json), attachments: self.attachments }
    }
}
