//! Where the local store keeps objects: in memory, or in a directory (one data file and one
//! JSON metadata file per object, named by the SHA-256 of bucket and name, so no object name
//! can reach outside the directory).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};

use aws_lc_rs::digest::{SHA256, digest};
use serde::{Deserialize, Serialize};

/// An object and its metadata.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Object {
    #[serde(skip)]
    pub data: Vec<u8>,
    pub content_type: String,
    pub generation: u64,
    /// Base64 of the MD5 of `data`.
    pub md5: String,
    /// `x-goog-meta-*` headers.
    pub metadata: Vec<(String, String)>,
    /// `Cache-Control` and `Content-Disposition` of the upload, served back on reads.
    #[serde(default)]
    pub cache_control: Option<String>,
    #[serde(default)]
    pub content_disposition: Option<String>,
    /// Unix seconds.
    pub updated: i64,
}

/// Storage for objects. The precondition check and the write happen under one lock.
#[derive(Debug)]
pub struct Objects {
    backend: Backend,
    lock: Mutex<()>,
}

#[derive(Debug)]
enum Backend {
    Memory(Mutex<HashMap<(String, String), Object>>),
    Directory(PathBuf),
}

/// An `x-goog-if-generation-match` that did not hold.
#[derive(Debug, PartialEq, Eq)]
pub struct PreconditionFailed;

/// Why an object was not stored.
#[derive(Debug, PartialEq, Eq)]
pub enum NotStored {
    Precondition,
    /// The in-memory store holds [`MAX_MEMORY_BYTES`] already.
    Full,
}

/// All objects of the in-memory store together: anyone who reaches the dev store with a URL
/// could otherwise fill the machine's memory.
pub const MAX_MEMORY_BYTES: usize = 256 * 1024 * 1024;

impl Objects {
    pub fn in_memory() -> Self {
        Self {
            backend: Backend::Memory(Mutex::new(HashMap::new())),
            lock: Mutex::new(()),
        }
    }

    pub fn in_directory(path: PathBuf) -> std::io::Result<Self> {
        std::fs::create_dir_all(&path)?;
        Ok(Self {
            backend: Backend::Directory(path),
            lock: Mutex::new(()),
        })
    }

    pub fn describe(&self) -> String {
        match &self.backend {
            Backend::Memory(_) => "memory".into(),
            Backend::Directory(path) => path.display().to_string(),
        }
    }

    pub fn get(&self, bucket: &str, name: &str) -> Option<Object> {
        match &self.backend {
            Backend::Memory(map) => lock(map)
                .get(&(bucket.to_owned(), name.to_owned()))
                .cloned(),
            Backend::Directory(dir) => {
                let (data_path, meta_path) = paths(dir, bucket, name);
                let meta = std::fs::read(meta_path).ok()?;
                let mut object: Object = serde_json::from_slice(&meta).ok()?;
                object.data = std::fs::read(data_path).ok()?;
                Some(object)
            }
        }
    }

    /// Stores `object` if `if_generation_match` holds (0: the object must not exist), giving
    /// it the next generation number.
    pub fn put(
        &self,
        bucket: &str,
        name: &str,
        mut object: Object,
        if_generation_match: Option<u64>,
    ) -> Result<Object, NotStored> {
        let _guard = lock(&self.lock);
        let existing = self.get(bucket, name);
        let current = existing.as_ref().map(|o| o.generation);
        match (if_generation_match, current) {
            (Some(0), Some(_)) => return Err(NotStored::Precondition),
            (Some(wanted), Some(generation)) if wanted != 0 && wanted != generation => {
                return Err(NotStored::Precondition);
            }
            (Some(wanted), None) if wanted != 0 => return Err(NotStored::Precondition),
            _ => {}
        }
        if let Backend::Memory(map) = &self.backend {
            let held: usize = lock(map).values().map(|o| o.data.len()).sum();
            let replaced = existing.map_or(0, |o| o.data.len());
            if held - replaced + object.data.len() > MAX_MEMORY_BYTES {
                return Err(NotStored::Full);
            }
        }
        object.generation = current.map_or(1, |g| g + 1).max(next_generation());
        match &self.backend {
            Backend::Memory(map) => {
                lock(map).insert((bucket.to_owned(), name.to_owned()), object.clone());
            }
            Backend::Directory(dir) => {
                let (data_path, meta_path) = paths(dir, bucket, name);
                let write = std::fs::write(&data_path, &object.data).and_then(|()| {
                    std::fs::write(&meta_path, serde_json::to_vec(&object).unwrap_or_default())
                });
                if let Err(error) = write {
                    tracing::error!(%error, "the dev store could not write an object");
                }
            }
        }
        Ok(object)
    }

