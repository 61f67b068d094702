// Type declarations of wshub's Node binding: the Socket.IO server's API, with
// the same typed-events generics as `socket.io`:
//
//   interface ClientToServer { hello: (name: string, ack: (n: number) => void) => void }
//   interface ServerToClient { welcome: (msg: string) => void }
//   interface SocketData { user: string }
//   const io = new Server<ClientToServer, ServerToClient, {}, SocketData>({ port: 3000 });

/// <reference types="node" />
import { EventEmitter } from 'events';
import type { Server as HttpServer } from 'http';

// ---------- typed events (as socket.io's typed-events) ----------

export interface EventsMap {
  [event: string]: any;
}

export interface DefaultEventsMap {
  [event: string]: (...args: any[]) => void;
}

export type EventNames<Map extends EventsMap> = keyof Map & (string | symbol);
export type EventParams<Map extends EventsMap, Ev extends EventNames<Map>> = Parameters<Map[Ev]>;

type Last<T extends any[]> = T extends [...infer _H, infer L] ? L : any;
type AllButLast<T extends any[]> = T extends [...infer H, infer _L] ? H : any[];
type FirstNonErrorTuple<T extends unknown[]> = T[0] extends Error ? T[1] : T[0];
/** What an ack callback's reply is (after the Error that .timeout() puts first). */
type FirstNonErrorArg<T> = T extends (...args: infer Params) => any ? FirstNonErrorTuple<Params> : any;

/** With .timeout(), an ack callback gets an Error first. */
type PrependTimeoutError<T extends any[]> = {
  [K in keyof T]: T[K] extends (...args: infer Params) => infer Result ? (err: Error, ...args: Params) => Result : T[K];
};
export type DecorateAcknowledgements<E> = {
  [K in keyof E]: E[K] extends (...args: infer Params) => infer Result ? (...args: PrependTimeoutError<Params>) => Result : E[K];
};
/** A broadcast with an ack gets every client's reply in an array. */
type ExpectMultipleResponses<T extends any[]> = {
  [K in keyof T]: T[K] extends (err: Error, arg: infer Param) => infer Result ? (err: Error, arg: Param[]) => Result : T[K];
};
export type DecorateAcknowledgementsWithMultipleResponses<E> = {
  [K in keyof E]: E[K] extends (...args: infer Params) => infer Result
    ? (...args: ExpectMultipleResponses<PrependTimeoutError<Params>>) => Result
    : E[K];
};

export type DisconnectReason =
  | 'transport error'
  | 'transport close'
  | 'forced close'
  | 'ping timeout'
  | 'parse error'
  | 'server shutting down'
  | 'forced server close'
  | 'client namespace disconnect'
  | 'server namespace disconnect'
  | (string & {});

export interface SocketReservedEventsMap {
  disconnect: (reason: DisconnectReason) => void;
  disconnecting: (reason: DisconnectReason) => void;
  error: (err: Error) => void;
}

export interface NamespaceReservedEventsMap<L extends EventsMap, E extends EventsMap, S extends EventsMap, D> {
  connect: (socket: Socket<L, E, S, D>) => void;
  connection: (socket: Socket<L, E, S, D>) => void;
  error: (err: unknown) => void;
  /** A namespace was made (on the main namespace: `io.on('new_namespace', nsp => …)`). */
  new_namespace: (namespace: Namespace<L, E, S, D>) => void;
}

type ReservedOrUserEventNames<R extends EventsMap, U extends EventsMap> = EventNames<R> | EventNames<U>;
type ReservedOrUserListener<R extends EventsMap, U extends EventsMap, Ev extends ReservedOrUserEventNames<R, U>> =
  Ev extends EventNames<R> ? R[Ev] : Ev extends EventNames<U> ? U[Ev] : never;

// ---------- options ----------

