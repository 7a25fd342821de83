//! Points in time as users write them on the command line: `now`, `now-2h`, `-30m`,
//! RFC 3339 (`2026-11-20T14:00:00Z`, `2026-11-20T17:00:00+03:00`), a plain date
//! (`2026-11-18`: midnight in the command's time zone, UTC unless it has `--time-zone`) or Unix
//! seconds.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};

use crate::duration::Duration;

/// Why a time was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseTimeError {
    #[error(
        "invalid time {input:?}: expected RFC 3339 (2026-11-20T14:00:00Z), a date (2026-11-20), Unix seconds, `now` or `now-2h`"
    )]
    Invalid { input: String },
    #[error("invalid time {input:?}: {source}")]
    Duration {
        input: String,
        source: crate::duration::ParseDurationError,
    },
    #[error("time {input:?} is out of range (years 0 to 9999)")]
    OutOfRange { input: String },
    #[error("{input:?} ({at}) is in the future: the current time is {now}")]
    Future {
        input: String,
        at: String,
        now: String,
    },
}

/// The latest time accepted anywhere (RFC 3339 has four-digit years).
fn latest() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59)
        .single()
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// The earliest time accepted anywhere.
fn earliest() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(0, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Parses a time relative to `now`; a plain date is midnight UTC.
pub fn parse_time(input: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, ParseTimeError> {
    parse_time_in(input, now, &Utc)
}

/// Parses a time relative to `now`; a plain date is its first instant in `zone` (midnight,
/// or the end of a DST gap at midnight).
pub fn parse_time_in<Z: TimeZone>(
    input: &str,
    now: DateTime<Utc>,
    zone: &Z,
) -> Result<DateTime<Utc>, ParseTimeError> {
    let err = || ParseTimeError::Invalid {
        input: input.to_string(),
    };
    let out_of_range = || ParseTimeError::OutOfRange {
        input: input.to_string(),
    };
    let s = input.trim();
    let t = if s == "now" {
        now
    } else if let Some(rest) = s.strip_prefix("now").unwrap_or(s).strip_prefix('-') {
        let d: Duration = rest.parse().map_err(|source| ParseTimeError::Duration {
            input: input.to_string(),
            source,
        })?;
        now.checked_sub_signed(d.to_chrono())
            .ok_or_else(out_of_range)?
    } else if let Some(rest) = s.strip_prefix("now").unwrap_or(s).strip_prefix('+') {
        let d: Duration = rest.parse().map_err(|source| ParseTimeError::Duration {
            input: input.to_string(),
            source,
        })?;
        now.checked_add_signed(d.to_chrono())
            .ok_or_else(out_of_range)?
    } else if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        let secs: f64 = s.parse().map_err(|_| err())?;
        let millis = (secs * 1000.0).round();
        if !(0.0..=latest().timestamp_millis() as f64).contains(&millis) {
            return Err(out_of_range());
        }
        Utc.timestamp_millis_opt(millis as i64)
            .single()
            .ok_or_else(out_of_range)?
    } else if let Ok(date) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        // Only the plain form (`2026-11-18`), not `+002026-11-18` or `2026-1-8`.
        if s.len() != 10 {
            return Err(err());
        }
        first_instant(zone, date).ok_or_else(out_of_range)?
    } else {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| err())?
    };
    if t < earliest() || t > latest() {
        return Err(out_of_range());
    }
    Ok(t)
}

/// An instant to look at (`--at`): a time that is not after `now`.
pub fn parse_instant_in<Z: TimeZone>(
    input: &str,
    now: DateTime<Utc>,
    zone: &Z,
) -> Result<DateTime<Utc>, ParseTimeError> {
    let t = parse_time_in(input, now, zone)?;
    if t > now {
        return Err(ParseTimeError::Future {
            input: input.to_string(),
            at: format_time(t),
            now: format_time(now),
        });
    }
    Ok(t)
}

