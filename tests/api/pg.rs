//! A real PostgreSQL for the audit tests: `scripts/test` starts one and exports
//! `STORAGE_SIGNER_TEST_DATABASE_URL` (a superuser URL); each test creates its own database in
//! it. Without it (a plain `cargo test`), or when a test must stop the server, a private
//! cluster is started with `scripts/lib/postgres.sh` and stopped on drop.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::helpers::run_to_exit;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/lib/postgres.sh");

/// A cluster this test started (stopped on drop), or the shared one.
pub struct Postgres {
    cluster: Option<(tempfile::TempDir, PathBuf)>,
    admin_url: String,
}

impl Postgres {
    /// The shared server if `scripts/test` started one, else a private one.
    pub fn any() -> Self {
        match std::env::var("STORAGE_SIGNER_TEST_DATABASE_URL") {
            Ok(url) if !url.is_empty() => Self {
                cluster: None,
                admin_url: url,
            },
            _ => Self::private(),
        }
    }

    /// A cluster of this test's own, on a free port below the ephemeral range.
    pub fn private() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("pg");
        for attempt in 0..20 {
            let port = 20_000 + (uuid::Uuid::new_v4().as_u128() % 12_000) as u16;
            if std::net::TcpListener::bind(("127.0.0.1", port)).is_err() {
                continue;
            }
            let output = Command::new(SCRIPT)
                .args(["start", data.to_str().unwrap(), &port.to_string()])
                .output()
                .expect("run scripts/lib/postgres.sh");
            if output.status.success() {
                let admin_url = String::from_utf8(output.stdout).unwrap().trim().to_owned();
                return Self {
                    cluster: Some((dir, data)),
                    admin_url,
                };
            }
            let _ = std::fs::remove_dir_all(&data);
            assert!(
                attempt < 19,
                "cannot start PostgreSQL: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        unreachable!()
    }

    fn data_dir(&self) -> &Path {
        &self.cluster.as_ref().expect("a private cluster").1
    }

    /// Stops the server (fast shutdown: connections are cut).
    pub fn stop(&self) {
        assert!(
            Command::new(SCRIPT)
                .args(["stop", self.data_dir().to_str().unwrap()])
                .status()
                .unwrap()
                .success()
        );
    }

    pub fn restart(&self) {
        assert!(
            Command::new(SCRIPT)
                .args(["restart", self.data_dir().to_str().unwrap()])
                .status()
                .unwrap()
                .success()
        );
    }

    /// Serves TLS with a certificate for 127.0.0.1 signed by a new CA; returns the CA's PEM
    /// file (in `dir`). Restarts the server.
    pub fn enable_tls(&self, dir: &Path) -> PathBuf {
        let run = |args: &[&str]| {
            let output = Command::new("openssl")
                .args(args)
                .current_dir(dir)
                .output()
                .unwrap();
            assert!(output.status.success(), "openssl {args:?}: {output:?}");
        };
        std::fs::write(
            dir.join("san.ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
        )
        .unwrap();
        run(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=storage-signer test CA",
        ]);
        run(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ]);
        run(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "2",
            "-extfile",
            "san.ext",
        ]);
        let data = self.data_dir().to_str().unwrap().to_owned();
        let crt = dir.join("server.crt");
        let key = dir.join("server.key");
        assert!(
            Command::new(SCRIPT)
                .args(["ssl", &data, crt.to_str().unwrap(), key.to_str().unwrap()])
                .status()
                .unwrap()
                .success()
        );
        self.stop();
        self.restart();
        dir.join("ca.pem")
    }

    /// A new, empty database; its URL (as the superuser).
    pub async fn database(&self) -> String {
        let name = format!("audit_{}", uuid::Uuid::new_v4().simple());
        let admin = connect(&self.admin_url).await;
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        let (base, _) = self.admin_url.rsplit_once('/').unwrap();
        format!("{base}/{name}")
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some((_, data)) = &self.cluster {
            let _ = Command::new(SCRIPT)
                .args(["stop", data.to_str().unwrap()])
                .status();
        }
    }
}

pub async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("connect to {url}: {e}"));
    tokio::spawn(connection);
    client
}

/// The public key of the conformance key (which the test service signs with), as a file.
pub fn conformance_public_key() -> tempfile::NamedTempFile {
    let key = crate::helpers::conformance_key_path();
    let (status, stdout, stderr) = run_to_exit(
        &[],
        &["audit", "public-key", "--key", key.to_str().unwrap()],
    );
    assert!(status.success(), "{stderr}");
    assert!(stdout.starts_with("-----BEGIN PUBLIC KEY-----"), "{stdout}");
    crate::helpers::temp_file(&stdout)
}
