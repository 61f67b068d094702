'use strict';
// io.metrics() and the metricsPath option: the hub's counts, exact, while
// socket.io-client clients connect, chat and leave; the path refused without the token.
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const { next, until, startServer, client, connected } = require('./helpers');

const ns = (m, name) => m.namespaces.find((n) => n.name === name);
const disconnects = (n, reason) => n.disconnects.find((d) => d.reason === reason).count;

function get(port, path, headers = {}) {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path, headers }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    }).on('error', reject);
  });
}

test('io.metrics() counts clients that connect, chat and leave, exactly', async (t) => {
  const { Server } = require('..');
  assert.equal(new Server().metrics(), null); // not listening
  const io = startServer(t);
  io.on('connection', (socket) => socket.on('chat', (text) => socket.broadcast.emit('chat', text)));
  const a = client(t, io);
  const b = client(t, io, '/', { transports: ['polling'] });
  await Promise.all([connected(a), connected(b)]);
  const heard = next(b, 'chat');
  a.emit('chat', 'hello');
  await heard;
  // A broadcast adds its receivers once all are queued: b may have read it before.
  await until(() => ns(io.metrics(), '/').events_sent === 1);

  const m = io.metrics();
  assert.deepEqual(m.connections, { polling: 1, websocket: 1, raw: 0 });
  const main = ns(m, '/');
  assert.deepEqual([main.sockets, main.connects, main.events_received, main.events_sent], [2, 2, 1, 1]);
  assert.ok(m.bytes_received > 0 && m.bytes_sent > 0);

  a.disconnect();
  await until(() => ns(io.metrics(), '/').sockets === 1);
  assert.equal(disconnects(ns(io.metrics(), '/'), 'client namespace disconnect'), 1);
});

test('metricsPath serves Prometheus text for the bearer token only', async (t) => {
  const io = startServer(t, { metricsPath: '/metrics', metricsToken: 't0ken' });
  const refused = await get(io.port, '/metrics');
  assert.equal(refused.status, 401);
  const ok = await get(io.port, '/metrics', { authorization: 'Bearer t0ken' });
  assert.equal(ok.status, 200);
  assert.ok(ok.body.split('\n').includes('# TYPE wshub_events_received_total counter'), ok.body);
  assert.ok(ok.body.split('\n').includes('wshub_sockets{namespace="/"} 0'), ok.body);
});

test('a metricsPath open to everyone is refused at listen', () => {
  const { Server } = require('..');
  assert.throws(() => new Server({ port: 0, metricsPath: '/metrics' }), /metrics_token or metrics_allow/);
  assert.throws(() => new Server({ port: 0, metricsPath: '/m', metricsAllow: 5 }), /metricsAllow must be/);
});
