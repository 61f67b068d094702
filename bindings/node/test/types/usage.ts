// Compiled (never run) by test/types.test.js with `tsc --noEmit --strict`: the
// declarations type events the way socket.io's do. Each @ts-expect-error line
// must be an error.
import { Server, Socket, Namespace } from '../..';

interface ClientToServer {
  hello: (name: string, ack: (n: number) => void) => void;
  chat: (text: string) => void;
}
interface ServerToClient {
  welcome: (msg: string) => void;
  question: (q: string, ack: (answer: boolean) => void) => void;
}
interface InterServer {}
interface SocketData {
  user: string;
}

const io = new Server<ClientToServer, ServerToClient, InterServer, SocketData>({ port: 0, cors: { origin: '*' } });
const port: number | null = io.port;

io.use((socket, next) => {
  socket.data.user = String(socket.handshake.auth.user);
  next(socket.data.user ? undefined : new Error('no user'));
});

io.on('connection', (socket: Socket<ClientToServer, ServerToClient, InterServer, SocketData>) => {
  socket.on('hello', (name, ack) => {
    const s: string = name;
    ack(s.length);
  });
  socket.on('chat', (text) => io.emit('welcome', text));
  socket.on('disconnect', (reason) => console.log(reason.toUpperCase()));
  // @ts-expect-error: 'chat' gets a string
  socket.on('chat', (text: number) => text);
  // @ts-expect-error: no such client event
  socket.on('nope', () => {});

  socket.emit('welcome', 'hi');
  // @ts-expect-error: welcome takes a string
  socket.emit('welcome', 1);
  // @ts-expect-error: no such server event
  socket.emit('unknown');

  socket.emit('question', 'ok?', (answer) => {
    const b: boolean = answer;
  });
  socket.timeout(1000).emit('question', 'ok?', (err, answer) => {
    const e: Error = err;
    const b: boolean = answer;
  });
  const p: Promise<boolean> = socket.timeout(1000).emitWithAck('question', 'ok?');
  socket.broadcast.emit('welcome', 'someone joined');
  socket.to('room').except('other').emit('welcome', 'room');
  socket.join(['a', 'b']);
  socket.leave('a');
  const rooms: Set<string> = socket.rooms;
  const user: string = socket.data.user;
  const auth: Record<string, any> = socket.handshake.auth;
  socket.disconnect(true);
});

io.timeout(500).emit('question', 'all?', (err, answers) => {
  const list: boolean[] = answers;
});
const all: Promise<boolean[]> = io.timeout(500).emitWithAck('question', 'all?');
io.to('r1').except('r2').emit('welcome', 'x');
const admin: Namespace<ClientToServer, ServerToClient, InterServer, SocketData> = io.of('/admin');
admin.on('connection', (socket) => socket.emit('welcome', socket.data.user));
io.fetchSockets().then((sockets) => sockets.map((s) => s.data.user));
io.unref();
const closed: Promise<void> = io.close();

// The untyped form works with anything.
const loose = new Server(3000);
loose.on('connection', (socket) => {
  socket.on('anything', (a: number, b: string, ack: (x: unknown) => void) => ack([a, b]));
  socket.emit('whatever', 1, 2, 3);
});

// Dynamic namespaces: a RegExp or a matching function gives a ParentNamespace.
const parent = io.of(/^\/dynamic-\d+$/, (socket) => socket.emit('welcome', socket.nsp.name));
parent.children.forEach((child) => child.emit('welcome', child.name));
io.of((name, auth, next) => next(null, name.startsWith('/room-') && typeof auth.token === 'string'));
io.on('new_namespace', (nsp) => nsp.name.length);
