"""confluent-kafka (librdkafka) against Rill's Kafka listener.

Usage: python confluent_client.py SCENARIO BOOTSTRAP TOPIC [COUNT]
Prints one JSON object; exits non-zero with a message on the first failure.

Scenarios:
  roundtrip   admin create (3 partitions) / describe; produce with every compression codec,
              with and without idempotence; consume by assign and seek and check every
              key, value, header, timestamp and offset; admin delete.
  group       three members split six partitions, one leaves and two take over, every
              record is consumed and committed; a new member resumes at the commits.
  configs     describe topic and broker configs, alter one incrementally (and fail to
              alter one Rill lacks), describe the cluster, grow the topic to 5 partitions
              (and fail to shrink it).
  group-kip848  the same with group.protocol=consumer (KIP-848, broker-side assignment).
  join848     GROUP N: join GROUP (KIP-848) beside other members until holding N partitions.
  commit      GROUP PARTITION OFFSET: a simple commit, read back.
  committed   GROUP PARTITION: print the group's committed offset.
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


GROUP_CONFIG = {"enable.auto.commit": False, "session.timeout.ms": 6000,
                "heartbeat.interval.ms": 300, "auto.offset.reset": "earliest",
                "topic.metadata.refresh.interval.ms": 1000,
                # A rebalance waits this long for a member that does not rejoin.
                "max.poll.interval.ms": 10000}


class Member:
    """One group member polling on its own thread, committing what it consumed."""

    def __init__(self, bootstrap, topic, group, name, protocol="classic"):
        import threading
        self.name = name
        self.seen = {}
        self.assigned = set()
        self.stop = threading.Event()
        self.error = None
        config = dict(GROUP_CONFIG)
        if protocol == "consumer":
            # KIP-848: the broker assigns; session and heartbeat are the broker's.
            del config["session.timeout.ms"], config["heartbeat.interval.ms"]
            config["group.protocol"] = "consumer"
        self.consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                                  "client.id": name, **config})
        self.consumer.subscribe([topic])
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            while not self.stop.is_set():
                msgs = self.consumer.consume(num_messages=100, timeout=0.2)
                # The whole assignment (KIP-848 callbacks are incremental).
                self.assigned = {p.partition for p in self.consumer.assignment()}
                for m in msgs:
                    if m.error():
                        continue
                    self.seen[(m.partition(), m.offset())] = m.key()
                if msgs:
                    self.consumer.commit(asynchronous=False)
        except Exception as e:  # reported by the scenario
            self.error = repr(e)
        finally:
            self.consumer.close()

    def leave(self):
        self.stop.set()
        self.thread.join(DEADLINE_S)


def wait_until(what, condition, members=()):
    deadline = time.time() + DEADLINE_S
    while time.time() < deadline:
        if condition():
            return
        time.sleep(0.1)
    state = [(sorted(m.assigned), len(m.seen), m.error) for m in members]
    fail(f"timed out waiting until {what}; members (assigned, seen, error): {state}")


def group(bootstrap, topic, protocol="classic"):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(topic, num_partitions=6,
                                                replication_factor=1)]).values():
        future.result(DEADLINE_S)
    produce(bootstrap, topic, "group", 600, 6, acks="all")
    name = f"{topic}-group"
    members = [Member(bootstrap, topic, name, f"m{i}", protocol) for i in range(3)]
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
    # Resume: a new member of the same group starts at the committed offsets.
    produce(bootstrap, topic, "later", 60, 6, acks="all")
    late = Member(bootstrap, topic, name, "late", protocol)
    wait_until("the new member reads the 60 new records", lambda: len(late.seen) >= 60, [late])
    time.sleep(0.5)
    late.leave()
    resumed_offsets = sorted({o for (_, o) in late.seen})
    described = admin.describe_consumer_groups([name])[name].result(DEADLINE_S)
    return {"three_way": three_way, "two_way": two_way, "errors": errors,
            "resumed_count": len(late.seen), "resumed_offsets": resumed_offsets,
            "state_after": str(described.state)}


def commit(bootstrap, topic, group_id, partition, offset):
    """Simple commit (no membership) of `offset` for `partition`, then read it back."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group_id,
                         "enable.auto.commit": False})
    consumer.commit(offsets=[TopicPartition(topic, partition, offset)], asynchronous=False)
    committed = consumer.committed([TopicPartition(topic, partition)], timeout=DEADLINE_S)
    consumer.close()
    return {"committed": committed[0].offset}


