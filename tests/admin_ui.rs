//! The server side of the Socket.IO admin UI, driven as the UI drives it:
//! a Socket.IO client of `/admin` that logs in, gets its session, the config,
//! every socket and the stats, follows sockets as they come, join and go, and
//! (unless read-only) emits to, joins and disconnects them; the page's files
//! served from a folder.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{connect, http, read_text, Client, TempDir};
use serde_json::Value;
use tungstenite::Message;
use wshub::{AdminUiConfig, Hub};

fn hub(read_only: bool, ui_dir: Option<&std::path::Path>) -> (Hub, SocketAddr) {
    let mut admin = AdminUiConfig::new("admin", "pa55");
    admin.read_only = read_only;
    admin.ui_dir = ui_dir.map(|d| d.to_path_buf());
    let hub = Hub::builder().port(0).admin_ui(admin).build().unwrap();
    let addr = hub.start().unwrap();
    (hub, addr)
}

/// An Engine.IO WebSocket session that joins `/admin` with `auth`; returns
/// the client and the CONNECT answer (or the CONNECT_ERROR).
fn admin_client(addr: SocketAddr, auth: &str) -> (Client, String) {
    let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
    let (mut ws, _) = tungstenite::connect(url).unwrap();
    common::tcp(&mut ws).set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    assert!(read_text(&mut ws).starts_with("0{"));
    ws.send(Message::text(format!("40/admin,{auth}"))).unwrap();
    let answer = read_text(&mut ws);
    (ws, answer)
}

/// The next event on `/admin` named `name` (others skipped): its arguments.
fn next_event(ws: &mut Client, name: &str) -> Vec<Value> {
    loop {
        let text = read_text(ws);
        let Some(json) = text.strip_prefix("42/admin,") else { continue };
        let mut v: Vec<Value> = serde_json::from_str(json).unwrap();
        if v[0] == name {
            v.remove(0);
            return v;
        }
    }
}

