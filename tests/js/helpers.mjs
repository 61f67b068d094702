// Shared helpers for the end-to-end suites: tracked Socket.IO clients, event
// waiting with timeouts, a raw WebSocket / hand-written Engine.IO client, and
// a plain HTTP helper that sends paths verbatim.
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import { io, Manager } from 'socket.io-client';
import WebSocket from 'ws';

/** The three transport modes of socket.io-client. */
export const MODES = [
  { name: 'websocket-only', opts: { transports: ['websocket'] } },
  { name: 'polling-only', opts: { transports: ['polling'] } },
  { name: 'polling-then-upgrade', opts: {} },
];

/** Options used for every client: no reconnection, no sharing, bounded connect. */
export const BASE_OPTS = { forceNew: true, reconnection: false, timeout: 5000 };

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let uniqueCounter = 0;
/** A name nobody else in this process uses (for rooms). */
export function unique(prefix = 'room') {
  uniqueCounter += 1;
  return `${prefix}-${process.pid}-${uniqueCounter}-${Math.random().toString(36).slice(2, 8)}`;
}

/** Runs promise-returning `fn` with a deadline. */
export function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Resolves with the argument array of the next `event` on `emitter`. */
export function waitEvent(emitter, event, ms = 5000) {
  let handler;
  const p = new Promise((resolve) => {
    handler = (...args) => resolve(args);
    emitter.once(event, handler);
  });
  return withTimeout(p, ms, `event "${event}"`).finally(() => emitter.off(event, handler));
}

