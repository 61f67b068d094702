'use strict';
// io.of('/ns'): separate connections, handlers, rooms and emits per namespace.
const test = require('node:test');
const assert = require('node:assert/strict');
const { io: ioc } = require('socket.io-client');
const { next, until, sleep, startServer, client, connected, pair, record } = require('./helpers');

test('each namespace has its own connections and handlers; unknown namespaces are refused', async (t) => {
  const io = startServer(t);
  const main = [];
  const chat = [];
  io.on('connection', (s) => main.push(s.id));
  io.of('/chat', (s) => {
    chat.push(s.id);
    s.on('where', (ack) => ack(s.nsp.name));
  });
  const m = await pair(t, io, '/');
  const c = await pair(t, io, '/chat');
  assert.deepEqual(main, [m.c.id]);
  assert.deepEqual(chat, [c.c.id]);
  assert.equal(await c.c.timeout(2000).emitWithAck('where'), '/chat');
  assert.equal(io.of('chat'), io.of('/chat'));
  await assert.rejects(connected(client(t, io, '/nowhere')), /Invalid namespace/);
  assert.throws(() => io.of(/dyn-.*/), /dynamic namespaces/);
});

test('one connection multiplexes two namespaces; emits and rooms stay in their namespace', async (t) => {
  const io = startServer(t);
  io.of('/chat');
  const manager = ioc(`http://127.0.0.1:${io.port}`, { transports: ['websocket'], reconnection: false, forceNew: true }).io;
  const a = manager.socket('/');
  const b = manager.socket('/chat');
  t.after(() => {
    a.close();
    b.close();
    manager.engine && manager.engine.close();
  });
  a.connect();
  b.connect();
  await Promise.all([connected(a), connected(b)]);
  await until(() => io.sockets.sockets.has(a.id) && io.of('/chat').sockets.has(b.id));
  const la = record(a);
  const lb = record(b);
  io.sockets.sockets.get(a.id).join('r');
  io.of('/chat').sockets.get(b.id).join('r');

  io.emit('main-only');
  io.of('/chat').emit('chat-only');
  io.to('r').emit('main-room');
  io.of('/chat').to('r').emit('chat-room');
  io.of('/chat').except('r').emit('nobody');
  await until(() => la.length === 2 && lb.length === 2);
  await sleep(50);
  assert.deepEqual(la, [['main-only'], ['main-room']]);
  assert.deepEqual(lb, [['chat-only'], ['chat-room']]);
  assert.deepEqual((await io.of('/chat').fetchSockets()).map((s) => s.id), [b.id]);
});

test('a namespace created after listen works, and disconnects are per namespace', async (t) => {
  const io = startServer(t);
  const late = io.of('/late');
  const reasons = [];
  late.on('connection', (s) => s.on('disconnect', (r) => reasons.push(r)));
  const { c, socket } = await pair(t, io, '/late');
  const gone = next(c, 'disconnect');
  socket.disconnect();
  assert.equal((await gone)[0], 'io server disconnect');
  await until(() => reasons.length === 1);
  assert.deepEqual(reasons, ['server namespace disconnect']);
  assert.equal(late.sockets.size, 0);
});
