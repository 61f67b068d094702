'use strict';
// io.use((socket, next) => …): connection middleware; an error reaches the client as connect_error.
const test = require('node:test');
const assert = require('node:assert/strict');
const { until, sleep, startServer, client, connected, pair } = require('./helpers');

test('middleware refuses with connect_error and admits with socket.data kept', async (t) => {
  const io = startServer(t);
  const seen = [];
  io.use((socket, next) => {
    seen.push({ auth: socket.handshake.auth, query: socket.handshake.query, address: socket.handshake.address });
    if (socket.handshake.auth.token === 'expired') {
      const err = new Error('expired');
      err.data = { retry: true, after: [1, 2] }; // reaches the client as err.data
      return next(err);
    }
    if (socket.handshake.auth.token !== 'secret') return next(new Error('unauthorized'));
    socket.data.user = socket.handshake.auth.user;
    socket.join('members'); // joined once the socket is connected
    next();
  });
  const connections = [];
  io.on('connection', (socket) => connections.push(socket));

  const bad = client(t, io, '/', { auth: { token: 'nope' } });
  await assert.rejects(connected(bad), (err) => err.message === 'unauthorized');
  const expired = client(t, io, '/', { auth: { token: 'expired' } });
  await assert.rejects(connected(expired), (err) => err.message === 'expired' &&
    JSON.stringify(err.data) === JSON.stringify({ retry: true, after: [1, 2] }));
  assert.equal(connections.length, 0);

  const { c, socket } = await pair(t, io, '/', { auth: { token: 'secret', user: 'ann' }, query: { q: '1' } });
  assert.equal(socket.data.user, 'ann');
  assert.equal(socket.id, c.id);
  assert.deepEqual([...socket.rooms].sort(), [c.id, 'members'].sort());
  assert.deepEqual((await io.in('members').fetchSockets()).map((s) => s.id), [c.id]);
  assert.equal(seen.length, 3);
  assert.deepEqual(seen[2].auth, { token: 'secret', user: 'ann' });
  assert.equal(seen[2].query.q, '1');
  assert.equal(seen[2].address, '127.0.0.1');
  assert.equal(connections.length, 1);
  assert.equal(connections[0], socket);
  // Headers are filled in once the socket is connected.
  assert.equal(typeof socket.handshake.headers.host, 'string');
});

test('middlewares run in order, may be asynchronous, and stop at the first error', async (t) => {
  const io = startServer(t);
  const order = [];
  io.use((socket, next) => {
    order.push('first');
    socket.data.steps = ['first'];
    setTimeout(next, 30);
  });
  io.use(async (socket, next) => {
    order.push('second');
    await sleep(10);
    socket.data.steps.push('second');
    if (socket.handshake.auth.fail) next(new Error(`refused by second`));
    else next();
  });
  io.use((socket, next) => {
    order.push('third');
    next();
  });
  const { socket } = await pair(t, io);
  assert.deepEqual(socket.data.steps, ['first', 'second']);
  assert.deepEqual(order, ['first', 'second', 'third']);
  order.length = 0;
  const bad = client(t, io, '/', { auth: { fail: true } });
  await assert.rejects(connected(bad), /refused by second/);
  assert.deepEqual(order, ['first', 'second']);
});

test('a middleware that throws refuses the client and is reported', async (t) => {
  const io = startServer(t);
  const errors = [];
  io.on('error', (err) => errors.push(err.message));
  io.use(() => {
    throw new Error('middleware bug');
  });
  const bad = client(t, io);
  await assert.rejects(connected(bad), /middleware bug/);
  assert.deepEqual(errors, ['middleware bug']);
});

test('namespace middleware applies to its namespace only', async (t) => {
  const io = startServer(t);
  io.of('/admin').use((socket, next) => (socket.handshake.auth.token === 'secret' ? next() : next(new Error('admins only'))));
  await pair(t, io, '/'); // the main namespace has no middleware
  await assert.rejects(connected(client(t, io, '/admin')), /admins only/);
  const { socket } = await pair(t, io, '/admin', { auth: { token: 'secret' } });
  assert.equal(socket.nsp.name, '/admin');
});

