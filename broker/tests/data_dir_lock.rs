//! One broker per data directory: a second `rilld` on a directory in use is refused at
//! start with a message naming the directory, and may start once the first has stopped.

use std::net::SocketAddr;

use rill_broker::config::BrokerConfig;
use rill_broker::server::Server;
use rill_broker::testing::TestBroker;

fn config_for(dir: &std::path::Path) -> BrokerConfig {
    BrokerConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        data_dir: dir.to_path_buf(),
        http_listen: None,
        ..BrokerConfig::default()
    }
}

#[tokio::test]
async fn a_second_broker_on_a_directory_in_use_is_refused() {
    let first = TestBroker::start().await;
    let dir = first.dir.path().to_path_buf();
    let refused = match Server::bind(config_for(&dir)).await {
        Ok(_) => panic!("a second broker started on a directory in use"),
        Err(e) => e,
    };
    let message = refused.to_string();
    assert!(
        message.contains("in use by another rilld") && message.contains(&*dir.to_string_lossy()),
        "{message}"
    );
    let dir = first.stop().await;
    let second = Server::bind(config_for(dir.path())).await;
    assert!(
        second.is_ok(),
        "free once the first stopped: {:?}",
        second.err()
    );
}
