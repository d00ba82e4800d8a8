//! The access rules: who may get which URL. Pure: the clients come from `clients_file`, the
//! caller from `auth`.
//!
//! Deny by default: a request is allowed only when one `allow` rule of the caller matches its
//! method, the end user's claims (where the rule names some), its object path (templates
//! filled in for the end user), its content type where the rule lists some, and every URL
//! option it asks for.

pub mod claims;
pub mod clients_file;
mod identity;
mod issuers_file;
mod pattern;
mod rule;
mod rules_file;

pub use claims::{ClaimCondition, ClaimPath, Expected, TemplateProblem};
pub use identity::{ENV_ISSUER_ID, EndUser, EndUserMapping, IssuerConfig, JwksSource};
pub use issuers_file::check_fetch_url;
pub use pattern::ResourcePattern;
pub use rule::{MediaRange, Rule, UPLOAD_HEADERS, disposition_type};

use crate::domain::{Action, ContentLengthRange, ContentType};
use crate::limiter::Rate;

/// The client id that callers without credentials act as, when the configuration has one.
pub const ANONYMOUS: &str = "anonymous";

/// A caller of the service and what it may do.
#[derive(Debug, Clone)]
pub struct Client {
    pub id: String,
    /// SHA-256 of the client's API key; the key itself is never stored.
    pub api_key_sha256: Option<[u8; 32]>,
    /// The JWT `sub` that authenticates as this client (a workload).
    pub jwt_subject: Option<String>,
    /// The issuer (`id`) of that JWT; `None`: the one of `JWT_ISSUER`.
    pub jwt_issuer: Option<String>,
    /// Tokens of end users that act as this client.
    pub end_users: Option<EndUserMapping>,
    /// Longest lifetime, in seconds, of a URL issued to this client.
    pub max_ttl: u32,
    /// URLs per minute (issued and refused alike), per end user where one is known.
    pub rate_limit: Option<Rate>,
    pub allow: Vec<Rule>,
}

/// The content type a request pins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentTypeAccess<'a> {
    Exact(&'a ContentType),
    /// A form upload whose `Content-Type` must start with this (`image/`).
    Prefix(&'a str),
}

/// What a caller asks for, as the policy sees it.
#[derive(Debug, Clone, Copy)]
pub struct Access<'a> {
    pub action: Action,
    /// `/bucket/object`, decoded; with `path_is_prefix`, `/bucket/` and a key prefix.
    pub path: &'a str,
    pub path_is_prefix: bool,
    pub content_type: Option<ContentTypeAccess<'a>>,
    pub content_length_range: Option<ContentLengthRange>,
    pub if_generation_match: Option<u64>,
    /// The person behind the request, when an end user's token authenticated it.
    pub end_user: Option<&'a EndUser>,
    pub options: UrlOptions<'a>,
}

/// What a URL may carry besides its method and object, each only where a rule permits it.
#[derive(Debug, Clone, Copy, Default)]
pub struct UrlOptions<'a> {
    /// `response-content-type` a download forces.
    pub response_content_type: Option<&'a ContentType>,
    /// `response-content-disposition` a download asks for.
    pub response_disposition: Option<&'a str>,
    /// Names of the `x-goog-meta-*` headers an upload signs, without the prefix.
    pub metadata_names: &'a [&'a str],
    /// Of [`UPLOAD_HEADERS`], those an upload signs.
    pub headers: &'a [&'a str],
}

impl<'a> Access<'a> {
    /// A request for one object with no upload conditions.
    pub fn object(action: Action, path: &'a str) -> Self {
        Self {
            action,
            path,
            path_is_prefix: false,
            content_type: None,
            content_length_range: None,
            if_generation_match: None,
            end_user: None,
            options: UrlOptions::default(),
        }
    }
}

/// What the policy allows, with the upload conditions it adds to the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    /// Index of the rule that allowed it.
    pub rule: usize,
    pub content_length_range: Option<ContentLengthRange>,
    pub if_generation_match: Option<u64>,
}

