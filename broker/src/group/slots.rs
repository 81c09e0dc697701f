//! Every group's membership, each behind its own lock: one group's rebalance or offset
//! write never delays another group's joins and heartbeats.
//!
//! The map lock is held only to look a group up, add it or remove it, never while a
//! group lock is awaited (removal only *tries* a group's lock), so the order is always
//! map, then group, then the offset store. A group removed from the map is marked
//! `removed` under its own lock, so a caller that looked it up just before sees the mark
//! and looks again instead of changing a group nobody can reach.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use super::state::Group;
use super::GroupError;

/// One group's lock.
pub type GroupSlot = Arc<Mutex<Group>>;

/// The groups with members, by id.
#[derive(Debug, Default)]
pub struct GroupSlots {
    map: RwLock<BTreeMap<String, GroupSlot>>,
}

/// Locks one group (a poisoned lock still guards consistent data: every change to a
/// group is made by methods that do not panic half-way).
pub fn lock(slot: &GroupSlot) -> MutexGuard<'_, Group> {
    slot.lock().unwrap_or_else(|e| e.into_inner())
}

impl GroupSlots {
    /// The group's lock, if the group has members.
    pub fn get(&self, group_id: &str) -> Option<GroupSlot> {
        self.read().get(group_id).cloned()
    }

    /// The group's lock, adding an empty group when there is none and fewer than
    /// `groups_max` exist.
    pub fn get_or_insert(
        &self,
        group_id: &str,
        groups_max: usize,
    ) -> Result<GroupSlot, GroupError> {
        if let Some(slot) = self.get(group_id) {
            return Ok(slot);
        }
        let mut map = self.write();
        if let Some(slot) = map.get(group_id) {
            return Ok(slot.clone());
        }
        if map.len() >= groups_max {
            return Err(GroupError::TooManyGroups { max: groups_max });
        }
        let slot = Arc::new(Mutex::new(Group::new(group_id)));
        map.insert(group_id.to_string(), slot.clone());
        Ok(slot)
    }

    /// Removes the group if it has no members and nobody holds its lock; returns whether
    /// it was removed. A busy group is left for the next housekeeping round.
    pub fn remove_if_empty(&self, group_id: &str) -> bool {
        let mut map = self.write();
        let Some(slot) = map.get(group_id).cloned() else {
            return false;
        };
        let Ok(mut group) = slot.try_lock() else {
            return false;
        };
        if !group.members.is_empty() {
            return false;
        }
        group.removed = true;
        drop(group);
        map.remove(group_id);
        true
    }

    /// Every group's id and lock, sorted by id (the map lock is released on return).
    pub fn snapshot(&self) -> Vec<(String, GroupSlot)> {
        self.read()
            .iter()
            .map(|(id, slot)| (id.clone(), slot.clone()))
            .collect()
    }

    /// Whether the group is in the map (it has, or is about to have, members).
    pub fn contains(&self, group_id: &str) -> bool {
        self.read().contains_key(group_id)
    }

    /// Number of groups.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// True when there is no group.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, GroupSlot>> {
        self.map.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, GroupSlot>> {
        self.map.write().unwrap_or_else(|e| e.into_inner())
    }
}
