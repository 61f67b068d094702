// HTTP serving: the client bundle, static files, path escapes, CORS.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { useServer, REPO_ROOT } from './server.mjs';
import { httpRequest } from './helpers.mjs';

const srv = useServer();

const STATIC = path.join(REPO_ROOT, 'tests', 'fixtures', 'static');
const CONTRACT_MARKER = "The test server's contract"; // first line of tests/TEST_SERVER.md

const mediaType = (res) => String(res.headers['content-type'] || '').split(';')[0].trim().toLowerCase();

describe('client bundle', () => {
  test('GET /socket.io/socket.io.js serves the socket.io-client bundle as JavaScript', { timeout: 10_000 }, async () => {
    const res = await httpRequest(srv.port, { path: '/socket.io/socket.io.js' });
    assert.equal(res.status, 200);
    assert.match(mediaType(res), /^(application|text)\/javascript$/);
    const expected = fs.readFileSync(path.join(REPO_ROOT, 'node_modules', 'socket.io-client', 'dist', 'socket.io.js'));
    assert.ok(res.body.equals(expected), 'identical to node_modules/socket.io-client/dist/socket.io.js');
  });

  test('GET /socket.io/socket.io.min.js serves the minified bundle as JavaScript', { timeout: 10_000 }, async () => {
    const res = await httpRequest(srv.port, { path: '/socket.io/socket.io.min.js' });
    assert.equal(res.status, 200);
    assert.match(mediaType(res), /^(application|text)\/javascript$/);
    const expected = fs.readFileSync(path.join(REPO_ROOT, 'node_modules', 'socket.io-client', 'dist', 'socket.io.min.js'));
    assert.ok(res.body.equals(expected));
  });

  const DIST = path.join(REPO_ROOT, 'node_modules', 'socket.io-client', 'dist');
  const VERSION = JSON.parse(fs.readFileSync(path.join(DIST, '..', 'package.json'), 'utf8')).version;

  test('the bundle carries its version as a strong ETag, and a matching If-None-Match (strong or weak) gets 304', { timeout: 10_000 }, async () => {
    const res = await httpRequest(srv.port, { path: '/socket.io/socket.io.js?buster=1' });
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'application/javascript; charset=utf-8');
    assert.equal(res.headers.etag, `"${VERSION}"`);
    for (const tag of [`"${VERSION}"`, `W/"${VERSION}"`]) {
      const again = await httpRequest(srv.port, { path: '/socket.io/socket.io.js', headers: { 'If-None-Match': tag } });
      assert.equal(again.status, 304, tag);
      assert.equal(again.body.length, 0);
    }
    const stale = await httpRequest(srv.port, { path: '/socket.io/socket.io.js', headers: { 'If-None-Match': '"0.0.0"' } });
    assert.equal(stale.status, 200);
    const map = await httpRequest(srv.port, { path: '/socket.io/socket.io.js.map' });
    assert.equal(map.headers['content-type'], 'application/json; charset=utf-8');
  });

  test('the bundle is brotli-, gzip- or deflate-compressed for a client that accepts it, identical once inflated', { timeout: 10_000 }, async () => {
    const plain = fs.readFileSync(path.join(DIST, 'socket.io.min.js'));
    const cases = [['gzip,br,deflate', 'gzip', zlib.gunzipSync], ['deflate', 'deflate', zlib.inflateSync],
      ['br', 'br', zlib.brotliDecompressSync], ['br;q=0.5, deflate', 'deflate', zlib.inflateSync],
      ['gzip;q=0', undefined, (b) => b], ['identity', undefined, (b) => b]];
    for (const [accept, coding, inflate] of cases) {
      const res = await httpRequest(srv.port, { path: '/socket.io/socket.io.min.js', headers: { 'Accept-Encoding': accept } });
      assert.equal(res.status, 200, accept);
      assert.equal(res.headers['content-encoding'], coding, accept);
      assert.ok(inflate(res.body).equals(plain), accept);
      if (coding) assert.ok(res.body.length < plain.length / 2, `${accept}: compressed`);
    }
  });

  test('the bundle gets the CORS headers of polling for an allowed origin only', { timeout: 10_000 }, async () => {
    const ok = await httpRequest(srv.port, { path: '/socket.io/socket.io.js', headers: { Origin: 'http://allowed.example' } });
    assert.equal(ok.headers['access-control-allow-origin'], 'http://allowed.example');
    const other = await httpRequest(srv.port, { path: '/socket.io/socket.io.js', headers: { Origin: 'http://evil.example' } });
    assert.equal(other.headers['access-control-allow-origin'], undefined);
  });
});

