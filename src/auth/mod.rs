//! Who is calling: an API key, a workload's JWT, an end user's token from an identity
//! provider, or nobody (the `anonymous` client, where configured).

pub mod api_key;
pub mod jwt;
pub mod key_cache;

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::access::{ANONYMOUS, Client, ENV_ISSUER_ID, EndUser, IssuerConfig};
use jwt::{JwtError, KeySet, TokenPolicy, VerifiedClaims};
use key_cache::KeyCache;

/// The time, as the two clocks the checks need: Unix seconds for token claims, a monotonic
/// instant for the age of fetched keys.
#[derive(Debug, Clone, Copy)]
pub struct Now {
    pub unix: u64,
    pub instant: Instant,
}

impl Now {
    pub fn current() -> Self {
        Self {
            unix: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            instant: Instant::now(),
        }
    }
}

/// Where the signing keys of an issuer are.
#[derive(Debug, Clone)]
pub enum IssuerKeys {
    /// Read from a file: fixed until the file changes and the configuration is reloaded.
    Fixed(Arc<KeySet>),
    /// Fetched over HTTP and kept fresh by the `jwks` module.
    Fetched(Arc<KeyCache>),
}

/// An identity provider whose tokens are accepted.
#[derive(Debug, Clone)]
pub struct TrustedIssuer {
    /// `id` as the clients file names it.
    pub id: String,
    pub policy: TokenPolicy,
    pub keys: IssuerKeys,
}

impl TrustedIssuer {
    /// `config` with its keys; `default_max_lifetime` applies unless the issuer sets one.
    pub fn new(config: &IssuerConfig, keys: IssuerKeys, default_max_lifetime: u64) -> Self {
        Self {
            id: config.id.clone(),
            policy: TokenPolicy {
                issuer: config.issuer.clone(),
                audiences: config.audiences.clone(),
                audience_claim: config.audience_claim.clone(),
                max_lifetime: config.max_token_lifetime.unwrap_or(default_max_lifetime),
            },
            keys,
        }
    }
}

/// A caller the service knows: a client of the clients file and, when an end user's token
/// authenticated the request, that person.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub client: Arc<Client>,
    pub end_user: Option<Arc<EndUser>>,
}

impl Authenticated {
    pub fn client(client: Arc<Client>) -> Self {
        Self {
            client,
            end_user: None,
        }
    }

    /// The end user's `sub`, when there is one (e.g. to limit the rate per person).
    pub fn end_user_subject(&self) -> Option<&str> {
        self.end_user.as_deref().map(|user| user.subject.as_str())
    }
}

/// The callers the service knows and how to recognise them. Replaced as a whole when the
/// clients file is reloaded.
#[derive(Debug)]
pub struct Authenticator {
    clients: Vec<Arc<Client>>,
    anonymous: Option<Arc<Client>>,
    issuers: Vec<TrustedIssuer>,
}

/// Why a caller was not authenticated. Never contains the credential.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("credentials are required: send 'Authorization: Bearer <API key or token>'")]
    Missing,
    #[error("the Authorization header must be 'Bearer <API key or token>'")]
    MalformedHeader,
    #[error("the API key is not valid")]
    InvalidApiKey,
    #[error("the token is not valid: {0}")]
    InvalidToken(JwtError),
    #[error("the token is not valid: this service does not accept JWTs")]
    JwtNotConfigured,
    #[error("the token's subject is not a client of this service")]
    UnknownSubject,
}

impl AuthError {
    /// Whether credentials were presented (and refused), as opposed to absent.
    pub fn presented_credentials(&self) -> bool {
        !matches!(self, AuthError::Missing)
    }
}

impl Authenticator {
    /// `allow_anonymous`: whether callers without credentials may act as the `anonymous`
    /// client, when there is one.
    pub fn new(clients: Vec<Client>, issuers: Vec<TrustedIssuer>, allow_anonymous: bool) -> Self {
        let clients: Vec<Arc<Client>> = clients.into_iter().map(Arc::new).collect();
        let anonymous = clients
            .iter()
            .find(|c| c.id == ANONYMOUS)
            .filter(|_| allow_anonymous)
            .cloned();
        Self {
            clients,
            anonymous,
            issuers,
        }
    }

    pub fn client_count(&self) -> usize {
        self.clients.len()
    }

    pub fn has_anonymous(&self) -> bool {
        self.anonymous.is_some()
    }

    pub fn issuers(&self) -> &[TrustedIssuer] {
        &self.issuers
    }

    /// The caller that `authorization` (the raw header value, if any) identifies at `now`.
    pub fn authenticate(
        &self,
        authorization: Option<&[u8]>,
        now: Now,
    ) -> Result<Authenticated, AuthError> {
        let Some(header) = authorization else {
            return self
                .anonymous
                .clone()
                .map(Authenticated::client)
                .ok_or(AuthError::Missing);
        };
        let token = bearer_token(header)?;
        if looks_like_jwt(token) {
            return self.authenticate_token(token, now);
        }
        let hashes = self.clients.iter().map(|c| c.api_key_sha256.as_ref());
        api_key::find(hashes, token)
            .map(|index| Authenticated::client(Arc::clone(&self.clients[index])))
            .ok_or(AuthError::InvalidApiKey)
    }

