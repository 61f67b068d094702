'use strict';
// io.close() with clients connected, the process exiting by itself, io.unref(),
// and handlers that throw (reported on 'error'; the hub goes on).
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { next, until, withTimeout, startServer, client, connected, pair, Server, ioc } = require('./helpers');

const PKG = path.resolve(__dirname, '..');

/** Runs a script in a child Node; resolves { code, signal, stdout, stderr, ms } or rejects after `ms`. */
function runChild(t, script, { ms = 8000, onLine } = {}) {
  const child = spawn(process.execPath, ['-e', script], { cwd: PKG, stdio: ['ignore', 'pipe', 'pipe'] });
  const started = Date.now();
  let stdout = '';
  let stderr = '';
  let exited = false;
  t.after(() => {
    if (!exited) child.kill('SIGKILL'); // only the child this test started
  });
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  let pending = '';
  child.stdout.on('data', (d) => {
    stdout += d;
    pending += d;
    let i;
    while ((i = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, i);
      pending = pending.slice(i + 1);
      if (onLine) onLine(line, child);
    }
  });
  child.stderr.on('data', (d) => (stderr += d));
  const done = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      exited = true;
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started });
    });
  });
  return { child, done: withTimeout(done, ms, 'the child process to exit').catch((e) => {
    e.message += `\nstdout: ${stdout}\nstderr: ${stderr}`;
    throw e;
  }) };
}

test('io.close() with clients connected: everyone is disconnected and the promise resolves', async (t) => {
  const io = new Server({ port: 0 });
  const reasons = [];
  io.on('connection', (socket) => socket.on('disconnect', (r) => reasons.push(r)));
  io.of('/chat').on('connection', (socket) => socket.on('disconnect', (r) => reasons.push(`chat: ${r}`)));
  const a = await pair(t, io);
  const b = await pair(t, io, '/', { transports: ['polling'] });
  const c = await pair(t, io, '/chat');
  c.c.on('ping-me', (ack) => {}); // never acks
  const waiting = c.socket.emitWithAck('ping-me'); // no timeout: settles when the hub stops
  waiting.catch(() => {});
  const gone = [next(a.c, 'disconnect'), next(b.c, 'disconnect', 8000), next(c.c, 'disconnect')];
  const closing = io.close();
  assert.equal(io.close(), closing, 'close() twice gives the same promise');
  const started = Date.now();
  await withTimeout(closing, 5000, 'io.close()');
  assert.ok(Date.now() - started < 5000);
  assert.deepEqual(reasons.sort(), ['chat: server shutting down', 'server shutting down', 'server shutting down']);
  assert.equal(io.sockets.sockets.size, 0);
  const clientReasons = (await Promise.all(gone)).map(([r]) => r);
  for (const r of clientReasons) assert.match(r, /transport (close|error)|io server disconnect/);
  // After close, emits are no-ops, and a new client cannot connect.
  io.emit('nobody');
  a.socket.emit('nobody');
  io.of('/after-close').emit('nobody'); // no error either
  await assert.rejects(connected(client(t, { port: io.port }), 2000));
  // listen() again starts a new hub with the same namespaces and handlers, as with socket.io.
  io.listen(0);
  t.after(() => io.close());
  const again = await pair(t, io, '/chat');
  assert.equal(again.socket.nsp, io.of('/chat'));
  assert.equal(io.of('/chat').sockets.size, 1);
});

test('io.close() takes the sockets out at once, before the hub has stopped', async (t) => {
  const io = startServer(t);
  const { socket } = await pair(t, io);
  let during = null;
  socket.on('disconnect', () => (during = io.sockets.sockets.size));
  const closing = io.close();
  assert.equal(during, 0, "'disconnect' fired inside close(), with the socket already gone");
  assert.throws(() => io.listen(0), /closing/);
  await closing;
  assert.deepEqual(io.engine.opts.pingInterval, 25000);
});

test('the process exits by itself after io.close()', async (t) => {
  const script = `
    const { Server } = require('.');
    const io = new Server({ port: 0 });
    io.on('connection', (socket) => {
      socket.on('bye', () => io.close().then(() => console.log('CLOSED')));
    });
    console.log('PORT ' + io.port);
  `;
  let c;
  const { done } = runChild(t, script, {
    onLine(line) {
      if (line.startsWith('PORT ')) {
        c = ioc(`http://127.0.0.1:${line.slice(5)}`, { transports: ['websocket'], reconnection: false });
        t.after(() => c.close());
        c.on('connect', () => c.emit('bye'));
      }
    },
  });
  const r = await done;
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /CLOSED/);
});

