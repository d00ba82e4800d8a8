//! Signed checkpoints of the chain head, the key that signs them, and the public keys that
//! check them.
//!
//! A checkpoint is a JSON line beside the records, `"log":"audit_checkpoint"`:
//!
//! ```text
//! {"checkpoint":7,"every_records":1000,"every_seconds":60,"head_hash":"…","head_seq":6542,
//!  "key":"<key id>","kind":"interval","log":"audit_checkpoint","prev_checkpoint":"…",
//!  "signer":"signer@project.iam.gserviceaccount.com","time":"…","signature":"<base64>"}
//! ```
//!
//! - `head_seq`/`head_hash`: the last record before it, so the signature covers every record
//!   up to there (each record's hash covers the one before).
//! - `prev_checkpoint`: SHA-256 of the previous checkpoint's whole line (64 zeros for the
//!   first), so checkpoints form a chain of their own and none can be taken out.
//! - `kind`: `start` (a process began writing; if the one before is not `final`, the
//!   previous run ended without its final checkpoint), `interval`, or `final` (a clean stop).
//! - `every_records`/`every_seconds`: the policy in force, which `audit verify` enforces
//!   (never more than `every_records` records after a checkpoint before the next).
//! - `witness` (database chains only): the latest checkpoint of every other chain the writer
//!   saw, `chain:number:digest`; `audit verify --database` requires each to exist.
//! - `signature`: RSASSA-PKCS1-v1_5 SHA-256 over the canonical JSON of the line without
//!   `signature`, by the service account's key (local, or IAM `signBlob`) or a dedicated audit
//!   key; `key` is the SHA-256 of the signing key's public key (PKCS#1 DER) in hex, or `iam:`
//!   and IAM's key id.

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value};

use super::canonical;
use super::chain::sha256_hex;
use crate::iam::IamSigner;
use crate::key::ServiceAccountKey;
use crate::signing::Signer as _;

/// `log` of a checkpoint line.
pub const CHECKPOINT_LOG: &str = "audit_checkpoint";

/// Why a checkpoint was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Start,
    Interval,
    Final,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Start => "start",
            Kind::Interval => "interval",
            Kind::Final => "final",
        }
    }

    fn parse(value: &str) -> Option<Self> {
        match value {
            "start" => Some(Kind::Start),
            "interval" => Some(Kind::Interval),
            "final" => Some(Kind::Final),
            _ => None,
        }
    }
}

/// What a checkpoint says, before it is signed.
#[derive(Debug, Clone)]
pub struct Body<'a> {
    pub chain: Option<&'a str>,
    pub number: u64,
    pub kind: Kind,
    pub head_seq: u64,
    pub head_hash: &'a str,
    pub prev_checkpoint: &'a str,
    pub every_records: u64,
    pub every_seconds: u64,
    pub key: &'a str,
    pub signer: &'a str,
    pub time: &'a str,
    /// Database chains: the latest checkpoint of each other chain this writer saw, as
    /// `chain:number:digest`, so a chain cut back or deleted is caught by another's witness.
    pub witness: &'a [String],
}

impl Body<'_> {
    /// The canonical JSON that is signed.
    pub fn canonical(&self) -> String {
        let mut map = Map::new();
        if let Some(chain) = self.chain {
            map.insert("chain".into(), chain.into());
        }
        map.insert("checkpoint".into(), self.number.into());
        map.insert("every_records".into(), self.every_records.into());
        map.insert("every_seconds".into(), self.every_seconds.into());
        map.insert("head_hash".into(), self.head_hash.into());
        map.insert("head_seq".into(), self.head_seq.into());
        map.insert("key".into(), self.key.into());
        map.insert("kind".into(), self.kind.as_str().into());
        map.insert("log".into(), CHECKPOINT_LOG.into());
        map.insert("prev_checkpoint".into(), self.prev_checkpoint.into());
        map.insert("signer".into(), self.signer.into());
        map.insert("time".into(), self.time.into());
        if !self.witness.is_empty() {
            map.insert("witness".into(), self.witness.into());
        }
        canonical::object_to_string(&map)
    }
}

/// The signed line for a canonical body.
pub fn seal(canonical_body: String, signature: &[u8]) -> String {
    canonical::with_seal(canonical_body, "signature", &BASE64.encode(signature))
}

/// A checkpoint read back from a trail.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    pub chain: Option<String>,
    pub number: u64,
    pub kind: Kind,
    pub head_seq: u64,
    pub head_hash: String,
    pub prev_checkpoint: String,
    pub every_records: u64,
    pub every_seconds: u64,
    pub key: String,
    pub signer: String,
    pub time: String,
    /// Other chains' checkpoints this one saw (`chain:number:digest`).
    pub witness: Vec<String>,
    /// SHA-256 of the whole line: the next checkpoint's `prev_checkpoint`.
    pub digest: String,
    body: String,
    signature: Vec<u8>,
}

