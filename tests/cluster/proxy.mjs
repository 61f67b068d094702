// A TCP proxy on a free loopback port in front of one server of a cluster,
// so a test can take a client's network path away: `cut()` closes the
// connections going through it (the client sees its transport close),
// `kill()` also stops listening (reconnection attempts are refused until
// `restart()`), and `target` says where the next connections go.
import net from 'node:net';

export class Proxy {
  /** Starts listening; `target` is the port of the server behind it. */
  static async start(target) {
    const p = new Proxy(target);
    await p.restart();
    return p;
  }

  constructor(target) {
    this.target = target;
    this.port = 0;
    this.server = null;
    this.pairs = new Set();
    this.accepted = 0;
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Listens again, on the same port once it has one. */
  restart() {
    return new Promise((resolve, reject) => {
      const server = net.createServer((client) => this.#pipe(client));
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => {
        this.port = server.address().port;
        this.server = server;
        resolve(this);
      });
    });
  }

  #pipe(client) {
    this.accepted += 1;
    const upstream = net.connect(this.target, '127.0.0.1');
    const pair = { client, upstream };
    this.pairs.add(pair);
    const close = () => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
    client.pipe(upstream);
    upstream.pipe(client);
  }

  /** Closes every connection through the proxy, both ways, at once. */
  cut() {
    for (const { client, upstream } of this.pairs) {
      client.destroy();
      upstream.destroy();
    }
    this.pairs.clear();
  }

  /** Cuts and stops listening: the path is down until `restart()`. */
  async kill() {
    this.cut();
    if (this.server) {
      const server = this.server;
      this.server = null;
      await new Promise((resolve) => server.close(resolve));
    }
  }
}
