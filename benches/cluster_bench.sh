#!/usr/bin/env bash
# Replication's cost on one host (issue #16): `rill bench` through the library Producer
# (idempotent, acks=all) and Consumer against one single broker (replication factor 1)
# and against three local brokers in a cluster (replication factor 3, then 1 for
# reference), same machine, same run, data on $DATA_ROOT (default /dev/shm: the broker,
# not the disk, is measured). Prints one JSON line per run, the label added; each report
# carries `topology` (bootstrap list, replication factor, leader per partition).
#
# Usage: RILLD=target/release/rilld RILL=target/release/rill benches/cluster_bench.sh
# Env: N (records per producer, default 1000000), SIZE (bytes, default 1024),
#      PARTITIONS (default 3), PRODUCERS (default 1), DATA_ROOT, OUT (default stdout),
#      BASE_PORT (default 29600).
set -euo pipefail
RILLD=${RILLD:?set RILLD to the rilld binary (a release build for figures)}
RILL=${RILL:?set RILL to the rill binary}
N=${N:-1000000}
SIZE=${SIZE:-1024}
PARTITIONS=${PARTITIONS:-3}
PRODUCERS=${PRODUCERS:-1}
OUT=${OUT:-/dev/stdout}
PORT=${BASE_PORT:-29600}
work=$(mktemp -d "${DATA_ROOT:-/dev/shm}/rill-cluster-bench-XXXX")
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

single=127.0.0.1:$PORT
"$RILLD" --listen "$single" --http-listen none --data-dir "$work/single" \
  2>"$work/single.log" &
pids+=($!)

voters=""
cluster=""
for n in 1 2 3; do
  voters+="${voters:+,}$n@127.0.0.1:$((PORT + 10 + n))"
  cluster+="${cluster:+,}127.0.0.1:$((PORT + n))"
done
for n in 1 2 3; do
  "$RILLD" --node-id "$n" --cluster "$voters" --listen "127.0.0.1:$((PORT + n))" \
    --http-listen none --data-dir "$work/node$n" 2>"$work/node$n.log" &
  pids+=($!)
done

# Waits until `rill --broker $1 cluster status` lists $2 brokers alive (at most 30 s).
wait_alive() {
  for _ in $(seq 150); do
    alive=$("$RILL" --broker "$1" cluster status --output json 2>/dev/null |
      grep -c '"alive": true' || true)
    [ "$alive" -ge "$2" ] && return 0
    sleep 0.2
  done
  echo "brokers at $1 did not come up; logs in $work" >&2
  tail -20 "$work"/*.log >&2
  return 1
}
wait_alive "$single" 1
wait_alive "$cluster" 3

# Runs one bench and prints its JSON line with the label added.
run() { # label, bootstrap, bench arguments...
  local label=$1 bootstrap=$2
  shift 2
  echo "== $label: rill --broker $bootstrap bench $*" >&2
  "$RILL" --broker "$bootstrap" --output json bench "$@" | tail -1 |
    python3 -c "
import json, sys
d = json.loads(sys.stdin.read())
d = {'label': '$label', **d}
t = d.get('topology') or {}
l = d.get('latency_us') or {}
sys.stderr.write('%s: %.0f msgs/s %.1f MB/s p99 %s us (rf %s, leaders %s)\n' % (
    d['label'], d['msgs_per_sec'], d['mb_per_sec'], l.get('p99', '-'),
    t.get('replication_factor'), t.get('leaders')))
print(json.dumps(d))" >>"$OUT"
}

# Creates topic $2 with replication factor $3 through $1 and waits until every
# partition has a leader (at most 30 s), so no run measures an election.
create_topic() { # bootstrap, topic, replication factor
  "$RILL" --broker "$1" topic create "$2" --partitions "$PARTITIONS" \
    --replication-factor "$3" >/dev/null
  for _ in $(seq 150); do
    "$RILL" --broker "$1" --output json topic describe "$2" 2>/dev/null | python3 -c "
import json, sys
d = json.load(sys.stdin)
sys.exit(0 if d['partitions'] and all(p['leader'] >= 0 for p in d['partitions']) else 1)" &&
      return 0
    sleep 0.2
  done
  echo "topic $2 has a partition without a leader after 30 s; logs in $work" >&2
  return 1
}
create_topic "$single" single 1
create_topic "$cluster" rf3 3
create_topic "$cluster" rf1 1

load=(--message-size "$SIZE" --partitions "$PARTITIONS" --producers "$PRODUCERS" --acks all)
run single-rf1-produce "$single" produce --topic single "${load[@]}" --count "$N"
run cluster-rf3-produce "$cluster" produce --topic rf3 --replication-factor 3 "${load[@]}" --count "$N"
run cluster-rf1-produce "$cluster" produce --topic rf1 --replication-factor 1 "${load[@]}" --count "$N"
run single-rf1-consume "$single" consume --topic single --message-size "$SIZE"
run cluster-rf3-consume "$cluster" consume --topic rf3 --message-size "$SIZE"
run cluster-rf1-consume "$cluster" consume --topic rf1 --message-size "$SIZE"
