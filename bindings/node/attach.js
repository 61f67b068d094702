'use strict';
// Attaching a hub to an http.Server the app already has (express, Fastify,
// a bare http.createServer), as `new Server(httpServer)` / `io.attach(server)`
// do in Socket.IO. The app's routes stay the app's: only what the hub serves
// (its Socket.IO path, the client bundle, the raw WebSocket path) is taken.
//
// - A WebSocket upgrade is handed over whole: the connected descriptor and the
//   bytes Node already read (the request head, rebuilt from what Node parsed,
//   plus `head`). The addon gives the hub a duplicate of the descriptor and
//   this side destroys its socket, which closes only Node's copy: from then on
//   the hub owns the connection exactly as one it accepted.
// - Any other request (long-polling, preflight, the bundle) is read here, with
//   the hub's body limit, and answered with what the hub says, through the
//   completion the hub calls exactly once (later for a long-poll).

// Socket.IO's engine destroys an upgrade nobody handles after this long.
const DESTROY_UPGRADE_MS = 1000;

/**
 * Hooks `io` (its hub handle `h`, started hosted) into `httpServer`.
 * Returns a function that unhooks it and gives the app its listeners back.
 */
function attach(native, h, httpServer, { maxBody, onError }) {
  const serves = (url) => native.servesPath(h, (url || '/').split('?', 1)[0]);
  const pending = new Map(); // token -> res
  let nextToken = 1;

  // The app's own 'request' listeners run for what the hub does not serve
  // (as engine.io does it: take them off, call them from ours).
  const appListeners = httpServer.listeners('request').slice();
  httpServer.removeAllListeners('request');
  const onRequest = (req, res) => {
    if (!serves(req.url)) {
      for (const l of appListeners) l.call(httpServer, req, res);
      return;
    }
    handle(req, res);
  };

  function handle(req, res) {
    const chunks = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (c) => {
      if (tooLarge) return;
      size += c.length;
      if (size > maxBody) {
        // The hub's own listener answers 413 too; nothing more is kept.
        tooLarge = true;
        chunks.length = 0;
        res.writeHead(413, { 'Content-Type': 'text/plain', Connection: 'close' });
        res.end('Payload Too Large');
        return;
      }
      chunks.push(c);
    });
    // A body cut short ('aborted', 'error') never reaches the hub.
    req.on('error', () => {});
    req.on('end', () => {
      if (tooLarge) return;
      const token = nextToken++;
      pending.set(token, res);
      const status = native.handleRequest(
        h, token, req.method, req.url, req.rawHeaders, Buffer.concat(chunks), remoteOf(req.socket));
      if (status !== 0) {
        pending.delete(token);
        res.writeHead(503, { 'Content-Type': 'text/plain' });
        res.end('wshub is not running');
      }
    });
  }

  const onUpgrade = (req, socket, head) => {
    if (!serves(req.url)) {
      // Someone else's upgrade; if nobody takes it, close it as Socket.IO does.
      if (httpServer.listenerCount('upgrade') === 1) {
        setTimeout(() => { if (!socket.destroyed && socket.bytesWritten === 0) socket.destroy(); }, DESTROY_UPGRADE_MS);
      }
      return;
    }
    const fd = socket._handle && typeof socket._handle.fd === 'number' ? socket._handle.fd : -1;
    if (fd < 0) {
      // A TLS socket (https.Server) has no plain descriptor to hand over.
      socket.end('HTTP/1.1 501 Not Implemented\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      onError(new Error('wshub: WebSocket upgrades through an https server are not supported; use polling or wshub\'s own TLS'));
      return;
    }
    socket.pause(); // Node reads no more from here on
    const buffered = socket.read();
    const bytes = Buffer.concat([requestHead(req), head, buffered || Buffer.alloc(0)]);
    native.adopt(h, fd, bytes); // refused (limits, stopped): the hub closed its copy
    socket.destroy();
  };

  httpServer.on('request', onRequest);
  httpServer.on('upgrade', onUpgrade);

  return {
    /** The hub answered request `token`. */
    respond(token, status, headerText, body) {
      const res = pending.get(token);
      if (!res) return;
      pending.delete(token);
      const lines = headerText ? headerText.split('\n') : [];
      const headers = [];
      for (let i = 0; i + 1 < lines.length; i += 2) headers.push(lines[i], lines[i + 1]);
      if (res.destroyed || res.writableEnded) return; // the client left during a long-poll
      res.writeHead(status, headers);
      res.end(body);
    },
    /** Gives the server back as it was (a closed hub answers nothing more). */
    detach() {
      httpServer.removeListener('request', onRequest);
      httpServer.removeListener('upgrade', onUpgrade);
      for (const l of appListeners) httpServer.on('request', l);
      for (const res of pending.values()) {
        if (!res.writableEnded) { res.writeHead(503); res.end(); }
      }
      pending.clear();
    },
  };
}

/** The request head as the client sent it (Node keeps the raw header names and values). */
function requestHead(req) {
  let text = `${req.method} ${req.url} HTTP/${req.httpVersion}\r\n`;
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) text += `${raw[i]}: ${raw[i + 1]}\r\n`;
  return Buffer.from(text + '\r\n', 'latin1');
}

function remoteOf(socket) {
  const a = socket && socket.remoteAddress;
  if (!a) return null;
  return a.includes(':') ? `[${a}]:${socket.remotePort}` : `${a}:${socket.remotePort}`;
}

module.exports = { attach };
