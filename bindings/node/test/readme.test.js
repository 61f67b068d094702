'use strict';
// The README's "Use from Node" example runs as shown (on a free port), and
// SIGINT (io.close()) lets its process exit by itself.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { next, withTimeout, connected, ioc } = require('./helpers');

const README = path.resolve(__dirname, '..', '..', '..', 'README.md');

function example() {
  const text = fs.readFileSync(README, 'utf8');
  const section = text.slice(text.indexOf('## Use from Node'));
  const m = /```js\n([\s\S]*?)```/.exec(section);
  assert.ok(m, 'the README has a js block under "Use from Node"');
  assert.match(m[1], /port: 3000/);
  return m[1].replace('port: 3000', 'port: 0') + "\nconsole.log('PORT ' + io.port);\n";
}

test('the README example works: middleware, rooms, acks, broadcast, binary, close on SIGINT', async (t) => {
  const modules = fs.mkdtempSync(path.join(os.tmpdir(), 'wshub-readme-'));
  fs.symlinkSync(path.resolve(__dirname, '..'), path.join(modules, 'wshub'));
  const script = path.join(modules, 'example.js');
  fs.writeFileSync(script, example());
  const child = spawn(process.execPath, [script], { env: { ...process.env, NODE_PATH: modules }, stdio: ['ignore', 'pipe', 'pipe'] });
  let exited = false;
  const exit = new Promise((resolve) => child.on('exit', (code, signal) => ((exited = true), resolve({ code, signal }))));
  t.after(() => {
    if (!exited) child.kill('SIGKILL'); // the child this test started
    fs.rmSync(modules, { recursive: true, force: true });
  });
  let out = '';
  const port = await withTimeout(
    new Promise((resolve) => {
      child.stdout.on('data', (d) => {
        out += d;
        const m = /PORT (\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
    }),
    10_000,
    'the example to listen',
  );
  const url = `http://127.0.0.1:${port}`;
  const opts = { transports: ['websocket'], reconnection: false, forceNew: true };
  const refused = ioc(url, { ...opts, auth: { token: 'wrong' } });
  t.after(() => refused.close());
  await assert.rejects(connected(refused), /unauthorized/);

  const a = ioc(url, { ...opts, auth: { token: 'secret' } });
  const b = ioc(url, { ...opts, auth: { token: 'secret' } });
  t.after(() => (a.close(), b.close()));
  await Promise.all([connected(a), connected(b)]);
  const ackA = await a.timeout(3000).emitWithAck('join', 'lobby');
  assert.deepEqual(ackA.ok, true);
  assert.ok(ackA.rooms.includes('lobby'));
  const joined = next(a, 'joined');
  await b.timeout(3000).emitWithAck('join', 'lobby');
  assert.deepEqual(await joined, [b.id]);

  const chat = next(a, 'chat message');
  b.emit('chat message', 'hi');
  assert.deepEqual(await chat, [{ from: b.id, text: 'hi' }]);

  const stored = next(a, 'stored');
  a.emit('upload', 'f.bin', Buffer.alloc(1234));
  assert.deepEqual(await stored, ['f.bin', 1234]);

  const gone = next(a, 'disconnect');
  child.kill('SIGINT');
  await gone;
  const r = await withTimeout(exit, 5000, 'the example to exit after SIGINT');
  assert.equal(r.code, 0);
});
