//! Evaluating SLOs against Prometheus at an instant: their PromQL comes from the SLI layer
//! ([`super::sli`]), the requests are sent together, and the answers become rows (one per
//! SLO, or per group with `group_by`).
//!
//! A ratio or latency SLO costs one query for every window it needs (the SLO window and the
//! seven burn-rate windows are asked for in a single PromQL expression, each part tagged
//! with `vitals_part`/`vitals_window` labels); a latency SLO first asks which `le` buckets
//! exist; a threshold SLO is one query.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::math::{self, Budget, BurnPair};
use super::model::{Objective, OnNoData, Op, Slo, SloKind};
use super::sli::{self, BucketProblem, RECORD_INTERVAL, STITCHED_MIN_WINDOW, Stitches};
use super::window::{Resolved, resolve};
use crate::cli::SliSource;
use crate::duration::Duration;
use crate::prom::{Answer, Batch, Prom, PromError, Request, Series, tag};
use crate::units::Unit;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Warn,
    Inconclusive,
    Fail,
}

impl Status {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Inconclusive => "inconclusive",
            Status::Fail => "fail",
        }
    }

    /// The overall status of several rows: any failure, else anything undecided, else any
    /// warning, else pass.
    pub(crate) fn overall(rows: impl IntoIterator<Item = Status>) -> Status {
        rows.into_iter().fold(Status::Pass, |a, b| a.max(b))
    }
}

/// Event counts of a ratio or latency SLO over its window.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Events {
    pub total: f64,
    pub bad: f64,
    pub good: f64,
}

/// One burn-rate pair as evaluated.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Burn {
    /// page or ticket.
    pub severity: &'static str,
    /// Long and short windows (scaled to the SLO window).
    pub long: String,
    pub short: String,
    /// The threshold both windows must exceed.
    pub factor: f64,
    /// Burn rate over each window (null without traffic there).
    pub long_rate: Option<f64>,
    pub short_rate: Option<f64>,
    /// Whether the alert condition holds.
    pub firing: bool,
}

/// The result of one SLO (or one group of it): the `slos[]` entries of
/// `vitals check --format json`.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// SLO name.
    pub name: String,
    pub component: String,
    /// ratio, latency or threshold.
    pub kind: SloKind,
    /// Why the SLO matters.
    pub description: String,
    /// Group labels (`group_by`), absent without grouping.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub group: BTreeMap<String, String>,
    /// Labels of the series a threshold SLO's value comes from (the worst one).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub series: BTreeMap<String, String>,
    pub status: Status,
    /// One line on why the status is what it is.
    pub reason: String,
    /// The SLI (good/total, for ratio and latency) or the measured value (threshold);
    /// null when there is none, with `note` saying why.
    pub value: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// value OP objective must hold: `>=` target for budgets, the configured op otherwise.
    pub op: Op,
    /// The target SLI (a fraction) or the threshold.
    pub objective: f64,
    /// Warning level of a threshold SLO.
    pub warn: Option<f64>,
    /// Unit of value and objective.
    pub unit: Unit,
    /// The SLO window as evaluated (ratio and latency).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<Resolved>,
    /// The share of the SLO window Prometheus has data for (ratio and latency; from the
    /// earliest scrape it keeps, to one step of a few hundred across the window). Below
    /// 0.9 the reason says so: the SLO is judged on part of its window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coverage: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<Events>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget: Option<Budget>,
    /// Multi-window burn rates (ratio and latency).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub burn_rates: Vec<Burn>,
    /// Seconds until the budget is spent at the current (shortest long window) burn rate;
    /// 0 when spent, null when nothing burns.
    pub time_to_exhaustion_seconds: Option<f64>,
    /// The query failure, when one made the SLO inconclusive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// A problem with the SLO itself found while evaluating it (exit 2).
    #[serde(skip)]
    pub config_error: bool,
    /// Warnings Prometheus attached to the SLO's queries.
    #[serde(skip)]
    pub warnings: Vec<String>,
    /// The `le` label of a latency SLO's threshold bucket, as Prometheus spells it.
    #[serde(skip)]
    pub le: Option<String>,
    /// Where the SLI's windows of 30 minutes or more were read from: `recorded` (the per-interval
    /// increases `vitals rules` records, with the SLO's current fingerprint) or `raw`.
    pub source: Source,
    /// Why the recorded series were not used, or what is wrong with them (stale rules,
    /// short coverage).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_note: Option<String>,
}

/// Where an SLO's long windows were read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Raw,
    Recorded,
}

impl Source {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Source::Raw => "raw",
            Source::Recorded => "recorded",
        }
    }
}

impl Row {
    fn new(slo: &Slo, unit: Unit, op: Op, objective: f64) -> Row {
        Row {
            name: slo.name.clone(),
            component: slo.component.clone(),
            kind: slo.kind,
            description: slo.description.clone(),
            group: BTreeMap::new(),
            series: BTreeMap::new(),
            status: Status::Inconclusive,
            reason: String::new(),
            value: None,
            note: None,
            op,
            objective,
            warn: None,
            unit,
            window: None,
            coverage: None,
            events: None,
            budget: None,
            burn_rates: Vec::new(),
            time_to_exhaustion_seconds: None,
            error: None,
            config_error: false,
            warnings: Vec::new(),
            le: None,
            source: Source::Raw,
            source_note: None,
        }
    }

    fn no_data(mut self, slo: &Slo, why: String) -> Row {
        self.status = match slo.on_no_data {
            OnNoData::Inconclusive => Status::Inconclusive,
            OnNoData::Fail => Status::Fail,
            OnNoData::Pass => Status::Pass,
        };
        self.reason = format!(
            "{why} (on_no_data = {})",
            match slo.on_no_data {
                OnNoData::Inconclusive => "inconclusive",
                OnNoData::Fail => "fail",
                OnNoData::Pass => "pass",
            }
        );
        self
    }

    fn failed(mut self, e: &PromError) -> Row {
        self.status = Status::Inconclusive;
        self.reason = "a query failed".into();
        self.error = Some(format!("{e} (hint: {})", e.hint()));
        self
    }
}

/// What an evaluation needs to know about one budget SLO while its queries run.
struct BudgetPlan {
    target: f64,
    window: Resolved,
    pairs: [BurnPair; 4],
    min_events: f64,
    /// The range the SLO window's rates are read over, and that they are multiplied by for
    /// event counts: the elapsed window, cut to the data Prometheus has (see [`data_span`]).
    span: Duration,
}

