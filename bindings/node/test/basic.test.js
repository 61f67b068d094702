'use strict';
// The Socket.IO server API over wshub, driven by the official socket.io-client.
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const { next, until, sleep, withTimeout, startServer, client, connected, pair, record } = require('./helpers');

test('connection, socket.on with args and an ack, onAny sees every event', async (t) => {
  const io = startServer(t);
  const any = [];
  const got = [];
  io.on('connection', (socket) => {
    socket.onAny((event, ...args) => any.push([event, args.length]));
    socket.on('hello', (a, b, ack) => {
      got.push([a, b]);
      ack({ back: a }, 'two');
    });
    socket.on('no-ack', (...args) => got.push(args));
  });
  const { c } = await pair(t, io);
  const reply = await withTimeout(new Promise((resolve) => c.emit('hello', 1, { x: 'y' }, (...r) => resolve(r))));
  assert.deepEqual(reply, [{ back: 1 }, 'two']);
  c.emit('no-ack', 'a', null, [1, 2], true);
  await until(() => got.length === 2);
  assert.deepEqual(got, [[1, { x: 'y' }], ['a', null, [1, 2], true]]);
  assert.deepEqual(any, [['hello', 3], ['no-ack', 4]]); // the ack function counts as an argument, as in Socket.IO
});

test('events arrive in order, many of them', async (t) => {
  const io = startServer(t);
  const seen = [];
  io.on('connection', (socket) => socket.on('n', (i) => seen.push(i)));
  const { c } = await pair(t, io);
  for (let i = 0; i < 2000; i++) c.emit('n', i);
  await until(() => seen.length === 2000, 10_000, '2000 events');
  assert.deepEqual(seen, Array.from({ length: 2000 }, (_, i) => i));
});

test('handshake (auth, headers, query, address), socket.id and socket.data', async (t) => {
  const io = startServer(t);
  const { c, socket } = await pair(t, io, '/', {
    auth: { token: 'abc' },
    query: { room: 'r1' },
    extraHeaders: { 'x-test': 'yes' },
  });
  assert.equal(socket.id, c.id);
  assert.equal(socket.nsp, io.sockets);
  assert.equal(socket.connected, true);
  assert.deepEqual(socket.handshake.auth, { token: 'abc' });
  assert.equal(socket.handshake.query.room, 'r1');
  assert.equal(socket.handshake.query.EIO, '4');
  assert.equal(socket.handshake.headers['x-test'], 'yes');
  assert.equal(socket.handshake.address, '127.0.0.1');
  assert.equal(typeof socket.handshake.issued, 'number');
  assert.match(socket.handshake.url, /^\/socket\.io\/\?/);
  assert.deepEqual(socket.data, {});
  socket.data.user = 'ann';
  socket.on('who', (ack) => ack(socket.data.user));
  assert.equal(await c.timeout(2000).emitWithAck('who'), 'ann');
});

test('server to client: emit, emit with an ack callback, emitWithAck with and without timeout, timeout expiry', async (t) => {
  const io = startServer(t);
  const { c, socket } = await pair(t, io);
  c.on('double', (n, ack) => ack(n * 2));
  c.on('silent', () => {}); // never acks
  const plain = next(c, 'plain');
  socket.emit('plain', 'a', { b: [1] });
  assert.deepEqual(await plain, ['a', { b: [1] }]);

  assert.equal(await socket.emitWithAck('double', 5), 10);
  assert.equal(await socket.timeout(2000).emitWithAck('double', 7), 14);
  const viaCallback = await new Promise((resolve) => socket.emit('double', 3, (v) => resolve(v)));
  assert.equal(viaCallback, 6);
  const viaTimeoutCallback = await new Promise((resolve) => socket.timeout(2000).emit('double', 4, (err, v) => resolve([err, v])));
  assert.deepEqual(viaTimeoutCallback, [null, 8]);

  const started = Date.now();
  await assert.rejects(socket.timeout(200).emitWithAck('silent'), /operation has timed out/);
  const took = Date.now() - started;
  assert.ok(took >= 150 && took < 3000, `the timeout fired after ${took} ms`);
  const err = await new Promise((resolve) => socket.timeout(100).emit('silent', (e) => resolve(e)));
  assert.match(err.message, /timed out/);
  // The socket still works after a timeout.
  assert.equal(await socket.timeout(2000).emitWithAck('double', 1), 2);
});

