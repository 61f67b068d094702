'use strict';
// wshub for Node: the Socket.IO server's API over wshub's C ABI (an N-API
// addon, src/addon.c). The hub (HTTP, Engine.IO, Socket.IO, rooms,
// broadcasts) runs on its own threads in Rust; this layer converts arguments
// (JSON text + binary attachments) and keeps the JS objects (Server,
// Namespace, Socket) that Socket.IO users know.
//
// Every callback of the hub arrives on the JS thread in batches (see
// _dispatch); what a handler throws is reported on io's 'error' event (or
// console.error) and the hub goes on.

const EventEmitter = require('events');
const path = require('path');
const { attach } = require('./attach');

const native = loadAddon();

function loadAddon() {
  const tried = [];
  for (const kind of ['Release', 'Debug']) {
    const file = path.join(__dirname, 'build', kind, 'wshub.node');
    try {
      return require(file);
    } catch (err) {
      if (err.code !== 'MODULE_NOT_FOUND') throw err;
      tried.push(file);
    }
  }
  throw new Error(`wshub: the addon is not built (looked for ${tried.join(', ')}); run \`npm install\` in ${__dirname}`);
}

// wshub_status
const OK = 0;
const INVALID_ARGUMENT = 2;
const NOT_FOUND = 5;
const DISCONNECTED = 6;
const NOT_RUNNING = 8;
const STOPPED = 9;
const TIMEOUT = 11;
// Statuses of a target that is gone (socket left, hub closed): not an error
// for an emit, as with Socket.IO.
const GONE = new Set([NOT_FOUND, DISCONNECTED, NOT_RUNNING, STOPPED]);

// A socket's flags for its next emit while none is set: shared, never written.
const NO_FLAGS = Object.freeze({});

// Item kinds of a dispatch batch (src/addon.c).
const K_EVENT = 0;
const K_CONNECT = 1;
const K_DISCONNECT = 2;
const K_GUARD = 3;
const K_ACK = 4;
const K_RESPONSE = 5;
const K_RESOLVE = 6;
const K_REMOVED = 7;
const K_UPGRADE = 8;
const K_ALLOW = 9;
const K_ERROR = 10;
const K_PACKET = 11;
const K_ABANDONED = 12;
const STRIDE = 7;

const NO_TIMEOUT = 0xffffffff; // ms: an ack without .timeout() waits until the socket leaves
const PENDING_TTL = 60_000; // ms a socket in the middlewares waits for its connection at most

const RESERVED = new Set(['connect', 'connect_error', 'disconnect', 'disconnecting', 'newListener', 'removeListener']);
const RESERVED_IN = new Set([...RESERVED, 'error']);

function statusError(status, what) {
  const message = native.lastError();
  const err = new Error(`wshub: ${what}: ${native.statusName(status)}${message ? `: ${message}` : ''}`);
  err.code = status;
  return err;
}

/** Throws unless `status` is OK or says the target is gone. */
function check(status, what) {
  if (status !== OK && !GONE.has(status)) throw statusError(status, what);
  return status;
}

// ---------- arguments: JSON text + binary attachments ----------

function isBinary(x) {
  return x instanceof ArrayBuffer || ArrayBuffer.isView(x);
}

function toBytes(x) {
  if (x instanceof Uint8Array) return x;
  if (x instanceof ArrayBuffer) return new Uint8Array(x);
  return new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
}

function hasBinary(obj, toJSON) {
  if (!obj || typeof obj !== 'object') return false;
  if (Array.isArray(obj)) {
    for (let i = 0; i < obj.length; i++) if (hasBinary(obj[i])) return true;
    return false;
  }
  if (isBinary(obj)) return true;
  if (typeof obj.toJSON === 'function' && !toJSON) return hasBinary(obj.toJSON(), true);
  for (const key in obj) {
    if (Object.prototype.hasOwnProperty.call(obj, key) && hasBinary(obj[key])) return true;
  }
  return false;
}

function deconstruct(data, buffers) {
  if (!data || typeof data !== 'object') return data;
  if (isBinary(data)) {
    buffers.push(toBytes(data));
    return { _placeholder: true, num: buffers.length - 1 };
  }
  if (Array.isArray(data)) return data.map((d) => deconstruct(d, buffers));
  if (data instanceof Date) return data;
  const out = {};
  for (const key in data) {
    if (Object.prototype.hasOwnProperty.call(data, key)) out[key] = deconstruct(data[key], buffers);
  }
  return out;
}

/** args (an array) -> [json, attachments | null] */
function encode(args) {
  for (let i = 0; i < args.length; i++) {
    if (hasBinary(args[i])) {
      const buffers = [];
      const data = args.map((a) => deconstruct(a, buffers));
      return [JSON.stringify(data), buffers];
    }
  }
  return [JSON.stringify(args), null];
}

function reconstruct(data, buffers) {
  if (!data || typeof data !== 'object') return data;
  if (Array.isArray(data)) {
    for (let i = 0; i < data.length; i++) data[i] = reconstruct(data[i], buffers);
    return data;
  }
  if (data._placeholder === true && typeof data.num === 'number') {
    return data.num >= 0 && data.num < buffers.length ? buffers[data.num] : undefined;
  }
  for (const key in data) {
    if (Object.prototype.hasOwnProperty.call(data, key)) data[key] = reconstruct(data[key], buffers);
  }
  return data;
}

/** [json, attachments | null] -> args (an array) */
function decode(json, buffers) {
  const args = JSON.parse(json);
  if (!Array.isArray(args)) return [];
  return buffers ? reconstruct(args, buffers) : args;
}

// ---------- helpers ----------

function hostOf(remote) {
  if (!remote) return '';
  if (remote.startsWith('[')) return remote.slice(1, remote.indexOf(']'));
  const i = remote.lastIndexOf(':');
  return i > 0 ? remote.slice(0, i) : remote;
}

function queryOf(url) {
  const q = {};
  const i = url ? url.indexOf('?') : -1;
  if (i >= 0) for (const [k, v] of new URLSearchParams(url.slice(i + 1))) q[k] = v;
  return q;
}

function makeHandshake(info, secure = false) {
  const headers = info.headers || {};
  return {
    headers,
    time: new Date().toString(),
    address: hostOf(info.remote_address),
    xdomain: !!headers.origin,
    secure,
    issued: Date.now(),
    url: info.url || '',
    query: info.query || queryOf(info.url),
    auth: info.auth && typeof info.auth === 'object' ? info.auth : {},
  };
}

/** A JSON object the hub sent (an auth, headers); {} for anything else. */
function jsonObject(text) {
  try {
    const v = JSON.parse(text);
    return v && typeof v === 'object' ? v : {};
  } catch {
    return {};
  }
}

function normalizeNamespace(name) {
  if (typeof name !== 'string') throw new TypeError('wshub: a namespace is a string, a RegExp or a function');
  return name.startsWith('/') ? name : `/${name}`;
}

function normalizePath(p) {
  let s = String(p);
  if (!s.startsWith('/')) s = `/${s}`;
  if (!s.endsWith('/')) s = `${s}/`;
  return s;
}

/**
 * The Socket.IO admin UI on /admin: `{ username, password, readOnly, uiDir }`
 * (the server side is wshub's; `uiDir` serves the npm package's page under /admin/).
 */
function adminUi(o) {
  if (o === undefined || o === null || o === false) return {};
  if (typeof o !== 'object' || typeof o.username !== 'string' || typeof o.password !== 'string') {
    throw new TypeError('wshub: adminUi takes { username, password, readOnly?, uiDir? }');
  }
  return { adminUsername: o.username, adminPassword: o.password, adminReadOnly: !!o.readOnly, adminUiDir: o.uiDir };
}

/** A list option as the C config takes it: one comma-separated string. */
function stringList(list, what) {
  if (list === undefined || list === null) return undefined;
  if (typeof list === 'string') return list;
  if (Array.isArray(list) && list.every((o) => typeof o === 'string')) return list.join(',');
  throw new TypeError(`wshub: ${what} must be a string or an array of strings`);
}

