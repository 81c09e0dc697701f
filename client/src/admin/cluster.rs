//! [`Admin::describe_cluster`]: the brokers of the cluster as the answering broker's
//! metadata knows them (DescribeCluster), what `rill cluster status` prints.

use rill_protocol::api::describe_cluster::{ClusterBroker, DescribeClusterRequest};
use rill_protocol::api::ApiKey;
use rill_protocol::error_code::ErrorCode;

use super::Admin;
use crate::error::{ClientError, Result};

/// The cluster as one broker sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterDescription {
    /// The cluster's id.
    pub cluster_id: String,
    /// Node id of the active controller (the metadata quorum's leader); `None` while
    /// the quorum has no leader.
    pub controller_id: Option<i32>,
    /// Node id of the broker that answered.
    pub node_id: i32,
    /// The answering broker lost touch with the controller: its view may be old.
    pub metadata_stale: bool,
    /// Every registered broker, by node id.
    pub brokers: Vec<ClusterBrokerDescription>,
}

/// One broker of a [`ClusterDescription`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterBrokerDescription {
    /// The broker's node id.
    pub node_id: i32,
    /// Host clients connect to.
    pub host: String,
    /// Port clients connect to.
    pub port: i32,
    /// Rack (zone) label, if any.
    pub rack: Option<String>,
    /// Heartbeating within its session timeout (not fenced).
    pub alive: bool,
    /// A voting member of the metadata quorum.
    pub voter: bool,
    /// The broker's inter-broker address, `host:port` (empty on a single broker).
    pub inter_broker: String,
}

impl From<ClusterBroker> for ClusterBrokerDescription {
    fn from(b: ClusterBroker) -> Self {
        Self {
            node_id: b.node_id,
            host: b.host,
            port: b.port,
            rack: b.rack,
            alive: b.alive,
            voter: b.voter,
            inter_broker: b.inter_broker,
        }
    }
}

impl Admin {
    /// The cluster's id, controller and brokers as the answering broker knows them.
    /// A broker older than DescribeCluster answers [`ClientError::BrokerTooOld`].
    ///
    /// ```no_run
    /// # async fn demo(admin: &rill_client::Admin) -> rill_client::Result<()> {
    /// let cluster = admin.describe_cluster().await?;
    /// for broker in &cluster.brokers {
    ///     println!("{} {}:{} alive={}", broker.node_id, broker.host, broker.port, broker.alive);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn describe_cluster(&self) -> Result<ClusterDescription> {
        let connection = self.slot.get().await?;
        if !connection.broker_serves(ApiKey::DescribeCluster) {
            return Err(ClientError::BrokerTooOld {
                addr: connection.addr().to_owned(),
                api: ApiKey::DescribeCluster,
            });
        }
        let response = connection.call(&DescribeClusterRequest).await?;
        if response.error_code != ErrorCode::None {
            return Err(ClientError::Broker {
                code: response.error_code,
                topic: None,
                partition: None,
                message: Some("describe cluster".to_owned()),
            });
        }
        let mut brokers: Vec<ClusterBrokerDescription> =
            response.brokers.into_iter().map(Into::into).collect();
        brokers.sort_by_key(|b| b.node_id);
        Ok(ClusterDescription {
            cluster_id: response.cluster_id,
            controller_id: (response.controller_id >= 0).then_some(response.controller_id),
            node_id: response.node_id,
            metadata_stale: response.metadata_stale,
            brokers,
        })
    }
}
