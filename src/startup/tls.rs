//! HTTPS for the service itself (rustls on aws-lc-rs): a certificate chain and key from PEM
//! files, reloaded when they change, and optionally client certificates (mutual TLS).
//!
//! - **Reload.** Like the service-account key (`key_watch`): a SHA-256 of the files' content is
//!   compared every `KEY_WATCH_INTERVAL` and on `SIGHUP`. A new pair that loads (the key parses
//!   and matches the certificate) serves the next handshake; anything else is logged and the
//!   pair in use stays. Connections already open keep the certificate they started with.
//! - **Handshakes never hold up the accept loop.** Each accepted connection gets its own task,
//!   with [`HANDSHAKE_TIMEOUT`]; a connection in its handshake holds a connection slot
//!   (`MAX_CONNECTIONS`), so their number is capped like any other connection's.
//! - **Plain HTTP on the TLS port** gets a one-line `400` saying to use `https://`, then the
//!   connection closes: no request is served without TLS.
//! - **Client certificates** (`TLS_CLIENT_CA_PATH`): every connection must present a
//!   certificate that chains to one of those CAs, or the handshake fails. This decides who may
//!   connect, not what a caller may have: the clients file still decides that from the bearer
//!   credential, deny by default (see README, "TLS").

use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use aws_lc_rs::digest::{SHA256, digest};
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use zeroize::Zeroizing;

use crate::config::TlsSettings;

/// A client that has not finished its handshake by then is disconnected.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The TLS configuration in force, and the files it came from.
pub struct TlsFiles {
    settings: TlsSettings,
    current: RwLock<Arc<ServerConfig>>,
    /// SHA-256 over the content of every file last looked at, valid or not.
    last_seen: Mutex<Vec<u8>>,
}

impl fmt::Debug for TlsFiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsFiles")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// What was read, before it is checked.
struct Contents {
    cert: Vec<u8>,
    key: Zeroizing<Vec<u8>>,
    client_ca: Option<Vec<u8>>,
}

impl Contents {
    fn read(settings: &TlsSettings) -> Result<Self, String> {
        let read = |variable: &str, path: &Path| {
            std::fs::read(path)
                .map_err(|e| format!("{variable}: cannot read {}: {e}", path.display()))
        };
        Ok(Self {
            cert: read("TLS_CERT_PATH", &settings.cert_path)?,
            key: Zeroizing::new(read("TLS_KEY_PATH", &settings.key_path)?),
            client_ca: settings
                .client_ca_path
                .as_deref()
                .map(|path| read("TLS_CLIENT_CA_PATH", path))
                .transpose()?,
        })
    }

    fn fingerprint(&self) -> Vec<u8> {
        let mut all = Zeroizing::new(Vec::new());
        for part in [
            Some(&self.cert[..]),
            Some(&self.key[..]),
            self.client_ca.as_deref(),
        ] {
            let part = part.unwrap_or_default();
            all.extend_from_slice(&(part.len() as u64).to_be_bytes());
            all.extend_from_slice(part);
        }
        digest(&SHA256, &all).as_ref().to_vec()
    }

    /// The rustls configuration, or why these files cannot serve. Never quotes the key.
    fn server_config(&self, settings: &TlsSettings) -> Result<ServerConfig, String> {
        let cert_path = settings.cert_path.display();
        let chain = CertificateDer::pem_slice_iter(&self.cert)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| format!("TLS_CERT_PATH: {cert_path} is not PEM certificates"))?;
        if chain.is_empty() {
            return Err(format!(
                "TLS_CERT_PATH: no certificate (-----BEGIN CERTIFICATE-----) in {cert_path}"
            ));
        }
        let key = PrivateKeyDer::from_pem_slice(&self.key).map_err(|_| {
            format!(
                "TLS_KEY_PATH: no private key (PKCS#8, PKCS#1 or SEC1 PEM) in {}",
                settings.key_path.display()
            )
        })?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?;
        let builder = match (&self.client_ca, &settings.client_ca_path) {
            (Some(pem), Some(path)) => {
                let mut roots = rustls::RootCertStore::empty();
                for cert in CertificateDer::pem_slice_iter(pem) {
                    let cert = cert.map_err(|_| {
                        format!(
                            "TLS_CLIENT_CA_PATH: {} is not PEM certificates",
                            path.display()
                        )
                    })?;
                    roots
                        .add(cert)
                        .map_err(|e| format!("TLS_CLIENT_CA_PATH: {}: {e}", path.display()))?;
                }
                if roots.is_empty() {
                    return Err(format!(
                        "TLS_CLIENT_CA_PATH: no CA certificate in {}",
                        path.display()
                    ));
                }
                let verifier = WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    Arc::clone(&provider),
                )
                .build()
                .map_err(|e| format!("TLS_CLIENT_CA_PATH: {e}"))?;
                builder.with_client_cert_verifier(verifier)
            }
            _ => builder.with_no_client_auth(),
        };
        let mut config = builder.with_single_cert(chain, key).map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => format!(
                "TLS_KEY_PATH: the key in {} does not belong to the certificate in {cert_path}",
                settings.key_path.display()
            ),
            other => format!("TLS_KEY_PATH / TLS_CERT_PATH: {other}"),
        })?;
        // axum serves HTTP/1.1 here.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }
}

