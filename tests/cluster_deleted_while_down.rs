//! A topic deleted while one of its brokers was down (issue #15): when that broker
//! returns and its metadata has caught up past its own restart, it deletes its local
//! copy instead of keeping the data forever; topics still in the cluster keep theirs.

mod cluster_harness;

use cluster_harness::{wait_until, TestCluster, DEADLINE};
use rill::client::NewTopic;

#[tokio::test]
async fn a_topic_deleted_while_a_broker_was_down_is_deleted_there_when_it_returns() {
    let mut cluster = TestCluster::start(3).await;
    cluster.wait_formed().await;
    cluster.create_topic(1, NewTopic::new("gone", 3)).await;
    cluster.create_topic(1, NewTopic::new("kept", 3)).await;
    cluster.wait_for_topics(3, &["gone", "kept"]).await;
    let dir = cluster.node(3).data_dir.clone();
    let (gone, kept) = (dir.join("gone-0"), dir.join("kept-0"));
    wait_until(
        "broker 3 has local copies of both topics",
        DEADLINE,
        || async {
            if gone.exists() && kept.exists() {
                Ok(())
            } else {
                Err(format!("{} or {} missing", gone.display(), kept.display()))
            }
        },
    )
    .await;

    cluster.stop(3).await;
    let admin = cluster.admin(1).await;
    wait_until(
        "the cluster deletes `gone` while broker 3 is down",
        DEADLINE,
        || async {
            match admin.delete_topics(&["gone"]).await {
                Ok(()) => Ok(()),
                Err(e) if e.is_retriable() => Err(e.to_string()),
                Err(e) => panic!("delete refused: {e}"),
            }
        },
    )
    .await;
    assert!(
        gone.exists(),
        "broker 3 was down: its copy is still on disk"
    );

    cluster.restart(3).await;
    let (_, took) = wait_until("broker 3 deletes its copy of `gone`", DEADLINE, || async {
        if gone.exists() {
            Err(format!("{} still there", gone.display()))
        } else {
            Ok(())
        }
    })
    .await;
    eprintln!("broker 3 deleted the stale copy {took:?} after its restart");
    assert!(
        kept.exists(),
        "a topic the cluster still has keeps its data"
    );
    cluster.wait_for_topics(3, &["kept"]).await;
    let metadata = cluster.metadata(3, None).await.expect("metadata");
    assert!(
        metadata.topics.iter().all(|t| t.name != "gone"),
        "the deleted topic is not served"
    );
}
