//! The signing layer against URLs produced by Google's Python client
//! (`../shared/testdata/google-client-vectors/`).

#[path = "support/testdata.rs"]
mod testdata;

use storage_signer::key::ServiceAccountKey;
use storage_signer::signing::v2::{self, V2Request};

fn conformance_key() -> ServiceAccountKey {
    let bytes = std::fs::read(testdata::conformance_key_path()).expect("conformance key");
    ServiceAccountKey::from_json(&bytes).expect("conformance key parses")
}

#[test]
fn v2_urls_and_strings_to_sign_match_google_python_client() {
    let vectors = testdata::read_json("google-client-vectors/python_storage_oracle_vectors.json");
    let key = conformance_key();
    let cases = vectors["v2"].as_array().expect("v2 vectors");
    assert_eq!(cases.len(), 28, "the file holds 28 V2 vectors");
    for case in cases {
        let object = case["object"].as_str().unwrap();
        let method = case["method"].as_str().unwrap();
        let description = format!("{method} {object:?}");
        let request = V2Request {
            method,
            bucket: "test-bucket",
            object,
            content_md5: None,
            content_type: case["content_type"].as_str(),
            extension_headers: &[],
            expires: case["expiration_epoch"].as_u64().unwrap(),
        };

        assert_eq!(
            v2::string_to_sign(&request),
            case["string_to_sign"].as_str().unwrap(),
            "string to sign for {description}"
        );
        let url = v2::sign("https://storage.googleapis.com", &request, &key).unwrap();
        assert_eq!(
            url.expose(),
            case["url"].as_str().unwrap(),
            "URL for {description}"
        );
    }
}
