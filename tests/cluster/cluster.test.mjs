// wshub in a Redis cluster (issue 9): two wshub hubs in separate processes,
// a wshub hub beside a Node Socket.IO server with @socket.io/redis-adapter,
// @socket.io/redis-emitter emitting into wshub, and Redis restarted under
// the hubs. Every server is a real process; Redis is Debian's redis-server.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { Emitter } from '@socket.io/redis-emitter';
import { createClient } from 'redis';
import { ack, collect, sleep, unique, waitEvent, waitUntil } from '../js/helpers.mjs';
import { REPO_ROOT, clientTracker, countNodes, startListening, startNode, startRedis, startWshub } from './procs.mjs';

let redis;
let wshubA;
let wshubB;
let node;
const clients = clientTracker();
const clientsOf = (server) => clients.of(server);

before(async () => {
  redis = await startRedis();
  [wshubA, wshubB, node] = await Promise.all([startWshub(redis.url), startWshub(redis.url), startNode(redis.url)]);
  // Each server subscribes once it is up; wait until Redis counts all three.
  await countNodes(redis.url, 3);
});

// Each test's clients leave when it ends (an emit with an ack waits for every client).
afterEach(() => clients.closeAll());

after(async () => {
  await Promise.all([wshubA, wshubB, node, redis].filter(Boolean).map((p) => p.stop()));
});


const WS = { transports: ['websocket'] };

describe('two wshub hubs', () => {
  test('a broadcast from either hub reaches the clients of both', async () => {
    const a = await clientsOf(wshubA).connect('/', WS);
    const b1 = await clientsOf(wshubB).connect('/', WS);
    const b2 = await clientsOf(wshubB).connect('/', { transports: ['polling'] });
    const got = [a, b1, b2].map((s) => collect(s, 'to-all'));
    a.emit('to-all', 'from A', { n: 1 });
    await Promise.all(got.map((g) => g.waitFor(1)));
    for (const g of got) assert.deepEqual(g[0], ['from A', { n: 1 }]);

    const bGot = [a, b2].map((s) => collect(s, 'broadcast'));
    const b1Got = collect(b1, 'broadcast');
    b1.emit('broadcast', 'from B1');
    await Promise.all(bGot.map((g) => g.waitFor(1)));
    await sleep(200);
    assert.equal(b1Got.length, 0, 'the sender is left out on every node');
  });

  test('a room emit reaches the room members on the other hub only', async () => {
    const room = unique();
    const a = await clientsOf(wshubA).connect('/', WS);
    const inRoom = await clientsOf(wshubB).connect('/', WS);
    const outside = await clientsOf(wshubB).connect('/', WS);
    assert.equal(await ack(inRoom, 'join', room), true);
    const got = collect(inRoom, 'room-msg');
    const notGot = collect(outside, 'room-msg');
    a.emit('to-room', room, 'hello room', Buffer.from([1, 2, 3]));
    await got.waitFor(1);
    assert.equal(got[0][0], 'hello room');
    assert.deepEqual(Buffer.from(got[0][1]), Buffer.from([1, 2, 3]), 'binary crosses the cluster');
    await sleep(200);
    assert.equal(notGot.length, 0);
  });

  test('fetch_sockets, sockets_join and disconnect reach across hubs', async () => {
    const a = await clientsOf(wshubA).connect('/', WS);
    const b = await clientsOf(wshubB).connect('/', WS);
    const ids = await ack(a, 'fetch-sockets');
    assert.ok(Array.isArray(ids), `fetch-sockets answered ${JSON.stringify(ids)}`);
    assert.ok(ids.includes(a.id) && ids.includes(b.id), 'both hubs\' sockets are listed');

    const room = unique();
    assert.equal(await ack(a, 'sockets-join', b.id, room), true);
    await waitUntil(async () => (await ack(b, 'rooms')).includes(room), { what: 'remote join' });

    const gone = waitEvent(b, 'disconnect');
    a.emit('disconnect-room', room);
    assert.equal((await gone)[0], 'io server disconnect');
  });

  test('server-side emit reaches the other hubs, not the sender', async () => {
    const a = await clientsOf(wshubA).connect('/', WS);
    const b = await clientsOf(wshubB).connect('/', WS);
    const n = await clientsOf(node).connect('/', WS);
    const [gotA, gotB, gotN] = [a, b, n].map((s) => collect(s, 'server-event'));
    a.emit('server-side-emit', 'to the others', 7);
    await Promise.all([gotB.waitFor(1), gotN.waitFor(1)]);
    assert.deepEqual(gotB[0], ['to the others', 7]);
    assert.deepEqual(gotN[0], ['to the others', 7]);
    await sleep(200);
    assert.equal(gotA.length, 0);
  });

  test('the metrics count the messages a hub publishes and the ones it receives', async (t) => {
    // Two hubs of their own, so that the counts start here; the other servers stay idle meanwhile.
    const env = { WSHUB_METRICS_TOKEN: 'cluster' };
    const [c, d] = await Promise.all([startWshub(redis.url, { env }), startWshub(redis.url, { env })]);
    t.after(() => Promise.all([c.stop(), d.stop()]));
    await countNodes(redis.url, 5);
    const scrape = async (srv) =>
      (await fetch(`${srv.url}/metrics`, { headers: { authorization: 'Bearer cluster' } })).text();
    const value = (text, name) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1]);
    const onD = await clientsOf(d).connect('/', WS);
    const got = collect(onD, 'to-all');
    const fromC = await clientsOf(c).connect('/', WS);
    fromC.emit('to-all', 'counted');
    await got.waitFor(1);
    const received = async () => value(await scrape(d), 'wshub_cluster_messages_received_total');
    await waitUntil(received, { accept: (n) => n === 1, what: "D's count of C's broadcast" });
    const [textC, textD] = [await scrape(c), await scrape(d)];
    assert.equal(value(textC, 'wshub_cluster_messages_sent_total'), 1, textC);
    assert.equal(value(textC, 'wshub_cluster_messages_received_total'), 0, textC);
    assert.equal(value(textD, 'wshub_cluster_messages_sent_total'), 0, textD);
  });
});

