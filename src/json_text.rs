//! Text inside JSON strings, escaped as `serde_json` escapes it, byte for byte.
//!
//! `serde_json` looks at every byte of a string on its own; most of what this service writes
//! (log lines, URLs in answers, audit records) has nothing to escape, and here a 16-byte run of
//! it is checked as one chunk. Log lines, the answers that carry URLs and the audit records'
//! strings are written through this (callgrind figures in docs/benchmarks.md).

use std::fmt::{self, Write as _};

/// Writes text as the inside of a JSON string: `"`, `\` and control characters escaped, as
/// `serde_json` does, so no value can end the string or the line early.
pub struct Escaped<'a, W: fmt::Write + ?Sized>(pub &'a mut W);

/// What JSON needs escaped inside a string.
fn needs_escape(byte: u8) -> bool {
    byte < 0x20 || byte == b'"' || byte == b'\\'
}

/// How many bytes the fast path looks at at once: a 16-byte chunk with nothing to escape (most
/// of every line) is passed over with one test of all its bytes instead of a branch each.
const CHUNK: usize = 16;

impl<W: fmt::Write + ?Sized> fmt::Write for Escaped<'_, W> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let bytes = text.as_bytes();
        let mut plain = 0;
        let mut at = 0;
        while at < bytes.len() {
            let end = (at + CHUNK).min(bytes.len());
            let chunk = &bytes[at..end];
            if chunk.len() == CHUNK && !chunk.iter().fold(false, |any, &b| any | needs_escape(b)) {
                at = end;
                continue;
            }
            for (offset, &byte) in chunk.iter().enumerate() {
                if !needs_escape(byte) {
                    continue;
                }
                let here = at + offset;
                self.0.write_str(&text[plain..here])?;
                match byte {
                    b'"' => self.0.write_str("\\\"")?,
                    b'\\' => self.0.write_str("\\\\")?,
                    b'\n' => self.0.write_str("\\n")?,
                    b'\r' => self.0.write_str("\\r")?,
                    b'\t' => self.0.write_str("\\t")?,
                    0x08 => self.0.write_str("\\b")?,
                    0x0c => self.0.write_str("\\f")?,
                    _ => write!(self.0, "\\u{byte:04x}")?,
                }
                plain = here + 1;
            }
            at = end;
        }
        self.0.write_str(&text[plain..])
    }
}

/// `text` as a JSON string, quotes included, appended to `out`.
pub fn push_string(out: &mut String, text: &str) {
    out.push('"');
    // Writing to a `String` cannot fail.
    let _ = Escaped(&mut *out).write_str(text);
    out.push('"');
}

/// [`push_string`] for a byte buffer.
pub fn push_string_bytes(out: &mut Vec<u8>, text: &str) {
    out.push(b'"');
    let _ = Escaped(&mut Bytes(out)).write_str(text);
    out.push(b'"');
}

/// A byte buffer as a `fmt::Write` (it takes only `str`s, so it stays UTF-8 if it was).
struct Bytes<'a>(&'a mut Vec<u8>);

impl fmt::Write for Bytes<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        self.0.extend_from_slice(text.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them_wherever_the_escape_falls() {
        // Every character JSON escapes, at every offset around the 16-byte chunks the fast
        // path skips, among plain ASCII and multi-byte UTF-8.
        let specials: Vec<char> = (0u8..0x20)
            .map(char::from)
            .chain(['"', '\\', '\u{7f}', 'é', '€'])
            .collect();
        for length in [0, 1, 15, 16, 17, 31, 32, 33, 50] {
            for at in 0..=length {
                for &special in &specials {
                    let mut text: String = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOP"
                        .chars()
                        .take(length)
                        .collect();
                    text.insert(at, special);
                    let mut ours = String::new();
                    fmt::Write::write_str(&mut Escaped(&mut ours), &text).unwrap();
                    let theirs = serde_json::to_string(&text).unwrap();
                    assert_eq!(format!("\"{ours}\""), theirs, "{text:?}");
                }
            }
        }
    }

    #[test]
    fn push_string_quotes_as_serde_json_does() {
        for text in ["", "plain", "a\"quote\" and \\", "line\nbreak\u{1}", "é€😀"] {
            let theirs = format!("x{}", serde_json::to_string(text).unwrap());
            let mut ours = String::from("x");
            push_string(&mut ours, text);
            assert_eq!(ours, theirs);
            let mut bytes = b"x".to_vec();
            push_string_bytes(&mut bytes, text);
            assert_eq!(bytes, theirs.as_bytes());
        }
    }
}
