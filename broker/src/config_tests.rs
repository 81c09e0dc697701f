//! Tests of broker configuration loading.

use super::*;

#[test]
fn defaults_start_a_broker_with_no_flags() {
    let config = BrokerConfig::load(&Args::default()).unwrap();
    assert_eq!(config.listen.to_string(), "127.0.0.1:9420");
    assert_eq!(config.data_dir, PathBuf::from("./rill-data"));
    assert!(config.auto_create_topics);
    assert_eq!(config.topic_defaults.flush, FlushPolicy::Os);
    assert_eq!(config.http_listen.map(|a| a.port()), Some(9421));
}

#[test]
fn cleaner_limits_come_from_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rill.toml");
    std::fs::write(
        &path,
        "cleaner_offset_map_bytes = 1048576\ncleaner_bytes_per_sec = 5000000\n",
    )
    .unwrap();
    let args = Args {
        config: Some(path),
        ..Args::default()
    };
    let config = BrokerConfig::load(&args).unwrap();
    assert_eq!(config.cleaner.offset_map_bytes, 1 << 20);
    assert_eq!(config.cleaner.bytes_per_sec, Some(5_000_000));
    let defaults = BrokerConfig::load(&Args::default()).unwrap();
    assert_eq!(
        defaults.cleaner,
        crate::storage::cleaner::CleanerConfig::default()
    );
}

#[test]
fn http_listen_turns_off_with_none() {
    assert_eq!(parse_http_listen("none"), Ok(OptionalAddr(None)));
    let args = Args {
        http_listen: Some(parse_http_listen("127.0.0.1:0").unwrap()),
        ..Args::default()
    };
    assert_eq!(
        BrokerConfig::load(&args)
            .unwrap()
            .http_listen
            .map(|a| a.port()),
        Some(0)
    );
    assert!(parse_http_listen("nowhere").is_err());
}

#[test]
fn flags_override_file_which_overrides_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rill.toml");
    std::fs::write(
        &path,
        "listen = \"127.0.0.1:1111\"\ndefault_partitions = 4\nflush = \"always\"\nretention = \"none\"\n",
    )
    .unwrap();
    let args = Args {
        config: Some(path),
        default_partitions: Some(8),
        ..Args::default()
    };
    let config = BrokerConfig::load(&args).unwrap();
    assert_eq!(config.listen.port(), 1111);
    assert_eq!(config.topic_defaults.partitions, 8);
    assert_eq!(config.topic_defaults.flush, FlushPolicy::Always);
    assert_eq!(config.topic_defaults.retention_ms, None);
}

#[test]
fn bad_settings_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rill.toml");
    std::fs::write(&path, "flush = \"sometimes\"\n").unwrap();
    let args = Args {
        config: Some(path.clone()),
        ..Args::default()
    };
    let err = BrokerConfig::load(&args).unwrap_err().to_string();
    assert!(err.contains("flush"), "{err}");
    std::fs::write(&path, "no_such_key = 1\n").unwrap();
    let err = BrokerConfig::load(&args).unwrap_err().to_string();
    assert!(err.contains("no_such_key"), "{err}");
    let args = Args {
        default_partitions: Some(0),
        ..Args::default()
    };
    assert!(BrokerConfig::load(&args).is_err());
}

#[test]
fn flush_policies_parse_and_render() {
    assert_eq!(parse_flush("always"), Ok(FlushPolicy::Always));
    assert_eq!(parse_flush("os"), Ok(FlushPolicy::Os));
    let interval = parse_flush("250ms").unwrap();
    assert_eq!(interval, FlushPolicy::Interval(Duration::from_millis(250)));
    assert_eq!(flush_to_string(&interval), "250ms");
    assert!(parse_flush("later").is_err());
}

#[test]
fn sample_config_file_parses() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../rill.toml");
    let args = Args {
        config: Some(path),
        ..Args::default()
    };
    BrokerConfig::load(&args).unwrap();
}

#[test]
fn group_limits_come_from_flags_and_file_and_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rill.toml");
    std::fs::write(
        &path,
        "group_max_session_timeout = \"2m\"\ngroup_max_members = 50\n",
    )
    .unwrap();
    let args = Args {
        config: Some(path),
        group_min_session_timeout: Some(Duration::from_secs(2)),
        ..Args::default()
    };
    let config = BrokerConfig::load(&args).unwrap();
    assert_eq!(config.groups.session_timeout_ms_min, 2_000);
    assert_eq!(config.groups.session_timeout_ms_max, 120_000);
    assert_eq!(config.groups.members_per_group_max, 50);
    let args = Args {
        group_min_session_timeout: Some(Duration::from_secs(3600)),
        ..Args::default()
    };
    let err = BrokerConfig::load(&args).unwrap_err().to_string();
    assert!(err.contains("group_min_session_timeout"), "{err}");
}

