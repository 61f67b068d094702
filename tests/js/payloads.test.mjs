// Payload fidelity: every JSON type, several / zero arguments, binary
// attachments (1 byte, 1 MiB, mixed with JSON, nested), in all three
// transport modes of socket.io-client.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { useServer } from './server.mjs';
import { MODES, clientsFor, waitEvent, normalizeBinary } from './helpers.mjs';

const srv = useServer();

const LONG_TEXT = '长文本 long text with emoji 🚀 '.repeat(4000); // ~100k UTF-16 units, multibyte

export const JSON_VALUES = [
  ['an ASCII string', 'hello, world'],
  ['an empty string', ''],
  ['a CJK string', '你好，世界 こんにちは 안녕하세요'],
  ['an emoji string (astral plane, ZWJ sequences, skin tones)', '😀🎉 👨‍👩‍👧‍👦 👍🏽 🏳️‍🌈'],
  ['a string with JSON escapes', 'quote " backslash \\ slash / newline \n tab \t cr \r ctrl \u0001 \u001f del \u007f'],
  ['a string that looks like a packet', '42["echo","nested"]'],
  ['a long multibyte string (~100k chars)', LONG_TEXT],
  ['zero', 0],
  ['a positive integer', 42],
  ['a negative integer', -17],
  ['the largest safe integer', Number.MAX_SAFE_INTEGER],
  ['the smallest safe integer', Number.MIN_SAFE_INTEGER],
  ['a float', 3.141592653589793],
  ['a negative float', -0.5],
  ['a tiny float', 1.5e-10],
  ['a huge float', 6.02214076e23],
  ['true', true],
  ['false', false],
  ['null', null],
  ['an empty object', {}],
  ['an empty array', []],
  ['a nested object', { a: { b: { c: [1, 2, { d: 'deep', e: null }] } }, 'key with spaces': true, '键': '值', '': 'empty key' }],
  ['an array of mixed types', [1, 'two', 3.5, -4, null, true, false, { five: [5] }, [[[]]], '🎈']],
];

function echo(socket, ...args) {
  const p = waitEvent(socket, 'echo');
  socket.emit('echo', ...args);
  return p;
}

for (const mode of MODES) {
  describe(`echo payloads over ${mode.name}`, () => {
    test('echo returns every JSON type unchanged (one argument per event)', { timeout: 20_000 }, async (t) => {
      const c = clientsFor(t, srv);
      const s = await c.connect('/', mode.opts);
      for (const [label, value] of JSON_VALUES) {
        const got = await echo(s, value);
        assert.deepStrictEqual(got, [value], `echo of ${label}`);
      }
    });

    test('echo returns several arguments of different types, in order', { timeout: 10_000 }, async (t) => {
      const c = clientsFor(t, srv);
      const s = await c.connect('/', mode.opts);
      const args = JSON_VALUES.map(([, v]) => v);
      assert.deepStrictEqual(await echo(s, ...args), args);
      assert.deepStrictEqual(await echo(s, 'a', 1, null), ['a', 1, null]);
    });

    test('echo with zero arguments arrives with zero arguments', { timeout: 10_000 }, async (t) => {
      const c = clientsFor(t, srv);
      const s = await c.connect('/', mode.opts);
      assert.deepStrictEqual(await echo(s), []);
    });

    test('echo returns a 1-byte binary attachment as binary', { timeout: 10_000 }, async (t) => {
      const c = clientsFor(t, srv);
      const s = await c.connect('/', mode.opts);
      const one = Buffer.from([0x42]);
      const got = await echo(s, one);
      assert.equal(got.length, 1);
      assert.ok(Buffer.isBuffer(got[0]) || got[0] instanceof ArrayBuffer, 'arrives as binary, not JSON');
      assert.deepStrictEqual(normalizeBinary(got), [one]);
      const zero = Buffer.from([0x00]);
      assert.deepStrictEqual(normalizeBinary(await echo(s, zero)), [zero]);
    });

    test('echo returns a 1 MiB binary attachment byte for byte', { timeout: 30_000 }, async (t) => {
      const c = clientsFor(t, srv);
      const s = await c.connect('/', mode.opts);
      const big = crypto.randomBytes(1024 * 1024);
      const got = await waitEventAfterEmit(s, 'echo', () => s.emit('echo', big), 25_000);
      assert.equal(got.length, 1);
      const back = normalizeBinary(got[0]);
      assert.equal(back.length, big.length);
      assert.ok(back.equals(big), '1 MiB attachment comes back identical');
    });

    test('echo returns binary mixed with JSON args, including buffers nested in objects and arrays', { timeout: 30_000 }, async (t) => {
      const c = clientsFor(t, srv);
      const s = await c.connect('/', mode.opts);
      const b1 = Buffer.from([1]);
      const b2 = Buffer.from('bytes with ünïcödé 🎉', 'utf8');
      const b3 = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
      const big = crypto.randomBytes(1024 * 1024);
      const args = [
        'label 标签',
        b1,
        { n: 1, nested: { data: b2, list: [b3, 'x', null] } },
        [b3, { deeper: [b1] }],
        42,
        null,
        big,
        true,
      ];
      const got = await waitEventAfterEmit(s, 'echo', () => s.emit('echo', ...args), 25_000);
      assert.deepStrictEqual(normalizeBinary(got), args);
    });

    test('server emits to this client carry binary too (to-all with a Buffer)', { timeout: 10_000 }, async (t) => {
      const c = clientsFor(t, srv);
      const s = await c.connect('/', mode.opts);
      const buf = crypto.randomBytes(1000);
      const got = await waitEventAfterEmit(s, 'to-all', () => s.emit('to-all', 'bin', buf, { b: buf }));
      assert.deepStrictEqual(normalizeBinary(got), ['bin', buf, { b: buf }]);
    });
  });
}

function waitEventAfterEmit(socket, event, emit, ms = 5000) {
  const p = waitEvent(socket, event, ms);
  emit();
  return p;
}
