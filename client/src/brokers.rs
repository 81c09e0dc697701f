//! [`Brokers`]: a client's connections to the brokers of a cluster, by node id.
//!
//! Every handle starts from the bootstrap slot (the addresses the application gave,
//! tried in order, skipping dead ones). Metadata answers name the brokers (node id,
//! host, port, rack); [`Brokers::update`] keeps that map and [`Brokers::slot_for`] hands
//! out one [`ConnectionSlot`] per broker, created on first use. Invariants:
//! - At most one slot per node id, and at most as many nodes as the last metadata answer
//!   listed (capped by [`NODES_MAX`]): connections are bounded by the cluster's size.
//! - A broker that is the one the bootstrap slot talks to (its address, or the only
//!   broker listed, or a broker that lists none: a single broker) is reached through the
//!   bootstrap slot itself, so a single broker costs one connection, as before clusters.
//! - A node whose address changed gets a new slot; the old one closes when its last user
//!   drops it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use rill_protocol::api::metadata::{BrokerInfo, MetadataRequest, MetadataResponse};

use crate::config::ConnectionConfig;
use crate::error::{ClientError, Result};
use crate::fast_map::FastMap;
use crate::slot::ConnectionSlot;

/// Most brokers a client keeps addresses (and, lazily, connections) for.
pub(crate) const NODES_MAX: usize = 4096;

/// One broker as metadata describes it.
#[derive(Debug, Clone)]
struct Node {
    /// `host:port` clients connect to.
    addr: String,
    /// Its own connection, once used (`None` while unused or reached by bootstrap).
    slot: Option<Arc<ConnectionSlot>>,
}

/// The connections of one client handle to the brokers of a cluster.
#[derive(Debug)]
pub(crate) struct Brokers {
    config: ConnectionConfig,
    handle: &'static str,
    bootstrap: Arc<ConnectionSlot>,
    nodes: RwLock<FastMap<i32, Node>>,
    /// Where the next Metadata request starts among the brokers (0: bootstrap).
    metadata_rotation: AtomicUsize,
}

impl Brokers {
    /// Brokers reached from `config.bootstrap`; nothing is dialled yet.
    pub(crate) fn new(config: ConnectionConfig, handle: &'static str) -> Self {
        let bootstrap = Arc::new(ConnectionSlot::new(config.clone(), handle));
        Self {
            config,
            handle,
            bootstrap,
            nodes: RwLock::new(FastMap::default()),
            metadata_rotation: AtomicUsize::new(0),
        }
    }

    /// The slot for "any broker": metadata and requests any member answers.
    pub(crate) fn any(&self) -> &Arc<ConnectionSlot> {
        &self.bootstrap
    }

    /// Remembers the brokers a metadata answer listed (an empty list keeps the map:
    /// an older broker, or a single one, lists none).
    pub(crate) fn update(&self, brokers: &[BrokerInfo]) {
        if brokers.is_empty() {
            return;
        }
        let mut nodes = self.nodes.write().unwrap_or_else(|p| p.into_inner());
        let mut next = FastMap::default();
        for broker in brokers.iter().take(NODES_MAX) {
            let addr = format_addr(&broker.host, broker.port);
            let slot = nodes
                .get(&broker.node_id)
                .filter(|old| old.addr == addr)
                .and_then(|old| old.slot.clone());
            next.insert(broker.node_id, Node { addr, slot });
        }
        *nodes = next;
    }

    /// The address of broker `node`, if metadata named it.
    pub(crate) fn addr_of(&self, node: i32) -> Option<String> {
        let nodes = self.nodes.read().unwrap_or_else(|p| p.into_inner());
        nodes.get(&node).map(|n| n.addr.clone())
    }

