//! The service-account key: parsed once, never printed, wiped from memory when dropped.

use std::fmt;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::signing::{SignError, Signer};

/// Why a key file was refused. Messages never contain key material.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("is not valid JSON (line {line}, column {column})")]
    Json { line: usize, column: usize },
    #[error("is not a service-account key: {0}")]
    Shape(&'static str),
    #[error("`type` is {0:?}, expected \"service_account\"")]
    WrongType(String),
    #[error(
        "`private_key` is a PKCS#1 \"RSA PRIVATE KEY\"; convert it with `openssl pkcs8 -topk8 -nocrypt`"
    )]
    Pkcs1,
    #[error("`private_key` is encrypted; storage-signer needs an unencrypted PKCS#8 key")]
    Encrypted,
    #[error("`private_key` is not a PEM \"PRIVATE KEY\" block")]
    NotPem,
    #[error("`private_key` is not an RSA PKCS#8 key of 2048 to 8192 bits ({0})")]
    NotRsaPkcs8(String),
    #[error("could not generate an RSA key")]
    Generate,
}

/// The fields of a Google service-account JSON key file that signing needs.
#[derive(Deserialize)]
struct KeyFile {
    #[serde(rename = "type")]
    kind: Option<String>,
    client_email: Option<String>,
    private_key: Option<String>,
    private_key_id: Option<String>,
}

/// An RSA service-account key.
///
/// `Debug` prints the account and key id only. The RSA key itself lives inside aws-lc, which
/// clears private components when the key is freed; the PEM text and DER bytes we handled on
/// the way in are zeroized here.
pub struct ServiceAccountKey {
    client_email: String,
    private_key_id: Option<String>,
    key_pair: KeyPair,
}

impl ServiceAccountKey {
    /// Parses a service-account JSON key file (`client_email`, `private_key` as PKCS#8 PEM).
    pub fn from_json(bytes: &[u8]) -> Result<Self, KeyError> {
        // serde_json's messages for wrong types quote the offending value, which could be the
        // key itself: keep only the position.
        let file: KeyFile = serde_json::from_slice(bytes).map_err(|e| {
            if e.is_data() {
                KeyError::Shape("a field has the wrong type (expected strings)")
            } else {
                KeyError::Json {
                    line: e.line(),
                    column: e.column(),
                }
            }
        })?;
        let private_key = Zeroizing::new(
            file.private_key
                .ok_or(KeyError::Shape("`private_key` is missing"))?,
        );
        if let Some(kind) = file.kind
            && kind != "service_account"
        {
            return Err(KeyError::WrongType(kind));
        }
        let client_email = file
            .client_email
            .filter(|email| !email.trim().is_empty())
            .ok_or(KeyError::Shape("`client_email` is missing or empty"))?;
        let der = pkcs8_der_from_pem(&private_key)?;
        let key_pair = KeyPair::from_pkcs8(&der)
            .map_err(|rejected| KeyError::NotRsaPkcs8(rejected.to_string()))?;
        Ok(Self {
            client_email,
            private_key_id: file.private_key_id,
            key_pair,
        })
    }

    /// A fresh 2048-bit key that lives only in memory, for `serve --dev`.
    pub fn generate(client_email: &str) -> Result<Self, KeyError> {
        let key_pair = KeyPair::generate(KeySize::Rsa2048).map_err(|_| KeyError::Generate)?;
        Ok(Self {
            client_email: client_email.to_owned(),
            private_key_id: None,
            key_pair,
        })
    }

    /// Signs once, so a key that cannot sign stops start-up instead of failing requests, and
    /// the one-off cost of the first private-key operation (seeding aws-lc's random generator
    /// for RSA blinding: about 50 ms measured here) is not paid by the first caller.
    pub fn self_check(&self) -> Result<(), KeyError> {
        self.sign_rsa_sha256(b"storage-signer start-up self-check")
            .map(drop)
            .map_err(|_| KeyError::NotRsaPkcs8("it cannot produce a signature".into()))
    }

    pub fn client_email(&self) -> &str {
        &self.client_email
    }

    pub fn private_key_id(&self) -> Option<&str> {
        self.private_key_id.as_deref()
    }

    /// The public key as DER `RSAPublicKey` (PKCS#1), for verifiers.
    pub fn public_key_der(&self) -> &[u8] {
        self.key_pair.public_key().as_ref()
    }

    /// The private key as a service-account JSON document, so a `--dev` key can be handed to
    /// a local tool (e.g. Google's client in a test). Never logged.
    pub fn to_json(&self) -> Result<Zeroizing<String>, KeyError> {
        self.to_json_with(&[])
    }

