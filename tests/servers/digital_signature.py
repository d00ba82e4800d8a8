#!/usr/bin/env python3
"""A stand-in for the digital-signature service ael.api calls (edenlabllc/digital_signature.api):
POST /digital_signatures with {"signed_content": base64 of a CMS/PKCS#7 envelope,
"signed_content_encoding": "base64"}. Signatures are really verified, by `openssl cms -verify`
against the trust anchors given with --ca; nothing is answered from a fixed table.

    python tests/servers/digital_signature.py --port 0 --ca DIR/ca.pem [--delay SECONDS]

prints one line on stdout when it listens:

    ready http://127.0.0.1:PORT

The answer has the real service's shape (EView envelope), which ael.api reads:

    200 {"meta": {"url", "type": "object", "code": 200, "request_id"},
         "data": {"signed_content", "signed_content_encoding",
                  "content": <the innermost content, JSON-decoded, or "">,
                  "signatures": [{"is_valid": bool, "validation_error_message": str,
                                  "signer": {"common_name", "country_name", "surname",
                                             "given_name", "organization_name",
                                             "organizational_unit_name", "state_or_province_name",
                                             "locality_name", "title", "edrpou", "drfo"}}]}}

As in the real service: nested envelopes give one entry per layer (outermost first); an envelope
with N != 1 SignerInfos adds one invalid entry "envelope contains N signatures instead of 1" and
stops; content that is not CMS at all gives "signatures": [] and "content": ""; innermost content
that is not JSON gives 422 request_malformed; a missing field, a wrong encoding or bad base64 gives
422 validation_failed. See tests/servers/README.md for what differs from the real service.
"""

import argparse
import base64
import binascii
import http.server
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid

SIGNED_DATA_OID = bytes.fromhex("2a864886f70d010702")  # 1.2.840.113549.1.7.2
MAX_BODY_BYTES = 16 * 1024 * 1024
MAX_NESTING = 8
SUBJECT_FIELDS = {
    "CN": "common_name", "C": "country_name", "SN": "surname", "GN": "given_name",
    "O": "organization_name", "OU": "organizational_unit_name", "ST": "state_or_province_name",
    "L": "locality_name", "title": "title",
    "1.2.804.2.1.1.1.11.1.4.2.1": "edrpou", "1.2.804.2.1.1.1.11.1.4.1.1": "drfo",
}
EMPTY_SIGNER = {name: "" for name in SUBJECT_FIELDS.values()}


# --- Just enough DER/BER to tell a CMS SignedData and count its SignerInfos ---

def read_tlv(buf, pos):
    """Returns (tag, constructed, content_start, content_end, next) for the element at pos;
    content_end is None for an indefinite length (BER), whose end is found by walking."""
    tag = buf[pos]
    pos += 1
    if tag & 0x1F == 0x1F:
        while buf[pos] & 0x80:
            pos += 1
        pos += 1
    first = buf[pos]
    pos += 1
    constructed = bool(tag & 0x20)
    if first == 0x80:
        end = pos
        while buf[end:end + 2] != b"\x00\x00":
            end = read_tlv(buf, end)[4]
        return tag, constructed, pos, end, end + 2
    if first & 0x80:
        count = first & 0x7F
        length = int.from_bytes(buf[pos:pos + count], "big")
        pos += count
    else:
        length = first
    if pos + length > len(buf):
        raise ValueError("truncated")
    return tag, constructed, pos, pos + length, pos + length


def children(buf, start, end):
    pos = start
    while pos < end:
        element = read_tlv(buf, pos)
        yield element
        pos = element[4]


def signer_info_count(der):
    """The number of SignerInfos if der is a CMS ContentInfo holding SignedData, else None."""
    try:
        tag, _, start, end, _ = read_tlv(der, 0)
        if tag != 0x30:
            return None
        parts = list(children(der, start, end))
        if len(parts) < 2 or parts[0][0] != 0x06 or der[parts[0][2]:parts[0][3]] != SIGNED_DATA_OID:
            return None
        explicit = parts[1]
        signed_data = next(children(der, explicit[2], explicit[3]))
        fields = list(children(der, signed_data[2], signed_data[3]))
        signer_infos = fields[-1]
        if signer_infos[0] != 0x31:
            return None
        return sum(1 for _ in children(der, signer_infos[2], signer_infos[3]))
    except (IndexError, ValueError, StopIteration):
        return None


