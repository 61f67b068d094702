//! Connection state recovery (Socket.IO 4.6+), for one namespace of one hub.
//!
//! With it on, every socket gets a private session id (`pid`, sent in its
//! CONNECT answer) and every event the namespace sends without an ack and
//! not volatile carries an offset as its last argument, the packet kept
//! here with its target. A socket that leaves for a reason a reconnect can
//! heal (transport close or error, ping timeout, server stopping) leaves its
//! id and rooms here. A client that comes back names its pid and the last
//! offset it got: the hub replays, in order, every kept packet after that
//! offset that its rooms would have received, and gives it back its id and
//! rooms (`Socket::recovered`).
//!
//! Bounded: packets and sessions older than `max_disconnection_duration`
//! go, and the packets' bytes are capped (`max_bytes`), the oldest going
//! first. A client whose offset is older than what is kept, or unknown,
//! gets a fresh session, never a partial replay (as the Node server does).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;

use crate::config::RecoveryConfig;
use crate::engineio::packet::Frames;

/// What a recovered socket gets back.
pub(crate) struct Restored {
    pub rooms: Vec<Arc<str>>,
    /// The packets it missed, in order (encoded for Socket.IO, offsets in).
    pub missed: Vec<Frames>,
}

/// A client's claim to a saved session: its pid and the last offset it got.
#[derive(Debug, Clone)]
pub(crate) struct Claim {
    pub pid: Arc<str>,
    /// As the client sent it: this store's offsets are hex numbers, a
    /// cluster log's are its own (see `offset_text`, `cluster::Log`).
    pub offset: String,
}

impl Claim {
    /// The `pid` and `offset` strings of a CONNECT's auth object, if both are there.
    pub fn from_auth(auth: &str) -> Option<Claim> {
        #[derive(serde::Deserialize)]
        struct Auth<'a> {
            #[serde(borrow)]
            pid: Option<std::borrow::Cow<'a, str>>,
            #[serde(borrow)]
            offset: Option<std::borrow::Cow<'a, str>>,
        }
        let a: Auth<'_> = serde_json::from_str(auth).ok()?;
        Some(Claim { pid: Arc::from(&*a.pid?), offset: a.offset?.into_owned() })
    }

    /// The offset as one of this store's, if it is one.
    fn local_offset(&self) -> Option<u64> {
        parse_offset(&self.offset)
    }
}

struct Kept {
    offset: u64,
    at: Instant,
    /// The rooms it went to (none: the whole namespace) and those it left out.
    rooms: Vec<Arc<str>>,
    except: Vec<Arc<str>>,
    frames: Frames,
    bytes: usize,
}

struct Saved {
    id: Arc<str>,
    rooms: Vec<Arc<str>>,
    at: Instant,
}

#[derive(Default)]
struct Store {
    packets: VecDeque<Kept>,
    bytes: usize,
    /// The highest offset dropped from `packets` (a client behind it cannot be replayed to).
    dropped_through: u64,
    sessions: HashMap<Arc<str>, Saved>,
    /// Pids in the order they were saved, for expiry (stale ones are skipped).
    order: VecDeque<(Instant, Arc<str>)>,
}

/// One namespace's recovery state.
pub(crate) struct Recovery {
    pub config: RecoveryConfig,
    /// The highest offset given out (0: none yet); outside the store's lock,
    /// so that an emit takes that lock once (in `keep`).
    last_offset: AtomicU64,
    store: Mutex<Store>,
}

impl Recovery {
    pub fn new(config: RecoveryConfig) -> Recovery {
        Recovery { config, last_offset: AtomicU64::new(0), store: Mutex::new(Store::default()) }
    }

