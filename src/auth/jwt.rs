//! JWT verification, pure: a token, the policy of its issuer, a key set and the time in; the
//! verified claims out.
//!
//! RS256 and ES256 only, keys found by `kid`. `alg: none` and HMAC algorithms are refused
//! before any key is looked at, so a public key can never be used as an HMAC secret. A header
//! with `crit` is refused: this verifier understands no extension, and RFC 7515 (4.1.11) says
//! a recipient must then reject the token. The issuer and audience are checked, `exp` and
//! `nbf` with a small leeway, `iat` must not be in the future, and the token must not live
//! longer than the issuer's maximum (a 100-year `exp` is a leaked credential for a century).

use std::collections::HashMap;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{Map, Value};

/// Clock skew tolerated on `exp`, `nbf` and `iat`.
pub const LEEWAY_SECONDS: u64 = 30;

/// The signing keys of one issuer, by key id.
#[derive(Clone, Default)]
pub struct KeySet {
    keys: HashMap<String, (Algorithm, DecodingKey)>,
}

impl KeySet {
    /// Reads the RS256 and ES256 (P-256) signing keys of a JWKS document. Keys for encryption,
    /// without a `kid` or of other types are skipped; a set without any usable key is an error.
    pub fn from_jwks(jwks: &str) -> Result<Self, String> {
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
        Ok(Self { keys })
    }

    /// The key ids, sorted (for logs).
    pub fn kids(&self) -> Vec<&str> {
        let mut kids: Vec<&str> = self.keys.keys().map(String::as_str).collect();
        kids.sort_unstable();
        kids
    }
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySet")
            .field("kids", &self.kids())
            .finish()
    }
}

/// What the tokens of one issuer must satisfy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenPolicy {
    /// The exact `iss`.
    pub issuer: String,
    /// The token's audience must include one of these.
    pub audiences: Vec<String>,
    /// The claim that holds the audience: `aud`, or e.g. `client_id` for Cognito access
    /// tokens, which have no `aud`.
    pub audience_claim: String,
    /// Longest accepted `exp - iat` (or `exp - now` without `iat`), in seconds.
    pub max_lifetime: u64,
}

/// Why a token was refused. Never contains the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("the token is not a well-formed JWT")]
    Malformed,
    #[error("algorithm {0} is not accepted (only RS256 and ES256)")]
    Algorithm(String),
    #[error("the token's header has a critical extension (crit) this service does not understand")]
    CriticalHeader,
    #[error("the token names no key id (kid)")]
    MissingKeyId,
    #[error("the token's key id is not in the issuer's key set")]
    UnknownKey,
    #[error("the issuer's key set is not available (its identity provider could not be reached)")]
    KeysUnavailable,
    #[error(
        "the issuer's key set is out of date (its identity provider has not answered for too long)"
    )]
    KeysExpired,
    #[error("the token's signature is not valid")]
    Signature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token was issued in the future (iat)")]
    IssuedInFuture,
    #[error("the token lives longer than this issuer's maximum of {0} seconds")]
    Lifetime(u64),
    #[error("the token's issuer is not accepted")]
    Issuer,
    #[error("the token's audience is not accepted")]
    Audience,
    #[error("the token lacks a required claim (exp, iss, sub, or the audience)")]
    MissingClaim,
}

/// The claims of a token whose signature and validity were checked.
#[derive(Clone, PartialEq)]
pub struct VerifiedClaims(pub Map<String, Value>);

impl VerifiedClaims {
    /// `sub`, which verification made sure is a non-empty string.
    pub fn subject(&self) -> &str {
        self.0
            .get("sub")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    pub fn issuer(&self) -> &str {
        self.0
            .get("iss")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    /// The values of the audience claim named `claim` (a string or an array of strings).
    pub fn audiences(&self, claim: &str) -> Vec<&str> {
        match self.0.get(claim) {
            Some(Value::String(one)) => vec![one.as_str()],
            Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        }
    }
}

impl fmt::Debug for VerifiedClaims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Claims may hold personal data (e-mail, name); the subject and issuer identify.
        f.debug_struct("VerifiedClaims")
            .field("iss", &self.issuer())
            .field("sub", &self.subject())
            .finish_non_exhaustive()
    }
}

