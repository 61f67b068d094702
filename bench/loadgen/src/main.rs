//! Load generator of the wshub benchmark.
//!
//! Speaks Socket.IO v5 over Engine.IO v4 on a WebSocket (by hand: read the
//! open packet, send `40`, wait for `40{...}`, answer ping `2` with pong `3`)
//! or plain WebSocket ("raw": a text message starting with `e` is echoed by the
//! server, one starting with `b` is sent to every other connection). The
//! handshakes are tokio-tungstenite's; the traffic after them goes through
//! a lean frame layer of its own (conn.rs), so that the load generator costs
//! far less per message than the servers it measures.
//!
//! Scenarios (all bounded in time and in count; the process exits by itself):
//! - `echo`: C clients, W messages in flight each, payload S bytes; each
//!   answer is timed (the send time rides in the payload) and answered with a
//!   new message.
//! - `broadcast`: N receivers and one sender; the sender keeps W broadcasts in
//!   flight (one is done when all N receivers have it); each delivery is timed
//!   from the timestamp in the payload. With `--port2` (a second server of the
//!   same cluster, e.g. two hubs on one Redis) every other receiver connects to
//!   the second server while the sender stays on the first: the deliveries to
//!   the second server's receivers are the cross-node ones, reported apart
//!   (`cross_*`), and the server CPU is the sum of both servers'
//!   (`--server-pid2`).
//! - `idle`: K connections opened with bounded concurrency from several
//!   loopback source addresses (127.0.0.x), then held idle; reports the
//!   server's RSS growth per connection.
//!
//! Server CPU is utime+stime of `/proc/<pid>/stat` over the measured window;
//! server RSS is `VmRSS` of `/proc/<pid>/status`. One JSON line on stdout.
//!
//! Traffic goes to 127.0.0.1 only.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

mod conn;

use conn::{Conn, Frame};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

type Ws = WebSocketStream<TcpStream>;

/// Varies the masking key from one connection to the next.
static CONN_SEQ: AtomicU32 = AtomicU32::new(0);

/// Hard ceiling on any one run, whatever the options say.
const HARD_LIMIT: Duration = Duration::from_secs(300);
/// A run whose message count does not move for this long has stalled.
const STALL: Duration = Duration::from_secs(10);
/// Slots of the broadcast completion ring (must exceed the in-flight count).
const RING: usize = 1 << 16;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Proto {
    Sio,
    Raw,
}

#[derive(Clone, Debug)]
struct Opts {
    label: String,
    port: u16,
    /// A second server (same cluster) for half of the broadcast receivers.
    port2: Option<u16>,
    proto: Proto,
    scenario: String,
    sio_path: String,
    raw_path: String,
    clients: usize,
    inflight: usize,
    size: usize,
    warmup: f64,
    duration: f64,
    max_msgs: u64,
    receivers: usize,
    conns: usize,
    concurrency: usize,
    sources: u8,
    settle: f64,
    server_pid: Option<u32>,
    server_pid2: Option<u32>,
    /// A process the servers depend on (the cluster's redis-server): its CPU
    /// is reported apart (`redis_cpu_s`), not in `per_cpu_s`.
    redis_pid: Option<u32>,
    clk_tck: f64,
}

