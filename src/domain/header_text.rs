//! Header values a URL signs besides `Content-Type` and `Content-MD5`: `Cache-Control`,
//! `Content-Disposition`, `x-goog-meta-*`, and the `response-content-disposition` of a
//! download.

use super::{Violation, find_control_character};

const MAX_HEADER_TEXT_BYTES: usize = 1024;

/// Visible ASCII with inner spaces, 1 to 1024 bytes. Browsers refuse control characters and
/// trim the ends of header values, and the signature covers the value as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderText(String);

impl HeaderText {
    pub fn parse(value: &str) -> Result<Self, Violation> {
        if let Some(found) = find_control_character(value) {
            return Err(Violation::new(
                "format",
                format!("must not contain control characters (found {found})"),
            ));
        }
        if !value.is_ascii() {
            return Err(Violation::new(
                "format",
                "must be ASCII (encode a non-ASCII file name as filename*=UTF-8''...)",
            ));
        }
        if value.trim() != value {
            return Err(Violation::new(
                "format",
                "must not start or end with white space",
            ));
        }
        if value.contains("  ") {
            // Canonical headers fold runs of spaces; a browser would send them unfolded.
            return Err(Violation::new("format", "must not contain runs of spaces"));
        }
        if value.len() > MAX_HEADER_TEXT_BYTES {
            return Err(Violation::new(
                "length",
                format!("must be at most {MAX_HEADER_TEXT_BYTES} bytes"),
            )
            .with_params(serde_json::json!({"max": MAX_HEADER_TEXT_BYTES})));
        }
        Ok(Self(value.to_owned()))
    }

    /// A `Content-Disposition` value: it starts with a disposition type (a token such as
    /// `attachment` or `inline`), then optional parameters (RFC 6266).
    pub fn parse_disposition(value: &str) -> Result<Self, Violation> {
        let text = Self::parse(value)?;
        let kind = value.split(';').next().unwrap_or_default().trim();
        let token = !kind.is_empty()
            && kind
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if token {
            Ok(text)
        } else {
            Err(Violation::new(
                "format",
                "must start with a disposition type such as attachment or inline",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The `<name>` of `x-goog-meta-<name>`: 1 to 64 of `a-z 0-9 - _`.
pub fn is_metadata_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_text_is_visible_ascii_with_single_inner_spaces() {
        assert!(HeaderText::parse("public, max-age=3600").is_ok());
        for bad in ["", " x", "x ", "a\r\nX-Evil: 1", "a\tb", "ü", "a  b"] {
            // "" passes the character checks but is refused by the callers as absent.
            if !bad.is_empty() {
                assert!(HeaderText::parse(bad).is_err(), "{bad:?}");
            }
        }
    }

    #[test]
    fn dispositions_start_with_a_type() {
        assert!(HeaderText::parse_disposition("attachment; filename=\"scan 1.pdf\"").is_ok());
        assert!(HeaderText::parse_disposition("inline").is_ok());
        assert!(
            HeaderText::parse_disposition("attachment; filename*=UTF-8''%E6%97%A5.pdf").is_ok()
        );
        for bad in ["; filename=a", "\"attachment\"", "attach ment; x=1"] {
            assert!(HeaderText::parse_disposition(bad).is_err(), "{bad:?}");
        }
    }
}
