#!/usr/bin/env bash
# Kafka-protocol throughput beside the native protocol's: one release rilld with both
# listeners, the same message count and size, the same run. Kafka side: kcat
# (librdkafka) producing from a file and consuming to /dev/null; native side:
# `rill bench` with the client library's Producer and a Consumer.
#
#   cargo build --release -p rill-broker --bin rilld -p rill-client --bin rill
#   N=2000000 SIZE=100 benches/kafka_vs_native.sh
set -euo pipefail
bin=${RILL_BIN:-target/release}
n=${N:-2000000}
size=${SIZE:-100}
work=$(mktemp -d)
"$bin/rilld" --data-dir "$work/data" --listen 127.0.0.1:29420 --http-listen none \
  --kafka-listen 127.0.0.1:29092 >"$work/rilld.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 100); do kcat -b 127.0.0.1:29092 -L >/dev/null 2>&1 && break; sleep 0.1; done
python3 -c "
import sys
line = b'x' * ($size - 1) + b'\n'
sys.stdout.buffer.write(line * $n)" >"$work/messages"

rate() { # label, seconds, count
  python3 -c "s=$2; n=$3; print(f'$1: {n/s:,.0f} msgs/s, {n*$size/s/1e6:,.1f} MB/s ({s:.2f} s)')"
}
timed() { local start end; start=$(date +%s.%N); "$@"; end=$(date +%s.%N); python3 -c "print($end - $start)"; }

echo "== native: rill bench (library Producer, then Consumer), $n x $size B"
"$bin/rill" bench produce --broker 127.0.0.1:29420 --topic native --message-size "$size" \
  --count "$n" --client producer
"$bin/rill" bench consume --broker 127.0.0.1:29420 --topic native --message-size "$size" --count "$n"

echo "== Kafka protocol: kcat $(kcat -V 2>&1 | sed -n 's/.*librdkafka version \([^ ]*\).*/librdkafka \1/p' | head -1), $n x $size B"
s=$(timed kcat -b 127.0.0.1:29092 -P -t kafka -l "$work/messages" -X linger.ms=5 \
  -X batch.num.messages=10000 -X queue.buffering.max.messages=2000000 -X acks=1)
rate "kcat produce (acks=1)" "$s" "$n"
s=$(timed sh -c "kcat -b 127.0.0.1:29092 -C -t kafka -o beginning -e -q -c $n >/dev/null")
rate "kcat consume" "$s" "$n"
