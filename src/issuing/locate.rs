//! Which bucket and object a storage URL names, when it is a URL this service could have
//! issued: the endpoint of a known bucket's store, in the form its URLs take (GCS path
//! style, virtual-hosted or bucket-bound; S3 path style or virtual-hosted; Swift
//! `/v1/<account>/<container>/`). Anything else is refused before any connection is made:
//! other hosts, IP addresses that are not a configured endpoint, user credentials
//! (`https://trusted@evil/`), fragments, white space and non-ASCII characters (which URL
//! parsers disagree on). Pure.
//!
//! The caller's query string plays no part: the validator reads the object through a URL of
//! its own, so nothing of the caller's URL but the object it names is ever fetched.

use percent_encoding::percent_decode_str;

use super::backend::{Backends, Store};
use super::issuer::BucketStyle;
use crate::domain::{BucketName, ObjectName, Violation};
use crate::signing::encoding::encode_object_name;
use crate::signing::s3;

/// A known bucket's object, found in a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub bucket: BucketName,
    pub object: ObjectName,
}

/// `scheme://authority/path`, split and normalised for comparison.
#[derive(Debug, PartialEq, Eq)]
struct Parts {
    scheme: String,
    /// Lower case, without the scheme's default port.
    authority: String,
    /// Percent-decoded.
    path: String,
}

impl Backends {
    /// The bucket and object `url` names, if it is a storage URL of one of `known_buckets`.
    pub fn locate(&self, url: &str, known_buckets: &[BucketName]) -> Result<Located, Violation> {
        let parts = parts(url)?;
        let mut best: Option<(usize, &BucketName, &str)> = None;
        let mut host_known = false;
        for bucket in known_buckets {
            for prefix in self.object_url_prefixes(bucket.as_str()) {
                let Ok(expected) = parts_of(&prefix) else {
                    continue;
                };
                if expected.scheme != parts.scheme || expected.authority != parts.authority {
                    continue;
                }
                host_known = true;
                if let Some(object) = parts.path.strip_prefix(&expected.path)
                    && best.is_none_or(|(length, _, _)| expected.path.len() > length)
                {
                    best = Some((expected.path.len(), bucket, object));
                }
            }
        }
        match best {
            Some((_, bucket, object)) => {
                let object = ObjectName::parse(object).map_err(|violation| {
                    Violation::new(
                        "format",
                        format!(
                            "names an object this service does not read: {}",
                            violation.description
                        ),
                    )
                })?;
                Ok(Located {
                    bucket: bucket.clone(),
                    object,
                })
            }
            None if host_known => Err(Violation::new(
                "inclusion",
                "names no object of a bucket this service knows",
            )),
            None => Err(Violation::new(
                "inclusion",
                "is not a URL of this service's storage: its host is not the endpoint of a known bucket (no other host or IP address is fetched)",
            )),
        }
    }

    /// Every `scheme://authority/path/` an object URL of `bucket` may start with.
    fn object_url_prefixes(&self, bucket: &str) -> Vec<String> {
        match self.store(bucket) {
            None => {
                let Some(issuer) = self.gcs() else {
                    return Vec::new();
                };
                let base = &issuer.storage_base_url;
                // V2 URLs are always path style; V4 URLs follow the bucket's style.
                let mut prefixes = vec![format!("{base}/{bucket}/")];
                let (scheme, rest) = base.split_once("://").unwrap_or(("https", base));
                let authority = rest.split('/').next().unwrap_or_default();
                match issuer.bucket_styles.get(bucket) {
                    Some(BucketStyle::VirtualHosted) => {
                        prefixes.push(format!("{scheme}://{bucket}.{authority}/"));
                    }
                    Some(BucketStyle::BucketBound(url)) => prefixes.push(format!("{url}/")),
                    Some(BucketStyle::Path) | None => {}
                }
                prefixes
            }
            Some(Store::S3 { store, style }) => s3::locate_bucket(&store.endpoint, *style, bucket)
                .map(|location| vec![location.object_url_prefix()])
                .unwrap_or_default(),
            Some(Store::Swift(store)) => vec![format!(
                "{}/v1/{}/{}/",
                store.endpoint,
                encode_object_name(&store.account),
                encode_object_name(bucket)
            )],
        }
    }
}

/// A URL as the caller sent it, checked and split.
fn parts(url: &str) -> Result<Parts, Violation> {
    let format = |description: &str| Violation::new("format", description.to_owned());
    if !url.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format(
            "must be an absolute URL of visible ASCII characters (percent-encode the rest)",
        ));
    }
    if url.contains(['\\', '#']) {
        return Err(format("must not contain '\\' or a fragment ('#')"));
    }
    parts_of(url)
}

