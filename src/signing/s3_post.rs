//! S3 POST policies (browser uploads with a plain `<form>`, AWS Signature Version 4), byte for
//! byte as botocore's `generate_presigned_post` builds them (`signers.py`,
//! `auth.py` `S3SigV4PostAuth`; <https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-HTTPPOSTConstructPolicy.html>).
//!
//! The document is `json.dumps(policy)` with Python's defaults: `", "` and `": "` between
//! items, non-ASCII as `\uXXXX`, and `expiration` *before* `conditions`:
//!
//! ```text
//! {"expiration": "YYYY-MM-DDTHH:MM:SSZ", "conditions": [
//!     <caller's conditions>, {"bucket": b}, <key condition>,
//!     {"x-amz-algorithm": "AWS4-HMAC-SHA256"}, {"x-amz-credential": id/scope},
//!     {"x-amz-date": YYYYMMDDTHHMMSSZ}[, {"x-amz-security-token": token}]]}
//! ```
//!
//! Its base64 is the `policy` field and the string to sign, signed with the same derived key
//! as a presigned URL. The form's fields are the caller's, then `key`, `x-amz-algorithm`,
//! `x-amz-credential`, `x-amz-date`, (`x-amz-security-token`), `policy`, `x-amz-signature`.
//! A key ending in `${filename}` gets `["starts-with", "$key", <the rest>]` rather than an
//! exact condition, since S3 replaces `${filename}` with the uploaded file's name.

use time::OffsetDateTime;

use super::hmac::HmacKey;
use super::post_policy::{
    Condition, JsonStyle, Key, PostPolicy, encode_policy, json_array, json_document, json_object,
    json_string,
};
use super::s3::{AddressingStyle, S3Error, locate_bucket};
use super::v4::{self, AWS_HMAC_ALGORITHM, Dialect};
use crate::timestamp;

/// Names the signer writes itself; a caller's field of the same name (any case) is refused.
const RESERVED_FIELDS: [&str; 8] = [
    "key",
    "bucket",
    "policy",
    "x-amz-algorithm",
    "x-amz-credential",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-signature",
];

/// An S3 form upload to sign.
#[derive(Debug, Clone, Copy)]
pub struct PostPolicyRequest<'a> {
    /// As in [`super::s3::PresignRequest::endpoint`].
    pub endpoint: &'a str,
    pub style: AddressingStyle,
    pub region: &'a str,
    pub bucket: &'a str,
    pub key: Key<'a>,
    /// Form fields pinned to exact values, in this order (`Content-Type`,
    /// `success_action_status`, `x-amz-meta-*`, ...): each is a form field and a
    /// `{"name": "value"}` condition.
    pub fields: &'a [(&'a str, &'a str)],
    /// Other conditions (`content-length-range`, `starts-with` on `$Content-Type`, ...), in
    /// the document before the fields' conditions.
    pub conditions: &'a [Condition<'a>],
    /// The request time (`x-amz-date`); the policy expires `expires_in` seconds later.
    pub timestamp: OffsetDateTime,
    pub expires_in: u32,
}

