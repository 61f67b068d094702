//! Session and socket ids: 120 random bits, URL-safe base64 (20 characters),
//! like the reference server's.

use std::sync::Arc;

use base64::Engine as _;

pub fn generate() -> Arc<str> {
    let bytes: [u8; 15] = rand::random();
    Arc::from(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}
