//! Topics: the registry of topics and their partition logs, and its persisted catalogue.
//!
//! The registry owns every [`PartitionLog`]. Lookups take a read lock for a moment and
//! hand out `Arc`s; creating and deleting topics is serialised by an admin mutex and
//! runs blocking file work, so async callers use `spawn_blocking`. A topic's partition
//! `p` lives in `<data_dir>/<topic>-<p>`. Deleting a topic first renames its directories
//! to `*.deleted` (atomic), then persists the catalogue, then removes them: a crash in
//! between never resurrects old data under a new topic of the same name.

pub mod config;
mod defaults;
pub mod meta;
pub mod timestamps;

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use thiserror::Error;
use tracing::{info, warn};

use crate::config::TopicDefaults;
use crate::metrics::partition::PartitionStats;
use crate::storage::{LogConfig, PartitionLog, StorageError};
pub use meta::TopicMeta;
pub use timestamps::{TimestampPolicy, TimestampType};

/// Longest topic name, as Kafka.
pub const TOPIC_NAME_MAX_CHARS: usize = 249;
/// Suffix of partition directories awaiting removal.
const DELETED_SUFFIX: &str = ".deleted";

/// Why a topic operation failed.
#[derive(Debug, Error)]
pub enum TopicError {
    /// No such topic.
    #[error("unknown topic `{0}`")]
    UnknownTopic(String),
    /// No such partition in the topic.
    #[error("topic `{topic}` has no partition {partition}")]
    UnknownPartition {
        /// Topic name.
        topic: String,
        /// Partition asked for.
        partition: i32,
    },
    /// The topic exists already.
    #[error("topic `{0}` already exists")]
    AlreadyExists(String),
    /// The name is not a legal topic name.
    #[error("invalid topic name `{name}`: {reason}")]
    InvalidName {
        /// The name given.
        name: String,
        /// Why it is not allowed.
        reason: &'static str,
    },
    /// Creating the topic would take the broker past `max_partitions`.
    #[error("cannot create {asked} more partitions: the broker holds {existing} and max_partitions is {max} (raise --max-partitions or delete topics)")]
    TooManyPartitions {
        /// Partitions of all topics now.
        existing: usize,
        /// Partitions the new topic asked for.
        asked: u32,
        /// The cap.
        max: usize,
    },
    /// The partition count is out of range.
    #[error("invalid partition count {0}: must be between 1 and {max}", max = crate::config::PARTITIONS_MAX)]
    InvalidPartitions(i64),
    /// A topic setting is unknown or malformed.
    #[error("invalid topic setting `{key}` = `{value}`: {reason}")]
    InvalidConfig {
        /// The setting's key.
        key: String,
        /// The value given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The catalogue file is damaged.
    #[error("topic catalogue {path} is damaged: {reason}")]
    CorruptCatalogue {
        /// The catalogue file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A file operation failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The storage engine failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// One partition of a topic: its identity and its log.
#[derive(Debug)]
pub struct Partition {
    /// Topic name.
    pub topic: Arc<str>,
    /// Partition index within the topic.
    pub index: u32,
    /// The partition's log, or why it is offline.
    log: Result<PartitionLog, Offline>,
    /// Traffic counters for the metrics endpoint.
    pub stats: PartitionStats,
}

/// Why a partition has no log: its directory could not be opened when the broker
/// started. The broker serves every other partition; requests for this one get
/// `KAFKA_STORAGE_ERROR` until the directory is repaired and the broker restarted.
#[derive(Debug)]
struct Offline {
    dir: PathBuf,
    reason: String,
}

impl Partition {
    /// A partition serving `log`.
    pub fn online(topic: Arc<str>, index: u32, log: PartitionLog) -> Partition {
        Partition {
            topic,
            index,
            log: Ok(log),
            stats: PartitionStats::default(),
        }
    }

    /// A partition whose log in `dir` could not be opened, for `reason`.
    pub fn offline(topic: Arc<str>, index: u32, dir: PathBuf, reason: String) -> Partition {
        Partition {
            topic,
            index,
            log: Err(Offline { dir, reason }),
            stats: PartitionStats::default(),
        }
    }

    /// The partition's log, or [`StorageError::Offline`].
    pub fn log(&self) -> Result<&PartitionLog, StorageError> {
        self.log.as_ref().map_err(|o| StorageError::Offline {
            dir: o.dir.clone(),
            reason: o.reason.clone(),
        })
    }

    /// Why the partition is offline, if it is.
    pub fn offline_reason(&self) -> Option<&str> {
        self.log.as_ref().err().map(|o| o.reason.as_str())
    }
}

/// A topic and its partitions.
#[derive(Debug)]
pub struct Topic {
    /// Topic name.
    pub name: Arc<str>,
    /// Partitions, indexed by partition number.
    pub partitions: Vec<Arc<Partition>>,
    /// Per-topic overrides as given by the user.
    pub overrides: BTreeMap<String, String>,
    /// The effective storage settings.
    pub log_config: LogConfig,
    /// How produced record timestamps are checked or stamped.
    pub timestamps: TimestampPolicy,
}

impl Topic {
    /// The partition with this index, if it exists.
    pub fn partition(&self, index: i32) -> Option<&Arc<Partition>> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.partitions.get(i))
    }

    /// Internal topics (`__consumer_offsets`) start with two underscores.
    pub fn is_internal(&self) -> bool {
        is_internal_name(&self.name)
    }
}

/// Why a topic's partitions are being opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Opening {
    /// Loading the catalogue: a partition that cannot be opened goes offline.
    Startup,
    /// Creating a topic: any failure fails the creation.
    Create,
}

