//! Per-topic settings: the `key=value` overrides a topic may carry, validated in one
//! place and folded over the broker's defaults into a storage [`LogConfig`].

use std::collections::BTreeMap;

use super::timestamps::{
    TimestampPolicy, MESSAGE_TIMESTAMP_AFTER_MAX_MS, MESSAGE_TIMESTAMP_BEFORE_MAX_MS,
    MESSAGE_TIMESTAMP_TYPE,
};
use super::{Topic, TopicError};
use crate::config::{parse_flush, TopicDefaults};
use crate::storage::cleaner::{CleanupPolicy, CompactionConfig, Ratio};
use crate::storage::{LogConfig, SEGMENT_BYTES_MAX};

/// Retention by age, in ms; `-1` keeps forever.
pub const RETENTION_MS: &str = "retention.ms";
/// Retention by size per partition, in bytes; `-1` is unlimited.
pub const RETENTION_BYTES: &str = "retention.bytes";
/// Segment size before a roll, in bytes.
pub const SEGMENT_BYTES: &str = "segment.bytes";
/// Segment age before a roll, in ms.
pub const SEGMENT_MS: &str = "segment.ms";
/// Flush policy: `always`, `os`, or an interval such as `100ms`.
pub const FLUSH: &str = "flush";

/// `delete`, `compact` or `compact,delete` (see [`crate::storage::cleaner`]).
pub const CLEANUP_POLICY: &str = "cleanup.policy";
/// Dirty share of a compacted log (0 to 1) at which the cleaner cleans it.
pub const MIN_CLEANABLE_DIRTY_RATIO: &str = "min.cleanable.dirty.ratio";
/// A record younger than this (ms) is never compacted away.
pub const MIN_COMPACTION_LAG_MS: &str = "min.compaction.lag.ms";
/// A dirty record older than this (ms) gets its log cleaned whatever the dirty ratio.
pub const MAX_COMPACTION_LAG_MS: &str = "max.compaction.lag.ms";
/// How long (ms) a tombstone stays readable on a compacted topic.
pub const DELETE_RETENTION_MS: &str = "delete.retention.ms";

/// Every key a topic override may use.
pub const KNOWN_KEYS: [&str; 13] = [
    RETENTION_MS,
    RETENTION_BYTES,
    SEGMENT_BYTES,
    SEGMENT_MS,
    FLUSH,
    MESSAGE_TIMESTAMP_TYPE,
    MESSAGE_TIMESTAMP_BEFORE_MAX_MS,
    MESSAGE_TIMESTAMP_AFTER_MAX_MS,
    CLEANUP_POLICY,
    MIN_CLEANABLE_DIRTY_RATIO,
    MIN_COMPACTION_LAG_MS,
    MAX_COMPACTION_LAG_MS,
    DELETE_RETENTION_MS,
];

/// Smallest segment a topic may ask for.
pub const SEGMENT_BYTES_MIN: u64 = 4096;

/// Builds the storage configuration of a topic from broker defaults and its overrides;
/// an unknown key or a malformed value is an `InvalidConfig` error naming it. The
/// timestamp keys are checked here too (so every path that validates overrides checks
/// them) and read by [`TimestampPolicy::from_overrides`].
pub fn log_config(
    defaults: &TopicDefaults,
    overrides: &BTreeMap<String, String>,
    max_batch_bytes: usize,
) -> Result<LogConfig, TopicError> {
    TimestampPolicy::from_overrides(overrides)?;
    let mut config = LogConfig {
        segment_bytes: u32::try_from(defaults.segment_bytes.min(SEGMENT_BYTES_MAX))
            .unwrap_or(u32::MAX),
        segment_ms: defaults.segment_ms,
        retention_bytes: defaults.retention_bytes,
        retention_ms: defaults.retention_ms,
        flush: defaults.flush,
        max_batch_bytes,
        ..LogConfig::default()
    };
    for (key, value) in overrides {
        let bad = |reason: &str| TopicError::InvalidConfig {
            key: key.clone(),
            value: value.clone(),
            reason: reason.to_string(),
        };
        match key.as_str() {
            RETENTION_MS => {
                config.retention_ms = optional_u64(value).ok_or_else(|| bad("expected ms or -1"))?
            }
            RETENTION_BYTES => {
                config.retention_bytes =
                    optional_u64(value).ok_or_else(|| bad("expected bytes or -1"))?
            }
            SEGMENT_BYTES => {
                let bytes: u32 = value.parse().map_err(|_| bad("expected a byte count"))?;
                if !(SEGMENT_BYTES_MIN..=SEGMENT_BYTES_MAX).contains(&u64::from(bytes)) {
                    return Err(bad("must be between 4096 and 2147483647"));
                }
                config.segment_bytes = bytes;
            }
            SEGMENT_MS => {
                config.segment_ms = value.parse().map_err(|_| bad("expected ms"))?;
            }
            FLUSH => config.flush = parse_flush(value).map_err(|e| bad(&e))?,
            MESSAGE_TIMESTAMP_TYPE
            | MESSAGE_TIMESTAMP_BEFORE_MAX_MS
            | MESSAGE_TIMESTAMP_AFTER_MAX_MS => {}
            CLEANUP_POLICY
            | MIN_CLEANABLE_DIRTY_RATIO
            | MIN_COMPACTION_LAG_MS
            | MAX_COMPACTION_LAG_MS
            | DELETE_RETENTION_MS => {
                set_compaction(&mut config.compaction, key, value).map_err(bad)?
            }
            _ => {
                return Err(bad(&format!(
                    "unknown topic setting; known: {}",
                    KNOWN_KEYS.join(", ")
                )))
            }
        }
    }
    Ok(config)
}

