'use strict';
// Buffers and typed arrays anywhere in the arguments are binary attachments, both ways.
const test = require('node:test');
const assert = require('node:assert/strict');
const { next, until, startServer, pair } = require('./helpers');

const bytes = (b) => [...new Uint8Array(b.buffer ? b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) : b)];

for (const transport of ['websocket', 'polling']) {
  test(`client to server: Buffers at any depth arrive as Buffers (${transport})`, async (t) => {
    const io = startServer(t);
    const got = [];
    io.on('connection', (socket) => socket.on('bin', (...args) => got.push(args)));
    const { c } = await pair(t, io, '/', { transports: [transport] });
    c.emit('bin', Buffer.from('abc'), { nested: [1, Buffer.from([0, 255])], s: 'text' }, 'plain');
    await until(() => got.length === 1);
    const [a, obj, plain] = got[0];
    assert.ok(Buffer.isBuffer(a));
    assert.equal(a.toString(), 'abc');
    assert.ok(Buffer.isBuffer(obj.nested[1]));
    assert.deepEqual([...obj.nested[1]], [0, 255]);
    assert.equal(obj.nested[0], 1);
    assert.equal(obj.s, 'text');
    assert.equal(plain, 'plain');
  });

  test(`server to client: Buffer, Uint8Array view, ArrayBuffer, Float32Array, DataView (${transport})`, async (t) => {
    const io = startServer(t);
    const { c, socket } = await pair(t, io, '/', { transports: [transport] });
    const backing = new Uint8Array([9, 9, 1, 2, 3, 9]);
    const view = new Uint8Array(backing.buffer, 2, 3); // only 1, 2, 3
    const floats = new Float32Array([1.5, -2]);
    const dv = new DataView(new ArrayBuffer(2));
    dv.setUint16(0, 0x0102);
    const got = next(c, 'bin');
    socket.emit('bin', Buffer.from('hi'), view, new Uint8Array([7]).buffer, { deep: { f: floats, d: dv } }, 42);
    const [b, v, ab, obj, n] = await got;
    assert.equal(Buffer.from(b).toString(), 'hi');
    assert.deepEqual(bytes(v), [1, 2, 3]);
    assert.deepEqual(bytes(ab), [7]);
    assert.deepEqual(bytes(obj.deep.f), bytes(new Uint8Array(floats.buffer)));
    assert.deepEqual(bytes(obj.deep.d), [1, 2]);
    assert.equal(n, 42);
  });
}

test('acks carry binary both ways', async (t) => {
  const io = startServer(t);
  io.on('connection', (socket) => {
    socket.on('rev', (buf, ack) => ack(Buffer.from([...buf].reverse()), { len: buf.length }));
  });
  const { c, socket } = await pair(t, io);
  const [rev, meta] = await new Promise((resolve) => c.emit('rev', Buffer.from([1, 2, 3]), (...r) => resolve(r)));
  assert.deepEqual(bytes(rev), [3, 2, 1]);
  assert.deepEqual(meta, { len: 3 });

  c.on('upper', (buf, ack) => ack(Buffer.from(Buffer.from(buf).toString().toUpperCase())));
  const reply = await socket.timeout(2000).emitWithAck('upper', Buffer.from('shout'));
  assert.ok(Buffer.isBuffer(reply));
  assert.equal(reply.toString(), 'SHOUT');
});

test('a broadcast with binary reaches every client; 1 MiB round-trips', async (t) => {
  const io = startServer(t, { maxHttpBufferSize: 2_000_000 });
  io.on('connection', (socket) => socket.on('echo', (...args) => socket.emit('echo', ...args)));
  const a = await pair(t, io);
  const b = await pair(t, io);
  const ga = next(a.c, 'bcast');
  const gb = next(b.c, 'bcast');
  io.emit('bcast', Buffer.from([5, 6]));
  assert.deepEqual(bytes((await ga)[0]), [5, 6]);
  assert.deepEqual(bytes((await gb)[0]), [5, 6]);

  const big = Buffer.alloc(1 << 20);
  for (let i = 0; i < big.length; i++) big[i] = i % 251;
  const echoed = next(a.c, 'echo', 10_000);
  a.c.emit('echo', big);
  const [back] = await echoed;
  assert.equal(back.byteLength, big.length);
  assert.ok(Buffer.from(back).equals(big));
});
