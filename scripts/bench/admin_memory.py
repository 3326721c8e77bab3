#!/usr/bin/env python3
"""What the operations API's reads cost the bridge in memory (the operations issue's bound):
ENTRIES webhooks of about BODY_KIB each are stored, then the whole log is listed with its data
(every page), exported, replayed as a dry run and executed, one after the other, while the
bridge's /proc/PID/status is sampled every 20 ms. Prints one JSON line: the peak anonymous
memory (RssAnon, the bound is on it) and the peak of the store's memory map (RssFile), overall
and per phase.

  scripts/bench/admin_memory.py BINARY [--entries 1000] [--body-kib 890]

Needs no broker: the bridge points at a closed port and keeps every record in its outbox.
"""
import argparse
import http.client
import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status_kib(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("RssAnon", "RssFile", "VmHWM"):
                fields[key] = int(value.split()[0])
    return fields


class Sampler(threading.Thread):
    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.phase, self.peaks, self.stop = pid, "start", {}, False

    def run(self):
        while not self.stop:
            try:
                fields = status_kib(self.pid)
            except OSError:
                return
            for key in ("RssAnon", "RssFile"):
                peak = self.peaks.setdefault(self.phase, {}).get(key, 0)
                self.peaks[self.phase][key] = max(peak, fields.get(key, 0))
            time.sleep(0.02)


def request(port, method, path, body=None, token=None, sink=False):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    connection.request(method, path, body=body, headers=headers)
    answer = connection.getresponse()
    if sink:
        size = 0
        while chunk := answer.read(1 << 20):
            size += len(chunk)
        connection.close()
        return answer.status, size
    data = answer.read()
    connection.close()
    return answer.status, data


def payload(index, body_kib):
    head = {"type": "CALLBACK", "method": "TRANSACTIONS", "code": "TRANSACTIONS_SUCCESS", "env": "production",
            "record": f"rec-mem-{index}", "customerId": f"cus-mem-{index}", "callback_url": "https://example.invalid/cb", "data": {"pad": ""}}
    base = len(json.dumps(head))
    head["data"]["pad"] = "x" * (body_kib * 1024 - base)
    return json.dumps(head).encode()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("--entries", type=int, default=1000)
    parser.add_argument("--body-kib", type=int, default=890)
    parser.add_argument("--skip-list", action="store_true", help="no listing with data (a bridge from before ?include=data)")
    args = parser.parse_args()
    work = pathlib.Path(tempfile.mkdtemp(prefix="okra-admin-memory."))
    token = "admin-memory-bench-token-0123456789"
    (work / "admin-token").write_text(token + "\n")
    (work / "routes.json").write_text('{"version":1,"defaults":{"topic":"okra.{env}.{product}.{outcome}","key":"record"},"deadLetter":{"topic":"okra.deadletter"},"routes":[]}')
    port, admin = free_port(), free_port()
    bridge = subprocess.Popen([args.binary, "serve", "--listen", f"127.0.0.1:{port}", "--admin-listen", f"127.0.0.1:{admin}",
                               "--admin-token-file", str(work / "admin-token"), "--brokers", "127.0.0.1:1", "--allow-unauthenticated",
                               "--routes", str(work / "routes.json"), "--data-dir", str(work / "data"), "--retain-size", "8GiB",
                               "--max-pending", "100000"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            try:
                if request(port, "GET", "/healthz")[0] == 200:
                    break
            except OSError:
                time.sleep(0.1)
        sampler = Sampler(bridge.pid)
        sampler.start()
        sampler.phase = "ingest"
        for index in range(args.entries):
            status, _ = request(port, "POST", "/webhooks/okra", payload(index, args.body_kib))
            if status != 200:
                sys.exit(f"webhook {index}: {status}")
        phases = {}
        sampler.phase = "list-with-data"
        started, pages, cursor, listed = time.monotonic(), 0, None, 0
        while not args.skip_list:
            path = "/admin/events?include=data&limit=1000" + (f"&cursor={cursor}" if cursor else "")
            status, data = request(admin, "GET", path, token=token)
            if status != 200:
                sys.exit(f"list: {status} {data[:200]!r}")
            page = json.loads(data)
            pages += 1
            listed += len(page["events"])
            cursor = page["next_cursor"]
            if cursor is None:
                break
        phases["list-with-data"] = {"seconds": round(time.monotonic() - started, 1), "pages": pages, "entries": listed}
        sampler.phase = "export"
        started = time.monotonic()
        status, size = request(admin, "GET", "/admin/events/export", token=token, sink=True)
        phases["export"] = {"seconds": round(time.monotonic() - started, 1), "status": status, "bytes": size}
        for execute in (False, True):
            name = "replay-execute" if execute else "replay-plan"
            sampler.phase = name
            started = time.monotonic()
            body = json.dumps({"filter": {"since": "2000-01-01T00:00:00Z"}, "execute": execute})
            status, data = request(admin, "POST", "/admin/replay", body, token=token)
            phases[name] = {"seconds": round(time.monotonic() - started, 1), "status": status, "answer": json.loads(data)}
        sampler.stop = True
        sampler.join()
        peaks = sampler.peaks
        for phase, values in peaks.items():
            phases.setdefault(phase, {}).update({"rss_anon_mib": round(values["RssAnon"] / 1024, 1), "rss_file_mib": round(values["RssFile"] / 1024, 1)})
        read_phases = ["list-with-data", "export", "replay-plan", "replay-execute"]
        print(json.dumps({
            "bench": "admin-memory", "entries": args.entries, "body_kib": args.body_kib,
            "peak_rss_anon_mib_reads": max(phases[p].get("rss_anon_mib", 0) for p in read_phases),
            "peak_rss_file_mib_reads": max(phases[p].get("rss_file_mib", 0) for p in read_phases),
            "phases": phases,
        }))
    finally:
        bridge.send_signal(signal.SIGTERM)
        try:
            bridge.wait(60)
        except subprocess.TimeoutExpired:
            bridge.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
