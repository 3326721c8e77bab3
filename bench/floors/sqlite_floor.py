"""What SQLite itself costs for the rows one accepted webhook writes in durable mode, with the
bridge's own schema and settings, driven from Python's sqlite3 (C underneath; the loop's own
Python cost is measured apart, against a database that does nothing, and subtracted). Per event
one `event_ids`, one `event_log` (a 1,000-byte body, its search keys by the schema's triggers)
and one `records` row (the dedupe, log and search-key rows are counted at the end, the records
being deleted by then: a missing row stops the run), committed in groups
of GROUP events, WAL with `synchronous=FULL`; every 320 events the publisher's round (the
records read back with their bodies, then marked and deleted), every 4,096 a passive checkpoint.
Prints one JSON line per GROUP with the process's CPU per event (user and system, the fsyncs
included; Python's conversion of the rows read back, about 1 µs an event, is not subtracted).

    sqlite_floor.py SCHEMA_DB EVENTS GROUP [GROUP ...]

SCHEMA_DB is a store the bridge made (its tables and indexes are copied from it).
"""
import os
import shutil
import sqlite3
import sys
import tempfile
import time

schema_db, events = sys.argv[1], int(sys.argv[2])
groups = [int(g) for g in sys.argv[3:]] or [16]
schema = [sql for (sql,) in sqlite3.connect(schema_db).execute(
    "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' ORDER BY rowid")]
if not any("event_log" in sql for sql in schema):
    sys.exit(f"{schema_db}: no event_log table; give a store made by okra-bridge")

body = os.urandom(500).hex().encode()
headers = '{"ce_id":"x","ce_type":"okra.callback","ce_source":"okra","ce_specversion":"1.0","okraproduct":"PAYMENT"}'


class NoDatabase:
    """Takes the same calls and does nothing: the loop's own Python cost, to subtract."""
    def execute(self, *args):
        return self

    def fetchall(self):
        return []
    def close(self):
        pass


def run(group, db):
    started_cpu, started = time.process_time(), time.monotonic()
    seq = marked = 0
    for first in range(0, events, group):
        db.execute("BEGIN IMMEDIATE")
        for i in range(first, first + group):
            seq += 1
            db.execute("INSERT OR IGNORE INTO event_ids(env, id, received_at, entry) VALUES (?, ?, ?, ?)", ("production", os.urandom(16), i, seq))
            db.execute(
                "INSERT INTO event_log(entry, first_seq, id, recorded_at, time, product, outcome, code, env, token_env, record,"
                " customer, account, bank, shape, deadletter, reason, body, records, bytes)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (seq, seq, f"id-{i}", i, "2026-12-01T00:00:00Z", "PAYMENT", "success", "PAYMENT_SUCCESS", "production",
                 "production", f"rec-{i}", f"cus-{i % 2000}", f"acc-{i % 5000}", "bank", "v2", 0, None, body,
                 '["okra.PAYMENT.success"]', len(body)))
            db.execute(
                "INSERT INTO records(seq, event_id, topic, key, headers, value, created_at, body_entry, value_form)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (seq, f"id-{i}", "okra.PAYMENT.success", f"rec-{i}".encode(), headers, body[:300], i, seq, 1))
        db.execute("COMMIT")
        if seq % 320 < group:
            # The publisher reads the records back, each with its entry's body, then marks them.
            db.execute(
                "SELECT r.seq, r.event_id, r.topic, r.key, r.headers, r.value, r.created_at, r.value_form, l.body"
                " FROM records r LEFT JOIN event_log l ON l.entry = r.body_entry WHERE r.seq > ? ORDER BY r.seq LIMIT ?",
                (marked, 10_000)).fetchall()
            marked = seq
            db.execute("BEGIN IMMEDIATE")
            db.execute("UPDATE publish_progress SET published_through = ?", (seq,))
            db.execute("DELETE FROM records WHERE seq <= ?", (seq,))
            db.execute("COMMIT")
        if seq % 4096 < group:
            db.execute("PRAGMA wal_checkpoint(PASSIVE)")
    return time.process_time() - started_cpu, time.monotonic() - started


for group in groups:
    folder = tempfile.mkdtemp(prefix="okra-sqlite-floor-")
    db = sqlite3.connect(os.path.join(folder, "floor.sqlite"), isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = FULL")
    db.execute("PRAGMA wal_autocheckpoint = 0")
    db.execute(f"PRAGMA mmap_size = {256 << 20}")
    db.execute("PRAGMA secure_delete = ON")
    db.execute("PRAGMA recursive_triggers = ON")
    for sql in schema:
        db.execute(sql)
    db.execute("INSERT OR IGNORE INTO publish_progress(one, published_through) VALUES (1, 0)")
    cpu, wall = run(group, db)
    # Each statement's rows must be there: an insert that a constraint turned into a no-op (as
    # OR IGNORE does when a NOT NULL column is left out) would make the floor too low.
    for table, each in (("event_ids", 1), ("event_log", 1), ("event_log_keys", 3)):
        (rows,) = db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()
        if rows < events * each:
            sys.exit(f"sqlite_floor: {table} holds {rows} rows after {events} events ({each} an event expected): the floor's inserts no longer fit the bridge's schema")
    db.close()
    shutil.rmtree(folder)
    python, _ = run(group, NoDatabase())
    print(f'{{"floor":"sqlite","events":{events},"group":{group},"cpu_us_per_event":{cpu * 1e6 / events:.1f},'
          f'"python_us_per_event":{python * 1e6 / events:.1f},"sqlite_us_per_event":{(cpu - python) * 1e6 / events:.1f},'
          f'"events_per_second":{events / wall:.0f}}}')