#[test]
fn byte_sizes_take_units() {
    assert_eq!(parse_bytes("1073741824"), Ok(1 << 30));
    assert_eq!(parse_bytes("1GiB"), Ok(1 << 30));
    assert_eq!(parse_bytes("512 MiB"), Ok(512 << 20));
    assert_eq!(parse_bytes("10gb"), Ok(10_000_000_000));
    assert_eq!(parse_bytes("4k"), Ok(4096));
    assert!(parse_bytes("1.5GiB").is_err());
    assert!(parse_bytes("GiB").is_err());
    assert!(
        parse_bytes("99999999999TiB").is_err(),
        "overflow is an error"
    );
    let args = Args::try_parse_from([
        "rilld",
        "--segment-bytes",
        "1GiB",
        "--max-frame-bytes",
        "8MiB",
    ])
    .expect("sizes with units parse");
    assert_eq!(args.segment_bytes, Some(1 << 30));
    assert_eq!(args.max_frame_bytes, Some(8 << 20));
}

#[test]
fn connection_limits_and_buffer_budgets_come_from_flags_and_file_and_are_checked() {
    let defaults = BrokerConfig::load(&Args::default()).unwrap();
    assert!(defaults.max_connections >= 10_000);
    assert_eq!(defaults.max_connections_per_ip, 1000);
    assert_eq!(defaults.max_connection_buffer_bytes, 64 << 20);
    assert_eq!(defaults.max_total_buffer_bytes, 1 << 30);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rill.toml");
    std::fs::write(
        &path,
        "max_connections_per_ip = 7\nmax_connection_buffer_bytes = 50000000\nmax_total_buffer_bytes = 90000000\n",
    )
    .unwrap();
    let args = Args {
        config: Some(path),
        max_total_buffer_bytes: Some(parse_bytes_usize("2GiB").unwrap()),
        ..Args::default()
    };
    let config = BrokerConfig::load(&args).unwrap();
    assert_eq!(config.max_connections_per_ip, 7);
    assert_eq!(config.max_connection_buffer_bytes, 50_000_000);
    assert_eq!(config.max_total_buffer_bytes, 2 << 30);

    // A connection must hold a largest request and response; the total, one connection.
    let too_small = Args {
        max_connection_buffer_bytes: Some(20 << 20),
        ..Args::default()
    };
    let e = BrokerConfig::load(&too_small).unwrap_err().to_string();
    assert!(
        e.contains("max_connection_buffer_bytes") && e.contains("twice max_frame_bytes"),
        "{e}"
    );
    let total_too_small = Args {
        max_total_buffer_bytes: Some(32 << 20),
        ..Args::default()
    };
    let e = BrokerConfig::load(&total_too_small)
        .unwrap_err()
        .to_string();
    assert!(e.contains("max_total_buffer_bytes"), "{e}");
    let no_per_ip = Args {
        max_connections_per_ip: Some(0),
        ..Args::default()
    };
    assert!(BrokerConfig::load(&no_per_ip).is_err());
}

#[test]
fn kafka_listener_is_off_by_default_and_set_by_file_or_flag() {
    let config = BrokerConfig::load(&Args::default()).unwrap();
    assert_eq!((config.kafka_listen, config.kafka_advertised), (None, None));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rill.toml");
    std::fs::write(
        &path,
        "kafka_listen = \"0.0.0.0:9092\"\nkafka_advertised = \"kafka.example.com:9092\"\n",
    )
    .unwrap();
    let from_file = BrokerConfig::load(&Args {
        config: Some(path.clone()),
        ..Args::default()
    })
    .unwrap();
    assert_eq!(from_file.kafka_listen.map(|a| a.port()), Some(9092));
    let advertised = from_file.kafka_advertised.unwrap();
    assert_eq!(
        (advertised.host.as_str(), advertised.port),
        ("kafka.example.com", 9092)
    );
    let flagged = BrokerConfig::load(&Args {
        config: Some(path.clone()),
        kafka_advertised: Some(parse_host_port("[::1]:19092").unwrap()),
        ..Args::default()
    })
    .unwrap();
    assert_eq!(flagged.kafka_advertised.unwrap().host, "::1");
    std::fs::write(&path, "kafka_advertised = \"no-port\"\n").unwrap();
    let err = BrokerConfig::load(&Args {
        config: Some(path),
        ..Args::default()
    })
    .unwrap_err()
    .to_string();
    assert!(err.contains("kafka_advertised"), "{err}");
    assert!(parse_host_port("host:99999").is_err());
    assert!(parse_host_port(":9092").is_err());
}

