#!/usr/bin/env node
// Runs socket.io's own server test suite (packages/socket.io/test of
// socketio/socket.io) twice: against the real `socket.io` from npm (the
// baseline) and against wshub's Node binding through shim.js, and prints
// per-file counts for both.
//
//   node tests/sio-server-suite/run.mjs <socket.io checkout, or a bare mirror of it> [options]
//
// Options:
//   --ref <ref>          git ref to take the suite from (default: the tag socket.io@<version> matching
//                        packages/socket.io/package.json at HEAD when the tag exists, else HEAD;
//                        a checkout with a work tree is copied as it is unless --ref is given)
//   --workdir <dir>      where to lay it out (default: a new dir under os.tmpdir()); reused if it has node_modules
//   --only <variant>     baseline or wshub
//   --files <a.ts,b.ts>  just these test files
//   --file-timeout <s>   bound of one mocha run (one test file), default 900
//   --total-timeout <s>  bound of all the mocha runs of one variant, default 2400
//   --json <file>        also write the results there
//
// Nothing is written to the checkout or to this repository (unless --json
// points there). Needs the binding built (bindings/node/build/Release/wshub.node).

import { execFileSync, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..', '..');
const bindingDir = path.join(repoRoot, 'bindings', 'node');
const shimPath = path.join(here, 'shim.js');
const reporterPath = path.join(here, 'reporter.cjs');

const SUITE = 'packages/socket.io/test';
// Left out, and counted as such: uws.ts needs uWebSockets.js (a native module
// from GitHub, not npm); socket.io.test-d.ts is a type test for tsd, not mocha.
const LEFT_OUT = {
  'uws.ts': 'needs uWebSockets.js (socket.io over uWS.App, not an http.Server)',
  'socket.io.test-d.ts': 'type-level test for tsd, not a mocha file',
};

// ---------- arguments ----------

function parseArgs(argv) {
  const opts = { fileTimeout: 900, totalTimeout: 2400 };
  const rest = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) die(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--ref') opts.ref = val();
    else if (a === '--workdir') opts.workdir = path.resolve(val());
    else if (a === '--only') opts.only = val();
    else if (a === '--files') opts.files = val().split(',').filter(Boolean);
    else if (a === '--file-timeout') opts.fileTimeout = Number(val());
    else if (a === '--total-timeout') opts.totalTimeout = Number(val());
    else if (a === '--json') opts.json = path.resolve(val());
    else if (a === '-h' || a === '--help') {
      console.log(fs.readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(1, 21).map((l) => l.replace(/^\/\/ ?/, '')).join('\n'));
      process.exit(0);
    } else if (a.startsWith('--')) die(`unknown option ${a}`);
    else rest.push(a);
  }
  if (rest.length !== 1) die('usage: node tests/sio-server-suite/run.mjs <socket.io checkout or bare mirror> [options] (--help)');
  if (opts.only && !['baseline', 'wshub'].includes(opts.only)) die('--only takes baseline or wshub');
  opts.source = path.resolve(rest[0]);
  return opts;
}

function die(msg) {
  console.error(`run.mjs: ${msg}`);
  process.exit(2);
}

// ---------- the suite's source ----------