/// What a check of the files found.
#[derive(Debug, PartialEq, Eq)]
pub enum TlsChange {
    Unchanged,
    /// A new pair serves the next handshakes.
    Reloaded,
    /// New content that cannot serve (logged; the pair in use stays).
    Invalid(String),
}

impl TlsFiles {
    /// Reads and checks the files: start-up stops if they cannot serve.
    pub fn load(settings: TlsSettings) -> Result<Self, String> {
        let contents = Contents::read(&settings)?;
        let config = contents.server_config(&settings)?;
        Ok(Self {
            current: RwLock::new(Arc::new(config)),
            last_seen: Mutex::new(contents.fingerprint()),
            settings,
        })
    }

    pub fn requires_client_certificates(&self) -> bool {
        self.settings.client_ca_path.is_some()
    }

    /// The configuration for the next handshake.
    pub fn current(&self) -> Arc<ServerConfig> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Re-reads the files; a new valid pair takes over, anything else leaves the pair in use.
    pub fn check(&self) -> TlsChange {
        let contents = match Contents::read(&self.settings) {
            Ok(contents) => contents,
            // A Secret's symlink swap can hide a file for a moment: not remembered, so it is
            // reported again if it lasts.
            Err(problem) => return TlsChange::Invalid(problem),
        };
        let seen = contents.fingerprint();
        {
            let mut last = self
                .last_seen
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if *last == seen {
                return TlsChange::Unchanged;
            }
            *last = seen;
        }
        match contents.server_config(&self.settings) {
            Ok(config) => {
                *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(config);
                TlsChange::Reloaded
            }
            Err(problem) => TlsChange::Invalid(problem),
        }
    }

    /// [`check`](Self::check), logged.
    pub fn reload(&self) {
        match self.check() {
            TlsChange::Unchanged => {}
            TlsChange::Reloaded => tracing::info!(
                cert = %self.settings.cert_path.display(),
                "new TLS certificate in use"
            ),
            TlsChange::Invalid(problem) => tracing::error!(
                problem,
                "TLS certificate not reloaded: the one in use stays"
            ),
        }
    }
}

/// Says so when bearer credentials would cross the network in clear text.
pub fn warn_if_plain_http(listen: SocketAddr, tls: bool, dev: bool) {
    if !tls && !dev && !listen.ip().is_loopback() {
        tracing::warn!(
            %listen,
            "serving plain HTTP: API keys, tokens and signed URLs cross the network in clear text unless a proxy, ingress or mesh terminates TLS in front; set TLS_CERT_PATH and TLS_KEY_PATH to serve HTTPS"
        );
    }
}

/// The TLS handshake of an accepted connection, within [`HANDSHAKE_TIMEOUT`]; `None` when
/// it failed, timed out, or the client spoke plain HTTP (it got a 400 saying so).
pub async fn accept(
    files: &TlsFiles,
    stream: TcpStream,
    remote: SocketAddr,
) -> Option<TlsStream<TcpStream>> {
    accept_within(files, stream, remote, HANDSHAKE_TIMEOUT).await
}