fn load_cluster(argv: &[&str]) -> Result<BrokerConfig, ConfigError> {
    let mut all = vec!["rilld"];
    all.extend_from_slice(argv);
    BrokerConfig::load(&Args::try_parse_from(all).expect("flags parse"))
}

#[test]
fn no_cluster_flags_run_a_single_broker() {
    let config = BrokerConfig::load(&Args::default()).unwrap();
    assert!(config.cluster.is_none());
    assert_eq!(config.default_replication_factor, 1);
}

#[test]
fn cluster_flags_build_the_cluster_config() {
    let config = load_cluster(&[
        "--node-id",
        "2",
        "--cluster",
        "1@127.0.0.1:9431,2@127.0.0.1:9432,3@127.0.0.1:9433",
        "--rack",
        "b",
        "--raft-heartbeat",
        "100ms",
        "--raft-election-timeout",
        "500ms",
        "--broker-heartbeat-interval",
        "200ms",
        "--broker-session-timeout",
        "2s",
        "--metadata-snapshot-every",
        "50",
        "--default-replication-factor",
        "3",
    ])
    .unwrap();
    let cluster = config.cluster.unwrap();
    assert_eq!(cluster.node_id, 2);
    assert_eq!(cluster.me().unwrap().addr, "127.0.0.1:9432");
    assert_eq!(cluster.members.len(), 3);
    assert_eq!(cluster.rack.as_deref(), Some("b"));
    assert_eq!(cluster.raft_heartbeat, Duration::from_millis(100));
    assert_eq!(cluster.raft_election_timeout, Duration::from_millis(500));
    assert_eq!(
        cluster.broker_heartbeat_interval,
        Duration::from_millis(200)
    );
    assert_eq!(cluster.broker_session_timeout, Duration::from_secs(2));
    assert_eq!(cluster.snapshot_every, 50);
    assert_eq!(config.default_replication_factor, 3);
}

#[test]
fn cluster_defaults_are_the_documented_ones() {
    let config = load_cluster(&["--node-id", "1", "--cluster", "1@127.0.0.1:9431"]).unwrap();
    let cluster = config.cluster.unwrap();
    assert_eq!(cluster.raft_heartbeat, Duration::from_millis(250));
    assert_eq!(cluster.raft_election_timeout, Duration::from_secs(1));
    assert_eq!(cluster.broker_heartbeat_interval, Duration::from_secs(1));
    assert_eq!(cluster.broker_session_timeout, Duration::from_secs(6));
    assert_eq!(cluster.snapshot_every, 1000);
    assert!(cluster.rack.is_none());
}

#[test]
fn node_id_and_cluster_come_together() {
    let err = load_cluster(&["--node-id", "1"]).unwrap_err().to_string();
    assert!(err.contains("--node-id needs --cluster"), "{err}");
    let err = load_cluster(&["--cluster", "1@a:1,2@b:2"])
        .unwrap_err()
        .to_string();
    assert!(err.contains("--cluster needs --node-id"), "{err}");
    assert!(err.contains("1, 2"), "{err}");
    let err = load_cluster(&["--node-id", "3", "--cluster", "1@a:1,2@b:2"])
        .unwrap_err()
        .to_string();
    assert!(err.contains("not in --cluster"), "{err}");
    let err = load_cluster(&["--node-id", "1", "--cluster", "1@a:1,600000@b:2"])
        .unwrap_err()
        .to_string();
    assert!(err.contains("above the largest"), "{err}");
    let err = load_cluster(&["--rack", "a"]).unwrap_err().to_string();
    assert!(err.contains("add --node-id and --cluster"), "{err}");
}

