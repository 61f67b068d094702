// TLS: the test server started with WSHUB_TLS_CERT / WSHUB_TLS_KEY (a CA and
// a leaf for 127.0.0.1 made at test time with the openssl CLI) serves
// socket.io-client over wss and https long-polling (and the upgrade between
// them), the raw endpoint over wss, and static files over https; the
// clients trust only the test CA. Plain HTTP on that port gets no answer.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { useServer } from './server.mjs';
import { makeTestCerts } from './certs.mjs';
import { MODES, clientsFor, connectError, ack, httpRequest, upgraded, withTimeout, normalizeBinary } from './helpers.mjs';

const certs = makeTestCerts();
const srv = useServer({ env: { WSHUB_TLS_CERT: certs.cert, WSHUB_TLS_KEY: certs.key }, tls: true });

const httpsGet = (port, path) => httpRequest(port, { path, ca: certs.ca });

test('the server url is https', () => {
  assert.match(srv.url, /^https:\/\/127\.0\.0\.1:\d+$/);
});

for (const mode of MODES) {
  describe(`socket.io-client over TLS, ${mode.name}`, () => {
    test('connects trusting the test CA, echoes JSON and binary, acks', { timeout: 10_000 }, async (t) => {
      const c = clientsFor(t, srv);
      const s = await c.connect('/', { ...mode.opts, ca: certs.ca });
      assert.equal(await ack(s, 'echo-ack', 'over tls'), 'over tls');
      const bin = Buffer.alloc(40_000, 7); // larger than one TLS record
      const back = await s.timeout(5000).emitWithAck('echo-ack', bin);
      assert.ok(normalizeBinary(back).equals(bin));
      if (mode.name === 'polling-then-upgrade') {
        await upgraded(s);
        assert.equal(await ack(s, 'echo-ack', 'after upgrade'), 'after upgrade');
      } else {
        assert.equal(s.io.engine.transport.name, mode.opts.transports[0]);
      }
    });

    test('the connect guard works over TLS', { timeout: 10_000 }, async (t) => {
      const c = clientsFor(t, srv);
      const err = await connectError(c.socket('/admin', { ...mode.opts, ca: certs.ca, auth: { token: 'wrong' } }));
      assert.equal(err.message, 'unauthorized');
      const ok = await c.connect('/admin', { ...mode.opts, ca: certs.ca, auth: { token: 'secret' } });
      assert.equal(await ack(ok, 'echo-ack', 1), 1);
    });

    test('a client that does not trust the certificate cannot connect', { timeout: 10_000 }, async (t) => {
      const c = clientsFor(t, srv);
      const err = await connectError(c.socket('/', { ...mode.opts }));
      assert.ok(err, 'connect_error');
    });
  });
}

describe('other endpoints over TLS', () => {
  test('the raw endpoint over wss echoes a frame', { timeout: 10_000 }, async (t) => {
    const c = clientsFor(t, srv);
    const raw = c.raw('/ws', { ca: certs.ca });
    assert.ok(raw.ws.url.startsWith('wss://'));
    await raw.opened();
    raw.send('hello over wss');
    const m = await raw.next();
    assert.equal(m.text, 'hello over wss');
  });

  test('static files and the client bundle over https', { timeout: 10_000 }, async () => {
    const hello = await httpsGet(srv.port, '/hello.txt');
    assert.equal(hello.status, 200);
    assert.equal(hello.body.toString(), 'hello from wshub\n');
    const bundle = await httpsGet(srv.port, '/socket.io/socket.io.min.js');
    assert.equal(bundle.status, 200);
    const missing = await httpsGet(srv.port, '/nope.txt');
    assert.equal(missing.status, 404);
  });

  test('plain HTTP on the TLS port gets no HTTP answer', { timeout: 10_000 }, async () => {
    const answer = await withTimeout(new Promise((resolve) => {
      const sock = net.connect(srv.port, '127.0.0.1', () => sock.write('GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n'));
      const chunks = [];
      sock.on('data', (d) => chunks.push(d));
      sock.on('error', () => {});
      sock.on('close', () => resolve(Buffer.concat(chunks)));
    }), 8000, 'the server to close a plain HTTP connection');
    assert.ok(!answer.toString('latin1').startsWith('HTTP/'), 'no HTTP response on the TLS port');
  });
});
