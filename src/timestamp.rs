//! Timestamps as the API shows them: ISO 8601 in UTC (`2026-11-28T10:00:00Z`).
//!
//! Written by hand rather than with `time`'s format descriptions, which cost several times
//! more on a path that formats three timestamps per request.

use time::{OffsetDateTime, UtcOffset};

/// Drops the fraction of a second, so `inserted_at + ttl` is exactly the URL's `Expires`.
pub fn whole_seconds(at: OffsetDateTime) -> OffsetDateTime {
    at.replace_nanosecond(0).unwrap_or(at)
}

/// PROTOTYPE `time-by-hand`: `YYYY-MM-DDTHH:MM:SS` and then `fraction` digits of the
/// microseconds (0 or 6), and `Z`, digit by digit.
fn by_hand(at: OffsetDateTime, fraction: bool) -> String {
    fn push(out: &mut Vec<u8>, value: u32, digits: u32) {
        for i in (0..digits).rev() {
            // A digit: always in 0..=9.
            out.push(b'0' + u8::try_from(value / 10u32.pow(i) % 10).unwrap_or(0));
        }
    }
    let mut out = Vec::with_capacity(27);
    push(&mut out, u32::try_from(at.year()).unwrap_or(0), 4);
    out.push(b'-');
    push(&mut out, u32::from(u8::from(at.month())), 2);
    out.push(b'-');
    push(&mut out, u32::from(at.day()), 2);
    out.push(b'T');
    push(&mut out, u32::from(at.hour()), 2);
    out.push(b':');
    push(&mut out, u32::from(at.minute()), 2);
    out.push(b':');
    push(&mut out, u32::from(at.second()), 2);
    if fraction {
        out.push(b'.');
        push(&mut out, at.microsecond(), 6);
    }
    out.push(b'Z');
    String::from_utf8(out).unwrap_or_default()
}

/// `2026-11-28T10:00:00Z`: whole seconds.
pub fn iso8601(at: OffsetDateTime) -> String {
    let at = at.to_offset(UtcOffset::UTC);
    if crate::proto::on().time_by_hand && at.year() >= 0 {
        return by_hand(at, false);
    }
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
    if crate::proto::on().time_by_hand && at.year() >= 0 {
        return by_hand(at, true);
    }
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
    fn the_by_hand_prototype_formats_as_format_does() {
        for at in [
            datetime!(2026-11-28 10:02:23.370825999 UTC),
            datetime!(0999-01-02 03:04:05 UTC),
            datetime!(2026-12-31 23:59:59.000001 UTC),
        ] {
            assert_eq!(by_hand(at, false), iso8601(at));
            assert_eq!(by_hand(at, true), iso8601_micros(at));
        }
    }

    #[test]
    fn audit_times_keep_microseconds() {
        let at = datetime!(2026-11-28 10:02:23.370825999 UTC);
        assert_eq!(iso8601_micros(at), "2026-11-28T10:02:23.370825Z");
    }
}
