"""A collector stand-in for `bench.sh tracecost`: answers every OTLP/HTTP export with an empty
success (protobuf or JSON, as asked) and keeps nothing; on SIGTERM prints how many exports and
bytes it took, so a run shows the spans left the bridge.

    otlp_sink.py PORT
"""
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

exports = 0
received = 0


class Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        global exports, received
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        exports += 1
        received += length
        json = self.headers.get("Content-Type", "").startswith("application/json")
        body = b"{}" if json else b""
        self.send_response(200)
        self.send_header("Content-Type", "application/json" if json else "application/x-protobuf")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def stop(*_):
    print(f"otlp sink: {exports} exports, {received} bytes", file=sys.stderr)
    sys.exit(0)


signal.signal(signal.SIGTERM, stop)
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Sink).serve_forever()
