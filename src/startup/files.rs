//! Reading the files that settings name: one wording for every setting's "cannot read" error.

use std::path::Path;

use zeroize::Zeroizing;

use crate::config::ConfigError;

/// The text of `path`; `error` makes the problem the naming setting's error.
pub fn read_text(
    path: &Path,
    error: impl FnOnce(String) -> ConfigError,
) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|e| error(cannot_read(path, &e)))
}

/// The bytes of a file that holds a secret, wiped from memory when dropped.
pub fn read_secret(
    path: &Path,
    error: impl FnOnce(String) -> ConfigError,
) -> Result<Zeroizing<Vec<u8>>, ConfigError> {
    std::fs::read(path)
        .map(Zeroizing::new)
        .map_err(|e| error(cannot_read(path, &e)))
}

fn cannot_read(path: &Path, error: &std::io::Error) -> String {
    format!("cannot read {:?}: {error}", path.display().to_string())
}
