"""Prints the memory of a `bench.sh memory` run: the bridge's RssAnon (heap and stacks) and
RssFile (mapped files: the executable, its libraries and the store's pages) every 30 s under
load and 60 s after it stopped, and whether RssAnon grew after the first minute; appends the
run, with its samples, the date and the machine, to the results file.

    memory.py RESULTS_JSONL SAMPLES DURATION CONNECTIONS RECORD_FILE

SAMPLES holds `SECONDS RSSANON_KIB RSSFILE_KIB` lines, and one `stopped SECONDS` line where the
load ended (bench.sh writes it).
"""
import datetime
import json
import os
import platform
import sys

path, samples_path, duration, connections, record = sys.argv[1:6]
run = [json.loads(line) for line in open(path) if line.strip()][-1]
under, after, stopped = [], [], None
for line in open(samples_path):
    fields = line.split()
    if not fields:
        continue
    if fields[0] == "stopped":
        stopped = int(fields[1])
        continue
    if len(fields) < 3:
        continue  # the receiver ended between two reads
    sample = [int(fields[0]), round(int(fields[1]) / 1024, 1), round(int(fields[2]) / 1024, 1)]
    (after if stopped is not None else under).append(sample)
if not under or not after:
    sys.exit("memory.py: no samples under load, or none after it")
first_minute = next((anon for seconds, anon, _ in under if seconds >= 60), under[-1][1])
later = [anon for seconds, anon, _ in under if seconds > 60]
growth = round(max(later) - first_minute, 1) if later else 0.0
# serve gives the freed heap back once a minute (HeapTrimmer), so under load RssAnon is a saw:
# its peaks are freed memory the allocator keeps until the next trim. What stays live shows in
# its troughs: the lowest sample of the first two minutes after the first, against the lowest
# of the last two minutes of the load (samples every 30 s keep the same phase to the trims).
early = [anon for seconds, anon, _ in under if 60 < seconds <= 180]
last = [anon for seconds, anon, _ in under if seconds > under[-1][0] - 120]
trough_growth = round(min(last) - min(early), 1) if early and last and under[-1][0] > 300 else None

model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), platform.machine())
machine = f"{os.cpu_count()} cores, {model}"
stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
print(f"\n{stamp}, {machine}, durable, wrk 2 threads, {connections} connections, {duration}: "
      f"{run['accepted']:,} accepted ({run['accepted_per_second']:,}/s), lost {run['lost']}\n")
print("| seconds | RssAnon | RssFile |")
print("|---|---|---|")
for seconds, anon, mapped in under:
    print(f"| {seconds} | {anon} MiB | {mapped} MiB |")
for seconds, anon, mapped in after:
    print(f"| {seconds} (60 s after the load) | {anon} MiB | {mapped} MiB |")
print(f"\nRssAnon at the first minute {first_minute} MiB; its largest after it {max(later) if later else first_minute} MiB "
      f"(growth {growth} MiB, the trims' saw included); 60 s after the load {after[-1][1]} MiB")
if trough_growth is not None:
    print(f"RssAnon's lowest of the last two minutes against its lowest of minutes 1 to 3: {trough_growth:+} MiB "
          f"(what stays live between the trims)")
with open(record, "a") as out:
    out.write(json.dumps(dict(run, memory_mib=under + after, load_stopped_at=stopped, rss_anon_growth_after_first_minute_mib=growth,
                              rss_anon_trough_growth_mib=trough_growth,
                              date=stamp, machine=machine, duration=duration, connections=int(connections))) + "\n")
print(f"\n(appended to {os.path.relpath(record)})")
