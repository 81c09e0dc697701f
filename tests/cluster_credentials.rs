//! Users' SCRAM credentials in a cluster (issue #15): a user created through one
//! broker is known to every broker (their credential stores follow the metadata log),
//! including one that was down when it was created; a deleted user is gone everywhere;
//! no password reaches any broker's disk.

mod cluster_harness;

use cluster_harness::{wait_until, TestCluster, DEADLINE};
use rill::client::Admin;

/// The users broker `id` lists.
async fn users(cluster: &TestCluster, id: u64) -> Result<Vec<String>, String> {
    let admin: Admin = cluster.admin(id).await;
    let users = admin.list_users().await.map_err(|e| e.to_string());
    let _ = admin.close().await;
    Ok(users?.into_iter().map(|u| u.name).collect())
}

async fn wait_for_users(cluster: &TestCluster, id: u64, want: &[&str]) {
    let what = format!("node {id} lists users {want:?}");
    wait_until(&what, DEADLINE, || async {
        let have = users(cluster, id).await?;
        if have == want {
            Ok(())
        } else {
            Err(format!("node {id} lists {have:?}"))
        }
    })
    .await;
}

#[tokio::test]
async fn users_created_at_one_broker_are_known_at_every_broker() {
    let mut cluster = TestCluster::start(3).await;
    cluster.stop(3).await;
    let admin = cluster.admin(1).await;
    wait_until("broker 1 creates bob", DEADLINE, || async {
        admin
            .create_user("bob", "bob-password-42", &[])
            .await
            .map_err(|e| e.to_string())
    })
    .await;
    wait_for_users(&cluster, 2, &["bob"]).await;

    // Broker 3 was down: it learns bob from the metadata log when it returns.
    cluster.restart(3).await;
    wait_for_users(&cluster, 3, &["bob"]).await;
    for id in cluster.ids() {
        let dir = &cluster.node(id).data_dir;
        let file =
            std::fs::read_to_string(dir.join("security").join("credentials")).unwrap_or_default();
        assert!(file.contains("\"bob\""), "node {id}'s store holds bob");
        let mut on_disk = Vec::new();
        collect_files(dir, &mut on_disk);
        for path in on_disk {
            let bytes = std::fs::read(&path).unwrap_or_default();
            assert!(
                !bytes.windows(15).any(|w| w == b"bob-password-42"),
                "{} holds bob's password",
                path.display()
            );
        }
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(dir.join("cluster"))
                .unwrap()
                .permissions(),
        );
        assert_eq!(mode & 0o077, 0, "node {id}'s metadata log is owner-only");
    }

    // Deleted through broker 2: gone everywhere, and a second delete says so.
    let admin = cluster.admin(2).await;
    admin.delete_user("bob").await.expect("delete bob");
    let again = admin.delete_user("bob").await.unwrap_err();
    assert!(again.to_string().contains("bob"), "{again}");
    for id in cluster.ids() {
        wait_for_users(&cluster, id, &[]).await;
    }
}

fn collect_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_files(&path, out);
        } else {
            out.push(path);
        }
    }
}
