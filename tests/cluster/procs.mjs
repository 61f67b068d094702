// Processes of the cluster tests: a real redis-server on a free loopback
// port, wshub test servers and Node Socket.IO servers joined to it. Every
// process is killed by its PID when the test file ends.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createClient } from 'redis';
import { Clients, waitUntil } from '../js/helpers.mjs';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const live = new Set();
process.on('exit', () => {
  for (const child of live) {
    try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ }
  }
});

/** A port nobody listens on right now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function track(child, name) {
  live.add(child);
  let log = '';
  const append = (chunk) => { log = (log + chunk).slice(-32 * 1024); };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  const exited = new Promise((resolve) => child.on('exit', resolve));
  return {
    pid: child.pid,
    log: () => log,
    async stop() {
      live.delete(child);
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
    },
    name,
  };
}

/** Starts `cmd` and resolves once it prints `LISTENING <port>`. */
export function startListening(cmd, args, env, name) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: REPO_ROOT, env: { ...process.env, PORT: '0', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const proc = track(child, name);
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${name} did not start:\n${proc.log()}`)), 30_000);
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const m = /LISTENING (\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ ...proc, port: Number(m[1]), url: `http://127.0.0.1:${m[1]}` });
      }
    });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`${name} exited (${code}):\n${proc.log()}`)); });
  });
}

/** A wshub test server (examples/test_server.rs) in the cluster of `redisUrl`. */
export function startWshub(redisUrl, { sharded = false, env = {} } = {}) {
  const bin = path.join(REPO_ROOT, 'target', 'debug', 'examples', 'test_server');
  if (!fs.existsSync(bin)) throw new Error(`build it first: cargo build --example test_server (${bin})`);
  return startListening(bin, [], { REDIS_URL: redisUrl, REDIS_SHARDED: sharded ? '1' : '0', ...env }, 'wshub');
}

/** A Node Socket.IO server with @socket.io/redis-adapter (tests/cluster/node_server.mjs). */
export function startNode(redisUrl, { sharded = false } = {}) {
  const script = path.join(REPO_ROOT, 'tests/cluster/node_server.mjs');
  return startListening(process.execPath, [script], { REDIS_URL: redisUrl, REDIS_SHARDED: sharded ? '1' : '0' }, 'node');
}

/** A redis-server on `port` (a free one by default), without persistence. */
export async function startRedis(port) {
  port ??= await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wshub-redis-'));
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  const proc = track(child, 'redis');
  const deadline = Date.now() + 10_000;
  for (;;) {
    const up = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => { s.end(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (up) break;
    if (Date.now() > deadline) throw new Error(`redis-server did not start:\n${proc.log()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { ...proc, port, url: `redis://127.0.0.1:${port}` };
}

/** Waits until `n` nodes subscribe to namespace `/` (the protocol's own node count). */
export async function countNodes(redisUrl, n, { sharded = false } = {}) {
  const client = createClient({ url: redisUrl });
  await client.connect();
  const query = sharded ? ['PUBSUB', 'SHARDNUMSUB', 'socket.io#/#'] : ['PUBSUB', 'NUMSUB', 'socket.io-request#/#'];
  try {
    await waitUntil(async () => (await client.sendCommand(query))[1], {
      ms: 10_000, what: `${n} nodes subscribed`, accept: (v) => v === n,
    });
  } finally {
    await client.quit();
  }
}

/**
 * Client factories per server, whose sockets all disconnect at `closeAll()`
 * (call it after each test: an emit with an ack waits for every client).
 */
export function clientTracker() {
  const sets = [];
  return {
    of(server) {
      const c = new Clients(server.url);
      sets.push(c);
      return c;
    },
    closeAll() {
      for (const c of sets.splice(0)) c.sockets.forEach((s) => s.disconnect());
    },
  };
}