    /// The next offset, for a packet about to be sent; `keep` then stores it.
    pub fn next_offset(&self) -> u64 {
        self.last_offset.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Keeps a sent packet for the clients that may miss it.
    pub fn keep(&self, offset: u64, rooms: Vec<Arc<str>>, except: Vec<Arc<str>>, frames: Frames) {
        let bytes = frames.iter().map(|f| f.len()).sum::<usize>() + 64;
        let now = Instant::now();
        let mut store = self.store.lock();
        store.bytes += bytes;
        // Offsets are taken before the packet is encoded and kept: a
        // concurrent emit may keep a later offset first. Kept in offset order.
        let at = store.packets.iter().rposition(|k| k.offset < offset).map_or(0, |i| i + 1);
        store.packets.insert(at, Kept { offset, at: now, rooms, except, frames, bytes });
        self.prune(&mut store, now);
    }

    /// Keeps a socket that left for a reason a reconnect can heal.
    pub fn save(&self, pid: Arc<str>, id: Arc<str>, rooms: Vec<Arc<str>>) {
        let now = Instant::now();
        let mut store = self.store.lock();
        store.order.push_back((now, pid.clone()));
        store.sessions.insert(pid, Saved { id, rooms, at: now });
        self.prune(&mut store, now);
    }

    /// The id of the session a claim names, if it can be restored (it is
    /// known, not expired, and nothing after its offset was dropped).
    pub fn check(&self, claim: &Claim) -> Option<Arc<str>> {
        let mut store = self.store.lock();
        self.prune(&mut store, Instant::now());
        let offset = claim.local_offset()?;
        let usable = offset <= self.last_offset.load(Ordering::Relaxed) && offset >= store.dropped_through;
        store.sessions.get(&claim.pid).filter(|_| usable).map(|s| s.id.clone())
    }

    /// Takes the claimed session out with what it missed after the claim's
    /// offset; None when `check` would now say no. The caller holds the
    /// namespace's registry lock, so that no emit runs between this and the
    /// socket's insertion (see `Namespace::insert`).
    pub fn restore(&self, claim: &Claim) -> Option<Restored> {
        let now = Instant::now();
        let mut store = self.store.lock();
        self.prune(&mut store, now);
        let offset = claim.local_offset()?;
        if offset > self.last_offset.load(Ordering::Relaxed) || offset < store.dropped_through {
            return None;
        }
        let saved = store.sessions.remove(&claim.pid)?;
        let rooms: HashSet<&str> = saved.rooms.iter().map(|r| &**r).chain([&*saved.id]).collect();
        let missed = store
            .packets
            .iter()
            .filter(|k| k.offset > offset)
            .filter(|k| k.rooms.is_empty() || k.rooms.iter().any(|r| rooms.contains(&**r)))
            .filter(|k| !k.except.iter().any(|r| rooms.contains(&**r)))
            .map(|k| k.frames.clone())
            .collect();
        Some(Restored { rooms: saved.rooms, missed })
    }

    fn prune(&self, store: &mut Store, now: Instant) {
        let max_age = self.config.max_disconnection_duration;
        let expired = |at: Instant| now.saturating_duration_since(at) > max_age;
        while let Some(front) = store.packets.front() {
            if !expired(front.at) && store.bytes <= self.config.max_bytes {
                break;
            }
            let gone = store.packets.pop_front().expect("front exists");
            store.bytes -= gone.bytes;
            store.dropped_through = store.dropped_through.max(gone.offset);
        }
        while let Some((at, pid)) = store.order.front().cloned() {
            if !expired(at) && store.sessions.len() <= self.config.max_sessions {
                break;
            }
            store.order.pop_front();
            // Only if this entry is the session's latest save.
            if store.sessions.get(&pid).is_some_and(|s| s.at == at) {
                store.sessions.remove(&pid);
            }
        }
    }

    #[cfg(test)]
    fn kept(&self) -> (usize, usize, usize) {
        let store = self.store.lock();
        (store.packets.len(), store.bytes, store.sessions.len())
    }
}

/// An offset as the client got it (lower-case hex, see `offset_text`).
pub(crate) fn parse_offset(text: &str) -> Option<u64> {
    if text.is_empty() || text.len() > 16 {
        return None;
    }
    u64::from_str_radix(text, 16).ok()
}

pub(crate) fn offset_text(offset: u64) -> String {
    format!("{offset:x}")
}

/// The reasons after which a client may come back and recover (Socket.IO's
/// RECOVERABLE_DISCONNECT_REASONS); leaving on purpose is not one.
pub(crate) fn is_recoverable(reason: crate::reason::DisconnectReason) -> bool {
    use crate::reason::DisconnectReason::*;
    matches!(reason, TransportClose | TransportError | PingTimeout | ServerShuttingDown | ForcedClose)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engineio::packet::Frame;
    use std::time::Duration;

    fn frames(text: &str) -> Frames {
        Frames::from_iter([Frame::text(text.to_string())])
    }

    fn texts(r: &Restored) -> Vec<String> {
        r.missed.iter().map(|f| format!("{:?}", f[0])).collect()
    }

    fn room(s: &str) -> Arc<str> {
        Arc::from(s)
    }

    fn claim(pid: &str, offset: u64) -> Claim {
        Claim { pid: Arc::from(pid), offset: offset_text(offset) }
    }

    #[test]
    fn replays_what_the_rooms_would_have_got_after_the_offset_in_order() {
        let r = Recovery::new(RecoveryConfig::default());
        let first = r.next_offset();
        r.keep(first, vec![], vec![], frames("seen"));
        r.save(room("p1"), room("s1"), vec![room("a")]);
        for (rooms, except, text) in [
            (vec![], vec![], "all"),
            (vec![room("a")], vec![], "room a"),
            (vec![room("b")], vec![], "room b"),
            (vec![room("s1")], vec![], "direct"),
            (vec![], vec![room("a")], "all but a"),
        ] {
            let o = r.next_offset();
            r.keep(o, rooms, except, frames(text));
        }
        let claim = claim("p1", first);
        assert_eq!(r.check(&claim).as_deref(), Some("s1"));
        let restored = r.restore(&claim).unwrap();
        let got = texts(&restored);
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(got[0].contains("all") && got[1].contains("room a") && got[2].contains("direct"), "{got:?}");
        assert!(r.restore(&claim).is_none() && r.check(&claim).is_none(), "a session is restored once");
    }

    #[test]
    fn an_unknown_or_too_old_offset_or_an_expired_session_is_a_fresh_start() {
        let cfg = RecoveryConfig { max_bytes: 300, ..RecoveryConfig::default() };
        let r = Recovery::new(cfg);
        r.save(room("p"), room("s"), vec![]);
        let not_ours = Claim::from_auth(r#"{"pid":"p","offset":"zz"}"#).unwrap();
        assert!(r.check(&not_ours).is_none(), "not an offset of this store");
        assert!(Claim::from_auth(r#"{"pid":"p"}"#).is_none() && Claim::from_auth("[1]").is_none());
        let parsed = Claim::from_auth(r#"{"token":1,"pid":"p","offset":"1f"}"#).unwrap();
        assert_eq!((&*parsed.pid, parsed.local_offset()), ("p", Some(31)));
        assert!(r.restore(&claim("p", 255)).is_none(), "an offset never given");
        r.save(room("p"), room("s"), vec![]);
        let first = r.next_offset();
        r.keep(first, vec![], vec![], frames(&"x".repeat(100)));
        for _ in 0..5 {
            let o = r.next_offset();
            r.keep(o, vec![], vec![], frames(&"y".repeat(100)));
        }
        let (packets, bytes, _) = r.kept();
        assert!(bytes <= 300 && packets < 6, "capped: {packets} packets, {bytes} bytes");
        assert!(r.check(&claim("p", first)).is_none(), "packets after it were dropped: no partial replay");
        assert!(r.restore(&claim("p", first)).is_none());

        let short = Recovery::new(RecoveryConfig { max_disconnection_duration: Duration::ZERO, ..Default::default() });
        let o = short.next_offset();
        short.keep(o, vec![], vec![], frames("z"));
        short.save(room("q"), room("t"), vec![]);
        std::thread::sleep(Duration::from_millis(5));
        assert!(short.restore(&claim("q", o)).is_none(), "expired");
        assert_eq!(short.kept(), (0, 0, 0), "expired entries are gone");
    }
}
