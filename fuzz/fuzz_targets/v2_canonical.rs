//! V2 canonicalisation (`string_to_sign`, `canonical_resource`, `canonical_extension_headers`,
//! `signed_url`) for arbitrary requests. The signing layer takes any strings (the API layer
//! decides which it accepts), so none may panic, and the output keeps Google's grammar:
//!
//! ```text
//! Verb \n Content-MD5 \n Content-Type \n Expires \n (name:value \n)* /bucket/encoded-object
//! ```

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use storage_signer::signing::encoding::{encode_form_value, encode_object_name};
use storage_signer::signing::v2::{
    V2Request, canonical_extension_headers, canonical_resource, signed_url, string_to_sign,
};

#[derive(Debug, Arbitrary)]
struct Input<'a> {
    method: &'a str,
    bucket: &'a str,
    object: &'a str,
    content_md5: Option<&'a str>,
    content_type: Option<&'a str>,
    extension_headers: Vec<(&'a str, &'a str)>,
    expires: u64,
    endpoint: &'a str,
    access_id: &'a str,
    signature: &'a [u8],
}

fuzz_target!(|input: Input<'_>| {
    let request = V2Request {
        method: input.method,
        bucket: input.bucket,
        object: input.object,
        content_md5: input.content_md5,
        content_type: input.content_type,
        extension_headers: &input.extension_headers,
        expires: input.expires,
    };

    let resource = canonical_resource(input.bucket, input.object);
    assert_eq!(
        resource,
        format!("/{}/{}", input.bucket, encode_object_name(input.object))
    );

    let headers = canonical_extension_headers(&input.extension_headers);
    check_headers(&input.extension_headers, &headers);

    let text = string_to_sign(&request);
    let mut expected = format!(
        "{}\n{}\n{}\n{}\n",
        input.method,
        input.content_md5.unwrap_or_default(),
        input.content_type.unwrap_or_default(),
        input.expires
    );
    for line in &headers {
        expected.push_str(line);
        expected.push('\n');
    }
    expected.push_str(&resource);
    assert_eq!(text, expected);

    let url = signed_url(input.endpoint, &request, input.access_id, input.signature);
    let url = url.expose();
    let query = url
        .strip_prefix(input.endpoint)
        .and_then(|rest| rest.strip_prefix(resource.as_str()))
        .and_then(|rest| rest.strip_prefix('?'))
        .expect("endpoint, resource, then the query");
    let access_id = format!("GoogleAccessId={}", encode_form_value(input.access_id));
    let pairs: Vec<&str> = query.split('&').collect();
    assert_eq!(pairs.len(), 3, "{query:?}");
    assert_eq!(pairs[0], format!("Expires={}", input.expires));
    assert_eq!(pairs[1], access_id);
    let signature = pairs[2].strip_prefix("Signature=").expect("Signature last");
    // Base64 of the signature, form-encoded: `+`, `/` and `=` escaped.
    assert!(
        signature
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'%'),
        "{signature:?}"
    );
});

/// Canonical extension headers, as documented in `signing::headers`: one `name:value` line
/// per distinct name, names trimmed and lower-cased, sorted; values with runs of white space
/// folded to one space and trimmed; values of a repeated name joined with `,` in order.
fn check_headers(raw: &[(&str, &str)], lines: &[String]) {
    let mut names: Vec<String> = raw
        .iter()
        .map(|(name, _)| name.trim().to_ascii_lowercase())
        .collect();
    names.sort();
    names.dedup();
    assert_eq!(lines.len(), names.len());
    for (line, name) in lines.iter().zip(&names) {
        assert_eq!(name.trim(), name);
        assert!(!name.bytes().any(|b| b.is_ascii_uppercase()), "{line:?}");
        let value = line
            .strip_prefix(name.as_str())
            .and_then(|rest| rest.strip_prefix(':'))
            .unwrap_or_else(|| panic!("{line:?} is not {name:?}:value"));
        assert!(
            !value.chars().any(|c| c.is_whitespace() && c != ' '),
            "{line:?}"
        );
        assert!(!value.contains("  "), "{line:?}");
        let parts: Vec<String> = raw
            .iter()
            .filter(|(raw_name, _)| raw_name.trim().eq_ignore_ascii_case(name))
            .map(|(_, value)| value.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        assert_eq!(value, parts.join(","), "{line:?}");
    }
}