    /// Deletes the object if `if_generation_match` holds; false if there was none.
    pub fn delete(
        &self,
        bucket: &str,
        name: &str,
        if_generation_match: Option<u64>,
    ) -> Result<bool, PreconditionFailed> {
        let _guard = lock(&self.lock);
        let Some(current) = self.get(bucket, name) else {
            return Ok(false);
        };
        if if_generation_match.is_some_and(|wanted| wanted != current.generation) {
            return Err(PreconditionFailed);
        }
        match &self.backend {
            Backend::Memory(map) => {
                lock(map).remove(&(bucket.to_owned(), name.to_owned()));
            }
            Backend::Directory(dir) => {
                let (data_path, meta_path) = paths(dir, bucket, name);
                let _ = std::fs::remove_file(meta_path);
                let _ = std::fs::remove_file(data_path);
            }
        }
        Ok(true)
    }
}

/// Generations grow with time, as GCS's do (microseconds since the epoch).
fn next_generation() -> u64 {
    u64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1000).unwrap_or(1)
}

fn paths(dir: &std::path::Path, bucket: &str, name: &str) -> (PathBuf, PathBuf) {
    let id = hex::encode(digest(&SHA256, format!("{bucket}/{name}").as_bytes()));
    (
        dir.join(format!("{id}.data")),
        dir.join(format!("{id}.json")),
    )
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(data: &[u8]) -> Object {
        Object {
            data: data.to_vec(),
            content_type: "text/plain".into(),
            generation: 0,
            md5: String::new(),
            metadata: Vec::new(),
            cache_control: None,
            content_disposition: None,
            updated: 0,
        }
    }

    fn exercise(store: &Objects) {
        assert!(store.get("b", "x").is_none());
        let first = store.put("b", "x", object(b"one"), Some(0)).unwrap();
        assert_eq!(store.get("b", "x").unwrap().data, b"one");
        assert_eq!(
            store.put("b", "x", object(b"two"), Some(0)).unwrap_err(),
            NotStored::Precondition
        );
        let second = store
            .put("b", "x", object(b"two"), Some(first.generation))
            .unwrap();
        assert!(second.generation > first.generation);
        assert_eq!(
            store.delete("b", "x", Some(first.generation)),
            Err(PreconditionFailed)
        );
        assert_eq!(store.delete("b", "x", None), Ok(true));
        assert_eq!(store.delete("b", "x", None), Ok(false));
    }

    #[test]
    fn memory_store_honours_generations() {
        exercise(&Objects::in_memory());
    }

    #[test]
    fn memory_store_holds_at_most_its_cap() {
        let store = Objects::in_memory();
        let big = vec![0; MAX_MEMORY_BYTES / 2];
        store.put("b", "one", object(&big), None).unwrap();
        store.put("b", "two", object(&big), None).unwrap();
        assert_eq!(
            store.put("b", "three", object(b"x"), None).unwrap_err(),
            NotStored::Full
        );
        store
            .put("b", "two", object(b"smaller"), None)
            .expect("replacing an object frees its bytes");
    }

    #[test]
    fn directory_store_honours_generations_and_keeps_names_inside() {
        let dir = tempfile::tempdir().unwrap();
        let store = Objects::in_directory(dir.path().to_owned()).unwrap();
        exercise(&store);
        store
            .put("b", "../../etc/passwd", object(b"x"), None)
            .unwrap();
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            assert_eq!(name.len(), 64 + ".data".len(), "{name}");
        }
        assert_eq!(store.get("b", "../../etc/passwd").unwrap().data, b"x");
    }
}
