// Rooms and broadcasts with three clients: join / leave, to-room,
// to-room-except, broadcast (sender excluded), to-all (sender included),
// `rooms` and `count`.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { useServer } from './server.mjs';
import { MODES, clientsFor, collect, ack, unique, sleep, waitUntil } from './helpers.mjs';

const srv = useServer();

/**
 * Three connected clients A, B, C, each recording room-msg / broadcast /
 * to-all. settle() makes A send a to-all sentinel and waits until all three
 * received it (plus a short grace), so "did not receive" checks are sound.
 */
async function trio(t, opts = [{}, {}, {}], nsp = '/', extra = {}) {
  const c = clientsFor(t, srv);
  const sockets = await Promise.all(opts.map((o) => c.connect(nsp, { ...o, ...extra })));
  const [A, B, C] = sockets.map((s) => ({
    s,
    room: collect(s, 'room-msg'),
    bc: collect(s, 'broadcast'),
    all: collect(s, 'to-all'),
  }));
  let sentinels = 0;
  const settle = async () => {
    sentinels += 1;
    const mark = `sentinel-${sentinels}`;
    A.s.emit('to-all', mark);
    for (const x of [A, B, C]) {
      await waitUntil(() => x.all.some((a) => a[0] === mark), { what: `${mark} at every client` });
    }
    await sleep(100);
  };
  return { c, A, B, C, settle };
}

// The collected arrays carry a waitFor() helper; compare plain copies.
const payloads = (list) => [...list];

