#!/bin/bash
# Old vs new `rill` client against one broker on /dev/shm, alternating old/new per round:
# the library Producer with 100-byte records (each run's topic deleted after it), then
# the library Consumer reading 1 KiB records, and (new client only, it has the mode)
# the raw Fetch loop on the same topic. One JSON line per run, with side, round, the
# 1-minute load average and the client's CPU seconds (user + system) added, goes to $OUT.
# Usage: RILL_OLD=path RILL_NEW=path RILLD=path [OUT=file] [ROUNDS=3] [N=5000000]
#        [C=2000000] benches/client_ab.sh
set -eu
PORT=${PORT:-29431}
N=${N:-5000000}
C=${C:-2000000}
ROUNDS=${ROUNDS:-3}
OUT=${OUT:-/dev/stdout}
DATA=/dev/shm/rill-client-ab
: "${RILL_OLD:?path of the old rill}" "${RILL_NEW:?path of the new rill}" "${RILLD:?path of rilld}"
rm -rf "$DATA"
"$RILLD" --data-dir "$DATA" --listen 127.0.0.1:$PORT --http-listen none >/dev/null 2>&1 &
pid=$!
trap 'kill -TERM $pid; wait $pid || true; rm -rf "$DATA" "$DATA.time"' EXIT
sleep 1
B="--broker 127.0.0.1:$PORT"

# Runs one bench and appends its JSON line with side, round and load average.
run() {
  local side=$1 round=$2
  shift 2
  local load line cpu
  load=$(cut -d' ' -f1 /proc/loadavg)
  line=$(/usr/bin/time -f '%U %S' -o "$DATA.time" "$@" --output json 2>/dev/null | tail -1)
  cpu=$(awk '{print $1 + $2}' "$DATA.time")
  echo "$line" | python3 -c "
import sys, json
d = json.loads(sys.stdin.read())
d['side'], d['round'], d['load_avg_1m'], d['client_cpu_s'] = '$side', $round, $load, $cpu
print(json.dumps(d))
sys.stderr.write('%s round %s %s %s: %.0f msgs/s %.1f MB/s, client CPU %.2f s (load %s)\n' % (
    d['side'], d['round'], d['mode'], d['parameters'].get('path', ''),
    d['msgs_per_sec'], d['mb_per_sec'], d['client_cpu_s'], d['load_avg_1m']))" >>"$OUT"
}

# shellcheck disable=SC2086
"$RILL_NEW" $B bench produce --topic c1k --message-size 1024 --count "$C" --output json >/dev/null
for round in $(seq "$ROUNDS"); do
  for side in old new; do
    if [ "$side" = old ]; then rill=$RILL_OLD; else rill=$RILL_NEW; fi
    # shellcheck disable=SC2086
    run "$side" "$round" "$rill" $B bench produce --topic "p-$side-$round" --message-size 100 --count "$N"
    # shellcheck disable=SC2086
    "$RILL_NEW" $B topic delete "p-$side-$round" >/dev/null
    # shellcheck disable=SC2086
    run "$side" "$round" "$rill" $B bench consume --topic c1k --message-size 1024
    if [ "$side" = new ]; then
      # shellcheck disable=SC2086
      run raw "$round" "$rill" $B bench consume --raw --topic c1k --message-size 1024
    fi
  done
done
