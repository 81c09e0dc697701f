#!/bin/bash
# TLS beside plaintext, same build, same run, alternating (A B A B): one rilld serving
# plaintext and one serving TLS (certificates made here with openssl), data on /dev/shm,
# the library Producer (its defaults) for 1 KiB and 100 B records, and a Consumer reading
# the 1 KiB records back.
# Usage: [RILLD=target/release/rilld] [RILL=target/release/rill] [ROUNDS=2] benches/tls_ab.sh
set -eu
RILLD=${RILLD:-target/release/rilld}
RILL=${RILL:-target/release/rill}
ROUNDS=${ROUNDS:-2}
PORT=${PORT:-29431}
CERTS=$(mktemp -d)
trap 'rm -rf "$CERTS" /dev/shm/rill-tls-ab' EXIT
(
  cd "$CERTS"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
    -subj "/CN=bench CA" -keyout ca.key -out ca.pem 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=bench" \
    -keyout server.key -out server.csr 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >server.ext
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 \
    -extfile server.ext -out server.pem 2>/dev/null
)
figures() { # json on stdin -> "msgs/s MB/s p99_ms"
  python3 -c "import sys,json; d=json.loads(sys.stdin.read().strip().splitlines()[-1]); t=d.get('total',d); l=t.get('latency_us') or {}; print(round(t['msgs_per_sec']), round(t['mb_per_sec'],1), round(l.get('p99',0)/1000,1) if l else '-')"
}
for round in $(seq "$ROUNDS"); do
  for mode in plain tls; do
    rm -rf /dev/shm/rill-tls-ab
    tls_broker="" tls_client=""
    if [ "$mode" = tls ]; then
      tls_broker="--tls-cert $CERTS/server.pem --tls-key $CERTS/server.key"
      tls_client="--tls-ca $CERTS/ca.pem"
    fi
    # shellcheck disable=SC2086
    "$RILLD" --data-dir /dev/shm/rill-tls-ab --listen 127.0.0.1:$PORT --http-listen none $tls_broker >/dev/null 2>&1 &
    pid=$!
    sleep 1
    rill() { # shellcheck disable=SC2086
      "$RILL" --broker 127.0.0.1:$PORT $tls_client --output json bench "$@" 2>/dev/null | figures
    }
    echo "round=$round $mode produce-1KiB $(rill produce --topic k1 --message-size 1024 --count 1000000)"
    echo "round=$round $mode produce-100B $(rill produce --topic b100 --message-size 100 --count 3000000)"
    echo "round=$round $mode consume-1KiB $(rill consume --topic k1)"
    kill -TERM "$pid"
    wait "$pid" || true
  done
done
