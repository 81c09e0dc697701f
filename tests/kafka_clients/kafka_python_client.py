"""kafka-python (2.x and 3.x) against Rill's Kafka listener.

Usage: python kafka_python_client.py SCENARIO BOOTSTRAP TOPIC [COUNT]
Prints one JSON object; exits non-zero with a message on the first failure.

Scenarios:
  roundtrip   admin create (3 partitions) / describe; produce with every compression codec,
              with and without idempotence; consume by assign and seek and check every
              key, value, header, timestamp and offset; admin delete.
  group       three members split six partitions, one leaves and two take over, every
              record is consumed and committed; a new member resumes at the commits.
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


def _member_main(bootstrap, topic, group, name, state, stop):
    """A group member in its own process (kafka-python's consumers share locks and
    threads within a process): polls, commits what it consumed, and publishes its
    assignment and consumed positions in `state`."""
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group,
                             client_id=name, enable_auto_commit=False,
                             auto_offset_reset="earliest", session_timeout_ms=6000,
                             heartbeat_interval_ms=300, metadata_max_age_ms=1000,
                             # A rebalance waits this long for a member that does
                             # not rejoin (Kafka's default is 5 minutes).
                             max_poll_interval_ms=10000)
    seen = {}
    error = None
    try:
        while not stop.is_set():
            polled = consumer.poll(timeout_ms=200)
            for batch in polled.values():
                for r in batch:
                    seen[(r.partition, r.offset)] = r.key
            if polled:
                consumer.commit()
            assigned = sorted(tp.partition for tp in consumer.assignment())
            state[name] = (assigned, sorted(seen), error)
    except Exception as e:  # reported by the scenario
        error = repr(e)
        state[name] = (sorted(tp.partition for tp in consumer.assignment()), sorted(seen), error)
    finally:
        consumer.close()


class Member:
    """One group member, run in its own process."""

    def __init__(self, bootstrap, topic, group, name):
        import multiprocessing
        self.name = name
        self.state = MANAGER.dict() if MANAGER else None
        self.stop = multiprocessing.Event()
        self.process = multiprocessing.Process(
            target=_member_main, args=(bootstrap, topic, group, name, self.state, self.stop),
            daemon=True)
        self.process.start()

    def _get(self):
        return self.state.get(self.name, ([], [], None))

    @property
    def assigned(self):
        return set(self._get()[0])

    @property
    def seen(self):
        return {tuple(k): True for k in self._get()[1]}

    @property
    def error(self):
        return self._get()[2]

    def leave(self):
        self.stop.set()
        self.process.join(DEADLINE_S)


MANAGER = None


def wait_until(what, condition, members=()):
    deadline = time.time() + DEADLINE_S
    while time.time() < deadline:
        if condition():
            return
        time.sleep(0.1)
    state = [(sorted(m.assigned), len(m.seen), m.error) for m in members]
    fail(f"timed out waiting until {what}; members (assigned, seen, error): {state}")


def group(bootstrap, topic):
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(topic, num_partitions=6, replication_factor=1)])
    produce(bootstrap, topic, "group", 600, 6, acks="all")
    name = f"{topic}-group"
    members = [Member(bootstrap, topic, name, f"m{i}") for i in range(3)]
    everything = {(p, o) for p in range(6) for o in range(100)}

    def split_among(ms):
        sets = [m.assigned for m in ms]
        union = set().union(*sets)
        return union == set(range(6)) and sum(len(s) for s in sets) == 6 and all(sets)

    wait_until("three members split six partitions", lambda: split_among(members), members)
    three_way = sorted(sorted(m.assigned) for m in members)
    members[0].leave()
    wait_until("two members take over all six partitions", lambda: split_among(members[1:]),
               members)
    two_way = sorted(sorted(m.assigned) for m in members[1:])
    wait_until("every record is consumed",
               lambda: everything <= set().union(*(m.seen.keys() for m in members)))
    for m in members[1:]:
        m.leave()
    errors = [m.error for m in members if m.error]
    produce(bootstrap, topic, "later", 60, 6, acks="all")
    late = Member(bootstrap, topic, name, "late")
    wait_until("the new member reads the 60 new records", lambda: len(late.seen) >= 60, [late])
    time.sleep(0.5)
    late.leave()
    # kafka-python 2.x: list_consumer_groups() -> [(id, type)]; 3.x: list_groups() -> [dict].
    if hasattr(admin, "list_consumer_groups"):
        groups = [g[0] for g in admin.list_consumer_groups()]
    else:
        groups = [g["group_id"] if isinstance(g, dict) else getattr(g, "group_id", g)
                  for g in admin.list_groups()]
    admin.close()
    return {"three_way": three_way, "two_way": two_way, "errors": errors,
            "resumed_count": len(late.seen),
            "resumed_offsets": sorted({o for (_, o) in late.seen}),
            "listed": name in groups}


def main():
    global MANAGER
    if len(sys.argv) < 4:
        fail(__doc__)
    scenario, bootstrap, topic = sys.argv[1:4]
    count = int(sys.argv[4]) if len(sys.argv) > 4 else 10
    out = {"ok": True, "client": f"kafka-python {kafka.__version__}"}
    if scenario == "roundtrip":
        out.update(roundtrip(bootstrap, topic))
    elif scenario == "group":
        import multiprocessing
        MANAGER = multiprocessing.Manager()
        out.update(group(bootstrap, topic))
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