def committed(bootstrap, topic, group_id, partition):
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group_id,
                         "enable.auto.commit": False})
    got = consumer.committed([TopicPartition(topic, partition)], timeout=DEADLINE_S)
    consumer.close()
    return {"committed": got[0].offset}


def configs(bootstrap, topic):
    """Topic and broker configs, an incremental alter, and the cluster's description."""
    from confluent_kafka.admin import (AlterConfigOpType, ConfigEntry, ConfigResource,
                                       ResourceType)
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(topic, num_partitions=2,
                                                replication_factor=1)]).values():
        future.result(DEADLINE_S)
    resource = ConfigResource(ResourceType.TOPIC, topic)
    before = admin.describe_configs([resource])[resource].result(DEADLINE_S)
    change = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
        ConfigEntry("retention.ms", "3600000",
                    incremental_operation=AlterConfigOpType.SET)])
    admin.incremental_alter_configs([change])[change].result(DEADLINE_S)
    after = admin.describe_configs([resource])[resource].result(DEADLINE_S)
    refused = None
    bad = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
        ConfigEntry("cleanup.policy", "shred",
                    incremental_operation=AlterConfigOpType.SET)])
    try:
        admin.incremental_alter_configs([bad])[bad].result(DEADLINE_S)
    except Exception as e:  # the expected outcome
        refused = e.args[0].name() if e.args and hasattr(e.args[0], "name") else str(e)
    broker = ConfigResource(ResourceType.BROKER, "0")
    broker_configs = admin.describe_configs([broker])[broker].result(DEADLINE_S)
    cluster = admin.describe_cluster().result(DEADLINE_S)
    from confluent_kafka.admin import NewPartitions
    for future in admin.create_partitions([NewPartitions(topic, 5)]).values():
        future.result(DEADLINE_S)
    shrink_refused = None
    try:
        for future in admin.create_partitions([NewPartitions(topic, 3)]).values():
            future.result(DEADLINE_S)
    except Exception as e:  # the expected outcome
        shrink_refused = e.args[0].name() if e.args and hasattr(e.args[0], "name") else str(e)
    grown = len(admin.list_topics(topic, timeout=DEADLINE_S).topics[topic].partitions)
    return {"partitions_after_grow": grown, "shrink_refused": shrink_refused,"topic_config_count": len(before),
            "retention_before": before["retention.ms"].value,
            "cleanup_policy": before["cleanup.policy"].value,
            "retention_after": after["retention.ms"].value,
            "retention_after_source": str(after["retention.ms"].source),
            "refused": refused,
            "broker_auto_create": broker_configs["auto.create.topics.enable"].value,
            "cluster_id": cluster.cluster_id,
            "nodes": [f"{n.host}:{n.port}" for n in cluster.nodes]}


def join848(bootstrap, topic, group_id, want):
    """Join GROUP with group.protocol=consumer; wait until this member holds `want`
    partitions and has read a record from each; print them."""
    member = Member(bootstrap, topic, group_id, "kip848", "consumer")
    wait_until(f"this member holds {want} partitions and read from each",
               lambda: len(member.assigned) == want
               and {p for (p, _) in member.seen} >= member.assigned, [member])
    held = sorted(member.assigned)
    member.leave()
    return {"held": held}


def main():
    if len(sys.argv) < 4:
        fail(__doc__)
    scenario, bootstrap, topic = sys.argv[1:4]
    out = {"ok": True, "client": f"confluent-kafka {confluent_kafka.__version__} "
                                 f"librdkafka {confluent_kafka.libversion()[0]}"}
    if scenario == "roundtrip":
        out.update(roundtrip(bootstrap, topic))
    elif scenario == "configs":
        out.update(configs(bootstrap, topic))
    elif scenario == "group":
        out.update(group(bootstrap, topic))
    elif scenario == "group-kip848":
        out.update(group(bootstrap, topic, "consumer"))
    elif scenario == "join848":
        out.update(join848(bootstrap, topic, sys.argv[4], int(sys.argv[5])))
    elif scenario == "commit":
        out.update(commit(bootstrap, topic, sys.argv[4], int(sys.argv[5]), int(sys.argv[6])))
    elif scenario == "committed":
        out.update(committed(bootstrap, topic, sys.argv[4], int(sys.argv[5])))
    else:
        fail(f"unknown scenario {scenario}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