/** Polls `fn` until it returns a value accepted by `accept` (default truthy). */
export async function waitUntil(fn, { ms = 5000, interval = 50, what = 'condition', accept = Boolean } = {}) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    last = await fn();
    if (accept(last)) return last;
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${ms} ms waiting for ${what}; last value: ${JSON.stringify(last)}`);
    }
    await sleep(interval);
  }
}

/** Records every occurrence of `event` (argument arrays) on a socket. */
export function collect(socket, event) {
  const got = [];
  const waiters = [];
  socket.on(event, (...args) => {
    got.push(args);
    for (const w of waiters.slice()) {
      if (got.length >= w.n) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(got);
      }
    }
  });
  got.waitFor = (n, ms = 5000) => {
    if (got.length >= n) return Promise.resolve(got);
    let w;
    const p = new Promise((resolve) => { w = { n, resolve }; waiters.push(w); });
    return withTimeout(p, ms, `${n} "${event}" events (have ${got.length})`)
      .finally(() => { const i = waiters.indexOf(w); if (i >= 0) waiters.splice(i, 1); });
  };
  return got;
}

/** Resolves once the socket is connected; rejects with the connect_error. */
export function connected(socket, ms = 5000) {
  if (socket.connected) return Promise.resolve(socket);
  let onConnect;
  let onError;
  const p = new Promise((resolve, reject) => {
    onConnect = () => resolve(socket);
    onError = (err) => reject(err);
    socket.once('connect', onConnect);
    socket.once('connect_error', onError);
  });
  return withTimeout(p, ms, 'connect').finally(() => {
    socket.off('connect', onConnect);
    socket.off('connect_error', onError);
  });
}

/** Resolves with the connect_error of a socket that must be refused. */
export function connectError(socket, ms = 5000) {
  let onConnect;
  let onError;
  const p = new Promise((resolve, reject) => {
    onConnect = () => reject(new Error('connected, but the connection should have been refused'));
    onError = (err) => resolve(err);
    socket.once('connect', onConnect);
    socket.once('connect_error', onError);
  });
  return withTimeout(p, ms, 'connect_error').finally(() => {
    socket.off('connect', onConnect);
    socket.off('connect_error', onError);
  });
}

/** Emits with an ack and resolves with the first ack argument. */
export function ack(socket, event, ...args) {
  return socket.timeout(5000).emitWithAck(event, ...args);
}

/** Emits with an ack and resolves with all ack arguments. */
export function ackAll(socket, event, ...args) {
  return new Promise((resolve, reject) => {
    socket.timeout(5000).emit(event, ...args, (err, ...res) => (err ? reject(err) : resolve(res)));
  });
}

/** Resolves once a socket.io-client socket's connection runs over WebSocket (after its upgrade, if any). */
export async function upgraded(socket, ms = 5000) {
  if (socket.io.engine.transport.name !== 'websocket') await waitEvent(socket.io.engine, 'upgrade', ms);
}

/** Proves a socket still works end to end. */
export async function assertAlive(socket, label = 'healthy client') {
  const token = `${label} ${Math.random()}`;
  assert.ok(socket.connected, `${label} should still be connected`);
  assert.equal(await ack(socket, 'echo-ack', token), token, `${label} echo-ack`);
}

/** Converts every ArrayBuffer / typed array inside `v` to a Buffer. */
export function normalizeBinary(v) {
  if (Buffer.isBuffer(v)) return v;
  if (v instanceof ArrayBuffer) return Buffer.from(v);
  if (ArrayBuffer.isView(v)) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  if (Array.isArray(v)) return v.map(normalizeBinary);
  if (v && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, normalizeBinary(x)]));
  }
  return v;
}

/**
 * Per-test client factory. Every socket and Manager it creates is closed
 * when the test ends (pass, fail or timeout).
 */
export class Clients {
  constructor(url) {
    this.url = url;
    this.sockets = [];
    this.managers = [];
    this.raws = [];
  }

  /** A socket.io-client socket for namespace `nsp` (not yet awaited). */
  socket(nsp = '/', opts = {}) {
    const s = io(this.url + nsp, { ...BASE_OPTS, ...opts });
    this.sockets.push(s);
    this.managers.push(s.io);
    return s;
  }

  /** A connected socket.io-client socket. */
  async connect(nsp = '/', opts = {}) {
    return connected(this.socket(nsp, opts));
  }

  /** A Manager, to open several namespaces over one connection. */
  manager(opts = {}) {
    const m = new Manager(this.url, { ...BASE_OPTS, ...opts });
    this.managers.push(m);
    return m;
  }

  /** A socket of `manager` for `nsp`, tracked. */
  managed(manager, nsp, opts = {}) {
    const s = manager.socket(nsp, opts);
    this.sockets.push(s);
    return s;
  }

  /** A raw WebSocket to `path` (not yet opened). */
  raw(path, wsOpts = {}) {
    const r = new RawWs(this.url.replace(/^http/, 'ws') + path, wsOpts);
    this.raws.push(r);
    return r;
  }

  /** A raw Engine.IO client, handshaken, over WebSocket. */
  async eio({ autoPong = true, query = 'EIO=4&transport=websocket', wsOpts = {} } = {}) {
    const r = this.raw(`/socket.io/?${query}`, wsOpts);
    await r.opened();
    const open = await r.next();
    assert.equal(open.isBinary, false, 'open packet must be a text frame');
    assert.equal(open.text[0], '0', `expected an Engine.IO open packet, got ${open.text.slice(0, 80)}`);
    r.handshake = JSON.parse(open.text.slice(1));
    if (autoPong) r.autoPong = true;
    return r;
  }

  closeAll() {
    for (const s of this.sockets) {
      try { s.disconnect(); } catch { /* ignore */ }
    }
    for (const m of this.managers) {
      try { if (m.engine) m.engine.close(); } catch { /* ignore */ }
    }
    for (const r of this.raws) r.terminate();
  }
}

/** Creates a Clients bound to the test context `t`, closed after the test. */
export function clientsFor(t, srv) {
  const c = new Clients(srv.url);
  t.after(() => c.closeAll());
  return c;
}

/**
 * A raw `ws` WebSocket with a message queue. Engine.IO helpers on top:
 * `autoPong` answers "2" pings with "3" and hides pings from next().
 */
export class RawWs {
  constructor(url, wsOpts = {}) {
    this.ws = new WebSocket(url, { ...wsOpts });
    this.queue = [];
    this.waiters = [];
    this.autoPong = false;
    this.error = null;
    this.unexpectedResponse = null;
    this.isOpen = false;
    this.closeInfo = null;
    this.closedPromise = new Promise((resolve) => {
      this.ws.on('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString() };
        this.isOpen = false;
        resolve(this.closeInfo);
        for (const w of this.waiters.splice(0)) w.reject(new Error(`WebSocket closed (code ${code}) while waiting for a message`));
      });
    });
    this.ws.on('open', () => { this.isOpen = true; });
    this.ws.on('error', (err) => { this.error = err; });
    this.ws.on('unexpected-response', (req, res) => {
      this.unexpectedResponse = { status: res.statusCode, headers: res.headers };
      res.resume();
      this.ws.terminate(); // aborts the handshake: emits 'error' then 'close'
    });
    this.ws.on('message', (data, isBinary) => {
      const msg = { data, isBinary, text: isBinary ? null : data.toString('utf8') };
      if (this.autoPong && !isBinary && msg.text === '2') {
        this.send('3');
        return;
      }
      const w = this.waiters.shift();
      if (w) w.resolve(msg);
      else this.queue.push(msg);
    });
  }

  /** Resolves once the handshake succeeded; rejects if it was refused. */
  opened(ms = 5000) {
    if (this.isOpen) return Promise.resolve(this);
    return withTimeout(new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve(this));
      this.closedPromise.then(() => reject(new Error(
        `WebSocket handshake refused: ${this.unexpectedResponse ? 'HTTP ' + this.unexpectedResponse.status : this.error?.message}`)));
    }), ms, 'WebSocket open');
  }

  /** Resolves with { status } or { error } when the handshake fails; rejects if it opens. */
  refused(ms = 5000) {
    return withTimeout(new Promise((resolve, reject) => {
      this.ws.once('open', () => reject(new Error('WebSocket handshake accepted, but it should have been refused')));
      this.closedPromise.then(() => resolve({ status: this.unexpectedResponse?.status, error: this.error }));
    }), ms, 'WebSocket refusal');
  }

  /** The next message: { data, isBinary, text }. */
  next(ms = 5000) {
    if (this.queue.length) return Promise.resolve(this.queue.shift());
    if (this.closeInfo) return Promise.reject(new Error(`WebSocket closed (code ${this.closeInfo.code})`));
    let w;
    const p = new Promise((resolve, reject) => { w = { resolve, reject }; this.waiters.push(w); });
    return withTimeout(p, ms, 'a WebSocket message').finally(() => {
      const i = this.waiters.indexOf(w);
      if (i >= 0) this.waiters.splice(i, 1);
    });
  }

  /** The next text message that is not an Engine.IO ping. */
  async nextNonPing(ms = 5000) {
    const deadline = Date.now() + ms;
    for (;;) {
      const m = await this.next(Math.max(1, deadline - Date.now()));
      if (!m.isBinary && m.text === '2') continue;
      return m;
    }
  }

  send(data, opts = {}) {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(data, opts);
  }

  /** Resolves with { code, reason } when the connection is closed. */
  closed(ms = 5000) {
    return withTimeout(this.closedPromise, ms, 'the WebSocket to be closed');
  }

  /**
   * Engine.IO / Socket.IO: connects namespace `nsp` ("40" or "40/nsp,") and
   * resolves with the Socket.IO socket id from the CONNECT answer.
   */
  async connectNamespace(nsp = '/', ms = 5000) {
    const prefix = nsp === '/' ? '40' : `40${nsp},`;
    this.send(prefix);
    const m = await this.nextNonPing(ms);
    assert.equal(m.isBinary, false);
    assert.ok(m.text.startsWith(prefix), `expected a CONNECT answer "${prefix}{...}", got ${m.text.slice(0, 80)}`);
    const payload = JSON.parse(m.text.slice(prefix.length));
    assert.equal(typeof payload.sid, 'string', 'CONNECT answer carries the socket id');
    this.sid = payload.sid;
    return payload.sid;
  }

  terminate() {
    try { this.ws.terminate(); } catch { /* ignore */ }
  }
}

/**
 * Plain HTTP request to 127.0.0.1 with the path sent exactly as given
 * (no URL normalisation); https trusting `ca` when one is given. Resolves
 * with { status, headers, body: Buffer }.
 */
export function httpRequest(port, { method = 'GET', path = '/', headers = {}, body = null, ms = 5000, ca = null } = {}) {
  return withTimeout(new Promise((resolve, reject) => {
    const opts = { host: '127.0.0.1', port, method, path, headers, agent: false, ...(ca && { ca }) };
    const req = (ca ? https : http).request(opts, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(ms, () => req.destroy(new Error(`HTTP ${method} ${path} timed out`)));
    if (body != null) req.write(body);
    req.end();
  }), ms + 500, `HTTP ${method} ${path}`);
}

/** Engine.IO polling handshake over plain HTTP; resolves with the open packet's JSON. */
export async function pollingHandshake(port, headers = {}) {
  const res = await httpRequest(port, { path: '/socket.io/?EIO=4&transport=polling', headers });
  assert.equal(res.status, 200, `polling handshake status (body: ${res.body.toString().slice(0, 200)})`);
  const text = res.body.toString('utf8');
  assert.equal(text[0], '0', `expected an open packet, got ${text.slice(0, 80)}`);
  return { res, open: JSON.parse(text.slice(1)) };
}

/** Asks `asker` for the recorded disconnect reason of `sid`, waiting until one exists. */
export function lastReason(asker, sid, ms = 5000) {
  return waitUntil(() => ack(asker, 'last-reason', sid), {
    ms, what: `a recorded disconnect reason for ${sid}`, accept: (v) => v !== null,
  });
}
