'use strict';
// TLS (tlsCert / tlsKey: a CA and a leaf for 127.0.0.1 made at test time with
// the openssl CLI) and the origin allow-list (allowedOrigins), through the
// Node binding, with socket.io-client over wss and https long-polling.
const test = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startServer, client, connected, ioc } = require('./helpers');

function makeCerts() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wshub-node-tls-'));
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const openssl = (args) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  fs.writeFileSync(path.join(dir, 'leaf.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' +
    'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n');
  openssl(['req', '-x509', ...ec, '-days', '2', '-subj', '/CN=wshub test CA', '-keyout', 'ca.key', '-out', 'ca.pem']);
  openssl(['req', ...ec, '-subj', '/CN=localhost', '-keyout', 'key.pem', '-out', 'leaf.csr']);
  openssl(['x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', '2', '-days', '2',
    '-extfile', 'leaf.ext', '-out', 'cert.pem']);
  return { cert: path.join(dir, 'cert.pem'), key: path.join(dir, 'key.pem'), ca: fs.readFileSync(path.join(dir, 'ca.pem')) };
}

const certs = makeCerts();

for (const transport of ['websocket', 'polling']) {
  test(`TLS: socket.io-client over ${transport === 'websocket' ? 'wss' : 'https polling'}, middleware included`, async (t) => {
    const io = startServer(t, { tlsCert: certs.cert, tlsKey: certs.key });
    const secure = [];
    io.use((socket, next) => {
      secure.push(socket.handshake.secure);
      return socket.handshake.auth.token === 'secret' ? next() : next(new Error('unauthorized'));
    });
    io.on('connection', (socket) => socket.on('echo', (v, ack) => ack(v)));
    const https = (opts) => {
      const c = ioc(`https://127.0.0.1:${io.port}`, {
        transports: [transport], reconnection: false, forceNew: true, timeout: 5000, ca: certs.ca, ...opts,
      });
      t.after(() => c.close());
      return c;
    };
    const c = await connected(https({ auth: { token: 'secret' } }));
    assert.equal(c.io.engine.transport.name, transport);
    const big = 'x'.repeat(40_000);
    assert.equal(await c.timeout(5000).emitWithAck('echo', big), big);
    await assert.rejects(connected(https({ auth: { token: 'nope' } })), (err) => err.message === 'unauthorized');
    assert.deepEqual(secure, [true, true]); // handshake.secure says TLS
    // A client that does not trust the certificate gets no connection.
    await assert.rejects(connected(https({ auth: { token: 'secret' }, ca: undefined })));
  });
}

test('TLS: a missing certificate file is an error at listen', (t) => {
  assert.throws(() => startServer(t, { tlsCert: path.join(os.tmpdir(), 'no-such-cert.pem'), tlsKey: certs.key }),
    /no-such-cert\.pem/);
});

test('allowedOrigins: other browser origins are refused, listed ones and non-browsers connect', async (t) => {
  const io = startServer(t, { allowedOrigins: ['http://allowed.example'] });
  for (const transport of ['websocket', 'polling']) {
    const ok = client(t, io, '/', { transports: [transport], extraHeaders: { Origin: 'http://allowed.example' } });
    await connected(ok);
    await connected(client(t, io, '/', { transports: [transport] }));
    const bad = client(t, io, '/', { transports: [transport], extraHeaders: { Origin: 'http://evil.example' } });
    await assert.rejects(connected(bad));
  }
  assert.throws(() => startServer(t, { allowedOrigins: 42 }), /allowedOrigins/);
});
