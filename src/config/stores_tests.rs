//! Unit tests of `stores.rs`.

use super::*;

fn args() -> StoreArgs {
    StoreArgs {
        object_storage_backend: Some("s3".into()),
        aws_access_key_id: Some("AKID".into()),
        aws_secret_access_key: Some(Secret(Zeroizing::new("s3cr3t-value".into()))),
        ..StoreArgs::default()
    }
}

#[test]
fn s3_defaults_to_aws_in_us_east_1_with_virtual_hosted_urls() {
    let settings = s3_from_args(&args()).unwrap();
    assert_eq!(settings.endpoint, "https://s3.amazonaws.com");
    assert_eq!(settings.region, "us-east-1");
    assert_eq!(settings.style(), AddressingStyle::VirtualHosted);
}

#[test]
fn a_minio_endpoint_gets_path_style() {
    let settings = s3_from_args(&StoreArgs {
        s3_endpoint: Some("http://127.0.0.1:9000/".into()),
        aws_region: Some("eu-central-1".into()),
        ..args()
    })
    .unwrap();
    assert_eq!(settings.endpoint, "http://127.0.0.1:9000");
    assert_eq!(settings.style(), AddressingStyle::Path);
}

#[test]
fn s3_errors_name_the_variable_and_never_the_secret() {
    for (bad, variable) in [
        (
            StoreArgs {
                aws_access_key_id: None,
                ..args()
            },
            "AWS_ACCESS_KEY_ID",
        ),
        (
            StoreArgs {
                aws_secret_access_key: None,
                ..args()
            },
            "AWS_SECRET_ACCESS_KEY",
        ),
        (
            StoreArgs {
                s3_endpoint: Some("ftp://x".into()),
                ..args()
            },
            "MINIO_ENDPOINT",
        ),
        (
            StoreArgs {
                s3_endpoint: Some("http://h/a b".into()),
                ..args()
            },
            "MINIO_ENDPOINT",
        ),
        (
            StoreArgs {
                aws_region: Some("EU".into()),
                ..args()
            },
            "AWS_REGION",
        ),
    ] {
        let error = StorageSettings::from_args(&bad).unwrap_err().to_string();
        assert!(error.starts_with(variable), "{error}");
        assert!(!error.contains("s3cr3t"), "{error}");
    }
}

#[test]
fn swift_of_ael_api_variables_signs_as_ael_api_did() {
    let settings = swift_from_args(&StoreArgs {
        swift_endpoint: Some("https://swift.example:8080/".into()),
        swift_tenant_id: Some("AUTH_test".into()),
        swift_temp_url_key: Some(Secret(Zeroizing::new("k".into()))),
        ..StoreArgs::default()
    })
    .unwrap();
    assert_eq!(settings.endpoint, "https://swift.example:8080");
    assert_eq!(settings.digest, Digest::Sha1);
    assert_eq!(settings.expiry_format, ExpiryFormat::UnixSeconds);
}

#[test]
fn an_unknown_backend_is_refused() {
    let error = StorageSettings::from_args(&StoreArgs {
        object_storage_backend: Some("azure".into()),
        ..StoreArgs::default()
    })
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "OBJECT_STORAGE_BACKEND (--object-storage-backend): must be gcs, s3 or swift; got \"azure\""
    );
}

#[test]
fn secrets_are_redacted_in_debug() {
    let debug = format!("{:?}", s3_from_args(&args()).unwrap());
    assert!(!debug.contains("s3cr3t"), "{debug}");
}
