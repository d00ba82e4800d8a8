//! Object-name validation and the percent-encoders, on arbitrary UTF-8.
//!
//! - `ObjectName::parse` accepts exactly the names its documented rules allow (non-empty, at
//!   most 1024 bytes, no control character, no empty, `.` or `..` segment);
//! - `encode_object_name` (and the two query encoders) decode back to the input, leave only
//!   their documented sets unescaped and write `%XX` with upper-case hex.

#![no_main]

use libfuzzer_sys::fuzz_target;
use percent_encoding::percent_decode_str;
use storage_signer::domain::{MAX_OBJECT_NAME_BYTES, ObjectName};
use storage_signer::signing::encoding::{
    encode_form_value, encode_object_name, encode_query_component,
};

fuzz_target!(|data: &[u8]| {
    let Ok(name) = std::str::from_utf8(data) else {
        return;
    };
    check_validation(name);
    check_encoding(name);
});

/// The rules of `ObjectName`, written out again from its documentation.
fn allowed_by_the_rules(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_OBJECT_NAME_BYTES
        && !name.chars().any(char::is_control)
        && name
            .split('/')
            .all(|segment| !segment.is_empty() && segment != "." && segment != "..")
}

fn check_validation(name: &str) {
    match ObjectName::parse(name) {
        Ok(parsed) => {
            assert!(allowed_by_the_rules(name), "accepted {name:?}");
            assert_eq!(parsed.as_str(), name);
            assert_eq!(parsed.to_string(), name);
        }
        Err(violation) => {
            assert!(
                !allowed_by_the_rules(name),
                "refused {name:?}: {violation:?}"
            );
            assert!(
                matches!(violation.rule, "length" | "format"),
                "{violation:?}"
            );
            assert!(!violation.description.is_empty());
        }
    }
}

fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

/// Every `%` starts `%XX` with upper-case hex digits, and every other byte is in `kept`.
fn assert_well_formed(encoded: &str, kept: impl Fn(u8) -> bool) {
    let bytes = encoded.as_bytes();
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at] == b'%' {
            let hex = bytes.get(at + 1..at + 3).unwrap_or_default();
            assert!(
                hex.len() == 2
                    && hex
                        .iter()
                        .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(b)),
                "bad escape at {at} in {encoded:?}"
            );
            at += 3;
        } else {
            assert!(
                kept(bytes[at]),
                "{:?} left unescaped in {encoded:?}",
                bytes[at] as char
            );
            at += 1;
        }
    }
}

fn decode(encoded: &str) -> String {
    percent_decode_str(encoded)
        .decode_utf8()
        .expect("the encoding of a str decodes to UTF-8")
        .into_owned()
}

fn check_encoding(name: &str) {
    let object = encode_object_name(name);
    assert_well_formed(&object, |b| is_unreserved(b) || b == b'/');
    assert_eq!(decode(&object), name);
    // Only escaping adds bytes, three for one.
    assert!(object.len() >= name.len() && object.len() <= 3 * name.len());

    let query = encode_query_component(name);
    assert_well_formed(&query, is_unreserved);
    assert_eq!(decode(&query), name);
    // The object encoding differs from the query one in `/` alone.
    assert_eq!(query.replace("%2F", "/"), object);

    // Form values: as the query component, with a space as `+` (a `+` itself is `%2B`).
    let form = encode_form_value(name);
    assert_well_formed(&form, |b| is_unreserved(b) || b == b'+');
    assert_eq!(decode(&form.replace('+', " ")), name);
    assert_eq!(form, query.replace("%20", "+"));
}
