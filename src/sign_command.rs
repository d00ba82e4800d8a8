//! `storage-signer sign`: one-off signed URLs from the shell, like `gsutil signurl` and
//! `gcloud storage sign-url`.
//!
//! Where the two differ, gsutil's meaning wins (a bare `--duration 10` is ten hours), and
//! gcloud's flag names are accepted as aliases (`--http-verb`, `--private-key-file`). The URLs
//! are built by the same signing functions as the service's, so they are byte for byte
//! Google's client's (`tests/api/sign_cli.rs`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use serde_json::json;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::domain::{Action, BucketName, ContentType, ObjectName, SigningVersion};
use crate::iam::{self, IamSettings, IamSigner};
use crate::key::ServiceAccountKey;
use crate::signing::v4::{self, UrlStyle, V4Request};
use crate::signing::{Signer as _, v2};
use crate::startup::dev_key_path;
use crate::timestamp;

#[derive(Debug, Args)]
#[command(
    override_usage = "storage-signer sign [--key FILE | --dev-key | --impersonate-service-account EMAIL] [OPTIONS] gs://BUCKET/OBJECT...\n       \
                      storage-signer sign [OPTIONS] KEY_FILE gs://BUCKET/OBJECT...   (gsutil's order)",
    after_help = "Credentials, first found: --key, --dev-key, --impersonate-service-account, a key file \
                  before the objects (as gsutil signurl takes it), SERVICE_ACCOUNT_KEY_PATH, \
                  GOOGLE_APPLICATION_CREDENTIALS."
)]
pub struct SignArgs {
    /// Service-account JSON key file [default: `SERVICE_ACCOUNT_KEY_PATH`, then
    /// `GOOGLE_APPLICATION_CREDENTIALS`].
    #[arg(long, visible_alias = "private-key-file", value_name = "FILE")]
    pub key: Option<String>,

    /// Sign with the key of the running `storage-signer serve --dev`, for its local store.
    #[arg(long, conflicts_with_all = ["key", "impersonate_service_account"])]
    pub dev_key: bool,

    /// Sign through IAM Credentials `signBlob` as this service account, with no key file
    /// (as `gcloud storage sign-url --impersonate-service-account`). The access token of the
    /// caller comes from --access-token-file, `GOOGLE_OAUTH_ACCESS_TOKEN`, or the metadata
    /// server (on GCE/GKE).
    #[arg(long, short = 'i', value_name = "EMAIL", conflicts_with = "key")]
    pub impersonate_service_account: Option<String>,

    /// With --impersonate-service-account: a file holding the caller's OAuth access token
    /// (e.g. from `gcloud auth print-access-token`).
    #[arg(long, env = "CLOUDSDK_AUTH_ACCESS_TOKEN_FILE", value_name = "FILE")]
    pub access_token_file: Option<String>,

    /// With --impersonate-service-account: the IAM Credentials endpoint.
    #[arg(long, env = "IAM_ENDPOINT", value_name = "URL", default_value = iam::DEFAULT_IAM_ENDPOINT)]
    pub iam_endpoint: String,

    /// With --impersonate-service-account and no token given: the metadata server.
    #[arg(long, env = "METADATA_ENDPOINT", value_name = "URL", default_value = iam::DEFAULT_METADATA_ENDPOINT)]
    pub metadata_endpoint: String,

    /// GET, HEAD, PUT, DELETE or RESUMABLE, in any case.
    #[arg(long, short = 'm', visible_alias = "http-verb", default_value = "GET")]
    pub method: String,

    /// How long the URL lives: `90s`, `10m`, `2h`, `7d`, or a bare number of hours as in
    /// gsutil (`10` is ten hours); at most 7 days.
    #[arg(long, short = 'd', default_value = "1h")]
    pub duration: String,

    /// Content-Type the request must send (uploads).
    #[arg(long, short = 'c', value_name = "TYPE")]
    pub content_type: Option<String>,

    /// Headers the request must send, signed: `KEY=VALUE,...` (repeatable). V2 signs only
    /// `Content-Type`, `Content-MD5` and `x-goog-*` headers.
    #[arg(long, value_name = "KEY=VALUE,...")]
    pub headers: Vec<String>,

