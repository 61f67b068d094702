// Bad input: each test keeps a healthy Socket.IO client connected, feeds the
// server something broken, checks the broken connection / request is refused
// and that the healthy client still works afterwards (the server survived).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { useServer } from './server.mjs';
import {
  MODES, clientsFor, httpRequest, pollingHandshake, lastReason, assertAlive,
} from './helpers.mjs';

const srv = useServer();

/** A healthy client per transport mode, plus an observer for last-reason. */
async function healthy(c) {
  const clients = [];
  for (const mode of MODES) clients.push(await c.connect('/', mode.opts));
  let disconnects = 0;
  for (const s of clients) s.on('disconnect', () => { disconnects += 1; });
  return {
    observer: clients[0],
    async check() {
      for (const [i, s] of clients.entries()) await assertAlive(s, `healthy ${MODES[i].name} client`);
      assert.equal(disconnects, 0, 'no healthy client was disconnected');
    },
  };
}

/** A raw Engine.IO websocket client connected to "/" (has a Socket.IO sid). */
async function rawSio(c) {
  const r = await c.eio({ autoPong: true });
  await r.connectNamespace('/');
  return r;
}

const pollPath = (q) => `/socket.io/?${q}`;

describe('undecodable packets over a raw WebSocket to /socket.io/', () => {
  // Socket.IO's own server records an invalid Engine.IO packet as "parse
  // error" and an invalid Socket.IO packet (inside a valid Engine.IO message)
  // as "forced close"; its docs describe both as "the server has received an
  // invalid packet from the client", so either is accepted for the latter.
  const ENGINE = ['parse error'];
  const SOCKETIO = ['parse error', 'forced close'];
  const cases = [
    ['an unknown Engine.IO packet type ("x")', 'xhello', ENGINE],
    ['an out-of-range Engine.IO packet type ("9")', '9', ENGINE],
    ['an unknown Socket.IO packet type ("4" + "9")', '49', SOCKETIO],
    ['a Socket.IO EVENT whose JSON is cut off', '42["echo","unterminated', SOCKETIO],
    ['a Socket.IO EVENT whose payload is not an array', '42{"event":"echo"}', SOCKETIO],
    ['a Socket.IO EVENT with an empty array (no event name)', '42[]', SOCKETIO],
    ['a Socket.IO BINARY_EVENT with a bad attachment count', '45x-["echo",{"_placeholder":true,"num":0}]', SOCKETIO],
  ];
  for (const [label, frame, reasons] of cases) {
    test(`${label} closes that connection with reason ${reasons.map((r) => `"${r}"`).join(' or ')}; other clients are unaffected`, { timeout: 10_000 }, async (t) => {
      const c = clientsFor(t, srv);
      const h = await healthy(c);
      const r = await rawSio(c);
      r.send(frame);
      await r.closed(5000);
      const reason = await lastReason(h.observer, r.sid);
      assert.ok(reasons.includes(reason), `recorded reason ${JSON.stringify(reason)}`);
      await h.check();
    });
  }

  test('a binary frame where a text packet is expected closes that connection with reason "parse error" or "forced close"', { timeout: 10_000 }, async (t) => {
    const c = clientsFor(t, srv);
    const h = await healthy(c);
    const r = await rawSio(c);
    r.send(Buffer.from([0x34, 0x32, 0x5b, 0x5d, 0xff]), { binary: true }); // no binary attachment announced
    await r.closed(5000);
    const reason = await lastReason(h.observer, r.sid);
    assert.ok(SOCKETIO.includes(reason), `recorded reason ${JSON.stringify(reason)}`);
    await h.check();
  });

  test('undecodable packets before any namespace connect close the connection', { timeout: 10_000 }, async (t) => {
    const c = clientsFor(t, srv);
    const h = await healthy(c);
    const r = await c.eio({ autoPong: true });
    r.send('zzz not a packet');
    await r.closed(5000);
    await h.check();
  });

  test('a message larger than maxPayload (2,000,000 bytes) closes that connection', { timeout: 15_000 }, async (t) => {
    const c = clientsFor(t, srv);
    const h = await healthy(c);
    const r = await rawSio(c);
    r.send(`42["echo","${'x'.repeat(2_100_000)}"]`);
    await r.closed(10_000);
    await h.check();
  });

  test('a binary attachment larger than maxPayload closes that connection', { timeout: 15_000 }, async (t) => {
    const c = clientsFor(t, srv);
    const h = await healthy(c);
    const r = await rawSio(c);
    r.send('451-["echo",{"_placeholder":true,"num":0}]');
    r.send(Buffer.alloc(2_100_000, 1), { binary: true });
    await r.closed(10_000);
    await h.check();
  });
});

