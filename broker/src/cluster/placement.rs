//! Where a new topic's replicas go: spread evenly over the live brokers, each
//! partition's replicas on different racks when racks are labelled, leaders rotating
//! so no broker leads more than its share (Kafka's rack-aware assignment, in spirit).

use super::NodeId;

/// Why a placement is impossible.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlacementError {
    /// Fewer live brokers than copies asked for.
    #[error(
        "replication factor {wanted} is larger than the {live} live broker(s) \
         (use at most {live}, or start more brokers)"
    )]
    NotEnoughBrokers {
        /// Copies asked for.
        wanted: usize,
        /// Live brokers.
        live: usize,
    },
    /// Zero partitions or a zero replication factor.
    #[error("a topic needs at least one partition and one replica")]
    Empty,
}

/// Replica lists for `partitions` partitions with `replication_factor` copies each,
/// over `brokers` (node id, rack). `start` rotates the first leader (e.g. the number of
/// topics already placed), so successive topics do not all start on the same broker.
///
/// Brokers are ordered so that racks alternate; partition `p`'s replicas are the
/// `replication_factor` brokers from position `start + p` on, which puts them on as
/// many different racks as there are (when racks hold equal numbers of brokers), and
/// gives every broker the same number of leaders and replicas, give or take one.
pub fn assign(
    partitions: usize,
    replication_factor: usize,
    brokers: &[(NodeId, Option<&str>)],
    start: usize,
) -> Result<Vec<Vec<NodeId>>, PlacementError> {
    if partitions == 0 || replication_factor == 0 {
        return Err(PlacementError::Empty);
    }
    if replication_factor > brokers.len() {
        return Err(PlacementError::NotEnoughBrokers {
            wanted: replication_factor,
            live: brokers.len(),
        });
    }
    let ring = rack_alternating(brokers);
    let n = ring.len();
    let racked = brokers.iter().any(|(_, rack)| rack.is_some());
    Ok((0..partitions)
        .map(|p| {
            // Without racks, every full turn of the ring shifts followers by one more
            // step, so the same leader does not always pair with the same followers;
            // with racks, consecutive brokers of the ring are on different racks.
            let shift = if racked {
                1
            } else {
                1 + (p / n) % (n - 1).max(1)
            };
            let first = (start + p) % n;
            let mut replicas = Vec::with_capacity(replication_factor);
            let mut at = first;
            while replicas.len() < replication_factor {
                if !replicas.contains(&ring[at]) {
                    replicas.push(ring[at]);
                    at = (at + shift) % n;
                } else {
                    at = (at + 1) % n;
                }
            }
            replicas
        })
        .collect())
}

/// Brokers ordered rack by rack in turn (`a1 b1 c1 a2 b2 c2 ...`); brokers without a
/// rack form one group of their own. Ids sorted within a rack, racks by name.
fn rack_alternating(brokers: &[(NodeId, Option<&str>)]) -> Vec<NodeId> {
    let mut racks: std::collections::BTreeMap<Option<&str>, Vec<NodeId>> = Default::default();
    for (id, rack) in brokers {
        racks.entry(*rack).or_default().push(*id);
    }
    if racks.len() == 1 {
        let mut ids: Vec<NodeId> = brokers.iter().map(|(id, _)| *id).collect();
        ids.sort_unstable();
        return ids;
    }
    racks.values_mut().for_each(|ids| ids.sort_unstable());
    let longest = racks.values().map(Vec::len).max().unwrap_or(0);
    (0..longest)
        .flat_map(|i| racks.values().filter_map(move |ids| ids.get(i).copied()))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;

    fn counts(assignments: &[Vec<NodeId>]) -> (BTreeMap<NodeId, usize>, BTreeMap<NodeId, usize>) {
        let mut leaders = BTreeMap::new();
        let mut replicas = BTreeMap::new();
        for r in assignments {
            *leaders.entry(r[0]).or_default() += 1;
            for id in r {
                *replicas.entry(*id).or_default() += 1;
            }
        }
        (leaders, replicas)
    }

    #[test]
    fn spreads_leaders_and_replicas_evenly() {
        let brokers = [(1, None), (2, None), (3, None)];
        let a = assign(12, 3, &brokers, 0).unwrap();
        let (leaders, replicas) = counts(&a);
        assert!(leaders.values().all(|n| *n == 4), "{leaders:?}");
        assert!(replicas.values().all(|n| *n == 12), "{replicas:?}");
        for r in &a {
            assert_eq!(r.iter().collect::<BTreeSet<_>>().len(), 3);
        }
    }

    #[test]
    fn replicas_land_on_different_racks() {
        let brokers = [
            (1, Some("a")),
            (2, Some("a")),
            (3, Some("b")),
            (4, Some("b")),
            (5, Some("c")),
            (6, Some("c")),
        ];
        let rack = |id: NodeId| brokers.iter().find(|b| b.0 == id).unwrap().1;
        let a = assign(30, 3, &brokers, 4).unwrap();
        for r in &a {
            let racks: BTreeSet<_> = r.iter().map(|id| rack(*id)).collect();
            assert_eq!(racks.len(), 3, "{r:?}");
        }
        let (leaders, _) = counts(&a);
        assert!(leaders.values().all(|n| *n == 5), "{leaders:?}");
    }

    #[test]
    fn refuses_more_copies_than_brokers() {
        let brokers = [(1, None), (2, None)];
        assert_eq!(
            assign(1, 3, &brokers, 0),
            Err(PlacementError::NotEnoughBrokers { wanted: 3, live: 2 })
        );
        assert_eq!(assign(0, 1, &brokers, 0), Err(PlacementError::Empty));
        assert_eq!(
            assign(4, 1, &brokers, 1).unwrap(),
            vec![vec![2], vec![1], vec![2], vec![1]]
        );
    }
}
