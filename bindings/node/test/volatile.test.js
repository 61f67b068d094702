'use strict';
// Slow consumers: a client that stopped reading misses volatile emits and stays
// connected; ordinary emits follow the hub's policy (disconnect, "transport error").
const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const crypto = require('node:crypto');
const { until, sleep, withTimeout, startServer, pair, record } = require('./helpers');

/** A masked client text frame (payloads under 126 bytes). */
function textFrame(text) {
  const payload = Buffer.from(text);
  const mask = crypto.randomBytes(4);
  const out = Buffer.alloc(6 + payload.length);
  out[0] = 0x81;
  out[1] = 0x80 | payload.length;
  mask.copy(out, 2);
  for (let i = 0; i < payload.length; i++) out[6 + i] = payload[i] ^ mask[i % 4];
  return out;
}

/**
 * A hand-written WebSocket client over a raw TCP socket: joins "/", then
 * stops reading (the socket is paused), so the server's queue for it fills.
 */
async function stalledClient(t, port) {
  const sock = net.connect(port, '127.0.0.1');
  t.after(() => sock.destroy());
  await new Promise((resolve, reject) => {
    sock.once('connect', resolve);
    sock.once('error', reject);
  });
  const key = crypto.randomBytes(16).toString('base64');
  sock.write(
    `GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n` +
      `Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  let buf = Buffer.alloc(0);
  let upgraded = false;
  const texts = [];
  const id = await withTimeout(
    new Promise((resolve) => {
      sock.on('data', (d) => {
        buf = Buffer.concat([buf, d]);
        if (!upgraded) {
          const end = buf.indexOf('\r\n\r\n');
          if (end < 0) return;
          assert.match(buf.subarray(0, end).toString(), /^HTTP\/1\.1 101/);
          buf = buf.subarray(end + 4);
          upgraded = true;
        }
        // Server frames are unmasked; the first ones are small text frames.
        while (buf.length >= 2) {
          let len = buf[1] & 0x7f;
          let at = 2;
          if (len === 126) {
            if (buf.length < 4) return;
            len = buf.readUInt16BE(2);
            at = 4;
          }
          if (buf.length < at + len) return;
          const text = buf.subarray(at, at + len).toString();
          buf = buf.subarray(at + len);
          texts.push(text);
          if (text.startsWith('0{')) sock.write(textFrame('40'));
          if (text.startsWith('40{')) {
            sock.removeAllListeners('data');
            sock.pause(); // reads nothing from here on
            resolve(JSON.parse(text.slice(2)).sid);
            return;
          }
        }
      });
    }),
    5000,
    'the stalled client to join "/"',
  );
  return id;
}

test('volatile emits skip a client that stopped reading; ordinary ones disconnect it with "transport error"', async (t) => {
  const io = startServer(t);
  const reasons = new Map();
  io.on('connection', (socket) => {
    socket.on('disconnect', (reason) => reasons.set(socket.id, reason));
    socket.on('echo', (x, ack) => ack(x));
  });
  const healthy = await pair(t, io);
  const got = record(healthy.c);
  const stalledId = await stalledClient(t, io.port);
  await until(() => io.of('/').sockets.has(stalledId));
  const stalled = io.of('/').sockets.get(stalledId);
  stalled.join('feed');
  healthy.socket.join('feed');
  const blob = 'x'.repeat(100_000);

  // 30 MB of volatile emits at it: its queue fills, the rest is dropped, it stays.
  for (let i = 0; i < 300; i++) io.to(stalledId).volatile.emit('blob', blob);
  for (let i = 0; i < 50; i++) stalled.volatile.emit('blob', blob);
  // One per tick: a volatile emit right after another to the same target, in the same tick, is dropped (below).
  for (let i = 0; i < 10; i++) {
    io.to('feed').volatile.emit('small', i);
    await sleep(5);
  }
  await until(() => got.filter(([e]) => e === 'small').length === 10, 5000, 'the healthy client to get every volatile emit');
  await sleep(200);
  assert.equal(reasons.has(stalledId), false, 'volatile emits did not disconnect the stalled client');
  assert.ok(io.of('/').sockets.has(stalledId));

  // Ordinary emits follow the default policy: the stalled client is disconnected.
  for (let i = 0; i < 300 && !reasons.has(stalledId); i++) io.to(stalledId).emit('blob', blob);
  await until(() => reasons.has(stalledId), 5000, 'the stalled client to be disconnected');
  assert.equal(reasons.get(stalledId), 'transport error');
  assert.equal(await healthy.c.timeout(2000).emitWithAck('echo', 'alive'), 'alive');
  assert.equal(reasons.has(healthy.c.id), false);
});

test('a volatile emit right after another emit to the same target, in the same tick, is dropped (as in socket.io)', async (t) => {
  const io = startServer(t);
  const sockets = [];
  io.on('connection', (s) => sockets.push(s));
  const { c } = await pair(t, io);
  const got = record(c);
  const s = sockets[0];
  s.emit('ev', 'regular');
  s.volatile.emit('ev', 'dropped: the regular one is still being sent');
  io.volatile.emit('bcast', 1);
  io.volatile.emit('bcast', 2); // dropped: same target, same tick
  io.to('elsewhere').volatile.emit('bcast', 3); // another target: not dropped (nobody is in it)
  await sleep(50);
  s.volatile.emit('ev', 'a later tick: sent');
  await until(() => got.filter(([e]) => e === 'ev').length === 2, 5000, 'two "ev"');
  await sleep(100);
  assert.deepEqual(got.filter(([e]) => e === 'ev').map(([, x]) => x), ['regular', 'a later tick: sent']);
  assert.deepEqual(got.filter(([e]) => e === 'bcast').map(([, x]) => x), [1]);
});