describe('bad HTTP requests to /socket.io/', () => {
  test('polling GET and POST with an unknown sid get HTTP 400', { timeout: 10_000 }, async (t) => {
    const c = clientsFor(t, srv);
    const h = await healthy(c);
    const get = await httpRequest(srv.port, { path: pollPath('EIO=4&transport=polling&sid=no-such-sid') });
    assert.equal(get.status, 400);
    const post = await httpRequest(srv.port, {
      method: 'POST', path: pollPath('EIO=4&transport=polling&sid=no-such-sid'),
      headers: { 'Content-Type': 'text/plain;charset=UTF-8' }, body: '42["echo","x"]',
    });
    assert.equal(post.status, 400);
    await h.check();
  });

  test('a websocket upgrade with an unknown sid is refused', { timeout: 10_000 }, async (t) => {
    const c = clientsFor(t, srv);
    const h = await healthy(c);
    const r = c.raw(pollPath('EIO=4&transport=websocket&sid=no-such-sid'));
    const { status } = await r.refused();
    if (status !== undefined) assert.equal(status, 400);
    await h.check();
  });

  test('a PUT handshake gets HTTP 400', { timeout: 10_000 }, async (t) => {
    const c = clientsFor(t, srv);
    const h = await healthy(c);
    const res = await httpRequest(srv.port, {
      method: 'PUT', path: pollPath('EIO=4&transport=polling'), headers: { 'Content-Type': 'text/plain' }, body: '40',
    });
    assert.equal(res.status, 400);
    await h.check();
  });

  test('a POST handshake (no sid) gets HTTP 400', { timeout: 10_000 }, async (t) => {
    const c = clientsFor(t, srv);
    const h = await healthy(c);
    const res = await httpRequest(srv.port, {
      method: 'POST', path: pollPath('EIO=4&transport=polling'), headers: { 'Content-Type': 'text/plain' }, body: '40',
    });
    assert.equal(res.status, 400);
    await h.check();
  });

  test('a missing, old, future or non-numeric EIO gets HTTP 400', { timeout: 10_000 }, async (t) => {
    const c = clientsFor(t, srv);
    const h = await healthy(c);
    for (const q of ['transport=polling', 'EIO=3&transport=polling', 'EIO=5&transport=polling', 'EIO=abc&transport=polling', 'EIO=&transport=polling']) {
      const res = await httpRequest(srv.port, { path: pollPath(q) });
      assert.equal(res.status, 400, `GET ${pollPath(q)}`);
    }
    await h.check();
  });

  test('a missing or unknown transport gets HTTP 400', { timeout: 10_000 }, async (t) => {
    const c = clientsFor(t, srv);
    const h = await healthy(c);
    for (const q of ['EIO=4', 'EIO=4&transport=', 'EIO=4&transport=carrier-pigeon', 'EIO=4&transport=flashsocket']) {
      const res = await httpRequest(srv.port, { path: pollPath(q) });
      assert.equal(res.status, 400, `GET ${pollPath(q)}`);
    }
    await h.check();
  });

  test('transport=websocket without an upgrade gets HTTP 400', { timeout: 10_000 }, async (t) => {
    const c = clientsFor(t, srv);
    const h = await healthy(c);
    const res = await httpRequest(srv.port, { path: pollPath('EIO=4&transport=websocket') });
    assert.equal(res.status, 400);
    await h.check();
  });

  test('a websocket upgrade with a missing or unsupported EIO establishes no Engine.IO session', { timeout: 10_000 }, async (t) => {
    const c = clientsFor(t, srv);
    const h = await healthy(c);
    for (const q of ['EIO=3&transport=websocket', 'transport=websocket', 'EIO=abc&transport=websocket']) {
      const r = c.raw(pollPath(q));
      // Either the upgrade is refused (with 400 if an HTTP status is sent), or
      // the WebSocket is closed without ever sending an Engine.IO open packet.
      const outcome = await r.refused().then((x) => ({ refused: x }), () => ({ opened: true }));
      if (outcome.refused) {
        if (outcome.refused.status !== undefined) assert.equal(outcome.refused.status, 400, q);
      } else {
        await r.closed(5000);
        const texts = r.queue.filter((m) => !m.isBinary).map((m) => m.text);
        assert.ok(!texts.some((x) => x.startsWith('0{')), `${q}: no open packet may be sent (got ${JSON.stringify(texts)})`);
      }
    }
    await h.check();
  });

  test('a polling POST larger than maxPayload is refused with a 4xx status', { timeout: 15_000 }, async (t) => {
    const c = clientsFor(t, srv);
    const h = await healthy(c);
    const { open } = await pollingHandshake(srv.port);
    const res = await httpRequest(srv.port, {
      method: 'POST',
      path: pollPath(`EIO=4&transport=polling&sid=${encodeURIComponent(open.sid)}`),
      headers: { 'Content-Type': 'text/plain;charset=UTF-8' },
      body: `42["echo","${'y'.repeat(2_100_000)}"]`,
      ms: 10_000,
    }).catch((err) => ({ status: `connection error: ${err.message}` }));
    // either an HTTP error status, or the server cut the connection
    if (typeof res.status === 'number') {
      assert.ok(res.status >= 400 && res.status < 500, `status ${res.status}`);
    }
    await h.check();
  });

  test('an undecodable polling POST body does not crash the server', { timeout: 10_000 }, async (t) => {
    const c = clientsFor(t, srv);
    const h = await healthy(c);
    const { open } = await pollingHandshake(srv.port);
    const q = pollPath(`EIO=4&transport=polling&sid=${encodeURIComponent(open.sid)}`);
    await httpRequest(srv.port, { method: 'POST', path: q, headers: { 'Content-Type': 'text/plain' }, body: '40' });
    const res = await httpRequest(srv.port, {
      method: 'POST', path: q, headers: { 'Content-Type': 'text/plain' }, body: '42["echo", oops',
    }).catch(() => null);
    assert.ok(res === null || typeof res.status === 'number');
    await h.check();
  });
});