test('io.unref(): a running hub does not keep the process alive; without it, it does', async (t) => {
  const unrefd = runChild(t, `
    const { Server } = require('.');
    const io = new Server({ port: 0 }).unref();
    io.on('connection', () => {});
    console.log('PORT ' + io.port);
  `);
  const r = await unrefd.done;
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /PORT \d+/);

  let port;
  const held = runChild(t, `
    const { Server } = require('.');
    const io = new Server({ port: 0 });
    console.log('PORT ' + io.port);
  `, { ms: 1500, onLine: (line) => line.startsWith('PORT ') && (port = Number(line.slice(5))) });
  await assert.rejects(held.done, /timed out/); // still serving after 1.5 s
  assert.ok(port > 0);
  held.child.kill('SIGKILL');
});

test('a server that never listened does not hold the process; close() still resolves', async (t) => {
  const r = await runChild(t, `
    const { Server } = require('.');
    const io = new Server();
    io.of('/x').use((s, next) => next());
    io.close().then(() => console.log('CLOSED'));
  `).done;
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /CLOSED/);
});

test('a handler that throws is reported on "error" and the hub goes on', async (t) => {
  const io = startServer(t);
  const errors = [];
  io.on('error', (err) => errors.push(err.message));
  io.on('connection', (socket) => {
    socket.on('boom', () => {
      throw new Error('boom');
    });
    socket.on('async-boom', async () => {
      throw new Error('async boom');
    });
    socket.on('echo', (x, ack) => ack(x));
  });
  io.on('connection', () => {
    throw new Error('in connection');
  });
  const { c } = await pair(t, io);
  c.emit('boom');
  c.emit('async-boom');
  assert.equal(await c.timeout(2000).emitWithAck('echo', 'alive'), 'alive');
  await until(() => errors.length === 3);
  assert.deepEqual(errors.sort(), ['async boom', 'boom', 'in connection']);
  // Other clients are not affected either.
  const other = await pair(t, io);
  assert.equal(await other.c.timeout(2000).emitWithAck('echo', 'also alive'), 'also alive');
});

test('without an "error" listener, a throwing handler goes to console.error', async (t) => {
  const io = startServer(t);
  io.on('connection', (socket) => {
    socket.on('boom', () => {
      throw new Error('unheard');
    });
    socket.on('echo', (x, ack) => ack(x));
  });
  const logged = [];
  const original = console.error;
  console.error = (...args) => logged.push(args.map(String).join(' '));
  t.after(() => {
    console.error = original;
  });
  const { c } = await pair(t, io);
  c.emit('boom');
  assert.equal(await c.timeout(2000).emitWithAck('echo', 1), 1);
  console.error = original;
  assert.equal(logged.length, 1);
  assert.match(logged[0], /unheard/);
});

test('an ack callback that throws is reported too', async (t) => {
  const io = startServer(t);
  const errors = [];
  io.on('error', (err) => errors.push(err.message));
  const { c, socket } = await pair(t, io);
  c.on('q', (ack) => ack('a'));
  socket.emit('q', () => {
    throw new Error('in ack');
  });
  await until(() => errors.length === 1);
  assert.deepEqual(errors, ['in ack']);
  assert.equal(await socket.timeout(2000).emitWithAck('q'), 'a');
});

test('server-wide acks: io.timeout().emitWithAck() collects every reply', async (t) => {
  const io = startServer(t);
  const a = await pair(t, io);
  const b = await pair(t, io);
  a.c.on('vote', (ack) => ack('a'));
  b.c.on('vote', (ack) => ack('b'));
  assert.deepEqual((await io.timeout(2000).emitWithAck('vote')).sort(), ['a', 'b']);
  b.c.off('vote');
  b.c.on('vote', () => {}); // b stays silent
  await assert.rejects(io.timeout(200).emitWithAck('vote'), /timed out/);
  const partial = await new Promise((resolve) => io.timeout(200).emit('vote', (err, replies) => resolve([err, replies])));
  assert.match(partial[0].message, /timed out/);
  assert.deepEqual(partial[1], ['a']);
  assert.deepEqual(await io.to('empty-room').timeout(100).emitWithAck('vote'), []);
});