/// The token's header fields this verifier looks at, read before the library parses it, so
/// that `none` and `HS256` are reported as refused algorithms rather than as malformed tokens.
#[derive(Deserialize)]
struct RawHeader {
    alg: String,
    kid: Option<String>,
    crit: Option<Value>,
}

fn decode_part<T: for<'de> Deserialize<'de>>(part: Option<&str>) -> Result<T, JwtError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part.ok_or(JwtError::Malformed)?)
        .map_err(|_| JwtError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| JwtError::Malformed)
}

/// The `iss` of a token, unverified: only to choose which issuer's keys verify it.
pub fn unverified_issuer(token: &str) -> Result<String, JwtError> {
    #[derive(Deserialize)]
    struct RawClaims {
        iss: Option<String>,
    }
    let claims: RawClaims = decode_part(token.split('.').nth(1))?;
    claims.iss.ok_or(JwtError::MissingClaim)
}

/// Verifies `token` against `policy` with `keys` at `now` (Unix seconds).
pub fn verify(
    token: &str,
    policy: &TokenPolicy,
    keys: &KeySet,
    now: u64,
) -> Result<VerifiedClaims, JwtError> {
    let header: RawHeader = decode_part(token.split('.').next())?;
    if !matches!(header.alg.as_str(), "RS256" | "ES256") {
        return Err(JwtError::Algorithm(header.alg));
    }
    if header.crit.is_some() {
        return Err(JwtError::CriticalHeader);
    }
    let kid = header.kid.ok_or(JwtError::MissingKeyId)?;
    let (key_algorithm, key) = keys.keys.get(&kid).ok_or(JwtError::UnknownKey)?;
    if header.alg.parse::<Algorithm>().ok() != Some(*key_algorithm) {
        return Err(JwtError::Algorithm(header.alg));
    }
    let mut validation = Validation::new(*key_algorithm);
    validation.leeway = LEEWAY_SECONDS;
    validation.validate_nbf = true;
    validation.set_issuer(&[&policy.issuer]);
    // The audience may live in another claim (Cognito's `client_id`): checked below.
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["exp", "iss", "sub"]);
    let claims = jsonwebtoken::decode::<Map<String, Value>>(token, key, &validation)
        .map(|data| VerifiedClaims(data.claims))
        .map_err(|error| match error.kind() {
            ErrorKind::InvalidSignature => JwtError::Signature,
            ErrorKind::ExpiredSignature => JwtError::Expired,
            ErrorKind::ImmatureSignature => JwtError::NotYetValid,
            ErrorKind::InvalidIssuer => JwtError::Issuer,
            ErrorKind::MissingRequiredClaim(_) => JwtError::MissingClaim,
            _ => JwtError::Malformed,
        })?;
    check_claims(&claims, policy, now)?;
    Ok(claims)
}

