//! Moving replicated partitions between brokers: `rill topic reassign` (one partition,
//! to the replicas given), `rill cluster rebalance` (spread every replicated partition
//! evenly over the live brokers, e.g. after adding one) and `rill cluster drain` (move
//! everything off a broker before removing it). The plans are computed here from the
//! cluster's metadata and shown first; `--execute` records them with the controller
//! (AlterPartitionReassignments) and `--wait` follows the moves until each partition's
//! replicas are the target.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use rill_client::{Admin, PartitionMove};
use serde::Serialize;

use super::output::{print_json, print_stdout, OutputFormat, Style, Table};

/// How often `--wait` looks at the partitions.
const WAIT_POLL: Duration = Duration::from_millis(500);

/// One partition as the planner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
    /// Its replicas now, preferred leader first.
    pub replicas: Vec<i32>,
}

/// One planned move.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Move {
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
    /// Replicas now.
    pub from: Vec<i32>,
    /// Replicas after the move.
    pub to: Vec<i32>,
}

/// Replicas per broker over `placements` (live brokers with none count 0).
fn load(placements: &[Placement], live: &[i32]) -> BTreeMap<i32, usize> {
    let mut load: BTreeMap<i32, usize> = live.iter().map(|b| (*b, 0)).collect();
    for p in placements {
        for r in &p.replicas {
            *load.entry(*r).or_default() += 1;
        }
    }
    load
}

/// The live broker outside `exclude` with the fewest replicas (lowest id on ties).
fn least_loaded(load: &BTreeMap<i32, usize>, live: &[i32], exclude: &[i32]) -> Option<i32> {
    live.iter()
        .copied()
        .filter(|b| !exclude.contains(b))
        .min_by_key(|b| (load.get(b).copied().unwrap_or(0), *b))
}

/// Moves every replica on `node` to the least-loaded live broker the partition is not
/// on yet. Partitions with one replica cannot move (no Raft group carries their data):
/// they are returned as the second value.
pub fn plan_drain(
    placements: &[Placement],
    live: &[i32],
    node: i32,
) -> (Vec<Move>, Vec<Placement>) {
    let live: Vec<i32> = live.iter().copied().filter(|b| *b != node).collect();
    let mut load = load(placements, &live);
    let mut moves = Vec::new();
    let mut stuck = Vec::new();
    for p in placements.iter().filter(|p| p.replicas.contains(&node)) {
        if p.replicas.len() < 2 {
            stuck.push(p.clone());
            continue;
        }
        let Some(to) = least_loaded(&load, &live, &p.replicas) else {
            stuck.push(p.clone());
            continue;
        };
        let target: Vec<i32> = p
            .replicas
            .iter()
            .map(|r| if *r == node { to } else { *r })
            .collect();
        *load.entry(to).or_default() += 1;
        moves.push(Move {
            topic: p.topic.clone(),
            partition: p.partition,
            from: p.replicas.clone(),
            to: target,
        });
    }
    (moves, stuck)
}

/// Evens out the replicas of replicated partitions over `live` brokers: a replica on
/// a broker that is not live, or on one holding at least two more replicas than the
/// least-loaded broker the partition is not on, moves there. Each replica keeps its
/// position (the preferred leader stays first). Deterministic.
pub fn plan_rebalance(placements: &[Placement], live: &[i32]) -> Vec<Move> {
    let mut load = load(placements, live);
    let mut targets: Vec<Vec<i32>> = placements.iter().map(|p| p.replicas.clone()).collect();
    // Each pass moves at least one replica or stops; a replica count bounds the passes.
    let total: usize = placements.iter().map(|p| p.replicas.len()).sum();
    for _ in 0..=total {
        let mut moved = false;
        for (p, target) in placements.iter().zip(targets.iter_mut()) {
            if p.replicas.len() < 2 {
                continue;
            }
            for at in 0..target.len() {
                let from = target[at];
                let Some(to) = least_loaded(&load, live, target) else {
                    continue;
                };
                let from_load = load.get(&from).copied().unwrap_or(0);
                let to_load = load.get(&to).copied().unwrap_or(0);
                if !live.contains(&from) || from_load >= to_load + 2 {
                    target[at] = to;
                    *load.entry(to).or_default() += 1;
                    if let Some(l) = load.get_mut(&from) {
                        *l = l.saturating_sub(1);
                    }
                    moved = true;
                }
            }
        }
        if !moved {
            break;
        }
    }
    placements
        .iter()
        .zip(targets)
        .filter(|(p, t)| p.replicas != *t)
        .map(|(p, t)| Move {
            topic: p.topic.clone(),
            partition: p.partition,
            from: p.replicas.clone(),
            to: t,
        })
        .collect()
}

/// Every partition of every topic, and the live brokers, as the cluster knows them.
pub async fn placements(admin: &Admin) -> anyhow::Result<(Vec<Placement>, Vec<i32>)> {
    let cluster = admin
        .describe_cluster()
        .await
        .context("cannot describe the cluster")?;
    let live: Vec<i32> = cluster
        .brokers
        .iter()
        .filter(|b| b.alive)
        .map(|b| b.node_id)
        .collect();
    let mut placements = Vec::new();
    for topic in admin.list_topics().await.context("cannot list topics")? {
        let described = admin
            .describe_topic(&topic.name)
            .await
            .with_context(|| format!("cannot describe topic `{}`", topic.name))?;
        for p in described.partitions {
            placements.push(Placement {
                topic: topic.name.clone(),
                partition: p.partition,
                replicas: p.replicas,
            });
        }
    }
    Ok((placements, live))
}

