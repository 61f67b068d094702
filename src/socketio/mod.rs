//! Socket.IO v5, the protocol alone: the packet codec (`packet`), the
//! arguments of an event as raw JSON plus attachments (`payload`), and the
//! validator for the JSON clients send (`json`). What a connection does with
//! the packets (namespaces, handlers, acks) is the hub's (`hub::conn`).

pub mod json;
pub mod packet;
pub mod payload;
