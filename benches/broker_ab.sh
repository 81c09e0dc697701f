#!/bin/bash
R=/tmp/rill-new
for round in 1 2 3; do for b in old new; do
  rm -rf /dev/shm/ab; /tmp/rilld-$b --data-dir /dev/shm/ab --listen 127.0.0.1:29421 --http-listen none >/tmp/ab-$b.log 2>&1 &
  pid=$!; sleep 1
  for mode in raw lib; do
    extra=""; [ $mode = raw ] && extra="--raw --batch-size 1000"
    v=$($R --broker 127.0.0.1:29421 bench produce --topic t-$mode --message-size 100 --count 2000000 $extra --output json 2>/dev/null | tail -1 | python3 -c "import sys,json; d=json.loads(sys.stdin.read()); t=d.get('total',d); print(round(t['msgs_per_sec']/1e6,2), t.get('latency_us',{}) and '')")
    echo "round=$round broker=$b mode=$mode Mmsgs/s=$v"
  done
  kill -TERM $pid; wait $pid
done; done
rm -rf /dev/shm/ab
