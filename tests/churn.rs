//! Churn soak: 50,000 connect / emit / disconnect cycles against one hub,
//! 64 at a time, over every transport (Socket.IO over WebSocket with a
//! graceful close or a TCP reset, Socket.IO over long-polling, the raw
//! WebSocket endpoint). After a warm-up of 10,000 cycles the process's RSS
//! and open descriptors are taken; at the end they are within 10% of those,
//! and no socket, room, session or connection is left. RSS is read after
//! `malloc_trim`, so that it counts live memory, not the allocator's free
//! lists (both figures are printed).
//!
//! `WSHUB_CHURN_CYCLES` and `WSHUB_CHURN_CONCURRENCY` change the load.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tungstenite::Message;
use wshub::{Hub, Payload};

/// The allocator's arenas and the runtimes' caches reach their working size
/// within the first ~10,000 cycles (measured: +1 MiB from 2,000 to 10,000,
/// then flat up to 120,000), so the baseline is taken after those.
const WARM_UP: usize = 10_000;
const ROOMS: usize = 50;

#[test]
fn fifty_thousand_connect_emit_disconnect_cycles_leave_nothing_behind() {
    let cycles = env_usize("WSHUB_CHURN_CYCLES", 50_000);
    let concurrency = env_usize("WSHUB_CHURN_CONCURRENCY", 64);
    let hub = Hub::builder().port(0).worker_threads(2).build().unwrap();
    hub.on("join", |ev| {
        let room: String = ev.args().first().unwrap_or_default();
        ev.socket().join(&room);
        ev.ack(&Payload::one(&true).unwrap()).unwrap();
    });
    hub.on("to-room", |ev| {
        let room: String = ev.args().first().unwrap_or_default();
        ev.socket().to(&room).emit("room-msg", ev.args());
        ev.ack(&Payload::empty()).unwrap();
    });
    hub.on("message", |ev| {
        ev.socket().join("raw");
        let _ = ev.socket().emit("message", ev.args());
    });
    let addr = hub.start().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();

    let quiet = |hub: &Hub| {
        wait_for(Duration::from_secs(10), || {
            hub.connection_counts() == (0, 0) && hub.of("/").sockets().is_empty() && hub.of("/").rooms().is_empty()
        })
    };
    let started = Instant::now();
    rt.block_on(run_cycles(addr, 0, WARM_UP.min(cycles), concurrency));
    assert!(quiet(&hub), "after the warm-up: {:?}", hub.connection_counts());
    let raw_start = rss_kib();
    let trimmed = trim_allocator();
    let (rss_start, fds_start) = (rss_kib(), open_fds());
    let warm_up_time = started.elapsed();

    let started = Instant::now();
    let mut peak_rss = rss_start;
    let mut done = WARM_UP.min(cycles);
    let mut trace = Vec::new();
    while done < cycles {
        let batch = (cycles - done).min(8_000);
        rt.block_on(run_cycles(addr, done, batch, concurrency));
        done += batch;
        let rss = rss_kib();
        peak_rss = peak_rss.max(rss);
        trim_allocator();
        trace.push(format!("{done}: {:.1}/{:.1}", rss as f64 / 1024.0, rss_kib() as f64 / 1024.0));
    }
    println!("  RSS (MiB, untrimmed/trimmed) after each batch of cycles: {}", trace.join(", "));
    let soak_time = started.elapsed();
    assert!(quiet(&hub), "at the end: {:?} (connections, sessions)", hub.connection_counts());
    let raw_end = rss_kib();
    trim_allocator();
    let (rss_end, fds_end) = (rss_kib(), open_fds());
    let mib = |kib: u64| kib as f64 / 1024.0;
    println!(
        "churn: {cycles} connect/emit/disconnect cycles, {concurrency} at a time: warm-up {} in {:.1} s, the rest in {:.1} s ({:.0} cycles/s)",
        WARM_UP.min(cycles),
        warm_up_time.as_secs_f64(),
        soak_time.as_secs_f64(),
        (cycles - WARM_UP.min(cycles)) as f64 / soak_time.as_secs_f64()
    );
    println!(
        "  RSS{} after warm-up {:.1} MiB, at the end {:.1} MiB ({:+.1}%); untrimmed {:.1} -> {:.1} MiB, peak {:.1} MiB",
        if trimmed { " (after malloc_trim)" } else { "" },
        mib(rss_start),
        mib(rss_end),
        (rss_end as f64 / rss_start as f64 - 1.0) * 100.0,
        mib(raw_start),
        mib(raw_end),
        mib(peak_rss)
    );
    println!("  open fds {fds_start} -> {fds_end}; left: 0 sockets, 0 rooms, 0 Engine.IO sessions, 0 TCP connections");
    assert!(rss_end as f64 <= rss_start as f64 * 1.10, "RSS {rss_start} KiB -> {rss_end} KiB");
    assert!(fds_end as f64 <= fds_start as f64 * 1.10, "fds {fds_start} -> {fds_end}");
    drop(rt);
    hub.stop(Duration::from_millis(200)).unwrap();
}