#[test]
fn a_ui_without_the_credentials_is_refused() {
    let (hub, addr) = hub(false, None);
    for auth in ["", r#"{"username":"admin","password":"nope"}"#, r#"{"sessionId":"made-up"}"#] {
        let (_ws, answer) = admin_client(addr, auth);
        assert_eq!(answer, r#"44/admin,{"message":"invalid credentials"}"#, "auth {auth:?}");
    }
    hub.stop(Duration::from_secs(1)).unwrap();
}

#[test]
fn the_ui_sees_the_server_and_its_sockets_and_acts_on_them() {
    let (hub, addr) = hub(false, None);
    let (mut early, early_id) = connect(addr);
    let (mut ui, answer) = admin_client(addr, r#"{"username":"admin","password":"pa55"}"#);
    assert!(answer.starts_with("40/admin,{\"sid\""), "{answer}");

    let session = next_event(&mut ui, "session")[0].as_str().unwrap().to_string();
    let config = next_event(&mut ui, "config");
    let features = config[0]["supportedFeatures"].as_array().unwrap();
    for f in ["EMIT", "JOIN", "LEAVE", "DISCONNECT", "MJOIN", "AGGREGATED_EVENTS"] {
        assert!(features.iter().any(|x| x == f), "{f} missing from {features:?}");
    }
    let all = next_event(&mut ui, "all_sockets");
    let socket = all[0].as_array().unwrap().iter().find(|s| s["id"] == early_id.as_str()).expect("the early socket");
    assert_eq!((socket["nsp"].as_str(), socket["transport"].as_str()), (Some("/"), Some("websocket")));
    assert_eq!(socket["rooms"], serde_json::json!([early_id]));
    assert!(socket["handshake"]["headers"]["host"].is_string() && socket["handshake"].get("auth").is_none());
    let stats = next_event(&mut ui, "server_stats");
    assert_eq!(stats[0]["pid"], std::process::id());
    assert_eq!(stats[0]["clientsCount"], 2);
    let main = stats[0]["namespaces"].as_array().unwrap().iter().find(|n| n["name"] == "/").unwrap().clone();
    assert_eq!(main["socketsCount"], 1);

    // A socket that connects, and is then made to join a room by the UI.
    let (mut late, late_id) = connect(addr);
    let connected = next_event(&mut ui, "socket_connected");
    assert_eq!(connected[0]["id"], late_id.as_str());
    assert!(connected[1].as_str().unwrap().ends_with('Z'), "{connected:?}"); // a Date, as JSON writes it
    ui.send(Message::text(format!(r#"42/admin,["join","/","lobby","{late_id}"]"#))).unwrap();
    let joined = next_event(&mut ui, "room_joined");
    assert_eq!(joined[..3], [Value::from("/"), Value::from("lobby"), Value::from(late_id.as_str())]);
    assert_eq!(hub.of("/").rooms(), ["lobby"]);

    // An emit to the room reaches its member only.
    ui.send(Message::text(r#"42/admin,["emit","/","lobby","news",1,{"a":2}]"#)).unwrap();
    assert_eq!(read_text(&mut late), r#"42["news",1,{"a":2}]"#);
    // Then the UI disconnects everyone in "/": both clients hear it.
    ui.send(Message::text(r#"42/admin,["_disconnect","/",false,null]"#)).unwrap();
    assert_eq!(read_text(&mut late), "41");
    assert_eq!(read_text(&mut early), "41");
    let gone = next_event(&mut ui, "socket_disconnected");
    assert_eq!(gone[2], "server namespace disconnect");

    // The session id lets the UI come back without the password, and gets it no new session.
    let (mut again, answer) = admin_client(addr, &format!(r#"{{"sessionId":"{session}"}}"#));
    assert!(answer.starts_with("40/admin,"), "{answer}");
    let first = read_text(&mut again);
    assert!(!first.contains("\"session\""), "{first}");
    hub.stop(Duration::from_secs(1)).unwrap();
}

#[test]
fn server_stats_come_every_two_seconds_with_what_changed() {
    let (hub, addr) = hub(false, None);
    let (mut ui, _) = admin_client(addr, r#"{"username":"admin","password":"pa55"}"#);
    next_event(&mut ui, "server_stats"); // the one of the welcome
    let (mut c, _) = connect(addr);
    c.send(Message::text(r#"42["hello"]"#)).unwrap();
    let mut kinds = Vec::new();
    for _ in 0..3 {
        let stats = next_event(&mut ui, "server_stats");
        kinds.extend(stats[0]["aggregatedEvents"].as_array().unwrap().iter().map(|e| e["type"].to_string()));
        if kinds.iter().any(|k| k == "\"packetsIn\"") {
            break;
        }
    }
    assert!(kinds.iter().any(|k| k == "\"rawConnection\""), "{kinds:?}");
    assert!(kinds.iter().any(|k| k == "\"packetsIn\""), "{kinds:?}");
    hub.stop(Duration::from_secs(1)).unwrap();
}

#[test]
fn a_read_only_ui_sees_but_changes_nothing() {
    let (hub, addr) = hub(true, None);
    let (_c, id) = connect(addr);
    let (mut ui, _) = admin_client(addr, r#"{"username":"admin","password":"pa55"}"#);
    let config = next_event(&mut ui, "config");
    assert_eq!(config[0]["supportedFeatures"], serde_json::json!(["AGGREGATED_EVENTS", "ALL_EVENTS"]));
    ui.send(Message::text(format!(r#"42/admin,["join","/","lobby","{id}"]"#))).unwrap();
    ui.send(Message::text(r#"42/admin,["_disconnect","/",true,null]"#)).unwrap();
    // A round trip on the same connection: the orders before it were handled (and ignored).
    ui.send(Message::text("2probe")).unwrap();
    while read_text(&mut ui) != "3probe" {}
    assert!(hub.of("/").rooms().is_empty());
    assert_eq!(hub.of("/").sockets().len(), 1);
    hub.stop(Duration::from_secs(1)).unwrap();
}

#[test]
fn the_ui_page_is_served_from_its_folder() {
    let dir = TempDir::new("admin-ui");
    std::fs::create_dir_all(dir.path().join("js")).unwrap();
    std::fs::write(dir.path().join("index.html"), "<title>Socket.IO Admin UI</title>").unwrap();
    std::fs::write(dir.path().join("js/app.js"), "console.log(1)").unwrap();
    let (hub, addr) = hub(false, Some(dir.path()));
    assert_eq!(http(addr, "GET", "/admin/", ""), (200, "<title>Socket.IO Admin UI</title>".to_string()));
    assert_eq!(http(addr, "GET", "/admin/js/app.js", ""), (200, "console.log(1)".to_string()));
    assert_eq!(http(addr, "GET", "/admin/../Cargo.toml", "").0, 404);
    assert!(hub.serves_path("/admin/js/app.js"));
    hub.stop(Duration::from_secs(1)).unwrap();
}

#[test]
fn a_socket_that_upgrades_is_shown_on_its_websocket() {
    let (hub, addr) = hub(false, None);
    let (mut ui, _) = admin_client(addr, r#"{"username":"admin","password":"pa55"}"#);
    next_event(&mut ui, "server_stats");
    let (sid, id) = common::polling_connect(addr);
    assert_eq!(next_event(&mut ui, "socket_connected")[0]["transport"], "polling");
    let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket&sid={sid}");
    let (mut ws, _) = tungstenite::connect(url).unwrap();
    common::tcp(&mut ws).set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    ws.send(Message::text("2probe")).unwrap();
    assert_eq!(read_text(&mut ws), "3probe");
    ws.send(Message::text("5")).unwrap();
    let updated = next_event(&mut ui, "socket_updated");
    assert_eq!(updated[0], serde_json::json!({ "id": id, "nsp": "/", "transport": "websocket" }));
    hub.stop(Duration::from_secs(1)).unwrap();
}

#[test]
fn a_connected_ui_is_shown_the_events_received_and_sent() {
    let (hub, addr) = hub(false, None);
    hub.on("hello", |ev| {
        ev.socket().emit("welcome", ev.args()).ok();
    });
    let (mut c, id) = connect(addr);
    let (mut ui, _) = admin_client(addr, r#"{"username":"admin","password":"pa55"}"#);
    next_event(&mut ui, "server_stats");
    c.send(Message::text(r#"42["hello",1,{"x":"y"}]"#)).unwrap();
    assert_eq!(read_text(&mut c), r#"42["welcome",1,{"x":"y"}]"#);
    let received = next_event(&mut ui, "event_received");
    assert_eq!(
        received[..3],
        [Value::from("/"), Value::from(id.as_str()), serde_json::json!(["hello", 1, {"x": "y"}])]
    );
    let sent = next_event(&mut ui, "event_sent");
    assert_eq!(sent[..3], [Value::from("/"), Value::from(id.as_str()), serde_json::json!(["welcome", 1, {"x": "y"}])]);
    // A broadcast is shown for its receivers too.
    hub.emit("news", &wshub::Payload::one(&"all").unwrap());
    let sent = next_event(&mut ui, "event_sent");
    assert_eq!(sent[2], serde_json::json!(["news", "all"]));
    hub.stop(Duration::from_secs(1)).unwrap();
}
