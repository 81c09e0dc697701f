"""Prints one summary line per JSON line of `benches/shapes.sh` (stdin) to stderr."""
import json
import sys

for raw in sys.stdin:
    run = json.loads(raw)
    rep = run["report"]
    lat = rep["latency_us"]
    print(
        "   %-9s %12s msgs/s %9.1f MB/s  p50 %6d  p99 %6d  p99.9 %6d  max %6d us"
        % (run["label"], format(round(rep["msgs_per_sec"]), ","), rep["mb_per_sec"],
           lat["p50"], lat["p99"], lat["p999"], lat["max"]),
        file=sys.stderr,
    )
