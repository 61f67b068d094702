"""End-to-end tests of the wshub test server (tests/TEST_SERVER.md) with the
official python-socketio client (sync ``socketio.Client``)."""

import os
import time
import uuid

import pytest
import socketio

TRANSPORTS = [
    pytest.param(["websocket"], id="websocket"),
    pytest.param(["polling"], id="polling"),
    pytest.param(None, id="polling-then-upgrade"),
]

JSON_VALUES = [
    pytest.param("hello, world", id="ascii-string"),
    pytest.param("", id="empty-string"),
    pytest.param("你好，世界 こんにちは 안녕하세요", id="cjk-string"),
    pytest.param("😀🎉 👨‍👩‍👧‍👦 👍🏽", id="emoji-string"),
    pytest.param('quote " backslash \\ newline \n tab \t ctrl \u0001', id="escapes-string"),
    pytest.param(0, id="zero"),
    pytest.param(42, id="int"),
    pytest.param(-17, id="negative-int"),
    pytest.param(2**53 - 1, id="max-safe-int"),
    pytest.param(3.141592653589793, id="float"),
    pytest.param(-0.5, id="negative-float"),
    pytest.param(1.5e-10, id="tiny-float"),
    pytest.param(True, id="true"),
    pytest.param(False, id="false"),
    pytest.param(None, id="null"),
    pytest.param({}, id="empty-object"),
    pytest.param([], id="empty-array"),
    pytest.param({"a": {"b": {"c": [1, 2, {"d": "deep", "e": None}]}}, "键": "值"}, id="nested-object"),
    pytest.param([1, "two", 3.5, -4, None, True, False, {"five": [5]}, [[[]]], "🎈"], id="mixed-array"),
]

TIMEOUT = 5


def unique(prefix="room"):
    return f"{prefix}-{os.getpid()}-{uuid.uuid4().hex[:10]}"


