// Helpers for the browser end-to-end tests of the chat example: build and
// run `target/debug/examples/chat`, drive Debian's chromium with
// playwright-core, and keep a screenshot of every page when a test fails.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CHAT_BIN = process.env.WSHUB_CHAT_BIN || path.join(ROOT, 'target', 'debug', 'examples', 'chat');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const SCREENSHOT_DIR = process.env.WSHUB_E2E_SCREENSHOTS || path.join(ROOT, 'tests', 'e2e', 'screenshots');

/** Default timeout of every Playwright wait (ms). */
export const STEP_TIMEOUT = 10_000;

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Builds the chat example once per test process (a no-op when it is up to date). */
let built = false;
export function buildChat() {
  if (built || process.env.WSHUB_CHAT_BIN) return;
  const res = spawnSync('cargo', ['build', '--example', 'chat'], {
    cwd: ROOT,
    stdio: ['ignore', 'inherit', 'inherit'],
    timeout: 15 * 60_000,
  });
  if (res.status !== 0) throw new Error(`cargo build --example chat failed (status ${res.status}, ${res.error || res.signal || ''})`);
  built = true;
}

/**
 * Starts a chat server (`cmd args`, by default the Rust one) in the repository
 * root with PORT=`port` (0: any free port) and resolves once it prints
 * `LISTENING <port>`. Returns { port, pid, url, stop() }.
 */
export function startServer({ port = 0, timeout = 10_000, cmd = CHAT_BIN, args = [], env = {}, name = 'chat server' } = {}) {
  const child = spawn(cmd, args, {
    cwd: ROOT,
    env: { ...process.env, ...env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const listening = new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${name} printed no LISTENING line within ${timeout} ms; stderr: ${stderr}`));
    }, timeout);
    child.stdout.on('data', (d) => {
      out += d;
      const m = /^LISTENING (\d+)$/m.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.once('error', (e) => { clearTimeout(timer); reject(e); });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited early (code ${code}, signal ${signal}); stderr: ${stderr}`));
    });
  });
  return listening.then((p) => ({
    port: p,
    pid: child.pid,
    url: `http://127.0.0.1:${p}`,
    /** Kills this server (by its PID) and waits until it is gone. */
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await Promise.race([exited, sleep(5000)]);
    },
  }));
}

/** Starts a server on `port`, retrying for a while if the port is still busy. */
export async function startServerOn(port, { ms = 10_000 } = {}) {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await startServer({ port });
    } catch (e) {
      if (Date.now() > deadline || !/exited early/.test(e.message)) throw e;
      await sleep(200);
    }
  }
}

