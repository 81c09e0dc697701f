//! [`Consumer`]: reads assigned partitions from chosen positions, fetching ahead.
//!
//! The application assigns partitions ([`Consumer::assign`]), places each one
//! ([`Consumer::seek`] to the beginning, the end, an offset or a timestamp), then calls
//! [`Consumer::poll`] or consumes [`Consumer::into_stream`].
//!
//! Fetch ahead: as soon as `poll` has decoded a response, it sends the next Fetch (from
//! the new positions) in a background task before returning the records, so the round
//! trip overlaps with the application's processing. At most one fetch is in flight and
//! its response is the only one buffered; the records of the previous one are the
//! application's. A `seek` or `assign` while a fetch is in flight makes its data for the
//! moved partitions stale; stale data is dropped by comparing fetch offsets.

mod fetcher;
mod stream;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use rill_protocol::api::fetch::FetchResponse;
use rill_protocol::error_code::ErrorCode;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::config::{AutoOffsetReset, ConsumerConfig};
use crate::error::{ClientError, Disconnect, Result};
use crate::offsets::{list_offsets, EARLIEST_TIMESTAMP, LATEST_TIMESTAMP};
use crate::record::{ConsumerRecord, TopicPartition};
use crate::slot::ConnectionSlot;

/// Where [`Consumer::seek`] places a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeekTo {
    /// The log start offset (the oldest record still kept).
    Beginning,
    /// The high watermark: only records produced from now on.
    End,
    /// An exact offset.
    Offset(i64),
    /// The first record with a timestamp at or after this one (ms since the epoch), or
    /// the end if there is none.
    Timestamp(i64),
}

/// A fetch in flight, with the offsets it asked for (to spot stale data).
#[derive(Debug)]
struct InFlightFetch {
    offsets: HashMap<TopicPartition, i64>,
    response: JoinHandle<Result<FetchResponse>>,
}

/// A consumer of manually assigned partitions. Not shared: `poll` takes `&mut self`.
#[derive(Debug)]
pub struct Consumer {
    config: ConsumerConfig,
    slot: Arc<ConnectionSlot>,
    /// Assigned partitions and their positions (`None` until placed).
    positions: BTreeMap<TopicPartition, Option<i64>>,
    in_flight: Option<InFlightFetch>,
    /// An error found while other partitions had records; returned by the next poll.
    deferred_error: Option<ClientError>,
    /// A partition answered with a retriable error: pause before the next fetch so an
    /// instant error answer does not become a busy loop.
    backoff_before_fetch: bool,
}

