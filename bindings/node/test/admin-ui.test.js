'use strict';
// new Server({ adminUi }): the Socket.IO admin UI's namespace as its page uses it,
// driven by socket.io-client: login, config, every socket, an order, the refusal.
const test = require('node:test');
const assert = require('node:assert/strict');
const { next, startServer, client, connected } = require('./helpers');

test('the admin UI logs in, lists the sockets and may make one join a room', async (t) => {
  const io = startServer(t, { adminUi: { username: 'admin', password: 'pa55' } });
  const c = client(t, io);
  await connected(c);
  const ui = client(t, io, '/admin', { auth: { username: 'admin', password: 'pa55' }, autoConnect: false });
  const config = next(ui, 'config');
  const all = next(ui, 'all_sockets');
  ui.connect();
  const [{ supportedFeatures }] = await config;
  assert.ok(supportedFeatures.includes('JOIN'), supportedFeatures);
  const [sockets] = await all;
  assert.ok(sockets.some((s) => s.id === c.id && s.nsp === '/' && s.transport === 'websocket'), JSON.stringify(sockets));
  const joined = next(ui, 'room_joined');
  ui.emit('join', '/', 'lobby', c.id);
  assert.deepEqual((await joined).slice(0, 3), ['/', 'lobby', c.id]);
  const [member] = await io.in('lobby').fetchSockets();
  assert.equal(member.id, c.id);
});

test('the admin UI is refused without its password', async (t) => {
  const io = startServer(t, { adminUi: { username: 'admin', password: 'pa55' } });
  const ui = client(t, io, '/admin', { auth: { username: 'admin', password: 'nope' } });
  await assert.rejects(connected(ui), /invalid credentials/);
  assert.throws(() => startServer(t, { adminUi: { username: 'admin' } }), /adminUi takes/);
});
