// socket.io peer for the wshub benchmark: "echo" goes back to the sender,
// "broadcast" goes to every socket of "/" but the sender.
// PORT from the environment (0 picks one); prints `LISTENING <port>` once bound.
// With REDIS_URL (e.g. redis://127.0.0.1:6379) the server joins the cluster on
// that Redis (@socket.io/redis-adapter with the `redis` client), so "broadcast"
// also reaches the sockets of the other servers there (scenario cluster2).
'use strict';
const http = require('node:http');
const { Server } = require('socket.io');

async function main() {
  const opts = {
    serveClient: false,
    // Heartbeats far apart so that they play no part in a run.
    pingInterval: 600000,
    pingTimeout: 600000,
  };
  if (process.env.REDIS_URL) {
    const { createAdapter } = require('@socket.io/redis-adapter');
    const { createClient } = require('redis');
    const pub = createClient({ url: process.env.REDIS_URL });
    const sub = pub.duplicate();
    for (const c of [pub, sub]) c.on('error', () => { /* reconnects by itself */ });
    await Promise.all([pub.connect(), sub.connect()]);
    opts.adapter = createAdapter(pub, sub);
  }
  const server = http.createServer();
  const io = new Server(server, opts);
  io.on('connection', (socket) => {
    socket.on('echo', (...args) => socket.emit('echo', ...args));
    socket.on('broadcast', (...args) => socket.broadcast.emit('broadcast', ...args));
  });
  server.listen(Number(process.env.PORT || 0), '127.0.0.1', () => {
    process.stdout.write(`LISTENING ${server.address().port}\n`);
  });
}

main().catch((e) => {
  process.stderr.write(`${e && e.stack || e}\n`);
  process.exit(1);
});
