//! Swift TempURLs against OpenStack's own code (`tests/oracle/swift_signer.py`): each
//! signature must be the one python-swiftclient's `generate_temp_url` computes for the
//! decoded path, each URL that one with its path percent-encoded, and Swift's real `tempurl`
//! middleware must let every URL through, and refuse it once tampered with.

#[path = "support/corpus.rs"]
mod corpus;
#[path = "support/oracle.rs"]
mod oracle;

use serde_json::{Value, json};
use storage_signer::signing::swift::{
    Digest, ExpiryFormat, Scope, TempUrlKey, TempUrlRequest, signed_path, temp_url,
};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use corpus::Rng;

const CASES: usize = 1000;
const KEY: &str = "k3y-ключ";
const ENDPOINT: &str = "https://swift.example:8080";
/// The middleware's clock (2029-01-01T00:00:00Z): every generated URL expires later.
const NOW: i64 = 1_861_920_000;
const ACCOUNTS: &[&str] = &["AUTH_test", "AUTH_0123456789abcdef", "AUTH_tëst"];
const CONTAINERS: &[&str] = &["media", "my container", "контейнер", "c+%#?;=&"];
/// `(range, an address inside it, one outside)`.
const IP_RANGES: &[(&str, &str, &str)] = &[
    ("127.0.0.0/8", "127.1.2.3", "10.0.0.1"),
    ("203.0.113.7", "203.0.113.7", "203.0.113.8"),
    ("2001:db8::/32", "2001:db8::1", "2001:db9::1"),
];

struct Case {
    method: &'static str,
    account: &'static str,
    container: &'static str,
    /// The object name, or the prefix of a prefix URL.
    name: String,
    prefix: bool,
    expires_at: OffsetDateTime,
    iso8601: bool,
    digest: Digest,
    ip_range: Option<(&'static str, &'static str, &'static str)>,
    filename: Option<String>,
    inline: bool,
}

impl Case {
    fn request(&self) -> TempUrlRequest<'_> {
        TempUrlRequest {
            method: self.method,
            endpoint: ENDPOINT,
            account: self.account,
            container: self.container,
            scope: if self.prefix {
                Scope::Prefix(&self.name)
            } else {
                Scope::Object(&self.name)
            },
            expires_at: self.expires_at,
            expiry_format: if self.iso8601 {
                ExpiryFormat::Iso8601
            } else {
                ExpiryFormat::UnixSeconds
            },
            digest: self.digest,
            ip_range: self.ip_range.map(|(range, _, _)| range),
            filename: self.filename.as_deref(),
            inline: self.inline,
        }
    }

    fn url(&self) -> String {
        let key = TempUrlKey::new(Zeroizing::new(KEY.into()));
        temp_url(&self.request(), &key).unwrap().into_inner()
    }

    fn digest_name(&self) -> &'static str {
        match self.digest {
            Digest::Sha1 => "sha1",
            Digest::Sha256 => "sha256",
            Digest::Sha512 => "sha512",
        }
    }

    fn describe(&self) -> String {
        format!(
            "{} {}/{}/{:?} (prefix: {}, {}, iso8601: {}, ip: {:?})",
            self.method,
            self.account,
            self.container,
            self.name,
            self.prefix,
            self.digest_name(),
            self.iso8601,
            self.ip_range.map(|(range, _, _)| range)
        )
    }
}

const METHODS: [&str; 5] = ["GET", "HEAD", "PUT", "POST", "DELETE"];

fn cases(seed: u64) -> Vec<Case> {
    let mut rng = Rng(seed);
    (0..CASES)
        .map(|i| {
            let prefix = rng.chance(20);
            let name = if prefix && rng.chance(20) {
                String::new()
            } else if prefix {
                format!("{}/", corpus::object_name(&mut rng, 2))
            } else {
                corpus::object_name(&mut rng, 4)
            };
            // 2030-01-01 plus up to ten years.
            let expires = 1_893_456_000 + i64::try_from(rng.next() % 315_360_000).unwrap();
            Case {
                method: METHODS[i % METHODS.len()],
                account: rng.pick(ACCOUNTS),
                container: rng.pick(CONTAINERS),
                name,
                prefix,
                expires_at: OffsetDateTime::from_unix_timestamp(expires).unwrap(),
                iso8601: rng.chance(30),
                digest: match rng.below(4) {
                    0 => Digest::Sha1,
                    1 => Digest::Sha512,
                    _ => Digest::Sha256,
                },
                ip_range: rng
                    .chance(15)
                    .then(|| IP_RANGES[rng.below(IP_RANGES.len())]),
                filename: rng.chance(10).then(|| corpus::segment(&mut rng)),
                inline: rng.chance(10),
            }
        })
        .collect()
}