for (const mode of MODES) {
  describe(`rooms and broadcasts over ${mode.name}`, () => {
    const o = [mode.opts, mode.opts, mode.opts];

    test('join acks true and to-room reaches every member, including a sending member, and nobody else', { timeout: 15_000 }, async (t) => {
      const { A, B, C, settle } = await trio(t, o);
      const room = unique();
      assert.equal(await ack(A.s, 'join', room), true);
      assert.equal(await ack(B.s, 'join', room), true);
      A.s.emit('to-room', room, 'from A', { n: 1 }, ['x']);
      await A.room.waitFor(1);
      await B.room.waitFor(1);
      await settle();
      assert.deepStrictEqual(payloads(A.room), [['from A', { n: 1 }, ['x']]], 'sender in the room gets it');
      assert.deepStrictEqual(payloads(B.room), [['from A', { n: 1 }, ['x']]]);
      assert.deepStrictEqual(payloads(C.room), [], 'non-member gets nothing');
    });

    test('to-room from a non-member reaches all members and not the sender', { timeout: 15_000 }, async (t) => {
      const { A, B, C, settle } = await trio(t, o);
      const room = unique();
      await ack(A.s, 'join', room);
      await ack(B.s, 'join', room);
      C.s.emit('to-room', room, 'from C');
      await A.room.waitFor(1);
      await B.room.waitFor(1);
      await settle();
      assert.deepStrictEqual(payloads(A.room), [['from C']]);
      assert.deepStrictEqual(payloads(B.room), [['from C']]);
      assert.deepStrictEqual(payloads(C.room), []);
    });

    test('to-room with zero extra arguments delivers room-msg with zero arguments', { timeout: 15_000 }, async (t) => {
      const { A, B, settle } = await trio(t, o);
      const room = unique();
      await ack(B.s, 'join', room);
      A.s.emit('to-room', room);
      await B.room.waitFor(1);
      await settle();
      assert.deepStrictEqual(payloads(B.room), [[]]);
    });

    test('to-room-except skips sockets that are in the excepted room', { timeout: 15_000 }, async (t) => {
      const { A, B, C, settle } = await trio(t, o);
      const room = unique();
      const muted = unique('muted');
      for (const x of [A, B, C]) assert.equal(await ack(x.s, 'join', room), true);
      await ack(B.s, 'join', muted);
      A.s.emit('to-room-except', room, muted, 'not for B', 2);
      await A.room.waitFor(1);
      await C.room.waitFor(1);
      await settle();
      assert.deepStrictEqual(payloads(A.room), [['not for B', 2]]);
      assert.deepStrictEqual(payloads(B.room), [], 'B is in the excepted room');
      assert.deepStrictEqual(payloads(C.room), [['not for B', 2]]);
    });

    test('to-room-except can exclude a single socket by its own id room', { timeout: 15_000 }, async (t) => {
      const { A, B, C, settle } = await trio(t, o);
      const room = unique();
      for (const x of [A, B, C]) await ack(x.s, 'join', room);
      A.s.emit('to-room-except', room, C.s.id, 'not for C');
      await A.room.waitFor(1);
      await B.room.waitFor(1);
      await settle();
      assert.deepStrictEqual(payloads(A.room), [['not for C']]);
      assert.deepStrictEqual(payloads(B.room), [['not for C']]);
      assert.deepStrictEqual(payloads(C.room), []);
    });

    test('leave acks true and stops delivery to the socket that left', { timeout: 15_000 }, async (t) => {
      const { A, B, C, settle } = await trio(t, o);
      const room = unique();
      await ack(A.s, 'join', room);
      await ack(B.s, 'join', room);
      assert.equal(await ack(B.s, 'leave', room), true);
      C.s.emit('to-room', room, 'after leave');
      await A.room.waitFor(1);
      await settle();
      assert.deepStrictEqual(payloads(A.room), [['after leave']]);
      assert.deepStrictEqual(payloads(B.room), [], 'B left the room');
      assert.ok(!(await ack(B.s, 'rooms')).includes(room), 'rooms no longer lists it');
    });

    test('broadcast reaches everyone else in the namespace but not the sender', { timeout: 15_000 }, async (t) => {
      const { A, B, C, settle } = await trio(t, o);
      A.s.emit('broadcast', 'hi all', { from: 'A' }, null);
      await B.bc.waitFor(1);
      await C.bc.waitFor(1);
      await settle();
      assert.deepStrictEqual(payloads(B.bc), [['hi all', { from: 'A' }, null]]);
      assert.deepStrictEqual(payloads(C.bc), [['hi all', { from: 'A' }, null]]);
      assert.deepStrictEqual(payloads(A.bc), [], 'sender excluded');
    });

    test('to-all reaches everyone in the namespace, sender included', { timeout: 15_000 }, async (t) => {
      const { A, B, C } = await trio(t, o);
      B.s.emit('to-all', 'everyone', 3);
      for (const x of [A, B, C]) {
        await waitUntil(() => x.all.some((a) => a[0] === 'everyone'), { what: 'to-all at every client' });
        assert.deepStrictEqual(x.all.filter((a) => a[0] === 'everyone'), [['everyone', 3]]);
      }
    });

    test('rooms lists the socket id and its joined rooms, sorted', { timeout: 15_000 }, async (t) => {
      const c = clientsFor(t, srv);
      const s = await c.connect('/', mode.opts);
      assert.deepStrictEqual(await ack(s, 'rooms'), [s.id], 'a fresh socket is only in its own room');
      const r1 = `zz-${unique()}`;
      const r2 = `aa-${unique()}`;
      const r3 = `MM-${unique()}`;
      for (const r of [r1, r2, r3]) await ack(s, 'join', r);
      await ack(s, 'join', r1); // joining twice changes nothing
      const expected = [s.id, r1, r2, r3].sort();
      assert.deepStrictEqual(await ack(s, 'rooms'), expected);
      await ack(s, 'leave', r2);
      assert.deepStrictEqual(await ack(s, 'rooms'), [s.id, r1, r3].sort());
    });

    test('count follows sockets connecting to and disconnecting from the namespace', { timeout: 15_000 }, async (t) => {
      // /admin is used only by this test in this file, so the count is ours.
      const auth = { auth: { token: 'secret' } };
      const c = clientsFor(t, srv);
      const a = await c.connect('/admin', { ...mode.opts, ...auth });
      await waitUntil(() => ack(a, 'count'), { what: 'count == 1', accept: (n) => n === 1 });
      const b = await c.connect('/admin', { ...mode.opts, ...auth });
      const cc = await c.connect('/admin', { ...mode.opts, ...auth });
      assert.equal(await ack(a, 'count'), 3);
      assert.equal(await ack(cc, 'count'), 3);
      b.disconnect();
      await waitUntil(() => ack(a, 'count'), { what: 'count == 2', accept: (n) => n === 2 });
      cc.disconnect();
      await waitUntil(() => ack(a, 'count'), { what: 'count == 1', accept: (n) => n === 1 });
    });
  });
}

describe('rooms across transports', () => {
  test('room messages and broadcasts reach clients on websocket, polling and upgraded transports alike', { timeout: 15_000 }, async (t) => {
    const { A, B, C, settle } = await trio(t, MODES.map((m) => m.opts));
    const room = unique();
    for (const x of [A, B, C]) await ack(x.s, 'join', room);
    B.s.emit('to-room', room, 'mixed', { ok: true });
    C.s.emit('broadcast', 'from C');
    for (const x of [A, B, C]) await x.room.waitFor(1);
    await A.bc.waitFor(1);
    await B.bc.waitFor(1);
    await settle();
    for (const x of [A, B, C]) assert.deepStrictEqual(payloads(x.room), [['mixed', { ok: true }]]);
    assert.deepStrictEqual(payloads(A.bc), [['from C']]);
    assert.deepStrictEqual(payloads(B.bc), [['from C']]);
    assert.deepStrictEqual(payloads(C.bc), []);
  });
});
