// The streams protocol (`redis_streams`, Node's @socket.io/redis-streams-adapter):
// two wshub hubs and a Node Socket.IO server in one cluster over a real
// redis-server, with connection state recovery on. Broadcasts and rooms both
// ways; a client that loses its network path (cut through a TCP proxy, or the
// proxy killed and restarted) while 1,000 events are being broadcast comes
// back on ANOTHER server and gets every one once and in order, recovered,
// with its id and rooms; after maxDisconnectionDuration it gets a fresh
// session instead; the stream stays bounded; Redis restarts under the hubs.
import assert from 'node:assert/strict';
import { after, afterEach, before, test } from 'node:test';
import { createClient } from 'redis';
import { ack, collect, connected, sleep, unique, waitEvent, waitUntil } from '../js/helpers.mjs';
import { clientTracker, countNodes, startNode, startRedis, startWshub } from './procs.mjs';
import { cut, killAndRestart, proxyTo, RECONNECTING, recoversOnAnotherServer } from './recovery.mjs';

const RECOVERY_MS = 4000;
const STREAMS = { streams: true, recoveryMs: RECOVERY_MS };
const WS = { transports: ['websocket'] };

let redis;
let wshubA;
let wshubB;
let node;
const proxies = [];
const clients = clientTracker();
const clientsOf = (server) => clients.of(server);
const env = { clients, proxies };

before(async () => {
  redis = await startRedis();
  [wshubA, wshubB, node] = await Promise.all([
    startWshub(redis.url, STREAMS),
    startWshub(redis.url, STREAMS),
    startNode(redis.url, STREAMS),
  ]);
  await countNodes(redis.url, 3, { streams: true });
});

afterEach(async () => {
  clients.closeAll();
  await Promise.all(proxies.splice(0).map((p) => p.kill()));
});

after(async () => {
  await Promise.all([wshubA, wshubB, node, redis].filter(Boolean).map((p) => p.stop()));
});

test('broadcasts cross between wshub hubs and a Node server, both ways, binary included', async () => {
  const a = await clientsOf(wshubA).connect('/', WS);
  const b = await clientsOf(wshubB).connect('/', WS);
  const n = await clientsOf(node).connect('/', WS);
  const got = [a, b, n].map((s) => collect(s, 'to-all'));
  a.emit('to-all', 'from wshub', Buffer.from([7, 8]));
  await Promise.all(got.map((g) => g.waitFor(1)));
  for (const g of got) {
    assert.equal(g[0][0], 'from wshub');
    assert.deepEqual([...Buffer.from(g[0][1])], [7, 8]);
  }
  const fromNode = [a, b].map((s) => collect(s, 'broadcast'));
  n.emit('broadcast', 'from node', { x: 1 });
  await Promise.all(fromNode.map((g) => g.waitFor(1)));
  // With recovery on, each event ends with its offset, a stream id (the client keeps it as its last offset).
  for (const g of fromNode) {
    assert.deepEqual(g[0].slice(0, 2), ['from node', { x: 1 }]);
    assert.match(g[0][2], /^\d+-\d+$/);
  }
  await sleep(200);
  assert.equal(got[0].length, 1, 'the sender hub sends its own broadcast once (from the stream)');
});

test('room emits reach the members on every server, and only them, both ways', async () => {
  const room = unique();
  const member = await clientsOf(wshubB).connect('/', WS);
  const outsider = await clientsOf(wshubB).connect('/', WS);
  const nodeMember = await clientsOf(node).connect('/', WS);
  const sender = await clientsOf(wshubA).connect('/', WS);
  await ack(member, 'join', room);
  await ack(nodeMember, 'join', room);
  const atMember = collect(member, 'room-msg');
  const atNode = collect(nodeMember, 'room-msg');
  const atOutsider = collect(outsider, 'room-msg');
  sender.emit('to-room', room, 'from wshub');
  await atMember.waitFor(1);
  await atNode.waitFor(1);
  nodeMember.emit('to-room', room, 'from node');
  await atMember.waitFor(2);
  assert.deepEqual(atMember.map((m) => m[0]), ['from wshub', 'from node']);
  // A remote join (socketsJoin) travels on the stream too.
  const other = unique();
  await ack(nodeMember, 'sockets-join', room, other);
  await waitUntil(async () => (await ack(member, 'rooms')).includes(other), { what: 'a socketsJoin from Node' });
  assert.equal(atOutsider.length, 0);
});

