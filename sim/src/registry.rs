//! The simulator's metric registry: scrape targets, metric families, series and their
//! current values, in the names and labels of the metric contract.
//!
//! Series are "born" when they are first exported. The reference system follows the
//! Prometheus practice of initialising the label values it knows up front (every route and
//! status code, every order channel), so their counters exist from the start at zero and
//! no event is hidden in a series' first sample; error-type labels of client histograms
//! appear when the first error does, as they would in a real client library.

use std::sync::Arc;

use crate::openmetrics::{Kind, escape_label_value};

pub type Fid = usize;
pub type Sid = usize;
pub type Tid = usize;

/// A scrape target: what Prometheus would scrape, and the labels it attaches.
#[derive(Clone, Debug)]
pub struct Target {
    pub job: String,
    pub instance: String,
    pub service: String,
    /// Whether the target answers scrapes right now (a restart or a network gap says no).
    pub reachable: bool,
}

#[derive(Clone, Debug)]
pub struct Family {
    pub name: String,
    pub kind: Kind,
    pub help: String,
}

#[derive(Clone, Debug)]
pub struct Series {
    pub family: Fid,
    /// The sample name (`x_total`, `x_bucket`, `x`).
    pub metric: Arc<str>,
    pub target: Tid,
    /// Labels without the metric name, target labels first.
    pub labels: Vec<(Arc<str>, Arc<str>)>,
    /// `{job="...",...}` as the text formats write it.
    pub label_text: Arc<str>,
    pub value: f64,
    pub born: bool,
}

/// A histogram: per-bucket (not cumulative) counts kept here, written into the bucket
/// series by [`Registry::sync_histograms`].
#[derive(Clone, Debug)]
pub struct Histogram {
    pub bounds: Arc<[f64]>,
    /// Bucket series, one per bound plus +Inf.
    pub buckets: Vec<Sid>,
    pub sum: Sid,
    pub count: Sid,
    counts: Vec<f64>,
    total: f64,
    sum_value: f64,
    born: bool,
}

pub type Hid = usize;

#[derive(Default)]
pub struct Registry {
    pub targets: Vec<Target>,
    pub families: Vec<Family>,
    pub series: Vec<Series>,
    pub histograms: Vec<Histogram>,
}

fn label_text(labels: &[(Arc<str>, Arc<str>)]) -> Arc<str> {
    let mut s = String::from("{");
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(k);
        s.push_str("=\"");
        s.push_str(&escape_label_value(v));
        s.push('"');
    }
    s.push('}');
    s.into()
}

pub fn le_text(b: f64) -> String {
    if b.is_infinite() {
        "+Inf".to_string()
    } else {
        format!("{b}")
    }
}

impl Registry {
    pub fn target(&mut self, job: &str, instance: &str, service: &str) -> Tid {
        self.targets.push(Target {
            job: job.into(),
            instance: instance.into(),
            service: service.into(),
            reachable: true,
        });
        self.targets.len() - 1
    }

    pub fn find_target(&self, instance: &str) -> Option<Tid> {
        self.targets.iter().position(|t| t.instance == instance)
    }

    pub fn family(&mut self, name: &str, kind: Kind, help: &str) -> Fid {
        if let Some(i) = self.families.iter().position(|f| f.name == name) {
            return i;
        }
        self.families.push(Family {
            name: name.into(),
            kind,
            help: help.into(),
        });
        self.families.len() - 1
    }

    fn add_series(
        &mut self,
        family: Fid,
        metric: &str,
        target: Tid,
        extra: &[(&str, &str)],
        born: bool,
    ) -> Sid {
        let t = &self.targets[target];
        let mut labels: Vec<(Arc<str>, Arc<str>)> = vec![
            ("job".into(), t.job.as_str().into()),
            ("instance".into(), t.instance.as_str().into()),
            ("service".into(), t.service.as_str().into()),
        ];
        for (k, v) in extra {
            // An application label may override the target's (the DLQ consumer's service).
            if let Some(slot) = labels.iter_mut().find(|(lk, _)| &**lk == *k) {
                slot.1 = (*v).into();
            } else {
                labels.push(((*k).into(), (*v).into()));
            }
        }
        self.series.push(Series {
            family,
            metric: metric.into(),
            target,
            label_text: label_text(&labels),
            labels,
            value: 0.0,
            born,
        });
        self.series.len() - 1
    }

    /// A counter series (`name` without `_total`), exported from the start at zero.
    pub fn counter(&mut self, name: &str, help: &str, target: Tid, labels: &[(&str, &str)]) -> Sid {
        let f = self.family(name, Kind::Counter, help);
        self.add_series(f, &format!("{name}_total"), target, labels, true)
    }

    /// A counter exported without `_total` (postgres_exporter's style), typed unknown.
    pub fn untyped_counter(
        &mut self,
        name: &str,
        help: &str,
        target: Tid,
        labels: &[(&str, &str)],
    ) -> Sid {
        let f = self.family(name, Kind::Unknown, help);
        self.add_series(f, name, target, labels, true)
    }

    /// A gauge series, exported from the start.
    pub fn gauge(&mut self, name: &str, help: &str, target: Tid, labels: &[(&str, &str)]) -> Sid {
        let f = self.family(name, Kind::Gauge, help);
        self.add_series(f, name, target, labels, true)
    }