fn budget_plan(slo: &Slo, at: DateTime<Utc>) -> Option<BudgetPlan> {
    let Objective::Budget {
        target,
        window,
        min_events,
        ..
    } = &slo.objective
    else {
        return None;
    };
    let w = resolve(window, at);
    Some(BudgetPlan {
        target: *target,
        pairs: math::burn_pairs(w.length),
        span: w.elapsed.max(Duration::from_secs(60)),
        window: w,
        min_events: *min_events,
    })
}

/// A budget SLO's plan with its window's range cut to the data there is.
fn budget_plan_at(
    slo: &Slo,
    at: DateTime<Utc>,
    data_start: Option<f64>,
    pad: Duration,
) -> Option<BudgetPlan> {
    let mut plan = budget_plan(slo, at)?;
    plan.span = data_span(plan.span, at, data_start, pad);
    Some(plan)
}

/// The range an SLO window's rates are read over: the elapsed window, or, when the data
/// starts inside it, from one data-start step (`pad`) before the data start found, rounded up
/// to a minute. Engines differ on the rate of a range that has data over part of it only:
/// Prometheus divides the increase by the whole range, VictoriaMetrics (MetricsQL) by the
/// time its samples span, so `rate x range` is the increase on the first and the increase
/// times range / data span on the second (twice the events for 14 days of data in a 28-day
/// window). A range that barely holds the data gives the same count on both: exact on
/// Prometheus, high by at most `pad` / data span on VictoriaMetrics (docs/backends.md).
fn data_span(
    elapsed: Duration,
    at: DateTime<Utc>,
    data_start: Option<f64>,
    pad: Duration,
) -> Duration {
    let Some(first) = data_start else {
        return elapsed;
    };
    let have = crate::timespec::unix_seconds(at) - first + pad.secs_f64();
    if !have.is_finite() || have >= elapsed.secs_f64() {
        return elapsed;
    }
    let minutes = (have.max(60.0) / 60.0).ceil() as u64;
    Duration::from_secs(minutes * 60).min(elapsed)
}

fn windows_of(plan: &BudgetPlan) -> Vec<(String, Duration)> {
    let mut w = vec![("slo".to_string(), plan.span)];
    for d in math::alert_windows(&plan.pairs) {
        w.push((d.to_string(), d));
    }
    w
}

/// Rates by group and window label: group -> window -> part -> per-second rate.
type Tagged = BTreeMap<BTreeMap<String, String>, BTreeMap<String, BTreeMap<String, f64>>>;

/// The answer's rates by group, window and part; the pieces of stitched windows
/// (`vitals_piece`) added up by [`Stitches::combine`].
fn untag(series: &[Series], group_by: &[String], stitches: &Stitches) -> Result<Tagged, String> {
    let mut out: Tagged = BTreeMap::new();
    let mut pieces: BTreeMap<BTreeMap<String, String>, BTreeMap<String, sli::Pieces>> =
        BTreeMap::new();
    for s in series {
        let part = s.labels.get("vitals_part").cloned().unwrap_or_default();
        let window = s.labels.get("vitals_window").cloned().unwrap_or_default();
        let piece = s.labels.get("vitals_piece").map(String::as_str);
        let mut group = BTreeMap::new();
        for g in group_by {
            match s.labels.get(g) {
                Some(v) => {
                    group.insert(g.clone(), v.clone());
                }
                None => {
                    return Err(format!(
                        "a series of `{part}` has no `{g}` label: aggregate with `sum by ({})`",
                        group_by.join(", ")
                    ));
                }
            }
        }
        let extra: Vec<&String> = s
            .labels
            .keys()
            .filter(|k| !k.starts_with("vitals_") && !group_by.contains(k))
            .collect();
        if !extra.is_empty() {
            return Err(format!(
                "`{part}` returns series labelled {:?}: aggregate them (sum(...)) or list the labels in group_by",
                extra
            ));
        }
        let v = s.value().unwrap_or(f64::NAN);
        let several = || format!("`{part}` returns several series for one group");
        if let Some(k) = piece.and_then(Stitches::piece_index) {
            let slot = pieces
                .entry(group)
                .or_default()
                .entry(window)
                .or_default()
                .entry(part.clone())
                .or_default();
            if slot[k].replace(v).is_some() {
                return Err(several());
            }
            continue;
        }
        let slot = out.entry(group).or_default().entry(window).or_default();
        if slot.insert(part.clone(), v).is_some() {
            return Err(several());
        }
    }
    for (group, mut windows) in pieces {
        let tail = windows.remove(sli::TAIL);
        let labels: Vec<&String> = stitches.windows.keys().collect();
        for label in labels {
            let own = windows.remove(label.as_str()).unwrap_or_default();
            let rates = stitches.combine(label, &own, tail.as_ref());
            if !rates.is_empty() {
                out.entry(group.clone())
                    .or_default()
                    .insert(label.clone(), rates);
            }
        }
    }
    Ok(out)
}

