//! SLO windows resolved at an evaluation time: rolling (the last `d`) or calendar (the
//! current week or month in a time zone, so far).

use chrono::{DateTime, Datelike, Duration as ChronoDuration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use super::model::{Calendar, SloWindow};
use crate::duration::Duration;
use crate::timespec::format_time;

/// A window as evaluated.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Resolved {
    /// Start of the window (RFC 3339, UTC).
    #[serde(serialize_with = "ser_time")]
    pub start: DateTime<Utc>,
    /// The evaluation time.
    #[serde(serialize_with = "ser_time")]
    pub end: DateTime<Utc>,
    /// `end - start`: what the queries cover.
    pub elapsed: Duration,
    /// The whole window: the rolling length, or the calendar period's full length (the
    /// error budget is a share of it).
    pub length: Duration,
    /// `28d`, or `month 2026-11 (Europe/Moscow)`.
    pub label: String,
}

fn ser_time<S: serde::Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_time(*t))
}

/// Local midnight of `date` in `tz`, as UTC (the earliest instant if DST makes it ambiguous).
pub(crate) fn local_midnight(tz: Tz, date: NaiveDate) -> DateTime<Utc> {
    let naive = date.and_hms_opt(0, 0, 0).expect("midnight exists");
    match tz.from_local_datetime(&naive) {
        chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => {
            t.with_timezone(&Utc)
        }
        // A DST gap at midnight: the first instant after it.
        chrono::LocalResult::None => tz
            .from_local_datetime(&(naive + ChronoDuration::hours(1)))
            .earliest()
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|| Utc.from_utc_datetime(&naive)),
    }
}

/// The calendar period containing `at`: `[start, end)` in UTC.
pub(crate) fn calendar_period(
    period: Calendar,
    tz: Tz,
    at: DateTime<Utc>,
) -> (DateTime<Utc>, DateTime<Utc>) {
    let local = at.with_timezone(&tz).date_naive();
    match period {
        Calendar::Week => {
            let monday =
                local - ChronoDuration::days(local.weekday().num_days_from_monday() as i64);
            (
                local_midnight(tz, monday),
                local_midnight(tz, monday + ChronoDuration::days(7)),
            )
        }
        Calendar::Month => {
            let first =
                NaiveDate::from_ymd_opt(local.year(), local.month(), 1).expect("first of month");
            let next = if local.month() == 12 {
                NaiveDate::from_ymd_opt(local.year() + 1, 1, 1)
            } else {
                NaiveDate::from_ymd_opt(local.year(), local.month() + 1, 1)
            }
            .expect("first of next month");
            (local_midnight(tz, first), local_midnight(tz, next))
        }
    }
}

fn chrono_to_duration(d: ChronoDuration) -> Duration {
    Duration::from_millis(d.num_milliseconds().max(0) as u64)
}

pub(crate) fn resolve(w: &SloWindow, at: DateTime<Utc>) -> Resolved {
    match w {
        SloWindow::Rolling(d) => Resolved {
            start: at - d.to_chrono(),
            end: at,
            elapsed: *d,
            length: *d,
            label: d.to_string(),
        },
        SloWindow::Calendar { period, tz } => {
            let (start, end) = calendar_period(*period, *tz, at);
            let local_start = start.with_timezone(tz);
            let label = match period {
                Calendar::Week => format!("week {} ({tz})", local_start.format("%G-W%V")),
                Calendar::Month => format!("month {} ({tz})", local_start.format("%Y-%m")),
            };
            Resolved {
                start,
                end: at,
                // Whole seconds: the span is written into PromQL range selectors.
                elapsed: Duration::from_secs(chrono_to_duration(at - start).secs()),
                length: chrono_to_duration(end - start),
                label,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_calendar_month_is_the_month_in_its_time_zone() {
        // 2026-11-01 00:30 Moscow is still October 31st in UTC.
        let at = Utc.with_ymd_and_hms(2026, 10, 31, 21, 30, 0).unwrap();
        let r = resolve(
            &SloWindow::Calendar {
                period: Calendar::Month,
                tz: chrono_tz::Europe::Moscow,
            },
            at,
        );
        assert_eq!(
            r.start,
            Utc.with_ymd_and_hms(2026, 10, 31, 21, 0, 0).unwrap()
        );
        assert_eq!(
            r.length,
            Duration::from_secs(30 * 86_400),
            "November has 30 days"
        );
        assert_eq!(r.elapsed, Duration::from_secs(1800));
        assert_eq!(r.label, "month 2026-11 (Europe/Moscow)");
        let feb = resolve(
            &SloWindow::Calendar {
                period: Calendar::Month,
                tz: Tz::UTC,
            },
            Utc.with_ymd_and_hms(2028, 2, 10, 0, 0, 0).unwrap(),
        );
        assert_eq!(
            feb.length,
            Duration::from_secs(29 * 86_400),
            "a leap February, not 30 days"
        );
    }

    #[test]
    fn a_calendar_week_starts_on_monday() {
        // Wednesday 2026-11-18 12:00 UTC; the ISO week 47 starts Monday the 16th.
        let at = Utc.with_ymd_and_hms(2026, 11, 18, 12, 0, 0).unwrap();
        let r = resolve(
            &SloWindow::Calendar {
                period: Calendar::Week,
                tz: Tz::UTC,
            },
            at,
        );
        assert_eq!(
            r.start,
            Utc.with_ymd_and_hms(2026, 11, 16, 0, 0, 0).unwrap()
        );
        assert_eq!(r.length, Duration::from_secs(7 * 86_400));
        assert_eq!(r.label, "week 2026-W47 (UTC)");
    }

    #[test]
    fn weeks_across_a_dst_change_are_not_seven_times_24_hours() {
        // Berlin leaves summer time on Sunday 2026-10-25: that week has 169 hours.
        let at = Utc.with_ymd_and_hms(2026, 10, 22, 12, 0, 0).unwrap();
        let r = resolve(
            &SloWindow::Calendar {
                period: Calendar::Week,
                tz: chrono_tz::Europe::Berlin,
            },
            at,
        );
        assert_eq!(r.length, Duration::from_secs(169 * 3600));
    }

    #[test]
    fn a_rolling_window_ends_at_the_evaluation_time() {
        let at = Utc.with_ymd_and_hms(2026, 11, 18, 12, 0, 0).unwrap();
        let r = resolve(&SloWindow::Rolling(Duration::from_secs(28 * 86_400)), at);
        assert_eq!(r.end - r.start, ChronoDuration::days(28));
        assert_eq!(r.label, "28d");
    }
}