function corsOrigins(cors) {
  if (cors === undefined || cors === null || cors === false) return undefined;
  if (cors === true) return '*';
  const origin = typeof cors === 'object' && !Array.isArray(cors) ? cors.origin : cors;
  if (origin === undefined || origin === true || origin === '*') return '*';
  if (origin === false) return undefined;
  if (typeof origin === 'string') return origin;
  if (Array.isArray(origin) && origin.every((o) => typeof o === 'string')) return origin.join(',');
  throw new TypeError('wshub: cors.origin must be "*", true, a string or an array of strings');
}

/** Socket.IO's connectionStateRecovery option: {maxDisconnectionDuration (ms, default 2 min), skipMiddlewares (default true)}. */
function recoveryConfig(csr) {
  if (!csr) return {};
  const ms = csr.maxDisconnectionDuration === undefined ? 2 * 60 * 1000 : Number(csr.maxDisconnectionDuration);
  if (!Number.isFinite(ms) || ms < 1 || ms > 0xffffffff) {
    throw new RangeError('wshub: connectionStateRecovery.maxDisconnectionDuration must be 1..4294967295 ms');
  }
  return { recoveryMs: Math.floor(ms), recoverySkipGuards: csr.skipMiddlewares !== false };
}

/** cors.methods / cors.allowedHeaders (an array or a comma-separated string) as one string. */
function corsList(cors, key) {
  const v = cors && typeof cors === 'object' && !Array.isArray(cors) ? cors[key] : undefined;
  if (v === undefined || v === null) return undefined;
  const list = Array.isArray(v) ? v : String(v).split(',');
  return list.map((x) => String(x).trim()).filter(Boolean).join(',');
}

function clientBundleDir() {
  try {
    return path.join(path.dirname(require.resolve('socket.io-client/package.json')), 'dist');
  } catch {
    return undefined;
  }
}

/** A broadcast ack's timeout: the error carries what did come back, as socket.io's does. */
function timeoutError(responses) {
  const err = new Error('operation has timed out');
  err.responses = responses;
  return err;
}

function toRoomList(rooms) {
  return (Array.isArray(rooms) ? rooms : [rooms]).map(String);
}

// ---------- a small listener registry (Socket's own events) ----------

class Listeners {
  // Each list is replaced, never changed in place, so take() can hand out
  // the list itself (no copy per event): a listener added or removed while
  // the list is being called takes effect from the next event.
  constructor() {
    this.map = new Map();
  }
  add(event, fn, once, prepend) {
    if (typeof fn !== 'function') throw new TypeError('wshub: a listener must be a function');
    const list = this.map.get(event) || [];
    const entry = { fn, once };
    this.map.set(event, prepend ? [entry, ...list] : [...list, entry]);
  }
  remove(event, fn) {
    const list = this.map.get(event);
    if (!list) return;
    const i = list.findIndex((e) => e.fn === fn);
    if (i < 0) return;
    const rest = list.filter((_, j) => j !== i);
    if (rest.length) this.map.set(event, rest);
    else this.map.delete(event);
  }
  /** The entries to call now (once-entries are removed). */
  take(event) {
    const list = this.map.get(event);
    if (!list) return null;
    for (let i = 0; i < list.length; i++) {
      if (list[i].once) {
        const rest = list.filter((e) => !e.once);
        if (rest.length) this.map.set(event, rest);
        else this.map.delete(event);
        break;
      }
    }
    return list;
  }
}

// ---------- targets ----------

class BroadcastOperator {
  constructor(nsp, rooms = new Set(), exceptRooms = new Set(), exceptSocket = null, flags = {}) {
    this._nsp = nsp;
    this._rooms = rooms;
    this._except = exceptRooms;
    this._exceptSocket = exceptSocket;
    this._flags = flags;
  }

  /** The rooms reached (a copy-on-write Set: every method returns a new operator). */
  get rooms() {
    return this._rooms;
  }
  get exceptRooms() {
    return this._except;
  }
  get flags() {
    return this._flags;
  }

  to(room) {
    const rooms = new Set(this._rooms);
    for (const r of toRoomList(room)) rooms.add(r);
    return new BroadcastOperator(this._nsp, rooms, this._except, this._exceptSocket, this._flags);
  }

  in(room) {
    return this.to(room);
  }

  except(room) {
    const except = new Set(this._except);
    for (const r of toRoomList(room)) except.add(r);
    return new BroadcastOperator(this._nsp, this._rooms, except, this._exceptSocket, this._flags);
  }

  timeout(ms) {
    return new BroadcastOperator(this._nsp, this._rooms, this._except, this._exceptSocket, { ...this._flags, timeout: ms });
  }

  /** Volatile emits: a client whose outbound queue is full (a slow consumer) misses them and stays connected. */
  get volatile() {
    return new BroadcastOperator(this._nsp, this._rooms, this._except, this._exceptSocket, { ...this._flags, volatile: true });
  }

  /**
   * This process's sockets only. (Flagged as in socket.io; with `redisUrl`
   * the binding does not yet keep such an emit off the cluster.)
   */
  get local() {
    return new BroadcastOperator(this._nsp, this._rooms, this._except, this._exceptSocket, { ...this._flags, local: true });
  }
  /**
   * Whether the emits may be deflated, on connections that negotiated
   * permessage-deflate (true by default); false sends them as they are.
   */
  compress(compress) {
    return new BroadcastOperator(this._nsp, this._rooms, this._except, this._exceptSocket, { ...this._flags, compress });
  }

  _target() {
    return [
      this._nsp.name,
      this._rooms.size ? [...this._rooms] : null,
      this._except.size ? [...this._except] : null,
      this._exceptSocket,
    ];
  }

  /** The same operator on another namespace (a parent's child). */
  _on(nsp) {
    return new BroadcastOperator(nsp, this._rooms, this._except, this._exceptSocket, this._flags);
  }

  emit(event, ...args) {
    if (RESERVED.has(event)) throw new Error(`"${event}" is a reserved event name`);
    if (this._nsp.children) {
      for (const child of this._nsp.children) this._on(child).emit(event, ...args);
      return true;
    }
    const server = this._nsp.server;
    if (typeof args[args.length - 1] === 'function') {
      const cb = args.pop();
      this._emitWithAckAll(String(event), args, cb);
      return true;
    }
    const h = server._h;
    if (!h) return true;
    const [ns, rooms, except, exceptSocket] = this._target();
    const key = `${ns}\0${rooms}\0${except}\0${exceptSocket}`;
    if (server._sending(key) && this._flags.volatile) return true; // still sending to them: dropped
    if (server._outgoingWatched.size) {
      // onAnyOutgoing listeners of the receivers here see the broadcast too (only looked up when some exist).
      for (const s of this._sockets()) {
        for (const fn of s._anyOutgoing.slice()) server._call(fn, s, [String(event), ...args]);
      }
    }
    const [json, atts] = encode(args);
    const { volatile, compress } = this._flags;
    check(native.emit(h, ns, rooms, except, exceptSocket, String(event), json, atts, !!volatile, compress === false), 'emit');
    return true;
  }

  _emitWithAckAll(event, args, cb) {
    const server = this._nsp.server;
    const ids = this._ids();
    const responses = [];
    let waiting = ids.length;
    let timedOut = false;
    if (!waiting) {
      process.nextTick(() => server._call(cb, this._nsp, [null, responses]));
      return;
    }
    const encoded = encode(args);
    const timeout = this._flags.timeout;
    const one = (err, response) => {
      if (err) {
        if (err.message === 'operation has timed out') timedOut = true;
      } else {
        responses.push(response);
      }
      if (--waiting === 0) {
        server._call(cb, this._nsp, [timedOut ? timeoutError(responses) : null, responses]);
      }
    };
    for (const id of ids) server._emitWithAck(this._nsp.name, id, event, encoded, timeout, one);
  }

