#!/usr/bin/env python3
"""A stand-in for `okra-bridge serve`, only to check scripts/test-fsync.sh and its parser:
  scripts/test-fsync.sh scripts/fsync/fake_bridge.py                         must pass
  FAKE_BRIDGE_SYNC=never  scripts/test-fsync.sh scripts/fsync/fake_bridge.py must fail
  FAKE_BRIDGE_SYNC=every4 ...  (syncs one commit in four)                    must fail
  FAKE_BRIDGE_SYNC=early  ...  (syncs the WAL before writing the frames)     must fail
  FAKE_BRIDGE_SYNC=after  ...  (answers, then syncs)                         must fail

Like the bridge it is threaded, so strace splits lines into `<unfinished ...>` and `resumed`:
an HTTP thread per connection, one store thread that writes "frames" to
DATA_DIR/okra-bridge.sqlite-wal with pwrite and fdatasyncs them, a checkpointer thread that
fdatasyncs the WAL every 50 ms whatever the mode (as the bridge's checkpoints do), and a
logger thread writing to stderr every few milliseconds. Only the flags the test passes are read.
"""
import http.server
import json
import os
import queue
import signal
import sys
import threading
import time

MODE = os.environ.get("FAKE_BRIDGE_SYNC", "always")


def flag(name):
    return sys.argv[sys.argv.index(name) + 1]


class Store:
    def __init__(self, directory):
        self.wal = os.open(os.path.join(directory, "okra-bridge.sqlite-wal"), os.O_RDWR | os.O_CREAT, 0o644)
        self.offset, self.commits, self.jobs = 0, 0, queue.Queue()
        threading.Thread(target=self.run, daemon=True).start()
        threading.Thread(target=self.checkpoint, daemon=True).start()

    def commit(self, body):
        """Hands the body to the store thread and waits until it is committed."""
        done = threading.Event()
        self.jobs.put((body, done))
        done.wait()

    def run(self):
        while True:
            body, done = self.jobs.get()
            self.commits += 1
            sync = MODE == "always" or (MODE == "every4" and self.commits % 4 == 0)
            if MODE == "early":
                os.fdatasync(self.wal)
            for frame in (body, b"commit"):  # two frames, like a page and its commit frame
                os.pwrite(self.wal, frame.ljust(4096, b"\0"), self.offset)
                self.offset += 4096
            if sync:
                os.fdatasync(self.wal)
            done.set()
            if MODE == "after":
                time.sleep(0.01)  # let the answer go out first
                os.fdatasync(self.wal)

    def checkpoint(self):
        while True:
            time.sleep(0.05)
            os.fdatasync(self.wal)


def log_noise():
    while True:
        os.write(2, b"fake bridge: tick\n")
        time.sleep(0.003)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def answer(self, status, body):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()  # the head goes out in one write, the body in the next
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/readyz":
            self.answer(200, '{"status":"ready"}')
        else:
            self.answer(404, '{"error":"not found"}')

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path != "/webhooks/okra":
            self.answer(404, '{"error":"not found"}')
            return
        self.server.store.commit(body)
        record = json.loads(body).get("record", "")
        self.answer(200, json.dumps({"status": "accepted", "id": record}, separators=(",", ":")))

    def log_message(self, *args):
        pass


def main():
    host, port = flag("--listen").rsplit(":", 1)
    server = http.server.ThreadingHTTPServer((host, int(port)), Handler)
    server.daemon_threads = True
    server.store = Store(flag("--data-dir"))
    threading.Thread(target=log_noise, daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    server.serve_forever()


if __name__ == "__main__":
    main()