test('an ack that waits is answered with an error when the client leaves', async (t) => {
  const io = startServer(t);
  const { c, socket } = await pair(t, io);
  c.on('silent', () => {});
  const pending = socket.timeout(5000).emitWithAck('silent');
  await sleep(50);
  c.disconnect();
  await assert.rejects(withTimeout(pending, 3000), /disconnected/);
});

test('rooms: join, leave, socket.rooms, socket.to, socket.broadcast, io.to().except(), io.emit', async (t) => {
  const io = startServer(t);
  io.on('connection', (socket) => {
    socket.on('join', (room, ack) => {
      socket.join(room);
      ack([...socket.rooms].sort());
    });
    socket.on('leave', (room, ack) => {
      socket.leave(room);
      ack([...socket.rooms].sort());
    });
    socket.on('to-room', (room, ...args) => socket.to(room).emit('room-msg', ...args));
    socket.on('broadcast', (...args) => socket.broadcast.emit('broadcast', ...args));
  });
  const a = await pair(t, io);
  const b = await pair(t, io);
  const c = await pair(t, io);
  const logs = [record(a.c), record(b.c), record(c.c)];
  let mark = 0;
  // Everything sent before a mark reaches each client before the mark.
  const settle = async () => {
    mark++;
    io.emit('mark', mark);
    await until(() => logs.every((l) => l.some(([e, m]) => e === 'mark' && m === mark)));
    const out = logs.map((l) => l.filter(([e]) => e !== 'mark'));
    for (const l of logs) l.length = 0;
    return out;
  };
  assert.deepEqual(await a.c.emitWithAck('join', 'r1'), [a.c.id, 'r1'].sort());
  await b.c.emitWithAck('join', 'r1');
  assert.deepEqual(await b.c.emitWithAck('join', ['r2', 'r3']), [b.c.id, 'r1', 'r2', 'r3'].sort());
  await c.c.emitWithAck('join', 'r2');
  assert.deepEqual([...b.socket.rooms].sort(), [b.c.id, 'r1', 'r2', 'r3'].sort());
  assert.deepEqual([...io.sockets.adapter.rooms.get('r2')].sort(), [b.c.id, c.c.id].sort());

  a.c.emit('to-room', 'r1', 'hi');
  await sleep(50);
  assert.deepEqual(await settle(), [[], [['room-msg', 'hi']], []]);

  a.c.emit('broadcast', 1);
  await sleep(50);
  assert.deepEqual(await settle(), [[], [['broadcast', 1]], [['broadcast', 1]]]);

  io.to('r1').except('r2').emit('x', 'only a');
  assert.deepEqual(await settle(), [[['x', 'only a']], [], []]);

  io.to(['r1', 'r2']).emit('y'); // a socket in both rooms gets it once
  assert.deepEqual(await settle(), [[['y']], [['y']], [['y']]]);

  io.in('r2').except(c.c.id).emit('z'); // a socket id is a room of one
  assert.deepEqual(await settle(), [[], [['z']], []]);

  io.emit('all', { n: 1 });
  assert.deepEqual(await settle(), [[['all', { n: 1 }]], [['all', { n: 1 }]], [['all', { n: 1 }]]]);

  io.to(a.c.id).emit('direct');
  assert.deepEqual(await settle(), [[['direct']], [], []]);

  assert.deepEqual(await b.c.emitWithAck('leave', 'r1'), [b.c.id, 'r2', 'r3'].sort());
  io.to('r1').emit('after-leave');
  assert.deepEqual(await settle(), [[['after-leave']], [], []]);

  // From the server, outside any handler.
  a.socket.join('r9');
  a.socket.to('r2').emit('from-a');
  assert.deepEqual(await settle(), [[], [['from-a']], [['from-a']]]);
  io.to('r9').emit('r9');
  assert.deepEqual(await settle(), [[['r9']], [], []]);
});