  emitWithAck(event, ...args) {
    return new Promise((resolve, reject) => {
      args.push((err, responses) => (err ? reject(err) : resolve(responses)));
      this.emit(event, ...args);
    });
  }

  send(...args) {
    return this.emit('message', ...args);
  }

  write(...args) {
    return this.emit('message', ...args);
  }

  _ids() {
    const h = this._nsp.server._h;
    if (!h) return [];
    if (this._nsp.children) return [...this._nsp.children].flatMap((child) => this._on(child)._ids());
    const [ns, rooms, except, exceptSocket] = this._target();
    const json = native.sockets(h, ns, rooms, except, exceptSocket);
    return json ? JSON.parse(json) : [];
  }

  _sockets() {
    if (this._nsp.children) return [...this._nsp.children].flatMap((child) => this._on(child)._sockets());
    const out = [];
    for (const id of this._ids()) {
      const s = this._nsp.sockets.get(id);
      if (s) out.push(s);
    }
    return out;
  }

  /** The matching sockets (Socket objects: this process is the whole cluster). */
  fetchSockets() {
    return Promise.resolve(this._sockets());
  }

  allSockets() {
    return Promise.resolve(new Set(this._ids()));
  }

  socketsJoin(room) {
    for (const s of this._sockets()) s.join(room);
  }

  socketsLeave(room) {
    for (const s of this._sockets()) for (const r of toRoomList(room)) s.leave(r);
  }

  disconnectSockets(close = false) {
    for (const s of this._sockets()) s.disconnect(close);
  }
}

/** The disconnect reasons after which a client may come back and recover (as in Socket.IO). */
const RECOVERABLE = new Set(['transport error', 'transport close', 'forced close', 'ping timeout',
  'server shutting down', 'forced server close']);

// ---------- Socket ----------

class Socket {
  constructor(nsp, id, handshake) {
    this.nsp = nsp;
    this.id = id;
    this._handle = 0; // set by _attach
    this.handshake = handshake;
    this.data = {};
    /** True when this socket took over the session of a client that came back (connectionStateRecovery). */
    this.recovered = false;
    this.connected = false;
    this.rooms = new Set(id ? [id] : []);
    this.request = { headers: handshake.headers, url: handshake.url, method: 'GET' };
    this._listeners = new Listeners();
    this._any = [];
    this._anyOutgoing = [];
    this._fns = [];
    this._flags = NO_FLAGS;
  }

  /** Sets a flag of the next emit (its own object, made only when a flag is set). */
  _flag(name, value) {
    if (this._flags === NO_FLAGS) this._flags = {};
    this._flags[name] = value;
    return this;
  }

  get server() {
    return this.nsp.server;
  }

  get disconnected() {
    return !this.connected;
  }

  /** Raw WebSocket clients (endpoint `rawPath`) are sockets of "/" too. */
  get raw() {
    return !!this._raw;
  }

  // --- listeners of client events ---

  on(event, fn) {
    this._listeners.add(String(event), fn, false, false);
    return this;
  }
  addListener(event, fn) {
    return this.on(event, fn);
  }
  once(event, fn) {
    this._listeners.add(String(event), fn, true, false);
    return this;
  }
  prependListener(event, fn) {
    this._listeners.add(String(event), fn, false, true);
    return this;
  }
  prependOnceListener(event, fn) {
    this._listeners.add(String(event), fn, true, true);
    return this;
  }
  off(event, fn) {
    this._listeners.remove(String(event), fn);
    return this;
  }
  removeListener(event, fn) {
    return this.off(event, fn);
  }
  removeAllListeners(event) {
    if (event === undefined) this._listeners.map.clear();
    else this._listeners.map.delete(String(event));
    return this;
  }
  listeners(event) {
    return (this._listeners.map.get(String(event)) || []).map((e) => e.fn);
  }
  listenerCount(event) {
    return (this._listeners.map.get(String(event)) || []).length;
  }
  eventNames() {
    return [...this._listeners.map.keys()];
  }

  onAny(fn) {
    this._any.push(fn);
    return this;
  }
  prependAny(fn) {
    this._any.unshift(fn);
    return this;
  }
  offAny(fn) {
    if (!fn) this._any = [];
    else this._any = this._any.filter((f) => f !== fn);
    return this;
  }
  listenersAny() {
    return this._any.slice();
  }

  onAnyOutgoing(fn) {
    this._anyOutgoing.push(fn);
    this.nsp.server._outgoingWatched.add(this);
    return this;
  }
  prependAnyOutgoing(fn) {
    this._anyOutgoing.unshift(fn);
    this.nsp.server._outgoingWatched.add(this);
    return this;
  }
  offAnyOutgoing(fn) {
    if (!fn) this._anyOutgoing = [];
    else this._anyOutgoing = this._anyOutgoing.filter((f) => f !== fn);
    if (!this._anyOutgoing.length) this.nsp.server._outgoingWatched.delete(this);
    return this;
  }
  listenersAnyOutgoing() {
    return this._anyOutgoing.slice();
  }

  /** Middleware for incoming packets: fn([event, ...args], next). */
  use(fn) {
    this._fns.push(fn);
    return this;
  }

  // --- emitting ---

  emit(event, ...args) {
    if (RESERVED.has(event)) throw new Error(`"${event}" is a reserved event name`);
    const flags = this._flags;
    this._flags = NO_FLAGS;
    const server = this.nsp.server;
    event = String(event);
    if (this._anyOutgoing.length) {
      for (const fn of this._anyOutgoing.slice()) server._call(fn, this, [event, ...args]);
    }
    if (typeof args[args.length - 1] === 'function') {
      const cb = args.pop();
      const withErr = flags.timeout !== undefined;
      server._emitWithAck(this.nsp.name, this.id, event, encode(args), flags.timeout, (err, ...reply) =>
        withErr ? server._call(cb, this, [err, ...reply]) : err ? undefined : server._call(cb, this, reply),
      );
      return true;
    }
    const h = server._h;
    if (server._sending(this) && flags.volatile) return true; // still sending to it: dropped
    // With connection state recovery, an emit to a socket that is away is kept for its client.
    if (h && (this.connected || server._recoveryMs)) {
      const [json, atts] = encode(args);
      if (flags.volatile || flags.compress === false) {
        // A socket id is a room of one.
        check(native.emit(h, this.nsp.name, [this.id], null, null, event, json, atts, !!flags.volatile, flags.compress === false), 'emit');
      } else {
        // Found by its handle (one number) while connected; by namespace and id
        // otherwise, which also keeps the event for a client that is away.
        let st = this._handle && this.connected ? native.emitToSocket(h, this._handle, event, json, atts) : NOT_FOUND;
        if (st === NOT_FOUND) st = native.emitTo(h, this.nsp.name, this.id, event, json, atts);
        check(st, 'emit');
      }
    }
    return true;
  }

  emitWithAck(event, ...args) {
    const withErr = this._flags.timeout !== undefined;
    return new Promise((resolve, reject) => {
      args.push(withErr ? (err, response) => (err ? reject(err) : resolve(response)) : (response) => resolve(response));
      this.emit(event, ...args);
    });
  }

  send(...args) {
    this.emit('message', ...args);
    return this;
  }

  write(...args) {
    return this.send(...args);
  }

  /** The next emit waits at most `ms` for the client's ack: callback(err, ...reply). */
  timeout(ms) {
    return this._flag('timeout', ms);
  }

  /** The next emit is volatile: dropped, not queued, while this client's outbound queue is full. */
  get volatile() {
    return this._flag('volatile', true);
  }

  /** The next emit may be deflated (true, the default) or goes as it is (false); see BroadcastOperator's. */
  compress(compress) {
    return this._flag('compress', compress);
  }

  /** This process's other sockets of the namespace. */
  get local() {
    return this.broadcast.local;
  }

