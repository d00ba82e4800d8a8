//! Conditions an upload can be held to, signed into its URL as `x-goog-*` headers.

use serde_json::json;

use super::{MAX_OBJECT_SIZE, Violation};

/// `x-goog-content-length-range: min,max`: the body must be between `min` and `max` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentLengthRange {
    pub min: u64,
    pub max: u64,
}

impl ContentLengthRange {
    pub fn new(min: u64, max: u64) -> Result<Self, Violation> {
        if min > max || max > MAX_OBJECT_SIZE {
            return Err(Violation::new(
                "length_range",
                format!("must be [min, max] with min <= max <= {MAX_OBJECT_SIZE} (5 TiB)"),
            )
            .with_params(json!({"max": MAX_OBJECT_SIZE})));
        }
        Ok(Self { min, max })
    }

    /// Up to `max` bytes.
    pub fn at_most(max: u64) -> Result<Self, Violation> {
        Self::new(0, max)
    }

    pub fn header_value(self) -> String {
        format!("{},{}", self.min, self.max)
    }
}

/// Which signing process a URL is built with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningVersion {
    V2,
    V4,
}

impl SigningVersion {
    pub fn parse(value: &str) -> Result<Self, Violation> {
        match value {
            "v2" => Ok(Self::V2),
            "v4" => Ok(Self::V4),
            _ => {
                Err(Violation::new("inclusion", "must be v2 or v4")
                    .with_params(json!(["v2", "v4"])))
            }
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::V2 => "v2",
            Self::V4 => "v4",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_must_be_ordered_and_within_five_tebibytes() {
        assert_eq!(
            ContentLengthRange::new(0, 10).unwrap().header_value(),
            "0,10"
        );
        assert!(ContentLengthRange::new(11, 10).is_err());
        assert!(ContentLengthRange::at_most(MAX_OBJECT_SIZE).is_ok());
        assert!(ContentLengthRange::at_most(MAX_OBJECT_SIZE + 1).is_err());
    }
}
