//! The floor, for `scripts/bench-load MODE=floor`: what the least an HTTP service can do per
//! answer costs on this machine. Not the service: a bare hyper server that does one thing
//! per request and nothing else (no authentication, policy, validation, log line, metrics or
//! limits), so its cost per answer is a lower bound on the cost of any service that does at
//! least that thing, measured by the same load generator in the same run.
//!
//! Usage: `floor MODE PORT [KEY.pem]`, with `FLOOR_THREADS` worker threads (default 1).
//! - `healthz`: answers `{"status":"ok"}`.
//! - `rsa`: an RSA-2048 PKCS#1 v1.5 SHA-256 signature of a V2-sized string to sign, with
//!   aws-lc as the service makes it, base64 in a JSON answer. Needs the PKCS#8 PEM key.
//! - `hmac`: a SigV4 signature (four HMACs to derive the key, the canonical request's
//!   SHA-256, the final HMAC), hex in a JSON answer.
//! - `audit`: a record of about 400 bytes, chained by SHA-256 to the one before it, handed
//!   to a writer thread that appends what has gathered to a file; the answer waits for the
//!   write (the least an audit trail that is written before the answer can do).
//! - `hmac-audit`: `hmac`, then `audit`.
//! - `rsa-threads-audit`: what the issue's own requirements leave: `rsa` made on the
//!   service's signing threads (`storage_signer::signing_threads`, one per CPU), not on the
//!   I/O thread, then `audit`. No service can do less and keep signatures off its I/O
//!   threads and its audit record before the answer.
//! - `rsa-batch`: ten `rsa` signatures per request, as a batch of ten V2 secrets asks for.
//! - `rsa-batch-threads-audit`: the batch as the service makes it under the same
//!   requirements: the ten signatures in one job on a signing thread, then ten audit records
//!   in one write.

use std::convert::Infallible;
use std::io::Write as _;
use std::num::NonZeroUsize;
use std::sync::{Arc, mpsc};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use aws_lc_rs::{digest, hmac};
use base64::Engine as _;
use http_body_util::{BodyExt as _, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use storage_signer::signing_threads::SigningThreads;
use tokio::sync::oneshot;

const STRING_TO_SIGN: &str =
    "PUT\n\napplication/pdf\n1795000000\n/bench-bucket/declarations/2026/uploads/scan%201.pdf";

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Healthz,
    Rsa,
    Hmac,
    Audit,
    HmacAudit,
    RsaThreadsAudit,
    RsaBatch,
    RsaBatchThreadsAudit,
}

/// Signatures a batch request makes: the secrets of `BENCH_BODY_BATCH`.
const BATCH: usize = 10;

/// What the audit thread takes: the records of one answer, and where to say they are written.
type AuditJob = (Vec<Vec<u8>>, oneshot::Sender<()>);

struct Floor {
    mode: Mode,
    key: Option<Arc<RsaKeyPair>>,
    rng: SystemRandom,
    audit: Option<mpsc::Sender<AuditJob>>,
    signing: Option<SigningThreads>,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(mode), Some(port)) = (args.get(1), args.get(2)) else {
        eprintln!(
            "usage: floor healthz|rsa|hmac|audit|hmac-audit|rsa-threads-audit|rsa-batch|rsa-batch-threads-audit PORT [KEY.pem]"
        );
        std::process::exit(2);
    };
    let mode = match mode.as_str() {
        "healthz" => Mode::Healthz,
        "rsa" => Mode::Rsa,
        "hmac" => Mode::Hmac,
        "audit" => Mode::Audit,
        "hmac-audit" => Mode::HmacAudit,
        "rsa-threads-audit" => Mode::RsaThreadsAudit,
        "rsa-batch" => Mode::RsaBatch,
        "rsa-batch-threads-audit" => Mode::RsaBatchThreadsAudit,
        other => panic!("unknown mode {other}"),
    };
    let key = args.get(3).map(|path| {
        let pem = std::fs::read_to_string(path).expect("read the key");
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(body)
            .expect("PEM");
        Arc::new(RsaKeyPair::from_pkcs8(&der).expect("a PKCS#8 RSA key"))
    });
    assert!(
        matches!(
            mode,
            Mode::Healthz | Mode::Hmac | Mode::Audit | Mode::HmacAudit
        ) || key.is_some(),
        "rsa needs KEY.pem"
    );
    let audit = matches!(
        mode,
        Mode::Audit | Mode::HmacAudit | Mode::RsaThreadsAudit | Mode::RsaBatchThreadsAudit
    )
    .then(audit_thread);
    // As many as the service starts by default: one per CPU.
    let signing = matches!(mode, Mode::RsaThreadsAudit | Mode::RsaBatchThreadsAudit).then(|| {
        let cpus = std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN);
        SigningThreads::start(cpus).expect("start the signing threads")
    });
    let floor = Arc::new(Floor {
        mode,
        key,
        rng: SystemRandom::new(),
        audit,
        signing,
    });
    let threads = std::env::var("FLOOR_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(serve(floor, port));
}

