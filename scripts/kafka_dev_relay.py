#!/usr/bin/env python3
"""Loopback relay in front of the dev broker (Tansu) for librdkafka < 2.2.

librdkafka 2.0.2 (Debian 12) mis-parses the top-level tagged fields that
Tansu appends to every ApiVersions v3+ response and fails each connection
with "ApiVersionRequest failed: Local: Read underflow" (librdkafka #4253).

For each accepted connection this relay:
  1. forwards the client's first request frame unchanged;
  2. if that request is ApiVersions (api key 18) at version >= 3, reads the
     first response frame, replaces its trailing tagged-field section with a
     single zero count and fixes the 4-byte size prefix;
  3. from then on copies bytes both ways unchanged.

Nothing else is parsed or altered. Standard library only.

With --tls-cert FILE --tls-key FILE the relay terminates TLS: clients
connect to it with TLS (security.protocol=SSL) and it talks plain TCP to the
broker, still fixing the ApiVersions reply, which it can only do on the
decrypted stream. Tansu advertises one listener, so the broker behind a TLS
relay must advertise the relay's TLS port.

With --delay-ms N every byte from the broker reaches the client N ms after
the relay read it (a slow broker or a distant one, for benchmarks); replies
stay in order and pipelined ones are not serialized behind each other.

Usage:
  kafka_dev_relay.py serve --listen PORT --upstream PORT [--delay-ms N] [--tls-cert FILE --tls-key FILE]
  kafka_dev_relay.py probe --port PORT [--timeout SECONDS]
"""
import argparse
import collections
import socket
import ssl
import struct
import sys
import threading
import time

API_VERSIONS = 18
METADATA = 3
CHUNK = 256 * 1024


def read_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        part = sock.recv(n - len(buf))
        if not part:
            raise EOFError("connection closed")
        buf += part
    return bytes(buf)


def read_frame(sock):
    size = read_exact(sock, 4)
    (length,) = struct.unpack(">i", size)
    if length < 0 or length > 100 * 1024 * 1024:
        raise ValueError("implausible frame size %d" % length)
    return size + read_exact(sock, length)


def read_uvarint(buf, pos):
    shift = 0
    value = 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte & 0x80 == 0:
            return value, pos
        shift += 7
        if shift > 35:
            raise ValueError("varint too long")


def skip_tagged_fields(buf, pos):
    count, pos = read_uvarint(buf, pos)
    for _ in range(count):
        _, pos = read_uvarint(buf, pos)  # tag id
        size, pos = read_uvarint(buf, pos)
        pos += size
    return pos


def strip_top_level_tags(frame):
    """Return the ApiVersions v3+ response frame with an empty top-level
    tagged-field section, or the frame unchanged if it does not parse."""
    try:
        body = frame[4:]
        pos = 4  # correlation id (response header v0, even for v3)
        (error_code,) = struct.unpack_from(">h", body, pos)
        pos += 2
        count_plus_one, pos = read_uvarint(body, pos)
        for _ in range(max(count_plus_one - 1, 0)):
            pos += 6  # api_key, min_version, max_version
            pos = skip_tagged_fields(body, pos)
        pos += 4  # throttle_time_ms
        if pos > len(body):
            return frame
        # Everything after throttle_time_ms is the top-level tagged fields.
        skip_tagged_fields(body, pos)  # validates the section parses
        new_body = body[:pos] + b"\x00"
        del error_code
        return struct.pack(">i", len(new_body)) + new_body
    except (IndexError, struct.error, ValueError):
        return frame


def pump(src, dst):
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    try:
        while True:
            n = src.recv_into(buf)
            if n == 0:
                break
            dst.sendall(view[:n])
    except OSError:
        pass
    finally:
        for s, how in ((dst, socket.SHUT_WR), (src, socket.SHUT_RD)):
            tcp_shutdown(s, how)


def tcp_shutdown(s, how):
    """Shut down the TCP connection under `s`. For a TLS socket this bypasses
    SSLSocket.shutdown, which drops the TLS session while the other direction
    may still be sending through it."""
    try:
        socket.socket.shutdown(s, how)
    except OSError:
        pass


