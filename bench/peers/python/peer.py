"""A webhook receiver as a team would write it in Python instead of running okra-bridge: aiohttp,
confluent-kafka (its bundled librdkafka), the idempotent producer with acks=all, 200 only after
the delivery report. It checks the token, parses the JSON and picks the topic per product and
outcome. Benchmark peer only (docs/benchmarks.md): no store, no dedupe, no event log.

    PEER_TOKEN=... python peer.py --listen 127.0.0.1:8080 --brokers 127.0.0.1:9092 --topic-prefix okra
"""
import argparse
import asyncio
import hmac
import json
import os
import threading

from aiohttp import web
from confluent_kafka import Producer


def classify(payload):
    """The product from the callback's type or method, the outcome from its code or status."""
    def text(*keys):
        for key in keys:
            value = payload.get(key)
            if isinstance(value, str) and value:
                return value
        return ""
    product = text("callback_type", "method", "type", "event").lower() or "unknown"
    signal = text("code", "callback_code", "status").upper()
    if "SUCCESS" in signal:
        outcome = "success"
    elif "FAIL" in signal or "ERROR" in signal:
        outcome = "failed"
    else:
        outcome = "other"
    return product, outcome, text("record", "recordId")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen", default="127.0.0.1:8080")
    parser.add_argument("--brokers", default="127.0.0.1:9092")
    parser.add_argument("--topic-prefix", default="okra")
    args = parser.parse_args()
    token = os.environ["PEER_TOKEN"].encode()
    producer = Producer({
        "bootstrap.servers": args.brokers,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
    })
    running = True

    def serve_delivery_reports():
        while running:
            producer.poll(0.1)
    threading.Thread(target=serve_delivery_reports, daemon=True).start()

    async def webhook(request):
        if not hmac.compare_digest(request.headers.get("Okra-Auth", "").encode(), token):
            return web.json_response({"error": "unauthorized"}, status=401)
        body = await request.read()
        try:
            payload = json.loads(body)
            if not isinstance(payload, dict):
                raise ValueError("not an object")
        except ValueError:
            return web.json_response({"error": "malformed"}, status=400)
        product, outcome, record = classify(payload)
        loop = asyncio.get_running_loop()
        delivered = loop.create_future()

        def report(error, _message):
            loop.call_soon_threadsafe(lambda: delivered.done() or delivered.set_result(error))
        try:
            producer.produce(f"{args.topic_prefix}.{product}.{outcome}", body, key=record or None, on_delivery=report)
        except BufferError:
            return web.json_response({"error": "busy"}, status=503)
        if await delivered is not None:
            return web.json_response({"error": "kafka"}, status=503)
        return web.json_response({"status": "accepted"})

    app = web.Application(client_max_size=1 << 20)
    app.router.add_post("/webhooks/okra", webhook)
    host, port = args.listen.rsplit(":", 1)
    try:
        web.run_app(app, host=host, port=int(port), access_log=None, print=None)
    finally:
        running = False
        producer.flush(10)


if __name__ == "__main__":
    main()
