// Connects and emits "tick" (with an ack, and a binary one) as fast as the
// server answers, until the connection ends; then exits 0. Prints READY once
// connected. For the "hub left running at exit" tests.
import { io } from "socket.io-client";

const socket = io(process.argv[2], { transports: ["websocket"], reconnection: false, forceNew: true });
let n = 0;
const pump = () => {
  if (!socket.connected) return;
  for (let i = 0; i < 20; i++) socket.emit("tick", n++, Buffer.from([1, 2, 3]));
  socket.emit("tick", n++, () => setImmediate(pump));
};
socket.on("connect", () => { process.stdout.write("READY\n"); pump(); });
socket.on("disconnect", () => process.exit(0));
socket.on("connect_error", (e) => { process.stderr.write(`connect_error ${e.message}\n`); process.exit(2); });
setTimeout(() => process.exit(0), 30000).unref();