describe('wshub and a Node Socket.IO server in one cluster', () => {
  test('broadcasts cross in both directions', async () => {
    const w = await clientsOf(wshubA).connect('/', WS);
    const n = await clientsOf(node).connect('/', WS);
    const toN = collect(n, 'to-all');
    w.emit('to-all', 'wshub says hi', [1, 'two', null]);
    await toN.waitFor(1);
    assert.deepEqual(toN[0], ['wshub says hi', [1, 'two', null]]);

    const toW = collect(w, 'broadcast');
    n.emit('broadcast', 'node says hi', { nested: { ok: true } }, Buffer.from('bin'));
    await toW.waitFor(1);
    assert.equal(toW[0][0], 'node says hi');
    assert.deepEqual(toW[0][1], { nested: { ok: true } });
    assert.equal(Buffer.from(toW[0][2]).toString(), 'bin');
  });

  test('room emits cross in both directions', async () => {
    const room = unique();
    const w = await clientsOf(wshubB).connect('/', WS);
    const n = await clientsOf(node).connect('/', WS);
    await ack(w, 'join', room);
    await ack(n, 'join', room);
    const atW = collect(w, 'room-msg');
    const atN = collect(n, 'room-msg');
    n.emit('to-room', room, 'from node');
    w.emit('to-room', room, 'from wshub');
    await atW.waitFor(2);
    await atN.waitFor(2);
    assert.deepEqual(atW.map((m) => m[0]).sort(), ['from node', 'from wshub']);
    assert.deepEqual(atN.map((m) => m[0]).sort(), ['from node', 'from wshub']);
  });

  test('Node\'s fetchSockets, socketsJoin and serverSideEmitWithAck see wshub', async () => {
    const w = await clientsOf(wshubA).connect('/', WS);
    const n = await clientsOf(node).connect('/', WS);
    const ids = await ack(n, 'fetch-sockets');
    assert.ok(Array.isArray(ids) && ids.includes(w.id) && ids.includes(n.id), JSON.stringify(ids));
    const fromWshub = await ack(w, 'fetch-sockets');
    assert.ok(Array.isArray(fromWshub) && fromWshub.includes(n.id), JSON.stringify(fromWshub));

    const room = unique();
    await ack(n, 'sockets-join', w.id, room);
    await waitUntil(async () => (await ack(w, 'rooms')).includes(room), { what: 'join requested by Node' });

    // An emit with an ack from Node reaches wshub's clients, and their answers go back.
    w.on('question', (q, answer) => answer(`wshub client ${w.id}`));
    n.on('question', (q, answer) => answer('node client'));
    const said = await n.timeout(5000).emitWithAck('ask-everyone');
    assert.ok(Array.isArray(said), JSON.stringify(said));
    assert.ok(said.includes(`wshub client ${w.id}`) && said.includes('node client'), JSON.stringify(said));

    const answers = await n.timeout(5000).emitWithAck('server-side-emit-ack', 'ping');
    assert.deepEqual(answers, ['wshub got it', 'wshub got it'], 'both wshub hubs answered');
  });
});

