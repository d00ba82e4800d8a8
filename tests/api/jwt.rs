//! JWT authentication: RS256 and ES256 tokens from a JWKS, as Kubernetes projected
//! service-account tokens are. Tokens are built here with aws-lc-rs directly, not with the
//! library the service uses to verify them.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _, RSA_PKCS1_SHA256,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};

use crate::helpers::{TestApp, audit_records, temp_file};
use crate::policy::spawn_without_open_mode;

const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";
const AUDIENCE: &str = "storage-signer";
const SUBJECT: &str = "system:serviceaccount:media:worker";

pub struct Keys {
    pub rsa: RsaKeyPair,
    pub ec: EcdsaKeyPair,
}

impl Keys {
    pub fn new() -> Self {
        Self {
            rsa: RsaKeyPair::generate(KeySize::Rsa2048).unwrap(),
            ec: EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap(),
        }
    }

    pub fn jwks(&self) -> String {
        let rsa = self.rsa.public_key();
        let point = self.ec.public_key().as_ref(); // 0x04 || x || y
        json!({"keys": [
            {"kty": "RSA", "kid": "rsa-1", "use": "sig", "alg": "RS256",
             "n": B64.encode(rsa.modulus().big_endian_without_leading_zero()),
             "e": B64.encode(rsa.exponent().big_endian_without_leading_zero())},
            {"kty": "EC", "kid": "ec-1", "use": "sig", "alg": "ES256", "crv": "P-256",
             "x": B64.encode(&point[1..33]), "y": B64.encode(&point[33..65])},
        ]})
        .to_string()
    }

    /// A compact JWS: `header.claims.signature`, signed as `header.alg` says.
    pub fn token(&self, header: &Value, claims: &Value) -> String {
        let signing_input = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(claims.to_string())
        );
        let signature = match header["alg"].as_str().unwrap() {
            "RS256" => {
                let mut signature = vec![0; self.rsa.public_modulus_len()];
                self.rsa
                    .sign(
                        &RSA_PKCS1_SHA256,
                        &SystemRandom::new(),
                        signing_input.as_bytes(),
                        &mut signature,
                    )
                    .unwrap();
                signature
            }
            "ES256" => self
                .ec
                .sign(&SystemRandom::new(), signing_input.as_bytes())
                .unwrap()
                .as_ref()
                .to_vec(),
            _ => Vec::new(),
        };
        format!("{signing_input}.{}", B64.encode(signature))
    }
}

pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn claims() -> Value {
    json!({"iss": ISSUER, "aud": AUDIENCE, "sub": SUBJECT, "iat": now(), "exp": now() + 600})
}

fn rs256() -> Value {
    json!({"alg": "RS256", "typ": "JWT", "kid": "rsa-1"})
}

struct JwtApp {
    app: TestApp,
    keys: Keys,
    /// The JWKS file and the clients file.
    files: (tempfile::NamedTempFile, tempfile::NamedTempFile),
    audit: tempfile::TempDir,
}

fn spawn() -> JwtApp {
    spawn_with(&[])
}

fn spawn_with(env: &[(&str, &str)]) -> JwtApp {
    let keys = Keys::new();
    let jwks = temp_file(&keys.jwks());
    let clients = temp_file(&format!(
        "[[clients]]\nid = \"worker\"\njwt_subject = \"{SUBJECT}\"\n[[clients.allow]]\nmethods = [\"GET\"]\nresources = [\"/test-bucket/**\"]\n"
    ));
    let audit = tempfile::tempdir().unwrap();
    let audit_path = audit.path().join("audit.log").display().to_string();
    let mut vars = vec![
        ("CLIENTS_CONFIG_PATH", clients.path().to_str().unwrap()),
        ("JWT_JWKS_PATH", jwks.path().to_str().unwrap()),
        ("JWT_ISSUER", ISSUER),
        ("JWT_AUDIENCE", AUDIENCE),
        ("AUDIT_LOG_PATH", &audit_path),
    ];
    vars.extend_from_slice(env);
    let app = spawn_without_open_mode(&vars);
    JwtApp {
        app,
        keys,
        files: (jwks, clients),
        audit,
    }
}