impl Opts {
    fn parse() -> Result<Opts, String> {
        let mut o = Opts {
            label: "server".into(),
            port: 0,
            port2: None,
            proto: Proto::Sio,
            scenario: "echo".into(),
            sio_path: "/socket.io/".into(),
            raw_path: "/".into(),
            clients: 50,
            inflight: 4,
            size: 32,
            warmup: 1.0,
            duration: 5.0,
            max_msgs: 50_000_000,
            receivers: 1000,
            conns: 10_000,
            concurrency: 256,
            sources: 8,
            settle: 2.0,
            server_pid: None,
            server_pid2: None,
            redis_pid: None,
            clk_tck: 100.0,
        };
        let args: Vec<String> = std::env::args().skip(1).collect();
        let mut i = 0;
        while i < args.len() {
            let key = args[i].trim_start_matches("--").to_string();
            let val = args.get(i + 1).ok_or_else(|| format!("--{key} needs a value"))?.clone();
            let num = |v: &str| v.parse::<f64>().map_err(|_| format!("--{key}: not a number: {v}"));
            match key.as_str() {
                "label" => o.label = val,
                "port" => o.port = num(&val)? as u16,
                "port2" => o.port2 = Some(num(&val)? as u16).filter(|&p| p != 0),
                "proto" => {
                    o.proto = match val.as_str() {
                        "sio" => Proto::Sio,
                        "raw" => Proto::Raw,
                        _ => return Err(format!("--proto sio|raw, not {val}")),
                    }
                }
                "scenario" => o.scenario = val,
                "sio-path" => o.sio_path = val,
                "raw-path" => o.raw_path = val,
                "clients" => o.clients = num(&val)? as usize,
                "inflight" => o.inflight = num(&val)? as usize,
                "size" => o.size = num(&val)? as usize,
                "warmup" => o.warmup = num(&val)?,
                "duration" => o.duration = num(&val)?,
                "max-msgs" => o.max_msgs = num(&val)? as u64,
                "receivers" => o.receivers = num(&val)? as usize,
                "conns" => o.conns = num(&val)? as usize,
                "concurrency" => o.concurrency = num(&val)? as usize,
                "sources" => o.sources = (num(&val)? as u8).clamp(1, 250),
                "settle" => o.settle = num(&val)?,
                "server-pid" => o.server_pid = Some(num(&val)? as u32),
                "server-pid2" => o.server_pid2 = Some(num(&val)? as u32),
                "redis-pid" => o.redis_pid = Some(num(&val)? as u32),
                "clk-tck" => o.clk_tck = num(&val)?,
                _ => return Err(format!("unknown option --{key}")),
            }
            i += 2;
        }
        if o.port == 0 {
            return Err("--port is required".into());
        }
        if !["echo", "broadcast", "idle"].contains(&o.scenario.as_str()) {
            return Err(format!("--scenario echo|broadcast|idle, not {}", o.scenario));
        }
        if o.port2.is_some() && o.scenario != "broadcast" {
            return Err("--port2 is for the broadcast scenario only".into());
        }
        if o.server_pid2.is_some() && o.port2.is_none() {
            return Err("--server-pid2 needs --port2".into());
        }
        if o.inflight == 0 || o.inflight >= RING / 2 {
            return Err("--inflight must be in 1..32768".into());
        }
        if o.warmup + o.duration + o.settle > 120.0 {
            return Err("warmup + duration + settle must stay under 120 s".into());
        }
        o.clients = o.clients.clamp(1, 19_000);
        o.receivers = o.receivers.clamp(1, 19_000);
        o.conns = o.conns.clamp(1, 19_000);
        o.concurrency = o.concurrency.clamp(1, 4096);
        Ok(o)
    }
}

// ---------------------------------------------------------------- clock and histogram

fn now_us() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_micros() as u64
}

/// Log-linear histogram of microseconds: exact below 1024 µs, then 512
/// sub-buckets per power of two (0.2% resolution). Lock-free.
struct Hist {
    buckets: Vec<AtomicU64>,
}

const SUB_BITS: u32 = 9;

impl Hist {
    fn new() -> Hist {
        Hist { buckets: (0..1024 + 54 * 512).map(|_| AtomicU64::new(0)).collect() }
    }
    fn index(v: u64) -> usize {
        if v < 1024 {
            return v as usize;
        }
        let e = 63 - v.leading_zeros(); // >= 10
        let sub = (v >> (e - SUB_BITS)) & ((1 << SUB_BITS) - 1);
        1024 + (e as usize - 10) * 512 + sub as usize
    }
    fn value(i: usize) -> f64 {
        if i < 1024 {
            return i as f64;
        }
        let e = ((i - 1024) / 512) as u32 + 10;
        let sub = ((i - 1024) % 512) as u64;
        let lo = (1u64 << e) + (sub << (e - SUB_BITS));
        lo as f64 + (1u64 << (e - SUB_BITS)) as f64 / 2.0
    }
    fn record(&self, us: u64) {
        let i = Self::index(us).min(self.buckets.len() - 1);
        self.buckets[i].fetch_add(1, Relaxed);
    }
    fn percentiles(&self, qs: &[f64]) -> (u64, Vec<f64>) {
        let counts: Vec<u64> = self.buckets.iter().map(|b| b.load(Relaxed)).collect();
        let total: u64 = counts.iter().sum();
        let mut out = Vec::new();
        for &q in qs {
            if total == 0 {
                out.push(f64::NAN);
                continue;
            }
            let rank = ((q * total as f64).ceil() as u64).max(1);
            let mut seen = 0;
            let mut val = 0.0;
            for (i, &c) in counts.iter().enumerate() {
                seen += c;
                if seen >= rank {
                    val = Self::value(i);
                    break;
                }
            }
            out.push(val);
        }
        (total, out)
    }
}

// ---------------------------------------------------------------- shared state

