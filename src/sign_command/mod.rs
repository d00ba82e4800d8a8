//! `storage-signer sign`: one-off signed URLs from the shell, like `gsutil signurl` and
//! `gcloud storage sign-url`.
//!
//! Where the two differ, gsutil's meaning wins (a bare `--duration 10` is ten hours), and
//! gcloud's flag names are accepted as aliases (`--http-verb`, `--private-key-file`). The URLs
//! are built by the same signing functions as the service's, so they are byte for byte
//! Google's client's (`tests/api/sign_cli.rs`).

mod credentials;
mod request;
mod stores;

use std::process::ExitCode;

use clap::Args;
use serde_json::json;
use time::OffsetDateTime;

use credentials::Credentials;
use request::{parse_request, parse_target};

use crate::config::StoreArgs;
use crate::iam;
use crate::signing::SignedUrl;
use crate::timestamp;

#[derive(Debug, Args)]
#[command(
    override_usage = "storage-signer sign [--key FILE | --dev-key | --impersonate-service-account EMAIL] [OPTIONS] gs://BUCKET/OBJECT...\n       \
                      storage-signer sign [OPTIONS] KEY_FILE gs://BUCKET/OBJECT...   (gsutil's order)\n       \
                      storage-signer sign [OPTIONS] s3://BUCKET/KEY... | swift://CONTAINER/OBJECT...",
    after_help = "Credentials, first found: --key, --dev-key, --impersonate-service-account, a key file \
                  before the objects (as gsutil signurl takes it), SERVICE_ACCOUNT_KEY_PATH, \
                  GOOGLE_APPLICATION_CREDENTIALS. For s3:// and swift://, the service's: the bucket's \
                  entry in BACKENDS_CONFIG_PATH, else MINIO_ENDPOINT, AWS_* or SWIFT_*."
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

    /// Location signed into the V4 credential scope: the bucket's region, or `auto`
    /// [default: auto; for s3://, the store's region].
    #[arg(long, short = 'r')]
    pub region: Option<String>,

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

    /// Objects as `gs://bucket/object` (after a key file, gsutil style, if --key is not given),
    /// `s3://bucket/key` or `swift://container/object`, all of one kind.
    #[arg(required = true, value_name = "gs://BUCKET/OBJECT")]
    pub objects: Vec<String>,

    /// The stores of s3:// and swift:// objects, as `serve` reads them.
    #[command(flatten)]
    pub stores: StoreArgs,
}

/// Exit status for a refused argument, as for a refused configuration.
const EXIT_USAGE: u8 = 2;

/// Why no URL was printed.
pub(super) enum Failure {
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

fn sign(args: &SignArgs) -> Result<String, Failure> {
    let mut objects: &[String] = &args.objects;
    // gsutil signurl takes the key file as the first operand.
    let mut operand_key = None;
    if let Some(first) = objects.first()
        && !first.contains("://")
        && objects.len() > 1
        && args.key.is_none()
        && !args.dev_key
        && args.impersonate_service_account.is_none()
    {
        operand_key = Some(first.clone());
        objects = &objects[1..];
    }
    if let Some(scheme) = stores::scheme(objects) {
        return stores::sign(args, objects, scheme);
    }
    let request = parse_request(args)?;
    let targets = objects
        .iter()
        .map(|target| parse_target(target, "gs"))
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
    let mut signed = Vec::with_capacity(targets.len());
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
        signed.push(url);
    }
    Ok(render(args, &request, objects, &signed, now))
}

/// One URL per line (the headers to send on stderr), or with `--json` a JSON array.
fn render(
    args: &SignArgs,
    request: &request::Request,
    objects: &[String],
    urls: &[SignedUrl],
    now: OffsetDateTime,
) -> String {
    let headers: serde_json::Map<String, serde_json::Value> = request
        .headers_to_send()
        .iter()
        .map(|(name, value)| (name.clone(), json!(value)))
        .collect();
    let expires_at = timestamp::iso8601(now + time::Duration::seconds(request.lifetime.into()));
    if args.json {
        let documents: Vec<serde_json::Value> = objects
            .iter()
            .zip(urls)
            .map(|(target, url)| {
                json!({
                    "object": target,
                    "method": request.action.http_method(),
                    "url": url.expose(),
                    "headers": headers,
                    "expires_at": expires_at,
                })
            })
            .collect();
        return format!("{}\n", serde_json::Value::Array(documents));
    }
    let to_send = request.headers_to_send();
    if !to_send.is_empty() {
        let list: Vec<String> = to_send.iter().map(|(n, v)| format!("{n}: {v}")).collect();
        eprintln!("Send these headers with each request: {}", list.join("; "));
    }
    let mut lines = String::new();
    for url in urls {
        lines.push_str(url.expose());
        lines.push('\n');
    }
    lines
}
