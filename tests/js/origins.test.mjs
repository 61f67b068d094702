// The origin allow-list (WSHUB_ALLOWED_ORIGINS -> Config::allowed_origins):
// a browser-style request whose Origin is not listed gets 403 with the
// Engine.IO error body {"code":4,"message":"Forbidden"}, on WebSocket
// upgrades (Socket.IO path and the raw endpoint) and on every polling
// request (handshake, GET/POST with a sid, preflight). A listed origin, or no
// Origin header at all (non-browser clients), works.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { useServer } from './server.mjs';
import { MODES, clientsFor, connectError, ack, httpRequest, pollingHandshake } from './helpers.mjs';

const ALLOWED = 'http://allowed.example'; // also the test server's CORS origin
const ALSO = 'https://also.example';
const EVIL = 'http://evil.example';
const srv = useServer({ env: { WSHUB_ALLOWED_ORIGINS: `${ALLOWED},${ALSO}` } });

function assertForbidden(res, what) {
  assert.equal(res.status, 403, `${what}: status (body ${res.body.toString().slice(0, 100)})`);
  assert.match(String(res.headers['content-type']), /^application\/json/, `${what}: content type`);
  assert.deepStrictEqual(JSON.parse(res.body.toString()), { code: 4, message: 'Forbidden' }, `${what}: body`);
  assert.equal(res.headers['access-control-allow-origin'], undefined, `${what}: no CORS grant`);
}

describe('polling', () => {
  test('a handshake from an origin not listed gets 403', { timeout: 10_000 }, async () => {
    const res = await httpRequest(srv.port, { path: '/socket.io/?EIO=4&transport=polling', headers: { Origin: EVIL } });
    assertForbidden(res, 'handshake');
  });

  test('a listed origin, and a request without Origin, get their session', { timeout: 10_000 }, async () => {
    const { res } = await pollingHandshake(srv.port, { Origin: ALLOWED });
    assert.equal(res.headers['access-control-allow-origin'], ALLOWED);
    await pollingHandshake(srv.port, { Origin: ALSO });
    await pollingHandshake(srv.port);
  });

  test('GET and POST on an open session from an origin not listed get 403', { timeout: 10_000 }, async () => {
    const { open } = await pollingHandshake(srv.port, { Origin: ALLOWED });
    const path = `/socket.io/?EIO=4&transport=polling&sid=${open.sid}`;
    assertForbidden(await httpRequest(srv.port, { path, headers: { Origin: EVIL } }), 'GET');
    assertForbidden(await httpRequest(srv.port, { method: 'POST', path, headers: { Origin: EVIL }, body: '40' }), 'POST');
    // The session itself is untouched: its own origin goes on.
    const post = await httpRequest(srv.port, { method: 'POST', path, headers: { Origin: ALLOWED }, body: '40' });
    assert.equal(post.status, 200);
    const get = await httpRequest(srv.port, { path, headers: { Origin: ALLOWED } });
    assert.equal(get.status, 200);
    assert.match(get.body.toString(), /^40\{"sid":/);
  });

  test('a preflight from an origin not listed gets 403', { timeout: 10_000 }, async () => {
    const res = await httpRequest(srv.port, {
      method: 'OPTIONS', path: '/socket.io/?EIO=4&transport=polling',
      headers: { Origin: EVIL, 'Access-Control-Request-Method': 'POST' },
    });
    assertForbidden(res, 'preflight');
  });

  test('the origin must match exactly (no prefix, suffix or case games)', { timeout: 10_000 }, async () => {
    for (const origin of [`${ALLOWED}.evil.example`, `${ALLOWED}:80`, 'http://ALLOWED.example', 'http://allowed.exampl',
      `${ALLOWED}/`, 'null', `${ALLOWED}, ${EVIL}`]) {
      const res = await httpRequest(srv.port, { path: '/socket.io/?EIO=4&transport=polling', headers: { Origin: origin } });
      assert.equal(res.status, 403, `Origin: ${origin}`);
    }
  });

  test('static files are not behind the allow-list', { timeout: 10_000 }, async () => {
    const res = await httpRequest(srv.port, { path: '/hello.txt', headers: { Origin: EVIL } });
    assert.equal(res.status, 200);
  });
});

describe('WebSocket upgrades', () => {
  for (const path of ['/socket.io/?EIO=4&transport=websocket', '/ws']) {
    test(`${path}: an origin not listed gets 403; a listed one and none open`, { timeout: 10_000 }, async (t) => {
      const c = clientsFor(t, srv);
      const evil = c.raw(path, { origin: EVIL });
      const refused = await evil.refused();
      assert.equal(refused.status, 403);
      for (const wsOpts of [{ origin: ALLOWED }, { origin: ALSO }, {}]) {
        const ok = c.raw(path, wsOpts);
        await ok.opened();
        ok.terminate();
      }
    });
  }

  test('an upgrade of a polling session from an origin not listed gets 403', { timeout: 10_000 }, async (t) => {
    const c = clientsFor(t, srv);
    const { open } = await pollingHandshake(srv.port, { Origin: ALLOWED });
    const evil = c.raw(`/socket.io/?EIO=4&transport=websocket&sid=${open.sid}`, { origin: EVIL });
    assert.equal((await evil.refused()).status, 403);
  });
});

for (const mode of MODES) {
  describe(`socket.io-client, ${mode.name}`, () => {
    test('with a listed Origin it connects; with another it gets connect_error', { timeout: 10_000 }, async (t) => {
      const c = clientsFor(t, srv);
      const good = await c.connect('/', { ...mode.opts, extraHeaders: { Origin: ALLOWED } });
      assert.equal(await ack(good, 'echo-ack', 'ok'), 'ok');
      const bad = c.socket('/', { ...mode.opts, extraHeaders: { Origin: EVIL } });
      const err = await connectError(bad);
      assert.ok(err, 'connect_error');
      assert.equal(bad.connected, false);
    });
  });
}
