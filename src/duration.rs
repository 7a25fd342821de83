//! Prometheus-style durations (`5m`, `1h30m`, `28d`): one parser and one formatter for the
//! whole crate, so a window written in `slo.toml`, on the command line and in generated rules
//! always means the same thing.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A non-negative duration with millisecond resolution, written the way PromQL writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration {
    millis: u64,
}

/// The longest duration accepted: what Prometheus itself parses (Go's `time.Duration`, int64
/// nanoseconds, about 292 years). A longer one would be refused by every query that carries
/// it, and would overflow the date arithmetic of windows and ranges.
pub const MAX: Duration = Duration {
    millis: i64::MAX as u64 / 1_000_000,
};

const UNITS: [(&str, u64); 7] = [
    ("y", 365 * 86_400_000),
    ("w", 7 * 86_400_000),
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

impl Duration {
    pub const fn from_millis(millis: u64) -> Self {
        Self { millis }
    }

    pub const fn from_secs(secs: u64) -> Self {
        Self {
            millis: secs * 1000,
        }
    }

    pub const fn millis(self) -> u64 {
        self.millis
    }

    pub fn secs_f64(self) -> f64 {
        self.millis as f64 / 1000.0
    }

    /// Whole seconds, rounded down.
    pub const fn secs(self) -> u64 {
        self.millis / 1000
    }

    pub fn to_std(self) -> std::time::Duration {
        std::time::Duration::from_millis(self.millis)
    }

    /// As a chrono duration; saturates at chrono's limit (parsed durations never reach it).
    pub fn to_chrono(self) -> chrono::Duration {
        chrono::Duration::milliseconds(i64::try_from(self.millis).unwrap_or(i64::MAX))
    }

    /// `self * num / den`, rounded to the nearest millisecond (used to scale burn-rate
    /// windows to an SLO window that is not 30 days).
    pub fn scale(self, num: u64, den: u64) -> Self {
        let m = (self.millis as u128 * num as u128 + den as u128 / 2) / (den as u128).max(1);
        Self {
            millis: u64::try_from(m).unwrap_or(u64::MAX),
        }
    }

    /// Rounds up to a multiple of `unit` (no-op for a zero unit).
    pub fn round_up_to(self, unit: Duration) -> Self {
        if unit.millis == 0 {
            return self;
        }
        let n = self.millis.div_ceil(unit.millis);
        Self {
            millis: n.saturating_mul(unit.millis),
        }
    }

    /// Rounds to the nearest multiple of `unit`, never below one unit.
    pub fn round_to(self, unit: Duration) -> Self {
        if unit.millis == 0 {
            return self;
        }
        let n = (self.millis.saturating_add(unit.millis / 2) / unit.millis).max(1);
        Self {
            millis: n.saturating_mul(unit.millis),
        }
    }
}

/// Why a duration string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {input:?}: {reason} (expected e.g. 30s, 5m, 1h30m, 28d)")]
pub struct ParseDurationError {
    input: String,
    reason: &'static str,
}

impl FromStr for Duration {
    type Err = ParseDurationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason| ParseDurationError {
            input: s.to_string(),
            reason,
        };
        if s.is_empty() {
            return Err(err("empty"));
        }
        let bytes = s.as_bytes();
        let mut i = 0;
        let mut total: u64 = 0;
        // Units must appear from largest to smallest, each at most once, as in PromQL.
        let mut last_unit = usize::MAX;
        while i < bytes.len() {
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            if start == i {
                return Err(err("expected a number"));
            }
            let n: u64 = s[start..i].parse().map_err(|_| err("number too large"))?;
            let ustart = i;
            while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
                i += 1;
            }
            let unit = &s[ustart..i];
            let Some(idx) = UNITS.iter().position(|(u, _)| *u == unit) else {
                return Err(err(if unit.is_empty() {
                    "missing unit (ms, s, m, h, d, w or y)"
                } else {
                    "unknown unit (use ms, s, m, h, d, w or y)"
                }));
            };
            if last_unit != usize::MAX && idx <= last_unit {
                return Err(err("units must go from largest to smallest, each once"));
            }
            last_unit = idx;
            total = n
                .checked_mul(UNITS[idx].1)
                .and_then(|v| total.checked_add(v))
                .filter(|t| *t <= MAX.millis)
                .ok_or_else(|| err("too large (at most 292y, as in Prometheus)"))?;
        }
        Ok(Duration { millis: total })
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.millis == 0 {
            return f.write_str("0s");
        }
        let mut rest = self.millis;
        // Prefer days over weeks and years: `28d` reads better than `4w`, and `365d` is
        // what people write in SLO files.
        for (unit, size) in UNITS.iter().skip(2) {
            if rest >= *size {
                write!(f, "{}{}", rest / size, unit)?;
                rest %= size;
            }
        }
        Ok(())
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_compound_durations_like_promql() {
        assert_eq!("1h30m".parse::<Duration>().unwrap().secs(), 5400);
        assert_eq!("28d".parse::<Duration>().unwrap().secs(), 28 * 86400);
        assert_eq!("1w".parse::<Duration>().unwrap().secs(), 7 * 86400);
        assert_eq!("250ms".parse::<Duration>().unwrap().millis(), 250);
        assert_eq!("1m30s500ms".parse::<Duration>().unwrap().millis(), 90_500);
    }

    #[test]
    fn rejects_malformed_durations() {
        for bad in [
            "", "5", "m", "5x", "1.5h", "30m1h", "1h1h", "-5m", "5m ", "5 m",
        ] {
            assert!(
                bad.parse::<Duration>().is_err(),
                "{bad:?} should be rejected"
            );
        }
    }

    #[test]
    fn formats_back_to_the_shortest_promql_form() {
        for (input, shown) in [
            ("90s", "1m30s"),
            ("28d", "28d"),
            ("1w", "7d"),
            ("3600s", "1h"),
            ("1500ms", "1s500ms"),
        ] {
            assert_eq!(input.parse::<Duration>().unwrap().to_string(), shown);
        }
        assert_eq!(Duration::default().to_string(), "0s");
    }

    #[test]
    fn scales_windows_proportionally() {
        let hour = Duration::from_secs(3600);
        // 1h of a 30d window becomes 56m of a 28d window.
        assert_eq!(hour.scale(28, 30), Duration::from_secs(3360));
    }

    #[test]
    fn durations_beyond_what_prometheus_parses_are_refused() {
        // 292y is the largest whole number of years a Go time.Duration holds.
        assert!("292y".parse::<Duration>().is_ok());
        for big in ["293y", "300000y", "18446744073709551615ms", "106751991167d"] {
            let e = big.parse::<Duration>().unwrap_err().to_string();
            assert!(e.contains("too large"), "{big}: {e}");
        }
        // The limit itself parses back from its own text.
        assert_eq!(MAX.to_string().parse::<Duration>(), Ok(MAX));
        let over = Duration::from_millis(MAX.millis() + 1).to_string();
        assert!(over.parse::<Duration>().is_err(), "{over}");
    }

    #[test]
    fn arithmetic_on_any_duration_does_not_overflow() {
        let huge = Duration::from_millis(u64::MAX);
        assert_eq!(huge.to_chrono(), chrono::Duration::milliseconds(i64::MAX));
        let _ = huge.round_up_to(Duration::from_secs(7));
        let _ = huge.round_to(Duration::from_secs(7));
        let _ = huge.scale(u64::MAX, 1);
        let _ = huge.scale(1, 0);
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        /// Text made of what durations are made of, and a little of everything else.
        fn duration_text() -> impl Strategy<Value = String> {
            prop_oneof![
                "[0-9]{0,25}(ms|s|m|h|d|w|y|)([0-9]{0,4}(ms|s|m|h|d|w|y|)){0,4}",
                "\\PC{0,20}",
                any::<String>(),
            ]
        }

        proptest! {
            #[test]
            fn any_text_parses_or_is_refused_and_what_parses_prints_back(s in duration_text()) {
                if let Ok(d) = s.parse::<Duration>() {
                    prop_assert!(d <= MAX);
                    let shown = d.to_string();
                    prop_assert_eq!(shown.parse::<Duration>(), Ok(d), "{}", shown);
                    let _ = d.to_chrono();
                    let _ = d.to_std();
                }
            }

            #[test]
            fn every_duration_up_to_the_limit_round_trips(ms in 0..=MAX.millis()) {
                let d = Duration::from_millis(ms);
                prop_assert_eq!(d.to_string().parse::<Duration>(), Ok(d));
                prop_assert_eq!(d.to_chrono().num_milliseconds(), ms as i64);
            }

            #[test]
            fn rounding_and_scaling_never_panic(ms: u64, unit: u64, num: u64, den: u64) {
                let d = Duration::from_millis(ms);
                let u = Duration::from_millis(unit);
                let up = d.round_up_to(u);
                if unit > 0 && ms <= MAX.millis() && unit <= MAX.millis() {
                    prop_assert!(up >= d);
                    prop_assert_eq!(up.millis() % unit, 0);
                }
                let _ = d.round_to(u);
                let _ = d.scale(num, den);
            }
        }
    }
}
