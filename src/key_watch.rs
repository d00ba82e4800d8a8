//! Noticing a rotated service-account key.
//!
//! Kubernetes updates a mounted Secret by pointing a symlink at a new directory, and editors
//! and `cp` replace files in other ways; comparing a digest of the file's content on each check
//! catches them all, where inotify on the path would miss some.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use aws_lc_rs::digest::{SHA256, digest};
use zeroize::Zeroizing;

use crate::key::ServiceAccountKey;

/// What a check of the key file found.
#[derive(Debug)]
pub enum KeyChange {
    /// The same content as last time.
    Unchanged,
    /// A new key that signs; it should take over.
    Rotated(ServiceAccountKey),
    /// New content that is not a usable key (logged once; the key in use stays).
    Invalid(String),
}

#[derive(Debug)]
pub struct KeyWatch {
    path: PathBuf,
    /// SHA-256 of the content last looked at, valid or not.
    last_seen: Mutex<Option<Vec<u8>>>,
}

impl KeyWatch {
    /// Watches `path`, whose current content is the key in use.
    pub fn new(path: PathBuf) -> Self {
        let current = std::fs::read(&path).ok().map(|bytes| fingerprint(&bytes));
        Self {
            path,
            last_seen: Mutex::new(current),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the file and says whether it holds a new key.
    pub fn check(&self) -> KeyChange {
        let bytes = match std::fs::read(&self.path) {
            Ok(bytes) => Zeroizing::new(bytes),
            // Between a Secret's symlink swap and its cleanup the path can vanish briefly;
            // the next check sees the new file. Not remembered, so it is reported if it lasts.
            Err(error) => return KeyChange::Invalid(format!("cannot read it: {error}")),
        };
        let seen = fingerprint(&bytes);
        {
            let mut last = self
                .last_seen
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if last.as_ref() == Some(&seen) {
                return KeyChange::Unchanged;
            }
            *last = Some(seen);
        }
        match ServiceAccountKey::from_json(&bytes).and_then(|key| key.self_check().map(|()| key)) {
            Ok(key) => KeyChange::Rotated(key),
            Err(error) => KeyChange::Invalid(error.to_string()),
        }
    }
}

fn fingerprint(bytes: &[u8]) -> Vec<u8> {
    digest(&SHA256, bytes).as_ref().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_json(email: &str) -> Zeroizing<String> {
        ServiceAccountKey::generate(email)
            .unwrap()
            .to_json()
            .unwrap()
    }

    #[test]
    fn reports_each_new_content_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.json");
        std::fs::write(&path, key_json("a@example.com").as_bytes()).unwrap();
        let watch = KeyWatch::new(path.clone());
        assert!(matches!(watch.check(), KeyChange::Unchanged));

        std::fs::write(&path, key_json("b@example.com").as_bytes()).unwrap();
        match watch.check() {
            KeyChange::Rotated(key) => assert_eq!(key.client_email(), "b@example.com"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(watch.check(), KeyChange::Unchanged));

        std::fs::write(&path, b"{\"type\": \"service_account\"}").unwrap();
        assert!(matches!(watch.check(), KeyChange::Invalid(_)));
        assert!(matches!(watch.check(), KeyChange::Unchanged));
    }

    #[test]
    fn a_missing_file_is_reported_every_time() {
        let dir = tempfile::tempdir().unwrap();
        let watch = KeyWatch::new(dir.path().join("absent.json"));
        assert!(matches!(watch.check(), KeyChange::Invalid(_)));
        assert!(matches!(watch.check(), KeyChange::Invalid(_)));
    }
}
