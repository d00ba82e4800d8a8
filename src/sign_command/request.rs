//! What the arguments of `sign` ask for: the method, lifetime, headers, query and objects,
//! validated.

use super::SignArgs;
use crate::domain::{
    Action, BucketName, ContentType, MAX_URL_LIFETIME_SECS, ObjectName, SigningVersion,
};
use crate::signing::v4;

/// What the arguments ask for, validated.
pub(super) struct Request {
    pub(super) action: Action,
    pub(super) version: SigningVersion,
    pub(super) lifetime: u32,
    pub(super) region: String,
    /// Headers to sign and send, as given (`Content-Type` first when given).
    pub(super) headers: Vec<(String, String)>,
    pub(super) query: Vec<(String, String)>,
}

pub(super) fn parse_request(args: &SignArgs) -> Result<Request, String> {
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
    let region = args
        .region
        .as_deref()
        .unwrap_or(v4::DEFAULT_LOCATION)
        .trim()
        .to_owned();
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
    pub(super) fn headers_to_send(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The headers to sign, borrowed.
    pub(super) fn header_pairs(&self) -> Vec<(&str, &str)> {
        pairs(&self.headers)
    }

    /// The query parameters to sign, borrowed.
    pub(super) fn query_pairs(&self) -> Vec<(&str, &str)> {
        pairs(&self.query)
    }

    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn pairs(owned: &[(String, String)]) -> Vec<(&str, &str)> {
    owned
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect()
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

/// `gs://bucket/object` (or `s3://`, `swift://`, as `scheme` says) into a valid bucket and
/// object name.
pub(super) fn parse_target(target: &str, scheme: &str) -> Result<(BucketName, ObjectName), String> {
    let rest = target
        .strip_prefix(scheme)
        .and_then(|rest| rest.strip_prefix("://"))
        .ok_or_else(|| format!("{target:?} must look like {scheme}://bucket/object (one kind of object per command)"))?;
    let (bucket, object) = rest
        .split_once('/')
        .ok_or_else(|| format!("{target:?} names no object ({scheme}://bucket/object)"))?;
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
        .filter(|seconds| (1..=MAX_URL_LIFETIME_SECS).contains(seconds))
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
        let (bucket, object) = parse_target("gs://media/a/b c.txt", "gs").unwrap();
        assert_eq!((bucket.as_str(), object.as_str()), ("media", "a/b c.txt"));
        for bad in [
            "media/a",
            "gs://media",
            "gs://Media/a",
            "gs://media/a//b",
            "gs://media/",
        ] {
            assert!(parse_target(bad, "gs").is_err(), "{bad}");
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
