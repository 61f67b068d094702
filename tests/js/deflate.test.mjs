// permessage-deflate (RFC 7692): the raw endpoint /ws negotiates it when the
// client offers it (the `ws` client does by default); the Socket.IO endpoint
// only when the server turns it on (WSHUB_PER_MESSAGE_DEFLATE, off by
// default like the Node server's `perMessageDeflate: false`). Compression is
// seen on the wire: a large compressible message costs a fraction of its size
// in socket bytes, both ways.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { io } from 'socket.io-client';
import { useServer } from './server.mjs';
import { BASE_OPTS, clientsFor, connected, upgraded, waitEvent } from './helpers.mjs';

const srv = useServer({ env: { WSHUB_PER_MESSAGE_DEFLATE: '1' } });
const plain = useServer(); // the default: Socket.IO without deflate

/** 500 kB of JSON-like text: compresses well, but is not one repeated byte. */
function compressible(n = 500_000) {
  const words = ['room', 'user', 'message', 'typing', 'online', 'hello', 'world', '"id":', '{"at":', '},'];
  let s = '';
  for (let i = 0; s.length < n; i++) s += words[(i * 7 + (i >> 3)) % words.length] + (i % 97) + ' ';
  return s.slice(0, n);
}

/** The response's Sec-WebSocket-Extensions of a `ws` client, once it is open. */
function upgradeHeader(ws) {
  return new Promise((resolve) => ws.once('upgrade', (res) => resolve(res.headers['sec-websocket-extensions'])));
}

describe('permessage-deflate on the raw endpoint /ws', () => {
  test('negotiated when offered; a large message is compressed both ways and echoed intact', { timeout: 20_000 }, async (t) => {
    const c = clientsFor(t, srv);
    const r = c.raw('/ws', { perMessageDeflate: { threshold: 1024 } });
    const ext = upgradeHeader(r.ws);
    await r.opened();
    assert.match(await ext, /^permessage-deflate\b/, 'the 101 names the extension');
    assert.equal(r.ws.extensions, 'permessage-deflate');
    const sock = r.ws._socket;
    const text = compressible();
    const [read0, written0] = [sock.bytesRead, sock.bytesWritten];
    r.send(text);
    const m = await r.next(10_000);
    assert.equal(m.isBinary, false);
    assert.equal(m.text, text, 'the echo is the same text');
    const [read, written] = [sock.bytesRead - read0, sock.bytesWritten - written0];
    assert.ok(written < text.length / 5, `client to server: ${written} bytes on the wire for ${text.length}`);
    assert.ok(read < text.length / 5, `server to client: ${read} bytes on the wire for ${text.length}`);

    // Binary too, many messages over one context (takeover), and small ones under the threshold.
    const bin = Buffer.from(compressible(200_000));
    for (let i = 0; i < 5; i++) {
      r.send(bin, { binary: true });
      r.send(`small ${i}`);
    }
    for (let i = 0; i < 5; i++) {
      const b = await r.next(10_000);
      assert.equal(b.isBinary, true);
      assert.ok(Buffer.from(b.data).equals(bin), `binary echo ${i}`);
      assert.equal((await r.next()).text, `small ${i}`);
    }
    // Incompressible data still round-trips.
    const noise = crypto.randomBytes(300_000);
    r.send(noise, { binary: true });
    assert.ok(Buffer.from((await r.next(10_000)).data).equals(noise));
  });

  test('window bits and no context takeover, as the client asks', { timeout: 20_000 }, async (t) => {
    const c = clientsFor(t, srv);
    const r = c.raw('/ws', {
      perMessageDeflate: { serverMaxWindowBits: 9, serverNoContextTakeover: true, clientMaxWindowBits: 10, threshold: 0 },
    });
    const ext = await Promise.all([upgradeHeader(r.ws), r.opened()]).then(([e]) => e);
    assert.match(ext, /server_no_context_takeover/);
    assert.match(ext, /server_max_window_bits=9/);
    const text = compressible(100_000);
    for (let i = 0; i < 3; i++) {
      r.send(text);
      assert.equal((await r.next(10_000)).text, text);
    }
  });

  test('a client that does not offer it gets plain frames', { timeout: 10_000 }, async (t) => {
    const c = clientsFor(t, srv);
    const r = c.raw('/ws', { perMessageDeflate: false });
    const ext = upgradeHeader(r.ws);
    await r.opened();
    assert.equal(await ext, undefined);
    const text = compressible(100_000);
    r.send(text);
    assert.equal((await r.next()).text, text);
    assert.ok(r.ws._socket.bytesRead > text.length, 'uncompressed on the wire');
  });
});

describe('permessage-deflate on the Socket.IO endpoint', () => {
  for (const transports of [['websocket'], ['polling', 'websocket']]) {
    test(`on when the server enables it (${transports.join(' then ')})`, { timeout: 20_000 }, async (t) => {
      const s = io(srv.url, { ...BASE_OPTS, transports, perMessageDeflate: { threshold: 1024 } });
      t.after(() => s.disconnect());
      await connected(s);
      await upgraded(s);
      const ws = s.io.engine.transport.ws;
      assert.equal(ws.extensions, 'permessage-deflate');
      const sock = ws._socket;
      const [read0, written0] = [sock.bytesRead, sock.bytesWritten];
      const text = compressible();
      s.emit('echo', text, { nested: text.slice(0, 10_000) });
      const args = await waitEvent(s, 'echo', 10_000);
      assert.deepEqual(args, [text, { nested: text.slice(0, 10_000) }]);
      const [read, written] = [sock.bytesRead - read0, sock.bytesWritten - written0];
      assert.ok(written < text.length / 5, `client to server: ${written} bytes for ${text.length}`);
      assert.ok(read < text.length / 5, `server to client: ${read} bytes for ${text.length}`);
      // Binary attachments go through it as well.
      const bin = Buffer.from(compressible(100_000));
      s.emit('echo', bin);
      const [back] = await waitEvent(s, 'echo', 10_000);
      assert.ok(Buffer.from(back).equals(bin));
    });
  }

  test('off by default: the offer is declined and frames stay plain', { timeout: 10_000 }, async (t) => {
    const c = clientsFor(t, plain);
    const s = await c.connect('/', { transports: ['websocket'], perMessageDeflate: { threshold: 1024 } });
    const ws = s.io.engine.transport.ws;
    assert.equal(ws.extensions, '');
    s.emit('echo', 'x'.repeat(10_000));
    const [back] = await waitEvent(s, 'echo');
    assert.equal(back.length, 10_000);
  });
});
