#!/usr/bin/env python3
"""Posts every payload of the envelope fixtures (events and the ones that are dead letters) to a
bridge's webhook listener, so the operations API has entries of each shape to answer with.

  seed.py --port PORT FIXTURES_DIR
Exits 1 unless every POST was answered as the contract says: 200, or 400 for a body that is no
JSON (`*.invalid.json`: kept as a dead letter all the same).
"""
import argparse
import http.client
import pathlib
import sys
import time


def post(port, body):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("POST", "/webhooks/okra", body=body, headers={"Content-Type": "application/json"})
        answer = connection.getresponse()
        answer.read()
        return answer.status
    finally:
        connection.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("fixtures")
    args = parser.parse_args()
    paths = sorted(pathlib.Path(args.fixtures).glob("*.json"))
    if not paths:
        print(f"no payloads under {args.fixtures}", file=sys.stderr)
        return 1
    failed = 0
    for path in paths:
        status = post(args.port, path.read_bytes())
        if status != (400 if path.name.endswith(".invalid.json") else 200):
            print(f"{path.name}: answered {status}", file=sys.stderr)
            failed += 1
    print(f"posted {len(paths)} payloads, {failed} not answered as expected")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
