//! [`GroupLink`]: the consumer group's connection to its coordinator.
//!
//! The coordinator of a group is one broker of the cluster (the leader of the group's
//! partition of `__consumer_offsets`); FindCoordinator, asked of any broker, names it.
//! The link finds it on first use and keeps a connection of its own to it (never the
//! one fetches long-poll on, so heartbeats are not queued behind a parked fetch). An
//! answer `NOT_COORDINATOR` / `COORDINATOR_NOT_AVAILABLE` ([`GroupLink::saw`]) or a
//! broken connection makes it forget the coordinator; the next call finds it again.
//! Callers pace their retries (the membership task's backoff), so finding never loops.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use rill_protocol::api::find_coordinator::FindCoordinatorRequest;
use rill_protocol::error_code::ErrorCode;

use crate::brokers::{format_addr, is_connection_error, Brokers};
use crate::connection::ApiCall;
use crate::error::{ClientError, Result};
use crate::slot::ConnectionSlot;

/// FindCoordinator's key type for a consumer group.
const KEY_TYPE_GROUP: i8 = 0;

/// The connection to one group's coordinator, found on demand.
#[derive(Debug)]
pub(crate) struct GroupLink {
    brokers: Arc<Brokers>,
    group_id: String,
    /// The coordinator's connection; `None` until found, or after it moved.
    current: Mutex<Option<Arc<ConnectionSlot>>>,
    closed: AtomicBool,
}

impl GroupLink {
    /// A link for `group_id`; nothing is asked until the first call.
    pub(crate) fn new(brokers: Arc<Brokers>, group_id: &str) -> Self {
        Self {
            brokers,
            group_id: group_id.to_owned(),
            current: Mutex::new(None),
            closed: AtomicBool::new(false),
        }
    }

    /// The coordinator's connection, finding the coordinator first if needed.
    pub(crate) async fn slot(&self) -> Result<Arc<ConnectionSlot>> {
        if self.closed.load(Ordering::Acquire) {
            return Err(ClientError::Closed {
                handle: super::HANDLE,
            });
        }
        if let Some(slot) = self.lock().clone() {
            return Ok(slot);
        }
        let found = Arc::new(self.find().await?);
        let mut current = self.lock();
        Ok(Arc::clone(current.get_or_insert(found)))
    }

    /// Sends `request` to the coordinator; a broken connection forgets it.
    pub(crate) async fn call<R: ApiCall>(&self, request: &R) -> Result<R::Response> {
        let slot = self.slot().await?;
        let result = slot.call(request).await;
        if let Err(error) = &result {
            if is_connection_error(error) {
                tracing::debug!(group = %self.group_id, %error, "coordinator unreachable; finding it again");
                self.forget(&slot);
            }
        }
        result
    }

    /// Notes an error code the coordinator answered: "not the coordinator (any more)"
    /// makes the next call find it again.
    pub(crate) fn saw(&self, code: ErrorCode) {
        if matches!(
            code,
            ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable
        ) {
            tracing::debug!(group = %self.group_id, code = code.name(), "coordinator moved; finding it again");
            let taken = self.lock().take();
            drop(taken);
        }
    }

    /// Closes the coordinator's connection for good.
    pub(crate) async fn close(&self) {
        self.closed.store(true, Ordering::Release);
        let taken = self.lock().take();
        if let Some(slot) = taken {
            slot.close().await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Arc<ConnectionSlot>>> {
        self.current.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Forgets `slot` if it is still the current coordinator's.
    fn forget(&self, slot: &Arc<ConnectionSlot>) {
        let mut current = self.lock();
        if current.as_ref().is_some_and(|c| Arc::ptr_eq(c, slot)) {
            *current = None;
        }
    }

    /// Asks any broker which one coordinates the group, and opens a slot to it.
    async fn find(&self) -> Result<ConnectionSlot> {
        if self.brokers.node_count() == 0 {
            // Learn the cluster's brokers, to tell a single broker from a cluster.
            self.brokers.metadata(Some(Vec::new()), false).await?;
        }
        let request = FindCoordinatorRequest {
            key: self.group_id.clone(),
            key_type: KEY_TYPE_GROUP,
        };
        let response = self.brokers.any().call(&request).await?;
        if response.error_code != ErrorCode::None {
            return Err(ClientError::Broker {
                code: response.error_code,
                topic: None,
                partition: None,
                message: Some(format!(
                    "finding the coordinator of group {}: {}",
                    self.group_id,
                    response.error_code.description()
                )),
            });
        }
        let addr = format_addr(&response.host, response.port);
        tracing::debug!(group = %self.group_id, node = response.node_id, %addr, "found the group coordinator");
        Ok(self.brokers.dedicated_slot(&addr))
    }
}
