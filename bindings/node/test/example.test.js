'use strict';
// examples/node/chat.js: the chat room, driven by two socket.io-client clients.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const http = require('node:http');
const { spawn } = require('node:child_process');
const { next, withTimeout, connected, ioc } = require('./helpers');

const EXAMPLE = path.resolve(__dirname, '..', '..', '..', 'examples', 'node', 'chat.js');

/** Starts the example with `require('wshub')` resolving to this package; resolves its port. */
async function startChat(t) {
  const modules = fs.mkdtempSync(path.join(os.tmpdir(), 'wshub-node-'));
  fs.symlinkSync(path.resolve(__dirname, '..'), path.join(modules, 'wshub'));
  const child = spawn(process.execPath, [EXAMPLE], {
    env: { ...process.env, PORT: '0', NODE_PATH: modules },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let exited = false;
  child.on('exit', () => (exited = true));
  t.after(() => {
    if (!exited) child.kill('SIGKILL'); // the child this test started
    fs.rmSync(modules, { recursive: true, force: true });
  });
  let out = '';
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  return withTimeout(
    new Promise((resolve, reject) => {
      child.stdout.on('data', (d) => {
        out += d;
        const m = /LISTENING (\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      child.on('exit', (code) => reject(new Error(`the example exited (${code}): ${err}`)));
    }),
    10_000,
    'the example to listen',
  );
}

function chatClient(t, port) {
  const c = ioc(`http://127.0.0.1:${port}`, { transports: ['websocket'], reconnection: false, forceNew: true });
  t.after(() => c.close());
  return c;
}

test('the Node chat example: join with ack, messages to everyone, joined/left notices, online counts', async (t) => {
  assert.ok(fs.readFileSync(EXAMPLE, 'utf8').trimEnd().split('\n').length < 30, 'the example stays under 30 lines');
  const port = await startChat(t);

  const page = await new Promise((resolve, reject) => {
    http.get(`http://127.0.0.1:${port}/`, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    }).on('error', reject);
  });
  assert.equal(page.status, 200);
  assert.match(page.body, /socket\.io\/socket\.io\.js/);

  const ann = chatClient(t, port);
  await connected(ann);
  const first = await ann.timeout(3000).emitWithAck('join', '  Ann ');
  assert.deepEqual({ ...first, history: first.history.length }, { ok: true, name: 'Ann', online: 1, users: ['Ann'], history: 0 });
  assert.deepEqual(await ann.timeout(3000).emitWithAck('join', ''), { ok: false, error: 'Please pick a nickname.' });

  const bob = chatClient(t, port);
  await connected(bob);
  const joined = next(ann, 'user joined');
  const onlineForAnn = next(ann, 'online');
  const second = await bob.timeout(3000).emitWithAck('join', 'ann'); // taken: gets a number
  assert.equal(second.name, 'ann 2');
  assert.equal(second.online, 2);
  assert.equal((await joined)[0].user, 'ann 2');
  assert.deepEqual((await onlineForAnn)[0], { online: 2, users: ['Ann', 'ann 2'] });

  const toAnn = next(ann, 'chat message');
  const toBob = next(bob, 'chat message');
  bob.emit('chat message', 'hello there ');
  for (const [msg] of [await toAnn, await toBob]) {
    assert.equal(msg.user, 'ann 2');
    assert.equal(msg.text, 'hello there');
    assert.equal(typeof msg.time, 'number');
  }

  const typing = next(ann, 'typing');
  bob.emit('typing', true);
  assert.deepEqual((await typing)[0], { user: 'ann 2', typing: true });

  const left = next(ann, 'user left');
  const onlineAfter = next(ann, 'online');
  bob.disconnect();
  assert.equal((await left)[0].user, 'ann 2');
  assert.equal((await left)[0].online, 1);
  assert.deepEqual((await onlineAfter)[0], { online: 1, users: ['Ann'] });

  // A newcomer gets the history.
  const cid = chatClient(t, port);
  await connected(cid);
  const third = await cid.timeout(3000).emitWithAck('join', 'Cid');
  assert.deepEqual(third.history.map((m) => m.text), ['hello there']);
});
