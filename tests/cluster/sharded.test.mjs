// The sharded protocol (`redis_sharded`, Node's createShardedAdapter, Redis 7
// SPUBLISH/SSUBSCRIBE): two wshub hubs and a Node Socket.IO server in one
// cluster, broadcasts and room emits both ways (a room emit travels on the
// room's own shard channel), fetchSockets and server-side emits with acks,
// and Redis restarted under them.
import assert from 'node:assert/strict';
import { after, afterEach, before, test } from 'node:test';
import { ack, collect, sleep, unique, waitUntil } from '../js/helpers.mjs';
import { clientTracker, countNodes, startNode, startRedis, startWshub } from './procs.mjs';

let redis;
let wshubA;
let wshubB;
let node;
const clients = clientTracker();
const clientsOf = (server) => clients.of(server);
const WS = { transports: ['websocket'] };

before(async () => {
  redis = await startRedis();
  [wshubA, wshubB, node] = await Promise.all([
    startWshub(redis.url, { sharded: true }),
    startWshub(redis.url, { sharded: true }),
    startNode(redis.url, { sharded: true }),
  ]);
  await countNodes(redis.url, 3, { sharded: true });
});

afterEach(() => clients.closeAll());

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
  for (const g of fromNode) assert.deepEqual(g[0], ['from node', { x: 1 }]);
});

test('room emits travel on the room channel and reach only the members', async () => {
  const room = unique();
  const a = await clientsOf(wshubA).connect('/', WS);
  const member = await clientsOf(wshubB).connect('/', WS);
  const outsider = await clientsOf(wshubB).connect('/', WS);
  const n = await clientsOf(node).connect('/', WS);
  await ack(member, 'join', room);
  await ack(n, 'join', room);
  const atMember = collect(member, 'room-msg');
  const atNode = collect(n, 'room-msg');
  const atOutsider = collect(outsider, 'room-msg');
  // The joins subscribe the nodes to the room's shard channel: retry until they have.
  await waitUntil(async () => {
    a.emit('to-room', room, 'from A');
    await sleep(100);
    return atMember.length > 0 && atNode.length > 0;
  }, { what: 'a room emit from wshub reaching wshub and Node members' });
  n.emit('to-room', room, 'from node');
  await waitUntil(() => atMember.some((m) => m[0] === 'from node'), { what: 'a room emit from Node' });
  assert.equal(atOutsider.length, 0);
});

test('fetchSockets and server-side emits with acks, across protocols', async () => {
  const a = await clientsOf(wshubA).connect('/', WS);
  const n = await clientsOf(node).connect('/', WS);
  const fromWshub = await ack(a, 'fetch-sockets');
  assert.ok(Array.isArray(fromWshub) && fromWshub.includes(n.id) && fromWshub.includes(a.id), JSON.stringify(fromWshub));
  const fromNode = await ack(n, 'fetch-sockets');
  assert.ok(Array.isArray(fromNode) && fromNode.includes(a.id), JSON.stringify(fromNode));
  const answers = await n.timeout(5000).emitWithAck('server-side-emit-ack', 'ping');
  assert.deepEqual(answers, ['wshub got it', 'wshub got it']);
  const gotN = collect(n, 'server-event');
  a.emit('server-side-emit', 'to the others');
  await gotN.waitFor(1);
});

test('Redis restarts and the sharded subscriptions come back', async () => {
  const a = await clientsOf(wshubA).connect('/', WS);
  const b = await clientsOf(wshubB).connect('/', WS);
  await redis.stop();
  await sleep(300);
  redis = await startRedis(redis.port);
  const got = collect(b, 'to-all');
  await waitUntil(async () => {
    a.emit('to-all', 'after the restart');
    await sleep(200);
    return got.length > 0;
  }, { ms: 15_000, what: 'a broadcast after the Redis restart' });
});
