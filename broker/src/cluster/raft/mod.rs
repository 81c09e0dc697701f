//! The metadata quorum on openraft: the durable log and vote, the state machine that
//! applies [`super::MetadataCommand`]s to the image, snapshots, and the inter-broker
//! network. (Being built for issue #15: [`RaftNode::start`] is the entry point the
//! broker calls; until it lands it refuses to start.)

use std::path::Path;

use super::{BrokerRegistration, Cluster, ClusterConfig, ClusterError};

/// A running member of the metadata quorum.
pub struct RaftNode {
    cluster: Cluster,
}

impl RaftNode {
    /// Starts this broker's member of the quorum: opens (or creates) the metadata log
    /// under `<data_dir>/cluster/`, binds the inter-broker listener at this broker's
    /// `--cluster` address, forms the quorum with the other members on first start,
    /// then registers `registration` with the controller and keeps heartbeating.
    /// Returns once the node runs (not once a controller is elected).
    pub async fn start(
        config: ClusterConfig,
        data_dir: &Path,
        registration: BrokerRegistration,
    ) -> Result<RaftNode, ClusterError> {
        let _ = (config, data_dir, registration);
        Err(ClusterError::Config(
            "clustering is not built into this broker yet".into(),
        ))
    }

    /// The handle the servers use.
    pub fn cluster(&self) -> Cluster {
        self.cluster.clone()
    }

    /// Stops heartbeating, leaves the quorum's network and stops Raft.
    pub async fn shutdown(self) {}
}
