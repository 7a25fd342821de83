//! The SLI layer: every PromQL an SLO needs is built here and nowhere else — a threshold
//! SLO's value and its violation, a ratio or latency SLO's bad/good and total parts, their
//! error ratio over a window, the `le` bucket of a latency threshold, the grouping — for
//! `check`, `status`, `report`, `incidents` and `rules` alike.
//!
//! One failure policy: what can be checked when `slo.toml` is loaded is (a threshold SLO's
//! query is expanded then); what needs Prometheus is decided by [`resolve_buckets`], whose
//! [`BucketProblem`] every command treats the same way: a threshold that is not a bucket is
//! a configuration error (exit 2), no matching series is no data, a failed query is a
//! failed query (exit 3).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::math::{self, BurnPair};
use super::model::{Calendar, Objective, Op, Sli, Slo, SloWindow, ThresholdExpr};
use super::window::resolve;
use crate::catalog::Catalog;
use crate::catalog::params::escape_promql_string;
use crate::catalog::template;
use crate::duration::Duration;
use crate::prom::{Answer, Batch, Prom, PromError, Request, tag};

/// Which part of a budget SLO a series is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Part {
    Bad,
    Good,
    Total,
}

impl Part {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Part::Bad => "bad",
            Part::Good => "good",
            Part::Total => "total",
        }
    }
}

/// How a latency SLO's threshold bucket is matched.
#[derive(Clone, Copy, Debug)]
pub enum Le<'a> {
    /// The `le` label as this Prometheus spells it (found by [`resolve_buckets`]).
    Found(&'a str),
    /// Every spelling client libraries use (`1` and `1.0`): for rules, written without
    /// asking Prometheus.
    AnySpelling,
}

/// A budget SLO's parts as PromQL templates with `{{window}}`: `bad` or `good`, and
/// `total`, each keeping the SLO's grouping.
#[derive(Clone, Debug, PartialEq)]
pub struct Parts {
    /// `Bad` or `Good`.
    pub first: Part,
    pub first_promql: String,
    pub total_promql: String,
    /// Where windows of [`RECORDED_MIN_WINDOW`] or more are read from the recorded
    /// per-interval increases (`vitals rules`) instead of the raw series; None: raw.
    pub recorded: Option<Recorded>,
    /// The counters of both parts, when vitals writes the parts itself (a latency SLO's
    /// histogram): their increase over an interval is then recorded exactly, as the
    /// difference of consecutive samples, instead of by `rate()`'s extrapolation.
    pub counters: Option<[String; 2]>,
    /// `sum` or `sum by (...)` (for [`Parts::counters`]).
    pub group: String,
}

/// How a budget SLO's recorded increases are selected and summed.
#[derive(Clone, Debug, PartialEq)]
pub struct Recorded {
    /// `slo="x", vitals_fingerprint="..."`.
    selector: String,
    /// `sum` or `sum by (...)`: the SLO's grouping.
    group: String,
}

impl Recorded {
    /// A part per second over `window`: its recorded increases summed, over the window's
    /// seconds.
    fn over(&self, part: Part, window: Duration) -> String {
        format!(
            "{} (sum_over_time({}{{{}}}[{window}])) / {}",
            self.group,
            increase_record(part),
            self.selector,
            window.secs()
        )
    }
}

impl Parts {
    /// Both parts over `window`, as per-second rates: from the raw series, or, for long
    /// windows of an SLO with [`Parts::recorded`], the recorded increases summed over the
    /// window and divided by its length.
    pub(crate) fn at(&self, window: Duration) -> [(Part, String); 2] {
        [
            (
                self.first,
                self.one_at(self.first, &self.first_promql, window),
            ),
            (
                Part::Total,
                self.one_at(Part::Total, &self.total_promql, window),
            ),
        ]
    }

    fn one_at(&self, part: Part, template: &str, window: Duration) -> String {
        match &self.recorded {
            Some(r) if window >= RECORDED_MIN_WINDOW => r.over(part, window),
            _ => fill_window(template, window),
        }
    }

