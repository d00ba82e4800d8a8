//! Timestamps as the API shows them: ISO 8601 in UTC, whole seconds (`2026-11-28T10:00:00Z`).

use time::OffsetDateTime;
use time::macros::format_description;

/// Drops the fraction of a second, so `inserted_at + ttl` is exactly the URL's `Expires`.
pub fn whole_seconds(at: OffsetDateTime) -> OffsetDateTime {
    at.replace_nanosecond(0).unwrap_or(at)
}

pub fn iso8601(at: OffsetDateTime) -> String {
    let format = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    at.to_offset(time::UtcOffset::UTC)
        .format(format)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn formats_utc_with_z_and_no_fraction() {
        let at = datetime!(2026-11-28 12:00:00.75 +02:00);
        assert_eq!(iso8601(whole_seconds(at)), "2026-11-28T10:00:00Z");
    }
}
