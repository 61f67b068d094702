"""``Server(admin_ui=...)``: the Socket.IO admin UI's namespace, as its page uses it,
driven by python-socketio's client: login, config, the sockets, and the refusal."""

from __future__ import annotations

import pytest
import socketio

from conftest import Recorder


def test_admin_ui_logs_in_and_lists_the_sockets(make_server, make_client):
    sio = make_server(admin_ui={"username": "admin", "password": "pa55", "read_only": True})
    sio.start()
    url = f"http://127.0.0.1:{sio.port}"
    make_client(url)  # a socket of "/" for the UI to see
    rec = Recorder()
    ui = socketio.Client(reconnection=False, request_timeout=5)
    for event in ("session", "config", "all_sockets", "server_stats"):
        ui.on(event, rec.handler(event), namespace="/admin")
    ui.connect(url, namespaces=["/admin"], transports=["websocket"], auth={"username": "admin", "password": "pa55"},
               wait_timeout=5)
    try:
        [[session]] = rec.wait_for("session")
        assert isinstance(session, str) and session
        [[config]] = rec.wait_for("config")
        assert config == {"supportedFeatures": ["AGGREGATED_EVENTS", "ALL_EVENTS"]}  # read-only: no action offered
        [[sockets]] = rec.wait_for("all_sockets")
        assert sorted(s["nsp"] for s in sockets) == ["/", "/admin"]
        [[stats]] = rec.wait_for("server_stats")
        assert {n["name"]: n["socketsCount"] for n in stats["namespaces"]}["/"] == 1
    finally:
        ui.disconnect()


def test_admin_ui_refuses_a_wrong_password(make_server):
    sio = make_server(admin_ui={"username": "admin", "password": "pa55"})
    sio.start()
    ui = socketio.Client(reconnection=False, request_timeout=5)
    rec = Recorder()
    ui.on("connect_error", rec.handler("connect_error"), namespace="/admin")
    with pytest.raises(socketio.exceptions.ConnectionError, match="/admin"):
        ui.connect(f"http://127.0.0.1:{sio.port}", namespaces=["/admin"], transports=["websocket"],
                   auth={"username": "admin", "password": "wrong"}, wait_timeout=5)
    assert rec.wait_for("connect_error") == [[{"message": "invalid credentials"}]]


def test_admin_ui_options_are_checked(make_server):
    with pytest.raises(ValueError, match="admin_ui takes"):
        make_server(admin_ui={"username": "admin", "password": "x", "readonly": True})
