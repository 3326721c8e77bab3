#!/usr/bin/env python3
"""Checks an strace log of `okra-bridge serve` (see scripts/test-fsync.sh): before every accepted
webhook's answer, the store's WAL file got a write and, after that write, an fsync/fdatasync.

The log must come from `strace -f -tt -y ...`: a pid and a time on each line, and file
descriptors printed with their paths (`7</tmp/d/okra-bridge.sqlite-wal>`, `12<TCP:[4711]>`).

Order is taken from the position of lines in the log, not from their times. strace prints a
call's line when the call starts; when another thread's call is printed meanwhile, it ends that
line with `<unfinished ...>` and prints the rest, with the result, on a later
`<... NAME resumed>` line. So each call gets a start (the line naming it) and an end (the line
holding its result); a call on one whole line starts and ends there, with nothing in between.
strace sees the stops of all threads one at a time, and a thread stays stopped at a call's end
until strace has printed it, so when a program answers only after its sync returned, the sync's
end line comes before the answer's start line.

A sync counts for an answer when it ended (successfully) before the answer's write started, and
started after the end of the last WAL write that started since the previous accepted answer. An
answer is the first successful socket write of bytes starting `HTTP/1.x 200`; it is an accepted
webhook's when that write, or a later write on the same socket before the next answer there,
contains `accepted` (the body `{"status":"accepted",...}`, in the same write or the next one).

Usage: check_trace.py --wal DATA_DIR/okra-bridge.sqlite-wal [--expect N] TRACE
Exits 0 when every accepted answer had its sync (and, with --expect, there were exactly N).
check_trace.py --self-test checks the parser on small hand-written logs of split lines.
"""
import argparse
import re
import sys

WRITES = {"write", "writev", "pwrite64", "pwritev", "pwritev2", "sendmsg", "sendto", "sendmmsg"}
SYNCS = {"fsync", "fdatasync"}

# `1234  10:00:00.123456 rest` (strace -f -o FILE), or `[pid  1234] 10:00:00.123456 rest`.
LINE = re.compile(r"^(?:\[pid\s+(\d+)\]|(\d+))?\s*(\d\d:\d\d:\d\d\.\d+)\s+(.*)$")
START = re.compile(r"^(\w+)\((.*)$")
RESUMED = re.compile(r"^<\.\.\. (\w+) resumed>(.*)$")
# The result: the last `) = ` of the line (strings are quoted, the errno text has no ` = `).
RESULT = re.compile(r"^(.*)\)\s+=\s+(.*)$")
# The first argument as `-y` prints it: `7</path>` (a socket: `12<TCP:[4711]>`, `-yy` adds
# addresses with `->` in them, hence the look-ahead for what follows the closing `>`).
FD = re.compile(r"^\s*(\d+)<(.*?)>(?=,|\s*$)")
QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')
STATUS = re.compile(r"^HTTP/1\.[01] (\d{3})")
UNFINISHED = " <unfinished ...>"


class Call:
    """One system call: where it started and ended in the log, its fd and path, and its result."""

    def __init__(self, pid, name, args, start, time):
        self.pid, self.name, self.args = pid, name, args
        self.start, self.end = start, None
        self.start_time, self.end_time = time, None
        self.result = None

    def finish(self, tail, position, time):
        """Completes the call with the rest of its arguments and its result."""
        match = RESULT.match(tail)
        if match:
            self.args += match.group(1)
            value = match.group(2).split()[0] if match.group(2).split() else "?"
            self.result = int(value) if re.fullmatch(r"-?\d+", value) else None
        else:
            self.args += tail
        self.end, self.end_time = position, time

    def fd(self):
        """The first argument as (fd, path), or (None, None) without a path."""
        match = FD.match(self.args)
        return (match.group(1), match.group(2)) if match else (None, None)

    def text(self):
        """The written bytes strace showed (each string maybe cut at -s), still escaped."""
        return "".join(QUOTED.findall(self.args))


