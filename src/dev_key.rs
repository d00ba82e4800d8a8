//! Where `serve --dev` leaves its generated key, for `storage-signer sign --dev-key`.

use std::path::PathBuf;

/// `$XDG_RUNTIME_DIR/storage-signer/dev-key.json`, or under `~/.cache`, or the temp dir.
pub fn dev_key_path() -> PathBuf {
    let base = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("storage-signer").join("dev-key.json")
}
