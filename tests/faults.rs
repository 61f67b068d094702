//! Faults: clients that reset TCP mid-frame, half-open (silent) clients,
//! a reconnect storm of 10,000 clients, handlers that panic, and `stop`
//! under load. Each time the hub frees what the fault left behind and goes
//! on serving everyone else.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use tungstenite::Message;
use wshub::{DisconnectReason, Hub, Payload};

/// Closes a socket with SO_LINGER 0: the peer gets a TCP reset, not a FIN.
fn reset(stream: TcpStream) {
    socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO)).unwrap();
    drop(stream);
}

#[test]
fn a_client_that_resets_mid_websocket_frame_is_freed_at_once_and_others_go_on() {
    let hub = Hub::builder().port(0).worker_threads(1).build().unwrap();
    let reasons = recording(&hub);
    let addr = hub.start().unwrap();
    let (mut good, good_id) = connect(addr);
    let (mut bad, bad_id) = connect(addr);
    assert_eq!(hub.connection_counts(), (2, 2));
    // Half of a masked text frame that announces 1000 bytes, then a reset.
    let mut frame = vec![0x81, 0x80 | 126, 0x03, 0xE8, 1, 2, 3, 4];
    frame.extend(std::iter::repeat_n(b'x' ^ 1, 500));
    tcp(&mut bad).write_all(&frame).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let started = Instant::now();
    reset(tcp(&mut bad).try_clone().unwrap());
    drop(bad);
    assert!(wait_for(Duration::from_secs(5), || reason_of(&reasons, &bad_id).is_some()));
    let freed_in = started.elapsed();
    assert_eq!(reason_of(&reasons, &bad_id), Some(DisconnectReason::TransportClose));
    assert!(wait_for(Duration::from_secs(5), || hub.connection_counts() == (1, 1)), "{:?}", hub.connection_counts());
    assert!(hub.of("/").socket(&bad_id).is_none());
    round_trip(&mut good, 1);
    assert_eq!(reason_of(&reasons, &good_id), None);
    println!("reset mid WebSocket frame: session freed in {} ms (reason transport close)", freed_in.as_millis());
    hub.stop(Duration::from_millis(200)).unwrap();
}

