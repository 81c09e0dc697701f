//! Live changes to the broker-wide topic defaults (a config reload): every topic's log
//! configuration is folded again from the new defaults and its own overrides, so a key a
//! topic overrides keeps its value and every other key follows the broker.

use std::sync::Arc;

use super::{config, Topic, TopicError, TopicRegistry};
use crate::config::TopicDefaults;

impl TopicRegistry {
    /// Replaces the broker defaults and applies them to the live logs of every topic
    /// whose effective settings change; returns how many topics changed. Every new
    /// configuration is validated before any is applied. Blocking.
    pub fn set_defaults(&self, defaults: TopicDefaults) -> Result<usize, TopicError> {
        let _admin = self.lock_admin();
        let mut changed = Vec::new();
        for topic in self.list() {
            let log_config = config::log_config(&defaults, &topic.overrides, self.max_batch_bytes)?;
            log_config.validate()?;
            if log_config != topic.log_config {
                changed.push((topic, log_config));
            }
        }
        let mut topics = self.write_topics();
        for (old, log_config) in &changed {
            for p in &old.partitions {
                if let Ok(log) = p.log() {
                    log.set_config(log_config.clone())?;
                }
            }
            let topic = Topic {
                name: old.name.clone(),
                partitions: old.partitions.clone(),
                overrides: old.overrides.clone(),
                log_config: log_config.clone(),
                timestamps: old.timestamps,
            };
            topics.insert(old.name.to_string(), Arc::new(topic));
        }
        drop(topics);
        *self.defaults.write().unwrap_or_else(|e| e.into_inner()) = defaults;
        Ok(changed.len())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn new_defaults_reach_topics_without_overrides() {
        let dir = tempfile::tempdir().unwrap();
        let registry = TopicRegistry::open(dir.path(), TopicDefaults::default(), 1 << 20).unwrap();
        registry.create("plain", Some(2), BTreeMap::new()).unwrap();
        let pinned = BTreeMap::from([("retention.ms".to_string(), "1000".to_string())]);
        registry.create("pinned", Some(1), pinned).unwrap();
        let defaults = TopicDefaults {
            retention_ms: Some(60_000),
            retention_bytes: Some(1 << 30),
            ..TopicDefaults::default()
        };
        assert_eq!(registry.set_defaults(defaults.clone()).unwrap(), 2);
        let plain = registry.get("plain").unwrap();
        assert_eq!(plain.log_config.retention_ms, Some(60_000));
        for p in &plain.partitions {
            assert_eq!(p.log().unwrap().config().retention_ms, Some(60_000));
        }
        let pinned = registry.get("pinned").unwrap();
        assert_eq!(
            pinned.partitions[0].log().unwrap().config().retention_ms,
            Some(1000)
        );
        assert_eq!(pinned.log_config.retention_bytes, Some(1 << 30));
        assert_eq!(registry.defaults(), defaults);
        assert_eq!(registry.set_defaults(defaults).unwrap(), 0);
        registry.close().unwrap();
    }
}
