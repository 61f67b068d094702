//! The namespaces of one hub: those the application made (`Hub::of`), and
//! the dynamic ones, made when a client names a namespace nobody made and
//! the hub's resolver accepts the name (Socket.IO's `io.of(regex)` and
//! `io.of(fn)`).
//!
//! With `cleanup_empty_child_namespaces`, a dynamic namespace goes away
//! when it has neither sockets nor clients on their way in; the next client
//! to name it asks the resolver again. "On their way in" is counted by an
//! [`Entry`], taken under the map's read lock and checked under its write
//! lock, so a namespace never goes while a connect is in its guards.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use parking_lot::{Mutex, RwLock};
use rustc_hash::FxHashMap;

use super::cluster::Adapter;
use super::{ConnectRefusal, ConnectRequest, Guard, Namespace, Observer};
use crate::config::RecoveryConfig;
use crate::metrics::{HubCounters, Metrics, NamespaceGauges};

pub(crate) type RemovedHandler = Arc<dyn Fn(&str) + Send + Sync>;

pub(crate) struct Namespaces {
    /// Keys chosen by the application or accepted by its resolver (a client
    /// naming an unknown namespace only looks it up): FxHash is safe here.
    map: RwLock<FxHashMap<String, Arc<Namespace>>>,
    pub cluster: Option<Arc<dyn Adapter>>,
    recovery: Option<RecoveryConfig>,
    /// Who watches every namespace's sockets (the admin UI), if anyone.
    observer: Option<Arc<dyn Observer>>,
    /// Decides whether a namespace nobody made may be made for a client
    /// (none: such a client gets "Invalid namespace").
    resolver: RwLock<Option<Guard>>,
    /// Told the name of each dynamic namespace that went away empty.
    removed: RwLock<Vec<RemovedHandler>>,
    cleanup_empty: bool,
    /// Held while a removal is told and while the resolver is asked: a
    /// client that finds a namespace gone has the resolver asked only after
    /// the removal's handlers ran, so a binding that keeps its own map of
    /// namespaces hears of the removal first.
    order: Mutex<()>,
    /// This set itself, for the dynamic namespaces to find their way back.
    this: Weak<Namespaces>,
    /// The sockets of every namespace here, by handle.
    pub handles: Arc<super::SocketHandles>,
}

impl Namespaces {
    pub fn new(
        cluster: Option<Arc<dyn Adapter>>,
        recovery: Option<RecoveryConfig>,
        cleanup_empty: bool,
        observer: Option<Arc<dyn Observer>>,
    ) -> Arc<Namespaces> {
        Arc::new_cyclic(|this| Namespaces {
            map: RwLock::new(FxHashMap::default()),
            cluster,
            recovery,
            observer,
            resolver: RwLock::new(None),
            removed: RwLock::new(Vec::new()),
            cleanup_empty,
            order: Mutex::new(()),
            this: this.clone(),
            handles: Arc::default(),
        })
    }

    pub fn get(&self, name: &str) -> Option<Arc<Namespace>> {
        self.map.read().get(name).cloned()
    }

    /// The namespace `name`, made if it is not there yet.
    pub fn get_or_create(&self, name: &str) -> Arc<Namespace> {
        if let Some(ns) = self.get(name) {
            return ns;
        }
        let ns = self
            .map
            .write()
            .entry(name.to_string())
            .or_insert_with(|| {
                Namespace::new(
                    name,
                    self.cluster.clone(),
                    self.recovery.clone(),
                    self.observer.clone(),
                    self.handles.clone(),
                )
            })
            .clone();
        if let Some(cluster) = &self.cluster {
            cluster.watch_namespace(name);
        }
        ns
    }

    pub fn all(&self) -> Vec<Arc<Namespace>> {
        self.map.read().values().cloned().collect()
    }

    /// The hub's metrics: `counters`, and each namespace's counters with what
    /// its registry holds now. Pending acks are summed over the sockets here,
    /// once per snapshot, so that no ack pays for a count of its own.
    pub fn metrics(&self, counters: &HubCounters) -> Metrics {
        let namespaces = self
            .all()
            .iter()
            .map(|ns| {
                let reg = ns.registry.read();
                let pending_acks = reg.sockets.values().map(|s| s.pending_acks() as u64).sum();
                let gauges =
                    NamespaceGauges { sockets: reg.sockets.len() as u64, rooms: reg.rooms.len() as u64, pending_acks };
                ns.counters.snapshot(&ns.name, gauges)
            })
            .collect();
        counters.snapshot(namespaces)
    }

    pub fn set_resolver(&self, resolver: Guard) {
        *self.resolver.write() = Some(resolver);
    }

    pub fn on_removed(&self, handler: RemovedHandler) {
        self.removed.write().push(handler);
    }

    /// The namespace a client's CONNECT names, held for its way in: looked
    /// up, or made if the resolver accepts it. `Err` is the client's
    /// connect_error ("Invalid namespace" when nothing resolves it).
    pub async fn enter(&self, name: &str, request: impl FnOnce() -> ConnectRequest) -> Result<Entry, ConnectRefusal> {
        if let Some(entry) = self.entry(name) {
            return Ok(entry);
        }
        let resolver = self.resolver.read().clone();
        let Some(resolver) = resolver else { return Err(ConnectRefusal::new("Invalid namespace")) };
        let decided = {
            let _order = self.order.lock();
            resolver(request())
        };
        decided.await?;
        // A namespace the resolver accepted is dynamic even if the resolver
        // made it itself (as the bindings do, to hang their handlers on it
        // before the client is in). A cleanup between the lines below only
        // means one more turn.
        loop {
            let _ = self.get_or_create(name).child_of.set(self.this.clone());
            if let Some(entry) = self.entry(name) {
                return Ok(entry);
            }
        }
    }

    fn entry(&self, name: &str) -> Option<Entry> {
        let map = self.map.read();
        let ns = map.get(name)?.clone();
        ns.joining.fetch_add(1, Ordering::AcqRel);
        Some(Entry(ns))
    }

    /// Removes a dynamic namespace that has no socket and no client on its
    /// way in (with cleanup on), and tells the `on_removed` handlers.
    pub fn remove_if_idle(&self, ns: &Arc<Namespace>) {
        if !self.cleanup_empty || ns.child_of.get().is_none() {
            return;
        }
        let _order = self.order.lock();
        {
            let mut map = self.map.write();
            let idle = ns.joining.load(Ordering::Acquire) == 0 && ns.registry.read().sockets.is_empty();
            if !idle || !map.get(&*ns.name).is_some_and(|current| Arc::ptr_eq(current, ns)) {
                return;
            }
            map.remove(&*ns.name);
        }
        let handlers = self.removed.read().clone();
        for handler in handlers {
            super::call_guarded("namespace removed handler", || handler(&ns.name));
        }
    }
}

/// A namespace held for one client's connect: while any is held, the
/// namespace stays (see the module's header).
pub(crate) struct Entry(Arc<Namespace>);

impl std::ops::Deref for Entry {
    type Target = Arc<Namespace>;
    fn deref(&self) -> &Arc<Namespace> {
        &self.0
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        self.0.joining.fetch_sub(1, Ordering::AcqRel);
        self.0.leave_if_idle();
    }
}
