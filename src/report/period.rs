//! Report periods: an ISO week or a calendar month in a time zone, or any range; and the
//! period before it, which every number is compared with.

use chrono::{DateTime, Datelike, NaiveDate, Utc, Weekday};
use chrono_tz::Tz;
use serde::Serialize;

use crate::duration::Duration;
use crate::slo::window::local_midnight;
use crate::timespec::{format_time, parse_time_in};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Week,
    Month,
    Range,
}

/// A resolved period: `[start, end)` in UTC.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Period {
    pub kind: Kind,
    /// `2026-W47`, `2026-11`, or `2026-11-16T00:00:00Z..2026-11-23T00:00:00Z`.
    pub label: String,
    #[serde(serialize_with = "ser_time")]
    pub start: DateTime<Utc>,
    #[serde(serialize_with = "ser_time")]
    pub end: DateTime<Utc>,
    /// The time zone its calendar is read in.
    pub time_zone: String,
    /// The period had not ended when the report was made: `end` is that moment.
    pub in_progress: bool,
}

fn ser_time<S: serde::Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_time(*t))
}

impl Period {
    /// Its length, as PromQL writes a window (`7d`, `30d`, `6d23h` across a DST change).
    pub(crate) fn length(&self) -> Duration {
        Duration::from_secs((self.end - self.start).num_seconds().max(0) as u64)
    }

    /// A name usable in file names.
    pub(crate) fn slug(&self) -> String {
        self.label
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    }

    /// The period before this one: the previous ISO week, the previous calendar month, or the
    /// range of the same length just before.
    pub(crate) fn previous(&self, tz: Tz) -> Period {
        match self.kind {
            Kind::Week => {
                let local = self.start.with_timezone(&tz).date_naive();
                week(tz, local - chrono::Duration::days(7))
            }
            Kind::Month => {
                let local = self.start.with_timezone(&tz).date_naive();
                let prev = if local.month() == 1 {
                    NaiveDate::from_ymd_opt(local.year() - 1, 12, 1)
                } else {
                    NaiveDate::from_ymd_opt(local.year(), local.month() - 1, 1)
                }
                .expect("first of a month");
                month(tz, prev)
            }
            Kind::Range => {
                let len = self.end - self.start;
                range(self.start - len, self.start, tz)
            }
        }
    }
}

fn week(tz: Tz, any_day: NaiveDate) -> Period {
    let monday = any_day - chrono::Duration::days(any_day.weekday().num_days_from_monday() as i64);
    let iso = monday.iso_week();
    Period {
        kind: Kind::Week,
        label: format!("{}-W{:02}", iso.year(), iso.week()),
        start: local_midnight(tz, monday),
        end: local_midnight(tz, monday + chrono::Duration::days(7)),
        time_zone: tz.to_string(),
        in_progress: false,
    }
}