/// Runs cycles `first..first + count`, `concurrency` at a time.
async fn run_cycles(addr: SocketAddr, first: usize, count: usize, concurrency: usize) {
    let next = Arc::new(AtomicUsize::new(first));
    let end = first + count;
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let next = next.clone();
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= end {
                        return;
                    }
                    let result = tokio::time::timeout(Duration::from_secs(30), cycle(addr, i)).await;
                    match result {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => panic!("cycle {i} failed: {e}"),
                        Err(_) => panic!("cycle {i} took over 30 s"),
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
}

/// One client's life; the kind of client depends on `i`.
async fn cycle(addr: SocketAddr, i: usize) -> Result<(), Error> {
    match i % 10 {
        0..=6 => socketio_websocket(addr, i).await,
        7 | 8 => socketio_polling(addr, i).await,
        _ => raw_websocket(addr, i).await,
    }
}

async fn ws_connect(addr: SocketAddr, path: &str) -> Result<AsyncWs, Error> {
    let stream = TcpStream::connect(addr).await?;
    let (ws, _) = tokio_tungstenite::client_async(format!("ws://{addr}{path}"), stream).await?;
    Ok(ws)
}

/// Connect, join a room, emit to it with an ack, then leave: a graceful
/// namespace disconnect and close frame, or a TCP reset.
async fn socketio_websocket(addr: SocketAddr, i: usize) -> Result<(), Error> {
    let mut ws = ws_connect(addr, "/socket.io/?EIO=4&transport=websocket").await?;
    next_text(&mut ws, |t| t.starts_with('0')).await?;
    ws.send(Message::text("40")).await?;
    next_text(&mut ws, |t| t.starts_with("40{")).await?;
    let room = format!("r{}", i % ROOMS);
    ws.send(Message::text(format!("421[\"join\",\"{room}\"]"))).await?;
    next_text(&mut ws, |t| t == "431[true]").await?;
    ws.send(Message::text(format!("422[\"to-room\",\"{room}\",{i}]"))).await?;
    next_text(&mut ws, |t| t == "432[]").await?;
    if i % 2 == 0 {
        ws.send(Message::text("41")).await?;
        ws.close(None).await?;
        while let Some(Ok(_)) = ws.next().await {}
    } else {
        ws.get_ref().set_zero_linger()?;
        drop(ws);
    }
    Ok(())
}

/// Handshake, connect, emit and close over long-polling (one keep-alive connection).
async fn socketio_polling(addr: SocketAddr, i: usize) -> Result<(), Error> {
    let mut conn = TcpStream::connect(addr).await?;
    let open = request(&mut conn, "GET", "/socket.io/?EIO=4&transport=polling", "").await?;
    let sid = open.split("\"sid\":\"").nth(1).and_then(|s| s.split('"').next()).ok_or("no sid")?.to_string();
    let path = format!("/socket.io/?EIO=4&transport=polling&sid={sid}");
    request(&mut conn, "POST", &path, "40").await?;
    let answer = request(&mut conn, "GET", &path, "").await?;
    if !answer.contains("40{") {
        return Err(format!("no CONNECT answer: {answer}").into());
    }
    let room = format!("r{}", i % ROOMS);
    request(&mut conn, "POST", &path, &format!("42[\"join\",\"{room}\"]\u{1e}42[\"to-room\",\"{room}\",{i}]")).await?;
    request(&mut conn, "POST", &path, "1").await?;
    Ok(())
}

/// A plain WebSocket client: one message, echoed back.
async fn raw_websocket(addr: SocketAddr, i: usize) -> Result<(), Error> {
    let mut ws = ws_connect(addr, "/ws").await?;
    let text = format!("hello {i}");
    ws.send(Message::text(text.clone())).await?;
    next_text(&mut ws, |t| t == text).await?;
    ws.close(None).await?;
    while let Some(Ok(_)) = ws.next().await {}
    Ok(())
}

/// One HTTP/1.1 request on a keep-alive connection; returns the body.
async fn request(conn: &mut TcpStream, method: &str, path: &str, body: &str) -> Result<String, Error> {
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    conn.write_all(head.as_bytes()).await?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            if !head.starts_with("http/1.1 200") {
                return Err(format!("{method} {path}: {head}").into());
            }
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .ok_or("no content-length")?;
            while buf.len() < end + 4 + len {
                let n = conn.read(&mut chunk).await?;
                if n == 0 {
                    return Err("connection closed mid-body".into());
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            return Ok(String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).into_owned());
        }
        let n = conn.read(&mut chunk).await?;
        if n == 0 {
            return Err("connection closed".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}