test('fetchSockets, socketsJoin, socketsLeave, disconnectSockets', async (t) => {
  const io = startServer(t);
  io.on('connection', (socket) => {
    socket.data.n = io.sockets.sockets.size;
  });
  const a = await pair(t, io);
  const b = await pair(t, io);
  const all = await io.fetchSockets();
  assert.deepEqual(all.map((s) => s.id).sort(), [a.c.id, b.c.id].sort());
  assert.ok(all.every((s) => typeof s.data.n === 'number' && typeof s.emit === 'function'));
  a.socket.join('only-a');
  assert.deepEqual((await io.in('only-a').fetchSockets()).map((s) => s.id), [a.c.id]);
  assert.deepEqual([...(await io.allSockets())].sort(), [a.c.id, b.c.id].sort());

  io.socketsJoin('everyone');
  assert.ok(a.socket.rooms.has('everyone') && b.socket.rooms.has('everyone'));
  const ga = next(a.c, 'e');
  const gb = next(b.c, 'e');
  io.to('everyone').emit('e', 1);
  await Promise.all([ga, gb]);
  io.in('only-a').socketsLeave('everyone');
  assert.ok(!a.socket.rooms.has('everyone') && b.socket.rooms.has('everyone'));
  assert.deepEqual((await io.in('everyone').fetchSockets()).map((s) => s.id), [b.c.id]);

  const reasonA = next(a.c, 'disconnect');
  io.in('only-a').disconnectSockets();
  assert.deepEqual(await reasonA, ['io server disconnect', undefined]);
  await until(() => io.sockets.sockets.size === 1);
  assert.equal(b.c.connected, true);
});

test('disconnects: socket.disconnect(), the client leaving, socket.disconnect(true)', async (t) => {
  const io = startServer(t);
  const reasons = new Map();
  io.on('connection', (socket) => {
    socket.on('disconnecting', (reason) => reasons.set(`${socket.id}:rooms`, [...socket.rooms]));
    socket.on('disconnect', (reason) => reasons.set(socket.id, reason));
  });
  const a = await pair(t, io);
  const aid = a.c.id; // the client forgets its id when it disconnects
  a.socket.join('kept-until-disconnecting');
  const clientSide = next(a.c, 'disconnect');
  a.socket.disconnect();
  assert.equal((await clientSide)[0], 'io server disconnect');
  await until(() => reasons.has(aid));
  assert.equal(reasons.get(aid), 'server namespace disconnect');
  assert.ok(reasons.get(`${aid}:rooms`).includes('kept-until-disconnecting'));
  assert.equal(a.socket.connected, false);
  assert.equal(a.socket.rooms.size, 0);
  a.socket.emit('ignored'); // emitting to a socket that left is not an error

  const b = await pair(t, io);
  const id = b.c.id;
  b.c.disconnect();
  await until(() => reasons.has(id));
  assert.equal(reasons.get(id), 'client namespace disconnect');

  const c = await pair(t, io);
  const cid = c.c.id;
  const closed = next(c.c, 'disconnect');
  c.socket.disconnect(true);
  // wshub closes the connection at once (Socket.IO's server sends a disconnect packet first).
  assert.ok(['transport close', 'io server disconnect'].includes((await closed)[0]));
  await until(() => reasons.has(cid));
  assert.equal(io.sockets.sockets.size, 0);
});

function get(url, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error('GET timed out')));
  });
}

