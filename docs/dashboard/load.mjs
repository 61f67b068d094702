// A light, bounded load on two wshub test servers (examples/test_server.rs) of
// one Redis cluster, shaped so that every panel of docs/grafana-dashboard.json
// has something to draw: clients on WebSocket, polling and an upgrade, and a
// raw WebSocket; two namespaces with rooms; chat that crosses the nodes;
// visitors that come and go by every kind of leave; guard refusals; acks left
// pending for a while; and two slow consumers that stop reading.
// Usage: node load.mjs PORT_A PORT_B SECONDS (started by render.py).
import { io } from "socket.io-client";
import WebSocket from "ws";

const [portA, portB, seconds] = process.argv.slice(2).map(Number);
const hosts = [`127.0.0.1:${portA}`, `127.0.0.1:${portB}`];
const started = Date.now();
const elapsed = () => (Date.now() - started) / 1000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const open = new Set(); // everything to close at the end
// Whatever happens, this process ends: render.py waits for it.
setTimeout(() => process.exit(0), (seconds + 15) * 1000).unref();

function client(node, ns, transports, auth) {
  const s = io(`http://${hosts[node]}${ns}`, {
    transports, upgrade: transports.length > 1, forceNew: true, reconnection: false, timeout: 5000, auth,
  });
  open.add(s);
  s.on("disconnect", () => open.delete(s));
  // The server's "ping-me" wants an ack: answer most after 3 s (so the hub
  // holds them as pending acks meanwhile), leave some to time out.
  s.on("ping-me", (_msg, ack) => {
    if (Math.random() < 0.75) setTimeout(() => s.connected && ack("ok"), 3000);
  });
  return s;
}

const joined = (s, room) => new Promise((r) => s.emit("join", room, r));
const connected = (s) => new Promise((r) => { s.once("connect", r); s.once("connect_error", r); });
const say = (s, room, n) => s.emit("to-room", room, { from: s.id, n, text: "hello ".repeat(20 + (n % 200)) });

// Residents: stay the whole run and chat in their rooms, on both nodes.
const residents = [
  [0, "/", ["websocket"], "lobby"], [1, "/", ["websocket"], "lobby"], [0, "/", ["polling"], "lobby"],
  [1, "/", ["polling", "websocket"], "lobby"], [0, "/chat", ["websocket"], "dev"],
  [1, "/chat", ["polling"], "dev"], [1, "/chat", ["websocket"], "ops"], [0, "/chat", ["polling"], "ops"],
].map(([node, ns, transports, room]) => ({ s: client(node, ns, transports), room, node, ns }));
await Promise.all(residents.map(async (r) => { await connected(r.s); await joined(r.s, r.room); }));

let n = 0;
const chat = setInterval(() => {
  for (const r of residents) if (r.s.connected && Math.random() < 0.6) say(r.s, r.room, n++);
  const r = residents[n % residents.length];
  if (r.s.connected) r.s.emit("echo", { n });
}, 500);
const asks = setInterval(() => {
  for (const r of residents) if (r.s.connected && Math.random() < 0.5) r.s.emit("request-ack", 5000);
}, 2000);

// A plain WebSocket client (the raw endpoint echoes what it sends).
const raw = new WebSocket(`ws://${hosts[0]}/ws`);
open.add(raw);
const rawTalk = setInterval(() => raw.readyState === 1 && raw.send(`raw ${n}`), 1000);

// Visitors: one every ~2.5 s, alternating nodes, namespaces and transports,
// chat a little and leave in one of three ways (three disconnect reasons).
async function visitor(i) {
  const ns = i % 2 ? "/chat" : "/";
  const s = client(Math.floor(i / 3) % 2, ns, [["websocket"], ["polling"], ["polling", "websocket"]][i % 3]);
  await connected(s);
  if (!s.connected) return;
  const room = ns === "/" ? "lobby" : i % 4 === 1 ? "dev" : `pair-${i}`;
  await joined(s, room);
  for (let k = 0; k < 3 + (i % 4); k++) { say(s, room, n++); await sleep(1000); }
  if (i % 5 === 0) { s.emit("leave", room); await sleep(1500); }
  const how = Math.floor(i / 2) % 3; // not tied to the transport (i % 3)
  if (how === 0) s.disconnect(); // "client namespace disconnect"
  else if (how === 1) s.emit("disconnect-me"); // "server namespace disconnect"
  else s.io.engine.close(); // "transport close"
}
// A connect the /admin guard refuses (a wrong token): the client gets connect_error.
async function refused(i) {
  const s = client(i % 2, "/admin", ["websocket"], { token: "guess" });
  await connected(s);
  s.close();
}

// A slow consumer: an Engine.IO polling client spoken by hand, that joins
// "firehose" and then never polls again, so whatever is sent to it stays in
// the hub's queue; a resident of the same node sends it 10 MB, more than the
// queue's 8 MiB, and the hub closes it ("transport error", a slow-consumer
// disconnect) well before its ping timeout would.
async function slowConsumer(node) {
  const base = `http://${hosts[node]}/socket.io/?EIO=4&transport=polling`;
  const get = async (url) => (await fetch(url, { signal: AbortSignal.timeout(10_000) })).text();
  const sid = JSON.parse((await get(base)).slice(1)).sid; // the open packet: 0{"sid":...}
  const url = `${base}&sid=${sid}`;
  const post = (body) => fetch(url, { method: "POST", body, signal: AbortSignal.timeout(10_000) });
  await post("40");
  await get(url); // the namespace's connect
  await post('420["join","firehose"]');
  await get(url); // the join's ack
  const sender = residents[node]; // on WebSocket, in "/", on this node
  const big = "x".repeat(500_000);
  for (let k = 0; k < 20 && sender.s.connected; k++) { sender.s.emit("to-room", "firehose", big); await sleep(50); }
}

const timeline = [];
for (let i = 0; elapsed() < seconds - 8; i++) {
  timeline.push(visitor(i));
  if (i % 3 === 1) timeline.push(refused(i));
  if (i === 8 || i === 20) timeline.push(slowConsumer(i === 8 ? 0 : 1));
  await sleep(2500);
}
await Promise.race([Promise.allSettled(timeline), sleep(10_000)]);
console.log(`STEADY ${Date.now()}`); // render.py's picture ends here, before the residents leave
clearInterval(chat); clearInterval(asks); clearInterval(rawTalk);
for (const s of open) s.disconnect ? s.disconnect() : s.terminate();
console.log(`load done after ${elapsed().toFixed(0)} s, ${n} chat messages`);
setTimeout(() => process.exit(0), 500);
