'use strict';
// socket.conn's 'packetCreate' event: the packets the hub hands a connection's
// transport, with the per-emit compress flag and, for a broadcast over a
// WebSocket, the frame its receivers share.
const test = require('node:test');
const assert = require('node:assert/strict');
const { next, sleep, until, startServer, pair } = require('./helpers');

test("packetCreate tells a socket's packets, with the compress flag of their emit", async (t) => {
  const io = startServer(t);
  for (const transports of [['websocket'], ['polling']]) {
    const { c, socket } = await pair(t, io, '/', { transports });
    const arrived = [];
    c.on('woot', (a) => arrived.push(a));
    const got = next(socket.conn, 'packetCreate');
    socket.emit('woot', 'hi');
    const [packet] = await got;
    assert.deepEqual(packet, { type: 'message', data: '2["woot","hi"]', options: { compress: true } });
    const off = next(socket.conn, 'packetCreate');
    socket.compress(false).emit('woot', 'off');
    assert.equal((await off)[0].options.compress, false);
    await until(() => arrived.length === 2, 5000, 'both events');
    assert.deepEqual(arrived, ['hi', 'off']);
    c.close();
  }
});

test('a broadcast over a WebSocket gives its shared frame as wsPreEncodedFrame', async (t) => {
  const io = startServer(t);
  io.of('/chat');
  const { c, socket } = await pair(t, io, '/chat');
  const got = next(socket.conn, 'packetCreate');
  const arrived = next(c, 'woot');
  io.of('/chat').compress(false).emit('woot', 'hi');
  const [packet] = await got;
  assert.equal(packet.options.compress, false);
  const [header, payload] = packet.options.wsPreEncodedFrame;
  assert.equal(payload.toString(), '42/chat,["woot","hi"]');
  assert.deepEqual([...header], [0x81, payload.length]);
  assert.deepEqual(await arrived, ['hi']);
});

test('without packetCreate listeners nothing is told', async (t) => {
  const io = startServer(t);
  const { c, socket } = await pair(t, io);
  const seen = [];
  const listener = (p) => seen.push(p.data);
  socket.conn.on('packetCreate', listener);
  socket.emit('one');
  await next(c, 'one');
  await until(() => seen.length === 1, 5000, 'the first packet told');
  socket.conn.off('packetCreate', listener);
  socket.emit('two');
  await next(c, 'two');
  await sleep(100);
  assert.deepEqual(seen, ['2["one"]']);
});
