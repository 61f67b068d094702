// Makes docs/chat.png: two people chatting, their pages side by side.
//
//   node tests/e2e/screenshot.mjs [out.png]   (from the repository root)
//
// Starts its own chat server (PORT=0) and headless chromium, like the tests.
import fs from 'node:fs';
import path from 'node:path';
import {
  ROOT, buildChat, joinAs, launchBrowser, say, sleep, startServer, waitForMessage, waitForNotice, withSession,
} from './helpers.mjs';

const out = path.resolve(process.argv[2] || path.join(ROOT, 'docs', 'chat.png'));
const W = 700;
const H = 560;

buildChat();
const browser = await launchBrowser();
try {
  await withSession(browser, 'docs screenshot', async (session) => {
    const server = await startServer();
    session.cleanup(() => server.stop());

    const ana = await session.newPage(server.url + '/', { width: W, height: H });
    await joinAs(ana, 'Ana');
    const ben = await session.newPage(server.url + '/?transport=polling', { width: W, height: H });
    await joinAs(ben, 'Ben');
    await waitForNotice(ana, 'Ben joined');

    const lines = [
      [ana, 'Ana', 'Hi Ben! Welcome to the room :)'],
      [ben, 'Ben', 'Thanks! Is this really Socket.IO served from Rust?'],
      [ana, 'Ana', 'Yes: wshub speaks Engine.IO v4 / Socket.IO v5.'],
      [ana, 'Ana', 'You are on long-polling, I am on a WebSocket.'],
      [ben, 'Ben', 'Nice, no difference from here.'],
    ];
    for (const [page, user, text] of lines) {
      await say(page, text);
      await waitForMessage(ana, user, text);
      await waitForMessage(ben, user, text);
      await sleep(150);
    }
    await ana.locator('#message-input').pressSequentially('Try the raw WebSocket');
    await ben.locator('#typing', { hasText: 'Ana is typing' }).waitFor();
    await sleep(300);

    const shots = [];
    for (const page of [ana, ben]) shots.push((await page.screenshot()).toString('base64'));

    const board = await session.newPage(null, { width: 2 * W + 3 * 16, height: H + 2 * 16 });
    await board.setContent(`<!doctype html><html><body style="margin:0;padding:16px;display:flex;gap:16px;background:#cfd6e3">
      ${shots.map((s) => `<img src="data:image/png;base64,${s}" width="${W}" height="${H}" style="border-radius:10px;box-shadow:0 4px 18px rgba(0,0,0,.18)">`).join('')}
    </body></html>`);
    fs.mkdirSync(path.dirname(out), { recursive: true });
    await board.screenshot({ path: out });
    console.log(`wrote ${out} (${fs.statSync(out).size} bytes)`);
  });
} finally {
  await browser.close();
}
