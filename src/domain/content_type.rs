//! `Content-Type` values: exactly one media type, parsed by RFC 9110's grammar, so that what
//! the policy compares is what a browser will see.
//!
//! ```text
//! media-type = type "/" subtype parameters                  ; RFC 9110 section 8.3.1
//! parameters = *( OWS ";" OWS parameter )                   ; section 5.6.6, without empty ones
//! parameter  = parameter-name "=" parameter-value           ; value: a token (no quoted string)
//! type, subtype, parameter-name = token                     ; section 5.6.2: 1*tchar
//! ```
//!
//! Stricter than RFC 9110 where it allows what nobody needs and attackers use: no quoted
//! strings, no empty parameters (`image/png;;`), and so no comma anywhere. A comma is how
//! `image/png;,text/html` turned into a second media type for a browser (the bug this
//! grammar fixes); a parameter without `=` (`IMAGE/PNG;text/html`) is refused too.

use super::{Violation, find_control_character};

const MAX_CONTENT_TYPE_BYTES: usize = 256;

/// A `Content-Type` value the upload must carry, exactly as signed, and its parsed parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentType {
    /// As the caller wrote it: this is what gets signed and what the uploader sends.
    raw: String,
    /// `type/subtype`, lower case.
    essence: String,
    /// Where `/` is in `essence`.
    slash: usize,
    /// `(name, value)`, names lower case, in the order given.
    parameters: Vec<(String, String)>,
}

impl ContentType {
    /// Exactly one media type: `type/subtype`, optionally `; name=value` parameters, tokens
    /// only. Visible ASCII: browsers trim header values and refuse control characters.
    pub fn parse(value: &str) -> Result<Self, Violation> {
        check_characters(value)?;
        let mut parts = value.split(';');
        let essence = parts.next().unwrap_or_default().trim_end_matches(' ');
        let (kind, subtype) = essence.split_once('/').ok_or_else(malformed)?;
        if !is_token(kind) || !is_token(subtype) {
            return Err(malformed());
        }
        let parameters = parts
            .map(|parameter| {
                let (name, value) = parameter
                    .trim_matches(' ')
                    .split_once('=')
                    .ok_or_else(malformed)?;
                if is_token(name) && is_token(value) {
                    Ok((name.to_ascii_lowercase(), value.to_owned()))
                } else {
                    Err(malformed())
                }
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            raw: value.to_owned(),
            essence: essence.to_ascii_lowercase(),
            slash: kind.len(),
            parameters,
        })
    }

    /// The value as given: what is signed and sent.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// `type/subtype` in lower case: `Text/Plain; charset=utf-8` is `text/plain`.
    pub fn essence(&self) -> &str {
        &self.essence
    }

    /// The type, lower case: `text` of `text/plain`.
    pub fn kind(&self) -> &str {
        &self.essence[..self.slash]
    }

    /// The subtype, lower case: `plain` of `text/plain`.
    pub fn subtype(&self) -> &str {
        &self.essence[self.slash + 1..]
    }

    /// The parameters, names in lower case, in the order given.
    pub fn parameters(&self) -> &[(String, String)] {
        &self.parameters
    }

    /// Whether a browser may run script from a response of this type: HTML, XHTML and every
    /// XML type (SVG, `MathML`, XSLT, ... render as documents that can hold `<script>`), and
    /// JavaScript. A wildcard rule never admits these; they must be listed by name.
    pub fn is_scriptable(&self) -> bool {
        let subtype = self.subtype();
        subtype == "xml"
            || subtype.ends_with("+xml")
            || SCRIPTABLE.contains(&self.essence.as_str())
            || (self.kind() == "text" && subtype.starts_with("javascript"))
    }
}

/// Scriptable types that the `+xml` and `xml` rules of [`ContentType::is_scriptable`] do not
/// cover: HTML, XSL, and the JavaScript MIME types of the WHATWG MIME Sniffing standard.
const SCRIPTABLE: [&str; 13] = [
    "text/html",
    "text/xsl",
    "application/ecmascript",
    "application/javascript",
    "application/x-ecmascript",
    "application/x-javascript",
    "application/x-shockwave-flash",
    "text/ecmascript",
    "text/jscript",
    "text/livescript",
    "text/x-ecmascript",
    "text/x-javascript",
    "multipart/x-mixed-replace",
];

/// A prefix of a media type for a POST policy's `starts-with` condition: `type/` or the start
/// of a type, tokens and one `/` only (so no parameters, no comma).
pub fn parse_content_type_prefix(value: &str) -> Result<&str, Violation> {
    check_characters(value)?;
    let valid = !value.is_empty()
        && value.matches('/').count() <= 1
        && value.bytes().all(|b| b == b'/' || is_tchar(b));
    if valid {
        Ok(value)
    } else {
        Err(Violation::new(
            "format",
            "must be the start of a media type such as \"image/\": letters, digits and !#$%&'*+-.^_`|~ with at most one /",
        ))
    }
}

