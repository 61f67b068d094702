//! WebSocket (RFC 6455) framing and permessage-deflate (RFC 7692) over any
//! byte stream: the codec (`stream`) and the compression (`deflate`). This
//! layer knows bytes, frames and messages only; what a message means is the
//! Engine.IO layer's, and how the connection was accepted is the server's.

pub mod deflate;
mod stream;

#[cfg(test)]
pub(crate) use stream::unmask;
pub(crate) use stream::{push_frame, push_header};
pub use stream::{FrameWriter, WsStream};

use tokio::io::{AsyncRead, AsyncWrite};

/// A connection's byte stream: plain TCP, or TLS over TCP. The code above is
/// generic over it, so the plain path pays nothing for TLS.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Stream for T {}
