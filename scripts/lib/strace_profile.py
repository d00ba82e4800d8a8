"""Counts system calls per request from two `strace -f -y` traces of the service: one run with
no requests (IDLE) and one with REQUESTS. Prints per-request counts by call and by what the
file descriptor is (TCP socket, the audit file, stdout, the epoll instance, eventfd ...).

    strace_profile.py IDLE.trace RUN.trace REQUESTS [--json]
"""

import json
import re
import sys
from collections import Counter

CALL = re.compile(r"^\d+\s+(?:<\.\.\. )?([a-z0-9_]+)(?:\(| resumed>)")
FD = re.compile(r"^\d+\s+[a-z0-9_]+\((\d+)<([^>]*)>")


def target(line):
    match = FD.match(line)
    if not match:
        return ""
    what = match.group(2)
    if what.startswith("TCP"):
        return "tcp socket"
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
    if what.startswith("/dev/pts") or what.startswith("/dev/null"):
        return "stdout"
    return what.rsplit("/", 1)[-1]


def count(path):
    calls = Counter()
    with open(path, encoding="utf-8", errors="replace") as lines:
        for line in lines:
            if " resumed>" in line or line.startswith("+++") or "--- SIG" in line:
                continue
            match = CALL.match(line)
            if not match:
                continue
            calls[(match.group(1), target(line))] += 1
    return calls


def main():
    idle, run, requests = count(sys.argv[1]), count(sys.argv[2]), int(sys.argv[3])
    per = {key: (run[key] - idle.get(key, 0)) / requests for key in run}
    per = {key: value for key, value in per.items() if value >= 0.005}
    total = sum(per.values())
    if "--json" in sys.argv:
        print(json.dumps({"syscalls_per_request": round(total, 3),
                          "by_call": {f"{c} {t}".strip(): round(v, 3) for (c, t), v in
                                      sorted(per.items(), key=lambda kv: -kv[1])}}))
        return
    print(f"system calls per request: {total:.2f}")
    print("\n| call | on | per request |\n|---|---|---:|")
    for (call, on), value in sorted(per.items(), key=lambda kv: -kv[1]):
        print(f"| {call} | {on or '-'} | {value:.2f} |")


if __name__ == "__main__":
    main()
