"""Prints what a `bench.sh allocations` run measured: heap allocations (calls to malloc and its
kin, from heaptrack) a webhook accepted, and the sites that make the most, each the first frame
of its stacks that is not the allocator, the Swift runtime or a standard-library container;
appends the run, with the date, the machine and the top sites, to the results file.

    allocations.py RESULTS_JSONL HEAPTRACK_SUMMARY DEMANGLED_STACKS DURATION CONNECTIONS RECORD_FILE

HEAPTRACK_SUMMARY is heaptrack_print's output; DEMANGLED_STACKS its `-F` file (with
`--flamegraph-cost-type allocations`) through `swift demangle --simplified`.
"""
import collections
import datetime
import json
import os
import platform
import re
import sys

results, summary, stacks, duration, connections, record = sys.argv[1:7]
run = [json.loads(line) for line in open(results) if line.strip()][-1]
calls = next((int(m.group(1)) for m in (re.match(r"calls to allocation functions: (\d+)", line) for line in open(summary)) if m), None)
if calls is None or not run.get("accepted"):
    sys.exit("allocations.py: no allocation count or no accepted webhook in this run")
# The warm-up webhook is accepted too, outside wrk's count.
accepted = run["accepted"] + 1

# Frames that only say "memory was allocated": the allocator, the runtime, containers growing.
plumbing = re.compile(
    r"^\s*$|^0x|malloc|calloc|realloc|operator new|swift_|swift::|_allocateStringStorage|_ContiguousArrayBuffer|"
    r"_copyCollectionToContiguousArray|_allocateUninitialized|<compiler-generated>|__Data|_StringGuts|_Representation|"
    r"reserveCapacity|append|sqlite3Malloc|sqlite3DbMalloc|__StringStorage")
sites = collections.Counter()
for line in open(stacks):
    frames, _, count = line.rstrip().rpartition(" ")
    site = next((frame for frame in reversed(frames.rstrip(";").split(";")) if not plumbing.search(frame)), "?")
    sites[site.split(" (")[0][:120]] += int(count)

per_webhook = calls / accepted
print(f"\n{calls:,} allocations for {accepted:,} webhooks accepted: {per_webhook:.1f} a webhook "
      f"(start-up included; {duration}, {connections} connections, durable, under heaptrack)\n")
print("| a webhook | site |\n|---|---|")
top = sites.most_common(15)
for site, count in top:
    print(f"| {count / accepted:.1f} | `{site}` |")

model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), platform.machine())
entry = {
    "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    "machine": f"{os.cpu_count()} cores, {model}", "benchmark": "allocations", "receiver": "durable",
    "duration": duration, "connections": int(connections), "accepted": accepted, "lost": run.get("lost"),
    "allocations": calls, "allocations_per_webhook": round(per_webhook, 1),
    "top_sites": [{"site": site, "per_webhook": round(count / accepted, 1)} for site, count in top],
}
with open(record, "a") as out:
    out.write(json.dumps(entry) + "\n")
print(f"\n(appended to {record})")