impl Consumer {
    /// Validates `config` and connects to the bootstrap broker.
    pub async fn connect(config: ConsumerConfig) -> Result<Consumer> {
        config.validate()?;
        let slot = ConnectionSlot::new(
            config.connection.clone(),
            config.connection.bootstrap.clone(),
        );
        slot.get().await?;
        Ok(Consumer {
            config,
            slot: Arc::new(slot),
            positions: BTreeMap::new(),
            in_flight: None,
            deferred_error: None,
            backoff_before_fetch: false,
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &ConsumerConfig {
        &self.config
    }

    /// Replaces the assignment. Partitions kept keep their positions; new ones have none
    /// until [`Consumer::seek`] (or `auto_offset_reset`) places them.
    pub fn assign(&mut self, partitions: Vec<(String, i32)>) {
        let mut positions = BTreeMap::new();
        for (topic, partition) in partitions {
            let tp = TopicPartition::new(topic, partition);
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
    pub fn position(&self, topic: &str, partition: i32) -> Option<i64> {
        self.positions
            .get(&TopicPartition::new(topic, partition))
            .copied()
            .flatten()
    }

    /// Places an assigned partition. `Beginning`, `End` and `Timestamp` ask the broker
    /// (ListOffsets). Cancel-safe: dropped early, the position is unchanged.
    pub async fn seek(&mut self, topic: &str, partition: i32, to: SeekTo) -> Result<()> {
        let tp = TopicPartition::new(topic, partition);
        if !self.positions.contains_key(&tp) {
            return Err(ClientError::NotAssigned {
                topic: topic.to_owned(),
                partition,
            });
        }
        let offset = match to {
            SeekTo::Offset(offset) => offset,
            SeekTo::Beginning => self.lookup(&tp, EARLIEST_TIMESTAMP).await?,
            SeekTo::End => self.lookup(&tp, LATEST_TIMESTAMP).await?,
            SeekTo::Timestamp(ts) => match self.lookup_opt(&tp, ts).await? {
                Some(offset) => offset,
                None => self.lookup(&tp, LATEST_TIMESTAMP).await?,
            },
        };
        self.positions.insert(tp, Some(offset));
        Ok(())
    }

    async fn lookup_opt(&self, tp: &TopicPartition, timestamp: i64) -> Result<Option<i64>> {
        let isolation = self.config.isolation.as_i8();
        let found = list_offsets(&self.slot, isolation, &[(tp.clone(), timestamp)]).await?;
        Ok(found.get(tp).copied().flatten())
    }

    async fn lookup(&self, tp: &TopicPartition, timestamp: i64) -> Result<i64> {
        self.lookup_opt(tp, timestamp)
            .await?
            .ok_or_else(|| ClientError::MissingInResponse {
                api: rill_protocol::api::ApiKey::ListOffsets,
                what: format!("offset for {tp}"),
            })
    }

    /// Returns the records fetched since the last poll, waiting up to `timeout` for
    /// some; an empty `Vec` means none arrived in time. Retriable failures (a lost
    /// connection, a partition briefly unavailable) are retried inside, not returned.
    ///
    /// Cancel-safe: if the future is dropped, the fetch in flight is kept and its
    /// records are returned by the next poll; no record is lost or repeated.
    pub async fn poll(&mut self, timeout: Duration) -> Result<Vec<ConsumerRecord>> {
        let deadline = Instant::now() + timeout;
        if let Some(error) = self.deferred_error.take() {
            return Err(error);
        }
        loop {
            self.place_unplaced().await?;
            if self.in_flight.is_none() && !self.start_fetch() {
                tokio::time::sleep_until(deadline).await;
                return Ok(Vec::new());
            }
            let Some(response) = self.wait_fetch(deadline).await else {
                return Ok(Vec::new());
            };
            match response {
                Ok((response, offsets)) => {
                    let records = self.apply(response, &offsets).await?;
                    if std::mem::take(&mut self.backoff_before_fetch) {
                        let backoff = self.config.connection.reconnect_backoff;
                        tokio::time::sleep_until(deadline.min(Instant::now() + backoff)).await;
                    }
                    self.start_fetch();
                    if !records.is_empty() || Instant::now() >= deadline {
                        return Ok(records);
                    }
                }
                Err(error) if error.is_retriable() => {
                    tracing::debug!(%error, "fetch failed; retrying");
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

    /// Waits for the fetch in flight until `deadline`; `None` if it is not done yet (it
    /// stays in flight).
    async fn wait_fetch(
        &mut self,
        deadline: Instant,
    ) -> Option<Result<(FetchResponse, HashMap<TopicPartition, i64>)>> {
        let in_flight = self.in_flight.as_mut()?;
        // Awaiting `&mut JoinHandle` is cancel-safe: the task keeps running.
        let joined = tokio::time::timeout_at(deadline, &mut in_flight.response)
            .await
            .ok()?;
        let offsets = self.in_flight.take().map(|f| f.offsets).unwrap_or_default();
        Some(match joined {
            Ok(result) => result.map(|response| (response, offsets)),
            Err(join_error) if join_error.is_panic() => {
                std::panic::resume_unwind(join_error.into_panic())
            }
            Err(_) => Err(ClientError::ConnectionLost {
                addr: self.slot.addr().to_owned(),
                cause: Disconnect::Closed,
            }),
        })
    }

    /// Sends a Fetch for every placed partition in a background task; false if there
    /// is nothing to fetch.
    fn start_fetch(&mut self) -> bool {
        let positions: Vec<(TopicPartition, i64)> = self
            .positions
            .iter()
            .filter_map(|(tp, position)| position.map(|p| (tp.clone(), p)))
            .collect();
        if positions.is_empty() {
            return false;
        }
        let request = fetcher::fetch_request(&self.config, &positions);
        let slot = Arc::clone(&self.slot);
        let timeout = self.config.connection.request_timeout + self.config.fetch_max_wait;
        let response = tokio::spawn(async move { slot.call_with_timeout(&request, timeout).await });
        self.in_flight = Some(InFlightFetch {
            offsets: positions.into_iter().collect(),
            response,
        });
        true
    }

    /// Gives unplaced partitions a position by `auto_offset_reset`.
    async fn place_unplaced(&mut self) -> Result<()> {
        let unplaced: Vec<TopicPartition> = self
            .positions
            .iter()
            .filter(|(_, position)| position.is_none())
            .map(|(tp, _)| tp.clone())
            .collect();
        for tp in unplaced {
            self.reset(&tp, None).await?;
        }
        Ok(())
    }

    /// Moves `tp` by `auto_offset_reset`, or reports why it cannot move.
    async fn reset(&mut self, tp: &TopicPartition, out_of_range: Option<i64>) -> Result<()> {
        let to = match self.config.auto_offset_reset {
            AutoOffsetReset::Earliest => SeekTo::Beginning,
            AutoOffsetReset::Latest => SeekTo::End,
            AutoOffsetReset::Error => {
                return Err(match out_of_range {
                    Some(offset) => ClientError::OffsetOutOfRange {
                        topic: tp.topic.clone(),
                        partition: tp.partition,
                        offset,
                    },
                    None => ClientError::NoPosition {
                        topic: tp.topic.clone(),
                        partition: tp.partition,
                    },
                })
            }
        };
        tracing::info!(%tp, ?to, ?out_of_range, "resetting position");
        self.seek(&tp.topic, tp.partition, to).await
    }

    /// Decodes a response into records and advances positions; per-partition errors
    /// are handled (reset, retried) or deferred behind the records already decoded.
    async fn apply(
        &mut self,
        response: FetchResponse,
        offsets: &HashMap<TopicPartition, i64>,
    ) -> Result<Vec<ConsumerRecord>> {
        if response.error_code != ErrorCode::None {
            return Err(ClientError::Broker {
                code: response.error_code,
                topic: None,
                partition: None,
                message: Some("fetch".to_owned()),
            });
        }
        let mut records = Vec::new();
        for topic in response.topics {
            for partition in topic.partitions {
                let tp = TopicPartition::new(topic.name.clone(), partition.partition);
                let Some(&fetched_from) = offsets.get(&tp) else {
                    continue;
                };
                if self.positions.get(&tp) != Some(&Some(fetched_from)) {
                    continue; // seeked or unassigned while the fetch was in flight
                }
                let outcome = self
                    .apply_partition(
                        &tp,
                        fetched_from,
                        partition.error_code,
                        partition.records.into_bytes(),
                    )
                    .await;
                match outcome {
                    Ok(mut decoded) => records.append(&mut decoded),
                    Err(error) if records.is_empty() => return Err(error),
                    Err(error) => {
                        self.deferred_error.get_or_insert(error);
                    }
                }
            }
        }
        Ok(records)
    }

    async fn apply_partition(
        &mut self,
        tp: &TopicPartition,
        fetched_from: i64,
        code: ErrorCode,
        bytes: bytes::Bytes,
    ) -> Result<Vec<ConsumerRecord>> {
        match code {
            ErrorCode::None => {
                let decoded = fetcher::decode_partition(tp, fetched_from, bytes)?;
                self.positions
                    .insert(tp.clone(), Some(decoded.next_position));
                Ok(decoded.records)
            }
            ErrorCode::OffsetOutOfRange => {
                self.reset(tp, Some(fetched_from)).await?;
                Ok(Vec::new())
            }
            code if code.is_retriable() => {
                tracing::debug!(%tp, code = code.name(), "partition not readable now; retrying");
                self.backoff_before_fetch = true;
                Ok(Vec::new())
            }
            code => Err(ClientError::broker(
                code,
                tp.topic.clone(),
                Some(tp.partition),
                None,
            )),
        }
    }
}
