// Makes docs/admin-ui.png: the Socket.IO admin UI (the npm package's page,
// served by the hub) looking at the chat with two people in it.
//
//   node tests/e2e/screenshot-admin.mjs [out.png]   (from the repository root)
//
// Starts its own chat server (PORT=0, ADMIN_PASSWORD) and headless chromium.
// The page's web fonts and icons come from CDNs, answered empty here (offline):
// the picture has the browser's own font and no icons.
import path from 'node:path';
import { ROOT, buildChat, joinAs, launchBrowser, sleep, startServer, withSession } from './helpers.mjs';

const out = path.resolve(process.argv[2] || path.join(ROOT, 'docs', 'admin-ui.png'));
const CDNS = /^https:\/\/(fonts\.googleapis\.com|cdn\.jsdelivr\.net)\//;

buildChat();
const browser = await launchBrowser();
try {
  await withSession(browser, 'admin UI screenshot', async (session) => {
    const server = await startServer({ env: { ADMIN_PASSWORD: 'docs' } });
    session.cleanup(() => server.stop());
    await joinAs(await session.newPage(server.url + '/'), 'Ana');
    await joinAs(await session.newPage(server.url + '/?transport=polling'), 'Ben');

    const context = await browser.newContext({ viewport: { width: 1400, height: 640 } });
    session.cleanup(() => context.close());
    await context.route(CDNS, (route) => route.fulfill({ status: 200, contentType: 'text/css', body: '' }));
    const admin = await context.newPage();
    await admin.goto(server.url + '/admin/');
    await admin.getByLabel('Server URL').fill(server.url);
    await admin.getByLabel('Username').fill('admin');
    await admin.getByLabel('Password').fill('docs');
    await admin.getByRole('button', { name: 'Connect' }).click();
    await admin.getByRole('button', { name: 'Connect' }).waitFor({ state: 'hidden' });
    await admin.goto(server.url + '/admin/#/sockets/');
    await admin.getByText('websocket').first().waitFor();
    await sleep(500); // the table's transition
    await admin.screenshot({ path: out });
    console.log(`wrote ${out}`);
  });
} finally {
  await browser.close();
}
