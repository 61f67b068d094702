'use strict';
// Where libwshub and its header are, for binding.gyp and scripts/build.js.
// WSHUB_LIB_DIR (a folder with libwshub.a) and WSHUB_INCLUDE_DIR (with wshub.h)
// override the in-tree build: the repository root is two folders up from this package.
const path = require('path');
const fs = require('fs');

const pkg = path.resolve(__dirname, '..');

function repoRoot() {
  const root = path.resolve(fs.realpathSync(pkg), '..', '..');
  const cargo = path.join(root, 'Cargo.toml');
  if (fs.existsSync(cargo) && /^name\s*=\s*"wshub"/m.test(fs.readFileSync(cargo, 'utf8'))) return root;
  return null;
}

function libDir() {
  if (process.env.WSHUB_LIB_DIR) return path.resolve(process.env.WSHUB_LIB_DIR);
  const root = repoRoot();
  return root && path.join(process.env.CARGO_TARGET_DIR ? path.resolve(root, process.env.CARGO_TARGET_DIR) : path.join(root, 'target'), 'release');
}

function includeDir() {
  if (process.env.WSHUB_INCLUDE_DIR) return path.resolve(process.env.WSHUB_INCLUDE_DIR);
  if (process.env.WSHUB_LIB_DIR) return path.resolve(process.env.WSHUB_LIB_DIR, '..', 'include');
  const root = repoRoot();
  return root && path.join(root, 'include');
}

module.exports = { repoRoot, libDir, includeDir };

if (require.main === module) {
  const what = process.argv[2];
  const out = what === 'lib' ? libDir() && path.join(libDir(), 'libwshub.a') : what === 'include' ? includeDir() : null;
  if (!out) {
    console.error('wshub: cannot find the wshub repository (set WSHUB_LIB_DIR and WSHUB_INCLUDE_DIR)');
    process.exit(1);
  }
  process.stdout.write(out);
}
