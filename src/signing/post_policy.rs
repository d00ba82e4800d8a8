//! V4 POST policies: a signed form that lets a browser upload with a plain `<form>` POST.
//!
//! The policy document is JSON written the way Google's Python client writes it
//! (`json.dumps(..., separators=(",", ":"))`, ASCII only, keys `conditions` then
//! `expiration`); its base64 is both the `policy` field and the string to sign. Conditions are
//! the caller's, then the form fields in sorted order, then `bucket`, `key`, `x-goog-date`,
//! `x-goog-credential`, `x-goog-algorithm` (`Client.generate_signed_post_policy_v4`).
//!
//! S3's POST policies (`s3_post.rs`) are the same kind of document, punctuated as botocore's
//! `json.dumps` does by default; the JSON writing here serves both (`JsonStyle`).

use std::fmt::{self, Write as _};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::encoding::lower_hex;
use super::hmac::HmacKey;
use super::v4::{self, HMAC_ALGORITHM, RSA_ALGORITHM, UrlStyle};
use super::{SignError, Signer};

/// A condition of the policy besides the form fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition<'a> {
    /// `["starts-with", "$field", prefix]`
    StartsWith { field: &'a str, prefix: &'a str },
    /// `["content-length-range", min, max]`
    ContentLengthRange { min: u64, max: u64 },
}

/// Which object names the form may upload to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key<'a> {
    /// `{"key": name}`
    Exact(&'a str),
    /// `["starts-with", "$key", prefix]`; the form's `key` field is `prefix${filename}`.
    Prefix(&'a str),
}

#[derive(Debug, Clone, Copy)]
pub struct PolicyRequest<'a> {
    pub bucket: &'a str,
    pub key: Key<'a>,
    pub style: UrlStyle<'a>,
    /// Form fields that the policy pins to exact values (`content-type`,
    /// `success_action_redirect`, `x-goog-meta-*`, ...).
    pub fields: &'a [(&'a str, &'a str)],
    pub conditions: &'a [Condition<'a>],
    pub timestamp: OffsetDateTime,
    pub expires_in: u32,
}

/// What the browser needs: where to POST, and the fields to send before the file. The
/// fields are a credential, like a signed URL: `Debug` shows their names only.
#[derive(Clone, PartialEq, Eq)]
pub struct PostPolicy {
    pub url: String,
    pub fields: Vec<(String, String)>,
    /// The decoded policy document, for tests and documentation.
    pub document: String,
}

impl fmt::Debug for PostPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.fields.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("PostPolicy")
            .field("url", &self.url)
            .field("fields", &names)
            .finish_non_exhaustive()
    }
}

struct Prepared {
    url: String,
    fields: Vec<(String, String)>,
    document: String,
    encoded: String,
}

fn prepare(request: &PolicyRequest<'_>, algorithm: &str, access_id: &str) -> Prepared {
    let timestamp = v4::request_timestamp(request.timestamp);
    let credential = format!("{access_id}/{}", v4::credential_scope(request.timestamp));
    let expiration = (request.timestamp + time::Duration::seconds(request.expires_in.into()))
        .format(&Rfc3339)
        .unwrap_or_default();

    let style = JsonStyle::Compact;
    let mut conditions: Vec<String> = request
        .conditions
        .iter()
        .map(|condition| condition.to_json(style))
        .collect();
    let mut fields: Vec<(&str, &str)> = request.fields.to_vec();
    fields.sort_unstable();
    conditions.extend(fields.iter().map(|(n, v)| json_object(n, v, style)));
    conditions.push(json_object("bucket", request.bucket, style));
    conditions.push(request.key.to_json(style));
    conditions.push(json_object("x-goog-date", &timestamp, style));
    conditions.push(json_object("x-goog-credential", &credential, style));
    conditions.push(json_object("x-goog-algorithm", algorithm, style));
    let document = json_document(
        &[
            ("conditions", json_array(&conditions, style)),
            ("expiration", json_string(&expiration)),
        ],
        style,
    );
    let encoded = encode_policy(&document);

    let mut form: Vec<(String, String)> = fields
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect();
    form.extend([
        ("key".to_owned(), request.key.field_value()),
        ("x-goog-algorithm".to_owned(), algorithm.to_owned()),
        ("x-goog-credential".to_owned(), credential),
        ("x-goog-date".to_owned(), timestamp),
    ]);
    Prepared {
        url: form_url(request),
        fields: form,
        document,
        encoded,
    }
}

impl Prepared {
    fn finish(mut self, signature_hex: String) -> PostPolicy {
        self.fields
            .push(("x-goog-signature".to_owned(), signature_hex));
        self.fields.push(("policy".to_owned(), self.encoded));
        PostPolicy {
            url: self.url,
            fields: self.fields,
            document: self.document,
        }
    }
}

/// Signs the policy with the service account's RSA key.
pub fn sign_rsa(
    request: &PolicyRequest<'_>,
    signer: &impl Signer,
) -> Result<PostPolicy, SignError> {
    let prepared = prepare(request, RSA_ALGORITHM, signer.google_access_id());
    let signature = signer.sign_rsa_sha256(prepared.encoded.as_bytes())?;
    Ok(prepared.finish(lower_hex(&signature)))
}

/// Signs the policy with an HMAC key.
pub fn sign_hmac(request: &PolicyRequest<'_>, key: &HmacKey) -> PostPolicy {
    let prepared = prepare(request, HMAC_ALGORITHM, key.access_id());
    let date = &v4::request_timestamp(request.timestamp)[..8];
    let signature = key.sign(date, prepared.encoded.as_bytes());
    prepared.finish(signature)
}

