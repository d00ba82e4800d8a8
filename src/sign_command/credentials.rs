//! Who signs for `sign`: a key file, the dev server's key, or IAM impersonating a service
//! account.

use std::path::PathBuf;

use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::request::Request;
use super::{Failure, SignArgs};
use crate::dev_key::dev_key_path;
use crate::domain::{Action, SigningVersion};
use crate::iam::{self, IamSettings, IamSigner};
use crate::key::ServiceAccountKey;
use crate::signing::v4::{self, UrlStyle, V4Request};
use crate::signing::{Signer as _, v2};
use crate::timestamp;
use crate::validator::describe_http_error;

/// Who signs.
enum Signer {
    Key(ServiceAccountKey),
    /// IAM `signBlob`, driven by its own small runtime.
    Iam(Box<IamSigner>, tokio::runtime::Runtime),
}

pub(super) struct Credentials {
    signer: Signer,
    /// With --dev-key: the dev store's URL, from the saved key.
    pub(super) dev_store_url: Option<String>,
    /// With --dev-key: where the key was read, and the dev server that saved it.
    dev_key: Option<(PathBuf, Option<u32>)>,
}

impl Credentials {
    pub(super) fn choose(args: &SignArgs, operand_key: Option<String>) -> Result<Self, Failure> {
        if let Some(email) = &args.impersonate_service_account {
            return Ok(Self::plain(Signer::Iam(
                Box::new(impersonate(args, email)?),
                runtime()?,
            )));
        }
        if args.dev_key {
            return dev_key();
        }
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let (path, source) = if let Some(path) = &args.key {
            (path.clone(), "--key")
        } else if let Some(path) = operand_key {
            (path, "the key file operand")
        } else if let Some(path) = env("SERVICE_ACCOUNT_KEY_PATH") {
            (path, "SERVICE_ACCOUNT_KEY_PATH")
        } else if let Some(path) = env("GOOGLE_APPLICATION_CREDENTIALS") {
            (path, "GOOGLE_APPLICATION_CREDENTIALS")
        } else {
            return Err(Failure::Usage(
                "no credentials: give --key FILE, --dev-key or --impersonate-service-account EMAIL, or set GOOGLE_APPLICATION_CREDENTIALS".into(),
            ));
        };
        let bytes = Zeroizing::new(
            std::fs::read(&path).map_err(|e| format!("{source}: cannot read {path}: {e}"))?,
        );
        if let Ok(document) = serde_json::from_slice::<serde_json::Value>(&bytes)
            && let Some(kind) = document["type"].as_str()
            && kind != "service_account"
        {
            return Err(Failure::Usage(format!(
                "{source}: {path} holds {kind:?} credentials, not a service-account key; sign with --impersonate-service-account EMAIL instead"
            )));
        }
        let key =
            ServiceAccountKey::from_json(&bytes).map_err(|e| format!("{source}: {path} {e}"))?;
        Ok(Self::plain(Signer::Key(key)))
    }

    fn plain(signer: Signer) -> Self {
        Self {
            signer,
            dev_store_url: None,
            dev_key: None,
        }
    }

    fn google_access_id(&self) -> &str {
        match &self.signer {
            Signer::Key(key) => key.google_access_id(),
            Signer::Iam(iam, _) => iam.google_access_id(),
        }
    }

    fn sign_bytes(&self, message: &[u8]) -> Result<Vec<u8>, String> {
        match &self.signer {
            Signer::Key(key) => key.sign_rsa_sha256(message).map_err(|e| e.to_string()),
            Signer::Iam(iam, runtime) => runtime
                .block_on(iam.sign(message))
                .map_err(|e| format!("IAM signBlob as {}: {e}", iam.google_access_id())),
        }
    }

    pub(super) fn sign_url(
        &self,
        request: &Request,
        endpoint: &str,
        bucket: &str,
        object: &str,
        now: OffsetDateTime,
    ) -> Result<crate::signing::SignedUrl, String> {
        let expires_at = now + time::Duration::seconds(request.lifetime.into());
        match request.version {
            SigningVersion::V2 => {
                let extension: Vec<(&str, &str)> = request
                    .headers
                    .iter()
                    .filter(|(name, _)| name.to_ascii_lowercase().starts_with("x-goog-"))
                    .map(|(n, v)| (n.as_str(), v.as_str()))
                    .collect();
                let v2_request = v2::V2Request {
                    method: request.action.http_method(),
                    bucket,
                    object,
                    content_md5: request.header("content-md5"),
                    content_type: request.header("content-type"),
                    extension_headers: &extension,
                    // The clock is after 1970.
                    expires: u64::try_from(expires_at.unix_timestamp()).unwrap_or_default(),
                };
                let signature = self.sign_bytes(v2::string_to_sign(&v2_request).as_bytes())?;
                Ok(v2::signed_url(
                    endpoint,
                    &v2_request,
                    self.google_access_id(),
                    &signature,
                ))
            }
            SigningVersion::V4 => {
                let (headers, query) = (request.header_pairs(), request.query_pairs());
                let v4_request = V4Request {
                    method: request.action.http_method(),
                    bucket,
                    object: Some(object),
                    style: UrlStyle::Path { endpoint },
                    headers: &headers,
                    query: &query,
                    timestamp: now,
                    expires_in: request.lifetime,
                };
                let prepared = v4::prepare_in(
                    &v4_request,
                    v4::RSA_ALGORITHM,
                    self.google_access_id(),
                    &request.region,
                );
                let signature = self.sign_bytes(prepared.string_to_sign.as_bytes())?;
                Ok(prepared.signed_url(&hex::encode(signature)))
            }
        }
    }

