//! Differential tests: every S3 presigned URL and POST policy the signing layer builds must be,
//! byte for byte, the one botocore builds for the same inputs (`tests/oracle/s3_signer.py`),
//! over generated corpora of awkward keys, all methods, pinned headers, query parameters,
//! regions, endpoints (AWS, MinIO, R2, Ceph with a path) and both addressing styles.
//!
//! A little over 500 lines in one file: the URL and POST corpora share their places (endpoint,
//! region, style, bucket), keys and timestamps.

#[path = "support/corpus.rs"]
mod corpus;
#[path = "support/oracle.rs"]
mod oracle;

use serde_json::{Value, json};
use storage_signer::signing::hmac::HmacKey;
use storage_signer::signing::post_policy::{Condition, Key};
use storage_signer::signing::s3::{
    AddressingStyle, ObjectHeaders, PresignRequest, aws_endpoint, presign_url,
};
use storage_signer::signing::s3_post::{PostPolicyRequest, sign_post_policy};
use storage_signer::signing::v4::request_timestamp;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use corpus::Rng;

const ACCESS_KEY: &str = "AKIDEXAMPLE";
const SECRET_KEY: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const SESSION_TOKEN: &str = "IQoJb3JpZ2luX2VjEPT//////////wEaCXVzLWVhc3QtMSJHMEUCIQ+/==";

/// `None`: AWS's own endpoint for the region (botocore without `endpoint_url`).
const ENDPOINTS: &[Option<&str>] = &[
    None,
    Some("http://127.0.0.1:9000"),
    Some("http://localhost:9000"),
    Some("http://minio.local:9000/"),
    Some("https://3b2f8a.r2.cloudflarestorage.com"),
    Some("https://rgw.example.org:8443/ceph"),
    Some("https://S3.Example.COM:443"),
    Some("https://s3.eu-central-1.amazonaws.com"),
];
const AWS_REGIONS: &[&str] = &["us-east-1", "eu-west-1", "us-west-2", "ap-southeast-2"];
const OTHER_REGIONS: &[&str] = &["us-east-1", "eu-central-1", "auto", "default"];
const BUCKETS: &[&str] = &[
    "my-bucket",
    "media.example.com",
    "ab1",
    "bucket-2026",
    "x.y",
    "Legacy_Bucket",
];

/// Where a case is signed: endpoint (None = AWS's), region, style, bucket.
struct Place {
    endpoint: Option<&'static str>,
    region: &'static str,
    style: AddressingStyle,
    bucket: &'static str,
}

fn place(rng: &mut Rng) -> Place {
    loop {
        let endpoint = ENDPOINTS[rng.below(ENDPOINTS.len())];
        let region = if endpoint.is_none() {
            rng.pick(AWS_REGIONS)
        } else {
            rng.pick(OTHER_REGIONS)
        };
        let style = if rng.chance(50) {
            AddressingStyle::Path
        } else {
            AddressingStyle::VirtualHosted
        };
        let bucket = rng.pick(BUCKETS);
        // The one place we differ on purpose (`s3.rs`): botocore puts a dotted bucket in
        // front of an IP address over http.
        let at_ip = endpoint.is_some_and(|e| e.contains("127.0.0.1"));
        if !(at_ip && style == AddressingStyle::VirtualHosted && bucket.contains('.')) {
            return Place {
                endpoint,
                region,
                style,
                bucket,
            };
        }
    }
}

fn timestamp(rng: &mut Rng) -> OffsetDateTime {
    // 2015-01-01 to 2035-01-01, whole seconds.
    let seconds = 1_420_070_400 + i64::try_from(rng.next() % 631_152_000).unwrap();
    OffsetDateTime::from_unix_timestamp(seconds).unwrap()
}

fn key_name(rng: &mut Rng) -> String {
    let name = corpus::object_name(rng, 4);
    match rng.below(20) {
        0 => format!("/{name}"),
        1 => format!("../{name}"),
        2 => format!("{name}//x"),
        _ => name,
    }
}