  get broadcast() {
    return new BroadcastOperator(this.nsp, new Set(), new Set(), this.id);
  }

  to(room) {
    return this.broadcast.to(room);
  }

  in(room) {
    return this.to(room);
  }

  except(room) {
    return this.broadcast.except(room);
  }

  // --- rooms and life ---

  join(rooms) {
    const h = this.nsp.server._h;
    for (const room of toRoomList(rooms)) {
      if (h && this.connected) check(native.join(h, this.nsp.name, this.id, room), 'join');
      this.rooms.add(room);
    }
  }

  /**
   * Leaves every room, as socket.io's does: `rooms` is empty after. (Its id
   * stays an address: the hub sends to a socket by id, not through a room.)
   */
  leaveAll() {
    for (const room of [...this.rooms]) this.leave(room);
  }

  leave(room) {
    const h = this.nsp.server._h;
    room = String(room);
    if (h && this.connected) check(native.leave(h, this.nsp.name, this.id, room), 'leave');
    this.rooms.delete(room);
  }

  /** Disconnects from this namespace, or with `close` closes the whole connection. */
  disconnect(close = false) {
    const h = this.nsp.server._h;
    if (h && this.connected) check(native.disconnect(h, this.nsp.name, this.id, !!close), 'disconnect');
    return this;
  }

  // --- from the hub ---

  _attach(id, info) {
    this.id = id;
    this._handle = (info && info.handle) || 0; // the hub's number for it (0: unknown), see Server._byHandle
    if (info) {
      this.handshake.headers = info.headers || {};
      this.handshake.query = info.query || this.handshake.query;
      this.handshake.xdomain = !!this.handshake.headers.origin;
      this.request.headers = this.handshake.headers;
      this._raw = !!info.raw;
      this._transport = info.transport;
    }
    const early = [...this.rooms].filter((r) => r !== id); // joined inside a middleware
    this.rooms = new Set(info && Array.isArray(info.rooms) ? info.rooms : [id]);
    this.connected = true;
    if (early.length) this.join(early);
  }

  _emitReserved(event, ...args) {
    const list = this._listeners.take(event);
    if (!list) return false;
    for (const e of list) this.nsp.server._call(e.fn, this, args);
    return true;
  }

  _onevent(name, args, ackId) {
    if (ackId >= 0) args.push(this._ackFn(ackId));
    if (!this._fns.length) return this._dispatchEvent(name, args);
    const packet = [name, ...args];
    const fns = this._fns.slice();
    let i = 0;
    const step = (err) => {
      if (err) {
        if (!this._emitReserved('error', err)) this.nsp.server._reportError(err);
        return;
      }
      if (!this.connected) return;
      if (i >= fns.length) return this._dispatchEvent(String(packet[0]), packet.slice(1));
      const fn = fns[i++];
      let called = false;
      try {
        fn(packet, (e) => {
          if (!called) {
            called = true;
            step(e);
          }
        });
      } catch (e) {
        called = true;
        step(e);
      }
    };
    step(null);
  }

  _dispatchEvent(name, args) {
    const server = this.nsp.server;
    if (this._any.length) for (const fn of this._any.slice()) server._call(fn, this, [name, ...args]);
    if (RESERVED_IN.has(name)) return; // a client cannot fire the server's own events
    const list = this._listeners.take(name);
    if (list) for (const e of list) server._call(e.fn, this, args);
  }

  _ackFn(ackId) {
    let sent = false;
    return (...reply) => {
      if (sent) return;
      sent = true;
      const h = this.nsp.server._h;
      if (!h) return;
      const [json, atts] = encode(reply);
      check(native.ack(h, this.nsp.name, this.id, ackId, json, atts), 'ack');
    };
  }

  _onclose(reason) {
    if (!this.connected) return;
    this._emitReserved('disconnecting', reason);
    this.connected = false;
    this.nsp.sockets.delete(this.id);
    this.nsp.server._byHandle.delete(this._handle);
    this.nsp.server._outgoingWatched.delete(this);
    this.nsp._keepData(this, reason);
    this.rooms = new Set();
    this._emitReserved('disconnect', reason);
    if (CONNECTION_REASONS.has(reason)) {
      this._connClosed = true;
      if (this._conn) this._conn.emit('close', reason); // no Connection is made for a socket nobody asked
    }
  }

  /** The client's connection (socket.io's Engine.IO socket), as far as the binding sees it. */
  get conn() {
    if (!this._conn) this._conn = new Connection(this);
    return this._conn;
  }

  /** What socket.io calls the client: the connection and the request it opened with. */
  get client() {
    if (!this._client) this._client = { conn: this.conn, request: this.request };
    return this._client;
  }
}

// The flags of a packet report (see addon.c's on_packets).
const PACKET_BINARY = 1;
const PACKET_COMPRESS = 2;
const PACKET_SHARED = 4;
const PACKET_WEBSOCKET = 8;
const PACKET_DEFLATED = 16;
const PACKET_DIGITS = { open: '0', close: '1', ping: '2', pong: '3', message: '4', upgrade: '5', noop: '6' };

/** An unmasked, final text frame of `payload` (RFC 6455 5.2), as [header, payload]. */
function webSocketFrame(payload) {
  const n = payload.length;
  let header;
  if (n < 126) {
    header = Buffer.from([0x81, n]);
  } else if (n < 65536) {
    header = Buffer.from([0x81, 126, n >> 8, n & 255]);
  } else {
    header = Buffer.alloc(10);
    header[0] = 0x81;
    header[1] = 127;
    header.writeBigUInt64BE(BigInt(n), 2);
  }
  return [header, payload];
}

// Reasons that end the whole connection, not only this namespace's socket.
const CONNECTION_REASONS = new Set([
  'transport close', 'transport error', 'ping timeout', 'parse error', 'forced close', 'server shutting down',
]);

/**
 * A socket's connection: the request it opened with, `readyState`
 * ("open", then "closed"), `close()`, and a 'close' event with the reason.
 * The hub keeps the transports; their packets are not seen here.
 */
class Connection extends EventEmitter {
  constructor(socket) {
    super();
    this._socket = socket;
    // 'packetCreate' listeners make the hub report this connection's packets; none, it stops.
    this.on('newListener', (event) => {
      if (event === 'packetCreate' && !this.listenerCount('packetCreate')) this._watch(true);
    });
    this.on('removeListener', (event) => {
      if (event === 'packetCreate' && !this.listenerCount('packetCreate')) this._watch(false);
    });
  }
  _watch(on) {
    const s = this._socket;
    const h = s.nsp.server._h;
    if (h && s.connected) native.watchPackets(h, s.nsp.name, s.id, on);
  }
  get readyState() {
    return this._socket._connClosed ? 'closed' : 'open';
  }
  /** What carries the connection now ({ name: 'polling' | 'websocket' }); 'upgrade' fires when it changes. */
  get transport() {
    return { name: this._socket._transport || 'polling' };
  }
  get request() {
    return this._socket.request;
  }
  /** Closes the connection, every namespace of it. */
  close() {
    this._socket.disconnect(true);
    return this;
  }
}

// ---------- Namespace ----------

class Namespace extends EventEmitter {
  constructor(server, name) {
    super();
    this.name = name;
    this.server = server;
    /** @type {Map<string, Socket>} */
    this.sockets = new Map();
    this._fns = [];
    this._registered = false;
    this._guarded = false;
    /** @type {Map<string, Socket>} sockets in the middlewares, or let in and waiting for their connection */
    this._preConnectSockets = new Map();
    this._kept = new Map(); // id -> { data, t }: socket.data of sockets that may be recovered
  }

  /** Keeps socket.data of a socket whose client may come back (connectionStateRecovery). */
  _keepData(socket, reason) {
    const ms = this.server._recoveryMs;
    if (!ms || !RECOVERABLE.has(reason)) return;
    const now = Date.now();
    for (const [id, k] of this._kept) if (now - k.t > ms) this._kept.delete(id);
    this._kept.set(socket.id, { data: socket.data, t: now });
  }

