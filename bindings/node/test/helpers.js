'use strict';
// Shared by the suites: a server on a free loopback port, real socket.io-client
// clients, and waits that always end (every wait has a timeout).
const { io: ioc } = require('socket.io-client');
const { Server } = require('..');

const WAIT = 5000;

/** Resolves with the listener's arguments (an array) the next time `event` fires. */
function next(emitter, event, ms = WAIT) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(event, on);
      reject(new Error(`timed out waiting for "${event}"`));
    }, ms);
    const on = (...args) => {
      clearTimeout(timer);
      resolve(args);
    };
    emitter.once(event, on);
  });
}

/** Resolves when `cond()` is true (polled), rejects after `ms`. */
async function until(cond, ms = WAIT, what = 'a condition') {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

function withTimeout(promise, ms = WAIT, what = 'a promise') {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** A server on a free loopback port, closed when the test ends. */
function startServer(t, opts = {}) {
  const io = new Server({ port: 0, ...opts });
  t.after(() => withTimeout(io.close(), 10_000, 'io.close()'));
  return io;
}

/** A client (WebSocket only, no reconnection unless asked), closed when the test ends. */
function client(t, io, nsp = '/', opts = {}) {
  const c = ioc(`http://127.0.0.1:${io.port}${nsp}`, {
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
    timeout: WAIT,
    ...opts,
  });
  t.after(() => c.close());
  return c;
}

/** Resolves once the client is connected; rejects with its connect_error. */
function connected(c, ms = WAIT) {
  if (c.connected) return Promise.resolve(c);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new Error('timed out waiting for connect')), ms);
    const onConnect = () => done(null);
    const onError = (err) => done(err);
    function done(err) {
      clearTimeout(timer);
      c.off('connect', onConnect);
      c.off('connect_error', onError);
      if (err) reject(err);
      else resolve(c);
    }
    c.on('connect', onConnect);
    c.on('connect_error', onError);
  });
}

/** A connected client and the server's Socket for it. */
async function pair(t, io, nsp = '/', opts = {}) {
  const c = client(t, io, nsp, opts);
  await connected(c);
  const sockets = io.of(nsp).sockets;
  await until(() => sockets.has(c.id), WAIT, `the server's socket ${c.id}`);
  return { c, socket: sockets.get(c.id) };
}

/** Records every event a client receives: [[event, ...args], ...]. */
function record(c) {
  const log = [];
  c.onAny((...args) => log.push(args));
  return log;
}

module.exports = { WAIT, next, until, sleep, withTimeout, startServer, client, connected, pair, record, ioc, Server };
