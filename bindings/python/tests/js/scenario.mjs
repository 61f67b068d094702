// Drives the official socket.io-client against a server, per a JSON plan
// (argv[2]), and prints one JSON line with what happened.
//
// Timeouts and sleeps are in milliseconds.
// plan: { url, namespace?, auth?, transports?, ackReplies?: {event: [args]},
//         steps: [ {emit, args?, ack?, timeout?} | {send} | {wait, count?, timeout?}
//                 | {sleep} | {disconnect: true} ] }
// Binary values travel in the plan and the output as {"$bytes": "<hex>"}.
// A server event that asks for an ack is answered with ackReplies[event]
// (or with its own arguments).
import { io } from "socket.io-client";

const plan = JSON.parse(process.argv[2]);
const isBinary = (v) => Buffer.isBuffer(v) || v instanceof ArrayBuffer || ArrayBuffer.isView(v);
const enc = (v) =>
  isBinary(v) ? { $bytes: Buffer.from(v instanceof ArrayBuffer ? new Uint8Array(v) : v).toString("hex") }
  : Array.isArray(v) ? v.map(enc)
  : v && typeof v === "object" ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, enc(x)]))
  : v;
const dec = (v) =>
  Array.isArray(v) ? v.map(dec)
  : v && typeof v === "object" ? ("$bytes" in v ? Buffer.from(v.$bytes, "hex")
      : Object.fromEntries(Object.entries(v).map(([k, x]) => [k, dec(x)])))
  : v;

const out = { id: null, connectError: null, disconnect: null, events: [], acks: [] };
// Exits a little after the last disconnect so that a polling client's
// DISCONNECT packet leaves before the process does.
const finish = (code = 0) => {
  setTimeout(() => process.stdout.write(JSON.stringify(out) + "\n", () => process.exit(code)), 150);
};
setTimeout(() => { out.error = "scenario timed out"; finish(1); }, plan.deadline ?? 20000).unref();

const socket = io(plan.url + (plan.namespace ?? ""), {
  transports: plan.transports ?? ["websocket"],
  auth: plan.auth,
  reconnection: false,
  forceNew: true,
  timeout: 5000,
});

const waiters = [];
socket.onAny((event, ...args) => {
  let reply = null;
  if (args.length && typeof args[args.length - 1] === "function") reply = args.pop();
  out.events.push([event, ...args.map(enc)]);
  if (reply) reply(...dec((plan.ackReplies ?? {})[event] ?? args.map(enc)));
  for (const w of waiters) w();
});
socket.on("disconnect", (reason) => { out.disconnect = reason; for (const w of waiters) w(); });

const count = (event) => out.events.filter((e) => e[0] === event).length;
const waitFor = (pred, ms, what) => new Promise((resolve, reject) => {
  if (pred()) return resolve();
  const t = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
  waiters.push(() => { if (pred()) { clearTimeout(t); resolve(); } });
});

async function run() {
  for (const step of plan.steps ?? []) {
    if ("emit" in step) {
      const args = dec(step.args ?? []);
      if (step.ack) {
        const resp = await new Promise((resolve) => {
          socket.timeout(step.timeout ?? 5000).emit(step.emit, ...args, (err, ...r) =>
            resolve(err ? { error: err.message } : r.map(enc)));
        });
        out.acks.push(resp);
      } else {
        socket.emit(step.emit, ...args);
      }
    } else if ("send" in step) {
      socket.send(dec(step.send));
    } else if ("wait" in step) {
      const n = step.count ?? 1;
      if (step.wait === "disconnect") await waitFor(() => out.disconnect !== null, step.timeout ?? 5000, "disconnect");
      else await waitFor(() => count(step.wait) >= n, step.timeout ?? 5000, `${n} '${step.wait}'`);
    } else if ("sleep" in step) {
      await new Promise((r) => setTimeout(r, step.sleep));
    } else if ("disconnect" in step) {
      socket.disconnect();
    }
  }
}

socket.on("connect_error", (err) => { out.connectError = err.message; finish(0); });
socket.on("connect", () => {
  out.id = socket.id;
  run().then(() => { socket.disconnect(); finish(0); },
             (err) => { out.error = String(err.message ?? err); socket.disconnect(); finish(1); });
});