export interface ServerOptions {
  /** Port to listen on at once (0: any free port, see `io.port`). Without it, call `io.listen(port)`. */
  port?: number;
  /** IP address to bind (default "127.0.0.1"; "0.0.0.0" for every interface). */
  host?: string;
  /** Engine.IO path (default "/socket.io"). */
  path?: string;
  /** CORS for long-polling: `{ origin: '*' | string | string[] | true }` (functions and RegExps are not supported). */
  cors?: boolean | string | string[] | { origin?: boolean | string | string[]; credentials?: boolean; [k: string]: unknown };
  /** ms between pings (default 25000). */
  pingInterval?: number;
  /** ms to wait for a pong (default 20000). */
  pingTimeout?: number;
  /** ms an Engine.IO connection may take to join a namespace (default 45000). */
  connectTimeout?: number;
  /** Largest message or polling body, in bytes (default 1e6). */
  maxHttpBufferSize?: number;
  /**
   * Connection state recovery (off by default): a client that loses its connection and comes back
   * within `maxDisconnectionDuration` ms (default 2 minutes) gets its id, rooms, `data` and the events
   * it missed (`socket.recovered`); `skipMiddlewares` (default true) skips `use()` middlewares then.
   */
  connectionStateRecovery?: { maxDisconnectionDuration?: number; skipMiddlewares?: boolean };
  /**
   * Decides whether a request may open a connection at all, before any namespace: `callback(err, false)`
   * answers 403 with `err` as the message. `req` has `method`, `url`, `headers` and `socket.remoteAddress`.
   */
  allowRequest?: (
    req: { method: string; url: string; headers: { [name: string]: string }; socket: { remoteAddress: string; remotePort: number } },
    callback: (err: string | null | undefined, success: boolean) => void,
  ) => void;
  /** Also serve socket.io-client 2.x (Engine.IO v3, Socket.IO v2) clients (default false). */
  allowEIO3?: boolean;
  /** A dynamic namespace (`io.of(regex)`) goes away once it has no socket left (default false). */
  cleanupEmptyChildNamespaces?: boolean;
  /** Serve the socket.io-client bundle at `<path>/socket.io.js` (default true). */
  serveClient?: boolean;
  /** Allowed transports (default both). */
  transports?: Array<'polling' | 'websocket'>;
  /** A folder served for other GET requests (wshub serves HTTP itself). */
  staticDir?: string;
  /** Folder of socket.io-client's dist files (default: the `socket.io-client` dependency's). */
  clientBundleDir?: string;
  /** Plain WebSocket endpoint (default "/ws"; "" turns it off). */
  rawPath?: string;
  /** Per-connection outbound queue bound, in frames (default 4096). */
  maxQueuedFrames?: number;
  /** When a socket's queue is full: false closes it (default), true drops the frame. */
  dropWhenFull?: boolean;
  /** Packets per long-polling response (default 16). */
  maxPacketsPerPoll?: number;
  /** Most simultaneous TCP connections (default 100000). */
  maxConnections?: number;
  /** Threads of the hub's runtime (default: the number of cores). */
  workerThreads?: number;
  /** ms `io.close()` gives queued frames to flush (default 1000). */
  closeGrace?: number;
  /** PEM file of the TLS certificate chain; with `tlsKey` the server speaks https and wss only. */
  tlsCert?: string;
  /** PEM file of the TLS private key. */
  tlsKey?: string;
  /** Origins allowed to open a WebSocket or make a polling request; others get 403 (default: any). */
  allowedOrigins?: string | string[];
  /** Redis server of the cluster this server joins, e.g. "redis://127.0.0.1:6379" (wire-compatible with @socket.io/redis-adapter; see docs/SCALING.md). */
  redisUrl?: string;
  /** `redisUrl` names nodes of a Redis Cluster (comma-separated; the others are found from them). */
  redisCluster?: boolean;
  /** With `redisUrl`: speak @socket.io/redis-streams-adapter's protocol (a Redis stream); with `connectionStateRecovery`, clients recover on any server of the cluster. */
  redisStreams?: boolean;
  /** With `redisStreams`: about how many entries the stream keeps (default 10,000, as the Node adapter's `maxLen`). */
  redisStreamMaxLen?: number;
  /** Path on wshub's own listener serving the metrics in the Prometheus text format, e.g. "/metrics" (default: none); needs `metricsToken` or `metricsAllow`. */
  metricsPath?: string;
  /** Scrapes must send `Authorization: Bearer <metricsToken>` (else 401). */
  metricsToken?: string;
  /** IP addresses allowed to scrape (else 403); default any (then a token is required). */
  metricsAllow?: string | string[];
  /** The Socket.IO admin UI (@socket.io/admin-ui) on the namespace /admin: its login, read-only mode, and the folder of its page (the package's `ui/dist`, served under /admin/). */
  adminUi?: { username: string; password: string; readOnly?: boolean; uiDir?: string };
}

/** Open connections, or connections opened, by transport (`raw`: the plain WebSocket endpoint). */
export interface ByTransport {
  polling: number;
  websocket: number;
  raw: number;
}

