//! Per-topic record timestamp settings, as Kafka 4 names and defaults them:
//! `message.timestamp.type` (`CreateTime`: the producer's clock, checked against the
//! broker's; `LogAppendTime`: the broker stamps its own clock into every batch) and the
//! bounds `message.timestamp.before.max.ms` / `message.timestamp.after.max.ms` on how far a
//! create-time record may lie behind or ahead of the broker's clock.

use std::collections::BTreeMap;

use rill_protocol::batch::ValidatedBatch;

use super::TopicError;

/// `CreateTime` or `LogAppendTime`.
pub const MESSAGE_TIMESTAMP_TYPE: &str = "message.timestamp.type";
/// How far (ms) a create-time record may be older than the broker's clock.
pub const MESSAGE_TIMESTAMP_BEFORE_MAX_MS: &str = "message.timestamp.before.max.ms";
/// How far (ms) a create-time record may be ahead of the broker's clock.
pub const MESSAGE_TIMESTAMP_AFTER_MAX_MS: &str = "message.timestamp.after.max.ms";

/// Kafka 4's default for `message.timestamp.before.max.ms`: unbounded (`Long.MAX_VALUE`).
pub const TIMESTAMP_BEFORE_MAX_MS_DEFAULT: i64 = i64::MAX;
/// Kafka 4's default for `message.timestamp.after.max.ms`: one hour.
pub const TIMESTAMP_AFTER_MAX_MS_DEFAULT: i64 = 60 * 60 * 1000;

/// Whose clock a topic's record timestamps come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimestampType {
    /// The producer's timestamps, kept as sent (within the topic's bounds).
    #[default]
    CreateTime,
    /// The broker's clock at append, stamped into each batch's header.
    LogAppendTime,
}

impl TimestampType {
    /// The name used in topic settings.
    pub fn name(self) -> &'static str {
        match self {
            TimestampType::CreateTime => "CreateTime",
            TimestampType::LogAppendTime => "LogAppendTime",
        }
    }
}

/// A topic's timestamp settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampPolicy {
    /// Whose clock the records carry.
    pub timestamp_type: TimestampType,
    /// Largest allowed `broker clock - record timestamp`, in ms (create time only).
    pub before_max_ms: i64,
    /// Largest allowed `record timestamp - broker clock`, in ms (create time only).
    pub after_max_ms: i64,
}

impl Default for TimestampPolicy {
    fn default() -> Self {
        TimestampPolicy {
            timestamp_type: TimestampType::CreateTime,
            before_max_ms: TIMESTAMP_BEFORE_MAX_MS_DEFAULT,
            after_max_ms: TIMESTAMP_AFTER_MAX_MS_DEFAULT,
        }
    }
}

/// Why produced batches break a topic's timestamp policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimestampViolation {
    /// A record is older than `before_max_ms` allows.
    #[error("record timestamp {timestamp_ms} is {behind_ms} ms behind the broker's clock; the topic allows {max_ms} ms (message.timestamp.before.max.ms)")]
    TooOld {
        /// The record's timestamp.
        timestamp_ms: i64,
        /// How far behind it is.
        behind_ms: i64,
        /// The topic's bound.
        max_ms: i64,
    },
    /// A record is further in the future than `after_max_ms` allows.
    #[error("record timestamp {timestamp_ms} is {ahead_ms} ms ahead of the broker's clock; the topic allows {max_ms} ms (message.timestamp.after.max.ms)")]
    TooNew {
        /// The record's timestamp.
        timestamp_ms: i64,
        /// How far ahead it is.
        ahead_ms: i64,
        /// The topic's bound.
        max_ms: i64,
    },
    /// A producer set the log-append-time attribute on a create-time topic.
    #[error(
        "the batch claims log-append time, which only the broker sets (the topic uses CreateTime)"
    )]
    ClaimsLogAppendTime,
}

impl TimestampPolicy {
    /// Reads the timestamp keys of a topic's overrides (other keys are ignored).
    pub fn from_overrides(overrides: &BTreeMap<String, String>) -> Result<Self, TopicError> {
        let mut policy = TimestampPolicy::default();
        for (key, value) in overrides {
            let bad = |reason: &str| TopicError::InvalidConfig {
                key: key.clone(),
                value: value.clone(),
                reason: reason.to_string(),
            };
            match key.as_str() {
                MESSAGE_TIMESTAMP_TYPE => {
                    policy.timestamp_type = match value.trim() {
                        "CreateTime" => TimestampType::CreateTime,
                        "LogAppendTime" => TimestampType::LogAppendTime,
                        _ => return Err(bad("expected CreateTime or LogAppendTime")),
                    }
                }
                MESSAGE_TIMESTAMP_BEFORE_MAX_MS => {
                    policy.before_max_ms = non_negative_ms(value).ok_or_else(|| {
                        bad("expected a number of ms, 0 or more (9223372036854775807: no bound)")
                    })?
                }
                MESSAGE_TIMESTAMP_AFTER_MAX_MS => {
                    policy.after_max_ms = non_negative_ms(value).ok_or_else(|| {
                        bad("expected a number of ms, 0 or more (9223372036854775807: no bound)")
                    })?
                }
                _ => {}
            }
        }
        Ok(policy)
    }