fn month(tz: Tz, first: NaiveDate) -> Period {
    let next = if first.month() == 12 {
        NaiveDate::from_ymd_opt(first.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(first.year(), first.month() + 1, 1)
    }
    .expect("first of a month");
    Period {
        kind: Kind::Month,
        label: format!("{}-{:02}", first.year(), first.month()),
        start: local_midnight(tz, first),
        end: local_midnight(tz, next),
        time_zone: tz.to_string(),
        in_progress: false,
    }
}

fn range(start: DateTime<Utc>, end: DateTime<Utc>, tz: Tz) -> Period {
    Period {
        kind: Kind::Range,
        label: format!("{}..{}", format_time(start), format_time(end)),
        start,
        end,
        time_zone: tz.to_string(),
        in_progress: false,
    }
}

/// Reads `--week`, `--month` or `--from/--to` (at most one kind). Without any, the last
/// complete ISO week before `now`.
pub(crate) fn resolve(
    week_arg: Option<&str>,
    month_arg: Option<&str>,
    from: Option<&str>,
    to: Option<&str>,
    tz: Tz,
    now: DateTime<Utc>,
) -> Result<Period, String> {
    let p = match (week_arg, month_arg, from) {
        (Some(w), None, None) => {
            let (y, n) = w
                .split_once("-W")
                .and_then(|(y, n)| Some((y.parse::<i32>().ok()?, n.parse::<u32>().ok()?)))
                .ok_or_else(|| format!("--week {w:?}: expected an ISO week such as 2026-W47"))?;
            let monday = NaiveDate::from_isoywd_opt(y, n, Weekday::Mon)
                .ok_or_else(|| format!("--week {w:?}: {y} has no ISO week {n}"))?;
            week(tz, monday)
        }
        (None, Some(m), None) => {
            let first = m
                .split_once('-')
                .and_then(|(y, mo)| {
                    NaiveDate::from_ymd_opt(y.parse().ok()?, mo.parse().ok()?, 1)
                        .filter(|_| mo.len() == 2)
                })
                .ok_or_else(|| format!("--month {m:?}: expected a month such as 2026-11"))?;
            month(tz, first)
        }
        (None, None, Some(f)) => {
            let start = parse_time_in(f, now, &tz).map_err(|e| format!("--from: {e}"))?;
            let end = match to {
                Some(t) => parse_time_in(t, now, &tz).map_err(|e| format!("--to: {e}"))?,
                None => now,
            };
            if end <= start {
                return Err(format!(
                    "the period is empty: --from {} is not before --to {}",
                    format_time(start),
                    format_time(end)
                ));
            }
            range(start, end, tz)
        }
        (None, None, None) => {
            let today = now.with_timezone(&tz).date_naive();
            week(tz, today - chrono::Duration::days(7))
        }
        _ => return Err("give one of --week, --month or --from/--to".into()),
    };
    if p.start >= now {
        return Err(format!(
            "{} has not started yet (it starts {})",
            p.label,
            format_time(p.start)
        ));
    }
    let mut p = p;
    if p.end > now {
        p.end = now;
        p.in_progress = true;
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, 9, 0, 0).unwrap()
    }

    #[test]
    fn an_iso_week_starts_on_monday_midnight_in_its_time_zone() {
        let p = resolve(
            Some("2026-W47"),
            None,
            None,
            None,
            chrono_tz::Europe::Moscow,
            now(),
        )
        .unwrap();
        assert_eq!(format_time(p.start), "2026-11-15T21:00:00Z");
        assert_eq!(format_time(p.end), "2026-11-22T21:00:00Z");
        assert_eq!(p.length().to_string(), "7d");
        let prev = p.previous(chrono_tz::Europe::Moscow);
        assert_eq!(prev.label, "2026-W46");
        assert_eq!(prev.end, p.start);
        // ISO week 1 of 2026 starts in 2025, and its label stays 2026-W01.
        let w1 = resolve(Some("2026-W01"), None, None, None, Tz::UTC, now()).unwrap();
        assert_eq!(format_time(w1.start), "2025-12-29T00:00:00Z");
        assert_eq!(w1.label, "2026-W01");
        assert_eq!(w1.previous(Tz::UTC).label, "2025-W52");
        assert!(resolve(Some("2026-W54"), None, None, None, Tz::UTC, now()).is_err());
    }

    #[test]
    fn a_month_is_a_calendar_month_and_its_predecessor_may_be_shorter() {
        let p = resolve(None, Some("2026-03"), None, None, Tz::UTC, now()).unwrap();
        assert_eq!(p.length().to_string(), "31d");
        let feb = p.previous(Tz::UTC);
        assert_eq!(feb.label, "2026-02");
        assert_eq!(feb.length().to_string(), "28d");
        // Across a DST change in Berlin, March has an hour less.
        let berlin = resolve(
            None,
            Some("2026-03"),
            None,
            None,
            chrono_tz::Europe::Berlin,
            now(),
        )
        .unwrap();
        assert_eq!(berlin.length().to_string(), "30d23h");
        let jan = resolve(None, Some("2026-01"), None, None, Tz::UTC, now()).unwrap();
        assert_eq!(jan.previous(Tz::UTC).label, "2025-12");
        assert!(resolve(None, Some("2026-13"), None, None, Tz::UTC, now()).is_err());
        assert!(resolve(None, Some("2026-1"), None, None, Tz::UTC, now()).is_err());
    }

    #[test]
    fn ranges_compare_with_the_same_length_before_and_the_default_is_last_week() {
        let p = resolve(
            None,
            None,
            Some("2026-11-20T00:00:00Z"),
            Some("2026-11-21T12:00:00Z"),
            Tz::UTC,
            now(),
        )
        .unwrap();
        let prev = p.previous(Tz::UTC);
        assert_eq!(format_time(prev.start), "2026-11-18T12:00:00Z");
        assert_eq!(prev.end, p.start);
        let d = resolve(None, None, None, None, Tz::UTC, now()).unwrap();
        assert_eq!(d.label, "2026-W47");
        assert!(
            resolve(
                Some("2026-W47"),
                Some("2026-11"),
                None,
                None,
                Tz::UTC,
                now()
            )
            .is_err()
        );
        assert!(resolve(Some("2026-W50"), None, None, None, Tz::UTC, now()).is_err());
    }
}
