// Draws docs/chat.png: two people chatting through the hub, their two pages
// side by side. Run from the repository root: node tests/e2e/screenshot.mjs
import fs from 'node:fs';
import path from 'node:path';
import {
  ROOT, buildChat, joinAs, launchBrowser, say, sleep, startServer, waitForMessage, withSession,
} from './helpers.mjs';

buildChat();
const browser = await launchBrowser();
const server = await startServer();
const shots = [];
try {
  await withSession(browser, 'screenshot', async (session) => {
    const alice = await session.newPage(server.url + '/', { width: 640, height: 560 });
    await joinAs(alice, 'Alice');
    const bob = await session.newPage(server.url + '/', { width: 640, height: 560 });
    await joinAs(bob, 'Bob');
    await say(alice, 'Hi Bob! This page is served by wshub, no other server running.');
    await waitForMessage(bob, 'Alice', 'Hi Bob!');
    await say(bob, 'Hello Alice! The messages go over Socket.IO.');
    await waitForMessage(alice, 'Bob', 'Hello Alice');
    await say(alice, 'And a plain WebSocket page lives at /raw.html');
    await waitForMessage(bob, 'Alice', 'plain WebSocket');
    await bob.locator('#message-input').pressSequentially('Nice');
    await alice.locator('#typing', { hasText: 'Bob is typing' }).waitFor();
    await sleep(300);
    shots.push(await alice.screenshot(), await bob.screenshot());
    // Side by side: a page of two images, screenshotted once more.
    const pair = await session.newPage(null, { width: 1296, height: 576 });
    const img = (b) => `<img src="data:image/png;base64,${b.toString('base64')}" style="border:1px solid #ccc;border-radius:6px">`;
    await pair.setContent(`<body style="margin:0;padding:8px;background:#e9edf2;display:flex;gap:8px">${shots.map(img).join('')}</body>`);
    await pair.waitForLoadState('load');
    fs.writeFileSync(path.join(ROOT, 'docs', 'chat.png'), await pair.screenshot());
  });
} finally {
  await server.stop();
  await browser.close();
}
console.log('wrote docs/chat.png');