struct Shared {
    opts: Opts,
    /// Messages received (echo answers or broadcast deliveries).
    count: AtomicU64,
    /// Of those, broadcast deliveries to receivers of the second server.
    cross: AtomicU64,
    /// Broadcasts sent.
    sent: AtomicU64,
    measuring: AtomicBool,
    stop: AtomicBool,
    /// Connections lost before the end of the run.
    errors: AtomicU64,
    hist: Hist,
    /// Latencies of the cross-node deliveries alone (also in `hist`).
    cross_hist: Hist,
}

impl Shared {
    fn stopped(&self) -> bool {
        self.stop.load(Relaxed)
    }
    fn lost(&self) {
        if !self.stopped() {
            self.errors.fetch_add(1, Relaxed);
        }
    }
    /// An event sent at `t0` arrived at `now` (µs of `now_us`).
    fn received(&self, now: u64, t0: u64) {
        self.count.fetch_add(1, Relaxed);
        if self.measuring.load(Relaxed) {
            self.hist.record(now.saturating_sub(t0));
        }
    }
    /// A broadcast delivery to a receiver of the second server.
    fn received_cross(&self, now: u64, t0: u64) {
        self.count.fetch_add(1, Relaxed);
        self.cross.fetch_add(1, Relaxed);
        if self.measuring.load(Relaxed) {
            let us = now.saturating_sub(t0);
            self.hist.record(us);
            self.cross_hist.record(us);
        }
    }
}

// ---------------------------------------------------------------- /proc

fn proc_cpu_secs(pid: &str, clk_tck: f64) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of the file (utime, stime) are 11 and 12 after the name.
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / clk_tck)
}

