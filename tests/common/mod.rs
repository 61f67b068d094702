//! Helpers shared by the integration tests (tests/*.rs): a blocking
//! Engine.IO-over-WebSocket client, an async one, raw HTTP requests, a
//! recorder of disconnect reasons, a log capture, temporary folders, and the
//! process's memory and descriptor figures.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tungstenite::{stream::MaybeTlsStream, Message, WebSocket};
use wshub::{DisconnectReason, Hub, Payload};

pub type Client = WebSocket<MaybeTlsStream<TcpStream>>;
/// An async client's WebSocket (tokio-tungstenite, plain TCP).
pub type AsyncWs = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// Opens an Engine.IO WebSocket session and joins the main namespace;
/// returns the client and its socket id.
pub fn connect(addr: SocketAddr) -> (Client, String) {
    let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
    let (mut ws, _) = tungstenite::connect(url).unwrap();
    tcp(&mut ws).set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let open = read_text(&mut ws);
    assert!(open.starts_with("0{\"sid\""), "{open}");
    ws.send(Message::text("40")).unwrap();
    let answer = read_text(&mut ws);
    assert!(answer.starts_with("40{"), "{answer}");
    let v: serde_json::Value = serde_json::from_str(&answer[2..]).unwrap();
    (ws, v["sid"].as_str().unwrap().to_string())
}

/// The client's TCP stream.
pub fn tcp(ws: &mut Client) -> &mut TcpStream {
    match ws.get_mut() {
        MaybeTlsStream::Plain(s) => s,
        _ => unreachable!("plain TCP only"),
    }
}

/// Reads the next text frame that is not a ping (answering pings).
pub fn read_text<S: Read + Write>(ws: &mut WebSocket<S>) -> String {
    loop {
        match ws.read().unwrap() {
            Message::Text(t) if t.as_str() == "2" => ws.send(Message::text("3")).unwrap(),
            Message::Text(t) => return t.to_string(),
            _ => {}
        }
    }
}

/// Emits `ping` with an ack and waits for the answer (frames other than
/// the ack are skipped); returns the round trip.
pub fn round_trip(ws: &mut Client, id: u64) -> Duration {
    let started = Instant::now();
    ws.send(Message::text(format!("42{id}[\"ping\"]"))).unwrap();
    let want = format!("43{id}[");
    loop {
        if read_text(ws).starts_with(&want) {
            return started.elapsed();
        }
    }
}

/// True once the server has closed the connection (close frame, EOF or reset).
pub fn closed_by_server(ws: &mut Client) -> bool {
    loop {
        match ws.read() {
            Ok(Message::Close(_)) | Err(_) => return true,
            Ok(_) => {}
        }
    }
}

/// The next text frame that is not a ping (answered) and passes `want`.
pub async fn next_text(ws: &mut AsyncWs, want: impl Fn(&str) -> bool) -> Result<String, Error> {
    loop {
        match ws.next().await.ok_or("closed")?? {
            Message::Text(t) if t.as_str() == "2" => ws.send(Message::text("3")).await?,
            Message::Text(t) if want(t.as_str()) => return Ok(t.to_string()),
            Message::Close(_) => return Err("closed by the server".into()),
            _ => {}
        }
    }
}

/// Disconnect reasons by socket id, in the order they came.
pub type Reasons = Arc<Mutex<Vec<(String, DisconnectReason)>>>;

/// Answers the `ping` event with an ack (for `round_trip`) and records every
/// disconnect reason.
pub fn recording(hub: &Hub) -> Reasons {
    hub.on("ping", |ev| ev.ack(&Payload::empty()).unwrap());
    let reasons = Reasons::default();
    let r = reasons.clone();
    hub.on_disconnect(move |s, reason| r.lock().unwrap().push((s.id().to_string(), reason)));
    reasons
}

/// The recorded disconnect reason of socket `id`, if any.
pub fn reason_of(reasons: &Reasons, id: &str) -> Option<DisconnectReason> {
    reasons.lock().unwrap().iter().find(|(s, _)| s == id).map(|(_, r)| *r)
}

/// A number from the environment, or `default`.
pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|n| n.parse().ok()).unwrap_or(default)
}

/// Waits up to `limit` for `cond`; returns whether it held.
pub fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The `q`-quantile (0..=1) of some durations, in microseconds.
pub fn quantile_us(samples: &[Duration], q: f64) -> u128 {
    let mut v: Vec<u128> = samples.iter().map(Duration::as_micros).collect();
    v.sort_unstable();
    if v.is_empty() {
        return 0;
    }
    v[((v.len() - 1) as f64 * q).round() as usize]
}

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line =
        status.lines().find(|l| l.starts_with(field)).unwrap_or_else(|| panic!("no {field} in /proc/self/status"));
    line[field.len()..].trim().trim_end_matches("kB").trim().parse().unwrap()
}

