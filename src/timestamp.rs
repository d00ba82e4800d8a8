//! Timestamps as the API shows them: ISO 8601 in UTC (`2026-11-28T10:00:00Z`).
//!
//! Written digit by digit rather than with `format!` or `time`'s format descriptions: a
//! request formats three or four timestamps, and `format!` cost about 10,000 instructions of
//! a V2 URL's 178,000 (callgrind, docs/benchmarks.md).

use std::fmt::Write as _;

use time::{OffsetDateTime, UtcOffset};

/// Drops the fraction of a second, so `inserted_at + ttl` is exactly the URL's `Expires`.
pub fn whole_seconds(at: OffsetDateTime) -> OffsetDateTime {
    at.replace_nanosecond(0).unwrap_or(at)
}

/// `2026-11-28T10:00:00Z`: whole seconds.
pub fn iso8601(at: OffsetDateTime) -> String {
    write(at, Style::Extended, false)
}

/// `2026-11-28T10:00:00.123456Z`: with microseconds, for audit records.
pub fn iso8601_micros(at: OffsetDateTime) -> String {
    write(at, Style::Extended, true)
}

/// `20261128T100000Z`: ISO 8601's basic format, SigV4's `X-Goog-Date` and `X-Amz-Date`.
pub fn iso8601_basic(at: OffsetDateTime) -> String {
    write(at, Style::Basic, false)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Style {
    /// With `-` between the date's fields and `:` between the time's.
    Extended,
    /// Digits only, apart from `T` and `Z`.
    Basic,
}

fn write(at: OffsetDateTime, style: Style, micros: bool) -> String {
    let at = at.to_offset(UtcOffset::UTC);
    let (date_separator, time_separator) = match style {
        Style::Extended => (Some('-'), Some(':')),
        Style::Basic => (None, None),
    };
    let mut out = String::with_capacity(27);
    match u32::try_from(at.year()) {
        Ok(year) if year <= 9999 => push_digits(&mut out, year, 4),
        // No URL or record of ours is that far from now, but a time parsed from a flag could be.
        _ => {
            let _ = write!(out, "{:04}", at.year());
        }
    }
    for value in [u8::from(at.month()), at.day()] {
        out.extend(date_separator);
        push_digits(&mut out, value.into(), 2);
    }
    out.push('T');
    push_digits(&mut out, at.hour().into(), 2);
    for value in [at.minute(), at.second()] {
        out.extend(time_separator);
        push_digits(&mut out, value.into(), 2);
    }
    if micros {
        out.push('.');
        push_digits(&mut out, at.microsecond(), 6);
    }
    out.push('Z');
    out
}

/// The last `width` decimal digits of `value`, with leading zeros.
fn push_digits(out: &mut String, value: u32, width: u32) {
    for place in (0..width).rev() {
        let digit = value / 10u32.pow(place) % 10;
        out.push(char::from_digit(digit, 10).unwrap_or('0'));
    }
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
    fn the_basic_format_has_digits_only() {
        let at = datetime!(2019-02-01 10:00:00 +01:00);
        assert_eq!(iso8601_basic(at), "20190201T090000Z");
    }

    /// `time`'s own formatter is the reference, on any instant of years 0 to 9999.
    #[test]
    fn formats_as_the_time_crate_does() {
        use proptest::prelude::*;
        use time::macros::format_description;

        let extended = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
        let micros = format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
        );
        let basic = format_description!("[year][month][day]T[hour][minute][second]Z");
        let first = datetime!(0000-01-01 00:00 UTC).unix_timestamp_nanos();
        let last = datetime!(9999-12-31 23:59:59.999999999 UTC).unix_timestamp_nanos();
        proptest!(ProptestConfig::with_cases(2000), |(nanos in first..=last)| {
            let at = OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap();
            prop_assert_eq!(iso8601(at), at.format(&extended).unwrap());
            prop_assert_eq!(iso8601_micros(at), at.format(&micros).unwrap());
            prop_assert_eq!(iso8601_basic(at), at.format(&basic).unwrap());
        });
    }

    #[test]
    fn audit_times_keep_microseconds() {
        let at = datetime!(2026-11-28 10:02:23.370825999 UTC);
        assert_eq!(iso8601_micros(at), "2026-11-28T10:02:23.370825Z");
    }
}