describe('static files from tests/fixtures/static', () => {
  test('GET / serves index.html as HTML', { timeout: 10_000 }, async () => {
    const res = await httpRequest(srv.port, { path: '/' });
    assert.equal(res.status, 200);
    assert.equal(mediaType(res), 'text/html');
    assert.ok(res.body.equals(fs.readFileSync(path.join(STATIC, 'index.html'))));
  });

  test('GET /index.html serves the same page', { timeout: 10_000 }, async () => {
    const res = await httpRequest(srv.port, { path: '/index.html' });
    assert.equal(res.status, 200);
    assert.equal(mediaType(res), 'text/html');
    assert.ok(res.body.equals(fs.readFileSync(path.join(STATIC, 'index.html'))));
  });

  test('GET /hello.txt serves "hello from wshub\\n" as text/plain', { timeout: 10_000 }, async () => {
    const res = await httpRequest(srv.port, { path: '/hello.txt' });
    assert.equal(res.status, 200);
    assert.equal(mediaType(res), 'text/plain');
    assert.equal(res.body.toString('utf8'), 'hello from wshub\n');
  });

  test('GET /hello.txt with a query string still serves the file', { timeout: 10_000 }, async () => {
    const res = await httpRequest(srv.port, { path: '/hello.txt?v=1' });
    assert.equal(res.status, 200);
    assert.equal(res.body.toString('utf8'), 'hello from wshub\n');
  });

  test('a missing static file is 404', { timeout: 10_000 }, async () => {
    for (const p of ['/missing.txt', '/no/such/dir/file.html', '/hello.txt/extra']) {
      const res = await httpRequest(srv.port, { path: p });
      assert.equal(res.status, 404, `GET ${p}`);
    }
  });

  test('path escapes out of the static folder are refused with 404 or 400', { timeout: 10_000 }, async () => {
    const attempts = [
      '/../../TEST_SERVER.md',
      '/../../../Cargo.toml',
      '/../../../tests/TEST_SERVER.md',
      '/%2e%2e/%2e%2e/TEST_SERVER.md',
      '/%2E%2E/%2E%2E/%2E%2E/tests/TEST_SERVER.md',
      '/..%2f..%2fTEST_SERVER.md',
      '/..%2F..%2F..%2Ftests%2FTEST_SERVER.md',
      '/..\\..\\TEST_SERVER.md',
      '/..%5c..%5cTEST_SERVER.md',
      '/static/../../TEST_SERVER.md',
      '//etc/passwd',
      '/%2fetc%2fpasswd',
      '/hello.txt%00.html',
    ];
    for (const p of attempts) {
      const res = await httpRequest(srv.port, { path: p });
      assert.ok([400, 404].includes(res.status), `GET ${p} gave ${res.status}`);
      const body = res.body.toString('utf8');
      assert.ok(!body.includes(CONTRACT_MARKER), `GET ${p} leaked tests/TEST_SERVER.md`);
      assert.ok(!body.includes('[package]'), `GET ${p} leaked Cargo.toml`);
      assert.ok(!body.includes('root:'), `GET ${p} leaked /etc/passwd`);
    }
  });
});

describe('CORS on the polling transport', () => {
  const handshake = '/socket.io/?EIO=4&transport=polling';

  test('a polling handshake from http://allowed.example is allowed with credentials', { timeout: 10_000 }, async () => {
    const res = await httpRequest(srv.port, { path: handshake, headers: { Origin: 'http://allowed.example' } });
    assert.equal(res.status, 200);
    assert.equal(res.headers['access-control-allow-origin'], 'http://allowed.example');
    assert.equal(res.headers['access-control-allow-credentials'], 'true');
    assert.equal(res.body.toString('utf8')[0], '0', 'the handshake itself works');
  });

  test('a polling handshake from another origin does not get that origin allowed', { timeout: 10_000 }, async () => {
    for (const origin of ['http://evil.example', 'http://allowed.example.evil.example', 'https://allowed.example', 'null']) {
      const res = await httpRequest(srv.port, { path: handshake, headers: { Origin: origin } });
      const acao = res.headers['access-control-allow-origin'];
      assert.notEqual(acao, origin, `origin ${origin} must not be allowed`);
      assert.notEqual(acao, '*', `origin ${origin}: no wildcard`);
    }
  });

  test('later polling requests of an allowed-origin session carry the CORS headers too', { timeout: 10_000 }, async () => {
    const headers = { Origin: 'http://allowed.example' };
    const first = await httpRequest(srv.port, { path: handshake, headers });
    const sid = JSON.parse(first.body.toString('utf8').slice(1)).sid;
    const q = `${handshake}&sid=${encodeURIComponent(sid)}`;
    const post = await httpRequest(srv.port, {
      method: 'POST', path: q, headers: { ...headers, 'Content-Type': 'text/plain;charset=UTF-8' }, body: '40',
    });
    assert.equal(post.status, 200);
    assert.equal(post.headers['access-control-allow-origin'], 'http://allowed.example');
    assert.equal(post.headers['access-control-allow-credentials'], 'true');
    const get = await httpRequest(srv.port, { path: q, headers });
    assert.equal(get.status, 200);
    assert.equal(get.headers['access-control-allow-origin'], 'http://allowed.example');
    assert.ok(get.body.toString('utf8').startsWith('40'));
    // close the session
    await httpRequest(srv.port, { method: 'POST', path: q, headers: { ...headers, 'Content-Type': 'text/plain' }, body: '1' });
  });

  test('a CORS preflight from http://allowed.example is answered with that origin allowed', { timeout: 10_000 }, async () => {
    const res = await httpRequest(srv.port, {
      method: 'OPTIONS',
      path: handshake,
      headers: {
        Origin: 'http://allowed.example',
        'Access-Control-Request-Method': 'POST',
        'Access-Control-Request-Headers': 'content-type',
      },
    });
    assert.ok(res.status >= 200 && res.status < 300, `preflight status ${res.status}`);
    assert.equal(res.headers['access-control-allow-origin'], 'http://allowed.example');
    assert.equal(res.headers['access-control-allow-credentials'], 'true');
  });
});