    /// Query parameters signed into the URL (V4): `KEY=VALUE,...` (repeatable), e.g.
    /// `response-content-disposition=attachment`.
    #[arg(long, value_name = "KEY=VALUE,...")]
    pub query_params: Vec<String>,

    /// Location signed into the V4 credential scope: the bucket's region, or `auto`.
    #[arg(long, short = 'r', default_value = v4::DEFAULT_LOCATION)]
    pub region: String,

    /// Signing process: v2 or v4.
    #[arg(long, default_value = "v4")]
    pub version: String,

    /// Scheme and host of the URLs [default: `https://storage.googleapis.com`, or the dev store
    /// with --dev-key].
    #[arg(long, value_name = "URL")]
    pub storage_base_url: Option<String>,

    /// Print a JSON array (URL, headers to send, expiry per object) instead of one URL per line.
    #[arg(long)]
    pub json: bool,

    /// Objects as `gs://bucket/object` (after a key file, gsutil style, if --key is not given).
    #[arg(required = true, value_name = "gs://BUCKET/OBJECT")]
    pub objects: Vec<String>,
}

/// Exit status for a refused argument, as for a refused configuration.
const EXIT_USAGE: u8 = 2;

/// Why no URL was printed.
enum Failure {
    /// A bad argument or missing credentials (exit 2).
    Usage(String),
    /// The arguments were fine, signing or a check was not (exit 1).
    Signing(String),
}

impl From<String> for Failure {
    fn from(problem: String) -> Self {
        Self::Usage(problem)
    }
}

pub fn run(args: &SignArgs) -> ExitCode {
    match sign(args) {
        Ok(output) => {
            print!("{output}");
            ExitCode::SUCCESS
        }
        Err(Failure::Usage(problem)) => {
            eprintln!("storage-signer sign: {problem}");
            ExitCode::from(EXIT_USAGE)
        }
        Err(Failure::Signing(problem)) => {
            eprintln!("storage-signer sign: {problem}");
            ExitCode::FAILURE
        }
    }
}

/// What the arguments ask for, validated.
struct Request {
    action: Action,
    version: SigningVersion,
    lifetime: u32,
    region: String,
    /// Headers to sign and send, as given (`Content-Type` first when given).
    headers: Vec<(String, String)>,
    query: Vec<(String, String)>,
}

fn sign(args: &SignArgs) -> Result<String, Failure> {
    let mut objects: &[String] = &args.objects;
    // gsutil signurl takes the key file as the first operand.
    let mut operand_key = None;
    if let Some(first) = objects.first()
        && !first.starts_with("gs://")
        && objects.len() > 1
        && args.key.is_none()
        && !args.dev_key
        && args.impersonate_service_account.is_none()
    {
        operand_key = Some(first.clone());
        objects = &objects[1..];
    }
    let request = parse_request(args)?;
    let targets = objects
        .iter()
        .map(|target| parse_target(target))
        .collect::<Result<Vec<_>, _>>()?;
    let credentials = Credentials::choose(args, operand_key)?;
    let storage_base_url = args
        .storage_base_url
        .clone()
        .or_else(|| credentials.dev_store_url.clone())
        .unwrap_or_else(|| crate::config::DEFAULT_STORAGE_BASE_URL.to_owned())
        .trim_end_matches('/')
        .to_owned();
    if let Some(store) = &credentials.dev_store_url
        && let Some((bucket, _)) = targets.first()
    {
        credentials.check_dev_store(store, bucket.as_str())?;
    }

    let now = timestamp::whole_seconds(OffsetDateTime::now_utc());
    let mut lines = String::new();
    let mut documents = Vec::new();
    for (target, (bucket, object)) in objects.iter().zip(&targets) {
        let url = credentials
            .sign_url(
                &request,
                &storage_base_url,
                bucket.as_str(),
                object.as_str(),
                now,
            )
            .map_err(|e| Failure::Signing(format!("{target}: {e}")))?;
        let headers: serde_json::Map<String, serde_json::Value> = request
            .headers_to_send()
            .iter()
            .map(|(name, value)| (name.clone(), json!(value)))
            .collect();
        documents.push(json!({
            "object": target,
            "method": request.action.http_method(),
            "url": url.expose(),
            "headers": headers,
            "expires_at": timestamp::iso8601(now + time::Duration::seconds(request.lifetime.into())),
        }));
        lines.push_str(url.expose());
        lines.push('\n');
    }
    if args.json {
        return Ok(format!("{}\n", serde_json::Value::Array(documents)));
    }
    let to_send = request.headers_to_send();
    if !to_send.is_empty() {
        let list: Vec<String> = to_send.iter().map(|(n, v)| format!("{n}: {v}")).collect();
        eprintln!("Send these headers with each request: {}", list.join("; "));
    }
    Ok(lines)
}

