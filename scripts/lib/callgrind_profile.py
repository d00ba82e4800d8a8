"""Reads callgrind output files and prints where the instructions of one request go.

    callgrind_profile.py IDLE.cg RUN.cg REQUESTS [--json]

Each function's cost in RUN beyond IDLE (the same service started and stopped with no
requests), divided by REQUESTS, so start-up and shutdown are excluded. Two views:

- groups: every function's *self* cost classified by what it is (its crate or, in
  storage-signer, its module). The groups add up to the whole request.
- steps: the *inclusive* cost of the functions that are the steps of a request (authenticate,
  policy, sign, audit record, log line ...). Steps nest and overlap, so they do not add up.

The parser reads callgrind's format directly (name compression, relative positions, `calls=`
lines): self cost is the sum of a function's cost lines, inclusive cost adds the cost of the
calls it makes (recursion is counted once per call, as callgrind_annotate does).
"""

import json
import re
import sys
from collections import defaultdict

# (group, regular expression on the demangled name), first match wins. Order matters: the
# specific (RSA inside aws-lc) before the general (aws-lc).
GROUPS = [
    ("RSA / bignum (aws-lc)", r"(RSA_|rsa_|BN_|bn_|rsaz|RSAZ|mont|EVP_|evp_|aws_lc_rs::rsa|mul_add|bn_mul|sqr|_x86_64_mont|ecp_nistz|"
                              r"RSA_sign|bn_from_montgomery|RAND_|rand_|CRYPTO_sysrand|aes_hw|vpaes|CTR_DRBG|"
                              r"aes_nohw|jent|RSASSA)"),
    ("SHA-256 / HMAC (aws-lc)", r"(sha256|SHA256|HMAC|hmac|sha_|digest)"),
    ("allocator (mimalloc, Rust's)", r"^(_?mi_|mi_|__rust_alloc|__rust_dealloc|__rust_realloc|__rdl_|"
                                     r"alloc::alloc::|mimalloc::|alloc::raw_vec::|RawVecInner)"),
    ("allocator (glibc malloc, aws-lc's)", r"^(malloc|free|realloc|calloc|cfree|_int_|__libc_malloc|"
                                           r"__libc_free|tcache|aws_lc_[0-9_]*OPENSSL_(malloc|free|zalloc|"
                                           r"calloc|realloc|cleanse|sk_)|sk_)"),
    ("memcpy / memset / memcmp", r"(memcpy|memmove|memset|memcmp|bcmp|strlen|__memcpy|__memset)"),
    ("HTTP/1 parse and encode (hyper, httparse, http)", r"^(<)?(hyper|hyper_util|httparse|http|h2|bytes|want|"
                                                       r"try_lock|atomic_waker|http_body|http_body_util)::"),
    ("routing and middleware (axum, tower, tower-http)", r"^(<)?(axum|axum_core|tower|tower_http|tower_layer|"
                                                        r"tower_service|matchit|sync_wrapper|pin_project)"),
    ("async runtime (tokio, mio)", r"^(<)?(tokio|mio|futures|futures_util|futures_core|parking_lot|"
                                   r"std::sync|std::thread|crossbeam)"),
    ("JSON (serde_json, serde)", r"^(<)?(serde_json|serde|ryu|itoa|serde_core)"),
    ("log line (tracing, tracing-subscriber, tracing-appender)", r"^(<)?(tracing|tracing_core|"
                                                                 r"tracing_subscriber|tracing_appender|"
                                                                 r"tracing_log|sharded_slab|nu_ansi_term)"),
    ("metrics (prometheus-client, hashing)", r"^(<)?(prometheus_client|hashbrown|foldhash|dtoa|"
                                             r"std::collections::hash|core::hash|std::hash)"),
    ("request id (uuid, getrandom)", r"^(<)?(uuid|getrandom|rand|rand_core|ppv_lite)"),
    ("hex encoding", r"^<alloc::string::String as core::iter::traits::collect::FromIterator<char>>::from_iter$|^(<)?hex::"),
    ("timestamps (time)", r"^(<)?(time|std::time)"),
    ("formatting and strings (core::fmt, alloc::str, alloc::string)", r"^(core::fmt|alloc::fmt|alloc::string|"
                                           r"alloc::str|core::str|core::slice|alloc::slice|core::net|"
                                           r"std::io::Write|core::iter|alloc::vec|alloc::collections|"
                                           r"core::ops|core::option|core::result)"),
    ("percent-encoding", r"^(<)?percent_encoding"),
    ("base64 / hex", r"^(<)?(base64|hex)::"),
    ("storage-signer: signing", r"storage_signer::signing"),
    ("storage-signer: audit", r"storage_signer::audit"),
    ("storage-signer: auth", r"storage_signer::(auth|access)|^subtle::"),
    ("storage-signer: request, issuing", r"storage_signer::(request|issuing|domain|app)"),
    ("storage-signer: http", r"storage_signer::http"),
    ("storage-signer: other", r"storage_signer"),
    ("system call wrappers (libc)", r"^(__libc_|__GI_|syscall|epoll|__write|__read|write|read|writev|"
                                    r"send|recv|accept|clock_gettime|__clock_gettime|__vdso|futex|"
                                    r"__lll_|pthread_|__pthread|_dl_|__tls_get_addr)"),
]
GROUP_PATTERNS = [(name, re.compile(pattern)) for name, pattern in GROUPS]