test('the client bundle is served at /socket.io/socket.io.js (serveClient: false turns it off)', async (t) => {
  const io = startServer(t);
  const res = await get(`http://127.0.0.1:${io.port}/socket.io/socket.io.js`);
  assert.equal(res.status, 200);
  assert.match(res.headers['content-type'], /javascript/);
  assert.match(res.body, /Socket\.IO v4/);
  const off = startServer(t, { serveClient: false });
  // Then the path is Engine.IO's like any other below /socket.io/: 400 (no transport), as with socket.io.
  assert.equal((await get(`http://127.0.0.1:${off.port}/socket.io/socket.io.js`)).status, 400);
});

test('options: path, cors, pingInterval, transports, staticDir', async (t) => {
  const dir = require('node:path').join(__dirname, '..', '..', '..', 'examples', 'chat', 'public');
  const io = startServer(t, {
    path: '/custom',
    cors: { origin: ['http://allowed.example'] },
    pingInterval: 700,
    pingTimeout: 600,
    transports: ['polling'],
    staticDir: dir,
  });
  assert.equal(io.path(), '/custom/');
  const ok = await get(`http://127.0.0.1:${io.port}/custom/?EIO=4&transport=polling`, { origin: 'http://allowed.example' });
  assert.equal(ok.status, 200);
  assert.equal(ok.headers['access-control-allow-origin'], 'http://allowed.example');
  const open = JSON.parse(ok.body.slice(1));
  assert.equal(open.pingInterval, 700);
  assert.equal(open.pingTimeout, 600);
  assert.deepEqual(open.upgrades, []); // WebSocket is off
  const other = await get(`http://127.0.0.1:${io.port}/custom/?EIO=4&transport=polling`, { origin: 'http://other.example' });
  assert.notEqual(other.headers['access-control-allow-origin'], 'http://other.example');
  assert.equal((await get(`http://127.0.0.1:${io.port}/index.html`)).status, 200);

  // A polling client talks through the custom path.
  io.on('connection', (socket) => socket.on('echo', (x, ack) => ack(x)));
  const c = client(t, io, '/', { path: '/custom', transports: ['polling'] });
  await connected(c);
  assert.deepEqual(await c.timeout(3000).emitWithAck('echo', { via: 'polling' }), { via: 'polling' });
});

test('cors: methods and allowedHeaders shape the preflight, as with socket.io', async (t) => {
  const http = require('node:http');
  const preflight = (io, headers) => new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: io.port, method: 'OPTIONS', path: '/socket.io/default/?EIO=4&transport=polling', headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res));
    });
    req.on('error', reject);
    req.end();
  });
  const io = startServer(t, { cors: { origin: 'http://localhost:54023', methods: ['GET', 'POST'], allowedHeaders: ['content-type'], credentials: true } });
  const res = await preflight(io, { Origin: 'http://localhost:54023', 'Access-Control-Request-Headers': 'x-other' });
  assert.equal(res.statusCode, 204);
  assert.equal(res.headers['access-control-allow-origin'], 'http://localhost:54023');
  assert.equal(res.headers['access-control-allow-methods'], 'GET,POST');
  assert.equal(res.headers['access-control-allow-headers'], 'content-type');
  assert.equal(res.headers['access-control-allow-credentials'], 'true');
  const plain = startServer(t, { cors: { origin: '*' } });
  const dflt = await preflight(plain, { Origin: 'http://a.example', 'Access-Control-Request-Headers': 'x-token' });
  assert.equal(dflt.headers['access-control-allow-methods'], 'GET,HEAD,PUT,PATCH,POST,DELETE');
  assert.equal(dflt.headers['access-control-allow-headers'], 'x-token');
  assert.throws(() => startServer(t, { cors: { origin: '*', methods: ['GET\r\nX: y'] } }), /HTTP tokens/);
});

