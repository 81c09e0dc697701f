"""The records every client test writes and expects back: the same bytes on both
sides of the wire (the Rust test in tests/kafka_clients.rs builds them the same way).
"""

BASE_TIMESTAMP_MS = 1_700_000_000_000


def record(tag, i):
    """Record i of a run tagged `tag`: key, value (not UTF-8), headers, timestamp."""
    key = f"{tag}-k{i}".encode()
    value = b"\x00\xff" + f"{tag}-value-{i}".encode() * (1 + i % 5)
    headers = [("trace", f"t{i}".encode()), ("empty", b"")]
    return key, value, headers, BASE_TIMESTAMP_MS + i


def check(tag, i, key, value, headers, timestamp_ms):
    """A list of differences between what was read and record(tag, i)."""
    want_key, want_value, want_headers, want_ts = record(tag, i)
    problems = []
    if key != want_key:
        problems.append(f"{tag}#{i} key {key!r} != {want_key!r}")
    if value != want_value:
        problems.append(f"{tag}#{i} value {value!r} != {want_value!r}")
    got_headers = [(k, bytes(v) if v is not None else b"") for k, v in (headers or [])]
    if got_headers != want_headers:
        problems.append(f"{tag}#{i} headers {got_headers!r} != {want_headers!r}")
    if timestamp_ms != want_ts:
        problems.append(f"{tag}#{i} timestamp {timestamp_ms} != {want_ts}")
    return problems


def index_of(key):
    """The i and tag of a key written by record()."""
    tag, _, i = key.decode().rpartition("-k")
    return tag, int(i)