/// Why a request was refused. The message names the condition that failed for this caller,
/// without revealing other rules or clients.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denial {
    #[error("method {0} is not allowed for this client")]
    Method(&'static str),
    #[error("the token's claims do not allow {method} for this client")]
    Claims { method: &'static str },
    #[error("{0}")]
    Template(TemplateProblem),
    #[error("path {path} is not allowed for {method} for this client")]
    Path { method: &'static str, path: String },
    #[error("a content_type is required for {method} on this path")]
    ContentTypeRequired { method: &'static str },
    #[error("content type {content_type:?} is not allowed for {method} on this path")]
    ContentType {
        method: &'static str,
        content_type: String,
    },
    #[error("{option} is not allowed for {method} on this path")]
    Option {
        method: &'static str,
        option: String,
    },
    #[error(
        "a content_type_prefix cannot be granted on this path, which allows only listed types (a prefix would admit others, such as image/svg+xml for image/); ask for the exact content_type"
    )]
    ContentTypePrefix,
    #[error("uploads to this path may be at most {max} bytes")]
    Size { max: u64 },
    #[error("uploads to this path may not overwrite: if_generation_match must be 0")]
    Overwrite,
    #[error("uploads to this path must not overwrite, which form uploads cannot guarantee")]
    OverwriteForm,
    /// The rule holds uploads to a condition the bucket's store cannot sign into its URLs.
    #[error("uploads to this path must {condition}, which {backend} URLs cannot guarantee")]
    Unenforceable {
        backend: &'static str,
        condition: String,
    },
}

impl Denial {
    /// The audit record's reason: the condition, never the object name (the record has it
    /// once, in `object`), so a refusal costs a bounded number of bytes.
    pub fn audit_reason(&self) -> String {
        match self {
            Denial::Path { method, .. } => format!("path not allowed for {method}"),
            other => other.to_string(),
        }
    }

    /// How far a request got before this condition failed; the furthest one is reported.
    fn depth(&self) -> u8 {
        match self {
            Denial::Method(_) => 0,
            Denial::Claims { .. } => 1,
            Denial::Path { .. } => 2,
            // More telling than a path that did not match: the rule could have applied.
            Denial::Template(_) => 3,
            Denial::ContentTypeRequired { .. }
            | Denial::ContentType { .. }
            | Denial::ContentTypePrefix
            | Denial::Option { .. } => 4,
            Denial::Size { .. }
            | Denial::Overwrite
            | Denial::OverwriteForm
            | Denial::Unenforceable { .. } => 5,
        }
    }
}

/// An `expires_in` above the client's `max_ttl`: refused, never silently shortened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("must be at most {max_ttl} seconds for this client")]
pub struct LifetimeTooLong {
    pub max_ttl: u32,
}

impl Client {
    /// The lifetime of a URL for this client: the requested one if it is within `max_ttl`;
    /// without a request, `default_ttl` (`SECRETS_TTL`) capped at `max_ttl`.
    pub fn lifetime(
        &self,
        requested: Option<u32>,
        default_ttl: u32,
    ) -> Result<u32, LifetimeTooLong> {
        match requested {
            Some(seconds) if seconds > self.max_ttl => Err(LifetimeTooLong {
                max_ttl: self.max_ttl,
            }),
            Some(seconds) => Ok(seconds),
            None => Ok(default_ttl.min(self.max_ttl)),
        }
    }

    /// The first rule that allows `access`, or the condition that failed. When no rule
    /// allows it, the reported condition is the one that got furthest: method, path, content
    /// type, then size and overwrite.
    pub fn authorize(&self, access: &Access<'_>) -> Result<Grant, Denial> {
        let mut denial = Denial::Method(access.action.as_str());
        for (index, rule) in self.allow.iter().enumerate() {
            match rule.allows(access) {
                Ok((content_length_range, if_generation_match)) => {
                    return Ok(Grant {
                        rule: index,
                        content_length_range,
                        if_generation_match,
                    });
                }
                Err(failed) if failed.depth() > denial.depth() => denial = failed,
                Err(_) => {}
            }
        }
        Err(denial)
    }
}

/// The rules of ael.api's open mode: any known bucket, any object, any method, up to 7 days.
pub fn open_mode_client(max_ttl: u32) -> Client {
    Client {
        id: ANONYMOUS.to_owned(),
        api_key_sha256: None,
        jwt_subject: None,
        jwt_issuer: None,
        end_users: None,
        rate_limit: None,
        max_ttl,
        allow: vec![
            Rule {
                methods: Action::AEL_ACTIONS.to_vec(),
                resources: vec![ResourcePattern::parse("/**").expect("valid pattern")],
                ..Rule::default()
            }
            .with_every_option(),
        ],
    }
}

#[cfg(test)]
mod tests;
