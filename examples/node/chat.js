// examples/chat.rs (protocol at its top) on the Node binding: npm install ./bindings/node; node examples/node/chat.js
const { Server } = require('wshub');
const io = new Server({ port: Number(process.env.PORT ?? 3000), staticDir: `${__dirname}/../chat/public`, redisUrl: process.env.REDIS_URL });
const names = new Map(), history = []; // socket id -> nickname; the last 50 messages
const clean = (s, max) => String(s ?? '').trim().slice(0, max);
const users = () => [...names.values()].sort((a, b) => a.localeCompare(b));
const taken = (name, me) => [...names].some(([id, n]) => id !== me && n.toLowerCase() === name.toLowerCase());
const online = () => io.emit('online', { online: names.size, users: users() });
io.on('connection', (socket) => {
  socket.on('join', (nick, ack = () => {}) => {
    const wanted = clean(nick, 24), from = names.get(socket.id), time = Date.now();
    if (!wanted) return ack({ ok: false, error: 'Please pick a nickname.' });
    let name = wanted;
    for (let i = 2; taken(name, socket.id); i++) name = `${wanted} ${i}`;
    names.set(socket.id, name), socket.join('people');
    ack({ ok: true, name, online: names.size, users: users(), history });
    if (from !== name) socket.broadcast.emit(from ? 'user renamed' : 'user joined', { user: name, from, online: names.size, time });
    online();
  });
  socket.on('chat message', (text) => {
    const msg = { user: names.get(socket.id) ?? 'anonymous', text: clean(text, 2000), time: Date.now() }; // the classic page never joins
    if (msg.text) io.emit('chat message', msg), history.push(msg) > 50 && history.shift();
  });
  socket.on('typing', (on) => names.has(socket.id) && socket.to('people').emit('typing', { user: names.get(socket.id), typing: !!on }));
  socket.on('message', (text) => socket.raw && socket.emit('message', String(text).toUpperCase())); // raw.html echo
  socket.on('disconnect', () => names.has(socket.id) && (io.emit('user left', { user: names.get(socket.id),
    online: names.size - 1, time: Date.now() }), names.delete(socket.id), online()));
});
console.log(`LISTENING ${io.port}\nchat room on http://127.0.0.1:${io.port}/`);
