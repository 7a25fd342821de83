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

    pub fn to_chrono(self) -> chrono::Duration {
        chrono::Duration::milliseconds(self.millis as i64)
    }

    /// `self * num / den`, rounded to the nearest millisecond (used to scale burn-rate
    /// windows to an SLO window that is not 30 days).
    pub fn scale(self, num: u64, den: u64) -> Self {
        let m = (self.millis as u128 * num as u128 + den as u128 / 2) / den as u128;
        Self { millis: m as u64 }
    }

    /// Rounds up to a multiple of `unit` (no-op for a zero unit).
    pub fn round_up_to(self, unit: Duration) -> Self {
        if unit.millis == 0 {
            return self;
        }
        let n = self.millis.div_ceil(unit.millis);
        Self {
            millis: n * unit.millis,
        }
    }

    /// Rounds to the nearest multiple of `unit`, never below one unit.
    pub fn round_to(self, unit: Duration) -> Self {
        if unit.millis == 0 {
            return self;
        }
        let n = ((self.millis + unit.millis / 2) / unit.millis).max(1);
        Self {
            millis: n * unit.millis,
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
                .ok_or_else(|| err("too large"))?;
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
}