/// [`parse_instant_in`] with plain dates in UTC.
pub fn parse_instant(input: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, ParseTimeError> {
    parse_instant_in(input, now, &Utc)
}

/// The first instant of a day in `zone`: local midnight, the earlier of two when a DST change
/// repeats it, the end of the gap when a DST change skips it.
fn first_instant<Z: TimeZone>(zone: &Z, date: NaiveDate) -> Option<DateTime<Utc>> {
    let midnight = date.and_hms_opt(0, 0, 0)?;
    if let Some(t) = zone.from_local_datetime(&midnight).earliest() {
        return Some(t.with_timezone(&Utc));
    }
    // Skipped midnight: the first local minute of the day that exists (gaps are at most a
    // few hours; time zones move on whole minutes).
    (1..=24 * 60).find_map(|m| {
        let local = midnight.checked_add_signed(chrono::Duration::minutes(m))?;
        zone.from_local_datetime(&local)
            .earliest()
            .map(|t| t.with_timezone(&Utc))
    })
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

    #[test]
    fn a_plain_date_is_midnight_in_the_zone_given_else_utc() {
        assert_eq!(
            parse_time("2026-11-18", now()).unwrap(),
            Utc.with_ymd_and_hms(2026, 11, 18, 0, 0, 0).unwrap()
        );
        assert_eq!(
            format_time(parse_time_in("2026-11-18", now(), &chrono_tz::Europe::Moscow).unwrap()),
            "2026-11-17T21:00:00Z"
        );
        // Santiago skipped from 24:00 to 01:00 on 2022-09-11: the day starts at 01:00 -03.
        assert_eq!(
            format_time(parse_time_in("2022-09-11", now(), &chrono_tz::America::Santiago).unwrap()),
            "2022-09-11T04:00:00Z"
        );
        // Havana repeats midnight-to-1am on 2026-11-01: the first midnight, still -04.
        assert_eq!(
            format_time(parse_time_in("2026-11-01", now(), &chrono_tz::America::Havana).unwrap()),
            "2026-11-01T04:00:00Z"
        );
        // Samoa skipped 2011-12-30 altogether: the first instant after its midnight.
        assert_eq!(
            format_time(parse_time_in("2011-12-30", now(), &chrono_tz::Pacific::Apia).unwrap()),
            "2011-12-30T10:00:00Z"
        );
        for bad in ["2026-11-31", "2026-1-18", "+2026-11-18", "2026-11-18x"] {
            assert!(parse_time(bad, now()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn an_instant_in_the_future_is_refused_and_says_so() {
        let e = parse_instant("2026-11-25", now()).unwrap_err().to_string();
        assert!(e.contains("is in the future"), "{e}");
        assert!(e.contains("2026-11-24T12:00:00Z"), "{e}");
        assert!(parse_instant("now+1s", now()).is_err());
        assert_eq!(parse_instant("now", now()).unwrap(), now());
        assert_eq!(
            parse_instant("2026-11-24", now()).unwrap(),
            Utc.with_ymd_and_hms(2026, 11, 24, 0, 0, 0).unwrap()
        );
    }

    #[test]
    fn times_far_out_are_refused_not_overflowed() {
        for far in [
            "now-292y",
            "-292y",
            "99999999999999",
            "1e400",
            "0000-01-01T00:00:00+01:00",
        ] {
            match parse_time(far, now()) {
                Ok(t) => assert!(t >= earliest() && t <= latest(), "{far}"),
                Err(e) => assert!(e.to_string().contains(far), "{far}: {e}"),
            }
        }
        let last = latest();
        assert!(parse_time("now+1s", last).is_err());
        assert!(parse_time("now-292y", earliest()).is_err());
        assert_eq!(from_unix_seconds(f64::MAX), DateTime::<Utc>::MIN_UTC);
    }

    mod props {
        use super::*;
        use chrono::{Datelike, Duration as Delta};
        use proptest::prelude::*;

        const ZONES: [chrono_tz::Tz; 10] = [
            chrono_tz::UTC,
            chrono_tz::Europe::Berlin,
            chrono_tz::Europe::Moscow,
            chrono_tz::America::Santiago,
            chrono_tz::America::Havana,
            chrono_tz::America::St_Johns,
            chrono_tz::Asia::Beirut,
            chrono_tz::Asia::Kathmandu,
            chrono_tz::Australia::Lord_Howe,
            chrono_tz::Pacific::Apia,
        ];

        fn instant() -> impl Strategy<Value = DateTime<Utc>> {
            (earliest().timestamp()..=latest().timestamp())
                .prop_map(|s| Utc.timestamp_opt(s, 0).unwrap())
        }

        fn time_text() -> impl Strategy<Value = String> {
            prop_oneof![
                "(now)?[-+][0-9]{1,20}(ms|s|m|h|d|w|y)",
                "[0-9]{1,5}-[0-9]{1,2}-[0-9]{1,2}",
                "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,9})?(Z|[-+][0-9]{2}:[0-9]{2})",
                "[0-9.]{1,25}",
                "\\PC{0,30}",
            ]
        }

        proptest! {
            #[test]
            fn any_text_in_any_zone_gives_a_time_in_range_or_an_error(
                s in time_text(), now in instant(), z in 0..ZONES.len()
            ) {
                match parse_time_in(&s, now, &ZONES[z]) {
                    Ok(t) => prop_assert!(t >= earliest() && t <= latest()),
                    Err(e) => {
                        let quoted = format!("{s:?}");
                        prop_assert!(e.to_string().contains(&quoted), "{}", e);
                    }
                }
                if let Ok(t) = parse_instant_in(&s, now, &ZONES[z]) {
                    prop_assert!(t <= now);
                }
            }

            #[test]
            fn a_date_is_the_first_instant_of_that_day_in_its_zone(
                days in 0i64..3_652_058, z in 0..ZONES.len()
            ) {
                let tz = ZONES[z];
                let date = NaiveDate::from_ymd_opt(1, 1, 1).unwrap() + Delta::days(days);
                let text = date.format("%Y-%m-%d").to_string();
                let t = parse_time_in(&text, latest(), &tz).unwrap();
                let midnight = date.and_hms_opt(0, 0, 0).unwrap();
                prop_assert!(t.with_timezone(&tz).naive_local() >= midnight, "{text}");
                prop_assert!((t - Delta::seconds(1)).with_timezone(&tz).naive_local() < midnight, "{text}");
                if tz == chrono_tz::UTC {
                    prop_assert_eq!(t.date_naive().year(), date.year());
                }
            }

            #[test]
            fn what_vitals_prints_reads_back(t in instant(), ms in 0u32..1000) {
                let t = t + Delta::milliseconds(ms as i64);
                if t <= latest() {
                    prop_assert_eq!(parse_time(&format_time(t), latest()), Ok(t));
                    let back = from_unix_seconds(unix_seconds(t));
                    prop_assert_eq!(back, t);
                }
            }

            #[test]
            fn relative_times_are_now_moved_by_the_duration(now in instant(), ms in 0..=crate::duration::MAX.millis()) {
                let d = Duration::from_millis(ms);
                match parse_time(&format!("now-{d}"), now) {
                    Ok(t) => prop_assert_eq!(t, now - d.to_chrono()),
                    Err(e) => {
                        let out = matches!(e, ParseTimeError::OutOfRange { .. });
                        prop_assert!(out, "{}", e);
                    }
                }
                match parse_time(&format!("+{d}"), now) {
                    Ok(t) => prop_assert_eq!(t, now + d.to_chrono()),
                    Err(e) => {
                        let out = matches!(e, ParseTimeError::OutOfRange { .. });
                        prop_assert!(out, "{}", e);
                    }
                }
            }
        }
    }
}