fn proc_rss_kb(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

struct Probe {
    pid: Option<String>,
    /// The second server's, if any.
    pid2: Option<String>,
    /// The redis-server's, if any.
    redis: Option<String>,
    clk_tck: f64,
}

impl Probe {
    fn server_cpu(&self) -> Option<f64> {
        proc_cpu_secs(self.pid.as_deref()?, self.clk_tck)
    }
    fn server2_cpu(&self) -> Option<f64> {
        proc_cpu_secs(self.pid2.as_deref()?, self.clk_tck)
    }
    fn server_rss(&self) -> Option<u64> {
        proc_rss_kb(self.pid.as_deref()?)
    }
    fn redis_cpu(&self) -> Option<f64> {
        proc_cpu_secs(self.redis.as_deref()?, self.clk_tck)
    }
    fn server2_rss(&self) -> Option<u64> {
        proc_rss_kb(self.pid2.as_deref()?)
    }
    fn own_cpu(&self) -> Option<f64> {
        proc_cpu_secs("self", self.clk_tck)
    }
}

// ---------------------------------------------------------------- messages

/// Writes the payload of an event: Socket.IO `42["event",{"t":T,"s":S,"p":"xx…"}]`
/// whose argument is at least `size` bytes, or raw `eT S xx…` of `size` bytes
/// (`e`/`b`: the event's initial).
fn write_msg(out: &mut Vec<u8>, proto: Proto, event: &str, t: u64, seq: Option<u64>, size: usize) {
    let start = out.len();
    match proto {
        Proto::Sio => {
            out.extend_from_slice(b"42[\"");
            out.extend_from_slice(event.as_bytes());
            out.extend_from_slice(b"\",");
            let arg = out.len();
            out.extend_from_slice(b"{\"t\":");
            write_u64(out, t);
            if let Some(seq) = seq {
                out.extend_from_slice(b",\"s\":");
                write_u64(out, seq);
            }
            out.extend_from_slice(b",\"p\":\"");
            let pad = size.saturating_sub(out.len() - arg + 2);
            out.resize(out.len() + pad, b'x');
            out.extend_from_slice(b"\"}]");
        }
        Proto::Raw => {
            out.push(event.as_bytes()[0]);
            write_u64(out, t);
            out.push(b' ');
            if let Some(seq) = seq {
                write_u64(out, seq);
                out.push(b' ');
            }
            let pad = size.saturating_sub(out.len() - start);
            out.resize(out.len() + pad, b'x');
        }
    }
}

/// Decimal digits of `v` (without the formatting machinery: this runs per message).
fn write_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

fn digits(b: &[u8]) -> Option<(u64, usize)> {
    let mut v: u64 = 0;
    let mut n = 0;
    while n < b.len() && b[n].is_ascii_digit() {
        v = v * 10 + (b[n] - b'0') as u64;
        n += 1;
    }
    (n > 0).then_some((v, n))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// What a received text message is.
enum Incoming {
    Ping,
    /// The timestamp and the sequence number (if any) of an event.
    Event(u64, Option<u64>),
    Other,
}

/// `want_seq`: also read the sequence number (broadcasts carry one).
fn classify(proto: Proto, b: &[u8], want_seq: bool) -> Incoming {
    match proto {
        Proto::Sio => {
            if b == b"2" {
                return Incoming::Ping;
            }
            if !b.starts_with(b"42") {
                return Incoming::Other;
            }
            // Servers may reorder the object's keys (socketioxide re-serialises it).
            let Some(t) = find(b, b"\"t\":").and_then(|i| digits(&b[i + 4..])) else {
                return Incoming::Other;
            };
            let seq = want_seq.then(|| find(b, b"\"s\":").and_then(|i| digits(&b[i + 4..])).map(|(v, _)| v)).flatten();
            Incoming::Event(t.0, seq)
        }
        Proto::Raw => {
            if b.len() < 2 || !(b[0] == b'e' || b[0] == b'b') {
                return Incoming::Other;
            }
            let Some((t, n)) = digits(&b[1..]) else { return Incoming::Other };
            let seq = want_seq.then(|| b.get(2 + n..).and_then(digits).map(|(v, _)| v)).flatten();
            Incoming::Event(t, seq)
        }
    }
}

// ---------------------------------------------------------------- connecting

async fn connect(opts: &Opts, port: u16, src: Option<Ipv4Addr>) -> Result<Conn, String> {
    let sock = TcpSocket::new_v4().map_err(|e| format!("socket: {e}"))?;
    if let Some(ip) = src {
        // Ports of earlier runs may still sit in TIME_WAIT.
        sock.set_reuseaddr(true).ok();
        sock.bind(SocketAddr::from((ip, 0))).map_err(|e| format!("bind {ip}: {e}"))?;
    }
    let tcp = sock.connect(SocketAddr::from(([127, 0, 0, 1], port))).await.map_err(|e| format!("connect: {e}"))?;
    tcp.set_nodelay(true).ok();
    // Close with a reset: thousands of sockets per run would otherwise sit in
    // TIME_WAIT on the client side and slow down the next run's binds.
    tcp.set_zero_linger().ok();
    let url = match opts.proto {
        Proto::Sio => format!("ws://127.0.0.1:{port}{}?EIO=4&transport=websocket", opts.sio_path),
        Proto::Raw => format!("ws://127.0.0.1:{port}{}", opts.raw_path),
    };
    // Small read buffers: the load generator may hold 19,000 of them.
    let config = WebSocketConfig::default().read_buffer_size(4096);
    let (mut ws, _) = tokio_tungstenite::client_async_with_config(url, tcp, Some(config))
        .await
        .map_err(|e| format!("websocket handshake: {e}"))?;
    if opts.proto == Proto::Sio {
        let open = next_text(&mut ws).await?;
        if !open.starts_with('0') {
            return Err(format!("expected the Engine.IO open packet, got {open:?}"));
        }
        ws.send(Message::text("40")).await.map_err(|e| format!("send 40: {e}"))?;
        loop {
            let t = next_text(&mut ws).await?;
            if t == "2" {
                ws.send(Message::text("3")).await.map_err(|e| format!("pong: {e}"))?;
            } else if t.starts_with("40") {
                break;
            } else if t.starts_with("44") {
                return Err(format!("namespace refused: {t}"));
            }
        }
    }
    // The server sends nothing more until it is sent something: no byte is
    // left behind in the handshake's buffers.
    Ok(Conn::new(ws.into_inner(), CONN_SEQ.fetch_add(1, Relaxed)))
}

async fn next_text(ws: &mut Ws) -> Result<String, String> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => return Ok(t.as_str().to_string()),
            Some(Ok(Message::Close(_))) | None => return Err("closed during the handshake".into()),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(format!("read: {e}")),
        }
    }
}

/// Opens `n` connections, at most `concurrency` handshakes at a time, each
/// from 127.0.0.(1 + i % sources) to the server `ports[i % ports.len()]`;
/// every connection that opens is handed to `role` (with the index in `ports`
/// of its server) on a task of its own right away. Returns (opened, failed,
/// first error).
async fn open_many<F, Fut>(sh: &Arc<Shared>, n: usize, ports: &[u16], role: F) -> (usize, usize, Option<String>)
where
    F: Fn(usize, Conn) -> Fut,
    Fut: std::future::Future<Output = ()> + 'static,
{
    let sem = Arc::new(Semaphore::new(sh.opts.concurrency));
    let (tx, mut rx) = mpsc::unbounded_channel::<Result<(usize, Conn), String>>();
    let sources = sh.opts.sources as usize;
    let mut tally = Tally { ok: 0, failed: 0, first_err: None };
    for i in 0..n {
        let permit = sem.clone().acquire_owned().await.expect("semaphore");
        let tx = tx.clone();
        let opts = sh.opts.clone();
        let node = i % ports.len();
        let port = ports[node];
        tokio::task::spawn_local(async move {
            let src = Ipv4Addr::new(127, 0, 0, 1 + (i % sources) as u8);
            let r = match tokio::time::timeout(Duration::from_secs(15), connect(&opts, port, Some(src))).await {
                Ok(r) => r.map(|ws| (node, ws)),
                Err(_) => Err("connect timed out (15 s)".into()),
            };
            drop(permit);
            let _ = tx.send(r);
        });
        // Hand over the connections opened so far, so that they start reading.
        while let Ok(r) = rx.try_recv() {
            tally.take(r, &role);
        }
    }
    drop(tx);
    while let Some(r) = rx.recv().await {
        tally.take(r, &role);
    }
    (tally.ok, tally.failed, tally.first_err)
}