async fn serve(floor: Arc<Floor>, port: &str) {
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}"))
        .await
        .expect("bind");
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let floor = Arc::clone(&floor);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let floor = Arc::clone(&floor);
                async move { Ok::<_, Infallible>(floor.answer(request).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

impl Floor {
    async fn answer(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let body = request
            .into_body()
            .collect()
            .await
            .map(http_body_util::Collected::to_bytes)
            .unwrap_or_default();
        let answer = match self.mode {
            Mode::Healthz => r#"{"status":"ok"}"#.to_owned(),
            Mode::Rsa => {
                let signature = sign_rsa(self.key.as_ref().expect("key"), &self.rng);
                format!(r#"{{"signature":"{signature}"}}"#)
            }
            Mode::Hmac => format!(r#"{{"signature":"{}"}}"#, sigv4()),
            Mode::Audit => self.audit(1, body.len()).await,
            Mode::HmacAudit => {
                let signature = sigv4();
                self.audit(1, body.len()).await;
                format!(r#"{{"signature":"{signature}"}}"#)
            }
            Mode::RsaThreadsAudit => {
                let key = Arc::clone(self.key.as_ref().expect("key"));
                let rng = self.rng.clone();
                let threads = self.signing.as_ref().expect("signing threads");
                let signature = threads
                    .run(move || sign_rsa(&key, &rng))
                    .await
                    .expect("signed");
                self.audit(1, body.len()).await;
                format!(r#"{{"signature":"{signature}"}}"#)
            }
            Mode::RsaBatch => {
                let key = self.key.as_ref().expect("key");
                let signatures: Vec<String> =
                    (0..BATCH).map(|_| sign_rsa(key, &self.rng)).collect();
                signatures_json(&signatures)
            }
            Mode::RsaBatchThreadsAudit => {
                let key = Arc::clone(self.key.as_ref().expect("key"));
                let rng = self.rng.clone();
                let threads = self.signing.as_ref().expect("signing threads");
                // One job for the whole batch, as the service hands it over.
                let signatures = threads
                    .run(move || (0..BATCH).map(|_| sign_rsa(&key, &rng)).collect::<Vec<_>>())
                    .await
                    .expect("signed");
                self.audit(BATCH, body.len()).await;
                signatures_json(&signatures)
            }
        };
        let mut response = Response::new(Full::new(Bytes::from(answer)));
        response.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static("application/json"),
        );
        response
    }

    /// Hands `count` records to the audit thread and waits until they are written.
    async fn audit(&self, count: usize, body_len: usize) -> String {
        let records = (0..count)
            .map(|_| {
                format!(
                    r#"{{"time":"2026-12-01T12:00:00.000000Z","request_id":"{:032x}","client_id":"bench-frontend","decision":"issued","action":"PUT","bucket":"bench-bucket","object":"declarations/2026/uploads/scan 1.pdf","content_type":"application/pdf","expires_at":"2026-12-01T12:15:00Z","source":"127.0.0.1","body_bytes":{body_len}"#,
                    rand_u128(&self.rng)
                )
                .into_bytes()
            })
            .collect();
        let (done, written) = oneshot::channel();
        let sender = self.audit.as_ref().expect("audit thread");
        sender.send((records, done)).expect("writer");
        written.await.expect("written");
        r#"{"status":"recorded"}"#.to_owned()
    }
}

/// The V2 string to sign's signature, base64.
fn sign_rsa(key: &RsaKeyPair, rng: &SystemRandom) -> String {
    let mut signature = vec![0; key.public_modulus_len()];
    key.sign(
        &RSA_PKCS1_SHA256,
        rng,
        STRING_TO_SIGN.as_bytes(),
        &mut signature,
    )
    .expect("sign");
    base64::engine::general_purpose::STANDARD.encode(signature)
}

fn signatures_json(signatures: &[String]) -> String {
    format!(r#"{{"signatures":["{}"]}}"#, signatures.join(r#"",""#))
}

fn rand_u128(rng: &SystemRandom) -> u128 {
    let mut bytes = [0; 16];
    aws_lc_rs::rand::SecureRandom::fill(rng, &mut bytes).expect("random");
    u128::from_le_bytes(bytes)
}

/// The writer thread: takes what has gathered, chains each record to the one before, one
/// `write` for all, then answers each.
fn audit_thread() -> mpsc::Sender<AuditJob> {
    let (sender, receiver) = mpsc::channel::<AuditJob>();
    let path = std::env::temp_dir().join(format!("floor-audit-{}.log", std::process::id()));
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .expect("open the audit file");
    std::thread::spawn(move || {
        let mut previous = [0u8; 32];
        let mut out = Vec::new();
        while let Ok(first) = receiver.recv() {
            let mut batch = vec![first];
            batch.extend(receiver.try_iter());
            for record in batch.iter().flat_map(|(records, _)| records) {
                let mut context = digest::Context::new(&digest::SHA256);
                context.update(&previous);
                context.update(record);
                previous.copy_from_slice(context.finish().as_ref());
                out.extend_from_slice(record);
                out.extend_from_slice(b",\"chain\":\"");
                out.extend_from_slice(hex::encode(previous).as_bytes());
                out.extend_from_slice(b"\"}\n");
            }
            file.write_all(&out).expect("write the audit file");
            out.clear();
            for (_, done) in batch {
                let _ = done.send(());
            }
        }
        let _ = std::fs::remove_file(path);
    });
    sender
}

fn sigv4() -> String {
    let sign = |key: &[u8], data: &[u8]| {
        hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data)
            .as_ref()
            .to_vec()
    };
    let date = "20261201";
    let stamp = "20261201T120000Z";
    let scope = format!("{date}/auto/storage/goog4_request");
    let mut key = sign(
        b"GOOG4benchmark-secret-of-forty-characters",
        date.as_bytes(),
    );
    for part in ["auto", "storage", "goog4_request"] {
        key = sign(&key, part.as_bytes());
    }
    let canonical = format!(
        "PUT\n/bench-hmac/declarations/2026/uploads/scan%201.pdf\nX-Goog-Algorithm=GOOG4-HMAC-SHA256&X-Goog-Credential=GOOG1BENCHMARKACCESSID%2F{date}%2Fauto%2Fstorage%2Fgoog4_request&X-Goog-Date={stamp}&X-Goog-Expires=900&X-Goog-SignedHeaders=content-type%3Bhost\ncontent-type:application/pdf\nhost:storage.googleapis.com\n\ncontent-type;host\nUNSIGNED-PAYLOAD"
    );
    let hashed = hex::encode(digest::digest(&digest::SHA256, canonical.as_bytes()));
    let string_to_sign = format!("GOOG4-HMAC-SHA256\n{stamp}\n{scope}\n{hashed}");
    hex::encode(sign(&key, string_to_sign.as_bytes()))
}
