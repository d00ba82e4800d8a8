//! Noticing a rotated service-account key, and changed clients and JWKS files.
//!
//! Kubernetes updates a mounted Secret or `ConfigMap` by pointing a symlink at a new directory,
//! and editors and `cp` replace files in other ways; comparing a digest of the file's content
//! on each check catches them all, where inotify on the path would miss some. (A `FROM
//! scratch` pod cannot be sent SIGHUP by Kubernetes, so this is how its files get reloaded.)

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

/// Watches a set of files (the clients file and JWKS files) for new content.
#[derive(Debug, Default)]
pub struct FilesWatch {
    /// Each file with the digest of the content last looked at (`None`: unreadable).
    files: Mutex<Vec<(PathBuf, Option<Vec<u8>>)>>,
}

impl FilesWatch {
    /// Watches `paths`, whose current content is in use.
    pub fn new(paths: Vec<PathBuf>) -> Self {
        let watch = Self::default();
        watch.watch(paths);
        watch
    }

    /// Replaces the set (after a reload, which may name other JWKS files).
    pub fn watch(&self, paths: Vec<PathBuf>) {
        let files = paths
            .into_iter()
            .map(|path| {
                let seen = std::fs::read(&path).ok().map(|bytes| fingerprint(&bytes));
                (path, seen)
            })
            .collect();
        *self.files.lock().unwrap_or_else(PoisonError::into_inner) = files;
    }

    /// Whether any file's content differs from the last look (each change is reported once).
    pub fn changed(&self) -> bool {
        let mut files = self.files.lock().unwrap_or_else(PoisonError::into_inner);
        let mut changed = false;
        for (path, last) in files.iter_mut() {
            let seen = std::fs::read(&*path).ok().map(|bytes| fingerprint(&bytes));
            if seen != *last {
                *last = seen;
                changed = true;
            }
        }
        changed
    }
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
    fn a_changed_file_of_the_set_is_reported_once() {
        let dir = tempfile::tempdir().unwrap();
        let (clients, jwks) = (
            dir.path().join("clients.toml"),
            dir.path().join("jwks.json"),
        );
        std::fs::write(&clients, "a").unwrap();
        std::fs::write(&jwks, "b").unwrap();
        let watch = FilesWatch::new(vec![clients.clone(), jwks.clone()]);
        assert!(!watch.changed());
        std::fs::write(&jwks, "c").unwrap();
        assert!(watch.changed());
        assert!(!watch.changed());
        std::fs::remove_file(&clients).unwrap();
        assert!(watch.changed(), "a vanished file is a change");
        assert!(!watch.changed());
    }

    #[test]
    fn a_missing_file_is_reported_every_time() {
        let dir = tempfile::tempdir().unwrap();
        let watch = KeyWatch::new(dir.path().join("absent.json"));
        assert!(matches!(watch.check(), KeyChange::Invalid(_)));
        assert!(matches!(watch.check(), KeyChange::Invalid(_)));
    }
}
