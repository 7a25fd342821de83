//! Declarative OpenMetrics fixtures: series with constant or linear values, written for
//! `promtool` and, from the same numbers, the values queries over them must return.
//!
//! Expected values are computed here from the fixture's own slopes and constants (and a
//! re-implementation of `histogram_quantile`'s interpolation), never from vitals' output.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use vitals_sim::openmetrics::{Kind, Writer, format_labels};

pub type Labels = BTreeMap<String, String>;

#[derive(Clone, Debug)]
pub enum Value {
    Const(f64),
    /// `base + slope * (t - start)` (t in seconds).
    Linear {
        base: f64,
        slope: f64,
    },
}

#[derive(Clone, Debug)]
pub struct Series {
    /// Sample name as written (`x_total`, `x_bucket`, `x`).
    pub metric: String,
    pub labels: Labels,
    pub value: Value,
}

#[derive(Clone, Debug)]
pub struct Family {
    pub name: String,
    pub kind: Kind,
    pub series: Vec<Series>,
}

pub struct Fixture {
    /// Unix seconds of the first and last sample.
    pub start: i64,
    pub end: i64,
    pub step: i64,
    pub families: Vec<Family>,
}

pub fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

impl Fixture {
    pub fn new(start: i64, end: i64, step: i64) -> Self {
        Self {
            start,
            end,
            step,
            families: Vec::new(),
        }
    }

    fn family(&mut self, name: &str, kind: Kind) -> &mut Family {
        if let Some(i) = self.families.iter().position(|f| f.name == name) {
            return &mut self.families[i];
        }
        self.families.push(Family {
            name: name.to_string(),
            kind,
            series: Vec::new(),
        });
        self.families.last_mut().unwrap()
    }

    /// A counter growing at `rate` per second (family name without `_total`).
    pub fn counter(&mut self, name: &str, l: &[(&str, &str)], rate: f64) {
        let metric = format!("{name}_total");
        self.family(name, Kind::Counter).series.push(Series {
            metric,
            labels: labels(l),
            value: Value::Linear {
                base: 1000.0,
                slope: rate,
            },
        });
    }

    /// A counter-like series without the `_total` suffix (postgres_exporter style).
    pub fn untyped_counter(&mut self, name: &str, l: &[(&str, &str)], rate: f64) {
        self.family(name, Kind::Unknown).series.push(Series {
            metric: name.to_string(),
            labels: labels(l),
            value: Value::Linear {
                base: 1000.0,
                slope: rate,
            },
        });
    }

    pub fn gauge(&mut self, name: &str, l: &[(&str, &str)], v: f64) {
        self.family(name, Kind::Gauge).series.push(Series {
            metric: name.to_string(),
            labels: labels(l),
            value: Value::Const(v),
        });
    }

    pub fn growing_gauge(&mut self, name: &str, l: &[(&str, &str)], base: f64, slope: f64) {
        self.family(name, Kind::Gauge).series.push(Series {
            metric: name.to_string(),
            labels: labels(l),
            value: Value::Linear { base, slope },
        });
    }

    /// A histogram: `rates[i]` events per second fall into bucket `bounds[i]` (the last
    /// rate, if there is one more than bounds, into +Inf); `mean` is the mean observation.
    pub fn histogram(
        &mut self,
        name: &str,
        l: &[(&str, &str)],
        bounds: &[f64],
        rates: &[f64],
        mean: f64,
    ) {
        self.histogram_kind(name, l, bounds, rates, mean)
    }

    /// Like [`Self::histogram`] with an untyped family (MinIO's `_distribution` style):
    /// only `name` with `le`, no `_sum`/`_count`.
    pub fn distribution(&mut self, name: &str, l: &[(&str, &str)], bounds: &[f64], rates: &[f64]) {
        let fam = self.family(name, Kind::Unknown);
        let mut cum = 0.0;
        for (i, b) in bounds
            .iter()
            .chain(std::iter::once(&f64::INFINITY))
            .enumerate()
        {
            cum += rates.get(i).copied().unwrap_or(0.0);
            let mut lab = labels(l);
            lab.insert("le".into(), le_text(*b));
            fam.series.push(Series {
                metric: name.to_string(),
                labels: lab,
                value: Value::Linear {
                    base: 0.0,
                    slope: cum,
                },
            });
        }
    }

    fn histogram_kind(
        &mut self,
        name: &str,
        l: &[(&str, &str)],
        bounds: &[f64],
        rates: &[f64],
        mean: f64,
    ) {
        let fam = self.family(name, Kind::Histogram);
        let mut cum = 0.0;
        for (i, b) in bounds
            .iter()
            .chain(std::iter::once(&f64::INFINITY))
            .enumerate()
        {
            cum += rates.get(i).copied().unwrap_or(0.0);
            let mut lab = labels(l);
            lab.insert("le".into(), le_text(*b));
            fam.series.push(Series {
                metric: format!("{name}_bucket"),
                labels: lab,
                value: Value::Linear {
                    base: 0.0,
                    slope: cum,
                },
            });
        }
        fam.series.push(Series {
            metric: format!("{name}_count"),
            labels: labels(l),
            value: Value::Linear {
                base: 0.0,
                slope: cum,
            },
        });
        fam.series.push(Series {
            metric: format!("{name}_sum"),
            labels: labels(l),
            value: Value::Linear {
                base: 0.0,
                slope: cum * mean,
            },
        });
    }