  /** Gives a recovered socket the data its session had (what a middleware set since wins). */
  _restoreData(socket) {
    const kept = this._kept.get(socket.id);
    this._kept.delete(socket.id);
    if (kept) socket.data = Object.assign(kept.data, socket.data);
  }

  _register() {
    const h = this.server._h;
    if (!h || this.server._closing) return;
    if (!this._registered) {
      const st = native.registerNamespace(h, this.name);
      if (st !== OK) throw statusError(st, `namespace ${this.name}`);
      this._registered = true;
    }
    if (this._fns.length && !this._guarded) {
      const st = native.setGuard(h, this.name);
      if (st !== OK) throw statusError(st, `middleware of ${this.name}`);
      this._guarded = true;
    }
  }

  /** Connection middleware: fn(socket, next); next(err) refuses with err.message (connect_error). */
  use(fn) {
    if (typeof fn !== 'function') throw new TypeError('wshub: middleware must be a function');
    this._fns.push(fn);
    this._register();
    return this;
  }

  _emitReserved(event, ...args) {
    for (const fn of this.rawListeners(event)) this.server._call(fn, this, args);
  }

  _op() {
    return new BroadcastOperator(this);
  }

  to(room) {
    return this._op().to(room);
  }
  in(room) {
    return this._op().to(room);
  }
  except(room) {
    return this._op().except(room);
  }
  timeout(ms) {
    return this._op().timeout(ms);
  }
  get volatile() {
    return this._op().volatile;
  }
  get local() {
    return this._op().local;
  }
  compress(compress) {
    return this._op().compress(compress);
  }

  /** Emits to every socket of the namespace (EventEmitter's emit is not used for that). */
  emit(event, ...args) {
    return this._op().emit(event, ...args);
  }
  emitWithAck(event, ...args) {
    return this._op().emitWithAck(event, ...args);
  }
  send(...args) {
    this._op().emit('message', ...args);
    return this;
  }
  write(...args) {
    return this.send(...args);
  }
  fetchSockets() {
    return this._op().fetchSockets();
  }
  allSockets() {
    return this._op().allSockets();
  }
  socketsJoin(room) {
    return this._op().socketsJoin(room);
  }
  socketsLeave(room) {
    return this._op().socketsLeave(room);
  }
  disconnectSockets(close = false) {
    return this._op().disconnectSockets(close);
  }
  /** One process is the whole cluster: there is no other server to reach. */
  serverSideEmit() {
    return true;
  }

  /** Room membership as Socket.IO's in-memory adapter shows it (rooms: room -> ids, sids: id -> rooms). */
  get adapter() {
    const rooms = new Map();
    const sids = new Map();
    for (const [id, s] of this.sockets) {
      sids.set(id, new Set(s.rooms));
      for (const r of s.rooms) {
        if (!rooms.has(r)) rooms.set(r, new Set());
        rooms.get(r).add(id);
      }
    }
    return { nsp: this, rooms, sids };
  }

  _runMiddleware(socket, done) {
    const fns = this._fns.slice();
    let i = 0;
    const step = (err) => {
      if (err) return done(err);
      if (i >= fns.length) return done(null);
      const fn = fns[i++];
      let called = false;
      const next = (e) => {
        if (called) return;
        called = true;
        step(e);
      };
      try {
        fn(socket, next);
      } catch (e) {
        this.server._reportError(e);
        next(e);
      }
    };
    step(null);
  }
}

let parentCount = 0;

/**
 * io.of(regex) / io.of((name, auth, next) => next(err, allow)): the
 * namespaces made on demand for the names it accepts (Socket.IO's
 * ParentNamespace). Its middlewares and 'connect'/'connection' listeners
 * are copied to each child as it is made; emit() reaches every child. It
 * is not a namespace of the hub itself: clients join its children.
 */
class ParentNamespace extends Namespace {
  constructor(server) {
    super(server, `/_${parentCount++}`);
    /** @type {Set<Namespace>} */
    this.children = new Set();
  }

  _register() {}

  _createChild(name) {
    const child = new Namespace(this.server, name);
    child._fns = this._fns.slice();
    for (const ev of ['connect', 'connection']) for (const fn of this.listeners(ev)) child.on(ev, fn);
    child._parent = this;
    this.children.add(child);
    this.server._nsps.set(name, child);
    child._register();
    this.server.sockets._emitReserved('new_namespace', child);
    return child;
  }

  fetchSockets() {
    throw new Error('fetchSockets() is not supported on parent namespaces');
  }
}

// ---------- Server ----------

class Server {
  /**
   * new Server(opts) / new Server(port, opts): listens at once when a port is given
   * (0 picks a free one: see io.port); otherwise call io.listen(port).
   * new Server(httpServer, opts): attaches to the app's own http.Server (see io.attach).
   */
  constructor(port, opts) {
    let httpServer = null;
    if (isHttpServer(port)) {
      httpServer = port;
      port = undefined;
    } else if (port && typeof port === 'object') {
      opts = port;
      port = opts.port;
    }
    this._opts = { ...(opts || {}) };
    this._h = null;
    this._port = null;
    this._nsps = new Map();
    // Connected sockets by the hub's handle: an event names its socket by
    // that number, found here without a namespace and id lookup.
    this._byHandle = new Map();
    this._parentNsps = new Map(); // matcher (name, auth, next) -> ParentNamespace, in the order made
    this._parentsFromRegExp = new Map(); // RegExp -> ParentNamespace (io.of(name) adopts matching names)
    this._resolving = false; // the hub asks _onResolve about namespaces nobody made
    this._leaving = null; // ids of the sockets that leave in the batch being dispatched (see _dispatch)
    this._acks = new Map();
    this._ackSeq = 0;
    this._unref = false;
    this._closing = null; // the close() under way or done
    this._closed = false; // close() is done: listen() may start anew
    // The addon passes a batch as the arguments: the JSON of its events' args
    // (one array of their args arrays), then STRIDE per item.
    this._dispatchFn = (args, ...batch) => this._dispatch(args, batch);
    this._httpServer = null;
    this._host = null;
    this._busy = new Set(); // broadcast targets sent to in this tick (see _sending)
    this._tick = 0;
    this._recoveryMs = 0; // set by _config: connectionStateRecovery's duration, 0 when off
    this._tickArmed = false;
    this._outgoingWatched = new Set(); // sockets with onAnyOutgoing listeners
    this.sockets = this.of('/');
    if (httpServer) this.attach(httpServer);
    else if (port !== undefined && port !== null) this.listen(port);
  }

  /**
   * Marks `target` (a socket, or a broadcast's target) as sent to in this
   * tick; true if it already was. A volatile emit is dropped while its
   * target's connection is still sending, as with socket.io, whose transport
   * is not writable again until the next tick: a volatile emit right after
   * another emit to the same target, in the same tick, goes nowhere.
   */
  _sending(target) {
    if (!this._tickArmed) {
      this._tickArmed = true;
      setImmediate(() => {
        this._tick += 1;
        this._busy.clear();
        this._tickArmed = false;
      });
    }
    if (typeof target === 'string') {
      const busy = this._busy.has(target);
      this._busy.add(target);
      return busy;
    }
    // A socket keeps the tick it was last sent to (no set lookup on the emit path).
    const busy = target._sentTick === this._tick;
    target._sentTick = this._tick;
    return busy;
  }

  /** The bound port once listening (useful with port 0); an attached server's port. */
  get port() {
    if (this._httpServer) {
      const a = this._httpServer.address();
      return a && typeof a === 'object' ? a.port : null;
    }
    return this._port;
  }

  /** The http.Server this hub is attached to (undefined when it listens on its own). */
  get httpServer() {
    return this._httpServer || undefined;
  }

  address() {
    if (this._httpServer) return this._httpServer.address();
    return this._port === null ? null : { address: this._opts.host || '127.0.0.1', family: 'IPv4', port: this._port };
  }

