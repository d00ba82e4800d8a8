//! Identity providers whose tokens the service accepts (`[[issuers]]` of the clients file, or
//! `JWT_ISSUER` with `JWT_JWKS_PATH`), how a client takes the tokens of end users, and the end
//! user a verified token names.

use std::fmt;
use std::path::PathBuf;

use serde_json::{Map, Value};

/// The id of the issuer set by `JWT_JWKS_PATH`, `JWT_ISSUER` and `JWT_AUDIENCE`.
pub const ENV_ISSUER_ID: &str = "default";

/// Where an issuer's signing keys come from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum JwksSource {
    /// `{issuer}/.well-known/openid-configuration`, then its `jwks_uri`.
    Discovery,
    /// A JWKS at this URL.
    Uri(String),
    /// A JWKS file, watched for changes.
    File(PathBuf),
}

/// One identity provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerConfig {
    /// The name the clients file uses for it.
    pub id: String,
    /// The exact `iss` of its tokens.
    pub issuer: String,
    /// Tokens must carry one of these audiences.
    pub audiences: Vec<String>,
    /// Where the audience is: `aud`, or `client_id` for Cognito access tokens.
    pub audience_claim: String,
    pub jwks: JwksSource,
    /// Longest accepted token lifetime in seconds; `None`: `JWT_MAX_TOKEN_LIFETIME`.
    pub max_token_lifetime: Option<u64>,
    /// Seconds a fetched key set is trusted while the provider does not answer; `None`: a day.
    pub jwks_max_stale: Option<u64>,
}

/// `[clients.end_users]`: tokens of this issuer (with these audiences or authorized parties,
/// where given) act as the client, and their `sub` is the end user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndUserMapping {
    /// The `id` of an `[[issuers]]` entry.
    pub issuer: String,
    /// The token's audience must include one of these; `None`: any of the issuer's.
    pub audiences: Option<Vec<String>>,
    /// `azp` must be one of these (the front-end's OAuth client id); `None`: any.
    pub authorized_parties: Option<Vec<String>>,
}

impl EndUserMapping {
    /// Whether a verified token with these audiences and `azp` belongs to this client.
    pub fn accepts(&self, audiences: &[&str], authorized_party: Option<&str>) -> bool {
        let audience = self
            .audiences
            .as_ref()
            .is_none_or(|wanted| audiences.iter().any(|aud| wanted.iter().any(|w| w == aud)));
        let party = self.authorized_parties.as_ref().is_none_or(|wanted| {
            authorized_party.is_some_and(|azp| wanted.iter().any(|w| w == azp))
        });
        audience && party
    }
}

/// The person behind a request: whom an identity provider's verified token names.
#[derive(Clone, PartialEq)]
pub struct EndUser {
    /// The `id` of the issuer in the configuration.
    pub issuer_id: String,
    /// The token's `iss`.
    pub issuer: String,
    /// The token's `sub`.
    pub subject: String,
    /// Every claim of the token, for templates and conditions.
    pub claims: Map<String, Value>,
}

impl fmt::Debug for EndUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The claims may hold personal data; the issuer and subject identify the user.
        f.debug_struct("EndUser")
            .field("issuer", &self.issuer)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mapping_filters_by_audience_and_authorized_party() {
        let any = EndUserMapping {
            issuer: "idp".into(),
            audiences: None,
            authorized_parties: None,
        };
        assert!(any.accepts(&["api"], None));
        let narrow = EndUserMapping {
            audiences: Some(vec!["api".into()]),
            authorized_parties: Some(vec!["spa".into()]),
            ..any
        };
        assert!(narrow.accepts(&["other", "api"], Some("spa")));
        assert!(!narrow.accepts(&["api"], None));
        assert!(!narrow.accepts(&["api"], Some("mobile")));
        assert!(!narrow.accepts(&["other"], Some("spa")));
    }
}