test('fetchSockets and server-side emits with acks go over pub/sub, across servers', async () => {
  const a = await clientsOf(wshubA).connect('/', WS);
  const n = await clientsOf(node).connect('/', WS);
  const fromWshub = await ack(a, 'fetch-sockets');
  assert.ok(Array.isArray(fromWshub) && fromWshub.includes(n.id) && fromWshub.includes(a.id), JSON.stringify(fromWshub));
  const fromNode = await ack(n, 'fetch-sockets');
  assert.ok(Array.isArray(fromNode) && fromNode.includes(a.id), JSON.stringify(fromNode));
  const answers = await ack(n, 'server-side-emit-ack', 'hi');
  assert.deepEqual([...answers].sort(), ['wshub got it', 'wshub got it']);
});

test('a hub on its own: a client cut off, then one whose path is killed and restarted, recover on it', async () => {
  const lone = await startWshub('', { recoveryMs: RECOVERY_MS }); // no Redis: the hub's own store
  try {
    await recoversOnAnotherServer(env, lone, lone, lone, cut);
    await recoversOnAnotherServer(env, lone, lone, lone, killAndRestart);
  } finally {
    await lone.stop();
  }
});

test('a client cut off on one wshub hub recovers on the other: 1,000 events once and in order', async () => {
  await recoversOnAnotherServer(env, wshubA, wshubB, wshubA, cut);
});

test('the same when the network path is killed and restarted, the sender on the other hub', async () => {
  await recoversOnAnotherServer(env, wshubA, wshubB, wshubB, killAndRestart);
});

test('a client of the Node server recovers on a wshub hub', async () => {
  await recoversOnAnotherServer(env, node, wshubA, wshubB, cut);
});

test('a client of a wshub hub recovers on the Node server', async () => {
  await recoversOnAnotherServer(env, wshubB, node, wshubA, killAndRestart);
});

test('a client back after maxDisconnectionDuration gets a fresh session, never a partial replay', async () => {
  const room = unique();
  const proxy = await proxyTo(env, wshubA);
  const c = clients.of({ url: proxy.url }).socket('/', RECONNECTING);
  await connected(c);
  const id = c.id;
  await ack(c, 'join', room);
  const got = collect(c, 'room-msg');
  const sender = await clientsOf(wshubB).connect('/', WS);
  sender.emit('to-room', room, 'before');
  await got.waitFor(1);
  await proxy.kill();
  for (let i = 0; i < 5; i++) sender.emit('to-room', room, `missed ${i}`);
  await sleep(RECOVERY_MS + 800);
  proxy.target = wshubB.port;
  const back = waitEvent(c, 'connect', 10_000);
  await proxy.restart();
  await back;
  assert.equal(c.recovered, false);
  assert.notEqual(c.id, id, 'a new id');
  assert.deepEqual(await ack(c, 'rooms'), [c.id], 'no rooms kept');
  await sleep(300);
  assert.deepEqual(got.map((m) => m[0]), ['before'], 'nothing replayed');
});

test('the stream stays bounded by maxLen', async () => {
  const own = await startRedis();
  const hub = await startWshub(own.url, { streams: true, maxLen: 100 });
  const probe = createClient({ url: own.url });
  try {
    await probe.connect();
    await countNodes(own.url, 1, { streams: true });
    const s = await clients.of(hub).connect('/', WS);
    const got = collect(s, 'to-all');
    for (let i = 0; i < 1000; i++) s.emit('to-all', i);
    await got.waitFor(1000, 15_000);
    const len = await probe.xLen('socket.io');
    // MAXLEN ~ trims whole stream nodes (100 entries each by default).
    assert.ok(len >= 100 && len <= 200, `XLEN ${len}`);
  } finally {
    await probe.quit().catch(() => {});
    await Promise.all([hub.stop(), own.stop()]);
  }
});

test('Redis killed and restarted under the hubs: they keep serving and read the stream again', async () => {
  const a = await clientsOf(wshubA).connect('/', WS);
  const b = await clientsOf(wshubB).connect('/', WS);
  await redis.stop();
  await sleep(300);
  // While Redis is away, a hub still sends its own broadcasts to its own clients.
  const local = collect(a, 'to-all');
  a.emit('to-all', 'while redis is down');
  await local.waitFor(1, 15_000);

  redis = await startRedis(redis.port);
  await countNodes(redis.url, 3, { streams: true });
  const got = collect(b, 'to-all');
  await waitUntil(async () => {
    a.emit('to-all', 'after the restart');
    await sleep(200);
    return got.some((m) => m[0] === 'after the restart');
  }, { ms: 20_000, what: 'a broadcast after the Redis restart' });
  // And recovery works across hubs again.
  await recoversOnAnotherServer(env, wshubA, wshubB, wshubA, cut);
});
