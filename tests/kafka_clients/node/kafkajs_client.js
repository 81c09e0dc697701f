// kafkajs against Rill's Kafka listener (tests/kafka_clients.rs).
// Usage: node kafkajs_client.js BOOTSTRAP TOPIC
// Creates TOPIC (2 partitions), produces 40 records with keys and headers (gzip for half),
// consumes them in a consumer group, checks every key, value, header and offset, and
// prints one JSON object; exits non-zero on failure.
const { Kafka, CompressionTypes, logLevel } = require("kafkajs");

const COUNT = 40;
const DEADLINE_MS = 60000;

function fail(message) {
  console.log(JSON.stringify({ ok: false, error: message }));
  process.exit(1);
}

async function main() {
  const [bootstrap, topic] = process.argv.slice(2);
  if (!bootstrap || !topic) fail("usage: node kafkajs_client.js BOOTSTRAP TOPIC");
  const kafka = new Kafka({ clientId: "kafkajs-test", brokers: [bootstrap], logLevel: logLevel.ERROR });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true });
  const producer = kafka.producer();
  await producer.connect();
  const sent = new Map();
  for (const [codec, from] of [[CompressionTypes.None, 0], [CompressionTypes.GZIP, COUNT / 2]]) {
    const messages = [];
    for (let i = from; i < from + COUNT / 2; i++) {
      messages.push({ key: `k${i}`, value: `value-${i}`, partition: i % 2, headers: { trace: `t${i}` } });
    }
    const results = await producer.send({ topic, acks: -1, compression: codec, messages });
    for (const r of results) sent.set(r.partition, (sent.get(r.partition) || 0) + messages.filter((m) => m.partition === r.partition).length);
  }
  await producer.disconnect();
  const consumer = kafka.consumer({ groupId: `${topic}-group`, sessionTimeout: 6000, heartbeatInterval: 500 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const problems = [];
  const seen = new Set();
  const offsets = { 0: [], 1: [] };
  const done = new Promise((resolve) => {
    consumer.run({
      eachMessage: async ({ partition, message }) => {
        const key = message.key.toString();
        const i = Number(key.slice(1));
        if (message.value.toString() !== `value-${i}`) problems.push(`${key} value ${message.value}`);
        if ((message.headers.trace || "").toString() !== `t${i}`) problems.push(`${key} header`);
        if (partition !== i % 2) problems.push(`${key} in partition ${partition}`);
        offsets[partition].push(Number(message.offset));
        seen.add(key);
        if (seen.size === COUNT) resolve();
      },
    });
  });
  const timer = setTimeout(() => fail(`consumed ${seen.size} of ${COUNT} in time`), DEADLINE_MS);
  await done;
  clearTimeout(timer);
  await consumer.disconnect();
  const described = await admin.describeGroups([`${topic}-group`]);
  await admin.deleteTopics({ topics: [topic] });
  const left = await admin.listTopics();
  await admin.disconnect();
  console.log(JSON.stringify({
    ok: true,
    client: `kafkajs ${require("kafkajs/package.json").version}`,
    consumed: seen.size,
    problems,
    offsets_p0: offsets[0],
    offsets_p1: offsets[1],
    group_state: described.groups[0].state,
    deleted: !left.includes(topic),
  }));
}

main().catch((e) => fail(String(e && e.stack || e)));
