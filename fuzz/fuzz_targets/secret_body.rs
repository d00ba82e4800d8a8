//! Request bodies of `POST /media_content_storage_secrets` and `POST /upload_policies`, as
//! arbitrary bytes through the handlers' parsing (`storage_signer::request::fuzzing`).
//!
//! Nothing may panic, and what is accepted must satisfy the rules the rest of the service
//! trusts: a known bucket, valid object names, limits within range.

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use storage_signer::domain::{BucketName, MAX_OBJECT_NAME_BYTES, MAX_OBJECT_SIZE, ObjectName};
use storage_signer::request::fuzzing::{
    FormKey, FormRequest, Refused, SecretRequest, parse_policy_body, parse_secret_body,
};

static KNOWN_BUCKETS: LazyLock<Vec<BucketName>> = LazyLock::new(|| {
    ["media", "my.bucket.example", "b_1"]
        .into_iter()
        .map(|name| BucketName::parse(name).expect("a valid bucket name"))
        .collect()
});

fuzz_target!(|data: &[u8]| {
    match parse_secret_body(data, &KNOWN_BUCKETS) {
        Ok(secret) => check_secret(&secret),
        Err(refused) => check_refused(&refused, "$.secret"),
    }
    match parse_policy_body(data, &KNOWN_BUCKETS) {
        Ok(policy) => check_policy(&policy),
        Err(refused) => check_refused(&refused, "$.policy"),
    }
});

fn check_refused(refused: &Refused, member: &str) {
    if let Refused::Invalid(entries) = refused {
        assert!(!entries.is_empty(), "a 422 lists at least one entry");
        for entry in entries {
            assert!(
                entry.entry == "$" || entry.entry.starts_with(member),
                "{entry:?}"
            );
            assert!(!entry.rules.is_empty(), "{entry:?}");
        }
    }
}

/// Visible ASCII and inner spaces, at most 256 bytes, and never more than one media type: no
/// comma, no quote, and one `/` before any parameter.
fn check_content_type(value: &str) {
    check_header_value(value);
    assert!(!value.contains(['"', ',']), "{value:?}");
    let essence = value.split(';').next().unwrap_or_default();
    assert_eq!(essence.matches('/').count(), 1, "{value:?}");
}

fn check_header_value(value: &str) {
    assert!(value.is_ascii() && value.len() <= 256, "{value:?}");
    assert!(!value.chars().any(char::is_control), "{value:?}");
    assert_eq!(value.trim(), value);
}

fn check_secret(secret: &SecretRequest) {
    assert!(KNOWN_BUCKETS.contains(&secret.bucket));
    let expected = match &secret.resource_name {
        Some(name) => format!("{}/{name}", secret.resource_id),
        None => secret.resource_id.clone(),
    };
    assert_eq!(secret.object.as_str(), expected);
    assert!(secret.object.as_str().len() <= MAX_OBJECT_NAME_BYTES);
    assert!(ObjectName::parse(secret.object.as_str()).is_ok());
    assert!(ObjectName::parse(&secret.resource_id).is_ok());
    // An empty `resource_name` counts as absent.
    assert_ne!(secret.resource_name.as_deref(), Some(""));
    if let Some(content_type) = &secret.content_type {
        check_content_type(content_type.as_str());
    }
    if let Some(md5) = &secret.content_md5 {
        // Base64 of 16 bytes, padded.
        assert!(
            md5.as_str().len() == 24 && md5.as_str().ends_with("=="),
            "{md5:?}"
        );
    }
    if let Some(expires_in) = secret.expires_in {
        assert!((1..=604_800).contains(&expires_in), "{expires_in}");
    }
    if let Some(generation) = secret.if_generation_match {
        assert!(i64::try_from(generation).is_ok(), "{generation}");
    }
    if let Some(range) = secret.content_length_range {
        assert!(secret.action.is_upload(), "{secret:?}");
        assert!(
            range.min <= range.max && range.max <= MAX_OBJECT_SIZE,
            "{range:?}"
        );
    }
}

fn check_policy(policy: &FormRequest) {
    assert!(KNOWN_BUCKETS.contains(&policy.bucket));
    match &policy.key {
        FormKey::Exact(name) => assert!(ObjectName::parse(name.as_str()).is_ok()),
        FormKey::Prefix(prefix) => {
            let name = prefix.strip_suffix('/').unwrap_or(prefix);
            assert!(ObjectName::parse(name).is_ok(), "{prefix:?}");
        }
    }
    assert!(
        policy.content_type.is_none() || policy.content_type_prefix.is_none(),
        "{policy:?}"
    );
    if let Some(content_type) = &policy.content_type {
        check_content_type(content_type.as_str());
    }
    if let Some(prefix) = &policy.content_type_prefix {
        check_header_value(prefix);
        assert!(!prefix.contains([',', ';', ' ', '"']), "{prefix:?}");
    }
    if let Some(range) = policy.content_length_range {
        assert!(
            range.min <= range.max && range.max <= MAX_OBJECT_SIZE,
            "{range:?}"
        );
    }
    // Sorted by name, each name `x-goog-meta-` and 1 to 64 of a-z 0-9 - _, no control
    // characters in the values.
    assert!(policy.metadata.windows(2).all(|pair| pair[0].0 < pair[1].0));
    for (name, value) in &policy.metadata {
        let suffix = name
            .strip_prefix("x-goog-meta-")
            .expect("x-goog-meta- name");
        assert!((1..=64).contains(&suffix.len()), "{name:?}");
        assert!(
            suffix
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'),
            "{name:?}"
        );
        assert!(!value.chars().any(char::is_control), "{value:?}");
    }
    if let Some(url) = &policy.success_action_redirect {
        assert!(
            url.starts_with("https://") || url.starts_with("http://"),
            "{url:?}"
        );
        assert!(url.len() <= 2048);
    }
    if let Some(status) = policy.success_action_status {
        assert!(matches!(status, "200" | "201" | "204"), "{status}");
    }
    if let Some(expires_in) = policy.expires_in {
        assert!((1..=604_800).contains(&expires_in), "{expires_in}");
    }
}
