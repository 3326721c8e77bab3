#!/usr/bin/env python3
"""Shows whether this machine's SQLite has the WAL-reset bug, the way the store's first
checkpoint design met it (docs/decisions/0017-checkpoints-on-the-writer.md).

SQLite from 3.7.0 to 3.51.2 (fixed in 3.51.3 and the backports 3.50.7 and 3.44.6) can corrupt
a WAL-mode file when a checkpoint on one connection starts after the whole WAL was copied while
another connection commits a transaction that starts the WAL over. Python's sqlite3 module uses the system library, the one GRDB links, so this runs the
same code the bridge does.

    python3 scripts/sqlite-wal-reset.py [--checkpoints second|writer] [--seconds N] [--runs N]
                                        [--module sqlite3|apsw]

`second` (the default) runs the checkpoints on a connection of their own, beside a writer that
commits small transactions with short pauses: on an affected SQLite the file is usually
corrupted within seconds. `writer` runs them on the writer's connection between its
transactions, as the store does now: the file stays whole. The runs go at once, each in a
process of its own with a fresh file in a temporary folder, so that they share the cores: the
race needs the checkpointing thread to be preempted at the wrong moment, which a busy machine
makes likely and an idle one rare. Each ends with `PRAGMA integrity_check`. Exit 1 when a run
ended corrupted, 2 when one failed otherwise (its error is printed).

`--module apsw` runs the same through APSW (PyPI `apsw`, whose wheels carry their own SQLite,
version for version: `pip install apsw==3.51.2.0` has the bug, `apsw==3.51.3.0` the fix), to
tell SQLite's bug from anything else of this machine.
"""

import argparse
import multiprocessing
import os
import random
import sqlite3
import sys
import tempfile
import threading
import time


def library(module):
    """The module's connect function, its error class and its SQLite's version."""
    if module == "apsw":
        import apsw

        def connect_apsw(path):
            db = apsw.Connection(path)
            db.setbusytimeout(10000)
            return db
        return connect_apsw, apsw.Error, apsw.sqlite_lib_version()

    def connect_sqlite3(path):
        return sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10)
    return connect_sqlite3, sqlite3.DatabaseError, sqlite3.sqlite_version


def connect(path, module):
    db = library(module)[0](path)
    db.execute("PRAGMA synchronous = OFF")  # the race is in memory; syncs only slow it down
    db.execute("PRAGMA wal_autocheckpoint = 0")
    db.execute("PRAGMA mmap_size = 268435456")  # as the store maps its file
    return db


def run(path, seconds, second_connection, module):
    error_class = library(module)[1]
    writer = connect(path, module)
    writer.execute("PRAGMA journal_mode = WAL")
    writer.execute("CREATE TABLE t (a INTEGER PRIMARY KEY, b BLOB)")
    writer.execute("CREATE INDEX t_b ON t (b)")
    checkpointer = connect(path, module) if second_connection else None
    stop = time.monotonic() + seconds
    failure = []
    counts = {"commits": 0, "checkpoints": 0}

    def commit(n):
        writer.execute("BEGIN IMMEDIATE")
        for _ in range(random.randint(1, 4)):
            n += 1
            writer.execute("INSERT INTO t VALUES (?, ?)", (n, os.urandom(300)))
        if n % 7 == 0:
            writer.execute("DELETE FROM t WHERE a = ?", (n - 5000,))
        writer.execute("COMMIT")
        counts["commits"] += 1
        return n

    def writes():
        n = 0
        try:
            while time.monotonic() < stop and not failure:
                n = commit(n)
                if not second_connection and random.random() < 0.2:
                    writer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    counts["checkpoints"] += 1
                # Short pauses let a checkpoint copy the whole WAL before the next commit.
                if random.random() < 0.5:
                    time.sleep(random.random() * 0.0003)
        except error_class as error:
            failure.append(str(error))

    def checkpoints():
        try:
            while time.monotonic() < stop and not failure:
                checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                counts["checkpoints"] += 1
        except error_class as error:
            failure.append(str(error))

    threads = [threading.Thread(target=writes)]
    if second_connection:
        threads.append(threading.Thread(target=checkpoints))
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    try:
        check = [row[0] for row in writer.execute("PRAGMA integrity_check").fetchall()]
    except error_class as error:
        check = [str(error)]
    # Corrupt: SQLite's check says so, or an error said so; any other error ("database is locked")
    # says nothing of the file.
    if check != ["ok"] or any("malformed" in message or "corrupt" in message for message in failure):
        state = "CORRUPTED"
    elif failure:
        state = "ERROR"
    else:
        state = "whole"
    return state, elapsed, counts, (failure + check)[:2]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoints", choices=["second", "writer"], default="second")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--module", choices=["sqlite3", "apsw"], default="sqlite3")
    options = parser.parse_args()
    if options.runs < 1:
        parser.error("--runs must be 1 or more")
    try:
        version = library(options.module)[2]
    except ImportError:
        parser.error(f"{options.module} is not installed here (pip install apsw)")
    print(f"SQLite {version} ({options.module}), checkpoints on the {options.checkpoints} connection, "
          f"{options.runs} runs at once of at most {options.seconds:g} s")
    states = []
    with tempfile.TemporaryDirectory(prefix="okra-wal-reset.") as folder:
        jobs = [(os.path.join(folder, f"run{index}.sqlite"), options.seconds, options.checkpoints == "second",
                 options.module) for index in range(options.runs)]
        with multiprocessing.Pool(options.runs) as pool:
            results = pool.starmap(run, jobs)
        for index, (state, elapsed, counts, detail) in enumerate(results):
            print(f"run {index + 1}: {state} after {elapsed:.1f} s, {counts['commits']} commits, "
                  f"{counts['checkpoints']} checkpoints" + ("" if state == "whole" else f": {'; '.join(detail)}"))
            states.append(state)
    return 1 if "CORRUPTED" in states else 2 if "ERROR" in states else 0


if __name__ == "__main__":
    sys.exit(main())
