#!/usr/bin/env python3
"""A reference consumer of okra-bridge's topics (docs/consumers.md).

What every consumer of the bridge must do, in one file:
  - read in a consumer group, committing an offset only after its record was processed;
  - parse each record as a CloudEvent, structured or binary (the CloudEvents Python SDK);
  - process each event once: keep the first copy of each (source, id), the pair CloudEvents
    defines as unique, for 73 hours (Okra retries for 72), in a local SQLite file, in the same
    transaction as the processing's own write, so a crash between the two cannot lose or
    repeat one;
  - recognise a replay (header okra-bridge-replay: true): same id, so it is a duplicate unless
    the first copy was never processed;
  - log dead letters (the dead-letter topic: bodies that are not Okra events), and any record
    that is not a CloudEvent (a probe of `okra-bridge check`, say), rather than stop on them;
  - keep what it stores private: payloads carry personal data (the state file is 0600, and the
    reference stores ids, not payloads).

"Processing" here is writing the event into the `processed` table; put your own work there,
inside the same transaction.

Usage:
  consumer.py --bootstrap HOST:PORT --topics-regex '^okra\\.' --group my-service \\
              --state consumer.sqlite [--config-file kafka.properties] [--dead-letter-topic okra.deadletter]
              [--idle-exit SECONDS]
"""
import argparse
import logging
import os
import signal
import sqlite3
import sys
import time

from cloudevents.core.bindings.kafka import KafkaMessage, from_kafka_event
from confluent_kafka import Consumer, KafkaError, KafkaException

DEDUPE_SECONDS = 73 * 3600

log = logging.getLogger("okra-consumer")


def open_state(path):
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE IF NOT EXISTS seen (source TEXT NOT NULL, id TEXT NOT NULL, first_seen REAL NOT NULL, PRIMARY KEY (source, id))")
    db.execute("CREATE TABLE IF NOT EXISTS processed (source TEXT NOT NULL, id TEXT NOT NULL, type TEXT NOT NULL, topic TEXT NOT NULL, "
               "replay INTEGER NOT NULL, processed_at REAL NOT NULL)")
    db.execute("CREATE TABLE IF NOT EXISTS dead_letters (topic TEXT, partition INTEGER, offset INTEGER, reason TEXT, received_at TEXT, size INTEGER)")
    return db


def process(db, event, topic, replay):
    """Processes `event` unless its (source, id) was seen within the window; returns True if it
    was processed. The dedupe row and the work commit together."""
    source, event_id = event.get_source(), event.get_id()
    now = time.time()
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute("DELETE FROM seen WHERE first_seen < ?", (now - DEDUPE_SECONDS,))
        if db.execute("SELECT 1 FROM seen WHERE source = ? AND id = ?", (source, event_id)).fetchone():
            db.execute("ROLLBACK")
            return False
        db.execute("INSERT INTO seen VALUES (?, ?, ?)", (source, event_id, now))
        # Your work goes here, in this transaction (event.get_data() is Okra's payload: personal
        # data, so keep it only as your service must). The reference notes what it processed.
        db.execute("INSERT INTO processed VALUES (?, ?, ?, ?, ?, ?)",
                   (source, event_id, event.get_type(), topic, 1 if replay else 0, now))
        db.execute("COMMIT")
        return True
    except BaseException:
        db.execute("ROLLBACK")
        raise


def headers_of(message):
    return {name: (value or b"") for name, value in (message.headers() or [])}


def set_aside(db, message, reason):
    """Keeps where a record that is not an event was and why, never its body (it may hold
    personal data), so its offset can be committed and the stream goes on."""
    headers = headers_of(message)
    db.execute("INSERT INTO dead_letters VALUES (?, ?, ?, ?, ?, ?)",
               (message.topic(), message.partition(), message.offset(), reason,
                headers.get("okra-bridge-received-at", b"").decode(), len(message.value() or b"")))
    log.warning("set aside %s[%d]@%d: %s", message.topic(), message.partition(), message.offset(), reason)


def handle(db, message, dead_letter_topic):
    headers = headers_of(message)
    if message.topic() == dead_letter_topic:
        set_aside(db, message, "dead letter: " + headers.get("okra-bridge-reason", b"?").decode())
        return
    if "okra-bridge-check" in headers:
        log.info("probe record of okra-bridge check at %s[%d]@%d skipped", message.topic(), message.partition(), message.offset())
        return
    try:
        event = from_kafka_event(KafkaMessage(headers=headers, key=message.key(), value=message.value() or b""))
    except Exception as error:  # not a CloudEvent: never let one record stop the stream
        set_aside(db, message, f"not a CloudEvent ({type(error).__name__})")
        return
    replay = headers.get("okra-bridge-replay") == b"true"
    if process(db, event, message.topic(), replay):
        log.info("processed %s %s%s", event.get_id(), event.get_type(), " (replayed)" if replay else "")
    else:
        log.info("duplicate %s skipped%s", event.get_id(), " (a replay)" if replay else "")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topics-regex", default=r"^okra\.")
    parser.add_argument("--dead-letter-topic", default="okra.deadletter")
    parser.add_argument("--group", required=True)
    parser.add_argument("--state", required=True, help="the SQLite file of seen ids and processed events")
    parser.add_argument("--config-file", help="librdkafka properties, KEY=VALUE a line (# comments): where sasl.password belongs")
    parser.add_argument("--property", action="append", default=[], help="a librdkafka property KEY=VALUE that is not a secret")
    parser.add_argument("--idle-exit", type=float, default=0, help="exit after this many seconds without a record (0: never)")
    parser.add_argument("--crash-after", type=int, default=0,
                        help="for tests: die after processing this many records, before committing the last one's offset, "
                             "as a crash would (its record comes again, and is recognised)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    os.umask(0o077)  # the state file and its WAL: this process's only

    config = {
        "bootstrap.servers": args.bootstrap,
        "group.id": args.group,
        "enable.auto.commit": False,          # an offset is committed only after its record was processed
        "auto.offset.reset": "earliest",      # a new group reads what is already there
        "topic.metadata.refresh.interval.ms": 5000,  # new topics matching the regex are picked up
    }
    lines = open(args.config_file).read().splitlines() if args.config_file else []
    for pair in [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")] + args.property:
        key, _, value = pair.partition("=")
        config[key.strip()] = value.strip()
    consumer = Consumer(config)
    consumer.subscribe([args.topics_regex if args.topics_regex.startswith("^") else "^" + args.topics_regex])
    db = open_state(args.state)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    last_record = time.monotonic()
    handled = 0
    try:
        while not stopping:
            message = consumer.poll(0.5)
            if message is None:
                if args.idle_exit and time.monotonic() - last_record > args.idle_exit:
                    break
                continue
            if message.error():
                if message.error().code() in (KafkaError._PARTITION_EOF, KafkaError.UNKNOWN_TOPIC_OR_PART):
                    continue
                raise KafkaException(message.error())
            last_record = time.monotonic()
            handle(db, message, args.dead_letter_topic)
            handled += 1
            if args.crash_after and handled >= args.crash_after:
                log.warning("dying on purpose after %d records, before committing the offset of the last", handled)
                os._exit(75)
            consumer.commit(message=message, asynchronous=False)
    finally:
        consumer.close()
        db.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
