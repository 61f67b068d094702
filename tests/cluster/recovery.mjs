// A client that loses its network path while 1,000 events are broadcast and
// comes back on another server of the cluster (tests/cluster/streams.test.mjs
// and redis-cluster.test.mjs): it must get every event once and in order,
// recovered, with its id and rooms.
import assert from 'node:assert/strict';
import { ack, collect, connected, sleep, unique } from '../js/helpers.mjs';
import { Proxy } from './proxy.mjs';

const WS = { transports: ['websocket'] };
/** A client that reconnects at once (through the proxy) when its transport closes. */
export const RECONNECTING = { ...WS, reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 200, randomizationFactor: 0 };

/** A proxy in front of `server`, killed after the test (it is put in `env.proxies`). */
export async function proxyTo(env, server) {
  const p = await Proxy.start(server.port);
  env.proxies.push(p);
  return p;
}

/**
 * A client of `first` (through a proxy) in a room, a sender on `senderServer`
 * emitting 1,000 room events; `loseAndMove(proxy, second)` takes the
 * client's path away mid-stream and points it at `second`. The client must
 * get all 1,000, once, in order, recovered, with its id and room. `env`:
 * the test file's client tracker and proxy list (both closed after each test).
 */
export async function recoversOnAnotherServer(env, first, second, senderServer, loseAndMove) {
  const { clients } = env;
  const clientsOf = (server) => clients.of(server);
  const room = unique();
  const proxy = await proxyTo(env, first);
  const c = clients.of({ url: proxy.url }).socket('/', RECONNECTING);
  await connected(c);
  const id = c.id;
  await ack(c, 'join', room);
  const got = collect(c, 'room-msg');
  let drops = 0;
  c.on('disconnect', () => { drops += 1; });
  const sender = await clientsOf(senderServer).connect('/', WS);
  const COUNT = 1000;
  for (let i = 0; i < COUNT; i++) {
    sender.emit('to-room', room, i);
    if (i === 300) await loseAndMove(proxy, second);
    if (i % 10 === 9) await sleep(3);
  }
  await got.waitFor(COUNT, 20_000);
  await sleep(300); // a duplicate would arrive late
  const seen = got.map((m) => m[0]);
  assert.equal(seen.length, COUNT, `exactly ${COUNT} events, got ${seen.length}`);
  assert.deepEqual(seen, [...Array(COUNT).keys()], 'every event once, in order');
  assert.equal(drops, 1, 'the connection was lost once');
  assert.ok(proxy.accepted >= 2, 'the client came back through the proxy');
  assert.equal(c.recovered, true, 'socket.recovered');
  assert.equal(c.id, id, 'same id');
  const rooms = await ack(c, 'rooms');
  assert.ok(rooms.includes(room) && rooms.includes(id), JSON.stringify(rooms));
}

/** The TCP connection is cut; the client's next one lands on `second`. */
export async function cut(proxy, second) {
  proxy.target = second.port;
  proxy.cut();
}

/** The network path goes away (reconnects are refused), then comes back, to `second`. */
export async function killAndRestart(proxy, second) {
  await proxy.kill();
  await sleep(400);
  proxy.target = second.port;
  await proxy.restart();
}

