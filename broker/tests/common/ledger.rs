//! Producers that keep a ledger of what they sent and what was acknowledged, and the
//! checks of a restarted broker against it (the crash and power-cut tests).

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use rill_protocol::api::produce::ACKS_ALL;
use rill_protocol::api::Response;
use rill_protocol::batch::BatchIter;
use rill_protocol::error_code::ErrorCode;

use super::{batch, fetch, fetch_response, produce, RawClient};

/// Records per produced batch.
pub const RECORDS_PER_BATCH: i64 = 5;

/// What the producers sent and what the broker acknowledged.
#[derive(Default)]
pub struct Ledger {
    /// Acknowledged records of the current incarnation of each offset: (partition, offset).
    pub acked: BTreeMap<(i32, i64), String>,
    /// Every record value ever sent, per partition.
    pub sent: HashSet<(i32, String)>,
}

/// The ledger shared by the producers of a test.
pub type Shared = Arc<Mutex<Ledger>>;

/// Produces to one partition until the connection fails, recording what was sent and
/// what was acknowledged.
pub async fn producer(addr: SocketAddr, topic: &str, partition: i32, round: u32, ledger: Shared) {
    let mut client = RawClient::connect(addr).await;
    // Real timestamps: retention (7 days by default) would delete 1970s records.
    let start_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    for seq in 0.. {
        let prefix = format!("p{partition}-r{round}-s{seq}");
        {
            let mut ledger = ledger.lock().unwrap();
            for i in 0..RECORDS_PER_BATCH {
                ledger.sent.insert((partition, format!("{prefix}-{i}")));
            }
        }
        let records = batch(&prefix, RECORDS_PER_BATCH as usize, start_ms + seq);
        let request = produce(topic, partition, records, ACKS_ALL);
        let Some(Response::Produce(r)) = client.try_call(request).await else {
            return;
        };
        let p = &r.topics[0].partitions[0];
        assert_eq!(p.error_code, ErrorCode::None, "{p:?}");
        let mut ledger = ledger.lock().unwrap();
        for i in 0..RECORDS_PER_BATCH {
            ledger
                .acked
                .insert((partition, p.base_offset + i), format!("{prefix}-{i}"));
        }
    }
}

/// Reads a whole partition as a consumer would, asserting that it is clean: no error,
/// whole CRC-valid batches, contiguous offsets from 0 up to the high watermark.
pub async fn read_partition(
    client: &mut RawClient,
    topic: &str,
    partition: i32,
) -> BTreeMap<i64, String> {
    let mut offset = 0;
    let mut values = BTreeMap::new();
    loop {
        let f = fetch_response(client.call(fetch(topic, partition, offset, 0, 0)).await);
        let part = &f.topics[0].partitions[0];
        assert_eq!(
            part.error_code,
            ErrorCode::None,
            "partition {partition}: a consumer at offset {offset} is stuck: {part:?}"
        );
        let records = part.records.clone().into_bytes();
        if records.is_empty() {
            assert_eq!(offset, part.high_watermark, "read up to the high watermark");
            return values;
        }
        for batch in BatchIter::new(records, 64 << 20) {
            let batch = batch.expect("served batches are whole and CRC-valid");
            for r in batch.records().expect("records decode") {
                let r = r.expect("record decodes");
                if r.offset < offset {
                    continue;
                }
                assert_eq!(r.offset, offset, "offsets are contiguous");
                let value = r.value.expect("value");
                values.insert(r.offset, String::from_utf8(value.to_vec()).unwrap());
                offset += 1;
            }
        }
    }
}

/// Checks what the restarted broker serves against the ledger.
pub async fn check(
    addr: SocketAddr,
    topic: &str,
    partitions: i32,
    ledger: &Shared,
    acked_must_survive: bool,
) {
    let mut client = RawClient::connect(addr).await;
    for partition in 0..partitions {
        let values = read_partition(&mut client, topic, partition).await;
        let mut ledger = ledger.lock().unwrap();
        for value in values.values() {
            assert!(
                ledger.sent.contains(&(partition, value.clone())),
                "partition {partition} serves {value:?}, which no producer sent"
            );
        }
        if acked_must_survive {
            for ((p, offset), value) in &ledger.acked {
                if *p == partition {
                    assert_eq!(
                        values.get(offset),
                        Some(value),
                        "acknowledged record at {p}/{offset} after a restart"
                    );
                }
            }
        }
        // What the log holds now is what later rounds build on.
        ledger.acked.retain(|(p, _), _| *p != partition);
        ledger
            .acked
            .extend(values.into_iter().map(|(o, v)| ((partition, o), v)));
    }
}
