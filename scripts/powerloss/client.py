#!/usr/bin/env python3
"""The power-loss test's HTTP side: the load that is cut, and the check after the restart.

  client.py load --url http://127.0.0.1:PORT --out IDS [--threads 16] [--max-seconds 60]
                 [--kill PID --kill-after SECONDS]
      Posts distinct v2 CALLBACK webhooks from THREADS threads, each over a keep-alive
      connection, until SIGTERM (or MAX_SECONDS, so it always stops by itself). Writes to IDS
      the id of every answer that was 200 {"status":"accepted",...} (not a duplicate), one a
      line. A connection that fails (the bridge was killed) is retried after a short pause.
      With --kill, the first acknowledgement received KILL_AFTER seconds or more after the start
      is followed at once by SIGKILL to PID (the bridge): the worst moment for a store that
      answers before its commit is synced, as the newest commit is then the least likely to
      have been synced by anything else (a checkpoint). The load goes on until SIGTERM.

  client.py check --url http://127.0.0.1:ADMIN_PORT --token-file FILE --ids IDS [--min 200]
      Asks GET /admin/events/{id} for every id in IDS: 200 is found, 404 is lost. Prints the
      counts and the first lost ids; exits 1 when any is lost or unreadable, or when fewer than
      MIN ids were acknowledged (a run that posted little proves little).

Only loopback addresses are meant as URLs.
"""

import argparse
import http.client
import json
import os
import signal
import sys
import threading
import time
import urllib.parse
import uuid


def connection(url, timeout):
    parts = urllib.parse.urlsplit(url)
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)


def payload(record):
    return json.dumps({
        "callback_type": "TRANSACTIONS", "type": "CALLBACK", "code": "TRANSACTIONS_SUCCESS",
        "status": "success", "record": record, "customerId": "cus-" + record,
        "ended_at": "2026-12-03T10:00:00.000Z", "env": "production",
    }).encode()


def load(args):
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    run = uuid.uuid4().hex[:12]
    lock = threading.Lock()
    accepted, answers, failures = [], {}, [0]
    started = time.monotonic()
    killed = [None]  # when the bridge was killed, seconds after the start
    kill_at = [0]  # how many acknowledgements had been received then

    def worker(number):
        sent = 0
        conn = connection(args.url, 5)
        while not stop.is_set():
            sent += 1
            body = payload(f"pl-{run}-{number}-{sent}")
            try:
                conn.request("POST", "/webhooks/okra", body=body, headers={"Content-Type": "application/json"})
                response = conn.getresponse()
                text = response.read()
            except (OSError, http.client.HTTPException):
                conn.close()
                with lock:
                    failures[0] += 1
                stop.wait(0.05)
                continue
            answer = None
            if response.status == 200:
                try:
                    answer = json.loads(text)
                except ValueError:
                    pass
            with lock:
                if answer and answer.get("status") == "accepted" and not answer.get("duplicate"):
                    accepted.append(answer["id"])
                    now = time.monotonic() - started
                    if args.kill and killed[0] is None and now >= args.kill_after:
                        os.kill(args.kill, signal.SIGKILL)
                        killed[0] = now
                        kill_at[0] = len(accepted)
                else:
                    answers[response.status] = answers.get(response.status, 0) + 1
        conn.close()

    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(args.threads)]
    for thread in threads:
        thread.start()
    stop.wait(args.max_seconds)
    stop.set()
    for thread in threads:
        thread.join(10)
    with lock:
        with open(args.out, "w") as out:
            out.writelines(id + "\n" for id in accepted)
        others = ", ".join(f"{count} x {status}" for status, count in sorted(answers.items())) or "none"
        kill = f"; bridge killed {killed[0]:.3f}s in, right after acknowledgement {kill_at[0]}" if killed[0] else ""
        print(f"load: {len(accepted)} accepted; other answers: {others}; "
              f"{failures[0]} failed connections (the bridge killed){kill}", file=sys.stderr)


def check(args):
    with open(args.token_file) as f:
        token = f.readline().strip()
    with open(args.ids) as f:
        ids = [line.strip() for line in f if line.strip()]
    headers = {"Authorization": "Bearer " + token}
    lost, unreadable = [], []
    conn = connection(args.url, 10)
    for id in ids:
        path = "/admin/events/" + urllib.parse.quote(id, safe="")
        for attempt in range(3):
            try:
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                response.read()
                break
            except (OSError, http.client.HTTPException):
                conn.close()
                time.sleep(0.2)
        else:
            unreadable.append((id, "no answer"))
            continue
        if response.status == 404:
            lost.append(id)
        elif response.status != 200:
            unreadable.append((id, response.status))
    conn.close()
    found = len(ids) - len(lost) - len(unreadable)
    print(f"acknowledged {len(ids)}, found {found}, lost {len(lost)}, unreadable {len(unreadable)}")
    if lost:
        print("first lost ids: " + " ".join(lost[:5]))
    if unreadable:
        print("first unreadable: " + " ".join(f"{id} ({why})" for id, why in unreadable[:5]))
    if len(ids) < args.min:
        print(f"only {len(ids)} webhooks were acknowledged (fewer than {args.min}): the load proved nothing")
    return 0 if not lost and not unreadable and len(ids) >= args.min else 1


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("load")
    p.add_argument("--url", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--threads", type=int, default=16)
    p.add_argument("--max-seconds", type=float, default=60)
    p.add_argument("--kill", type=int, help="the pid to SIGKILL after an acknowledgement")
    p.add_argument("--kill-after", type=float, default=5)
    p = commands.add_parser("check")
    p.add_argument("--url", required=True)
    p.add_argument("--token-file", required=True)
    p.add_argument("--ids", required=True)
    p.add_argument("--min", type=int, default=200)
    args = parser.parse_args()
    if args.command == "load":
        load(args)
        return 0
    return check(args)


if __name__ == "__main__":
    sys.exit(main())
