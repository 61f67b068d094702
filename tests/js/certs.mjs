// A throwaway certificate authority and a leaf certificate for localhost and
// 127.0.0.1, made with the `openssl` CLI in a temporary folder (removed at
// process exit). For the TLS tests: the server gets cert.pem/key.pem, the
// clients trust ca.pem.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export function makeTestCerts() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wshub-tls-'));
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const openssl = (args) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  fs.writeFileSync(path.join(dir, 'leaf.ext'), [
    'subjectAltName=DNS:localhost,IP:127.0.0.1',
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature',
    'extendedKeyUsage=serverAuth',
    '',
  ].join('\n'));
  openssl(['req', '-x509', ...ec, '-days', '2', '-subj', '/CN=wshub test CA', '-keyout', 'ca.key', '-out', 'ca.pem']);
  openssl(['req', ...ec, '-subj', '/CN=localhost', '-keyout', 'key.pem', '-out', 'leaf.csr']);
  openssl(['x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', '2', '-days', '2',
    '-extfile', 'leaf.ext', '-out', 'cert.pem']);
  return {
    dir,
    cert: path.join(dir, 'cert.pem'),
    key: path.join(dir, 'key.pem'),
    ca: fs.readFileSync(path.join(dir, 'ca.pem')),
  };
}