  path(v) {
    if (v === undefined) return normalizePath(this._opts.path || '/socket.io');
    this._opts.path = v;
    return this;
  }

  serveClient(v) {
    if (v === undefined) return this._opts.serveClient !== false;
    this._opts.serveClient = v;
    return this;
  }

  _config(port) {
    const o = this._opts;
    const transports = o.transports || ['polling', 'websocket'];
    const recovery = recoveryConfig(o.connectionStateRecovery);
    this._recoveryMs = recovery.recoveryMs || 0; // how long socket.data of a socket that may come back is kept
    const cfg = {
      port: Number(port),
      host: o.host,
      path: this.path(),
      rawPath: o.rawPath,
      staticDir: o.staticDir,
      clientBundleDir: o.serveClient === false ? undefined : o.clientBundleDir || clientBundleDir(),
      corsOrigins: corsOrigins(o.cors),
      corsMethods: corsList(o.cors, 'methods'),
      corsAllowedHeaders: corsList(o.cors, 'allowedHeaders'),
      pingInterval: o.pingInterval,
      pingTimeout: o.pingTimeout,
      connectTimeout: o.connectTimeout,
      maxPayload: o.maxHttpBufferSize,
      maxQueuedFrames: o.maxQueuedFrames,
      maxPacketsPerPoll: o.maxPacketsPerPoll,
      maxConnections: o.maxConnections,
      workerThreads: o.workerThreads,
      allowPolling: transports.includes('polling'),
      allowWebsocket: transports.includes('websocket'),
      dropWhenFull: o.dropWhenFull,
      tlsCert: o.tlsCert,
      tlsKey: o.tlsKey,
      allowedOrigins: stringList(o.allowedOrigins, 'allowedOrigins'),
      redisUrl: o.redisUrl,
      cleanupEmptyChildNamespaces: o.cleanupEmptyChildNamespaces,
      allowEIO3: o.allowEIO3,
      redisCluster: o.redisCluster,
      redisStreams: o.redisStreams,
      redisStreamMaxLen: o.redisStreamMaxLen,
      metricsPath: o.metricsPath,
      metricsToken: o.metricsToken,
      metricsAllow: stringList(o.metricsAllow, 'metricsAllow'),
      ...adminUi(o.adminUi),
      ...recovery,
    };
    for (const k of Object.keys(cfg)) if (cfg[k] === undefined || cfg[k] === null) delete cfg[k];
    return cfg;
  }

  /**
   * Starts serving on `port` (0: any free port) on wshub's own HTTP listener
   * (the fastest path); given an http.Server instead, attaches to it.
   */
  listen(port, opts) {
    if (isHttpServer(port)) return this.attach(port, opts);
    if (typeof port === 'object' && port !== null) {
      throw new TypeError('wshub: listen takes a port or an http.Server');
    }
    this._create(opts);
    const port_ = Number(port === undefined ? 3000 : port);
    if (!Number.isInteger(port_) || port_ < 0 || port_ > 65535) throw new RangeError(`wshub: bad port ${port}`);
    this._h = native.create(this._config(port_), this._dispatchFn);
    this._registerAll();
    this._port = native.start(this._h);
    if (this._unref) native.ref(this._h, false);
    return this;
  }

  /**
   * Serves Socket.IO on the app's own http.Server (express's, Fastify's
   * `fastify.server`, http.createServer's) on its port: the app's other routes
   * and upgrades stay the app's. Given a port, listens on it (as listen).
   * io.close() later leaves the server open and gives its listeners back.
   */
  attach(server, opts) {
    if (!isHttpServer(server)) return this.listen(server, opts);
    this._create(opts);
    this._h = native.create(this._config(0), this._dispatchFn);
    this._registerAll();
    native.startHosted(this._h);
    if (this._unref) native.ref(this._h, false);
    this._httpServer = server;
    this._host = attach(native, this._h, server, {
      maxBody: this._opts.maxHttpBufferSize || 1e6,
      onError: (err) => this._reportError(err),
    });
    return this;
  }

  _create(opts) {
    if (this._closing && !this._closed) throw new Error('wshub: the server is closing');
    if (this._closed) this._reopen();
    if (this._h) throw new Error('wshub: the server is already listening');
    if (opts) Object.assign(this._opts, opts);
  }

  /** After close(), listen() or attach() starts a new hub with the same namespaces and handlers. */
  _reopen() {
    this._h = null;
    this._closing = null;
    this._closed = false;
    this._port = null;
    this._host = null;
    this._httpServer = null;
    this._resolving = false;
    for (const nsp of this._nsps.values()) nsp._registered = nsp._guarded = false;
  }

  /** The Engine.IO side as socket.io shows it: `opts`, the options in effect. */
  get engine() {
    const o = this._opts;
    return {
      opts: {
        path: this.path(),
        pingInterval: o.pingInterval !== undefined ? o.pingInterval : 25000,
        pingTimeout: o.pingTimeout !== undefined ? o.pingTimeout : 20000,
        connectTimeout: o.connectTimeout !== undefined ? o.connectTimeout : 45000,
        maxHttpBufferSize: o.maxHttpBufferSize !== undefined ? o.maxHttpBufferSize : 1e6,
        transports: o.transports || ['polling', 'websocket'],
        cors: o.cors,
      },
    };
  }

  get eio() {
    return this.engine;
  }

  /**
   * The namespace `name`; given a RegExp or a function
   * (name, auth, next) => next(err, allow), a ParentNamespace whose
   * children are made when a client names a namespace it accepts.
   */
  of(name, fn) {
    if (name instanceof RegExp || typeof name === 'function') {
      const parent = new ParentNamespace(this);
      const regex = name instanceof RegExp ? name : null;
      const match = regex ? (n, auth, next) => next(null, regex.test(n)) : name;
      this._parentNsps.set(match, parent);
      if (regex) this._parentsFromRegExp.set(regex, parent);
      this._resolve();
      if (fn) parent.on('connection', fn);
      return parent;
    }
    name = normalizeNamespace(name);
    let nsp = this._nsps.get(name);
    if (!nsp) {
      for (const [regex, parent] of this._parentsFromRegExp) {
        if (regex.test(name)) {
          nsp = parent._createChild(name);
          break;
        }
      }
    }
    if (!nsp) {
      nsp = new Namespace(this, name);
      this._nsps.set(name, nsp);
      nsp._register();
      if (name !== '/') this.sockets._emitReserved('new_namespace', nsp);
    }
    if (fn) nsp.on('connection', fn);
    return nsp;
  }

  /** Gives a new hub what the Server has: namespaces, dynamic ones, allowRequest. */
  _registerAll() {
    for (const nsp of this._nsps.values()) nsp._register();
    this._resolve();
    if (typeof this._opts.allowRequest === 'function') check(native.setRequestGuard(this._h), 'allowRequest');
  }

  /** Has the running hub ask _onResolve about namespaces nobody made, once there are parents. */
  _resolve() {
    if (this._resolving || !this._h || this._closing || !this._parentNsps.size) return;
    check(native.setResolver(this._h), 'dynamic namespaces');
    this._resolving = true;
  }

  /** A client names a namespace nobody made: the parents decide, in the order they were made. */
  _onResolve(name, requestId, authJson) {
    const answer = (ok) => {
      if (this._h && !this._closing) native.decide(this._h, requestId, ok, ok ? null : 'Invalid namespace');
    };
    if (this._nsps.has(name)) return answer(true); // made meanwhile, by io.of or for another client
    const auth = jsonObject(authJson);
    const parents = [...this._parentNsps];
    let i = 0;
    const next = () => {
      if (i >= parents.length) return answer(false);
      const [match, parent] = parents[i++];
      let called = false;
      const done = (err, allow) => {
        if (called) return;
        called = true;
        if (err || !allow) return next();
        if (!this._nsps.has(name)) parent._createChild(name);
        answer(true);
      };
      try {
        match(name, auth, done);
      } catch (err) {
        this._reportError(err);
        done(err);
      }
    };
    next();
  }

