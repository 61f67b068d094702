// Disconnects and their recorded reasons, seen through the official client:
// server-side disconnect, client-side disconnect, heartbeats keeping a
// client alive.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { useServer, PING_INTERVAL } from './server.mjs';
import { MODES, clientsFor, connected, waitEvent, ack, sleep, lastReason, assertAlive } from './helpers.mjs';

const srv = useServer();

for (const mode of MODES) {
  describe(`disconnects over ${mode.name}`, () => {
    test('disconnect-me: the client sees "io server disconnect" and the server records "server namespace disconnect"', { timeout: 10_000 }, async (t) => {
      const c = clientsFor(t, srv);
      const observer = await c.connect('/', mode.opts);
      const s = await c.connect('/', mode.opts);
      const id = s.id;
      const gone = waitEvent(s, 'disconnect');
      s.emit('disconnect-me');
      const [reason] = await gone;
      assert.equal(reason, 'io server disconnect');
      assert.equal(s.connected, false);
      assert.equal(await lastReason(observer, id), 'server namespace disconnect');
      await assertAlive(observer, 'observer');
    });

    test('disconnect-me in /chat ends only the /chat socket of a shared connection', { timeout: 10_000 }, async (t) => {
      const c = clientsFor(t, srv);
      const m = c.manager(mode.opts);
      const root = c.managed(m, '/');
      const chat = c.managed(m, '/chat');
      await Promise.all([connected(root), connected(chat)]);
      const gone = waitEvent(chat, 'disconnect');
      chat.emit('disconnect-me');
      assert.deepStrictEqual((await gone)[0], 'io server disconnect');
      assert.equal(await ack(root, 'echo-ack', 'root survives'), 'root survives');
    });

    test('a client-side disconnect is recorded as "client namespace disconnect"', { timeout: 10_000 }, async (t) => {
      const c = clientsFor(t, srv);
      const observer = await c.connect('/', mode.opts);
      const s = await c.connect('/', mode.opts);
      const id = s.id;
      assert.equal(await ack(observer, 'last-reason', id), null, 'no reason while still connected');
      s.disconnect();
      assert.equal(await lastReason(observer, id), 'client namespace disconnect');
    });

    test('last-reason is null for a socket id that never existed', { timeout: 10_000 }, async (t) => {
      const c = clientsFor(t, srv);
      const s = await c.connect('/', mode.opts);
      assert.equal(await ack(s, 'last-reason', 'no-such-socket-id'), null);
      assert.equal(await ack(s, 'last-reason', s.id), null);
    });

    test('heartbeats keep an idle client connected across many ping intervals', { timeout: 10_000 }, async (t) => {
      const c = clientsFor(t, srv);
      const s = await c.connect('/', mode.opts);
      let disconnected = null;
      s.on('disconnect', (r) => { disconnected = r; });
      await sleep(7 * PING_INTERVAL); // several ping intervals
      assert.equal(disconnected, null, `client was dropped: ${disconnected}`);
      await assertAlive(s);
    });
  });
}
