//! API keys: only their SHA-256 is configured; a presented key is hashed and compared with
//! every client's hash in constant time.

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::rand::{SecureRandom as _, SystemRandom};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use subtle::{ConditionallySelectable as _, ConstantTimeEq as _};

/// Prefix of generated keys, so a leaked key is recognisable in a secret scanner.
pub const KEY_PREFIX: &str = "ssk_";

pub fn sha256(key: &str) -> [u8; 32] {
    let mut out = [0; 32];
    out.copy_from_slice(digest(&SHA256, key.as_bytes()).as_ref());
    out
}

/// Finds the client whose hash is the hash of `presented`.
///
/// Every entry is compared, whether or not an earlier one matched, and the comparison and the
/// selection of the index are constant-time, so the time taken says nothing about which client
/// matched, or whether one did. (Which clients have a key at all is configuration, not secret.)
pub fn find<'a>(
    hashes: impl IntoIterator<Item = Option<&'a [u8; 32]>>,
    presented: &str,
) -> Option<usize> {
    let presented = sha256(presented);
    let mut found = subtle::Choice::from(0);
    let mut index: u64 = 0;
    for (i, hash) in hashes.into_iter().enumerate() {
        let Some(hash) = hash else { continue };
        let equal = digests_equal(hash, &presented);
        index.conditional_assign(&(i as u64), equal);
        found |= equal;
    }
    bool::from(found).then(|| usize::try_from(index).expect("index fits"))
}

/// Whether two digests are equal, in constant time. The differences of their 64-bit words are
/// OR-ed together without a branch and only the total goes through `subtle`: one optimisation
/// barrier a comparison instead of one a byte (with 20 clients the 640 barriers were 1.3 % of
/// a reused read URL's CPU samples under `perf`).
fn digests_equal(a: &[u8; 32], b: &[u8; 32]) -> subtle::Choice {
    let word = |bytes: &[u8]| u64::from_ne_bytes(bytes.try_into().expect("8-byte chunks"));
    let difference = a
        .chunks_exact(8)
        .zip(b.chunks_exact(8))
        .fold(0, |difference, (x, y)| difference | (word(x) ^ word(y)));
    difference.ct_eq(&0)
}

/// A new random API key: `ssk_` and 32 random bytes in base64url.
pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system random generator works");
    format!("{KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    #[test]
    fn sha256_is_the_standard_digest() {
        // sha256("hello"), as `printf hello | sha256sum` prints it.
        assert_eq!(
            hex::encode(sha256("hello")),
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
    }

    #[test]
    fn finds_the_matching_client() {
        let hashes = [Some(sha256("a")), None, Some(sha256("b"))];
        assert_eq!(find(hashes.iter().map(Option::as_ref), "b"), Some(2));
        assert_eq!(find(hashes.iter().map(Option::as_ref), "a"), Some(0));
        assert_eq!(find(hashes.iter().map(Option::as_ref), "c"), None);
        assert_eq!(find(hashes.iter().map(Option::as_ref), ""), None);
    }

    #[test]
    fn a_difference_in_any_bit_is_seen() {
        let hash = sha256("k");
        assert!(bool::from(digests_equal(&hash, &hash)));
        for byte in 0..32 {
            for bit in 0..8 {
                let mut other = hash;
                other[byte] ^= 1 << bit;
                assert!(
                    !bool::from(digests_equal(&hash, &other)),
                    "byte {byte} bit {bit}"
                );
                assert!(
                    !bool::from(digests_equal(&other, &hash)),
                    "byte {byte} bit {bit}"
                );
            }
        }
    }

    #[test]
    fn compares_against_every_client_even_after_a_match() {
        let hashes: Vec<Option<[u8; 32]>> = ["k0", "k1", "k2", "k3", "k4"]
            .iter()
            .map(|k| Some(sha256(k)))
            .collect();
        for presented in ["k0", "k4", "nobody"] {
            let visited = Cell::new(0);
            let counting = hashes.iter().map(|h| {
                visited.set(visited.get() + 1);
                h.as_ref()
            });
            find(counting, presented);
            assert_eq!(visited.get(), hashes.len(), "presented {presented}");
        }
    }

    #[test]
    fn generated_keys_are_distinct_and_prefixed() {
        let (a, b) = (generate(), generate());
        assert_ne!(a, b);
        assert!(a.starts_with(KEY_PREFIX));
        assert_eq!(a.len(), KEY_PREFIX.len() + 43);
    }
}