struct Tally {
    ok: usize,
    failed: usize,
    first_err: Option<String>,
}

impl Tally {
    fn take<F, Fut>(&mut self, r: Result<(usize, Conn), String>, role: &F)
    where
        F: Fn(usize, Conn) -> Fut,
        Fut: std::future::Future<Output = ()> + 'static,
    {
        match r {
            Ok((node, ws)) => {
                tokio::task::spawn_local(role(node, ws));
                self.ok += 1;
            }
            Err(e) => {
                self.failed += 1;
                if self.first_err.is_none() {
                    eprintln!("loadgen: connect failed: {e}");
                    self.first_err = Some(e);
                }
            }
        }
    }
}

// ---------------------------------------------------------------- roles

/// Reads until something arrives; false when the connection is gone.
async fn fill(sh: &Shared, c: &mut Conn) -> bool {
    if c.fill().await.is_err() {
        sh.lost();
        return false;
    }
    true
}

/// Writes what was queued; false when the connection is gone.
async fn flush(sh: &Shared, c: &mut Conn) -> bool {
    if !c.tx.is_empty() && c.flush().await.is_err() {
        sh.lost();
        return false;
    }
    true
}

/// Handles the frames of one read: `on_event` gets the time of the read,
/// each event's timestamp and its sequence number (with `want_seq`), and
/// may queue answers; pings are
/// answered. False when the connection ended (a close, a bad frame) or
/// `on_event` said to stop.
fn take_frames(
    sh: &Shared,
    c: &mut Conn,
    want_seq: bool,
    mut on_event: impl FnMut(&mut conn::Writer, u64, u64, Option<u64>) -> bool,
) -> bool {
    let proto = sh.opts.proto;
    // One clock read for the frames of one read: they arrived together.
    let mut now = None;
    while let Some(frame) = c.rx.next() {
        match frame {
            Ok(Frame::Text(b)) => match classify(proto, b, want_seq) {
                Incoming::Event(t0, seq) => {
                    let now = *now.get_or_insert_with(now_us);
                    if !on_event(&mut c.tx, now, t0, seq) {
                        return false;
                    }
                }
                Incoming::Ping if proto == Proto::Sio => c.tx.text(b"3"),
                _ => {}
            },
            Ok(Frame::Ping(p)) => c.tx.pong(p),
            Ok(Frame::Other) => {}
            Ok(Frame::Close) | Err(_) => {
                sh.lost();
                return false;
            }
        }
    }
    true
}

async fn run_echo(sh: Arc<Shared>, mut c: Conn, mut go: watch::Receiver<bool>) {
    let o = &sh.opts;
    if go.wait_for(|g| *g).await.is_err() {
        return;
    }
    for _ in 0..o.inflight {
        c.tx.compose(|out| write_msg(out, o.proto, "echo", now_us(), None, o.size));
    }
    if !flush(&sh, &mut c).await {
        return;
    }
    // Every answer of one read goes out in one write, as a busy client's would.
    while fill(&sh, &mut c).await {
        let go_on = take_frames(&sh, &mut c, false, |tx, now, t0, _| {
            sh.received(now, t0);
            if sh.stopped() {
                return false;
            }
            tx.compose(|out| write_msg(out, o.proto, "echo", now, None, o.size));
            true
        });
        if !go_on || !flush(&sh, &mut c).await {
            return;
        }
    }
}

/// A broadcast receiver; `cross` when it is on the second server (the sender
/// is on the first).
async fn run_receiver(
    sh: Arc<Shared>,
    mut c: Conn,
    cross: bool,
    ring: Arc<Vec<AtomicU32>>,
    done: mpsc::UnboundedSender<()>,
) {
    let n = sh.opts.receivers as u32;
    while fill(&sh, &mut c).await {
        let go_on = take_frames(&sh, &mut c, true, |_, now, t0, seq| {
            let Some(seq) = seq else { return true };
            if cross {
                sh.received_cross(now, t0);
            } else {
                sh.received(now, t0);
            }
            let slot = &ring[seq as usize % RING];
            if slot.fetch_add(1, Relaxed) + 1 == n {
                slot.store(0, Relaxed);
                let _ = done.send(());
            }
            true
        });
        if !go_on || !flush(&sh, &mut c).await {
            return;
        }
    }
}

