//! Dev mode's stand-in identity provider, served by the dev store under `/_idp/` (a path no
//! bucket name can take): an `OpenID` discovery document, the JWKS of a throw-away ES256 key
//! generated at start-up, and a token endpoint that signs in any demo user without a password.
//! Its tokens have the shape of an identity provider's ID tokens (`iss`, `aud`, `sub`, `azp`,
//! `email`, `email_verified`, `groups`, `iat`, `exp`). Never use it outside dev mode.

use std::sync::Arc;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};
use time::OffsetDateTime;

/// The path the provider is served under; its issuer is `http://<store>/_idp`.
pub const PATH: &str = "/_idp";
/// The audience of its tokens (the demo web app's client id).
pub const AUDIENCE: &str = "storage-signer-demo";
/// How long its tokens live.
const TOKEN_LIFETIME_SECS: i64 = 3600;

pub struct DevIdp {
    key: EcdsaKeyPair,
    kid: String,
    issuer: String,
}

impl std::fmt::Debug for DevIdp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevIdp")
            .field("issuer", &self.issuer)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl DevIdp {
    /// A provider with a new key, for the store at `store_base_url`.
    pub fn generate(store_base_url: &str) -> anyhow::Result<Self> {
        let key = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
            .map_err(|_| anyhow::anyhow!("cannot generate the dev identity provider's key"))?;
        let kid = format!("dev-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        Ok(Self {
            key,
            kid,
            issuer: format!("{store_base_url}{PATH}"),
        })
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The JWKS document with the public key.
    pub fn jwks(&self) -> String {
        let point = self.key.public_key().as_ref(); // 0x04 || x || y
        json!({"keys": [{"kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256",
                         "kid": self.kid,
                         "x": B64.encode(&point[1..33]), "y": B64.encode(&point[33..65])}]})
        .to_string()
    }

    /// A signed ID token for `user` at `now`.
    fn token(&self, user: &str, now: OffsetDateTime) -> anyhow::Result<String> {
        let iat = now.unix_timestamp();
        let header = json!({"alg": "ES256", "typ": "JWT", "kid": self.kid});
        let claims = json!({
            "iss": self.issuer, "aud": AUDIENCE, "azp": AUDIENCE, "sub": user,
            "email": format!("{user}@demo.invalid"), "email_verified": true,
            "groups": ["demo-users"], "iat": iat, "exp": iat + TOKEN_LIFETIME_SECS,
        });
        let signing_input = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(claims.to_string())
        );
        let signature = self
            .key
            .sign(&SystemRandom::new(), signing_input.as_bytes())
            .map_err(|_| anyhow::anyhow!("the dev identity provider could not sign"))?;
        Ok(format!(
            "{signing_input}.{}",
            B64.encode(signature.as_ref())
        ))
    }
}

/// `GET /.well-known/openid-configuration`, `GET /jwks.json`, `POST /token`.
pub fn router(idp: Arc<DevIdp>) -> Router {
    Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/jwks.json", get(jwks))
        .route("/token", post(token))
        .with_state(idp)
}

async fn discovery(State(idp): State<Arc<DevIdp>>) -> Response {
    let document = json!({
        "issuer": idp.issuer,
        "jwks_uri": format!("{}/jwks.json", idp.issuer),
        "token_endpoint": format!("{}/token", idp.issuer),
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
    });
    (
        [(header::CACHE_CONTROL, "public, max-age=3600")],
        axum::Json(document),
    )
        .into_response()
}

async fn jwks(State(idp): State<Arc<DevIdp>>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        idp.jwks(),
    )
        .into_response()
}

/// `{"user": "alice"}`: a token for that demo user (1 to 32 of `a-z 0-9 - _`).
async fn token(State(idp): State<Arc<DevIdp>>, body: axum::body::Bytes) -> Response {
    let user = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|body| body["user"].as_str().map(str::to_owned))
        .filter(|user| {
            (1..=32).contains(&user.len())
                && user
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_".contains(&b))
        });
    let Some(user) = user else {
        let error = json!({"error": "invalid_request",
                           "error_description": "send {\"user\": \"<1 to 32 of a-z 0-9 - _>\"}"});
        return (StatusCode::BAD_REQUEST, axum::Json(error)).into_response();
    };
    match idp.token(&user, OffsetDateTime::now_utc()) {
        Ok(token) => (
            [(header::CACHE_CONTROL, "no-store")],
            axum::Json(json!({"id_token": token, "token_type": "Bearer",
                              "expires_in": TOKEN_LIFETIME_SECS})),
        )
            .into_response(),
        Err(error) => {
            tracing::error!(%error, "dev identity provider");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
