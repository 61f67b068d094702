'use strict';
// index.d.ts: test/types/usage.ts compiles under `tsc --strict`, and its
// @ts-expect-error lines (wrongly typed events) are errors.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

let tsc = null;
try {
  tsc = require.resolve('typescript/bin/tsc');
} catch {
  /* typescript is a devDependency: skipped when it is not installed */
}

test('index.d.ts types events like socket.io', { skip: !tsc && 'typescript is not installed', timeout: 120_000 }, () => {
  const r = spawnSync(process.execPath, [tsc, '-p', path.join(__dirname, 'types', 'tsconfig.json')], {
    encoding: 'utf8',
    timeout: 110_000,
  });
  assert.equal(r.status, 0, `tsc failed:\n${r.stdout}${r.stderr}`);
});
