// Engine.IO level: the handshake, transport upgrade, heartbeat and the
// "ping timeout" / "transport close" reasons, using a hand-written Engine.IO
// client over a raw `ws` WebSocket where the official client cannot misbehave.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { useServer, PING_INTERVAL, PING_TIMEOUT, HEARTBEAT_SCALE } from './server.mjs';
import {
  MODES, clientsFor, waitEvent, ack, sleep, lastReason, assertAlive, pollingHandshake, httpRequest,
} from './helpers.mjs';

const srv = useServer();

function assertOpenPacket(open, transport) {
  assert.equal(typeof open.sid, 'string', 'open packet has a sid');
  assert.ok(open.sid.length > 0);
  assert.equal(open.pingInterval, PING_INTERVAL);
  assert.equal(open.pingTimeout, PING_TIMEOUT);
  assert.equal(open.maxPayload, 2_000_000);
  assert.ok(Array.isArray(open.upgrades), 'upgrades is an array');
  if (transport === 'polling') assert.deepStrictEqual(open.upgrades, ['websocket']);
  else assert.deepStrictEqual(open.upgrades, []);
}

describe('Engine.IO handshake', () => {
  test('the polling open packet advertises pingInterval 300, pingTimeout 200, maxPayload 2000000 and the websocket upgrade', { timeout: 10_000 }, async () => {
    const { open } = await pollingHandshake(srv.port);
    assertOpenPacket(open, 'polling');
  });

  test('the websocket open packet advertises the same settings and no further upgrade', { timeout: 10_000 }, async (t) => {
    const c = clientsFor(t, srv);
    const r = await c.eio();
    assertOpenPacket(r.handshake, 'websocket');
  });

  test('any path below /socket.io/ is the Engine.IO endpoint, as in the reference server', { timeout: 10_000 }, async () => {
    const res = await httpRequest(srv.port, { path: '/socket.io/default/?EIO=4&transport=polling' });
    assert.equal(res.status, 200);
    assert.ok(res.body.toString().startsWith('0{"sid":'));
    const bad = await httpRequest(srv.port, { path: '/socket.io/not-a-bundle-file.js' });
    assert.equal(bad.status, 400, 'no transport: the Engine.IO answer, not a file lookup');
  });

  test('every handshake gets a distinct sid', { timeout: 10_000 }, async () => {
    const sids = new Set();
    for (let i = 0; i < 5; i += 1) sids.add((await pollingHandshake(srv.port)).open.sid);
    assert.equal(sids.size, 5);
  });

  test('a raw Engine.IO client gets a Socket.IO socket id on "40" and can emit events by hand', { timeout: 10_000 }, async (t) => {
    const c = clientsFor(t, srv);
    const r = await c.eio();
    const sid = await r.connectNamespace('/');
    assert.notEqual(sid, r.handshake.sid, 'the Socket.IO id is not the Engine.IO sid');
    r.send('42["echo","by hand",{"n":1}]');
    const m = await r.nextNonPing();
    assert.deepStrictEqual(JSON.parse(m.text.slice(2)), ['echo', 'by hand', { n: 1 }]);
    assert.ok(m.text.startsWith('42'));
    r.send('421["echo-ack","with id"]');
    const a = await r.nextNonPing();
    assert.equal(a.text, '431["with id"]');
  });
});