def wait_until(fn, timeout=TIMEOUT, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def last_reason(asker, sid, namespace="/"):
    """Waits until the server recorded a disconnect reason for ``sid``."""
    return wait_until(lambda: asker.call("last-reason", sid, namespace=namespace, timeout=TIMEOUT),
                      what=f"a recorded disconnect reason for {sid}")


# --------------------------------------------------------------------------
# connecting


@pytest.mark.parametrize("transports", TRANSPORTS)
def test_connects_and_talks_over_each_transport(make_client, transports):
    sio = make_client(transports=transports)
    assert sio.connected
    sid = sio.get_sid("/")
    assert isinstance(sid, str) and sid
    assert sio.call("rooms", timeout=TIMEOUT) == [sid]
    assert sio.call("echo-ack", "hi", timeout=TIMEOUT) == "hi"
    if transports == ["websocket"]:
        assert sio.transport() == "websocket"
    elif transports == ["polling"]:
        time.sleep(0.5)
        assert sio.transport() == "polling"
    else:
        wait_until(lambda: sio.transport() == "websocket", what="the upgrade to websocket")
        assert sio.call("echo-ack", "after upgrade", timeout=TIMEOUT) == "after upgrade"


@pytest.mark.parametrize("transports", TRANSPORTS)
def test_heartbeats_keep_an_idle_client_connected(make_client, transports):
    sio = make_client(transports=transports)
    time.sleep(2.0)  # many 300 ms ping intervals
    assert sio.connected
    assert sio.call("echo-ack", "still here", timeout=TIMEOUT) == "still here"


# --------------------------------------------------------------------------
# payloads


@pytest.mark.parametrize("transports", TRANSPORTS)
@pytest.mark.parametrize("value", JSON_VALUES)
def test_echo_returns_every_json_type_unchanged(make_client, transports, value):
    sio = make_client(transports=transports)
    sio.emit("echo", (value,))  # a 1-tuple: exactly one argument, even for None
    assert sio.rec.wait_for("echo", 1, TIMEOUT)[0] == [value]


@pytest.mark.parametrize("transports", TRANSPORTS)
def test_echo_returns_several_arguments_in_order_and_zero_arguments(make_client, transports):
    sio = make_client(transports=transports)
    args = ("日本語 ✓", 1, -2.5, None, True, False, {"x": [1, {"y": "z"}]}, [1, 2], "")
    sio.emit("echo", args)
    assert sio.rec.wait_for("echo", 1, TIMEOUT)[0] == list(args)
    sio.emit("echo")
    assert sio.rec.wait_for("echo", 2, TIMEOUT)[1] == []


@pytest.mark.parametrize("transports", TRANSPORTS)
def test_echo_returns_binary_both_ways(make_client, transports):
    sio = make_client(transports=transports)
    one = b"\x42"
    allbytes = bytes(range(256))
    big = os.urandom(1024 * 1024)
    sio.emit("echo", one)
    assert sio.rec.wait_for("echo", 1, TIMEOUT)[0] == [one]
    sio.emit("echo", big)
    got = sio.rec.wait_for("echo", 2, 20)[1]
    assert len(got) == 1 and isinstance(got[0], bytes) and got[0] == big
    mixed = ("label 标签", one, {"nested": allbytes, "list": [one, "x", None]}, [allbytes], 7)
    sio.emit("echo", mixed)
    assert sio.rec.wait_for("echo", 3, TIMEOUT)[2] == list(mixed)


# --------------------------------------------------------------------------
# acks


@pytest.mark.parametrize("transports", TRANSPORTS)
def test_call_gets_the_server_ack(make_client, transports):
    sio = make_client(transports=transports)
    assert sio.call("echo-ack", "单个 value", timeout=TIMEOUT) == "单个 value"
    assert sio.call("echo-ack", {"a": [1, None, True]}, timeout=TIMEOUT) == {"a": [1, None, True]}
    assert sio.call("echo-ack", ("two", 2), timeout=TIMEOUT) == ("two", 2)
    assert sio.call("echo-ack", b"\x00\xffbin", timeout=TIMEOUT) == b"\x00\xffbin"
    assert sio.call("echo-ack", timeout=TIMEOUT) is None  # zero args acked with zero args
    assert sio.call("join", unique(), timeout=TIMEOUT) is True
    assert isinstance(sio.call("count", timeout=TIMEOUT), int)


@pytest.mark.parametrize("transports", TRANSPORTS)
def test_server_request_ack_is_answered_by_the_client_handler(make_client, transports):
    seen = []

    def ping_me(msg):
        seen.append(msg)
        return {"answered": msg, "ключ": "値 ✓"}

    sio = make_client(transports=transports, handlers={("ping-me", "/"): ping_me})
    sio.emit("request-ack", 3000)
    assert sio.rec.wait_for("ack-result", 1, TIMEOUT)[0] == [{"answered": "please ack", "ключ": "値 ✓"}]
    assert seen == ["please ack"]
    assert sio.rec.got("ack-timeout") == []


@pytest.mark.parametrize("transports", TRANSPORTS)
def test_server_request_ack_carries_a_binary_answer(make_client, transports):
    payload = os.urandom(4096)
    sio = make_client(transports=transports, handlers={("ping-me", "/"): lambda msg: payload})
    sio.emit("request-ack", 3000)
    assert sio.rec.wait_for("ack-result", 1, TIMEOUT)[0] == [payload]


# --------------------------------------------------------------------------
# rooms and broadcasts


def settle(clients):
    """Sends a to-all sentinel and waits until every client got it."""
    mark = unique("sentinel")
    clients[0].emit("to-all", mark)
    for c in clients:
        wait_until(lambda c=c: any(a == [mark] for a in c.rec.got("to-all")), what="the sentinel")
    time.sleep(0.1)


@pytest.mark.parametrize("transports", TRANSPORTS)
def test_rooms_and_broadcasts_with_three_clients(make_client, transports):
    a, b, c = (make_client(transports=transports) for _ in range(3))
    room, muted = unique(), unique("muted")
    assert a.call("join", room, timeout=TIMEOUT) is True
    assert b.call("join", room, timeout=TIMEOUT) is True
    assert b.call("join", muted, timeout=TIMEOUT) is True
    assert b.call("rooms", timeout=TIMEOUT) == sorted([b.get_sid("/"), room, muted])

    # to-room from a member: members (sender included) get it, C does not
    a.emit("to-room", (room, "from A", {"n": 1}))
    a.rec.wait_for("room-msg", 1)
    b.rec.wait_for("room-msg", 1)
    settle([a, b, c])
    assert a.rec.got("room-msg") == [["from A", {"n": 1}]]
    assert b.rec.got("room-msg") == [["from A", {"n": 1}]]
    assert c.rec.got("room-msg") == []

    # to-room-except skips B (in the muted room)
    c.emit("to-room-except", (room, muted, "not for B"))
    a.rec.wait_for("room-msg", 2)
    settle([a, b, c])
    assert a.rec.got("room-msg")[1] == ["not for B"]
    assert len(b.rec.got("room-msg")) == 1
    assert c.rec.got("room-msg") == []

    # broadcast excludes the sender
    a.emit("broadcast", ("hi all", 3))
    b.rec.wait_for("broadcast", 1)
    c.rec.wait_for("broadcast", 1)
    settle([a, b, c])
    assert b.rec.got("broadcast") == [["hi all", 3]]
    assert c.rec.got("broadcast") == [["hi all", 3]]
    assert a.rec.got("broadcast") == []

    # to-all includes the sender
    b.emit("to-all", "everyone")
    for x in (a, b, c):
        wait_until(lambda x=x: ["everyone"] in x.rec.got("to-all"), what="to-all")

    # leave stops delivery
    assert b.call("leave", room, timeout=TIMEOUT) is True
    c.emit("to-room", (room, "after leave"))
    a.rec.wait_for("room-msg", 3)
    settle([a, b, c])
    assert a.rec.got("room-msg")[2] == ["after leave"]
    assert len(b.rec.got("room-msg")) == 1


# --------------------------------------------------------------------------
# namespaces


@pytest.mark.parametrize("transports", TRANSPORTS)
def test_root_and_chat_namespaces_on_one_connection(make_client, transports):
    sio = make_client(transports=transports, namespaces=("/", "/chat"))
    peer = make_client(transports=transports, namespaces=("/chat",))
    root_sid, chat_sid = sio.get_sid("/"), sio.get_sid("/chat")
    assert root_sid and chat_sid and root_sid != chat_sid
    assert sio.call("echo-ack", "root", timeout=TIMEOUT) == "root"
    assert sio.call("echo-ack", "chat", namespace="/chat", timeout=TIMEOUT) == "chat"
    assert sio.call("rooms", namespace="/chat", timeout=TIMEOUT) == [chat_sid]

    room = unique()
    sio.call("join", room, timeout=TIMEOUT)
    sio.call("join", room, namespace="/chat", timeout=TIMEOUT)
    peer.emit("to-room", (room, "in chat"), namespace="/chat")
    sio.rec.wait_for("/chat room-msg", 1)
    sio.emit("to-room", (room, "in root"))
    sio.rec.wait_for("room-msg", 1)
    time.sleep(0.15)
    assert sio.rec.got("/chat room-msg") == [["in chat"]]
    assert sio.rec.got("room-msg") == [["in root"]]

    sio.emit("echo", "over chat", namespace="/chat")
    assert sio.rec.wait_for("/chat echo", 1)[0] == ["over chat"]
    assert sio.rec.got("echo") == []


@pytest.mark.parametrize("transports", TRANSPORTS)
def test_admin_accepts_the_secret_token(make_client, transports):
    sio = make_client(transports=transports, namespaces=("/admin",), auth={"token": "secret"})
    assert sio.call("echo-ack", "admin ok", namespace="/admin", timeout=TIMEOUT) == "admin ok"


@pytest.mark.parametrize("transports", TRANSPORTS)
@pytest.mark.parametrize("auth", [None, {"token": "wrong"}, {"other": "secret"}], ids=["no-auth", "wrong-token", "no-token"])
def test_admin_rejects_a_missing_or_wrong_token(server, make_client, transports, auth):
    errors = []
    sio = make_client(transports=transports, namespaces=("/admin",), auth=auth, connect=False,
                      handlers={("connect_error", "/admin"): lambda data=None: errors.append(data)})
    with pytest.raises(socketio.exceptions.ConnectionError):
        sio.connect(server.url, transports=transports, namespaces=["/admin"], auth=auth, wait_timeout=5)
    assert errors, "connect_error handler was called"
    data = errors[0]
    message = data.get("message") if isinstance(data, dict) else data
    assert message == "unauthorized"


@pytest.mark.parametrize("transports", TRANSPORTS)
def test_unknown_namespace_is_rejected(server, make_client, transports):
    errors = []
    sio = make_client(transports=transports, namespaces=("/nope",), connect=False,
                      handlers={("connect_error", "/nope"): lambda data=None: errors.append(data)})
    with pytest.raises(socketio.exceptions.ConnectionError):
        sio.connect(server.url, transports=transports, namespaces=["/nope"], wait_timeout=5)
    data = errors[0]
    message = data.get("message") if isinstance(data, dict) else data
    assert message == "Invalid namespace"


# --------------------------------------------------------------------------
# disconnects


@pytest.mark.parametrize("transports", TRANSPORTS)
def test_server_side_disconnect_and_recorded_reasons(make_client, transports):
    observer = make_client(transports=transports)
    reasons = []
    sio = make_client(transports=transports, handlers={("disconnect", "/"): lambda *a: reasons.append(a)})
    sid = sio.get_sid("/")
    sio.emit("disconnect-me")
    wait_until(lambda: reasons, what="the client's disconnect handler")
    assert reasons[0] == (sio.reason.SERVER_DISCONNECT,), "the client saw a server-side DISCONNECT packet"
    assert last_reason(observer, sid) == "server namespace disconnect"

    other = make_client(transports=transports)
    other_sid = other.get_sid("/")
    assert observer.call("last-reason", other_sid, timeout=TIMEOUT) is None
    other.disconnect()
    # python-socketio queues the DISCONNECT packet and closes the transport
    # right away, so the server may see the transport go first.
    assert last_reason(observer, other_sid) in ("client namespace disconnect", "transport close")


# --------------------------------------------------------------------------
# bursts


@pytest.mark.parametrize("transports", [pytest.param(["polling"], id="polling"), pytest.param(["websocket"], id="websocket")])
def test_200_message_burst_arrives_complete_and_in_order(make_client, transports):
    sio = make_client(transports=transports)
    n = 200
    for i in range(n):
        sio.emit("echo", (i, f"msg {i} ✓"))
    got = sio.rec.wait_for("echo", n, 30)
    assert got == [[i, f"msg {i} ✓"] for i in range(n)]