function git(src, args, encoding = 'utf8') {
  return execFileSync('git', ['-C', src, ...args], { encoding, maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** A reader of the checkout's files at a ref (bare mirror) or on disk (work tree). */
function openSource(source, wantedRef) {
  let root = source;
  // Accept the repository root, packages/socket.io or packages/socket.io/test.
  for (const suffix of ['packages/socket.io/test', 'packages/socket.io']) {
    if (root.endsWith(path.sep + path.normalize(suffix))) root = root.slice(0, -suffix.length - 1);
  }
  const onDisk = fs.existsSync(path.join(root, SUITE)) && !wantedRef;
  if (onDisk) {
    return {
      desc: `work tree ${root}`,
      ref: null,
      read: (p) => fs.readFileSync(path.join(root, p)),
      exists: (p) => fs.existsSync(path.join(root, p)),
      list: (dir) => listDisk(path.join(root, dir)).map((f) => path.posix.join(dir, f)),
    };
  }
  try {
    git(root, ['rev-parse', '--git-dir']);
  } catch {
    die(`${source} is neither a socket.io checkout (no ${SUITE}) nor a git repository`);
  }
  let ref = wantedRef;
  if (!ref) {
    const version = JSON.parse(git(root, ['show', 'HEAD:packages/socket.io/package.json'])).version;
    const tag = `socket.io@${version}`;
    ref = tagExists(root, tag) ? tag : 'HEAD';
  }
  const commit = git(root, ['rev-parse', `${ref}^{commit}`]).trim();
  return {
    desc: `git ${root} at ${ref} (${commit})`,
    ref,
    commit,
    read: (p) => git(root, ['show', `${commit}:${p}`], 'buffer'),
    exists: (p) => {
      try {
        git(root, ['cat-file', '-e', `${commit}:${p}`]);
        return true;
      } catch {
        return false;
      }
    },
    list: (dir) =>
      git(root, ['ls-tree', '-r', '--name-only', '-z', commit, '--', dir])
        .split('\0')
        .filter(Boolean),
  };
}

function tagExists(root, tag) {
  try {
    git(root, ['rev-parse', '--verify', '--quiet', `refs/tags/${tag}`]);
    return true;
  } catch {
    return false;
  }
}

function listDisk(dir, prefix = '') {
  const out = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const rel = path.posix.join(prefix, e.name);
    if (e.isDirectory()) out.push(...listDisk(path.join(dir, e.name), rel));
    else out.push(rel);
  }
  return out;
}

function readJson(src, p, fallback) {
  try {
    return JSON.parse(src.read(p).toString('utf8'));
  } catch {
    return fallback;
  }
}

/** Copies the suite into `dest` (dest/test/...). Returns the files whose content is absent (e.g. large blobs a mirror left out). */
function copySuite(src, dest) {
  const missing = [];
  for (const p of src.list(SUITE)) {
    const rel = p.slice(SUITE.length + 1);
    const to = path.join(dest, 'test', rel);
    fs.mkdirSync(path.dirname(to), { recursive: true });
    let data;
    try {
      data = src.read(p);
    } catch {
      missing.push(rel);
      continue;
    }
    fs.writeFileSync(to, data);
  }
  return missing;
}

// ---------- the layout ----------
//
// <workdir>/package.json, node_modules/   mocha, tsx, expect.js, supertest, socket.io-client, socket.io (baseline), ...
// <workdir>/baseline/{package.json,index.js,test/}   index.js: module.exports = require("socket.io")
// <workdir>/wshub/{package.json,index.js,test/}      index.js: module.exports = require("<this folder>/shim.js")
//
// In test/, ".." is the variant folder, so `import { Server } from ".."`,
// `require("../..")` (test/fixtures/) and `require("../package.json")` resolve
// there; `import type` of "../lib/..." / "../../lib/..." is erased by tsx.

function devDependencies(src) {
  const root = readJson(src, 'package.json', {});
  const sio = readJson(src, 'packages/socket.io/package.json', {});
  const client = readJson(src, 'packages/socket.io-client/package.json', {});
  const rootDev = root.devDependencies || {};
  const pick = (name, fallback) => rootDev[name] || fallback;
  if (!sio.version) die('no packages/socket.io/package.json in the source');
  return {
    deps: {
      mocha: pick('mocha', '^10.6.0'),
      tsx: pick('tsx', '~4.20.6'),
      'expect.js': pick('expect.js', '^0.3.1'),
      supertest: pick('supertest', '^7.0.0'),
      superagent: pick('superagent', '^9.0.2'),
      'socket.io-client-v2': pick('socket.io-client-v2', 'npm:socket.io-client@^2.5.0'),
      'socket.io-adapter': (sio.dependencies || {})['socket.io-adapter'] || '~2.5.2',
      'socket.io-client': client.version ? `~${client.version}` : '~4.8.1',
      'socket.io': sio.version,
    },
    sioVersion: sio.version,
  };
}

function run(cmd, args, opts) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: 'inherit', ...opts });
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve({ code, signal }));
  });
}

