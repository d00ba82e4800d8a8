use std::fmt;

use super::Violation;

/// A bucket name that follows Google's naming rules
/// (<https://cloud.google.com/storage/docs/buckets#naming>).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BucketName(String);

impl BucketName {
    pub fn parse(value: &str) -> Result<Self, Violation> {
        match Self::problem(value) {
            None => Ok(Self(value.to_owned())),
            Some(problem) => Err(Violation::new(
                "format",
                format!("is not a valid bucket name: {problem}"),
            )),
        }
    }

    fn problem(value: &str) -> Option<&'static str> {
        let allowed =
            |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.');
        let starts_and_ends_alphanumeric = |s: &str| {
            s.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
                && s.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        };
        if !value.chars().all(allowed) {
            return Some("only lower-case letters, digits, '-', '_' and '.' are allowed");
        }
        if !starts_and_ends_alphanumeric(value) {
            return Some("it must start and end with a letter or digit");
        }
        let max = if value.contains('.') { 222 } else { 63 };
        if value.len() < 3 || value.len() > max {
            return Some("it must be 3 to 63 characters long (222 with dots)");
        }
        if value
            .split('.')
            .any(|part| part.is_empty() || part.len() > 63)
        {
            return Some("each dot-separated part must be 1 to 63 characters long");
        }
        let parts: Vec<&str> = value.split('.').collect();
        if parts.len() == 4
            && parts
                .iter()
                .all(|p| p.len() <= 3 && p.chars().all(|c| c.is_ascii_digit()))
        {
            return Some("it must not look like an IP address");
        }
        if value.starts_with("goog") || value.contains("google") || value.contains("g00gle") {
            return Some("it must not start with \"goog\" or contain \"google\"");
        }
        None
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BucketName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_names() {
        for name in [
            "declarations-dev",
            "abc",
            "a_b.c-d",
            "my.bucket.example.com",
            "123",
        ] {
            assert!(BucketName::parse(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn rejects_names_that_gcs_rejects() {
        for name in [
            "",
            "ab",
            "UPPER",
            "-dash",
            "dash-",
            "a..b",
            "192.168.5.4",
            "goog-bucket",
            "my-google-bucket",
            "space here",
            "slash/name",
            &"a".repeat(64),
        ] {
            assert!(BucketName::parse(name).is_err(), "{name}");
        }
    }
}