/** Launches headless chromium; Playwright gives it a fresh temporary user-data-dir. */
export function launchBrowser() {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: apt-get update && apt-get install -y chromium`);
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: 30_000,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
}

/** A Socket.IO request (polling or WebSocket) of the page's client. */
const SOCKET_IO = /\/socket\.io\/\?EIO=4/;

/**
 * Runs `fn(session)` where `session.newPage(url)` opens a page in its own
 * browser context (its own storage, like another person). On failure every
 * open page is saved as a PNG under SCREENSHOT_DIR before the error goes on.
 * Every context and server registered with `session.cleanup` is closed at the end.
 *
 * What a person would see in the browser's console counts as a failure: every
 * console message of type error, uncaught page error, failed request and HTTP
 * error response on any page of the session fails the test once `fn` is done
 * (a missing favicon is such a 404). Only `session.outage(fn)` excuses the
 * failed Socket.IO requests of a server that is down on purpose.
 */
export async function withSession(browser, testName, fn) {
  const pages = [];
  const contexts = [];
  const cleanups = [];
  const problems = [];
  let outage = false;
  const problem = (page, what, url = '') => {
    if (outage && SOCKET_IO.test(url + ' ' + what)) return; // the reconnecting client's tries
    problems.push(`page ${pages.indexOf(page) + 1} (${page.url()}): ${what}${url ? ` [${url}]` : ''}`);
  };
  const session = {
    async newPage(url, { width = 900, height = 700 } = {}) {
      const context = await browser.newContext({ viewport: { width, height }, deviceScaleFactor: 1 });
      context.setDefaultTimeout(STEP_TIMEOUT);
      contexts.push(context);
      const page = await context.newPage();
      pages.push(page);
      page.on('console', (msg) => {
        if (msg.type() === 'error') problem(page, `console error: ${msg.text()}`, msg.location().url);
      });
      page.on('pageerror', (e) => problem(page, `page error: ${e.message}`));
      page.on('requestfailed', (req) => problem(page, `request failed: ${req.failure()?.errorText}`, req.url()));
      page.on('response', (res) => {
        if (res.status() >= 400) problem(page, `HTTP ${res.status()}`, res.url());
      });
      if (url) await page.goto(url, { timeout: STEP_TIMEOUT });
      return page;
    },
    /** Runs `fn` while the server is meant to be down: failed Socket.IO requests are expected. */
    async outage(fn) {
      outage = true;
      try {
        return await fn();
      } finally {
        outage = false;
      }
    },
    cleanup(f) {
      cleanups.push(f);
    },
  };
  try {
    await fn(session);
    assert.deepEqual(problems, [], `the browser reported errors in "${testName}"`);
  } catch (err) {
    await saveScreenshots(pages, testName);
    throw err;
  } finally {
    for (const c of contexts) await c.close().catch(() => {});
    for (const f of cleanups.reverse()) await Promise.resolve().then(f).catch(() => {});
  }
}

async function saveScreenshots(pages, testName) {
  try {
    fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });
    const slug = testName.replace(/[^a-z0-9]+/gi, '-').replace(/^-|-$/g, '').toLowerCase();
    for (const [i, page] of pages.entries()) {
      if (page.isClosed()) continue;
      const file = path.join(SCREENSHOT_DIR, `${slug}-page${i + 1}.png`);
      await page.screenshot({ path: file, timeout: 5000 }).catch(() => {});
      console.error(`screenshot of the failing page: ${file}`);
    }
  } catch (e) {
    console.error(`could not save screenshots: ${e.message}`);
  }
}

// ---------- driving the chat page ----------

/** Picks a nickname on the chat page and waits until the page has joined. */
export async function joinAs(page, name) {
  await page.locator('#name-input').fill(name);
  await page.locator('#join-button').click();
  await page.locator('#join').waitFor({ state: 'hidden' });
  await waitForStatus(page, 'connected');
}

/** Waits for the connection status pill to say `status`. */
export async function waitForStatus(page, status, timeout = STEP_TIMEOUT) {
  await page.waitForSelector(`#status[data-status="${status}"]`, { timeout });
}

/** Types and sends a message with the composer (Enter key). */
export async function say(page, text) {
  const input = page.locator('#message-input');
  await page.waitForSelector('#send:not([disabled])');
  await input.fill(text);
  await input.press('Enter');
}

/** Waits until a chat message from `user` with `text` is on the page; returns its locator. */
export async function waitForMessage(page, user, text) {
  const li = page.locator(`#messages li.message[data-user=${JSON.stringify(user)}]`, {
    has: page.locator('.text', { hasText: text }),
  }).first();
  await li.waitFor();
  return li;
}

/** Waits until a notice containing `text` (e.g. "Bob joined") is on the page. */
export async function waitForNotice(page, text) {
  await page.locator('#messages li.notice', { hasText: text }).first().waitFor();
}

/** Waits until the page shows `n` people online. */
export async function waitForOnline(page, n) {
  await page.waitForFunction((n) => document.getElementById('online-count').textContent === String(n), n, { timeout: STEP_TIMEOUT });
}

/** The Engine.IO transport the page's socket uses now. */
export function transportOf(page) {
  return page.evaluate(() => window.chat.socket.io.engine.transport.name);
}
