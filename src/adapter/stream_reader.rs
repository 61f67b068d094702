//! The streams protocol's reader, and the cluster log it gives the hub
//! (`Log`, for connection state recovery across nodes).
//!
//! One task per hub reads the stream with `XREAD BLOCK` from the last id it
//! got, on a connection of its own (a blocked read holds its connection),
//! and hands every entry to the hub in the stream's order: with recovery on,
//! the node's own logged broadcasts come back this way too, so every node
//! sends them in one order, each with its entry id as the offset. After an
//! error (Redis gone) it reads again from the same id once Redis is back.
//!
//! A recovering socket is put in by this task, between two entries (see
//! `Log::resume`): what it missed is read with `XRANGE` up to the last id
//! read, so the entries after it reach the socket live, once.

use std::future::ready;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::message::{Kind, Outbound};
use super::redis::{target_of, RedisAdapter};
use super::redis_conn::{pause, Conn, Options, MIN_BACKOFF};
use super::streams::{self, Route};
use super::{Log, Missed, Resume, SavedSession, Scope};
use crate::hub::{BoxFuture, HubCore};
use crate::socketio::payload::Payload;

/// How long one read waits for entries (the Node adapter's `blockTimeInMs`).
const BLOCK: Duration = Duration::from_secs(5);
/// Entries per read (the Node adapter's `readCount`).
const READ_COUNT: usize = 100;
/// Entries per `XRANGE` of a restore.
const RANGE_COUNT: usize = 1000;

/// A stream entry as Redis answers it: its id and its field/value pairs.
type Entry = (String, Vec<Vec<u8>>);

/// A recovering socket waiting for the reader (see `Log::resume`).
pub(super) struct Job {
    /// When it was asked: a job that waits longer than the cluster's
    /// timeout (Redis gone) gets `None`, its client a fresh session.
    asked: Instant,
    namespace: String,
    offset: (u64, u64),
    rooms: Vec<String>,
    resume: Resume,
}

/// The last entry read: its id, as numbers and as Redis wrote it.
struct Position {
    id: (u64, u64),
    text: String,
}

impl Position {
    fn of(text: String) -> Position {
        Position { id: streams::parse_id(&text).unwrap_or((0, 0)), text }
    }
}

pub(super) async fn read(adapter: Arc<RedisAdapter>, core: Arc<HubCore>, mut jobs: mpsc::UnboundedReceiver<Job>) {
    // A read cut short by a job leaves its XREAD blocked on the connection
    // (the next one waits behind it): the timeout covers two blocks.
    let options = Options { response_timeout: BLOCK * 2 + Duration::from_secs(2), pushes: None };
    let Some(mut conn) = adapter.server.connect(options, &core, "read the stream").await else { return };
    let stream = adapter.prefix.clone();
    let mut backoff = MIN_BACKOFF;
    // Where this node starts: the stream's end now (what came before, it did not send).
    let mut last = loop {
        match redis::cmd("XREVRANGE")
            .arg(&stream)
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1)
            .query_async::<Vec<Entry>>(&mut conn)
            .await
        {
            Ok(entries) => break Position::of(entries.into_iter().next().map_or_else(|| "0-0".to_string(), |e| e.0)),
            Err(e) => tracing::warn!(error = %e, "cannot read the cluster's stream; retrying"),
        }
        if pause(&core, &mut backoff).await {
            return;
        }
    };
    let mut waiting: Vec<Job> = Vec::new();
    let timeout = adapter.requests_timeout;
    let mut failing = false;
    loop {
        // A socket whose offset this node has not read up to yet waits for it.
        let (ready, later): (Vec<Job>, Vec<Job>) = waiting.drain(..).partition(|j| j.offset <= last.id);
        let (expired, later): (Vec<Job>, Vec<Job>) = later.into_iter().partition(|j| j.asked.elapsed() > timeout);
        waiting = later;
        expired.into_iter().for_each(|j| (j.resume)(None));
        for Job { namespace, offset, rooms, resume, .. } in ready {
            tracing::trace!(?offset, last = %last.text, "resuming a session");
            let missed = missed_after(&adapter, &namespace, offset, &rooms, &last).await;
            if let Err(e) = &missed {
                tracing::warn!(error = %e, "cannot read what a recovering socket missed: it gets a fresh session");
            }
            resume(missed.ok());
        }
        let mut read = redis::cmd("XREAD");
        read.arg("COUNT").arg(READ_COUNT).arg("BLOCK").arg(BLOCK.as_millis() as u64).arg("STREAMS").arg(&stream);
        read.arg(&last.text);
        tokio::select! {
            answer = read.query_async::<Option<Vec<(String, Vec<Entry>)>>>(&mut conn) => match answer {
                Ok(streams) => {
                    if std::mem::take(&mut failing) {
                        tracing::info!("reading the cluster's stream again");
                    }
                    backoff = MIN_BACKOFF;
                    let mut read = 0;
                    for (id, fields) in streams.into_iter().flatten().flat_map(|(_, entries)| entries) {
                        on_entry(&adapter, &core, &id, &fields);
                        last = Position::of(id);
                        read += 1;
                    }
                    tracing::trace!(read, last = %last.text, "read the cluster's stream");
                }
                Err(e) => {
                    if !std::mem::replace(&mut failing, true) {
                        tracing::warn!(error = %e, "cannot read the cluster's stream: reading again from {} once Redis is back", last.text);
                    }
                    if pause(&core, &mut backoff).await {
                        return;
                    }
                }
            },
            Some(job) = jobs.recv() => waiting.push(job),
            _ = core.shutdown.cancelled() => return,
        }
    }
}