/// Applies one compaction key; the error says what value was expected.
fn set_compaction(
    config: &mut CompactionConfig,
    key: &str,
    value: &str,
) -> Result<(), &'static str> {
    let ms = || value.trim().parse::<u64>().map_err(|_| "expected ms");
    match key {
        CLEANUP_POLICY => {
            config.policy =
                CleanupPolicy::parse(value).ok_or("expected delete, compact or compact,delete")?
        }
        MIN_CLEANABLE_DIRTY_RATIO => {
            config.min_cleanable_dirty_ratio = value
                .trim()
                .parse()
                .ok()
                .and_then(Ratio::new)
                .ok_or("expected a ratio between 0 and 1")?
        }
        MIN_COMPACTION_LAG_MS => config.min_compaction_lag_ms = ms()?,
        MAX_COMPACTION_LAG_MS => {
            config.max_compaction_lag_ms = ms()?;
            if config.max_compaction_lag_ms == 0 {
                return Err("must be positive");
            }
        }
        DELETE_RETENTION_MS => config.delete_retention_ms = ms()?,
        _ => return Err("not a compaction setting"),
    }
    Ok(())
}

/// Parses a non-negative number, or `-1` meaning "no limit".
fn optional_u64(value: &str) -> Option<Option<u64>> {
    match value.trim() {
        "-1" => Some(None),
        v => v.parse().ok().map(Some),
    }
}

/// The effective settings of a topic as `key=value` pairs (for describe).
pub fn describe(config: &LogConfig) -> BTreeMap<String, String> {
    let limit = |v: Option<u64>| v.map_or("-1".to_string(), |v| v.to_string());
    [
        (RETENTION_MS, limit(config.retention_ms)),
        (RETENTION_BYTES, limit(config.retention_bytes)),
        (SEGMENT_BYTES, config.segment_bytes.to_string()),
        (SEGMENT_MS, config.segment_ms.to_string()),
        (FLUSH, crate::config::flush_to_string(&config.flush)),
        (
            CLEANUP_POLICY,
            config.compaction.policy.as_str().to_string(),
        ),
        (
            MIN_CLEANABLE_DIRTY_RATIO,
            config
                .compaction
                .min_cleanable_dirty_ratio
                .get()
                .to_string(),
        ),
        (
            MIN_COMPACTION_LAG_MS,
            config.compaction.min_compaction_lag_ms.to_string(),
        ),
        (
            MAX_COMPACTION_LAG_MS,
            config.compaction.max_compaction_lag_ms.to_string(),
        ),
        (
            DELETE_RETENTION_MS,
            config.compaction.delete_retention_ms.to_string(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// Every effective setting of a topic as `key=value` pairs (for describe): its storage
/// settings and its timestamp policy.
pub fn describe_topic(topic: &Topic) -> BTreeMap<String, String> {
    let mut all = describe(&topic.log_config);
    all.extend(topic.timestamps.describe());
    all
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::FlushPolicy;

    fn overrides(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn overrides_fold_over_defaults() {
        let defaults = TopicDefaults::default();
        let config = log_config(
            &defaults,
            &overrides(&[
                ("retention.ms", "-1"),
                ("segment.bytes", "8192"),
                ("flush", "always"),
            ]),
            1 << 20,
        )
        .unwrap();
        assert_eq!(config.retention_ms, None);
        assert_eq!(config.segment_bytes, 8192);
        assert_eq!(config.flush, FlushPolicy::Always);
        assert_eq!(config.segment_ms, defaults.segment_ms);
        assert_eq!(describe(&config)["retention.ms"], "-1");
        assert_eq!(describe(&config)["cleanup.policy"], "delete");
    }

    #[test]
    fn compaction_settings_parse_and_describe() {
        let config = log_config(
            &TopicDefaults::default(),
            &overrides(&[
                ("cleanup.policy", "compact,delete"),
                ("min.cleanable.dirty.ratio", "0.25"),
                ("min.compaction.lag.ms", "1000"),
                ("max.compaction.lag.ms", "60000"),
                ("delete.retention.ms", "5"),
            ]),
            1 << 20,
        )
        .unwrap();
        assert_eq!(config.compaction.policy, CleanupPolicy::CompactDelete);
        assert_eq!(config.compaction.min_cleanable_dirty_ratio.get(), 0.25);
        assert_eq!(config.compaction.min_compaction_lag_ms, 1000);
        assert_eq!(config.compaction.max_compaction_lag_ms, 60_000);
        assert_eq!(config.compaction.delete_retention_ms, 5);
        let described = describe(&config);
        assert_eq!(described["cleanup.policy"], "compact,delete");
        assert_eq!(described["min.cleanable.dirty.ratio"], "0.25");
        for (k, v) in [
            ("cleanup.policy", "shred"),
            ("min.cleanable.dirty.ratio", "2"),
            ("max.compaction.lag.ms", "0"),
            ("delete.retention.ms", "-5"),
        ] {
            let err =
                log_config(&TopicDefaults::default(), &overrides(&[(k, v)]), 1 << 20).unwrap_err();
            assert!(err.to_string().contains(k), "{err}");
        }
    }

    #[test]
    fn bad_overrides_are_named() {
        let defaults = TopicDefaults::default();
        for (k, v) in [
            ("segment.bytes", "12"),
            ("retention.ms", "soon"),
            ("colour", "red"),
        ] {
            let err = log_config(&defaults, &overrides(&[(k, v)]), 1 << 20).unwrap_err();
            assert!(err.to_string().contains(k), "{err}");
        }
    }
}