async fn accept_within(
    files: &TlsFiles,
    stream: TcpStream,
    remote: SocketAddr,
    timeout: Duration,
) -> Option<TlsStream<TcpStream>> {
    let acceptor = TlsAcceptor::from(files.current());
    match tokio::time::timeout(timeout, handshake(acceptor, stream)).await {
        Ok(Ok(Some(tls))) => Some(tls),
        Ok(Ok(None)) => {
            tracing::debug!(%remote, "plain HTTP on the TLS port refused");
            None
        }
        Ok(Err(error)) => {
            tracing::debug!(%remote, %error, "TLS handshake failed");
            None
        }
        Err(_) => {
            tracing::debug!(%remote, "TLS handshake timed out");
            None
        }
    }
}

/// The handshake; `None` when the client spoke plain HTTP (it gets a 400 saying so).
async fn handshake(
    acceptor: TlsAcceptor,
    mut stream: TcpStream,
) -> std::io::Result<Option<TlsStream<TcpStream>>> {
    let mut first = [0u8; 1];
    if stream.peek(&mut first).await? == 1 && first[0].is_ascii_uppercase() {
        // A TLS record starts with 0x16; `GET`, `POST`, ... start with a capital letter.
        let body = "This port speaks HTTPS only: use https://\n";
        let answer = format!(
            "HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = stream.write_all(answer.as_bytes()).await;
        let _ = stream.shutdown().await;
        return Ok(None);
    }
    acceptor.accept(stream).await.map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn self_signed() -> (String, String) {
        let rcgen::CertifiedKey { cert, signing_key } =
            rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        (cert.pem(), signing_key.serialize_pem())
    }

    fn files_in(dir: &Path, cert: &str, key: &str) -> TlsSettings {
        std::fs::write(dir.join("cert.pem"), cert).unwrap();
        std::fs::write(dir.join("key.pem"), key).unwrap();
        TlsSettings {
            cert_path: dir.join("cert.pem"),
            key_path: dir.join("key.pem"),
            client_ca_path: None,
        }
    }

    #[test]
    fn a_key_of_another_certificate_is_refused_without_quoting_it() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, _) = self_signed();
        let (_, other_key) = self_signed();
        let error = TlsFiles::load(files_in(dir.path(), &cert, &other_key)).unwrap_err();
        assert!(error.contains("does not belong"), "{error}");
        let key_body = other_key.lines().nth(1).unwrap();
        assert!(!error.contains(key_body), "{error}");
    }

    #[test]
    fn a_rotated_pair_is_taken_once_and_a_broken_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = self_signed();
        let files = TlsFiles::load(files_in(dir.path(), &cert, &key)).unwrap();
        assert_eq!(files.check(), TlsChange::Unchanged);
        let before = files.current();

        let (cert, key) = self_signed();
        files_in(dir.path(), &cert, &key);
        assert_eq!(files.check(), TlsChange::Reloaded);
        assert!(!Arc::ptr_eq(&before, &files.current()));
        assert_eq!(files.check(), TlsChange::Unchanged);

        // A key written before its certificate (a half-done rotation) keeps the pair in use.
        let (_, next_key) = self_signed();
        std::fs::write(dir.path().join("key.pem"), next_key).unwrap();
        let in_use = files.current();
        assert!(matches!(files.check(), TlsChange::Invalid(_)));
        assert!(Arc::ptr_eq(&in_use, &files.current()));
    }

    #[tokio::test]
    async fn a_silent_connection_is_dropped_after_the_handshake_timeout() {
        use tokio::net::TcpListener;

        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = self_signed();
        let files = Arc::new(TlsFiles::load(files_in(dir.path(), &cert, &key)).unwrap());
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = tcp.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (stream, remote) = tcp.accept().await.unwrap();
            accept_within(&files, stream, remote, Duration::from_millis(200))
                .await
                .is_none()
        });

        let mut silent = TcpStream::connect(address).await.unwrap();
        let mut buffer = [0u8; 16];
        // The server closes it: the read ends (0 bytes), instead of waiting forever.
        let read = tokio::time::timeout(
            Duration::from_secs(30),
            tokio::io::AsyncReadExt::read(&mut silent, &mut buffer),
        )
        .await
        .expect("the server closed the silent connection");
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
        assert!(server.await.unwrap(), "no TLS stream from a silent client");
    }
}