test('@socket.io/redis-emitter emits into a wshub room', async () => {
  const room = unique();
  const inRoom = await clientsOf(wshubA).connect('/', WS);
  const outside = await clientsOf(wshubA).connect('/', WS);
  await ack(inRoom, 'join', room);
  const pub = createClient({ url: redis.url });
  await pub.connect();
  try {
    const emitter = new Emitter(pub);
    const got = collect(inRoom, 'news');
    const notGot = collect(outside, 'news');
    emitter.to(room).emit('news', 'from the emitter', { at: 1 });
    await got.waitFor(1);
    assert.deepEqual(got[0], ['from the emitter', { at: 1 }]);
    const all = collect(outside, 'everyone');
    emitter.emit('everyone', 42);
    await all.waitFor(1);
    assert.equal(notGot.length, 0);
  } finally {
    await pub.quit();
  }
});

test('Redis restarts under the hubs and they recover by themselves', async () => {
  const a = await clientsOf(wshubA).connect('/', WS);
  const b = await clientsOf(wshubB).connect('/', WS);
  await redis.stop();
  await sleep(300);
  // While Redis is away, a hub still serves its own clients.
  const local = collect(a, 'to-all');
  a.emit('to-all', 'while redis is down');
  await local.waitFor(1);

  redis = await startRedis(redis.port);
  await countNodes(redis.url, 3);
  const got = collect(b, 'to-all');
  // The publishing connection may need one failed write to notice the new
  // Redis: send until one crosses (bounded).
  await waitUntil(async () => {
    a.emit('to-all', 'after the restart');
    await sleep(100);
    return got.some((m) => m[0] === 'after the restart');
  }, { ms: 15_000, what: 'a broadcast after the Redis restart' });
});

test('two chat servers (examples/chat.rs and examples/c/chat.c) on one Redis are one chat room', async () => {
  const bins = [`${REPO_ROOT}/target/debug/examples/chat`, `${REPO_ROOT}/target/examples/c-chat`];
  const [one, two] = await Promise.all(bins.map((bin) => startListening(bin, [], { REDIS_URL: redis.url }, bin)));
  try {
    const ann = await clientsOf(one).connect('/', WS);
    const bob = await clientsOf(two).connect('/', WS);
    assert.equal((await ack(ann, 'join', 'ann')).ok, true);
    const joined = waitEvent(ann, 'user joined');
    assert.equal((await ack(bob, 'join', 'bob')).ok, true);
    assert.equal((await joined)[0].user, 'bob', 'a join on one server is announced on the other');
    const heard = waitEvent(bob, 'chat message');
    ann.emit('chat message', 'hello from server one');
    const [msg] = await heard;
    assert.equal(msg.user, 'ann');
    assert.equal(msg.text, 'hello from server one');
  } finally {
    await Promise.all([one.stop(), two.stop()]);
  }
});

test('two Rust chat servers share who is online, nicknames and history', async () => {
  const bin = `${REPO_ROOT}/target/debug/examples/chat`;
  const [one, two] = await Promise.all([1, 2].map(() => startListening(bin, [], { REDIS_URL: redis.url }, 'chat')));
  try {
    await countNodes(redis.url, 5); // the three test servers and both chat servers listen
    const ann = await clientsOf(one).connect('/', WS);
    assert.equal((await ack(ann, 'join', 'ann')).ok, true);
    ann.emit('chat message', 'said before bob came');
    // Server two learns of ann from server one's presence (asked for at its start, or announced on join).
    const bob = await clientsOf(two).connect('/', WS);
    const annSees = collect(ann, 'online');
    let joined;
    await waitUntil(async () => {
      joined = await ack(bob, 'join', 'ann');
      return joined.users.length === 2 && joined.history.length === 1;
    }, { ms: 15_000, what: 'server two to know ann and her message' });
    assert.equal(joined.name, 'ann 2', 'a nickname taken on the other server gets a number');
    assert.deepEqual(joined.users, ['ann', 'ann 2']);
    assert.equal(joined.history[0].text, 'said before bob came');
    await waitUntil(() => annSees.some(([o]) => o.online === 2), { what: 'ann to see 2 online' });

    const left = collect(ann, 'online');
    bob.disconnect();
    await waitUntil(() => left.some(([o]) => o.online === 1), { what: 'ann to see bob leave' });
  } finally {
    await Promise.all([one.stop(), two.stop()]);
  }
});