/// What the library does not check: the subject's type, the audience, `iat`, the lifetime.
fn check_claims(claims: &VerifiedClaims, policy: &TokenPolicy, now: u64) -> Result<(), JwtError> {
    if claims.subject().is_empty() {
        return Err(JwtError::MissingClaim);
    }
    let audiences = claims.audiences(&policy.audience_claim);
    if audiences.is_empty() {
        return Err(JwtError::MissingClaim);
    }
    if !audiences
        .iter()
        .any(|aud| policy.audiences.iter().any(|wanted| wanted == aud))
    {
        return Err(JwtError::Audience);
    }
    let seconds = |name: &str| -> Result<Option<u64>, JwtError> {
        match claims.0.get(name) {
            None => Ok(None),
            // A negative or fractional time is not a NumericDate this service accepts.
            Some(value) => value.as_u64().map(Some).ok_or(JwtError::Malformed),
        }
    };
    let exp = seconds("exp")?.ok_or(JwtError::MissingClaim)?;
    let iat = seconds("iat")?;
    if let Some(iat) = iat
        && iat > now.saturating_add(LEEWAY_SECONDS)
    {
        return Err(JwtError::IssuedInFuture);
    }
    let lifetime = exp.saturating_sub(iat.unwrap_or(now));
    if lifetime > policy.max_lifetime {
        return Err(JwtError::Lifetime(policy.max_lifetime));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(value: &Value) -> String {
        URL_SAFE_NO_PAD.encode(value.to_string())
    }

    fn policy() -> TokenPolicy {
        TokenPolicy {
            issuer: "https://issuer.example".into(),
            audiences: vec!["api".into()],
            audience_claim: "aud".into(),
            max_lifetime: 3600,
        }
    }

    fn claims(value: Value) -> VerifiedClaims {
        let Value::Object(claims) = value else {
            panic!("claims are an object")
        };
        VerifiedClaims(claims)
    }

    #[test]
    fn the_issuer_is_read_without_verifying() {
        let token = format!(
            "{}.{}.sig",
            encode(&serde_json::json!({"alg": "RS256"})),
            encode(&serde_json::json!({"iss": "https://a.example"}))
        );
        assert_eq!(unverified_issuer(&token).unwrap(), "https://a.example");
        assert_eq!(unverified_issuer("x.y.z"), Err(JwtError::Malformed));
    }

    #[test]
    fn refused_headers_are_named_before_any_key_is_looked_at() {
        let keys = KeySet::default();
        let token = |header: Value| format!("{}.e30.sig", encode(&header));
        assert_eq!(
            verify(
                &token(serde_json::json!({"alg": "none"})),
                &policy(),
                &keys,
                0
            ),
            Err(JwtError::Algorithm("none".into()))
        );
        assert_eq!(
            verify(
                &token(serde_json::json!({"alg": "RS256", "kid": "k", "crit": ["exp"]})),
                &policy(),
                &keys,
                0
            ),
            Err(JwtError::CriticalHeader)
        );
        assert_eq!(
            verify(
                &token(serde_json::json!({"alg": "ES256"})),
                &policy(),
                &keys,
                0
            ),
            Err(JwtError::MissingKeyId)
        );
    }

    #[test]
    fn audience_may_be_a_list_or_another_claim() {
        let now = 1_000_000;
        let base = serde_json::json!({"sub": "u", "exp": now + 60, "iat": now});
        let mut listed = base.clone();
        listed["aud"] = serde_json::json!(["other", "api"]);
        assert_eq!(check_claims(&claims(listed), &policy(), now), Ok(()));
        let mut cognito = base.clone();
        cognito["client_id"] = serde_json::json!("api");
        let by_client_id = TokenPolicy {
            audience_claim: "client_id".into(),
            ..policy()
        };
        assert_eq!(
            check_claims(&claims(cognito.clone()), &by_client_id, now),
            Ok(())
        );
        assert_eq!(
            check_claims(&claims(cognito), &policy(), now),
            Err(JwtError::MissingClaim)
        );
        let mut wrong = base;
        wrong["aud"] = serde_json::json!("other");
        assert_eq!(
            check_claims(&claims(wrong), &policy(), now),
            Err(JwtError::Audience)
        );
    }

    #[test]
    fn iat_in_the_future_and_long_lifetimes_are_refused() {
        let now = 1_000_000;
        let token = |iat: Option<u64>, exp: u64| {
            let mut value = serde_json::json!({"sub": "u", "aud": "api", "exp": exp});
            if let Some(iat) = iat {
                value["iat"] = serde_json::json!(iat);
            }
            claims(value)
        };
        let check = |c: &VerifiedClaims| check_claims(c, &policy(), now);
        assert_eq!(check(&token(Some(now), now + 3600)), Ok(()));
        assert_eq!(
            check(&token(Some(now + 20), now + 600)),
            Ok(()),
            "within leeway"
        );
        assert_eq!(
            check(&token(Some(now + 120), now + 600)),
            Err(JwtError::IssuedInFuture)
        );
        assert_eq!(
            check(&token(Some(now), now + 100 * 365 * 86_400)),
            Err(JwtError::Lifetime(3600))
        );
        assert_eq!(
            check(&token(None, now + 3601)),
            Err(JwtError::Lifetime(3600)),
            "without iat, the time left counts"
        );
        assert_eq!(
            check(&claims(
                serde_json::json!({"sub": "u", "aud": "api", "exp": -5})
            )),
            Err(JwtError::Malformed)
        );
    }
}
