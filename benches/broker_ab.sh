#!/bin/bash
# Old vs new broker with the same client, alternating, 100-byte records on /dev/shm:
# hand-built batches of 1000 (--raw) and the library Producer with its defaults.
# Usage: RILLD_OLD=path RILLD_NEW=path [RILL=target/release/rill] benches/broker_ab.sh
set -eu
RILL=${RILL:-target/release/rill}
PORT=${PORT:-29421}
for round in 1 2 3; do
  for b in old new; do
    if [ "$b" = old ]; then rilld=${RILLD_OLD:?path of the old rilld}; else rilld=${RILLD_NEW:?path of the new rilld}; fi
    rm -rf /dev/shm/rill-ab
    "$rilld" --data-dir /dev/shm/rill-ab --listen 127.0.0.1:$PORT --http-listen none >/dev/null 2>&1 &
    pid=$!
    sleep 1
    for mode in raw lib; do
      extra=""
      if [ "$mode" = raw ]; then extra="--raw --batch-size 1000"; fi
      # shellcheck disable=SC2086
      rate=$("$RILL" --broker 127.0.0.1:$PORT bench produce --topic "t-$mode" --message-size 100 \
        --count 2000000 $extra --output json 2>/dev/null | tail -1 |
        python3 -c "import sys,json; d=json.loads(sys.stdin.read()); t=d.get('total',d); print(round(t['msgs_per_sec']/1e6,2))")
      echo "round=$round broker=$b mode=$mode M_msgs_per_s=$rate"
    done
    kill -TERM "$pid"
    wait "$pid" || true
  done
done
rm -rf /dev/shm/rill-ab