def read_calls(lines):
    """The calls in a log, in the order they started, each with its start and end position."""
    calls, pending = [], {}
    for position, raw in enumerate(lines):
        match = LINE.match(raw.rstrip("\n"))
        if not match:
            continue
        pid = match.group(1) or match.group(2) or "0"
        time, rest = match.group(3), match.group(4)
        resumed = RESUMED.match(rest)
        if resumed:
            call = pending.pop(pid, None)
            if call is not None and call.name == resumed.group(1):
                call.finish(resumed.group(2), position, time)
            continue
        started = START.match(rest)
        if not started:
            continue  # signals (`--- SIGTERM ---`), exits (`+++ exited +++`) and the like
        call = Call(pid, started.group(1), "", position, time)
        calls.append(call)
        tail = started.group(2)
        if tail.endswith(UNFINISHED):
            call.args = tail[: -len(UNFINISHED)]
            pending[pid] = call
        else:
            call.finish(tail, position, time)
    return calls


def answers(calls):
    """The accepted answers: the socket writes that started a 200 whose body says accepted."""
    found, latest = [], {}
    for call in calls:
        if call.name not in WRITES or call.result is None or call.result <= 0:
            continue
        fd, path = call.fd()
        if path is None or not (path.startswith("TCP") or path.startswith("socket:")):
            continue
        key = (fd, path)
        text = call.text()
        status = STATUS.match(text)
        if status:
            latest[key] = {"call": call, "status": status.group(1), "accepted": False}
            found.append(latest[key])
        if key in latest and "accepted" in text:
            latest[key]["accepted"] = True
    return [a["call"] for a in found if a["status"] == "200" and a["accepted"]]


def check(calls, wal):
    """For each accepted answer: (answer, None) when a WAL sync preceded it, else (answer, why)."""
    wal_writes = [c for c in calls if c.name in WRITES and c.fd()[1] == wal]
    wal_syncs = [c for c in calls if c.name in SYNCS and c.fd()[1] == wal and c.result == 0 and c.end is not None]
    verdicts, previous = [], -1
    for answer in answers(calls):
        here = [w for w in wal_writes if previous < w.start < answer.start]
        if not here:
            verdicts.append((answer, "no write to the WAL since the previous answer"))
        elif any(w.end is None or w.end > answer.start for w in here):
            verdicts.append((answer, "a WAL write was still running when the answer was written"))
        else:
            last = max(w.end for w in here)
            synced = any(last < s.start and s.end < answer.start for s in wal_syncs)
            verdicts.append((answer, None if synced else "no fsync/fdatasync of the WAL between its last write and the answer"))
        previous = answer.start
    return verdicts, len(wal_writes), len(wal_syncs)


