// Browser end-to-end tests of the chat example (examples/chat.rs and
// examples/chat/public/): real chromium pages talking through the hub.
//
//   node --test tests/e2e/
//
// Each test starts its own `target/debug/examples/chat` with PORT=0 (built
// by `cargo build --example chat` in `before`) and kills it by PID at the end.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  buildChat, joinAs, launchBrowser, say, sleep, startServer, startServerOn, transportOf,
  waitForMessage, waitForNotice, waitForOnline, waitForStatus, withSession,
} from './helpers.mjs';

const TEST_TIMEOUT = 60_000;
let browser;

before(async () => {
  buildChat();
  browser = await launchBrowser();
}, { timeout: 16 * 60_000 });

after(async () => {
  await browser?.close();
});

/** Runs `fn(session, server)` with a fresh chat server. */
function chatTest(name, fn) {
  test(name, { timeout: TEST_TIMEOUT }, async () => {
    await withSession(browser, name, async (session) => {
      const server = await startServer();
      session.cleanup(() => server.stop());
      await fn(session, server);
    });
  });
}

chatTest('two pages chat with each other through the hub', async (session, server) => {
  const alice = await session.newPage(server.url + '/');
  await joinAs(alice, 'Alice');
  await waitForOnline(alice, 1);

  const bob = await session.newPage(server.url + '/');
  await joinAs(bob, 'Bob');
  await waitForNotice(alice, 'Bob joined');
  await waitForOnline(alice, 2);
  await waitForOnline(bob, 2);
  assert.deepEqual(await alice.locator('#people li').allTextContents(), ['AAlice (you)', 'BBob']);

  // Typing shows on the other page, and goes away with the message.
  await alice.locator('#message-input').pressSequentially('Hel');
  await bob.locator('#typing', { hasText: 'Alice is typing…' }).waitFor();

  await say(alice, 'Hello Bob! <b>not bold</b>');
  const onBob = await waitForMessage(bob, 'Alice', 'Hello Bob! <b>not bold</b>');
  await waitForMessage(alice, 'Alice', 'Hello Bob!'); // the sender gets it too
  assert.match(await onBob.locator('.time').textContent(), /\d{1,2}:\d{2}/);
  assert.equal(await onBob.locator('.text b').count(), 0, 'text is shown as text, not HTML');
  await bob.waitForFunction(() => document.getElementById('typing').textContent === '');

  await say(bob, 'Hi Alice 👋');
  const onAlice = await waitForMessage(alice, 'Bob', 'Hi Alice 👋');
  assert.equal(await onAlice.evaluate((li) => li.classList.contains('mine')), false);
  assert.equal(await (await waitForMessage(bob, 'Bob', 'Hi Alice')).evaluate((li) => li.classList.contains('mine')), true);

  // Bob leaves: Alice is told and the count drops.
  await bob.context().close();
  await waitForNotice(alice, 'Bob left');
  await waitForOnline(alice, 1);
});

chatTest('a long-polling page chats with a WebSocket page', async (session, server) => {
  const polling = await session.newPage(server.url + '/?transport=polling');
  await joinAs(polling, 'Polly');
  const ws = await session.newPage(server.url + '/?transport=websocket');
  await joinAs(ws, 'Wes');
  assert.equal(await transportOf(polling), 'polling');
  assert.equal(await transportOf(ws), 'websocket');
  await waitForOnline(polling, 2);

  await say(polling, 'sent over long-polling');
  await waitForMessage(ws, 'Polly', 'sent over long-polling');
  await say(ws, 'sent over a WebSocket');
  await waitForMessage(polling, 'Wes', 'sent over a WebSocket');
  // A few quick ones both ways arrive complete and in order.
  for (let i = 1; i <= 5; i++) await say(polling, `poll ${i}`);
  await waitForMessage(ws, 'Polly', 'poll 5');
  const texts = await ws.locator('#messages li.message[data-user="Polly"] .text').allTextContents();
  assert.deepEqual(texts, ['sent over long-polling', 'poll 1', 'poll 2', 'poll 3', 'poll 4', 'poll 5']);
  assert.equal(await transportOf(polling), 'polling', 'the polling page never upgraded');
});

test('a page survives a server restart, reconnects and chats again', { timeout: TEST_TIMEOUT }, async () => {
  await withSession(browser, 'server restart', async (session) => {
    let server = await startServer();
    session.cleanup(() => server.stop());
    const { port } = server;
    const carol = await session.newPage(server.url + '/');
    await joinAs(carol, 'Carol');
    await say(carol, 'before the restart');
    await waitForMessage(carol, 'Carol', 'before the restart');

    // While the server is away the page's reconnection attempts fail in the
    // console; that is what a restart looks like, and the only errors excused.
    await session.outage(async () => {
      await server.stop();
      await waitForStatus(carol, 'reconnecting');
      assert.equal(await carol.locator('#send').isDisabled(), true, 'no sending while disconnected');
      await sleep(500);

      server = await startServerOn(port);
      await waitForStatus(carol, 'connected', 15_000);
    });
    // The page joined the new server again by itself.
    await waitForOnline(carol, 1);
    await waitForNotice(carol, 'Reconnected');

    const dave = await session.newPage(server.url + '/');
    await joinAs(dave, 'Dave');
    await waitForOnline(carol, 2);
    await say(carol, 'after the restart');
    await waitForMessage(dave, 'Carol', 'after the restart');
    await waitForMessage(carol, 'Carol', 'after the restart');
    await say(dave, 'welcome back');
    await waitForMessage(carol, 'Dave', 'welcome back');
  });
});

chatTest('the plain WebSocket page echoes in upper case and sees the chat', async (session, server) => {
  const raw = await session.newPage(server.url + '/raw.html');
  await waitForStatus(raw, 'connected');
  await raw.locator('#raw-input').fill('hello from a plain WebSocket');
  await raw.locator('#raw-input').press('Enter');
  await raw.locator('#log li.frame.sent .body', { hasText: 'hello from a plain WebSocket' }).waitFor();
  await raw.locator('#log li.frame.echo .body', { hasText: 'HELLO FROM A PLAIN WEBSOCKET' }).waitFor();

  // Chat from the Socket.IO room reaches the raw socket as JSON frames.
  const erin = await session.newPage(server.url + '/');
  await joinAs(erin, 'Erin');
  await raw.locator('#log li.frame.event', { hasText: 'Erin joined the chat' }).waitFor();
  await say(erin, 'hi raw socket');
  const frame = raw.locator('#log li.frame.event', { hasText: 'Erin: hi raw socket' });
  await frame.waitFor();
  assert.equal(await frame.locator('.kind').textContent(), 'JSON: chat message');
  // The raw socket is not a person: the count stays 1.
  await waitForOnline(erin, 1);
});

chatTest('a client that never joins is shown as "anonymous" on every page', async (session, server) => {
  const fay = await session.newPage(server.url + '/');
  await joinAs(fay, 'Fay');
  const raw = await session.newPage(server.url + '/raw.html');
  await waitForStatus(raw, 'connected');
  // A page that never picks a nickname and sends like the classic one-page chat.
  const classic = await session.newPage(server.url + '/');
  await waitForStatus(classic, 'connected');
  await classic.evaluate(() => window.chat.socket.emit('chat message', 'hello from nobody'));

  await waitForMessage(fay, 'anonymous', 'hello from nobody');
  await waitForMessage(classic, 'anonymous', 'hello from nobody'); // behind its join form, the sender has it too
  await raw.locator('#log li.frame.event', { hasText: 'anonymous: hello from nobody' }).waitFor();
  await waitForOnline(fay, 1); // nobody joined
});