/// One presigned-URL case: the inputs for us and for botocore.
struct UrlCase {
    method: &'static str,
    place: Place,
    key: String,
    content_type: Option<&'static str>,
    content_md5: Option<String>,
    metadata: Vec<(String, String)>,
    if_none_match: bool,
    query: Vec<(&'static str, String)>,
    expires_in: u32,
    timestamp: OffsetDateTime,
}

const METHODS: [&str; 4] = ["GET", "HEAD", "PUT", "DELETE"];

fn url_cases(count: usize, seed: u64) -> Vec<UrlCase> {
    let mut rng = Rng(seed);
    (0..count)
        .map(|i| {
            let method = METHODS[i % METHODS.len()];
            let mut case = UrlCase {
                method,
                place: place(&mut rng),
                key: key_name(&mut rng),
                content_type: None,
                content_md5: None,
                metadata: Vec::new(),
                if_none_match: false,
                query: Vec::new(),
                expires_in: match rng.below(4) {
                    0 => 600,
                    1 => 604_800,
                    _ => 1 + u32::try_from(rng.below(604_800)).unwrap(),
                },
                timestamp: timestamp(&mut rng),
            };
            if method == "PUT" {
                if rng.chance(50) {
                    case.content_type = Some(rng.pick(&[
                        "image/png",
                        "text/plain; charset=utf-8",
                        "application/vnd.api+json",
                        "multipart/form-data;  boundary=x ",
                    ]));
                }
                if rng.chance(30) {
                    let digest: Vec<u8> = (0..16).map(|_| rng.next().to_le_bytes()[0]).collect();
                    case.content_md5 = Some(base64_encode(&digest));
                }
                for n in 0..rng.below(4) {
                    let name = format!("{}{n}", rng.pick(&["owner", "Uploaded-By", "x", "tag_"]));
                    let value = rng.pick(&["user 42", "a  b\tc", "", "plain ascii", "=+/?&"]);
                    case.metadata.push((name, value.to_owned()));
                }
                case.if_none_match = rng.chance(30);
            }
            if method == "GET" && rng.chance(40) {
                case.query.push((
                    "ResponseContentDisposition",
                    format!("attachment; filename=\"{}\"", corpus::segment(&mut rng)),
                ));
            }
            if method == "GET" && rng.chance(30) {
                case.query
                    .push(("ResponseContentType", "text/plain; charset=utf-8".into()));
            }
            case
        })
        .collect()
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// botocore's query parameter name for an operation parameter.
fn query_name(param: &str) -> &'static str {
    match param {
        "ResponseContentDisposition" => "response-content-disposition",
        "ResponseContentType" => "response-content-type",
        other => panic!("no query name for {other}"),
    }
}

fn endpoint_of(place: &Place) -> String {
    place
        .endpoint
        .map_or_else(|| aws_endpoint(place.region), str::to_owned)
}

fn style_name(style: AddressingStyle) -> &'static str {
    match style {
        AddressingStyle::Path => "path",
        AddressingStyle::VirtualHosted => "virtual",
    }
}

fn ours(case: &UrlCase, key: &HmacKey) -> String {
    let metadata: Vec<(&str, &str)> = case
        .metadata
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let headers = ObjectHeaders {
        content_type: case.content_type,
        content_md5: case.content_md5.as_deref(),
        metadata: &metadata,
        if_none_match_any: case.if_none_match,
    }
    .to_headers()
    .unwrap();
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let query: Vec<(&str, &str)> = case
        .query
        .iter()
        .map(|(n, v)| (query_name(n), v.as_str()))
        .collect();
    let endpoint = endpoint_of(&case.place);
    let request = PresignRequest {
        method: case.method,
        endpoint: &endpoint,
        style: case.place.style,
        region: case.place.region,
        bucket: case.place.bucket,
        key: &case.key,
        headers: &headers,
        query: &query,
        timestamp: case.timestamp,
        expires_in: case.expires_in,
    };
    presign_url(&request, key).unwrap().into_inner()
}

fn oracle_case(case: &UrlCase) -> Value {
    let mut params: Vec<Value> = Vec::new();
    if let Some(content_type) = case.content_type {
        params.push(json!(["ContentType", content_type]));
    }
    if let Some(md5) = &case.content_md5 {
        params.push(json!(["ContentMD5", md5]));
    }
    if !case.metadata.is_empty() {
        let metadata: serde_json::Map<String, Value> = case
            .metadata
            .iter()
            .map(|(n, v)| (n.clone(), json!(v)))
            .collect();
        params.push(json!(["Metadata", metadata]));
    }
    if case.if_none_match {
        params.push(json!(["IfNoneMatch", "*"]));
    }
    for (name, value) in &case.query {
        params.push(json!([name, value]));
    }
    json!({
        "client_method": match case.method {
            "GET" => "get_object",
            "HEAD" => "head_object",
            "PUT" => "put_object",
            _ => "delete_object",
        },
        "endpoint": case.place.endpoint,
        "region": case.place.region,
        "style": style_name(case.place.style),
        "bucket": case.place.bucket,
        "key": case.key,
        "params": params,
        "expires_in": case.expires_in,
        "timestamp": request_timestamp(case.timestamp),
    })
}

