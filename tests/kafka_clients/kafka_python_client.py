"""kafka-python (2.x and 3.x) against Rill's Kafka listener.

Usage: python kafka_python_client.py SCENARIO BOOTSTRAP TOPIC [COUNT]
Prints one JSON object; exits non-zero with a message on the first failure.

Scenarios:
  roundtrip   admin create (3 partitions) / describe; produce with every compression codec,
              with and without idempotence; consume by assign and seek and check every
              key, value, header, timestamp and offset; admin delete.
  produce     produce COUNT records tagged "cross" to partition 0 (read by the native client).
  consume     read COUNT records tagged "native" from partition 0 and check them.
"""
import json
import sys
import time

import kafka
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

from records import check, index_of, record

CODECS = [None, "gzip", "snappy", "lz4", "zstd"]
PER_RUN = 30
DEADLINE_S = 60


def fail(message):
    print(json.dumps({"ok": False, "error": message}))
    sys.exit(1)


def produce(bootstrap, topic, tag, count, partitions, **config):
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, **config)
    futures = []
    for i in range(count):
        key, value, headers, ts = record(tag, i)
        futures.append((i, producer.send(topic, key=key, value=value, headers=headers,
                                         partition=i % partitions, timestamp_ms=ts)))
    offsets = {}
    for i, future in futures:
        meta = future.get(timeout=DEADLINE_S)
        offsets[(tag, i)] = (meta.partition, meta.offset)
    producer.close()
    return offsets


def read(bootstrap, topic, partitions, total):
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                             consumer_timeout_ms=1000)
    tps = [TopicPartition(topic, p) for p in range(partitions)]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    got = []
    deadline = time.time() + DEADLINE_S
    while len(got) < total and time.time() < deadline:
        for batch in consumer.poll(timeout_ms=500).values():
            got.extend(batch)
    return consumer, got


def roundtrip(bootstrap, topic):
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
    if topic not in admin.list_topics():
        fail(f"created topic {topic} is not listed")
    described = admin.describe_topics([topic])
    partitions = len(described[0]["partitions"])
    if partitions != 3:
        fail(f"described {partitions} partitions, expected 3")
    offsets = {}
    for codec in CODECS:
        for idempotent in (False, True):
            tag = f"{codec or 'none'}{'-idem' if idempotent else ''}"
            config = {"compression_type": codec, "acks": "all"}
            if idempotent:
                config["enable_idempotence"] = True
            offsets.update(produce(bootstrap, topic, tag, PER_RUN, 3, **config))
    consumer, got = read(bootstrap, topic, 3, len(offsets))
    problems = []
    for r in got:
        tag, i = index_of(r.key)
        problems += check(tag, i, r.key, r.value, r.headers, r.timestamp)
        if offsets.get((tag, i)) != (r.partition, r.offset):
            problems.append(f"{tag}#{i} at {r.partition}/{r.offset}, "
                            f"produce said {offsets.get((tag, i))}")
    # Seek back into the middle of partition 1 and read from there.
    tp = TopicPartition(topic, 1)
    consumer.seek(tp, 7)
    seeked = []
    deadline = time.time() + DEADLINE_S
    while not seeked and time.time() < deadline:
        seeked = consumer.poll(timeout_ms=500).get(tp, [])
    first_after_seek = seeked[0].offset if seeked else None
    end_offsets = consumer.end_offsets([tp])[tp]
    consumer.close()
    admin.delete_topics([topic])
    deadline = time.time() + DEADLINE_S
    while topic in admin.list_topics() and time.time() < deadline:
        time.sleep(0.1)
    deleted = topic not in admin.list_topics()
    admin.close()
    return {"produced": len(offsets), "consumed": len(got), "problems": problems[:20],
            "first_after_seek": first_after_seek, "end_offset_p1": end_offsets,
            "deleted": deleted}


def main():
    if len(sys.argv) < 4:
        fail(__doc__)
    scenario, bootstrap, topic = sys.argv[1:4]
    count = int(sys.argv[4]) if len(sys.argv) > 4 else 10
    out = {"ok": True, "client": f"kafka-python {kafka.__version__}"}
    if scenario == "roundtrip":
        out.update(roundtrip(bootstrap, topic))
    elif scenario == "produce":
        offsets = produce(bootstrap, topic, "cross", count, 1, acks="all")
        out["offsets"] = sorted(o for _, o in offsets.values())
    elif scenario == "consume":
        consumer, got = read(bootstrap, topic, 1, count)
        consumer.close()
        problems = []
        for n, r in enumerate(got):
            problems += check("native", n, r.key, r.value, r.headers, r.timestamp)
        out.update({"consumed": len(got), "problems": problems[:20]})
    else:
        fail(f"unknown scenario {scenario}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
