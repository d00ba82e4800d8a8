//! The answers that carry URLs, written by hand into one buffer.
//!
//! `serde_json` looks at every byte of every string on its own, and a URL answer is mostly long
//! strings (the URL twice): that loop was about 12,000 of a reused GET's 147,000 instructions
//! (callgrind, docs/benchmarks.md). Here strings go through [`push_string`], which
//! passes over runs with nothing to escape. The bytes are `serde_json`'s for the same structs
//! (their derived `Serialize`, which the OpenAPI schema also comes from, is the reference in
//! the tests below), so no client can tell.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::secrets::{BatchItem, BatchResponse, Meta, SecretData, SecretResponse};
use crate::json_text::push_string;

impl SecretResponse<'_> {
    pub(super) fn to_json(&self) -> String {
        let mut out = String::with_capacity(answer_capacity(&self.data));
        out.push_str("{\"meta\":");
        self.meta.write_json(&mut out);
        out.push_str(",\"data\":");
        self.data.write_json(&mut out);
        out.push('}');
        out
    }
}

impl BatchResponse<'_> {
    /// `None` when an item's error could not be written (it never fails: plain strings).
    pub(super) fn to_json(&self) -> Option<String> {
        let capacity = self
            .data
            .iter()
            .map(|item| item.data.as_ref().map_or(256, answer_capacity))
            .sum::<usize>()
            + 128;
        let mut out = String::with_capacity(capacity);
        out.push_str("{\"meta\":");
        self.meta.write_json(&mut out);
        out.push_str(",\"data\":[");
        for (n, item) in self.data.iter().enumerate() {
            if n > 0 {
                out.push(',');
            }
            item.write_json(&mut out)?;
        }
        out.push_str("]}");
        Some(out)
    }
}

/// Enough for one item's answer without growing: its strings, twice the URL, and the names.
fn answer_capacity(data: &SecretData) -> usize {
    let headers: usize = data
        .headers
        .iter()
        .map(|(k, v)| k.len() + v.len() + 8)
        .sum();
    2 * data.secret_url.len() + data.resource_id.len() + headers + 512
}

impl Meta<'_> {
    fn write_json(&self, out: &mut String) {
        let _ = write!(out, "{{\"code\":{},\"type\":", self.code);
        push_string(out, self.kind);
        out.push_str(",\"request_id\":");
        push_string(out, self.request_id.as_str());
        out.push('}');
    }
}

impl BatchItem {
    fn write_json(&self, out: &mut String) -> Option<()> {
        let _ = write!(out, "{{\"index\":{},\"status\":{}", self.index, self.status);
        if let Some(data) = &self.data {
            out.push_str(",\"data\":");
            data.write_json(out);
        }
        if let Some(error) = &self.error {
            // Refusals are rare and small: serde_json writes them.
            out.push_str(",\"error\":");
            out.push_str(&serde_json::to_string(error).ok()?);
        }
        out.push('}');
        Some(())
    }
}

impl SecretData {
    fn write_json(&self, out: &mut String) {
        out.push_str("{\"action\":");
        push_string(out, self.action);
        out.push_str(",\"bucket\":");
        push_string(out, &self.bucket);
        out.push_str(",\"resource_id\":");
        push_string(out, &self.resource_id);
        out.push_str(",\"resource_name\":");
        push_optional(out, self.resource_name.as_deref());
        out.push_str(",\"content_type\":");
        push_optional(out, self.content_type.as_deref());
        out.push_str(",\"content_md5\":");
        push_optional(out, self.content_md5.as_deref());
        out.push_str(",\"secret_url\":");
        push_string(out, &self.secret_url);
        out.push_str(",\"url\":");
        push_string(out, &self.url);
        out.push_str(",\"method\":");
        push_string(out, self.method);
        out.push_str(",\"fields\":");
        push_map(out, &self.fields);
        out.push_str(",\"expires_at\":");
        push_string(out, &self.expires_at);
        out.push_str(",\"inserted_at\":");
        push_string(out, &self.inserted_at);
        out.push_str(",\"version\":");
        push_string(out, self.version);
        out.push_str(",\"backend\":");
        push_string(out, self.backend);
        out.push_str(",\"headers\":");
        push_map(out, &self.headers);
        out.push('}');
    }
}