test('many clients through an asynchronous middleware each get their own socket.data', async (t) => {
  const io = startServer(t);
  io.use((socket, next) => {
    socket.data.who = socket.handshake.auth.who;
    setTimeout(next, Math.random() * 20);
  });
  const clients = [];
  for (let i = 0; i < 20; i++) clients.push(client(t, io, '/', { auth: { who: i } }));
  await Promise.all(clients.map((c) => connected(c)));
  await until(() => io.sockets.sockets.size === 20);
  for (let i = 0; i < 20; i++) assert.equal(io.sockets.sockets.get(clients[i].id).data.who, i);
});

test('a socket in the middleware has its id and is not connected yet; it waits in _preConnectSockets', async (t) => {
  const io = startServer(t);
  const inMiddleware = [];
  io.use((socket, next) => {
    inMiddleware.push({
      id: socket.id,
      connected: socket.connected,
      disconnected: socket.disconnected,
      sockets: io.sockets.sockets.size,
      waiting: io.sockets._preConnectSockets.size,
    });
    setTimeout(next, 10);
  });
  const { c, socket } = await pair(t, io);
  assert.equal(inMiddleware.length, 1);
  const [seen] = inMiddleware;
  assert.equal(seen.id, c.id, 'the id it gets once connected');
  assert.equal(socket.id, c.id);
  assert.deepEqual([seen.connected, seen.disconnected, seen.sockets, seen.waiting], [false, true, 0, 1]);
  assert.equal(io.sockets._preConnectSockets.size, 0);
  assert.equal(socket.connected, true);
});

test('allowRequest: a refused request gets 403 with the message and no session, over polling and WebSocket', async (t) => {
  const seen = [];
  const io = startServer(t, {
    allowRequest: (req, callback) => {
      seen.push({ url: req.url, header: req.headers['x-pass'], address: req.socket.remoteAddress });
      setTimeout(() => (req.headers['x-pass'] === 'yes' ? callback(null, true) : callback('no pass', false)), 5);
    },
  });
  const res = await fetch(`http://127.0.0.1:${io.port}/socket.io/?EIO=4&transport=polling`);
  assert.equal(res.status, 403);
  assert.deepEqual(await res.json(), { code: 4, message: 'no pass' });
  const polling = client(t, io, '/', { transports: ['polling'] });
  await assert.rejects(connected(polling));
  const ws = client(t, io, '/', { transports: ['websocket'] });
  await assert.rejects(connected(ws));
  const ok = await pair(t, io, '/', { extraHeaders: { 'x-pass': 'yes' } });
  assert.equal(ok.socket.connected, true);
  assert.ok(seen.length >= 4);
  assert.match(seen[0].url, /^\/socket\.io\/\?EIO=4&transport=polling/);
  assert.equal(seen[0].address, '127.0.0.1');
  assert.equal(io.sockets.sockets.size, 1);
});

test("a client that leaves while a middleware runs: the socket's conn closes and next() lets nobody in", async (t) => {
  for (const transports of [['polling'], ['websocket']]) {
    const io = startServer(t);
    let connections = 0;
    io.on('connection', () => connections++);
    let c;
    const closed = new Promise((resolve) => {
      io.use((socket, next) => {
        socket.client.conn.on('close', (reason) => {
          assert.equal(socket.conn.readyState, 'closed');
          process.nextTick(next);
          resolve(reason);
        });
        c.io.engine.close();
      });
    });
    c = client(t, io, '/', { transports });
    const reason = await closed;
    assert.match(reason, /^transport (close|error)$/, transports[0]);
    await sleep(100);
    assert.equal(connections, 0, transports[0]);
  }
});
