//! Who is calling: an API key, a JWT, or nobody (the `anonymous` client, where configured).

pub mod api_key;
pub mod jwt;

use std::sync::Arc;

use crate::access::{ANONYMOUS, Client};
use jwt::{JwtError, JwtVerifier};

/// The callers the service knows and how to recognise them. Replaced as a whole when the
/// clients file is reloaded.
#[derive(Debug)]
pub struct Authenticator {
    clients: Vec<Arc<Client>>,
    anonymous: Option<Arc<Client>>,
    jwt: Option<JwtVerifier>,
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
    pub fn new(clients: Vec<Client>, jwt: Option<JwtVerifier>, allow_anonymous: bool) -> Self {
        let clients: Vec<Arc<Client>> = clients.into_iter().map(Arc::new).collect();
        let anonymous = clients
            .iter()
            .find(|c| c.id == ANONYMOUS)
            .filter(|_| allow_anonymous)
            .cloned();
        Self {
            clients,
            anonymous,
            jwt,
        }
    }

    pub fn client_count(&self) -> usize {
        self.clients.len()
    }

    pub fn has_anonymous(&self) -> bool {
        self.anonymous.is_some()
    }

    /// The client that `authorization` (the raw header value, if any) identifies.
    pub fn authenticate(&self, authorization: Option<&[u8]>) -> Result<Arc<Client>, AuthError> {
        let Some(header) = authorization else {
            return self.anonymous.clone().ok_or(AuthError::Missing);
        };
        let token = bearer_token(header)?;
        if looks_like_jwt(token) {
            let verifier = self.jwt.as_ref().ok_or(AuthError::JwtNotConfigured)?;
            let subject = verifier.verify(token).map_err(AuthError::InvalidToken)?;
            return self
                .clients
                .iter()
                .find(|c| c.jwt_subject.as_deref() == Some(subject.as_str()))
                .cloned()
                .ok_or(AuthError::UnknownSubject);
        }
        let hashes = self.clients.iter().map(|c| c.api_key_sha256.as_ref());
        api_key::find(hashes, token)
            .map(|index| Arc::clone(&self.clients[index]))
            .ok_or(AuthError::InvalidApiKey)
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
            None,
            allow_anonymous,
        )
    }

    fn id(result: Result<Arc<Client>, AuthError>) -> Result<String, AuthError> {
        result.map(|c| c.id.clone())
    }

    #[test]
    fn api_key_identifies_its_client() {
        let auth = authenticator(true);
        assert_eq!(id(auth.authenticate(Some(b"Bearer key-b"))), Ok("b".into()));
        assert_eq!(id(auth.authenticate(Some(b"bearer key-a"))), Ok("a".into()));
        assert_eq!(
            id(auth.authenticate(Some(b"Bearer key-c"))),
            Err(AuthError::InvalidApiKey)
        );
    }

    #[test]
    fn no_credentials_means_anonymous_only_where_allowed() {
        assert_eq!(
            id(authenticator(true).authenticate(None)),
            Ok("anonymous".into())
        );
        assert_eq!(
            id(authenticator(false).authenticate(None)),
            Err(AuthError::Missing)
        );
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
                id(auth.authenticate(Some(header))),
                Err(AuthError::MalformedHeader),
                "{header:?}"
            );
        }
    }

    #[test]
    fn tokens_are_refused_without_jwt_configuration() {
        let auth = authenticator(true);
        assert_eq!(
            id(auth.authenticate(Some(b"Bearer aaa.bbb.ccc"))),
            Err(AuthError::JwtNotConfigured)
        );
    }
}
