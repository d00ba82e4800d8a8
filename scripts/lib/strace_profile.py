"""Counts system calls per request from two `strace -f -y` traces of the service: one run with
no requests (IDLE) and one with REQUESTS. Prints per-request counts by call and by what the
file descriptor is (TCP socket, the audit file, stdout, the epoll instance, eventfd ...).

    strace_profile.py IDLE.trace RUN.trace REQUESTS THREADS [--json]

THREADS: "tid name" lines of the RUN's service (its /proc/PID/task), so each call is put down
to a thread: main (the process itself), tokio-runtime-worker, storage-signer-log, ...
"""

import json
import re
import sys
from collections import Counter

CALL = re.compile(r"^(\d+)\s+(?:<\.\.\. )?([a-z0-9_]+)(?:\(| resumed>)")
FD = re.compile(r"^\d+\s+[a-z0-9_]+\((\d+)<(.*?)>[,)]")


def target(line):
    match = FD.match(line)
    if not match:
        return ""
    what = match.group(2)
    if what.startswith("TCP"):
        return "tcp listener" if "->" not in what else "tcp connection"
    if what.startswith("UDP") or what.startswith("UNIX"):
        return what.split(":")[0].lower() + " socket"
    if "eventpoll" in what:
        return "epoll"
    if "eventfd" in what:
        return "eventfd"
    if what.startswith("pipe"):
        return "pipe (stdout)"
    if what.endswith("audit.log"):
        return "audit file"
    if what.endswith(".log") or what.startswith("/dev/pts") or what.startswith("/dev/null"):
        return "stdout (log lines)"
    return what.rsplit("/", 1)[-1]


def thread_names(path):
    names = {}
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            tid, _, name = line.strip().partition(" ")
            names[tid] = name
    return names


def count(path, names=None):
    calls = Counter()
    with open(path, encoding="utf-8", errors="replace") as lines:
        for line in lines:
            if " resumed>" in line or line.startswith("+++") or "--- SIG" in line:
                continue
            match = CALL.match(line)
            if not match:
                continue
            thread = (names or {}).get(match.group(1), "exited thread") if names is not None else ""
            calls[(match.group(2), target(line), thread)] += 1
    return calls


def main():
    names = thread_names(sys.argv[4])
    requests = int(sys.argv[3])
    # The idle run's threads have other ids: compare by (call, target) and keep the RUN's
    # split by thread in proportion.
    idle = Counter()
    for (call, on, _), value in count(sys.argv[1], {}).items():
        idle[(call, on)] += value
    run = count(sys.argv[2], names)
    run_totals = Counter()
    for (call, on, _), value in run.items():
        run_totals[(call, on)] += value
    per = {}
    for (call, on, thread), value in run.items():
        share = value / run_totals[(call, on)]
        per[(call, on, thread)] = (run_totals[(call, on)] - idle.get((call, on), 0)) * share / requests
    per = {key: value for key, value in per.items() if value >= 0.005}
    total = sum(per.values())
    if "--json" in sys.argv:
        print(json.dumps({"syscalls_per_request": round(total, 3),
                          "by_call": [[c, t, th, round(v, 3)] for (c, t, th), v in
                                      sorted(per.items(), key=lambda kv: -kv[1])]}))
        return
    print(f"system calls per request: {total:.2f}")
    print("\n| call | on | thread | per request |\n|---|---|---|---:|")
    for (call, on, thread), value in sorted(per.items(), key=lambda kv: -kv[1]):
        print(f"| {call} | {on or '-'} | {thread} | {value:.2f} |")


if __name__ == "__main__":
    main()