def delayed_pump(src, dst, delay):
    """pump, with each chunk sent `delay` seconds after it was read."""
    chunks = collections.deque()
    ready = threading.Condition()
    closed = []

    def send():
        while True:
            with ready:
                while not chunks and not closed:
                    ready.wait()
                if not chunks:
                    break
                due, data = chunks.popleft()
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            try:
                dst.sendall(data)
            except OSError:
                break
        tcp_shutdown(dst, socket.SHUT_WR)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    try:
        while True:
            data = src.recv(CHUNK)
            if not data:
                break
            with ready:
                chunks.append((time.monotonic() + delay, data))
                ready.notify()
    except OSError:
        pass
    finally:
        with ready:
            closed.append(True)
            ready.notify()
        sender.join()
        tcp_shutdown(src, socket.SHUT_RD)


def handle(client, upstream_port, delay=0.0, tls=None):
    upstream = None
    try:
        if tls is not None:
            # The handshake runs here, in the connection's thread: a client that refuses the
            # certificate (a wrong CA) fails its own connection only.
            client.settimeout(10)
            client = tls.wrap_socket(client, server_side=True)
            client.settimeout(None)
        upstream = socket.create_connection(("127.0.0.1", upstream_port))
        for s in (client, upstream):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        request = read_frame(client)
        upstream.sendall(request)
        api_key, api_version = struct.unpack_from(">hh", request, 4)
        if api_key == API_VERSIONS and api_version >= 3:
            client.sendall(strip_top_level_tags(read_frame(upstream)))
        if delay > 0:
            back = threading.Thread(target=delayed_pump, args=(upstream, client, delay), daemon=True)
        else:
            back = threading.Thread(target=pump, args=(upstream, client), daemon=True)
        back.start()
        pump(client, upstream)
        back.join()
    except (OSError, EOFError, ValueError, struct.error):
        pass
    finally:
        for s in (client, upstream):
            if s is not None:
                try:
                    s.close()
                except OSError:
                    pass


def serve(listen_port, upstream_port, delay=0.0, tls=None):
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", listen_port))
    server.listen(128)
    while True:
        client, _ = server.accept()
        threading.Thread(target=handle, args=(client, upstream_port, delay, tls), daemon=True).start()


def request_frame(api_key, api_version, correlation_id, body):
    client_id = b"okra-bridge-probe"
    header = struct.pack(">hhih", api_key, api_version, correlation_id, len(client_id)) + client_id
    payload = header + body
    return struct.pack(">i", len(payload)) + payload


def probe(port, timeout, ca=None, api_versions_only=False):
    """Succeed once a Metadata request through the relay names a broker (over TLS,
    verifying the relay's certificate against `ca`, when given). A broker that
    requires SASL answers nothing but ApiVersions before it: with
    `api_versions_only`, an ApiVersions reply is enough."""
    deadline = time.monotonic() + timeout
    last = "no attempt"
    context = ssl.create_default_context(cafile=ca) if ca else None
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as raw:
                s = context.wrap_socket(raw, server_hostname="127.0.0.1") if context else raw
                s.sendall(request_frame(API_VERSIONS, 0, 1, b""))
                read_frame(s)
                if api_versions_only:
                    return 0
                # Metadata v1 with a null topic array: all topics.
                s.sendall(request_frame(METADATA, 1, 2, struct.pack(">i", -1)))
                frame = read_frame(s)
                (brokers,) = struct.unpack_from(">i", frame, 8)
                if brokers >= 1:
                    return 0
                last = "metadata named no broker"
        except (OSError, EOFError, ValueError, struct.error) as error:
            last = str(error) or type(error).__name__
        time.sleep(0.05)
    print("dev broker not ready on 127.0.0.1:%d after %ss: %s" % (port, timeout, last), file=sys.stderr)
    return 1


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--listen", type=int, required=True)
    s.add_argument("--upstream", type=int, required=True)
    s.add_argument("--delay-ms", type=float, default=0.0)
    s.add_argument("--tls-cert")
    s.add_argument("--tls-key")
    p = sub.add_parser("probe")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--timeout", type=float, default=15.0)
    p.add_argument("--ca", help="verify a TLS relay's certificate against this CA")
    p.add_argument("--api-versions-only", action="store_true", help="for a broker that requires SASL")
    args = parser.parse_args()
    if args.command == "serve":
        tls = None
        if args.tls_cert:
            tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            tls.load_cert_chain(args.tls_cert, args.tls_key)
        serve(args.listen, args.upstream, args.delay_ms / 1000.0, tls)
        return 0
    return probe(args.port, args.timeout, args.ca, args.api_versions_only)


if __name__ == "__main__":
    sys.exit(main())