test('maxHttpBufferSize: a message over it closes that connection only', async (t) => {
  const io = startServer(t, { maxHttpBufferSize: 1000 });
  const reasons = [];
  io.on('connection', (socket) => {
    socket.on('disconnect', (r) => reasons.push(r));
    socket.on('echo', (x, ack) => ack(x));
  });
  const big = await pair(t, io);
  const small = await pair(t, io);
  const gone = next(big.c, 'disconnect');
  big.c.emit('echo', 'x'.repeat(5000), () => {});
  assert.equal((await gone)[0], 'transport close');
  await until(() => reasons.length === 1);
  assert.equal(await small.c.timeout(2000).emitWithAck('echo', 'still here'), 'still here');
});

test('socket.use: packet middleware sees [event, ...args]; an error goes to the socket\'s "error" listeners', async (t) => {
  const io = startServer(t);
  const errors = [];
  io.on('connection', (socket) => {
    socket.use(([event, ...args], next) => (event === 'forbidden' ? next(new Error('not allowed')) : next()));
    socket.on('error', (err) => errors.push(err.message));
    socket.on('forbidden', () => errors.push('handler ran'));
    socket.on('fine', (ack) => ack('ok'));
  });
  const { c } = await pair(t, io);
  c.emit('forbidden');
  assert.equal(await c.timeout(2000).emitWithAck('fine'), 'ok');
  await until(() => errors.length === 1);
  assert.deepEqual(errors, ['not allowed']);
});

test('reserved names cannot be emitted; onAnyOutgoing sees emits, broadcasts included', async (t) => {
  const io = startServer(t);
  const { c, socket } = await pair(t, io);
  assert.throws(() => socket.emit('disconnect'), /reserved/);
  assert.throws(() => io.emit('connect'), /reserved/);
  const out = [];
  socket.onAnyOutgoing((event, ...args) => out.push([event, ...args]));
  const got = next(c, 'hi');
  socket.emit('hi', 1);
  await got;
  assert.deepEqual(out, [['hi', 1]]);
  const news = next(c, 'news');
  io.emit('news', 2);
  io.to('nowhere').emit('not for it', 3);
  await news;
  assert.deepEqual(out, [['hi', 1], ['news', 2]]);
  socket.offAnyOutgoing();
  io.emit('news', 4);
  assert.equal(out.length, 2);
});

test('operators as socket.io has them: local and compress flags, immutable chains, leaveAll, responses on a broadcast ack timeout', async (t) => {
  const io = startServer(t);
  const { c, socket } = await pair(t, io);
  const op = socket.local.compress(false).to(['r1', 'r2']).except('r3');
  op.compress(true);
  op.to('r4');
  assert.deepEqual([...op.rooms], ['r1', 'r2']);
  assert.deepEqual([...op.exceptRooms], ['r3']);
  assert.deepEqual(op.flags, { local: true, compress: false });
  assert.deepEqual(io.local.flags, { local: true });
  assert.deepEqual(io.of('/').compress(false).flags, { compress: false });

  socket.join(['a', 'b']);
  assert.deepEqual([...socket.rooms].sort(), [socket.id, 'a', 'b'].sort());
  socket.leaveAll();
  assert.equal(socket.rooms.size, 0);
  const got = next(c, 'to-a');
  io.to('a').emit('to-a', 1);
  io.emit('to-a', 3); // still in the namespace: only its rooms are gone
  assert.deepEqual(await got, [3]);

  const second = client(t, io);
  await connected(second);
  c.on('q', (ack) => ack('one'));
  second.on('q', () => {}); // never answers
  const err = await io.timeout(200).emitWithAck('q').then(() => null, (e) => e);
  assert.match(err.message, /operation has timed out/);
  assert.deepEqual(err.responses, ['one']);
});