#[test]
fn bad_cluster_values_are_refused_with_the_reason() {
    assert!(Args::try_parse_from(["rilld", "--cluster", "1@a"]).is_err());
    assert!(Args::try_parse_from(["rilld", "--cluster", "1@a:1,1@b:2"]).is_err());
    let err = load_cluster(&[
        "--node-id",
        "1",
        "--cluster",
        "1@a:1",
        "--raft-heartbeat",
        "1s",
        "--raft-election-timeout",
        "2s",
    ])
    .unwrap_err()
    .to_string();
    assert!(err.contains("at least three heartbeats"), "{err}");
    let err = load_cluster(&["--default-replication-factor", "0"])
        .unwrap_err()
        .to_string();
    assert!(err.contains("default_replication_factor"), "{err}");
}

#[test]
fn cluster_settings_have_their_env_variables() {
    // Checked on clap's model rather than by setting variables, which would race the
    // other tests that parse flags in this process.
    use clap::CommandFactory;
    let command = Args::command();
    for (flag, env) in [
        ("node_id", "RILL_NODE_ID"),
        ("cluster", "RILL_CLUSTER"),
        ("rack", "RILL_RACK"),
        ("raft_heartbeat", "RILL_RAFT_HEARTBEAT"),
        ("raft_election_timeout", "RILL_RAFT_ELECTION_TIMEOUT"),
        (
            "broker_heartbeat_interval",
            "RILL_BROKER_HEARTBEAT_INTERVAL",
        ),
        ("broker_session_timeout", "RILL_BROKER_SESSION_TIMEOUT"),
        ("metadata_snapshot_every", "RILL_METADATA_SNAPSHOT_EVERY"),
        (
            "default_replication_factor",
            "RILL_DEFAULT_REPLICATION_FACTOR",
        ),
    ] {
        let arg = command
            .get_arguments()
            .find(|a| a.get_id() == flag)
            .unwrap_or_else(|| panic!("no flag {flag}"));
        assert_eq!(arg.get_env().and_then(|e| e.to_str()), Some(env), "{flag}");
    }
}

#[test]
fn cluster_settings_come_from_the_file_and_flags_win() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rill.toml");
    std::fs::write(
        &path,
        "default_replication_factor = 2\n[cluster]\nnode_id = 1\nmembers = [\"1@127.0.0.1:9431\", \"2@127.0.0.1:9432\"]\nrack = \"a\"\nraft_heartbeat = \"100ms\"\nraft_election_timeout = \"600ms\"\nbroker_heartbeat_interval = \"500ms\"\nbroker_session_timeout = \"3s\"\nmetadata_snapshot_every = 10\n",
    )
    .unwrap();
    let config = load_cluster(&["--config", path.to_str().unwrap()]).unwrap();
    assert_eq!(config.default_replication_factor, 2);
    let cluster = config.cluster.unwrap();
    assert_eq!((cluster.node_id, cluster.members.len()), (1, 2));
    assert_eq!(cluster.rack.as_deref(), Some("a"));
    assert_eq!(cluster.raft_election_timeout, Duration::from_millis(600));
    assert_eq!(cluster.broker_session_timeout, Duration::from_secs(3));
    assert_eq!(cluster.snapshot_every, 10);
    let config = load_cluster(&["--config", path.to_str().unwrap(), "--node-id", "2"]).unwrap();
    assert_eq!(config.cluster.unwrap().node_id, 2);
    std::fs::write(&path, "[cluster]\nnode_id = 1\nmembers = \"1@nohost\"\n").unwrap();
    let err = load_cluster(&["--config", path.to_str().unwrap()])
        .unwrap_err()
        .to_string();
    assert!(err.contains("cluster.members"), "{err}");
}

#[test]
fn advertised_comes_from_flag_or_file_and_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rill.toml");
    std::fs::write(&path, "advertised = \"broker1.example.com:9420\"\n").unwrap();
    let from_file = BrokerConfig::load(&Args {
        config: Some(path.clone()),
        ..Args::default()
    })
    .unwrap();
    let advertised = from_file.advertised.unwrap();
    assert_eq!(
        (advertised.host.as_str(), advertised.port),
        ("broker1.example.com", 9420)
    );
    let flagged = BrokerConfig::load(&Args {
        config: Some(path.clone()),
        advertised: Some(parse_host_port("10.0.0.7:9520").unwrap()),
        ..Args::default()
    })
    .unwrap();
    assert_eq!(flagged.advertised.unwrap().port, 9520);
    std::fs::write(&path, "advertised = \"no-port\"\n").unwrap();
    let err = BrokerConfig::load(&Args {
        config: Some(path),
        ..Args::default()
    })
    .unwrap_err()
    .to_string();
    assert!(err.contains("advertised"), "{err}");
}
