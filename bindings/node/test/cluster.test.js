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
