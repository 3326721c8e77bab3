#!/usr/bin/env python3
"""Checks lossyfs.py itself before the power-loss test trusts it.

Usage: selftest.py   (run with a Python that has fusepy; as root, with /dev/fuse)

Mounts lossyfs over a temporary folder and checks that: reads see unsynced writes; a write
followed by fsync survives a cut; a write without fsync is gone after it; a truncate drops
buffered pages past the new end; a clean unmount keeps everything. Then the same for SQLite in
WAL mode (mmap'd -shm, POSIX locks, mmap reads), from a process killed with SIGKILL before the
cut: with synchronous=FULL every committed row survives, with synchronous=NORMAL they are lost.
Prints "N passed, N failed" and exits 1 on any failure.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
LOSSYFS = os.path.join(HERE, "lossyfs.py")

results = {"passed": 0, "failed": 0}


def check(name, ok, detail=""):
    results["passed" if ok else "failed"] += 1
    if not ok:
        print(f"FAILED: {name} {detail}", file=sys.stderr)


class Mount:
    """lossyfs over `backing` on `point`, as a child process; a context manager."""

    def __init__(self, backing, point):
        self.backing, self.point = backing, point

    def __enter__(self):
        self.process = subprocess.Popen([sys.executable, LOSSYFS, self.backing, self.point],
                                        stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not os.path.ismount(self.point):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("lossyfs did not mount")
            time.sleep(0.05)
        return self

    def cut(self):
        with open(os.path.join(self.point, ".lossyfs-cut"), "w") as control:
            control.write("cut")

    def __exit__(self, *exc):
        subprocess.run(["umount", self.point], check=False)  # as root; no fusermount needed
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            subprocess.run(["umount", "-l", self.point], check=False)
            self.process.kill()
            self.process.wait()


def read(path):
    with open(path, "rb") as f:
        return f.read()


def files_test(work):
    backing, point = os.path.join(work, "files"), os.path.join(work, "mnt")
    os.makedirs(backing)
    os.makedirs(point)
    with Mount(backing, point) as mount:
        synced = os.open(os.path.join(point, "synced"), os.O_RDWR | os.O_CREAT, 0o644)
        os.write(synced, b"A" * 10000)
        os.fsync(synced)
        os.pwrite(synced, b"B" * 100, 5000)  # after the fsync: lost at the cut
        unsynced = os.open(os.path.join(point, "unsynced"), os.O_RDWR | os.O_CREAT, 0o644)
        os.write(unsynced, b"hello")
        check("reads see unsynced writes", os.pread(unsynced, 100, 0) == b"hello")
        check("stat sees the pending size", os.fstat(unsynced).st_size == 5)
        check("reads mix synced and unsynced data",
              read(os.path.join(point, "synced")) == b"A" * 5000 + b"B" * 100 + b"A" * 4900)
        shrunk = os.open(os.path.join(point, "shrunk"), os.O_RDWR | os.O_CREAT, 0o644)
        os.write(shrunk, b"C" * 9000)
        os.ftruncate(shrunk, 3)
        os.pwrite(shrunk, b"D", 6000)
        check("a truncate drops pages past the end", os.pread(shrunk, 10000, 0) == b"CCC" + bytes(5997) + b"D")
        os.fsync(shrunk)
        mount.cut()
        for fd in (synced, unsynced, shrunk):
            os.close(fd)
    check("write + fsync survives a cut", read(os.path.join(backing, "synced")) == b"A" * 10000)
    check("write without fsync is gone after a cut", read(os.path.join(backing, "unsynced")) == b"")
    check("a synced truncate + write survives", read(os.path.join(backing, "shrunk")) == b"CCC" + bytes(5997) + b"D")
    with Mount(backing, point):
        with open(os.path.join(point, "clean"), "wb") as f:
            f.write(b"kept")
    check("a clean unmount keeps unsynced writes", read(os.path.join(backing, "clean")) == b"kept")


SQLITE_WRITER = r"""
import os, sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("PRAGMA journal_mode=WAL")
db.execute("PRAGMA synchronous=" + sys.argv[2])
db.execute("PRAGMA wal_autocheckpoint=0")
db.execute("PRAGMA mmap_size=268435456")
reader = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v BLOB)")
db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
for i in range(200):
    db.execute("INSERT INTO t (v) VALUES (?)", (os.urandom(300),))
assert reader.execute("SELECT count(*) FROM t").fetchone()[0] == 200
print("committed", flush=True)
time.sleep(60)
"""


def sqlite_test(work, synchronous):
    backing, point = os.path.join(work, "db-" + synchronous), os.path.join(work, "mnt")
    os.makedirs(backing)
    with Mount(backing, point) as mount:
        writer = subprocess.Popen([sys.executable, "-c", SQLITE_WRITER, os.path.join(point, "t.sqlite"), synchronous],
                                  stdout=subprocess.PIPE, text=True)
        line = writer.stdout.readline().strip()
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        mount.cut()
    check(f"SQLite ({synchronous}) commits on lossyfs", line == "committed", repr(line))
    with Mount(backing, point):
        import sqlite3
        db = sqlite3.connect(os.path.join(point, "t.sqlite"))
        rows = db.execute("SELECT count(*) FROM t").fetchone()[0]
        db.close()
    return rows


def main():
    work = tempfile.mkdtemp(prefix="lossyfs-selftest.")
    try:
        files_test(work)
        full = sqlite_test(work, "FULL")
        check("SQLite WAL with synchronous=FULL keeps every commit", full == 200, f"(found {full} of 200)")
        normal = sqlite_test(work, "NORMAL")
        check("SQLite WAL with synchronous=NORMAL loses commits", normal < 200, f"(found {normal} of 200)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"lossyfs selftest: {results['passed']} passed, {results['failed']} failed")
    sys.exit(1 if results["failed"] else 0)


if __name__ == "__main__":
    main()