/// Prints `moves` (text table or JSON), records them with `--execute`, follows them
/// with `--wait`.
pub async fn carry_out(
    admin: &Admin,
    moves: &[Move],
    execute: bool,
    wait: Option<Duration>,
    output: OutputFormat,
) -> anyhow::Result<()> {
    #[derive(Serialize)]
    struct Plan<'a> {
        executed: bool,
        moves: &'a [Move],
    }
    match output {
        OutputFormat::Json => print_json(&Plan {
            executed: execute,
            moves,
        })?,
        OutputFormat::Text => {
            let mut table = Table::new(["TOPIC", "PARTITION", "REPLICAS", "TARGET"]);
            for m in moves {
                table.row([
                    m.topic.clone(),
                    m.partition.to_string(),
                    join(&m.from),
                    join(&m.to),
                ]);
            }
            let mut text = match moves.len() {
                0 => "nothing to move\n".to_owned(),
                n => format!(
                    "{n} partition(s) to move\n\n{}",
                    table.render(Style::stdout())
                ),
            };
            if !execute && !moves.is_empty() {
                text.push_str("\nthis is the plan only: run again with --execute to move them\n");
            }
            print_stdout(&text)?;
        }
    }
    if !execute || moves.is_empty() {
        return Ok(());
    }
    let requests: Vec<PartitionMove> = moves
        .iter()
        .map(|m| PartitionMove {
            topic: m.topic.clone(),
            partition: m.partition,
            replicas: Some(m.to.clone()),
        })
        .collect();
    admin
        .reassign_partitions(&requests)
        .await
        .context("the controller refused the move")?;
    eprintln!("recorded {} move(s) with the controller", moves.len());
    if let Some(timeout) = wait {
        wait_for(admin, moves, timeout).await?;
    }
    Ok(())
}

/// Waits until every move's partition has its target replicas, printing progress.
async fn wait_for(admin: &Admin, moves: &[Move], timeout: Duration) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut last_done = usize::MAX;
    loop {
        let mut done = 0;
        let mut described = BTreeMap::new();
        for m in moves {
            if !described.contains_key(&m.topic) {
                if let Ok(d) = admin.describe_topic(&m.topic).await {
                    described.insert(m.topic.clone(), d);
                }
            }
            let now = described
                .get(&m.topic)
                .and_then(|d| d.partitions.iter().find(|p| p.partition == m.partition));
            if now.is_some_and(|p| p.replicas == m.to) {
                done += 1;
            }
        }
        if done != last_done {
            eprintln!("moved {done}/{} partition(s)", moves.len());
            last_done = done;
        }
        if done == moves.len() {
            return Ok(());
        }
        if started.elapsed() > timeout {
            bail!(
                "{done} of {} partition(s) moved within {timeout:?}; the rest keep moving in the background (check with `rill topic describe`)",
                moves.len()
            );
        }
        tokio::time::sleep(WAIT_POLL).await;
    }
}

fn join(ids: &[i32]) -> String {
    ids.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(topic: &str, partition: i32, replicas: &[i32]) -> Placement {
        Placement {
            topic: topic.into(),
            partition,
            replicas: replicas.to_vec(),
        }
    }

    #[test]
    fn a_new_broker_takes_its_share_and_leaders_stay_first() {
        let placements: Vec<Placement> = (0..6)
            .map(|i| p("t", i, &[1 + i % 3, 1 + (i + 1) % 3, 1 + (i + 2) % 3]))
            .collect();
        let moves = plan_rebalance(&placements, &[1, 2, 3, 4]);
        let mut after: Vec<Placement> = placements.clone();
        for m in &moves {
            after[m.partition as usize].replicas = m.to.clone();
            assert_eq!(m.to.len(), 3);
            let mut distinct = m.to.clone();
            distinct.sort_unstable();
            distinct.dedup();
            assert_eq!(distinct.len(), 3, "{m:?}");
        }
        let load = load(&after, &[1, 2, 3, 4]);
        let (min, max) = (load.values().min().unwrap(), load.values().max().unwrap());
        assert!(max - min <= 1, "{load:?}");
        assert!(load[&4] >= 4, "broker 4 got its share: {load:?}");
        // A balanced cluster has nothing to move.
        assert!(plan_rebalance(&after, &[1, 2, 3, 4]).is_empty());
        // One-replica partitions never move.
        assert!(plan_rebalance(&[p("u", 0, &[1]), p("u", 1, &[1])], &[1, 2]).is_empty());
    }

    #[test]
    fn draining_moves_every_replica_off_the_broker() {
        let placements = vec![
            p("t", 0, &[1, 2, 3]),
            p("t", 1, &[2, 3, 4]),
            p("u", 0, &[3]),
        ];
        let (moves, stuck) = plan_drain(&placements, &[1, 2, 3, 4], 3);
        assert_eq!(stuck, vec![p("u", 0, &[3])]);
        assert_eq!(moves.len(), 2);
        for m in &moves {
            assert!(!m.to.contains(&3), "{m:?}");
            assert_eq!(m.to.len(), 3);
        }
        assert_eq!(moves[0].to, vec![1, 2, 4]);
        // Nowhere to go: three replicas, three brokers.
        let (moves, stuck) = plan_drain(&placements[..1], &[1, 2, 3], 3);
        assert!(moves.is_empty() && stuck.len() == 1);
    }
}
