//! Cluster adapters: how one hub's broadcasts, room changes and queries
//! reach the other hubs of a cluster. Each implements the hub's
//! [`Adapter`] (see `hub::cluster` for what it is asked) on the hub's
//! public surface; the hub names no type of this layer.

pub(crate) mod classic;
mod message;
pub(crate) use message::{Kind, Outbound};
pub(crate) mod msgpack;
mod redis;
mod redis_conn;
pub(crate) mod sharded;
mod stream_reader;
pub(crate) mod streams;

pub(crate) use self::redis::{Protocol, RedisAdapter};

pub(crate) use crate::hub::cluster::{
    local_remote_socket, Adapter, Log, Missed, RemoteSocket, Reply, Resume, SavedSession, Scope, ServerEvent,
};
