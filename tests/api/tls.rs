//! HTTPS served by the service itself (`TLS_CERT_PATH`, `TLS_KEY_PATH`, `TLS_CLIENT_CA_PATH`),
//! with CAs and certificates generated here (rcgen).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair,
};
use serde_json::Value;

use crate::helpers::{SECRETS_PATH, TestApp, secret};

/// A test CA that issues server and client certificates.
struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A certificate and its key, as PEM.
struct Leaf {
    cert: String,
    key: String,
}

impl Ca {
    fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        Self { issuer }
    }

    fn pem(&self) -> String {
        self.issuer.pem()
    }

    fn issue(&self, names: &[&str], purpose: ExtendedKeyUsagePurpose) -> Leaf {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params.extended_key_usages = vec![purpose];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }

    fn server(&self) -> Leaf {
        self.issue(
            &["localhost", "127.0.0.1"],
            ExtendedKeyUsagePurpose::ServerAuth,
        )
    }
}

/// The TLS files of one test, in its own directory.
struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, content: &str) -> String {
        let path = self.path(name);
        // Write then rename, as a Secret update or `mv` does: no half-written file is seen.
        let temporary = self.path(&format!(".{name}.new"));
        std::fs::write(&temporary, content).unwrap();
        std::fs::rename(&temporary, &path).unwrap();
        path.display().to_string()
    }

    fn serve(&self, leaf: &Leaf) -> Vec<(String, String)> {
        vec![
            ("TLS_CERT_PATH".into(), self.write("cert.pem", &leaf.cert)),
            ("TLS_KEY_PATH".into(), self.write("key.pem", &leaf.key)),
        ]
    }
}

fn spawn(vars: &[(String, String)]) -> TestApp {
    let env: Vec<(&str, &str)> = vars.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    TestApp::spawn_with(&env, &[])
}

/// A client that trusts only `ca`, optionally presenting `identity`.
fn client(ca: &Ca, identity: Option<&Leaf>) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca.pem().as_bytes()).unwrap()])
        .timeout(Duration::from_secs(10))
        // A new connection, so a new handshake, for every request.
        .pool_max_idle_per_host(0);
    if let Some(leaf) = identity {
        let pem = format!("{}{}", leaf.key, leaf.cert);
        builder = builder.identity(reqwest::Identity::from_pem(pem.as_bytes()).unwrap());
    }
    builder.build().unwrap()
}

fn https(app: &TestApp, path: &str) -> String {
    let port = app.address.rsplit(':').next().unwrap();
    format!("https://localhost:{port}{path}")
}

async fn post_secret(
    client: &reqwest::Client,
    app: &TestApp,
) -> reqwest::Result<reqwest::Response> {
    client
        .post(https(app, SECRETS_PATH))
        .json(&secret("GET", "tls/hello.txt"))
        .send()
        .await
}

#[tokio::test]
async fn https_requests_are_served_with_the_configured_certificate() {
    let ca = Ca::new("storage-signer test CA");
    let files = Files::new();
    let app = spawn(&files.serve(&ca.server()));

    let response = post_secret(&client(&ca, None), &app).await.unwrap();
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    assert!(body["data"]["secret_url"].as_str().is_some());
    assert!(
        app.logs().contains("\"scheme\":\"https\""),
        "the listening line says https"
    );

    // A client that does not trust this CA is refused by its own verifier.
    let stranger = Ca::new("another CA");
    assert!(post_secret(&client(&stranger, None), &app).await.is_err());
    // Nothing of the private key reaches the logs.
    let key_pem = std::fs::read_to_string(files.path("key.pem")).unwrap();
    let key_body = key_pem.lines().nth(1).unwrap();
    assert!(!app.logs().contains(key_body));
}

