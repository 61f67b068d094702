// Namespaces: / and /chat multiplexed on one Manager connection, leaving one
// keeps the other, /admin's auth guard, unknown namespaces.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { useServer } from './server.mjs';
import {
  MODES, clientsFor, connected, connectError, collect, ack, unique, sleep, waitEvent, waitUntil, lastReason,
} from './helpers.mjs';

const srv = useServer();

for (const mode of MODES) {
  describe(`namespaces over ${mode.name}`, () => {
    test('one Manager multiplexes / and /chat over a single Engine.IO connection', { timeout: 10_000 }, async (t) => {
      const c = clientsFor(t, srv);
      const m = c.manager(mode.opts);
      const root = c.managed(m, '/');
      const chat = c.managed(m, '/chat');
      await Promise.all([connected(root), connected(chat)]);
      assert.notEqual(root.id, chat.id, 'each namespace has its own socket id');
      assert.equal(root.io, chat.io, 'same Manager');
      assert.deepStrictEqual(await ack(root, 'echo-ack', 'root'), 'root');
      assert.deepStrictEqual(await ack(chat, 'echo-ack', 'chat'), 'chat');
      assert.deepStrictEqual(await ack(root, 'rooms'), [root.id]);
      assert.deepStrictEqual(await ack(chat, 'rooms'), [chat.id]);
    });

    test('events act within their namespace: a room in / does not reach the same room name in /chat', { timeout: 10_000 }, async (t) => {
      const c = clientsFor(t, srv);
      const m = c.manager(mode.opts);
      const root = c.managed(m, '/');
      const chat = c.managed(m, '/chat');
      await Promise.all([connected(root), connected(chat)]);
      const chatPeer = await c.connect('/chat', mode.opts);
      const room = unique();
      await ack(root, 'join', room);
      await ack(chat, 'join', room);
      const rootMsgs = collect(root, 'room-msg');
      const chatMsgs = collect(chat, 'room-msg');
      root.emit('to-room', room, 'in root');
      await rootMsgs.waitFor(1);
      chatPeer.emit('to-room', room, 'in chat');
      await chatMsgs.waitFor(1);
      await sleep(150);
      assert.deepStrictEqual([...rootMsgs], [['in root']]);
      assert.deepStrictEqual([...chatMsgs], [['in chat']]);
    });

    test('broadcast and to-all in /chat reach /chat sockets only', { timeout: 10_000 }, async (t) => {
      const c = clientsFor(t, srv);
      const rootOnly = await c.connect('/', mode.opts);
      const chatA = await c.connect('/chat', mode.opts);
      const chatB = await c.connect('/chat', mode.opts);
      const rootBc = collect(rootOnly, 'broadcast');
      const rootAll = collect(rootOnly, 'to-all');
      const bBc = collect(chatB, 'broadcast');
      const aAll = collect(chatA, 'to-all');
      chatA.emit('broadcast', 'chat only');
      chatA.emit('to-all', 'chat all');
      await bBc.waitFor(1);
      await aAll.waitFor(1);
      await sleep(150);
      assert.deepStrictEqual([...bBc], [['chat only']]);
      assert.deepStrictEqual([...rootBc], []);
      assert.deepStrictEqual([...rootAll].filter((a) => a[0] === 'chat all'), []);
    });

    test('disconnecting /chat keeps / working on the same connection, and is recorded as "client namespace disconnect"', { timeout: 10_000 }, async (t) => {
      const c = clientsFor(t, srv);
      const m = c.manager(mode.opts);
      const root = c.managed(m, '/');
      const chat = c.managed(m, '/chat');
      await Promise.all([connected(root), connected(chat)]);
      const observer = await c.connect('/chat', mode.opts);
      const chatId = chat.id;
      const engineBefore = m.engine;
      let rootDisconnected = false;
      root.on('disconnect', () => { rootDisconnected = true; });
      chat.disconnect();
      assert.equal(chat.connected, false);
      assert.equal(await lastReason(observer, chatId), 'client namespace disconnect');
      assert.equal(await ack(root, 'echo-ack', 'root still here'), 'root still here');
      const echoed = waitEvent(root, 'echo');
      root.emit('echo', 'and events', 1);
      assert.deepStrictEqual(await echoed, ['and events', 1]);
      assert.equal(m.engine, engineBefore, 'the Engine.IO connection was kept');
      assert.equal(m.engine.readyState, 'open');
      assert.equal(rootDisconnected, false);
    });

    test('disconnecting / keeps /chat working on the same connection', { timeout: 10_000 }, async (t) => {
      const c = clientsFor(t, srv);
      const m = c.manager(mode.opts);
      const root = c.managed(m, '/');
      const chat = c.managed(m, '/chat');
      await Promise.all([connected(root), connected(chat)]);
      const observer = await c.connect('/', mode.opts);
      const rootId = root.id;
      root.disconnect();
      assert.equal(await lastReason(observer, rootId), 'client namespace disconnect');
      assert.equal(await ack(chat, 'echo-ack', 'chat still here'), 'chat still here');
      assert.equal(m.engine.readyState, 'open');
    });

    test('a namespace left on a Manager can be joined again on the same connection', { timeout: 10_000 }, async (t) => {
      const c = clientsFor(t, srv);
      const m = c.manager(mode.opts);
      const root = c.managed(m, '/');
      const chat = c.managed(m, '/chat');
      await Promise.all([connected(root), connected(chat)]);
      const firstId = chat.id;
      chat.disconnect();
      await sleep(100);
      chat.connect();
      await connected(chat);
      assert.notEqual(chat.id, firstId, 'a new socket id after reconnecting the namespace');
      assert.equal(await ack(chat, 'echo-ack', 'again'), 'again');
      assert.equal(await ack(root, 'echo-ack', 'root'), 'root');
    });

    test('/admin accepts a connection whose auth.token is "secret"', { timeout: 10_000 }, async (t) => {
      const c = clientsFor(t, srv);
      const admin = await c.connect('/admin', { ...mode.opts, auth: { token: 'secret' } });
      assert.equal(await ack(admin, 'echo-ack', 'admin ok'), 'admin ok');
      assert.deepStrictEqual(await ack(admin, 'rooms'), [admin.id]);
    });

    test('/admin without a token is rejected with connect_error "unauthorized"', { timeout: 10_000 }, async (t) => {
      const c = clientsFor(t, srv);
      const err = await connectError(c.socket('/admin', mode.opts));
      assert.equal(err.message, 'unauthorized');
    });

    test('/admin with a wrong token is rejected with connect_error "unauthorized"', { timeout: 10_000 }, async (t) => {
      const c = clientsFor(t, srv);
      for (const auth of [{ token: 'wrong' }, { token: '' }, { token: null }, { tok: 'secret' }, { token: 'SECRET' }]) {
        const err = await connectError(c.socket('/admin', { ...mode.opts, auth }));
        assert.equal(err.message, 'unauthorized', `auth ${JSON.stringify(auth)}`);
      }
    });

    test('a rejected /admin on a shared Manager leaves / and an accepted namespace working', { timeout: 10_000 }, async (t) => {
      const c = clientsFor(t, srv);
      const m = c.manager(mode.opts);
      const root = c.managed(m, '/');
      await connected(root);
      const denied = c.managed(m, '/admin', { auth: { token: 'nope' } });
      const err = await connectError(denied);
      assert.equal(err.message, 'unauthorized');
      const allowed = c.managed(m, '/chat');
      await connected(allowed);
      assert.equal(await ack(root, 'echo-ack', 'root ok'), 'root ok');
      assert.equal(await ack(allowed, 'echo-ack', 'chat ok'), 'chat ok');
      assert.equal(m.engine.readyState, 'open');
    });

    test('an unknown namespace is rejected with connect_error "Invalid namespace"', { timeout: 10_000 }, async (t) => {
      const c = clientsFor(t, srv);
      const err = await connectError(c.socket('/does-not-exist', mode.opts));
      assert.equal(err.message, 'Invalid namespace');
      // and on a shared connection, the rejection does not disturb /
      const m = c.manager(mode.opts);
      const root = c.managed(m, '/');
      await connected(root);
      const bad = c.managed(m, '/nope/deeper');
      assert.equal((await connectError(bad)).message, 'Invalid namespace');
      assert.equal(await ack(root, 'echo-ack', 'fine'), 'fine');
    });

    test('count is per namespace', { timeout: 10_000 }, async (t) => {
      const c = clientsFor(t, srv);
      const auth = { auth: { token: 'secret' } };
      // /admin is only used here and in the auth tests above, which closed their sockets
      const a = await c.connect('/admin', { ...mode.opts, ...auth });
      await waitUntil(() => ack(a, 'count'), { what: '/admin count == 1', accept: (n) => n === 1 });
      const m = c.manager(mode.opts);
      const r = c.managed(m, '/');
      const b = c.managed(m, '/admin', auth);
      await Promise.all([connected(r), connected(b)]);
      assert.equal(await ack(a, 'count'), 2);
      b.disconnect();
      await waitUntil(() => ack(a, 'count'), { what: '/admin count == 1', accept: (n) => n === 1 });
      assert.ok((await ack(r, 'count')) >= 1);
    });
  });
}
