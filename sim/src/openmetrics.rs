//! A streaming OpenMetrics text writer, for histories that
//! `promtool tsdb create-blocks-from openmetrics` loads (the simulator and test fixtures).
//!
//! The writer does not reorder anything: callers emit one metric family at a time, each
//! series' samples in time order, as the format requires.

use std::fmt::Write as _;
use std::io::{self, Write};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
    Unknown,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
            Kind::Unknown => "unknown",
        }
    }
}

/// A number as the Prometheus text formats write it.
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        format!("{v}")
    }
}

/// Writes a number as [`format_value`] does, without allocating (integers take a fast path:
/// counters are whole numbers almost always).
pub fn write_value(w: &mut impl Write, v: f64) -> io::Result<()> {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 9.0e15 {
        write!(w, "{}", v as i64)
    } else if v.is_nan() {
        w.write_all(b"NaN")
    } else if v.is_infinite() {
        w.write_all(if v > 0.0 { b"+Inf" } else { b"-Inf" })
    } else {
        write!(w, "{v}")
    }
}

/// Escapes a label value for the text formats.
pub fn escape_label_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// `{a="1",b="2"}` (empty string for no labels).
pub fn format_labels<K: AsRef<str>, V: AsRef<str>>(labels: &[(K, V)]) -> String {
    if labels.is_empty() {
        return String::new();
    }
    let mut s = String::from("{");
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(s, "{}=\"{}\"", k.as_ref(), escape_label_value(v.as_ref()));
    }
    s.push('}');
    s
}

pub struct Writer<W: Write> {
    out: W,
    samples: u64,
}

impl<W: Write> Writer<W> {
    pub fn new(out: W) -> Self {
        Self { out, samples: 0 }
    }

    /// Starts a metric family. For a counter `name` is the family name without `_total`;
    /// for a histogram, without `_bucket`/`_sum`/`_count`.
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) -> io::Result<()> {
        writeln!(self.out, "# TYPE {name} {}", kind.as_str())?;
        if !help.is_empty() {
            writeln!(
                self.out,
                "# HELP {name} {}",
                help.replace('\\', "\\\\").replace('\n', "\\n")
            )?;
        }
        Ok(())
    }

    /// One sample with a timestamp in milliseconds (written as seconds).
    pub fn sample(&mut self, metric: &str, labels: &str, value: f64, ts_ms: i64) -> io::Result<()> {
        self.samples += 1;
        let secs = ts_ms.div_euclid(1000);
        let ms = ts_ms.rem_euclid(1000);
        if ms == 0 {
            writeln!(self.out, "{metric}{labels} {} {secs}", format_value(value))
        } else {
            writeln!(
                self.out,
                "{metric}{labels} {} {secs}.{ms:03}",
                format_value(value)
            )
        }
    }

    pub fn samples_written(&self) -> u64 {
        self.samples
    }

    /// Writes the `# EOF` trailer and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        writeln!(self.out, "# EOF")?;
        self.out.flush()?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_value_writing_matches_the_text_form() {
        for v in [
            0.0,
            5.0,
            -3.0,
            0.25,
            1e20,
            123456789.0,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            -0.5,
        ] {
            let mut b = Vec::new();
            write_value(&mut b, v).unwrap();
            let text = String::from_utf8(b).unwrap();
            let back: f64 = match text.as_str() {
                "NaN" => f64::NAN,
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                t => t.parse().unwrap(),
            };
            assert!(back == v || (v.is_nan() && back.is_nan()), "{v} -> {text}");
        }
    }

    #[test]
    fn writes_families_samples_and_the_eof_marker() {
        let mut w = Writer::new(Vec::new());
        w.family("http_requests", Kind::Counter, "Requests")
            .unwrap();
        let l = format_labels(&[("service", "shop"), ("path", "/a\"b")]);
        w.sample("http_requests_total", &l, 5.0, 1_700_000_000_000)
            .unwrap();
        w.sample("http_requests_total", &l, f64::NAN, 1_700_000_000_500)
            .unwrap();
        let text = String::from_utf8(w.finish().unwrap()).unwrap();
        assert_eq!(
            text,
            "# TYPE http_requests counter\n# HELP http_requests Requests\n\
             http_requests_total{service=\"shop\",path=\"/a\\\"b\"} 5 1700000000\n\
             http_requests_total{service=\"shop\",path=\"/a\\\"b\"} NaN 1700000000.500\n# EOF\n"
        );
    }
}