test('socket.conn and socket.client: the request, readyState, a "close" event with the reason, close() ends the connection', async (t) => {
  const io = startServer(t);
  const { c, socket } = await pair(t, io);
  assert.equal(socket.client.conn, socket.conn);
  assert.equal(socket.client.request, socket.request);
  assert.equal(typeof socket.conn.request.headers, 'object');
  assert.equal(socket.conn.readyState, 'open');
  const closed = new Promise((resolve) => socket.conn.once('close', resolve));
  const gone = next(c, 'disconnect');
  socket.conn.close();
  assert.equal(await withTimeout(closed, 5000), 'forced close');
  assert.equal(socket.conn.readyState, 'closed');
  assert.equal(typeof (await gone)[0], 'string', 'the client is disconnected');
});

test("socket.conn.transport and its 'upgrade' event: polling first, then WebSocket", async (t) => {
  const io = startServer(t);
  const upgraded = [];
  let first = null;
  io.on('connection', (socket) => {
    first = socket.conn.transport.name;
    socket.conn.on('upgrade', (transport) => upgraded.push([transport.name, socket.conn.transport.name]));
  });
  const { c } = await pair(t, io, '/', { transports: ['polling', 'websocket'] });
  await until(() => upgraded.length === 1, 5000, 'the upgrade');
  assert.equal(first, 'polling');
  assert.deepEqual(upgraded, [['websocket', 'websocket']]);
  assert.equal(c.io.engine.transport.name, 'websocket');
  // A client on WebSocket from the start never upgrades.
  const ws = await pair(t, io, '/', { transports: ['websocket'] });
  assert.equal(ws.socket.conn.transport.name, 'websocket');
});

test("a packet that does not decode reaches the socket's 'error' listeners, then it is disconnected with \"forced close\"", async (t) => {
  const io = startServer(t);
  const { c, socket } = await pair(t, io, '/', { transports: ['websocket'] });
  const errors = [];
  socket.on('error', (err) => errors.push(err.message));
  const reason = new Promise((resolve) => socket.on('disconnect', resolve));
  c.io.engine.write('5woooot'); // a BINARY_EVENT without its attachment count
  assert.equal(await withTimeout(reason), 'forced close');
  assert.deepEqual(errors, ['Illegal attachments']);
});

test('an event that arrives together with its socket\'s disconnect is dropped, as by socket.io', async (t) => {
  const io = startServer(t);
  const got = [];
  let socket = null;
  io.on('connection', (s) => {
    socket = s;
    s.on('test', () => got.push('test'));
    s.on('kept', () => got.push('kept'));
  });
  // A polling client: one POST carries the event, its attachment and the disconnect.
  const base = `http://127.0.0.1:${io.port}/socket.io/?EIO=4&transport=polling`;
  const open = JSON.parse((await (await fetch(base)).text()).slice(1));
  const url = `${base}&sid=${open.sid}`;
  await fetch(url, { method: 'POST', body: '40' });
  await fetch(url); // the CONNECT answer
  await until(() => socket);
  await fetch(url, { method: 'POST', body: '42["kept"]' });
  await until(() => got.length === 1);
  const gone = new Promise((resolve) => socket.on('disconnect', resolve));
  const att = Buffer.alloc(10).toString('base64');
  await fetch(url, { method: 'POST', body: `451-["test",{"_placeholder":true,"num":0}]\x1eb${att}\x1e41` });
  assert.equal(await withTimeout(gone), 'client namespace disconnect');
  await sleep(50);
  assert.deepEqual(got, ['kept']);
});

test('a burst of events that queue up while JS is busy arrives whole and in order (one batch in several calls)', async (t) => {
  const io = startServer(t);
  const { c, socket } = await pair(t, io);
  const got = [];
  socket.on('n', (i) => {
    if (got.length === 0) {
      const end = Date.now() + 300; // JS stays busy: the hub queues the rest into one batch
      while (Date.now() < end);
    }
    got.push(i);
  });
  for (let i = 0; i < 2000; i++) c.emit('n', i);
  await until(() => got.length === 2000, 10_000, 'all 2,000 events');
  assert.deepEqual(got, Array.from({ length: 2000 }, (_, i) => i));
});