    /// The key cache of the token's issuer, when its keys are fetched: after an unknown key
    /// id, a refresh may bring the provider's new key.
    pub fn key_cache_for(&self, authorization: Option<&[u8]>) -> Option<Arc<KeyCache>> {
        let token = bearer_token(authorization?).ok()?;
        let issuer = self.issuer_of(token).ok()?;
        match &issuer.keys {
            IssuerKeys::Fetched(cache) => Some(Arc::clone(cache)),
            IssuerKeys::Fixed(_) => None,
        }
    }

    fn issuer_of(&self, token: &str) -> Result<&TrustedIssuer, AuthError> {
        if self.issuers.is_empty() {
            return Err(AuthError::JwtNotConfigured);
        }
        let iss = jwt::unverified_issuer(token).map_err(AuthError::InvalidToken)?;
        self.issuers
            .iter()
            .find(|issuer| issuer.policy.issuer == iss)
            .ok_or(AuthError::InvalidToken(JwtError::Issuer))
    }

    fn authenticate_token(&self, token: &str, now: Now) -> Result<Authenticated, AuthError> {
        let issuer = self.issuer_of(token)?;
        let keys = match &issuer.keys {
            IssuerKeys::Fixed(keys) => Arc::clone(keys),
            IssuerKeys::Fetched(cache) => {
                cache.keys(now.instant).map_err(AuthError::InvalidToken)?
            }
        };
        let claims =
            jwt::verify(token, &issuer.policy, &keys, now.unix).map_err(AuthError::InvalidToken)?;
        self.client_for(issuer, claims)
    }

    /// A workload client whose `jwt_subject` is the token's `sub`, else the first client that
    /// takes the issuer's end users with the token's audience and authorized party.
    fn client_for(
        &self,
        issuer: &TrustedIssuer,
        claims: VerifiedClaims,
    ) -> Result<Authenticated, AuthError> {
        let subject = claims.subject();
        if let Some(workload) = self.clients.iter().find(|c| {
            c.jwt_subject.as_deref() == Some(subject)
                && c.jwt_issuer.as_deref().unwrap_or(ENV_ISSUER_ID) == issuer.id
        }) {
            return Ok(Authenticated::client(Arc::clone(workload)));
        }
        let audiences = claims.audiences(&issuer.policy.audience_claim);
        let azp = claims.0.get("azp").and_then(serde_json::Value::as_str);
        let client = self
            .clients
            .iter()
            .find(|c| {
                c.end_users
                    .as_ref()
                    .is_some_and(|m| m.issuer == issuer.id && m.accepts(&audiences, azp))
            })
            .ok_or(AuthError::UnknownSubject)?;
        let end_user = EndUser {
            issuer_id: issuer.id.clone(),
            issuer: claims.issuer().to_owned(),
            subject: subject.to_owned(),
            claims: claims.0,
        };
        Ok(Authenticated {
            client: Arc::clone(client),
            end_user: Some(Arc::new(end_user)),
        })
    }
}

/// `Bearer <token>`; the scheme is case-insensitive (RFC 7235).
fn bearer_token(header: &[u8]) -> Result<&str, AuthError> {
    let header = std::str::from_utf8(header).map_err(|_| AuthError::MalformedHeader)?;
    let (scheme, token) = header.split_once(' ').ok_or(AuthError::MalformedHeader)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() || token.contains(' ') {
        return Err(AuthError::MalformedHeader);
    }
    Ok(token)
}

/// Three dot-separated parts: a JWS compact serialisation. Generated API keys have no dots.
fn looks_like_jwt(token: &str) -> bool {
    token.split('.').count() == 3
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(id: &str, key: Option<&str>) -> Client {
        Client {
            id: id.into(),
            api_key_sha256: key.map(api_key::sha256),
            jwt_subject: None,
            jwt_issuer: None,
            end_users: None,
            rate_limit: None,
            max_ttl: 600,
            allow: Vec::new(),
        }
    }

    fn authenticator(allow_anonymous: bool) -> Authenticator {
        Authenticator::new(
            vec![
                client("a", Some("key-a")),
                client("anonymous", None),
                client("b", Some("key-b")),
            ],
            Vec::new(),
            allow_anonymous,
        )
    }

    fn id(auth: &Authenticator, header: Option<&[u8]>) -> Result<String, AuthError> {
        auth.authenticate(header, Now::current())
            .map(|c| c.client.id.clone())
    }

    #[test]
    fn api_key_identifies_its_client() {
        let auth = authenticator(true);
        assert_eq!(id(&auth, Some(b"Bearer key-b")), Ok("b".into()));
        assert_eq!(id(&auth, Some(b"bearer key-a")), Ok("a".into()));
        assert_eq!(
            id(&auth, Some(b"Bearer key-c")),
            Err(AuthError::InvalidApiKey)
        );
    }

    #[test]
    fn no_credentials_means_anonymous_only_where_allowed() {
        assert_eq!(id(&authenticator(true), None), Ok("anonymous".into()));
        assert_eq!(id(&authenticator(false), None), Err(AuthError::Missing));
    }

    #[test]
    fn malformed_headers_are_refused() {
        let auth = authenticator(true);
        for header in [
            &b"key-a"[..],
            b"Basic a2V5LWE=",
            b"Bearer ",
            b"Bearer a b",
            b"\xff\xfe",
        ] {
            assert_eq!(
                id(&auth, Some(header)),
                Err(AuthError::MalformedHeader),
                "{header:?}"
            );
        }
    }

    #[test]
    fn tokens_are_refused_without_jwt_configuration() {
        let auth = authenticator(true);
        assert_eq!(
            id(&auth, Some(b"Bearer aaa.bbb.ccc")),
            Err(AuthError::JwtNotConfigured)
        );
    }
}