  /** The hub removed an empty child namespace (cleanupEmptyChildNamespaces). */
  _onRemoved(name) {
    const nsp = this._nsps.get(name);
    if (!nsp || !nsp._parent) return;
    this._nsps.delete(name);
    nsp._parent.children.delete(nsp);
  }

  use(fn) {
    this.sockets.use(fn);
    return this;
  }

  // The main namespace's methods, as Socket.IO's Server has them.
  to(room) {
    return this.sockets.to(room);
  }
  in(room) {
    return this.sockets.in(room);
  }
  except(room) {
    return this.sockets.except(room);
  }
  timeout(ms) {
    return this.sockets.timeout(ms);
  }
  get volatile() {
    return this.sockets.volatile;
  }
  get local() {
    return this.sockets.local;
  }
  compress(c) {
    return this.sockets.compress(c);
  }
  emit(event, ...args) {
    return this.sockets.emit(event, ...args);
  }
  emitWithAck(event, ...args) {
    return this.sockets.emitWithAck(event, ...args);
  }
  send(...args) {
    this.sockets.send(...args);
    return this;
  }
  write(...args) {
    return this.send(...args);
  }
  fetchSockets() {
    return this.sockets.fetchSockets();
  }
  allSockets() {
    return this.sockets.allSockets();
  }
  /**
   * The hub's metrics (the C ABI's `wshub_metrics`): connections by transport,
   * bytes, queue drops, slow consumers, cluster messages, and per namespace
   * sockets, rooms, pending acks, connects, refusals, disconnects by reason and
   * events both ways. null before listen() and after close(). Non-blocking.
   */
  metrics() {
    const json = this._h ? native.metrics(this._h) : null;
    return json ? JSON.parse(json) : null;
  }
  socketsJoin(room) {
    return this.sockets.socketsJoin(room);
  }
  socketsLeave(room) {
    return this.sockets.socketsLeave(room);
  }
  disconnectSockets(close = false) {
    return this.sockets.disconnectSockets(close);
  }
  serverSideEmit() {
    return true;
  }

  /** A running hub does not keep the process alive (it is stopped when the process exits). */
  unref() {
    this._unref = true;
    if (this._h) native.ref(this._h, false);
    return this;
  }

  ref() {
    this._unref = false;
    if (this._h) native.ref(this._h, true);
    return this;
  }

  /**
   * Closes every connection (sockets get 'disconnect' with "server shutting
   * down"), stops the hub's threads and lets the process exit. Resolves once
   * it is all done. `opts.grace` (ms, default 1000) bounds the flush of what is queued.
   */
  close(fn, opts) {
    if (typeof fn === 'object' && fn !== null) [fn, opts] = [undefined, fn];
    if (!this._closing) {
      const grace = opts && opts.grace !== undefined ? opts.grace : this._opts.closeGrace !== undefined ? this._opts.closeGrace : 1000;
      if (this._host) this._host.detach(); // the app's server stays open, as it was
      // As in socket.io, the sockets are gone at once: 'disconnect' fires now, not when the hub has stopped.
      for (const nsp of this._nsps.values()) for (const s of [...nsp.sockets.values()]) s._onclose('server shutting down');
      this._closing = new Promise((resolve) => {
        const h = this._h;
        if (!h) {
          this._closed = true;
          return resolve();
        }
        native.stop(h, grace, () => {
          try {
            native.drain(h, this._dispatchFn);
          } catch (err) {
            this._reportError(err);
          }
          for (const nsp of this._nsps.values()) {
            for (const s of [...nsp.sockets.values()]) s._onclose('server shutting down');
            nsp._preConnectSockets.clear();
          }
          const acks = [...this._acks.values()];
          this._acks.clear();
          for (const cb of acks) cb(new Error('socket has been disconnected'));
          this._closed = true;
          resolve();
        });
      });
    }
    if (typeof fn === 'function') this._closing.then(() => fn());
    return this._closing;
  }

  // --- EventEmitter methods act on the main namespace, as with Socket.IO ---
  on(event, fn) {
    this.sockets.on(event, fn);
    return this;
  }
  addListener(event, fn) {
    return this.on(event, fn);
  }
  once(event, fn) {
    this.sockets.once(event, fn);
    return this;
  }
  prependListener(event, fn) {
    this.sockets.prependListener(event, fn);
    return this;
  }
  prependOnceListener(event, fn) {
    this.sockets.prependOnceListener(event, fn);
    return this;
  }
  off(event, fn) {
    this.sockets.off(event, fn);
    return this;
  }
  removeListener(event, fn) {
    return this.off(event, fn);
  }
  removeAllListeners(event) {
    this.sockets.removeAllListeners(event);
    return this;
  }
  listeners(event) {
    return this.sockets.listeners(event);
  }
  rawListeners(event) {
    return this.sockets.rawListeners(event);
  }
  listenerCount(event) {
    return this.sockets.listenerCount(event);
  }
  eventNames() {
    return this.sockets.eventNames();
  }

  // --- internals ---

  /** Calls a user function; what it throws (or its promise rejects with) goes to 'error'. */
  _call(fn, self, args) {
    try {
      const r = fn.apply(self, args);
      if (r && typeof r.then === 'function') r.then(undefined, (err) => this._reportError(err));
    } catch (err) {
      this._reportError(err);
    }
  }

  _reportError(err) {
    const main = this.sockets;
    const listeners = main.rawListeners('error');
    if (!listeners.length) {
      console.error('wshub: an event handler threw:', err);
      return;
    }
    for (const fn of listeners) {
      try {
        fn.call(this, err);
      } catch (e) {
        console.error('wshub: an error listener threw:', e);
      }
    }
  }

  /**
   * Sends `event` to one socket with an ack; cb(err, ...reply) once: err is
   * an Error on timeout or disconnect. A caller without .timeout() ignores
   * err (a missing reply is never reported, as with Socket.IO).
   */
  _emitWithAck(ns, id, event, [json, atts], timeout, cb) {
    const h = this._h;
    const token = ++this._ackSeq;
    const st = h ? native.emitWithAck(h, ns, id, event, json, atts, timeout === undefined ? NO_TIMEOUT : timeout, token) : STOPPED;
    if (check(st, 'emit') === OK) this._acks.set(token, cb);
    else process.nextTick(() => cb(new Error('socket has been disconnected')));
  }

  _dispatch(argsJson, batch) {
    // socket.io handles an event on the tick after it arrives, and drops it if
    // its socket left meanwhile: an event followed, in the same batch, by its
    // socket's disconnect is dropped here alike.
    this._leaving = null;
    for (let i = 0; i < batch.length; i += STRIDE) {
      if (batch[i] === K_DISCONNECT) (this._leaving || (this._leaving = new Set())).add(batch[i + 2]);
    }
    // The hub checked each event's args, so this parses; if it did not, the events would be dropped.
    let args = null;
    if (argsJson !== undefined) {
      try {
        args = JSON.parse(argsJson);
      } catch (err) {
        this._reportError(err);
      }
    }
    for (let i = 0; i < batch.length; i += STRIDE) {
      try {
        switch (batch[i]) {
          case K_EVENT:
            if (args) this._onEvent(batch[i + 1], batch[i + 2], args[batch[i + 3]], batch[i + 4], batch[i + 5]);
            break;
          case K_CONNECT:
            this._onConnect(batch[i + 1], batch[i + 2]);
            break;
          case K_DISCONNECT:
            this._onDisconnect(batch[i + 1], batch[i + 2], batch[i + 3]);
            break;
          case K_GUARD:
            this._onGuard(batch[i + 1], batch[i + 2], batch[i + 3], batch[i + 4], batch[i + 5], batch[i + 6]);
            break;
          case K_RESOLVE:
            this._onResolve(batch[i + 1], batch[i + 2], batch[i + 3]);
            break;
          case K_REMOVED:
            this._onRemoved(batch[i + 1]);
            break;
          case K_UPGRADE:
            this._onUpgrade(batch[i + 1], batch[i + 2]);
            break;
          case K_ERROR:
            this._onClientError(batch[i + 1], batch[i + 2], batch[i + 3]);
            break;
          case K_ABANDONED:
            this._onAbandoned(batch[i + 1], batch[i + 2], batch[i + 3]);
            break;
          case K_PACKET:
            this._onPacket(batch[i + 1], batch[i + 2], batch[i + 3], batch[i + 4], batch[i + 5]);
            break;
          case K_ALLOW:
            this._onAllow(batch[i + 2], batch[i + 1], batch[i + 3], batch[i + 4]);
            break;
          case K_RESPONSE:
            if (this._host) this._host.respond(batch[i + 2], batch[i + 3], batch[i + 4], batch[i + 5]);
            break;
          case K_ACK:
            this._onAck(batch[i + 2], batch[i + 3], batch[i + 4], batch[i + 5]);
            break;
        }
      } catch (err) {
        this._reportError(err);
      }
    }
  }

