//! V4 canonicalisation (`v4::prepare`, and `hmac::sign_url` on top) for arbitrary requests:
//! any method, bucket, object, URL style, headers, query parameters, request time and
//! lifetime. None may panic, and the output keeps the documented grammar:
//!
//! ```text
//! CanonicalRequest = VERB \n PATH \n QUERY \n HEADERS \n SIGNED_HEADERS \n PAYLOAD
//! StringToSign     = ALGORITHM \n YYYYMMDDTHHMMSSZ \n YYYYMMDD/auto/storage/goog4_request \n HEX
//! ```

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use storage_signer::signing::encoding::{encode_object_name, encode_query_component};
use storage_signer::signing::hmac::{HmacKey, sign_url};
use storage_signer::signing::v4::{
    HMAC_ALGORITHM, RSA_ALGORITHM, UrlStyle, V4Request, credential_scope, prepare,
    request_timestamp,
};
use time::{OffsetDateTime, UtcOffset};

#[derive(Debug, Arbitrary)]
enum Style<'a> {
    Path(&'a str),
    VirtualHosted(&'a str),
    BucketBound(&'a str, &'a str),
}

#[derive(Debug, Arbitrary)]
struct Input<'a> {
    method: &'a str,
    bucket: &'a str,
    object: Option<&'a str>,
    style: Style<'a>,
    headers: Vec<(&'a str, &'a str)>,
    query: Vec<(&'a str, &'a str)>,
    unix_seconds: i64,
    nanosecond: u32,
    offset_seconds: i32,
    expires_in: u32,
    hmac: bool,
    access_id: &'a str,
    secret: &'a str,
}

