"""Counts what a benchmark run put on Kafka: every record of every topic named RUN.*, read from
the beginning; prints the run's JSON line with `published_unique` and `lost` (accepted requests
whose bench_seq is on no topic).

    count.py BROKER RUN WRK_RESULT_JSON RECEIVER

The dev broker serves a partition only up to the first record of its last batch (its end offset
is that batch's base offset + 1), so one marker record is first produced to every partition, on
its own, to put a later batch behind the run's last one.
"""
import json
import re
import sys
import time

from confluent_kafka import Consumer, Producer, TopicPartition

broker, run, result_text, receiver = sys.argv[1:5]
result = json.loads(result_text)
SEQ = re.compile(rb'"bench_seq"\s*:\s*"([^"]+)"')

probe = Consumer({"bootstrap.servers": broker, "group.id": f"{run}-count", "enable.auto.commit": False})
topics = {name: meta for name, meta in probe.list_topics(timeout=10).topics.items() if name.startswith(run + ".")}
partitions = [TopicPartition(name, p, 0) for name, meta in topics.items() for p in meta.partitions]
producer = Producer({"bootstrap.servers": broker, "acks": "all"})
for tp in partitions:
    producer.produce(tp.topic, b"{}", partition=tp.partition)
    producer.flush(10)   # one batch per marker

probe.assign(partitions)
seen, remaining, idle_since = set(), {(tp.topic, tp.partition) for tp in partitions}, time.time()
while remaining and time.time() - idle_since < 20:
    messages = probe.consume(num_messages=1000, timeout=0.5)
    if messages:
        idle_since = time.time()
    for message in messages:
        if message.error():
            continue
        value = message.value() or b""
        if value == b"{}":
            remaining.discard((message.topic(), message.partition()))   # the marker: the partition is read
            continue
        found = SEQ.search(value)
        if found and found.group(1) != b"warmup":
            seen.add(found.group(1))
probe.close()

result["receiver"] = receiver
result["topics"] = len(topics)
result["published_unique"] = len(seen)
result["lost"] = max(0, result["accepted"] - len(seen))
result["accepted_per_second"] = round(result["accepted"] / result["seconds"])
if remaining:
    result["unread_partitions"] = len(remaining)
print(json.dumps(result))