/// Hands one entry to the hub.
fn on_entry(adapter: &Arc<RedisAdapter>, core: &HubCore, id: &str, fields: &[Vec<u8>]) {
    let m = match streams::decode_entry(fields) {
        Ok(Some(m)) => m,
        Ok(None) => return,
        Err(e) => return tracing::debug!(error = %e, id, "ignoring an undecodable stream entry"),
    };
    let Some(ns) = core.namespaces.get(&m.namespace) else { return };
    let own = m.uid.as_deref() == Some(adapter.uid.as_str());
    match m.kind {
        // With recovery on, a broadcast that is not volatile is sent here now,
        // the node's own ones included (`Target::emit` left them to the log).
        Kind::Broadcast { opts, event, args } if ns.recovers() && !opts.flags.volatile => {
            target_of(&ns, &opts).emit_logged(Some(id), &event, &args);
        }
        _ if own => {} // sent to this node's sockets when it was emitted
        _ => adapter.handle(&ns, m),
    }
}

/// A logged broadcast this node could not append: its own sockets get it
/// now, without an offset (as the Node adapter does when XADD fails).
pub(super) fn deliver_unlogged(adapter: &Arc<RedisAdapter>, core: &HubCore, route: &Route) {
    let Route::Append(pairs) = route else { return };
    let fields: Vec<Vec<u8>> = pairs.iter().flat_map(|(k, v)| [k.as_bytes().to_vec(), v.clone()]).collect();
    let Ok(Some(m)) = streams::decode_entry(&fields) else { return };
    let Some(ns) = core.namespaces.get(&m.namespace) else { return };
    if let Kind::Broadcast { opts, event, args } = m.kind {
        if m.uid.as_deref() == Some(adapter.uid.as_str()) && ns.recovers() && !opts.flags.volatile {
            target_of(&ns, &opts).emit_logged(None, &event, &args);
        }
    }
}

/// The logged broadcasts of `namespace` after `offset`, up to `last`, that
/// a socket in `rooms` got.
async fn missed_after(
    adapter: &RedisAdapter,
    namespace: &str,
    offset: (u64, u64),
    rooms: &[String],
    last: &Position,
) -> Result<Vec<Missed>, String> {
    let mut conn = publishing_conn(adapter).ok_or("Redis is not reachable")?;
    let rooms: Vec<&str> = rooms.iter().map(String::as_str).collect();
    let mut missed = Vec::new();
    let mut start = streams::next_id(offset);
    loop {
        let mut range = redis::pipe();
        range.cmd("XRANGE").arg(&adapter.prefix).arg(&start).arg(&last.text).arg("COUNT").arg(RANGE_COUNT);
        let (entries,): (Vec<Entry>,) = query_retrying(&mut conn, &range).await.map_err(|e| e.to_string())?;
        let full = entries.len() == RANGE_COUNT;
        for (id, fields) in entries {
            start = streams::next_id(streams::parse_id(&id).ok_or("a stream id that is not one")?);
            let Ok(Some(m)) = streams::decode_entry(&fields) else { continue };
            if let Kind::Broadcast { opts, event, args } = m.kind {
                if m.namespace == namespace && !opts.flags.volatile && streams::reaches(&opts, &rooms) {
                    missed.push(Missed { offset: id, event, args });
                }
            }
        }
        if !full {
            return Ok(missed);
        }
    }
}