/// swiftclient's input: the decoded path (`prefix:` is its `prefix=True`).
fn swiftclient_case(case: &Case, path: &str) -> Value {
    json!({
        "path": path,
        "method": case.method,
        "expires": case.expires_at.unix_timestamp(),
        "key": KEY,
        "digest": case.digest_name(),
        "iso8601": case.iso8601,
        "prefix": case.prefix,
        "ip_range": case.ip_range.map(|(range, _, _)| range),
        "filename": case.filename,
        "inline": case.inline,
    })
}

fn decoded_path(case: &Case) -> String {
    let path = signed_path(&case.request()).unwrap();
    path.strip_prefix("prefix:").unwrap_or(&path).to_owned()
}

fn swiftclient_urls(cases: &[Case], path: impl Fn(&Case) -> String) -> (Vec<String>, Vec<String>) {
    let answer = oracle::run_oracle(
        "swift_signer.py",
        &json!({
            "mode": "sign",
            "cases": cases.iter().map(|c| swiftclient_case(c, &path(c))).collect::<Vec<_>>(),
        }),
    );
    eprintln!("oracle: python-swiftclient {}", answer["library"]);
    let strings = |name: &str| -> Vec<String> {
        answer[name]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u.as_str().unwrap().to_owned())
            .collect()
    };
    (strings("urls"), strings("quoted_urls"))
}

#[test]
fn signatures_and_urls_match_swiftclient_for_generated_requests() {
    let cases = cases(0x5EED_5111);
    let (raw, quoted) = swiftclient_urls(&cases, decoded_path);
    let mut mismatches = Vec::new();
    for ((case, raw), quoted) in cases.iter().zip(&raw).zip(&quoted) {
        let ours = case.url();
        let signature = |url: &str| {
            url.split_once("temp_url_sig=")
                .and_then(|(_, rest)| rest.split('&').next())
                .map(str::to_owned)
        };
        let expected = format!("{ENDPOINT}{quoted}");
        if signature(&ours) != signature(raw) || ours != expected {
            mismatches.push(format!(
                "{}\n  ours:        {ours}\n  swiftclient: {raw}\n  quoted:      {expected}",
                case.describe()
            ));
        }
    }
    oracle::assert_no_mismatches(
        "TempURLs differ from swiftclient's (signature, or URL with its path quoted)",
        cases.len(),
        &mismatches,
    );
}

/// A request for the middleware: `(method, url, remote address)`.
fn request(method: &str, url: &str, remote_addr: &str) -> Value {
    json!({ "method": method, "url": url, "remote_addr": remote_addr })
}

fn verify(requests: &[Value], now: i64) -> Vec<u16> {
    let answer = oracle::run_oracle(
        "swift_signer.py",
        &json!({ "mode": "verify", "key": KEY, "now": now, "cases": requests }),
    );
    eprintln!("oracle: swift {}", answer["library"]);
    serde_json::from_value(answer["results"].clone()).unwrap()
}

/// The URL a client uses: for a prefix URL, an object under the prefix.
fn usable_url(case: &Case) -> String {
    let url = case.url();
    if !case.prefix {
        return url;
    }
    let (path, query) = url.split_once('?').unwrap();
    format!("{path}f%C3%BC.txt?{query}")
}