/** One namespace's figures in `io.metrics()`. */
export interface NamespaceMetrics {
  name: string;
  sockets: number;
  rooms: number;
  pending_acks: number;
  connects: number;
  connect_refusals: number;
  disconnects: { reason: string; count: number }[];
  events_received: number;
  events_sent: number;
}

/** `io.metrics()`: counters since the server was created, gauges as of the call. */
export interface Metrics {
  connections: ByTransport;
  connections_opened: ByTransport;
  bytes_received: number;
  bytes_sent: number;
  queue_drops: number;
  slow_consumer_disconnects: number;
  cluster_messages_sent: number;
  cluster_messages_received: number;
  namespaces: NamespaceMetrics[];
}

export interface Handshake {
  headers: Record<string, string>;
  time: string;
  address: string;
  xdomain: boolean;
  secure: boolean;
  issued: number;
  url: string;
  query: Record<string, string>;
  auth: Record<string, any>;
}

export type ExtendedError = Error & { data?: any };

// ---------- targets ----------

export class BroadcastOperator<EmitEvents extends EventsMap, SocketData> {
  to(room: string | string[]): BroadcastOperator<EmitEvents, SocketData>;
  in(room: string | string[]): BroadcastOperator<EmitEvents, SocketData>;
  except(room: string | string[]): BroadcastOperator<EmitEvents, SocketData>;
  timeout(ms: number): BroadcastOperator<DecorateAcknowledgementsWithMultipleResponses<EmitEvents>, SocketData>;
  readonly volatile: BroadcastOperator<EmitEvents, SocketData>;
  readonly local: BroadcastOperator<EmitEvents, SocketData>;
  compress(compress: boolean): BroadcastOperator<EmitEvents, SocketData>;
  emit<Ev extends EventNames<EmitEvents>>(ev: Ev, ...args: EventParams<EmitEvents, Ev>): boolean;
  emitWithAck<Ev extends EventNames<EmitEvents>>(
    ev: Ev,
    ...args: AllButLast<EventParams<EmitEvents, Ev>>
  ): Promise<FirstNonErrorArg<Last<EventParams<EmitEvents, Ev>>>>;
  send(...args: any[]): boolean;
  write(...args: any[]): boolean;
  fetchSockets(): Promise<Socket<any, EmitEvents, any, SocketData>[]>;
  allSockets(): Promise<Set<string>>;
  socketsJoin(room: string | string[]): void;
  socketsLeave(room: string | string[]): void;
  disconnectSockets(close?: boolean): void;
}

// ---------- Socket ----------

export class Socket<
  ListenEvents extends EventsMap = DefaultEventsMap,
  EmitEvents extends EventsMap = DefaultEventsMap,
  ServerSideEvents extends EventsMap = DefaultEventsMap,
  SocketData = any,
