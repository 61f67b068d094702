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
  assert.throws(() => io.of(42), /a namespace is a string, a RegExp or a function/);
});

test('dynamic namespaces: a RegExp and a function make children on demand, with the parent\'s middleware and listeners', async (t) => {
  const io = startServer(t);
  const made = [];
  io.on('new_namespace', (nsp) => made.push(nsp.name));
  const seen = [];
  const parent = io
    .of(/^\/dynamic-\d+$/)
    .use((socket, next) => {
      seen.push(['middleware', socket.nsp.name]);
      next();
    })
    .on('connection', (socket) => {
      seen.push(['connection', socket.nsp.name]);
      socket.join('some-room');
    });
  const asked = [];
  io.of((name, auth, next) => {
    asked.push([name, auth]);
    setTimeout(() => next(null, auth.token === 'ok'), 5); // decides later
  });
  const a = await pair(t, io, '/dynamic-101');
  assert.equal(a.socket.nsp.name, '/dynamic-101');
  assert.equal(a.socket.nsp, io.of('/dynamic-101'));
  assert.ok(parent.children.has(a.socket.nsp));
  const hello = next(a.c, 'hello');
  parent.to('some-room').emit('hello', 4, '3', { 2: '1' });
  assert.deepEqual(await hello, [4, '3', { 2: '1' }]);
  // The function: refused without the token, let in with it.
  await assert.rejects(connected(client(t, io, '/fn-ns', { auth: { token: 'no' } })), /Invalid namespace/);
  const f = await pair(t, io, '/fn-ns', { auth: { token: 'ok' } });
  assert.equal(f.socket.nsp.name, '/fn-ns');
  assert.deepEqual(asked, [['/fn-ns', { token: 'no' }], ['/fn-ns', { token: 'ok' }]]);
  await assert.rejects(connected(client(t, io, '/abc')), /Invalid namespace/);
  assert.deepEqual(made, ['/dynamic-101', '/fn-ns']);
  assert.deepEqual(seen, [['middleware', '/dynamic-101'], ['connection', '/dynamic-101']]);
  // A name made by hand that a RegExp matches becomes its child too.
  assert.ok(parent.children.has(io.of('/dynamic-202')));
  assert.throws(() => parent.fetchSockets(), /not supported on parent namespaces/);
});

test('dynamic namespaces: two clients racing for one new name get one namespace', async (t) => {
  const io = startServer(t);
  const buffer = [];
  let created = 0;
  io.on('new_namespace', () => created++);
  io.of((name, auth, next) => {
    buffer.push(next);
    if (buffer.length === 2) for (const n of buffer) n(null, true);
  });
  const [one, two] = [client(t, io, '/dynamic-101'), client(t, io, '/dynamic-101')];
  await Promise.all([connected(one), connected(two)]);
  assert.equal(created, 1);
  await until(() => io.of('/dynamic-101').sockets.size === 2);
});

test('cleanupEmptyChildNamespaces: an empty child goes (after its last socket, or a refusal) and is made again on demand', async (t) => {
  const io = startServer(t, { cleanupEmptyChildNamespaces: true });
  io.of('/static');
  let refuse = false;
  io.of(/^\/dynamic-\d+$/).use((socket, next) => next(refuse ? new Error('You shall not pass!') : undefined));
  const a = await pair(t, io, '/dynamic-101');
  const s = await pair(t, io, '/static');
  a.c.disconnect();
  s.c.disconnect();
  await until(() => !io._nsps.has('/dynamic-101'), 5000, 'the empty child to go');
  await sleep(50);
  assert.ok(io._nsps.has('/static'), 'a namespace made by hand stays');
  const b = await pair(t, io, '/dynamic-101');
  assert.ok(io._nsps.has('/dynamic-101'));
  // Refused while another socket is in it: it stays; refused when empty: it goes.
  refuse = true;
  await assert.rejects(connected(client(t, io, '/dynamic-101')), /You shall not pass!/);
  await sleep(100);
  assert.equal(io._nsps.get('/dynamic-101').sockets.size, 1);
  await assert.rejects(connected(client(t, io, '/dynamic-102')), /You shall not pass!/);
  await until(() => !io._nsps.has('/dynamic-102'), 5000, 'the refused child to go');
  b.c.disconnect();
  await until(() => !io._nsps.has('/dynamic-101'), 5000, 'the child to go');
});

test('without cleanupEmptyChildNamespaces an empty child stays', async (t) => {
  const io = startServer(t);
  io.of(/^\/dynamic-\d+$/);
  const a = await pair(t, io, '/dynamic-101');
  a.c.disconnect();
  await until(() => io.of('/dynamic-101').sockets.size === 0);
  await sleep(100);
  assert.ok(io._nsps.has('/dynamic-101'));
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
