"""kafka-python or confluent-kafka (librdkafka) authenticating to Rill's Kafka listener
with SASL (security.protocol=SASL_PLAINTEXT).

Usage: python sasl_client.py CLIENT BOOTSTRAP MECHANISM USER PASSWORD TOPIC EXPECT
  CLIENT  kafka-python | confluent | confluent-admin
  EXPECT  ok      produce 5 records, consume them back, check every value
          refused the login must fail with an authentication error
  confluent-admin (as USER): create the user named TOPIC with password EXPECT through
          AlterUserScramCredentials (SCRAM-SHA-256 and -512), then describe it
Prints one JSON object; exits non-zero with a message on the first failure.
"""
import json
import sys
import time

COUNT = 5
DEADLINE_S = 30


def done(**fields):
    print(json.dumps({"ok": True, **fields}))
    sys.exit(0)


def fail(message):
    print(json.dumps({"ok": False, "error": message}))
    sys.exit(1)


def values(topic):
    return [f"{topic}-{i}".encode() for i in range(COUNT)]


def kafka_python(bootstrap, mechanism, user, password, topic, expect):
    import logging

    import kafka
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    class Collect(logging.Handler):
        def __init__(self):
            super().__init__(logging.WARNING)
            self.messages = []

        def emit(self, rec):
            self.messages.append(rec.getMessage())

    logged = Collect()
    logging.getLogger("kafka").addHandler(logged)

    auth = dict(bootstrap_servers=bootstrap, security_protocol="SASL_PLAINTEXT",
                sasl_mechanism=mechanism, sasl_plain_username=user,
                sasl_plain_password=password)
    if expect == "refused":
        # Give up bootstrapping soon: kafka-python retries a failed login until then.
        auth.update(api_version=(2, 5, 0), request_timeout_ms=5000,
                    max_block_ms=5000, reconnect_backoff_max_ms=500)
    try:
        producer = KafkaProducer(**auth)
        for v in values(topic):
            producer.send(topic, value=v, partition=0).get(timeout=DEADLINE_S)
        producer.close()
    except Exception as e:  # the login failed
        if expect == "refused":
            # kafka-python logs the authentication error and retries until it gives up.
            text = " | ".join([f"{type(e).__name__}: {e}"] + logged.messages)
            if "uthentication" not in text:
                fail(f"refused, but not for authentication: {text}")
            done(client=f"kafka-python {kafka.__version__}", refused=text[:300])
        fail(f"produce failed: {type(e).__name__}: {e}")
    if expect == "refused":
        fail("a wrong password was accepted")
    consumer = KafkaConsumer(**auth, enable_auto_commit=False)
    tp = TopicPartition(topic, 0)
    consumer.assign([tp])
    consumer.seek_to_beginning(tp)
    got = []
    deadline = time.time() + DEADLINE_S
    while len(got) < COUNT and time.time() < deadline:
        for batch in consumer.poll(timeout_ms=500).values():
            got.extend(r.value for r in batch)
    consumer.close()
    if got != values(topic):
        fail(f"read back {got!r}")
    done(client=f"kafka-python {kafka.__version__}", consumed=len(got))


def confluent(bootstrap, mechanism, user, password, topic, expect):
    import confluent_kafka
    from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

    errors = []

    def on_error(err):
        errors.append(err)

    auth = {"bootstrap.servers": bootstrap, "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": mechanism, "sasl.username": user, "sasl.password": password,
            "error_cb": on_error}
    client = f"confluent-kafka {confluent_kafka.version()[0]} librdkafka {confluent_kafka.libversion()[0]}"
    producer = Producer(auth)
    delivered = []
    for v in values(topic):
        producer.produce(topic, value=v, partition=0,
                         on_delivery=lambda err, msg: delivered.append(err))
    deadline = time.time() + DEADLINE_S
    while len(delivered) < COUNT and time.time() < deadline:
        producer.poll(0.2)
        auth_errors = [e for e in errors if e.code() == KafkaError._AUTHENTICATION]
        if auth_errors:
            if expect == "refused":
                done(client=client, refused=auth_errors[0].str())
            fail(f"authentication failed: {auth_errors[0].str()}")
    if expect == "refused":
        fail(f"a wrong password was accepted (errors: {[e.str() for e in errors]})")
    if len(delivered) < COUNT or any(delivered):
        fail(f"delivery failed: {delivered} {[e.str() for e in errors]}")
    consumer = Consumer({**auth, "group.id": f"{topic}-reader", "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, 0, confluent_kafka.OFFSET_BEGINNING)])
    got = []
    deadline = time.time() + DEADLINE_S
    while len(got) < COUNT and time.time() < deadline:
        msg = consumer.poll(0.5)
        if msg is not None and not msg.error():
            got.append(msg.value())
    consumer.close()
    if got != values(topic):
        fail(f"read back {got!r}")
    done(client=client, consumed=len(got))


def confluent_admin(bootstrap, mechanism, user, password, new_user, new_password):
    from confluent_kafka.admin import (AdminClient, ScramCredentialInfo, ScramMechanism,
                                       UserScramCredentialUpsertion)

    admin = AdminClient({"bootstrap.servers": bootstrap, "security.protocol": "SASL_PLAINTEXT",
                         "sasl.mechanism": mechanism, "sasl.username": user,
                         "sasl.password": password})
    upserts = [UserScramCredentialUpsertion(new_user, ScramCredentialInfo(m, 4096),
                                            new_password.encode())
               for m in (ScramMechanism.SCRAM_SHA_256, ScramMechanism.SCRAM_SHA_512)]
    for fut in admin.alter_user_scram_credentials(upserts).values():
        fut.result(timeout=DEADLINE_S)
    described = admin.describe_user_scram_credentials([new_user])[new_user].result(
        timeout=DEADLINE_S)
    mechanisms = sorted(str(info.mechanism) for info in described.scram_credential_infos)
    if len(mechanisms) != 2:
        fail(f"described {mechanisms}")
    done(created=new_user, mechanisms=mechanisms)


def main():
    if len(sys.argv) != 8:
        fail(__doc__)
    kind, bootstrap, mechanism, user, password, topic, expect = sys.argv[1:]
    {"kafka-python": kafka_python, "confluent": confluent, "confluent-admin": confluent_admin}[kind](
        bootstrap, mechanism, user, password, topic, expect)


if __name__ == "__main__":
    main()