/// All topics of the broker.
#[derive(Debug)]
pub struct TopicRegistry {
    data_dir: PathBuf,
    /// Replaced by [`TopicRegistry::set_defaults`] on a config reload.
    defaults: RwLock<TopicDefaults>,
    max_batch_bytes: usize,
    /// Most partitions across all topics; creation beyond it is refused.
    max_partitions: std::sync::atomic::AtomicUsize,
    topics: RwLock<HashMap<String, Arc<Topic>>>,
    admin: Mutex<()>,
}

impl TopicRegistry {
    /// Opens every topic in the catalogue (recovering their logs) and clears leftovers of
    /// interrupted deletions.
    pub fn open(
        data_dir: &Path,
        defaults: TopicDefaults,
        max_batch_bytes: usize,
    ) -> Result<TopicRegistry, TopicError> {
        fs::create_dir_all(data_dir).map_err(|source| TopicError::Io {
            path: data_dir.to_path_buf(),
            source,
        })?;
        remove_deleted_leftovers(data_dir);
        let registry = TopicRegistry {
            data_dir: data_dir.to_path_buf(),
            defaults: RwLock::new(defaults),
            max_batch_bytes,
            max_partitions: std::sync::atomic::AtomicUsize::new(usize::MAX),
            topics: RwLock::new(HashMap::new()),
            admin: Mutex::new(()),
        };
        let mut opened = HashMap::new();
        for meta in meta::load(data_dir)? {
            let topic = registry.open_topic(&meta, Opening::Startup)?;
            opened.insert(meta.name.clone(), Arc::new(topic));
        }
        *registry.write_topics() = opened;
        Ok(registry)
    }

    /// Sets the most partitions all topics together may have (topics already there
    /// stay; only creation is refused beyond it).
    pub fn set_max_partitions(&self, max: usize) {
        self.max_partitions
            .store(max, std::sync::atomic::Ordering::Relaxed);
    }

