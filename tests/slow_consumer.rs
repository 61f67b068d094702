//! Slow consumers: a client that stops reading while the server broadcasts
//! at it. Volatile emits are dropped for it (it keeps its connection);
//! ordinary ones follow the hub's policy (disconnect, reason logged). Server
//! memory stays bounded and the other clients' round trips are unaffected.
//!
//! The tests of this file run one at a time: the memory figures are the
//! whole process's.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use tungstenite::Message;
use wshub::{DisconnectReason, Hub, Payload};

static SERIAL: Mutex<()> = Mutex::new(());

/// A hub whose `ping` event acks at once, recording disconnect reasons.
fn hub(queue_bytes: usize) -> (Hub, Reasons) {
    let hub = Hub::builder().port(0).worker_threads(2).max_queued_bytes(queue_bytes).build().unwrap();
    let reasons = recording(&hub);
    (hub, reasons)
}

/// A client that reads every frame and counts the `blob` events.
fn spawn_reader(mut ws: Client) -> (Arc<AtomicUsize>, std::thread::JoinHandle<Client>) {
    let got = Arc::new(AtomicUsize::new(0));
    let g = got.clone();
    let t = std::thread::spawn(move || {
        loop {
            match ws.read() {
                Ok(Message::Text(t)) if t.as_str() == "2" => ws.send(Message::text("3")).unwrap(),
                Ok(Message::Text(t)) if t.as_str() == "42[\"stop\"]" => break,
                Ok(Message::Text(t)) if t.starts_with("42[\"blob\"") => {
                    g.fetch_add(1, Ordering::SeqCst);
                }
                Ok(_) => {}
                Err(e) => panic!("the reading client lost its connection: {e}"),
            }
        }
        ws
    });
    (got, t)
}

/// Broadcasts `count` blobs to room `feed`, never more than `ahead` blobs
/// ahead of what the reading client has received (within its queue bound, so
/// only the client that reads nothing falls behind). Returns how many
/// receivers each emit reached.
fn broadcast(
    hub: &Hub,
    blob: &Payload,
    count: usize,
    volatile: bool,
    reader: &AtomicUsize,
    ahead: usize,
) -> Vec<usize> {
    let mut reached = Vec::with_capacity(count);
    let base = reader.load(Ordering::SeqCst);
    for sent in 0..count {
        while sent + base - reader.load(Ordering::SeqCst) > ahead {
            std::thread::sleep(Duration::from_micros(200));
        }
        let target = if volatile { hub.to("feed").volatile() } else { hub.to("feed") };
        reached.push(target.emit("blob", blob));
    }
    reached
}

#[test]
fn volatile_emits_skip_a_slow_consumer_and_ordinary_ones_disconnect_it_with_a_logged_reason() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    capture_logs();
    let (hub, reasons) = hub(1 << 20);
    let addr = hub.start().unwrap();
    let (_slow, slow_id) = connect(addr); // never read from again
    let (reader, reader_id) = connect(addr);
    for id in [&slow_id, &reader_id] {
        hub.of("/").socket(id).unwrap().join("feed");
    }
    let (got, reader) = spawn_reader(reader);
    let blob = Payload::one(&"v".repeat(100_000)).unwrap();

    // 30 MB of volatile broadcasts: the slow client's queue fills (1 MiB
    // here), the rest is dropped for it alone, and it stays connected.
    let reached = broadcast(&hub, &blob, 300, true, &got, 4);
    assert!(wait_for(Duration::from_secs(20), || got.load(Ordering::SeqCst) == 300), "the reader got every blob");
    let dropped = reached.iter().filter(|&&n| n == 1).count();
    assert!(dropped > 200, "most volatile blobs were dropped for the slow client ({dropped} of 300)");
    assert!(reached.iter().all(|&n| n >= 1), "the reader got every blob queued");
    assert!(hub.of("/").socket(&slow_id).is_some_and(|s| s.connected()), "volatile drops keep the connection");
    // A volatile emit to the one socket is dropped too, and says so.
    let slow = hub.of("/").socket(&slow_id).unwrap();
    assert_eq!(slow.volatile().emit("blob", &blob), 0);
    assert!(slow.connected());
    assert!(reasons.lock().unwrap().is_empty());

    // Ordinary broadcasts follow the policy: the slow client is disconnected
    // (reason "transport error", logged), the reader goes on.
    let reached = broadcast(&hub, &blob, 50, false, &got, 4);
    assert!(wait_for(Duration::from_secs(10), || !reasons.lock().unwrap().is_empty()));
    assert_eq!(*reasons.lock().unwrap(), vec![(slow_id.clone(), DisconnectReason::TransportError)]);
    assert_eq!(reached[0], 1, "the first ordinary emit already overflowed the slow client's queue");
    assert!(wait_for(Duration::from_secs(10), || got.load(Ordering::SeqCst) == 350));
    let logs = captured_logs();
    let line = logs.lines().find(|l| l.contains("slow consumer")).expect("the disconnect is logged");
    assert!(line.contains("WARN") && line.contains("transport error"), "{line}");
    println!("slow consumer log line: {line}");

    hub.to("feed").emit("stop", &Payload::empty());
    let mut reader = reader.join().unwrap();
    round_trip(&mut reader, 1);
    hub.stop(Duration::from_millis(200)).unwrap();
}

