//! Event-time helpers: floor modulo, RFC 3339 formatting, and human names for durations.

use chrono::{DateTime, SecondsFormat, Utc};

/// Earliest accepted event time: 0001-01-01T00:00:00Z (seconds since the epoch).
pub const MIN_TIMESTAMP: i64 = -62_135_596_800;
/// Latest accepted event time: 9999-12-31T23:59:59Z (seconds since the epoch).
pub const MAX_TIMESTAMP: i64 = 253_402_300_799;

/// The wall clock, in milliseconds since the Unix epoch.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Mathematical modulo: the result has the sign of `divisor` (so it works for negative times).
pub fn floor_mod(value: i64, divisor: i64) -> i64 {
    value.rem_euclid(divisor)
}

/// Largest multiple of `step` that is `<= value`.
pub fn align_down(value: i64, step: i64) -> i64 {
    value - floor_mod(value, step)
}

/// Formats epoch seconds as RFC 3339 UTC with a `Z` suffix, e.g. `2025-10-29T19:00:00Z`.
/// Values outside chrono's range (never produced for validated input) print as the raw number.
pub fn rfc3339_seconds(epoch_seconds: i64) -> String {
    match DateTime::<Utc>::from_timestamp(epoch_seconds, 0) {
        Some(t) => t.to_rfc3339_opts(SecondsFormat::Secs, true),
        None => epoch_seconds.to_string(),
    }
}

/// Formats epoch milliseconds as RFC 3339 UTC with millisecond precision.
pub fn rfc3339_millis(epoch_millis: i64) -> String {
    match DateTime::<Utc>::from_timestamp_millis(epoch_millis) {
        Some(t) => t.to_rfc3339_opts(SecondsFormat::Millis, true),
        None => epoch_millis.to_string(),
    }
}

/// Epoch seconds of an RFC 3339 time (any offset, fractions dropped); `None` when it is not one.
pub fn parse_rfc3339_seconds(text: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp())
}

/// Short name of a duration in seconds as used in window type names: `1min`, `5min`, `2h`, `90s`.
pub fn duration_name(seconds: i64) -> String {
    if seconds % 3600 == 0 {
        format!("{}h", seconds / 3600)
    } else if seconds % 60 == 0 {
        format!("{}min", seconds / 60)
    } else {
        format!("{seconds}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_times_read_back() {
        assert_eq!(
            parse_rfc3339_seconds(&rfc3339_seconds(1_761_764_400)),
            Some(1_761_764_400)
        );
        assert_eq!(
            parse_rfc3339_seconds("2025-10-29T20:00:00.5+01:00"),
            Some(1_761_764_400)
        );
        assert_eq!(parse_rfc3339_seconds("yesterday"), None);
    }

    #[test]
    fn floor_mod_is_non_negative_for_negative_values() {
        assert_eq!(floor_mod(-1, 60), 59);
        assert_eq!(floor_mod(-60, 60), 0);
        assert_eq!(floor_mod(61, 60), 1);
        assert_eq!(align_down(-1, 60), -60);
        assert_eq!(align_down(119, 60), 60);
    }

    #[test]
    fn formats_rfc3339_utc_with_z() {
        assert_eq!(rfc3339_seconds(1_761_764_400), "2025-10-29T19:00:00Z");
        assert_eq!(rfc3339_seconds(-60), "1969-12-31T23:59:00Z");
        assert_eq!(rfc3339_seconds(MIN_TIMESTAMP), "0001-01-01T00:00:00Z");
        assert_eq!(rfc3339_seconds(MAX_TIMESTAMP), "9999-12-31T23:59:59Z");
        assert_eq!(
            rfc3339_millis(1_761_764_400_123),
            "2025-10-29T19:00:00.123Z"
        );
    }

    #[test]
    fn names_durations() {
        assert_eq!(duration_name(60), "1min");
        assert_eq!(duration_name(300), "5min");
        assert_eq!(duration_name(7200), "2h");
        assert_eq!(duration_name(90), "90s");
    }
}