    /// The most partitions all topics together may have.
    pub fn max_partitions(&self) -> usize {
        self.max_partitions
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Broker-wide topic defaults, as of now.
    pub fn defaults(&self) -> TopicDefaults {
        self.defaults
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The topic with this name.
    pub fn get(&self, name: &str) -> Option<Arc<Topic>> {
        self.read_topics().get(name).cloned()
    }

    /// The partition `topic`/`partition`, or the error a client should see.
    pub fn partition(&self, topic: &str, partition: i32) -> Result<Arc<Partition>, TopicError> {
        let t = self
            .get(topic)
            .ok_or_else(|| TopicError::UnknownTopic(topic.to_string()))?;
        t.partition(partition)
            .cloned()
            .ok_or(TopicError::UnknownPartition {
                topic: topic.to_string(),
                partition,
            })
    }

    /// Every topic, sorted by name.
    pub fn list(&self) -> Vec<Arc<Topic>> {
        let mut topics: Vec<_> = self.read_topics().values().cloned().collect();
        topics.sort_by(|a, b| a.name.cmp(&b.name));
        topics
    }

    /// Creates a topic; `partitions` `None` uses the broker default. Blocking.
    pub fn create(
        &self,
        name: &str,
        partitions: Option<u32>,
        overrides: BTreeMap<String, String>,
    ) -> Result<Arc<Topic>, TopicError> {
        validate_name(name)?;
        let defaults = self.defaults();
        let partitions = partitions.unwrap_or(defaults.partitions);
        if partitions == 0 || partitions > crate::config::PARTITIONS_MAX {
            return Err(TopicError::InvalidPartitions(i64::from(partitions)));
        }
        config::log_config(&defaults, &overrides, self.max_batch_bytes)?;
        let _admin = self.lock_admin();
        if self.get(name).is_some() {
            return Err(TopicError::AlreadyExists(name.to_string()));
        }
        let existing: usize = self.list().iter().map(|t| t.partitions.len()).sum();
        let max = self
            .max_partitions
            .load(std::sync::atomic::Ordering::Relaxed);
        if existing.saturating_add(partitions as usize) > max {
            return Err(TopicError::TooManyPartitions {
                existing,
                asked: partitions,
                max,
            });
        }
        let meta = TopicMeta {
            name: name.to_string(),
            partitions,
            configs: overrides,
        };
        let topic = Arc::new(self.open_topic(&meta, Opening::Create)?);
        let mut all: Vec<TopicMeta> = self.list().iter().map(|t| topic_meta(t)).collect();
        all.push(meta);
        meta::store(&self.data_dir, &all)?;
        self.write_topics().insert(name.to_string(), topic.clone());
        info!(topic = name, partitions, "created topic");
        Ok(topic)
    }

    /// Returns the topic, creating it with defaults when it does not exist. Blocking.
    pub fn get_or_create(&self, name: &str) -> Result<Arc<Topic>, TopicError> {
        if let Some(t) = self.get(name) {
            return Ok(t);
        }
        match self.create(name, None, BTreeMap::new()) {
            Err(TopicError::AlreadyExists(_)) => self
                .get(name)
                .ok_or_else(|| TopicError::UnknownTopic(name.to_string())),
            other => other,
        }
    }

    /// Deletes a topic and its data. Blocking.
    pub fn delete(&self, name: &str) -> Result<(), TopicError> {
        let _admin = self.lock_admin();
        let topic = self
            .get(name)
            .ok_or_else(|| TopicError::UnknownTopic(name.to_string()))?;
        let doomed = self.tombstone_dirs(&topic)?;
        let remaining: Vec<TopicMeta> = self
            .list()
            .iter()
            .filter(|t| *t.name != *name)
            .map(|t| topic_meta(t))
            .collect();
        if let Err(e) = meta::store(&self.data_dir, &remaining) {
            // The catalogue still lists the topic: put its directories back and open it
            // again, or the next start would wipe the tombstones of a topic that stayed.
            self.undo_tombstones(&topic, &doomed);
            return Err(e);
        }
        self.write_topics().remove(name);
        for dir in doomed {
            if let Err(e) = fs::remove_dir_all(&dir) {
                warn!(path = %dir.display(), error = %e, "could not remove deleted partition directory; it is removed at next start");
            }
        }
        info!(topic = name, "deleted topic");
        Ok(())
    }

    /// Changes a topic's overrides (`Some` sets a key, `None` returns it to the broker
    /// default) and applies them to its live partitions. Blocking.
    pub fn alter(
        &self,
        name: &str,
        changes: Vec<(String, Option<String>)>,
    ) -> Result<Arc<Topic>, TopicError> {
        let _admin = self.lock_admin();
        let old = self
            .get(name)
            .ok_or_else(|| TopicError::UnknownTopic(name.to_string()))?;
        let mut overrides = old.overrides.clone();
        for (key, value) in changes {
            match value {
                Some(value) => overrides.insert(key, value),
                None => overrides.remove(&key),
            };
        }
        let log_config = config::log_config(&self.defaults(), &overrides, self.max_batch_bytes)?;
        for p in &old.partitions {
            if let Ok(log) = p.log() {
                log.set_config(log_config.clone())?;
            }
        }
        let timestamps = TimestampPolicy::from_overrides(&overrides)?;
        let topic = Arc::new(Topic {
            name: old.name.clone(),
            partitions: old.partitions.clone(),
            overrides,
            log_config,
            timestamps,
        });
        let all: Vec<TopicMeta> = self
            .list()
            .iter()
            .map(|t| {
                if *t.name == *name {
                    topic_meta(&topic)
                } else {
                    topic_meta(t)
                }
            })
            .collect();
        meta::store(&self.data_dir, &all)?;
        self.write_topics().insert(name.to_string(), topic.clone());
        info!(topic = name, "altered topic settings");
        Ok(topic)
    }

    /// Grows a topic to `total` partitions (Kafka's CreatePartitions; never shrinks).
    /// The new partitions' logs are opened before the catalogue names them, so a crash
    /// in between leaves only empty directories the catalogue ignores. Blocking.
    pub fn add_partitions(&self, name: &str, total: u32) -> Result<Arc<Topic>, TopicError> {
        let _admin = self.lock_admin();
        let old = self
            .get(name)
            .ok_or_else(|| TopicError::UnknownTopic(name.to_string()))?;
        let current = u32::try_from(old.partitions.len()).unwrap_or(u32::MAX);
        if total <= current || total > crate::config::PARTITIONS_MAX {
            return Err(TopicError::InvalidPartitions(i64::from(total)));
        }
        let existing: usize = self.list().iter().map(|t| t.partitions.len()).sum();
        let max = self
            .max_partitions
            .load(std::sync::atomic::Ordering::Relaxed);
        if existing.saturating_add((total - current) as usize) > max {
            return Err(TopicError::TooManyPartitions {
                existing,
                asked: total - current,
                max,
            });
        }
        let mut partitions = old.partitions.clone();
        for index in current..total {
            let log = PartitionLog::open(self.partition_dir(name, index), old.log_config.clone())?;
            partitions.push(Arc::new(Partition::online(old.name.clone(), index, log)));
        }
        let topic = Arc::new(Topic {
            name: old.name.clone(),
            partitions,
            overrides: old.overrides.clone(),
            log_config: old.log_config.clone(),
            timestamps: old.timestamps,
        });
        let all: Vec<TopicMeta> = self
            .list()
            .iter()
            .map(|t| topic_meta(if *t.name == *name { &topic } else { t }))
            .collect();
        meta::store(&self.data_dir, &all)?;
        self.write_topics().insert(name.to_string(), topic.clone());
        info!(topic = name, from = current, to = total, "added partitions");
        Ok(topic)
    }

    /// Flushes and checkpoints every partition (clean shutdown). Blocking.
    pub fn close(&self) -> Result<(), TopicError> {
        let mut first_error = None;
        for topic in self.list() {
            for p in &topic.partitions {
                let Ok(log) = p.log() else {
                    continue;
                };
                if let Err(e) = log.close() {
                    warn!(topic = %p.topic, partition = p.index, error = %e, "clean shutdown of partition failed");
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(()), |e| Err(e.into()))
    }

    fn open_topic(&self, meta: &TopicMeta, opening: Opening) -> Result<Topic, TopicError> {
        let log_config = config::log_config(&self.defaults(), &meta.configs, self.max_batch_bytes)?;
        let timestamps = TimestampPolicy::from_overrides(&meta.configs)?;
        let name: Arc<str> = Arc::from(meta.name.as_str());
        let mut partitions = Vec::with_capacity(meta.partitions as usize);
        for index in 0..meta.partitions {
            let dir = self.partition_dir(&meta.name, index);
            let partition = match PartitionLog::open(&dir, log_config.clone()) {
                Ok(log) => Partition::online(name.clone(), index, log),
                // A new topic that cannot be created is an error for whoever asked; the
                // broker cannot work without its own topics' data.
                Err(e) if opening == Opening::Create || is_internal_name(&meta.name) => {
                    return Err(e.into())
                }
                Err(e) => {
                    tracing::error!(
                        topic = %meta.name, partition = index, error = %e,
                        "partition is offline: its directory cannot be opened; the broker serves \
                         every other partition. Repair or move the directory and restart rilld"
                    );
                    Partition::offline(name.clone(), index, dir, e.to_string())
                }
            };
            partitions.push(Arc::new(partition));
        }
        Ok(Topic {
            name,
            partitions,
            overrides: meta.configs.clone(),
            log_config,
            timestamps,
        })
    }

    fn partition_dir(&self, topic: &str, index: u32) -> PathBuf {
        self.data_dir.join(format!("{topic}-{index}"))
    }

    /// Renames every partition directory to its `.deleted` tombstone and stops the logs'
    /// appends. All or nothing: if one rename fails, the ones done are undone and the
    /// topic is left as it was.
    fn tombstone_dirs(&self, topic: &Topic) -> Result<Vec<PathBuf>, TopicError> {
        let mut moved: Vec<(PathBuf, PathBuf)> = Vec::new();
        for p in &topic.partitions {
            let dir = self.partition_dir(&topic.name, p.index);
            let tomb = dir.with_file_name(format!("{}-{}{DELETED_SUFFIX}", topic.name, p.index));
            match fs::rename(&dir, &tomb) {
                Ok(()) => moved.push((dir, tomb)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    for (dir, tomb) in moved.iter().rev() {
                        if let Err(e) = fs::rename(tomb, dir) {
                            warn!(path = %tomb.display(), error = %e, "cannot undo the tombstone of a partition");
                        }
                    }
                    return Err(TopicError::Io { path: dir, source });
                }
            }
        }
        // Open files and maps survive the renames; appends stop here, and nothing is
        // written back (the data is going away).
        for p in &topic.partitions {
            if let Ok(log) = p.log() {
                log.close_for_delete();
            }
        }
        if let Err(e) = meta::sync_dir(&self.data_dir) {
            warn!(error = %e, "cannot sync the data directory after tombstoning a topic");
        }
        Ok(moved.into_iter().map(|(_, tomb)| tomb).collect())
    }

    /// Renames `tombs` back and reopens `topic` from its directories (its old logs were
    /// stopped), replacing it in the registry.
    fn undo_tombstones(&self, topic: &Topic, tombs: &[PathBuf]) {
        for p in &topic.partitions {
            let dir = self.partition_dir(&topic.name, p.index);
            let tomb = dir.with_file_name(format!("{}-{}{DELETED_SUFFIX}", topic.name, p.index));
            if tombs.contains(&tomb) {
                if let Err(e) = fs::rename(&tomb, &dir) {
                    warn!(path = %tomb.display(), error = %e, "cannot undo the tombstone of a partition");
                }
            }
        }
        match self.open_topic(&topic_meta(topic), Opening::Startup) {
            Ok(reopened) => {
                self.write_topics()
                    .insert(topic.name.to_string(), Arc::new(reopened));
            }
            Err(e) => {
                warn!(topic = %topic.name, error = %e, "cannot reopen a topic whose deletion failed")
            }
        }
    }

    fn read_topics(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Arc<Topic>>> {
        self.topics.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write_topics(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Arc<Topic>>> {
        self.topics.write().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_admin(&self) -> std::sync::MutexGuard<'_, ()> {
        self.admin.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn topic_meta(topic: &Topic) -> TopicMeta {
    TopicMeta {
        name: topic.name.to_string(),
        partitions: topic.partitions.len() as u32,
        configs: topic.overrides.clone(),
    }
}

/// True for names reserved to the broker's internal topics (`__consumer_offsets`...).
pub fn is_internal_name(name: &str) -> bool {
    name.starts_with("__")
}

/// Checks a name a *client* asks to create, delete or write: a legal name that is not
/// reserved for the broker's internal topics.
pub fn validate_client_name(name: &str) -> Result<(), TopicError> {
    validate_name(name)?;
    if is_internal_name(name) {
        return Err(TopicError::InvalidName {
            name: name.to_string(),
            reason: "names starting with `__` are reserved for internal topics",
        });
    }
    Ok(())
}

/// Checks a topic name against Kafka's rules: 1 to 249 characters of `[a-zA-Z0-9._-]`,
/// not `.` or `..`.
pub fn validate_name(name: &str) -> Result<(), TopicError> {
    let bad = |reason| TopicError::InvalidName {
        name: name.to_string(),
        reason,
    };
    if name.is_empty() {
        return Err(bad("the name is empty"));
    }
    if name.len() > TOPIC_NAME_MAX_CHARS {
        return Err(bad("longer than 249 characters"));
    }
    if name == "." || name == ".." {
        return Err(bad("`.` and `..` are not allowed"));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err(bad(
            "only ASCII letters, digits, '.', '_' and '-' are allowed",
        ));
    }
    Ok(())
}

fn remove_deleted_leftovers(data_dir: &Path) {
    let Ok(entries) = fs::read_dir(data_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.to_string_lossy().ends_with(DELETED_SUFFIX) {
            match fs::remove_dir_all(&path) {
                Ok(()) => info!(path = %path.display(), "removed data of a deleted topic"),
                Err(e) => {
                    warn!(path = %path.display(), error = %e, "could not remove data of a deleted topic")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