#[test]
fn a_client_that_resets_mid_polling_body_frees_the_connection_then_the_session_and_others_go_on() {
    let (hub, addr, reasons) = quick_ping_hub();
    let (good, good_id) = connect(addr);
    let good = keep_answering(good);
    let (sid, bad_id) = polling_connect(addr);
    assert!(wait_for(Duration::from_secs(5), || hub.connection_counts() == (1, 2)), "{:?}", hub.connection_counts());
    // A POST that announces 1000 bytes, sends 500 and resets.
    let mut post = TcpStream::connect(addr).unwrap();
    let head = format!(
        "POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\n"
    );
    post.write_all(head.as_bytes()).unwrap();
    post.write_all(&[b'4'; 500]).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    // And a long-poll GET in flight, reset too.
    let mut get = TcpStream::connect(addr).unwrap();
    get.write_all(format!("GET /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let started = Instant::now();
    reset(post);
    reset(get);
    // The POST's connection is freed at once; the session (polling
    // sessions outlive connections) when its pong does not come.
    assert!(wait_for(Duration::from_secs(5), || hub.connection_counts().0 <= 2), "{:?}", hub.connection_counts());
    assert!(wait_for(Duration::from_secs(5), || reason_of(&reasons, &bad_id).is_some()));
    let freed_in = started.elapsed();
    assert_eq!(reason_of(&reasons, &bad_id), Some(DisconnectReason::PingTimeout));
    assert!(wait_for(Duration::from_secs(5), || hub.connection_counts() == (1, 1)), "{:?}", hub.connection_counts());
    let mut good = good.finish();
    round_trip(&mut good, 1);
    assert_eq!(reason_of(&reasons, &good_id), None);
    println!(
        "reset mid polling body (and a reset long-poll): session freed by the ping timeout in {} ms (interval 300 ms, timeout 200 ms)",
        freed_in.as_millis()
    );
    hub.stop(Duration::from_millis(200)).unwrap();
}

/// A started hub that pings every 300 ms and gives up after 200 ms more,
/// recording disconnect reasons.
fn quick_ping_hub() -> (Hub, std::net::SocketAddr, Reasons) {
    let hub = Hub::builder()
        .port(0)
        .worker_threads(1)
        .ping_interval(Duration::from_millis(300))
        .ping_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let reasons = recording(&hub);
    let addr = hub.start().unwrap();
    (hub, addr, reasons)
}

/// A client that keeps answering pings (round trips every 20 ms) on its own thread.
struct Answering {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Client>,
}

fn keep_answering(mut ws: Client) -> Answering {
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let thread = std::thread::spawn(move || {
        let mut id = 1000;
        while !s.load(Ordering::SeqCst) {
            round_trip(&mut ws, id);
            id += 1;
            std::thread::sleep(Duration::from_millis(20));
        }
        ws
    });
    Answering { stop, thread }
}

impl Answering {
    fn finish(self) -> Client {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().unwrap()
    }
}

#[test]
fn silent_half_open_clients_are_found_by_the_ping_timeout() {
    let (hub, addr, reasons) = quick_ping_hub();
    let (good, good_id) = connect(addr);
    let good = keep_answering(good);
    let started = Instant::now();
    // Keeps its socket open, and neither reads nor writes again.
    let (silent_ws, ws_id) = connect(addr);
    // Never polls again.
    let (_sid, polling_id) = polling_connect(addr);
    assert!(wait_for(Duration::from_secs(5), || {
        reason_of(&reasons, &ws_id).is_some() && reason_of(&reasons, &polling_id).is_some()
    }));
    let found_in = started.elapsed();
    assert_eq!(reason_of(&reasons, &ws_id), Some(DisconnectReason::PingTimeout));
    assert_eq!(reason_of(&reasons, &polling_id), Some(DisconnectReason::PingTimeout));
    assert!(wait_for(Duration::from_secs(5), || hub.connection_counts() == (1, 1)), "{:?}", hub.connection_counts());
    let mut good = good.finish();
    round_trip(&mut good, 1);
    assert_eq!(reason_of(&reasons, &good_id), None);
    println!(
        "half-open WebSocket and polling clients: both found by the ping timeout within {} ms (interval 300 ms, timeout 200 ms)",
        found_in.as_millis()
    );
    drop(silent_ws);
    hub.stop(Duration::from_millis(200)).unwrap();
}

#[test]
fn handlers_that_panic_are_logged_and_the_hub_goes_on() {
    capture_logs();
    let hub = Hub::builder().port(0).worker_threads(1).build().unwrap();
    let reasons = recording(&hub);
    hub.on("boom", |_| panic!("event handler failed on purpose"));
    hub.on_connect(|_| panic!("connect handler failed on purpose"));
    hub.on_disconnect(|_, _| panic!("disconnect handler failed on purpose"));
    let addr = hub.start().unwrap();
    let (mut a, a_id) = connect(addr);
    for i in 0..3 {
        a.send(Message::text("42[\"boom\"]")).unwrap();
        round_trip(&mut a, i); // the same client is still served
    }
    let (b, _) = connect(addr);
    drop(b); // its disconnect handlers run: one records, one panics
    let (mut c, _) = connect(addr);
    round_trip(&mut c, 1);
    round_trip(&mut a, 9);
    assert_eq!(reason_of(&reasons, &a_id), None);
    assert!(wait_for(Duration::from_secs(5), || reasons.lock().unwrap().len() == 1));
    let logs = captured_logs();
    for what in ["event handler panicked", "connect handler panicked", "disconnect handler panicked"] {
        assert!(logs.contains(what), "{what} is logged: {logs}");
    }
    hub.stop(Duration::from_millis(200)).unwrap();
}

#[test]
fn stop_under_load_drains_and_returns_within_the_grace_period() {
    let grace = Duration::from_secs(1);
    // Clients that read: every connection drains, stop returns before the grace ends.
    let took = stop_under_load(grace, 0);
    assert!(took < grace, "stop took {took:?} with a grace of {grace:?} though every client reads");
    // Two clients that cannot drain: stop gives up on them when the grace ends.
    let took = stop_under_load(grace, 2);
    assert!(took < grace + Duration::from_millis(1500), "stop took {took:?} with a grace of {grace:?}");
}

fn stop_under_load(grace: Duration, stuck_clients: usize) -> Duration {
    let hub = Hub::builder().port(0).worker_threads(2).build().unwrap();
    let reasons = recording(&hub);
    hub.on("echo", |ev| {
        let _ = ev.socket().emit("echo", ev.args());
    });
    let addr = hub.start().unwrap();
    const BUSY: usize = 16;
    let echoed = Arc::new(AtomicUsize::new(0));
    let ended = Arc::new(AtomicUsize::new(0));
    let mut busy = Vec::new();
    for _ in 0..BUSY {
        let (mut ws, _) = connect(addr);
        let (echoed, ended) = (echoed.clone(), ended.clone());
        busy.push(std::thread::spawn(move || {
            // Emits continuously (bursts of 10), reading the echoes, until the server closes.
            'outer: for i in 0u64.. {
                for j in 0..10 {
                    if ws.send(Message::text(format!("42[\"echo\",{i},{j},\"load\"]"))).is_err() {
                        break 'outer;
                    }
                }
                for _ in 0..10 {
                    match ws.read() {
                        Ok(Message::Text(t)) if t.starts_with("42[\"echo\"") => {
                            echoed.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(Message::Text(t)) if t.as_str() == "2" => {
                            let _ = ws.send(Message::text("3"));
                        }
                        Ok(Message::Close(_)) | Err(_) => break 'outer,
                        Ok(_) => {}
                    }
                }
            }
            // The server closed: read to the end.
            closed_by_server(&mut ws);
            ended.fetch_add(1, Ordering::SeqCst);
        }));
    }
    // Clients that read nothing and whose queues are full: they cannot be
    // drained, so stop gives up on them when the grace period ends.
    let mut stuck = Vec::new();
    let blob = Payload::one(&"s".repeat(100_000)).unwrap();
    for _ in 0..stuck_clients {
        let (ws, id) = connect(addr);
        let s = hub.of("/").socket(&id).unwrap();
        while s.volatile().emit("blob", &blob) == 1 {}
        stuck.push(ws);
    }
    assert!(wait_for(Duration::from_secs(10), || echoed.load(Ordering::Relaxed) > 2000), "the load is running");
    let before = echoed.load(Ordering::Relaxed);
    let started = Instant::now();
    hub.stop(grace).unwrap();
    let took = started.elapsed();
    for t in busy {
        t.join().unwrap();
    }
    assert_eq!(ended.load(Ordering::SeqCst), BUSY, "every busy client saw its connection end");
    let r = reasons.lock().unwrap();
    assert_eq!(r.len(), BUSY + stuck_clients, "every socket's disconnect handler ran");
    assert!(r.iter().all(|(_, reason)| *reason == DisconnectReason::ServerShuttingDown), "{r:?}");
    assert!(hub.of("/").sockets().is_empty() && hub.of("/").rooms().is_empty());
    assert_eq!(hub.connection_counts(), (0, 0));
    println!(
        "stop under load ({BUSY} clients emitting continuously, {before} echoes so far, {stuck_clients} clients with full queues): stop({} ms) returned in {} ms",
        grace.as_millis(),
        took.as_millis()
    );
    drop(stuck);
    took
}

// ---- the reconnect storm: the clients run in a child process (this test
// binary again), so that neither process needs more than ~10,000 descriptors.

const STORM_ENV: &str = "WSHUB_STORM_CLIENT_OF";

fn storm_clients() -> usize {
    env_usize("WSHUB_STORM_CLIENTS", 10_000)
}

#[test]
fn a_reconnect_storm_of_10000_clients_is_served_and_ends_with_exactly_that_many_sockets() {
    if let Ok(addr) = std::env::var(STORM_ENV) {
        return storm::client(addr.parse().unwrap(), storm_clients());
    }
    let n = storm_clients();
    let fd_limit = raise_fd_limit();
    assert!(
        fd_limit as usize >= n + 500,
        "the storm needs {} open files per process (clients and server each); the limit is {fd_limit}",
        n + 500
    );
    let hub = Hub::builder().port(0).worker_threads(2).ping_interval(Duration::from_secs(120)).build().unwrap();
    let connects = Arc::new(AtomicUsize::new(0));
    let disconnects = Arc::new(AtomicUsize::new(0));
    let (c, d) = (connects.clone(), disconnects.clone());
    hub.on_connect(move |_| {
        c.fetch_add(1, Ordering::Relaxed);
    });
    hub.on_disconnect(move |_, _| {
        d.fetch_add(1, Ordering::Relaxed);
    });
    let addr = hub.start().unwrap();
    let rss_idle = rss_kib();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "a_reconnect_storm_of_10000_clients_is_served_and_ends_with_exactly_that_many_sockets"])
        .args(["--nocapture", "--test-threads=1"])
        .env(STORM_ENV, addr.to_string())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut to_child = child.stdin.take().unwrap();
    let mut from_child = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut expect = |word: &str| -> String {
        loop {
            let line = from_child.next().expect("the storm client ended early").unwrap();
            // (libtest may print "test <name> ... " on the same line first)
            let tag = format!("STORM {word} ");
            if let Some(at) = line.find(&tag) {
                return line[at + tag.len()..].to_string();
            }
        }
    };
    let sockets = || hub.of("/").sockets().len();

    let first = expect("CONNECTED");
    assert!(wait_for(Duration::from_secs(30), || sockets() == n), "{} sockets of {n}", sockets());
    assert_eq!(hub.connection_counts(), (n, n));
    let rss_full = rss_kib();
    // All drop and reconnect at once.
    let started = Instant::now();
    writeln!(to_child, "DROP").unwrap();
    let second = expect("RECONNECTED");
    let settled = wait_for(Duration::from_secs(60), || {
        sockets() == n && hub.connection_counts() == (n, n) && disconnects.load(Ordering::Relaxed) == n
    });
    let settle_time = started.elapsed();
    assert!(
        settled,
        "after the storm: {} sockets, {:?} (connections, sessions), {} disconnects; want {n}",
        sockets(),
        hub.connection_counts(),
        disconnects.load(Ordering::Relaxed)
    );
    assert_eq!(sockets(), n, "exactly the reconnected clients");
    assert_eq!(connects.load(Ordering::Relaxed), 2 * n);
    writeln!(to_child, "EXIT").unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "the storm client failed: {status}");
    assert!(wait_for(Duration::from_secs(30), || sockets() == 0 && hub.connection_counts() == (0, 0)));
    assert_eq!(disconnects.load(Ordering::Relaxed), 2 * n);
    println!("reconnect storm of {n} clients: first wave {first}; drop-all-and-reconnect wave {second}");
    println!(
        "  hub settled at exactly {n} sockets {} ms after the drop; server RSS idle {:.1} MiB, with {n} clients {:.1} MiB",
        settle_time.as_millis(),
        rss_idle as f64 / 1024.0,
        rss_full as f64 / 1024.0
    );
    hub.stop(Duration::from_millis(500)).unwrap();
}