fn budget_rows(slo: &Slo, plan: &BudgetPlan, answer: &Answer, stitches: &Stitches) -> Vec<Row> {
    let base = Row {
        window: Some(plan.window.clone()),
        warnings: answer.warnings.clone(),
        ..Row::new(slo, Unit::Ratio, Op::Ge, plan.target)
    };
    let tagged = match untag(&answer.series, &slo.group_by, stitches) {
        Ok(t) => t,
        Err(e) => {
            let mut r = base;
            r.status = Status::Inconclusive;
            r.reason = "the SLO's queries do not fit it".into();
            r.error = Some(e);
            r.config_error = true;
            return vec![r];
        }
    };
    let good_total = sli::parts(slo, sli::Le::AnySpelling).is_some_and(|p| p.counts_good());
    // Error ratio of a window (None without traffic).
    let ratio = |w: &BTreeMap<String, BTreeMap<String, f64>>, label: &str| -> Option<(f64, f64)> {
        let parts = w.get(label)?;
        let total = *parts.get("total")?;
        if total.is_nan() || total <= 0.0 {
            return None;
        }
        let bad = if good_total {
            (total - parts.get("good").copied().unwrap_or(0.0)).max(0.0)
        } else {
            parts.get("bad").copied().unwrap_or(0.0)
        };
        Some((bad / total, total))
    };
    if tagged.is_empty() {
        return vec![base.no_data(slo, "no traffic: the queries returned no series".into())];
    }
    let mut rows = Vec::new();
    for (group, windows) in tagged {
        let mut r = base.clone();
        r.group = group;
        let elapsed = plan.span.secs_f64();
        r.burn_rates = plan
            .pairs
            .iter()
            .map(|p| {
                let long = ratio(&windows, &p.long.to_string())
                    .map(|(e, _)| math::burn_rate(plan.target, e));
                let short = ratio(&windows, &p.short.to_string())
                    .map(|(e, _)| math::burn_rate(plan.target, e));
                Burn {
                    severity: p.severity.as_str(),
                    long: p.long.to_string(),
                    short: p.short.to_string(),
                    factor: p.factor,
                    long_rate: long,
                    short_rate: short,
                    firing: long.is_some_and(|l| l > p.factor)
                        && short.is_some_and(|s| s > p.factor),
                }
            })
            .collect();
        let Some((err, total_rate)) = ratio(&windows, "slo") else {
            rows.push(r.no_data(slo, "no traffic in the SLO window".into()));
            continue;
        };
        let total = total_rate * elapsed;
        let bad = err * total;
        r.events = Some(Events {
            total,
            bad,
            good: total - bad,
        });
        if total < plan.min_events.max(f64::MIN_POSITIVE) {
            rows.push(r.no_data(
                slo,
                format!(
                    "only {} events in the window (min_events = {})",
                    total.round(),
                    plan.min_events
                ),
            ));
            continue;
        }
        let sli = 1.0 - err;
        r.value = Some(sli);
        r.budget = math::budget(plan.target, total, bad, plan.window.length);
        let current = r.burn_rates.first().and_then(|b| b.long_rate);
        r.time_to_exhaustion_seconds = r
            .budget
            .and_then(|b| {
                math::time_to_exhaustion(
                    b.remaining_ratio,
                    plan.window.length,
                    current.unwrap_or(0.0),
                )
            })
            .map(|d| d.secs_f64());
        let firing: Vec<&Burn> = r.burn_rates.iter().filter(|b| b.firing).collect();
        if sli < plan.target {
            r.status = Status::Fail;
            r.reason = format!(
                "SLI {} is below the objective {}: the error budget is spent ({} used)",
                Unit::Ratio.format(sli),
                Unit::Ratio.format(plan.target),
                Unit::Ratio.format(r.budget.map(|b| b.consumed_ratio).unwrap_or(f64::NAN))
            );
        } else if let Some(b) = firing.first() {
            r.status = Status::Warn;
            r.reason = format!(
                "burning the budget {:.1}x over {} and {:.1}x over {} (above {}x: {} alert)",
                b.long_rate.unwrap_or(f64::NAN),
                b.long,
                b.short_rate.unwrap_or(f64::NAN),
                b.short,
                b.factor,
                b.severity
            );
        } else {
            r.status = Status::Pass;
            r.reason = format!(
                "SLI {} meets {}; {} of the budget left",
                Unit::Ratio.format(sli),
                Unit::Ratio.format(plan.target),
                Unit::Ratio.format(r.budget.map(|b| b.remaining_ratio).unwrap_or(f64::NAN))
            );
        }
        rows.push(r);
    }
    rows
}

fn threshold_rows(slo: &Slo, unit: Unit, answer: &Answer) -> Vec<Row> {
    let Objective::Threshold {
        op,
        value,
        warn,
        expr,
        ..
    } = &slo.objective
    else {
        return vec![];
    };
    let mut base = Row::new(slo, unit, *op, *value);
    base.warn = *warn;
    base.warnings = answer.warnings.clone();
    let judge = |r: &mut Row, v: f64| {
        r.value = Some(v);
        if !op.holds(v, *value) {
            r.status = Status::Fail;
            r.reason = format!("{} is not {op} {}", unit.format(v), unit.format(*value));
        } else if let Some(w) = warn
            && !op.holds(v, *w)
        {
            r.status = Status::Warn;
            r.reason = format!(
                "{} is past the warning level {op} {}",
                unit.format(v),
                unit.format(*w)
            );
        } else {
            r.status = Status::Pass;
            r.reason = format!("{} {op} {}", unit.format(v), unit.format(*value));
        }
    };
    let finite: Vec<&Series> = answer
        .series
        .iter()
        .filter(|s| s.value().is_some_and(f64::is_finite))
        .collect();
    if slo.group_by.is_empty() {
        // The worst series decides; of equal ones, the first by labels (engines return
        // series in different orders).
        let worst = finite.iter().copied().max_by(|a, b| {
            let (x, y) = (a.value().unwrap_or_default(), b.value().unwrap_or_default());
            if op.upper_bound() {
                x.total_cmp(&y)
            } else {
                y.total_cmp(&x)
            }
            .then_with(|| b.labels.cmp(&a.labels))
        });
        return match worst {
            Some(s) => {
                let mut r = base;
                r.series = s.labels.clone();
                judge(&mut r, s.value().unwrap_or_default());
                // Several series: say which one decided (`queue=shop.orders`).
                if finite.len() > 1 && !r.series.is_empty() {
                    let l: Vec<String> = r.series.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    r.reason = format!("{} ({})", r.reason, l.join(", "));
                }
                vec![r]
            }
            None => {
                let why = if answer.series.is_empty() {
                    "no data: the query returned no series".to_string()
                } else {
                    "no data: every value is NaN (e.g. 0/0 without events)".to_string()
                };
                vec![base.no_data(slo, why)]
            }
        };
    }
    if answer.series.is_empty() && expr.members.is_none() {
        return vec![base.no_data(slo, "no data: the query returned no series".into())];
    }
    let mut rows = Vec::new();
    for s in &answer.series {
        let mut r = base.clone();
        r.group = slo
            .group_by
            .iter()
            .filter_map(|g| s.labels.get(g).map(|v| (g.clone(), v.clone())))
            .collect();
        match s.value() {
            Some(v) if v.is_finite() => judge(&mut r, v),
            Some(v) => {
                r.note = crate::units::non_finite_note(v);
                r = r.no_data(slo, "no data: the value is NaN or infinite".into());
            }
            None => r = r.no_data(slo, "no data".into()),
        }
        rows.push(r);
    }
    // A member the query names but that returned no series (its exporter is gone, its
    // target not scraped): a row of its own, no data, never left out of the verdict.
    if let Some((label, names)) = &expr.members {
        for name in names {
            if rows.iter().any(|r| r.group.get(label) == Some(name)) {
                continue;
            }
            let mut r = base.clone();
            r.group = BTreeMap::from([(label.clone(), name.clone())]);
            rows.push(r.no_data(slo, format!("no data: no series for {label}={name}")));
        }
    }
    rows.sort_by(|a, b| a.group.cmp(&b.group));
    rows
}

