"""Sends a fixed number of requests of one kind over one keep-alive connection, one at a time,
and checks each answer: the driver of the deterministic benchmarks (callgrind, strace), where a
fixed count matters more than speed.

Usage: python3 client.py KIND COUNT PORT
  KIND: healthz, v2, v4, hmac, get (an identical GET URL each time), batch (10 V2 secrets),
        s3, swift (the V2 upload for an S3 and a Swift bucket)
Bodies and the API key come from the environment (scripts/lib/bench-setup.sh).
"""

import http.client
import os
import sys

BODIES = {"v2": "BENCH_BODY", "v4": "BENCH_BODY_V4", "hmac": "BENCH_BODY_HMAC",
          "get": "BENCH_BODY_GET", "batch": "BENCH_BODY_BATCH", "s3": "BENCH_BODY_S3",
          "swift": "BENCH_BODY_SWIFT"}


def main() -> None:
    kind, count, port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    connection = http.client.HTTPConnection("127.0.0.1", port)
    headers = {"Content-Type": "application/json",
               "Authorization": "Bearer " + os.environ["BENCH_API_KEY"]}
    body = os.environ[BODIES[kind]] if kind in BODIES else None
    path = "/media_content_storage_secrets" + ("/batch" if kind == "batch" else "")
    for _ in range(count):
        if kind == "healthz":
            connection.request("GET", "/healthz")
        else:
            connection.request("POST", path, body, headers)
        response = connection.getresponse()
        response.read()
        assert response.status in (200, 201), (kind, response.status)


if __name__ == "__main__":
    main()
