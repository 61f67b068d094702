'use strict';
// allowEIO3: socket.io-client 2.x (Engine.IO v3, Socket.IO v2) against the binding, over
// polling, the upgrade and WebSocket: the main namespace joined from the start, a namespace
// with its query as auth, events, acks and binary both ways; refused without the option.
const test = require('node:test');
const assert = require('node:assert/strict');
const ioV2 = require('socket.io-client-v2');
const { until, withTimeout, startServer } = require('./helpers');

function v2Client(t, io, nsp = '/', opts = {}) {
  const c = ioV2(`http://127.0.0.1:${io.port}${nsp}`, { forceNew: true, reconnection: false, ...opts });
  t.after(() => c.close());
  return c;
}

const connect = (c) => withTimeout(new Promise((resolve, reject) => {
  c.once('connect', resolve);
  c.once('connect_error', reject);
  c.once('error', reject);
}), 5000, 'the v2 client to connect');

for (const transports of [['polling'], ['websocket'], ['polling', 'websocket']]) {
  test(`a socket.io-client 2.x client over ${transports.join(' then ')}: id, events, acks and binary`, async (t) => {
    const io = startServer(t, { allowEIO3: true });
    const sockets = [];
    io.on('connection', (s) => {
      sockets.push(s);
      s.on('echo', (arg, ack) => ack(arg));
      s.on('bin', (buf) => s.emit('bin-back', Buffer.concat([buf, Buffer.from([9])])));
    });
    const c = v2Client(t, io, '/', { transports });
    await connect(c);
    await until(() => sockets.length === 1);
    assert.equal(sockets[0].id, c.id, 'the Engine.IO sid, as v2 ids are');
    const reply = await withTimeout(new Promise((resolve) => c.emit('echo', { é: '😀' }, resolve)));
    assert.deepEqual(reply, { é: '😀' });
    const back = withTimeout(new Promise((resolve) => c.once('bin-back', resolve)));
    c.emit('bin', Buffer.from([1, 2, 3]));
    assert.deepEqual([...(await back)], [1, 2, 3, 9]);
    const hello = withTimeout(new Promise((resolve) => c.once('hello', resolve)));
    io.emit('hello', 'everyone');
    assert.equal(await hello, 'everyone');
    if (transports.length === 2) await until(() => c.io.engine.transport.name === 'websocket');
  });
}

test('a v2 client joins a namespace with its query as auth; refused by a middleware, it gets the error', async (t) => {
  const io = startServer(t, { allowEIO3: true });
  const auths = [];
  io.of('/the-namespace').use((s, next) => {
    auths.push(s.handshake.auth);
    next(s.handshake.auth.test === '123' ? undefined : new Error('no test'));
  });
  const ok = v2Client(t, io, '/the-namespace');
  ok.query = { test: '123' };
  await connect(ok);
  assert.deepEqual(auths, [{ test: '123' }]);
  await until(() => io.of('/the-namespace').sockets.size === 1);
  assert.equal([...io.of('/the-namespace').sockets.keys()][0], ok.id, '"<namespace>#<sid>", as v2 ids are');
  const bad = v2Client(t, io, '/the-namespace');
  bad.query = { test: 'no' };
  const err = await withTimeout(new Promise((resolve) => bad.once('error', resolve)));
  assert.equal(err.message, 'no test');
});

test('without allowEIO3 a v2 client is refused', async (t) => {
  const io = startServer(t);
  const c = v2Client(t, io);
  await assert.rejects(connect(c));
  const res = await fetch(`http://127.0.0.1:${io.port}/socket.io/?EIO=3&transport=polling`);
  assert.equal(res.status, 400);
  assert.deepEqual(await res.json(), { code: 5, message: 'Unsupported protocol version' });
});
