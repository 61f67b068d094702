// A Node Socket.IO server in a Redis cluster (@socket.io/redis-adapter), with
// the cluster events of tests/TEST_SERVER.md, so the tests can show that wshub
// and Node servers share one cluster. REDIS_URL and PORT from the environment
// (REDIS_SHARDED=1: the sharded adapter, Redis 7 sharded pub/sub;
// REDIS_STREAMS=1: @socket.io/redis-streams-adapter, REDIS_STREAM_MAX_LEN its
// maxLen; REDIS_CLUSTER=1: REDIS_URL lists nodes of a Redis Cluster;
// WSHUB_RECOVERY_MS: connection state recovery, sessions kept that long);
// prints `LISTENING <port>` once it listens.
import http from 'node:http';
import { Server } from 'socket.io';
import { createAdapter, createShardedAdapter } from '@socket.io/redis-adapter';
import { createAdapter as createStreamsAdapter } from '@socket.io/redis-streams-adapter';
import { createClient, createCluster } from 'redis';

const pub = process.env.REDIS_CLUSTER === '1'
  ? createCluster({ rootNodes: process.env.REDIS_URL.split(',').map((url) => ({ url })) })
  : createClient({ url: process.env.REDIS_URL });
const sub = pub.duplicate();
for (const c of [pub, sub]) c.on('error', () => { /* reconnects by itself */ });
await Promise.all([pub.connect(), sub.connect()]);

const httpServer = http.createServer();
const maxLen = Number(process.env.REDIS_STREAM_MAX_LEN || 10_000);
const adapter = process.env.REDIS_STREAMS === '1'
  ? createStreamsAdapter(pub, { maxLen })
  : process.env.REDIS_SHARDED === '1'
    ? createShardedAdapter(pub, sub)
    : createAdapter(pub, sub, { requestsTimeout: 2000 });
const recoveryMs = Number(process.env.WSHUB_RECOVERY_MS || 0);
const connectionStateRecovery = recoveryMs > 0 ? { maxDisconnectionDuration: recoveryMs } : undefined;
const io = new Server(httpServer, { adapter, connectionStateRecovery });

io.on('connection', (socket) => {
  socket.on('join', (room, ack) => { socket.join(room); ack?.(true); });
  socket.on('rooms', (ack) => ack([...socket.rooms].sort()));
  socket.on('to-all', (...args) => io.emit('to-all', ...args));
  socket.on('broadcast', (...args) => socket.broadcast.emit('broadcast', ...args));
  socket.on('to-room', (room, ...args) => io.to(room).emit('room-msg', ...args));
  socket.on('fetch-sockets', async (ack) => {
    try {
      const sockets = await io.fetchSockets();
      ack(sockets.map((s) => s.id).sort());
    } catch (e) {
      ack(String(e.message));
    }
  });
  socket.on('ask-everyone', async (ack) => {
    try {
      ack(await io.timeout(2000).emitWithAck('question', 'who is there?'));
    } catch (e) {
      ack(String(e.message));
    }
  });
  socket.on('sockets-join', (room, newRoom, ack) => { io.in(room).socketsJoin(newRoom); ack?.(true); });
  socket.on('server-side-emit', (...args) => io.serverSideEmit('server-event', ...args));
  socket.on('server-side-emit-ack', async (...args) => {
    const ack = args.pop();
    try {
      ack(await io.serverSideEmitWithAck('server-event', ...args));
    } catch (e) {
      ack(String(e.message));
    }
  });
});
io.on('server-event', (...args) => {
  const reply = typeof args[args.length - 1] === 'function' ? args.pop() : null;
  io.local.emit('server-event', ...args);
  reply?.('node got it');
});

httpServer.listen(Number(process.env.PORT || 0), '127.0.0.1', () => {
  console.log(`LISTENING ${httpServer.address().port}`);
});
