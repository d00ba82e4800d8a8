#!/usr/bin/env python3
"""An OpenStack Swift stand-in whose temp URLs are checked by Swift's own code.

OpenStack Swift's `swift.common.middleware.tempurl` (PyPI `swift`, pinned in
tests/servers/requirements.txt) sits in front of a small in-memory object store, served by
eventlet (the stdlib wsgiref server hangs on PUT bodies). Only requests that the middleware
authorised reach an object; anything else gets 401, as on a real Swift proxy.

    python tests/servers/swift_tempurl.py --port 0 --account AUTH_test --key KEY

prints one line on stdout when it listens:

    ready http://127.0.0.1:PORT account=AUTH_test digests=sha1,sha256,sha512

Signed paths look like /v1/<account>/<container>/<object>: ael.api's SWIFT_ENDPOINT is the
base URL above and its SWIFT_TENANT_ID the account. See tests/servers/README.md.
"""

import argparse
import hashlib
import os
import re
import sys
import time
import warnings

warnings.filterwarnings("ignore", message="\nEventlet is deprecated")
import eventlet  # noqa: E402  (after the filter: eventlet warns on import)
import eventlet.wsgi  # noqa: E402
from swift.common.middleware import tempurl
from swift.common.swob import (HTTPAccepted, HTTPCreated, HTTPMethodNotAllowed, HTTPNoContent,
                               HTTPNotFound, HTTPPreconditionFailed, HTTPUnauthorized,
                               HTTPUnprocessableEntity, Request, Response)

MAX_OBJECT_BYTES = 64 * 1024 * 1024


class StoredObject:
    def __init__(self, body, content_type, metadata):
        self.body = body
        self.content_type = content_type
        self.metadata = metadata
        self.etag = hashlib.md5(body).hexdigest()
        self.timestamp = time.time()