async fn run_sender(sh: Arc<Shared>, mut c: Conn, mut done: mpsc::UnboundedReceiver<()>, mut go: watch::Receiver<bool>) {
    let o = &sh.opts;
    if go.wait_for(|g| *g).await.is_err() {
        return;
    }
    let mut seq = 0u64;
    let mut send = |c: &mut Conn, n: usize| {
        for _ in 0..n {
            c.tx.compose(|out| write_msg(out, o.proto, "broadcast", now_us(), Some(seq), o.size));
            seq += 1;
            sh.sent.fetch_add(1, Relaxed);
        }
    };
    send(&mut c, o.inflight);
    if !flush(&sh, &mut c).await {
        return;
    }
    loop {
        tokio::select! {
            d = done.recv() => {
                if d.is_none() || sh.stopped() {
                    return;
                }
                let mut n = 1;
                while done.try_recv().is_ok() {
                    n += 1;
                }
                send(&mut c, n);
            }
            // (Cancel-safe: see Conn::fill.)
            ok = c.fill() => {
                if ok.is_err() {
                    return sh.lost();
                }
                if !take_frames(&sh, &mut c, false, |_, _, _, _| true) {
                    return;
                }
            }
        }
        if !flush(&sh, &mut c).await {
            return;
        }
    }
}

async fn run_idle(sh: Arc<Shared>, mut c: Conn) {
    while fill(&sh, &mut c).await {
        if !take_frames(&sh, &mut c, false, |_, _, _, _| true) || !flush(&sh, &mut c).await {
            return;
        }
    }
}

// ---------------------------------------------------------------- scenarios

fn nan_to_null(v: f64) -> serde_json::Value {
    if v.is_finite() {
        json!((v * 1000.0).round() / 1000.0)
    } else {
        serde_json::Value::Null
    }
}

/// Runs the warm-up and the measured window of a load scenario and returns
/// the report's measurements.
async fn measure(sh: &Arc<Shared>, probe: &Probe, go: &watch::Sender<bool>) -> serde_json::Value {
    let o = &sh.opts;
    go.send(true).ok();
    // The load generator never sleeps while the load runs: this task keeps it
    // polling. A send to a client whose CPU sleeps costs the sender a wake-up
    // (an interrupt to the other core: on a VM, an exit to the hypervisor),
    // and how often that happens depends on how idle the client is, which a
    // faster server makes rarer: left in, it would widen every difference
    // between servers beyond their own costs.
    let spin = sh.clone();
    tokio::task::spawn_local(async move {
        while !spin.stopped() {
            tokio::task::yield_now().await;
        }
    });
    tokio::time::sleep(Duration::from_secs_f64(o.warmup)).await;
    let (c0, s0, x0) = (sh.count.load(Relaxed), sh.sent.load(Relaxed), sh.cross.load(Relaxed));
    let (cpu0, cpu2_0, own0, redis0) = (probe.server_cpu(), probe.server2_cpu(), probe.own_cpu(), probe.redis_cpu());
    let t0 = Instant::now();
    sh.measuring.store(true, Relaxed);
    let mut last = (c0, Instant::now());
    let mut stalled = false;
    loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let c = sh.count.load(Relaxed);
        if t0.elapsed().as_secs_f64() >= o.duration || c - c0 >= o.max_msgs {
            break;
        }
        if c != last.0 {
            last = (c, Instant::now());
        } else if last.1.elapsed() >= STALL {
            stalled = true;
            break;
        }
    }
    sh.measuring.store(false, Relaxed);
    let secs = t0.elapsed().as_secs_f64();
    let (c1, s1, x1) = (sh.count.load(Relaxed), sh.sent.load(Relaxed), sh.cross.load(Relaxed));
    let (cpu1, cpu2_1, own1, redis1) = (probe.server_cpu(), probe.server2_cpu(), probe.own_cpu(), probe.redis_cpu());
    let rss = probe.server_rss();
    let rss2 = probe.server2_rss();
    sh.stop.store(true, Relaxed);
    let count = c1 - c0;
    let server1_cpu = cpu0.zip(cpu1).map(|(a, b)| b - a);
    let server2_cpu = cpu2_0.zip(cpu2_1).map(|(a, b)| b - a);
    // With a second server, the CPU of both (per_cpu_s is over the sum).
    let server_cpu = match (o.port2, server1_cpu, server2_cpu) {
        (None, c, _) => c,
        (Some(_), Some(a), Some(b)) => Some(a + b),
        (Some(_), _, _) => None,
    };
    let own_cpu = own0.zip(own1).map(|(a, b)| b - a);
    let (samples, p) = sh.hist.percentiles(&[0.5, 0.99, 0.999, 1.0]);
    let mut r = json!({
        "secs": nan_to_null(secs),
        "count": count,
        "broadcasts": s1 - s0,
        "rate": nan_to_null(count as f64 / secs),
        "server_cpu_s": server_cpu.map(nan_to_null),
        "per_cpu_s": server_cpu.map(|c| if c > 0.0 { nan_to_null(count as f64 / c) } else { serde_json::Value::Null }),
        "server_cpu_frac": server_cpu.map(|c| nan_to_null(c / secs)),
        "loadgen_cpu_frac": own_cpu.map(|c| nan_to_null(c / secs)),
        "samples": samples,
        "p50_us": nan_to_null(p[0]),
        "p99_us": nan_to_null(p[1]),
        "p999_us": nan_to_null(p[2]),
        "max_us": nan_to_null(p[3]),
        "rss_kb": rss,
        "stalled": stalled,
    });
    if o.port2.is_some() {
        let cross = x1 - x0;
        let (cross_samples, cp) = sh.cross_hist.percentiles(&[0.5, 0.99, 0.999]);
        r["nodes"] = json!(2);
        r["cross_count"] = json!(cross);
        r["cross_rate"] = nan_to_null(cross as f64 / secs);
        r["cross_samples"] = json!(cross_samples);
        r["cross_p50_us"] = nan_to_null(cp[0]);
        r["cross_p99_us"] = nan_to_null(cp[1]);
        r["cross_p999_us"] = nan_to_null(cp[2]);
        r["server1_cpu_s"] = json!(server1_cpu.map(nan_to_null));
        r["server2_cpu_s"] = json!(server2_cpu.map(nan_to_null));
        r["rss2_kb"] = json!(rss2);
    }
    if let Some(c) = redis0.zip(redis1).map(|(a, b)| b - a) {
        r["redis_cpu_s"] = nan_to_null(c);
        r["redis_cpu_frac"] = nan_to_null(c / secs);
    }
    r
}

