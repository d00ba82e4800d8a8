//! JWT authentication for workloads (e.g. Kubernetes projected service-account tokens):
//! RS256 and ES256 only, keys from a JWKS file, issuer and audience checked, `exp` and `nbf`
//! checked with a small leeway. `alg: none` and HMAC algorithms are refused before any key is
//! looked at, so a public key can never be used as an HMAC secret.

use std::collections::HashMap;
use std::fmt;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

/// Clock skew tolerated on `exp` and `nbf`.
pub const LEEWAY_SECONDS: u64 = 30;

/// Verifies tokens against one JWKS, issuer and audience.
pub struct JwtVerifier {
    keys: HashMap<String, (Algorithm, DecodingKey)>,
    issuer: String,
    audience: String,
}

/// Why a token was refused. Never contains the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("the token is not a well-formed JWT")]
    Malformed,
    #[error("algorithm {0} is not accepted (only RS256 and ES256)")]
    Algorithm(String),
    #[error("the token names no key id (kid)")]
    MissingKeyId,
    #[error("the token's key id is not in the configured key set")]
    UnknownKey,
    #[error("the token's signature is not valid")]
    Signature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token's issuer is not accepted")]
    Issuer,
    #[error("the token's audience is not accepted")]
    Audience,
    #[error("the token lacks a required claim (exp, iss, aud, sub)")]
    MissingClaim,
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
}

impl JwtVerifier {
    /// Reads the RS256 and ES256 (P-256) signing keys of a JWKS document. Keys for encryption
    /// or of other types are skipped; a set without any usable key is an error.
    pub fn from_jwks(jwks: &str, issuer: &str, audience: &str) -> Result<Self, String> {
        let set: JwkSet =
            serde_json::from_str(jwks).map_err(|e| format!("is not a JWKS document: {e}"))?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            if jwk.common.public_key_use == Some(PublicKeyUse::Encryption) {
                continue;
            }
            let Some(kid) = jwk.common.key_id.clone() else {
                continue;
            };
            let algorithm = match (&jwk.algorithm, jwk.common.key_algorithm) {
                (AlgorithmParameters::RSA(_), None | Some(KeyAlgorithm::RS256)) => Algorithm::RS256,
                (AlgorithmParameters::EllipticCurve(ec), None | Some(KeyAlgorithm::ES256))
                    if ec.curve == EllipticCurve::P256 =>
                {
                    Algorithm::ES256
                }
                _ => continue,
            };
            let key = DecodingKey::from_jwk(jwk).map_err(|e| format!("key {kid:?}: {e}"))?;
            keys.insert(kid, (algorithm, key));
        }
        if keys.is_empty() {
            return Err("has no RS256 or ES256 signing key with a kid".into());
        }
        Ok(Self {
            keys,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
        })
    }

    /// Verifies `token` and returns its subject (`sub`).
    pub fn verify(&self, token: &str) -> Result<String, JwtError> {
        let algorithm = header_algorithm(token)?;
        if !matches!(algorithm.as_str(), "RS256" | "ES256") {
            return Err(JwtError::Algorithm(algorithm));
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| JwtError::Malformed)?;
        let kid = header.kid.ok_or(JwtError::MissingKeyId)?;
        let (key_algorithm, key) = self.keys.get(&kid).ok_or(JwtError::UnknownKey)?;
        if *key_algorithm != header.alg {
            return Err(JwtError::Algorithm(algorithm));
        }
        let mut validation = Validation::new(*key_algorithm);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        jsonwebtoken::decode::<Claims>(token, key, &validation)
            .map(|data| data.claims.sub)
            .map_err(|error| match error.kind() {
                ErrorKind::InvalidSignature => JwtError::Signature,
                ErrorKind::ExpiredSignature => JwtError::Expired,
                ErrorKind::ImmatureSignature => JwtError::NotYetValid,
                ErrorKind::InvalidIssuer => JwtError::Issuer,
                ErrorKind::InvalidAudience => JwtError::Audience,
                ErrorKind::MissingRequiredClaim(_) => JwtError::MissingClaim,
                _ => JwtError::Malformed,
            })
    }
}

impl fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("kids", &self.keys.keys().collect::<Vec<_>>())
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish()
    }
}

/// The raw `alg` of the token's header, read before the library parses it, so that `none` and
/// `HS256` are reported as refused algorithms rather than as malformed tokens.
fn header_algorithm(token: &str) -> Result<String, JwtError> {
    use base64::Engine as _;
    #[derive(Deserialize)]
    struct RawHeader {
        alg: String,
    }
    let header = token.split('.').next().ok_or(JwtError::Malformed)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| JwtError::Malformed)?;
    serde_json::from_slice::<RawHeader>(&bytes)
        .map(|h| h.alg)
        .map_err(|_| JwtError::Malformed)
}
