// The nginx config of docs/SCALING.md (examples/cluster/nginx.conf), run for
// real in front of two wshub hubs on one Redis: long-polling clients keep
// their sessions on one hub (sticky by client address), WebSocket upgrades
// pass through, and a broadcast reaches the clients behind both hubs.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Clients, ack, collect, waitUntil } from '../js/helpers.mjs';
import { REPO_ROOT, freePort, startRedis, startWshub } from './procs.mjs';

let redis;
let hubs;
let nginx;
let nginxPort;
const clients = [];

before(async () => {
  redis = await startRedis();
  hubs = await Promise.all([startWshub(redis.url), startWshub(redis.url)]);
  nginxPort = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wshub-nginx-'));
  const conf = fs.readFileSync(path.join(REPO_ROOT, 'examples/cluster/nginx.conf'), 'utf8')
    .replaceAll('127.0.0.1:3000', `127.0.0.1:${nginxPort}`)
    .replaceAll('127.0.0.1:3001', `127.0.0.1:${hubs[0].port}`)
    .replaceAll('127.0.0.1:3002', `127.0.0.1:${hubs[1].port}`);
  fs.writeFileSync(path.join(dir, 'nginx.conf'), conf);
  nginx = spawn('nginx', ['-p', dir, '-c', path.join(dir, 'nginx.conf'),
    '-g', `daemon off; master_process off; pid ${dir}/nginx.pid; error_log stderr;`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  nginx.stderr.on('data', (c) => { log += c; });
  await waitUntil(() => new Promise((resolve) => {
    http.get(`http://127.0.0.1:${nginxPort}/hello.txt`, (res) => { res.resume(); resolve(res.statusCode === 200); })
      .on('error', () => resolve(false));
  }), { ms: 10_000, what: `nginx up (${log})` });
});

after(async () => {
  for (const c of clients) c.sockets.forEach((s) => s.disconnect());
  if (nginx && nginx.exitCode === null) {
    nginx.kill('SIGKILL');
    await new Promise((r) => nginx.once('exit', r));
  }
  await Promise.all([...(hubs ?? []), redis].filter(Boolean).map((p) => p.stop()));
});

/** A client of nginx whose connections come from `address` (ip_hash keys on it). */
async function clientFrom(address, transports) {
  const c = new Clients(`http://127.0.0.1:${nginxPort}`);
  clients.push(c);
  const agent = new http.Agent({ localAddress: address, keepAlive: true });
  return c.connect('/', { transports, agent, localAddress: address });
}

test('polling and upgraded clients behind nginx, spread over two hubs, are one cluster', async () => {
  // Four client addresses in different /24s: ip_hash sends them to both hubs.
  const addresses = ['127.0.1.1', '127.0.2.1', '127.0.3.1', '127.0.4.1', '127.0.5.1', '127.0.6.1'];
  const sockets = [];
  for (const [i, a] of addresses.entries()) {
    // Polling only (every request must find its session) and the default upgrade.
    sockets.push(await clientFrom(a, i % 2 ? ['polling'] : ['polling', 'websocket']));
  }
  const perHub = await Promise.all(hubs.map(async (hub) => {
    const c = new Clients(hub.url);
    clients.push(c);
    return ack(await c.connect('/', { transports: ['websocket'] }), 'count');
  }));
  // Each direct probe counts itself: more than 1 means nginx sent clients there.
  assert.ok(perHub.every((n) => n > 1), `clients on both hubs (local counts with the probe: ${perHub})`);

  const got = sockets.map((s) => collect(s, 'to-all'));
  sockets[0].emit('to-all', 'through nginx');
  await Promise.all(got.map((g) => g.waitFor(1)));
  // Sessions stayed sticky: every client is still connected after the traffic.
  for (const s of sockets) assert.ok(s.connected);
});
