#!/usr/bin/env python3
"""Signs URLs with Google's own client library (google-cloud-storage), for differential tests.

Reads one JSON document on stdin:

    {"key_path": "sa.json", "endpoint": "https://storage.googleapis.com",
     "cases": [{"version": "v2", "bucket": "b", "object": "a b", "method": "PUT",
                "expiration": 1700000000, "content_type": "image/png", "content_md5": null}]}

and writes a JSON array on stdout: the URL for each case, in order.

V2 cases go through the public API, `Blob.generate_signed_url`, with `expiration` as the
absolute `Expires` the service under test chose.
"""

import json
import sys

from google.auth.credentials import AnonymousCredentials
from google.cloud import storage
from google.oauth2 import service_account


def main() -> None:
    job = json.load(sys.stdin)
    credentials = service_account.Credentials.from_service_account_file(job["key_path"])
    # The client is only a factory for Blob objects here: it makes no request.
    client = storage.Client(project="differential-test", credentials=AnonymousCredentials())
    urls = []
    for case in job["cases"]:
        if case.get("version", "v2") != "v2":
            raise SystemExit(f"unsupported version: {case['version']}")
        blob = client.bucket(case["bucket"]).blob(case["object"])
        urls.append(
            blob.generate_signed_url(
                version="v2",
                expiration=case["expiration"],
                method=case["method"],
                content_type=case.get("content_type"),
                content_md5=case.get("content_md5"),
                credentials=credentials,
                api_access_endpoint=job["endpoint"],
            )
        )
    json.dump({"library": storage.__version__, "urls": urls}, sys.stdout)


if __name__ == "__main__":
    main()
