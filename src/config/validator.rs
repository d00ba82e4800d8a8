//! The settings of `POST /validate_signed_entity`: the digital-signature service that checks a
//! document's signatures, and the limits on fetching the document from storage. Plain data;
//! `startup` builds the clients.

use std::time::Duration;

use clap::Args;

use super::ConfigError;
use super::parse::{parse_endpoint, parse_seconds};

pub const DEFAULT_DIGITAL_SIGNATURE_TIMEOUT: Duration = Duration::from_secs(5);
pub const DEFAULT_DOCUMENT_FETCH_TIMEOUT: Duration = Duration::from_secs(3);
/// A signed declaration is a few kilobytes; 5 MiB leaves room for scans inside the envelope.
pub const DEFAULT_MAX_DOCUMENT_BYTES: u64 = 5 * 1024 * 1024;
const MAX_MAX_DOCUMENT_BYTES: u64 = 100 * 1024 * 1024;

/// The `serve` flags of the validator (flattened into `ServeArgs`).
#[derive(Debug, Default, Args)]
pub struct ValidatorArgs {
    /// Base URL of the digital-signature service (`POST <url>/digital_signatures`); unset:
    /// `/validate_signed_entity` answers 404.
    #[arg(long, env = "DIGITAL_SIGNATURE_ENDPOINT", value_name = "URL")]
    pub digital_signature_endpoint: Option<String>,

    /// Seconds the digital-signature service may take to answer, 1 to 60 [default: 5].
    #[arg(long, env = "DIGITAL_SIGNATURE_TIMEOUT", value_name = "SECONDS")]
    pub digital_signature_timeout: Option<String>,

    /// Seconds fetching the document from storage may take, 1 to 60 [default: 3].
    #[arg(long, env = "DOCUMENT_FETCH_TIMEOUT", value_name = "SECONDS")]
    pub document_fetch_timeout: Option<String>,

    /// Largest document fetched for validation, in bytes [default: 5242880].
    #[arg(long, env = "MAX_DOCUMENT_SIZE", value_name = "BYTES")]
    pub max_document_size: Option<String>,
}

/// How signed documents are fetched and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatorSettings {
    /// Without a trailing slash.
    pub digital_signature_endpoint: String,
    pub digital_signature_timeout: Duration,
    pub fetch_timeout: Duration,
    pub max_document_bytes: u64,
}

impl ValidatorSettings {
    /// `None` when no digital-signature service is configured. Both steps must fit in
    /// `request_timeout`, or every slow validation would end in a 408 with no verdict.
    pub fn from_args(
        args: &ValidatorArgs,
        request_timeout: Duration,
    ) -> Result<Option<Self>, ConfigError> {
        let Some(endpoint) = args
            .digital_signature_endpoint
            .as_deref()
            .filter(|v| !v.trim().is_empty())
        else {
            return Ok(None);
        };
        let digital_signature_endpoint = parse_endpoint(
            ("DIGITAL_SIGNATURE_ENDPOINT", "--digital-signature-endpoint"),
            Some(endpoint),
            "",
        )?;
        let digital_signature_timeout = parse_seconds(
            ("DIGITAL_SIGNATURE_TIMEOUT", "--digital-signature-timeout"),
            args.digital_signature_timeout.as_deref(),
            DEFAULT_DIGITAL_SIGNATURE_TIMEOUT,
            1..=60,
        )?;
        let fetch_timeout = parse_seconds(
            ("DOCUMENT_FETCH_TIMEOUT", "--document-fetch-timeout"),
            args.document_fetch_timeout.as_deref(),
            DEFAULT_DOCUMENT_FETCH_TIMEOUT,
            1..=60,
        )?;
        if digital_signature_timeout + fetch_timeout >= request_timeout {
            return Err(ConfigError::new(
                "DIGITAL_SIGNATURE_TIMEOUT",
                "--digital-signature-timeout",
                format!(
                    "with DOCUMENT_FETCH_TIMEOUT it must stay under REQUEST_TIMEOUT ({} s), so a validation ends with a verdict rather than a 408; got {} s + {} s",
                    request_timeout.as_secs(),
                    digital_signature_timeout.as_secs(),
                    fetch_timeout.as_secs()
                ),
            ));
        }
        let max_document_bytes = match args.max_document_size.as_deref() {
            None => DEFAULT_MAX_DOCUMENT_BYTES,
            Some(value) => match value.trim().parse::<u64>() {
                Ok(bytes) if (1..=MAX_MAX_DOCUMENT_BYTES).contains(&bytes) => bytes,
                _ => {
                    return Err(ConfigError::new(
                        "MAX_DOCUMENT_SIZE",
                        "--max-document-size",
                        format!(
                            "must be a whole number of bytes from 1 to {MAX_MAX_DOCUMENT_BYTES}; got {value:?}"
                        ),
                    ));
                }
            },
        };
        Ok(Some(Self {
            digital_signature_endpoint,
            digital_signature_timeout,
            fetch_timeout,
            max_document_bytes,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(endpoint: &str) -> ValidatorArgs {
        ValidatorArgs {
            digital_signature_endpoint: Some(endpoint.into()),
            ..ValidatorArgs::default()
        }
    }

    #[test]
    fn unset_endpoint_turns_validation_off() {
        let settings =
            ValidatorSettings::from_args(&ValidatorArgs::default(), Duration::from_secs(10));
        assert_eq!(settings.unwrap(), None);
    }

    #[test]
    fn defaults_fit_in_the_request_timeout() {
        let settings = ValidatorSettings::from_args(
            &args("http://ds.internal:4000/"),
            Duration::from_secs(10),
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            settings.digital_signature_endpoint,
            "http://ds.internal:4000"
        );
        assert_eq!(settings.max_document_bytes, DEFAULT_MAX_DOCUMENT_BYTES);
    }

    #[test]
    fn timeouts_longer_than_the_request_are_refused() {
        let error = ValidatorSettings::from_args(
            &ValidatorArgs {
                digital_signature_timeout: Some("30".into()),
                ..args("http://ds")
            },
            Duration::from_secs(10),
        )
        .unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("DIGITAL_SIGNATURE_TIMEOUT (--digital-signature-timeout)"),
            "{error}"
        );
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (bad, variable) in [
            (args("ftp://ds"), "DIGITAL_SIGNATURE_ENDPOINT"),
            (
                ValidatorArgs {
                    max_document_size: Some("0".into()),
                    ..args("http://ds")
                },
                "MAX_DOCUMENT_SIZE",
            ),
            (
                ValidatorArgs {
                    document_fetch_timeout: Some("x".into()),
                    ..args("http://ds")
                },
                "DOCUMENT_FETCH_TIMEOUT",
            ),
        ] {
            let error = ValidatorSettings::from_args(&bad, Duration::from_secs(10)).unwrap_err();
            assert!(error.to_string().starts_with(variable), "{error}");
        }
    }
}
