// The raw WebSocket endpoint /ws: exact echo of text and binary frames, and
// Socket.IO emits that target raw clients arriving as ["event", ...args].
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { useServer } from './server.mjs';
import { clientsFor, ack, sleep, waitUntil } from './helpers.mjs';

const srv = useServer();

/** A raw client on /ws that has proven (by an echo) that the server registered it. */
async function rawClient(c) {
  const r = c.raw('/ws');
  await r.opened();
  r.send('ready?');
  const m = await r.next();
  assert.equal(m.text, 'ready?');
  return r;
}

describe('raw WebSocket endpoint /ws', () => {
  test('a text frame is echoed back as an identical text frame', { timeout: 10_000 }, async (t) => {
    const c = clientsFor(t, srv);
    const r = c.raw('/ws');
    await r.opened();
    for (const text of ['hello', 'CJK 你好世界 and emoji 😀🎉👨‍👩‍👧', '{"not":"parsed"}', '42["echo","x"]', 'x'.repeat(100_000)]) {
      r.send(text);
      const m = await r.next();
      assert.equal(m.isBinary, false, 'text stays text');
      assert.equal(m.text, text);
    }
  });

  test('a binary frame is echoed back as an identical binary frame', { timeout: 10_000 }, async (t) => {
    const c = clientsFor(t, srv);
    const r = c.raw('/ws');
    await r.opened();
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const utf8Invalid = Buffer.from([0xff, 0xfe, 0xc0, 0x80]);
    for (const bin of [Buffer.from([7]), all, utf8Invalid, crypto.randomBytes(256 * 1024)]) {
      r.send(bin, { binary: true });
      const m = await r.next();
      assert.equal(m.isBinary, true, 'binary stays binary');
      assert.ok(Buffer.from(m.data).equals(bin), `binary echo of ${bin.length} bytes`);
    }
  });

  test('interleaved text and binary frames echo in order with their frame types', { timeout: 10_000 }, async (t) => {
    const c = clientsFor(t, srv);
    const r = c.raw('/ws');
    await r.opened();
    const frames = Array.from({ length: 200 }, (_, i) => (i % 2 ? Buffer.from([i & 0xff, 0, 1]) : `text ${i}`));
    for (const f of frames) r.send(f, { binary: typeof f !== 'string' });
    for (const f of frames) {
      const m = await r.next();
      if (typeof f === 'string') {
        assert.equal(m.isBinary, false);
        assert.equal(m.text, f);
      } else {
        assert.equal(m.isBinary, true);
        assert.ok(Buffer.from(m.data).equals(f));
      }
    }
  });

  test('a Socket.IO to-room "raw" reaches raw clients as a ["room-msg", ...args] text frame', { timeout: 10_000 }, async (t) => {
    const c = clientsFor(t, srv);
    const r1 = await rawClient(c);
    const r2 = await rawClient(c);
    const sio = await c.connect('/', { transports: ['websocket'] });
    sio.emit('to-room', 'raw', 'hi raw', { n: 1, s: '😀' }, [1, null], true);
    for (const r of [r1, r2]) {
      const m = await r.next();
      assert.equal(m.isBinary, false, 'arrives as text');
      assert.deepStrictEqual(JSON.parse(m.text), ['room-msg', 'hi raw', { n: 1, s: '😀' }, [1, null], true]);
    }
  });

  test('to-room "raw" from a polling Socket.IO client reaches raw clients too', { timeout: 10_000 }, async (t) => {
    const c = clientsFor(t, srv);
    const r = await rawClient(c);
    const sio = await c.connect('/', { transports: ['polling'] });
    sio.emit('to-room', 'raw', 'via polling');
    const m = await r.next();
    assert.deepStrictEqual(JSON.parse(m.text), ['room-msg', 'via polling']);
  });

  test('to-all and broadcast in / reach raw clients as ["to-all", ...] and ["broadcast", ...]', { timeout: 10_000 }, async (t) => {
    const c = clientsFor(t, srv);
    const r = await rawClient(c);
    const sio = await c.connect('/', { transports: ['websocket'] });
    sio.emit('to-all', 'everyone', 1);
    assert.deepStrictEqual(JSON.parse((await r.next()).text), ['to-all', 'everyone', 1]);
    sio.emit('broadcast', 'others', 2);
    assert.deepStrictEqual(JSON.parse((await r.next()).text), ['broadcast', 'others', 2]);
  });

  test('an emit to room "raw" of another namespace does not reach raw clients (they live in /)', { timeout: 10_000 }, async (t) => {
    const c = clientsFor(t, srv);
    const r = await rawClient(c);
    const chat = await c.connect('/chat', { transports: ['websocket'] });
    const root = await c.connect('/', { transports: ['websocket'] });
    chat.emit('to-room', 'raw', 'from chat');
    chat.emit('to-all', 'chat to-all');
    await sleep(200);
    root.emit('to-room', 'raw', 'sentinel');
    const m = await r.next();
    assert.deepStrictEqual(JSON.parse(m.text), ['room-msg', 'sentinel'], 'nothing from /chat came first');
  });

  test('to-room-except "raw" from room "raw" excludes raw clients', { timeout: 10_000 }, async (t) => {
    const c = clientsFor(t, srv);
    const r = await rawClient(c);
    const root = await c.connect('/', { transports: ['websocket'] });
    root.emit('to-room-except', 'raw', 'raw', 'nobody');
    await sleep(200);
    root.emit('to-room', 'raw', 'sentinel');
    assert.deepStrictEqual(JSON.parse((await r.next()).text), ['room-msg', 'sentinel']);
  });

  test('raw clients count as sockets of /', { timeout: 10_000 }, async (t) => {
    const c = clientsFor(t, srv);
    const sio = await c.connect('/', { transports: ['websocket'] });
    const before = await ack(sio, 'count');
    const r = await rawClient(c);
    await waitUntil(() => ack(sio, 'count'), { what: `count == ${before + 1}`, accept: (n) => n === before + 1 });
    r.ws.close(1000);
    await r.closed();
    await waitUntil(() => ack(sio, 'count'), { what: `count == ${before}`, accept: (n) => n === before });
  });

  test('a Socket.IO client keeps working while raw clients come and go', { timeout: 10_000 }, async (t) => {
    const c = clientsFor(t, srv);
    const sio = await c.connect('/', { transports: ['websocket'] });
    for (let i = 0; i < 5; i += 1) {
      const r = await rawClient(c);
      r.terminate();
    }
    assert.equal(await ack(sio, 'echo-ack', 'fine'), 'fine');
  });
});
