//! How `rill topic` shows topics: the JSON shapes of `list` and `describe` and their
//! text tables.

use std::collections::BTreeMap;

use rill_client::TopicDescription;
use serde::Serialize;

use super::output::{Style, Table};

/// A topic in `rill topic list --output json`.
#[derive(Debug, Serialize)]
pub struct ListedTopic {
    pub name: String,
    pub partitions: i32,
    pub internal: bool,
}

pub fn render_list(topics: &[ListedTopic], style: Style) -> String {
    if topics.is_empty() {
        return "no topics (create one with `rill topic create NAME`)\n".to_owned();
    }
    let mut table = Table::new(["NAME", "PARTITIONS"]);
    for t in topics {
        let name = if t.internal {
            format!("{} (internal)", t.name)
        } else {
            t.name.clone()
        };
        table.row([name, t.partitions.to_string()]);
    }
    table.render(style)
}

/// `rill topic describe --output json`.
#[derive(Debug, Serialize)]
pub struct DescribedTopic {
    pub name: String,
    pub internal: bool,
    pub partitions: Vec<DescribedPartition>,
    pub config: BTreeMap<String, Option<String>>,
}

/// One partition of [`DescribedTopic`].
#[derive(Debug, Serialize)]
pub struct DescribedPartition {
    pub partition: i32,
    /// Node id of the leader, -1 if none.
    pub leader: i32,
    /// Grows each time the partition's leadership moves.
    pub leader_epoch: i32,
    /// Node ids holding a copy, the preferred leader first.
    pub replicas: Vec<i32>,
    /// Node ids of the replicas in sync with the leader.
    pub isr: Vec<i32>,
    pub earliest_offset: i64,
    pub latest_offset: i64,
    /// `latest_offset - earliest_offset`: the records kept (fewer after compaction).
    pub records: i64,
    /// `null`, or why the partition cannot be used now (e.g. `LEADER_NOT_AVAILABLE`: its
    /// storage is offline on the broker).
    pub error: Option<&'static str>,
}

impl From<TopicDescription> for DescribedTopic {
    fn from(d: TopicDescription) -> Self {
        Self {
            name: d.name,
            internal: d.is_internal,
            partitions: d
                .partitions
                .into_iter()
                .map(|p| DescribedPartition {
                    partition: p.partition,
                    leader: p.leader,
                    leader_epoch: p.leader_epoch,
                    replicas: p.replicas,
                    isr: p.isr,
                    earliest_offset: p.earliest_offset,
                    latest_offset: p.latest_offset,
                    records: (p.latest_offset - p.earliest_offset).max(0),
                    error: p.error.map(|code| code.name()),
                })
                .collect(),
            config: d.configs,
        }
    }
}

/// Node ids as `1,2,3` (`-` for none).
fn node_list(nodes: &[i32]) -> String {
    match nodes.is_empty() {
        true => "-".to_owned(),
        false => nodes
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(","),
    }
}

pub fn render_describe(topic: &DescribedTopic, style: Style) -> String {
    let total: i64 = topic.partitions.iter().map(|p| p.records).sum();
    let mut out = format!(
        "{} {}{}  partitions: {}  records: {total}\n\n",
        style.bold("topic:"),
        topic.name,
        if topic.internal { " (internal)" } else { "" },
        topic.partitions.len(),
    );
    let mut partitions = Table::new([
        "PARTITION",
        "LEADER",
        "EPOCH",
        "REPLICAS",
        "ISR",
        "EARLIEST",
        "LATEST",
        "RECORDS",
        "STATUS",
    ]);
    for p in &topic.partitions {
        partitions.row([
            p.partition.to_string(),
            p.leader.to_string(),
            p.leader_epoch.to_string(),
            node_list(&p.replicas),
            node_list(&p.isr),
            p.earliest_offset.to_string(),
            p.latest_offset.to_string(),
            p.records.to_string(),
            p.error
                .map_or_else(|| "ok".to_owned(), |e| format!("offline ({e})")),
        ]);
    }
    out.push_str(&partitions.render(style));
    if !topic.config.is_empty() {
        let mut config = Table::new(["CONFIG", "VALUE"]);
        for (key, value) in &topic.config {
            config.row([
                key.clone(),
                value.clone().unwrap_or_else(|| "(default)".to_owned()),
            ]);
        }
        out.push('\n');
        out.push_str(&config.render(style));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn described() -> DescribedTopic {
        DescribedTopic {
            name: "orders".into(),
            internal: false,
            partitions: vec![DescribedPartition {
                partition: 0,
                leader: 0,
                leader_epoch: 3,
                replicas: vec![0, 2],
                isr: vec![0],
                earliest_offset: 2,
                latest_offset: 12,
                records: 10,
                error: None,
            }],
            config: BTreeMap::from([("retention.ms".to_owned(), Some("1000".to_owned()))]),
        }
    }

    #[test]
    fn describe_text() {
        let text = render_describe(&described(), Style::new(false));
        assert!(
            text.starts_with("topic: orders  partitions: 1  records: 10\n"),
            "{text}"
        );
        let rows: Vec<Vec<&str>> = text
            .lines()
            .skip(2)
            .take(2)
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(
            rows,
            [
                vec![
                    "PARTITION",
                    "LEADER",
                    "EPOCH",
                    "REPLICAS",
                    "ISR",
                    "EARLIEST",
                    "LATEST",
                    "RECORDS",
                    "STATUS"
                ],
                vec!["0", "0", "3", "0,2", "0", "2", "12", "10", "ok"],
            ],
            "{text}"
        );
        assert!(text.contains("retention.ms  1000"), "{text}");
    }

    #[test]
    fn offline_partition_is_shown_as_such() {
        let mut topic = described();
        topic.partitions.push(DescribedPartition {
            partition: 1,
            leader: -1,
            leader_epoch: 0,
            replicas: vec![1],
            isr: Vec::new(),
            earliest_offset: -1,
            latest_offset: -1,
            records: 0,
            error: Some("LEADER_NOT_AVAILABLE"),
        });
        let text = render_describe(&topic, Style::new(false));
        let last = text.lines().nth(4).unwrap_or_default();
        assert_eq!(
            last.split_whitespace().collect::<Vec<_>>(),
            [
                "1",
                "-1",
                "0",
                "1",
                "-",
                "-1",
                "-1",
                "0",
                "offline",
                "(LEADER_NOT_AVAILABLE)"
            ],
            "{text}"
        );
        let v = serde_json::to_value(&topic).unwrap();
        assert_eq!(v["partitions"][1]["error"], "LEADER_NOT_AVAILABLE");
        assert_eq!(v["partitions"][0]["error"], serde_json::Value::Null);
    }

    #[test]
    fn describe_json_shape() {
        let v = serde_json::to_value(described()).unwrap();
        assert_eq!(v["partitions"][0]["latest_offset"], 12);
        assert_eq!(v["config"]["retention.ms"], "1000");
    }

    #[test]
    fn list_text() {
        let topics = vec![ListedTopic {
            name: "a".into(),
            partitions: 3,
            internal: false,
        }];
        assert_eq!(
            render_list(&topics, Style::new(false)),
            "NAME  PARTITIONS\na     3\n"
        );
        assert!(render_list(&[], Style::new(false)).contains("rill topic create"));
    }
}
