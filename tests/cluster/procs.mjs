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
  const append = (chunk) => { log = (log + chunk).slice(-256 * 1024); };
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

/**
 * The cluster settings of a test server: the protocol (`sharded`, or
 * `streams` with its `maxLen`), connection state recovery (`recoveryMs`)
 * and any other variables (`env`).
 */
function clusterEnv(redisUrl, { sharded = false, streams = false, maxLen, recoveryMs, redisCluster = false, env: extra = {} } = {}) {
  const env = { REDIS_URL: redisUrl, REDIS_SHARDED: sharded ? '1' : '0', REDIS_STREAMS: streams ? '1' : '0', ...extra };
  if (redisCluster) env.REDIS_CLUSTER = '1';
  if (maxLen) env.REDIS_STREAM_MAX_LEN = String(maxLen);
  if (recoveryMs) env.WSHUB_RECOVERY_MS = String(recoveryMs);
  return env;
}

/** A wshub test server (examples/test_server.rs) in the cluster of `redisUrl`. */
export function startWshub(redisUrl, opts = {}) {
  const bin = path.join(REPO_ROOT, 'target', 'debug', 'examples', 'test_server');
  if (!fs.existsSync(bin)) throw new Error(`build it first: cargo build --example test_server (${bin})`);
  return startListening(bin, [], clusterEnv(redisUrl, opts), 'wshub');
}

/** A Node Socket.IO server with a Redis adapter (tests/cluster/node_server.mjs). */
export function startNode(redisUrl, opts = {}) {
  const script = path.join(REPO_ROOT, 'tests/cluster/node_server.mjs');
  return startListening(process.execPath, [script], clusterEnv(redisUrl, opts), 'node');
}

/** A redis-server on `port` (a free one by default), without persistence. */
export async function startRedis(port, extraArgs = []) {
  port ??= await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wshub-redis-'));
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...extraArgs];
  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
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

function portIsFree(port) {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** A free port whose Redis Cluster bus port (port + 10000) is free too. */
async function freeClusterPort() {
  for (;;) {
    const port = await freePort();
    if (port + 10000 <= 65535 && await portIsFree(port + 10000)) return port;
  }
}

/**
 * A Redis Cluster of `masters` masters with one replica each, on free
 * loopback ports (`redis-server --cluster-enabled yes`, then
 * `redis-cli --cluster create`); a node that stops answering fails over
 * after about a second (`cluster-node-timeout` 1000 ms). `url` lists every node.
 */
export async function startRedisCluster({ masters = 3 } = {}) {
  const ports = [];
  for (let i = 0; i < masters * 2; i++) ports.push(await freeClusterPort());
  const nodes = await Promise.all(ports.map((port) => startRedis(port, [
    '--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '1000',
    // A replica that never synced cannot take over: sync at once (the default waits 5 s).
    '--repl-diskless-sync-delay', '0',
  ])));
  const addrs = ports.map((p) => `127.0.0.1:${p}`);
  await new Promise((resolve, reject) => {
    const cli = spawn('redis-cli', ['--cluster', 'create', ...addrs, '--cluster-replicas', '1', '--cluster-yes'],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    cli.stdout.on('data', (c) => { out += c; });
    cli.stderr.on('data', (c) => { out += c; });
    cli.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`redis-cli --cluster create (${code}):\n${out}`))));
  });
  const cluster = {
    nodes,
    url: nodes.map((n) => n.url).join(','),
    /** `CLUSTER <args>` asked of a live node. */
    async ask(...args) {
      for (const node of cluster.nodes) {
        const client = createClient({ url: node.url, socket: { reconnectStrategy: false } });
        client.on('error', () => {});
        try {
          await client.connect();
          return await client.sendCommand(['CLUSTER', ...args]);
        } catch {
          // that node is down: ask the next
        } finally {
          await client.disconnect().catch(() => {});
        }
      }
      throw new Error('no node of the Redis Cluster answers');
    },
    /** The node that is master of the slot of `key` (a key or a shard channel). */
    async masterOf(key) {
      const slot = await cluster.ask('KEYSLOT', key);
      const lines = String(await cluster.ask('NODES')).trim().split('\n');
      for (const line of lines) {
        const [, addr, flags, , , , , , ...ranges] = line.split(' ');
        if (!flags.split(',').includes('master') || flags.includes('fail')) continue;
        const inside = ranges.some((r) => {
          const [lo, hi = lo] = r.split('-').map(Number);
          return slot >= lo && slot <= hi;
        });
        if (inside) return cluster.nodes.find((n) => addr.startsWith(`127.0.0.1:${n.port}@`));
      }
      return undefined;
    },
    /** Resolves once every slot is served again (after a failover). */
    async healthy(ms = 15_000) {
      await waitUntil(async () => /cluster_state:ok/.test(String(await cluster.ask('INFO'))), { ms, what: 'the Redis Cluster serving every slot' });
    },
    async stop() {
      await Promise.all(cluster.nodes.map((n) => n.stop()));
    },
  };
  await cluster.healthy();
  // Every replica in sync with its master, so that any master may fail over.
  await Promise.all(nodes.map(async (node) => {
    const client = createClient({ url: node.url });
    await client.connect();
    try {
      await waitUntil(async () => {
        const info = await client.info('replication');
        return /role:master/.test(info) || /master_link_status:up/.test(info);
      }, { ms: 15_000, what: `replica ${node.port} in sync` });
    } finally {
      await client.quit();
    }
  }));
  return cluster;
}

/** Waits until `n` nodes subscribe to namespace `/` (the protocol's own node count). */
export async function countNodes(redisUrl, n, { sharded = false, streams = false } = {}) {
  const client = createClient({ url: redisUrl });
  await client.connect();
  const query = sharded ? ['PUBSUB', 'SHARDNUMSUB', 'socket.io#/#']
    : streams ? ['PUBSUB', 'NUMSUB', 'socket.io#/#'] : ['PUBSUB', 'NUMSUB', 'socket.io-request#/#'];
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