fn describe(case: &UrlCase) -> String {
    format!(
        "{} {:?} at {:?} ({}, {}, bucket {})",
        case.method,
        case.key,
        case.place.endpoint,
        case.place.region,
        style_name(case.place.style),
        case.place.bucket
    )
}

fn compare_urls(cases: &[UrlCase], session_token: Option<&str>) -> (usize, Vec<String>) {
    let key = access_key(session_token);
    let answer = oracle::run_oracle(
        "s3_signer.py",
        &json!({
            "mode": "presign",
            "access_key": ACCESS_KEY,
            "secret_key": SECRET_KEY,
            "session_token": session_token,
            "cases": cases.iter().map(oracle_case).collect::<Vec<_>>(),
        }),
    );
    eprintln!("oracle: botocore {}", answer["library"]);
    let expected = answer["urls"].as_array().unwrap();
    assert_eq!(expected.len(), cases.len());
    let mismatches = cases
        .iter()
        .zip(expected)
        .filter_map(|(case, botocore)| {
            let botocore = botocore.as_str().unwrap();
            let ours = ours(case, &key);
            (ours.as_bytes() != botocore.as_bytes()).then(|| {
                format!(
                    "{}\n  ours:     {ours}\n  botocore: {botocore}",
                    describe(case)
                )
            })
        })
        .collect();
    (cases.len(), mismatches)
}

fn assert_none_differ(what: &str, (count, mismatches): (usize, Vec<String>)) {
    oracle::assert_no_mismatches(
        &format!("{what} differ from botocore's"),
        count,
        &mismatches,
    );
}

/// The test's access key, with `session_token` if temporary.
fn access_key(session_token: Option<&str>) -> HmacKey {
    let key = HmacKey::new(ACCESS_KEY, Zeroizing::new(SECRET_KEY.into()));
    match session_token {
        Some(token) => key.with_session_token(Zeroizing::new(token.into())),
        None => key,
    }
}

#[test]
fn presigned_urls_match_botocore_for_generated_requests() {
    let cases = url_cases(1000, 0x5EED_53A4);
    assert_none_differ("S3 presigned URLs", compare_urls(&cases, None));
}

#[test]
fn presigned_urls_with_a_session_token_match_botocore() {
    let cases = url_cases(200, 0x5EED_7043);
    assert_none_differ(
        "S3 presigned URLs with a session token",
        compare_urls(&cases, Some(SESSION_TOKEN)),
    );
}

