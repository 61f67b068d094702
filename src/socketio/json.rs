//! The JSON check of what clients send (RFC 8259): is this text one JSON
//! value? Nothing is built. It runs on every event a client emits (the hub
//! passes the arguments on as text, and must not pass on text that is not
//! JSON); serde_json checks the same, but its visitor machinery, made for
//! building values, took twice the time in the echo's profile.
//!
//! Iterative, so the depth of nesting costs no stack; containers nested
//! deeper than `MAX_DEPTH` are refused (a bound for the clients that will
//! parse what the hub passes on).

/// The most containers one value may nest.
pub(crate) const MAX_DEPTH: usize = 512;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Invalid;

/// The index of the first byte from `i` that is not JSON whitespace.
pub fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

/// The first byte that is not JSON whitespace, if any.
pub fn first_byte(b: &[u8]) -> Option<u8> {
    b.get(skip_ws(b, 0)).copied()
}

/// Checks one whole text: a value between optional whitespace.
pub fn check(text: &str) -> Result<(), Invalid> {
    let b = text.as_bytes();
    let end = value(b, 0)?;
    if skip_ws(b, end) == b.len() {
        Ok(())
    } else {
        Err(Invalid)
    }
}

/// Skips the value at `i` (after optional whitespace); returns where it ends.
pub fn value(b: &[u8], i: usize) -> Result<usize, Invalid> {
    run(b, i, Nesting::default(), true)
}

/// Skips the rest of an array whose items so far were checked: from `i`
/// (after optional whitespace), `, item` any number of times, then `]`;
/// returns the index after the `]`.
pub fn array_tail(b: &[u8], i: usize) -> Result<usize, Invalid> {
    let mut nesting = Nesting::default();
    nesting.open(false)?;
    run(b, i, nesting, false)
}

/// Skips the string whose opening quote is at `i`; returns the index after
/// its closing quote, and whether it has escapes.
pub fn string(b: &[u8], i: usize) -> Result<(usize, bool), Invalid> {
    let mut i = i + 1;
    let mut escaped = false;
    loop {
        // The plain run first: most strings have no escapes at all.
        let plain = b[i.min(b.len())..].iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20);
        i += plain.ok_or(Invalid)?;
        match b[i] {
            b'"' => return Ok((i + 1, escaped)),
            b'\\' => {
                escaped = true;
                match b.get(i + 1) {
                    Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => i += 2,
                    Some(b'u') if b.get(i + 2..i + 6).is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) => i += 6,
                    _ => return Err(Invalid),
                }
            }
            _ => return Err(Invalid), // a control character
        }
    }
}

/// Skips the number at `i`; returns the index after it.
pub fn number(b: &[u8], mut i: usize) -> Result<usize, Invalid> {
    let digits = |mut i: usize| -> Result<usize, Invalid> {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            Err(Invalid)
        } else {
            Ok(i)
        }
    };
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    i = match b.get(i) {
        Some(b'0') => i + 1,
        _ => digits(i)?,
    };
    if b.get(i) == Some(&b'.') {
        i = digits(i + 1)?;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        i = digits(i)?;
    }
    Ok(i)
}

/// The containers open around the current position, innermost last.
#[derive(Default)]
struct Nesting {
    /// Bit k: the container at depth k is an object.
    objects: [u64; MAX_DEPTH / 64],
    depth: usize,
}

impl Nesting {
    fn open(&mut self, object: bool) -> Result<(), Invalid> {
        if self.depth == MAX_DEPTH {
            return Err(Invalid);
        }
        let (word, bit) = (self.depth / 64, 1u64 << (self.depth % 64));
        if object {
            self.objects[word] |= bit;
        } else {
            self.objects[word] &= !bit;
        }
        self.depth += 1;
        Ok(())
    }

    /// Whether the innermost container is an object (false when none is open).
    fn in_object(&self) -> bool {
        let Some(top) = self.depth.checked_sub(1) else { return false };
        self.objects[top / 64] >> (top % 64) & 1 == 1
    }
}

/// Skips `"key" :` at `i` (after optional whitespace); returns the index after the colon.
fn key(b: &[u8], i: usize) -> Result<usize, Invalid> {
    let i = skip_ws(b, i);
    if b.get(i) != Some(&b'"') {
        return Err(Invalid);
    }
    let i = skip_ws(b, string(b, i)?.0);
    if b.get(i) != Some(&b':') {
        return Err(Invalid);
    }
    Ok(i + 1)
}