fn form_url(request: &PolicyRequest<'_>) -> String {
    match request.style {
        UrlStyle::Path { endpoint } => format!("{endpoint}/{}/", request.bucket),
        UrlStyle::VirtualHosted { endpoint } => {
            let (scheme, authority) = endpoint.split_once("://").unwrap_or(("https", endpoint));
            let authority = authority.split('/').next().unwrap_or_default();
            format!("{scheme}://{}.{authority}/", request.bucket)
        }
        UrlStyle::BucketBound { scheme, hostname } => {
            if hostname.contains("://") {
                format!("{hostname}/")
            } else {
                format!("{scheme}://{hostname}/")
            }
        }
    }
}

/// How a policy document's JSON is punctuated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JsonStyle {
    /// `json.dumps(..., separators=(",", ":"))`, as Google's client writes it.
    Compact,
    /// `json.dumps(...)` with Python's default separators `", "` and `": "`, as botocore
    /// writes it (`S3SigV4PostAuth.add_auth`).
    Spaced,
}

impl JsonStyle {
    fn item_separator(self) -> &'static str {
        match self {
            Self::Compact => ",",
            Self::Spaced => ", ",
        }
    }

    fn key_separator(self) -> &'static str {
        match self {
            Self::Compact => ":",
            Self::Spaced => ": ",
        }
    }
}

impl Condition<'_> {
    /// `["starts-with", "$field", prefix]` or `["content-length-range", min, max]`.
    pub(crate) fn to_json(self, style: JsonStyle) -> String {
        match self {
            Condition::StartsWith { field, prefix } => json_array(
                &[
                    json_string("starts-with"),
                    json_string(&format!("${field}")),
                    json_string(prefix),
                ],
                style,
            ),
            Condition::ContentLengthRange { min, max } => json_array(
                &[
                    json_string("content-length-range"),
                    min.to_string(),
                    max.to_string(),
                ],
                style,
            ),
        }
    }
}

impl Key<'_> {
    /// The policy's condition on the key: `{"key": name}` or `["starts-with", "$key", prefix]`.
    pub(crate) fn to_json(self, style: JsonStyle) -> String {
        match self {
            Key::Exact(name) => json_object("key", name, style),
            Key::Prefix(prefix) => Condition::StartsWith {
                field: "key",
                prefix,
            }
            .to_json(style),
        }
    }

    /// The form's `key` field: the name, or `prefix${filename}` (the storage service puts the
    /// uploaded file's name in place of `${filename}`).
    pub(crate) fn field_value(&self) -> String {
        match self {
            Key::Exact(name) => (*name).to_owned(),
            Key::Prefix(prefix) => format!("{prefix}${{filename}}"),
        }
    }
}

/// `{"name": "value"}`
pub(crate) fn json_object(name: &str, value: &str, style: JsonStyle) -> String {
    json_document(&[(name, json_string(value))], style)
}

/// `[item, item]`, items already JSON.
pub(crate) fn json_array(items: &[String], style: JsonStyle) -> String {
    format!("[{}]", items.join(style.item_separator()))
}

/// `{"name": value, ...}` in the given order, values already JSON.
pub(crate) fn json_document(members: &[(&str, String)], style: JsonStyle) -> String {
    let members: Vec<String> = members
        .iter()
        .map(|(name, value)| format!("{}{}{value}", json_string(name), style.key_separator()))
        .collect();
    format!("{{{}}}", members.join(style.item_separator()))
}

/// The `policy` field and string to sign: the document's UTF-8 (ASCII, in fact) in base64.
pub(crate) fn encode_policy(document: &str) -> String {
    BASE64.encode(document)
}

/// A JSON string as Python's `json.dumps` writes it with `ensure_ascii=True`: `"` and `\`
/// escaped, control characters as short escapes or `\u00XX`, everything outside ASCII as
/// `\uXXXX` (UTF-16, so two escapes for characters beyond the BMP), `/` left alone.
pub(crate) fn json_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn post_policy_debug_shows_field_names_only() {
        let policy = PostPolicy {
            url: "https://b.example/".into(),
            fields: vec![("x-goog-signature".into(), "c2VjcmV0".into())],
            document: "{}".into(),
        };
        let debug = format!("{policy:?}");
        assert!(debug.contains("x-goog-signature"), "{debug}");
        assert!(!debug.contains("c2VjcmV0"), "{debug}");
    }

    #[test]
    fn spaced_json_is_punctuated_like_python_json_dumps_defaults() {
        // json.dumps({"conditions": [["content-length-range", 0, 5], {"key": "a"}]})
        let style = JsonStyle::Spaced;
        let conditions = [
            Condition::ContentLengthRange { min: 0, max: 5 }.to_json(style),
            Key::Exact("a").to_json(style),
        ];
        assert_eq!(
            json_document(&[("conditions", json_array(&conditions, style))], style),
            r#"{"conditions": [["content-length-range", 0, 5], {"key": "a"}]}"#
        );
    }

    #[test]
    fn json_strings_are_escaped_like_python_json_dumps() {
        // json.dumps("a\"b\\c/é\n😀\u0001") in Python 3.
        assert_eq!(
            json_string("a\"b\\c/é\n😀\u{1}"),
            r#""a\"b\\c/\u00e9\n\ud83d\ude00\u0001""#
        );
    }
}