/// Signs the policy with an S3 access key: the form's URL, fields and decoded document.
pub fn sign_post_policy(
    request: &PostPolicyRequest<'_>,
    key: &HmacKey,
) -> Result<PostPolicy, S3Error> {
    if let Some((name, _)) = request
        .fields
        .iter()
        .find(|(name, _)| RESERVED_FIELDS.iter().any(|r| r.eq_ignore_ascii_case(name)))
    {
        return Err(S3Error::ReservedField((*name).to_owned()));
    }
    let url = locate_bucket(request.endpoint, request.style, request.bucket)?.form_url();
    let dialect = Dialect::s3(request.region);
    let timestamp = v4::request_timestamp(request.timestamp);
    let date = &timestamp[..8];
    let credential = format!("{}/{}", key.access_id(), dialect.credential_scope(date));
    // strftime('%Y-%m-%dT%H:%M:%SZ') of now + expires_in: whole seconds.
    let expiration =
        timestamp::iso8601(request.timestamp + time::Duration::seconds(request.expires_in.into()));

    let style = JsonStyle::Spaced;
    let mut conditions: Vec<String> = request
        .conditions
        .iter()
        .map(|condition| condition.to_json(style))
        .collect();
    conditions.extend(
        request
            .fields
            .iter()
            .map(|(name, value)| json_object(name, value, style)),
    );
    conditions.push(json_object("bucket", request.bucket, style));
    conditions.push(key_condition(request.key).to_json(style));
    let mut signer_fields = vec![
        ("x-amz-algorithm", AWS_HMAC_ALGORITHM.to_owned()),
        ("x-amz-credential", credential),
        ("x-amz-date", timestamp.clone()),
    ];
    if let Some(token) = key.session_token() {
        signer_fields.push(("x-amz-security-token", token.to_owned()));
    }
    conditions.extend(
        signer_fields
            .iter()
            .map(|(name, value)| json_object(name, value, style)),
    );
    let document = json_document(
        &[
            ("expiration", json_string(&expiration)),
            ("conditions", json_array(&conditions, style)),
        ],
        style,
    );
    let encoded = encode_policy(&document);
    let signature = key.sign_in(&dialect, date, encoded.as_bytes());

    let mut fields: Vec<(String, String)> = request
        .fields
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect();
    fields.push(("key".to_owned(), request.key.field_value()));
    fields.extend(
        signer_fields
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value)),
    );
    fields.push(("policy".to_owned(), encoded));
    fields.push(("x-amz-signature".to_owned(), signature));
    Ok(PostPolicy {
        url,
        fields,
        document,
    })
}