describe('transport modes of socket.io-client', () => {
  test('the default mode connects over polling and then upgrades to websocket', { timeout: 10_000 }, async (t) => {
    const c = clientsFor(t, srv);
    const s = c.socket('/', MODES[2].opts);
    const upgraded = new Promise((resolve) => {
      s.io.on('open', () => {
        assert.equal(s.io.engine.transport.name, 'polling', 'starts on polling');
        s.io.engine.once('upgrade', (tr) => resolve(tr.name));
      });
    });
    assert.equal(await Promise.race([upgraded, sleep(5000).then(() => 'no upgrade within 5 s')]), 'websocket');
    // The upgrade may finish before the namespace CONNECT answer arrives
    // (it was queued during the upgrade and comes over the new transport).
    if (!s.connected) await new Promise((resolve) => s.once('connect', resolve));
    await assertAlive(s);
    assert.equal(s.io.engine.transport.name, 'websocket');
  });

  test('polling-only mode stays on polling and websocket-only mode starts on websocket', { timeout: 10_000 }, async (t) => {
    const c = clientsFor(t, srv);
    const p = await c.connect('/', MODES[1].opts);
    const w = await c.connect('/', MODES[0].opts);
    await sleep(500);
    assert.equal(p.io.engine.transport.name, 'polling');
    assert.equal(w.io.engine.transport.name, 'websocket');
    await assertAlive(p, 'polling client');
    await assertAlive(w, 'websocket client');
  });

  test('messages emitted while the upgrade is in progress all arrive, in order', { timeout: 15_000 }, async (t) => {
    const c = clientsFor(t, srv);
    const s = c.socket('/', MODES[2].opts);
    const got = [];
    s.on('echo', (i) => got.push(i));
    const N = 200;
    // start emitting right away: the first ones travel over polling, later
    // ones during / after the upgrade
    for (let i = 0; i < N; i += 1) s.emit('echo', i);
    await waitEvent(s, 'connect');
    const deadline = Date.now() + 10_000;
    while (got.length < N && Date.now() < deadline) await sleep(20);
    assert.deepStrictEqual(got, Array.from({ length: N }, (_, i) => i));
  });
});

