"""Prints one summary line per JSON line of `benches/shapes.sh` (stdin) to stderr."""
import json
import sys

for raw in sys.stdin:
    run = json.loads(raw)
    rep = run["report"]
    lat = rep.get("latency_us") or {}
    latency = "  ".join(
        "%s %6s" % (name, lat.get(key, "-"))
        for name, key in (("p50", "p50"), ("p99", "p99"), ("p99.9", "p999"), ("max", "max"))
    )
    extra = ""
    if "partitions_written" in rep:
        extra += "  partitions %d" % rep["partitions_written"]
    if rep.get("lost"):
        extra += "  LOST %d" % rep["lost"]
    print(
        "   %-11s %12s msgs/s %9.1f MB/s  %s us%s"
        % (run["label"], format(round(rep["msgs_per_sec"]), ","), rep["mb_per_sec"],
           latency, extra),
        file=sys.stderr,
    )
