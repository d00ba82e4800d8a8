//! Timestamps as the API shows them: ISO 8601 in UTC (`2026-11-28T10:00:00Z`).
//!
//! Written by hand rather than with `time`'s format descriptions, which cost several times
//! more on a path that formats three timestamps per request.

use time::{OffsetDateTime, UtcOffset};

/// Drops the fraction of a second, so `inserted_at + ttl` is exactly the URL's `Expires`.
pub fn whole_seconds(at: OffsetDateTime) -> OffsetDateTime {
    at.replace_nanosecond(0).unwrap_or(at)
}

/// `2026-11-28T10:00:00Z`: whole seconds.
pub fn iso8601(at: OffsetDateTime) -> String {
    let at = at.to_offset(UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// `2026-11-28T10:00:00.123456Z`: with microseconds, for audit records.
pub fn iso8601_micros(at: OffsetDateTime) -> String {
    let at = at.to_offset(UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.microsecond()
    )
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn formats_utc_with_z_and_no_fraction() {
        let at = datetime!(2026-11-28 12:00:00.75 +02:00);
        assert_eq!(iso8601(whole_seconds(at)), "2026-11-28T10:00:00Z");
        assert_eq!(
            iso8601(datetime!(0999-01-02 03:04:05 UTC)),
            "0999-01-02T03:04:05Z"
        );
    }

    #[test]
    fn audit_times_keep_microseconds() {
        let at = datetime!(2026-11-28 10:02:23.370825999 UTC);
        assert_eq!(iso8601_micros(at), "2026-11-28T10:02:23.370825Z");
    }
}