> {
  /** The socket's id (undefined inside connection middleware: the hub names it when it joins). */
  readonly id: string;
  readonly nsp: Namespace<ListenEvents, EmitEvents, ServerSideEvents, SocketData>;
  readonly server: Server<ListenEvents, EmitEvents, ServerSideEvents, SocketData>;
  readonly handshake: Handshake;
  readonly request: { headers: Record<string, string>; url: string; method: string };
  /** The client's connection: the request it opened with, readyState, close(), a 'close' event with the reason. */
  readonly conn: NodeJS.EventEmitter & {
    readonly request: { headers: Record<string, string>; url: string; method: string };
    readonly readyState: 'open' | 'closed';
    close(): void;
  };
  /** socket.io's client object: the connection and the request. */
  readonly client: { readonly conn: Socket['conn']; readonly request: Socket['request'] };
  data: SocketData;
  /** True when this socket took over the session of a client that came back (connectionStateRecovery). */
  readonly recovered: boolean;
  connected: boolean;
  readonly disconnected: boolean;
  /** The rooms the socket is in (its own id included). */
  rooms: Set<string>;
  /** True for a plain WebSocket client (endpoint `rawPath`). */
  readonly raw: boolean;

  on<Ev extends ReservedOrUserEventNames<SocketReservedEventsMap, ListenEvents>>(
    ev: Ev,
    listener: ReservedOrUserListener<SocketReservedEventsMap, ListenEvents, Ev>,
  ): this;
  addListener<Ev extends ReservedOrUserEventNames<SocketReservedEventsMap, ListenEvents>>(
    ev: Ev,
    listener: ReservedOrUserListener<SocketReservedEventsMap, ListenEvents, Ev>,
  ): this;
  once<Ev extends ReservedOrUserEventNames<SocketReservedEventsMap, ListenEvents>>(
    ev: Ev,
    listener: ReservedOrUserListener<SocketReservedEventsMap, ListenEvents, Ev>,
  ): this;
  prependListener<Ev extends ReservedOrUserEventNames<SocketReservedEventsMap, ListenEvents>>(
    ev: Ev,
    listener: ReservedOrUserListener<SocketReservedEventsMap, ListenEvents, Ev>,
  ): this;
  prependOnceListener<Ev extends ReservedOrUserEventNames<SocketReservedEventsMap, ListenEvents>>(
    ev: Ev,
    listener: ReservedOrUserListener<SocketReservedEventsMap, ListenEvents, Ev>,
  ): this;
  off<Ev extends ReservedOrUserEventNames<SocketReservedEventsMap, ListenEvents>>(
    ev: Ev,
    listener: ReservedOrUserListener<SocketReservedEventsMap, ListenEvents, Ev>,
  ): this;
  removeListener<Ev extends ReservedOrUserEventNames<SocketReservedEventsMap, ListenEvents>>(
    ev: Ev,
    listener: ReservedOrUserListener<SocketReservedEventsMap, ListenEvents, Ev>,
  ): this;
  removeAllListeners(ev?: ReservedOrUserEventNames<SocketReservedEventsMap, ListenEvents>): this;
  listeners(ev: ReservedOrUserEventNames<SocketReservedEventsMap, ListenEvents>): Function[];
  listenerCount(ev: ReservedOrUserEventNames<SocketReservedEventsMap, ListenEvents>): number;
  eventNames(): string[];

  onAny(listener: (event: string, ...args: any[]) => void): this;
  prependAny(listener: (event: string, ...args: any[]) => void): this;
  offAny(listener?: (event: string, ...args: any[]) => void): this;
  listenersAny(): Array<(event: string, ...args: any[]) => void>;
  onAnyOutgoing(listener: (event: string, ...args: any[]) => void): this;
  prependAnyOutgoing(listener: (event: string, ...args: any[]) => void): this;
  offAnyOutgoing(listener?: (event: string, ...args: any[]) => void): this;
  listenersAnyOutgoing(): Array<(event: string, ...args: any[]) => void>;
  /** Packet middleware: fn([event, ...args], next). */
  use(fn: (event: [string, ...any[]], next: (err?: Error) => void) => void): this;

  emit<Ev extends EventNames<EmitEvents>>(ev: Ev, ...args: EventParams<EmitEvents, Ev>): boolean;
  emitWithAck<Ev extends EventNames<EmitEvents>>(
    ev: Ev,
    ...args: AllButLast<EventParams<EmitEvents, Ev>>
  ): Promise<FirstNonErrorArg<Last<EventParams<EmitEvents, Ev>>>>;
  send(...args: any[]): this;
  write(...args: any[]): this;
  timeout(ms: number): Socket<ListenEvents, DecorateAcknowledgements<EmitEvents>, ServerSideEvents, SocketData>;
  readonly volatile: this;
  compress(compress: boolean): this;

  readonly broadcast: BroadcastOperator<EmitEvents, SocketData>;
  /** This process's other sockets of the namespace. */
  readonly local: BroadcastOperator<EmitEvents, SocketData>;
  to(room: string | string[]): BroadcastOperator<EmitEvents, SocketData>;
  in(room: string | string[]): BroadcastOperator<EmitEvents, SocketData>;
  except(room: string | string[]): BroadcastOperator<EmitEvents, SocketData>;

  join(rooms: string | string[]): void;
  leave(room: string): void;
  /** Leaves every room, its own (its id) too. */
  leaveAll(): void;
  /** Leaves the namespace; with `close`, closes the whole connection. */
  disconnect(close?: boolean): this;
}

// ---------- Namespace ----------

export class Namespace<
  ListenEvents extends EventsMap = DefaultEventsMap,
  EmitEvents extends EventsMap = DefaultEventsMap,
  ServerSideEvents extends EventsMap = DefaultEventsMap,
  SocketData = any,