mod storm {
    use super::*;
    use futures_util::SinkExt;
    use tokio::net::TcpStream;
    use tungstenite::protocol::WebSocketConfig;

    /// The child process: connects `n` clients at once, reports, drops them
    /// all at once on "DROP" and reconnects them at once, then waits for "EXIT".
    pub fn client(addr: SocketAddr, n: usize) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let mut stdin = std::io::stdin().lock().lines();
        let mut wait_for_word = |word: &str| loop {
            match stdin.next() {
                Some(Ok(line)) if line.trim() == word => return,
                Some(Ok(_)) => continue,
                _ => std::process::exit(1), // the parent went away
            }
        };
        let clients = rt.block_on(wave(addr, n));
        wait_for_word("DROP");
        drop(clients);
        let clients = rt.block_on(wave(addr, n));
        wait_for_word("EXIT");
        drop(clients);
    }

    async fn wave(addr: SocketAddr, n: usize) -> Vec<AsyncWs> {
        let started = Instant::now();
        let retries = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..n).map(|_| tokio::spawn(connect_retrying(addr, retries.clone()))).collect();
        let mut clients = Vec::with_capacity(n);
        for t in tasks {
            clients.push(t.await.unwrap());
        }
        let line = format!(
            "{} clients in {} ms ({} retried connects)",
            clients.len(),
            started.elapsed().as_millis(),
            retries.load(Ordering::Relaxed)
        );
        static WAVES: AtomicUsize = AtomicUsize::new(0);
        let tag = if WAVES.fetch_add(1, Ordering::SeqCst) == 0 { "CONNECTED" } else { "RECONNECTED" };
        println!("STORM {tag} {line}");
        clients
    }

    async fn connect_retrying(addr: SocketAddr, retries: Arc<AtomicUsize>) -> AsyncWs {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            match tokio::time::timeout(Duration::from_secs(30), connect(addr)).await {
                Ok(Ok(ws)) => return ws,
                _ if Instant::now() < deadline => {
                    retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(50 + rand_ms())).await;
                }
                failed => panic!("a storm client could not connect: {failed:?}"),
            }
        }
    }

    fn rand_ms() -> u64 {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(0);
        h.finish() % 200
    }

    async fn connect(addr: SocketAddr) -> Result<AsyncWs, Error> {
        let stream = TcpStream::connect(addr).await?;
        let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
        let mut config = WebSocketConfig::default();
        config.read_buffer_size = 4096;
        config.write_buffer_size = 0;
        let (mut ws, _) = tokio_tungstenite::client_async_with_config(url, stream, Some(config)).await?;
        let open = next_text(&mut ws, |_| true).await?;
        if !open.starts_with('0') {
            return Err(format!("not an open packet: {open}").into());
        }
        ws.send(Message::text("40")).await?;
        let answer = next_text(&mut ws, |_| true).await?;
        if !answer.starts_with("40{") {
            return Err(format!("not a CONNECT answer: {answer}").into());
        }
        Ok(ws)
    }
}