async function npmInstall(workdir, deps) {
  const pkg = { name: 'sio-server-suite-run', private: true, description: 'temporary: socket.io server suite against socket.io and wshub', dependencies: deps };
  const pkgFile = path.join(workdir, 'package.json');
  const text = JSON.stringify(pkg, null, 2) + '\n';
  const same = fs.existsSync(pkgFile) && fs.readFileSync(pkgFile, 'utf8') === text;
  if (same && fs.existsSync(path.join(workdir, 'node_modules', 'socket.io', 'package.json'))) {
    console.log(`(reusing ${path.join(workdir, 'node_modules')})`);
    return;
  }
  fs.writeFileSync(pkgFile, text);
  console.log(`npm install in ${workdir} ...`);
  const child = spawn('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts', '--loglevel=error'], { cwd: workdir, stdio: 'inherit', detached: true });
  const timer = setTimeout(() => killGroup(child.pid), 600_000);
  const { code, signal } = await new Promise((resolve) => child.on('exit', (c, s) => resolve({ code: c, signal: s })));
  clearTimeout(timer);
  if (code !== 0) die(`npm install failed (${signal || code})`);
}

function killGroup(pid) {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch (err) {
    if (err.code !== 'ESRCH') throw err;
  }
}

function layoutVariant(workdir, name, src, identity, indexJs) {
  const dir = path.join(workdir, name);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  // `require("../package.json").version` in the tests is the package under test's own version.
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ private: true, main: 'index.js', ...identity }, null, 2) + '\n');
  fs.writeFileSync(path.join(dir, 'index.js'), indexJs);
  const missing = copySuite(src, dir);
  return { dir, missing };
}

/** The test files in the order test/index.ts requires them; files it does not name are not part of the suite. */
function suiteFiles(testDir) {
  const index = fs.readFileSync(path.join(testDir, 'index.ts'), 'utf8');
  const files = [...index.matchAll(/require\(\s*["']\.\/([^"']+)["']\s*\)/g)].map((m) => (m[1].endsWith('.ts') ? m[1] : `${m[1]}.ts`));
  return files.filter((f) => fs.existsSync(path.join(testDir, f)));
}

