// ws peer (raw WebSocket, no Socket.IO layer) for the wshub benchmark.
// The raw equivalent of the two events: a text message whose first byte is
// "e" goes back to the sender unchanged; one whose first byte is "b" goes
// unchanged to every other connection; anything else is ignored.
// PORT from the environment (0 picks one); prints `LISTENING <port>` once bound.
'use strict';
const { WebSocketServer } = require('ws');

const wss = new WebSocketServer({ host: '127.0.0.1', port: Number(process.env.PORT || 0), perMessageDeflate: false });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => {
    if (isBinary || data.length === 0) return;
    if (data[0] === 0x65) {
      ws.send(data, { binary: false });
    } else if (data[0] === 0x62) {
      for (const client of wss.clients) {
        if (client !== ws && client.readyState === 1) client.send(data, { binary: false });
      }
    }
  });
});
wss.on('listening', () => {
  process.stdout.write(`LISTENING ${wss.address().port}\n`);
});
