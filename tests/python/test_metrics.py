"""The hub's metrics scraped from /metrics by prometheus_client's own text-format
parser while python-socketio clients connect, chat and leave: every figure exact.

The server is a fresh test server of this module's own (WSHUB_METRICS_TOKEN set),
so no other test's clients are in its counts.
"""

import json
import os
import re
import time

import pytest
import requests
import socketio
from prometheus_client.parser import text_string_to_metric_families

from conftest import REPO_ROOT, ServerProcess

TOKEN = "scrape-me"


@pytest.fixture
def metrics_server():
    srv = ServerProcess(env={"WSHUB_METRICS_TOKEN": TOKEN})
    try:
        yield srv
    finally:
        srv.stop()


def scrape(srv):
    """{(metric name, frozenset of labels): value} from one scrape, as prometheus_client reads it."""
    resp = requests.get(f"{srv.url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for family in text_string_to_metric_families(resp.text):
        assert family.name.startswith("wshub_"), family.name
        assert family.documentation, f"{family.name} has no HELP"
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return samples


def value(samples, name, **labels):
    return samples[(name, frozenset(labels.items()))]


def until(srv, check, timeout=5.0):
    """The scrape on which check(samples) first holds (the server learns of a close a little later)."""
    deadline = time.monotonic() + timeout
    while True:
        samples = scrape(srv)
        if check(samples) or time.monotonic() > deadline:
            return samples
        time.sleep(0.05)


def client(srv, transports, namespaces=("/",), auth=None):
    c = socketio.Client(reconnection=False, request_timeout=5)
    c.connect(srv.url, namespaces=list(namespaces), transports=transports, auth=auth, wait_timeout=5)
    return c


def test_scraped_counts_follow_clients_that_connect_chat_and_leave(metrics_server):
    srv = metrics_server
    # A refused connect first: /admin wants auth.token == "secret".
    refused = socketio.Client(reconnection=False, request_timeout=5)
    with pytest.raises(socketio.exceptions.ConnectionError):
        refused.connect(srv.url, namespaces=["/admin"], transports=["websocket"], auth={"token": "no"},
                        wait_timeout=5)
    refused.disconnect()

    a = client(srv, ["websocket"], namespaces=("/", "/chat"))
    b = client(srv, ["polling"])
    got = []
    b.on("broadcast", lambda *args: got.append(args))
    assert a.call("join", "lobby", timeout=5) is True
    for i in range(3):
        a.emit("broadcast", i)
    assert a.call("echo-ack", "hi", namespace="/chat", timeout=5) == "hi"
    deadline = time.monotonic() + 5
    while len(got) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [g[0] for g in got] == [0, 1, 2]

    # The refused client's connection closes, and a broadcast adds its receivers once all are
    # queued (b may have read the last one before): both a moment after what the clients saw.
    s = until(srv, lambda s: value(s, "wshub_connections", transport="websocket") == 1
              and value(s, "wshub_events_sent_total", namespace="/") == 3)
    assert value(s, "wshub_connections", transport="websocket") == 1
    assert value(s, "wshub_connections", transport="polling") == 1
    assert value(s, "wshub_connections", transport="raw") == 0
    assert value(s, "wshub_connections_opened_total", transport="websocket") == 2  # a, and the refused one
    assert value(s, "wshub_connections_opened_total", transport="polling") == 1
    assert value(s, "wshub_sockets", namespace="/") == 2
    assert value(s, "wshub_sockets", namespace="/chat") == 1
    assert value(s, "wshub_rooms", namespace="/") == 1
    assert value(s, "wshub_connects_total", namespace="/") == 2
    assert value(s, "wshub_connect_refusals_total", namespace="/admin") == 1
    assert value(s, "wshub_events_received_total", namespace="/") == 4  # join and three broadcasts
    assert value(s, "wshub_events_sent_total", namespace="/") == 3  # each broadcast to b
    assert value(s, "wshub_events_received_total", namespace="/chat") == 1
    assert value(s, "wshub_events_sent_total", namespace="/chat") == 0  # an ack is not an event
    assert value(s, "wshub_pending_acks", namespace="/") == 0
    assert value(s, "wshub_received_bytes_total") > 0 and value(s, "wshub_sent_bytes_total") > 0
    assert value(s, "wshub_queue_drops_total") == 0
    assert value(s, "wshub_slow_consumer_disconnects_total") == 0
    assert value(s, "wshub_cluster_messages_sent_total") == 0

    a.disconnect()
    b.disconnect()
    s = until(srv, lambda s: value(s, "wshub_connections", transport="polling") == 0
              and value(s, "wshub_connections", transport="websocket") == 0)
    assert value(s, "wshub_connections", transport="websocket") == 0
    assert value(s, "wshub_connections", transport="polling") == 0
    assert value(s, "wshub_sockets", namespace="/") == 0
    assert value(s, "wshub_rooms", namespace="/") == 0
    # python-socketio's client sends its DISCONNECT packets and closes the transport from two
    # threads: which of them the server sees first varies, so a leave is one reason or the other.
    leaving = ("client namespace disconnect", "transport close")
    for ns, n in (("/", 2), ("/chat", 1)):
        by_reason = {dict(labels)["reason"]: v for (name, labels), v in s.items()
                     if name == "wshub_disconnects_total" and dict(labels)["namespace"] == ns and v}
        assert set(by_reason) <= set(leaving) and sum(by_reason.values()) == n, (ns, by_reason)


def test_the_metrics_path_is_refused_without_the_token(metrics_server):
    url = f"{metrics_server.url}/metrics"
    assert requests.get(url, timeout=5).status_code == 401
    assert requests.get(url, headers={"Authorization": "Bearer wrong"}, timeout=5).status_code == 401
    assert requests.get(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5).status_code == 200


def test_the_grafana_dashboard_names_only_metrics_the_hub_serves(metrics_server):
    with open(os.path.join(REPO_ROOT, "docs", "grafana-dashboard.json")) as f:
        dashboard = json.load(f)
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = {name for e in exprs for name in re.findall(r"\bwshub_[a-z_]+", e)}
    served = {name for name, _ in scrape(metrics_server)}
    assert used and used <= served, f"not served: {sorted(used - served)}"
