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
    ("RSA / bignum (aws-lc)", r"(RSA_|rsa_|BN_|bn_|rsaz|mont|mul_add|bn_mul|sqr|_x86_64_mont|ecp_nistz|"
                              r"RSA_sign|bn_from_montgomery|RAND_|rand_|CRYPTO_sysrand|aes_hw|vpaes|CTR_DRBG|"
                              r"aes_nohw|jent|RSASSA)"),
    ("SHA-256 / HMAC (aws-lc)", r"(sha256|SHA256|HMAC|hmac|sha_|digest)"),
    ("allocator (mimalloc)", r"^(_?mi_|mi_|__rust_alloc|__rust_dealloc|__rust_realloc|__rdl_|_rjem|"
                             r"alloc::alloc::|<mimalloc::|malloc|free|realloc|calloc|cfree)"),
    ("memcpy / memset / memcmp", r"(memcpy|memmove|memset|memcmp|bcmp|strlen|__memcpy|__memset)"),
    ("HTTP/1 parse and encode (hyper, httparse, http)", r"^(<)?(hyper|httparse|http|h2|bytes|want|"
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
    ("timestamps (time)", r"^(<)?(time|std::time)"),
    ("formatting (core::fmt, alloc::fmt)", r"^(<)?(core::fmt|alloc::fmt|alloc::string|<alloc::string|"
                                           r"<str as core::fmt|core::str|<&T as core::fmt)"),
    ("percent-encoding", r"^(<)?percent_encoding"),
    ("base64 / hex", r"^(<)?(base64|hex)::"),
    ("storage-signer: signing", r"storage_signer::signing"),
    ("storage-signer: audit", r"storage_signer::audit"),
    ("storage-signer: auth", r"storage_signer::(auth|access)"),
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
    ("whole request in the request-log middleware", r"^storage_signer::http::request_log::track::\{\{closure\}\}$"),
    ("read body + parse JSON (JsonBody)", r"JsonBody.*as axum_core::extract::FromRequest"),
    ("validate fields (SecretRequest::from_json)", r"^storage_signer::request::secret::SecretRequest::(from_json|batch_from_json)$"),
    ("authenticate (API key SHA-256 + 20 comparisons)", r"^storage_signer::auth::Authenticator::authenticate$"),
    ("decide: policy + audit event (decide_secret)", r"^storage_signer::issuing::secret::(decide_secret|decide_batch)$"),
    ("policy match (Client::authorize)", r"^storage_signer::access::.*authorize$"),
    ("sign: whole (App::sign_secret)", r"^storage_signer::app::App::sign_secret$"),
    ("RSA signature (aws-lc RSA_sign)", r"^aws_lc_[0-9_]*RSA_sign$"),
    ("V2 string to sign", r"^storage_signer::signing::v2::string_to_sign$"),
    ("V2 URL assembly", r"^storage_signer::signing::v2::signed_url$"),
    ("V4 canonicalisation (v4::prepare, incl. SHA-256)", r"^storage_signer::signing::v4::prepare$"),
    ("HMAC signature (HmacKey::sign)", r"^storage_signer::signing::hmac::HmacKey::sign$"),
    ("audit: write the record (App::record)", r"^storage_signer::app::App::record_now$"),
    ("audit: seal (record JSON + SHA-256)", r"^storage_signer::audit::chain::seal$"),
    ("response JSON (created / batch_response)", r"^storage_signer::http::secrets::(created|batch_response)$"),
    ("log line: format the event (fmt layer on_event)", r"tracing_subscriber::fmt::fmt_layer::Layer.*on_event"),
    ("log line: background writer thread", r"tracing_appender::worker::Worker.*::work$"),
    ("metrics: request counter and histogram", r"^storage_signer::metrics::Metrics::observe_request$"),
    ("metrics: decision counter", r"^storage_signer::metrics::Metrics::count_decision$"),
    ("request id (uuid v4)", r"^storage_signer::http::request_log::RequestId::generate$"),
    ("allocator, everything (malloc/free/realloc inclusive)", r"^(mi_malloc|mi_free|mi_realloc|mi_zalloc|mi_malloc_aligned|mi_calloc|_mi_malloc_generic|mi_heap_malloc|__rust_alloc|__rust_dealloc|__rust_realloc|__rust_alloc_zeroed)$"),
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


def group_of(function):
    for name, pattern in GROUP_PATTERNS:
        if pattern.search(function):
            return name
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
