// wshub hubs and a Node Socket.IO server (node-redis `createCluster`) on a
// real Redis Cluster (`redis_cluster`): three masters with one replica each,
// started here on free loopback ports. (After the failover only the wshub
// hubs are checked: the Node server's node-redis 4 cluster client carried
// nothing either way once its master was gone, in our runs.) The sharded protocol
// (shard channels spread over the masters) and the streams protocol (the
// stream on one master, sessions on others) carry broadcasts and room emits
// both ways, and go on after the master that holds their channel or stream
// is killed and its replica takes over; on streams, a client then still
// recovers on the other hub with every one of 1,000 events, once and in order.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { ack, collect, sleep, unique, waitUntil } from '../js/helpers.mjs';
import { clientTracker, startNode, startRedisCluster, startWshub } from './procs.mjs';
import { cut, recoversOnAnotherServer } from './recovery.mjs';

const WS = { transports: ['websocket'] };

/**
 * Sends `event` from `from` until `to` gets one sent after this call (a
 * cluster connection may take a failed write or two to find the new master).
 */
async function crosses(from, to, event, what, ms = 20_000) {
  const tag = unique('msg');
  const got = collect(to, event);
  await waitUntil(async () => {
    from.emit(event === 'room-msg' ? 'to-room' : event, ...(event === 'room-msg' ? [what.room] : []), tag);
    await sleep(150);
    return got.some((m) => m[0] === tag);
  }, { ms, what: what.text });
}

/** Runs `fn`; if it fails, prints the hubs' logs (start the tests with RUST_LOG=wshub=debug for more). */
async function showingLogs(hubs, fn) {
  try {
    await fn();
  } catch (e) {
    for (const h of hubs) console.log(`${h.name} on ${h.port}:\n${h.log()}`);
    throw e;
  }
}

/** Kills the master of `key`'s slot and waits until its replica serves it. */
async function failOver(cluster, key) {
  const master = await cluster.masterOf(key);
  assert.ok(master, `a master serves ${key}`);
  await master.stop();
  cluster.nodes = cluster.nodes.filter((n) => n !== master);
  await waitUntil(async () => {
    const now = await cluster.masterOf(key).catch(() => undefined);
    return now !== undefined && now !== master;
  }, { ms: 20_000, what: `a replica taking over ${key}` });
  await cluster.healthy();
}

for (const protocol of ['sharded', 'streams']) {
  describe(`the ${protocol} protocol on a Redis Cluster`, () => {
    let cluster;
    let hubA;
    let hubB;
    let node;
    const proxies = [];
    const clients = clientTracker();
    const env = { clients, proxies };
    const opts = protocol === 'sharded'
      ? { sharded: true, redisCluster: true }
      : { streams: true, redisCluster: true, recoveryMs: 4000 };

    before(async () => {
      cluster = await startRedisCluster();
      [hubA, hubB, node] = await Promise.all([
        startWshub(cluster.url, opts),
        startWshub(cluster.url, opts),
        startNode(cluster.url, opts),
      ]);
    });

    afterEach(async () => {
      clients.closeAll();
      await Promise.all(proxies.splice(0).map((p) => p.kill()));
    });

    after(async () => {
      await Promise.all([hubA, hubB, node].filter(Boolean).map((p) => p.stop()));
      await cluster?.stop();
    });

    test('broadcasts, room emits and fetchSockets cross between the hubs, both ways', async () => {
      const a = await clients.of(hubA).connect('/', WS);
      const b = await clients.of(hubB).connect('/', WS);
      const n = await clients.of(node).connect('/', WS);
      await crosses(a, b, 'to-all', { text: 'a broadcast from A to B' });
      await crosses(b, a, 'to-all', { text: 'a broadcast from B to A' });
      await crosses(a, n, 'to-all', { text: 'a broadcast from wshub to Node' });
      await crosses(n, a, 'to-all', { text: 'a broadcast from Node to wshub' });
      const room = unique();
      const member = await clients.of(hubB).connect('/', WS);
      const outsider = await clients.of(hubB).connect('/', WS);
      await ack(member, 'join', room);
      const atOutsider = collect(outsider, 'room-msg');
      await crosses(a, member, 'room-msg', { room, text: 'a room emit from A to a member on B' });
      assert.equal(atOutsider.length, 0);
      // The nodes are counted over every node of the Redis Cluster (PUBSUB NUMSUB, summed).
      const everyone = await ack(a, 'fetch-sockets');
      assert.ok(Array.isArray(everyone) && [a, b, member, outsider].every((s) => everyone.includes(s.id)), JSON.stringify(everyone));
    });

    test('a master fails over mid-test: the hubs follow its replica', async () => {
      const a = await clients.of(hubA).connect('/', WS);
      const b = await clients.of(hubB).connect('/', WS);
      // Broadcasts keep going while the master dies.
      const ticker = setInterval(() => a.emit('to-all', 'tick'), 20);
      try {
        // What the protocol's broadcasts go through: the namespace's shard channel, or the stream.
        await failOver(cluster, protocol === 'sharded' ? 'socket.io#/#' : 'socket.io');
      } finally {
        clearInterval(ticker);
      }
      await showingLogs([hubA, hubB, node], async () => {
        await crosses(a, b, 'to-all', { text: 'a broadcast from A to B after the failover' });
        await crosses(b, a, 'to-all', { text: 'a broadcast from B to A after the failover' });
        const room = unique();
        const member = await clients.of(hubB).connect('/', WS);
        await ack(member, 'join', room);
        await crosses(a, member, 'room-msg', { room, text: 'a room emit from A to B after the failover' });
        if (protocol === 'streams') await recoversOnAnotherServer(env, hubA, hubB, hubA, cut);
      });
    });
  });
}
