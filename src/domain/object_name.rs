use std::fmt;

use serde_json::json;

use super::{MAX_OBJECT_NAME_BYTES, Violation, find_control_character};

/// An object name this service is willing to sign.
///
/// GCS itself accepts more (a leading `/`, `..` segments, tabs); we refuse names that clients,
/// proxies and browsers normalise or mangle, so the URL the caller gets points at the object
/// the policy saw. The signing layer still reproduces Google's URLs for any name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectName(String);

impl ObjectName {
    pub fn parse(value: &str) -> Result<Self, Violation> {
        if value.is_empty() {
            return Err(
                Violation::new("length", "must not be empty").with_params(json!({"min": 1}))
            );
        }
        if let Some(found) = find_control_character(value) {
            return Err(Violation::new(
                "format",
                format!("must not contain control characters (found {found})"),
            ));
        }
        // One pass over the segments (this runs for every object of every request); an empty
        // segment is the error reported when a name has both.
        let (mut empty, mut dots) = (false, false);
        for segment in value.split('/') {
            empty |= segment.is_empty();
            dots |= segment == "." || segment == "..";
        }
        if empty {
            return Err(Violation::new(
                "format",
                "must not start or end with '/' or contain '//' (empty path segment)",
            ));
        }
        if dots {
            return Err(Violation::new(
                "format",
                "must not contain '.' or '..' path segments",
            ));
        }
        if value.len() > MAX_OBJECT_NAME_BYTES {
            return Err(Violation::new(
                "length",
                format!(
                    "must be at most {MAX_OBJECT_NAME_BYTES} bytes of UTF-8 (is {})",
                    value.len()
                ),
            )
            .with_params(json!({"max": MAX_OBJECT_NAME_BYTES})));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ObjectName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_names_with_reserved_characters_and_unicode() {
        for name in [
            "a b+c=d$e@f:g,h;i!j'k(l)m*n~o",
            "50%off.txt",
            "hash#q?x.txt",
            "café/日本.txt",
            "emoji 😀/e\u{301}",
            "back\\slash",
            "...dots",
            "a.b/..c",
        ] {
            assert!(ObjectName::parse(name).is_ok(), "{name:?}");
        }
    }

    #[test]
    fn rejects_object_name_with_line_break() {
        let violation = ObjectName::parse("a\nb").unwrap_err();
        assert_eq!(violation.rule, "format");
        assert!(
            violation.description.contains("U+000A at byte 1"),
            "{violation:?}"
        );
    }

    #[test]
    fn rejects_every_control_character() {
        for c in (0u32..0x20).chain(0x7f..0xa0) {
            let name = format!("a{}b", char::from_u32(c).unwrap());
            assert!(ObjectName::parse(&name).is_err(), "U+{c:04X}");
        }
    }

    #[test]
    fn rejects_empty_segments() {
        for name in ["/lead", "trail/", "a//b", "/"] {
            assert!(ObjectName::parse(name).is_err(), "{name:?}");
        }
    }

    #[test]
    fn rejects_dot_segments() {
        for name in [".", "..", "a/./b", "a/../b", "../x", "x/.."] {
            assert!(ObjectName::parse(name).is_err(), "{name:?}");
        }
    }

    #[test]
    fn length_limit_counts_utf8_bytes() {
        assert!(ObjectName::parse(&"a".repeat(1024)).is_ok());
        assert!(ObjectName::parse(&"a".repeat(1025)).is_err());
        // 342 three-byte characters are 1026 bytes.
        assert!(ObjectName::parse(&"日".repeat(342)).is_err());
        assert!(ObjectName::parse(&"日".repeat(341)).is_ok());
    }
}
