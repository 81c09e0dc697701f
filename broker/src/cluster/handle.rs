//! [`Cluster`]: what the native and Kafka servers ask of the cluster layer. The image
//! to answer Metadata from, proposing a change, and the quorum's status. The Raft side
//! implements [`Quorum`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::watch;

use super::command::MetadataCommand;
use super::error::ClusterError;
use super::image::MetadataImage;
use super::NodeId;

/// A boxed future, as [`Quorum`]'s methods return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The metadata quorum as the rest of the broker sees it.
pub trait Quorum: Send + Sync + 'static {
    /// Replicates `command` through the metadata log (forwarded to the controller when
    /// this broker is not it) and resolves once it is committed **and applied to this
    /// broker's image**, so a caller that reads [`Cluster::image`] next sees it. A
    /// command the image refuses resolves to [`ClusterError::Rejected`].
    fn propose(&self, command: MetadataCommand) -> BoxFuture<'_, Result<(), ClusterError>>;

    /// The quorum as this broker sees it now.
    fn status(&self) -> QuorumStatus;
}

/// The quorum as one broker sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QuorumStatus {
    /// The controller (the quorum's Raft leader), if one is known.
    pub controller: Option<NodeId>,
    /// The Raft term.
    pub term: u64,
    /// Index of the last metadata log entry applied to this broker's image.
    pub applied_index: Option<u64>,
    /// This broker has not heard from a controller within the election timeout: its
    /// image may be old, and it says so instead of answering stale leadership.
    pub stale: bool,
    /// The quorum's voters.
    pub voters: Vec<NodeId>,
}

/// This broker's handle on the cluster. Cheap to clone.
#[derive(Clone)]
pub struct Cluster {
    node_id: NodeId,
    incarnation: u64,
    image: watch::Receiver<Arc<MetadataImage>>,
    quorum: Arc<dyn Quorum>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("node_id", &self.node_id)
            .field("status", &self.quorum.status())
            .finish()
    }
}

impl Cluster {
    /// A handle for broker `node_id`, reading images from `image` (published by the
    /// state machine after every applied entry) and proposing through `quorum`.
    pub fn new(
        node_id: NodeId,
        image: watch::Receiver<Arc<MetadataImage>>,
        quorum: Arc<dyn Quorum>,
    ) -> Self {
        Self {
            node_id,
            incarnation: 0,
            image,
            quorum,
        }
    }

    /// This handle for a broker registered with `incarnation`
    /// ([`super::BrokerRegistration::incarnation`]).
    pub fn with_incarnation(mut self, incarnation: u64) -> Self {
        self.incarnation = incarnation;
        self
    }

    /// Whether the image already holds this broker's registration from this run: it
    /// is then newer than every change made while the broker was down.
    pub fn image_caught_up(&self, image: &MetadataImage) -> bool {
        self.incarnation != 0
            && image
                .brokers
                .get(&self.node_id)
                .is_some_and(|b| b.registration.incarnation == self.incarnation)
    }

    /// This broker's node id.
    pub fn node_id(&self) -> NodeId {
        self.node_id
    }

    /// The current image (cheap: an `Arc` clone).
    pub fn image(&self) -> Arc<MetadataImage> {
        self.image.borrow().clone()
    }

    /// A receiver that wakes on every new image.
    pub fn subscribe(&self) -> watch::Receiver<Arc<MetadataImage>> {
        self.image.clone()
    }

    /// See [`Quorum::propose`].
    pub async fn propose(&self, command: MetadataCommand) -> Result<(), ClusterError> {
        self.quorum.propose(command).await
    }

    /// See [`Quorum::status`].
    pub fn status(&self) -> QuorumStatus {
        self.quorum.status()
    }

    /// Whether this broker is the controller now.
    pub fn is_controller(&self) -> bool {
        self.quorum.status().controller == Some(self.node_id)
    }

    /// Whether this broker leads `topic`/`partition` in the current image.
    pub fn leads(&self, topic: &str, partition: i32) -> bool {
        self.image.borrow().leader(topic, partition) == Some(self.node_id)
    }
}

/// A quorum of one that applies commands at once, in memory: for tests of the code
/// that uses [`Cluster`] without starting Raft. Not durable, never used by `rilld`.
pub mod testing {
    use std::sync::Mutex;

    use super::*;

    /// The in-memory quorum; `status` names `controller` as the controller.
    pub struct InstantQuorum {
        sender: watch::Sender<Arc<MetadataImage>>,
        applied: Mutex<u64>,
        controller: NodeId,
    }

    impl InstantQuorum {
        /// A cluster handle for `node_id` over a fresh image, and the quorum behind
        /// it (to apply commands as another broker would).
        pub fn cluster(node_id: NodeId, controller: NodeId) -> (Cluster, Arc<InstantQuorum>) {
            let (sender, receiver) = watch::channel(Arc::new(MetadataImage::default()));
            let quorum = Arc::new(InstantQuorum {
                sender,
                applied: Mutex::new(0),
                controller,
            });
            (Cluster::new(node_id, receiver, quorum.clone()), quorum)
        }

        /// Applies `command` now.
        pub fn apply(&self, command: &MetadataCommand) -> Result<(), ClusterError> {
            let mut image = (**self.sender.borrow()).clone();
            image.apply(command)?;
            *self.applied.lock().unwrap_or_else(|p| p.into_inner()) += 1;
            self.sender.send_replace(Arc::new(image));
            Ok(())
        }
    }

    impl Quorum for InstantQuorum {
        fn propose(&self, command: MetadataCommand) -> BoxFuture<'_, Result<(), ClusterError>> {
            Box::pin(async move { self.apply(&command) })
        }

        fn status(&self) -> QuorumStatus {
            QuorumStatus {
                controller: Some(self.controller),
                term: 1,
                applied_index: Some(*self.applied.lock().unwrap_or_else(|p| p.into_inner())),
                stale: false,
                voters: vec![self.controller],
            }
        }
    }
}
