//! Runs a Python oracle (`tests/oracle/*.py`): one JSON job on stdin, one JSON answer on
//! stdout. The Python is `STORAGE_SIGNER_ORACLE_PYTHON`, or the checkout's `.venv` that
//! `scripts/test` creates; missing is a failure, not a skip.

#![allow(dead_code)] // each test binary uses a different part of this file

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::Value;

pub fn oracle_python() -> PathBuf {
    let python = std::env::var_os("STORAGE_SIGNER_ORACLE_PYTHON").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python"),
        PathBuf::from,
    );
    assert!(
        python.exists(),
        "the reference clients are needed for the differential tests: run `scripts/test`, \
         which creates .venv with tests/oracle/requirements.txt, or set \
         STORAGE_SIGNER_ORACLE_PYTHON (looked for {})",
        python.display()
    );
    python
}

/// Runs `tests/oracle/{script}` on `job` and returns its answer.
pub fn run_oracle(script: &str, job: &Value) -> Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/oracle")
        .join(script);
    let mut child = Command::new(oracle_python())
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the Python oracle");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(job.to_string().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "oracle {} failed: {}",
        script.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Fails with the number of `mismatches` among `count` cases and the first five of them.
pub fn assert_no_mismatches(what: &str, count: usize, mismatches: &[String]) {
    eprintln!("{what}: {count} cases, {} mismatches", mismatches.len());
    assert!(
        mismatches.is_empty(),
        "{} of {count} {what}; first ones:\n{}",
        mismatches.len(),
        mismatches
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