# Hand-written logs for --self-test: each answer's expected verdict (True: synced in time).
W, S = "7</d/okra-bridge.sqlite-wal>", "9<TCP:[42]>"
HEAD, BODY = '"HTTP/1.1 200 OK\\r\\nContent-Length: 40\\r\\n\\r\\n"', '"{\\"status\\":\\"accepted\\",\\"id\\":\\"x\\"}"'
SELF_TESTS = {
    "sync returned before the answer, split by other threads": ([
        f"1 10:00:00.000001 pwrite64({W}, \"frame\", 4096, 32) = 4096",
        f"1 10:00:00.000002 fdatasync({W} <unfinished ...>",
        "3 10:00:00.000003 write(2</log>, \"tick\", 4) = 4",
        "1 10:00:00.000004 <... fdatasync resumed>) = 0",
        f"2 10:00:00.000005 writev({S}, [{{iov_base={HEAD}, iov_len=40}}, {{iov_base={BODY}, iov_len=40}}], 2) = 80",
    ], [True]),
    "sync still running when the answer's write started": ([
        f"1 10:00:00.000001 pwrite64({W}, \"frame\", 4096, 32) = 4096",
        f"1 10:00:00.000002 fdatasync({W} <unfinished ...>",
        f"2 10:00:00.000003 write({S}, {HEAD}, 40 <unfinished ...>",
        "1 10:00:00.000004 <... fdatasync resumed>) = 0",
        "2 10:00:00.000005 <... write resumed>) = 40",
        f"2 10:00:00.000006 write({S}, {BODY}, 40) = 40",
    ], [False]),
    "sync before the frames, none after; the next answer is fine": ([
        f"1 10:00:00.000001 fdatasync({W}) = 0",
        f"1 10:00:00.000002 pwrite64({W}, \"frame\", 4096, 32 <unfinished ...>",
        f"4 10:00:00.000003 fsync({W} <unfinished ...>",
        "1 10:00:00.000004 <... pwrite64 resumed>) = 4096",
        "4 10:00:00.000005 <... fsync resumed>) = 0",
        f"2 10:00:00.000006 sendto({S}, {HEAD}, 40, 0, NULL, 0) = 40",
        f"2 10:00:00.000007 sendto({S}, {BODY}, 40, 0, NULL, 0) = 40",
        f"1 10:00:00.000008 pwrite64({W}, \"frame\", 4096, 4128) = 4096",
        f"1 10:00:00.000009 fdatasync({W}) = 0",
        f"2 10:00:00.000010 write({S}, {HEAD}, 40) = 40",
        f"2 10:00:00.000011 write({S}, {BODY}, 40) = 40",
    ], [False, True]),
    "no WAL write since the previous answer; a failed sync does not count": ([
        f"1 10:00:00.000001 pwrite64({W}, \"frame\", 4096, 32) = 4096",
        f"1 10:00:00.000002 fdatasync({W}) = 0",
        f"2 10:00:00.000003 write({S}, {HEAD}, 40) = 40",
        f"2 10:00:00.000004 write({S}, {BODY}, 40) = 40",
        f"1 10:00:00.000005 fdatasync({W}) = 0",
        f"2 10:00:00.000006 write({S}, {HEAD}, 40) = 40",
        f"2 10:00:00.000007 write({S}, {BODY}, 40) = 40",
        f"1 10:00:00.000008 pwrite64({W}, \"frame\", 4096, 4128) = 4096",
        f"1 10:00:00.000009 fdatasync({W}) = -1 EIO (Input/output error)",
        f"2 10:00:00.000010 write({S}, {HEAD}, 40) = 40",
        f"2 10:00:00.000011 write({S}, {BODY}, 40) = 40",
    ], [True, False, False]),
}


def self_test():
    failed = 0
    for name, (lines, expected) in SELF_TESTS.items():
        verdicts, _, _ = check(read_calls(lines), "/d/okra-bridge.sqlite-wal")
        got = [why is None for _, why in verdicts]
        print(f"{'ok  ' if got == expected else 'FAIL'} {name}: expected {expected}, got {got}")
        failed += got != expected
    return 1 if failed else 0


def main():
    if sys.argv[1:] == ["--self-test"]:
        return self_test()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wal", required=True, help="path of the WAL file, as strace -y prints it")
    parser.add_argument("--expect", type=int, help="how many accepted answers there must be")
    parser.add_argument("--show", type=int, default=5, help="how many unsynced answers to list")
    parser.add_argument("trace")
    options = parser.parse_args()
    with open(options.trace, encoding="utf-8", errors="replace") as log:
        calls = read_calls(log)
    verdicts, writes, syncs = check(calls, options.wal)
    synced = sum(1 for _, why in verdicts if why is None)
    print(f"trace: {writes} writes to the WAL, {syncs} fsync/fdatasync of it")
    print(f"acknowledged {len(verdicts)}, with a WAL sync before the answer {synced}")
    lacking = [(n, a, why) for n, (a, why) in enumerate(verdicts, 1) if why is not None]
    for n, answer, why in lacking[: options.show]:
        print(f"  answer {n} (written at {answer.start_time}, log line {answer.start + 1}): {why}")
    if len(lacking) > options.show:
        print(f"  ... and {len(lacking) - options.show} more")
    ok = synced == len(verdicts) and len(verdicts) > 0
    if options.expect is not None and len(verdicts) != options.expect:
        print(f"expected {options.expect} accepted answers in the trace, found {len(verdicts)}")
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