    /// Writes the fixture as OpenMetrics.
    pub fn write(&self, path: &Path) -> std::io::Result<u64> {
        let file = std::io::BufWriter::new(std::fs::File::create(path)?);
        let mut w = Writer::new(file);
        for f in &self.families {
            w.family(&f.name, f.kind, &format!("fixture {}", f.name))?;
            for s in &f.series {
                let l = format_labels(&s.labels.iter().collect::<Vec<_>>());
                let mut t = self.start;
                while t <= self.end {
                    let v = match s.value {
                        Value::Const(c) => c,
                        Value::Linear { base, slope } => base + slope * (t - self.start) as f64,
                    };
                    w.sample(&s.metric, &l, v, t * 1000)?;
                    t += self.step;
                }
            }
        }
        let n = w.samples_written();
        w.finish()?.flush()?;
        Ok(n)
    }

    /// Series of a sample name whose labels pass `keep`.
    pub fn select<'a>(
        &'a self,
        metric: &'a str,
        keep: impl Fn(&Labels) -> bool + 'a,
    ) -> impl Iterator<Item = &'a Series> + 'a {
        self.families
            .iter()
            .flat_map(|f| f.series.iter())
            .filter(move |s| s.metric == metric && keep(&s.labels))
    }

    /// Per-second rate of matching series, summed by the `by` labels.
    pub fn rate_by(
        &self,
        metric: &str,
        by: &[&str],
        keep: impl Fn(&Labels) -> bool,
    ) -> BTreeMap<Labels, f64> {
        let mut out = BTreeMap::new();
        for s in self.select(metric, keep) {
            let slope = match s.value {
                Value::Linear { slope, .. } => slope,
                Value::Const(_) => 0.0,
            };
            *out.entry(project(&s.labels, by)).or_insert(0.0) += slope;
        }
        out
    }

    /// Current value (at `end`) of matching series, aggregated by `by` with `agg`.
    pub fn value_by(
        &self,
        metric: &str,
        by: &[&str],
        keep: impl Fn(&Labels) -> bool,
        agg: Agg,
    ) -> BTreeMap<Labels, f64> {
        let mut groups: BTreeMap<Labels, Vec<f64>> = BTreeMap::new();
        for s in self.select(metric, keep) {
            let v = match s.value {
                Value::Const(c) => c,
                Value::Linear { base, slope } => base + slope * (self.end - self.start) as f64,
            };
            groups.entry(project(&s.labels, by)).or_default().push(v);
        }
        groups
            .into_iter()
            .map(|(k, vs)| {
                let finite: Vec<f64> = vs.iter().copied().filter(|v| !v.is_nan()).collect();
                let v = match agg {
                    Agg::Sum => vs.iter().sum(),
                    Agg::Max => finite.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                    Agg::Min => finite.iter().copied().fold(f64::INFINITY, f64::min),
                    Agg::Avg => vs.iter().sum::<f64>() / vs.len() as f64,
                };
                (k, v)
            })
            .collect()
    }

    /// `histogram_quantile(q, sum by (by..., le) (rate(name_bucket[..])))`, computed from the
    /// fixture's bucket slopes with Prometheus' interpolation rule.
    pub fn quantile_by(
        &self,
        bucket_metric: &str,
        q: f64,
        by: &[&str],
        keep: impl Fn(&Labels) -> bool,
    ) -> BTreeMap<Labels, f64> {
        let mut groups: BTreeMap<Labels, BTreeMap<OrdF64, f64>> = BTreeMap::new();
        for s in self.select(bucket_metric, keep) {
            let le: f64 = s.labels["le"].parse().unwrap();
            let slope = match s.value {
                Value::Linear { slope, .. } => slope,
                Value::Const(_) => 0.0,
            };
            *groups
                .entry(project(&s.labels, by))
                .or_default()
                .entry(OrdF64(le))
                .or_insert(0.0) += slope;
        }
        groups
            .into_iter()
            .map(|(k, buckets)| {
                let b: Vec<(f64, f64)> = buckets.into_iter().map(|(le, c)| (le.0, c)).collect();
                (k, bucket_quantile(q, &b))
            })
            .collect()
    }
}

#[derive(Clone, Copy)]
pub enum Agg {
    Sum,
    Max,
    Min,
    Avg,
}

/// A bucket bound as a map key (bounds are never NaN).
#[derive(Clone, Copy, PartialEq)]
struct OrdF64(f64);
impl Eq for OrdF64 {}
impl PartialOrd for OrdF64 {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for OrdF64 {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&o.0)
    }
}

pub fn project(l: &Labels, by: &[&str]) -> Labels {
    by.iter()
        .filter_map(|k| l.get(*k).map(|v| (k.to_string(), v.clone())))
        .collect()
}

pub fn le_text(b: f64) -> String {
    if b.is_infinite() {
        "+Inf".into()
    } else {
        format!("{b}")
    }
}

/// Prometheus' `histogram_quantile` on cumulative `(le, count)` buckets sorted by `le`,
/// the last being +Inf: linear interpolation inside the bucket holding the rank; the
/// lowest bucket starts at 0; a rank in +Inf returns the highest finite bound.
pub fn bucket_quantile(q: f64, buckets: &[(f64, f64)]) -> f64 {
    let total = buckets.last().unwrap().1;
    if total == 0.0 {
        return f64::NAN;
    }
    let rank = q * total;
    let i = buckets.iter().position(|(_, c)| *c >= rank).unwrap();
    if i == buckets.len() - 1 {
        return buckets[buckets.len() - 2].0;
    }
    let (upper, count) = buckets[i];
    let (lower, below) = if i == 0 { (0.0, 0.0) } else { buckets[i - 1] };
    if i == 0 && upper <= 0.0 {
        return upper;
    }
    lower + (upper - lower) * (rank - below) / (count - below)
}