  /** The connected socket `id` of namespace `ns`, if there is one. */
  _socketOf(ns, id) {
    const nsp = this._nsps.get(ns);
    return nsp && nsp.sockets.get(id);
  }

  _onEvent(handle, name, args, atts, ackId) {
    const socket = this._byHandle.get(handle);
    if (!socket || (this._leaving && this._leaving.has(socket.id)) || !Array.isArray(args)) return;
    socket._onevent(name, atts ? reconstruct(args, atts) : args, ackId);
  }

  _onConnect(ns, id) {
    const nsp = this._nsps.get(ns);
    if (!nsp) return;
    const json = this._h ? native.socketInfo(this._h, ns, id) : null;
    const info = json ? JSON.parse(json) : null;
    let socket = nsp._preConnectSockets.get(id);
    nsp._preConnectSockets.delete(id);
    if (!socket) socket = new Socket(nsp, id, makeHandshake(info || {}, !!this._opts.tlsCert));
    socket._attach(id, info);
    if (info && info.recovered) {
      socket.recovered = true;
      nsp._restoreData(socket);
    } else {
      nsp._kept.delete(id);
    }
    nsp.sockets.set(id, socket);
    if (socket._handle) this._byHandle.set(socket._handle, socket);
    nsp._emitReserved('connection', socket);
    nsp._emitReserved('connect', socket);
  }

  /**
   * opts.allowRequest(req, (err, success) => …) for a request that would open
   * a connection: refused, the client gets 403 with err as the message.
   */
  _onAllow(requestId, remote, url, headersJson) {
    const h = this._h;
    const headers = jsonObject(headersJson);
    const address = remote.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1');
    const peer = { remoteAddress: address, remotePort: Number(remote.slice(remote.lastIndexOf(':') + 1)) };
    const req = { method: 'GET', url, headers, socket: peer, connection: peer };
    let answered = false;
    const answer = (err, success) => {
      if (answered || this._h !== h || this._closing) return;
      answered = true;
      native.decide(h, requestId, !!success, success ? null : err ? String(err.message || err) : 'Forbidden');
    };
    try {
      this._opts.allowRequest(req, answer);
    } catch (err) {
      this._reportError(err);
      answer(err, false);
    }
  }

  /**
   * The socket's client broke the protocol (e.g. "Illegal attachments"): its
   * 'error' listeners hear it, as with socket.io, before its disconnect.
   */
  _onClientError(ns, id, message) {
    const socket = this._socketOf(ns, id);
    if (!socket) return;
    const err = new Error(message);
    if (!socket._emitReserved('error', err)) console.error('Missing error handler on `socket`.\n' + err.stack);
  }

  /**
   * A packet the socket's connection handed its transport: the 'packetCreate'
   * event of its `conn`, as from engine.io ({ type, data, options }).
   */
  _onPacket(ns, id, type, data, flags) {
    const socket = this._socketOf(ns, id);
    if (!socket || !socket._conn) return;
    const options = { compress: !!(flags & PACKET_COMPRESS) };
    // A broadcast's packet is encoded once for all its receivers: over a
    // WebSocket, undeflated, its frame is these bytes for every one of them.
    if (flags & PACKET_SHARED && flags & PACKET_WEBSOCKET && !(flags & PACKET_DEFLATED) && !(flags & PACKET_BINARY)) {
      options.wsPreEncodedFrame = webSocketFrame(Buffer.from(PACKET_DIGITS[type] + data));
    }
    socket._conn.emit('packetCreate', { type, data, options });
  }

  /**
   * The client of a socket in the middlewares left: its conn emits 'close'
   * (the middlewares' verdict, when it comes, lets nobody in).
   */
  _onAbandoned(ns, id, reason) {
    const nsp = this._nsps.get(ns);
    const socket = nsp && nsp._preConnectSockets.get(id);
    if (!socket) return;
    socket._connClosed = true;
    if (socket._conn) socket._conn.emit('close', reason);
  }

  /** The socket's connection moved from polling to WebSocket. */
  _onUpgrade(ns, id) {
    const socket = this._socketOf(ns, id);
    if (!socket || socket._transport === 'websocket') return; // one connection, one upgrade: told once per namespace
    socket._transport = 'websocket';
    if (socket._conn) socket._conn.emit('upgrade', socket._conn.transport);
  }

  _onDisconnect(ns, id, reason) {
    const socket = this._socketOf(ns, id);
    if (socket) socket._onclose(reason);
  }

  _onGuard(ns, requestId, authJson, remote, url, id) {
    const h = this._h;
    const nsp = this._nsps.get(ns);
    if (!nsp) {
      native.decide(h, requestId, false, 'Invalid namespace');
      return;
    }
    const auth = jsonObject(authJson);
    const socket = new Socket(nsp, id, makeHandshake({ remote_address: remote, url, auth }, !!this._opts.tlsCert));
    const now = Date.now();
    for (const [k, s] of nsp._preConnectSockets) if (now - s._preConnectSince > PENDING_TTL) nsp._preConnectSockets.delete(k);
    socket._preConnectSince = now;
    nsp._preConnectSockets.set(id, socket);
    nsp._runMiddleware(socket, (err) => {
      if (this._h !== h || this._closing) return;
      if (err) {
        nsp._preConnectSockets.delete(id);
        const message = err && typeof err === 'object' && err.message !== undefined ? String(err.message) : String(err);
        const data = err && typeof err === 'object' && err.data !== undefined ? JSON.stringify(err.data) : undefined;
        // err.data reaches the client's connect_error as err.data (when it is JSON).
        if (data === undefined || native.refuse(h, requestId, message, data) !== OK) native.decide(h, requestId, false, message);
        return;
      }
      if (native.decide(h, requestId, true, null) !== OK) nsp._preConnectSockets.delete(id); // its client left
    });
  }

  _onAck(token, status, json, atts) {
    const cb = this._acks.get(token);
    if (!cb) return;
    this._acks.delete(token);
    if (status === OK) {
      let args = [];
      try {
        args = decode(json, atts);
      } catch {
        /* an unreadable reply: no arguments */
      }
      cb(null, ...args);
    } else if (status === TIMEOUT) {
      cb(new Error('operation has timed out'));
    } else if (status === INVALID_ARGUMENT) {
      cb(new Error('this client cannot acknowledge (a plain WebSocket client)'));
    } else {
      cb(new Error('socket has been disconnected'));
    }
  }
}

/** An http.Server (or https, or anything that emits 'request' and 'upgrade' and listens). */
function isHttpServer(v) {
  return !!v && typeof v === 'object' && typeof v.listen === 'function' && typeof v.on === 'function' &&
    typeof v.listeners === 'function';
}

module.exports = { Server, Namespace, Socket, BroadcastOperator };
module.exports.default = Server;
