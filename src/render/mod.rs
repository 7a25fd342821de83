//! Renderers: one file per output format, all fed from the commands' own models.

pub mod chart;
pub mod csv;
pub mod html;
pub mod json;
pub mod junit;
pub mod markdown;
pub mod status;
pub mod table;

use std::io::Write;

/// Writes command output to stdout. A closed pipe (`vitals ... | head`) is not an error:
/// the caller stops writing and the run exits as it would have.
pub(crate) fn stdout(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    if !text.is_empty() && !text.ends_with('\n') {
        out.write_all(b"\n")?;
    }
    out.flush()
}

/// ANSI styles for terminal output; every function is a no-op when colour is off.
#[derive(Clone, Copy, Debug)]
pub struct Paint {
    pub on: bool,
}

impl Paint {
    pub(crate) fn red(self, s: &str) -> String {
        self.wrap(s, "31")
    }
    pub(crate) fn yellow(self, s: &str) -> String {
        self.wrap(s, "33")
    }
    pub(crate) fn green(self, s: &str) -> String {
        self.wrap(s, "32")
    }
    pub(crate) fn dim(self, s: &str) -> String {
        self.wrap(s, "2")
    }
    pub(crate) fn bold(self, s: &str) -> String {
        self.wrap(s, "1")
    }
    pub(crate) fn cyan(self, s: &str) -> String {
        self.wrap(s, "36")
    }
    fn wrap(self, s: &str, code: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
}

/// Eight-level sparkline of a series (gaps and non-finite values as spaces). The scale
/// starts below the minimum by the series' own range (never below zero for values that are
/// never negative), so its variation fills at least the upper half: a 5 % dip in traffic
/// reads as a step, not as a fall to the floor, and latencies between 211 and 247 ms are
/// not a flat block. A constant series is drawn at mid height (at the floor when it is zero).
pub(crate) fn sparkline(values: &[Option<f64>]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let finite: Vec<f64> = values
        .iter()
        .flatten()
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    if finite.is_empty() {
        return " ".repeat(values.len());
    }
    let min = finite.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let lo = if min >= 0.0 {
        (min - (hi - min)).max(0.0)
    } else {
        min
    };
    let flat = hi - min <= f64::EPSILON * hi.abs().max(1.0);
    values
        .iter()
        .map(|v| match v.filter(|v| v.is_finite()) {
            None => ' ',
            Some(_) if flat && hi == 0.0 => BARS[0],
            Some(_) if flat => BARS[3],
            Some(v) => {
                let i = ((v - lo) / (hi - lo) * 7.0).round() as usize;
                BARS[i.min(7)]
            }
        })
        .collect()
}

/// Reduces a series to `width` buckets (mean of each), for sparklines.
pub(crate) fn downsample(
    points: &[(f64, f64)],
    start: f64,
    end: f64,
    width: usize,
) -> Vec<Option<f64>> {
    let mut sums = vec![(0.0, 0usize); width];
    let span = (end - start).max(f64::EPSILON);
    for &(t, v) in points {
        if !v.is_finite() || t < start || t > end {
            continue;
        }
        let i = (((t - start) / span) * width as f64) as usize;
        let slot = &mut sums[i.min(width - 1)];
        slot.0 += v;
        slot.1 += 1;
    }
    sums.into_iter()
        .map(|(s, n)| if n == 0 { None } else { Some(s / n as f64) })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparklines_scale_between_min_and_max() {
        assert_eq!(sparkline(&[Some(0.0), Some(1.0), None, Some(0.5)]), "▁█ ▅");
        // A dip of a sixth shows as a step, not as a fall to the floor.
        assert_eq!(sparkline(&[Some(6.0), Some(5.0), Some(6.0)]), "█▅█");
        // Latencies that move a little inside a narrow band are not a flat block.
        let ms = [0.211, 0.247, 0.230, 0.215];
        let line = sparkline(&ms.map(Some));
        assert_eq!(line, "▅█▆▅", "{line}");
        assert_eq!(sparkline(&[Some(6.0), Some(0.0), Some(6.0)]), "█▁█");
        assert_eq!(sparkline(&[Some(-1.0), Some(1.0)]), "▁█");
        assert_eq!(sparkline(&[Some(65.0), Some(65.0), Some(f64::NAN)]), "▄▄ ");
        assert_eq!(sparkline(&[Some(0.0), Some(0.0)]), "▁▁");
        assert_eq!(sparkline(&[None, None]), "  ");
    }

    #[test]
    fn downsampling_averages_each_bucket() {
        let pts = [(0.0, 1.0), (1.0, 3.0), (2.0, 10.0), (3.0, f64::NAN)];
        assert_eq!(downsample(&pts, 0.0, 4.0, 2), vec![Some(2.0), Some(10.0)]);
    }
}