    /// Both parts per second over each `step` (a whole number of [`RECORD_INTERVAL`]s),
    /// summed from the recorded increases whatever its length: on a grid of such steps, each
    /// recorded point falls in exactly one step. Raw without [`Parts::recorded`].
    pub(crate) fn at_step(&self, step: Duration) -> [(Part, String); 2] {
        let forced = |part, template: &str| match &self.recorded {
            Some(r) => r.over(part, step),
            None => fill_window(template, step),
        };
        [
            (self.first, forced(self.first, &self.first_promql)),
            (Part::Total, forced(Part::Total, &self.total_promql)),
        ]
    }

    /// These parts read from the recorded increases of `slo` (rules with its current
    /// fingerprint).
    pub(crate) fn reading_recorded(mut self, slo: &Slo) -> Parts {
        self.recorded = Some(Recorded {
            selector: format!(
                "slo=\"{}\", vitals_fingerprint=\"{}\"",
                escape_promql_string(&slo.name),
                fingerprint(slo)
            ),
            group: group_clause(&slo.group_by),
        });
        self
    }

    /// The rules' expressions of both parts' increase over one [`RECORD_INTERVAL`] (from the
    /// raw series), with the names they are recorded under.
    pub(crate) fn increase_rules(&self) -> [(String, String); 2] {
        let raw = Parts {
            recorded: None,
            ..self.clone()
        };
        let i = RECORD_INTERVAL;
        match &self.counters {
            // Exact differences of consecutive evaluations ([`exact_increase`]).
            Some([first, total]) => [(self.first, first), (Part::Total, total)]
                .map(|(p, c)| (increase_record(p), exact_increase(&self.group, c))),
            None => raw.at(i).map(|(part, promql)| {
                (increase_record(part), format!("({promql})\n* {}", i.secs()))
            }),
        }
    }

    /// Whether the first part counts good events (the bad ones are total - good).
    pub(crate) fn counts_good(&self) -> bool {
        self.first == Part::Good
    }

    /// The error ratio over `window`: bad / total, or 1 - good / total.
    pub(crate) fn error_ratio(&self, window: Duration) -> String {
        let [(_, first), (_, total)] = self.at(window);
        if self.counts_good() {
            format!("1 - (\n  ({first})\n  /\n  ({total})\n)")
        } else {
            format!("({first})\n/\n({total})")
        }
    }

    /// Both parts over every window in one expression, each series tagged `vitals_part`
    /// and `vitals_window` (the window's label).
    pub(crate) fn over_windows(&self, windows: &[(String, Duration)]) -> String {
        let mut terms = Vec::new();
        for (label, d) in windows {
            for (part, promql) in self.at(*d) {
                terms.push(tag(
                    &promql,
                    &[("vitals_part", part.as_str()), ("vitals_window", label)],
                ));
            }
        }
        terms.join("\n  or ")
    }
}

/// The increase of the counters `selector` picks since one [`RECORD_INTERVAL`] ago, per
/// series, aggregated by `group` (`sum`, `sum by (...)`). Recorded at every interval, these
/// differences telescope: their sum over any window is the counters' increase between its
/// ends. A counter that went down was reset: its value is what it counted since.
pub(crate) fn exact_increase(group: &str, selector: &str) -> String {
    let (c, i) = (selector, RECORD_INTERVAL);
    format!("{group} (\n  ({c} - {c} offset {i}) >= 0\n  or\n  ({c} and {c} < {c} offset {i})\n)")
}

/// `{{window}}` replaced by a duration.
pub(crate) fn fill_window(t: &str, w: Duration) -> String {
    let mut v = BTreeMap::new();
    v.insert("window".to_string(), w.to_string());
    template::substitute(t, &v)
}

/// `sum` or `sum by (a, b)`: the aggregation that keeps an SLO's groups.
pub(crate) fn group_clause(group_by: &[String]) -> String {
    if group_by.is_empty() {
        "sum".into()
    } else {
        format!("sum by ({})", group_by.join(", "))
    }
}

