// Bursts: many messages emitted back to back arrive complete and in order.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { useServer } from './server.mjs';
import { MODES, clientsFor, collect, ack, normalizeBinary } from './helpers.mjs';

const srv = useServer();
const N = 1000;

for (const mode of MODES) {
  describe(`bursts over ${mode.name}`, () => {
    test(`a ${N}-message echo burst arrives complete and in order`, { timeout: 30_000 }, async (t) => {
      const c = clientsFor(t, srv);
      const s = await c.connect('/', mode.opts);
      const got = collect(s, 'echo');
      for (let i = 0; i < N; i += 1) s.emit('echo', i, `msg ${i} ✓`);
      await got.waitFor(N, 25_000);
      assert.equal(got.length, N);
      for (let i = 0; i < N; i += 1) assert.deepStrictEqual(got[i], [i, `msg ${i} ✓`], `message ${i} in place`);
    });

    test(`a ${N}-message broadcast burst reaches another client complete and in order`, { timeout: 30_000 }, async (t) => {
      const c = clientsFor(t, srv);
      const sender = await c.connect('/', mode.opts);
      const receiver = await c.connect('/', mode.opts);
      const room = `burst-${process.pid}-${Date.now()}`;
      await ack(receiver, 'join', room);
      const got = collect(receiver, 'room-msg');
      for (let i = 0; i < N; i += 1) sender.emit('to-room', room, i);
      await got.waitFor(N, 25_000);
      assert.deepStrictEqual(got.map((a) => a[0]), Array.from({ length: N }, (_, i) => i));
    });

    test('a burst of 100 binary echoes arrives complete and in order', { timeout: 30_000 }, async (t) => {
      const c = clientsFor(t, srv);
      const s = await c.connect('/', mode.opts);
      const got = collect(s, 'echo');
      const bufs = Array.from({ length: 100 }, (_, i) => Buffer.alloc(1 + i * 37, i));
      bufs.forEach((b, i) => s.emit('echo', i, b));
      await got.waitFor(bufs.length, 25_000);
      got.forEach((args, i) => assert.deepStrictEqual(normalizeBinary(args), [i, bufs[i]], `binary message ${i}`));
    });
  });
}