#[tokio::test]
async fn plain_http_on_the_tls_port_gets_a_400_and_no_url() {
    let ca = Ca::new("test CA");
    let files = Files::new();
    let app = spawn(&files.serve(&ca.server()));

    let response = reqwest::Client::new()
        .post(app.url(SECRETS_PATH))
        .json(&secret("GET", "plain.txt"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let text = response.text().await.unwrap();
    assert!(text.contains("HTTPS only"), "{text}");
    assert!(!text.contains("Signature"), "{text}");
}

#[tokio::test]
async fn silent_connections_do_not_hold_up_other_handshakes() {
    let ca = Ca::new("test CA");
    let files = Files::new();
    let app = spawn(&files.serve(&ca.server()));

    // Connections that never start a handshake (slowloris): each waits in its own task.
    let mut silent = Vec::new();
    for _ in 0..50 {
        silent.push(tokio::net::TcpStream::connect(&app.address).await.unwrap());
    }
    let response = client(&ca, None)
        .get(https(&app, "/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    drop(silent);
}

/// Polls until `client` gets a 200 from `/healthz` (the new certificate is served).
async fn wait_until_accepted(client: &reqwest::Client, app: &TestApp) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(response) = client.get(https(app, "/healthz")).send().await
            && response.status() == 200
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test]
async fn a_rotated_certificate_is_served_and_a_broken_one_is_not() {
    let old_ca = Ca::new("old CA");
    let new_ca = Ca::new("new CA");
    let files = Files::new();
    let mut vars = files.serve(&old_ca.server());
    vars.push(("KEY_WATCH_INTERVAL".into(), "1".into()));
    let app = spawn(&vars);
    let trusts_old = client(&old_ca, None);
    let trusts_new = client(&new_ca, None);
    assert!(post_secret(&trusts_new, &app).await.is_err());

    // A certificate whose key is not there yet (half a rotation): the pair in use stays.
    let next = new_ca.server();
    files.write("cert.pem", &next.cert);
    app.wait_for_log("TLS certificate not reloaded").await;
    assert!(
        app.logs().contains("does not belong"),
        "the log says why: {}",
        app.logs()
    );
    assert_eq!(
        trusts_old
            .get(https(&app, "/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // The key follows: the new pair serves the next handshakes.
    files.write("key.pem", &next.key);
    assert!(
        wait_until_accepted(&trusts_new, &app).await,
        "the new certificate was not picked up: {}",
        app.logs()
    );
    assert!(app.logs().contains("new TLS certificate in use"));
    assert!(post_secret(&trusts_old, &app).await.is_err());
}

#[tokio::test]
async fn sighup_reloads_the_certificate_without_a_watch_interval() {
    let old_ca = Ca::new("old CA");
    let new_ca = Ca::new("new CA");
    let files = Files::new();
    let mut vars = files.serve(&old_ca.server());
    vars.push(("KEY_WATCH_INTERVAL".into(), "0".into()));
    let app = spawn(&vars);

    files.serve(&new_ca.server());
    app.send_signal("HUP");
    app.wait_for_log("new TLS certificate in use").await;
    let response = post_secret(&client(&new_ca, None), &app).await.unwrap();
    assert_eq!(response.status(), 201);
}

#[tokio::test]
async fn mutual_tls_admits_only_clients_with_a_certificate_of_the_client_ca() {
    let server_ca = Ca::new("server CA");
    let client_ca = Ca::new("client CA");
    let other_ca = Ca::new("someone else's CA");
    let files = Files::new();
    let mut vars = files.serve(&server_ca.server());
    vars.push((
        "TLS_CLIENT_CA_PATH".into(),
        files.write("clients-ca.pem", &client_ca.pem()),
    ));
    let app = spawn(&vars);
    let service = |ca: &Ca| ca.issue(&["uploader"], ExtendedKeyUsagePurpose::ClientAuth);

    let without = post_secret(&client(&server_ca, None), &app).await;
    assert!(without.is_err(), "no client certificate: {without:?}");
    let wrong = post_secret(&client(&server_ca, Some(&service(&other_ca))), &app).await;
    assert!(wrong.is_err(), "a certificate of another CA: {wrong:?}");
    let right = post_secret(&client(&server_ca, Some(&service(&client_ca))), &app)
        .await
        .unwrap();
    assert_eq!(right.status(), 201);
}

#[test]
fn tls_settings_that_cannot_serve_stop_start_up_naming_the_variable() {
    let ca = Ca::new("test CA");
    let files = Files::new();
    let leaf = ca.server();
    let cert = files.write("cert.pem", &leaf.cert);
    let other_key = files.write("other.pem", &ca.server().key);
    let key = files.write("key.pem", &leaf.key);
    let base = |extra: &[(&str, &str)]| -> (i32, String) {
        let key_path = crate::helpers::conformance_key_path().display().to_string();
        let mut vars = vec![
            ("SERVICE_ACCOUNT_KEY_PATH", key_path.as_str()),
            ("KNOWN_BUCKETS", "test-bucket"),
            ("ALLOW_ANONYMOUS", "true"),
            ("HOST", "127.0.0.1"),
            ("PORT", "0"),
        ];
        vars.extend_from_slice(extra);
        let (status, stdout, stderr) = crate::helpers::run_to_exit(&vars, &[]);
        (status.code().unwrap_or(-1), format!("{stdout}{stderr}"))
    };
    let (status, output) = base(&[("TLS_CERT_PATH", &cert)]);
    assert_eq!(status, 2, "{output}");
    assert!(output.contains("TLS_KEY_PATH"), "{output}");
    let (status, output) = base(&[("TLS_CERT_PATH", &cert), ("TLS_KEY_PATH", &other_key)]);
    assert_ne!(status, 0, "{output}");
    assert!(output.contains("does not belong"), "{output}");
    let (status, output) = base(&[("TLS_KEY_PATH", &key)]);
    assert_eq!(status, 2, "{output}");
    assert!(output.contains("TLS_CERT_PATH"), "{output}");
    let (status, _, stderr) = crate::helpers::run_to_exit(
        &[
            ("TLS_CERT_PATH", cert.as_str()),
            ("TLS_KEY_PATH", key.as_str()),
        ],
        &["--dev"],
    );
    assert_eq!(
        status.code(),
        Some(2),
        "serve --dev stays plain HTTP on loopback: {stderr}"
    );
    assert!(stderr.contains("--dev serves plain HTTP"), "{stderr}");
}
