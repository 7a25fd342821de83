//! Units of catalog queries and the one place that turns a number into text for humans
//! (`1.2 KiB/s`, `340 ms`, `0.12 %`). Machine outputs (JSON, CSV) carry raw base units.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A number for JSON: `None` for NaN and ±Inf (JSON has no such values; the caller adds
/// a `note`).
pub(crate) fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// Why a value is `null`, when it is.
pub(crate) fn non_finite_note(v: f64) -> Option<String> {
    if v.is_nan() {
        Some("value is NaN".into())
    } else if v.is_infinite() {
        Some(format!("value is {}Inf", if v > 0.0 { "+" } else { "-" }))
    } else {
        None
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// Seconds (durations, latencies, ages).
    Seconds,
    /// Bytes.
    Bytes,
    /// Bytes per second.
    BytesPerSecond,
    /// A fraction in 0..1, shown as a percentage.
    Ratio,
    /// Already a percentage (0..100, or more for CPU over several cores).
    Percent,
    /// Requests per second.
    Rps,
    /// Events per second (messages, queries).
    PerSecond,
    /// A plain count.
    Count,
}

impl Unit {
    pub const ALL: [Unit; 8] = [
        Unit::Seconds,
        Unit::Bytes,
        Unit::BytesPerSecond,
        Unit::Ratio,
        Unit::Percent,
        Unit::Rps,
        Unit::PerSecond,
        Unit::Count,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Unit::Seconds => "seconds",
            Unit::Bytes => "bytes",
            Unit::BytesPerSecond => "bytes_per_second",
            Unit::Ratio => "ratio",
            Unit::Percent => "percent",
            Unit::Rps => "rps",
            Unit::PerSecond => "per_second",
            Unit::Count => "count",
        }
    }

    /// Formats a value of this unit for a human. NaN and infinities are spelled out; the
    /// JSON renderer never calls this.
    pub fn format(self, v: f64) -> String {
        if v.is_nan() {
            return "NaN".into();
        }
        if v.is_infinite() {
            return if v > 0.0 {
                "+Inf".into()
            } else {
                "-Inf".into()
            };
        }
        match self {
            Unit::Seconds => format_seconds(v),
            Unit::Bytes => format_bytes(v, ""),
            Unit::BytesPerSecond => format_bytes(v, "/s"),
            Unit::Ratio => format_percent(v * 100.0),
            Unit::Percent => format_percent(v),
            Unit::Rps => format!("{} req/s", sig(v, 3)),
            Unit::PerSecond => format!("{}/s", sig(v, 3)),
            Unit::Count => format_count(v),
        }
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Three significant digits without trailing zeros noise: 0.000123, 1.23, 12.3, 123, 1234.
pub(crate) fn sig(v: f64, digits: i32) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let mag = v.abs().log10().floor() as i32;
    let decimals = (digits - 1 - mag).clamp(0, 9) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

fn format_percent(p: f64) -> String {
    // Two decimals from 10 % up (99.95 %), three significant digits below (0.12 %, 0.101 %).
    let s = if p.abs() >= 100.0 {
        format!("{p:.1}")
    } else if p.abs() >= 10.0 {
        format!("{p:.2}")
    } else if p == 0.0 {
        "0".into()
    } else {
        // Three significant digits below 10 %, so 0.101 % and 0.1 % do not look alike.
        sig(p, 3)
    };
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    format!("{s} %")
}

fn format_seconds(s: f64) -> String {
    let a = s.abs();
    if a == 0.0 {
        "0 s".into()
    } else if a < 1e-3 {
        format!("{} µs", sig(s * 1e6, 3))
    } else if a < 1.0 {
        format!("{} ms", sig(s * 1e3, 3))
    } else if a < 60.0 {
        format!("{} s", sig(s, 3))
    } else if a < 3600.0 {
        format!("{} min", sig(s / 60.0, 3))
    } else if a < 86_400.0 * 2.0 {
        format!("{} h", sig(s / 3600.0, 3))
    } else {
        format!("{} d", sig(s / 86_400.0, 3))
    }
}

fn format_bytes(b: f64, suffix: &str) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut v = b;
    let mut i = 0;
    while v.abs() >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{} B{suffix}", sig(v, 3))
    } else {
        format!("{} {}{suffix}", sig(v, 3), UNITS[i])
    }
}

fn format_count(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        group_thousands(v as i64)
    } else if v.abs() >= 1000.0 {
        group_thousands(v.round() as i64)
    } else {
        sig(v, 3)
    }
}

fn group_thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn humanises_every_unit() {
        assert_eq!(Unit::BytesPerSecond.format(1228.8), "1.2 KiB/s");
        assert_eq!(Unit::Seconds.format(0.34), "340 ms");
        assert_eq!(Unit::Ratio.format(0.0012), "0.12 %");
        assert_eq!(Unit::Percent.format(12.346), "12.35 %");
        assert_eq!(
            Unit::Bytes.format(3.5 * 1024.0 * 1024.0 * 1024.0),
            "3.5 GiB"
        );
        assert_eq!(Unit::Bytes.format(512.0), "512 B");
        assert_eq!(Unit::Rps.format(12.34), "12.3 req/s");
        assert_eq!(Unit::PerSecond.format(0.5), "0.5/s");
        assert_eq!(Unit::Count.format(1234567.0), "1,234,567");
        assert_eq!(Unit::Count.format(2.5), "2.5");
        assert_eq!(Unit::Seconds.format(5400.0), "1.5 h");
        assert_eq!(Unit::Seconds.format(90.0), "1.5 min");
        assert_eq!(Unit::Seconds.format(3.0 * 86400.0), "3 d");
        assert_eq!(Unit::Seconds.format(0.0000123), "12.3 µs");
        assert_eq!(Unit::Ratio.format(0.995), "99.5 %");
        assert_eq!(Unit::Ratio.format(1.0), "100 %");
        assert_eq!(Unit::Ratio.format(0.0), "0 %");
        assert_eq!(Unit::Ratio.format(0.0000123), "0.00123 %");
        assert_eq!(Unit::Ratio.format(0.001007), "0.101 %");
    }

    #[test]
    fn spells_out_non_finite_values() {
        assert_eq!(Unit::Seconds.format(f64::NAN), "NaN");
        assert_eq!(Unit::Count.format(f64::INFINITY), "+Inf");
    }

    #[test]
    fn keeps_three_significant_digits() {
        assert_eq!(sig(0.000123456, 3), "0.000123");
        assert_eq!(sig(123456.0, 3), "123456");
        assert_eq!(sig(-1.005, 3), "-1");
    }
}
