//! Cluster adapters: how one hub's broadcasts, room changes and queries
//! reach the other hubs of a cluster. Each implements the hub's
//! [`Adapter`] (see `hub::cluster` for what it is asked) on the hub's
//! public surface; the hub names no type of this layer.

pub(crate) mod classic;
mod message;
pub(crate) use message::{Kind, Outbound};
pub(crate) mod msgpack;
mod redis;
pub(crate) mod sharded;

pub(crate) use self::redis::RedisAdapter;

pub(crate) use crate::hub::cluster::{local_remote_socket, Adapter, RemoteSocket, Reply, Scope, ServerEvent};
