//! End-to-end tests of the group APIs over a real broker: join, cooperative handover by
//! heartbeat, commit with fencing, describe with lag, restart, reset and delete.

mod common;

use common::*;
use rill_protocol::api::common::{TopicAssignment, TopicPartitions};
use rill_protocol::api::delete_groups::DeleteGroupsRequest;
use rill_protocol::api::delete_topics::DeleteTopicsRequest;
use rill_protocol::api::describe_groups::DescribeGroupsRequest;
use rill_protocol::api::heartbeat::{HeartbeatRequest, HeartbeatResponse};
use rill_protocol::api::join_group::{JoinGroupRequest, JoinGroupResponse};
use rill_protocol::api::leave_group::LeaveGroupRequest;
use rill_protocol::api::list_groups::ListGroupsRequest;
use rill_protocol::api::offset_commit::{OffsetCommitPartition, OffsetCommitRequest};
use rill_protocol::api::offset_fetch::OffsetFetchRequest;
use rill_protocol::api::produce::ACKS_LEADER;
use rill_protocol::api::reset_offsets::{ResetOffsetsRequest, ResetSpec, ResetTopic};
use rill_protocol::api::{Request, Response};
use rill_protocol::error_code::ErrorCode;

async fn join(c: &mut RawClient, group: &str) -> JoinGroupResponse {
    let Response::JoinGroup(r) = c
        .call(Request::JoinGroup(JoinGroupRequest {
            group_id: group.into(),
            member_id: String::new(),
            session_timeout_ms: 10_000,
            rebalance_timeout_ms: 10_000,
            topics: vec!["t".into()],
            assignor: None,
        }))
        .await
    else {
        panic!("not a join response")
    };
    r
}

async fn heartbeat(
    c: &mut RawClient,
    id: &str,
    epoch: i32,
    owned: &[TopicAssignment],
) -> HeartbeatResponse {
    let Response::Heartbeat(r) = c
        .call(Request::Heartbeat(HeartbeatRequest {
            group_id: "g".into(),
            member_id: id.into(),
            member_epoch: epoch,
            topics: None,
            owned: owned.to_vec(),
        }))
        .await
    else {
        panic!("not a heartbeat response")
    };
    r
}

async fn commit(c: &mut RawClient, id: &str, epoch: i32, offset: i64) -> ErrorCode {
    let Response::OffsetCommit(r) = c
        .call(Request::OffsetCommit(OffsetCommitRequest {
            group_id: "g".into(),
            member_id: id.into(),
            member_epoch: epoch,
            topics: vec![TopicPartitions {
                name: "t".into(),
                partitions: vec![OffsetCommitPartition {
                    partition: 0,
                    offset,
                    metadata: None,
                }],
            }],
        }))
        .await
    else {
        panic!("not a commit response")
    };
    r.topics[0].partitions[0].error_code
}

fn count(assignment: &[TopicAssignment]) -> usize {
    assignment.iter().map(|t| t.partitions.len()).sum()
}

#[tokio::test]
async fn members_hand_over_partitions_commit_and_offsets_survive_a_restart() {
    let broker = TestBroker::start().await;
    let mut c = RawClient::connect(broker.addr).await;
    c.call(produce("t", 0, batch("r", 5, 1000), ACKS_LEADER))
        .await;
    let a = join(&mut c, "g").await;
    assert_eq!(
        (a.error_code, count(&a.assignment)),
        (ErrorCode::None, 1),
        "auto-created topic has 1 partition"
    );
    let b = join(&mut c, "g").await;
    assert_eq!(count(&b.assignment), 0);
    // A keeps its partition: nothing to revoke, nothing new.
    let hb = heartbeat(&mut c, &a.member_id, a.member_epoch, &a.assignment).await;
    assert_eq!(hb.error_code, ErrorCode::None);
    let epoch = hb.member_epoch;
    assert_eq!(
        commit(&mut c, &a.member_id, epoch, 3).await,
        ErrorCode::None
    );
    assert_eq!(
        commit(&mut c, &a.member_id, epoch - 1, 4).await,
        ErrorCode::IllegalGeneration
    );
    assert_eq!(
        commit(&mut c, "zombie", epoch, 4).await,
        ErrorCode::UnknownMemberId
    );
    assert_eq!(commit(&mut c, "", -1, 4).await, ErrorCode::UnknownMemberId);
    let Response::DescribeGroups(d) = c
        .call(Request::DescribeGroups(DescribeGroupsRequest {
            group_ids: vec!["g".into()],
        }))
        .await
    else {
        panic!()
    };
    let g = &d.groups[0];
    assert_eq!((g.error_code, g.members.len()), (ErrorCode::None, 2));
    assert_eq!((g.offsets[0].high_watermark, g.offsets[0].lag), (5, 2));
    for id in [&a.member_id, &b.member_id] {
        c.call(Request::LeaveGroup(LeaveGroupRequest {
            group_id: "g".into(),
            member_id: id.clone(),
        }))
        .await;
    }
    drop(c);

    let broker = TestBroker::start_in(broker.stop().await, |_| {}).await;
    let mut c = RawClient::connect(broker.addr).await;
    let Response::OffsetFetch(f) = c
        .call(Request::OffsetFetch(OffsetFetchRequest {
            group_id: "g".into(),
            topics: None,
        }))
        .await
    else {
        panic!()
    };
    assert_eq!(f.topics[0].partitions[0].offset, 3);
    let Response::ResetOffsets(r) = c
        .call(Request::ResetOffsets(ResetOffsetsRequest {
            group_id: "g".into(),
            topics: vec![ResetTopic {
                name: "t".into(),
                partitions: None,
            }],
            spec: ResetSpec::Latest,
            dry_run: false,
        }))
        .await
    else {
        panic!()
    };
    assert_eq!(
        (r.error_code, r.topics[0].partitions[0].offset),
        (ErrorCode::None, 5)
    );
    let Response::DeleteGroups(del) = c
        .call(Request::DeleteGroups(DeleteGroupsRequest {
            group_ids: vec!["g".into(), "g".into()],
        }))
        .await
    else {
        panic!()
    };
    let codes: Vec<ErrorCode> = del.results.iter().map(|r| r.error_code).collect();
    assert_eq!(codes, vec![ErrorCode::None, ErrorCode::GroupIdNotFound]);
    broker.stop().await;
}