class ObjectStore:
    """The part of a Swift cluster behind the proxy: account and container metadata (where the
    temp URL keys live) and objects in memory."""

    def __init__(self, account, account_keys, container_keys):
        self.account = account
        self.account_keys = account_keys
        self.container_keys = container_keys
        self.objects = {}

    def __call__(self, env, start_response):
        req = Request(env)
        try:
            _version, account, container, obj = req.split_path(2, 4, rest_with_last=True)
        except ValueError:
            return HTTPNotFound()(env, start_response)
        if account != self.account:
            return HTTPNotFound()(env, start_response)
        if not obj:
            return self.info(req)(env, start_response)
        # As on a Swift proxy: an object is reached only through what an auth middleware (here
        # tempurl) authorised for this request.
        authorize = env.get("swift.authorize")
        if not (env.get("swift.authorize_override") and authorize):
            return HTTPUnauthorized(body=b"401 Unauthorized: no temp URL\n")(env, start_response)
        denied = authorize(req)
        if denied:
            return denied(env, start_response)
        return self.object(req, (container, obj))(env, start_response)

    def info(self, req):
        # Account and container HEADs carry the temp URL keys, so only the middleware's own
        # pre-authorised sub-requests (get_account_info, get_container_info) may see them.
        if not (req.environ.get("swift_owner") and
                req.environ.get("REMOTE_USER") == ".wsgi.pre_authed"):
            return HTTPUnauthorized()
        headers = {}
        _, _, container, _ = req.split_path(2, 4, rest_with_last=True)
        if container is None:
            for name, key in zip(("Temp-URL-Key", "Temp-URL-Key-2"), self.account_keys):
                headers["X-Account-Meta-" + name] = key
        else:
            headers["X-Container-Object-Count"] = str(
                sum(1 for (c, _) in self.objects if c == container))
            for name, key in zip(("Temp-URL-Key", "Temp-URL-Key-2"),
                                 self.container_keys.get(container, [])):
                headers["X-Container-Meta-" + name] = key
        return HTTPNoContent(headers=headers)

    def object(self, req, name):
        stored = self.objects.get(name)
        if req.method == "PUT":
            if req.headers.get("If-None-Match") == "*" and stored is not None:
                return HTTPPreconditionFailed()
            body = req.body_file.read(MAX_OBJECT_BYTES + 1)
            if len(body) > MAX_OBJECT_BYTES:
                return HTTPUnprocessableEntity(body=b"object too large for the test store\n")
            new = StoredObject(body, req.headers.get("Content-Type", "application/octet-stream"),
                               {k: v for k, v in req.headers.items()
                                if k.lower().startswith("x-object-meta-")})
            expected = req.headers.get("ETag")
            if expected and expected.strip('"').lower() != new.etag:
                return HTTPUnprocessableEntity(body=b"ETag does not match the body\n")
            self.objects[name] = new
            return HTTPCreated(headers={"ETag": new.etag})
        if stored is None:
            return HTTPNotFound()
        if req.method in ("GET", "HEAD"):
            headers = dict(stored.metadata)
            headers.update({"ETag": stored.etag, "X-Timestamp": "%.5f" % stored.timestamp})
            response = Response(body=stored.body, content_type=stored.content_type,
                                headers=headers, conditional_response=True, request=req)
            response.last_modified = int(stored.timestamp)
            return response
        if req.method == "DELETE":
            del self.objects[name]
            return HTTPNoContent()
        if req.method == "POST":
            stored.metadata = {k: v for k, v in req.headers.items()
                               if k.lower().startswith("x-object-meta-")}
            return HTTPAccepted()
        return HTTPMethodNotAllowed()


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed)")
    parser.add_argument("--account", default="AUTH_test",
                        help="the account in /v1/<account>/...: ael.api's SWIFT_TENANT_ID")
    parser.add_argument("--key", action="append", default=[],
                        help="account temp URL key (X-Account-Meta-Temp-URL-Key); give twice for "
                             "Temp-URL-Key-2; default: $SWIFT_TEMP_URL_KEY")
    parser.add_argument("--container-key", action="append", default=[], metavar="CONTAINER=KEY",
                        help="container-scoped key (X-Container-Meta-Temp-URL-Key); repeatable")
    parser.add_argument("--digests", default="sha1 sha256 sha512",
                        help="tempurl allowed_digests (space or comma separated)")
    parser.add_argument("--methods", default="GET HEAD PUT POST DELETE",
                        help="tempurl methods: requests with other methods are refused")
    parser.add_argument("--verbose", action="store_true",
                        help="log method, path (no query: it holds the signature) and status")
    args = parser.parse_args(argv)
    if not args.key and os.environ.get("SWIFT_TEMP_URL_KEY"):
        args.key = [os.environ["SWIFT_TEMP_URL_KEY"]]
    if not args.key and not args.container_key:
        parser.error("give --key (or SWIFT_TEMP_URL_KEY) or --container-key")
    if len(args.key) > 2:
        parser.error("Swift has two account keys at most (Temp-URL-Key, Temp-URL-Key-2)")
    container_keys = {}
    for item in args.container_key:
        container, sep, key = item.partition("=")
        if not sep or not container or not key:
            parser.error("--container-key takes CONTAINER=KEY")
        container_keys.setdefault(container, []).append(key)
    args.container_keys = container_keys
    args.digests = " ".join(args.digests.replace(",", " ").split())
    return args


class PathOnlyLog:
    """eventlet's access log without query strings."""

    def write(self, line):
        # eventlet's default format: ... "METHOD /path?query HTTP/1.1" STATUS LENGTH SECONDS
        match = re.search(r'"(\S+) ([^ ?"]*)\S* [^"]*" (\d+)', line)
        if match:
            sys.stderr.write("swift_tempurl: %s %s %s\n" % match.groups())


def main(argv):
    args = parse_args(argv)
    store = ObjectStore(args.account, args.key, args.container_keys)
    app = tempurl.filter_factory({}, allowed_digests=args.digests, methods=args.methods,
                                 log_name="tempurl", log_level="WARNING")(store)
    sock = eventlet.listen((args.host, args.port))
    host, port = sock.getsockname()[:2]
    print("ready http://%s:%d account=%s digests=%s"
          % (host, port, args.account, ",".join(args.digests.split())), flush=True)
    eventlet.wsgi.server(sock, app, log=PathOnlyLog() if args.verbose else None,
                         log_output=args.verbose, max_size=64)


if __name__ == "__main__":
    main(sys.argv[1:])
