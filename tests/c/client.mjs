// Socket.IO client for the C tests (tests/c/test_api.c), run from the repo root:
//   node tests/c/client.mjs count <port> <event> <n>   prints READY, exits 0 once n events arrived
//   node tests/c/client.mjs hold <port>                 prints READY, exits 0 when the server closes the connection
//   node tests/c/client.mjs echo <port>                 an echo server answers events and acks with their own args
//   node tests/c/client.mjs auth <port> <nsp> <token>   joins <nsp> with auth {token}: prints CONNECTED (exit 0)
//                                                       or CONNECT_ERROR <message> (exit 3)
// Every mode gives up after 20 s (exit 2).
import { io } from 'socket.io-client';

const [mode, port, event, n] = process.argv.slice(2);
const nsp = mode === 'auth' ? event : '/';
const auth = mode === 'auth' ? { token: n } : undefined;
const socket = io(`http://127.0.0.1:${port}${nsp}`, { transports: ['websocket'], reconnection: false, auth });
const giveUp = setTimeout(() => { console.log('TIMEOUT'); process.exit(2); }, 20_000);

socket.on('connect', () => console.log('READY'));
socket.on('connect_error', (err) => { console.log(`CONNECT_ERROR ${err.message}`); process.exit(3); });

if (mode === 'count') {
  let got = 0;
  const seen = new Set();
  socket.on(event, (thread, i) => {
    got++;
    seen.add(`${thread}/${i}`);
    if (got === Number(n)) {
      console.log(`GOT ${got} DISTINCT ${seen.size}`);
      clearTimeout(giveUp);
      socket.close();
      process.exit(seen.size === got ? 0 : 4);
    }
  });
} else if (mode === 'echo') {
  socket.on('connect', async () => {
    const back = new Promise((resolve) => socket.once('hello', (...args) => resolve(args)));
    socket.emit('hello', 'wörld', 42, Buffer.from([1, 2, 3]));
    const args = await back;
    const acked = await socket.timeout(5000).emitWithAck('question', { n: 1 });
    const ok = args[0] === 'wörld' && args[1] === 42 && Buffer.from(args[2]).equals(Buffer.from([1, 2, 3])) && acked.n === 1;
    console.log(ok ? 'ECHO OK' : `ECHO WRONG ${JSON.stringify(args)} ${JSON.stringify(acked)}`);
    clearTimeout(giveUp);
    socket.close();
    process.exit(ok ? 0 : 5);
  });
} else if (mode === 'auth') {
  socket.on('connect', () => {
    console.log('CONNECTED');
    clearTimeout(giveUp);
    socket.close();
    process.exit(0);
  });
} else if (mode === 'hold') {
  socket.on('ask', () => { /* never acks: the server's wait must end at stop */ });
  socket.on('disconnect', (reason) => {
    console.log(`DISCONNECT ${reason}`);
    clearTimeout(giveUp);
    process.exit(0);
  });
}
