'use strict';
// Connection state recovery with the official socket.io-client: a client whose
// TCP connection is cut while 1,000 events are broadcast comes back with its
// id, rooms and data, and gets every one of them exactly once, in order.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { startServer, client, connected, next, until, sleep } = require('./helpers');

/** Cuts the client's TCP connection under it (the server sees "transport close"). */
function cut(c) {
  const transport = c.io.engine.transport;
  if (transport.name === 'websocket') transport.ws._socket.destroy();
  else c.io.engine.close(); // polling: no socket to cut, an engine close is the same to the server
}

for (const transports of [['websocket'], ['polling']]) {
  test(`a client cut off while 1,000 events go out gets them all, once, in order (${transports[0]})`, async (t) => {
    const io = startServer(t, { connectionStateRecovery: {} });
    const serverSockets = [];
    io.on('connection', (socket) => {
      serverSockets.push(socket);
      if (!socket.recovered) {
        socket.join('readers');
        socket.data.name = 'alice';
      }
    });
    const c = client(t, io, '/', { transports, reconnection: true, reconnectionDelay: 50, reconnectionDelayMax: 100 });
    const got = [];
    c.on('tick', (n, offset) => {
      assert.equal(typeof offset, 'string', 'the offset comes as the last argument');
      got.push(n);
    });
    await connected(c);
    assert.equal(c.recovered, false);
    const firstId = c.id;
    await until(() => serverSockets.length === 1 && serverSockets[0].rooms.has('readers'), 5000, 'the join');
    for (let i = 0; i < 10; i += 1) io.to('readers').emit('tick', i);
    await until(() => got.length === 10, 5000, 'the first 10 ticks');

    const disconnected = next(c, 'disconnect');
    cut(c);
    await disconnected;
    await until(() => io.sockets.sockets.size === 0, 5000, 'the server to see the disconnect');
    for (let i = 10; i < 1010; i += 1) io.to('readers').emit('tick', i);
    io.emit('tick', 1010); // to everyone
    serverSockets[0].emit('tick', 1011); // to the socket itself, while it is away

    await next(c, 'connect');
    await until(() => got.length >= 1012, 10_000, `all 1,012 ticks (have ${got.length})`);
    await sleep(100);
    assert.deepEqual(got, Array.from({ length: 1012 }, (_, i) => i), 'every tick exactly once, in order');
    assert.equal(c.recovered, true);
    assert.equal(c.id, firstId);
    const back = serverSockets[1];
    assert.equal(back.recovered, true);
    assert.equal(back.id, firstId);
    assert.ok(back.rooms.has('readers') && back.rooms.has(firstId));
    assert.deepEqual(back.data, { name: 'alice' });
  });
}

test('a client that comes back after maxDisconnectionDuration starts afresh, and recovery is off by default', async (t) => {
  const io = startServer(t, { connectionStateRecovery: { maxDisconnectionDuration: 300 } });
  const c = client(t, io, '/', { reconnection: true, reconnectionDelay: 800, reconnectionDelayMax: 800, randomizationFactor: 0 });
  const got = [];
  c.on('tick', (n) => got.push(n));
  await connected(c);
  const firstId = c.id;
  const disconnected = next(c, 'disconnect');
  cut(c);
  await disconnected;
  io.emit('tick', 1);
  await next(c, 'connect', 5000);
  assert.equal(c.recovered, false);
  assert.notEqual(c.id, firstId);
  await sleep(100);
  assert.deepEqual(got, [], 'nothing replayed to a fresh session');

  const plain = startServer(t);
  const p = client(t, plain);
  const args = [];
  p.on('tick', (...a) => args.push(a));
  await connected(p);
  plain.emit('tick', 1);
  await until(() => args.length === 1);
  assert.deepEqual(args, [[1]], 'no offset without recovery');
});

test('middlewares are skipped on recovery unless skipMiddlewares is false', async (t) => {
  for (const skipMiddlewares of [true, false]) {
    const io = startServer(t, { connectionStateRecovery: { skipMiddlewares } });
    let calls = 0;
    io.use((socket, next) => {
      calls += 1;
      next();
    });
    const sockets = [];
    io.on('connection', (s) => sockets.push(s));
    const c = client(t, io, '/', { reconnection: true, reconnectionDelay: 50, reconnectionDelayMax: 100 });
    await connected(c);
    io.emit('hello'); // an offset for the client to hand back
    await next(c, 'hello');
    const disconnected = next(c, 'disconnect');
    cut(c);
    await disconnected;
    await next(c, 'connect');
    assert.equal(c.recovered, true);
    await until(() => sockets.length === 2);
    assert.equal(sockets[1].recovered, true);
    assert.equal(calls, skipMiddlewares ? 1 : 2, `skipMiddlewares ${skipMiddlewares}`);
  }
});