/// `scheme://authority[/path][?query]`, the query dropped.
fn parts_of(url: &str) -> Result<Parts, Violation> {
    let format = |description: &str| Violation::new("format", description.to_owned());
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| format("must be an http:// or https:// URL"))?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(format("must be an http:// or https:// URL"));
    }
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, rest) = rest.split_at(end);
    if authority.is_empty() {
        return Err(format("must name a host"));
    }
    if authority.contains('@') {
        return Err(format("must not carry user credentials ('@')"));
    }
    let authority = authority.to_ascii_lowercase();
    let default_port = if scheme == "https" { ":443" } else { ":80" };
    let authority = authority
        .strip_suffix(default_port)
        .map_or(authority.clone(), str::to_owned);
    let path = rest.split('?').next().unwrap_or_default();
    let path = percent_decode_str(if path.is_empty() { "/" } else { path })
        .decode_utf8()
        .map_err(|_| format("must percent-encode UTF-8 only"))?
        .into_owned();
    Ok(Parts {
        scheme,
        authority,
        path,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};
    use std::sync::Arc;

    use zeroize::Zeroizing;

    use super::*;
    use crate::domain::SigningVersion;
    use crate::issuing::{Issuer, RsaSigner, S3Store, SwiftStore};
    use crate::key::ServiceAccountKey;
    use crate::signing::hmac::HmacKey;
    use crate::signing::s3::AddressingStyle;
    use crate::signing::swift::{Digest, ExpiryFormat, TempUrlKey};

    /// One RSA key for every case: generating one is slow in a debug build.
    fn backends() -> &'static Backends {
        static BACKENDS: std::sync::OnceLock<Backends> = std::sync::OnceLock::new();
        BACKENDS.get_or_init(make_backends)
    }

    fn make_backends() -> Backends {
        let key = ServiceAccountKey::generate("test@example.iam.gserviceaccount.com").unwrap();
        let gcs = Issuer {
            signer: RsaSigner::Key(Arc::new(key)),
            hmac: None,
            storage_base_url: "https://storage.googleapis.com".into(),
            default_version: SigningVersion::V2,
            bucket_styles: HashMap::from([("media-vh".into(), BucketStyle::VirtualHosted)]),
            hmac_buckets: HashSet::new(),
        };
        let s3 = Arc::new(S3Store {
            endpoint: "http://127.0.0.1:9000".into(),
            region: "us-east-1".into(),
            key: HmacKey::new("AK", Zeroizing::new("SK".into())),
        });
        let swift = Arc::new(SwiftStore {
            endpoint: "https://swift.example:8080".into(),
            account: "AUTH_test".into(),
            key: TempUrlKey::new(Zeroizing::new("k".into())),
            digest: Digest::Sha256,
            expiry_format: ExpiryFormat::UnixSeconds,
        });
        Backends::new(
            Some(gcs),
            HashMap::from([
                (
                    "minio".to_owned(),
                    Store::S3 {
                        store: s3,
                        style: AddressingStyle::Path,
                    },
                ),
                ("archive".to_owned(), Store::Swift(swift)),
            ]),
        )
    }

    fn known() -> Vec<BucketName> {
        ["media", "media-vh", "minio", "archive"]
            .iter()
            .map(|b| BucketName::parse(b).unwrap())
            .collect()
    }

    fn locate(url: &str) -> Result<(String, String), String> {
        backends()
            .locate(url, &known())
            .map(|l| (l.bucket.to_string(), l.object.to_string()))
            .map_err(|v| v.description)
    }

    #[allow(clippy::unnecessary_wraps)] // compared with `locate`'s result
    fn found(bucket: &str, object: &str) -> Result<(String, String), String> {
        Ok((bucket.into(), object.into()))
    }

    #[test]
    fn finds_the_object_of_each_store_s_urls() {
        assert_eq!(
            locate("https://storage.googleapis.com/media/a/b%20c.p7s?Expires=1&Signature=x"),
            found("media", "a/b c.p7s")
        );
        assert_eq!(
            locate("https://media-vh.storage.googleapis.com/doc.p7s?X-Goog-Signature=1"),
            found("media-vh", "doc.p7s")
        );
        assert_eq!(
            locate("HTTP://127.0.0.1:9000/minio/%C3%BC.p7s"),
            found("minio", "ü.p7s")
        );
        assert_eq!(
            locate("https://swift.example:8080/v1/AUTH_test/archive/x/y.p7s?temp_url_sig=1"),
            found("archive", "x/y.p7s")
        );
        assert_eq!(
            locate("https://storage.googleapis.com:443/media/x"),
            found("media", "x")
        );
    }

    #[test]
    fn refuses_every_other_host_before_any_connection() {
        for url in [
            "http://127.0.0.2:9000/minio/x",
            "http://localhost:9000/minio/x",
            "http://2130706433:9000/minio/x",
            "http://0x7f.0.0.1:9000/minio/x",
            "http://[::1]:9000/minio/x",
            "http://169.254.169.254/latest/meta-data/",
            "https://storage.googleapis.com.evil.example/media/x",
            "https://evil.example/media/x",
            "https://media.storage.googleapis.com/x",
            "http://127.0.0.1:9001/minio/x",
        ] {
            let error = locate(url).unwrap_err();
            assert!(error.contains("host is not the endpoint"), "{url}: {error}");
        }
    }

    #[test]
    fn refuses_urls_that_parsers_read_differently() {
        for url in [
            "https://storage.googleapis.com@evil.example/media/x",
            "http://127.0.0.1:9000\\@evil/minio/x",
            "https://storage.googleapis.com/media/x#frag",
            "https://storage.googleapis.com/media/a b",
            "https://storage.googleapis.com/media/ü",
            "file:///etc/passwd",
            "gopher://127.0.0.1:9000/minio/x",
            "//storage.googleapis.com/media/x",
            "https:///media/x",
            "https://storage.googleapis.com/media/%FF",
        ] {
            assert!(locate(url).is_err(), "{url}");
        }
    }

    #[test]
    fn refuses_unknown_buckets_and_names_it_would_not_sign() {
        for url in [
            "https://storage.googleapis.com/other/x",
            "https://storage.googleapis.com/media/",
            "https://storage.googleapis.com/media/a/../../other/x",
            "https://storage.googleapis.com/media/a%2F..%2Fb",
            "https://swift.example:8080/v1/AUTH_other/archive/x",
            "http://127.0.0.1:9000/archive/x",
        ] {
            assert!(locate(url).is_err(), "{url}");
        }
    }
}
