//! Evaluating SLOs against Prometheus at an instant: queries are built here, sent together,
//! and their answers turned into rows (one per SLO, or per group with `group_by`).
//!
//! A ratio or latency SLO costs one query for every window it needs (the SLO window and the
//! seven burn-rate windows are asked for in a single PromQL expression, each part tagged
//! with `vitals_part`/`vitals_window` labels); a latency SLO first asks which `le` buckets
//! exist; a threshold SLO is one query.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::math::{self, Budget, BurnPair};
use super::model::{Objective, OnNoData, Op, Sli, Slo, SloKind, ThresholdSource, fill_window};
use super::window::{Resolved, resolve};
use crate::catalog::Catalog;
use crate::catalog::params::escape_promql_string;
use crate::duration::Duration;
use crate::prom::{Answer, Prom, PromError, Request, Series};
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
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Inconclusive => "inconclusive",
            Status::Fail => "fail",
        }
    }

    /// The overall status of several rows: any failure, else anything undecided, else any
    /// warning, else pass.
    pub fn overall(rows: impl IntoIterator<Item = Status>) -> Status {
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
            events: None,
            budget: None,
            burn_rates: Vec::new(),
            time_to_exhaustion_seconds: None,
            error: None,
            config_error: false,
            warnings: Vec::new(),
            le: None,
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

/// PromQL of a budget SLO's parts, with `{{window}}` still in them.
struct Parts {
    /// (part name, template): "bad" or "good", and "total".
    parts: Vec<(&'static str, String)>,
}

fn group_clause(group_by: &[String]) -> String {
    if group_by.is_empty() {
        "sum".into()
    } else {
        format!("sum by ({})", group_by.join(", "))
    }
}

fn latency_parts(metric: &str, selector: &str, le: &str, group_by: &[String]) -> Parts {
    let sel = selector.trim().trim_end_matches(',');
    let with_le = if sel.is_empty() {
        format!("le=\"{}\"", escape_promql_string(le))
    } else {
        format!("{sel}, le=\"{}\"", escape_promql_string(le))
    };
    let g = group_clause(group_by);
    Parts {
        parts: vec![
            (
                "good",
                format!("{g} (rate({metric}_bucket{{{with_le}}}[{{{{window}}}}]))"),
            ),
            (
                "total",
                format!("{g} (rate({metric}_count{{{sel}}}[{{{{window}}}}]))"),
            ),
        ],
    }
}

/// The parts of a budget SLO's SLI as templates with `{{window}}`: `bad` or `good`, then
/// `total`. A latency SLO needs the `le` label of its threshold bucket (see [`find_le`]).
pub fn sli_parts(slo: &Slo, le: Option<&str>) -> Option<Vec<(&'static str, String)>> {
    let Objective::Budget { sli, .. } = &slo.objective else {
        return None;
    };
    Some(match sli {
        Sli::BadTotal { bad, total } => vec![("bad", bad.clone()), ("total", total.clone())],
        Sli::GoodTotal { good, total } => vec![("good", good.clone()), ("total", total.clone())],
        Sli::Latency {
            metric, selector, ..
        } => latency_parts(metric, selector, le?, &slo.group_by).parts,
    })
}

/// The query listing a histogram's `le` buckets (to check a latency threshold against).
pub fn bucket_query(metric: &str, selector: &str) -> String {
    let sel = selector.trim().trim_end_matches(',');
    format!("count by (le) ({metric}_bucket{{{sel}}})")
}

/// One PromQL expression returning every part over every window, tagged by labels.
fn tagged_query(parts: &Parts, windows: &[(String, Duration)]) -> String {
    let mut terms = Vec::new();
    for (name, tmpl) in &parts.parts {
        for (label, d) in windows {
            terms.push(format!(
                "label_replace(label_replace(({}), \"vitals_part\", \"{name}\", \"\", \"\"), \"vitals_window\", \"{label}\", \"\", \"\")",
                fill_window(tmpl, *d)
            ));
        }
    }
    terms.join("\n  or ")
}

/// What an evaluation needs to know about one budget SLO while its queries run.
struct BudgetPlan {
    target: f64,
    window: Resolved,
    pairs: [BurnPair; 4],
    min_events: f64,
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
        window: w,
        min_events: *min_events,
    })
}