/// A row for an SLO whose bucket could not be found: a configuration error, no data, or a
/// failed query (one policy for every command, see [`sli`]).
fn bucket_problem_row(slo: &Slo, target: f64, problem: &BucketProblem) -> Row {
    let r = Row::new(slo, Unit::Ratio, Op::Ge, target);
    match problem {
        BucketProblem::NotABucket { message } => {
            let mut r = r;
            r.reason = "the latency threshold is not a bucket of the histogram".into();
            r.error = Some(message.clone());
            r.config_error = true;
            r
        }
        BucketProblem::NoSeries { message } => r.no_data(slo, message.clone()),
        BucketProblem::Query(e) => r.failed(e),
    }
}

/// Evaluates SLOs at `at`, reading long windows from `source`. `progress` is called once
/// per finished query.
pub(crate) async fn evaluate(
    slos: &[Slo],
    prom: &Prom,
    at: DateTime<Utc>,
    source: SliSource,
    progress: &(dyn Fn() + Sync),
) -> Vec<Row> {
    let buckets = sli::resolve_buckets(slos, prom, at, progress).await;
    evaluate_with(slos, prom, at, &buckets, source, progress).await
}

/// What the probe of the recorded series decided for one budget SLO.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Choice {
    /// Read the SLI's long windows from the recorded increases.
    Recorded { note: Option<String> },
    /// Read every window raw.
    Raw { note: Option<String> },
    /// `--source recorded` and there are no recorded series with the current fingerprint.
    Missing { note: String },
}

/// Points of each fingerprint's recorded increases, over the longest recorded window and
/// over the last two intervals.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Probe {
    pub window: BTreeMap<String, f64>,
    pub recent: BTreeMap<String, f64>,
    /// The time of each fingerprint's last point (Unix seconds).
    pub last: BTreeMap<String, f64>,
}

impl Probe {
    fn from_series(series: &[Series]) -> Probe {
        let mut p = Probe::default();
        for s in series {
            let fp = s
                .labels
                .get("vitals_fingerprint")
                .cloned()
                .unwrap_or_default();
            let v = s.value().unwrap_or(0.0);
            match s.labels.get("vitals_probe").map(String::as_str) {
                Some("window") => p.window.insert(fp, v),
                Some("recent") => p.recent.insert(fp, v),
                Some("last") => p.last.insert(fp, v),
                _ => None,
            };
        }
        p
    }
}

/// The longest window of `plan` that recorded series would serve (None: all are shorter
/// than [`STITCHED_MIN_WINDOW`] and read raw).
fn recorded_window(plan: &BudgetPlan) -> Option<Duration> {
    windows_of(plan)
        .into_iter()
        .map(|(_, d)| d)
        .filter(|d| *d >= STITCHED_MIN_WINDOW)
        .max()
}