fn check_characters(value: &str) -> Result<(), Violation> {
    if let Some(found) = find_control_character(value) {
        return Err(Violation::new(
            "format",
            format!("must not contain control characters (found {found})"),
        ));
    }
    if !value.is_ascii() {
        return Err(Violation::new("format", "must be ASCII"));
    }
    if value.trim() != value {
        return Err(Violation::new(
            "format",
            "must not start or end with white space",
        ));
    }
    if value.len() > MAX_CONTENT_TYPE_BYTES {
        return Err(Violation::new(
            "length",
            format!("must be at most {MAX_CONTENT_TYPE_BYTES} bytes"),
        )
        .with_params(serde_json::json!({"max": MAX_CONTENT_TYPE_BYTES})));
    }
    Ok(())
}

fn malformed() -> Violation {
    Violation::new(
        "format",
        "must be exactly one media type: type/subtype, optionally followed by ; name=value parameters (tokens only, no commas, no quotes)",
    )
}

/// `token = 1*tchar` (RFC 9110 section 5.6.2).
fn is_token(value: &str) -> bool {
    !value.is_empty() && value.bytes().all(is_tchar)
}

/// RFC 9110's `tchar`: `!#$%&'*+-.^_|~`, the backtick, DIGIT and ALPHA.
fn is_tchar(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_type_subtype_and_parameters() {
        let parsed = ContentType::parse("Text/Plain; Charset=utf-8").unwrap();
        assert_eq!(parsed.as_str(), "Text/Plain; Charset=utf-8");
        assert_eq!(parsed.essence(), "text/plain");
        assert_eq!((parsed.kind(), parsed.subtype()), ("text", "plain"));
        assert_eq!(parsed.parameters(), [("charset".into(), "utf-8".into())]);
        assert!(
            ContentType::parse("image/png")
                .unwrap()
                .parameters()
                .is_empty()
        );
        assert!(ContentType::parse("a/b;c=d ; e=f").is_ok());
    }

    /// The attack pass: each of these was signed into an upload URL for an `image/png` or
    /// `image/*` rule, and a browser rendered the upload as HTML.
    #[test]
    fn refuses_values_that_are_more_than_one_media_type() {
        for value in [
            "image/png;,text/html",
            "IMAGE/PNG;text/html",
            "image/jpeg, text/html",
            "image/x,text/html",
            "image/png,",
            "image/png;",
            "image/png;;a=b",
            "image/png; a=",
            "image/png; =b",
            "image/png; a=\"b\"",
            "image/png; a=b c",
            "image/",
            "/png",
            "image",
            "image/png/x",
            "image /png",
            "image/ png",
            "",
        ] {
            let refused = ContentType::parse(value);
            assert!(refused.is_err(), "{value:?} was accepted");
            assert_eq!(refused.unwrap_err().rule, "format", "{value:?}");
        }
    }

    #[test]
    fn refuses_control_characters_padding_and_non_ascii() {
        for value in [
            "text/plain\r\nX-Evil: 1",
            "a\tb",
            " image/png",
            "image/png ",
            "imäge/png",
        ] {
            assert!(ContentType::parse(value).is_err(), "{value:?}");
        }
    }

    #[test]
    fn knows_the_types_a_browser_runs_script_from() {
        for value in [
            "text/html",
            "TEXT/HTML; charset=utf-8",
            "image/svg+xml",
            "application/xhtml+xml",
            "application/xml",
            "text/xml",
            "application/mathml+xml",
            "text/javascript",
            "application/javascript",
            "text/xsl",
        ] {
            assert!(
                ContentType::parse(value).unwrap().is_scriptable(),
                "{value}"
            );
        }
        for value in [
            "image/png",
            "image/jpeg",
            "application/pdf",
            "text/plain",
            "video/mp4",
        ] {
            assert!(
                !ContentType::parse(value).unwrap().is_scriptable(),
                "{value}"
            );
        }
    }

    #[test]
    fn prefixes_are_tokens_and_one_slash() {
        assert_eq!(parse_content_type_prefix("image/"), Ok("image/"));
        assert!(parse_content_type_prefix("image/pn").is_ok());
        for bad in [
            "",
            "image/,text/html",
            "image/;",
            "image//",
            "image/ x",
            "a/b/",
        ] {
            assert!(parse_content_type_prefix(bad).is_err(), "{bad:?}");
        }
    }
}
