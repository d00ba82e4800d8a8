//! `storage-signer sign`: one-off signed URLs from the shell, like `gsutil signurl`.

use std::collections::{HashMap, HashSet};
use std::process::ExitCode;

use clap::Args;
use serde_json::json;
use time::OffsetDateTime;

use crate::dev_key::dev_key_path;
use crate::domain::{
    Action, BucketName, ContentType, MAX_URL_LIFETIME_SECS, ObjectName, SigningVersion,
};
use crate::issuing::{Issuer, RsaSigner, UrlGrant};
use crate::key::ServiceAccountKey;
use crate::timestamp;

#[derive(Debug, Args)]
pub struct SignArgs {
    /// Service-account JSON key file.
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "dev_key",
        conflicts_with = "dev_key"
    )]
    pub key: Option<String>,

    /// Sign with the key of the running `storage-signer serve --dev`, for its local store.
    #[arg(long)]
    pub dev_key: bool,

    /// GET, HEAD, PUT, DELETE or RESUMABLE.
    #[arg(long, short = 'm', default_value = "GET")]
    pub method: String,

    /// How long the URL lives: `90s`, `10m`, `2h`, `7d` (at most 7 days).
    #[arg(long, short = 'd', default_value = "1h")]
    pub duration: String,

    /// Content-Type the request must send (uploads).
    #[arg(long, short = 'c', value_name = "TYPE")]
    pub content_type: Option<String>,

    /// Signing process: v2 or v4.
    #[arg(long, default_value = "v4")]
    pub version: String,

    /// Scheme and host of the URLs [default: `https://storage.googleapis.com`, or the dev store with --dev-key].
    #[arg(long, value_name = "URL")]
    pub storage_base_url: Option<String>,

    /// Print a JSON array (URL, headers to send, expiry per object) instead of one URL per line.
    #[arg(long)]
    pub json: bool,

    /// Objects as `gs://bucket/object`.
    #[arg(required = true, value_name = "gs://BUCKET/OBJECT")]
    pub objects: Vec<String>,
}

/// Exit status for a refused argument, as for a refused configuration.
const EXIT_USAGE: u8 = 2;

pub fn run(args: &SignArgs) -> ExitCode {
    match sign(args) {
        Ok(output) => {
            print!("{output}");
            ExitCode::SUCCESS
        }
        Err(problem) => {
            eprintln!("storage-signer sign: {problem}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

fn sign(args: &SignArgs) -> Result<String, String> {
    let action = Action::parse(&args.method)
        .map_err(|v| format!("--method {:?} {}", args.method, v.description))?;
    let version = SigningVersion::parse(&args.version)
        .map_err(|v| format!("--version {:?} {}", args.version, v.description))?;
    let lifetime = parse_duration(&args.duration)?;
    let content_type = args
        .content_type
        .as_deref()
        .map(|value| {
            ContentType::parse(value)
                .map_err(|v| format!("--content-type {value:?} {}", v.description))
        })
        .transpose()?;
    let targets = args
        .objects
        .iter()
        .map(|target| parse_target(target))
        .collect::<Result<Vec<_>, _>>()?;
    let (key, dev_store_url) = load_key(args)?;
    let storage_base_url = args
        .storage_base_url
        .clone()
        .or(dev_store_url)
        .unwrap_or_else(|| crate::config::DEFAULT_STORAGE_BASE_URL.to_owned())
        .trim_end_matches('/')
        .to_owned();

    let signer = Issuer {
        signer: RsaSigner::Key(std::sync::Arc::new(key)),
        hmac: None,
        storage_base_url,
        default_version: version,
        bucket_styles: HashMap::new(),
        hmac_buckets: HashSet::new(),
    };
    let now = OffsetDateTime::now_utc();
    let mut lines = String::new();
    let mut documents = Vec::new();
    let mut headers_to_send = Vec::new();
    for (target, (bucket, object)) in args.objects.iter().zip(&targets) {
        let grant = UrlGrant {
            action,
            bucket: bucket.as_str(),
            object: object.as_str(),
            version: Some(version),
            content_type: content_type.as_ref().map(ContentType::as_str),
            content_md5: None,
            if_generation_match: None,
            content_length_range: None,
            lifetime,
            extras: crate::issuing::UrlExtras::default(),
        };
        let issued = signer
            .issue_url(&grant, now)
            .map_err(|e| format!("{target}: {e}"))?;
        headers_to_send.clone_from(&issued.headers);
        let headers: serde_json::Map<String, serde_json::Value> = issued
            .headers
            .iter()
            .map(|(name, value)| (name.clone(), json!(value)))
            .collect();
        documents.push(json!({
            "object": target,
            "method": action.http_method(),
            "url": issued.url.expose(),
            "headers": headers,
            "expires_at": timestamp::iso8601(issued.expires_at),
        }));
        lines.push_str(issued.url.expose());
        lines.push('\n');
    }
    if args.json {
        return Ok(format!("{}\n", serde_json::Value::Array(documents)));
    }
    if !headers_to_send.is_empty() {
        let list: Vec<String> = headers_to_send
            .iter()
            .map(|(n, v)| format!("{n}: {v}"))
            .collect();
        eprintln!("Send these headers with each request: {}", list.join("; "));
    }
    Ok(lines)
}

fn load_key(args: &SignArgs) -> Result<(ServiceAccountKey, Option<String>), String> {
    let path = match &args.key {
        Some(path) => std::path::PathBuf::from(path),
        None => dev_key_path(),
    };
    let bytes = std::fs::read(&path).map_err(|e| {
        if args.dev_key {
            format!(
                "no dev key at {} ({e}); start `storage-signer serve --dev` first",
                path.display()
            )
        } else {
            format!("--key: cannot read {}: {e}", path.display())
        }
    })?;
    let key =
        ServiceAccountKey::from_json(&bytes).map_err(|e| format!("{} {e}", path.display()))?;
    let dev_store_url = if args.dev_key {
        serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|document| document["storage_base_url"].as_str().map(str::to_owned))
    } else {
        None
    };
    Ok((key, dev_store_url))
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

/// `90s`, `10m`, `2h`, `7d` or plain seconds, from 1 s to 7 days.
fn parse_duration(value: &str) -> Result<u32, String> {
    let value = value.trim();
    let (number, unit) = value.split_at(
        value
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(value.len()),
    );
    let multiplier = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => 0,
    };
    number
        .parse::<u32>()
        .ok()
        .and_then(|n| n.checked_mul(multiplier))
        .filter(|seconds| (1..=MAX_URL_LIFETIME_SECS).contains(seconds))
        .ok_or_else(|| format!("--duration {value:?} must be 1s to 7d, such as 90s, 10m, 2h or 7d"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_units_up_to_seven_days() {
        assert_eq!(parse_duration("90s"), Ok(90));
        assert_eq!(parse_duration("10m"), Ok(600));
        assert_eq!(parse_duration("2h"), Ok(7200));
        assert_eq!(parse_duration("7d"), Ok(604_800));
        assert_eq!(parse_duration("45"), Ok(45));
        for bad in ["0", "8d", "10w", "m", "-1s", "1.5h"] {
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
}
