//! A socket as the admin UI shows it (its `SerializedSocket`).

use serde_json::{json, Value};

use crate::hub::{handshake_without_auth, Socket};

/// `{id, clientId, transport, nsp, data, handshake, rooms}`. The client id is
/// the first 12 characters of the Engine.IO session id, as the package sends
/// it (the whole id would let a UI user take over a polling session); the
/// handshake leaves out `auth`, which may hold the client's credentials.
pub(crate) fn serialize(socket: &Socket) -> Value {
    let session = &socket.0.session;
    let client_id: String = session.sid().chars().take(12).collect();
    json!({
        "id": socket.id(),
        "clientId": client_id,
        "transport": session.transport_name(),
        "nsp": socket.namespace(),
        "data": {},
        "handshake": handshake_without_auth(socket),
        "rooms": socket.rooms(),
    })
}