    /// [`to_json`](Self::to_json) with extra string fields.
    pub fn to_json_with(&self, extra: &[(&str, &str)]) -> Result<Zeroizing<String>, KeyError> {
        let der = self.key_pair.as_der().map_err(|_| KeyError::Generate)?;
        let body = Zeroizing::new(BASE64.encode(der.as_ref()));
        let mut pem = Zeroizing::new(String::from("-----BEGIN PRIVATE KEY-----\n"));
        for line in body.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).unwrap_or_default());
            pem.push('\n');
        }
        pem.push_str("-----END PRIVATE KEY-----\n");
        let mut document = serde_json::json!({
            "type": "service_account",
            "client_email": self.client_email,
            "private_key": pem.as_str(),
        });
        for (name, value) in extra {
            document[*name] = serde_json::Value::from(*value);
        }
        Ok(Zeroizing::new(document.to_string()))
    }
}

impl Signer for ServiceAccountKey {
    fn google_access_id(&self) -> &str {
        &self.client_email
    }

    fn sign_rsa_sha256(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        let mut signature = vec![0; self.key_pair.public_modulus_len()];
        // aws-lc-rs ignores the RNG for PKCS#1 v1.5, which is deterministic.
        let rng = aws_lc_rs::rand::SystemRandom::new();
        self.key_pair
            .sign(&RSA_PKCS1_SHA256, &rng, message, &mut signature)
            .map_err(|_| SignError::KeyFailure)?;
        Ok(signature)
    }
}

impl fmt::Debug for ServiceAccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccountKey")
            .field("client_email", &self.client_email)
            .field("private_key_id", &self.private_key_id)
            .field("private_key", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// Extracts the DER bytes of a PEM `PRIVATE KEY` block.
///
/// Hand-written rather than taken from a PEM crate so that every intermediate buffer holding
/// key bytes is zeroized.
fn pkcs8_der_from_pem(pem: &str) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    const BEGIN: &str = "-----BEGIN PRIVATE KEY-----";
    const END: &str = "-----END PRIVATE KEY-----";
    if pem.contains("-----BEGIN RSA PRIVATE KEY-----") {
        return Err(KeyError::Pkcs1);
    }
    if pem.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
        return Err(KeyError::Encrypted);
    }
    let start = pem.find(BEGIN).ok_or(KeyError::NotPem)? + BEGIN.len();
    let end = start + pem[start..].find(END).ok_or(KeyError::NotPem)?;
    let body: Zeroizing<String> = Zeroizing::new(
        pem[start..end]
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect(),
    );
    BASE64
        .decode(body.as_bytes())
        .map(Zeroizing::new)
        .map_err(|_| KeyError::NotPem)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_does_not_contain_key_material() {
        let key = ServiceAccountKey::generate("dev@example.invalid").unwrap();
        let json = key.to_json().unwrap();
        let pem_line = json.split("\\n").nth(1).unwrap().to_owned();
        let debug = format!("{key:?}");
        assert!(debug.contains("dev@example.invalid"));
        assert!(debug.contains("<redacted>"));
        assert!(!debug.contains(&pem_line[..20]));
    }

    #[test]
    fn generated_key_round_trips_through_json() {
        let key = ServiceAccountKey::generate("dev@example.invalid").unwrap();
        let again = ServiceAccountKey::from_json(key.to_json().unwrap().as_bytes()).unwrap();
        assert_eq!(again.public_key_der(), key.public_key_der());
        assert_eq!(
            again.sign_rsa_sha256(b"x").unwrap(),
            key.sign_rsa_sha256(b"x").unwrap()
        );
    }

    #[test]
    fn rejects_pkcs1_pem_with_a_hint() {
        let json = r#"{"client_email":"a@b","private_key":"-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n"}"#;
        assert_eq!(
            ServiceAccountKey::from_json(json.as_bytes()).unwrap_err(),
            KeyError::Pkcs1
        );
    }

    #[test]
    fn rejects_non_rsa_pkcs8_key() {
        // An Ed25519 PKCS#8 key (RFC 8410 example).
        let json = r#"{"client_email":"a@b","private_key":"-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n-----END PRIVATE KEY-----\n"}"#;
        assert!(matches!(
            ServiceAccountKey::from_json(json.as_bytes()).unwrap_err(),
            KeyError::NotRsaPkcs8(_)
        ));
    }

    #[test]
    fn wrong_type_error_does_not_echo_the_value() {
        let json = r#""-----BEGIN PRIVATE KEY-----secret""#;
        let error = ServiceAccountKey::from_json(json.as_bytes()).unwrap_err();
        assert!(!error.to_string().contains("secret"));
    }

    #[test]
    fn rejects_missing_client_email() {
        let json = r#"{"private_key":"x"}"#;
        assert_eq!(
            ServiceAccountKey::from_json(json.as_bytes()).unwrap_err(),
            KeyError::Shape("`client_email` is missing or empty")
        );
    }

    #[test]
    fn rejects_other_credential_types() {
        let json = r#"{"type":"authorized_user","client_email":"a@b","private_key":"x"}"#;
        assert_eq!(
            ServiceAccountKey::from_json(json.as_bytes()).unwrap_err(),
            KeyError::WrongType("authorized_user".into())
        );
    }
}
