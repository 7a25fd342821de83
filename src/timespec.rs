//! Points in time as users write them on the command line: `now`, `now-2h`, `-30m`,
//! RFC 3339 (`2026-11-20T14:00:00Z`, `2026-11-20T17:00:00+03:00`) or Unix seconds.

use chrono::{DateTime, TimeZone, Utc};

use crate::duration::Duration;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid time {input:?}: expected RFC 3339 (2026-11-20T14:00:00Z), Unix seconds, `now` or `now-2h`"
)]
pub struct ParseTimeError {
    input: String,
}

/// Parses a time relative to `now`.
pub fn parse_time(input: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, ParseTimeError> {
    let err = || ParseTimeError {
        input: input.to_string(),
    };
    let s = input.trim();
    if s == "now" {
        return Ok(now);
    }
    let relative = s.strip_prefix("now").unwrap_or(s);
    if let Some(rest) = relative.strip_prefix('-') {
        let d: Duration = rest.parse().map_err(|_| err())?;
        return Ok(now - d.to_chrono());
    }
    if let Some(rest) = relative.strip_prefix('+') {
        let d: Duration = rest.parse().map_err(|_| err())?;
        return Ok(now + d.to_chrono());
    }
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        let secs: f64 = s.parse().map_err(|_| err())?;
        let millis = (secs * 1000.0).round() as i64;
        return Utc.timestamp_millis_opt(millis).single().ok_or_else(err);
    }
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| err())
}

/// Formats a time the way every output of vitals shows it: RFC 3339 in UTC, whole seconds
/// unless the time has a fraction.
pub fn format_time(t: DateTime<Utc>) -> String {
    if t.timestamp_subsec_millis() == 0 {
        t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    } else {
        t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
    }
}

/// Seconds since the epoch as Prometheus' API takes them.
pub fn unix_seconds(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

pub fn from_unix_seconds(secs: f64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt((secs * 1000.0).round() as i64)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap()
    }

    #[test]
    fn accepts_absolute_relative_and_unix_times() {
        assert_eq!(parse_time("now", now()).unwrap(), now());
        assert_eq!(
            parse_time("now-2h", now()).unwrap(),
            Utc.with_ymd_and_hms(2026, 11, 24, 10, 0, 0).unwrap()
        );
        assert_eq!(
            parse_time("-30m", now()).unwrap(),
            Utc.with_ymd_and_hms(2026, 11, 24, 11, 30, 0).unwrap()
        );
        assert_eq!(
            parse_time("2026-11-20T17:00:00+03:00", now()).unwrap(),
            Utc.with_ymd_and_hms(2026, 11, 20, 14, 0, 0).unwrap()
        );
        assert_eq!(
            parse_time("1763647200", now()).unwrap(),
            Utc.with_ymd_and_hms(2025, 11, 20, 14, 0, 0).unwrap()
        );
    }

    #[test]
    fn rejects_times_without_a_zone_or_garbage() {
        for bad in [
            "",
            "yesterday",
            "2026-11-20 14:00",
            "2026-11-20T14:00:00",
            "now-5",
        ] {
            assert!(parse_time(bad, now()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn formats_in_utc_rfc3339() {
        assert_eq!(format_time(now()), "2026-11-24T12:00:00Z");
    }
}
