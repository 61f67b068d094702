// Spawns the test server described in tests/TEST_SERVER.md.
//
// The binary is $WSHUB_TEST_SERVER (relative paths are taken from the
// repository root) or target/debug/examples/test_server. It runs with cwd =
// repository root and PORT=0, and prints `LISTENING <port>` once it listens.
// Each test file starts its own server, so files can run in parallel.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { before, after } from 'node:test';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export function serverBinary() {
  const fromEnv = process.env.WSHUB_TEST_SERVER;
  if (fromEnv) return path.resolve(REPO_ROOT, fromEnv);
  return path.join(REPO_ROOT, 'target', 'debug', 'examples', 'test_server');
}

/** The test server's heartbeat (tests/TEST_SERVER.md), stretched by WSHUB_TEST_HEARTBEAT_SCALE. */
export const HEARTBEAT_SCALE = Math.max(1, Number.parseInt(process.env.WSHUB_TEST_HEARTBEAT_SCALE ?? '1', 10) || 1);
export const PING_INTERVAL = 300 * HEARTBEAT_SCALE;
export const PING_TIMEOUT = 200 * HEARTBEAT_SCALE;

const LOG_LIMIT = 64 * 1024;
const live = new Set();

// Never leave a server behind, even if the test process dies.
process.on('exit', () => {
  for (const child of live) {
    try { process.kill(child.pid, 'SIGKILL'); } catch { /* already gone */ }
  }
});

/**
 * Starts one server. Resolves with { port, url, pid, stop(), log() }.
 * stop() kills it by PID and throws if it had already died on its own
 * (a crash during the tests is a failure). `env` adds environment variables
 * (e.g. WSHUB_TLS_CERT / WSHUB_TLS_KEY, WSHUB_ALLOWED_ORIGINS); with `tls`
 * the url is https.
 */
export function startServer({ startTimeoutMs = 30_000, env = {}, tls = false } = {}) {
  const bin = serverBinary();
  if (!fs.existsSync(bin)) {
    return Promise.reject(new Error(
      `test server binary not found: ${bin}\n` +
      'build it with `cargo build --example test_server` or set WSHUB_TEST_SERVER'));
  }
  return new Promise((resolve, reject) => {
    const child = spawn(bin, [], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env, PORT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    live.add(child);
    let logText = '';
    let exited = null;
    let stopping = false;
    const appendLog = (chunk) => {
      logText += chunk;
      if (logText.length > LOG_LIMIT) logText = logText.slice(-LOG_LIMIT);
    };
    const log = () => logText;
    const exitPromise = new Promise((res) => {
      child.on('exit', (code, signal) => {
        exited = { code, signal };
        live.delete(child);
        res(exited);
      });
    });

    let settled = false;
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ }
      reject(new Error(`test server did not print LISTENING within ${startTimeoutMs} ms\n${log()}`));
    }, startTimeoutMs);

    let stdoutBuf = '';
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    // Keep draining both pipes for the whole life of the server, otherwise a
    // chatty server would block on a full pipe.
    child.stderr.on('data', appendLog);
    child.stdout.on('data', (chunk) => {
      appendLog(chunk);
      if (settled) return;
      stdoutBuf += chunk;
      let nl;
      while ((nl = stdoutBuf.indexOf('\n')) >= 0) {
        const line = stdoutBuf.slice(0, nl).trim();
        stdoutBuf = stdoutBuf.slice(nl + 1);
        const m = /^LISTENING (\d+)$/.exec(line);
        if (m) {
          settled = true;
          clearTimeout(timer);
          const port = Number(m[1]);
          resolve({
            port,
            url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
            pid: child.pid,
            log,
            async stop() {
              if (exited && !stopping) {
                throw new Error(`test server exited on its own during the tests ` +
                  `(code ${exited.code}, signal ${exited.signal})\n${log()}`);
              }
              stopping = true;
              if (!exited) {
                try { process.kill(child.pid, 'SIGTERM'); } catch { /* gone */ }
                const t = setTimeout(() => {
                  try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ }
                }, 3000);
                await exitPromise;
                clearTimeout(t);
              }
            },
          });
          return;
        }
      }
    });
    child.on('error', (err) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(new Error(`cannot start test server ${bin}: ${err.message}`));
    });
    exitPromise.then(({ code, signal }) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(new Error(`test server exited before listening (code ${code}, signal ${signal})\n${log()}`));
    });
  });
}

/**
 * Registers file-level before/after hooks that start one server (with
 * startServer's `opts`) for the test file and stop it at the end. Returns a handle whose fields are filled
 * in once the server listens: { port, url, server }.
 */
export function useServer(opts = {}) {
  const handle = { port: 0, url: '', server: null };
  before(async () => {
    handle.server = await startServer(opts);
    handle.port = handle.server.port;
    handle.url = handle.server.url;
  }, { timeout: 40_000 });
  after(async () => {
    if (handle.server) await handle.server.stop();
  }, { timeout: 10_000 });
  return handle;
}
