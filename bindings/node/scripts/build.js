#!/usr/bin/env node
'use strict';
// The package's install step: builds libwshub (cargo build --release --lib at
// the repository root), then the addon with node-gyp against the local Node
// headers, so nothing is downloaded from outside the npm registry.
//
//   WSHUB_LIB_DIR=/usr/local/lib WSHUB_INCLUDE_DIR=/usr/local/include  use an installed libwshub.a
//   WSHUB_SKIP_CARGO=1                                                 the library is already built
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');
const { repoRoot, libDir } = require('./paths');

const pkg = path.resolve(__dirname, '..');

function run(cmd, args, cwd) {
  console.log(`wshub: ${cmd} ${args.join(' ')}  (in ${cwd})`);
  const r = spawnSync(cmd, args, { cwd, stdio: 'inherit' });
  if (r.error) throw r.error;
  if (r.status !== 0) process.exit(r.status || 1);
}

// 1. libwshub
if (!process.env.WSHUB_LIB_DIR && !process.env.WSHUB_SKIP_CARGO) {
  const root = repoRoot();
  if (!root) {
    console.error('wshub: this package builds against the wshub repository two folders up (bindings/node);\n' +
      'outside it, point WSHUB_LIB_DIR at a folder with libwshub.a (and WSHUB_INCLUDE_DIR at wshub.h).');
    process.exit(1);
  }
  run(process.env.CARGO || 'cargo', ['build', '--release', '--lib'], root);
}
const lib = path.join(libDir(), 'libwshub.a');
if (!fs.existsSync(lib)) {
  console.error(`wshub: ${lib} is missing`);
  process.exit(1);
}

// 2. node-gyp: npm's own copy (npm tells scripts where it is), else one beside npm, else a dependency.
function findNodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    path.join(path.dirname(process.execPath), 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  for (const c of candidates) if (c && fs.existsSync(c)) return c;
  try {
    return require.resolve('node-gyp/bin/node-gyp.js');
  } catch {
    return null;
  }
}
const gyp = findNodeGyp();
if (!gyp) {
  console.error('wshub: node-gyp not found (it ships with npm; or `npm install -g node-gyp`)');
  process.exit(1);
}

// 3. The headers of the running Node, where its installation has them
// (Debian's nodejs-dev: /usr/include/node), so node-gyp does not download them.
const args = [gyp, 'rebuild'];
if (!process.env.npm_config_nodedir) {
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  const inc = path.join(prefix, 'include', 'node');
  if (fs.existsSync(path.join(inc, 'node_api.h')) && fs.existsSync(path.join(inc, 'common.gypi'))) {
    args.push(`--nodedir=${prefix}`);
  }
}
run(process.execPath, args, pkg);
