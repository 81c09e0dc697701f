//! The coordinator as the source of the group lag metrics ([`GroupOffsetsSource`]): a
//! copy of every committed offset, taken under the offsets lock at scrape time.

use super::coordinator::GroupCoordinator;
use crate::metrics::{GroupOffset, GroupOffsetsSource};

impl GroupOffsetsSource for GroupCoordinator {
    fn committed_offsets(&self) -> Vec<GroupOffset> {
        let store = self.lock_offsets();
        let mut out = Vec::new();
        for group in store.group_ids() {
            for (tp, committed) in store.group(group).into_iter().flatten() {
                out.push(GroupOffset {
                    group: group.clone(),
                    topic: tp.topic.clone(),
                    partition: tp.partition,
                    committed_offset: committed.offset,
                });
            }
        }
        out
    }
}
