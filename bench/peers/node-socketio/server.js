// socket.io peer for the wshub benchmark: "echo" goes back to the sender,
// "broadcast" goes to every socket of "/" but the sender.
// PORT from the environment (0 picks one); prints `LISTENING <port>` once bound.
'use strict';
const http = require('node:http');
const { Server } = require('socket.io');

const server = http.createServer();
const io = new Server(server, {
  serveClient: false,
  // Heartbeats far apart so that they play no part in a run.
  pingInterval: 600000,
  pingTimeout: 600000,
});
io.on('connection', (socket) => {
  socket.on('echo', (...args) => socket.emit('echo', ...args));
  socket.on('broadcast', (...args) => socket.broadcast.emit('broadcast', ...args));
});
server.listen(Number(process.env.PORT || 0), '127.0.0.1', () => {
  process.stdout.write(`LISTENING ${server.address().port}\n`);
});
