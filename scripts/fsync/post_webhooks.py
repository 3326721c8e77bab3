#!/usr/bin/env python3
"""The client side of scripts/test-fsync.sh.

  post_webhooks.py ready --port PORT [--timeout S] [--watch PID]
      waits until GET /readyz answers 200 (gives up when process PID ends, or after S seconds)
  post_webhooks.py post --port PORT --count N --prefix P
      posts N distinct Okra v2 callbacks to /webhooks/okra, one at a time (each sent only after
      the previous answer arrived), and exits 0 only when every one was answered 200 accepted
"""
import argparse
import http.client
import json
import os
import sys
import time


def say(text):
    print(text, file=sys.stderr, flush=True)


def running(pid):
    """Whether process pid runs (a zombie, ended but not yet waited for, does not)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_ready(port, timeout, watch):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if watch and not running(watch):
            say("the bridge ended before it was ready")
            return 1
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/readyz")
            response = connection.getresponse()
            response.read()
            connection.close()
            if response.status == 200:
                return 0
        except OSError:
            pass
        time.sleep(0.2)
    say(f"GET /readyz did not answer 200 within {timeout} s")
    return 1


def callback(prefix, n):
    """A distinct v2 callback: its own record id and its own ended_at."""
    return {
        "type": "CALLBACK",
        "callback_type": "TRANSACTIONS",
        "code": "TRANSACTIONS_SUCCESS",
        "status": "success",
        "record": f"{prefix}-{n:04d}",
        "ended_at": f"2026-12-03T10:{n // 60 % 60:02d}:{n % 60:02d}.000Z",
    }


def post(port, count, prefix):
    connection = None
    accepted, failures = 0, []
    for n in range(count):
        body = json.dumps(callback(prefix, n), separators=(",", ":")).encode()
        for attempt in (1, 2):  # once more on a fresh connection if the kept-alive one was closed
            try:
                if connection is None:
                    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                connection.request("POST", "/webhooks/okra", body=body, headers={"Content-Type": "application/json"})
                response = connection.getresponse()
                answer = response.read().decode(errors="replace")
                if response.will_close:
                    connection.close()
                    connection = None
                break
            except (http.client.HTTPException, OSError) as error:
                if connection is not None:
                    connection.close()
                connection = None
                if attempt == 2:
                    response, answer = None, f"{type(error).__name__}: {error}"
        if response is not None and response.status == 200 and '"accepted"' in answer:
            accepted += 1
        else:
            failures.append(f"webhook {n}: {response.status if response else 'no answer'} {answer[:200]}")
    if connection is not None:
        connection.close()
    say(f"posted {count} webhooks one at a time: {accepted} answered 200 accepted")
    for line in failures[:5]:
        say(f"  {line}")
    return 0 if accepted == count else 1


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    ready = commands.add_parser("ready")
    ready.add_argument("--port", type=int, required=True)
    ready.add_argument("--timeout", type=float, default=120)
    ready.add_argument("--watch", type=int)
    posting = commands.add_parser("post")
    posting.add_argument("--port", type=int, required=True)
    posting.add_argument("--count", type=int, default=100)
    posting.add_argument("--prefix", required=True)
    options = parser.parse_args()
    if options.command == "ready":
        return wait_ready(options.port, options.timeout, options.watch)
    return post(options.port, options.count, options.prefix)


if __name__ == "__main__":
    sys.exit(main())
