//! Questions to the trail: which records match a filter. The same filter runs over a file
//! (line by line) and over the database (as SQL, then checked again on each returned line,
//! since the line is what the chain seals).

use serde_json::{Map, Value};
use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime, Time};

/// What to look for. Every field that is set must match.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub client: Option<String>,
    pub decision: Option<String>,
    pub action: Option<String>,
    pub bucket: Option<String>,
    /// The object name starts with this (before percent-encoding).
    pub object_prefix: Option<String>,
    /// `time` at or after this.
    pub since: Option<OffsetDateTime>,
    /// `time` before this.
    pub until: Option<OffsetDateTime>,
}

impl Filter {
    /// `/bucket/prefix/**` (or `/bucket/exact/object`): sets the bucket and the prefix.
    pub fn with_path(mut self, path: &str) -> Result<Self, String> {
        let rest = path
            .strip_prefix('/')
            .ok_or("a path is /bucket/object-prefix/**")?;
        let (bucket, object) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err("a path is /bucket/object-prefix/**".into());
        }
        let prefix = object.strip_suffix("**").unwrap_or(object);
        if prefix.contains('*') {
            return Err("only a trailing ** is supported in a path".into());
        }
        self.bucket = Some(bucket.to_owned());
        self.object_prefix = (!prefix.is_empty()).then(|| prefix.to_owned());
        Ok(self)
    }

    /// Whether a record (its fields) matches.
    pub fn matches(&self, record: &Map<String, Value>) -> bool {
        let text = |name: &str| record.get(name).and_then(Value::as_str);
        let equal = |name: &str, wanted: &Option<String>| {
            wanted
                .as_deref()
                .is_none_or(|wanted| text(name) == Some(wanted))
        };
        let time = text("time").and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok());
        equal("client_id", &self.client)
            && equal("decision", &self.decision)
            && equal("action", &self.action)
            && equal("bucket", &self.bucket)
            && self
                .object_prefix
                .as_deref()
                .is_none_or(|prefix| text("object").is_some_and(|o| o.starts_with(prefix)))
            && self
                .since
                .is_none_or(|since| time.is_some_and(|t| t >= since))
            && self
                .until
                .is_none_or(|until| time.is_some_and(|t| t < until))
    }

    /// The SQL condition and its parameters (`$1`... in order) for the database.
    pub fn sql(&self) -> (String, Vec<String>) {
        let mut conditions = vec!["kind = 'record'".to_owned()];
        let mut params = Vec::new();
        let mut add = |condition: &str, value: String| {
            params.push(value);
            conditions.push(condition.replace('?', &format!("${}", params.len())));
        };
        for (column, value) in [
            ("client_id", &self.client),
            ("decision", &self.decision),
            ("action", &self.action),
            ("bucket", &self.bucket),
        ] {
            if let Some(value) = value {
                add(&format!("{column} = ?"), value.clone());
            }
        }
        if let Some(prefix) = &self.object_prefix {
            add("object LIKE ? ESCAPE '\\'", like_prefix(prefix));
        }
        if let Some(since) = self.since {
            add(
                "time >= ?::timestamptz",
                since.format(&Rfc3339).unwrap_or_default(),
            );
        }
        if let Some(until) = self.until {
            add(
                "time < ?::timestamptz",
                until.format(&Rfc3339).unwrap_or_default(),
            );
        }
        (conditions.join(" AND "), params)
    }
}

/// A `LIKE` pattern for "starts with `prefix`".
fn like_prefix(prefix: &str) -> String {
    let mut pattern = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// `2026-11-01` (midnight UTC) or an RFC 3339 time.
pub fn parse_time(value: &str) -> Result<OffsetDateTime, String> {
    if let Ok(at) = OffsetDateTime::parse(value, &Rfc3339) {
        return Ok(at);
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(value, format)
        .map(|date| date.with_time(Time::MIDNIGHT).assume_utc())
        .map_err(|_| format!("{value:?} is not a date (2026-11-01) or an RFC 3339 time"))
}

/// A readable table of records, for a terminal.
pub fn table(records: &[Map<String, Value>]) -> String {
    let header = [
        "time",
        "decision",
        "client",
        "action",
        "object",
        "request_id",
    ];
    let rows: Vec<[String; 6]> = records
        .iter()
        .map(|r| {
            let text = |name: &str| {
                r.get(name)
                    .and_then(Value::as_str)
                    .unwrap_or("-")
                    .to_owned()
            };
            let object = match (
                r.get("bucket").and_then(Value::as_str),
                r.get("object").and_then(Value::as_str),
            ) {
                (Some(bucket), Some(object)) => format!("/{bucket}/{object}"),
                _ => "-".to_owned(),
            };
            [
                text("time"),
                text("decision"),
                text("client_id"),
                text("action"),
                object,
                text("request_id"),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[&str]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:width$}"))
            .collect();
        out.push_str(padded.join("  ").trim_end());
        out.push('\n');
    };
    line(&header);
    for row in &rows {
        line(&row.each_ref().map(String::as_str));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(json: &str) -> Map<String, Value> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn a_path_filter_matches_objects_under_the_prefix_only() {
        let filter = Filter::default()
            .with_path("/patients-bucket/records/42/**")
            .unwrap();
        let inside = record(
            r#"{"bucket":"patients-bucket","object":"records/42/scan.pdf","time":"2026-11-03T10:00:00Z"}"#,
        );
        let beside = record(
            r#"{"bucket":"patients-bucket","object":"records/420/scan.pdf","time":"2026-11-03T10:00:00Z"}"#,
        );
        assert!(filter.matches(&inside));
        assert!(!filter.matches(&beside));
    }

    #[test]
    fn the_time_range_is_half_open() {
        let filter = Filter {
            since: Some(parse_time("2026-11-01").unwrap()),
            until: Some(parse_time("2026-12-01").unwrap()),
            ..Filter::default()
        };
        assert!(filter.matches(&record(r#"{"time":"2026-11-01T00:00:00.000000Z"}"#)));
        assert!(filter.matches(&record(r#"{"time":"2026-11-30T23:59:59.999999Z"}"#)));
        assert!(!filter.matches(&record(r#"{"time":"2026-12-01T00:00:00.000000Z"}"#)));
        assert!(!filter.matches(&record(r#"{"time":"2026-10-31T23:59:59Z"}"#)));
    }

    #[test]
    fn like_wildcards_in_a_prefix_are_literal() {
        assert_eq!(like_prefix("a_b%c\\"), "a\\_b\\%c\\\\%");
        let (sql, params) = Filter {
            client: Some("frontend".into()),
            object_prefix: Some("x_".into()),
            ..Filter::default()
        }
        .sql();
        assert_eq!(
            sql,
            "kind = 'record' AND client_id = $1 AND object LIKE $2 ESCAPE '\\'"
        );
        assert_eq!(params, ["frontend", "x\\_%"]);
    }
}