/// botocore: a key that ends in `${filename}` can only be pinned by its prefix.
fn key_condition(key: Key<'_>) -> Key<'_> {
    match key {
        Key::Exact(name) => name
            .strip_suffix("${filename}")
            .map_or(Key::Exact(name), Key::Prefix),
        prefix @ Key::Prefix(_) => prefix,
    }
}

#[cfg(test)]
mod tests {
    use zeroize::Zeroizing;

    use super::*;

    fn example_key() -> HmacKey {
        HmacKey::new(
            "AKIAIOSFODNN7EXAMPLE",
            Zeroizing::new("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into()),
        )
    }

    #[test]
    fn signature_of_aws_published_post_example() {
        // AWS, "Example: Browser-Based Upload using HTTP POST (Using AWS Signature Version 4)"
        // (docs.aws.amazon.com/AmazonS3/latest/API/sigv4-post-example.html): the base64 of
        // its hand-written policy (CRLF line ends, so no writer reproduces the document) is
        // the string to sign; signed for 20151229/us-east-1/s3 it gives the published
        // x-amz-signature. This checks the signing step of POST policies.
        let policy = "eyAiZXhwaXJhdGlvbiI6ICIyMDE1LTEyLTMwVDEyOjAwOjAwLjAwMFoiLA0KICAiY29uZGl0aW9ucyI6IFsNCiAgICB7ImJ1Y2tldCI6ICJzaWd2NGV4YW1wbGVidWNrZXQifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRrZXkiLCAidXNlci91c2VyMS8iXSwNCiAgICB7ImFjbCI6ICJwdWJsaWMtcmVhZCJ9LA0KICAgIHsic3VjY2Vzc19hY3Rpb25fcmVkaXJlY3QiOiAiaHR0cDovL3NpZ3Y0ZXhhbXBsZWJ1Y2tldC5zMy5hbWF6b25hd3MuY29tL3N1Y2Nlc3NmdWxfdXBsb2FkLmh0bWwifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRDb250ZW50LVR5cGUiLCAiaW1hZ2UvIl0sDQogICAgeyJ4LWFtei1tZXRhLXV1aWQiOiAiMTQzNjUxMjM2NTEyNzQifSwNCiAgICB7IngtYW16LXNlcnZlci1zaWRlLWVuY3J5cHRpb24iOiAiQUVTMjU2In0sDQogICAgWyJzdGFydHMtd2l0aCIsICIkeC1hbXotbWV0YS10YWciLCAiIl0sDQoNCiAgICB7IngtYW16LWNyZWRlbnRpYWwiOiAiQUtJQUlPU0ZPRE5ON0VYQU1QTEUvMjAxNTEyMjkvdXMtZWFzdC0xL3MzL2F3czRfcmVxdWVzdCJ9LA0KICAgIHsieC1hbXotYWxnb3JpdGhtIjogIkFXUzQtSE1BQy1TSEEyNTYifSwNCiAgICB7IngtYW16LWRhdGUiOiAiMjAxNTEyMjlUMDAwMDAwWiIgfQ0KICBdDQp9";
        assert_eq!(
            example_key().sign_in(&Dialect::s3("us-east-1"), "20151229", policy.as_bytes()),
            "8afdbf4008c03f22c2cd3cdb72e4afbb1f6a588f3255ac628749a66d7f09699e"
        );
    }

    fn request<'a>(key: Key<'a>, fields: &'a [(&'a str, &'a str)]) -> PostPolicyRequest<'a> {
        PostPolicyRequest {
            endpoint: "https://s3.amazonaws.com",
            style: AddressingStyle::VirtualHosted,
            region: "us-east-1",
            bucket: "sigv4examplebucket",
            key,
            fields,
            conditions: &[Condition::ContentLengthRange { min: 1, max: 10 }],
            // 2015-12-29T00:00:00Z, for a day.
            timestamp: time::macros::datetime!(2015-12-29 00:00:00 UTC),
            expires_in: 86_400,
        }
    }

    #[test]
    fn document_is_ordered_and_punctuated_as_botocore_writes_it() {
        let policy = sign_post_policy(
            &request(Key::Prefix("user/user1/"), &[("acl", "public-read")]),
            &example_key(),
        )
        .unwrap();
        assert_eq!(policy.url, "https://sigv4examplebucket.s3.amazonaws.com/");
        assert_eq!(
            policy.document,
            concat!(
                r#"{"expiration": "2015-12-30T00:00:00Z", "conditions": ["#,
                r#"["content-length-range", 1, 10], {"acl": "public-read"}, "#,
                r#"{"bucket": "sigv4examplebucket"}, ["starts-with", "$key", "user/user1/"], "#,
                r#"{"x-amz-algorithm": "AWS4-HMAC-SHA256"}, "#,
                r#"{"x-amz-credential": "AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/s3/aws4_request"}, "#,
                r#"{"x-amz-date": "20151229T000000Z"}]}"#
            )
        );
        let names: Vec<&str> = policy.fields.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "acl",
                "key",
                "x-amz-algorithm",
                "x-amz-credential",
                "x-amz-date",
                "policy",
                "x-amz-signature"
            ]
        );
        assert_eq!(policy.fields[1].1, "user/user1/${filename}");
    }

    #[test]
    fn exact_key_ending_in_filename_variable_is_a_prefix_condition() {
        let policy =
            sign_post_policy(&request(Key::Exact("in/${filename}"), &[]), &example_key()).unwrap();
        assert!(
            policy
                .document
                .contains(r#"["starts-with", "$key", "in/"]"#),
            "{}",
            policy.document
        );
    }

    #[test]
    fn session_token_is_a_field_and_a_condition() {
        let key = example_key().with_session_token(Zeroizing::new("tok".into()));
        let policy = sign_post_policy(&request(Key::Exact("a"), &[]), &key).unwrap();
        assert!(
            policy
                .document
                .contains(r#"{"x-amz-security-token": "tok"}]}"#)
        );
        assert_eq!(
            policy.fields[4],
            ("x-amz-security-token".into(), "tok".into())
        );
    }

    #[test]
    fn refuses_fields_the_signer_writes() {
        for name in ["key", "Policy", "X-Amz-Signature"] {
            assert_eq!(
                sign_post_policy(&request(Key::Exact("a"), &[(name, "x")]), &example_key()),
                Err(S3Error::ReservedField(name.into()))
            );
        }
    }
}