# (step, regular expression on the demangled name of the function whose inclusive cost is the
# step). Where several functions match, their inclusive costs are added up (the patterns are
# chosen so that a match does not call another match).
STEPS = [
    # With LTO most of a request is inlined into a few large `poll` functions; these are the
    # steps that stay functions of their own in the release build.
    ("read body + parse JSON into a Value (JsonBody)", r"^<core::result::Result<T,<T as axum_core::extract::FromRequest<S>>::Rejection> as axum_core::extract::FromRequest<S>>::from_request::\{\{closure\}\}$"),
    ("validate fields (SecretRequest::from_fields)", r"^storage_signer::request::secret::SecretRequest::from_fields$"),
    ("authenticate (API key SHA-256, 20 constant-time comparisons)", r"^storage_signer::app::App::authenticate$"),
    ("decide: policy and audit event (issuing::secret::decide)", r"^storage_signer::issuing::secret::decide$"),
    ("policy match (Client::authorize)", r"^storage_signer::access::Client::authorize$"),
    ("sign, whole (App::sign_secret)", r"^storage_signer::app::App::sign_secret$"),
    ("RSA private-key operation (aws-lc RSA_sign)", r"^aws_lc_[0-9_]*RSA_sign$"),
    ("RSA: EVP digest-sign wrapper around RSA_sign (SHA-256 of the message, contexts)", r"^aws_lc_rs::rsa::key::KeyPair::sign$"),
    ("V2 string to sign", r"^storage_signer::signing::v2::string_to_sign$"),
    ("V2 URL assembly (base64, encoding)", r"^storage_signer::signing::v2::signed_url$"),
    ("V4 canonicalisation (v4::prepare, incl. SHA-256 of the canonical request)", r"^storage_signer::signing::v4::prepare$"),
    ("V4 RSA: prepare + sign + hex + URL (v4::sign_rsa)", r"^storage_signer::signing::v4::sign_rsa$"),
    ("V4 HMAC: prepare + HMAC + hex + URL (hmac::sign_url)", r"^storage_signer::signing::hmac::sign_url$"),
    ("hex encoding (hex::encode: signature, hashes)", r"^<alloc::string::String as core::iter::traits::collect::FromIterator<char>>::from_iter$"),
    ("audit: record written (App::record: seal = JSON + SHA-256 + hex, write)", r"^storage_signer::app::App::record::\{\{closure\}\}$"),
    ("timestamps: ISO 8601 formatting (timestamp::iso8601, iso8601_micros)", r"^storage_signer::timestamp::iso8601(_micros)?$"),
    ("response: SecretData built and serialised", r"^storage_signer::http::secrets::(secret_data|_::<impl serde_core::ser::Serialize for storage_signer::http::secrets::(SecretData|SecretResponse|BatchResponse)>::serialize)$"),
    ("log line: event formatted as JSON (fmt Subscriber::event)", r"^<tracing_subscriber::fmt::Subscriber<N,E,F,W> as tracing_core::subscriber::Subscriber>::event$"),
    ("log line: background writer thread", r"^tracing_appender::worker::Worker<T>::worker_thread::\{\{closure\}\}$"),
    ("metrics: decision counter (count_decision)", r"^storage_signer::metrics::Metrics::count_decision$"),
    ("metrics: signing histogram (observe_signing)", r"^storage_signer::metrics::Metrics::observe_signing$"),
    ("metrics: histogram observe (all)", r"^prometheus_client::metrics::histogram::Histogram::observe$"),
    ("format! (alloc::fmt::format, all callers)", r"^alloc::fmt::format::format_inner$"),
]
STEP_PATTERNS = [(name, re.compile(pattern)) for name, pattern in STEPS]


