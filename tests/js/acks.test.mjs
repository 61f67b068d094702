// Acknowledgements both ways: client → server (`echo-ack`, emitWithAck) and
// server → client (`request-ack` → `ping-me` → `ack-result` / `ack-timeout`).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { useServer } from './server.mjs';
import { MODES, clientsFor, waitEvent, ack, ackAll, normalizeBinary, sleep } from './helpers.mjs';

const srv = useServer();

for (const mode of MODES) {
  describe(`acks over ${mode.name}`, () => {
    test('echo-ack acknowledges with the same arguments (callback form)', { timeout: 10_000 }, async (t) => {
      const c = clientsFor(t, srv);
      const s = await c.connect('/', mode.opts);
      const args = ['héllo 你好 👋', 7, -2.5, null, true, { nested: [1, { x: 'y' }] }, []];
      const got = await new Promise((resolve) => s.emit('echo-ack', ...args, (...res) => resolve(res)));
      assert.deepStrictEqual(got, args);
    });

    test('echo-ack with zero arguments acknowledges with zero arguments', { timeout: 10_000 }, async (t) => {
      const c = clientsFor(t, srv);
      const s = await c.connect('/', mode.opts);
      const got = await new Promise((resolve) => s.emit('echo-ack', (...res) => resolve(res)));
      assert.deepStrictEqual(got, []);
    });

    test('emitWithAck resolves with the acknowledged value for every JSON type', { timeout: 10_000 }, async (t) => {
      const c = clientsFor(t, srv);
      const s = await c.connect('/', mode.opts);
      for (const v of ['text ✓', '', 0, 123456789, -1, 0.25, true, false, null, {}, [], { a: [1, { b: '🌍' }] }]) {
        assert.deepStrictEqual(await s.emitWithAck('echo-ack', v), v);
      }
      // with a timeout set, the promise form must also resolve (not reject)
      assert.equal(await s.timeout(3000).emitWithAck('echo-ack', 'in time'), 'in time');
    });

    test('echo-ack acknowledges binary arguments as binary (binary ack)', { timeout: 20_000 }, async (t) => {
      const c = clientsFor(t, srv);
      const s = await c.connect('/', mode.opts);
      const small = Buffer.from([0xff]);
      const big = crypto.randomBytes(1024 * 1024);
      const args = ['bin', small, { inner: big, list: [small] }];
      const got = await ackAll(s, 'echo-ack', ...args);
      assert.deepStrictEqual(normalizeBinary(got), args);
    });

    test('many concurrent acks each resolve with their own value', { timeout: 15_000 }, async (t) => {
      const c = clientsFor(t, srv);
      const s = await c.connect('/', mode.opts);
      const values = Array.from({ length: 100 }, (_, i) => ({ i, s: `v${i}` }));
      const results = await Promise.all(values.map((v) => ack(s, 'echo-ack', v)));
      assert.deepStrictEqual(results, values);
    });

    test('request-ack: the value the client acks with comes back as ack-result', { timeout: 10_000 }, async (t) => {
      const c = clientsFor(t, srv);
      const s = await c.connect('/', mode.opts);
      const seen = [];
      s.on('ping-me', (...args) => {
        const cb = args.pop();
        seen.push(args);
        cb({ answered: args[0], 'ключ': '値 ✓', n: [1, 2, 3] });
      });
      const result = waitEvent(s, 'ack-result');
      s.emit('request-ack', 3000);
      assert.deepStrictEqual(await result, [{ answered: 'please ack', 'ключ': '値 ✓', n: [1, 2, 3] }]);
      assert.deepStrictEqual(seen, [['please ack']], 'ping-me carries "please ack"');
    });

    test('request-ack: a binary ack value comes back as binary in ack-result', { timeout: 10_000 }, async (t) => {
      const c = clientsFor(t, srv);
      const s = await c.connect('/', mode.opts);
      const buf = crypto.randomBytes(4096);
      s.on('ping-me', (_msg, cb) => cb(buf));
      const result = waitEvent(s, 'ack-result');
      s.emit('request-ack', 3000);
      assert.deepStrictEqual(normalizeBinary(await result), [buf]);
    });

    test('request-ack: a null ack value comes back as ack-result null (not a timeout)', { timeout: 10_000 }, async (t) => {
      const c = clientsFor(t, srv);
      const s = await c.connect('/', mode.opts);
      s.on('ping-me', (_msg, cb) => cb(null));
      let timedOut = false;
      s.on('ack-timeout', () => { timedOut = true; });
      const result = waitEvent(s, 'ack-result');
      s.emit('request-ack', 3000);
      assert.deepStrictEqual(await result, [null]);
      assert.equal(timedOut, false);
    });

    test('request-ack: ack-timeout fires when the client never acks, and no ack-result follows', { timeout: 10_000 }, async (t) => {
      const c = clientsFor(t, srv);
      const s = await c.connect('/', mode.opts);
      let pinged = 0;
      s.on('ping-me', () => { pinged += 1; }); // never calls the ack callback
      let results = 0;
      s.on('ack-result', () => { results += 1; });
      const started = Date.now();
      const timeout = waitEvent(s, 'ack-timeout', 5000);
      s.emit('request-ack', 300);
      await timeout;
      const elapsed = Date.now() - started;
      assert.equal(pinged, 1, 'ping-me was delivered once');
      assert.ok(elapsed >= 250, `ack-timeout should not fire before the timeout (fired after ${elapsed} ms)`);
      await sleep(300);
      assert.equal(results, 0, 'no ack-result after the timeout');
      // the socket is still fine afterwards
      assert.equal(await ack(s, 'echo-ack', 'after timeout'), 'after timeout');
    });

    test('request-ack: a late ack (after the timeout) does not produce ack-result', { timeout: 10_000 }, async (t) => {
      const c = clientsFor(t, srv);
      const s = await c.connect('/', mode.opts);
      s.on('ping-me', (_msg, cb) => setTimeout(() => cb('too late'), 600));
      let results = 0;
      s.on('ack-result', () => { results += 1; });
      const timeout = waitEvent(s, 'ack-timeout', 5000);
      s.emit('request-ack', 200);
      await timeout;
      await sleep(800);
      assert.equal(results, 0, 'late ack is ignored');
      assert.equal(await ack(s, 'echo-ack', 'still fine'), 'still fine');
    });
  });
}