    /// The settings as `key=value` pairs (for describe).
    pub fn describe(&self) -> [(String, String); 3] {
        [
            (
                MESSAGE_TIMESTAMP_TYPE.to_string(),
                self.timestamp_type.name().to_string(),
            ),
            (
                MESSAGE_TIMESTAMP_BEFORE_MAX_MS.to_string(),
                self.before_max_ms.to_string(),
            ),
            (
                MESSAGE_TIMESTAMP_AFTER_MAX_MS.to_string(),
                self.after_max_ms.to_string(),
            ),
        ]
    }

    /// Checks validated batches against the policy at broker time `now_ms`. Create-time
    /// records must lie within the bounds (Kafka checks each record; the smallest and
    /// largest decide), records without a timestamp (-1) excepted, as in Kafka;
    /// log-append-time topics take any timestamp, since the broker overwrites it.
    pub fn check(&self, batches: &[ValidatedBatch], now_ms: i64) -> Result<(), TimestampViolation> {
        if self.timestamp_type == TimestampType::LogAppendTime {
            return Ok(());
        }
        for batch in batches {
            if batch.header.is_log_append_time() {
                return Err(TimestampViolation::ClaimsLogAppendTime);
            }
            let (oldest, newest) = (batch.records.timestamp_min, batch.records.timestamp_max);
            let behind_ms = now_ms.saturating_sub(oldest);
            if behind_ms > self.before_max_ms {
                return Err(TimestampViolation::TooOld {
                    timestamp_ms: oldest,
                    behind_ms,
                    max_ms: self.before_max_ms,
                });
            }
            let ahead_ms = newest.saturating_sub(now_ms);
            if ahead_ms > self.after_max_ms {
                return Err(TimestampViolation::TooNew {
                    timestamp_ms: newest,
                    ahead_ms,
                    max_ms: self.after_max_ms,
                });
            }
        }
        Ok(())
    }
}

fn non_negative_ms(value: &str) -> Option<i64> {
    value.trim().parse::<i64>().ok().filter(|ms| *ms >= 0)
}

#[cfg(test)]
mod tests {
    use rill_protocol::batch::{validate_batches, BatchBuilder, Compression, RecordInput};

    use super::*;

    fn overrides(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn batches(timestamps: &[i64]) -> Vec<ValidatedBatch> {
        let mut builder = BatchBuilder::new(Compression::None);
        for ts in timestamps {
            builder.append(&RecordInput::new(*ts, "v")).unwrap();
        }
        validate_batches(&builder.build().unwrap(), 1 << 20).unwrap()
    }

    #[test]
    fn defaults_are_kafka_4s() {
        let policy = TimestampPolicy::from_overrides(&BTreeMap::new()).unwrap();
        assert_eq!(policy, TimestampPolicy::default());
        let now = 10_000_000_000;
        assert_eq!(
            policy.check(&batches(&[0, now]), now),
            Ok(()),
            "old is fine"
        );
        assert_eq!(policy.check(&batches(&[now + 3_600_000]), now), Ok(()));
        assert!(matches!(
            policy.check(&batches(&[now, now + 3_600_001]), now),
            Err(TimestampViolation::TooNew {
                ahead_ms: 3_600_001,
                ..
            })
        ));
    }

    #[test]
    fn bounds_and_type_are_settable() {
        let policy = TimestampPolicy::from_overrides(&overrides(&[
            (MESSAGE_TIMESTAMP_BEFORE_MAX_MS, "1000"),
            (MESSAGE_TIMESTAMP_AFTER_MAX_MS, "0"),
        ]))
        .unwrap();
        let now = 50_000;
        assert_eq!(policy.check(&batches(&[now - 1000, now]), now), Ok(()));
        assert!(matches!(
            policy.check(&batches(&[now - 1001]), now),
            Err(TimestampViolation::TooOld { .. })
        ));
        assert!(matches!(
            policy.check(&batches(&[now + 1]), now),
            Err(TimestampViolation::TooNew { .. })
        ));
        let append = TimestampPolicy::from_overrides(&overrides(&[
            (MESSAGE_TIMESTAMP_TYPE, "LogAppendTime"),
            (MESSAGE_TIMESTAMP_AFTER_MAX_MS, "0"),
        ]))
        .unwrap();
        assert_eq!(append.timestamp_type, TimestampType::LogAppendTime);
        assert_eq!(append.check(&batches(&[now + 99_999_999]), now), Ok(()));
    }

    #[test]
    fn records_without_a_timestamp_are_not_bounded() {
        let policy = TimestampPolicy::from_overrides(&overrides(&[(
            MESSAGE_TIMESTAMP_BEFORE_MAX_MS,
            "1000",
        )]))
        .unwrap();
        let now = 50_000;
        assert_eq!(policy.check(&batches(&[-1, now, -1]), now), Ok(()));
        assert_eq!(policy.check(&batches(&[-1]), now), Ok(()));
        assert!(policy.check(&batches(&[-1, 0]), now).is_err());
    }

    #[test]
    fn bad_values_name_their_key() {
        for (key, value) in [
            (MESSAGE_TIMESTAMP_TYPE, "WallTime"),
            (MESSAGE_TIMESTAMP_BEFORE_MAX_MS, "-5"),
            (MESSAGE_TIMESTAMP_AFTER_MAX_MS, "soon"),
        ] {
            let err = TimestampPolicy::from_overrides(&overrides(&[(key, value)])).unwrap_err();
            assert!(err.to_string().contains(key), "{err}");
        }
    }
}
