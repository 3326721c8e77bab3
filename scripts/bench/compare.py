"""Prints the table of a `bench.sh compare` run (accepted/s, p99, lost, the ratio to the Go
receiver) and appends its lines, with the date and the machine, to the results file.

    compare.py RESULTS_JSONL DURATION CONNECTIONS RECORD_FILE
"""
import datetime
import json
import os
import platform
import sys

path, duration, connections, record = sys.argv[1:5]
rows = [json.loads(line) for line in open(path) if line.strip()]
by = {row["receiver"]: row for row in rows}
go = by.get("go", {}).get("accepted_per_second")
model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), platform.machine())
machine = f"{os.cpu_count()} cores, {model}"
stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

print(f"\n{stamp}, {machine}, wrk 2 threads, {connections} connections, {duration} each, a fresh dev broker each\n")
print("| receiver | accepted/s | p99 | CPU per request | lost | x Go |")
print("|---|---|---|---|---|---|")
for row in rows:
    ratio = f"{row['accepted_per_second'] / go:.2f}" if go else "-"
    print(f"| {row['receiver']} | {row['accepted_per_second']:,} | {row['latency_ms']['p99']:.1f} ms | {row.get('cpu_us_per_request', '-')} µs | {row['lost']} of {row['accepted']:,} | {ratio} |")
with open(record, "a") as out:
    for row in rows:
        out.write(json.dumps(dict(row, date=stamp, machine=machine, duration=duration, connections=int(connections))) + "\n")
print(f"\n(appended to {os.path.relpath(record)})")
