//! `Content-MD5`, signed into a URL, so the uploader must send it verbatim. (`Content-Type`
//! has its own grammar, in `content_type`.)

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::{Violation, find_control_character};

/// A `Content-MD5` value: base64 (standard alphabet, padded) of a 16-byte MD5 digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentMd5(String);

impl ContentMd5 {
    pub fn parse(value: &str) -> Result<Self, Violation> {
        if let Some(found) = find_control_character(value) {
            return Err(Violation::new(
                "format",
                format!("must not contain control characters (found {found})"),
            ));
        }
        match BASE64.decode(value) {
            Ok(digest) if digest.len() == 16 => Ok(Self(value.to_owned())),
            _ => Err(Violation::new(
                "format",
                "must be the base64 encoding of a 16-byte MD5 digest (24 characters, e.g. \"1B2M2Y8AsgTpgAmY7PhCfg==\")",
            )),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_md5_accepts_base64_of_16_bytes() {
        // MD5 of the empty string.
        assert!(ContentMd5::parse("1B2M2Y8AsgTpgAmY7PhCfg==").is_ok());
    }

    #[test]
    fn content_md5_rejects_other_lengths_and_encodings() {
        for value in [
            "",
            "1B2M2Y8AsgTpgAmY7PhCfg",           // unpadded
            "1B2M2Y8AsgTpgAmY7PhCfh==",         // non-canonical trailing bits
            "d41d8cd98f00b204e9800998ecf8427e", // hex, not base64
            "AAAAAAAAAAAAAAAAAAAAAAAAAAA=",     // 20 bytes
            "1B2M2Y8AsgTpgAmY7PhCfg==\n",
        ] {
            assert!(ContentMd5::parse(value).is_err(), "{value:?}");
        }
    }
}
