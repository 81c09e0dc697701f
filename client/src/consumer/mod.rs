//! [`Consumer`]: reads partitions from chosen positions, fetching ahead, either
//! manually assigned or as a member of a consumer group.
//!
//! Manual assignment: the application assigns partitions ([`Consumer::assign`]),
//! places each one ([`Consumer::seek`] to the beginning, the end, an offset or a
//! timestamp), then calls [`Consumer::poll`] or consumes [`Consumer::into_stream`].
//!
//! Group membership: [`Consumer::subscribe`] joins a group; the broker assigns the
//! partitions and a background task heartbeats ([`coordinator`]); `poll` applies
//! assignment changes incrementally ([`group`]) and commits the consumed positions
//! ([`commit`]). The contract is *at least once*: after any failure the group resumes
//! from the last committed offset, so the only records seen twice are those after the
//! last commit. [`Consumer::close`] commits and leaves.
//!
//! Fetch ahead: as soon as a response arrives, `poll` moves the positions past its whole
//! batches (reading batch headers only) and sends the next Fetch in a background task;
//! only then does it check CRCs and decode records, so the round trip overlaps with the
//! decoding and with the application's processing. A partition whose data then fails to
//! decode gets its position back, which makes the prefetched data for it stale.
//!
//! Each partition is fetched from its leader ([`leaders`]): at most one fetch is in
//! flight per broker, covering that broker's partitions, and a partition is in at most
//! one fetch; each response is the only one buffered for its broker, and the records of
//! the previous one are the application's. A single broker means one fetch, as before
//! clusters. A `seek` or `assign` while a fetch is in flight makes its data for the
//! moved partitions stale; stale data is dropped by comparing fetch offsets.

mod commit;
mod coordinator;
mod fetcher;
mod group;
mod group_link;
mod leaders;
mod listener;
mod position;
mod stream;
#[cfg(test)]
mod tests;
mod wire;

pub use commit::PendingCommit;
pub use listener::{RebalanceCallbacks, RebalanceListener, Revocation};
pub use position::SeekTo;
pub use stream::ConsumerStream;
pub(crate) use wire::from_wire as partitions_from_wire;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use rill_protocol::api::fetch::FetchResponse;
use rill_protocol::error_code::ErrorCode;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::brokers::{is_connection_error, Brokers};
use crate::config::ConsumerConfig;
use crate::error::{ClientError, Disconnect, Result};
use crate::record::{ConsumerRecord, TopicPartition};

/// The name [`ClientError::Closed`] gives this handle.
const HANDLE: &str = "consumer";

/// What ended a wait in `poll`.
enum Wake {
    /// The fetch in flight finished, with the offsets it asked for.
    Fetched(Result<(FetchResponse, HashMap<TopicPartition, i64>)>),
    /// The group published a new assignment.
    GroupChanged,
    /// The poll's deadline passed.
    Deadline,
}

/// One partition's fetched bytes, to be decoded once positions moved past them.
struct Fetched {
    tp: TopicPartition,
    from: i64,
    bytes: bytes::Bytes,
}

/// A fetch in flight to one broker, with the offsets it asked for (to spot stale data).
#[derive(Debug)]
struct InFlightFetch {
    /// The broker (leader of these partitions).
    node: i32,
    offsets: HashMap<TopicPartition, i64>,
    response: JoinHandle<Result<FetchResponse>>,
}

/// A consumer of manually assigned partitions, or of the partitions its group gives it
/// ([`Consumer::subscribe`]). Not shared: `poll` takes `&mut self`.
///
/// # Delivery guarantee (groups)
///
/// At least once: a group resumes every partition from its last committed offset after
/// any failure (crash, lost session, broker restart), so nothing is lost and the only
/// records delivered twice are those after the last commit. Commits cover what `poll`
/// returned *before* (auto-commit runs at the start of `poll`), so process each batch
/// before polling again, or commit explicitly after processing with
/// [`Consumer::commit`] and `enable_auto_commit(false)`.
#[derive(Debug)]
pub struct Consumer {
    config: ConsumerConfig,
    /// Connections to the brokers, by node id.
    brokers: Arc<Brokers>,
    /// Who leads each assigned partition.
    leaders: leaders::LeaderMap,
    /// Assigned partitions and their positions (`None` until placed).
    positions: BTreeMap<TopicPartition, Option<i64>>,
    /// At most one fetch per broker.
    in_flight: Vec<InFlightFetch>,
    /// An error found while other partitions had records; returned by the next poll.
    deferred_error: Option<ClientError>,
    /// A partition answered with a retriable error: pause before the next fetch so an
    /// instant error answer does not become a busy loop.
    backoff_before_fetch: bool,
    /// Group membership, once subscribed.
    group: Option<group::GroupMembership>,
    /// Set by [`Consumer::close`]: every later call fails with [`ClientError::Closed`].
    closed: bool,
}

