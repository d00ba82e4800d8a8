#!/usr/bin/env python3
"""Makes throw-away CMS (PKCS#7) signed JSON documents for tests, with the openssl command line.

    python tests/servers/make_signed_document.py OUT_DIR [--content JSON] [--days N]

writes into OUT_DIR (created if missing; every key is new, test-only, never committed):

    ca.pem / ca.key                 a test root CA: the trust anchor of digital_signature.py --ca
    signer.pem, signer2.pem (+.key) two signers issued by that CA
    expired.pem (+.key)             a signer issued by that CA whose validity ended in 2020
    stranger-ca.pem, stranger.pem   a signer from another CA (not trusted)
    document.json                   the content (default: a declaration with legal_entity fields)
    valid.p7s         signed once by signer                       -> one valid signature
    tampered.p7s      valid.p7s with one byte of the content changed -> invalid signature
    two_signers.p7s   one envelope, two SignerInfos (signer, signer2) -> "2 signatures instead of 1"
    double_signed.p7s valid.p7s signed again by signer2 (nested)     -> two valid signatures
    untrusted.p7s     signed by stranger                          -> chain not trusted
    expired.p7s       signed by the expired signer                -> certificate expired
    not_json.p7s      a valid signature over text that is not JSON -> invalid content (422)
    unsigned.json     document.json as it is, not signed          -> no signatures
    manifest.json     each fixture with what the stand-in and ael.api answer for it

and prints OUT_DIR/manifest.json. All .p7s files are DER (as ael.api downloads and base64-encodes
them). Signing uses openssl cms -sign -nodetach -binary -md sha256 (EC P-256 keys: quick to make).
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys

UA_OIDS = """oid_section = ua_oids
[ua_oids]
# The Ukrainian personal and company registry numbers: the digital-signature service reports them
# as signer.drfo and signer.edrpou.
drfo = 1.2.804.2.1.1.1.11.1.4.1.1
edrpou = 1.2.804.2.1.1.1.11.1.4.2.1

[req]
distinguished_name = dn
[dn]

[ca_ext]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash

[signer_ext]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature, nonRepudiation
extendedKeyUsage = emailProtection
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[ca]
default_ca = test_ca
[test_ca]
database = {dir}/ca-db/index.txt
new_certs_dir = {dir}/ca-db
serial = {dir}/ca-db/serial
default_md = sha256
policy = anything
copy_extensions = none
unique_subject = no
[anything]
# Keep every field of the request (the stand-in reports them as signer fields).
countryName = optional
stateOrProvinceName = optional
localityName = optional
organizationName = optional
organizationalUnitName = optional
title = optional
surname = optional
givenName = optional
commonName = supplied
drfo = optional
edrpou = optional
"""

DEFAULT_CONTENT = {
    "id": "0b4a3c9e-6f0e-4a55-9d1c-2f5c0c7f1e21",
    "legal_entity": {"id": "1bce381a-7b82-11e7-bb31-be2e44b06b34", "edrpou": "12345678"},
    "person": {"first_name": "Тарас", "last_name": "Шевченко"},
    "status": "signed",
}

SIGNER_SUBJECTS = {
    "signer": "/C=UA/ST=Kyivska/L=Kyiv/O=Test Clinic/OU=Registry/title=Doctor/SN=Шевченко"
              "/GN=Тарас/CN=Тарас Шевченко/drfo=1234567890/edrpou=12345678",
    "signer2": "/C=UA/L=Lviv/O=Second Clinic/SN=Franko/GN=Ivan/CN=Ivan Franko/drfo=2222222222",
    "expired": "/C=UA/CN=Expired Signer/drfo=3333333333",
    "stranger": "/C=UA/CN=Stranger/drfo=4444444444",
}


def openssl(*args, cwd):
    subprocess.run(("openssl",) + args, cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE)


def make_key(name, cwd):
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-out", name + ".key", cwd=cwd)
    os.chmod(cwd / (name + ".key"), 0o600)


def make_ca(name, subject, cwd):
    make_key(name, cwd)
    openssl("req", "-new", "-x509", "-utf8", "-config", "openssl.cnf", "-extensions", "ca_ext",
            "-key", name + ".key", "-subj", subject, "-days", "30", "-out", name + ".pem", cwd=cwd)


def issue(name, ca, cwd, days=None, dates=None):
    """A signer certificate issued by CA; dates=(start, end) in openssl's YYYYMMDDHHMMSSZ."""
    make_key(name, cwd)
    openssl("req", "-new", "-utf8", "-config", "openssl.cnf", "-key", name + ".key",
            "-subj", SIGNER_SUBJECTS[name], "-out", name + ".csr", cwd=cwd)
    validity = ("-startdate", dates[0], "-enddate", dates[1]) if dates else ("-days", str(days))
    openssl("ca", "-batch", "-utf8", "-config", "openssl.cnf", "-extensions", "signer_ext",
            "-cert", ca + ".pem", "-keyfile", ca + ".key", "-in", name + ".csr",
            "-out", name + ".pem", "-notext", "-preserveDN", *validity, cwd=cwd)
    (cwd / (name + ".csr")).unlink()


