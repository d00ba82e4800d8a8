"""Peer 1: Google's Python client signing URLs in-process, as an application that signs its own
URLs would. Prints one JSON line: URLs per CPU-second of this process (time.process_time, user +
system), for the same upload URL that scripts/bench-load asks the service for.

Usage: python inprocess.py KEY_JSON VERSION SECONDS     (VERSION: v2 or v4)
"""

import datetime
import json
import sys
import time

from google.cloud import storage
from google.oauth2 import service_account


def main() -> None:
    key_path, version, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    credentials = service_account.Credentials.from_service_account_file(key_path)
    client = storage.Client(project="bench", credentials=credentials)
    blob = client.bucket("bench-bucket").blob("declarations/2026/uploads/scan 1.pdf")

    def sign() -> str:
        return blob.generate_signed_url(
            version=version,
            expiration=datetime.timedelta(seconds=900),
            method="PUT",
            content_type="application/pdf",
            credentials=credentials,
        )

    for _ in range(50):  # warm-up
        sign()
    count = 0
    cpu_start, wall_start = time.process_time(), time.perf_counter()
    while time.perf_counter() - wall_start < seconds:
        for _ in range(20):
            sign()
        count += 20
    cpu = time.process_time() - cpu_start
    wall = time.perf_counter() - wall_start
    # google.auth.crypt.rsa.RSASigner wraps the implementation that does the work.
    implementation = getattr(credentials.signer, "_impl", credentials.signer)
    signer = type(implementation).__module__ + "." + type(implementation).__name__
    print(json.dumps({
        "peer": "google-cloud-storage in-process",
        "version": version,
        "urls": count,
        "cpu_s": round(cpu, 4),
        "wall_s": round(wall, 4),
        "per_cpu_second": round(count / cpu, 1),
        "signer": signer,
        "rsa_backend": "cryptography" if "_cryptography" in signer else "rsa (pure Python)",
    }))


if __name__ == "__main__":
    main()