    /// A gauge that appears only once set (bounded per-user gauges).
    pub fn lazy_gauge(
        &mut self,
        name: &str,
        help: &str,
        target: Tid,
        labels: &[(&str, &str)],
    ) -> Sid {
        let f = self.family(name, Kind::Gauge, help);
        self.add_series(f, name, target, labels, false)
    }

    /// A histogram exported from the start (all buckets at zero).
    pub fn histogram(
        &mut self,
        name: &str,
        help: &str,
        target: Tid,
        labels: &[(&str, &str)],
        bounds: &Arc<[f64]>,
    ) -> Hid {
        let h = self.histogram_kind(name, help, target, labels, bounds, true);
        self.histograms[h].born = true;
        h
    }

    /// A histogram that appears with its first observation (error-type labels).
    pub fn lazy_histogram(
        &mut self,
        name: &str,
        help: &str,
        target: Tid,
        labels: &[(&str, &str)],
        bounds: &Arc<[f64]>,
    ) -> Hid {
        self.histogram_kind(name, help, target, labels, bounds, true)
    }

    /// MinIO's `_distribution`: cumulative `le` series under one untyped name, no sum/count.
    pub fn distribution(
        &mut self,
        name: &str,
        help: &str,
        target: Tid,
        labels: &[(&str, &str)],
        bounds: &Arc<[f64]>,
    ) -> Hid {
        let h = self.histogram_kind(name, help, target, labels, bounds, false);
        self.histograms[h].born = true;
        h
    }

    fn histogram_kind(
        &mut self,
        name: &str,
        help: &str,
        target: Tid,
        labels: &[(&str, &str)],
        bounds: &Arc<[f64]>,
        real: bool,
    ) -> Hid {
        let f = self.family(
            name,
            if real { Kind::Histogram } else { Kind::Unknown },
            help,
        );
        let bucket_metric = if real {
            format!("{name}_bucket")
        } else {
            name.to_string()
        };
        let mut buckets = Vec::with_capacity(bounds.len() + 1);
        for b in bounds.iter().copied().chain(std::iter::once(f64::INFINITY)) {
            let le = le_text(b);
            let mut l = labels.to_vec();
            l.push(("le", &le));
            buckets.push(self.add_series(f, &bucket_metric, target, &l, false));
        }
        let (sum, count) = if real {
            (
                self.add_series(f, &format!("{name}_sum"), target, labels, false),
                self.add_series(f, &format!("{name}_count"), target, labels, false),
            )
        } else {
            (usize::MAX, usize::MAX)
        };
        self.histograms.push(Histogram {
            bounds: bounds.clone(),
            buckets,
            sum,
            count,
            counts: vec![0.0; bounds.len() + 1],
            total: 0.0,
            sum_value: 0.0,
            born: false,
        });
        self.histograms.len() - 1
    }

    pub fn inc(&mut self, s: Sid, by: f64) {
        let series = &mut self.series[s];
        series.value += by;
        if by != 0.0 {
            series.born = true;
        }
    }

    pub fn set(&mut self, s: Sid, v: f64) {
        let series = &mut self.series[s];
        series.value = v;
        series.born = true;
    }

    pub fn get(&self, s: Sid) -> f64 {
        self.series[s].value
    }

    /// Records one observation.
    pub fn observe(&mut self, h: Hid, v: f64) {
        self.observe_n(h, v, 1.0);
    }

    /// Records `n` observations of the same value.
    pub fn observe_n(&mut self, h: Hid, v: f64, n: f64) {
        let hist = &mut self.histograms[h];
        let i = hist.bounds.partition_point(|b| *b < v);
        hist.counts[i] += n;
        hist.total += n;
        hist.sum_value += v * n;
        hist.born = true;
    }

    /// A process restart: every counter and histogram of the target starts again from
    /// zero (gauges are set by the model).
    pub fn reset_target(&mut self, t: Tid) {
        for h in &mut self.histograms {
            if self.series[h.buckets[0]].target == t {
                h.counts.iter_mut().for_each(|c| *c = 0.0);
                h.total = 0.0;
                h.sum_value = 0.0;
            }
        }
        for s in self.series.iter_mut().filter(|s| s.target == t) {
            if matches!(
                self.families[s.family].kind,
                Kind::Counter | Kind::Histogram
            ) {
                s.value = 0.0;
            }
        }
    }

    /// Writes histogram state into their series (cumulative buckets, sum, count).
    pub fn sync_histograms(&mut self) {
        for h in &self.histograms {
            if !h.born {
                continue;
            }
            let mut cum = 0.0;
            for (i, s) in h.buckets.iter().enumerate() {
                cum += h.counts[i];
                let series = &mut self.series[*s];
                series.value = cum;
                series.born = true;
            }
            if h.sum != usize::MAX {
                self.series[h.sum].value = h.sum_value;
                self.series[h.sum].born = true;
                self.series[h.count].value = h.total;
                self.series[h.count].born = true;
            }
        }
    }

    /// Exported series of a target, grouped by family in registry order.
    pub fn exported(&self, t: Tid) -> impl Iterator<Item = &Series> {
        self.series.iter().filter(move |s| s.target == t && s.born)
    }
}
