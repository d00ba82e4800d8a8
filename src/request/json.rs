//! Request bodies from bytes to JSON, refusing a document whose meaning depends on the reader.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// `bytes` as a JSON value, refused (a syntax error with its position) when an object in it
/// names a member twice.
pub fn parse_json(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    serde_json::from_slice(bytes).map(|Unambiguous(value)| value)
}

/// A JSON value in which no object names a member twice. `serde_json` keeps the last of two
/// members of the same name; a proxy, a firewall or a log reader in front of us may keep the
/// first, and then what was checked there is not what we sign (RFC 8259 leaves the meaning of
/// such an object open).
struct Unambiguous(Value);

impl<'de> Deserialize<'de> for Unambiguous {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(UnambiguousVisitor)
            .map(Unambiguous)
    }
}

struct UnambiguousVisitor;

impl<'de> Visitor<'de> for UnambiguousVisitor {
    type Value = Value;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(value.into())
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(value.into())
    }

    fn visit_f64<E>(self, value: f64) -> Result<Value, E> {
        Ok(Number::from_f64(value).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Unambiguous(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(name) = map.next_key::<String>()? {
            let Unambiguous(value) = map.next_value()?;
            if object.insert(name, value).is_some() {
                // The name is not repeated back: errors name a position, never the input.
                return Err(de::Error::custom("an object names the same member twice"));
            }
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unambiguous(document: &str) -> Result<Value, serde_json::Error> {
        parse_json(document.as_bytes())
    }

    #[test]
    fn reads_every_kind_of_value_as_serde_json_does() {
        let document = r#"{"secret": {"action": "GET", "n": -3, "big": 18446744073709551615,
            "f": 1.5e3, "tiny": 5e-324, "t": true, "no": null, "list": [1, "two", [], {}],
            "esc": "a\"b\u00e9\ud83d\ude00", "nested": {"a": {"b": [{"c": 1}]}}}, "": 0}"#;
        assert_eq!(
            unambiguous(document).unwrap(),
            serde_json::from_str::<Value>(document).unwrap()
        );
    }

    #[test]
    fn refuses_an_object_that_names_a_member_twice_at_any_depth() {
        for document in [
            r#"{"action": "GET", "action": "PUT"}"#,
            r#"{"secret": {"bucket": "a", "resource_id": "x", "bucket": "b"}}"#,
            r#"{"secrets": [{}, {"ttl": 1, "ttl": 2}]}"#,
            // The same name spelt with an escape is the same name.
            r#"{"action": "GET", "\u0061ction": "PUT"}"#,
        ] {
            let error = unambiguous(document).unwrap_err().to_string();
            assert!(
                error.starts_with("an object names the same member twice at line 1"),
                "{document}: {error}"
            );
            assert!(
                !error.contains("PUT") && !error.contains("action"),
                "{error}"
            );
        }
        // The same name in two objects is not a repetition.
        assert!(unambiguous(r#"[{"a": 1}, {"a": 2}, {"b": {"a": 3}}]"#).is_ok());
    }
}