# --- Verification with the openssl command line ---

def openssl(args, stdin):
    return subprocess.run(["openssl"] + args, input=stdin, capture_output=True, timeout=30)


def signer_subject(pem_path):
    result = openssl(["x509", "-in", pem_path, "-noout", "-subject",
                      "-nameopt", "sep_multiline,sname,utf8,-esc_msb"], None)
    signer = dict(EMPTY_SIGNER)
    for line in result.stdout.decode("utf-8", "replace").splitlines()[1:]:
        name, sep, value = line.strip().partition("=")
        if sep and name in SUBJECT_FIELDS:
            signer[SUBJECT_FIELDS[name]] = value
    return signer


def failure_message(stderr):
    text = stderr.decode("utf-8", "replace")
    if "unable to get local issuer certificate" in text or "self-signed certificate" in text \
            or "unable to get issuer certificate" in text:
        return "matching ROOT certificate not found"
    if "certificate has expired" in text or "certificate is not yet valid" in text:
        return "signer certificate is expired or not yet valid"
    if "verification failure" in text or "digest failure" in text or "signature failure" in text:
        return "signature does not match the signed content"
    lines = [line for line in text.splitlines() if line.strip()]
    return "signature verification failed: " + (lines[-1] if lines else "openssl gave no reason")


def verify_layer(der, ca_file, workdir):
    """One envelope with one SignerInfo: (signature entry, encapsulated content or None)."""
    signer_pem = os.path.join(workdir, "signer.pem")
    if os.path.exists(signer_pem):
        os.unlink(signer_pem)
    # 1. Unpack without checking anything, for the content and the signer certificate, which the
    #    real service reports even when the signature is invalid.
    unpacked = openssl(["cms", "-verify", "-inform", "DER", "-nosigs", "-noverify",
                        "-signer", signer_pem], der)
    if unpacked.returncode != 0:
        return {"signer": dict(EMPTY_SIGNER), "is_valid": False,
                "validation_error_message": "error processing signed data"}, None
    signer = signer_subject(signer_pem) if os.path.exists(signer_pem) else dict(EMPTY_SIGNER)
    # 2. The real check: every signature over the content and the signed attributes, and the
    #    signer's chain up to a trusted root, at the current time.
    checked = openssl(["cms", "-verify", "-inform", "DER", "-CAfile", ca_file, "-out", os.devnull],
                      der)
    valid = checked.returncode == 0
    return {"signer": signer, "is_valid": valid,
            "validation_error_message": "" if valid else failure_message(checked.stderr)}, \
        unpacked.stdout


def process_signed_content(der, ca_file):
    """The real service's loop (DigitalSignature.NifService.retrive_signed_data): unwrap layer by
    layer while the content is a CMS SignedData with exactly one SignerInfo."""
    signatures, content = [], b""
    with tempfile.TemporaryDirectory(prefix="digital-signature-") as workdir:
        data = der
        for _ in range(MAX_NESTING):
            count = signer_info_count(data)
            if count is None:
                break
            if count != 1:
                signatures.append({"signer": {}, "is_valid": False,
                                   "validation_error_message":
                                       "envelope contains %d signatures instead of 1" % count})
                break
            signature, inner = verify_layer(data, ca_file, workdir)
            signatures.append(signature)
            if inner is None:
                break
            content = data = inner
    return signatures, content


def decode_content(content):
    """As DigitalSignature.API.decode_content: "" stays "", else JSON after dropping a leading
    byte-order mark and trailing NULs. Returns (ok, value_or_error)."""
    if content == b"":
        return True, ""
    text = content.decode("utf-8", "replace")
    if text.startswith("\ufeff"):
        text = text[1:]
    text = text.rstrip("\x00")
    try:
        return True, json.loads(text)
    except ValueError as error:
        return False, (str(error), text)


# --- HTTP ---

