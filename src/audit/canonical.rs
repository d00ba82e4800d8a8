//! The canonical JSON of a record: the only form a checker accepts.
//!
//! Canonical JSON here is what `serde_json` writes for a `Value` whose object keys are in
//! byte order: no white space, strings escaped as `serde_json` escapes them (`"`, `\`, control
//! characters; everything else as UTF-8), integers in decimal. Each key appears once.
//!
//! A sealed line is the canonical JSON of the record without its seal, with the seal (`hash`
//! of a record, `signature` of a checkpoint) appended as the last member. A checker parses the
//! line, takes the seal out, writes the rest canonically, puts the seal back, and requires the
//! very bytes it was given. So reordered keys, a duplicated key (a decoy `"decision"` in front
//! of the real one: the parser keeps one of them, the rewrite has one), other white space or
//! other escapes all fail, and one record has exactly one accepted line.
//!
//! The keys are sorted here rather than trusting `serde_json::Map`'s order, which a feature
//! of `serde_json` (`preserve_order`, enabled by any crate in the build) would change.

use serde_json::{Map, Value};

use crate::json_text::push_string_bytes;

/// Writes `value` canonically.
pub fn to_string(value: &Value) -> String {
    let mut out = String::new();
    write(value, &mut out);
    out
}

/// The canonical JSON of an object.
pub fn object_to_string(object: &Map<String, Value>) -> String {
    let mut out = String::new();
    write_object(object, &mut out);
    out
}

fn write(value: &Value, out: &mut String) {
    match value {
        Value::Object(object) => write_object(object, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(item, out);
            }
            out.push(']');
        }
        // Strings, numbers, booleans and null: serde_json's own form.
        other => out.push_str(&other.to_string()),
    }
}

fn write_object(object: &Map<String, Value>, out: &mut String) {
    let mut keys: Vec<&String> = object.keys().collect();
    keys.sort_unstable();
    out.push('{');
    for (i, key) in keys.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&Value::from(key.as_str()).to_string());
        out.push(':');
        write(&object[key], out);
    }
    out.push('}');
}

/// An object written member by member, in the order given, without building a `Value`
/// first: the fast path for a record whose fields are known. Canonical only if the caller
/// gives the names in byte order (a nested object goes through [`to_string`] and `raw`);
/// `chain.rs`'s tests check its records against [`object_to_string`].
#[derive(Default)]
pub struct Members {
    out: Vec<u8>,
}

impl Members {
    fn name(&mut self, name: &str) {
        if self.out.is_empty() {
            self.out.reserve(768);
        }
        self.out.push(if self.out.is_empty() { b'{' } else { b',' });
        self.out.push(b'"');
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    pub fn member<T: serde::Serialize + ?Sized>(&mut self, name: &str, value: &T) {
        self.name(name);
        // Writing to a Vec cannot fail, and these types always serialise.
        let _ = serde_json::to_writer(&mut self.out, value);
    }

    /// A string member, escaped without going through serde.
    pub fn text(&mut self, name: &str, value: &str) {
        self.name(name);
        push_string_bytes(&mut self.out, value);
    }

    /// A string member that is `null` when `None`.
    pub fn text_or_null(&mut self, name: &str, value: Option<&str>) {
        if let Some(value) = value {
            self.text(name, value);
        } else {
            self.name(name);
            self.out.extend_from_slice(b"null");
        }
    }

    /// A string member, left out when `None`.
    pub fn optional_text(&mut self, name: &str, value: Option<&str>) {
        if let Some(value) = value {
            self.text(name, value);
        }
    }

    pub fn raw(&mut self, name: &str, json: &str) {
        self.name(name);
        self.out.extend_from_slice(json.as_bytes());
    }

    pub fn finish(mut self) -> String {
        self.out.push(b'}');
        // serde_json writes UTF-8 only.
        String::from_utf8(self.out).unwrap_or_default()
    }
}

/// `canonical` (an object's canonical JSON) with `"seal_name":"seal"` appended as its last
/// member.
pub fn with_seal(mut canonical: String, seal_name: &str, seal: &str) -> String {
    canonical.pop();
    if !canonical.ends_with('{') {
        canonical.push(',');
    }
    canonical.push('"');
    canonical.push_str(seal_name);
    canonical.push_str("\":\"");
    canonical.push_str(seal);
    canonical.push_str("\"}");
    canonical
}

/// Why a line is not a sealed record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unsealed {
    #[error("not a complete JSON record (edited or truncated)")]
    NotJson,
    #[error("the record has no {0}")]
    NoSeal(&'static str),
    #[error(
        "the record is not in canonical form (keys reordered or duplicated, white space or escapes changed)"
    )]
    NotCanonical,
}

/// Opens a sealed line: returns the record without its seal, its canonical JSON, and the
/// seal, after checking that `line` is exactly the canonical form.
pub fn open(
    line: &str,
    seal_name: &'static str,
) -> Result<(Map<String, Value>, String, String), Unsealed> {
    let Ok(Value::Object(mut record)) = serde_json::from_str::<Value>(line) else {
        return Err(Unsealed::NotJson);
    };
    let Some(Value::String(seal)) = record.remove(seal_name) else {
        return Err(Unsealed::NoSeal(seal_name));
    };
    let canonical = object_to_string(&record);
    if with_seal(canonical.clone(), seal_name, &seal) != line {
        return Err(Unsealed::NotCanonical);
    }
    Ok((record, canonical, seal))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seal(value: &Value) -> String {
        with_seal(to_string(value), "hash", "abc")
    }

    #[test]
    fn keys_are_sorted_at_every_level_and_the_seal_goes_last() {
        let value = serde_json::json!({"b": 1, "a": {"d": null, "c": "é\n"}});
        assert_eq!(
            seal(&value),
            r#"{"a":{"c":"é\n","d":null},"b":1,"hash":"abc"}"#
        );
    }

    #[test]
    fn the_canonical_line_opens() {
        let line = seal(&serde_json::json!({"decision": "denied", "seq": 2}));
        let (record, canonical, hash) = open(&line, "hash").unwrap();
        assert_eq!(record["seq"], 2);
        assert_eq!(canonical, r#"{"decision":"denied","seq":2}"#);
        assert_eq!(hash, "abc");
    }

    #[test]
    fn reordered_keys_are_refused() {
        let line = r#"{"seq":2,"decision":"denied","hash":"abc"}"#;
        assert_eq!(open(line, "hash"), Err(Unsealed::NotCanonical));
    }

    #[test]
    fn a_decoy_duplicate_key_is_refused() {
        let line = r#"{"decision":"denied","decision":"issued","seq":2,"hash":"abc"}"#;
        assert_eq!(open(line, "hash"), Err(Unsealed::NotCanonical));
        let line = r#"{"decision":"issued","decision":"denied","seq":2,"hash":"abc"}"#;
        assert_eq!(open(line, "hash"), Err(Unsealed::NotCanonical));
    }

    #[test]
    fn other_white_space_or_escapes_are_refused() {
        for line in [
            r#"{"decision": "denied","seq":2,"hash":"abc"}"#,
            r#"{"decision":"d\u0065nied","seq":2,"hash":"abc"}"#,
            r#"{"decision":"denied","seq":2,"hash":"abc"} "#,
            r#"{"hash":"abc","decision":"denied","seq":2}"#,
        ] {
            assert_eq!(open(line, "hash"), Err(Unsealed::NotCanonical), "{line}");
        }
    }
}
