//! Which incarnation of each topic this broker's local copy belongs to: the topic id of
//! the image the copy was made from, kept in `<data_dir>/cluster-topic-ids`. A topic
//! deleted and created again under the same name while this broker was away has a new
//! id in the image; the reconcile task then drops the old local data instead of serving
//! it as the new topic's.
//!
//! Checksummed text, one `name id` line per topic (id as 32 hex digits), replaced
//! atomically and durably. Blocking.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::durable_file;

/// File name under the data directory.
pub const FILE_NAME: &str = "cluster-topic-ids";
/// First line's prefix (followed by the body's CRC-32).
const HEADER_PREFIX: &str = "rill-cluster-topic-ids v1 crc32=";

/// The ids of the local topic copies.
#[derive(Debug)]
pub struct LocalTopicIds {
    path: PathBuf,
    ids: BTreeMap<String, u128>,
    changed: bool,
}

impl LocalTopicIds {
    /// Reads the file under `data_dir` (none yet: no ids). Blocking.
    pub fn load(data_dir: &Path) -> Result<LocalTopicIds, String> {
        let path = data_dir.join(FILE_NAME);
        let ids = match std::fs::read_to_string(&path) {
            Ok(text) => parse(&text).map_err(|e| format!("{} is damaged: {e}", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        Ok(LocalTopicIds {
            path,
            ids,
            changed: false,
        })
    }

    /// The id the local copy of `name` was made for, if recorded.
    pub fn get(&self, name: &str) -> Option<u128> {
        self.ids.get(name).copied()
    }

    /// Records that the local copy of `name` belongs to topic id `id`.
    pub fn set(&mut self, name: &str, id: u128) {
        if self.ids.insert(name.to_string(), id) != Some(id) {
            self.changed = true;
        }
    }

    /// Forgets `name` (its local copy is gone).
    pub fn remove(&mut self, name: &str) {
        if self.ids.remove(name).is_some() {
            self.changed = true;
        }
    }

    /// Writes the file if anything changed since the last save. Blocking.
    pub fn save(&mut self) -> Result<(), String> {
        if !self.changed {
            return Ok(());
        }
        let body: String = self
            .ids
            .iter()
            .map(|(name, id)| format!("{name} {id:032x}\n"))
            .collect();
        let text = durable_file::with_checksum(HEADER_PREFIX, &body);
        durable_file::replace(&self.path, text.as_bytes(), durable_file::Access::Default)
            .map_err(|e| e.to_string())?;
        self.changed = false;
        Ok(())
    }
}

fn parse(text: &str) -> Result<BTreeMap<String, u128>, String> {
    let body = durable_file::checked_body(HEADER_PREFIX, text)?;
    body.lines()
        .filter(|l| !l.is_empty())
        .map(|line| {
            let (name, id) = line
                .split_once(' ')
                .ok_or_else(|| format!("line `{line}` is not `name id`"))?;
            let id = u128::from_str_radix(id, 16).map_err(|_| format!("bad id in `{line}`"))?;
            Ok((name.to_string(), id))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_survive_a_reload_and_damage_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let mut ids = LocalTopicIds::load(dir.path()).unwrap();
        assert_eq!(ids.get("t"), None);
        ids.set("t", 0xabc);
        ids.set("u", u128::MAX);
        ids.save().unwrap();
        ids.remove("u");
        ids.save().unwrap();
        let again = LocalTopicIds::load(dir.path()).unwrap();
        assert_eq!((again.get("t"), again.get("u")), (Some(0xabc), None));
        let path = dir.path().join(FILE_NAME);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replace("abc", "abd")).unwrap();
        assert!(LocalTopicIds::load(dir.path()).is_err());
    }
}
