"""Prints the table of a `bench.sh compare` or `floors` run (accepted/s, p99, the CPU a request
of the receiver, of the load generator and of the dev broker, lost, the ratio to the Go
receiver) and appends its lines, with the date and the machine, to the results file. With the
SQLite floor's lines (`floors`) it also prints what the two cores leave a request at twice the Go
receiver's rate, and what the floors measured take of it.

    compare.py RESULTS_JSONL DURATION CONNECTIONS RECORD_FILE
"""
import datetime
import json
import os
import platform
import sys

path, duration, connections, record = sys.argv[1:5]
lines = [json.loads(line) for line in open(path) if line.strip()]
rows = [line for line in lines if "receiver" in line]
sqlite = [line for line in lines if line.get("floor") == "sqlite"]
by = {row["receiver"]: row for row in rows}
go = by.get("go", {}).get("accepted_per_second")
go_cpu = by.get("go", {}).get("cpu_us_per_request")
# Each receiver's CPU a webhook against the Go receiver's, measured in the same minutes (the
# CPU issue's goal: durable at most 1.0, direct at most 0.7).
for row in rows:
    if go_cpu and row.get("cpu_us_per_request"):
        row["cpu_ratio_to_go"] = round(row["cpu_us_per_request"] / go_cpu, 2)
model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), platform.machine())
machine = f"{os.cpu_count()} cores, {model}"
stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

print(f"\n{stamp}, {machine}, wrk 2 threads, {connections} connections, {duration} each, a fresh dev broker each\n")
print("| receiver | accepted/s | p99 | CPU a request: receiver | wrk | broker and relay | lost | accepted/s x Go | CPU x Go |")
print("|---|---|---|---|---|---|---|---|---|")
for row in rows:
    ratio = f"{row['accepted_per_second'] / go:.2f}" if go else "-"
    lost = "-" if row.get("lost") is None else f"{row['lost']} of {row['accepted']:,}"
    cpu = " | ".join(f"{row.get(name, '-')} µs" for name in ("cpu_us_per_request", "load_cpu_us_per_request", "broker_cpu_us_per_request"))
    print(f"| {row['receiver']} | {row['accepted_per_second']:,} | {row['latency_ms']['p99']:.1f} ms | {cpu} | {lost} | {ratio} | {row.get('cpu_ratio_to_go', '-')} |")
for line in sqlite:
    print(f"\nSQLite alone, groups of {line['group']}: {line['sqlite_us_per_event']} µs of CPU an event ({line['events_per_second']:,} events/s)")
durable = by.get("durable")
if go and durable and sqlite and "hummingbird-floor" in by and "nio-floor" in by:
    # At twice the Go receiver's rate, the two cores less what wrk and the broker spend a
    # request (as measured with the bridge durable) is what the bridge may spend.
    rate = 2 * go
    budget = 2e6 / rate - durable["load_cpu_us_per_request"] - durable["broker_cpu_us_per_request"]
    store = min(line["sqlite_us_per_event"] for line in sqlite)
    for http in ("nio-floor", "hummingbird-floor"):
        floor = by[http]["cpu_us_per_request"] + store
        print(f"At {rate:,}/s (2 x Go) the bridge may spend {budget:.0f} µs a request; {http} + SQLite alone take {floor:.0f} µs")
with open(record, "a") as out:
    for row in lines:
        out.write(json.dumps(dict(row, date=stamp, machine=machine, duration=duration, connections=int(connections))) + "\n")
print(f"\n(appended to {os.path.relpath(record)})")
