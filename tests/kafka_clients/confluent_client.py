"""confluent-kafka (librdkafka) against Rill's Kafka listener.

Usage: python confluent_client.py SCENARIO BOOTSTRAP TOPIC [COUNT]
Prints one JSON object; exits non-zero with a message on the first failure.

Scenarios:
  roundtrip   admin create (3 partitions) / describe; produce with every compression codec,
              with and without idempotence; consume by assign and seek and check every
              key, value, header, timestamp and offset; admin delete.
"""
import json
import sys
import time

import confluent_kafka
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from records import check, index_of, record

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
PER_RUN = 30
DEADLINE_S = 60


def fail(message):
    print(json.dumps({"ok": False, "error": message}))
    sys.exit(1)


def produce(bootstrap, topic, tag, count, partitions, **config):
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, **config})
    offsets = {}
    errors = []

    def delivered(i):
        def on_delivery(err, msg):
            if err is not None:
                errors.append(f"{tag}#{i}: {err}")
            else:
                offsets[(tag, i)] = (msg.partition(), msg.offset())
        return on_delivery

    for i in range(count):
        key, value, headers, ts = record(tag, i)
        producer.produce(topic, key=key, value=value, headers=headers,
                         partition=i % partitions, timestamp=ts, on_delivery=delivered(i))
    left = producer.flush(DEADLINE_S)
    if left or errors:
        fail(f"{left} undelivered; errors: {errors[:5]}")
    return offsets


def roundtrip(bootstrap, topic):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(topic, num_partitions=3,
                                                replication_factor=1)]).values():
        future.result(DEADLINE_S)
    listed = admin.list_topics(timeout=DEADLINE_S).topics
    if topic not in listed or len(listed[topic].partitions) != 3:
        fail(f"created topic {topic} not listed with 3 partitions: {listed}")
    offsets = {}
    for codec in CODECS:
        for idempotent in (False, True):
            tag = f"{codec}{'-idem' if idempotent else ''}"
            offsets.update(produce(bootstrap, topic, tag, PER_RUN, 3,
                                   **{"compression.type": codec, "acks": "all",
                                      "enable.idempotence": idempotent}))
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused-assign-only",
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, p, confluent_kafka.OFFSET_BEGINNING)
                     for p in range(3)])
    got = []
    deadline = time.time() + DEADLINE_S
    while len(got) < len(offsets) and time.time() < deadline:
        for m in consumer.consume(num_messages=500, timeout=0.5):
            if m.error():
                fail(f"consume error: {m.error()}")
            got.append(m)
    problems = []
    for m in got:
        tag, i = index_of(m.key())
        problems += check(tag, i, m.key(), m.value(), m.headers(), m.timestamp()[1])
        if offsets.get((tag, i)) != (m.partition(), m.offset()):
            problems.append(f"{tag}#{i} at {m.partition()}/{m.offset()}, "
                            f"produce said {offsets.get((tag, i))}")
    consumer.seek(TopicPartition(topic, 1, 7))
    seeked = None
    deadline = time.time() + DEADLINE_S
    while seeked is None and time.time() < deadline:
        m = consumer.poll(0.5)
        if m is not None and not m.error() and m.partition() == 1:
            seeked = m.offset()
    low, high = consumer.get_watermark_offsets(TopicPartition(topic, 1), timeout=DEADLINE_S)
    consumer.close()
    for future in admin.delete_topics([topic]).values():
        future.result(DEADLINE_S)
    deadline = time.time() + DEADLINE_S
    while topic in admin.list_topics(timeout=DEADLINE_S).topics and time.time() < deadline:
        time.sleep(0.1)
    deleted = topic not in admin.list_topics(timeout=DEADLINE_S).topics
    return {"produced": len(offsets), "consumed": len(got), "problems": problems[:20],
            "first_after_seek": seeked, "end_offset_p1": high, "deleted": deleted}


def main():
    if len(sys.argv) < 4:
        fail(__doc__)
    scenario, bootstrap, topic = sys.argv[1:4]
    out = {"ok": True, "client": f"confluent-kafka {confluent_kafka.__version__} "
                                 f"librdkafka {confluent_kafka.libversion()[0]}"}
    if scenario == "roundtrip":
        out.update(roundtrip(bootstrap, topic))
    else:
        fail(f"unknown scenario {scenario}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
