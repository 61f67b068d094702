// The five chat servers of the repository speak one chat protocol (documented
// at the top of examples/chat.rs): the same tests, with the real
// socket.io-client, against the Rust, C, C++, Python and Node servers.
//
//   node --test tests/e2e/chat-servers.test.mjs   (`make test-e2e` builds every server first)
//
// No server is skipped: one that is not built fails its tests with the
// command that builds it. Each test starts its own server on a free port and
// kills it by PID at the end.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ack, clientsFor, collect, httpRequest, waitEvent, waitUntil } from '../js/helpers.mjs';
import { CHAT_BIN, ROOT, buildChat, startServer } from './helpers.mjs';

/** The Python with the binding installed (`make python-binding` makes .venv-binding). */
const BINDING_PYTHON = process.env.WSHUB_BINDING_PYTHON || path.join(ROOT, '.venv-binding', 'bin', 'python');
const NODE_ADDON = path.join(ROOT, 'bindings', 'node', 'build', 'Release', 'wshub.node');

// examples/node/chat.js does `require('wshub')`: a NODE_PATH folder whose
// `wshub` is the repository's bindings/node (as its own test does).
const nodeModules = fs.mkdtempSync(path.join(os.tmpdir(), 'wshub-chat-'));
fs.symlinkSync(path.join(ROOT, 'bindings', 'node'), path.join(nodeModules, 'wshub'));
after(() => fs.rmSync(nodeModules, { recursive: true, force: true }));

/** Each server: how to start it, the file it cannot start without, and how to build that file. */
const SERVERS = [
  { name: 'Rust (examples/chat.rs)', cmd: CHAT_BIN, needs: CHAT_BIN, build: 'cargo build --example chat' },
  { name: 'C (examples/c/chat.c)', cmd: path.join(ROOT, 'target', 'examples', 'c-chat'), build: 'make examples' },
  { name: 'C++ (examples/cpp/chat.cpp)', cmd: path.join(ROOT, 'target', 'examples', 'cpp-chat'), build: 'make examples' },
  {
    name: 'Python (examples/python/chat.py)', cmd: BINDING_PYTHON, args: ['examples/python/chat.py'],
    build: 'make python-binding (or set WSHUB_BINDING_PYTHON to a Python that imports wshub)',
  },
  {
    name: 'Node (examples/node/chat.js)', cmd: process.execPath, args: ['examples/node/chat.js'],
    env: { NODE_PATH: nodeModules }, needs: NODE_ADDON, build: 'make node-binding',
  },
];

before(() => buildChat(), { timeout: 16 * 60_000 });

/** Starts `server` for the test `t` (stopped when it ends); fails, never skips, when it is not built. */
async function start(t, server) {
  const needs = server.needs || server.cmd;
  assert.ok(fs.existsSync(needs), `${server.name}: ${needs} is missing; build it with: ${server.build}`);
  const running = await startServer({ ...server, timeout: 20_000 }).catch((e) => {
    throw new Error(`${server.name} did not start (built with: ${server.build}): ${e.message}`);
  });
  t.after(() => running.stop());
  return running;
}

/** What a chat message is, but for its time (a number of milliseconds). */
function withoutTime([msg]) {
  assert.equal(typeof msg.time, 'number', `a chat message has a time: ${JSON.stringify(msg)}`);
  const { time, ...rest } = msg;
  return rest;
}

const sorted = (names) => [...names].sort((a, b) => a.localeCompare(b));
const WS = { transports: ['websocket'] };

for (const server of SERVERS) {
  describe(server.name, () => {
    test('a client that never joins speaks as "anonymous": everyone gets its message, the sender too, and it stays in the history', async (t) => {
      const chat = await start(t, server);
      const clients = clientsFor(t, chat);
      const ann = await clients.connect('/', WS);
      assert.equal((await ack(ann, 'join', 'ann')).ok, true);
      // The classic one-page Socket.IO chat: default transports, no join, a plain string.
      const classic = await clients.connect('/');
      const watcher = await clients.connect('/', WS); // another one that never joins
      const heard = [ann, classic, watcher].map((c) => collect(c, 'chat message'));

      classic.emit('chat message', 'hello');
      for (const got of heard) {
        await got.waitFor(1);
        assert.deepEqual(got.map(withoutTime), [{ user: 'anonymous', text: 'hello' }]);
      }

      // A newcomer finds it in the history; an anonymous client is nobody online.
      const cy = await clients.connect('/', WS);
      const joined = await ack(cy, 'join', 'cy');
      assert.deepEqual(joined.history.map((m) => ({ user: m.user, text: m.text })), [{ user: 'anonymous', text: 'hello' }]);
      assert.equal(joined.online, 2);
      assert.deepEqual(sorted(joined.users), ['ann', 'cy']);
    });

    test('joined clients: the join ack, "user joined", "online", messages to everyone, typing, "user left"', async (t) => {
      const chat = await start(t, server);
      const clients = clientsFor(t, chat);
      const ann = await clients.connect('/', WS);
      const first = await ack(ann, 'join', 'ann');
      assert.deepEqual({ ...first, users: sorted(first.users) }, { ok: true, name: 'ann', online: 1, users: ['ann'], history: [] });

      const bob = await clients.connect('/', { transports: ['polling'] });
      const watcher = await clients.connect('/', WS); // never joins, still hears the room
      const userJoined = waitEvent(ann, 'user joined');
      const online = collect(ann, 'online');
      assert.equal((await ack(bob, 'join', 'bob')).name, 'bob');
      const [notice] = await userJoined;
      assert.equal(notice.user, 'bob');
      assert.equal(notice.online, 2);
      // ann's own join sends an "online" too, after its ack: wait for the one of bob's.
      const [now] = await waitUntil(() => online.find(([o]) => o.online === 2), { what: '"online" with 2 people' });
      assert.deepEqual({ ...now, users: sorted(now.users) }, { online: 2, users: ['ann', 'bob'] });

      const heard = [ann, bob, watcher].map((c) => collect(c, 'chat message'));
      bob.emit('chat message', 'hi ann');
      for (const got of heard) {
        await got.waitFor(1);
        assert.deepEqual(got.map(withoutTime), [{ user: 'bob', text: 'hi ann' }]);
      }

      const typing = waitEvent(ann, 'typing');
      bob.emit('typing', true);
      assert.deepEqual((await typing)[0], { user: 'bob', typing: true });

      const left = waitEvent(ann, 'user left');
      bob.disconnect();
      const [gone] = await left;
      assert.equal(gone.user, 'bob');
      assert.equal(gone.online, 1);
    });

    test('serves the chat page with its icon', async (t) => {
      const chat = await start(t, server);
      const page = await httpRequest(chat.port, { path: '/' });
      assert.equal(page.status, 200);
      assert.match(page.body.toString(), /<link rel="icon" href="favicon\.svg"/);
      const icon = await httpRequest(chat.port, { path: '/favicon.svg' });
      assert.equal(icon.status, 200, 'the icon the page links to is there');
      assert.match(icon.headers['content-type'], /^image\/svg\+xml/);
    });
  });
}