/// Reads a checkpoint line (canonical form required); the signature is not checked here.
pub fn open(line: &str) -> Result<Checkpoint, String> {
    let (fields, body, signature) =
        canonical::open(line, "signature").map_err(|e| e.to_string())?;
    let text = |name: &str| -> Result<String, String> {
        fields
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| format!("the checkpoint has no {name}"))
    };
    let number = |name: &str| -> Result<u64, String> {
        fields
            .get(name)
            .and_then(Value::as_u64)
            .ok_or_else(|| format!("the checkpoint has no {name}"))
    };
    if text("log")? != CHECKPOINT_LOG {
        return Err("not a checkpoint".into());
    }
    let kind = Kind::parse(&text("kind")?).ok_or("the checkpoint has an unknown kind")?;
    let signature = BASE64
        .decode(signature.as_bytes())
        .map_err(|_| "the checkpoint's signature is not base64")?;
    Ok(Checkpoint {
        chain: fields
            .get("chain")
            .and_then(Value::as_str)
            .map(str::to_owned),
        number: number("checkpoint")?,
        kind,
        head_seq: number("head_seq")?,
        head_hash: text("head_hash")?,
        prev_checkpoint: text("prev_checkpoint")?,
        every_records: number("every_records")?,
        every_seconds: number("every_seconds")?,
        key: text("key")?,
        signer: text("signer")?,
        time: text("time")?,
        witness: fields
            .get("witness")
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
        digest: sha256_hex(line),
        body,
        signature,
    })
}

impl Checkpoint {
    /// The public key among `keys` that made this checkpoint's signature, if any.
    pub fn signed_by<'k>(&self, keys: &'k [PublicKey]) -> Option<&'k PublicKey> {
        keys.iter()
            .filter(|key| self.key.starts_with("iam:") || key.fingerprint == self.key)
            .find(|key| key.verifies(self.body.as_bytes(), &self.signature))
    }
}

/// The key that signs checkpoints. Never the trail's storage: a local key in memory, or the
/// service account's Google-managed key through IAM.
#[derive(Clone)]
pub enum CheckpointKey {
    Local(Arc<ServiceAccountKey>),
    Iam(Arc<IamSigner>),
}

impl fmt::Debug for CheckpointKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CheckpointKey({}, {})", self.kind(), self.signer())
    }
}

impl CheckpointKey {
    fn kind(&self) -> &'static str {
        match self {
            Self::Local(_) => "local",
            Self::Iam(_) => "iam",
        }
    }

    /// The service account (or key owner) that signs.
    pub fn signer(&self) -> &str {
        match self {
            Self::Local(key) => key.google_access_id(),
            Self::Iam(iam) => iam.google_access_id(),
        }
    }

    /// The `key` of the next checkpoint.
    pub fn key_id(&self) -> String {
        match self {
            Self::Local(key) => fingerprint(key.public_key_der()),
            Self::Iam(iam) => format!("iam:{}", iam.key_id().unwrap_or_default()),
        }
    }

    pub async fn sign(&self, message: &[u8]) -> Result<Vec<u8>, String> {
        match self {
            Self::Local(key) => key.sign_rsa_sha256(message).map_err(|e| e.to_string()),
            Self::Iam(iam) => iam.sign(message).await.map_err(|e| e.to_string()),
        }
    }

    /// The public key as a PEM `PUBLIC KEY` (local keys only: IAM's are published by Google).
    pub fn public_key_pem(&self) -> Option<String> {
        match self {
            Self::Local(key) => Some(spki_pem(key.public_key_der())),
            Self::Iam(_) => None,
        }
    }
}

/// The hex SHA-256 of a PKCS#1 `RSAPublicKey`.
pub fn fingerprint(pkcs1_der: &[u8]) -> String {
    hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, pkcs1_der).as_ref())
}

/// A public key that checks checkpoints.
#[derive(Debug, Clone)]
pub struct PublicKey {
    pkcs1_der: Vec<u8>,
    pub fingerprint: String,
}

impl PublicKey {
    fn from_pkcs1(der: &[u8]) -> Self {
        Self {
            fingerprint: fingerprint(der),
            pkcs1_der: der.to_vec(),
        }
    }

    fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        aws_lc_rs::signature::UnparsedPublicKey::new(
            &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
            &self.pkcs1_der,
        )
        .verify(message, signature)
        .is_ok()
    }

    /// Every key in `text`: PEM blocks `PUBLIC KEY`, `RSA PUBLIC KEY` or `CERTIFICATE` (as
    /// `openssl` writes them), or a JSON object of PEM certificates (what Google publishes at
    /// `https://www.googleapis.com/service_accounts/v1/metadata/x509/<account e-mail>`).
    pub fn parse_all(text: &str) -> Result<Vec<Self>, String> {
        if text.trim_start().starts_with('{') {
            let map: Map<String, Value> = serde_json::from_str(text)
                .map_err(|e| format!("not a JSON object of certificates: {e}"))?;
            let mut keys = Vec::new();
            for value in map.values() {
                keys.extend(Self::parse_all(value.as_str().unwrap_or_default())?);
            }
            return Ok(keys);
        }
        let mut keys = Vec::new();
        for (label, der) in pem_all(text)? {
            let pkcs1 = match label.as_str() {
                "RSA PUBLIC KEY" => der,
                "PUBLIC KEY" => spki_to_pkcs1(&der)?,
                "CERTIFICATE" => spki_to_pkcs1(&certificate_spki(&der)?)?,
                other => return Err(format!("a {other} block is not a public key")),
            };
            keys.push(Self::from_pkcs1(&pkcs1));
        }
        if keys.is_empty() {
            return Err("no public key (PEM PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE)".into());
        }
        Ok(keys)
    }
}

/// Every PEM block of `text`: (label, DER).
fn pem_all(text: &str) -> Result<Vec<(String, Vec<u8>)>, String> {
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start + 11..];
        let label_end = after.find("-----").ok_or("a PEM header is not closed")?;
        let label = &after[..label_end];
        let end_marker = format!("-----END {label}-----");
        let end = after.find(&end_marker).ok_or("a PEM block has no end")?;
        let base64: String = after[label_end + 5..end]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let der = BASE64
            .decode(base64.as_bytes())
            .map_err(|_| format!("the {label} block is not base64"))?;
        blocks.push((label.to_owned(), der));
        rest = &after[end + end_marker.len()..];
    }
    Ok(blocks)
}

/// The DER of every PEM block labelled `label` in `text`.
pub fn pem_blocks(text: &str, label: &str) -> Result<Vec<Vec<u8>>, String> {
    Ok(pem_all(text)?
        .into_iter()
        .filter(|(l, _)| l == label)
        .map(|(_, der)| der)
        .collect())
}

// --- DER, just enough for SubjectPublicKeyInfo and X.509 certificates -------------------

/// One DER element: (tag, contents, the rest after it).
fn der_element(input: &[u8]) -> Result<(u8, &[u8], &[u8]), String> {
    let bad = || "malformed DER".to_owned();
    let (&tag, rest) = input.split_first().ok_or_else(bad)?;
    let (&first, rest) = rest.split_first().ok_or_else(bad)?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return Err(bad());
        }
        let len = rest[..count]
            .iter()
            .fold(0usize, |len, &b| (len << 8) | usize::from(b));
        (len, &rest[count..])
    };
    if rest.len() < len {
        return Err(bad());
    }
    Ok((tag, &rest[..len], &rest[len..]))
}

const SEQUENCE: u8 = 0x30;
const BIT_STRING: u8 = 0x03;
/// AlgorithmIdentifier { rsaEncryption, NULL }.
const RSA_ALGORITHM: &[u8] = &[
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
];

/// `SubjectPublicKeyInfo` (RFC 5280 4.1.2.7) -> `RSAPublicKey` (RFC 8017 A.1.1).
fn spki_to_pkcs1(spki: &[u8]) -> Result<Vec<u8>, String> {
    let (tag, contents, _) = der_element(spki)?;
    if tag != SEQUENCE {
        return Err("not a SubjectPublicKeyInfo".into());
    }
    let (_, algorithm, rest) = der_element(contents)?;
    if algorithm != &RSA_ALGORITHM[2..] {
        return Err("not an RSA public key".into());
    }
    let (tag, bits, _) = der_element(rest)?;
    match bits.split_first() {
        Some((0, key)) if tag == BIT_STRING => Ok(key.to_vec()),
        _ => Err("malformed public key bits".into()),
    }
}

/// The `subjectPublicKeyInfo` of an X.509 certificate (RFC 5280 4.1), as DER.
fn certificate_spki(certificate: &[u8]) -> Result<Vec<u8>, String> {
    let (_, certificate, _) = der_element(certificate)?;
    let (_, tbs, _) = der_element(certificate)?;
    let mut rest = tbs;
    // [0] version (optional), serialNumber, signature, issuer, validity, subject.
    let (tag, _, after) = der_element(rest)?;
    if tag == 0xa0 {
        rest = after;
    }
    for _ in 0..5 {
        rest = der_element(rest)?.2;
    }
    let (tag, _, after) = der_element(rest)?;
    if tag != SEQUENCE {
        return Err("the certificate has no public key".into());
    }
    Ok(rest[..rest.len() - after.len()].to_vec())
}

