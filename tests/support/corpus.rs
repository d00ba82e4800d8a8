//! Deterministic corpora of awkward object names, so a failing case reproduces.

#![allow(dead_code)] // each test binary uses a different part of this file

/// `SplitMix64`: a small deterministic generator.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap()
    }

    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// Character pools for object names: what users actually upload, and what breaks encoders
/// (reserved and sub-delimiters, `%`, `+`, `~`, CJK, emoji with modifiers and flags,
/// combining marks, Latin-1).
const POOLS: &[&str] = &[
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
    "-_.~",
    " !#$&'()*+,;=:@[]?%\"<>\\^`{|}",
    "привітсвЁёЖжЩщ",
    "日本語中文字한국어",
    "😀🎉👍🏽🇺🇦🧪",
    "e\u{301}a\u{308}o\u{303}\u{20dd}",
    "ÀéîõüßØæ",
];

/// One path segment of 1 to 12 characters (never `.` or `..`).
pub fn segment(rng: &mut Rng) -> String {
    loop {
        let len = 1 + rng.below(12);
        let text: String = (0..len)
            .map(|_| {
                let pool: Vec<char> = POOLS[rng.below(POOLS.len())].chars().collect();
                pool[rng.below(pool.len())]
            })
            .collect();
        if text != "." && text != ".." {
            return text;
        }
    }
}

/// An object name of 1 to `max_segments` segments joined by `/`.
pub fn object_name(rng: &mut Rng, max_segments: usize) -> String {
    (0..=rng.below(max_segments))
        .map(|_| segment(rng))
        .collect::<Vec<_>>()
        .join("/")
}