impl Consumer {
    /// Validates `config` and connects to the bootstrap broker.
    pub async fn connect(config: ConsumerConfig) -> Result<Consumer> {
        config.validate()?;
        let brokers = Brokers::new(config.connection.clone(), HANDLE);
        brokers.any().get().await?;
        Ok(Consumer {
            config,
            brokers: Arc::new(brokers),
            leaders: leaders::LeaderMap::default(),
            positions: BTreeMap::new(),
            in_flight: Vec::new(),
            deferred_error: None,
            backoff_before_fetch: false,
            group: None,
            closed: false,
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &ConsumerConfig {
        &self.config
    }

    /// Replaces the assignment. Partitions kept keep their positions; new ones have none
    /// until [`Consumer::seek`] (or `auto_offset_reset`) places them. For manual
    /// assignment only: a subscribed consumer's assignment belongs to its group.
    ///
    /// ```no_run
    /// # fn demo(consumer: &mut rill_client::Consumer) {
    /// use rill_client::TopicPartition;
    /// consumer.assign([TopicPartition::new("events", 0), TopicPartition::new("events", 1)]);
    /// # }
    /// ```
    pub fn assign(&mut self, partitions: impl IntoIterator<Item = TopicPartition>) {
        let mut positions = BTreeMap::new();
        for tp in partitions {
            let position = self.positions.get(&tp).copied().flatten();
            positions.insert(tp, position);
        }
        self.positions = positions;
    }

    /// The assigned partitions.
    pub fn assignment(&self) -> Vec<TopicPartition> {
        self.positions.keys().cloned().collect()
    }

    /// The offset of the next record `poll` returns for the partition, if placed.
    pub fn position(&self, tp: &TopicPartition) -> Option<i64> {
        self.positions.get(tp).copied().flatten()
    }

    /// Returns the records fetched since the last poll, waiting up to `timeout` for
    /// some; an empty `Vec` means none arrived in time. Retriable failures (a lost
    /// connection, a partition briefly unavailable) are retried inside, not returned.
    ///
    /// Cancel-safe: if the future is dropped, the fetch in flight is kept and its
    /// records are returned by the next poll; no record is lost or repeated.
    pub async fn poll(&mut self, timeout: Duration) -> Result<Vec<ConsumerRecord>> {
        let deadline = Instant::now() + timeout;
        self.check_open()?;
        if let Some(error) = self.deferred_error.take() {
            return Err(error);
        }
        loop {
            self.apply_group_changes().await?;
            self.auto_commit_if_due();
            self.place_unplaced().await?;
            // Bounded by the poll's deadline (a broker that drops packets can hold a
            // lookup up to connect_timeout); cancelling it leaves the map as it was.
            let _ = tokio::time::timeout_at(deadline, self.ensure_leaders()).await;
            if self.in_flight.is_empty() && !self.start_fetch(None) {
                let waiting_for_leader = !self.positions.is_empty();
                let until = match waiting_for_leader {
                    // Partitions whose leader is unknown: look again after a backoff.
                    true => deadline.min(Instant::now() + self.config.connection.reconnect_backoff),
                    false => deadline,
                };
                if self.wait_group_change(until).await || Instant::now() < deadline {
                    continue;
                }
                return Ok(Vec::new());
            }
            let response = match self.wait_fetch(deadline).await {
                Wake::Fetched(response) => response,
                Wake::GroupChanged => continue,
                Wake::Deadline => return Ok(Vec::new()),
            };
            match response {
                Ok((response, offsets)) => {
                    let (fetched, mut error) = self.advance(response, &offsets).await?;
                    // From here to the return there is no await: once positions moved,
                    // a cancelled poll must not drop the records behind them. A partition
                    // that asked for a backoff delays the next fetch instead.
                    let delay = std::mem::take(&mut self.backoff_before_fetch)
                        .then_some(self.config.connection.reconnect_backoff);
                    // The next fetch travels while this one's records are checked and
                    // decoded (and while the application processes them).
                    self.start_fetch(delay);
                    let records = self.decode(fetched, &mut error);
                    if let Some(error) = error {
                        if records.is_empty() {
                            return Err(error);
                        }
                        self.deferred_error.get_or_insert(error);
                    }
                    if !records.is_empty() || Instant::now() >= deadline {
                        return Ok(records);
                    }
                }
                Err(error) if error.is_retriable() => {
                    tracing::debug!(%error, "fetch failed; retrying");
                    if is_connection_error(&error)
                        || error.error_code().is_some_and(leaders::leader_moved)
                    {
                        self.leaders.stale = true;
                    }
                    let backoff = self.config.connection.reconnect_backoff;
                    tokio::time::sleep_until(deadline.min(Instant::now() + backoff)).await;
                    if Instant::now() >= deadline {
                        return Ok(Vec::new());
                    }
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// `Err(Closed)` once [`Consumer::close`] ran.
    fn check_open(&self) -> Result<()> {
        match self.closed {
            true => Err(ClientError::Closed { handle: HANDLE }),
            false => Ok(()),
        }
    }

    /// Waits until `deadline` or a new group assignment; true for the latter.
    async fn wait_group_change(&mut self, deadline: Instant) -> bool {
        tokio::select! {
            () = group::changed(&mut self.group) => true,
            () = tokio::time::sleep_until(deadline) => false,
        }
    }

    /// Waits for the first of the fetches in flight to finish, until `deadline` or a new
    /// group assignment; the others stay in flight.
    async fn wait_fetch(&mut self, deadline: Instant) -> Wake {
        if self.in_flight.is_empty() {
            return Wake::Deadline;
        }
        // Awaiting `&mut JoinHandle` is cancel-safe: the tasks keep running.
        let handles = self.in_flight.iter_mut().map(|f| &mut f.response);
        let (joined, index) = tokio::select! {
            (joined, index, _) = futures::future::select_all(handles) => (joined, index),
            () = group::changed(&mut self.group) => return Wake::GroupChanged,
            () = tokio::time::sleep_until(deadline) => return Wake::Deadline,
        };
        let finished = self.in_flight.swap_remove(index);
        Wake::Fetched(match joined {
            Ok(result) => result.map(|response| (response, finished.offsets)),
            Err(join_error) if join_error.is_panic() => {
                std::panic::resume_unwind(join_error.into_panic())
            }
            Err(_) => Err(ClientError::ConnectionLost {
                addr: self
                    .brokers
                    .addr_of(finished.node)
                    .unwrap_or_else(|| self.brokers.any().addr().to_owned()),
                cause: Disconnect::Closed,
            }),
        })
    }

    /// Sends a Fetch to each leader of placed partitions that has none in flight (one
    /// background task each); false if no fetch is in flight afterwards.
    fn start_fetch(&mut self, delay: Option<Duration>) -> bool {
        let busy: Vec<i32> = self.in_flight.iter().map(|f| f.node).collect();
        let fetching =
            |tp: &TopicPartition| self.in_flight.iter().any(|f| f.offsets.contains_key(tp));
        let mut by_leader: BTreeMap<i32, Vec<(TopicPartition, i64)>> = BTreeMap::new();
        for (tp, position) in &self.positions {
            let Some(position) = *position else { continue };
            let Some(node) = self.leaders.leader(tp) else {
                continue; // `ensure_leaders` looks it up
            };
            if busy.contains(&node) || fetching(tp) {
                continue;
            }
            by_leader
                .entry(node)
                .or_default()
                .push((tp.clone(), position));
        }
        for (node, positions) in by_leader {
            let Some(slot) = self.brokers.slot_for(node) else {
                self.leaders.stale = true;
                continue;
            };
            let request = fetcher::fetch_request(&self.config, &positions);
            let timeout = self.config.connection.request_timeout + self.config.fetch_max_wait;
            let response = tokio::spawn(async move {
                if let Some(delay) = delay {
                    tokio::time::sleep(delay).await;
                }
                slot.call_with_timeout(&request, timeout).await
            });
            self.in_flight.push(InFlightFetch {
                node,
                offsets: positions.into_iter().collect(),
                response,
            });
        }
        !self.in_flight.is_empty()
    }

    /// Decodes a response into records and advances positions; per-partition errors
    /// are handled (reset, retried) or deferred behind the records already decoded.
    /// Phase one of applying a response: checks the error codes and moves each
    /// partition's position past its whole batches, reading batch headers only, so the
    /// next Fetch can be sent before the records are decoded. Returns the data to decode
    /// and the first per-partition error; `Err` only for a whole-response error.
    async fn advance(
        &mut self,
        response: FetchResponse,
        offsets: &HashMap<TopicPartition, i64>,
    ) -> Result<(Vec<Fetched>, Option<ClientError>)> {
        if response.error_code != ErrorCode::None {
            return Err(ClientError::Broker {
                code: response.error_code,
                topic: None,
                partition: None,
                message: Some("fetch".to_owned()),
            });
        }
        let (mut fetched, mut first_error) = (Vec::new(), None);
        for topic in response.topics {
            for partition in topic.partitions {
                let tp = TopicPartition::new(topic.name.clone(), partition.partition);
                let Some(&from) = offsets.get(&tp) else {
                    continue;
                };
                if self.positions.get(&tp) != Some(&Some(from)) {
                    continue; // seeked or unassigned while the fetch was in flight
                }
                let bytes = partition.records.into_bytes();
                // May await (an offset reset); positions of the data kept so far have
                // not moved yet, so a cancelled poll just fetches it again.
                match self
                    .advance_partition(&tp, from, partition.error_code)
                    .await
                {
                    Ok(true) => fetched.push(Fetched { tp, from, bytes }),
                    Ok(false) => {}
                    Err(error) => {
                        first_error.get_or_insert(error);
                    }
                }
            }
        }
        for f in &fetched {
            let next = fetcher::next_position(f.from, &f.bytes);
            self.positions.insert(f.tp.clone(), Some(next));
        }
        Ok((fetched, first_error))
    }

    /// Whether a partition's data is to be decoded; handles its error code otherwise.
    async fn advance_partition(
        &mut self,
        tp: &TopicPartition,
        fetched_from: i64,
        code: ErrorCode,
    ) -> Result<bool> {
        match code {
            ErrorCode::None => Ok(true),
            ErrorCode::OffsetOutOfRange => {
                self.reset(tp, Some(fetched_from)).await?;
                Ok(false)
            }
            code if code.is_retriable() => {
                tracing::debug!(%tp, code = code.name(), "partition not readable now; retrying");
                if leaders::leader_moved(code) {
                    self.leaders.stale = true;
                }
                self.backoff_before_fetch = true;
                Ok(false)
            }
            code => Err(ClientError::broker(
                code,
                tp.topic.to_string(),
                Some(tp.partition),
                None,
            )),
        }
    }

    /// Phase two: checks and decodes the records [`Consumer::advance`] moved past. A
    /// partition whose data does not decode (bad CRC, malformed record) gets its position
    /// back, so the fetch already sent for it is dropped as stale and it is read again.
    fn decode(
        &mut self,
        fetched: Vec<Fetched>,
        first_error: &mut Option<ClientError>,
    ) -> Vec<ConsumerRecord> {
        let mut records = Vec::new();
        for Fetched { tp, from, bytes } in fetched {
            match fetcher::decode_partition(&tp, from, bytes) {
                Ok(mut decoded) => {
                    self.positions.insert(tp, Some(decoded.next_position));
                    // The first partition's records are taken as they are (no copy).
                    if records.is_empty() {
                        records = decoded.records;
                    } else {
                        records.append(&mut decoded.records);
                    }
                }
                Err(error) => {
                    self.positions.insert(tp, Some(from));
                    first_error.get_or_insert(error);
                }
            }
        }
        records
    }
}
