//! How `rill group` shows groups: the JSON shapes of `list`, `describe` and
//! `reset-offsets`, and their text tables.

use rill_client::{GroupDescription, GroupListing, ResetOffset};
use serde::Serialize;

use crate::output::{Style, Table};

/// A group in `rill group list --output json`.
#[derive(Debug, Serialize)]
pub struct ListedGroup {
    pub group: String,
    pub state: String,
}

impl From<GroupListing> for ListedGroup {
    fn from(g: GroupListing) -> Self {
        Self {
            group: g.group_id,
            state: g.state,
        }
    }
}

pub fn render_list(groups: &[ListedGroup], style: Style) -> String {
    if groups.is_empty() {
        return "no groups (consumers create one with `rill tail TOPIC --group ID`)\n".to_owned();
    }
    let mut table = Table::new(["GROUP", "STATE"]);
    for g in groups {
        table.row([g.group.clone(), g.state.clone()]);
    }
    table.render(style)
}

/// `rill group describe --output json`.
#[derive(Debug, Serialize)]
pub struct DescribedGroup {
    pub group: String,
    pub state: String,
    pub assignor: String,
    pub epoch: i32,
    pub members: Vec<DescribedMember>,
    pub partitions: Vec<DescribedPartition>,
    /// The sum of the partitions' known lags.
    pub total_lag: i64,
}

/// One member of [`DescribedGroup`].
#[derive(Debug, Serialize)]
pub struct DescribedMember {
    pub member_id: String,
    pub client_id: Option<String>,
    pub host: String,
    /// `topic-partition` names, sorted.
    pub assignment: Vec<String>,
}

/// One partition of [`DescribedGroup`]; `None` prints as `-` in text, `null` in JSON.
#[derive(Debug, Serialize)]
pub struct DescribedPartition {
    pub topic: String,
    pub partition: i32,
    pub member_id: Option<String>,
    pub committed_offset: Option<i64>,
    pub end_offset: Option<i64>,
    pub lag: Option<i64>,
}

impl From<GroupDescription> for DescribedGroup {
    fn from(d: GroupDescription) -> Self {
        let total_lag = d.total_lag();
        Self {
            group: d.group_id,
            state: d.state,
            assignor: d.assignor,
            epoch: d.epoch,
            members: d
                .members
                .into_iter()
                .map(|m| DescribedMember {
                    member_id: m.member_id,
                    client_id: m.client_id,
                    host: m.client_host,
                    assignment: m.assignment.iter().map(ToString::to_string).collect(),
                })
                .collect(),
            partitions: d
                .offsets
                .into_iter()
                .map(|o| DescribedPartition {
                    topic: o.topic,
                    partition: o.partition,
                    member_id: o.member_id,
                    committed_offset: o.committed_offset,
                    end_offset: o.end_offset,
                    lag: o.lag,
                })
                .collect(),
            total_lag,
        }
    }
}

fn or_dash<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

pub fn render_describe(group: &DescribedGroup, style: Style) -> String {
    let mut out = format!(
        "{} {}  state: {}  assignor: {}  epoch: {}  members: {}  total lag: {}\n",
        style.bold("group:"),
        group.group,
        group.state,
        group.assignor,
        group.epoch,
        group.members.len(),
        group.total_lag,
    );
    if !group.members.is_empty() {
        out.push('\n');
        let mut members = Table::new(["MEMBER", "CLIENT", "HOST", "PARTITIONS"]);
        for m in &group.members {
            members.row([
                m.member_id.clone(),
                or_dash(m.client_id.clone()),
                m.host.clone(),
                m.assignment.join(","),
            ]);
        }
        out.push_str(&members.render(style));
    }
    out.push('\n');
    if group.partitions.is_empty() {
        out.push_str("no committed offsets yet\n");
        return out;
    }
    let mut table = Table::new(["TOPIC", "PARTITION", "COMMITTED", "END", "LAG", "MEMBER"]);
    for p in &group.partitions {
        table.row([
            p.topic.clone(),
            p.partition.to_string(),
            or_dash(p.committed_offset),
            or_dash(p.end_offset),
            or_dash(p.lag),
            or_dash(p.member_id.clone()),
        ]);
    }
    out.push_str(&table.render(style));
    out
}

/// One partition in `rill group reset-offsets` output.
#[derive(Debug, Serialize)]
pub struct ResetRow {
    pub topic: String,
    pub partition: i32,
    pub new_offset: i64,
}

impl From<ResetOffset> for ResetRow {
    fn from(r: ResetOffset) -> Self {
        Self {
            topic: r.topic,
            partition: r.partition,
            new_offset: r.offset,
        }
    }
}

pub fn render_reset(rows: &[ResetRow], style: Style) -> String {
    let mut table = Table::new(["TOPIC", "PARTITION", "NEW-OFFSET"]);
    for r in rows {
        table.row([
            r.topic.clone(),
            r.partition.to_string(),
            r.new_offset.to_string(),
        ]);
    }
    table.render(style)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_shows_members_partitions_and_dashes_for_unknowns() {
        let group = DescribedGroup {
            group: "g".into(),
            state: "Stable".into(),
            assignor: "sticky".into(),
            epoch: 3,
            members: vec![DescribedMember {
                member_id: "m1".into(),
                client_id: None,
                host: "127.0.0.1".into(),
                assignment: vec!["t-0".into(), "t-1".into()],
            }],
            partitions: vec![
                DescribedPartition {
                    topic: "t".into(),
                    partition: 0,
                    member_id: Some("m1".into()),
                    committed_offset: Some(5),
                    end_offset: Some(9),
                    lag: Some(4),
                },
                DescribedPartition {
                    topic: "t".into(),
                    partition: 1,
                    member_id: Some("m1".into()),
                    committed_offset: None,
                    end_offset: Some(2),
                    lag: None,
                },
            ],
            total_lag: 4,
        };
        let text = render_describe(&group, Style::new(false));
        assert!(text.starts_with("group: g  state: Stable"), "{text}");
        assert!(text.contains("total lag: 4"));
        assert!(
            text.contains("m1      -       127.0.0.1  t-0,t-1"),
            "{text}"
        );
        assert!(
            text.contains("t      0          5          9    4    m1"),
            "{text}"
        );
        assert!(
            text.contains("t      1          -          2    -    m1"),
            "{text}"
        );
    }

    #[test]
    fn empty_list_says_how_groups_appear() {
        assert!(render_list(&[], Style::new(false)).contains("--group"));
    }
}
