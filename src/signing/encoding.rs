//! Percent-encoding as Google's client libraries do it, and lower-case hex.
//!
//! Object names go through [`encode_object_name`] and nothing else, so the set of characters
//! left unescaped is decided in exactly one place.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// RFC 3986 unreserved characters: `A-Z a-z 0-9 - . _ ~`. Everything else is escaped.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Unreserved characters plus `/`, which separates "folders" in an object name.
///
/// Google's Python client calls `urllib.parse.quote(name, safe="/~")` on the UTF-8 bytes of
/// the name (`google/cloud/storage/blob.py`, `_quote`); the other clients agree.
const OBJECT_NAME: &AsciiSet = &UNRESERVED.remove(b'/');

/// Percent-encodes an object name for the URL path and the canonical resource.
///
/// Only `A-Z a-z 0-9 - _ . ~ /` stay as they are; every other byte of the UTF-8 encoding
/// becomes `%XX` with upper-case hex. No Unicode normalisation happens: GCS names are byte
/// strings, and `é` composed and decomposed are two different objects.
pub fn encode_object_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    push_object_name(&mut out, name);
    out
}

/// [`encode_object_name`] onto `out`.
pub fn push_object_name(out: &mut String, name: &str) {
    out.extend(utf8_percent_encode(name, OBJECT_NAME));
}

/// Encodes a V2 query parameter value like Python's `urllib.parse.quote_plus`, which Google's
/// client uses through `urlencode`: unreserved characters stay, space becomes `+`, the rest
/// is `%XX`. (`+`, `/` and `=` of a base64 signature are therefore escaped.)
pub fn encode_form_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    push_form_value(&mut out, value);
    out
}

/// [`encode_form_value`] onto `out`.
pub fn push_form_value(out: &mut String, value: &str) {
    // The encoder hands over every escaped byte as a `%XX` piece of its own, and `%` itself is
    // escaped, so the piece `%20` is exactly a space.
    for piece in utf8_percent_encode(value, UNRESERVED) {
        if piece == "%20" {
            out.push('+');
        } else {
            out.push_str(piece);
        }
    }
}

/// Encodes a V4 query parameter name or value like Google's `_quote_param`:
/// `urllib.parse.quote(value, safe="~")`, so space is `%20` and `/` is `%2F`.
pub fn encode_query_component(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    push_query_component(&mut out, value);
    out
}

/// [`encode_query_component`] onto `out`.
pub fn push_query_component(out: &mut String, value: &str) {
    out.extend(utf8_percent_encode(value, UNRESERVED));
}

/// Lower-case hex (signatures and SHA-256 digests): `hex`'s table lookup into a buffer sized
/// once. `hex::encode` pushes one `char` at a time, which cost about 7,800 instructions per
/// V4 URL (callgrind, docs/benchmarks.md).
pub fn lower_hex(bytes: &[u8]) -> String {
    let mut out = vec![0; bytes.len() * 2];
    // Cannot fail: the buffer is exactly twice as long as the input.
    let _ = hex::encode_to_slice(bytes, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_lower_case_two_digits_per_byte() {
        assert_eq!(lower_hex(&[0x00, 0x0f, 0xa0, 0xff]), "000fa0ff");
        assert_eq!(lower_hex(&[]), "");
    }

    #[test]
    fn object_name_keeps_only_unreserved_characters_and_slash() {
        assert_eq!(encode_object_name("a-b_c.d~e/f/G9"), "a-b_c.d~e/f/G9");
    }

    #[test]
    fn object_name_with_space_is_percent_encoded_not_plus() {
        assert_eq!(encode_object_name("my file.txt"), "my%20file.txt");
    }

    #[test]
    fn object_name_plus_is_escaped_so_storage_does_not_read_a_space() {
        assert_eq!(encode_object_name("a+b"), "a%2Bb");
    }

    #[test]
    fn object_name_percent_is_escaped_once() {
        assert_eq!(encode_object_name("50%off"), "50%25off");
        assert_eq!(encode_object_name("%2F"), "%252F");
    }

    #[test]
    fn object_name_hash_and_question_mark_do_not_end_the_path() {
        assert_eq!(encode_object_name("a#b?c"), "a%23b%3Fc");
    }

    #[test]
    fn object_name_unicode_is_utf8_upper_hex() {
        assert_eq!(encode_object_name("café"), "caf%C3%A9");
        assert_eq!(encode_object_name("日本"), "%E6%97%A5%E6%9C%AC");
        assert_eq!(encode_object_name("😀"), "%F0%9F%98%80");
    }

    #[test]
    fn object_name_is_not_unicode_normalised() {
        // "é" as e + COMBINING ACUTE ACCENT stays two code points.
        assert_eq!(encode_object_name("e\u{301}"), "e%CC%81");
    }

    #[test]
    fn object_name_reserved_and_sub_delims_are_escaped() {
        assert_eq!(
            encode_object_name("!$&'()*,;=:@[]"),
            "%21%24%26%27%28%29%2A%2C%3B%3D%3A%40%5B%5D"
        );
    }

    #[test]
    fn form_value_escapes_base64_punctuation() {
        assert_eq!(encode_form_value("ab+/c=="), "ab%2B%2Fc%3D%3D");
    }

    #[test]
    fn form_value_with_space_is_plus() {
        assert_eq!(encode_form_value("a b"), "a+b");
    }

    #[test]
    fn form_value_escapes_at_sign_of_service_account_email() {
        assert_eq!(
            encode_form_value("sa@p.iam.gserviceaccount.com"),
            "sa%40p.iam.gserviceaccount.com"
        );
    }

    #[test]
    fn query_component_escapes_slash_and_space() {
        assert_eq!(encode_query_component("a/b c~"), "a%2Fb%20c~");
    }
}