async fn scenario_echo(sh: Arc<Shared>, probe: &Probe) -> serde_json::Value {
    let (go_tx, go_rx) = watch::channel(false);
    let sh2 = sh.clone();
    let (ok, failed, err) =
        open_many(&sh, sh.opts.clients, &[sh.opts.port], move |_, ws| run_echo(sh2.clone(), ws, go_rx.clone())).await;
    if ok == 0 {
        return json!({ "error": err.unwrap_or_default(), "connected": ok, "connect_failures": failed });
    }
    let mut r = measure(&sh, probe, &go_tx).await;
    r["connected"] = json!(ok);
    r["connect_failures"] = json!(failed);
    r["error"] = json!(err);
    r
}

async fn scenario_broadcast(sh: Arc<Shared>, probe: &Probe) -> serde_json::Value {
    let ring: Arc<Vec<AtomicU32>> = Arc::new((0..RING).map(|_| AtomicU32::new(0)).collect());
    let (done_tx, done_rx) = mpsc::unbounded_channel();
    let sh2 = sh.clone();
    let ring2 = ring.clone();
    // With a second server, every other receiver connects to it.
    let ports: Vec<u16> = std::iter::once(sh.opts.port).chain(sh.opts.port2).collect();
    let (ok, failed, err) = open_many(&sh, sh.opts.receivers, &ports, move |node, ws| {
        run_receiver(sh2.clone(), ws, node == 1, ring2.clone(), done_tx.clone())
    })
    .await;
    if failed > 0 || ok == 0 {
        // Completion needs every receiver: a broadcast run cannot go on short.
        return json!({ "error": err.unwrap_or_default(), "connected": ok, "connect_failures": failed });
    }
    let sender = match tokio::time::timeout(Duration::from_secs(15), connect(&sh.opts, sh.opts.port, None)).await {
        Ok(Ok(ws)) => ws,
        Ok(Err(e)) => return json!({ "error": format!("sender: {e}") }),
        Err(_) => return json!({ "error": "sender: connect timed out" }),
    };
    // Let the server settle the last joins before the first broadcast.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (go_tx, go_rx) = watch::channel(false);
    tokio::task::spawn_local(run_sender(sh.clone(), sender, done_rx, go_rx));
    let mut r = measure(&sh, probe, &go_tx).await;
    r["connected"] = json!(ok + 1);
    r["connect_failures"] = json!(failed);
    r["error"] = json!(err);
    if sh.opts.port2.is_some() && r["cross_count"] == json!(0) {
        r["error"] = json!("no broadcast reached the receivers of the second server");
    }
    r
}

