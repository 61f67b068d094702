// The C host example (examples/c/hosted.c): a C HTTP server of its own with
// wshub inside on the same port. socket.io-client reaches the hub over
// WebSocket (adopted descriptors), long-polling (requests handed over) and the
// upgrade between them, while the C server keeps answering its own routes.
// Run by `make test-c` with WSHUB_HOSTED_SERVER set to the built example.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { io } from 'socket.io-client';
import { startServer } from '../js/server.mjs';

process.env.WSHUB_TEST_SERVER = process.env.WSHUB_HOSTED_SERVER || 'target/examples/c-hosted';
let srv;
before(async () => { srv = await startServer(); });
after(() => srv.stop());

const MODES = [
  { name: 'websocket', opts: { transports: ['websocket'] }, transport: 'websocket' },
  { name: 'polling', opts: { transports: ['polling'] }, transport: 'polling' },
  { name: 'polling then upgrade', opts: {}, transport: 'websocket' },
];

function connect(opts) {
  const s = io(srv.url, { forceNew: true, reconnection: false, timeout: 5000, ...opts });
  return new Promise((resolve, reject) => {
    s.once('connect', () => resolve(s));
    s.once('connect_error', reject);
  });
}

for (const mode of MODES) {
  test(`socket.io-client over ${mode.name}: events and acks through the C server's port`, { timeout: 20_000 }, async () => {
    const s = await connect(mode.opts);
    try {
      if (mode.name === 'polling then upgrade' && s.io.engine.transport.name !== 'websocket') {
        await new Promise((resolve) => s.io.engine.once('upgrade', resolve));
      }
      assert.equal(s.io.engine.transport.name, mode.transport);
      const back = new Promise((resolve) => s.once('hello', (...args) => resolve(args)));
      s.emit('hello', 'wörld', 42, Buffer.from([1, 2, 3]));
      const args = await back;
      assert.equal(args[0], 'wörld');
      assert.equal(args[1], 42);
      assert.deepEqual([...Buffer.from(args[2])], [1, 2, 3]);
      assert.deepEqual(await s.timeout(5000).emitWithAck('question', { n: 1 }), { n: 1 });
    } finally {
      s.close();
    }
  });
}

test("the C server's own routes answer on the same port, beside connected clients", { timeout: 20_000 }, async () => {
  const s = await connect({});
  try {
    const page = await fetch(`${srv.url}/`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /the C server's own/);
    assert.equal(await (await fetch(`${srv.url}/health`)).text(), 'ok');
    assert.equal((await fetch(`${srv.url}/nothing-here`)).status, 404);
    assert.equal(await s.timeout(5000).emitWithAck('question', 'still here'), 'still here');
  } finally {
    s.close();
  }
});

test('a bad upgrade gets the answer of the hub\'s own listener and disturbs no one', { timeout: 20_000 }, async () => {
  const s = await connect({ transports: ['websocket'] });
  try {
    // An upgrade without Sec-WebSocket-Key: 426, as on wshub's own listener.
    const answer = await new Promise((resolve, reject) => {
      const c = net.connect(srv.port, '127.0.0.1');
      let got = '';
      c.on('data', (d) => { got += d; });
      c.on('end', () => resolve(got));
      c.on('error', reject);
      c.write('GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
    });
    assert.match(answer, /^HTTP\/1\.1 426/);
    // A client that sends half a head and vanishes costs only its connection.
    const c = net.connect(srv.port, '127.0.0.1');
    await new Promise((resolve) => c.on('connect', resolve));
    c.write('GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nUpgrade: webso');
    c.destroy();
    assert.equal(await s.timeout(5000).emitWithAck('question', 'fine'), 'fine');
  } finally {
    s.close();
  }
});