fn push_optional(out: &mut String, text: Option<&str>) {
    match text {
        Some(text) => push_string(out, text),
        None => out.push_str("null"),
    }
}

fn push_map(out: &mut String, map: &BTreeMap<String, String>) {
    out.push('{');
    for (n, (name, value)) in map.iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        push_string(out, name);
        out.push(':');
        push_string(out, value);
    }
    out.push('}');
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::http::request_log::RequestId;

    /// Any text, with the characters JSON escapes (and multi-byte UTF-8) made common.
    fn text() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop_oneof![
                3 => prop::char::range('a', 'z'),
                1 => prop::char::range('\u{0}', '\u{1f}'),
                1 => prop::sample::select(vec!['"', '\\', '/', '\u{7f}', 'é', '€', '😀', '%', '&']),
                1 => any::<char>(),
            ],
            0..80,
        )
        .prop_map(|chars| chars.into_iter().collect())
    }

    fn map() -> impl Strategy<Value = BTreeMap<String, String>> {
        prop::collection::btree_map(text(), text(), 0..4)
    }

    /// What a `SecretData` is made of (which has no `Debug`: it holds a URL).
    #[derive(Debug, Clone)]
    struct Parts {
        strings: [String; 5],
        optional: [Option<String>; 3],
        maps: [BTreeMap<String, String>; 2],
        url: String,
    }

    impl Parts {
        fn data(self) -> SecretData {
            let [bucket, resource_id, expires_at, inserted_at, _] = self.strings;
            let [resource_name, content_type, content_md5] = self.optional;
            let [fields, headers] = self.maps;
            SecretData {
                action: "upload",
                bucket,
                resource_id,
                resource_name,
                content_type,
                content_md5,
                secret_url: self.url.clone(),
                url: self.url,
                method: "PUT",
                fields,
                expires_at,
                inserted_at,
                version: "v4",
                backend: "gcs",
                headers,
            }
        }
    }

    fn parts() -> impl Strategy<Value = Parts> {
        (
            prop::array::uniform5(text()),
            prop::array::uniform3(prop::option::of(text())),
            prop::array::uniform2(map()),
            text(),
            0..600usize,
        )
            .prop_map(|(strings, optional, maps, tail, long)| Parts {
                strings,
                optional,
                maps,
                // URLs are long: runs past the 16-byte chunks, escapes anywhere in them.
                url: format!("https://storage.googleapis.com/{}{tail}", "a".repeat(long)),
            })
    }

    fn meta(request_id: &RequestId, code: u16) -> Meta<'_> {
        Meta {
            code,
            kind: "object",
            request_id,
        }
    }

    proptest! {
        #[test]
        fn an_answer_is_the_bytes_serde_json_writes(parts in parts()) {
            let request_id = RequestId::generate();
            let answer = SecretResponse { meta: meta(&request_id, 201), data: parts.data() };
            prop_assert_eq!(answer.to_json(), serde_json::to_string(&answer).unwrap());
        }

        #[test]
        fn a_batch_answer_is_the_bytes_serde_json_writes(
            items in prop::collection::vec(prop::option::of(parts()), 0..4),
            message in text(),
        ) {
            let request_id = RequestId::generate();
            let data = items
                .into_iter()
                .enumerate()
                .map(|(index, parts)| {
                    let data = parts.map(Parts::data);
                    let error = data.is_none().then(|| {
                        super::super::error::detail(&crate::error::ApiError::MalformedJson { detail: message.clone() })
                    });
                    BatchItem { index, status: if data.is_some() { 201 } else { 403 }, data, error }
                })
                .collect();
            let answer = BatchResponse { meta: Meta { code: 200, kind: "list", request_id: &request_id }, data };
            prop_assert_eq!(answer.to_json().unwrap(), serde_json::to_string(&answer).unwrap());
        }
    }
}