#[test]
fn swift_tempurl_middleware_accepts_every_url_and_refuses_tampered_ones() {
    let cases = cases(0x5EED_5112);
    let inside = |case: &Case| case.ip_range.map_or("192.0.2.1", |(_, inside, _)| inside);
    let mut requests = Vec::new();
    let mut expected = Vec::new();
    let mut label = Vec::new();
    for case in &cases {
        let url = usable_url(case);
        let mut push = |method: &str, url: &str, addr: &str, ok: bool, what: &str| {
            requests.push(request(method, url, addr));
            expected.push(ok);
            label.push(format!("{what}: {}", case.describe()));
        };
        push(case.method, &url, inside(case), true, "as signed");
        // HEAD is allowed by a GET, HEAD, POST or PUT URL.
        if matches!(case.method, "GET" | "POST" | "PUT") {
            push("HEAD", &url, inside(case), true, "HEAD of it");
        }
        let other = if case.method == "DELETE" {
            "GET"
        } else {
            "DELETE"
        };
        push(other, &url, inside(case), false, "other method");
        let (path, query) = url.split_once('?').unwrap();
        let elsewhere = if case.prefix {
            // Outside the prefix: one byte less of it, or another container.
            format!(
                "{ENDPOINT}/v1/{}/other/x?{query}",
                path.split('/').nth(4).unwrap()
            )
        } else {
            format!("{path}x?{query}")
        };
        push(case.method, &elsewhere, inside(case), false, "other object");
        if let Some((_, _, outside)) = case.ip_range {
            push(case.method, &url, outside, false, "from outside the range");
        }
    }
    let results = verify(&requests, NOW);
    let mismatches: Vec<String> = results
        .iter()
        .zip(&expected)
        .zip(&label)
        .filter(|((status, ok), _)| (**status == 200) != **ok)
        .map(|((status, ok), label)| format!("{label}: status {status}, expected ok: {ok}"))
        .collect();
    let accepted = expected.iter().filter(|ok| **ok).count();
    eprintln!(
        "middleware: {} requests ({accepted} to accept, {} to refuse)",
        requests.len(),
        requests.len() - accepted
    );
    oracle::assert_no_mismatches(
        "requests the middleware judged otherwise than expected",
        requests.len(),
        &mismatches,
    );
}

#[test]
fn expired_urls_are_refused_by_the_middleware() {
    let cases: Vec<Case> = cases(0x5EED_5113).into_iter().take(100).collect();
    let requests: Vec<Value> = cases
        .iter()
        .map(|case| {
            let addr = case.ip_range.map_or("192.0.2.1", |(_, inside, _)| inside);
            request(case.method, &usable_url(case), addr)
        })
        .collect();
    // One second after the latest expiry.
    let after = cases
        .iter()
        .map(|c| c.expires_at.unix_timestamp())
        .max()
        .unwrap()
        + 1;
    let accepted = verify(&requests, after)
        .iter()
        .filter(|status| **status == 200)
        .count();
    assert_eq!(accepted, 0, "{accepted} of 100 expired URLs were accepted");
}

#[test]
fn swiftclient_signature_of_a_quoted_path_fails_exactly_when_quoting_changes_the_path() {
    // What a caller gets who hands swiftclient the URL-encoded path: a URL that works only
    // for names that need no encoding. (Ours signs the decoded path.)
    // Half of them with names that need no encoding.
    let cases: Vec<Case> = cases(0x5EED_5114)
        .into_iter()
        .filter(|c| !c.prefix && c.ip_range.is_none())
        .take(300)
        .enumerate()
        .map(|(i, case)| {
            if i % 2 == 0 {
                Case {
                    account: "AUTH_test",
                    container: "media",
                    name: format!("plain/name-{i}_~.txt"),
                    ..case
                }
            } else {
                case
            }
        })
        .collect();
    let encoded_path = |case: &Case| {
        let url = case.url();
        url[ENDPOINT.len()..].split_once('?').unwrap().0.to_owned()
    };
    let (swiftclient, _) = swiftclient_urls(&cases, encoded_path);
    let requests: Vec<Value> = cases
        .iter()
        .zip(&swiftclient)
        .map(|(case, url)| request(case.method, &format!("{ENDPOINT}{url}"), "192.0.2.1"))
        .collect();
    let results = verify(&requests, NOW);
    let mut needs_encoding = 0;
    let mut wrong = Vec::new();
    for ((case, status), url) in cases.iter().zip(&results).zip(&swiftclient) {
        let changed = encoded_path(case) != decoded_path(case);
        needs_encoding += usize::from(changed);
        if (*status == 200) == changed {
            wrong.push(format!("{}: {url} -> {status}", case.describe()));
        }
    }
    eprintln!(
        "quoted paths: {} cases, {needs_encoding} need encoding (refused), {} do not (accepted)",
        cases.len(),
        cases.len() - needs_encoding
    );
    assert!(needs_encoding > 0 && needs_encoding < cases.len());
    oracle::assert_no_mismatches(
        "swiftclient URLs of quoted paths judged otherwise",
        cases.len(),
        &wrong,
    );
}