fn windows_of(plan: &BudgetPlan) -> Vec<(String, Duration)> {
    let mut w = vec![(
        "slo".to_string(),
        plan.window.elapsed.max(Duration::from_secs(60)),
    )];
    for d in math::alert_windows(&plan.pairs) {
        w.push((d.to_string(), d));
    }
    w
}

/// Rates by group and window label: group -> window -> part -> per-second rate.
type Tagged = BTreeMap<BTreeMap<String, String>, BTreeMap<String, BTreeMap<String, f64>>>;

fn untag(series: &[Series], group_by: &[String]) -> Result<Tagged, String> {
    let mut out: Tagged = BTreeMap::new();
    for s in series {
        let part = s.labels.get("vitals_part").cloned().unwrap_or_default();
        let window = s.labels.get("vitals_window").cloned().unwrap_or_default();
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
        let slot = out.entry(group).or_default().entry(window).or_default();
        if slot.insert(part.clone(), v).is_some() {
            return Err(format!("`{part}` returns several series for one group"));
        }
    }
    Ok(out)
}

fn budget_rows(slo: &Slo, plan: &BudgetPlan, answer: &Answer) -> Vec<Row> {
    let base = Row {
        window: Some(plan.window.clone()),
        warnings: answer.warnings.clone(),
        ..Row::new(slo, Unit::Ratio, Op::Ge, plan.target)
    };
    let tagged = match untag(&answer.series, &slo.group_by) {
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
    let good_total = matches!(
        &slo.objective,
        Objective::Budget {
            sli: Sli::GoodTotal { .. } | Sli::Latency { .. },
            ..
        }
    );
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
        let elapsed = plan.window.elapsed.max(Duration::from_secs(60)).secs_f64();
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
        op, value, warn, ..
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
        // The worst series decides.
        let worst = finite.iter().copied().max_by(|a, b| {
            let (x, y) = (a.value().unwrap_or_default(), b.value().unwrap_or_default());
            if op.upper_bound() {
                x.total_cmp(&y)
            } else {
                y.total_cmp(&x)
            }
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
    if answer.series.is_empty() {
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
                r.note = crate::render::json::non_finite_note(v);
                r = r.no_data(slo, "no data: the value is NaN or infinite".into());
            }
            None => r = r.no_data(slo, "no data".into()),
        }
        rows.push(r);
    }
    rows.sort_by(|a, b| a.group.cmp(&b.group));
    rows
}

/// Matches a latency threshold with the `le` labels Prometheus has.
pub fn find_le(threshold: f64, les: &[String]) -> Option<String> {
    les.iter()
        .find(|le| {
            le.parse::<f64>().is_ok_and(|v| {
                v.is_finite() && (v - threshold).abs() <= 1e-9 * v.abs().max(threshold.abs())
            })
        })
        .cloned()
}

/// Evaluates SLOs at `at`. `progress` is called once per finished query.
pub async fn evaluate(
    slos: &[Slo],
    catalog: &Catalog,
    prom: &Prom,
    at: DateTime<Utc>,
    progress: &(dyn Fn() + Sync),
) -> Vec<Row> {
    // Phase 1: budget SLOs with known queries, thresholds, and the bucket lists of latency SLOs.
    let mut reqs = Vec::new();
    let mut slots: Vec<(usize, &'static str)> = Vec::new();
    for (i, slo) in slos.iter().enumerate() {
        let label = format!("slo {}", slo.name);
        match &slo.objective {
            Objective::Budget { sli, .. } => {
                let plan = budget_plan(slo, at).expect("budget SLO");
                match sli {
                    Sli::BadTotal { .. } | Sli::GoodTotal { .. } => {
                        let parts = Parts {
                            parts: sli_parts(slo, None).expect("ratio SLO"),
                        };
                        reqs.push(Request::instant(
                            label,
                            tagged_query(&parts, &windows_of(&plan)),
                            at,
                        ));
                        slots.push((i, "budget"));
                    }
                    Sli::Latency {
                        metric, selector, ..
                    } => {
                        reqs.push(Request::instant(label, bucket_query(metric, selector), at));
                        slots.push((i, "buckets"));
                    }
                }
            }
            Objective::Threshold { source, .. } => {
                let promql = match source {
                    ThresholdSource::Promql(p) => p.clone(),
                    ThresholdSource::Query { name, params } => {
                        match catalog.get(name).map(|d| d.expand(params)) {
                            Some(Ok(e)) => e.promql,
                            // Validated at load time; reported if the catalog changed since.
                            _ => String::new(),
                        }
                    }
                };
                reqs.push(Request::instant(label, promql, at));
                slots.push((i, "threshold"));
            }
        }
    }
    let answers = prom.run_all(reqs, progress).await;
    let mut rows: Vec<(usize, Vec<Row>)> = Vec::new();
    let mut phase2 = Vec::new();
    let mut phase2_slots = Vec::new();
    for ((i, what), answer) in slots.into_iter().zip(answers) {
        let slo = &slos[i];
        match (what, answer) {
            (_, Err(e)) => {
                let unit = unit_of(slo, catalog);
                let (op, objective) = op_objective(slo);
                rows.push((i, vec![Row::new(slo, unit, op, objective).failed(&e)]));
            }
            ("budget", Ok(a)) => {
                let plan = budget_plan(slo, at).expect("budget SLO");
                rows.push((i, budget_rows(slo, &plan, &a)));
            }
            ("threshold", Ok(a)) => rows.push((i, threshold_rows(slo, unit_of(slo, catalog), &a))),
            (_, Ok(a)) => {
                let Objective::Budget {
                    sli:
                        Sli::Latency {
                            metric,
                            selector,
                            threshold,
                        },
                    target,
                    ..
                } = &slo.objective
                else {
                    continue;
                };
                let les: Vec<String> = a
                    .series
                    .iter()
                    .filter_map(|s| s.labels.get("le").cloned())
                    .collect();
                if les.is_empty() {
                    let r = Row::new(slo, Unit::Ratio, Op::Ge, *target);
                    rows.push((
                        i,
                        vec![r.no_data(
                            slo,
                            format!("no data: no `{metric}_bucket` series match the selector"),
                        )],
                    ));
                    continue;
                }
                match find_le(*threshold, &les) {
                    Some(le) => {
                        let plan = budget_plan(slo, at).expect("budget SLO");
                        let parts = latency_parts(metric, selector, &le, &slo.group_by);
                        phase2.push(Request::instant(
                            format!("slo {}", slo.name),
                            tagged_query(&parts, &windows_of(&plan)),
                            at,
                        ));
                        phase2_slots.push((i, le));
                    }
                    None => {
                        let mut bounds: Vec<f64> = les
                            .iter()
                            .filter_map(|l| l.parse().ok())
                            .filter(|v: &f64| v.is_finite())
                            .collect();
                        bounds.sort_by(f64::total_cmp);
                        let mut r = Row::new(slo, Unit::Ratio, Op::Ge, *target);
                        r.reason = "the latency threshold is not a bucket of the histogram".into();
                        r.error = Some(format!(
                            "threshold {threshold} s is not an `le` bucket of {metric} (its buckets: {}); pick one of them",
                            bounds
                                .iter()
                                .map(|b| b.to_string())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ));
                        r.config_error = true;
                        rows.push((i, vec![r]));
                    }
                }
            }
        }
    }
    if !phase2.is_empty() {
        let answers = prom.run_all(phase2, progress).await;
        for ((i, le), answer) in phase2_slots.into_iter().zip(answers) {
            let slo = &slos[i];
            let plan = budget_plan(slo, at).expect("budget SLO");
            match answer {
                Ok(a) => {
                    let mut r = budget_rows(slo, &plan, &a);
                    for row in &mut r {
                        row.le = Some(le.clone());
                    }
                    rows.push((i, r))
                }
                Err(e) => rows.push((
                    i,
                    vec![Row::new(slo, Unit::Ratio, Op::Ge, plan.target).failed(&e)],
                )),
            }
        }
    }
    rows.sort_by_key(|(i, _)| *i);
    rows.into_iter().flat_map(|(_, r)| r).collect()
}

fn unit_of(slo: &Slo, catalog: &Catalog) -> Unit {
    match &slo.objective {
        Objective::Budget { .. } => Unit::Ratio,
        Objective::Threshold {
            source: ThresholdSource::Query { name, .. },
            ..
        } => catalog.get(name).map(|d| d.unit).unwrap_or(Unit::Count),
        Objective::Threshold { .. } => Unit::Count,
    }
}

fn op_objective(slo: &Slo) -> (Op, f64) {
    match &slo.objective {
        Objective::Budget { target, .. } => (Op::Ge, *target),
        Objective::Threshold { op, value, .. } => (*op, *value),
    }
}

/// How many queries an evaluation sends (for progress bars): latency SLOs need two.
pub fn query_count(slos: &[Slo]) -> usize {
    slos.iter()
        .map(|s| match &s.objective {
            Objective::Budget {
                sli: Sli::Latency { .. },
                ..
            } => 2,
            _ => 1,
        })
        .sum()
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

    #[test]
    fn tags_every_part_and_window_in_one_query() {
        let parts = Parts {
            parts: vec![
                ("bad", "sum(rate(e[{{window}}]))".into()),
                ("total", "sum(rate(t[{{window}}]))".into()),
            ],
        };
        let q = tagged_query(
            &parts,
            &[
                ("slo".into(), Duration::from_secs(86_400)),
                ("5m".into(), Duration::from_secs(300)),
            ],
        );
        assert_eq!(q.matches(" or ").count(), 3);
        assert!(q.contains(r#"label_replace(label_replace((sum(rate(e[1d]))), "vitals_part", "bad", "", ""), "vitals_window", "slo", "", "")"#), "{q}");
        assert!(promql_parser::parser::parse(&q).is_ok());
    }

    #[test]
    fn latency_parts_add_the_le_matcher_to_the_selector() {
        let p = latency_parts(
            "http_request_duration_seconds",
            "service=\"shop\"",
            "0.5",
            &["handler".into()],
        );
        assert_eq!(
            p.parts[0].1,
            "sum by (handler) (rate(http_request_duration_seconds_bucket{service=\"shop\", le=\"0.5\"}[{{window}}]))"
        );
        assert_eq!(
            p.parts[1].1,
            "sum by (handler) (rate(http_request_duration_seconds_count{service=\"shop\"}[{{window}}]))"
        );
        let bare = latency_parts("h", "", "1", &[]);
        assert_eq!(
            bare.parts[0].1,
            "sum (rate(h_bucket{le=\"1\"}[{{window}}]))"
        );
    }

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
    pub fn new(at: DateTime<Utc>, config: String, slos: Vec<Row>) -> Self {
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
            schema_version: crate::render::json::SCHEMA_VERSION,
            at: crate::timespec::format_time(at),
            config,
            status: Status::overall(slos.iter().map(|r| r.status)),
            summary,
            slos,
        }
    }
}

/// A burn rate as people read it: `0.15x`, `14.4x`, `120x`.
pub fn burn_text(v: f64) -> String {
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
    pub fn value_vs_objective(&self) -> String {
        let v = self
            .value
            .map(|v| self.unit.format(v))
            .unwrap_or_else(|| "no data".into());
        format!("{v} {} {}", self.op, self.unit.format(self.objective))
    }

    /// `88 % (353 min)` for budget SLOs.
    pub fn budget_left(&self) -> String {
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
    pub fn fastest_burn(&self) -> String {
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
    pub fn display_name(&self) -> String {
        labelled_name(&self.name, &self.group)
    }
}

/// `name` alone, or `name{k=v,...}` with the labels that tell a group apart.
pub fn labelled_name(name: &str, labels: &BTreeMap<String, String>) -> String {
    if labels.is_empty() {
        name.to_string()
    } else {
        let l: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("{name}{{{}}}", l.join(","))
    }
}
