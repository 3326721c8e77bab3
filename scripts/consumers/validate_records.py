#!/usr/bin/env python3
"""Reads every record of the bridge's topics from the beginning and validates each against the
message of `okra-bridge topics asyncapi` that its channel names: the structured envelope against
the envelope's JSON Schema, the binary and dead-letter headers against theirs. Then checks that
a broken record (an envelope with a product the schema does not have) fails, so the validation
cannot pass by accepting anything. Prints the ids found, one JSON line per record, to --ids.

Usage: validate_records.py --bootstrap B --asyncapi FILE --ids OUT
"""
import argparse
import copy
import json
import sys
import time

import jsonref
import jsonschema
from confluent_kafka import Consumer, TopicPartition


def messages_by_topic(document):
    resolved = jsonref.replace_refs(document, lazy_load=False, proxies=False)
    topics = {}
    for channel in resolved["channels"].values():
        topics[channel["address"]] = channel["messages"]
    return topics


def read_all(bootstrap, topics, idle=8.0):
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "validate-records", "enable.auto.commit": False})
    metadata = consumer.list_topics(timeout=10)
    unplanned = [name for name in metadata.topics if name.startswith("okra.") and name not in topics]
    if unplanned:
        raise ValueError(f"topics the document does not name: {unplanned}")
    partitions = [TopicPartition(name, p, 0) for name in topics if name in metadata.topics
                  for p in metadata.topics[name].partitions]
    consumer.assign(partitions)
    records, last = [], time.monotonic()
    while time.monotonic() - last < idle:
        message = consumer.poll(0.5)
        if message is None or message.error():
            continue
        last = time.monotonic()
        records.append(message)
    consumer.close()
    return records


def check(message, kinds):
    headers = {name: (value or b"").decode() for name, value in (message.headers() or [])}
    content_type = headers.get("content-type", "")
    if "deadLetter" in kinds:
        kind = "deadLetter"
    elif content_type.startswith("application/cloudevents+json"):
        kind = "structured"
    else:
        kind = "binary"
    if kind not in kinds:
        raise ValueError(f"{message.topic()}: a {kind} record on a channel of {sorted(kinds)}")
    spec = kinds[kind]
    jsonschema.Draft202012Validator(spec["headers"]).validate(headers)
    if kind == "structured":
        envelope = json.loads(message.value())
        jsonschema.Draft202012Validator(spec["payload"]).validate(envelope)
        return kind, envelope["id"], envelope
    if kind == "binary":
        jsonschema.Draft202012Validator(spec["payload"]).validate(json.loads(message.value()))
        return kind, headers["ce_id"], None
    return kind, headers.get("ce_id"), None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--asyncapi", required=True)
    parser.add_argument("--ids", required=True)
    args = parser.parse_args()
    with open(args.asyncapi) as f:
        topics = messages_by_topic(json.load(f))
    records = read_all(args.bootstrap, topics)
    if not records:
        print("no records read")
        return 1
    counts, sample = {}, None
    with open(args.ids, "w") as out:
        for message in records:
            try:
                kind, event_id, envelope = check(message, topics[message.topic()])
            except jsonschema.ValidationError as error:
                # Where and which rule, never the value: records carry personal data.
                print(f"{message.topic()}[{message.partition()}]@{message.offset()}: invalid at {list(error.absolute_path)} ({error.validator})")
                return 1
            counts[kind] = counts.get(kind, 0) + 1
            sample = sample or (envelope and (message.topic(), envelope))
            out.write(json.dumps({"topic": message.topic(), "kind": kind, "id": event_id,
                                  "replay": any(n == "okra-bridge-replay" for n, _ in (message.headers() or []))}) + "\n")
    # The validation is not vacuous: an envelope with a product the schema lacks fails.
    topic, envelope = sample
    broken = copy.deepcopy(envelope)
    broken["okraproduct"] = "savings"
    try:
        jsonschema.Draft202012Validator(topics[topic]["structured"]["payload"]).validate(broken)
        print("a broken envelope passed validation")
        return 1
    except jsonschema.ValidationError:
        pass
    print(f"{len(records)} records valid against their channel's message: {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