/// ` by (a, b)` or nothing.
fn by_clause(group_by: &[String]) -> String {
    if group_by.is_empty() {
        String::new()
    } else {
        format!(" by ({})", group_by.join(", "))
    }
}

fn le_matcher(le: Le, threshold: f64) -> String {
    match le {
        Le::Found(l) => format!("le=\"{}\"", escape_promql_string(l)),
        Le::AnySpelling => {
            let mut forms = vec![format!("{threshold}")];
            if threshold.fract() == 0.0 {
                forms.push(format!("{threshold:.1}"));
            }
            let alts: Vec<String> = forms.iter().map(|f| f.replace('.', "\\\\.")).collect();
            format!("le=~\"{}\"", alts.join("|"))
        }
    }
}

/// The parts of a budget SLO (None for a threshold SLO).
pub(crate) fn parts(slo: &Slo, le: Le) -> Option<Parts> {
    let Objective::Budget { sli, .. } = &slo.objective else {
        return None;
    };
    Some(match sli {
        Sli::BadTotal { bad, total } => Parts {
            first: Part::Bad,
            first_promql: bad.clone(),
            total_promql: total.clone(),
            recorded: None,
            counters: None,
            group: group_clause(&slo.group_by),
        },
        Sli::GoodTotal { good, total } => Parts {
            first: Part::Good,
            first_promql: good.clone(),
            total_promql: total.clone(),
            recorded: None,
            counters: None,
            group: group_clause(&slo.group_by),
        },
        Sli::Latency {
            metric,
            selector,
            threshold,
        } => {
            let sel = selector.trim().trim_end_matches(',');
            let m = le_matcher(le, *threshold);
            let with_le = if sel.is_empty() {
                m
            } else {
                format!("{sel}, {m}")
            };
            let g = group_clause(&slo.group_by);
            Parts {
                first: Part::Good,
                first_promql: format!("{g} (rate({metric}_bucket{{{with_le}}}[{{{{window}}}}]))"),
                total_promql: format!("{g} (rate({metric}_count{{{sel}}}[{{{{window}}}}]))"),
                recorded: None,
                counters: Some([
                    format!("{metric}_bucket{{{with_le}}}"),
                    format!("{metric}_count{{{sel}}}"),
                ]),
                group: g,
            }
        }
    })
}

/// The evaluation interval of the rule group recording budget SLOs' increases, and the
/// increase window of every point.
pub const RECORD_INTERVAL: Duration = Duration::from_secs(300);

/// Windows at least this long are summed from the recorded increases (288 points or more);
/// shorter ones (the burn-rate windows up to 6 hours) read few raw samples and stay raw:
/// a recorded sum is late by up to one interval, which is 0.35 % of a day but 8 % of an
/// hour. See docs/recording.md for the error bound.
pub const RECORDED_MIN_WINDOW: Duration = Duration::from_secs(86_400);

/// The record name of a part's increase over one interval: `slo:sli_bad:increase5m`.
pub(crate) fn increase_record(part: Part) -> String {
    format!("slo:sli_{}:increase{RECORD_INTERVAL}", part.as_str())
}

/// A budget SLO's definition, normalised: what its recorded series and rules depend on
/// (name, component, parts as PromQL, grouping, objective, window).
fn normalised(slo: &Slo) -> String {
    // The version of the recording rules' form: a new form makes every fingerprint new.
    let mut s = format!(
        "recording=1\nname={}\ncomponent={}\n",
        slo.name, slo.component
    );
    if let Objective::Budget { target, window, .. } = &slo.objective {
        if let Some(p) = parts(slo, Le::AnySpelling) {
            s.push_str(&format!(
                "{}={}\ntotal={}\n",
                p.first.as_str(),
                p.first_promql.trim(),
                p.total_promql.trim()
            ));
        }
        s.push_str(&format!("target={}\n", number(*target)));
        s.push_str(&match window {
            SloWindow::Rolling(d) => format!("window={d}\n"),
            SloWindow::Calendar { period, tz } => format!("calendar={period:?} {tz}\n"),
        });
    }
    s.push_str(&format!("group_by={}\n", slo.group_by.join(",")));
    s
}