    /// Asks the dev store for an object that need not exist, with a URL signed by this key:
    /// a store that is down, or that checks another key (the dev server restarted since the
    /// key was saved), is reported instead of printing URLs it will refuse.
    pub(super) fn check_dev_store(&self, store: &str, bucket: &str) -> Result<(), Failure> {
        let (path, pid) = self.dev_key.clone().unwrap_or_default();
        let saved_by = match pid {
            Some(pid) if std::path::Path::new(&format!("/proc/{pid}")).exists() => {
                format!("saved by the dev server with pid {pid}, still running")
            }
            Some(pid) => format!("saved by the dev server with pid {pid}, which is gone"),
            None => "saved by an earlier dev server".to_owned(),
        };
        let request = Request {
            action: Action::Get,
            version: SigningVersion::V4,
            lifetime: 60,
            region: v4::DEFAULT_LOCATION.to_owned(),
            headers: Vec::new(),
            query: Vec::new(),
        };
        let url = self
            .sign_url(
                &request,
                store,
                bucket,
                "storage-signer-dev-key-check",
                timestamp::whole_seconds(OffsetDateTime::now_utc()),
            )
            .map_err(Failure::Signing)?;
        let stale = |why: String| {
            Failure::Signing(format!(
                "the dev key at {} ({saved_by}) is stale: {why}. Start `storage-signer serve --dev` and sign again",
                path.display()
            ))
        };
        let answer = runtime().map_err(Failure::Signing)?.block_on(async {
            let response = reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(5))
                .build()
                .map_err(|e| e.to_string())?
                .get(url.expose())
                .send()
                .await
                .map_err(|e| {
                    if e.is_connect() {
                        "could not connect".to_owned()
                    } else {
                        describe_http_error(e)
                    }
                })?;
            let status = response.status().as_u16();
            Ok::<_, String>((status, response.text().await.unwrap_or_default()))
        });
        match answer {
            Err(problem) => Err(stale(format!(
                "no dev store answers at {store} ({problem})"
            ))),
            Ok((200 | 404, body)) if !body.contains("<Code>NoSuchBucket</Code>") => Ok(()),
            Ok((404, _)) => Err(Failure::Usage(format!(
                "the dev store at {store} has no bucket {bucket:?} (the dev server's KNOWN_BUCKETS)"
            ))),
            Ok((status, body)) if body.contains("<Code>SignatureDoesNotMatch</Code>") => {
                Err(stale(format!(
                    "the dev store at {store} checks signatures with another key (it answered {status} SignatureDoesNotMatch)"
                )))
            }
            Ok((status, _)) => Err(stale(format!(
                "the dev store at {store} answered {status} to a URL signed with it"
            ))),
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}

/// IAM `signBlob` as `email`, with the caller's token from a file, the environment, or the
/// metadata server.
fn impersonate(args: &SignArgs, email: &str) -> Result<IamSigner, Failure> {
    let settings = IamSettings {
        service_account: email.trim().to_owned(),
        iam_endpoint: args.iam_endpoint.trim_end_matches('/').to_owned(),
        metadata_endpoint: args.metadata_endpoint.trim_end_matches('/').to_owned(),
        timeout: iam::DEFAULT_IAM_TIMEOUT,
    };
    if !settings.service_account.contains('@') {
        return Err(Failure::Usage(format!(
            "--impersonate-service-account {email:?} must be a service-account e-mail"
        )));
    }
    let token = if let Some(path) = &args.access_token_file {
        let text = Zeroizing::new(
            std::fs::read_to_string(path)
                .map_err(|e| format!("--access-token-file: cannot read {path}: {e}"))?,
        );
        Some(Zeroizing::new(text.trim().to_owned()))
    } else {
        std::env::var("GOOGLE_OAUTH_ACCESS_TOKEN")
            .ok()
            .map(|token| Zeroizing::new(token.trim().to_owned()))
    };
    let signer = match token {
        Some(token) if token.is_empty() => {
            return Err(Failure::Usage("the access token is empty".into()));
        }
        Some(token) => IamSigner::with_access_token(settings, token),
        None => IamSigner::new(settings),
    };
    signer.map_err(|e| Failure::Signing(e.to_string()))
}

/// The key `serve --dev` saved, with its store's URL and the pid of the server that saved it.
fn dev_key() -> Result<Credentials, Failure> {
    let path = dev_key_path();
    let bytes = Zeroizing::new(std::fs::read(&path).map_err(|e| {
        format!(
            "no dev key at {} ({e}); start `storage-signer serve --dev` first",
            path.display()
        )
    })?);
    let key =
        ServiceAccountKey::from_json(&bytes).map_err(|e| format!("{} {e}", path.display()))?;
    let document = serde_json::from_slice::<serde_json::Value>(&bytes).unwrap_or_default();
    let store = document["storage_base_url"].as_str().map(str::to_owned);
    let pid = document["pid"].as_str().and_then(|pid| pid.parse().ok());
    Ok(Credentials {
        signer: Signer::Key(key),
        dev_store_url: store,
        dev_key: Some((path, pid)),
    })
}