fn parse_request(args: &SignArgs) -> Result<Request, String> {
    let action = Action::parse(&args.method.trim().to_ascii_uppercase())
        .map_err(|v| format!("--method {:?} {}", args.method, v.description))?;
    let version = SigningVersion::parse(&args.version.trim().to_ascii_lowercase())
        .map_err(|v| format!("--version {:?} {}", args.version, v.description))?;
    let lifetime = parse_duration(&args.duration)?;
    let mut headers = Vec::new();
    if let Some(value) = args.content_type.as_deref() {
        let content_type = ContentType::parse(value)
            .map_err(|v| format!("--content-type {value:?} {}", v.description))?;
        headers.push(("Content-Type".to_owned(), content_type.as_str().to_owned()));
    }
    for (name, value) in parse_pairs("--headers", &args.headers)? {
        if !is_token(&name) || value.bytes().any(|b| b.is_ascii_control()) {
            return Err(format!(
                "--headers {name:?}: a header is a name (letters, digits, `-`) and a value without control characters"
            ));
        }
        let lower = name.to_ascii_lowercase();
        if lower == "host" {
            return Err("--headers: `host` is signed from the URL".to_owned());
        }
        if let Some((_, earlier)) = headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(&name))
            && *earlier != value
        {
            return Err(format!(
                "--headers {name}={value:?} contradicts {name}: {earlier:?} given before"
            ));
        }
        if version == SigningVersion::V2
            && !(lower.starts_with("x-goog-") || lower == "content-type" || lower == "content-md5")
        {
            return Err(format!(
                "--headers {name:?}: V2 signs only Content-Type, Content-MD5 and x-goog-* headers; use --version v4"
            ));
        }
        headers.push((name, value));
    }
    if action == Action::Resumable {
        headers.push(("x-goog-resumable".to_owned(), "start".to_owned()));
    }
    headers.dedup_by(|a, b| a.0.eq_ignore_ascii_case(&b.0) && a.1 == b.1);
    let query = parse_pairs("--query-params", &args.query_params)?;
    let region = args.region.trim().to_owned();
    if !v4::is_location(&region) {
        return Err(format!(
            "--region {region:?} must be a location such as us-east1, or auto"
        ));
    }
    if version == SigningVersion::V2 {
        if !query.is_empty() {
            return Err(
                "--query-params needs --version v4 (as gcloud storage sign-url signs)".into(),
            );
        }
        if region != v4::DEFAULT_LOCATION {
            return Err("--region needs --version v4: V2 URLs name no location".into());
        }
    }
    Ok(Request {
        action,
        version,
        lifetime,
        region,
        headers,
        query,
    })
}

