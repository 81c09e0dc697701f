#!/usr/bin/env bash
# Runs every ```sh block of README.md as printed, so a README command cannot break
# unnoticed. Fails (exit 1) if any block fails, naming the block and its line.
#
# A block runs from the repository root with `bash -euo pipefail`. An HTML comment on
# the line before the opening fence says what a block needs:
#   (nothing)                         run as is
#   <!-- readme-check: server -->     starts a long-running rilld: run it in the
#                                     background, wait until it accepts connections, stop
#                                     it with SIGTERM and require exit 0
#   <!-- readme-check: broker -->     talks to a broker: a fresh rilld is started for the
#                                     block, RILL_BROKER points at it, the README's
#                                     address 127.0.0.1:9420 is replaced by its address
#                                     (127.0.0.1:9421, its HTTP endpoint, likewise)
#                                     and `rill` is on PATH (as after `cargo install`)
#   <!-- readme-check: broker until-stopped -->
#                                     the same, for a block whose last command runs until
#                                     stopped (a consumer): it must still be running, not
#                                     failed, after UNTIL_STOPPED_SECONDS
#   <!-- readme-check: broker kafka -->
#                                     the same, the rilld also serving Kafka clients on a
#                                     free port that replaces the README's 127.0.0.1:9092
#   <!-- readme-check: broker tls kafka -->
#                                     the same, the rilld serving TLS with the
#                                     certificates the README's TLS setup made in
#                                     rill-tls/ (client certificates requested)
#   <!-- readme-check: skip REASON --> not run (REASON is printed)
# Servers get free loopback ports and a temporary data directory through RILL_LISTEN,
# RILL_HTTP_LISTEN and RILL_DATA_DIR, so the check never collides with a broker already
# running on the machine.
#
# Usage: .ci/readme-commands.sh [README]   (honours CARGO_TARGET_DIR)
set -euo pipefail
cd "$(dirname "$0")/.."
README=${1:-README.md}
TARGET=${CARGO_TARGET_DIR:-target}
UNTIL_STOPPED_SECONDS=60
WORK=$(mktemp -d "${TMPDIR:-/tmp}/readme-check-XXXX")
SERVER_PID=
LINKED_TARGET=
cleanup() {
  stop_server || true
  # The README's paths say target/...; a link made for a custom CARGO_TARGET_DIR goes.
  if [[ -n "$LINKED_TARGET" ]]; then rm -f target; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits until 127.0.0.1:$1 accepts a connection, while process $2 lives (deadline $3 s).
wait_port() {
  local port=$1 pid=$2 deadline=$((SECONDS + $3))
  while ((SECONDS < deadline)); do
    if ! kill -0 "$pid" 2>/dev/null; then return 1; fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.2
  done
  return 1
}

# Stops the server started by start_server; returns its exit status.
stop_server() {
  [[ -n "$SERVER_PID" ]] || return 0
  local pid=$SERVER_PID status=0
  SERVER_PID=
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" || status=$?
  return "$status"
}

# Starts `bash -c "$1"` in the background as a server on fresh ports and data dir.
start_server() {
  local port http_port
  port=$(free_port)
  http_port=$(free_port)
  mkdir -p "$WORK/data-$port"
  RILL_LISTEN=127.0.0.1:$port RILL_HTTP_LISTEN=127.0.0.1:$http_port \
    RILL_DATA_DIR="$WORK/data-$port" bash -c "exec $1" >"$WORK/server-$port.log" 2>&1 &
  SERVER_PID=$!
  SERVER_ADDR=127.0.0.1:$port
  SERVER_HTTP_ADDR=127.0.0.1:$http_port
  # A release build may come first: allow it time.
  if ! wait_port "$port" "$SERVER_PID" 1800; then
    echo "server did not start: $1" >&2
    tail -n 30 "$WORK/server-$port.log" >&2
    return 1
  fi
}

# Runs all lines of $1 but the last as usual, then the last (a command that runs until
# stopped) for UNTIL_STOPPED_SECONDS: it passes if it printed something and was still
# running (or ended with 0).
run_until_stopped() ( # a subshell: its exports stay inside
  local head last out=$WORK/until-stopped.out status=0
  head=$(printf '%s\n' "$1" | sed -e '/^[[:space:]]*$/d' | sed '$d')
  last=$(printf '%s\n' "$1" | sed -e '/^[[:space:]]*$/d' | tail -n 1)
  export PATH="$TARGET/release:$PATH" RILL_BROKER=$SERVER_ADDR
  if [[ -n "$head" ]]; then bash -euo pipefail -c "$head" || return 1; fi
  timeout "$UNTIL_STOPPED_SECONDS" bash -euo pipefail -c "$last" >"$out" || status=$?
  cat "$out"
  if [[ $status != 0 && $status != 124 ]]; then return "$status"; fi
  if [[ ! -s "$out" ]]; then
    echo "printed nothing in ${UNTIL_STOPPED_SECONDS}s: $last" >&2
    return 1
  fi
)

# Prints the blocks as records: kind<TAB>line<TAB>base64(body).
extract_blocks() {
  python3 - "$README" <<'PY'
import base64, re, sys
lines = open(sys.argv[1], encoding="utf-8").read().split("\n")
kind, i = "run", 0
while i < len(lines):
    line = lines[i]
    marker = re.match(r"\s*<!--\s*readme-check:\s*(\w+)(.*?)-->", line)
    if marker:
        rest = marker.group(2).strip()
        if marker.group(1) == "skip":
            kind = "skip\t" + rest
        elif rest:
            kind = marker.group(1) + "-" + rest
        else:
            kind = marker.group(1)
    elif line.strip() == "```sh":
        start, body = i + 1, []
        i += 1
        while i < len(lines) and lines[i].strip() != "```":
            body.append(lines[i])
            i += 1
        text = "\n".join(body) + "\n"
        k, _, reason = kind.partition("\t")
        print(f"{k}\t{start}\t{base64.b64encode(text.encode()).decode()}\t{reason}")
        kind = "run"
    elif line.strip():
        kind = "run"
    i += 1
PY
}

run_block() { # kind line body
  local kind=$1 line=$2 body=$3
  case $kind in
    run)
      bash -euo pipefail -c "$body" ;;
    server)
      start_server "${body//127.0.0.1:9092/127.0.0.1:$(free_port)}" && stop_server ;;
    broker | broker-until-stopped | broker-kafka | "broker-tls kafka")
      cargo build --release --quiet -p rill-broker -p rill-cli || return 1
      local kafka_addr=127.0.0.1:$(free_port) rilld=$TARGET/release/rilld
      if [[ $kind == *kafka ]]; then rilld="$rilld --kafka-listen $kafka_addr"; fi
      if [[ $kind == broker-tls* ]]; then
        rilld="$rilld --tls-cert rill-tls/server.pem --tls-key rill-tls/server.key --tls-client-ca rill-tls/ca.pem"
      fi
      start_server "$rilld" || return 1
      local script=${body//127.0.0.1:9420/$SERVER_ADDR}
      script=${script//127.0.0.1:9092/$kafka_addr}
      script=${script//127.0.0.1:9421/$SERVER_HTTP_ADDR}
      local status=0
      if [[ $kind == broker-until-stopped ]]; then
        run_until_stopped "$script" || status=$?
      else
        PATH="$TARGET/release:$PATH" RILL_BROKER=$SERVER_ADDR \
          bash -euo pipefail -c "$script" || status=$?
      fi
      stop_server || status=$?
      return "$status" ;;
    *)
      echo "unknown readme-check kind '$kind' before line $line" >&2
      return 1 ;;
  esac
}

# The README's paths say target/release/...: make them hold with a custom target dir.
if [[ "$TARGET" != target && ! -e target ]]; then
  ln -s "$TARGET" target
  LINKED_TARGET=1
fi
case $TARGET in /*) ;; *) TARGET=$PWD/$TARGET ;; esac

failed=0
count=0
# Records come on fd 3: the blocks' commands must not eat them from stdin.
while IFS=$'\t' read -r -u 3 kind line encoded reason; do
  body=$(printf '%s' "$encoded" | base64 -d)
  if [[ $kind == skip ]]; then
    echo "== README line $line: skipped ($reason)"
    continue
  fi
  count=$((count + 1))
  echo "== README line $line ($kind)"
  printf '%s\n' "$body" | sed -e '/^$/d' -e 's/^/   | /'
  # A block that reads stdin gets an empty one instead of hanging.
  if ! run_block "$kind" "$line" "$body" </dev/null; then
    echo "FAILED: the README block at line $line" >&2
    failed=$((failed + 1))
  fi
done 3< <(extract_blocks)

if ((count == 0)); then
  echo "no runnable sh block found in $README" >&2
  exit 1
fi
if ((failed > 0)); then
  echo "$failed README block(s) failed" >&2
  exit 1
fi
echo "all $count README blocks ran"
