"""confluent-kafka (librdkafka) against a Rill Kafka listener with ACLs on.

Usage: python acl_client.py BOOTSTRAP DENIED_TOPIC ALLOWED_TOPIC
Produces to and consumes from both topics, then adds, lists and removes an ACL of
User:carol with the admin client, and prints one JSON object: the error each got on
DENIED_TOPIC (None if it succeeded), the record read back from ALLOWED_TOPIC, the topics
the cluster listing shows, and what the admin client's ACL calls returned. Exits non-zero
only on a crash.
"""
import json
import sys
import time

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import (AclBinding, AclBindingFilter, AclOperation,
                                   AclPermissionType, AdminClient, ResourcePatternType,
                                   ResourceType)

DEADLINE_S = 30


def produce(bootstrap, topic):
    """The error name of producing one record to topic, or None when delivered."""
    producer = Producer({"bootstrap.servers": bootstrap, "message.timeout.ms": DEADLINE_S * 1000})
    outcome = []
    producer.produce(topic, value=b"acl-test",
                     on_delivery=lambda err, msg: outcome.append(err.name() if err else None))
    producer.flush(DEADLINE_S + 5)
    return outcome[0] if outcome else "NO_DELIVERY_REPORT"


def consume(bootstrap, topic):
    """The first thing a group subscribed to topic reads: an error name or a value."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"acl-test-{topic}",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    deadline = time.time() + DEADLINE_S
    try:
        while time.time() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                return {"error": msg.error().name()}
            return {"value": msg.value().decode()}
        return {"error": "NOTHING_WITHIN_DEADLINE"}
    finally:
        consumer.close()


def describe(acl):
    return f"{acl.permission_type.name} {acl.principal} {acl.operation.name} " \
           f"{acl.restype.name} {acl.resource_pattern_type.name}:{acl.name} {acl.host}"


def admin_acls(bootstrap):
    """Creates an ACL, lists it, deletes it; what each step saw, as text."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    carol = AclBinding(ResourceType.TOPIC, "ledger-", ResourcePatternType.PREFIXED, "User:carol",
                       "*", AclOperation.READ, AclPermissionType.ALLOW)
    for future in admin.create_acls([carol]).values():
        future.result(DEADLINE_S)
    carol_filter = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY,
                                    "User:carol", None, AclOperation.ANY, AclPermissionType.ANY)
    listed = admin.describe_acls(carol_filter).result(DEADLINE_S)
    deleted = []
    for future in admin.delete_acls([carol_filter]).values():
        deleted.extend(future.result(DEADLINE_S))
    after = admin.describe_acls(carol_filter).result(DEADLINE_S)
    return {"listed": [describe(a) for a in listed], "deleted": [describe(a) for a in deleted],
            "after": [describe(a) for a in after]}


def main():
    bootstrap, denied, allowed = sys.argv[1:4]
    listed = sorted(Producer({"bootstrap.servers": bootstrap}).list_topics(timeout=10).topics)
    print(json.dumps({
        "ok": True,
        "denied_produce": produce(bootstrap, denied),
        "denied_consume": consume(bootstrap, denied),
        "allowed_produce": produce(bootstrap, allowed),
        "allowed_consume": consume(bootstrap, allowed),
        "listed": listed,
        "admin_acls": admin_acls(bootstrap),
    }))


if __name__ == "__main__":
    main()
