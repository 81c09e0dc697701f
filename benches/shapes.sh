#!/usr/bin/env bash
# Runs the issue's benchmark shapes against a fresh release `rilld` (flush os, temp data
# dir), each broker shape right after the loopback baseline of the same frame size.
# Prints one JSON line per run (to $OUT, default /tmp/rill-shapes.jsonl) and samples the
# broker's VmRSS / RssAnon every 0.5 s into $OUT.rss.
#
# Produce shapes run twice: through the library's Producer with its defaults (label
# without suffix: what applications get, the headline) and with --raw, bench-built
# batches of 1000 (label "-raw": the transport's ceiling). Each report's
# parameters.path says which; partitions_written shows the 1,000-partition shapes
# write every partition.
#
# Usage: CARGO_TARGET_DIR=... [DATA_ROOT=/dev/shm] benches/shapes.sh [shape...]
#   shapes: p1k p100 c1k p8 p1000 e2e always (default: all)
set -euo pipefail
BIN=${CARGO_TARGET_DIR:-target}/release
OUT=${OUT:-/tmp/rill-shapes.jsonl}
PORT=${PORT:-19420}
B="--broker 127.0.0.1:$PORT"
DATA=$(mktemp -d "${DATA_ROOT:-/tmp}/rill-bench-XXXX")
# In a VM that returns freed memory to its host, page-cache figures depend on memory
# state: see vm-prep.sh. Say which case this run is.
"$(dirname "$0")/vm-prep.sh" status >&2 || true
"$BIN/rilld" --listen 127.0.0.1:$PORT --data-dir "$DATA" --flush os >/tmp/rilld-bench.log 2>&1 &
PID=$!
trap 'kill $PID $RSS_PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$DATA"' EXIT
sleep 1
( while kill -0 $PID 2>/dev/null; do
    echo "$(date +%s.%N) $(grep -E 'VmRSS|RssAnon' /proc/$PID/status | awk '{printf "%s %s ", $1, $2}')"
    sleep 0.5
  done ) >"$OUT.rss" &
RSS_PID=$!
run() { # label, command...
  local label=$1; shift
  # Start every run with no dirty pages: otherwise writeback of the previous shape's
  # data competes with this one (measured: 1,000-partition produce 441 vs 1,941 MB/s).
  sync
  echo "== $label: rill $*" >&2
  local line
  line=$("$BIN/rill" "$@" --output json)
  echo "{\"label\":\"$label\",\"at\":\"$(date +%T)\",\"report\":$line}" | tee -a "$OUT" |
    python3 "$(dirname "$0")/shapes_line.py"
}
SHAPES=${*:-p1k p100 c1k p8 p1000 e2e always}
for s in $SHAPES; do case $s in
  p1k)  run base1k bench baseline --duration 5s --message-size 1024 --batch-size 1000
        run p1k $B bench produce --topic s1k --message-size 1024 --count 500000
        run p1k-raw $B bench produce --raw --topic s1k --message-size 1024 --batch-size 1000 --count 500000 ;;
  p100) run base100 bench baseline --duration 5s --message-size 100 --batch-size 1000
        run p100 $B bench produce --topic s100 --message-size 100 --count 5000000
        run p100-raw $B bench produce --raw --topic s100 --message-size 100 --batch-size 1000 --count 5000000 ;;
  c1k)  run base1k bench baseline --duration 5s --message-size 1024 --batch-size 1000
        run c1k $B bench consume --topic s1k --message-size 1024
        run c100 $B bench consume --topic s100 --message-size 100 ;;
  p8)   run base1k-8 bench baseline --duration 5s --message-size 1024 --batch-size 1000 --producers 8
        run p8 $B bench produce --topic s8 --partitions 8 --producers 8 --message-size 1024 --count 62500
        run p8-raw $B bench produce --raw --topic s8 --partitions 8 --producers 8 --message-size 1024 --batch-size 1000 --count 62500 ;;
  # Records go round-robin over the partitions (library) or batch by batch (raw: 1,000
  # batches of 1,000 for 1,000 partitions), so every partition is written.
  p1000) run base1k bench baseline --duration 5s --message-size 1024 --batch-size 1000
        run p1000 $B bench produce --topic s1000 --partitions 1000 --message-size 1024 --count 500000
        run p1000-raw $B bench produce --raw --topic s1000 --partitions 1000 --message-size 1024 --batch-size 1000 --count 1000000 ;;
  e2e)  run e2e $B bench e2e --topic se2e --message-size 1024 --rate 50000 --linger 1ms --warmup 2s --duration 15s ;;
  always) "$BIN/rill" $B topic create sal --partitions 8 --config flush=always >/dev/null
        run always $B bench produce --topic sal --partitions 8 --producers 8 --message-size 1024 --count 20000
        run always-raw $B bench produce --raw --topic sal --partitions 8 --producers 8 --acks all --message-size 1024 --batch-size 1000 --count 20000 ;;
esac; done
sleep 0.6
awk '{for (i=2;i<=NF;i+=2) if ($i=="VmRSS:" && $(i+1)>m) m=$(i+1); else if ($i=="RssAnon:" && $(i+1)>a) a=$(i+1)} END {printf "max VmRSS %d KiB, max RssAnon %d KiB\n", m, a}' "$OUT.rss" >&2
du -sh "$DATA" >&2
