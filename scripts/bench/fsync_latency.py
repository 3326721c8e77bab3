"""The data volume's bare sync latency: what one durable commit cannot go below.

Writes 8 KiB (about a webhook's WAL frames) at a rotating offset of a file in DIRECTORY and
times the fdatasync after each write, COUNT times; prints one JSON line with the median, p99
and max in milliseconds.

    python3 scripts/bench/fsync_latency.py [DIRECTORY] [COUNT]    (defaults: a temp folder, 500)
"""
import json
import os
import statistics
import sys
import tempfile
import time


def main() -> None:
    directory = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp()
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 500
    path = os.path.join(directory, "fsync-latency.probe")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        block = os.urandom(8192)
        latencies = []
        for index in range(count):
            os.pwrite(fd, block, (index % 64) * 8192)
            started = time.perf_counter()
            os.fdatasync(fd)
            latencies.append((time.perf_counter() - started) * 1000)
    finally:
        os.close(fd)
        os.unlink(path)
    latencies.sort()
    print(json.dumps({
        "tool": "fsync_latency", "directory": directory, "syncs": count, "bytes_per_write": 8192,
        "median_ms": round(statistics.median(latencies), 3),
        "p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 3),
        "max_ms": round(latencies[-1], 3),
    }))


if __name__ == "__main__":
    main()
