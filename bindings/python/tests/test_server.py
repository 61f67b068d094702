"""wshub.Server (handlers on the dispatcher thread) against python-socketio's client."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pytest
import socketio

import wshub
from conftest import Recorder


def test_event_decorators_and_return_acks(make_server, make_client):
    sio = make_server()

    @sio.event
    def hello(sid, name):
        return f"hello {name}"

    @sio.on("sum")
    def add(sid, a, b):
        return a + b

    @sio.on("pair")
    def pair(sid):
        return ("one", 2)  # a tuple: two ack arguments

    @sio.on("nothing")
    def nothing(sid):
        return None

    def plain(sid, x):
        return x * 2

    sio.on("plain", plain)
    sio.start()
    client = make_client(sio.url)
    assert client.call("hello", "bob", timeout=5) == "hello bob"
    assert client.call("sum", (2, 3), timeout=5) == 5
    assert client.call("pair", timeout=5) == ("one", 2)
    assert client.call("nothing", timeout=5) is None
    assert client.call("plain", 21, timeout=5) == 42


def test_handlers_run_on_the_dispatcher_thread(make_server, make_client):
    sio = make_server()
    threads: list[str] = []

    @sio.event
    def where(sid):
        threads.append(threading.current_thread().name)
        return sio.on_dispatcher_thread()

    sio.start()
    client = make_client(sio.url)
    assert client.call("where", timeout=5) is True
    assert client.call("where", timeout=5) is True
    assert threading.current_thread().name not in threads
    assert not sio.on_dispatcher_thread()


def test_catch_all_gets_events_without_a_handler(make_server, make_client, rec):
    sio = make_server()

    @sio.on("*")
    def any_event(event, sid, *args):
        rec.add("any", event, *args)
        return event.upper()

    @sio.event
    def own(sid, x):
        rec.add("own", x)

    sio.start()
    client = make_client(sio.url)
    assert client.call("whatever", ("a", 1), timeout=5) == "WHATEVER"
    client.emit("own", 7)
    client.emit("other", {"k": [1, 2]})
    rec.wait_for("own")
    assert rec.wait_for("any", 2) == [["whatever", "a", 1], ["other", {"k": [1, 2]}]]


def test_connect_gets_sid_environ_auth_and_disconnect_gets_reason(make_server, make_client, rec):
    sio = make_server()

    @sio.event
    def connect(sid, environ, auth):
        rec.add("connect", sid, environ, auth)

    @sio.event
    def disconnect(sid, reason):
        rec.add("disconnect", sid, reason)

    @sio.event
    def whoami(sid):
        return sid

    sio.start()
    client = make_client(sio.url, auth={"token": "abc"})
    [[sid, environ, auth]] = rec.wait_for("connect")
    assert auth == {"token": "abc"}
    assert environ["REMOTE_ADDR"] == "127.0.0.1"
    assert environ["PATH_INFO"] == "/socket.io/"
    assert "EIO=4" in environ["QUERY_STRING"]
    assert client.call("whoami", timeout=5) == sid  # the same sid everywhere on the Python side
    env = sio.get_environ(sid)
    assert env is not None and env["HTTP_HOST"].startswith("127.0.0.1:")
    assert env["wshub.socket_id"] == client.get_sid("/")  # the id the client knows
    client.disconnect()
    [[dsid, reason]] = rec.wait_for("disconnect")
    # python-socketio's client sends DISCONNECT and closes at once: either may arrive first
    assert dsid == sid and reason in ("client namespace disconnect", "transport close")


def test_connect_without_auth_and_legacy_signatures(make_server, make_client, rec):
    sio = make_server()

    @sio.event
    def connect(sid, environ):  # no auth parameter
        rec.add("connect", sid)

    @sio.event
    def disconnect(sid):  # no reason parameter
        rec.add("disconnect", sid)

    sio.start()
    client = make_client(sio.url)
    [[sid]] = rec.wait_for("connect")
    client.disconnect()
    assert rec.wait_for("disconnect") == [[sid]]


@pytest.mark.parametrize("how, message", [
    ("false", "Connection rejected by server"),
    ("wshub", "go away"),
    ("builtin", "not you"),
    ("socketio", "bad token"),
])
def test_connect_rejection(make_server, make_client, how, message):
    sio = make_server()

    @sio.event
    def connect(sid, environ, auth):
        if auth and auth.get("token") == "ok":
            return True
        if how == "false":
            return False
        if how == "wshub":
            raise wshub.ConnectionRefusedError("go away")
        if how == "builtin":
            raise ConnectionRefusedError("not you")
        raise socketio.exceptions.ConnectionRefusedError("bad token")

    sio.start()
    errors = Recorder()
    client = make_client(sio.url, connect=False, handlers={("connect_error", "/"): errors.handler("error")})
    with pytest.raises(socketio.exceptions.ConnectionError):
        client.connect(sio.url, transports=["websocket"], wait_timeout=5)
    assert errors.wait_for("error") == [[{"message": message}]]
    make_client(sio.url, auth={"token": "ok"})  # the right token gets in


def test_connect_handler_exception_refuses_and_is_logged(make_server, make_client, caplog):
    sio = make_server()

    @sio.event
    def connect(sid, environ):
        raise KeyError("boom")

    sio.start()
    client = make_client(sio.url, connect=False)
    with caplog.at_level(logging.ERROR, logger="wshub"):
        with pytest.raises(socketio.exceptions.ConnectionError):
            client.connect(sio.url, transports=["websocket"], wait_timeout=5)
    assert any("connect" in r.getMessage() and r.exc_info and r.exc_info[0] is KeyError for r in caplog.records)


def test_connect_handler_can_emit_join_and_save_session(make_server, make_client):
    sio = make_server()

    @sio.event
    def connect(sid, environ, auth):
        sio.save_session(sid, {"user": auth["user"]})
        sio.enter_room(sid, "lobby")
        sio.emit("welcome", f"hi {auth['user']}", to=sid)

    @sio.event
    def me(sid):
        return sio.get_session(sid)["user"], sorted(sio.rooms(sid)), sid in sio.rooms(sid)

    @sio.event
    def shout(sid, text):
        sio.emit("lobby", text, room="lobby")

    sio.start()
    client = make_client(sio.url, auth={"user": "ann"}, record=("welcome", "lobby"))
    assert client.rec.wait_for("welcome") == [["hi ann"]]
    user, rooms, own = client.call("me", timeout=5)
    assert user == "ann" and "lobby" in rooms and own
    client.emit("shout", "hey")
    assert client.rec.wait_for("lobby") == [["hey"]]


def test_emit_targets(make_server, make_client):
    sio = make_server()
    sids: dict[str, str] = {}

    @sio.event
    def name(sid, n):
        sids[n] = sid
        return True

    @sio.event
    def join(sid, room):
        sio.enter_room(sid, room)
        return True

    @sio.event
    def leave(sid, room):
        sio.leave_room(sid, room)
        return True

    sio.start()
    clients = {}
    for n in ("a", "b", "c"):
        clients[n] = make_client(sio.url, record=("msg",))
        assert clients[n].call("name", n, timeout=5)
    clients["a"].call("join", "red", timeout=5)
    clients["b"].call("join", "red", timeout=5)
    clients["c"].call("join", "blue", timeout=5)

    def received(expected: dict[str, list[Any]]) -> None:
        for n, want in expected.items():
            if want:
                assert clients[n].rec.wait_for("msg", len(want)) == want, n
        time.sleep(0.2)
        for n, want in expected.items():
            assert clients[n].rec.got("msg") == want, n
            clients[n].rec.events.clear()

    sio.emit("msg", "all")
    received({"a": [["all"]], "b": [["all"]], "c": [["all"]]})
    sio.emit("msg", "red", room="red")
    received({"a": [["red"]], "b": [["red"]], "c": []})
    sio.emit("msg", "red-b", to="red", skip_sid=sids["a"])
    received({"a": [], "b": [["red-b"]], "c": []})
    sio.emit("msg", "both", to=["red", "blue"])
    received({"a": [["both"]], "b": [["both"]], "c": [["both"]]})
    sio.emit("msg", ("to", "c"), to=sids["c"])
    received({"a": [], "b": [], "c": [["to", "c"]]})
    sio.emit("msg", "not a,b", skip_sid=[sids["a"], sids["b"]])
    received({"a": [], "b": [], "c": [["not a,b"]]})
    sio.emit("msg", {"d": 1}, to="nobody-here")
    clients["a"].call("leave", "red", timeout=5)
    sio.emit("msg", "red2", room="red")
    received({"a": [], "b": [["red2"]], "c": []})
    sio.close_room("red")
    sio.emit("msg", "red3", room="red")
    received({"a": [], "b": [], "c": []})


def test_send_and_message_handler(make_server, make_client, rec):
    sio = make_server()

    @sio.event
    def message(sid, data):
        rec.add("message", data)
        sio.send(f"got {data}", to=sid)

    sio.start()
    client = make_client(sio.url, record=("message",))
    client.send("hi")
    assert rec.wait_for("message") == [["hi"]]
    assert client.rec.wait_for("message") == [["got hi"]]


def test_binary_both_ways(make_server, make_client):
    sio = make_server()
    blob = bytes(range(256)) * 40

    @sio.event
    def echo(sid, *args):
        sio.emit("echo", args, to=sid)
        return args

    @sio.event
    def describe(sid, data):
        return {"types": {k: type(v).__name__ for k, v in data.items()}, "len": len(data["bin"])}

    sio.start()
    client = make_client(sio.url, record=("echo",))
    payload = ("text", blob, {"nested": [b"\x00\x01", {"deep": bytearray(b"ba")}]}, 3)
    expected = ["text", blob, {"nested": [b"\x00\x01", {"deep": b"ba"}]}, 3]
    assert list(client.call("echo", payload, timeout=5)) == expected
    assert client.rec.wait_for("echo") == [expected]
    assert client.call("describe", {"bin": b"xyz", "s": "t"}, timeout=5) == {"types": {"bin": "bytes", "s": "str"},
                                                                            "len": 3}


def test_server_call_waits_for_the_client_ack(make_server, make_client):
    sio = make_server()
    sio.start()
    client = make_client(sio.url, handlers={
        ("question", "/"): lambda q: f"answer to {q}",
        ("two", "/"): lambda: ("x", b"\x01"),
        ("slow", "/"): lambda: time.sleep(1),
    })
    [sid] = sio._sockets("/")
    assert sio.call("question", "life", to=sid, timeout=5) == "answer to life"
    assert sio.call("two", to=sid, timeout=5) == ("x", b"\x01")
    with pytest.raises(wshub.TimeoutError):
        sio.call("slow", sid=sid, timeout=0.3)
    with pytest.raises(wshub.DisconnectedError):
        sio.call("question", "x", to="no-such-sid", timeout=1)


def test_call_inside_a_handler_is_refused_clearly(make_server, make_client, rec):
    sio = make_server()

    @sio.event
    def ask(sid):
        try:
            sio.call("question", to=sid, timeout=1)
        except RuntimeError as e:
            return str(e)
        return "no error"

    @sio.event
    def ask_later(sid):
        # The way to do it: another thread.
        sio.start_background_task(lambda: rec.add("answer", sio.call("question", to=sid, timeout=5)))

    sio.start()
    client = make_client(sio.url, handlers={("question", "/"): lambda: 42})
    assert "dispatcher thread" in client.call("ask", timeout=5)
    client.emit("ask_later")
    assert rec.wait_for("answer") == [[42]]


def test_emit_with_callback(make_server, make_client, rec):
    sio = make_server()

    @sio.event
    def go(sid):
        sio.emit("question", "q", to=sid, callback=lambda *a: rec.add("cb", *a))

    sio.start()
    client = make_client(sio.url, handlers={("question", "/"): lambda q: (q + "!", 2)})
    client.emit("go")
    assert rec.wait_for("cb") == [["q!", 2]]


def test_namespaces(make_server, make_client, rec):
    sio = make_server()

    @sio.event(namespace="/chat")
    def connect(sid, environ):
        rec.add("chat connect", sid)

    @sio.on("where", namespace="/chat")
    def chat_where(sid):
        sio.emit("news", "chat only", namespace="/chat")
        return "/chat"

    @sio.event
    def where(sid):
        return "/"

    @sio.on("*", namespace="/chat")
    def chat_any(event, sid, *args):
        return ["chat any", event]

    sio.start()
    client = make_client(sio.url, namespaces=("/", "/chat"), record=("news",))
    assert client.call("where", timeout=5) == "/"
    assert client.call("where", namespace="/chat", timeout=5) == "/chat"
    assert client.call("else", namespace="/chat", timeout=5) == ["chat any", "else"]
    assert client.rec.wait_for("/chat news") == [["chat only"]]
    time.sleep(0.2)
    assert client.rec.got("news") == []
    [[chat_sid]] = rec.wait_for("chat connect")
    assert chat_sid != client.get_sid("/")
    refused = make_client(sio.url, connect=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        refused.connect(sio.url, namespaces=["/unknown"], transports=["websocket"], wait_timeout=5)


def test_namespaces_option_accepts_a_namespace_without_handlers(make_server, make_client):
    sio = make_server(namespaces=["/quiet"])
    sio.start()
    client = make_client(sio.url, namespaces=("/quiet",))
    assert client.connected


def test_class_based_namespace(make_server, make_client, rec):
    sio = make_server()

    class Chat(wshub.Namespace):
        def on_connect(self, sid, environ, auth):
            if auth != {"ok": True}:
                raise wshub.ConnectionRefusedError("nope")
            self.enter_room(sid, "room")

        def on_disconnect(self, sid, reason):
            rec.add("gone", reason)

        def on_say(self, sid, text):
            self.emit("said", text, room="room")
            return self.rooms(sid)

    sio.register_namespace(Chat("/chat"))
    sio.start()
    client = make_client(sio.url, namespaces=("/chat",), auth={"ok": True}, record=("said",))
    rooms = client.call("say", "hi", namespace="/chat", timeout=5)
    assert "room" in rooms
    assert client.rec.wait_for("/chat said") == [["hi"]]
    client.disconnect()
    [[reason]] = rec.wait_for("gone")
    assert reason in ("client namespace disconnect", "transport close")
    other = make_client(sio.url, connect=False, handlers={("connect_error", "/chat"): rec.handler("error")})
    with pytest.raises(socketio.exceptions.ConnectionError):
        other.connect(sio.url, namespaces=["/chat"], auth={"ok": False}, transports=["websocket"], wait_timeout=5)
    assert rec.wait_for("error") == [[{"message": "nope"}]]


def test_server_disconnect_and_sessions(make_server, make_client, rec):
    sio = make_server()

    @sio.event
    def login(sid, user):
        with sio.session(sid) as session:
            session["user"] = user
        return True

    @sio.event
    def whoami(sid):
        return sio.get_session(sid).get("user")

    @sio.event
    def kick_me(sid):
        sio.disconnect(sid)

    @sio.event
    def disconnect(sid, reason):
        rec.add("disconnect", sio.get_session(sid).get("user"), reason)

    sio.start()
    client = make_client(sio.url)
    other = make_client(sio.url)
    assert client.call("login", "zoe", timeout=5)
    assert client.call("whoami", timeout=5) == "zoe"
    assert other.call("whoami", timeout=5) is None
    client.emit("kick_me")
    [[user, reason]] = rec.wait_for("disconnect")
    # the hub pushes DISCONNECT before it detaches the socket: a client that closes at once can win (a hub race)
    assert user == "zoe" and reason in ("server namespace disconnect", "transport close")
    deadline = time.monotonic() + 5
    while client.connected and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not client.connected
    assert sio._sessions.keys() == {("/", other.get_sid("/"))} or len(sio._sessions) <= 1


def test_handler_exception_is_logged_and_the_hub_goes_on(make_server, make_client, caplog):
    sio = make_server()

    @sio.event
    def fail(sid):
        raise ValueError("handler failed on purpose")

    @sio.event
    def ok(sid):
        return "still here"

    sio.start()
    client = make_client(sio.url)
    with caplog.at_level(logging.ERROR, logger="wshub"):
        client.emit("fail")
        assert client.call("ok", timeout=5) == "still here"
    records = [r for r in caplog.records if r.exc_info and r.exc_info[0] is ValueError]
    assert records and "'fail'" in records[0].getMessage()
    assert "handler failed on purpose" in caplog.text


def test_long_polling_client(make_server, make_client):
    sio = make_server()

    @sio.event
    def echo(sid, x):
        return x

    sio.start()
    client = make_client(sio.url, transports=["polling"])
    assert client.transport() == "polling"
    assert client.call("echo", {"via": b"polling"}, timeout=5) == {"via": b"polling"}


def test_emit_arguments_are_checked(make_server):
    sio = make_server()
    with pytest.raises(TypeError):
        sio.emit("x", {"not json": object()})
    with pytest.raises(ValueError):
        sio.emit("x", float("nan"))


def test_many_events_keep_their_order(make_server, make_client, rec):
    sio = make_server()

    @sio.event
    def n(sid, i):
        rec.add("n", i)

    sio.start()
    client = make_client(sio.url)
    for i in range(500):
        client.emit("n", i)
    got = rec.wait_for("n", 500, timeout=15)
    assert [x[0] for x in got] == list(range(500))