fn request() -> Value {
    json!({"secret": {"action": "GET", "bucket": "test-bucket", "resource_id": "a/b.txt"}})
}

/// Status and error message of a request with `token`.
async fn attempt(app: &TestApp, token: &str) -> (u16, String) {
    let response = app.post_secret_as(Some(token), &request()).await;
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    let message = body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    (status, message)
}

#[tokio::test]
async fn valid_rs256_and_es256_tokens_authenticate_as_their_client() {
    let jwt = spawn();
    let rs = jwt.keys.token(&rs256(), &claims());
    let es = jwt
        .keys
        .token(&json!({"alg": "ES256", "kid": "ec-1"}), &claims());
    assert_eq!(attempt(&jwt.app, &rs).await.0, 201);
    assert_eq!(attempt(&jwt.app, &es).await.0, 201);

    let audit = std::fs::read_to_string(jwt.audit.path().join("audit.log")).unwrap();
    let records = audit_records(&audit);
    assert_eq!(records.len(), 2);
    assert!(
        records
            .iter()
            .all(|r| r["client_id"] == "worker" && r["decision"] == "issued")
    );
    assert!(
        !audit.contains(&rs) && !audit.contains(&es[..40]),
        "no token in the audit log"
    );
    assert!(!jwt.app.logs().contains(&rs[..40]), "no token in the logs");
}

#[tokio::test]
async fn expiry_is_checked_with_a_small_leeway() {
    let jwt = spawn();
    let mut within_leeway = claims();
    within_leeway["exp"] = json!(now() - 10);
    assert_eq!(
        attempt(&jwt.app, &jwt.keys.token(&rs256(), &within_leeway))
            .await
            .0,
        201
    );
}

/// (name, token, what the 401 message must say) for every kind of bad token.
#[expect(clippy::too_many_lines, reason = "one table of cases")]
fn bad_tokens(keys: &Keys) -> Vec<(&'static str, String, &'static str)> {
    let with = |field: &str, value: Value| {
        let mut c = claims();
        c[field] = value;
        c
    };
    let valid = keys.token(&rs256(), &claims());
    let (head, rest) = valid.split_once('.').unwrap();
    let (_, signature) = rest.split_once('.').unwrap();
    let other_subject =
        B64.encode(with("sub", json!("system:serviceaccount:media:admin")).to_string());

    // HS256 "signed" with the RSA public key as the HMAC secret: the classic key confusion.
    let public_der = keys.rsa.public_key().as_ref().to_vec();
    let hs_input = format!(
        "{}.{}",
        B64.encode(json!({"alg": "HS256", "kid": "rsa-1"}).to_string()),
        B64.encode(claims().to_string())
    );
    let hmac_key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &public_der);
    let hs256 = format!(
        "{hs_input}.{}",
        B64.encode(aws_lc_rs::hmac::sign(&hmac_key, hs_input.as_bytes()))
    );

    vec![
        (
            "expired",
            keys.token(&rs256(), &with("exp", json!(now() - 120))),
            "expired",
        ),
        (
            "not yet valid",
            keys.token(&rs256(), &with("nbf", json!(now() + 120))),
            "not valid yet",
        ),
        (
            "wrong issuer",
            keys.token(&rs256(), &with("iss", json!("https://evil.example"))),
            "issuer",
        ),
        (
            "wrong audience",
            keys.token(&rs256(), &with("aud", json!("someone-else"))),
            "audience",
        ),
        (
            "unknown kid",
            keys.token(&json!({"alg": "RS256", "kid": "rsa-2"}), &claims()),
            "key id",
        ),
        (
            "no kid",
            keys.token(&json!({"alg": "RS256"}), &claims()),
            "key id",
        ),
        (
            "alg none",
            format!(
                "{}.{}.",
                B64.encode(r#"{"alg":"none","kid":"rsa-1"}"#),
                B64.encode(claims().to_string())
            ),
            "algorithm none",
        ),
        ("HS256 with the public key", hs256, "algorithm HS256"),
        (
            "RS256 header on the EC key",
            keys.token(&json!({"alg": "RS256", "kid": "ec-1"}), &claims()),
            "algorithm",
        ),
        (
            "payload swapped",
            format!("{head}.{other_subject}.{signature}"),
            "signature",
        ),
        (
            "unknown subject",
            keys.token(&rs256(), &with("sub", json!("system:serviceaccount:x:y"))),
            "subject",
        ),
        (
            "a hundred years long",
            keys.token(&rs256(), &with("exp", json!(now() + 100 * 365 * 86_400))),
            "lives longer than this issuer's maximum of 86400 seconds",
        ),
        (
            "a day and a minute long",
            keys.token(&rs256(), &with("exp", json!(now() + 86_460))),
            "lives longer",
        ),
        (
            "issued in the future",
            keys.token(&rs256(), &with("iat", json!(now() + 600))),
            "issued in the future",
        ),
        (
            "unknown critical header",
            keys.token(
                &json!({"alg": "RS256", "kid": "rsa-1", "crit": ["exp-v2"], "exp-v2": 1}),
                &claims(),
            ),
            "critical extension",
        ),
        (
            "from an unknown issuer",
            keys.token(&rs256(), &with("iss", json!("https://accounts.google.com"))),
            "issuer is not accepted",
        ),
        (
            "missing exp",
            keys.token(
                &rs256(),
                &json!({"iss": ISSUER, "aud": AUDIENCE, "sub": SUBJECT}),
            ),
            "claim",
        ),
        ("garbage", "aaa.bbb.ccc".into(), "well-formed"),
    ]
}

