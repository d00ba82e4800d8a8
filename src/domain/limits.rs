//! Limits that hold everywhere: each is written once, here.

/// Google refuses signed URLs (V4) and form policies that live longer than seven days; V2
/// URLs are held to the same limit.
pub const MAX_URL_LIFETIME_SECS: u32 = 7 * 24 * 60 * 60;

/// The largest object GCS stores (5 TiB).
pub const MAX_OBJECT_SIZE: u64 = 5 * 1024 * 1024 * 1024 * 1024;

/// GCS limit on the UTF-8 length of an object name.
pub const MAX_OBJECT_NAME_BYTES: usize = 1024;

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Largest accepted batch body: 100 secrets with long names.
pub const MAX_BATCH_BODY_BYTES: usize = 512 * 1024;

/// Most secrets in one batch.
pub const MAX_BATCH: usize = 100;