fuzz_target!(|input: Input<'_>| {
    // Any instant `time` can hold, seen from any offset it can be shown in: the service passes
    // `now_utc()`, but the signing layer converts whatever it gets to UTC.
    let min = OffsetDateTime::new_utc(time::Date::MIN, time::Time::MIDNIGHT).unix_timestamp();
    let max =
        OffsetDateTime::new_utc(time::Date::MAX, time::Time::MIDNIGHT).unix_timestamp() + 86_399;
    let utc = OffsetDateTime::from_unix_timestamp(input.unix_seconds.clamp(min, max))
        .expect("clamped into range")
        .replace_nanosecond(input.nanosecond % 1_000_000_000)
        .expect("nanosecond in range");
    let timestamp = UtcOffset::from_whole_seconds(input.offset_seconds % 93_600)
        .ok()
        .and_then(|offset| utc.checked_to_offset(offset))
        .unwrap_or(utc);

    let style = match input.style {
        Style::Path(endpoint) => UrlStyle::Path { endpoint },
        Style::VirtualHosted(endpoint) => UrlStyle::VirtualHosted { endpoint },
        Style::BucketBound(scheme, hostname) => UrlStyle::BucketBound { scheme, hostname },
    };
    let request = V4Request {
        method: input.method,
        bucket: input.bucket,
        object: input.object,
        style,
        headers: &input.headers,
        query: &input.query,
        timestamp,
        expires_in: input.expires_in,
    };
    let algorithm = if input.hmac {
        HMAC_ALGORITHM
    } else {
        RSA_ALGORITHM
    };
    let prepared = prepare(&request, algorithm, input.access_id);

    // StringToSign: four lines, the date and scope of the request time in UTC.
    let stamp = request_timestamp(timestamp);
    let scope = credential_scope(timestamp);
    check_timestamp(&stamp, utc);
    assert_eq!(scope, format!("{}/auto/storage/goog4_request", &stamp[..8]));
    let lines: Vec<&str> = prepared.string_to_sign.split('\n').collect();
    assert_eq!(lines.len(), 4, "{:?}", prepared.string_to_sign);
    assert_eq!(lines[..3], [algorithm, stamp.as_str(), scope.as_str()]);
    assert!(
        lines[3].len() == 64
            && lines[3]
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "{:?}",
        lines[3]
    );

    // CanonicalRequest: the verb, then the path to the encoded object.
    let encoded = input.object.map(encode_object_name);
    let path = match (&style, &encoded) {
        (UrlStyle::Path { .. }, Some(object)) => format!("/{}/{object}", input.bucket),
        (UrlStyle::Path { .. }, None) => format!("/{}", input.bucket),
        (_, object) => format!("/{}", object.as_deref().unwrap_or_default()),
    };
    let canonical = &prepared.canonical_request;
    let rest = canonical
        .strip_prefix(input.method)
        .and_then(|rest| rest.strip_prefix('\n'))
        .and_then(|rest| rest.strip_prefix(path.as_str()))
        .and_then(|rest| rest.strip_prefix('\n'))
        .unwrap_or_else(|| panic!("{canonical:?} does not start with verb and {path:?}"));
    if let Some(object) = &encoded {
        assert!(canonical.contains(object.as_str()));
    }

    // The query: sorted `name=value` pairs, each part percent-encoded, with the X-Goog-*
    // parameters; the URL carries the same query, then the signature.
    let (query, rest) = rest.split_once('\n').expect("query line");
    let pairs: Vec<&str> = query.split('&').collect();
    assert!(pairs.windows(2).all(|pair| pair[0] <= pair[1]), "{query:?}");
    assert_eq!(pairs.len(), input.query.len() + 5);
    for pair in &pairs {
        assert_eq!(pair.matches('=').count(), 1, "{pair:?}");
        assert!(
            pair.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~%=".contains(&b)),
            "{pair:?}"
        );
    }
    let has = |name: &str, value: &str| {
        pairs.contains(&format!("{name}={}", encode_query_component(value)).as_str())
    };
    assert!(has("X-Goog-Algorithm", algorithm), "{query:?}");
    assert!(has("X-Goog-Date", &stamp), "{query:?}");
    let credential = format!("{}/{scope}", input.access_id);
    assert!(has("X-Goog-Credential", &credential), "{query:?}");
    assert!(
        has("X-Goog-Expires", &input.expires_in.to_string()),
        "{query:?}"
    );
    for (name, value) in &input.query {
        let pair = format!(
            "{}={}",
            encode_query_component(name),
            encode_query_component(value)
        );
        assert!(pairs.contains(&pair.as_str()), "{pair:?} missing");
    }

    // Headers, then the signed headers (the canonical names, with `host` added unless the
    // request has one), then the payload (`x-goog-content-sha256` if given).
    let mut names: Vec<String> = input
        .headers
        .iter()
        .map(|(name, _)| name.trim().to_ascii_lowercase())
        .collect();
    if !names.iter().any(|name| name == "host") {
        names.push("host".to_owned());
    }
    names.sort();
    names.dedup();
    let signed_headers = names.join(";");
    assert!(has("X-Goog-SignedHeaders", &signed_headers), "{query:?}");
    let sha256: Vec<String> = input
        .headers
        .iter()
        .filter(|(name, _)| name.trim().eq_ignore_ascii_case("x-goog-content-sha256"))
        .map(|(_, value)| value.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    let payload = if sha256.is_empty() {
        "UNSIGNED-PAYLOAD".to_owned()
    } else {
        sha256.join(",")
    };
    let headers = rest
        .strip_suffix(&format!("\n{signed_headers}\n{payload}"))
        .unwrap_or_else(|| panic!("{rest:?} does not end with {signed_headers:?} and {payload:?}"));
    assert!(headers.ends_with('\n'), "{headers:?}");
    assert!(headers.starts_with("host:") || headers.contains("\nhost:"));

    let url = prepared.signed_url("00ff");
    let url = url.expose();
    assert!(
        url.ends_with(&format!("{path}?{query}&X-Goog-Signature=00ff")),
        "{url:?}"
    );

    // HMAC signing on top: the same URL, with a 64-hex-digit signature.
    if input.hmac {
        let key = HmacKey::new(input.access_id, input.secret.to_owned().into());
        let signed = sign_url(&request, &key);
        let (unsigned, signature) = signed
            .expose()
            .rsplit_once("&X-Goog-Signature=")
            .expect("signature last");
        assert_eq!(format!("{unsigned}&X-Goog-Signature=00ff"), url);
        assert!(signature.len() == 64 && signature.bytes().all(|b| b.is_ascii_hexdigit()));
    }
});

/// `YYYYMMDDTHHMMSSZ` of `utc`, whatever offset the request time was given in.
fn check_timestamp(stamp: &str, utc: OffsetDateTime) {
    let expected = format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        utc.year(),
        u8::from(utc.month()),
        utc.day(),
        utc.hour(),
        utc.minute(),
        utc.second()
    );
    assert_eq!(stamp, expected);
    if utc.year() >= 0 {
        assert_eq!(stamp.len(), 16, "{stamp:?}");
    }
}
