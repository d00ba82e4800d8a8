//! Properties of the percent-encoders in `signing::encoding`, for arbitrary Unicode strings:
//! decoding gives the input back, only the documented set stays unescaped, and every escape
//! is `%` and two upper-case hex digits.
//!
//! `PROPTEST_CASES` changes the number of cases (default here: 4096 per property).

use std::fmt::Write as _;

use percent_encoding::percent_decode_str;
use proptest::prelude::*;
use storage_signer::signing::encoding::{
    encode_form_value, encode_object_name, encode_query_component,
};

/// RFC 3986 unreserved characters: `A-Z a-z 0-9 - . _ ~`.
fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

fn is_upper_hex(byte: u8) -> bool {
    byte.is_ascii_digit() || (b'A'..=b'F').contains(&byte)
}

/// Checks that every `%` starts `%XX` with upper-case hex and that every other byte is
/// `kept`; returns the number of escapes.
fn check_escapes(encoded: &str, kept: impl Fn(u8) -> bool) -> Result<usize, TestCaseError> {
    let bytes = encoded.as_bytes();
    let mut escapes = 0;
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at] == b'%' {
            let hex = bytes.get(at + 1..at + 3).unwrap_or_default();
            prop_assert!(
                hex.len() == 2 && hex.iter().copied().all(is_upper_hex),
                "bad escape at byte {} of {:?}",
                at,
                encoded
            );
            escapes += 1;
            at += 3;
        } else {
            prop_assert!(
                kept(bytes[at]),
                "{:?} left unescaped in {:?}",
                char::from(bytes[at]),
                encoded
            );
            at += 1;
        }
    }
    Ok(escapes)
}

fn decode(encoded: &str) -> Result<String, TestCaseError> {
    percent_decode_str(encoded)
        .decode_utf8()
        .map(std::borrow::Cow::into_owned)
        .map_err(|error| TestCaseError::fail(format!("{encoded:?} is not UTF-8: {error}")))
}

/// Bytes of `input` that `kept` leaves as they are; the rest are escaped.
fn count_escaped(input: &str, kept: impl Fn(u8) -> bool) -> usize {
    input.bytes().filter(|&byte| !kept(byte)).count()
}

/// Any Unicode string, and strings made mostly of the characters that matter here.
fn names() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-zA-Z0-9 ./_~+%#?&=@:;!$'()*,\\[\\]-]{0,40}",
        "[a-z/ %+\u{e9}\u{301}\u{65e5}\u{1f600}\u{0}\u{7f}\u{80}\u{ffff}]{0,40}",
    ]
}

/// Any character outside the unreserved set and `/`. A filter, not `prop_assume!`: proptest
/// draws ASCII letters and digits often, and assumptions that fail count against a global
/// limit (1,024) that made this property fail now and then.
fn escaped_chars() -> impl Strategy<Value = char> {
    any::<char>().prop_filter("kept as is", |c| {
        !c.is_ascii_alphanumeric() && !matches!(c, '-' | '.' | '_' | '~' | '/')
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn object_name_decodes_back_and_keeps_only_unreserved_and_slash(name in names()) {
        let encoded = encode_object_name(&name);
        let kept = |byte: u8| is_unreserved(byte) || byte == b'/';
        let escapes = check_escapes(&encoded, kept)?;
        prop_assert_eq!(escapes, count_escaped(&name, kept));
        prop_assert_eq!(encoded.len(), name.len() + 2 * escapes);
        prop_assert_eq!(decode(&encoded)?, name);
    }

    #[test]
    fn query_component_decodes_back_and_keeps_only_unreserved(value in names()) {
        let encoded = encode_query_component(&value);
        let escapes = check_escapes(&encoded, is_unreserved)?;
        prop_assert_eq!(escapes, count_escaped(&value, is_unreserved));
        prop_assert_eq!(decode(&encoded)?, value.clone());
        // The same as an object name, except that `/` is escaped too.
        prop_assert_eq!(encoded.replace("%2F", "/"), encode_object_name(&value));
    }

    #[test]
    fn form_value_decodes_back_with_space_as_plus(value in names()) {
        let encoded = encode_form_value(&value);
        let kept = |byte: u8| is_unreserved(byte) || byte == b'+';
        let escapes = check_escapes(&encoded, kept)?;
        // Every space is `+`; everything else outside the unreserved set, `+` included, is
        // escaped.
        prop_assert_eq!(encoded.matches('+').count(), value.matches(' ').count());
        prop_assert_eq!(escapes, count_escaped(&value, |byte| is_unreserved(byte) || byte == b' '));
        prop_assert_eq!(decode(&encoded.replace('+', " "))?, value.clone());
        prop_assert_eq!(encoded, encode_query_component(&value).replace("%20", "+"));
    }

    #[test]
    fn unreserved_text_is_left_alone(value in "[A-Za-z0-9._~-]{0,64}") {
        prop_assert_eq!(encode_object_name(&value), value.clone());
        prop_assert_eq!(encode_query_component(&value), value.clone());
        prop_assert_eq!(encode_form_value(&value), value);
    }

    #[test]
    fn every_other_char_is_escaped_as_its_utf8_bytes(c in escaped_chars()) {
        let mut utf8 = [0; 4];
        let expected = c.encode_utf8(&mut utf8).bytes().fold(String::new(), |mut out, byte| {
            let _ = write!(out, "%{byte:02X}");
            out
        });
        prop_assert_eq!(encode_object_name(&c.to_string()), expected);
    }
}
