//! The JSON body extractor: checks the media type and size before parsing, refuses a
//! document that is ambiguous (an object naming a member twice), and turns every failure into
//! the service's error shape.

use std::fmt;

use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, header};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use crate::domain::limits::MAX_BODY_BYTES;
use crate::error::ApiError;

/// Up to this much of a too-large body is read before answering 413.
const DRAIN_BYTES: usize = 1024 * 1024;

/// A request body that is a JSON document of at most `MAX` bytes, not yet validated.
#[derive(Debug)]
pub struct JsonBody<const MAX: usize = MAX_BODY_BYTES>(pub Value);

impl<S: Send + Sync, const MAX: usize> FromRequest<S> for JsonBody<MAX> {
    type Rejection = ApiError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        if !has_json_content_type(request.headers()) {
            return Err(ApiError::UnsupportedMediaType);
        }
        // A body somewhat over the limit is still read (and dropped) before the 413 goes out:
        // closing a connection with unread data makes the kernel reset it, and the client would
        // see a broken pipe instead of the answer. Far larger bodies are cut off at once.
        let drain = MAX.max(DRAIN_BYTES);
        let declared = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|length| length > drain as u64) {
            return Err(ApiError::PayloadTooLarge { limit: MAX });
        }
        let bytes = axum::body::to_bytes(request.into_body(), drain)
            .await
            .map_err(|error| {
                if is_length_limit(&error) {
                    ApiError::PayloadTooLarge { limit: MAX }
                } else {
                    ApiError::MalformedJson {
                        detail: "the body could not be read".into(),
                    }
                }
            })?;
        if bytes.len() > MAX {
            return Err(ApiError::PayloadTooLarge { limit: MAX });
        }
        // serde_json's syntax errors give a position, never the input, so they are safe to
        // return.
        serde_json::from_slice(&bytes)
            .map(|Unambiguous(value)| JsonBody(value))
            .map_err(|error| ApiError::MalformedJson {
                detail: error.to_string(),
            })
    }
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

fn is_length_limit(error: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = source {
        if current.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = current.source();
    }
    false
}

/// `application/json`, with or without parameters such as `charset=utf-8`.
fn has_json_content_type(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unambiguous(document: &str) -> Result<Value, serde_json::Error> {
        serde_json::from_str::<Unambiguous>(document).map(|Unambiguous(value)| value)
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
