'use strict';
// `redisUrl`: two wshub servers in one Node process, on one real redis-server
// (Debian's, on a free loopback port), are one cluster: an emit on one reaches
// the other's clients, to everyone and to a room.
const test = require('node:test');
const assert = require('node:assert/strict');
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { until, sleep, startServer, pair, record } = require('./helpers');

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer().on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function startRedis(t) {
  try {
    execFileSync('redis-server', ['--version']);
  } catch {
    throw new Error("the cluster test needs Debian's redis-server (apt-get install redis-server)");
  }
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wshub-redis-'));
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
    { stdio: 'ignore' });
  t.after(() => proc.kill('SIGKILL'));
  await until(() => new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => { s.end(); resolve(true); }).on('error', () => resolve(false));
  }), 10_000, 'redis-server');
  return `redis://127.0.0.1:${port}`;
}

/** Emits until `done` (the servers subscribe to Redis just after they start). */
async function emitUntil(emit, done, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (!done()) {
    assert.ok(Date.now() < deadline, 'the emit never crossed the cluster');
    emit();
    await sleep(100);
  }
}

test('two servers on one Redis are one cluster: emits reach every server\'s clients', async (t) => {
  const redisUrl = await startRedis(t);
  const one = startServer(t, { redisUrl });
  const two = startServer(t, { redisUrl });
  two.on('connection', (socket) => socket.join('lobby'));
  const { c: near } = await pair(t, one);
  const { c: far } = await pair(t, two);
  const nearLog = record(near);
  const farLog = record(far);

  await emitUntil(() => one.emit('news', { from: 'one' }), () => farLog.some(([e]) => e === 'news'));
  assert.deepEqual(farLog.find(([e]) => e === 'news'), ['news', { from: 'one' }]);
  await until(() => nearLog.some(([e]) => e === 'news'));

  await emitUntil(() => one.to('lobby').emit('lobby news', [1, 2]), () => farLog.some(([e]) => e === 'lobby news'));
  assert.deepEqual(farLog.find(([e]) => e === 'lobby news'), ['lobby news', [1, 2]]);
  assert.ok(!nearLog.some(([e]) => e === 'lobby news'), 'the room is on the other server only');
});

test('redisStreams with connectionStateRecovery: a client cut off on one server recovers on the other', async (t) => {
  const redisUrl = await startRedis(t);
  const opts = { redisUrl, redisStreams: true, redisStreamMaxLen: 1000, connectionStateRecovery: {} };
  const one = startServer(t, opts);
  const two = startServer(t, opts);
  one.on('connection', (socket) => {
    if (!socket.recovered) socket.join('readers');
  });
  const { io: ioc } = require('socket.io-client');
  // The client reaches `one` first, then `two`, as a load balancer may send it.
  let port = one.port;
  const c = ioc(`http://127.0.0.1:${port}`, { transports: ['websocket'], reconnectionDelay: 50, reconnectionDelayMax: 100 });
  t.after(() => c.close());
  c.io.on('reconnect_attempt', () => {
    port = two.port;
    c.io.uri = `http://127.0.0.1:${port}`;
    c.io.opts.port = String(port);
  });
  const got = [];
  c.on('tick', (n) => got.push(n));
  await new Promise((resolve) => c.once('connect', resolve));
  const id = c.id;
  await emitUntil(() => one.to('readers').emit('tick', -1), () => got.includes(-1));
  got.length = 0;
  c.io.engine.transport.ws._socket.destroy(); // the TCP connection, cut
  await until(() => one.sockets.sockets.size === 0, 5000, 'the server to see it gone');
  for (let i = 0; i < 200; i++) one.to('readers').emit('tick', i);
  await new Promise((resolve) => c.once('connect', resolve));
  await until(() => got.length >= 200, 10_000, `all 200 ticks (have ${got.length})`);
  await sleep(100);
  assert.deepEqual(got, Array.from({ length: 200 }, (_, i) => i), 'every tick once, in order');
  assert.equal(c.recovered, true);
  assert.equal(c.id, id);
  assert.ok(two.sockets.sockets.get(id).rooms.has('readers'), 'its room, on the other server');
});