impl Request {
    /// The headers the request must carry (the signature covers them).
    fn headers_to_send(&self) -> &[(String, String)] {
        &self.headers
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// An RFC 9110 token: what a header name may be.
fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// `KEY=VALUE,KEY=VALUE` from each occurrence of a flag, in order (gcloud's list syntax).
fn parse_pairs(flag: &str, values: &[String]) -> Result<Vec<(String, String)>, String> {
    let mut pairs = Vec::new();
    for value in values {
        for item in value.split(',').filter(|item| !item.trim().is_empty()) {
            let (name, value) = item
                .split_once('=')
                .ok_or_else(|| format!("{flag} {item:?} must be KEY=VALUE"))?;
            let name = name.trim();
            if name.is_empty() {
                return Err(format!("{flag} {item:?} names no key"));
            }
            pairs.push((name.to_owned(), value.to_owned()));
        }
    }
    Ok(pairs)
}

/// Who signs.
enum Signer {
    Key(ServiceAccountKey),
    /// IAM `signBlob`, driven by its own small runtime.
    Iam(Box<IamSigner>, tokio::runtime::Runtime),
}

struct Credentials {
    signer: Signer,
    /// With --dev-key: the dev store's URL, from the saved key.
    dev_store_url: Option<String>,
    /// With --dev-key: where the key was read, and the dev server that saved it.
    dev_key: Option<(PathBuf, Option<u32>)>,
}

impl Credentials {
    fn choose(args: &SignArgs, operand_key: Option<String>) -> Result<Self, Failure> {
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

    fn sign_url(
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
                let headers: Vec<(&str, &str)> = request
                    .headers
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.as_str()))
                    .collect();
                let query: Vec<(&str, &str)> = request
                    .query
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.as_str()))
                    .collect();
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
    fn check_dev_store(&self, store: &str, bucket: &str) -> Result<(), Failure> {
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
                        e.to_string()
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

/// `gs://bucket/object` into a valid bucket and object name.
fn parse_target(target: &str) -> Result<(BucketName, ObjectName), String> {
    let rest = target
        .strip_prefix("gs://")
        .ok_or_else(|| format!("{target:?} must look like gs://bucket/object"))?;
    let (bucket, object) = rest
        .split_once('/')
        .ok_or_else(|| format!("{target:?} names no object (gs://bucket/object)"))?;
    let bucket = BucketName::parse(bucket)
        .map_err(|v| format!("{target}: bucket {bucket:?} {}", v.description))?;
    let object = ObjectName::parse(object)
        .map_err(|v| format!("{target}: object name {}", v.description))?;
    Ok((bucket, object))
}

/// `90s`, `10m`, `2h`, `7d`, or a bare number of hours (gsutil's `-d`), from 1 s to 7 days.
fn parse_duration(value: &str) -> Result<u32, String> {
    let value = value.trim();
    let (number, unit) = value.split_at(
        value
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(value.len()),
    );
    let multiplier = match unit.to_ascii_lowercase().as_str() {
        "s" => 1,
        "m" => 60,
        // gsutil signurl: "Times may be specified with no suffix (default hours)".
        "" | "h" => 3600,
        "d" => 86_400,
        _ => 0,
    };
    number
        .parse::<u32>()
        .ok()
        .and_then(|n| n.checked_mul(multiplier))
        .filter(|seconds| (1..=604_800).contains(seconds))
        .ok_or_else(|| {
            format!(
                "--duration {value:?} must be 1s to 7d, such as 90s, 10m, 2h, 7d, or hours without a unit (gsutil)"
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_units_up_to_seven_days_and_bare_numbers_are_hours() {
        assert_eq!(parse_duration("90s"), Ok(90));
        assert_eq!(parse_duration("10m"), Ok(600));
        assert_eq!(parse_duration("2h"), Ok(7200));
        assert_eq!(parse_duration("7d"), Ok(604_800));
        assert_eq!(
            parse_duration("10"),
            Ok(36_000),
            "gsutil: no suffix means hours"
        );
        assert_eq!(parse_duration("168"), Ok(604_800));
        assert_eq!(parse_duration("1H"), Ok(3600));
        for bad in ["0", "8d", "169", "10w", "m", "-1s", "1.5h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn targets_are_gs_urls_with_valid_names() {
        let (bucket, object) = parse_target("gs://media/a/b c.txt").unwrap();
        assert_eq!((bucket.as_str(), object.as_str()), ("media", "a/b c.txt"));
        for bad in [
            "media/a",
            "gs://media",
            "gs://Media/a",
            "gs://media/a//b",
            "gs://media/",
        ] {
            assert!(parse_target(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn pairs_are_comma_separated_and_repeatable() {
        let pairs =
            parse_pairs("--query-params", &["a=1,b=x=y".to_owned(), "c=".to_owned()]).unwrap();
        assert_eq!(
            pairs,
            vec![
                ("a".to_owned(), "1".to_owned()),
                ("b".to_owned(), "x=y".to_owned()),
                ("c".to_owned(), String::new())
            ]
        );
        assert!(parse_pairs("--headers", &["novalue".to_owned()]).is_err());
        assert!(parse_pairs("--headers", &["=v".to_owned()]).is_err());
    }
}