function staticTestCount(file) {
  try {
    return (fs.readFileSync(file, 'utf8').match(/(^|[^\w.])it\(/g) || []).length;
  } catch {
    return null;
  }
}

// ---------- running mocha ----------

async function runFile(variantDir, file, outFile, logFile, timeoutS) {
  const mocha = path.join(variantDir, '..', 'node_modules', 'mocha', 'bin', 'mocha.js');
  const args = [mocha, '--import=tsx', '--reporter', reporterPath, '--timeout', '10000', '--slow', '200', '--exit', `test/${file}`];
  const log = fs.openSync(logFile, 'w');
  fs.rmSync(outFile, { force: true });
  const started = Date.now();
  // Its own process group: on the bound, or once mocha is done, whatever it left behind
  // (test/close.ts's child process, a hung hub) is killed with it, by this group id only.
  const child = spawn(process.execPath, args, {
    cwd: variantDir,
    detached: true,
    stdio: ['ignore', log, log],
    env: { ...process.env, SIO_SUITE_OUT: outFile, FORCE_COLOR: '0', NO_COLOR: '1' },
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup(child.pid);
  }, timeoutS * 1000);
  const { code, signal } = await new Promise((resolve) => child.on('exit', (c, s) => resolve({ code: c, signal: s })));
  clearTimeout(timer);
  killGroup(child.pid);
  fs.closeSync(log);
  let tests = [];
  try {
    tests = JSON.parse(fs.readFileSync(outFile, 'utf8')).tests;
  } catch {
    /* mocha died before its first test: no records */
  }
  return { code, signal, timedOut, seconds: Math.round((Date.now() - started) / 1000), tests };
}

async function runVariant(name, variantDir, files, opts, workdir) {
  const deadline = Date.now() + opts.totalTimeout * 1000;
  const results = {};
  for (const file of files) {
    const left = Math.floor((deadline - Date.now()) / 1000);
    if (left <= 0) {
      results[file] = { skipped: 'total time bound reached', tests: [] };
      console.log(`  ${name} ${file}: not run (total time bound reached)`);
      continue;
    }
    const base = path.join(workdir, 'logs', `${name}-${file.replace(/[^\w.-]/g, '_')}`);
    const r = await runFile(variantDir, file, `${base}.json`, `${base}.log`, Math.min(opts.fileTimeout, left));
    results[file] = r;
    const passed = r.tests.filter((t) => t.state === 'passed').length;
    const note = r.timedOut ? ' (killed on its time bound)' : r.code !== 0 && !r.tests.length ? ` (mocha exited ${r.signal || r.code} with no results: see ${base}.log)` : '';
    console.log(`  ${name} ${file}: ${passed}/${r.tests.length} passed in ${r.seconds}s${note}`);
  }
  return results;
}

// ---------- main ----------

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (!fs.existsSync(path.join(bindingDir, 'build', 'Release', 'wshub.node')) && !fs.existsSync(path.join(bindingDir, 'build', 'Debug', 'wshub.node'))) {
    die(`the binding is not built: run \`npm install\` in ${bindingDir} first`);
  }
  const src = openSource(opts.source, opts.ref);
  const { deps, sioVersion } = devDependencies(src);
  const workdir = opts.workdir || fs.mkdtempSync(path.join(os.tmpdir(), 'sio-server-suite-'));
  fs.mkdirSync(path.join(workdir, 'logs'), { recursive: true });
  console.log(`suite: ${src.desc}`);
  console.log(`workdir: ${workdir}`);
  await npmInstall(workdir, deps);

  const installed = JSON.parse(fs.readFileSync(path.join(workdir, 'node_modules', 'socket.io', 'package.json'), 'utf8')).version;
  const clientInstalled = JSON.parse(fs.readFileSync(path.join(workdir, 'node_modules', 'socket.io-client', 'package.json'), 'utf8')).version;
  const wshubPkg = JSON.parse(fs.readFileSync(path.join(bindingDir, 'package.json'), 'utf8'));
  // The socket.io-client whose bundle the binding serves at /socket.io/socket.io.js.
  const servedClient = JSON.parse(fs.readFileSync(createRequire(path.join(bindingDir, 'index.js')).resolve('socket.io-client/package.json'), 'utf8')).version;

  const variants = [];
  if (opts.only !== 'wshub') {
    variants.push({
      name: 'baseline',
      ...layoutVariant(workdir, 'baseline', src, { name: 'socket.io', version: installed }, "'use strict';\nmodule.exports = require('socket.io');\n"),
    });
  }
  if (opts.only !== 'baseline') {
    variants.push({
      name: 'wshub',
      // server-attachment.ts reads `require("../package.json").version` as the version of the
      // client bundle the server serves (socket.io's ETag is '"' + its version + '"', its version
      // being its bundled client's). wshub serves socket.io-client's bundle with that client's
      // version as its ETag, so that is the version here (wshub's own is in `wshubVersion`).
      ...layoutVariant(
        workdir,
        'wshub',
        src,
        { name: wshubPkg.name, version: servedClient, wshubVersion: wshubPkg.version },
        `'use strict';\nmodule.exports = require(${JSON.stringify(shimPath)});\n`,
      ),
    });
  }
  const testDir = path.join(variants[0].dir, 'test');
  const missing = variants[0].missing;
  if (missing.length) console.log(`absent from the source (not copied; tests reading them fail on both): ${missing.join(', ')}`);

  const leftOut = Object.entries(LEFT_OUT)
    .filter(([f]) => fs.existsSync(path.join(testDir, f)))
    .map(([file, reason]) => ({ file, tests: staticTestCount(path.join(testDir, file)), reason }));
  let files = suiteFiles(testDir).filter((f) => !LEFT_OUT[f]);
  if (opts.files) files = files.filter((f) => opts.files.includes(f));

  console.log(`socket.io ${installed} (baseline), socket.io-client ${clientInstalled} (the tests' client), wshub ${wshubPkg.version} (serving socket.io-client ${servedClient}'s bundle), node ${process.version}`);
  const byVariant = {};
  for (const v of variants) {
    console.log(`running ${v.name} ...`);
    byVariant[v.name] = await runVariant(v.name, v.dir, files, opts, workdir);
  }

  // ---------- report ----------
  const rows = [];
  const tests = [];
  for (const file of files) {
    const base = byVariant.baseline && byVariant.baseline[file];
    const wsh = byVariant.wshub && byVariant.wshub[file];
    const count = Math.max(base ? base.tests.length : 0, wsh ? wsh.tests.length : 0);
    const passed = (r) => (r ? r.tests.filter((t) => t.state === 'passed').length : null);
    rows.push({
      file,
      tests: count,
      baselinePassed: passed(base),
      wshubPassed: passed(wsh),
      wshubPassedWithHandlerError: wsh ? wsh.tests.filter((t) => t.state === 'passed' && t.handlerThrew).length : null,
      notes: [base && base.timedOut && 'baseline killed on its time bound', wsh && wsh.timedOut && 'wshub killed on its time bound']
        .filter(Boolean)
        .join('; '),
    });
    const n = Math.max(base ? base.tests.length : 0, wsh ? wsh.tests.length : 0);
    for (let i = 0; i < n; i++) {
      const b = base && base.tests[i];
      const w = wsh && wsh.tests[i];
      const pick = (t) => t && { state: t.state, ms: t.ms, error: t.error, stderr: t.stderr || undefined, handlerThrew: t.handlerThrew };
      tests.push({ file, title: (b || w).title, baseline: pick(b), wshub: pick(w) });
    }
  }
  const total = rows.reduce((a, r) => ({ tests: a.tests + r.tests, b: a.b + (r.baselinePassed || 0), w: a.w + (r.wshubPassed || 0) }), { tests: 0, b: 0, w: 0 });

  const pad = (s, n) => String(s).padEnd(n);
  const lpad = (s, n) => String(s).padStart(n);
  const w0 = Math.max(24, ...rows.map((r) => r.file.length), ...leftOut.map((r) => r.file.length));
  console.log('');
  console.log(`${pad('file', w0)}  ${lpad('tests', 5)}  ${lpad('baseline', 8)}  ${lpad('wshub', 5)}`);
  for (const r of rows) {
    console.log(`${pad(r.file, w0)}  ${lpad(r.tests, 5)}  ${lpad(r.baselinePassed ?? '-', 8)}  ${lpad(r.wshubPassed ?? '-', 5)}${r.notes ? `  (${r.notes})` : ''}`);
  }
  console.log(`${pad('total', w0)}  ${lpad(total.tests, 5)}  ${lpad(byVariant.baseline ? total.b : '-', 8)}  ${lpad(byVariant.wshub ? total.w : '-', 5)}`);
  for (const l of leftOut) console.log(`${pad(l.file, w0)}  ${lpad(l.tests ?? '?', 5)}  left out: ${l.reason}`);
  if (total.tests) {
    const pct = (n) => `${((100 * n) / total.tests).toFixed(1)}%`;
    const parts = [byVariant.baseline && `baseline ${pct(total.b)}`, byVariant.wshub && `wshub ${pct(total.w)}`].filter(Boolean);
    console.log(`${parts.join(', ')} of the ${total.tests} tests run`);
  }

  if (byVariant.baseline && byVariant.wshub) {
    const regress = tests.filter((t) => t.baseline && t.baseline.state === 'passed' && (!t.wshub || t.wshub.state !== 'passed'));
    console.log(`\n${regress.length} tests pass on the baseline and not on wshub:`);
    for (const t of regress) {
      const why = (t.wshub && (t.wshub.error || t.wshub.state)) || 'no result';
      console.log(`- [${t.file}] ${t.title}\n    ${why.split('\n')[0]}`);
    }
    const both = tests.filter((t) => t.baseline && t.baseline.state !== 'passed');
    if (both.length) {
      console.log(`\n${both.length} tests do not pass on the baseline either:`);
      for (const t of both) console.log(`- [${t.file}] ${t.title}: ${(t.baseline.error || t.baseline.state).split('\n')[0]}`);
    }
    const lucky = tests.filter((t) => t.wshub && t.wshub.state === 'passed' && t.wshub.handlerThrew);
    if (lucky.length) {
      console.log(`\n${lucky.length} tests pass on wshub although a handler threw (socket.io would have failed them):`);
      for (const t of lucky) console.log(`- [${t.file}] ${t.title}`);
    }
  }

  const report = {
    date: new Date().toISOString(),
    suite: src.desc,
    socketIo: installed,
    socketIoClient: clientInstalled,
    wshub: wshubPkg.version,
    wshubServedClient: servedClient,
    node: process.version,
    absentFromSource: missing,
    leftOut,
    files: rows,
    total,
    tests,
  };
  const jsonFile = path.join(workdir, 'results.json');
  fs.writeFileSync(jsonFile, JSON.stringify(report, null, 1) + '\n');
  if (opts.json) fs.writeFileSync(opts.json, JSON.stringify(report, null, 1) + '\n');
  console.log(`\nresults: ${jsonFile}${opts.json ? ` and ${opts.json}` : ''}; logs: ${path.join(workdir, 'logs')}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
