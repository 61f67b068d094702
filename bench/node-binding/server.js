// wshub's Node binding as a peer of the socket.io npm server (bench/peers/node-socketio/server.js),
// with the very same handlers: "echo" goes back to the sender, "broadcast" to every socket of "/"
// but the sender. PORT from the environment (0 picks one); prints `LISTENING <port>` once bound.
'use strict';
const { Server } = require('../../bindings/node');

// WSHUB_ATTACH=1: attached to an http.Server of the app's own, as an express app runs it.
const attached = Boolean(process.env.WSHUB_ATTACH);
const httpServer = attached ? require('node:http').createServer((req, res) => res.end('app route')) : null;
const opts = {
  serveClient: false,
  // Heartbeats far apart so that they play no part in a run.
  pingInterval: 600000,
  pingTimeout: 600000,
  ...(process.env.WSHUB_WORKERS ? { workerThreads: Number(process.env.WSHUB_WORKERS) } : {}),
};
const io = attached ? new Server(httpServer, opts) : new Server({ port: Number(process.env.PORT || 0), ...opts });
io.on('connection', (socket) => {
  socket.on('echo', (...args) => socket.emit('echo', ...args));
  socket.on('broadcast', (...args) => socket.broadcast.emit('broadcast', ...args));
});
if (attached) {
  httpServer.listen(Number(process.env.PORT || 0), '127.0.0.1', () => {
    process.stdout.write(`LISTENING ${httpServer.address().port}\n`);
  });
} else {
  process.stdout.write(`LISTENING ${io.port}\n`);
}
process.on('SIGTERM', () => io.close({ grace: 0 }).then(() => process.exit(0)));
