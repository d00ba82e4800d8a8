#!/usr/bin/env python3
"""Oracles for the differential tests, driven by one JSON document on stdin.

{"mode": "sign", "key_path": "sa.json", "endpoint": "https://storage.googleapis.com",
 "cases": [{"version": "v2" | "v4", "bucket": "b", "object": "a b", "method": "PUT",
            "expiration": ..., "timestamp": "20190201T090000Z" (v4), "content_type": ...,
            "content_md5": ..., "headers": {"x-goog-if-generation-match": "0"},
            "response_disposition": ..., "response_type": ...,
            "query_parameters": {"response-content-disposition": "attachment"} (v4)}]}
    -> {"library": "3.17.1", "urls": [...]}: the URL Google's client builds for each case.
       V2 goes through the public API, Blob.generate_signed_url, with `expiration` the
       absolute Expires. V4 goes through google.cloud.storage._signing.generate_signed_url_v4,
       which takes the request time (`_request_timestamp`), with `expiration` in seconds and
       the object name quoted by the library's own blob._quote.

{"mode": "verify_hmac", "access_id": "...", "secret": "...",
 "cases": [{"url": "...", "method": "PUT", "headers": {"Content-Type": "..."}}]}
    -> {"results": [true | "why not", ...]}: checks each GOOG4-HMAC-SHA256 URL the way a
       server would, written here from Google's documentation (canonical request, string to
       sign, HMAC signing key derivation), independently of the service's code.
"""

import hashlib
import hmac
import json
import sys
import urllib.parse

from google.auth.credentials import AnonymousCredentials
from google.cloud import storage
from google.cloud.storage import _signing
from google.cloud.storage.blob import _quote
from google.oauth2 import service_account


def sign(job):
    credentials = service_account.Credentials.from_service_account_file(job["key_path"])
    # The client is only a factory for Blob objects here: it makes no request.
    client = storage.Client(project="differential-test", credentials=AnonymousCredentials())
    urls = []
    for case in job["cases"]:
        headers = case.get("headers") or None
        if case["version"] == "v2":
            blob = client.bucket(case["bucket"]).blob(case["object"])
            url = blob.generate_signed_url(
                version="v2",
                expiration=case["expiration"],
                method=case["method"],
                content_type=case.get("content_type"),
                content_md5=case.get("content_md5"),
                response_disposition=case.get("response_disposition"),
                response_type=case.get("response_type"),
                headers=headers,
                credentials=credentials,
                api_access_endpoint=job["endpoint"],
            )
        else:
            resource = "/{}/{}".format(case["bucket"], _quote(case["object"], safe=b"/~"))
            url = _signing.generate_signed_url_v4(
                credentials,
                resource=resource,
                expiration=case["expiration"],
                api_access_endpoint=job["endpoint"],
                method=case["method"],
                content_type=case.get("content_type"),
                content_md5=case.get("content_md5"),
                response_disposition=case.get("response_disposition"),
                response_type=case.get("response_type"),
                headers=headers,
                query_parameters=case.get("query_parameters") or None,
                _request_timestamp=case["timestamp"],
            )
        urls.append(url)
    return {"library": storage.__version__, "urls": urls}


def hmac_sha256(key, message):
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


def verify_one(url, method, headers, access_id, secret):
    parts = urllib.parse.urlsplit(url)
    pairs = [pair.split("=", 1) for pair in parts.query.split("&")]
    query = {urllib.parse.unquote(k): urllib.parse.unquote(v) for k, v in pairs}
    if query.get("X-Goog-Algorithm") != "GOOG4-HMAC-SHA256":
        return "not an HMAC URL"
    credential = query["X-Goog-Credential"]
    if not credential.startswith(access_id + "/"):
        return "credential names another key"
    scope = credential[len(access_id) + 1:]
    date, location, service, terminator = scope.split("/")
    if (location, service, terminator) != ("auto", "storage", "goog4_request"):
        return "bad credential scope"
    # Canonical query: the URL's parameters without the signature, still encoded, sorted.
    signed_pairs = sorted(p for p in parts.query.split("&") if not p.startswith("X-Goog-Signature="))
    # Canonical headers: host (without port) and every signed header, lower-case, trimmed.
    all_headers = {name.lower(): " ".join(value.split()) for name, value in headers.items()}
    all_headers["host"] = parts.hostname
    signed = query["X-Goog-SignedHeaders"].split(";")
    if sorted(signed) != sorted(all_headers):
        return "signed headers {} differ from the headers sent {}".format(signed, sorted(all_headers))
    canonical_headers = "".join("{}:{}\n".format(name, all_headers[name]) for name in signed)
    canonical_request = "\n".join([
        method, parts.path, "&".join(signed_pairs), canonical_headers,
        query["X-Goog-SignedHeaders"], "UNSIGNED-PAYLOAD",
    ])
    string_to_sign = "\n".join([
        "GOOG4-HMAC-SHA256", query["X-Goog-Date"], scope,
        hashlib.sha256(canonical_request.encode("utf-8")).hexdigest(),
    ])
    key = hmac_sha256(("GOOG4" + secret).encode("utf-8"), date)
    for part in ("auto", "storage", "goog4_request"):
        key = hmac_sha256(key, part)
    expected = hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, query.get("X-Goog-Signature", "")):
        return "signature mismatch"
    return True


def verify_hmac(job):
    return {"results": [
        verify_one(case["url"], case["method"], case.get("headers") or {}, job["access_id"], job["secret"])
        for case in job["cases"]
    ]}


def main():
    job = json.load(sys.stdin)
    mode = job.get("mode", "sign")
    result = sign(job) if mode == "sign" else verify_hmac(job)
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