describe('protocol violations over polling: what was queued, then the close packet', () => {
  // The client is closed cleanly, not dropped: it gets what was queued for
  // it, then "6\x1e1" (noop, close) on its next GET, and the sid is gone after.
  const cases = [
    ['a second CONNECT to the same namespace', ['40', '40'], true],
    ['an EVENT for a namespace never joined', ['42["some event"]'], false],
    ['a packet that does not decode', ['40', '4abc'], true],
  ];
  for (const [what, bodies, answered] of cases) {
    test(`${what} closes the session cleanly`, { timeout: 10_000 }, async (t) => {
      const c = clientsFor(t, srv);
      const h = await healthy(c);
      const { open } = await pollingHandshake(srv.port);
      const q = pollPath(`EIO=4&transport=polling&sid=${encodeURIComponent(open.sid)}`);
      for (const body of bodies) {
        const res = await httpRequest(srv.port, { method: 'POST', path: q, headers: { 'Content-Type': 'text/plain' }, body });
        assert.equal(res.status, 200);
      }
      if (answered) assert.match((await httpRequest(srv.port, { path: q })).body.toString(), /^40\{"sid":/);
      assert.equal((await httpRequest(srv.port, { path: q })).body.toString(), '6\x1e1');
      const after = await httpRequest(srv.port, { path: q });
      assert.equal(after.status, 400, 'the sid is unknown once the close was taken');
      await h.check();
    });
  }
});
