#!/usr/bin/env python3
"""Checks that a Swift temp URL server really verifies: genuine URLs (signed by
python-swiftclient's generate_temp_url, and by hand the way ael.api signs) work, and each kind
of tampering is refused with 401.

    python tests/servers/probe_swift.py --url http://127.0.0.1:PORT --account AUTH_test --key KEY

Prints one line per case and exits non-zero if any case did not answer as expected.
"""

import argparse
import hashlib
import hmac
import http.client
import sys
import time
import urllib.parse

from swiftclient.utils import generate_temp_url


def request(base, method, path_and_query, body=None, headers=None):
    """One request with the path sent as given (already percent-encoded)."""
    url = urllib.parse.urlsplit(base)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    connection.request(method, path_and_query, body=body, headers=headers or {})
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, data


def encoded(temp_url):
    """Percent-encodes the path of a temp URL as a client would send it (the signature is over the
    unencoded path; Swift decodes the request path before checking)."""
    path, _, query = temp_url.partition("?")
    return urllib.parse.quote(path) + "?" + query


def ael_api_temp_url(method, path, key, expires):
    """The URL ael.api builds: HMAC-SHA1 of "METHOD\\nexpires\\npath", lower-case hex,
    temp_url_sig first (lib/ael_api/secrets/api.ex, put_secret_url(_, "swift"))."""
    body = "\n".join([method, str(expires), path]).encode()
    sig = hmac.new(key.encode(), body, hashlib.sha1).hexdigest()
    return "%s?temp_url_sig=%s&temp_url_expires=%d" % (path, sig, expires)


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--account", default="AUTH_test")
    parser.add_argument("--key", required=True)
    parser.add_argument("--container", default="probe")
    parser.add_argument("--refused-digest", choices=("sha1", "sha256", "sha512"),
                        help="a digest the server was started without: URLs signed with it must "
                             "get 401 (the cases below that use it then expect 401)")
    args = parser.parse_args(argv)

    base, key = args.url, args.key
    prefix = "/v1/%s/%s/" % (args.account, args.container)
    failures = []

    def case(name, expected, status):
        ok = status == expected
        print("%-62s %s (expected %s) %s" % (name, status, expected, "ok" if ok else "FAIL"))
        if not ok:
            failures.append(name)

    # Sign with a digest the server allows; the refused one gets its own case below.
    default_digest = "sha512" if args.refused_digest == "sha256" else "sha256"

    def signed(method, obj, seconds=300, digest=None, **kw):
        return generate_temp_url(prefix + obj, seconds, key, method,
                                 digest=digest or default_digest, **kw)

    def allowed(digest, status):
        return 401 if digest == args.refused_digest else status

    obj = "declarations/42/scan 1 ü.pdf"
    put = signed("PUT", obj)
    case("PUT, URL from swiftclient, name with space and ü",
         201, request(base, "PUT", encoded(put), b"%PDF-1.4 test", {"Content-Type": "application/pdf"})[0])
    status, data = request(base, "GET", encoded(signed("GET", obj)))
    case("GET, genuine URL", 200, status)
    case("GET returns the uploaded bytes", True, data == b"%PDF-1.4 test")
    case("HEAD with a GET URL (Swift allows HEAD for GET/PUT/POST URLs)",
         200, request(base, "HEAD", encoded(signed("GET", obj)))[0])
    for digest in ("sha1", "sha256", "sha512"):
        case("GET, %s URL" % digest, allowed(digest, 200),
             request(base, "GET", encoded(signed("GET", obj, digest=digest)))[0])
    case("GET, ISO 8601 temp_url_expires", 200,
         request(base, "GET", encoded(signed("GET", obj, iso8601=True)))[0])

    expires = int(time.time()) + 300
    ael = ael_api_temp_url("PUT", prefix + "ael/doc.json", key, expires)
    case("PUT, URL built as ael.api builds it (HMAC-SHA1 hex)", allowed("sha1", 201),
         request(base, "PUT", encoded(ael), b"{}")[0])

    get = signed("GET", obj)
    sig_at = get.index("temp_url_sig=") + len("temp_url_sig=")
    flipped = get[:sig_at] + ("0" if get[sig_at] != "0" else "1") + get[sig_at + 1:]
    case("tampered signature (first hex digit changed)", 401, request(base, "GET", encoded(flipped))[0])
    case("expired URL (expired 10 s ago)", 401,
         request(base, "GET", encoded(signed("GET", obj, seconds=int(time.time()) - 10,
                                             absolute=True)))[0])
    other = encoded(get).replace(urllib.parse.quote("scan 1"), urllib.parse.quote("scan 2"))
    case("same signature, another object", 401, request(base, "GET", other)[0])
    case("GET URL used for DELETE", 401, request(base, "DELETE", encoded(get))[0])
    case("GET URL used for PUT", 401, request(base, "PUT", encoded(get), b"x")[0])
    case("PUT URL used for GET", 401, request(base, "GET", encoded(put))[0])
    case("signed with another key", 401,
         request(base, "GET", encoded(generate_temp_url(prefix + obj, 300, key + "x", "GET",
                                                       digest=default_digest)))[0])
    case("no signature at all", 401, request(base, "GET", urllib.parse.quote(prefix + obj))[0])
    other_account = encoded(get).replace("/v1/%s/" % args.account, "/v1/%s_other/" % args.account)
    case("same signature, another account", 401, request(base, "GET", other_account)[0])

    pre = generate_temp_url(prefix + "declarations/", 300, key, "GET", prefix=True,
                            digest=default_digest)
    pre_path, _, pre_query = pre.partition("?")
    case("prefix URL (temp_url_prefix=declarations/), object under it", 200,
         request(base, "GET", urllib.parse.quote(prefix + obj) + "?" + pre_query)[0])
    case("prefix URL, object outside the prefix", 401,
         request(base, "GET", urllib.parse.quote(prefix + "ael/doc.json") + "?" + pre_query)[0])

    case("temp_url_ip_range=127.0.0.1 from 127.0.0.1", 200,
         request(base, "GET", encoded(signed("GET", obj, ip_range="127.0.0.1")))[0])
    case("temp_url_ip_range=10.0.0.0/8 from 127.0.0.1", 401,
         request(base, "GET", encoded(signed("GET", obj, ip_range="10.0.0.0/8")))[0])

    once = signed("PUT", "once.txt")
    request(base, "PUT", encoded(once), b"first", {"If-None-Match": "*"})
    case("PUT with If-None-Match: * over an existing object", 412,
         request(base, "PUT", encoded(once), b"second", {"If-None-Match": "*"})[0])
    case("DELETE, genuine URL", 204, request(base, "DELETE", encoded(signed("DELETE", "once.txt")))[0])

    print("swift probe: %s" % ("every case as expected" if not failures
                               else "FAILED: " + "; ".join(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