#[test]
fn a_slow_consumer_sent_100_mb_keeps_server_memory_bounded_and_others_round_trips_unaffected() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (hub, reasons) = hub(8 << 20); // the default bound
    let addr = hub.start().unwrap();
    let (_slow, slow_id) = connect(addr); // reads nothing from here on
    let (reader, reader_id) = connect(addr);
    let (mut probe, _) = connect(addr); // not in the feed: measures round trips
    for id in [&slow_id, &reader_id] {
        hub.of("/").socket(id).unwrap().join("feed");
    }
    let (got, reader) = spawn_reader(reader);
    let blob = Payload::one(&"m".repeat(100_000)).unwrap();
    const BLOBS: usize = 1000; // 100 MB at the slow client

    // Round trips before the load.
    for i in 0..50 {
        round_trip(&mut probe, i); // warm-up
    }
    let before: Vec<Duration> = (0..300).map(|i| round_trip(&mut probe, 100 + i)).collect();

    // During the load: the probe keeps making round trips on its own thread.
    let loading = Arc::new(AtomicBool::new(true));
    let l = loading.clone();
    let prober = std::thread::spawn(move || {
        let mut during = Vec::new();
        let mut id = 1000;
        while l.load(Ordering::SeqCst) {
            during.push(round_trip(&mut probe, id));
            id += 1;
            std::thread::sleep(Duration::from_millis(2));
        }
        (probe, during)
    });
    let rss_before = rss_kib();
    let peak_reset = reset_peak_rss();
    let started = Instant::now();
    let reached = broadcast(&hub, &blob, BLOBS, true, &got, 32);
    assert!(wait_for(Duration::from_secs(60), || got.load(Ordering::SeqCst) == BLOBS), "the reader got every blob");
    let load_time = started.elapsed();
    loading.store(false, Ordering::SeqCst);
    let (mut probe, during) = prober.join().unwrap();
    let peak = if peak_reset { peak_rss_kib() } else { rss_kib() };
    let growth_kib = peak.saturating_sub(rss_before);

    let queued_for_slow = reached.iter().filter(|&&n| n == 2).count();
    assert!(hub.of("/").socket(&slow_id).is_some_and(|s| s.connected()), "the slow client keeps its connection");
    assert!(reasons.lock().unwrap().is_empty(), "nobody was disconnected: {:?}", reasons.lock().unwrap());
    println!(
        "slow consumer: {BLOBS} volatile broadcasts of 100 kB ({} MB) at a client that reads nothing and one that reads all, in {:.1} s",
        BLOBS / 10,
        load_time.as_secs_f64()
    );
    println!(
        "  queued for the slow client: {queued_for_slow} blobs ({:.1} MB; the rest dropped); server RSS {:.1} MiB before, peak growth {:.1} MiB{}",
        queued_for_slow as f64 / 10.0,
        rss_before as f64 / 1024.0,
        growth_kib as f64 / 1024.0,
        if peak_reset { "" } else { " (VmHWM reset refused: sampled after the load)" }
    );
    println!(
        "  healthy client round trips: before p50 {} us, p99 {} us ({} samples); during the load p50 {} us, p99 {} us ({} samples)",
        quantile_us(&before, 0.5),
        quantile_us(&before, 0.99),
        before.len(),
        quantile_us(&during, 0.5),
        quantile_us(&during, 0.99),
        during.len()
    );
    assert!(growth_kib < 64 * 1024, "server RSS grew by {growth_kib} KiB under a 100 MB slow-consumer load");
    assert!(queued_for_slow < 200, "the slow client's queue is bounded ({queued_for_slow} blobs queued)");
    assert!(during.len() >= 10, "the probe made round trips during the load");
    // A very loose sanity bound: a healthy client is not starved.
    assert!(quantile_us(&during, 0.5) < 1_000_000, "healthy round trips took seconds");
    round_trip(&mut probe, 1);

    hub.to("feed").emit("stop", &Payload::empty());
    reader.join().unwrap();
    hub.stop(Duration::from_millis(200)).unwrap();
}
