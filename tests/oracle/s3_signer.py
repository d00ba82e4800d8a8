#!/usr/bin/env python3
"""botocore as the oracle of the S3 differential tests, driven by one JSON document on stdin.

{"mode": "presign", "access_key": "AK", "secret_key": "SK", "session_token": null,
 "cases": [{"client_method": "get_object" | "head_object" | "put_object" | "delete_object",
            "endpoint": "http://127.0.0.1:9000" | null (AWS's own endpoint for the region),
            "region": "eu-west-1", "style": "path" | "virtual",
            "bucket": "b", "key": "a b/ü",
            "params": [["ContentType", "image/png"], ["Metadata", {"owner": "u1"}], ...],
            "expires_in": 600, "timestamp": "20261128T145107Z"}]}
    -> {"library": "1.44.8", "urls": [...]}: client.generate_presigned_url(client_method,
       Params={"Bucket", "Key", *params in the given order}, ExpiresIn) for each case.

{"mode": "post", "access_key": ..., "secret_key": ..., "session_token": ...,
 "cases": [{"endpoint", "region", "style", "bucket", "key", "fields": [[name, value], ...],
            "conditions": [...], "expires_in", "timestamp"}]}
    -> {"library": ..., "posts": [{"url": ..., "fields": [[name, value], ...]}]}:
       client.generate_presigned_post(Bucket, Key, Fields (in order), Conditions, ExpiresIn);
       the fields keep botocore's order.

The clock is frozen at each case's timestamp: `get_current_datetime` is patched where
botocore's signers read it (`botocore.auth` for the signature, `botocore.signers` for a POST
policy's expiration). Clients make no request: they are factories of signed requests.
"""

import datetime
import json
import sys
from unittest import mock

import botocore
import botocore.session
from botocore.config import Config

_clients = {}


def client(job, case):
    """One client per (endpoint, region, addressing style); creating one is slow."""
    cache_key = (case.get("endpoint"), case["region"], case["style"])
    if cache_key not in _clients:
        session = botocore.session.get_session()
        _clients[cache_key] = session.create_client(
            "s3",
            region_name=case["region"],
            endpoint_url=case.get("endpoint"),
            aws_access_key_id=job["access_key"],
            aws_secret_access_key=job["secret_key"],
            aws_session_token=job.get("session_token"),
            config=Config(signature_version="s3v4", s3={"addressing_style": case["style"]}),
        )
    return _clients[cache_key]


class FrozenClock:
    """`get_current_datetime` for botocore's signers: the case's timestamp."""

    def __init__(self):
        self.at = None

    def __call__(self, *args, **kwargs):
        return self.at

    def at_timestamp(self, timestamp):
        self.at = datetime.datetime.strptime(timestamp, "%Y%m%dT%H%M%SZ")


CLOCK = FrozenClock()


def presign(job):
    urls = []
    for case in job["cases"]:
        params = {"Bucket": case["bucket"], "Key": case["key"]}
        # A list of pairs, so that the operation's parameters keep their order (it is the
        # order of the URL's query).
        params.update(dict(case.get("params") or []))
        CLOCK.at_timestamp(case["timestamp"])
        urls.append(
            client(job, case).generate_presigned_url(
                case["client_method"], Params=params, ExpiresIn=case["expires_in"]
            )
        )
    return {"library": botocore.__version__, "urls": urls}


def post(job):
    posts = []
    for case in job["cases"]:
        CLOCK.at_timestamp(case["timestamp"])
        result = client(job, case).generate_presigned_post(
            case["bucket"],
            case["key"],
            Fields=dict(case.get("fields") or []),
            Conditions=case.get("conditions") or [],
            ExpiresIn=case["expires_in"],
        )
        posts.append({"url": result["url"], "fields": list(result["fields"].items())})
    return {"library": botocore.__version__, "posts": posts}


def main():
    job = json.load(sys.stdin)
    with mock.patch("botocore.auth.get_current_datetime", CLOCK), mock.patch(
        "botocore.signers.get_current_datetime", CLOCK
    ):
        result = {"presign": presign, "post": post}[job["mode"]](job)
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
