#!/usr/bin/env bash
# Group commit under flush=always, before vs after, side by side in one run: each shape
# runs against every given `rilld` in turn (fresh data dir on $DATA_ROOT each time, same
# `rill` client), and prints msgs/s, latency and the segment fsyncs the broker did
# (`rill_storage_fsync_duration_seconds_count{file="segment"}` from its metrics endpoint).
#
# Usage: RILL=path/to/rill benches/group_commit.sh label=path/to/rilld [label=path/to/rilld...]
#   e.g. RILL=target/release/rill benches/group_commit.sh before=/tmp/old/rilld after=target/release/rilld
# Env: DATA_ROOT (default /tmp: the disk under test), ROUNDS (default 2), DURATION (10s),
#   ONLY (run only the shapes whose label contains it, e.g. ONLY=8p-).
set -euo pipefail
RILL=${RILL:?set RILL to the rill binary}
DATA_ROOT=${DATA_ROOT:-/tmp}
ROUNDS=${ROUNDS:-2}
DURATION=${DURATION:-10s}
PORT=${PORT:-19520}
HTTP=${HTTP:-19521}

# label, then the `rill bench produce` arguments (the topic is created with flush=always).
SHAPES=(
  "1p-8prod-100B-b10|--partitions 1 --producers 8 --message-size 100 --batch-size 10"
  "8p-8prod-1KiB-b1000|--partitions 8 --producers 8 --message-size 1024 --batch-size 1000"
)

segment_fsyncs() {
  curl -s "http://127.0.0.1:$HTTP/metrics" |
    awk '/^rill_storage_fsync_duration_seconds_count/ && /file="segment"/ {print $2}'
}

run_one() { # label rilld shape_label shape_args
  local label=$1 rilld=$2 shape=$3 args=$4 data pid before after line
  data=$(mktemp -d "$DATA_ROOT/rill-gc-XXXX")
  "$rilld" --listen 127.0.0.1:$PORT --http-listen 127.0.0.1:$HTTP --data-dir "$data" \
    --flush always >"$data.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do curl -s "http://127.0.0.1:$HTTP/metrics" >/dev/null && break; sleep 0.1; done
  # shellcheck disable=SC2086
  "$RILL" --broker 127.0.0.1:$PORT topic create gc $(echo "$args" | grep -o -- '--partitions [0-9]*') \
    --config flush=always >/dev/null
  sync
  before=$(segment_fsyncs)
  # shellcheck disable=SC2086
  line=$("$RILL" --broker 127.0.0.1:$PORT bench produce --topic gc $args --acks all \
    --duration "$DURATION" --json)
  after=$(segment_fsyncs)
  kill $pid; wait $pid 2>/dev/null || true
  rm -rf "$data" "$data.log"
  python3 - "$label" "$shape" "$before" "$after" "$DURATION" "$line" <<'EOF'
import json, sys
label, shape, before, after, duration, line = sys.argv[1:]
rep = json.loads(line)
secs = rep.get("elapsed_s") or float(duration.rstrip("s"))
lat = rep["latency_us"]
fsyncs = float(after) - float(before)
print("%-7s %-22s %10s msgs/s %8.1f MB/s  p50 %7d  p99 %7d us  %7d fsyncs  %6.0f fsyncs/s  %6.1f msgs/fsync"
      % (label, shape, format(round(rep["msgs_per_sec"]), ","), rep["mb_per_sec"],
         lat["p50"], lat["p99"], fsyncs, fsyncs / secs, rep["msgs_per_sec"] * secs / max(fsyncs, 1)))
EOF
}

# What the disk gives one writer: 4 KiB writes each followed by an fdatasync (O_DSYNC).
probe=$(mktemp "$DATA_ROOT/rill-gc-probe-XXXX")
dd if=/dev/zero of="$probe" bs=4k count=2000 oflag=dsync 2>&1 | tail -1 |
  awk '{printf "disk: 2000 x (4 KiB write + fdatasync) in %s s = %.0f syncs/s\n", $(NF-3), 2000 / $(NF-3)}'
rm -f "$probe"

for round in $(seq "$ROUNDS"); do
  for entry in "${SHAPES[@]}"; do
    shape=${entry%%|*}
    args=${entry#*|}
    [[ -z ${ONLY:-} || $shape == *"$ONLY"* ]] || continue
    for target in "$@"; do
      run_one "${target%%=*}" "${target#*=}" "$shape" "$args"
    done
  done
done