describe('the upgrade, packet by packet (raw client)', () => {
  // socket.io-client may get the probe's noop before "3probe" and poll again;
  // it pauses polling (and only then sends "5") once that GET has ended too.
  test('every GET during an upgrade gets a noop at once, and what was queued comes over the WebSocket after "5"', { timeout: 10_000 }, async (t) => {
    const c = clientsFor(t, srv);
    const { open } = await pollingHandshake(srv.port);
    const q = `/socket.io/?EIO=4&transport=polling&sid=${open.sid}`;
    const post = async (body) => assert.equal((await httpRequest(srv.port, { method: 'POST', path: q, body })).body.toString(), 'ok');
    const get = async () => (await httpRequest(srv.port, { path: q, ms: 2000 })).body.toString();
    await post('40');
    assert.match(await get(), /^40\{"sid":/);
    const ws = c.raw(`/socket.io/?EIO=4&transport=websocket&sid=${open.sid}`);
    await ws.opened();
    ws.send('2probe');
    assert.equal((await ws.next()).text, '3probe');
    await post('42["echo","during the upgrade"]');
    for (let i = 0; i < 3; i += 1) {
      const started = Date.now();
      assert.equal(await get(), '6', `GET ${i + 1} during the upgrade`);
      assert.ok(Date.now() - started < 1000, `GET ${i + 1} was answered at once`);
    }
    ws.send('5');
    let m;
    do m = await ws.next(); while (m.text === '2');
    assert.equal(m.text, '42["echo","during the upgrade"]');
  });
});

describe('heartbeat and transport reasons (raw Engine.IO client)', () => {
  test('a client that stops answering pings is dropped with reason "ping timeout"', { timeout: 10_000 }, async (t) => {
    const c = clientsFor(t, srv);
    const observer = await c.connect('/', { transports: ['websocket'] });
    const r = await c.eio({ autoPong: false });
    const sid = await r.connectNamespace('/');
    const start = Date.now();
    // read (and ignore) the pings until the server closes the connection
    let pings = 0;
    const reader = (async () => {
      for (;;) {
        const m = await r.next(5000).catch(() => null);
        if (!m) return;
        if (m.text === '2') pings += 1;
      }
    })();
    await r.closed(5000);
    await reader;
    const elapsed = Date.now() - start;
    assert.ok(pings >= 1, 'the server sent at least one ping');
    const window = PING_INTERVAL + PING_TIMEOUT;
    assert.ok(elapsed >= window * 0.8, `dropped too early (${elapsed} ms; interval ${PING_INTERVAL} + timeout ${PING_TIMEOUT})`);
    assert.ok(elapsed <= 3000 * HEARTBEAT_SCALE, `dropped too late (${elapsed} ms)`);
    assert.equal(await lastReason(observer, sid), 'ping timeout');
    await assertAlive(observer, 'observer');
  });

  test('a raw client that answers every ping stays connected across many ping intervals', { timeout: 10_000 }, async (t) => {
    const c = clientsFor(t, srv);
    const observer = await c.connect('/', { transports: ['websocket'] });
    const r = await c.eio({ autoPong: true });
    const sid = await r.connectNamespace('/');
    await sleep(7 * PING_INTERVAL);
    assert.equal(r.closeInfo, null, 'still connected');
    assert.equal(await ack(observer, 'last-reason', sid), null);
    r.send('421["echo-ack","alive"]');
    assert.equal((await r.nextNonPing()).text, '431["alive"]');
  });

  test('closing the WebSocket is recorded as "transport close"', { timeout: 10_000 }, async (t) => {
    const c = clientsFor(t, srv);
    const observer = await c.connect('/', { transports: ['websocket'] });
    const r = await c.eio();
    const sid = await r.connectNamespace('/');
    r.ws.close(1000);
    await r.closed();
    assert.equal(await lastReason(observer, sid), 'transport close');
  });

  test('an Engine.IO "1" close packet on polling ends the session and all its namespaces with "transport close"', { timeout: 10_000 }, async (t) => {
    const c = clientsFor(t, srv);
    const observer = await c.connect('/chat', { transports: ['websocket'] });
    const { open } = await pollingHandshake(srv.port);
    const q = `/socket.io/?EIO=4&transport=polling&sid=${encodeURIComponent(open.sid)}`;
    const post = (body) => httpRequest(srv.port, {
      method: 'POST', path: q, headers: { 'Content-Type': 'text/plain;charset=UTF-8' }, body,
    });
    assert.equal((await post('40\x1e40/chat,')).status, 200);
    // the answers may come in one or several polls
    const packets = [];
    const deadline = Date.now() + 5000;
    while (!packets.some((p) => p.startsWith('40/chat,')) && Date.now() < deadline) {
      const get = await httpRequest(srv.port, { path: q });
      assert.equal(get.status, 200);
      packets.push(...get.body.toString('utf8').split('\x1e'));
    }
    const chatAnswer = packets.find((p) => p.startsWith('40/chat,'));
    assert.ok(chatAnswer, `expected a /chat CONNECT answer, got ${JSON.stringify(packets)}`);
    const chatSid = JSON.parse(chatAnswer.slice('40/chat,'.length)).sid;
    assert.equal((await post('1')).status, 200);
    assert.equal(await lastReason(observer, chatSid), 'transport close');
    assert.equal((await httpRequest(srv.port, { path: q })).status, 400, 'the closed session is unknown afterwards');
  });

  test('an Engine.IO session that never connects to a namespace is closed after connectTimeout', { timeout: 10_000 }, async (t) => {
    const c = clientsFor(t, srv);
    const r = await c.eio({ autoPong: true });
    const start = Date.now();
    await r.closed(5000);
    const elapsed = Date.now() - start;
    assert.ok(elapsed >= 700, `closed too early (${elapsed} ms, connectTimeout 1000)`);
    assert.ok(elapsed <= 4000, `closed too late (${elapsed} ms)`);
  });

  test('a polling session whose client stops polling is dropped with reason "ping timeout"', { timeout: 10_000 }, async (t) => {
    const c = clientsFor(t, srv);
    const observer = await c.connect('/', { transports: ['websocket'] });
    const { open } = await pollingHandshake(srv.port);
    const post = await httpRequest(srv.port, {
      method: 'POST',
      path: `/socket.io/?EIO=4&transport=polling&sid=${encodeURIComponent(open.sid)}`,
      headers: { 'Content-Type': 'text/plain;charset=UTF-8' },
      body: '40',
    });
    assert.equal(post.status, 200);
    const get = await httpRequest(srv.port, { path: `/socket.io/?EIO=4&transport=polling&sid=${encodeURIComponent(open.sid)}` });
    assert.equal(get.status, 200);
    const text = get.body.toString('utf8');
    const first = text.split('\x1e')[0];
    assert.ok(first.startsWith('40'), `expected CONNECT answer, got ${text.slice(0, 80)}`);
    const sid = JSON.parse(first.slice(2)).sid;
    // never poll again: no pong can be sent
    assert.equal(await lastReason(observer, sid, 5000), 'ping timeout');
    const after = await httpRequest(srv.port, { path: `/socket.io/?EIO=4&transport=polling&sid=${encodeURIComponent(open.sid)}` });
    assert.equal(after.status, 400, 'the dropped session is unknown afterwards');
  });
});