async fn scenario_idle(sh: Arc<Shared>, probe: &Probe) -> serde_json::Value {
    let o = &sh.opts;
    let rss0 = probe.server_rss();
    let cpu0 = probe.server_cpu();
    let t0 = Instant::now();
    let sh2 = sh.clone();
    let (ok, failed, err) = open_many(&sh, o.conns, &[o.port], move |_, ws| run_idle(sh2.clone(), ws)).await;
    let connect_secs = t0.elapsed().as_secs_f64();
    let cpu1 = probe.server_cpu();
    tokio::time::sleep(Duration::from_secs_f64(o.settle)).await;
    let cpu2 = probe.server_cpu();
    let rss1 = probe.server_rss();
    let lost = sh.errors.load(Relaxed);
    sh.stop.store(true, Relaxed);
    let per_conn = match (rss0, rss1) {
        (Some(a), Some(b)) if ok > 0 => Some(nan_to_null((b as f64 - a as f64) * 1024.0 / ok as f64)),
        _ => None,
    };
    json!({
        "connected": ok,
        "connect_failures": failed,
        "lost": lost,
        "error": err,
        "connect_secs": nan_to_null(connect_secs),
        "connects_per_s": nan_to_null(ok as f64 / connect_secs),
        "connect_cpu_s": cpu0.zip(cpu1).map(|(a, b)| nan_to_null(b - a)),
        "idle_cpu_frac": cpu1.zip(cpu2).map(|(a, b)| nan_to_null((b - a) / o.settle)),
        "rss_kb_before": rss0,
        "rss_kb": rss1,
        "rss_per_conn_bytes": per_conn,
    })
}

fn main() {
    let opts = match Opts::parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("loadgen: {e}");
            std::process::exit(2);
        }
    };
    now_us();
    // A watchdog: whatever happens, the process ends.
    let limit = HARD_LIMIT.min(Duration::from_secs_f64(opts.warmup + opts.duration + opts.settle + 150.0));
    let label = opts.label.clone();
    std::thread::spawn(move || {
        std::thread::sleep(limit);
        println!("{}", json!({ "server": label, "error": "hard time limit reached" }));
        std::process::exit(3);
    });
    let probe = Probe {
        pid: opts.server_pid.map(|p| p.to_string()),
        pid2: opts.server_pid2.map(|p| p.to_string()),
        redis: opts.redis_pid.map(|p| p.to_string()),
        clk_tck: opts.clk_tck,
    };
    let sh = Arc::new(Shared {
        opts: opts.clone(),
        count: AtomicU64::new(0),
        cross: AtomicU64::new(0),
        sent: AtomicU64::new(0),
        measuring: AtomicBool::new(false),
        stop: AtomicBool::new(false),
        errors: AtomicU64::new(0),
        hist: Hist::new(),
        cross_hist: Hist::new(),
    });
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let local = tokio::task::LocalSet::new();
    let report = local.block_on(&rt, async {
        match opts.scenario.as_str() {
            "echo" => scenario_echo(sh.clone(), &probe).await,
            "broadcast" => scenario_broadcast(sh.clone(), &probe).await,
            _ => scenario_idle(sh.clone(), &probe).await,
        }
    });
    let mut out = json!({
        "server": opts.label,
        "proto": match opts.proto { Proto::Sio => "sio", Proto::Raw => "raw" },
        "scenario": opts.scenario,
    });
    match opts.scenario.as_str() {
        "echo" => {
            out["clients"] = json!(opts.clients);
            out["inflight"] = json!(opts.inflight);
            out["size"] = json!(opts.size);
        }
        "broadcast" => {
            out["receivers"] = json!(opts.receivers);
            if opts.port2.is_some() {
                out["receivers_node2"] = json!(opts.receivers / 2);
            }
            out["inflight"] = json!(opts.inflight);
            out["size"] = json!(opts.size);
        }
        _ => {
            out["conns"] = json!(opts.conns);
            out["sources"] = json!(opts.sources);
        }
    }
    if opts.scenario != "idle" {
        out["lost"] = json!(sh.errors.load(Relaxed));
    }
    if let (Some(o), Some(r)) = (out.as_object_mut(), report.as_object()) {
        for (k, v) in r {
            o.insert(k.clone(), v.clone());
        }
    }
    println!("{out}");
    // Every connection is dropped with the process; nothing waits on them.
    std::process::exit(0);
}
