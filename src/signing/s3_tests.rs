//! Unit tests of `s3.rs` (kept apart so that file stays short).

use zeroize::Zeroizing;

use super::*;

fn example_key() -> HmacKey {
    HmacKey::new(
        "AKIAIOSFODNN7EXAMPLE",
        Zeroizing::new("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into()),
    )
}

fn get<'a>(endpoint: &'a str, style: AddressingStyle, bucket: &'a str) -> PresignRequest<'a> {
    PresignRequest {
        method: "GET",
        endpoint,
        style,
        region: "us-east-1",
        bucket,
        key: "test.txt",
        headers: &[],
        query: &[],
        // 2013-05-24T00:00:00Z, for a day: AWS's example.
        timestamp: time::macros::datetime!(2013-05-24 00:00:00 UTC),
        expires_in: 86_400,
    }
}

#[test]
fn aws_published_presigned_url_example() {
    // AWS, "Authenticating Requests: Using Query Parameters (AWS Signature Version 4)"
    // (docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html): GET
    // examplebucket/test.txt, us-east-1, 20130524T000000Z, 86400 s, the example key.
    let endpoint = aws_endpoint("us-east-1");
    let request = get(&endpoint, AddressingStyle::VirtualHosted, "examplebucket");
    let prepared = prepare(&request, "AKIAIOSFODNN7EXAMPLE", None).unwrap();
    assert_eq!(
        prepared.canonical_request,
        "GET\n/test.txt\nX-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host\nhost:examplebucket.s3.amazonaws.com\n\nhost\nUNSIGNED-PAYLOAD"
    );
    assert_eq!(
        prepared.string_to_sign,
        "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n3bfa292879f6447bbcda7001decf97f4a54dc650c8942174ae0a9121cf58ad04"
    );
    assert_eq!(
        presign_url(&request, &example_key()).unwrap().expose(),
        "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
    );
}

#[test]
fn pinned_headers_are_signed_headers_not_query_parameters() {
    let headers = ObjectHeaders {
        content_type: Some("image/png"),
        content_md5: Some("1B2M2Y8AsgTpgAmY7PhCfg=="),
        metadata: &[("Owner", "user 42")],
        if_none_match_any: true,
    }
    .to_headers()
    .unwrap();
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let request = PresignRequest {
        method: "PUT",
        headers: &headers,
        ..get("http://127.0.0.1:9000", AddressingStyle::Path, "b")
    };
    let url = presign_url(&request, &example_key()).unwrap();
    assert!(
        url.expose().contains(
            "&X-Amz-SignedHeaders=content-md5%3Bcontent-type%3Bhost%3Bif-none-match%3Bx-amz-meta-owner&"
        ),
        "{}",
        url.expose()
    );
    assert!(!url.expose().contains("image"));
    let canonical = prepare(&request, "id", None).unwrap().canonical_request;
    assert!(
        canonical.contains("\nhost:127.0.0.1:9000\nif-none-match:*\nx-amz-meta-owner:user 42\n")
    );
}

#[test]
fn form_urlencoded_content_type_is_signed_unlike_botocore() {
    let headers = [(
        "Content-Type",
        "application/x-www-form-urlencoded; charset=utf-8",
    )];
    let request = PresignRequest {
        method: "PUT",
        headers: &headers,
        ..get("https://s3.example", AddressingStyle::Path, "b")
    };
    let prepared = prepare(&request, "id", None).unwrap();
    assert!(
        prepared
            .canonical_request
            .ends_with("\ncontent-type;host\nUNSIGNED-PAYLOAD")
    );
}

#[test]
fn operation_parameters_come_first_in_the_url_and_sorted_in_the_canonical_query() {
    let query = [
        ("response-content-type", "text/plain"),
        (
            "response-content-disposition",
            "attachment; filename=\"a b.txt\"",
        ),
    ];
    let request = PresignRequest {
        query: &query,
        ..get("https://s3.example", AddressingStyle::Path, "b")
    };
    let prepared = prepare(&request, "id", Some("to/ken+=")).unwrap();
    let url = prepared.signed_url("00");
    assert!(url.expose().starts_with(
        "https://s3.example/b/test.txt?response-content-type=text%2Fplain&response-content-disposition=attachment%3B%20filename%3D%22a%20b.txt%22&X-Amz-Algorithm="
    ));
    assert!(url.expose().ends_with(
        "&X-Amz-SignedHeaders=host&X-Amz-Security-Token=to%2Fken%2B%3D&X-Amz-Signature=00"
    ));
    let canonical_query = prepared.canonical_request.split('\n').nth(2).unwrap();
    assert!(
        canonical_query.starts_with("X-Amz-Algorithm="),
        "{canonical_query}"
    );
    assert!(canonical_query.contains("&X-Amz-SignedHeaders=host&response-content-disposition="));
}

#[test]
fn canonical_query_sorts_by_name_before_value() {
    // "a" < "a-b" as names, though "a-b=1" < "a=2" as whole strings.
    let query = [("a-b", "1"), ("a", "2")];
    let request = PresignRequest {
        query: &query,
        ..get("https://s3.example", AddressingStyle::Path, "b")
    };
    let canonical = prepare(&request, "id", None).unwrap().canonical_request;
    assert!(
        canonical.contains("&X-Amz-SignedHeaders=host&a=2&a-b=1\n"),
        "{canonical}"
    );
}

#[test]
fn key_path_is_encoded_but_not_normalised() {
    let request = PresignRequest {
        key: "/a//b/../c d+e%f?g#h~i/ü",
        ..get("https://s3.example", AddressingStyle::Path, "b")
    };
    let canonical = prepare(&request, "id", None).unwrap().canonical_request;
    assert!(
        canonical.starts_with("GET\n/b//a//b/../c%20d%2Be%25f%3Fg%23h~i/%C3%BC\n"),
        "{canonical}"
    );
}

fn location(endpoint: &str, style: AddressingStyle, bucket: &str) -> (String, String) {
    let location = locate_bucket(endpoint, style, bucket).unwrap();
    (location.object_path("k"), location.form_url())
}

#[test]
fn virtual_hosted_style_falls_back_to_path_style_as_botocore_does() {
    use AddressingStyle::VirtualHosted;
    let at = |endpoint, bucket| {
        let location = locate_bucket(endpoint, VirtualHosted, bucket).unwrap();
        format!("{}{}", location.origin, location.object_path("k"))
    };
    assert_eq!(
        at("https://s3.example", "my-bucket"),
        "https://my-bucket.s3.example/k"
    );
    // Dots over https: the wildcard certificate would not match.
    assert_eq!(
        at("https://s3.example", "my.bucket"),
        "https://s3.example/my.bucket/k"
    );
    // Dots over http are fine.
    assert_eq!(
        at("http://minio.local:9000", "my.bucket"),
        "http://my.bucket.minio.local:9000/k"
    );
    // Not host labels.
    for bucket in ["ab", "Upper", "under_score", "-dash", "1.2.3.4"] {
        assert_eq!(
            at("http://s3.example", bucket),
            format!("http://s3.example/{bucket}/k")
        );
    }
    // An IP address has no sub-domains.
    assert_eq!(
        at("http://127.0.0.1:9000", "my-bucket"),
        "http://127.0.0.1:9000/my-bucket/k"
    );
    assert_eq!(
        at("http://127.0.0.1:9000", "my.bucket"),
        "http://127.0.0.1:9000/my.bucket/k"
    );
    assert_eq!(
        at("http://[::1]:9000", "my.bucket"),
        "http://[::1]:9000/my.bucket/k"
    );
}

#[test]
fn endpoint_paths_are_joined_as_botocore_joins_them() {
    use AddressingStyle::{Path, VirtualHosted};
    assert_eq!(
        location("https://h/base", Path, "b"),
        ("/base/b/k".into(), "https://h/base/b".into())
    );
    assert_eq!(
        location("https://h/base/", Path, "b"),
        ("/base/b/k".into(), "https://h/base/b".into())
    );
    assert_eq!(
        location("https://h", Path, "b"),
        ("/b/k".into(), "https://h/b".into())
    );
    assert_eq!(
        location("https://h/base", VirtualHosted, "bkt"),
        ("/base/k".into(), "https://bkt.h/base".into())
    );
    assert_eq!(
        location("https://h/base/", VirtualHosted, "bkt"),
        ("/base/k".into(), "https://bkt.h/base/".into())
    );
    assert_eq!(
        location("https://h", VirtualHosted, "bkt"),
        ("/k".into(), "https://bkt.h/".into())
    );
}

#[test]
fn host_header_keeps_only_a_port_that_is_not_the_default() {
    let host = |endpoint| {
        locate_bucket(endpoint, AddressingStyle::Path, "b")
            .unwrap()
            .host()
    };
    assert_eq!(host("https://S3.Example:443"), "s3.example");
    assert_eq!(host("http://s3.example:80"), "s3.example");
    assert_eq!(host("http://s3.example:443"), "s3.example:443");
    assert_eq!(host("http://127.0.0.1:9000"), "127.0.0.1:9000");
    assert_eq!(host("http://[::1]:9000"), "[::1]:9000");
}

#[test]
fn refuses_what_botocore_or_s3_refuse() {
    let base = get("https://s3.example", AddressingStyle::Path, "b");
    let refused = |request: PresignRequest<'_>| prepare(&request, "id", None).unwrap_err();
    assert_eq!(
        refused(PresignRequest { key: "", ..base }),
        S3Error::EmptyKey
    );
    assert_eq!(
        refused(PresignRequest {
            expires_in: 0,
            ..base
        }),
        S3Error::InvalidExpiry
    );
    assert_eq!(
        refused(PresignRequest {
            expires_in: 604_801,
            ..base
        }),
        S3Error::InvalidExpiry
    );
    assert_eq!(
        refused(PresignRequest {
            bucket: "a/b",
            ..base
        }),
        S3Error::InvalidBucketName
    );
    for endpoint in [
        "s3.example",
        "ftp://s3.example",
        "https://",
        "https://h?x=1",
        "https://u@h",
        "https://h/./x",
        "https://h/a b",
        "https://h:x",
    ] {
        assert_eq!(
            refused(PresignRequest { endpoint, ..base }),
            S3Error::InvalidEndpoint,
            "{endpoint}"
        );
    }
    let metadata = |metadata| {
        ObjectHeaders {
            metadata,
            ..ObjectHeaders::default()
        }
        .to_headers()
    };
    assert_eq!(metadata(&[("a", "ü")]), Err(S3Error::NonAsciiMetadata));
    assert_eq!(metadata(&[("a b", "x")]), Err(S3Error::InvalidMetadataName));
    assert_eq!(
        metadata(&[("a", "x"), ("A", "y")]),
        Err(S3Error::InvalidMetadataName)
    );
}

#[test]
fn aws_endpoints_are_botocores_defaults() {
    assert_eq!(aws_endpoint("us-east-1"), "https://s3.amazonaws.com");
    assert_eq!(
        aws_endpoint("eu-west-1"),
        "https://s3.eu-west-1.amazonaws.com"
    );
    assert_eq!(
        aws_endpoint("cn-north-1"),
        "https://s3.cn-north-1.amazonaws.com.cn"
    );
}
