//! Placing partitions: [`Consumer::seek`] to a position the application chooses, and
//! `auto_offset_reset` for partitions without one (new, or out of range).
//!
//! `Beginning`, `End` and `Timestamp` are answered by the broker (ListOffsets); an
//! exact offset is taken as given and checked by the next fetch.

use crate::config::AutoOffsetReset;
use crate::error::{ClientError, Result};
use crate::offsets::{list_offsets, EARLIEST_TIMESTAMP, LATEST_TIMESTAMP};
use crate::record::TopicPartition;
use std::sync::Arc;

use super::leaders::leader_moved;
use super::Consumer;

/// Whether a lookup error means the leader moved or is unreachable.
fn leader_may_have_moved(error: &ClientError) -> bool {
    crate::brokers::is_connection_error(error) || error.error_code().is_some_and(leader_moved)
}

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

impl Consumer {
    /// Places an assigned partition. `Beginning`, `End` and `Timestamp` ask the broker
    /// (ListOffsets). Cancel-safe: dropped early, the position is unchanged.
    pub async fn seek(&mut self, tp: &TopicPartition, to: SeekTo) -> Result<()> {
        self.check_open()?;
        if !self.positions.contains_key(tp) {
            return Err(ClientError::NotAssigned {
                topic: tp.topic.to_string(),
                partition: tp.partition,
            });
        }
        let offset = match to {
            SeekTo::Offset(offset) => offset,
            SeekTo::Beginning => self.lookup(tp, EARLIEST_TIMESTAMP).await?,
            SeekTo::End => self.lookup(tp, LATEST_TIMESTAMP).await?,
            SeekTo::Timestamp(ts) => match self.lookup_opt(tp, ts).await? {
                Some(offset) => offset,
                None => self.lookup(tp, LATEST_TIMESTAMP).await?,
            },
        };
        self.positions.insert(tp.clone(), Some(offset));
        Ok(())
    }

    /// Asks `tp`'s leader; a leader that moved or cannot be reached is looked up again
    /// once before the error is returned.
    async fn lookup_opt(&mut self, tp: &TopicPartition, timestamp: i64) -> Result<Option<i64>> {
        let isolation = self.config.isolation.as_i8();
        let mut retried = false;
        loop {
            let node = self.leader_of(tp).await?;
            let slot = match self.brokers.slot_for(node) {
                Some(slot) => slot,
                None => Arc::clone(self.brokers.any()),
            };
            match list_offsets(&slot, isolation, &[(tp.clone(), timestamp)]).await {
                Ok(found) => return Ok(found.get(tp).copied().flatten()),
                Err(error) if !retried && leader_may_have_moved(&error) => {
                    tracing::debug!(%tp, %error, "offset lookup: leader moved; asking again");
                    retried = true;
                    self.refresh_leaders().await?;
                }
                Err(error) => return Err(error),
            }
        }
    }

    async fn lookup(&mut self, tp: &TopicPartition, timestamp: i64) -> Result<i64> {
        self.lookup_opt(tp, timestamp)
            .await?
            .ok_or_else(|| ClientError::MissingInResponse {
                api: rill_protocol::api::ApiKey::ListOffsets,
                what: format!("offset for {tp}"),
            })
    }

    /// Gives unplaced partitions a position by `auto_offset_reset`.
    pub(crate) async fn place_unplaced(&mut self) -> Result<()> {
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
    pub(crate) async fn reset(
        &mut self,
        tp: &TopicPartition,
        out_of_range: Option<i64>,
    ) -> Result<()> {
        let to = match self.config.auto_offset_reset {
            AutoOffsetReset::Earliest => SeekTo::Beginning,
            AutoOffsetReset::Latest => SeekTo::End,
            AutoOffsetReset::Error => {
                return Err(match out_of_range {
                    Some(offset) => ClientError::OffsetOutOfRange {
                        topic: tp.topic.to_string(),
                        partition: tp.partition,
                        offset,
                    },
                    None => ClientError::NoPosition {
                        topic: tp.topic.to_string(),
                        partition: tp.partition,
                    },
                })
            }
        };
        tracing::info!(%tp, ?to, ?out_of_range, "resetting position");
        self.seek(tp, to).await
    }
}
