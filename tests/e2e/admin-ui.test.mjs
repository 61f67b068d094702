// The Socket.IO admin UI (the @socket.io/admin-ui npm package's own page) in
// headless Chromium against wshub's server side of it, for a Rust hub
// (examples/chat.rs with ADMIN_PASSWORD set) and a Node-binding hub (below): the page is served by the hub under /admin/, logs in,
// and shows the connected sockets, their rooms and the server; a wrong
// password is refused. A chat client (socket.io-client) is what it looks at.
//
// The page asks two CDNs for its fonts and icons; the machine is offline, so
// those two requests are answered empty here. Any other failed request, HTTP
// error, console error or page error fails the test.
import test, { after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { io as ioc } from 'socket.io-client';
import { ROOT, STEP_TIMEOUT, buildChat, launchBrowser, startServer } from './helpers.mjs';

const PASSWORD = 'pa55-w0rd';
const CDNS = /^https:\/\/(fonts\.googleapis\.com|cdn\.jsdelivr\.net)\//;

// examples/node/chat.js does `require('wshub')`: a NODE_PATH folder whose `wshub` is bindings/node.
const nodeModules = fs.mkdtempSync(path.join(os.tmpdir(), 'wshub-admin-'));
fs.symlinkSync(path.join(ROOT, 'bindings', 'node'), path.join(nodeModules, 'wshub'));
after(() => fs.rmSync(nodeModules, { recursive: true, force: true }));

/** A Node-binding hub with the admin UI: `join` puts a socket in the room "people" and acks, as the chat does. */
const NODE_HUB = `
const { Server } = require('wshub');
const io = new Server({ port: Number(process.env.PORT), adminUi: { username: 'admin', password: process.env.ADMIN_PASSWORD,
  uiDir: ${JSON.stringify(path.join(ROOT, 'node_modules', '@socket.io', 'admin-ui', 'ui', 'dist'))} } });
io.on('connection', (socket) => socket.on('join', (nick, ack) => { socket.join('people'); ack({ ok: true, name: nick }); }));
console.log('LISTENING ' + io.port);
`;

const servers = [
  { name: 'Rust (examples/chat.rs)', start: () => startServer({ env: { ADMIN_PASSWORD: PASSWORD } }) },
  {
    // The chat example's room protocol is all the client below needs; the hub is the Node binding's.
    name: 'Node binding',
    start: () =>
      startServer({
        cmd: process.execPath,
        args: ['-e', NODE_HUB],
        env: { ADMIN_PASSWORD: PASSWORD, NODE_PATH: nodeModules },
        name: 'Node-binding hub',
      }),
  },
];

/** A chat client that joined as `nick` (so it is in the room "people"); resolves with it. */
function chatClient(t, url, nick) {
  const c = ioc(url, { transports: ['websocket'], reconnection: false, forceNew: true });
  t.after(() => c.close());
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the chat client did not join')), STEP_TIMEOUT);
    c.on('connect', () =>
      c.emit('join', nick, (answer) => {
        clearTimeout(timer);
        if (answer && answer.ok) resolve(c);
        else reject(new Error(`join refused: ${JSON.stringify(answer)}`));
      }),
    );
    c.on('connect_error', (e) => reject(e));
  });
}

/** Opens the admin page and fills its connection form; returns the page and the problems seen. */
async function openAdmin(t, browser, url, password) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  t.after(() => context.close());
  context.setDefaultTimeout(STEP_TIMEOUT);
  await context.route(CDNS, (route) => route.fulfill({ status: 200, contentType: 'text/css', body: '' }));
  const page = await context.newPage();
  const problems = [];
  page.on('console', (m) => m.type() === 'error' && problems.push(`console error: ${m.text()}`));
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
  page.on('response', (r) => r.status() >= 400 && problems.push(`HTTP ${r.status()} ${r.url()}`));
  await page.goto(`${url}/admin/`);
  await page.getByLabel('Server URL').fill(url);
  await page.getByLabel('Username').fill('admin');
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Connect' }).click();
  return { page, problems };
}

for (const server of servers) {
  test(`the admin UI page shows the sockets, their rooms and the server: ${server.name}`, async (t) => {
    if (server.name.startsWith('Rust')) buildChat();
    const srv = await server.start();
    t.after(() => srv.stop());
    const chatter = await chatClient(t, srv.url, 'alice');
    const browser = await launchBrowser();
    t.after(() => browser.close());

    const { page, problems } = await openAdmin(t, browser, srv.url, PASSWORD);
    await page.getByRole('button', { name: 'Connect' }).waitFor({ state: 'hidden' }); // logged in: the form goes away

    // Through the page's own navigation: it offers these views only for the features the hub announced.
    await page.getByRole('link', { name: 'Sockets' }).click();
    await page.getByText(chatter.id, { exact: true }).waitFor();

    await page.getByRole('link', { name: 'Rooms' }).click();
    await page.getByText('people', { exact: true }).first().waitFor();

    await page.goto(`${srv.url}/admin/#/servers/`);
    await page.getByText(os.hostname(), { exact: true }).first().waitFor();

    // A socket that comes later appears without a reload (the socket_connected feed).
    const late = await chatClient(t, srv.url, 'bob');
    await page.goto(`${srv.url}/admin/#/sockets/`);
    await page.getByText(late.id, { exact: true }).waitFor();
    assert.deepEqual(problems, []);
  });
}

test('the admin UI page is refused with a wrong password', async (t) => {
  buildChat();
  const srv = await servers[0].start();
  t.after(() => srv.stop());
  const browser = await launchBrowser();
  t.after(() => browser.close());
  const { page, problems } = await openAdmin(t, browser, srv.url, 'not-the-password');
  await page.getByText('invalid credentials').first().waitFor();
  assert.ok(await page.getByRole('button', { name: 'Connect' }).isVisible(), 'the connection form stays');
  assert.deepEqual(problems, []);
});