> extends EventEmitter {
  readonly name: string;
  readonly server: Server<ListenEvents, EmitEvents, ServerSideEvents, SocketData>;
  readonly sockets: Map<string, Socket<ListenEvents, EmitEvents, ServerSideEvents, SocketData>>;
  readonly adapter: { rooms: Map<string, Set<string>>; sids: Map<string, Set<string>> };

  on<Ev extends keyof NamespaceReservedEventsMap<ListenEvents, EmitEvents, ServerSideEvents, SocketData>>(
    ev: Ev,
    listener: NamespaceReservedEventsMap<ListenEvents, EmitEvents, ServerSideEvents, SocketData>[Ev],
  ): this;
  once<Ev extends keyof NamespaceReservedEventsMap<ListenEvents, EmitEvents, ServerSideEvents, SocketData>>(
    ev: Ev,
    listener: NamespaceReservedEventsMap<ListenEvents, EmitEvents, ServerSideEvents, SocketData>[Ev],
  ): this;
  use(
    fn: (socket: Socket<ListenEvents, EmitEvents, ServerSideEvents, SocketData>, next: (err?: ExtendedError) => void) => void,
  ): this;

  to(room: string | string[]): BroadcastOperator<EmitEvents, SocketData>;
  in(room: string | string[]): BroadcastOperator<EmitEvents, SocketData>;
  except(room: string | string[]): BroadcastOperator<EmitEvents, SocketData>;
  timeout(ms: number): BroadcastOperator<DecorateAcknowledgementsWithMultipleResponses<EmitEvents>, SocketData>;
  readonly volatile: BroadcastOperator<EmitEvents, SocketData>;
  readonly local: BroadcastOperator<EmitEvents, SocketData>;
  compress(compress: boolean): BroadcastOperator<EmitEvents, SocketData>;
  // @ts-ignore -- emit broadcasts to the namespace's clients, as in Socket.IO
  emit<Ev extends EventNames<EmitEvents>>(ev: Ev, ...args: EventParams<EmitEvents, Ev>): boolean;
  emitWithAck<Ev extends EventNames<EmitEvents>>(
    ev: Ev,
    ...args: AllButLast<EventParams<EmitEvents, Ev>>
  ): Promise<FirstNonErrorArg<Last<EventParams<EmitEvents, Ev>>>>;
  send(...args: any[]): this;
  write(...args: any[]): this;
  fetchSockets(): Promise<Socket<ListenEvents, EmitEvents, ServerSideEvents, SocketData>[]>;
  allSockets(): Promise<Set<string>>;
  socketsJoin(room: string | string[]): void;
  socketsLeave(room: string | string[]): void;
  disconnectSockets(close?: boolean): void;
  /** No other server to reach: a no-op. */
  serverSideEmit(ev: string, ...args: any[]): boolean;
}

/**
 * What `io.of(regex)` or `io.of(fn)` returns: children are made when a client names a namespace
 * it accepts, with its middlewares and 'connect'/'connection' listeners; `emit` reaches them all.
 */
export class ParentNamespace<
  ListenEvents extends EventsMap = DefaultEventsMap,
  EmitEvents extends EventsMap = DefaultEventsMap,
  ServerSideEvents extends EventsMap = DefaultEventsMap,
  SocketData = any,
> extends Namespace<ListenEvents, EmitEvents, ServerSideEvents, SocketData> {
  readonly children: Set<Namespace<ListenEvents, EmitEvents, ServerSideEvents, SocketData>>;
  /** Throws, as in Socket.IO: a parent's children differ from server to server. */
  fetchSockets(): never;
}

/** Decides whether a namespace nobody made may be made for a client: `next(null, true)` lets it in. */
export type ParentNspNameMatchFn = (
  name: string,
  auth: { [key: string]: any },
  next: (err: Error | null, success: boolean) => void,
) => void;

// ---------- Server ----------

export class Server<
  ListenEvents extends EventsMap = DefaultEventsMap,
  EmitEvents extends EventsMap = ListenEvents,
  ServerSideEvents extends EventsMap = DefaultEventsMap,
  SocketData = any,