def parse(path):
    """-> (total, {function: self}, {function: inclusive})"""
    names = {}
    self_cost = defaultdict(int)
    call_cost = defaultdict(int)
    total = 0
    current = None
    pending_call = False
    last_position = 0

    def name_of(spec):
        match = re.match(r"\((\d+)\)(?:\s+(.*))?", spec)
        if not match:
            return spec
        ident, name = match.groups()
        if name is not None:
            names[ident] = name
        return names.get(ident, ident)

    with open(path, encoding="utf-8", errors="replace") as lines:
        for line in lines:
            line = line.rstrip("\n")
            if not line:
                continue
            head = line[0]
            if head.isdigit() or head in "+-*":
                parts = line.split()
                position = parts[0]
                if position.startswith(("+", "-")):
                    last_position += int(position)
                elif position != "*":
                    last_position = int(position)
                cost = int(parts[1]) if len(parts) > 1 else 0
                if pending_call:
                    call_cost[current] += cost
                    pending_call = False
                else:
                    self_cost[current] += cost
                continue
            if line.startswith("fn="):
                current = name_of(line[3:])
            elif line.startswith("cfn="):
                name_of(line[4:])
            elif line.startswith("calls="):
                pending_call = True
            elif line.startswith("summary:") or line.startswith("totals:"):
                total = max(total, int(line.split()[1]))
    inclusive = {f: self_cost[f] + call_cost[f] for f in set(self_cost) | set(call_cost)}
    return total, dict(self_cost), inclusive


def normalised(function):
    """`<&mut serde_json::X as Y>::z` -> `serde_json::X as Y>::z`; `drop_in_place<T>` -> `T`."""
    name = function
    for _ in range(3):
        if name.startswith("core::ptr::drop_in_place<"):
            name = name[len("core::ptr::drop_in_place<"):]
        name = name.lstrip("<").removeprefix("&mut ").removeprefix("&").removeprefix("[")
        name = re.sub(r"^(T|F|S|W|I|A|N|R|u8|u64|i32|str|\(K,V\); N\]) as ", "", name)
    return name


def group_of(function):
    name = normalised(function)
    for group, pattern in GROUP_PATTERNS:
        if pattern.search(name):
            return group
    return "other"


def per_request(idle, run, requests):
    functions = set(idle) | set(run)
    return {f: (run.get(f, 0) - idle.get(f, 0)) / requests for f in functions}


def main():
    idle_path, run_path, requests = sys.argv[1], sys.argv[2], int(sys.argv[3])
    as_json = "--json" in sys.argv
    idle_total, idle_self, idle_incl = parse(idle_path)
    run_total, run_self, run_incl = parse(run_path)
    total = (run_total - idle_total) / requests
    self_cost = per_request(idle_self, run_self, requests)
    inclusive = per_request(idle_incl, run_incl, requests)

    groups = defaultdict(float)
    for function, cost in self_cost.items():
        groups[group_of(function)] += cost
    steps = {}
    for name, pattern in STEP_PATTERNS:
        matched = [f for f in inclusive if pattern.search(f)]
        if matched:
            steps[name] = sum(inclusive[f] for f in matched)
    top = sorted(self_cost.items(), key=lambda kv: -kv[1])[:25]
    result = {
        "instructions_per_request": round(total),
        "groups": {k: round(v) for k, v in sorted(groups.items(), key=lambda kv: -kv[1]) if abs(v) >= 1},
        "steps": {k: round(v) for k, v in steps.items()},
        "top_self": [[f, round(c)] for f, c in top],
    }
    if as_json:
        print(json.dumps(result))
        return
    print(f"instructions per request: {total:,.0f}")
    print("\n| group (self cost) | instructions | share |\n|---|---:|---:|")
    for name, cost in result["groups"].items():
        print(f"| {name} | {cost:,} | {100 * cost / total:.1f} % |")
    print("\n| step (inclusive cost) | instructions |\n|---|---:|")
    for name, cost in result["steps"].items():
        print(f"| {name} | {cost:,} |")
    print("\n| function (self cost, top 25) | instructions |\n|---|---:|")
    for function, cost in result["top_self"]:
        print(f"| `{function[:110]}` | {cost:,} |")


if __name__ == "__main__":
    main()