def sign(infile, outfile, signers, cwd):
    args = ["cms", "-sign", "-binary", "-nodetach", "-outform", "DER", "-md", "sha256",
            "-in", infile, "-out", outfile]
    for signer in signers:
        args += ["-signer", signer + ".pem", "-inkey", signer + ".key"]
    openssl(*args, cwd=cwd)


def tamper(signed, content):
    """Changes one character of the content inside the DER envelope (same length, so the DER
    stays well-formed and only the signature check can notice)."""
    at = signed.find(content)
    if at < 0 or signed.find(content, at + 1) >= 0:
        raise SystemExit("the content is not exactly once in the envelope; cannot tamper")
    # An ASCII digit (or letter), so the content stays valid UTF-8 and valid JSON.
    digits = [i for i, c in enumerate(content) if 0x30 <= c <= 0x39]
    i = digits[-1] if digits else next(i for i, c in enumerate(content) if 0x61 <= c <= 0x7A)
    old = content[i]
    new = (0x30 + (old - 0x30 + 1) % 10) if 0x30 <= old <= 0x39 else (0x61 + (old - 0x61 + 1) % 26)
    return signed[:at + i] + bytes([new]) + signed[at + i + 1:]


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=pathlib.Path)
    parser.add_argument("--content", help="the JSON document to sign (default: a declaration)")
    parser.add_argument("--days", type=int, default=2, help="validity of the signer certificates")
    args = parser.parse_args(argv)

    out = args.out_dir.resolve()
    out.mkdir(parents=True, exist_ok=True)
    (out / "ca-db").mkdir(exist_ok=True)
    (out / "ca-db" / "index.txt").write_text("")
    (out / "ca-db" / "serial").write_text("1000\n")
    (out / "openssl.cnf").write_text(UA_OIDS.replace("{dir}", str(out)))

    content = json.loads(args.content) if args.content else DEFAULT_CONTENT
    document = (json.dumps(content, ensure_ascii=False, indent=2) + "\n").encode()
    (out / "document.json").write_bytes(document)
    (out / "unsigned.json").write_bytes(document)
    (out / "not_json.txt").write_bytes(b"this is plain text, not JSON\n")

    try:
        make_ca("ca", "/C=UA/O=storage-signer tests/CN=Test Root CA", out)
        make_ca("stranger-ca", "/C=UA/CN=Stranger CA", out)
        issue("signer", "ca", out, days=args.days)
        issue("signer2", "ca", out, days=args.days)
        issue("expired", "ca", out, dates=("20200101000000Z", "20200102000000Z"))
        issue("stranger", "stranger-ca", out, days=args.days)

        sign("document.json", "valid.p7s", ["signer"], out)
        sign("document.json", "two_signers.p7s", ["signer", "signer2"], out)
        sign("valid.p7s", "double_signed.p7s", ["signer2"], out)
        sign("document.json", "untrusted.p7s", ["stranger"], out)
        sign("document.json", "expired.p7s", ["expired"], out)
        sign("not_json.txt", "not_json.p7s", ["signer"], out)
    except subprocess.CalledProcessError as error:
        sys.stderr.write("make_signed_document: %s failed:\n%s" % (
            " ".join(error.cmd), error.stderr.decode(errors="replace")))
        return 1
    (out / "tampered.p7s").write_bytes(tamper((out / "valid.p7s").read_bytes(), document))

    manifest = {
        "ca": "ca.pem",
        "content": content,
        "fixtures": {
            "valid.p7s": {"signatures": [True], "ael_is_valid": True},
            "tampered.p7s": {"signatures": [False], "ael_is_valid": False},
            "two_signers.p7s": {"signatures": [False], "ael_is_valid": False,
                                "message": "envelope contains 2 signatures instead of 1"},
            "double_signed.p7s": {"signatures": [True, True], "ael_is_valid": False},
            "untrusted.p7s": {"signatures": [False], "ael_is_valid": False,
                              "message": "matching ROOT certificate not found"},
            "expired.p7s": {"signatures": [False], "ael_is_valid": False},
            "unsigned.json": {"signatures": [], "ael_is_valid": False},
            "not_json.p7s": {"status": 422, "ael_is_valid": False},
        },
    }
    (out / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n")
    print(out / "manifest.json")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