    /// The connection to broker `node`: its own slot (created on first use), or the
    /// bootstrap slot when that is the same broker. `None` when metadata never named
    /// the node (refresh metadata, then ask again).
    pub(crate) fn slot_for(&self, node: i32) -> Option<Arc<ConnectionSlot>> {
        {
            let nodes = self.nodes.read().unwrap_or_else(|p| p.into_inner());
            if nodes.is_empty() || nodes.len() == 1 && nodes.contains_key(&node) {
                return Some(Arc::clone(&self.bootstrap));
            }
            let entry = nodes.get(&node)?;
            if entry.addr == self.bootstrap.addr() {
                return Some(Arc::clone(&self.bootstrap));
            }
            if let Some(slot) = &entry.slot {
                return Some(Arc::clone(slot));
            }
        }
        let mut nodes = self.nodes.write().unwrap_or_else(|p| p.into_inner());
        let entry = nodes.get_mut(&node)?;
        let slot = entry
            .slot
            .get_or_insert_with(|| Arc::new(self.node_slot(&entry.addr)));
        Some(Arc::clone(slot))
    }

    /// On a single broker (metadata lists at most one), the node id that reaches it;
    /// `None` on a cluster.
    pub(crate) fn single_broker(&self) -> Option<i32> {
        let nodes = self.nodes.read().unwrap_or_else(|p| p.into_inner());
        match nodes.len() {
            0 => Some(0),
            1 => nodes.keys().next().copied(),
            _ => None,
        }
    }

