#!/usr/bin/env python3
"""OpenStack's own code as the oracle of the Swift TempURL tests, driven by one JSON document
on stdin.

{"mode": "sign",
 "cases": [{"path": "/v1/AUTH_a/c/o b" (as given to swiftclient: decoded, or quoted),
            "method": "GET", "expires": 1796119200 (Unix seconds), "key": "k",
            "digest": "sha1" | "sha256" | "sha512", "iso8601": false, "prefix": false,
            "ip_range": null, "filename": null, "inline": false}]}
    -> {"library": "4.11.0", "urls": [...], "quoted_urls": [...]}:
       urls: swiftclient.utils.generate_temp_url(path, expires, key, method, absolute=True,
       prefix, iso8601, ip_range, digest) for each case, as it returns them (path and
       temp_url_prefix unencoded);
       quoted_urls: the same with the path and the temp_url_prefix value percent-encoded by
       urllib.parse.quote(safe="/~"), then `&filename=` (quote(safe="~")) and `&inline`,
       which swiftclient does not write.


{"mode": "verify", "key": "k", "now": 1764000000,
 "cases": [{"method": "GET", "url": "https://h/v1/AUTH_a/c/o%20b?temp_url_sig=...",
            "remote_addr": "127.0.0.1"}]}
    -> {"library": "2.38.3", "results": [200 | 401 | ...]}: each request passed, in process, to
       Swift's real `tempurl` middleware (allowed_digests sha1 sha256 sha512, the account's
       Temp-URL-Key = key) in front of a stub store that answers 200 to every request the
       middleware let through. The path goes to the middleware as a WSGI server hands it
       over: percent-decoded into PATH_INFO (swob.Request.blank). The middleware's clock is
       frozen at `now`.
"""

import importlib.metadata
import json
import sys
import urllib.parse
from unittest import mock

from swift.common.middleware import tempurl
from swift.common.swob import HTTPUnauthorized, Request, Response, str_to_wsgi
from swiftclient.utils import generate_temp_url


def quoted(case, url):
    """swiftclient's URL, usable: path and prefix percent-encoded, filename and inline added."""
    path = case["path"]
    assert url.startswith(path + "?"), url
    query = url[len(path) + 1:]
    if case.get("prefix"):
        prefix = path.split("/", 4)[4]
        suffix = "&temp_url_prefix=" + prefix
        assert query.endswith(suffix), url
        query = query[: -len(suffix)] + "&temp_url_prefix=" + urllib.parse.quote(prefix, safe="/~")
    if case.get("filename") is not None:
        query += "&filename=" + urllib.parse.quote(case["filename"], safe="~")
    if case.get("inline"):
        query += "&inline"
    return urllib.parse.quote(path, safe="/~") + "?" + query


def sign(job):
    urls = []
    quoted_urls = []
    for case in job["cases"]:
        url = generate_temp_url(
            case["path"],
            case["expires"],
            case["key"],
            case["method"],
            absolute=True,
            prefix=case.get("prefix", False),
            iso8601=case.get("iso8601", False),
            ip_range=case.get("ip_range"),
            digest=case.get("digest", "sha256"),
        )
        urls.append(url)
        quoted_urls.append(quoted(case, url))
    return {
        "library": importlib.metadata.version("python-swiftclient"),
        "urls": urls,
        "quoted_urls": quoted_urls,
    }


def store(key):
    """The stub behind the middleware: account info for its key look-up, 200 for objects."""

    def app(env, start_response):
        request = Request(env)
        _, _account, container, obj = request.split_path(2, 4, rest_with_last=True)
        if obj is None:
            # Header values are WSGI strings: the UTF-8 bytes as Latin-1, as Swift stores them.
            headers = {} if container else {"X-Account-Meta-Temp-URL-Key": str_to_wsgi(key)}
            return Response(status=204, headers=headers)(env, start_response)
        # Only what the middleware authorised gets here, as in the proxy.
        authorize = env.get("swift.authorize")
        if not (env.get("swift.authorize_override") and authorize):
            return HTTPUnauthorized()(env, start_response)
        denied = authorize(request)
        if denied:
            return denied(env, start_response)
        return Response(status=200, body=b"ok")(env, start_response)

    return app


def verify(job):
    app = tempurl.filter_factory({}, allowed_digests="sha1 sha256 sha512")(store(job["key"]))
    results = []
    with mock.patch.object(tempurl, "time", return_value=job["now"]):
        for case in job["cases"]:
            parts = urllib.parse.urlsplit(case["url"])
            request = Request.blank(
                parts.path + "?" + parts.query,
                environ={
                    "REQUEST_METHOD": case["method"],
                    "REMOTE_ADDR": case.get("remote_addr", "127.0.0.1"),
                },
            )
            results.append(request.get_response(app).status_int)
    return {"library": importlib.metadata.version("swift"), "results": results}


def main():
    job = json.load(sys.stdin)
    result = {"sign": sign, "verify": verify}[job["mode"]](job)
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
