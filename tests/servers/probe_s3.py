#!/usr/bin/env python3
"""Checks what an S3-compatible test server verifies in SigV4 presigned URLs, with URLs signed by
botocore (the reference signer) and by hand the way ael.api's ex_aws 2.0 signs them.

    python tests/servers/probe_s3.py --url http://127.0.0.1:PORT --access-key AK --secret-key SK
        [--region us-east-1] [--bucket probe] [--virtual-host-domain localhost]

Two kinds of lines: "refuse"/"accept" cases, which a server that really verifies must pass (the
exit status counts them), and "feature" lines, which only report what the server supports.
"""

import argparse
import datetime
import hashlib
import hmac
import http.client
import sys
import urllib.parse
from unittest import mock

import botocore.auth
import botocore.session
import requests
from botocore.config import Config


def send(url, method, body=None, headers=None, host=None):
    """Sends the request with the URL's path and query exactly as signed. host overrides the
    Host header (for virtual-hosted URLs whose name does not resolve here)."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection("127.0.0.1" if host else parts.hostname,
                                            parts.port, timeout=15)
    headers = dict(headers or {})
    if host:
        headers["Host"] = host
    connection.request(method, parts.path + ("?" + parts.query if parts.query else ""),
                       body=body, headers=headers)
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, data


def ex_aws_presigned_url(method, url, access_key, secret_key, region, now, expires):
    """ExAws.Auth.presigned_url/6 as ael.api calls it (ex_aws 2.0.x): only `host` signed,
    UNSIGNED-PAYLOAD, query X-Amz-Algorithm, -Credential, -Date, -Expires, -SignedHeaders in that
    (sorted) order, then X-Amz-Signature; the path goes through ExAws.Auth.Utils.uri_encode
    ("+" becomes a space, then everything but unreserved characters and "/" is %XX)."""
    parts = urllib.parse.urlsplit(url)
    path = urllib.parse.quote(parts.path.replace("+", " "), safe="/-_.~")
    date = now.strftime("%Y%m%dT%H%M%SZ")
    scope = "%s/%s/s3/aws4_request" % (now.strftime("%Y%m%d"), region)
    query = [("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
             ("X-Amz-Credential", "%s/%s" % (access_key, scope)),
             ("X-Amz-Date", date), ("X-Amz-Expires", str(expires)),
             ("X-Amz-SignedHeaders", "host")]
    canonical_query = "&".join("%s=%s" % (urllib.parse.quote(k, safe="-_.~"),
                                          urllib.parse.quote(v, safe="-_.~")) for k, v in query)
    canonical_request = "\n".join([method, path, canonical_query, "host:" + parts.netloc, "",
                                   "host", "UNSIGNED-PAYLOAD"])
    string_to_sign = "\n".join(["AWS4-HMAC-SHA256", date, scope,
                                hashlib.sha256(canonical_request.encode()).hexdigest()])
    key = ("AWS4" + secret_key).encode()
    for part in (now.strftime("%Y%m%d"), region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    return "%s://%s%s?%s&X-Amz-Signature=%s" % (parts.scheme, parts.netloc, path,
                                                canonical_query, signature)


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--access-key", required=True)
    parser.add_argument("--secret-key", required=True)
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--bucket", default="probe")
    parser.add_argument("--virtual-host-domain", default=None,
                        help="try virtual-hosted URLs http://BUCKET.DOMAIN:PORT/KEY (sent to "
                             "127.0.0.1 with that Host header)")
    args = parser.parse_args(argv)
    failures = []

    def client(secret=args.secret_key, access=args.access_key, style="path", endpoint=args.url):
        return botocore.session.get_session().create_client(
            "s3", endpoint_url=endpoint, region_name=args.region, aws_access_key_id=access,
            aws_secret_access_key=secret,
            config=Config(signature_version="s3v4", s3={"addressing_style": style}))

    s3 = client()

    def presign(operation, key, expires=300, at=None, signer=None, **params):
        params.update(Bucket=args.bucket, Key=key)
        with mock.patch.object(botocore.auth, "get_current_datetime",
                               return_value=at or datetime.datetime.now(datetime.timezone.utc)
                               .replace(tzinfo=None)):
            return (signer or s3).generate_presigned_url(operation, Params=params,
                                                         ExpiresIn=expires)

    def line(kind, name, status, verdict):
        print("%-8s %-64s %-5s %s" % (kind, name, status, verdict))

    def accept(name, status, expected=200):
        ok = status == expected
        line("accept", name, status, "ok" if ok else "FAIL (expected %d)" % expected)
        if not ok:
            failures.append(name)

    def refuse(name, status):
        ok = 400 <= status < 500
        line("refuse", name, status, ("ok" if status == 403 else "ok (refused, not with 403)")
             if ok else "FAIL (accepted)")
        if not ok:
            failures.append(name)

    def feature(name, status, supported, note=""):
        line("feature", name, status, ("supported" if supported else "NOT supported") +
             (" " + note if note else ""))

    try:
        s3.create_bucket(Bucket=args.bucket)
    except Exception as error:  # noqa: BLE001 - an existing bucket is fine
        print("create_bucket: %s" % error)

    key = "declarations/42/scan 1 ü+x.pdf"
    body = b"%PDF-1.4 probe"
    put = presign("put_object", key)
    accept("PUT, botocore presigned URL (name with space, ü, +)", send(put, "PUT", body)[0])
    get = presign("get_object", key)
    status, data = send(get, "GET")
    accept("GET, botocore presigned URL", status)
    accept("GET returns the uploaded bytes", 200 if data == body else 0)
    accept("HEAD, presigned head_object", send(presign("head_object", key), "HEAD")[0])

    at = get.index("X-Amz-Signature=") + len("X-Amz-Signature=")
    refuse("tampered signature (first hex digit changed)",
           send(get[:at] + ("0" if get[at] != "0" else "1") + get[at + 1:], "GET")[0])
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    refuse("expired (signed 2 h ago, X-Amz-Expires=60)",
           send(presign("get_object", key, expires=60, at=now - datetime.timedelta(hours=2)),
                "GET")[0])
    refuse("future-dated (X-Amz-Date 1 h ahead)",
           send(presign("get_object", key, at=now + datetime.timedelta(hours=1)), "GET")[0])
    other = get.replace(urllib.parse.quote("scan 1"), urllib.parse.quote("scan 2"), 1)
    refuse("same query, another object", send(other, "GET")[0])
    refuse("GET URL used for PUT", send(get, "PUT", b"overwrite")[0])
    refuse("GET URL used for DELETE", send(get, "DELETE")[0])
    refuse("signed with another secret key",
           send(presign("get_object", key, signer=client(secret=args.secret_key + "x")), "GET")[0])
    refuse("unknown access key",
           send(presign("get_object", key, signer=client(access="UNKNOWNKEY")), "GET")[0])
    refuse("no signature at all",
           send("%s/%s/%s" % (args.url, args.bucket, urllib.parse.quote(key)), "GET")[0])

    expires_in = 300
    ael_put = ex_aws_presigned_url("PUT", "%s/%s/ael/doc 1.json" % (args.url, args.bucket),
                                   args.access_key, args.secret_key, args.region, now, expires_in)
    accept("PUT, URL built as ael.api/ex_aws 2.0 builds it", send(ael_put, "PUT", b"{}")[0])
    ael_get = ex_aws_presigned_url("GET", "%s/%s/ael/doc 1.json" % (args.url, args.bucket),
                                   args.access_key, args.secret_key, args.region, now, expires_in)
    accept("GET, URL built as ael.api/ex_aws 2.0 builds it", send(ael_get, "GET")[0])
    refuse("ex_aws-style GET URL used for DELETE", send(ael_get, "DELETE")[0])

    typed = presign("put_object", "typed.txt", ContentType="text/plain")
    signed_headers = urllib.parse.parse_qs(urllib.parse.urlsplit(typed).query)[
        "X-Amz-SignedHeaders"][0]
    status = send(typed, "PUT", b"text", {"Content-Type": "text/plain"})[0]
    accept("PUT with signed Content-Type, sending that type (signed: %s)" % signed_headers, status)
    status = send(typed, "PUT", b"text", {"Content-Type": "image/png"})[0]
    feature("signed Content-Type enforced (another type sent)", status, 400 <= status < 500)

    status_first = send(presign("put_object", "once.txt"), "PUT", b"1", {"If-None-Match": "*"})[0]
    status = send(presign("put_object", "once.txt"), "PUT", b"2", {"If-None-Match": "*"})[0]
    feature("If-None-Match: * on PUT over an existing object (first PUT %d)" % status_first,
            status, status == 412)

    status = send(presign("delete_object", "once.txt"), "DELETE")[0]
    feature("DELETE, presigned delete_object", status, status == 204)

    post = s3.generate_presigned_post(args.bucket, "uploads/${filename}",
                                      Conditions=[["starts-with", "$key", "uploads/"],
                                                  ["content-length-range", 1, 10]],
                                      ExpiresIn=300)
    try:
        small = requests.post(post["url"], data=post["fields"],
                              files={"file": ("a.txt", b"12345")}, timeout=15).status_code
        large = requests.post(post["url"], data=post["fields"],
                              files={"file": ("b.txt", b"x" * 50)}, timeout=15).status_code
        fields = dict(post["fields"], **{"x-amz-signature": "0" * 64})
        forged = requests.post(post["url"], data=fields,
                               files={"file": ("c.txt", b"123")}, timeout=15).status_code
        outside = requests.post(post["url"], data=dict(post["fields"], key="elsewhere/d.txt"),
                                files={"file": ("d.txt", b"123")}, timeout=15).status_code
        if small not in (200, 201, 204):
            feature("POST policy upload (a valid form upload was not accepted)", small, False)
        else:
            feature("POST policy upload within content-length-range", small, True)
            feature("POST policy, body over content-length-range", large, 400 <= large < 500)
            feature("POST policy, forged x-amz-signature", forged, 400 <= forged < 500)
            feature("POST policy, key outside starts-with", outside, 400 <= outside < 500)
    except requests.RequestException as error:
        feature("POST policy", 0, False, str(error))

    if args.virtual_host_domain:
        port = urllib.parse.urlsplit(args.url).port
        virtual = client(style="virtual",
                         endpoint="http://%s:%d" % (args.virtual_host_domain, port))
        host = "%s.%s:%d" % (args.bucket, args.virtual_host_domain, port)
        url = presign("get_object", key, signer=virtual)
        status = send(url, "GET", host=host)[0]
        feature("virtual-hosted GET (%s)" % host, status, status == 200)

    print("s3 probe: %s" % ("every accept/refuse case as expected" if not failures
                            else "FAILED: " + "; ".join(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
