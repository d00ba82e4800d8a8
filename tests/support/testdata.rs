//! Locates `../shared/testdata`, which tests read in place (it is not copied into the
//! repository). `STORAGE_SIGNER_TESTDATA` overrides the location.

#![allow(dead_code)] // each test binary uses a different part of this file

use std::path::PathBuf;

pub fn testdata_dir() -> PathBuf {
    let dir = std::env::var_os("STORAGE_SIGNER_TESTDATA").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/testdata"),
        PathBuf::from,
    );
    assert!(
        dir.join("gcs-conformance").is_dir(),
        "test data not found at {}: these tests need ../shared/testdata (or STORAGE_SIGNER_TESTDATA)",
        dir.display()
    );
    dir
}

pub fn conformance_key_path() -> PathBuf {
    testdata_dir().join("gcs-conformance/test_service_account.not-a-test.json")
}

pub fn read_json(relative: &str) -> serde_json::Value {
    let path = testdata_dir().join(relative);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}
