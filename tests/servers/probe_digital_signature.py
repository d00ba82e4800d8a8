#!/usr/bin/env python3
"""Posts every fixture of make_signed_document.py to a digital-signature service and checks the
answer against the fixture's manifest (status, one entry per signature, is_valid of each, and
what ael.api would conclude: exactly one signature, and it is valid).

    python tests/servers/probe_digital_signature.py --url http://127.0.0.1:PORT FIXTURE_DIR

Exits non-zero if any fixture was not answered as expected.
"""

import argparse
import base64
import json
import pathlib
import sys
import urllib.error
import urllib.request


def post(url, body):
    # No Content-Type, as ael.api sends it (HTTPoison post! with no headers).
    request = urllib.request.Request(url + "/digital_signatures", data=body, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def ael_api_is_valid(status, body):
    """What ael.api's validate_signed_content concludes (rules aside)."""
    if status not in (200, 201, 204):
        return False
    signatures = body.get("data", {}).get("signatures")
    return (isinstance(signatures, list) and len(signatures) == 1 and
            signatures[0].get("is_valid") is True and "content" in body["data"])


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("fixtures", type=pathlib.Path)
    args = parser.parse_args(argv)
    manifest = json.loads((args.fixtures / "manifest.json").read_text())
    failures = []

    def check(name, what, got, expected):
        ok = got == expected
        print("%-18s %-34s %-22s %s" % (name, what, json.dumps(got)[:22], "ok" if ok else
                                         "FAIL (expected %s)" % json.dumps(expected)))
        if not ok:
            failures.append("%s: %s" % (name, what))

    for name, expected in manifest["fixtures"].items():
        signed = base64.b64encode((args.fixtures / name).read_bytes()).decode()
        status, body = post(args.url, json.dumps(
            {"signed_content": signed, "signed_content_encoding": "base64"}).encode())
        check(name, "status", status, expected.get("status", 200))
        if status == 200:
            signatures = body["data"]["signatures"]
            check(name, "is_valid of each signature", [s["is_valid"] for s in signatures],
                  expected["signatures"])
            if "message" in expected:
                check(name, "validation_error_message",
                      signatures[0]["validation_error_message"], expected["message"])
            if name == "valid.p7s":
                check(name, "content", body["data"]["content"], manifest["content"])
                check(name, "signer.drfo", signatures[0]["signer"]["drfo"], "1234567890")
        check(name, "ael.api would say is_valid", ael_api_is_valid(status, body),
              expected["ael_is_valid"])

    for label, body, status in [
        ("missing fields", b"{}", 422),
        ("not base64", b'{"signed_content": "@@@", "signed_content_encoding": "base64"}', 422),
        ("encoding base58", b'{"signed_content": "", "signed_content_encoding": "base58"}', 422),
        ("body not JSON", b"{", 400),
    ]:
        check("request", label, post(args.url, body)[0], status)

    print("digital-signature probe: %s" % ("every case as expected" if not failures
                                           else "FAILED: " + "; ".join(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