#[tokio::test]
async fn every_bad_token_is_refused_with_401() {
    let jwt = spawn();
    let cases = bad_tokens(&jwt.keys);
    let mut failures = Vec::new();
    for (name, token, reason) in &cases {
        let (status, message) = attempt(&jwt.app, token).await;
        if status != 401 || !message.contains(reason) {
            failures.push(format!(
                "{name}: {status} {message:?} (expected 401 naming {reason:?})"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    let audit = std::fs::read_to_string(jwt.audit.path().join("audit.log")).unwrap();
    let records = audit_records(&audit);
    assert_eq!(records.len(), cases.len(), "one audit record per refusal");
    assert!(records.iter().all(|r| r["decision"] == "unauthenticated"));
}

/// Waits (at most ten seconds) until `token` gets `status`.
async fn until_status(app: &TestApp, token: &str, status: u16) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        if attempt(app, token).await.0 == status {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test]
async fn a_rotated_jwks_file_and_a_changed_clients_file_are_picked_up_without_sighup() {
    let jwt = spawn_with(&[("CONFIG_WATCH_INTERVAL", "1")]);
    let old = jwt.keys.token(&rs256(), &claims());
    assert_eq!(attempt(&jwt.app, &old).await.0, 201);

    // The ConfigMap is updated with the cluster's new key set; nobody sends SIGHUP.
    let rotated = Keys::new();
    std::fs::write(jwt.files.0.path(), rotated.jwks()).unwrap();
    let new = rotated.token(&rs256(), &claims());
    assert!(
        until_status(&jwt.app, &new, 201).await,
        "the new key is used"
    );
    assert_eq!(attempt(&jwt.app, &old).await.0, 401, "the old key is gone");

    // The clients file drops the worker's rule.
    std::fs::write(
        jwt.files.1.path(),
        format!("[[clients]]\nid = \"worker\"\njwt_subject = \"{SUBJECT}\"\n"),
    )
    .unwrap();
    assert!(
        until_status(&jwt.app, &new, 403).await,
        "the new rules apply"
    );

    // A broken file is logged once and the rules in force stay.
    std::fs::write(jwt.files.1.path(), "[[clients]]\nnonsense = 1\n").unwrap();
    let logs = jwt.app.wait_for_log("clients not reloaded").await;
    assert!(logs.contains("nonsense"), "{logs}");
    assert_eq!(attempt(&jwt.app, &new).await.0, 403);
}