> {
  constructor(opts?: ServerOptions);
  constructor(port: number, opts?: ServerOptions);
  /** Attached to the app's own server (express's, Fastify's `fastify.server`): see `attach`. */
  constructor(srv: HttpServer, opts?: ServerOptions);

  /** The main namespace "/". */
  readonly sockets: Namespace<ListenEvents, EmitEvents, ServerSideEvents, SocketData>;
  /** The bound port once listening (useful with port 0), else null. */
  readonly port: number | null;
  /** The http.Server this hub is attached to; undefined when it listens on its own. */
  readonly httpServer: HttpServer | undefined;
  address(): { address: string; family: string; port: number } | string | null;

  /** wshub's own listener on `port` (the fastest path); given an http.Server, attaches to it. */
  listen(port: number, opts?: ServerOptions): this;
  listen(srv: HttpServer, opts?: ServerOptions): this;
  /**
   * Serves Socket.IO on the app's own http.Server, on its port: only the hub's paths are taken
   * (the Socket.IO path, the client bundle, the raw WebSocket path); `close()` leaves the server open.
   */
  attach(srv: HttpServer, opts?: ServerOptions): this;
  attach(port: number, opts?: ServerOptions): this;
  path(): string;
  path(v: string): this;
  serveClient(): boolean;
  serveClient(v: boolean): this;

  of(
    name: string,
    fn?: (socket: Socket<ListenEvents, EmitEvents, ServerSideEvents, SocketData>) => void,
  ): Namespace<ListenEvents, EmitEvents, ServerSideEvents, SocketData>;
  /** Dynamic namespaces: the names the RegExp or the function accepts are made on demand. */
  of(
    name: RegExp | ParentNspNameMatchFn,
    fn?: (socket: Socket<ListenEvents, EmitEvents, ServerSideEvents, SocketData>) => void,
  ): ParentNamespace<ListenEvents, EmitEvents, ServerSideEvents, SocketData>;
  use(
    fn: (socket: Socket<ListenEvents, EmitEvents, ServerSideEvents, SocketData>, next: (err?: ExtendedError) => void) => void,
  ): this;

  on<Ev extends keyof NamespaceReservedEventsMap<ListenEvents, EmitEvents, ServerSideEvents, SocketData>>(
    ev: Ev,
    listener: NamespaceReservedEventsMap<ListenEvents, EmitEvents, ServerSideEvents, SocketData>[Ev],
  ): this;
  once<Ev extends keyof NamespaceReservedEventsMap<ListenEvents, EmitEvents, ServerSideEvents, SocketData>>(
    ev: Ev,
    listener: NamespaceReservedEventsMap<ListenEvents, EmitEvents, ServerSideEvents, SocketData>[Ev],
  ): this;
  off(ev: string, listener: (...args: any[]) => void): this;
  removeListener(ev: string, listener: (...args: any[]) => void): this;
  removeAllListeners(ev?: string): this;
  listeners(ev: string): Function[];
  listenerCount(ev: string): number;

  to(room: string | string[]): BroadcastOperator<EmitEvents, SocketData>;
  in(room: string | string[]): BroadcastOperator<EmitEvents, SocketData>;
  except(room: string | string[]): BroadcastOperator<EmitEvents, SocketData>;
  timeout(ms: number): BroadcastOperator<DecorateAcknowledgementsWithMultipleResponses<EmitEvents>, SocketData>;
  readonly volatile: BroadcastOperator<EmitEvents, SocketData>;
  readonly local: BroadcastOperator<EmitEvents, SocketData>;
  compress(compress: boolean): BroadcastOperator<EmitEvents, SocketData>;
  emit<Ev extends EventNames<EmitEvents>>(ev: Ev, ...args: EventParams<EmitEvents, Ev>): boolean;
  emitWithAck<Ev extends EventNames<EmitEvents>>(
    ev: Ev,
    ...args: AllButLast<EventParams<EmitEvents, Ev>>
  ): Promise<FirstNonErrorArg<Last<EventParams<EmitEvents, Ev>>>>;
  send(...args: any[]): this;
  write(...args: any[]): this;
  fetchSockets(): Promise<Socket<ListenEvents, EmitEvents, ServerSideEvents, SocketData>[]>;
  /** The hub's metrics; null before listen() and after close(). */
  metrics(): Metrics | null;
  allSockets(): Promise<Set<string>>;
  socketsJoin(room: string | string[]): void;
  socketsLeave(room: string | string[]): void;
  disconnectSockets(close?: boolean): void;
  serverSideEmit(ev: string, ...args: any[]): boolean;

  /** A running hub no longer keeps the process alive (it is stopped at exit). */
  unref(): this;
  ref(): this;
  /** Disconnects everyone ("server shutting down"), stops the hub's threads; the process may then exit. */
  close(fn?: () => void, opts?: { grace?: number }): Promise<void>;
  close(opts: { grace?: number }): Promise<void>;
}

export default Server;
