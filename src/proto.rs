//! PROTOTYPES of the performance issue, not final code: each is switched on by name in
//! `STORAGE_SIGNER_PROTO` (comma-separated), so one build measures each against the same
//! baseline (`scripts/bench-profile`, `scripts/bench-load` with `SERVICE_EXTRA`). Read once.
//! The final versions are to be written after the audit, hardening and signing work lands,
//! guided by the measurements in docs/benchmarks.md.
//!
//! - `v4-lean`: V4 canonicalisation into buffers sized once (`signing::v4::prepare_lean`);
//! - `json-presized`: the 201 body serialised into a 1 KiB buffer instead of axum's 128 bytes
//!   grown by doubling;
//! - `sign-pool`: RSA signatures of single secrets on a fixed pool of signing threads (one
//!   per CPU, first come first served), off the async I/O threads;
//! - `audit-batched`: audit lines written 16 KiB at a time. NOT durable: an upper bound of
//!   what group commit saves in system calls, not a design;
//! - `metrics-off`: no request, decision or signing metrics (their whole cost);
//! - `reqid-counter`: request ids from a random 128-bit base plus a counter (no random bytes
//!   from the kernel per request);
//! - `reuse`: URL reuse for GET secrets: identical grants within a 60 s window get the URL
//!   signed once at the window's start (so the lifetime is never above what was asked and
//!   `expires_at` is exact); every request is still decided and audited; at most 10,000
//!   URLs, cleared when the window or the key changes;
//! - `hex-table`: lower-case hex by a 16-entry table into a buffer sized once, instead of
//!   `hex::encode`'s `collect` one `char` at a time (signatures, hashes, the audit chain);
//! - `time-by-hand`: ISO 8601 timestamps written digit by digit instead of with `format!`.

use std::sync::OnceLock;

#[derive(Debug, Default, Clone, Copy)]
#[allow(clippy::struct_excessive_bools)] // one switch per prototype
pub struct Prototypes {
    pub v4_lean: bool,
    pub json_presized: bool,
    pub sign_pool: bool,
    pub audit_batched: bool,
    pub metrics_off: bool,
    pub reqid_counter: bool,
    pub reuse: bool,
    pub hex_table: bool,
    pub time_by_hand: bool,
}

/// The prototypes switched on for this process.
pub fn on() -> &'static Prototypes {
    static ON: OnceLock<Prototypes> = OnceLock::new();
    ON.get_or_init(|| {
        let names = std::env::var("STORAGE_SIGNER_PROTO").unwrap_or_default();
        let has = |name: &str| names.split(',').any(|n| n.trim() == name);
        Prototypes {
            v4_lean: has("v4-lean"),
            json_presized: has("json-presized"),
            sign_pool: has("sign-pool"),
            audit_batched: has("audit-batched"),
            metrics_off: has("metrics-off"),
            reqid_counter: has("reqid-counter"),
            reuse: has("reuse"),
            hex_table: has("hex-table"),
            time_by_hand: has("time-by-hand"),
        }
    })
}

/// Lower-case hex of `bytes`: `hex::encode`, or with `hex-table` a table lookup per nibble.
pub fn hex_lower(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    if !on().hex_table {
        return hex::encode(bytes);
    }
    let mut out = Vec::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(DIGITS[usize::from(byte >> 4)]);
        out.push(DIGITS[usize::from(byte & 0x0f)]);
    }
    String::from_utf8(out).unwrap_or_default()
}