    /// How many brokers the last metadata answer listed.
    pub(crate) fn node_count(&self) -> usize {
        self.nodes.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// A new slot of its own (not shared with other users) to the broker at `addr`.
    /// On a single broker (metadata lists at most one) it dials the bootstrap
    /// addresses instead, as the application gave them (a broker may name itself by an
    /// address the client should not use, e.g. an IP where TLS expects a host name).
    pub(crate) fn dedicated_slot(&self, addr: &str) -> ConnectionSlot {
        match self.node_count() <= 1 {
            true => ConnectionSlot::new(self.config.clone(), self.handle),
            false => self.node_slot(addr),
        }
    }

    /// A slot dialling `addr` only, with this handle's settings.
    fn node_slot(&self, addr: &str) -> ConnectionSlot {
        let mut config = self.config.clone();
        config.bootstrap = addr.into();
        ConnectionSlot::new(config, self.handle)
    }

    /// Sends a Metadata request to a broker and learns the brokers it lists. The
    /// bootstrap connection is asked first; a broker that cannot be reached is skipped
    /// for the next known one (a cluster whose bootstrap members died keeps working),
    /// and after an answer with a leaderless partition the next request starts at
    /// another broker (one cut off from the controller answers LEADER_NOT_AVAILABLE
    /// while the others may know the new leader).
    pub(crate) async fn metadata(
        &self,
        topics: Option<Vec<String>>,
        allow_auto_topic_creation: bool,
    ) -> Result<MetadataResponse> {
        let request = MetadataRequest {
            topics,
            allow_auto_topic_creation,
        };
        let candidates = self.all_slots_bootstrap_first();
        let first = self.metadata_rotation.load(Ordering::Relaxed) % candidates.len();
        let mut last_error = None;
        for step in 0..candidates.len() {
            let index = (first + step) % candidates.len();
            match candidates[index].call(&request).await {
                Ok(response) => {
                    self.update(&response.brokers);
                    let next = match has_leaderless_partition(&response) {
                        true => index + 1,
                        false => 0,
                    };
                    self.metadata_rotation.store(next, Ordering::Relaxed);
                    return Ok(response);
                }
                Err(error) if is_connection_error(&error) => last_error = Some(error),
                Err(error) => return Err(error),
            }
        }
        Err(last_error.unwrap_or(ClientError::Closed {
            handle: self.handle,
        }))
    }

    /// The bootstrap slot, then every other broker's (deduplicated).
    fn all_slots_bootstrap_first(&self) -> Vec<Arc<ConnectionSlot>> {
        let mut slots = vec![Arc::clone(&self.bootstrap)];
        for slot in self.all_slots() {
            if !slots.iter().any(|s| Arc::ptr_eq(s, &slot)) {
                slots.push(slot);
            }
        }
        slots
    }

    /// A connection to every broker metadata named (the bootstrap slot for its own).
    pub(crate) fn all_slots(&self) -> Vec<Arc<ConnectionSlot>> {
        let mut slots: Vec<Arc<ConnectionSlot>> = Vec::new();
        for node in self.known_nodes() {
            if let Some(slot) = self.slot_for(node) {
                if !slots.iter().any(|s| Arc::ptr_eq(s, &slot)) {
                    slots.push(slot);
                }
            }
        }
        if slots.is_empty() {
            slots.push(Arc::clone(&self.bootstrap));
        }
        slots
    }

    /// Node ids metadata named, in order.
    /// How many brokers metadata has named.
    pub(crate) fn known_count(&self) -> usize {
        self.nodes.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    fn known_nodes(&self) -> Vec<i32> {
        let nodes = self.nodes.read().unwrap_or_else(|p| p.into_inner());
        let mut ids: Vec<i32> = nodes.keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    /// Closes every connection for good (later calls fail with `Closed`).
    pub(crate) async fn close(&self) {
        self.bootstrap.close().await;
        let slots: Vec<Arc<ConnectionSlot>> = {
            let nodes = self.nodes.read().unwrap_or_else(|p| p.into_inner());
            nodes.values().filter_map(|n| n.slot.clone()).collect()
        };
        for slot in slots {
            slot.close().await;
        }
    }
}

/// Whether a partition in `response` has no leader (or an error).
fn has_leaderless_partition(response: &MetadataResponse) -> bool {
    leaderless_partitions(response) > 0
}

/// Partitions of `response` without a leader or with an error.
pub(crate) fn leaderless_partitions(response: &MetadataResponse) -> usize {
    response
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter())
        .filter(|p| p.leader < 0 || p.error_code != rill_protocol::error_code::ErrorCode::None)
        .count()
}

/// `host:port`, with brackets around an IPv6 host.
pub(crate) fn format_addr(host: &str, port: i32) -> String {
    match host.contains(':') && !host.starts_with('[') {
        true => format!("[{host}]:{port}"),
        false => format!("{host}:{port}"),
    }
}

/// The broker could not be reached or the connection broke: another broker may answer,
/// and metadata may have moved.
pub(crate) fn is_connection_error(error: &ClientError) -> bool {
    matches!(
        error,
        ClientError::Connect { .. }
            | ClientError::ConnectTimeout { .. }
            | ClientError::ConnectionLost { .. }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn broker(node_id: i32, port: i32) -> BrokerInfo {
        BrokerInfo {
            node_id,
            host: "127.0.0.1".into(),
            port,
            rack: None,
        }
    }

    #[test]
    fn single_broker_and_own_address_share_the_bootstrap_slot() {
        let brokers = Brokers::new(ConnectionConfig::new("127.0.0.1:1,127.0.0.1:2"), "test");
        // No broker list (an old or single broker): everything goes through bootstrap.
        assert!(Arc::ptr_eq(&brokers.slot_for(0).unwrap(), brokers.any()));
        brokers.update(&[broker(7, 9999)]);
        assert!(Arc::ptr_eq(&brokers.slot_for(7).unwrap(), brokers.any()));
        assert!(brokers.slot_for(8).is_none(), "unknown nodes have no slot");
        brokers.update(&[broker(1, 1), broker(2, 2), broker(3, 3)]);
        assert!(Arc::ptr_eq(&brokers.slot_for(1).unwrap(), brokers.any()));
        let two = brokers.slot_for(2).unwrap();
        assert!(!Arc::ptr_eq(&two, brokers.any()));
        assert_eq!(two.addr(), "127.0.0.1:2");
        assert!(
            Arc::ptr_eq(&two, &brokers.slot_for(2).unwrap()),
            "one per node"
        );
        // Same address: slot kept; moved: a new one.
        brokers.update(&[broker(1, 1), broker(2, 2), broker(3, 3)]);
        assert!(Arc::ptr_eq(&two, &brokers.slot_for(2).unwrap()));
        brokers.update(&[broker(1, 1), broker(2, 22), broker(3, 3)]);
        assert_eq!(brokers.slot_for(2).unwrap().addr(), "127.0.0.1:22");
        assert_eq!(format_addr("::1", 5), "[::1]:5");
    }
}
