"""Prints the table of a `bench.sh logcost` (or `keycost`) run: each pair of durable runs with
FIELD (default `log`: the event log; `key`: the store sealed; `trace`: tracing) on and off, its cost in accepted/s
and in CPU a request, and their mean and median; appends the runs, with the date and the
machine, to the results file.

    logcost.py RESULTS_JSONL DURATION CONNECTIONS RECORD_FILE [FIELD]
"""
import datetime
import json
import os
import platform
import statistics
import sys

path, duration, connections, record = sys.argv[1:5]
field = sys.argv[5] if len(sys.argv) > 5 else "log"
rows = [json.loads(line) for line in open(path) if line.strip()]
on = [row for row in rows if row.get(field) == "on"]
off = [row for row in rows if row.get(field) == "off"]
pairs = list(zip(on, off))
if not pairs:
    sys.exit("logcost.py: no pair of runs to compare")
model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), platform.machine())
machine = f"{os.cpu_count()} cores, {model}"
stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def cost(with_log, without):
    """The share of `without` that the log takes away (accepted/s), or adds (CPU a request)."""
    return 100.0 * (without - with_log) / without


print(f"\n{stamp}, {machine}, wrk 2 threads, {connections} connections, {duration} each, a fresh dev broker each\n")
print(f"| pair | {field} on: accepted/s | p99 | CPU | {field} off: accepted/s | p99 | CPU | cost | CPU cost |")
print("|---|---|---|---|---|---|---|---|---|")
costs, cpu_costs = [], []
for number, (a, b) in enumerate(pairs, 1):
    costs.append(cost(a["accepted_per_second"], b["accepted_per_second"]))
    line = (f"| {number} | {a['accepted_per_second']:,} | {a['latency_ms']['p99']:.1f} ms | {a.get('cpu_us_per_request')} µs "
            f"| {b['accepted_per_second']:,} | {b['latency_ms']['p99']:.1f} ms | {b.get('cpu_us_per_request')} µs | {costs[-1]:.1f}% |")
    if a.get("cpu_us_per_request") and b.get("cpu_us_per_request"):
        cpu_costs.append(-cost(a["cpu_us_per_request"], b["cpu_us_per_request"]))
        line += f" {cpu_costs[-1]:.1f}% |"
    else:
        line += " - |"
    print(line)
lost = sum(row["lost"] for row in rows)
print(f"\ncost in accepted/s: mean {statistics.mean(costs):.1f}%, median {statistics.median(costs):.1f}%")
if cpu_costs:
    print(f"added CPU a request: mean {statistics.mean(cpu_costs):.1f}%, median {statistics.median(cpu_costs):.1f}%")
print(f"lost: {lost}")
with open(record, "a") as out:
    for row in rows:
        out.write(json.dumps(dict(row, date=stamp, machine=machine, duration=duration, connections=int(connections))) + "\n")
print(f"\n(appended to {os.path.relpath(record)})")
