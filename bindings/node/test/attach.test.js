'use strict';
// Attached to the app's own server: http.createServer, express and Fastify
// serve their routes and wshub on one port, to socket.io-client over
// WebSocket, polling and the upgrade; io.close() leaves the app's server open.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const net = require('node:net');
const express = require('express');
const fastify = require('fastify');
const { io: ioc } = require('socket.io-client');
const { Server } = require('..');
const { withTimeout } = require('./helpers');

const MODES = [
  { name: 'websocket', opts: { transports: ['websocket'] }, transport: 'websocket' },
  { name: 'polling', opts: { transports: ['polling'] }, transport: 'polling' },
  { name: 'polling then upgrade', opts: {}, transport: 'websocket' },
];

function listen(server) {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)));
}

function echoing(io) {
  io.on('connection', (socket) => {
    socket.on('echo', (...args) => {
      const ack = typeof args[args.length - 1] === 'function' ? args.pop() : null;
      if (ack) ack(...args);
      else socket.emit('echo', ...args);
    });
  });
}

async function connect(t, port, opts) {
  const c = ioc(`http://127.0.0.1:${port}`, { forceNew: true, reconnection: false, timeout: 5000, ...opts });
  t.after(() => c.close());
  await withTimeout(new Promise((resolve, reject) => { c.once('connect', resolve); c.once('connect_error', reject); }),
    5000, 'connect');
  return c;
}

/** Every mode works through `port`, and the app's route `route` answers `body`. */
async function checkApp(t, port, route, body) {
  for (const mode of MODES) {
    const c = await connect(t, port, mode.opts);
    if (mode.transport === 'websocket' && c.io.engine.transport.name !== 'websocket') {
      await withTimeout(new Promise((resolve) => c.io.engine.once('upgrade', resolve)), 5000, 'upgrade');
    }
    assert.equal(c.io.engine.transport.name, mode.transport, mode.name);
    assert.deepEqual(await c.timeout(5000).emitWithAck('echo', 'héllo', { n: 1 }, Buffer.from([1, 2])),
      'héllo', mode.name);
    const back = withTimeout(new Promise((resolve) => c.once('echo', (...a) => resolve(a))), 5000, 'echo');
    c.emit('echo', 'plain', 2);
    assert.deepEqual(await back, ['plain', 2], mode.name);
    c.close();
  }
  const res = await fetch(`http://127.0.0.1:${port}${route}`);
  assert.equal(res.status, 200);
  assert.equal(await res.text(), body);
  // The client bundle comes from the hub, on the app's port.
  const bundle = await fetch(`http://127.0.0.1:${port}/socket.io/socket.io.min.js`);
  assert.equal(bundle.status, 200);
}

test('new Server(http.createServer(handler)): the handler keeps its routes', { timeout: 30_000 }, async (t) => {
  const server = http.createServer((req, res) => res.end(`app ${req.url}`));
  const io = new Server(server);
  echoing(io);
  const port = await listen(server);
  t.after(() => server.close());
  assert.equal(io.httpServer, server);
  assert.equal(io.port, port);
  await checkApp(t, port, '/hello', 'app /hello');
  await io.close();
  // Closed: the app's server is still open and serves its own routes.
  assert.equal(server.listening, true);
  assert.equal(await (await fetch(`http://127.0.0.1:${port}/after`)).text(), 'app /after');
});

test('an express app and wshub on one port (io.attach)', { timeout: 30_000 }, async (t) => {
  const app = express();
  app.get('/api/users', (req, res) => res.json([{ id: 1 }]));
  const server = http.createServer(app);
  const io = new Server();
  io.attach(server);
  echoing(io);
  const port = await listen(server);
  t.after(async () => { await io.close(); server.close(); });
  await checkApp(t, port, '/api/users', '[{"id":1}]');
});

test('a Fastify app and wshub on one port', { timeout: 30_000 }, async (t) => {
  const app = fastify();
  app.get('/health', async () => 'ok');
  await app.ready();
  const io = new Server(app.server);
  echoing(io);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const port = app.server.address().port;
  t.after(async () => { await io.close(); await app.close(); });
  await checkApp(t, port, '/health', 'ok');
});

test('attached: the limits of the own listener, and a bad client disturbs no one', { timeout: 30_000 }, async (t) => {
  const server = http.createServer((req, res) => res.end('app'));
  const io = new Server(server, { maxHttpBufferSize: 1000 });
  echoing(io);
  const port = await listen(server);
  t.after(async () => { await io.close(); server.close(); });
  const c = await connect(t, port, { transports: ['websocket'] });
  // A polling body over maxHttpBufferSize: 413.
  const big = await fetch(`http://127.0.0.1:${port}/socket.io/?EIO=4&transport=polling&sid=x`,
    { method: 'POST', body: 'x'.repeat(5000) });
  assert.equal(big.status, 413);
  // Engine.IO errors as the own listener gives them.
  const bad = await fetch(`http://127.0.0.1:${port}/socket.io/?EIO=3&transport=polling`);
  assert.equal(bad.status, 400);
  assert.deepEqual(await bad.json(), { code: 5, message: 'Unsupported protocol version' });
  // An upgrade without a key: 426 from the hub; a head cut short: that connection only.
  const answer = await new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    s.on('data', (d) => { got += d; });
    s.on('close', () => resolve(got));
    s.on('error', reject);
    s.write('GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
  });
  assert.match(answer, /^HTTP\/1\.1 426/);
  const cut = net.connect(port, '127.0.0.1');
  await new Promise((resolve) => cut.on('connect', resolve));
  cut.write('POST /socket.io/?EIO=4&transport=polling&sid=x HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc');
  cut.destroy();
  assert.equal(await c.timeout(5000).emitWithAck('echo', 'still here'), 'still here');
});

test('an upgrade the hub does not serve stays the app\'s', { timeout: 30_000 }, async (t) => {
  const server = http.createServer((req, res) => res.end('app'));
  server.on('upgrade', (req, socket) => {
    if (req.url === '/app-ws') socket.end('HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\napp-ws');
  });
  const io = new Server(server);
  const port = await listen(server);
  t.after(async () => { await io.close(); server.close(); });
  const answer = await new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    s.on('data', (d) => { got += d; });
    s.on('close', () => resolve(got));
    s.on('error', reject);
    s.write('GET /app-ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
  });
  assert.match(answer, /app-ws$/);
});

test('attach(server, opts) merges its options with the constructor\'s (io.engine.opts)', async (t) => {
  const srv = http.createServer((req, res) => res.writeHead(404).end());
  const io = new Server({ pingTimeout: 6000 });
  io.attach(srv, { pingInterval: 24000 });
  t.after(() => io.close());
  assert.equal(io.engine.opts.pingTimeout, 6000);
  assert.equal(io.engine.opts.pingInterval, 24000);
  assert.deepEqual(io.eio.opts, io.engine.opts);
});