/// The state machine of `value` and `array_tail`: with `want_value`, a value
/// comes next; otherwise a separator or the end of the innermost container.
fn run(b: &[u8], mut i: usize, mut nesting: Nesting, mut want_value: bool) -> Result<usize, Invalid> {
    loop {
        if want_value {
            i = skip_ws(b, i);
            match b.get(i) {
                Some(b'{') => {
                    i = skip_ws(b, i + 1);
                    if b.get(i) == Some(&b'}') {
                        i += 1;
                    } else {
                        nesting.open(true)?;
                        i = key(b, i)?;
                        continue;
                    }
                }
                Some(b'[') => {
                    i = skip_ws(b, i + 1);
                    if b.get(i) == Some(&b']') {
                        i += 1;
                    } else {
                        nesting.open(false)?;
                        continue;
                    }
                }
                Some(b'"') => i = string(b, i)?.0,
                Some(b'-' | b'0'..=b'9') => i = number(b, i)?,
                Some(b't') if b[i..].starts_with(b"true") => i += 4,
                Some(b'f') if b[i..].starts_with(b"false") => i += 5,
                Some(b'n') if b[i..].starts_with(b"null") => i += 4,
                _ => return Err(Invalid),
            }
            want_value = false;
        }
        // A value just ended.
        if nesting.depth == 0 {
            return Ok(i);
        }
        i = skip_ws(b, i);
        let object = nesting.in_object();
        match b.get(i) {
            Some(b',') if object => {
                i = key(b, i + 1)?;
                want_value = true;
            }
            Some(b',') => {
                i += 1;
                want_value = true;
            }
            Some(b'}') if object => {
                i += 1;
                nesting.depth -= 1;
            }
            Some(b']') if !object => {
                i += 1;
                nesting.depth -= 1;
            }
            _ => return Err(Invalid),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serde_ok(s: &str) -> bool {
        serde_json::from_str::<serde::de::IgnoredAny>(s).is_ok()
    }

    #[test]
    fn agrees_with_serde_json() {
        let cases = [
            "0",
            "-0",
            "01",
            "-",
            "1.",
            "1.5",
            ".5",
            "1e5",
            "1E+5",
            "1e-5",
            "1e",
            "-1.5e3",
            "2.",
            "1.2.3",
            "\"\"",
            "\"a\\\"b\"",
            "\"\\u00e9\"",
            "\"\\u00g9\"",
            "\"\\x\"",
            "\"\t\"",
            "\"é\"",
            "\"\\ud800\"",
            "true",
            "false",
            "null",
            "tru",
            "nul",
            "truex",
            "[]",
            "[ ]",
            "[1,]",
            "[,1]",
            "[1 2]",
            "[1,[2,[3]]]",
            "{}",
            "{ }",
            "{\"a\":1}",
            "{\"a\" : [1, {\"b\":null}] }",
            "{\"a\"}",
            "{\"a\":}",
            "{a:1}",
            "{\"a\":1,}",
            "{,}",
            "[\"a\",{\"t\":1,\"p\":\"xx\"}]",
            "  [1]  ",
            "[1]x",
            "",
            " ",
            "[",
            "]",
            "{\"a\":1]",
            "[1}",
            "\"unterminated",
            "[\"a\\\\\"]",
            "[-]",
            "[1e+]",
            "{\"\":\"\"}",
            "[[[]]]",
            "[{}, [], \"\", 0]",
        ];
        for case in cases {
            assert_eq!(check(case).is_ok(), serde_ok(case), "{case:?}");
        }
    }

    #[test]
    fn agrees_with_serde_json_on_mutations() {
        // Every one-byte change of a few valid texts, among bytes that matter to JSON.
        let seeds = ["[\"ev\",{\"t\":12,\"p\":[true,null,-1.5e2]},\"s\\n\"]", "{\"a\":[{},[]],\"b\":\"\\u0041\"}"];
        let alphabet = b"[]{},:\"\\ \t0123456789-+.eEtrufalsn/x";
        for seed in seeds {
            for pos in 0..seed.len() {
                for &c in alphabet {
                    let mut bytes = seed.as_bytes().to_vec();
                    bytes[pos] = c;
                    let s = String::from_utf8(bytes).unwrap();
                    assert_eq!(check(&s).is_ok(), serde_ok(&s), "{s:?}");
                    let mut shorter = seed.as_bytes().to_vec();
                    shorter.remove(pos);
                    let s = String::from_utf8(shorter).unwrap();
                    assert_eq!(check(&s).is_ok(), serde_ok(&s), "{s:?}");
                }
            }
        }
    }

    #[test]
    fn nesting_is_bounded_without_recursion() {
        let nest = |n: usize, open: &str, close: &str| format!("{}1{}", open.repeat(n), close.repeat(n));
        assert!(check(&nest(MAX_DEPTH, "[", "]")).is_ok());
        assert!(check(&nest(MAX_DEPTH, "{\"a\":", "}")).is_ok());
        assert!(check(&nest(MAX_DEPTH + 1, "[", "]")).is_err());
        assert!(check(&nest(100_000, "[{\"a\":", "}]")).is_err());
        // Objects and arrays alternate across the 64-bit words of the stack.
        let mixed = format!("{}1{}", "[{\"k\":".repeat(200), "}]".repeat(200));
        assert!(check(&mixed).is_ok());
        assert!(check(&format!("{}1{}", "[{\"k\":".repeat(200), "]}".repeat(200))).is_err());
    }

    #[test]
    fn array_tail_checks_the_rest_of_an_array() {
        let b = br#"["ev", 1, {"a":[2]} ] "#;
        assert_eq!(array_tail(b, 5), Ok(21));
        assert_eq!(array_tail(br#"["ev"]"#, 5), Ok(6));
        assert!(array_tail(br#"["ev", ]"#, 5).is_err());
        assert!(array_tail(br#"["ev" 1]"#, 5).is_err());
    }
}