/// Decides where one SLO's long windows come from. `needed` is how much of its longest
/// recorded window has raw data (from the data start), the span the recorded series must
/// cover.
pub(crate) fn choose(
    source: SliSource,
    current: &str,
    needed: Duration,
    probe: Result<&Probe, String>,
) -> Choice {
    let probe = match probe {
        Ok(p) => p,
        Err(e) => {
            let note = format!("could not read the recorded series ({e}): raw series used");
            return match source {
                SliSource::Recorded => Choice::Missing { note },
                _ => Choice::Raw { note: Some(note) },
            };
        }
    };
    let interval = RECORD_INTERVAL.secs_f64();
    let have = probe.window.get(current).copied().unwrap_or(0.0);
    let recent = probe.recent.get(current).copied().unwrap_or(0.0);
    // One point per interval: allow the first and the last to fall outside the span.
    let covered = have >= (needed.secs_f64() / interval).floor() - 2.0 && recent >= 1.0;
    let mut others: Vec<&String> = probe
        .window
        .keys()
        .chain(probe.recent.keys())
        .filter(|fp| fp.as_str() != current)
        .collect();
    others.sort();
    others.dedup();
    let stale = (!others.is_empty()).then(|| {
        format!(
            "stale recorded series: rules with fingerprint {} do not match slo.toml ({current}); regenerate them with `vitals rules`",
            others
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    });
    let have_text = crate::incidents::duration_text(have * interval, false);
    let needed_text = crate::incidents::duration_text(needed.secs_f64(), false);
    let short = format!(
        "recorded series with the current fingerprint cover {have_text} of the {needed_text} needed{}",
        if recent < 1.0 && have > 0.0 {
            ", and none is recent"
        } else {
            ""
        }
    );
    match source {
        SliSource::Raw => Choice::Raw { note: None },
        SliSource::Auto if covered => Choice::Recorded { note: stale },
        SliSource::Auto => {
            let why: Vec<String> = [(have > 0.0).then_some(short), stale]
                .into_iter()
                .flatten()
                .collect();
            Choice::Raw {
                note: (!why.is_empty()).then(|| format!("{}: raw series used", why.join("; "))),
            }
        }
        SliSource::Recorded if have > 0.0 => Choice::Recorded {
            note: [(!covered).then_some(short), stale]
                .into_iter()
                .flatten()
                .reduce(|a, b| format!("{a}; {b}")),
        },
        SliSource::Recorded => Choice::Missing {
            note: match stale {
                Some(s) => format!("no recorded series with the current fingerprint; {s}"),
                None => "no recorded series: load the rules of `vitals rules` into Prometheus (or backfill them)".into(),
            },
        },
    }
}

/// What the first phase of an evaluation found: a choice per budget SLO, the time of the
/// last recorded point of those read from recorded series, and the data start.
#[derive(Default)]
struct Sources {
    choices: BTreeMap<usize, Choice>,
    last: BTreeMap<usize, f64>,
    /// Threshold SLOs read from recorded KPI terms: their rewritten PromQL; a note for
    /// those `--source recorded` could not.
    thresholds: BTreeMap<usize, Result<String, String>>,
    data_start: Option<f64>,
}

/// A threshold SLO over a window of [`STITCHED_MIN_WINDOW`] or more whose every range over
/// the window is a recordable KPI term (`vitals-kpi-increases`): the window and the terms.
fn threshold_terms(slo: &Slo) -> Option<(Duration, Vec<crate::report::recorded::Term>)> {
    let Objective::Threshold { expr, .. } = &slo.objective else {
        return None;
    };
    let w = expr.window.filter(|w| *w >= STITCHED_MIN_WINDOW)?;
    crate::report::recorded::terms_over(&expr.promql, w)
        .ok()
        .map(|t| (w, t))
}

/// The first phase of an evaluation: the data start, and with recorded series allowed the
/// probe of every budget SLO's recorded increases asked with it; then a choice per SLO.
async fn choose_sources(
    slos: &[Slo],
    prom: &Prom,
    at: DateTime<Utc>,
    source: SliSource,
    progress: &(dyn Fn() + Sync),
) -> Sources {
    let mut choices = BTreeMap::new();
    let mut last = BTreeMap::new();
    let mut thresholds = BTreeMap::new();
    if source == SliSource::Raw {
        return Sources {
            data_start: lone_data_start(slos, prom, at, progress).await,
            ..Default::default()
        };
    }
    let mut batch = Batch::new();
    let mut probes: Vec<String> = Vec::new();
    let mut longest: BTreeMap<usize, (Duration, DateTime<Utc>)> = BTreeMap::new();
    for (i, slo) in slos.iter().enumerate() {
        let Some(plan) = budget_plan(slo, at) else {
            continue;
        };
        match recorded_window(&plan) {
            Some(w) => {
                probes.push(sli::recorded_probe(
                    slo,
                    w,
                    crate::timespec::unix_seconds(at),
                ));
                longest.insert(i, (w, at - w.to_chrono()));
            }
            None => {
                choices.insert(
                    i,
                    Choice::Raw {
                        note: (source == SliSource::Recorded).then(|| {
                            format!(
                                "its windows are shorter than {STITCHED_MIN_WINDOW} so far: raw series used"
                            )
                        }),
                    },
                );
            }
        }
    }
    let candidates: BTreeMap<usize, (Duration, Vec<crate::report::recorded::Term>)> = slos
        .iter()
        .enumerate()
        .filter_map(|(i, slo)| threshold_terms(slo).map(|t| (i, t)))
        .collect();
    if !candidates.is_empty() {
        probes.push(term_probe(slos, &candidates));
    }
    if longest.is_empty() && candidates.is_empty() {
        return Sources {
            choices,
            data_start: lone_data_start(slos, prom, at, progress).await,
            ..Default::default()
        };
    }
    // One query for every SLO's probe (each SLO's series carry its `slo` label).
    batch.add(
        usize::MAX - 1,
        Request::instant("slo recorded series", probes.join("\n  or "), at),
    );
    if let Some(req) = data_start_request(slos, at) {
        batch.add(usize::MAX, req);
    }
    let mut answers = prom.run_batch(batch, progress).await;
    let data_start = data_start_of(answers.take(&usize::MAX));
    let probed = answers.take(&(usize::MAX - 1));
    let at_s = crate::timespec::unix_seconds(at);
    for (i, (w, terms)) in &candidates {
        let slo = &slos[*i];
        let found = match &probed {
            Some(Ok(a)) => threshold_from_terms(slo, *w, terms, &a.series, at_s, data_start),
            Some(Err(e)) => Err(format!("could not read the recorded KPI terms ({e})")),
            None => Err("no answer".into()),
        };
        match found {
            Ok(q) => {
                thresholds.insert(*i, Ok(q));
            }
            Err(why) if source == SliSource::Recorded => {
                thresholds.insert(*i, Err(format!("{why}: raw series used")));
            }
            Err(_) => {}
        }
    }
    for (i, (w, start)) in longest {
        let slo = &slos[i];
        let from = match data_start {
            Some(first) => crate::timespec::unix_seconds(start).max(first),
            None => crate::timespec::unix_seconds(start),
        };
        let needed =
            Duration::from_secs((crate::timespec::unix_seconds(at) - from).max(0.0) as u64).min(w);
        let probe = match &probed {
            Some(Ok(a)) => {
                let mine: Vec<Series> = a
                    .series
                    .iter()
                    .filter(|s| s.labels.get("slo") == Some(&slo.name))
                    .cloned()
                    .collect();
                Ok(Probe::from_series(&mine))
            }
            Some(Err(e)) => Err(e.to_string()),
            None => Err("no answer".to_string()),
        };
        let fp = sli::fingerprint(slo);
        if let Some(t) = probe.as_ref().ok().and_then(|p| p.last.get(&fp)) {
            last.insert(i, *t);
        }
        choices.insert(
            i,
            choose(source, &fp, needed, probe.as_ref().map_err(|e| e.clone())),
        );
    }
    Sources {
        choices,
        last,
        thresholds,
        data_start,
    }
}

/// The probe of the recorded KPI terms of threshold SLOs: each SLO's terms' heartbeat
/// points over its window (`vitals_probe="term"`, `vitals_slo`), and the time of the last
/// evaluation (`vitals_probe="term_last"`).
fn term_probe(
    slos: &[Slo],
    candidates: &BTreeMap<usize, (Duration, Vec<crate::report::recorded::Term>)>,
) -> String {
    use crate::report::recorded::HEARTBEAT_RECORD;
    let ids = |terms: &[crate::report::recorded::Term]| -> String {
        terms.iter().map(|t| t.id()).collect::<Vec<_>>().join("|")
    };
    let mut all = Vec::new();
    let mut out: Vec<String> = candidates
        .iter()
        .map(|(i, (w, terms))| {
            all.extend(terms.iter().cloned());
            tag(
                &format!(
                    "max by (vitals_term) (count_over_time({HEARTBEAT_RECORD}{{vitals_term=~\"{}\"}}[{w}]))",
                    ids(terms)
                ),
                &[("vitals_probe", "term"), ("vitals_slo", &slos[*i].name)],
            )
        })
        .collect();
    all.sort();
    all.dedup();
    out.push(tag(
        &format!(
            "max(timestamp({HEARTBEAT_RECORD}{{vitals_term=~\"{}\"}}))",
            ids(&all)
        ),
        &[("vitals_probe", "term_last")],
    ));
    out.join("\n  or ")
}

/// A threshold SLO's PromQL with its terms stitched from their recorded increases, when the
/// probe says every term has a heartbeat for each interval of the window that has data
/// (two may be missing at its ends); else why not.
fn threshold_from_terms(
    slo: &Slo,
    window: Duration,
    terms: &[crate::report::recorded::Term],
    probe: &[Series],
    at: f64,
    data_start: Option<f64>,
) -> Result<String, String> {
    let Objective::Threshold { expr, .. } = &slo.objective else {
        return Err("not a threshold SLO".into());
    };
    // The report's rule for terms: a heartbeat for every interval with data, two excepted.
    let cover = crate::report::recorded::Coverage {
        current: probe
            .iter()
            .filter(|s| {
                s.labels.get("vitals_probe").map(String::as_str) == Some("term")
                    && s.labels.get("vitals_slo") == Some(&slo.name)
            })
            .filter_map(|s| Some((s.labels.get("vitals_term")?.clone(), s.value()?)))
            .collect(),
        data_start,
        ..Default::default()
    };
    if !cover.covers(terms, at - window.secs_f64(), at, false) {
        return Err(format!(
            "the recorded KPI terms do not cover its {window} window"
        ));
    }
    let last = probe
        .iter()
        .find(|s| s.labels.get("vitals_probe").map(String::as_str) == Some("term_last"))
        .and_then(Series::value);
    let stitch = last
        .and_then(|l| sli::Stitch::new(l, at, window))
        .ok_or_else(|| "no recent evaluation of the recorded KPI terms".to_string())?;
    crate::report::recorded::rewrite_stitched(&expr.promql, window, &stitch).map(|(q, _)| q)
}

/// The data start asked alone, before the SLOs' queries, which read their windows over the
/// data there is ([`data_span`]).
async fn lone_data_start(
    slos: &[Slo],
    prom: &Prom,
    at: DateTime<Utc>,
    progress: &(dyn Fn() + Sync),
) -> Option<f64> {
    let req = data_start_request(slos, at)?;
    let mut batch = Batch::new();
    batch.add(usize::MAX, req);
    let mut answers = prom.run_batch(batch, progress).await;
    data_start_of(answers.take(&usize::MAX))
}

fn data_start_of(answer: Option<Result<Answer, PromError>>) -> Option<f64> {
    answer
        .and_then(|a| a.ok())
        .and_then(|a| a.series.first().and_then(Series::value))
        .filter(|v| v.is_finite())
}

/// Evaluates SLOs at `at` with the latency buckets already found (a report asks once for
/// both of its periods).
pub(crate) async fn evaluate_with(
    slos: &[Slo],
    prom: &Prom,
    at: DateTime<Utc>,
    buckets: &sli::Buckets,
    source: SliSource,
    progress: &(dyn Fn() + Sync),
) -> Vec<Row> {
    let Sources {
        choices,
        last,
        thresholds,
        data_start: start,
    } = choose_sources(slos, prom, at, source, progress).await;
    let pad = data_start_step(slos, at);
    let mut rows: BTreeMap<usize, Vec<Row>> = BTreeMap::new();
    let mut batch = Batch::new();
    let mut stitched: BTreeMap<usize, Stitches> = BTreeMap::new();
    let mut unrecorded: Vec<usize> = Vec::new();
    for (i, slo) in slos.iter().enumerate() {
        let label = format!("slo {}", slo.name);
        match (&slo.objective, sli::parts_with(slo, buckets)) {
            (Objective::Budget { target, .. }, Err(p)) => {
                rows.insert(i, vec![bucket_problem_row(slo, *target, &p)]);
            }
            (Objective::Budget { target, .. }, Ok(Some(parts))) => {
                let plan = budget_plan_at(slo, at, start, pad).expect("budget SLO");
                let parts = match choices.get(&i) {
                    Some(Choice::Recorded { .. }) => parts
                        .reading_recorded(slo)
                        .last_recorded_at(last.get(&i).copied()),
                    Some(Choice::Missing { note }) => {
                        let mut r = Row::new(slo, Unit::Ratio, Op::Ge, *target);
                        r.window = Some(plan.window.clone());
                        r.source = Source::Recorded;
                        r.reason = "--source recorded, and there are no recorded series".into();
                        r.error = Some(note.clone());
                        rows.insert(i, vec![r]);
                        continue;
                    }
                    _ => parts,
                };
                let windows = windows_of(&plan);
                let (recorded, raw, stitches) =
                    parts.over_windows_split(&windows, crate::timespec::unix_seconds(at));
                // Without the last point's time only windows of a day or more are summed.
                if parts.recorded.is_some()
                    && stitches.windows.is_empty()
                    && windows.iter().all(|(_, d)| *d < sli::RECORDED_MIN_WINDOW)
                {
                    unrecorded.push(i);
                }
                // The recorded pieces and the raw ones in two queries (see
                // `over_windows_split`), their answers joined below.
                if let Some(q) = recorded {
                    batch.add(
                        (i, RECORDED_HALF),
                        Request::instant(format!("{label} (recorded)"), q, at),
                    );
                }
                if let Some(q) = raw {
                    batch.add((i, 0), Request::instant(label, q, at));
                }
                stitched.insert(i, stitches);
            }
            (Objective::Threshold { expr, .. }, _) => {
                let promql = match thresholds.get(&i) {
                    Some(Ok(q)) => q.clone(),
                    _ => expr.promql.clone(),
                };
                batch.add((i, 0), Request::instant(label, promql, at));
            }
            (Objective::Budget { .. }, Ok(None)) => unreachable!("a budget SLO has parts"),
        }
    }
    let mut answers = prom.run_batch(batch, progress).await;
    for (i, slo) in slos.iter().enumerate() {
        let answer = match (answers.take(&(i, 0)), answers.take(&(i, RECORDED_HALF))) {
            (None, None) => continue,
            (Some(a), None) | (None, Some(a)) => a,
            (Some(a), Some(b)) => joined_answers(a, b),
        };
        let unit = unit_of(slo);
        let mut r = match answer {
            Err(e) => {
                let (op, objective) = op_objective(slo);
                vec![Row::new(slo, unit, op, objective).failed(&e)]
            }
            Ok(a) => match budget_plan_at(slo, at, start, pad) {
                Some(plan) => {
                    let none = Stitches::default();
                    let stitches = stitched.get(&i).unwrap_or(&none);
                    let mut r = budget_rows(slo, &plan, &a, stitches);
                    if let Some(Ok(le)) = buckets.get(&slo.name) {
                        for row in &mut r {
                            row.le = Some(le.clone());
                        }
                    }
                    r
                }
                None => threshold_rows(slo, unit, &a),
            },
        };
        let (source, note) = match (choices.get(&i), thresholds.get(&i)) {
            (Some(Choice::Recorded { .. }), _) if unrecorded.contains(&i) => (
                Source::Raw,
                Some("no recent recorded point to stitch its windows, all under a day, to: raw series used".into()),
            ),
            (Some(Choice::Recorded { note }), _) => (Source::Recorded, note.clone()),
            (Some(Choice::Raw { note }), _) => (Source::Raw, note.clone()),
            (_, Some(Ok(_))) => (Source::Recorded, None),
            (_, Some(Err(note))) => (Source::Raw, Some(note.clone())),
            _ => (Source::Raw, None),
        };
        for row in &mut r {
            row.source = source;
            row.source_note = note.clone();
        }
        rows.insert(i, r);
    }
    let mut rows: Vec<Row> = rows.into_values().flatten().collect();
    for r in &mut rows {
        note_coverage(r, start);
    }
    rows
}

/// Below this share of its window with data, an SLO's reason says it is judged on part of it.
pub(crate) const LOW_COVERAGE: f64 = 0.9;

/// The query for the earliest time Prometheus has data over the longest budget window
/// (the first step at which any scrape target has a sample), or None without budget SLOs.
/// At least a minute, as the SLOs' own queries: a calendar window judged at its first
/// instant has elapsed 0s, and `[0s:1m]` is not PromQL.
pub(crate) fn data_start_request(slos: &[Slo], at: DateTime<Utc>) -> Option<Request> {
    let longest = longest_budget_window(slos, at)?;
    let step = data_start_step(slos, at);
    Some(Request::instant(
        "slo data coverage",
        crate::prom::data_start_expr(longest, step),
        at,
    ))
}

fn longest_budget_window(slos: &[Slo], at: DateTime<Utc>) -> Option<Duration> {
    slos.iter()
        .filter_map(|s| budget_plan(s, at).map(|p| p.window.elapsed))
        .max()
        .map(|d| d.max(Duration::from_secs(60)))
}

/// The step of the data-start query: the data start it finds is up to one step after the
/// first sample.
fn data_start_step(slos: &[Slo], at: DateTime<Utc>) -> Duration {
    let longest = longest_budget_window(slos, at).unwrap_or(Duration::from_secs(60));
    crate::prom::auto_step(longest.to_chrono(), 250, Duration::from_secs(60))
}

/// The row's coverage of its window, and a word in its reason when it is low.
fn note_coverage(r: &mut Row, data_start: Option<f64>) {
    let (Some(w), Some(first)) = (&r.window, data_start) else {
        return;
    };
    let (start, end) = (
        crate::timespec::unix_seconds(w.start),
        crate::timespec::unix_seconds(w.end),
    );
    if end <= start {
        return;
    }
    let share = ((end - first.max(start)) / (end - start)).clamp(0.0, 1.0);
    r.coverage = Some(share);
    if share < LOW_COVERAGE && r.value.is_some() {
        let have = Duration::from_secs((end - first.max(start)).max(0.0) as u64);
        r.reason = format!(
            "{} (judged on the {} of data in its {} window: {})",
            r.reason,
            crate::incidents::duration_text(have.secs_f64(), false),
            w.label,
            Unit::Ratio.format(share)
        );
    }
}

fn unit_of(slo: &Slo) -> Unit {
    match &slo.objective {
        Objective::Budget { .. } => Unit::Ratio,
        Objective::Threshold { expr, .. } => expr.unit,
    }
}

fn op_objective(slo: &Slo) -> (Op, f64) {
    match &slo.objective {
        Objective::Budget { target, .. } => (Op::Ge, *target),
        Objective::Threshold { op, value, .. } => (*op, *value),
    }
}

/// The batch key's second half of a budget SLO's query over its recorded series (0: the
/// query over its raw series, or its only one).
const RECORDED_HALF: u8 = 1;

/// The answers of a query's two halves as one (a failure of either is the failure).
fn joined_answers(
    a: Result<Answer, PromError>,
    b: Result<Answer, PromError>,
) -> Result<Answer, PromError> {
    let (mut a, b) = (a?, b?);
    a.series.extend(b.series);
    a.warnings.extend(b.warnings);
    Ok(a)
}

/// How many queries an evaluation sends (for progress bars): one per SLO, two per latency
/// SLO, and one for the data coverage when there is a budget SLO; with recorded series
/// allowed, one more (the probe of every budget SLO's recorded series).
pub(crate) fn query_count(slos: &[Slo], source: SliSource) -> usize {
    let budgets = slos
        .iter()
        .filter(|s| matches!(s.objective, Objective::Budget { .. }))
        .count();
    slos.iter()
        .map(|s| if sli::bucket_query(s).is_some() { 2 } else { 1 })
        .sum::<usize>()
        + usize::from(budgets > 0)
        + usize::from(budgets > 0 && source != SliSource::Raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_overall_status_is_the_worst() {
        assert_eq!(Status::overall([Status::Pass, Status::Warn]), Status::Warn);
        assert_eq!(
            Status::overall([Status::Warn, Status::Inconclusive]),
            Status::Inconclusive
        );
        assert_eq!(
            Status::overall([Status::Inconclusive, Status::Fail]),
            Status::Fail
        );
        assert_eq!(Status::overall([]), Status::Pass);
    }

    fn probe(window: &[(&str, f64)], recent: &[(&str, f64)]) -> Probe {
        let m = |v: &[(&str, f64)]| v.iter().map(|(k, n)| (k.to_string(), *n)).collect();
        Probe {
            window: m(window),
            recent: m(recent),
            last: BTreeMap::new(),
        }
    }

    #[test]
    fn recorded_series_are_used_only_when_current_and_covering() {
        let day = Duration::from_secs(86_400);
        // 288 points a day; two may be missing at the ends.
        let full = probe(&[("new", 286.0)], &[("new", 2.0)]);
        assert_eq!(
            choose(SliSource::Auto, "new", day, Ok(&full)),
            Choice::Recorded { note: None }
        );
        assert_eq!(
            choose(SliSource::Raw, "new", day, Ok(&full)),
            Choice::Raw { note: None }
        );
        // Short coverage: raw, and why.
        let short = probe(&[("new", 200.0)], &[("new", 2.0)]);
        let Choice::Raw { note: Some(n) } = choose(SliSource::Auto, "new", day, Ok(&short)) else {
            panic!("short coverage is read raw");
        };
        assert!(n.contains("cover 16h40m of the 1d needed"), "{n}");
        // Not recent: the rules stopped.
        let old = probe(&[("new", 288.0)], &[]);
        assert!(matches!(
            choose(SliSource::Auto, "new", day, Ok(&old)),
            Choice::Raw { note: Some(n) } if n.contains("none is recent")
        ));
        // Stale: another fingerprint only.
        let stale = probe(&[("old", 288.0)], &[("old", 2.0)]);
        let Choice::Raw { note: Some(n) } = choose(SliSource::Auto, "new", day, Ok(&stale)) else {
            panic!("stale series are not used");
        };
        assert!(n.contains("stale") && n.contains("old") && n.contains("raw series used"));
        assert!(matches!(
            choose(SliSource::Recorded, "new", day, Ok(&stale)),
            Choice::Missing { note } if note.contains("stale")
        ));
        // Nothing recorded: raw without a word; forced, missing.
        let none = probe(&[], &[]);
        assert_eq!(
            choose(SliSource::Auto, "new", day, Ok(&none)),
            Choice::Raw { note: None }
        );
        assert!(matches!(
            choose(SliSource::Recorded, "new", day, Ok(&none)),
            Choice::Missing { .. }
        ));
    }
}

/// `vitals check --format json`: every evaluated SLO and the overall status.
#[derive(Clone, Debug, Serialize)]
pub struct CheckReport {
    /// Layout version of this document.
    pub schema_version: u32,
    /// Evaluation time (RFC 3339, UTC).
    pub at: String,
    /// The SLO file evaluated.
    pub config: String,
    /// Worst status: fail, else inconclusive, else warn, else pass.
    pub status: Status,
    /// Rows per status.
    pub summary: BTreeMap<&'static str, usize>,
    /// One entry per SLO, or per group of a grouped SLO.
    pub slos: Vec<Row>,
}

impl CheckReport {
    pub(crate) fn new(at: DateTime<Utc>, config: String, slos: Vec<Row>) -> Self {
        let mut summary = BTreeMap::new();
        for s in [
            Status::Pass,
            Status::Warn,
            Status::Fail,
            Status::Inconclusive,
        ] {
            summary.insert(s.as_str(), slos.iter().filter(|r| r.status == s).count());
        }
        CheckReport {
            schema_version: crate::SCHEMA_VERSION,
            at: crate::timespec::format_time(at),
            config,
            status: Status::overall(slos.iter().map(|r| r.status)),
            summary,
            slos,
        }
    }
}

/// Which source the SLOs used, for the views: nothing when every SLO read raw series and
/// there is nothing to say about recorded ones; else one line naming the SLOs read from
/// recorded series, and one per SLO whose recorded series were not used or are suspect.
pub(crate) fn source_lines(rows: &[Row]) -> Vec<String> {
    let mut recorded: Vec<&str> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    for r in rows {
        if r.source == Source::Recorded && !recorded.contains(&r.name.as_str()) {
            recorded.push(&r.name);
        }
        if let Some(n) = &r.source_note {
            let line = format!("{}: {} series; {n}", r.name, r.source.as_str());
            if !notes.contains(&line) {
                notes.push(line);
            }
        }
    }
    let mut out = Vec::new();
    if !recorded.is_empty() {
        out.push(format!(
            "From recorded series (windows of 30 minutes or more): {}",
            recorded.join(", ")
        ));
    }
    out.extend(notes);
    out
}

/// A burn rate as people read it: `0.15x`, `14.4x`, `120x`.
pub(crate) fn burn_text(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}x")
    } else if v >= 10.0 {
        format!("{v:.1}x")
    } else {
        format!("{v:.2}x")
    }
}

