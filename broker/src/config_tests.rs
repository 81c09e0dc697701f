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