fn publishing_conn(adapter: &RedisAdapter) -> Option<Conn> {
    adapter.link()?.conn.lock().clone()
}

/// A query of the publishing connection, sent once more if the connection
/// had dropped: the first command after Redis came back is the one that
/// finds the old connection dead (the manager reconnects then).
async fn query_retrying<T: redis::FromRedisValue>(conn: &mut Conn, pipe: &redis::Pipeline) -> redis::RedisResult<T> {
    match pipe.query_async(conn).await {
        Err(e) if e.is_connection_dropped() || e.is_io_error() => {
            tokio::time::sleep(MIN_BACKOFF).await;
            pipe.query_async(conn).await
        }
        answer => answer,
    }
}

impl Log for RedisAdapter {
    fn broadcast(&self, scope: &Scope, event: &str, args: &Payload) {
        self.send(&Outbound::Broadcast { scope, event, args });
    }

    fn persist_session(&self, _namespace: &str, pid: &str, session: &SavedSession, ttl: Duration) {
        let Some(link) = self.link() else { return };
        let Some(mut conn) = link.conn.lock().clone() else {
            return tracing::warn!("Redis is not reachable: a disconnected socket's session is not kept");
        };
        let mut set = redis::pipe();
        set.cmd("SET").arg(streams::session_key(pid)).arg(streams::encode_session(pid, session));
        set.arg("PX").arg(ttl.as_millis().max(1) as u64).ignore();
        link.runtime.spawn(async move {
            if let Err(e) = query_retrying::<()>(&mut conn, &set).await {
                tracing::warn!(error = %e, "cannot keep a disconnected socket's session in Redis");
            }
        });
    }

    fn take_session(&self, _namespace: &str, pid: &str, offset: &str) -> BoxFuture<Option<SavedSession>> {
        let (Some(_), Some(mut conn)) = (streams::parse_id(offset), publishing_conn(self)) else {
            return Box::pin(ready(None));
        };
        let (key, stream, offset) = (streams::session_key(pid), self.prefix.clone(), offset.to_string());
        Box::pin(async move {
            // Taken once, whoever asks at the same time: GETDEL (Redis 6.2; the
            // Node adapter sends GET and DEL in a MULTI, which a Redis Cluster
            // aborts with MOVED while a failover moves the key's slot). The
            // stream apart: in a Redis Cluster its slot differs.
            let mut take = redis::pipe();
            take.cmd("GETDEL").arg(&key);
            let mut at = redis::pipe();
            at.cmd("XRANGE").arg(&stream).arg(&offset).arg(&offset);
            let answers = match query_retrying(&mut conn, &take).await {
                Ok((saved,)) => query_retrying(&mut conn, &at).await.map(|(at_offset,)| (saved, at_offset)),
                Err(e) => Err(e),
            };
            let (saved, at_offset): (Option<Vec<u8>>, Vec<Entry>) = match answers {
                Ok(answer) => answer,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read a saved session from Redis: the client gets a fresh one");
                    return None;
                }
            };
            if at_offset.is_empty() {
                return None; // trimmed away or never there: no partial replay
            }
            streams::decode_session(&saved?).inspect_err(|e| tracing::debug!(error = %e, "a saved session")).ok()
        })
    }

    fn resume(&self, namespace: &str, offset: &str, rooms: Vec<String>, resume: Resume) {
        let (Some(offset), Some(link)) = (streams::parse_id(offset), self.link()) else { return resume(None) };
        let job = Job { asked: Instant::now(), namespace: namespace.to_string(), offset, rooms, resume };
        if let Err(mpsc::error::SendError(job)) = link.reader.send(job) {
            (job.resume)(None); // the hub is stopping
        }
    }
}