fn der_length(len: usize) -> Vec<u8> {
    if len < 0x80 {
        return vec![u8::try_from(len).unwrap_or_default()];
    }
    let bytes: Vec<u8> = len
        .to_be_bytes()
        .into_iter()
        .skip_while(|&b| b == 0)
        .collect();
    let mut out = vec![0x80 | u8::try_from(bytes.len()).unwrap_or_default()];
    out.extend(bytes);
    out
}

/// A PEM `PUBLIC KEY` (SubjectPublicKeyInfo) for a PKCS#1 `RSAPublicKey`.
pub fn spki_pem(pkcs1_der: &[u8]) -> String {
    let mut bits = vec![BIT_STRING];
    bits.extend(der_length(pkcs1_der.len() + 1));
    bits.push(0);
    bits.extend_from_slice(pkcs1_der);
    let mut spki = vec![SEQUENCE];
    spki.extend(der_length(RSA_ALGORITHM.len() + bits.len()));
    spki.extend_from_slice(RSA_ALGORITHM);
    spki.extend(bits);
    let body = BASE64.encode(&spki);
    let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).unwrap_or_default());
        pem.push('\n');
    }
    pem.push_str("-----END PUBLIC KEY-----\n");
    pem
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Arc<ServiceAccountKey> {
        Arc::new(ServiceAccountKey::generate("audit@test.invalid").unwrap())
    }

    fn body<'a>(key_id: &'a str, signer: &'a str) -> Body<'a> {
        Body {
            chain: None,
            number: 1,
            kind: Kind::Start,
            head_seq: 0,
            head_hash: super::super::chain::GENESIS,
            prev_checkpoint: super::super::chain::GENESIS,
            every_records: 10,
            every_seconds: 60,
            key: key_id,
            signer,
            time: "2026-11-28T10:00:00Z",
            witness: &[],
        }
    }

    #[tokio::test]
    async fn a_checkpoint_verifies_with_the_published_public_key_only() {
        let signing = CheckpointKey::Local(key());
        let key_id = signing.key_id();
        let canonical = body(&key_id, signing.signer()).canonical();
        let line = seal(
            canonical.clone(),
            &signing.sign(canonical.as_bytes()).await.unwrap(),
        );
        let checkpoint = open(&line).unwrap();
        let public = PublicKey::parse_all(&signing.public_key_pem().unwrap()).unwrap();
        assert!(checkpoint.signed_by(&public).is_some());

        let other = CheckpointKey::Local(key());
        let other_public = PublicKey::parse_all(&other.public_key_pem().unwrap()).unwrap();
        assert!(checkpoint.signed_by(&other_public).is_none());
    }

    #[tokio::test]
    async fn an_edited_checkpoint_no_longer_verifies() {
        let signing = CheckpointKey::Local(key());
        let key_id = signing.key_id();
        let canonical = body(&key_id, signing.signer()).canonical();
        let line = seal(
            canonical.clone(),
            &signing.sign(canonical.as_bytes()).await.unwrap(),
        );
        let edited = line.replace("\"head_seq\":0", "\"head_seq\":9");
        let public = PublicKey::parse_all(&signing.public_key_pem().unwrap()).unwrap();
        assert!(open(&edited).unwrap().signed_by(&public).is_none());
    }

    /// A certificate, its public key and the same key as PKCS#1, made with `openssl req -x509`
    /// and `openssl rsa -pubout` / `-RSAPublicKey_out` for this test.
    #[test]
    fn a_certificate_a_public_key_and_an_rsa_public_key_give_the_same_key() {
        let certificate = PublicKey::parse_all(include_str!("testdata/certificate.pem")).unwrap();
        let spki = PublicKey::parse_all(include_str!("testdata/public_key.pem")).unwrap();
        let pkcs1 = PublicKey::parse_all(include_str!("testdata/rsa_public_key.pem")).unwrap();
        assert_eq!(certificate[0].fingerprint, spki[0].fingerprint);
        assert_eq!(pkcs1[0].fingerprint, spki[0].fingerprint);
        // Google's JSON of certificates, keyed by key id.
        let json = serde_json::json!({"key-1": include_str!("testdata/certificate.pem")});
        let from_json = PublicKey::parse_all(&json.to_string()).unwrap();
        assert_eq!(from_json[0].fingerprint, spki[0].fingerprint);
        assert!(
            PublicKey::parse_all("-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----\n")
                .is_err()
        );
    }

    #[test]
    fn the_spki_pem_round_trips_to_the_same_fingerprint() {
        let key = key();
        let parsed = PublicKey::parse_all(&spki_pem(key.public_key_der())).unwrap();
        assert_eq!(parsed[0].fingerprint, fingerprint(key.public_key_der()));
    }
}