impl Row {
    /// `99.87 % >= 99.5 %`: the value against its objective, in the row's unit.
    pub(crate) fn value_vs_objective(&self) -> String {
        let v = self
            .value
            .map(|v| self.unit.format(v))
            .unwrap_or_else(|| "no data".into());
        format!("{v} {} {}", self.op, self.unit.format(self.objective))
    }

    /// `88 % (353 min)` for budget SLOs.
    pub(crate) fn budget_left(&self) -> String {
        match self.budget {
            Some(b) => format!(
                "{} ({})",
                Unit::Ratio.format(b.remaining_ratio),
                crate::units::Unit::Seconds.format(b.remaining_minutes * 60.0)
            ),
            None => String::new(),
        }
    }

    /// The fastest long-window burn, `14.4x 56m`, flagged when its alert condition holds.
    pub(crate) fn fastest_burn(&self) -> String {
        let fastest = self
            .burn_rates
            .iter()
            .filter(|b| b.long_rate.is_some())
            .max_by(|a, b| {
                a.long_rate
                    .unwrap_or(0.0)
                    .total_cmp(&b.long_rate.unwrap_or(0.0))
            });
        match fastest {
            Some(b) => {
                let firing = self.burn_rates.iter().find(|b| b.firing);
                let flag = firing
                    .map(|f| format!(" {}!", f.severity.to_uppercase()))
                    .unwrap_or_default();
                format!("{} {}{flag}", burn_text(b.long_rate.unwrap_or(0.0)), b.long)
            }
            None => String::new(),
        }
    }

    /// `mes-availability` or `db-connection-saturation{service=mes-db}`.
    pub(crate) fn display_name(&self) -> String {
        labelled_name(&self.name, &self.group)
    }
}

/// `name` alone, or `name{k=v,...}` with the labels that tell a group apart.
pub(crate) fn labelled_name(name: &str, labels: &BTreeMap<String, String>) -> String {
    if labels.is_empty() {
        name.to_string()
    } else {
        let l: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("{name}{{{}}}", l.join(","))
    }
}