/// The fingerprint of a budget SLO's definition: 16 hex digits of the FNV-1a hash of its
/// normalised form. `vitals rules` writes it on every recorded increase
/// (`vitals_fingerprint`); the commands read only series with the current one.
pub fn fingerprint(slo: &Slo) -> String {
    fnv1a(&normalised(slo))
}

/// 16 hex digits of the 64-bit FNV-1a hash of `s`: the fingerprints of recorded series.
pub(crate) fn fnv1a(s: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// The probe of a budget SLO's recorded increases: how many points each fingerprint has
/// over `window` before the evaluation time (`vitals_probe="window"`) and over the last two
/// intervals (`vitals_probe="recent"`), one series per SLO and fingerprint. The probes of
/// every SLO are joined with `or` into one query.
pub(crate) fn recorded_probe(slo: &Slo, window: Duration) -> String {
    let sel = format!("slo=\"{}\"", escape_promql_string(&slo.name));
    let count = |w: Duration| {
        format!(
            "max by (slo, vitals_fingerprint) (count_over_time({}{{{sel}}}[{w}]))",
            increase_record(Part::Total)
        )
    };
    format!(
        "{}\n  or {}",
        tag(&count(window), &[("vitals_probe", "window")]),
        tag(
            &count(Duration::from_secs(2 * RECORD_INTERVAL.secs())),
            &[("vitals_probe", "recent")]
        )
    )
}

/// A threshold SLO's value (None for a budget SLO).
pub(crate) fn threshold(slo: &Slo) -> Option<&ThresholdExpr> {
    match &slo.objective {
        Objective::Threshold { expr, .. } => Some(expr),
        Objective::Budget { .. } => None,
    }
}

/// The alert condition of a threshold SLO: its value where the objective is violated.
pub(crate) fn violation(slo: &Slo) -> Option<String> {
    let Objective::Threshold {
        expr, op, value, ..
    } = &slo.objective
    else {
        return None;
    };
    let indented: Vec<String> = expr
        .promql
        .trim()
        .lines()
        .map(|l| format!("  {l}"))
        .collect();
    Some(format!(
        "(\n{}\n) {} {}",
        indented.join("\n"),
        op.violated_promql(),
        number(*value)
    ))
}

/// 1 where a threshold SLO is violated and 0 where it holds, worst group member per group.
pub(crate) fn violated_bool(slo: &Slo) -> Option<String> {
    let Objective::Threshold {
        expr, op, value, ..
    } = &slo.objective
    else {
        return None;
    };
    Some(format!(
        "max{} (({}) {} bool {})",
        by_clause(&slo.group_by),
        expr.promql,
        op.violated_promql(),
        number(*value)
    ))
}

/// The worst value per group of `promql` for a threshold SLO's comparison (the highest for
/// an upper bound).
pub(crate) fn worst(slo: &Slo, op: Op, promql: &str) -> String {
    let f = if op.upper_bound() { "max" } else { "min" };
    format!("{f}{} ({promql})", by_clause(&slo.group_by))
}

/// A period KPI's value over `window` instead of its own: its catalog query with `window`
/// set, worst per group (None unless it is a catalog query that takes a `window`).
pub(crate) fn threshold_over(slo: &Slo, catalog: &Catalog, window: Duration) -> Option<String> {
    let Objective::Threshold { expr, op, .. } = &slo.objective else {
        return None;
    };
    let (name, params) = expr.query.as_ref()?;
    let def = catalog.get(name)?;
    if !def.params.contains_key("window") {
        return None;
    }
    let mut p = params.clone();
    p.insert("window".into(), window.to_string());
    let e = def.expand(&p).ok()?;
    Some(worst(slo, *op, &e.promql))
}

/// Minutes in which a threshold SLO was violated during the `window` before the evaluation
/// time, per group: its violation sampled every `step` (see [`sample_step`]), each sample
/// counting for `step`. A breach is counted to within one step at each of its ends.
pub(crate) fn minutes_violated(slo: &Slo, window: Duration, step: Duration) -> Option<String> {
    violated_bool(slo).map(|v| {
        let per = step.secs_f64() / 60.0;
        if step == Duration::from_secs(60) {
            format!("sum_over_time(({v})[{window}:1m])")
        } else {
            format!("sum_over_time(({v})[{window}:{step}]) * {}", number(per))
        }
    })
}

/// The most samples a subquery over a period takes (a week and its daylight-saving hour at
/// one minute): what a period's peaks and breaches cost does not grow with its length.
pub const MAX_SAMPLES: u64 = 10_200;

/// The step at which a subquery samples a period of length `len` (peaks, time broken): one
/// minute up to a week, then the shortest of 2, 5, 10, 15, 30 minutes or an hour that keeps
/// it under [`MAX_SAMPLES`] (5 minutes for a month).
pub fn sample_step(len: Duration) -> Duration {
    [60u64, 120, 300, 600, 900, 1800, 3600]
        .into_iter()
        .map(Duration::from_secs)
        .find(|s| len.secs() / s.secs() <= MAX_SAMPLES)
        .unwrap_or(Duration::from_secs(3600))
}

/// A number as PromQL reads it, without the binary noise of `1 - 0.995`
/// (0.0050000000000000044 is written 0.005: they differ in the 17th digit).
pub(crate) fn number(v: f64) -> String {
    let s = format!("{:.12e}", v);
    let back: f64 = s.parse().unwrap_or(v);
    format!("{back}")
}

/// The length the burn-rate windows are scaled from, for rules (written once, not per
/// evaluation): the rolling window, or the calendar period's usual length (a week; 30 days
/// for a month, whose real length `check` uses).
pub(crate) fn rule_window(w: &SloWindow) -> Duration {
    match w {
        SloWindow::Rolling(d) => *d,
        SloWindow::Calendar {
            period: Calendar::Week,
            ..
        } => Duration::from_secs(7 * 86_400),
        SloWindow::Calendar {
            period: Calendar::Month,
            ..
        } => Duration::from_secs(30 * 86_400),
    }
}

/// A budget SLO's target and burn-rate pairs as evaluated at `at`.
pub(crate) fn pairs_at(slo: &Slo, at: DateTime<Utc>) -> Option<(f64, [BurnPair; 4])> {
    match &slo.objective {
        Objective::Budget { target, window, .. } => {
            Some((*target, math::burn_pairs(resolve(window, at).length)))
        }
        Objective::Threshold { .. } => None,
    }
}

/// The query listing a latency SLO's `le` buckets (None for other SLOs).
pub(crate) fn bucket_query(slo: &Slo) -> Option<String> {
    match &slo.objective {
        Objective::Budget {
            sli: Sli::Latency {
                metric, selector, ..
            },
            ..
        } => {
            let sel = selector.trim().trim_end_matches(',');
            Some(format!("count by (le) ({metric}_bucket{{{sel}}})"))
        }
        _ => None,
    }
}

/// Matches a latency threshold with the `le` labels Prometheus has.
pub(crate) fn find_le(threshold: f64, les: &[String]) -> Option<String> {
    les.iter()
        .find(|le| {
            le.parse::<f64>().is_ok_and(|v| {
                v.is_finite() && (v - threshold).abs() <= 1e-9 * v.abs().max(threshold.abs())
            })
        })
        .cloned()
}

/// Why a latency SLO's bucket could not be found.
#[derive(Clone, Debug)]
pub enum BucketProblem {
    /// The threshold is not one of the histogram's buckets: a configuration error.
    NotABucket { message: String },
    /// No series of the histogram match the selector: no data.
    NoSeries { message: String },
    /// The query failed.
    Query(PromError),
}

/// The `le` label of every latency SLO, by name (other SLOs are not in it).
pub type Buckets = BTreeMap<String, Result<String, BucketProblem>>;

/// Asks Prometheus which `le` buckets each latency SLO's histogram has at `at` (one query
/// per latency SLO, sent together).
pub(crate) async fn resolve_buckets(
    slos: &[Slo],
    prom: &Prom,
    at: DateTime<Utc>,
    progress: &(dyn Fn() + Sync),
) -> Buckets {
    let mut batch = Batch::new();
    for slo in slos {
        if let Some(q) = bucket_query(slo) {
            batch.add(
                slo.name.clone(),
                Request::instant(format!("slo {} buckets", slo.name), q, at),
            );
        }
    }
    let mut answers = prom.run_batch(batch, progress).await;
    let mut out = Buckets::new();
    for slo in slos {
        let Some(answer) = answers.take(&slo.name) else {
            continue;
        };
        out.insert(slo.name.clone(), bucket_of(slo, answer));
    }
    out
}

fn bucket_of(slo: &Slo, answer: Result<Answer, PromError>) -> Result<String, BucketProblem> {
    let Objective::Budget {
        sli: Sli::Latency {
            metric, threshold, ..
        },
        ..
    } = &slo.objective
    else {
        unreachable!("only latency SLOs ask for buckets");
    };
    let a = answer.map_err(BucketProblem::Query)?;
    let les: Vec<String> = a
        .series
        .iter()
        .filter_map(|s| s.labels.get("le").cloned())
        .collect();
    if les.is_empty() {
        return Err(BucketProblem::NoSeries {
            message: format!("no data: no `{metric}_bucket` series match the selector"),
        });
    }
    find_le(*threshold, &les).ok_or_else(|| {
        let mut bounds: Vec<f64> = les
            .iter()
            .filter_map(|l| l.parse().ok())
            .filter(|v: &f64| v.is_finite())
            .collect();
        bounds.sort_by(f64::total_cmp);
        BucketProblem::NotABucket {
            message: format!(
                "threshold {threshold} s is not an `le` bucket of {metric} (its buckets: {}); pick one of them",
                bounds
                    .iter()
                    .map(|b| b.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    })
}

/// The parts of an SLO with the bucket found for it: `Ok(None)` for a threshold SLO.
pub(crate) fn parts_with(slo: &Slo, buckets: &Buckets) -> Result<Option<Parts>, BucketProblem> {
    match buckets.get(&slo.name) {
        Some(Ok(le)) => Ok(parts(slo, Le::Found(le))),
        Some(Err(p)) => Err(p.clone()),
        None => Ok(parts(slo, Le::AnySpelling)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_le_label_of_a_threshold_numerically() {
        let les = ["+Inf".to_string(), "0.25".into(), "0.5".into(), "1".into()];
        assert_eq!(find_le(0.5, &les), Some("0.5".into()));
        assert_eq!(find_le(1.0, &les), Some("1".into()));
        assert_eq!(find_le(0.3, &les), None);
        let python = ["1.0".to_string()];
        assert_eq!(find_le(1.0, &python), Some("1.0".into()));
    }

    fn latency_slo(group_by: &[&str]) -> Slo {
        Slo {
            name: "x".into(),
            component: "shop".into(),
            description: String::new(),
            kind: super::super::model::SloKind::Latency,
            objective: Objective::Budget {
                sli: Sli::Latency {
                    metric: "http_request_duration_seconds".into(),
                    selector: "service=\"shop\"".into(),
                    threshold: 0.5,
                },
                target: 0.95,
                window: SloWindow::Rolling(Duration::from_secs(86_400)),
                min_events: 0.0,
            },
            on_no_data: Default::default(),
            group_by: group_by.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn latency_parts_add_the_le_matcher_to_the_selector() {
        let p = parts(&latency_slo(&["handler"]), Le::Found("0.5")).unwrap();
        assert_eq!(
            p.first_promql,
            "sum by (handler) (rate(http_request_duration_seconds_bucket{service=\"shop\", le=\"0.5\"}[{{window}}]))"
        );
        assert_eq!(
            p.total_promql,
            "sum by (handler) (rate(http_request_duration_seconds_count{service=\"shop\"}[{{window}}]))"
        );
        let any = parts(&latency_slo(&[]), Le::AnySpelling).unwrap();
        assert!(
            any.first_promql.contains(r#"le=~"0\\.5""#),
            "{}",
            any.first_promql
        );
    }

    #[test]
    fn tags_every_part_and_window_in_one_query() {
        let p = parts(&latency_slo(&[]), Le::Found("0.5")).unwrap();
        let q = p.over_windows(&[
            ("slo".into(), Duration::from_secs(86_400)),
            ("5m".into(), Duration::from_secs(300)),
        ]);
        assert_eq!(q.matches(" or ").count(), 3);
        assert!(q.contains(r#""vitals_part", "good""#), "{q}");
        assert!(q.contains("[1d]"), "{q}");
        assert!(promql_parser::parser::parse(&q).is_ok());
    }

    #[test]
    fn long_windows_read_recorded_increases_and_short_ones_raw() {
        let slo = latency_slo(&["handler"]);
        let p = parts(&slo, Le::Found("0.5"))
            .unwrap()
            .reading_recorded(&slo);
        let fp = fingerprint(&slo);
        let [(_, good), (_, total)] = p.at(Duration::from_secs(28 * 86_400));
        assert_eq!(
            good,
            format!(
                "sum by (handler) (sum_over_time(slo:sli_good:increase5m{{slo=\"x\", vitals_fingerprint=\"{fp}\"}}[28d])) / 2419200"
            )
        );
        assert!(total.starts_with("sum by (handler) (sum_over_time(slo:sli_total:increase5m"));
        let [(_, short), _] = p.at(Duration::from_secs(3600));
        assert!(
            short.contains("rate(http_request_duration_seconds_bucket"),
            "{short}"
        );
        // Per step (incidents, the burn-down), recorded whatever the step's length.
        let [(_, good), _] = p.at_step(Duration::from_secs(600));
        assert_eq!(
            good,
            format!(
                "sum by (handler) (sum_over_time(slo:sli_good:increase5m{{slo=\"x\", vitals_fingerprint=\"{fp}\"}}[10m])) / 600"
            )
        );
        let raw = parts(&slo, Le::Found("0.5")).unwrap();
        assert_eq!(
            raw.at_step(Duration::from_secs(600)),
            raw.at(Duration::from_secs(600))
        );
        for (_, e) in p.increase_rules() {
            assert!(promql_parser::parser::parse(&e).is_ok(), "{e}");
            assert!(
                e.contains("offset 5m"),
                "latency SLOs record exact differences: {e}"
            );
        }
        // Another objective, another fingerprint.
        let mut edited = slo.clone();
        if let Objective::Budget { target, .. } = &mut edited.objective {
            *target = 0.96;
        }
        assert_ne!(fingerprint(&edited), fp);
        assert_eq!(fingerprint(&slo.clone()), fp);
    }

    #[test]
    fn subqueries_take_as_many_samples_for_a_month_as_for_a_week() {
        let d = |days: u64| Duration::from_secs(days * 86_400);
        assert_eq!(sample_step(d(1)), Duration::from_secs(60));
        assert_eq!(
            sample_step(Duration::from_secs(7 * 86_400 + 3600)),
            Duration::from_secs(60)
        );
        assert_eq!(sample_step(d(31)), Duration::from_secs(300));
        assert!(d(31).secs() / 300 <= MAX_SAMPLES);
        let slo = Slo {
            objective: Objective::Threshold {
                expr: ThresholdExpr {
                    promql: "x".into(),
                    unit: crate::units::Unit::Ratio,
                    query: None,
                    window: None,
                    members: None,
                },
                op: Op::Le,
                value: 0.05,
                warn: None,
                for_: None,
                severity: Default::default(),
            },
            ..latency_slo(&[])
        };
        assert_eq!(
            minutes_violated(&slo, d(30), Duration::from_secs(300)).unwrap(),
            "sum_over_time((max ((x) > bool 0.05))[30d:5m]) * 5"
        );
    }

    #[test]
    fn numbers_are_written_without_binary_noise() {
        assert_eq!(number(1.0 - 0.995), "0.005");
        assert_eq!(number(14.4), "14.4");
    }
}