async fn fetch_offsets(c: &mut RawClient, group: &str) -> Vec<(String, i32, i64)> {
    let Response::OffsetFetch(f) = c
        .call(Request::OffsetFetch(OffsetFetchRequest {
            group_id: group.into(),
            topics: None,
        }))
        .await
    else {
        panic!("not an offset fetch response")
    };
    f.topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(move |p| (t.name.clone(), p.partition, p.offset))
        })
        .collect()
}

async fn simple_commit(
    c: &mut RawClient,
    group: &str,
    offsets: &[(&str, i32, i64)],
) -> Vec<ErrorCode> {
    let topics = offsets
        .iter()
        .map(|(topic, partition, offset)| TopicPartitions {
            name: topic.to_string(),
            partitions: vec![OffsetCommitPartition {
                partition: *partition,
                offset: *offset,
                metadata: None,
            }],
        })
        .collect();
    let Response::OffsetCommit(r) = c
        .call(Request::OffsetCommit(OffsetCommitRequest {
            group_id: group.into(),
            member_id: String::new(),
            member_epoch: -1,
            topics,
        }))
        .await
    else {
        panic!("not a commit response")
    };
    r.topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
        .collect()
}

#[tokio::test]
async fn commits_for_missing_partitions_are_refused_and_a_deleted_topic_takes_its_offsets() {
    let broker = TestBroker::start().await;
    let mut c = RawClient::connect(broker.addr).await;
    c.call(produce("t", 0, batch("r", 5, 1000), ACKS_LEADER))
        .await;
    let codes = simple_commit(&mut c, "g", &[("t", 0, 4), ("t", 1, 4), ("ghost", 0, 1)]).await;
    assert_eq!(
        codes,
        [
            ErrorCode::UnknownTopicOrPartition, // "ghost", sorted first
            ErrorCode::None,
            ErrorCode::UnknownTopicOrPartition,
        ]
    );
    assert_eq!(fetch_offsets(&mut c, "g").await, [("t".to_string(), 0, 4)]);
    let Response::DeleteTopics(d) = c
        .call(Request::DeleteTopics(DeleteTopicsRequest {
            topic_names: vec!["t".into()],
            timeout_ms: 5000,
        }))
        .await
    else {
        panic!("not a delete topics response")
    };
    assert_eq!(d.topics[0].error_code, ErrorCode::None);
    assert!(fetch_offsets(&mut c, "g").await.is_empty());
    c.call(produce("t", 0, batch("again", 5, 1000), ACKS_LEADER))
        .await;
    assert!(
        fetch_offsets(&mut c, "g").await.is_empty(),
        "re-created empty"
    );
    broker.stop().await;
}

#[tokio::test]
async fn offsets_of_a_group_without_members_expire_with_the_group() {
    let broker = TestBroker::start_with(|c| {
        c.groups.offsets_retention_ms = 300;
        c.housekeeping_interval = std::time::Duration::from_millis(50);
    })
    .await;
    let mut c = RawClient::connect(broker.addr).await;
    c.call(produce("t", 0, batch("r", 5, 1000), ACKS_LEADER))
        .await;
    assert_eq!(
        simple_commit(&mut c, "idle", &[("t", 0, 3)]).await,
        [ErrorCode::None]
    );
    let live = join(&mut c, "g").await;
    assert_eq!(live.error_code, ErrorCode::None);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        assert!(
            std::time::Instant::now() < deadline,
            "offsets never expired"
        );
        // The live member keeps heartbeating: its group is not touched.
        let hb = heartbeat(&mut c, &live.member_id, live.member_epoch, &live.assignment).await;
        assert_eq!(hb.error_code, ErrorCode::None);
        if fetch_offsets(&mut c, "idle").await.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let Response::ListGroups(l) = c.call(Request::ListGroups(ListGroupsRequest)).await else {
        panic!("not a list groups response")
    };
    let ids: Vec<&str> = l.groups.iter().map(|g| g.group_id.as_str()).collect();
    assert_eq!(ids, ["g"], "the expired group is gone");
    broker.stop().await;
}