def validation_error(entry, rule, description):
    return {"type": "validation_failed",
            "message": "Validation failed. You can find validators description at our API "
                       "Manifest: http://docs.apimanifest.apiary.io/#introduction/interacting-"
                       "with-api/errors.",
            "invalid": [{"entry_type": "json_data_property", "entry": entry,
                         "rules": [{"rule": rule, "description": description, "params": []}]}]}


def check_request(params):
    """The request schema of the real service (specs/json_schemas/digital_signatures_request.json)."""
    if not isinstance(params, dict):
        return validation_error("$", "cast", "type mismatch. Expected Object")
    for field in ("signed_content", "signed_content_encoding"):
        if field not in params:
            return validation_error("$." + field, "required",
                                    "required property %s was not present" % field)
        if not isinstance(params[field], str):
            return validation_error("$." + field, "cast", "type mismatch. Expected String")
    if params["signed_content_encoding"] != "base64":
        return validation_error("$.signed_content_encoding", "inclusion",
                                "value is not allowed in enum")
    if "check" in params and not isinstance(params["check"], bool):
        return validation_error("$.check", "cast", "type mismatch. Expected Boolean")
    if params.get("check") is False:
        return validation_error("$.check", "inclusion",
                                "check=false is not supported by this stand-in")
    return None


class Handler(http.server.BaseHTTPRequestHandler):
    server_version = "digital-signature-stand-in"
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("digital_signature: %s\n" % (fmt % args))

    def answer(self, status, key, value):
        host = self.headers.get("Host") or "%s:%d" % self.server.server_address[:2]
        body = json.dumps({
            "meta": {"url": "http://%s%s" % (host, self.path.split("?")[0]), "type": "object",
                     "code": status, "request_id": str(uuid.uuid4())},
            key: value,
        }, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.answer(404, "error", {"type": "not_found"})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            return self.answer(413, "error", {"type": "request_too_large",
                                              "message": "Request body is too large."})
        raw = self.rfile.read(length)
        if self.path.split("?")[0] != "/digital_signatures":
            return self.answer(404, "error", {"type": "not_found"})
        if self.server.delay:
            time.sleep(self.server.delay)
        # ael.api sends the JSON without a Content-Type header: parse the body whatever it says.
        try:
            params = json.loads(raw)
        except ValueError:
            return self.answer(400, "error", {
                "type": "request_malformed",
                "invalid": [{"entry_type": "request", "rules": [{"rule": "json"}]}],
                "message": "Malformed request. Probably, you have sent corrupted JSON."})
        error = check_request(params)
        if error:
            return self.answer(422, "error", error)
        try:
            der = base64.b64decode(params["signed_content"], validate=True)
        except (binascii.Error, ValueError):
            return self.answer(422, "error", validation_error(
                "$.signed_content", "invalid", "Not a base64 string"))
        signatures, content = process_signed_content(der, self.server.ca_file)
        ok, decoded = decode_content(content)
        if not ok:
            reason, text = decoded
            return self.answer(422, "error", {
                "type": "request_malformed",
                "message": "Malformed encoded content. Probably, you have encoded corrupted "
                           "JSON. Error: " + reason,
                "invalid": [{"entry_type": "content",
                             "rules": [{"rule": "json", "params": {"content": text}}]}]})
        data = dict(params)
        data.update({"content": decoded, "signatures": signatures})
        return self.answer(200, "data", data)


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed)")
    parser.add_argument("--ca", required=True,
                        help="PEM file of trusted root certificates (make_signed_document.py "
                             "writes ca.pem)")
    parser.add_argument("--delay", type=float, default=0.0,
                        help="seconds to wait before answering (to test the caller's timeout)")
    parser.add_argument("--verbose", action="store_true", help="log each request to stderr")
    args = parser.parse_args(argv)
    if not os.path.isfile(args.ca):
        parser.error("--ca %s: no such file" % args.ca)

    server = http.server.ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    server.ca_file = os.path.abspath(args.ca)
    server.delay = args.delay
    server.verbose = args.verbose
    host, port = server.server_address[:2]
    print("ready http://%s:%d" % (host, port), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main(sys.argv[1:])
