//! `sign` for `s3://` and `swift://` objects, with the service's stores and credentials: the
//! bucket's entry in `BACKENDS_CONFIG_PATH`, else `MINIO_ENDPOINT`/`AWS_*` or `SWIFT_*`
//! (`startup::stores` resolves the secrets, as for `serve`). The URLs are built by the same
//! signing functions as the service's.

use time::OffsetDateTime;

use super::request::{Request, parse_request, parse_target};
use super::{Failure, SignArgs, render};
use crate::config::stores::{s3_endpoint, s3_from_args, s3_region, swift_from_args};
use crate::config::{BackendSettings, S3Settings, SwiftSettings};
use crate::domain::{Action, SigningVersion};
use crate::signing::SignedUrl;
use crate::signing::s3::{PresignRequest, presign_url};
use crate::signing::swift::{Scope, TempUrlRequest, temp_url};
use crate::startup::stores::{read_backends_file, s3_store, swift_store};
use crate::timestamp;

/// The stores `sign` knows besides GCS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Scheme {
    S3,
    Swift,
}

impl Scheme {
    fn name(self) -> &'static str {
        match self {
            Self::S3 => "s3",
            Self::Swift => "swift",
        }
    }
}

/// The store of the objects, unless they are `gs://` objects (each target is checked to be
/// of the first one's kind).
pub(super) fn scheme(objects: &[String]) -> Option<Scheme> {
    let first = objects.first()?;
    if first.starts_with("s3://") {
        Some(Scheme::S3)
    } else if first.starts_with("swift://") {
        Some(Scheme::Swift)
    } else {
        None
    }
}

/// Signs every object of `objects` (all of `scheme`).
pub(super) fn sign(args: &SignArgs, objects: &[String], scheme: Scheme) -> Result<String, Failure> {
    let request = parse_request(args)?;
    if request.action == Action::Resumable {
        return Err(Failure::Usage(
            "--method RESUMABLE: S3 and Swift have no resumable uploads that start with a signed URL".into(),
        ));
    }
    if request.version == SigningVersion::V2 {
        return Err(Failure::Usage("--version v2 signs GCS URLs only".into()));
    }
    if scheme == Scheme::Swift && !request.headers_to_send().is_empty() {
        return Err(Failure::Usage(
            "swift:// TempURLs sign no headers (--content-type, --headers)".into(),
        ));
    }
    if scheme == Scheme::Swift && !request.query.is_empty() {
        return Err(Failure::Usage(
            "swift:// TempURLs sign no query parameters (--query-params)".into(),
        ));
    }
    let now = timestamp::whole_seconds(OffsetDateTime::now_utc());
    let mut urls = Vec::with_capacity(objects.len());
    for target in objects {
        let (bucket, object) = parse_target(target, scheme.name())?;
        let url = match store_settings(args, bucket.as_str(), scheme)? {
            BackendSettings::S3(settings) => sign_s3(
                args,
                &request,
                &settings,
                bucket.as_str(),
                object.as_str(),
                now,
            )?,
            BackendSettings::Swift(settings) => sign_swift(
                args,
                &request,
                &settings,
                bucket.as_str(),
                object.as_str(),
                now,
            )?,
            // `store_settings` gives the scheme's kind or an error.
            BackendSettings::Gcs => {
                return Err(Failure::Usage(format!(
                    "{target}: a GCS bucket: sign it as gs://"
                )));
            }
        }
        .map_err(|problem| Failure::Signing(format!("{target}: {problem}")))?;
        urls.push(url);
    }
    Ok(render(args, &request, objects, &urls, now))
}

/// The bucket's entry of the backends file, else the store of ael.api's variables.
fn store_settings(
    args: &SignArgs,
    bucket: &str,
    scheme: Scheme,
) -> Result<BackendSettings, Failure> {
    let file = args
        .stores
        .backends_config_path
        .as_deref()
        .filter(|path| !path.trim().is_empty());
    if let Some(path) = file {
        let entries =
            read_backends_file(path.as_ref()).map_err(|e| Failure::Usage(e.to_string()))?;
        if let Some(entry) = entries
            .iter()
            .find(|e| e.buckets.iter().any(|b| b == bucket))
        {
            return match (&entry.backend, scheme) {
                (backend @ BackendSettings::S3(_), Scheme::S3)
                | (backend @ BackendSettings::Swift(_), Scheme::Swift) => Ok(backend.clone()),
                (other, _) => Err(Failure::Usage(format!(
                    "bucket {bucket:?} is a {} bucket in BACKENDS_CONFIG_PATH (backend {:?}), not {}://",
                    other.kind(),
                    entry.name,
                    scheme.name()
                ))),
            };
        }
    }
    match scheme {
        Scheme::S3 => s3_from_args(&args.stores).map(BackendSettings::S3),
        Scheme::Swift => swift_from_args(&args.stores).map(BackendSettings::Swift),
    }
    .map_err(|error| Failure::Usage(error.to_string()))
}

/// A presigned S3 URL; `Err` (the outer one) for a bad argument.
fn sign_s3(
    args: &SignArgs,
    request: &Request,
    settings: &S3Settings,
    bucket: &str,
    key: &str,
    now: OffsetDateTime,
) -> Result<Result<SignedUrl, String>, Failure> {
    let mut settings = settings.clone();
    if let Some(region) = &args.region {
        settings.region =
            s3_region(Some(region)).map_err(|p| Failure::Usage(format!("--region {p}")))?;
    }
    if let Some(endpoint) = &args.storage_base_url {
        settings.endpoint =
            s3_endpoint(endpoint).map_err(|p| Failure::Usage(format!("--storage-base-url {p}")))?;
    }
    let store = s3_store(&settings).map_err(Failure::Usage)?;
    let (headers, query) = (request.header_pairs(), request.query_pairs());
    Ok(presign_url(
        &PresignRequest {
            method: request.action.http_method(),
            endpoint: &store.endpoint,
            style: settings.style(),
            region: &store.region,
            bucket,
            key,
            headers: &headers,
            query: &query,
            timestamp: now,
            expires_in: request.lifetime,
        },
        &store.key,
    )
    .map_err(|e| e.to_string()))
}

/// A Swift TempURL; `Err` (the outer one) for a bad argument.
fn sign_swift(
    args: &SignArgs,
    request: &Request,
    settings: &SwiftSettings,
    container: &str,
    object: &str,
    now: OffsetDateTime,
) -> Result<Result<SignedUrl, String>, Failure> {
    if args.region.is_some() {
        return Err(Failure::Usage(
            "--region: Swift TempURLs name no region".into(),
        ));
    }
    let mut settings = settings.clone();
    if let Some(endpoint) = &args.storage_base_url {
        endpoint
            .trim_end_matches('/')
            .clone_into(&mut settings.endpoint);
    }
    let store = swift_store(&settings).map_err(Failure::Usage)?;
    Ok(temp_url(
        &TempUrlRequest {
            method: request.action.http_method(),
            endpoint: &store.endpoint,
            account: &store.account,
            container,
            scope: Scope::Object(object),
            expires_at: now + time::Duration::seconds(request.lifetime.into()),
            expiry_format: store.expiry_format,
            digest: store.digest,
            ip_range: None,
            filename: None,
            inline: false,
        },
        &store.key,
    )
    .map_err(|e| e.to_string()))
}