/// This process's resident set, in KiB.
pub fn rss_kib() -> u64 {
    status_kib("VmRSS:")
}

/// This process's peak resident set since the last `reset_peak_rss`, in KiB.
pub fn peak_rss_kib() -> u64 {
    status_kib("VmHWM:")
}

/// Resets the peak resident set to the current one (Linux 4.0+); false if refused.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// This process's open file descriptors.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// What the hub logged at WARN and above, captured for the whole test binary.
pub fn captured_logs() -> String {
    String::from_utf8_lossy(&log_buffer().lock().unwrap()).into_owned()
}

/// Installs the capture (once per test binary); call before starting a hub.
pub fn capture_logs() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let buf = log_buffer().clone();
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing_subscriber::filter::LevelFilter::WARN)
            .with_ansi(false)
            .with_writer(move || LogWriter(buf.clone()))
            .try_init();
    });
}

fn log_buffer() -> &'static Arc<Mutex<Vec<u8>>> {
    static BUF: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    BUF.get_or_init(Default::default)
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        eprint!("{}", String::from_utf8_lossy(b));
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Reads until the peer closes (or the stream's read timeout passes); returns
/// what it sent.
pub fn read_to_close(stream: &mut impl Read) -> String {
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// Sends raw bytes on a fresh connection and returns the whole response
/// (the request says `Connection: close`, or the server closes after an
/// error). A write the server refuses is not an error: the answer tells.
pub fn raw_http(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = s.write_all(request);
    read_to_close(&mut s)
}

/// The status code of a raw HTTP response (0 if there is none).
pub fn status_of(resp: &str) -> u16 {
    resp.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0)
}

/// The body of a raw HTTP response.
pub fn body_of(resp: &str) -> String {
    resp.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default()
}

/// One HTTP request on its own connection (`Connection: close`); returns
/// the status and the body.
pub fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let resp = raw_http(addr, request.as_bytes());
    (status_of(&resp), body_of(&resp))
}

/// A temporary folder, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    /// `<tmp>/wshub-<tag>-<pid>`, fresh.
    pub fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("wshub-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A polling client joined to the main namespace: returns its sid and socket id.
pub fn polling_connect(addr: SocketAddr) -> (String, String) {
    let (status, open) = http(addr, "GET", "/socket.io/?EIO=4&transport=polling", "");
    assert_eq!(status, 200, "{open}");
    let v: serde_json::Value = serde_json::from_str(&open[1..]).unwrap();
    let sid = v["sid"].as_str().unwrap().to_string();
    let path = format!("/socket.io/?EIO=4&transport=polling&sid={sid}");
    assert_eq!(http(addr, "POST", &path, "40"), (200, "ok".to_string()));
    let (status, answer) = http(addr, "GET", &path, "");
    assert_eq!(status, 200);
    let connect = answer.split('\x1e').find(|p| p.starts_with("40{")).unwrap_or_else(|| panic!("{answer}"));
    let v: serde_json::Value = serde_json::from_str(&connect[2..]).unwrap();
    (sid, v["sid"].as_str().unwrap().to_string())
}

/// Hands the allocator's free pages back to the system (glibc's
/// `malloc_trim`), so that RSS counts live memory rather than what the
/// allocator keeps for reuse; false where there is no such call.
pub fn trim_allocator() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn malloc_trim(pad: usize) -> std::ffi::c_int;
        }
        // SAFETY: glibc's malloc_trim takes no pointers and may be called at any time.
        unsafe { malloc_trim(0) };
        true
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    false
}

/// Raises this process's soft limit of open files to its hard limit (child
/// processes inherit it); returns the new soft limit.
pub fn raise_fd_limit() -> u64 {
    #[repr(C)]
    struct Rlimit {
        cur: std::ffi::c_ulong,
        max: std::ffi::c_ulong,
    }
    extern "C" {
        fn getrlimit(resource: std::ffi::c_int, rlim: *mut Rlimit) -> std::ffi::c_int;
        fn setrlimit(resource: std::ffi::c_int, rlim: *const Rlimit) -> std::ffi::c_int;
    }
    const RLIMIT_NOFILE: std::ffi::c_int = 7; // Linux
    let mut lim = Rlimit { cur: 0, max: 0 };
    // SAFETY: plain system calls on a struct of the C layout.
    unsafe {
        if getrlimit(RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        if lim.cur < lim.max {
            let raised = Rlimit { cur: lim.max, max: lim.max };
            if setrlimit(RLIMIT_NOFILE, &raised) == 0 {
                lim.cur = lim.max;
            }
        }
    }
    #[allow(clippy::unnecessary_cast)] // c_ulong is u32 on 32-bit targets
    let cur = lim.cur as u64;
    cur
}
