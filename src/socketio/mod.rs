//! Socket.IO v5 over an Engine.IO session: the packet codec (`packet`) and
//! what a connection does with each packet (`conn`): namespace connects
//! through the guards, events to the handlers, acks to their waiters, and
//! the reassembly of binary attachments.

pub mod conn;
pub mod json;
pub mod packet;
