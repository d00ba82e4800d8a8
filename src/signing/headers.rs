//! Header canonicalisation shared by V2 (canonical extension headers) and V4 (canonical
//! headers): names lower-cased and trimmed, runs of white space in values folded to one space
//! and trimmed, repeated names joined with `,`, sorted by name. (Google's Python client,
//! `_signing.get_canonical_headers`; conformance cases "Headers should be trimmed" and "Header
//! value with multiple inline values".)

pub fn canonical_headers(headers: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut merged: Vec<(String, String)> = Vec::with_capacity(headers.len());
    for (name, value) in headers {
        let name = name.trim().to_ascii_lowercase();
        let value = value.split_whitespace().collect::<Vec<_>>().join(" ");
        match merged.iter_mut().find(|(n, _)| *n == name) {
            Some((_, existing)) => {
                existing.push(',');
                existing.push_str(&value);
            }
            None => merged.push((name, value)),
        }
    }
    merged.sort();
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_lowercased_sorted_folded_and_merged() {
        let headers = [
            ("X-Goog-Meta-B", "  two   words "),
            ("x-goog-if-generation-match", "0"),
            ("x-goog-meta-b", "\tagain\t"),
        ];
        assert_eq!(
            canonical_headers(&headers),
            vec![
                ("x-goog-if-generation-match".to_owned(), "0".to_owned()),
                ("x-goog-meta-b".to_owned(), "two words,again".to_owned()),
            ]
        );
    }
}