/// One POST-policy case.
struct PostCase {
    place: Place,
    key: String,
    prefix: bool,
    fields: Vec<(&'static str, String)>,
    length_range: Option<(u64, u64)>,
    type_prefix: Option<&'static str>,
    expires_in: u32,
    timestamp: OffsetDateTime,
}

fn post_cases(count: usize, seed: u64) -> Vec<PostCase> {
    let mut rng = Rng(seed);
    (0..count)
        .map(|_| {
            let mut case = PostCase {
                place: place(&mut rng),
                key: key_name(&mut rng),
                prefix: rng.chance(40),
                fields: Vec::new(),
                length_range: None,
                type_prefix: None,
                expires_in: 1 + u32::try_from(rng.below(604_800)).unwrap(),
                timestamp: timestamp(&mut rng),
            };
            // The type pinned exactly, by its prefix, or not at all.
            match rng.below(4) {
                0 | 1 => {
                    let content_type = rng.pick(&["image/png", "text/plain; charset=utf-8"]);
                    case.fields.push(("Content-Type", content_type.into()));
                }
                2 => case.type_prefix = Some(rng.pick(&["image/", "", "application/vnd."])),
                _ => {}
            }
            if rng.chance(40) {
                let status = rng.pick(&["200", "201", "204"]);
                case.fields.push(("success_action_status", status.into()));
            }
            if rng.chance(40) {
                case.fields
                    .push(("x-amz-meta-owner", corpus::segment(&mut rng)));
            }
            if rng.chance(20) {
                case.fields.push(("acl", "private".into()));
            }
            if rng.chance(60) {
                let max = rng.next() >> 34;
                case.length_range = Some((max / 3, max));
            }
            case
        })
        .collect()
}

fn our_post(case: &PostCase, key: &HmacKey) -> (String, Vec<(String, String)>) {
    let fields: Vec<(&str, &str)> = case.fields.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let mut conditions = Vec::new();
    if let Some((min, max)) = case.length_range {
        conditions.push(Condition::ContentLengthRange { min, max });
    }
    if let Some(prefix) = case.type_prefix {
        conditions.push(Condition::StartsWith {
            field: "Content-Type",
            prefix,
        });
    }
    let endpoint = endpoint_of(&case.place);
    let policy = sign_post_policy(
        &PostPolicyRequest {
            endpoint: &endpoint,
            style: case.place.style,
            region: case.place.region,
            bucket: case.place.bucket,
            key: if case.prefix {
                Key::Prefix(&case.key)
            } else {
                Key::Exact(&case.key)
            },
            fields: &fields,
            conditions: &conditions,
            timestamp: case.timestamp,
            expires_in: case.expires_in,
        },
        key,
    )
    .unwrap();
    (policy.url, policy.fields)
}

/// botocore's inputs: `Conditions` are ours in the documented order (`s3_post.rs`): the
/// other conditions, then one `{name: value}` per pinned field.
fn oracle_post_case(case: &PostCase) -> Value {
    let mut conditions: Vec<Value> = Vec::new();
    if let Some((min, max)) = case.length_range {
        conditions.push(json!(["content-length-range", min, max]));
    }
    if let Some(prefix) = case.type_prefix {
        conditions.push(json!(["starts-with", "$Content-Type", prefix]));
    }
    for (name, value) in &case.fields {
        conditions.push(json!({ *name: value }));
    }
    let key = if case.prefix {
        format!("{}${{filename}}", case.key)
    } else {
        case.key.clone()
    };
    json!({
        "endpoint": case.place.endpoint,
        "region": case.place.region,
        "style": style_name(case.place.style),
        "bucket": case.place.bucket,
        "key": key,
        "fields": case.fields,
        "conditions": conditions,
        "expires_in": case.expires_in,
        "timestamp": request_timestamp(case.timestamp),
    })
}

fn compare_posts(cases: &[PostCase], session_token: Option<&str>) -> (usize, Vec<String>) {
    let key = access_key(session_token);
    let answer = oracle::run_oracle(
        "s3_signer.py",
        &json!({
            "mode": "post",
            "access_key": ACCESS_KEY,
            "secret_key": SECRET_KEY,
            "session_token": session_token,
            "cases": cases.iter().map(oracle_post_case).collect::<Vec<_>>(),
        }),
    );
    let expected = answer["posts"].as_array().unwrap();
    assert_eq!(expected.len(), cases.len());
    let mismatches = cases
        .iter()
        .zip(expected)
        .filter_map(|(case, botocore)| {
            let (url, fields) = our_post(case, &key);
            let botocore_fields: Vec<(String, String)> =
                serde_json::from_value(botocore["fields"].clone()).unwrap();
            let same = url == botocore["url"].as_str().unwrap() && fields == botocore_fields;
            (!same).then(|| {
                format!(
                    "POST {:?} (prefix: {}) at {:?} ({}, {}, bucket {})\n  ours:     {url} {fields:?}\n  botocore: {botocore}",
                    case.key,
                    case.prefix,
                    case.place.endpoint,
                    case.place.region,
                    style_name(case.place.style),
                    case.place.bucket
                )
            })
        })
        .collect();
    (cases.len(), mismatches)
}

#[test]
fn post_policies_match_botocore_for_generated_forms() {
    let cases = post_cases(1000, 0x5EED_B057);
    assert_none_differ("S3 POST policies", compare_posts(&cases, None));
}

#[test]
fn post_policies_with_a_session_token_match_botocore() {
    let cases = post_cases(100, 0x5EED_B058);
    assert_none_differ(
        "S3 POST policies with a session token",
        compare_posts(&cases, Some(SESSION_TOKEN)),
    );
}
