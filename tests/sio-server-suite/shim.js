'use strict';
// What socket.io's own server tests get when they `import ... from ".."`
// (or `require("../..")`) in the wshub run of tests/sio-server-suite/run.mjs.
//
// It maps shapes only and never stands in for behaviour:
//
// - Constructor: the binding already takes socket.io's shapes
//   (`new Server()`, `new Server(port, opts)`, `new Server(opts)`,
//   `new Server(httpServer, opts)`), so `Server` is the binding's class. The
//   one addition is the module itself being callable, as socket.io's is
//   (`require("socket.io")(httpServer, opts)` === `new Server(httpServer, opts)`);
//   test/fixtures/server-close.ts uses that form.
// - Address: socket.io always has an http.Server, and the tests read the port
//   as `io.httpServer.address().port`. wshub on its own listener
//   (`new Server(0)`, `io.listen(0)`) has no http.Server and gives the bound
//   address as `io.address()` (and the port as `io.port`). Here `io.httpServer`
//   is then an object with that `address()` and nothing else: anything else a
//   test asks of it is missing and fails. Attached to an http.Server, wshub's
//   own `io.httpServer` (that server) is returned unchanged.
//
// Everything else (Namespace, Socket, options the binding ignores, missing
// methods) is the binding as it is.

const path = require('path');

// bindings/node of the repository this file is in (tests/sio-server-suite/ -> ../../bindings/node).
const bindingDir = path.resolve(__dirname, '..', '..', 'bindings', 'node');
const binding = require(bindingDir);

class Server extends binding.Server {
  get httpServer() {
    const own = super.httpServer;
    if (own) return own;
    const address = this.address();
    if (!address) return undefined; // not listening: socket.io has no httpServer either
    return { address: () => this.address() };
  }
}

function createServer(srv, opts) {
  return new Server(srv, opts);
}

module.exports = createServer;
module.exports.Server = Server;
module.exports.Namespace = binding.Namespace;
module.exports.Socket = binding.Socket;
module.exports.BroadcastOperator = binding.BroadcastOperator;
module.exports.default = createServer;
