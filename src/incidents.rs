//! Incidents: the intervals in which an alert condition of `slo.toml` held, found in the
//! history of the raw metrics, grouped when they overlap, with a hint at the cause.
//!
//! What counts as an alert condition is what `vitals rules` turns into alerts:
//! - a ratio or latency SLO burning its budget: a multi-window pair (1h/5m 14.4x and
//!   6h/30m 6x page, 1d/2h 3x and 3d/6h 1x open a ticket, scaled to the SLO window) with both
//!   windows above its factor;
//! - a threshold SLO past its `value` for at least its `for` (unless `severity = "none"`);
//! - a scrape target down (`up == 0`); and, for information, an instance that restarted
//!   (its `process_cpu_seconds_total` counter reset).
//!
//! How it is computed, cheaply: a budget SLO costs one range query of its parts' increase
//! per step; the windows of every pair are summed from those steps here (a 3-day window is
//! never scanned once per step). A threshold SLO costs one range query of its value. One more
//! range query fetches the signals the cause hints are read from.
//!
//! When a condition is detected, its start lags the problem (a 1-hour window needs minutes
//! to cross 14.4x) and its end lags the recovery (until the short window clears). The
//! interval reported is therefore that of the problem itself: the run of steps around the
//! condition in which the budget burned faster than the lowest factor that fired (per step),
//! or a threshold SLO's value was past its warning level. Conditions over a trailing window
//! (dead letters in the last hour) join the incident they overlap without stretching it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::catalog::Catalog;
use crate::duration::Duration;
use crate::prom::{Answer, PromError, Request, Series};
use crate::slo::eval::{bucket_query, find_le, sli_parts};
use crate::slo::math::{self, BurnPair};
use crate::slo::model::{Alerting, Objective, Op, Sli, Slo, ThresholdSource, fill_window};
use crate::slo::window::resolve;
use crate::timespec::{format_time, from_unix_seconds};
use crate::units::Unit;

/// How loud an incident is: the highest severity of its conditions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// A restart: shown, not counted in MTTR.
    Info,
    Ticket,
    Page,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Ticket => "ticket",
            Severity::Page => "page",
        }
    }
}

/// Gaps of up to this many steps inside a condition do not split it (an alert that flaps
/// for a minute is one incident).
const MERGE_GAP_STEPS: i64 = 2;
/// A threshold query over a window at least this long describes the past, not the present.
const TRAILING_WINDOW: Duration = Duration::from_secs(15 * 60);
/// The hints compare an incident with the hour before it.
const BASELINE: Duration = Duration::from_secs(3600);
/// The finest step chosen without `--step`: per-step increases need two samples of a 60 s
/// scrape in each step.
pub const MIN_STEP: Duration = Duration::from_secs(120);
/// Points per series a range query may return (Prometheus allows 11,000).
const MAX_POINTS: f64 = 10_000.0;

/// What a source of conditions is.
#[derive(Clone, Debug)]
enum Kind {
    /// A ratio or latency SLO: per-step increases of its parts.
    Burn {
        target: f64,
        pairs: [BurnPair; 4],
        good_total: bool,
    },
    Threshold {
        op: Op,
        value: f64,
        warn: Option<f64>,
        for_: Duration,
        trailing: bool,
        unit: Unit,
    },
    TargetDown,
    Restart,
}

/// One range query whose answer yields conditions.
#[derive(Clone, Debug)]
struct SourceDef {
    /// SLO name, or `target-down` / `restart`.
    name: String,
    component: String,
    severity: Severity,
    kind: Kind,
    group_by: Vec<String>,
    request: Request,
}

/// Everything needed to find the incidents of `[from, to]`: the requests to send, and how
/// to read their answers.
pub struct Plan {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub step: Duration,
    sources: Vec<SourceDef>,
    /// Problems found while planning (a latency threshold that is not a bucket).
    pub errors: Vec<String>,
}

/// The bucket lists latency SLOs need before their parts can be written: one instant query
/// each, at `to`.
pub fn bucket_requests(slos: &[Slo], to: DateTime<Utc>) -> Vec<(String, Request)> {
    slos.iter()
        .filter_map(|s| match &s.objective {
            Objective::Budget {
                sli: Sli::Latency {
                    metric, selector, ..
                },
                ..
            } => Some((
                s.name.clone(),
                Request::instant(
                    format!("slo {} buckets", s.name),
                    bucket_query(metric, selector),
                    to,
                ),
            )),
            _ => None,
        })
        .collect()
}

/// The longest burn-rate window of a budget SLO, evaluated at `to`.
fn pairs_of(slo: &Slo, to: DateTime<Utc>) -> Option<(f64, [BurnPair; 4])> {
    match &slo.objective {
        Objective::Budget { target, window, .. } => {
            Some((*target, math::burn_pairs(resolve(window, to).length)))
        }
        _ => None,
    }
}

/// Chooses the step for a range: `wanted` when given, else at least [`MIN_STEP`]; whole
/// minutes, and coarser when needed for few enough points for every query (which reach back
/// by their longest window).
pub fn choose_step(
    slos: &[Slo],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    wanted: Option<Duration>,
) -> Duration {
    let lookback = slos
        .iter()
        .filter_map(|s| pairs_of(s, to))
        .flat_map(|(_, p)| p.map(|p| p.long))
        .max()
        .unwrap_or_default()
        .max(BASELINE);
    let span = (to - from).num_seconds().max(0) as f64 + lookback.secs_f64();
    let needed = (span / MAX_POINTS / 60.0).ceil() as u64 * 60;
    let fewest = Duration::from_secs(needed);
    match wanted {
        Some(w) => w.max(fewest),
        None => fewest.max(MIN_STEP),
    }
}

/// Plans the queries. `buckets` holds the answers of [`bucket_requests`] by SLO name.
pub fn plan(
    slos: &[Slo],
    catalog: &Catalog,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    step: Duration,
    with_targets: bool,
    buckets: &BTreeMap<String, Result<Answer, PromError>>,
) -> Plan {
    let s = step.secs() as i64;
    // Every query is on the same grid: multiples of the step since the epoch.
    let grid = |t: DateTime<Utc>, up: bool| {
        let x = t.timestamp();
        let k = if up {
            (x + s - 1).div_euclid(s)
        } else {
            x.div_euclid(s)
        };
        from_unix_seconds((k * s) as f64)
    };
    let end = grid(to, false);
    let mut sources = Vec::new();
    let mut errors = Vec::new();
    let short_start = grid(from - BASELINE.to_chrono(), false);
    for slo in slos {
        let label = format!("incidents of {}", slo.name);
        match &slo.objective {
            Objective::Budget { sli, .. } => {
                let le = match sli {
                    Sli::Latency {
                        metric, threshold, ..
                    } => match buckets.get(&slo.name) {
                        Some(Ok(a)) => {
                            let les: Vec<String> = a
                                .series
                                .iter()
                                .filter_map(|s| s.labels.get("le").cloned())
                                .collect();
                            match find_le(*threshold, &les) {
                                Some(le) => Some(le),
                                None => {
                                    errors.push(format!(
                                        "SLO {}: threshold {threshold} s is not an `le` bucket of {metric}{}",
                                        slo.name,
                                        if les.is_empty() { " (no buckets found)" } else { "" }
                                    ));
                                    continue;
                                }
                            }
                        }
                        Some(Err(e)) => {
                            errors.push(format!("SLO {}: {e}", slo.name));
                            continue;
                        }
                        None => continue,
                    },
                    _ => None,
                };
                let Some(parts) = sli_parts(slo, le.as_deref()) else {
                    continue;
                };
                let (target, pairs) = pairs_of(slo, to).expect("budget SLO");
                let longest = pairs.iter().map(|p| p.long).max().unwrap_or_default();
                let start = grid(from - longest.to_chrono(), false);
                let promql = parts
                    .iter()
                    .map(|(part, tmpl)| {
                        format!(
                            "label_replace(({}), \"vitals_part\", \"{part}\", \"\", \"\")",
                            fill_window(tmpl, step)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n  or ");
                sources.push(SourceDef {
                    name: slo.name.clone(),
                    component: slo.component.clone(),
                    severity: Severity::Page,
                    kind: Kind::Burn {
                        target,
                        pairs,
                        good_total: parts[0].0 == "good",
                    },
                    group_by: slo.group_by.clone(),
                    request: Request::range(label, promql, start, end, step),
                });
            }
            Objective::Threshold {
                source,
                op,
                value,
                warn,
                for_,
                severity,
            } => {
                if *severity == Alerting::None {
                    continue;
                }
                let (promql, unit, trailing) = match source {
                    ThresholdSource::Promql(p) => (p.clone(), Unit::Count, false),
                    ThresholdSource::Query { name, params } => {
                        let Some(def) = catalog.get(name) else {
                            continue;
                        };
                        let Ok(e) = def.expand(params) else {
                            continue;
                        };
                        let trailing = e
                            .params
                            .get("window")
                            .and_then(|w| w.parse::<Duration>().ok())
                            .is_some_and(|w| w >= TRAILING_WINDOW);
                        (e.promql, def.unit, trailing)
                    }
                };
                let for_ = for_.unwrap_or(crate::slo::model::DEFAULT_FOR);
                let start = grid(from - BASELINE.to_chrono() - for_.to_chrono(), false);
                sources.push(SourceDef {
                    name: slo.name.clone(),
                    component: slo.component.clone(),
                    severity: match severity {
                        Alerting::Page => Severity::Page,
                        _ => Severity::Ticket,
                    },
                    kind: Kind::Threshold {
                        op: *op,
                        value: *value,
                        warn: *warn,
                        for_,
                        trailing,
                        unit,
                    },
                    group_by: slo.group_by.clone(),
                    request: Request::range(label, promql, start, end, step),
                });
            }
        }
    }
    if with_targets {
        sources.push(SourceDef {
            name: "target-down".into(),
            component: String::new(),
            severity: Severity::Ticket,
            kind: Kind::TargetDown,
            group_by: vec![],
            request: Request::range(
                "incidents: targets down",
                format!("min by (service, instance) (min_over_time(up[{step}]))"),
                short_start,
                end,
                step,
            ),
        });
        sources.push(SourceDef {
            name: "restart".into(),
            component: String::new(),
            severity: Severity::Info,
            kind: Kind::Restart,
            group_by: vec![],
            request: Request::range(
                "incidents: restarts",
                format!("max by (service, instance) (resets(process_cpu_seconds_total[{step}]))"),
                short_start,
                end,
                step,
            ),
        });
    }
    Plan {
        from,
        to,
        step,
        sources,
        errors,
    }
}

impl Plan {
    /// The range queries to send (the hints' signals come last).
    pub fn requests(&self, catalog: &Catalog) -> Vec<Request> {
        let mut r: Vec<Request> = self.sources.iter().map(|s| s.request.clone()).collect();
        r.push(self.signals_request(catalog));
        r
    }

    fn signals_request(&self, catalog: &Catalog) -> Request {
        let s = self.step.secs() as i64;
        let start = from_unix_seconds(
            ((self.from - BASELINE.to_chrono()).timestamp().div_euclid(s) * s) as f64,
        );
        let end = from_unix_seconds((self.to.timestamp().div_euclid(s) * s) as f64);
        let w = self.step.to_string();
        let terms: Vec<String> = SIGNALS
            .iter()
            .filter_map(|(id, q, windowed)| {
                let def = catalog.get(q)?;
                let mut p = BTreeMap::new();
                if *windowed {
                    p.insert("window".to_string(), w.clone());
                }
                let e = def.expand(&def.applicable(&p)).ok()?;
                Some(format!(
                    "label_replace(({}), \"vitals_signal\", \"{id}\", \"\", \"\")",
                    e.promql
                ))
            })
            .collect();
        Request::range(
            "incidents: signals",
            terms.join("\n  or "),
            start,
            end,
            self.step,
        )
    }

    /// Reads the answers (in the order of [`Plan::requests`]) into incidents.
    pub fn assemble(&self, answers: &[Result<Answer, PromError>]) -> IncidentReport {
        let mut errors = self.errors.clone();
        let mut members = Vec::new();
        let step = self.step.secs() as i64;
        let (from, to) = (self.from.timestamp(), self.to.timestamp());
        for (src, answer) in self.sources.iter().zip(answers) {
            match answer {
                Ok(a) => members.extend(src.members(a, step, from, to)),
                Err(e) => errors.push(e.to_string()),
            }
        }
        let signals = match answers.get(self.sources.len()) {
            Some(Ok(a)) => Signals::new(a),
            Some(Err(e)) => {
                errors.push(e.to_string());
                Signals::default()
            }
            None => Signals::default(),
        };
        let mut incidents = group(members, step);
        for (i, inc) in incidents.iter_mut().enumerate() {
            inc.id = i + 1;
            inc.ongoing = inc.end_s + step > to;
            inc.cause = signals.hints(inc.start_s, inc.end_s, step);
            inc.fill_text();
        }
        IncidentReport::new(self, incidents, errors)
    }
}

/// Signals read for the cause hints: (id, catalog query, takes the step as its window).
const SIGNALS: [(&str, &str, bool); 8] = [
    ("err", "api.error_ratio", true),
    ("p99", "api.latency_p99", true),
    ("depth", "rabbitmq.queue_depth", false),
    ("consumers", "rabbitmq.consumers", false),
    ("dead", "rabbitmq.dead_lettered", true),
    ("dropped", "rabbitmq.dropped", true),
    ("dbsat", "db.connection_saturation", false),
    ("s3p95", "s3.latency_p95_overall", true),
];

/// A series as `time (s) -> value`.
type Points = BTreeMap<i64, f64>;

fn points(s: &Series) -> Points {
    s.samples
        .iter()
        .filter(|(_, v)| v.is_finite())
        .map(|(t, v)| (t.round() as i64, *v))
        .collect()
}

/// A scrape target's condition labels: its `instance`.
fn instance_label(s: &Series) -> BTreeMap<String, String> {
    let instance = s.labels.get("instance").cloned().unwrap_or_default();
    BTreeMap::from([("instance".to_string(), instance)])
}

/// Runs of consecutive grid times (gaps of up to [`MERGE_GAP_STEPS`] merged), as
/// `(first, last)` step times.
fn runs(times: impl IntoIterator<Item = i64>, step: i64) -> Vec<(i64, i64)> {
    merge(strict_runs(times, step), step)
}

/// Runs of grid times one step apart, without a gap, as `(first, last)` step times.
fn strict_runs(times: impl IntoIterator<Item = i64>, step: i64) -> Vec<(i64, i64)> {
    let mut out: Vec<(i64, i64)> = Vec::new();
    for t in times {
        match out.last_mut() {
            Some(r) if t - r.1 <= step => r.1 = t,
            _ => out.push((t, t)),
        }
    }
    out
}

/// Runs (in time order) with gaps of up to [`MERGE_GAP_STEPS`] between them merged.
fn merge(runs: impl IntoIterator<Item = (i64, i64)>, step: i64) -> Vec<(i64, i64)> {
    let mut out: Vec<(i64, i64)> = Vec::new();
    for (a, b) in runs {
        match out.last_mut() {
            Some(r) if a - r.1 <= step * (MERGE_GAP_STEPS + 1) => r.1 = b,
            _ => out.push((a, b)),
        }
    }
    out
}

/// One condition that held: what the incidents are made of.
#[derive(Clone, Debug, Serialize)]
pub struct Member {
    /// The SLO (or `target-down`, `restart`).
    pub name: String,
    /// Labels that tell its series apart (a group, a queue, an instance).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    pub component: String,
    pub severity: Severity,
    /// When the problem it saw started and ended (RFC 3339).
    pub start: String,
    pub end: String,
    /// The worst burn rate (budget SLOs) or value (thresholds) while it held.
    pub peak: Option<f64>,
    /// `38.1x burn` or `20` in the SLO's unit.
    pub peak_text: String,
    /// A condition over a trailing window: it joins an incident without setting its bounds.
    pub trailing: bool,
    #[serde(skip)]
    start_s: i64,
    #[serde(skip)]
    end_s: i64,
}

impl Member {
    /// `mes-availability`, `queue-consumers{queue=crm.notifications}`.
    pub fn display_name(&self) -> String {
        crate::slo::eval::labelled_name(&self.name, &self.labels)
    }

    /// Whether the problem it saw overlapped `[start, end)` (Unix seconds).
    pub fn overlaps(&self, start: i64, end: i64) -> bool {
        self.start_s < end && self.end_s > start
    }
}

impl SourceDef {
    fn members(&self, a: &Answer, step: i64, from: i64, to: i64) -> Vec<Member> {
        let in_range = |t: &i64| *t >= from && *t <= to;
        let mut out = Vec::new();
        let mut push = |labels: BTreeMap<String, String>,
                        component: String,
                        severity: Severity,
                        (start, end): (i64, i64),
                        peak: Option<f64>,
                        peak_text: String,
                        trailing: bool| {
            out.push(Member {
                name: self.name.clone(),
                labels,
                component,
                severity,
                start: format_time(from_unix_seconds(start as f64)),
                end: format_time(from_unix_seconds(end as f64)),
                peak,
                peak_text,
                trailing,
                start_s: start,
                end_s: end,
            });
        };
        match &self.kind {
            Kind::Burn {
                target,
                pairs,
                good_total,
            } => {
                // group -> part -> points
                let mut groups: BTreeMap<BTreeMap<String, String>, BTreeMap<String, Points>> =
                    BTreeMap::new();
                for s in &a.series {
                    let part = s.labels.get("vitals_part").cloned().unwrap_or_default();
                    let g: BTreeMap<String, String> = self
                        .group_by
                        .iter()
                        .filter_map(|k| s.labels.get(k).map(|v| (k.clone(), v.clone())))
                        .collect();
                    groups.entry(g).or_default().insert(part, points(s));
                }
                let budget = 1.0 - target;
                for (g, parts) in groups {
                    let Some(total) = parts.get("total") else {
                        continue;
                    };
                    // Bad events per step (increase = rate x step). A missing `bad` series
                    // means no bad events; a missing `good` one means no data.
                    let st = step as f64;
                    let bad: BTreeMap<i64, (f64, f64)> = total
                        .iter()
                        .filter_map(|(t, tot)| {
                            let b = if *good_total {
                                (tot - parts.get("good")?.get(t)?).max(0.0)
                            } else {
                                parts
                                    .get("bad")
                                    .and_then(|p| p.get(t))
                                    .copied()
                                    .unwrap_or(0.0)
                            };
                            Some((*t, (b * st, tot * st)))
                        })
                        .collect();
                    let burn = |t: i64, w: Duration| -> Option<f64> {
                        let n = ((w.secs_f64() / st).round() as i64).max(1);
                        let (mut b, mut tot) = (0.0, 0.0);
                        for (_, (x, y)) in bad.range(t - (n - 1) * step..=t) {
                            b += x;
                            tot += y;
                        }
                        (tot > 0.0).then(|| b / tot / budget)
                    };
                    // A pair is judged only once data covers its long window: the first
                    // minutes of a history would otherwise "burn" on a handful of events.
                    let first = bad.keys().next().copied().unwrap_or(i64::MAX);
                    // Steps where a pair of each severity fired: (burn, pair).
                    let mut firing: [BTreeMap<i64, (f64, BurnPair)>; 2] = Default::default();
                    for t in bad.keys().copied().filter(in_range) {
                        for p in pairs {
                            if t - (p.long.secs() as i64) + step < first {
                                continue;
                            }
                            let (Some(l), Some(s)) = (burn(t, p.long), burn(t, p.short)) else {
                                continue;
                            };
                            if l > p.factor && s > p.factor {
                                let k = usize::from(p.severity == math::Severity::Page);
                                let e = firing[k].entry(t).or_insert((l, *p));
                                if p.factor < e.1.factor {
                                    *e = (l.max(e.0), *p);
                                } else {
                                    e.0 = e.0.max(l);
                                }
                            }
                        }
                    }
                    // Page conditions first: their problem is delimited per step. Ticket
                    // conditions of the same episode then only join it.
                    let mut paged: Vec<(i64, i64)> = Vec::new();
                    for (k, sev) in [(1, Severity::Page), (0, Severity::Ticket)] {
                        for (cs, ce) in runs(firing[k].keys().copied(), step) {
                            let held: Vec<&(f64, BurnPair)> =
                                firing[k].range(cs..=ce).map(|(_, v)| v).collect();
                            let peak = held.iter().map(|h| h.0).fold(0.0, f64::max);
                            let pair = held
                                .iter()
                                .map(|h| h.1)
                                .min_by(|a, b| a.factor.total_cmp(&b.factor))
                                .expect("a run has steps");
                            let joins = sev == Severity::Ticket
                                && paged
                                    .iter()
                                    .any(|(a, b)| cs <= *b + step && ce + step >= *a);
                            // The problem itself: steps burning faster than the lowest factor
                            // that fired, back to that pair's long window. A page pair is read
                            // per step; a ticket pair (slow, low factors) over its short window.
                            let window = if sev == Severity::Page {
                                Duration::from_secs(step as u64)
                            } else {
                                pair.short
                            };
                            let hot = bad.keys().copied().filter(|t| {
                                *t >= first && burn(*t, window).is_some_and(|b| b > pair.factor)
                            });
                            let lo = cs - pair.long.secs() as i64;
                            let extent = runs(hot, step)
                                .into_iter()
                                .filter(|(a, b)| *b >= lo && *a <= ce)
                                .fold(None, |acc: Option<(i64, i64)>, (a, b)| match acc {
                                    None => Some((a, b)),
                                    Some((x, y)) => Some((x.min(a), y.max(b))),
                                });
                            // A run's first step covers the step before it.
                            let (a, b) = if joins {
                                (cs, ce)
                            } else {
                                extent.unwrap_or((cs, ce))
                            };
                            let a = (a - step).max(from);
                            if sev == Severity::Page {
                                paged.push((a, b));
                            }
                            push(
                                g.clone(),
                                self.component.clone(),
                                sev,
                                (a, b.min(to)),
                                Some(peak),
                                format!("{} burn", crate::slo::eval::burn_text(peak)),
                                joins,
                            );
                        }
                    }
                }
            }
            Kind::Threshold {
                op,
                value,
                warn,
                for_,
                trailing,
                unit,
            } => {
                for s in &a.series {
                    let labels: BTreeMap<String, String> = if self.group_by.is_empty() {
                        s.labels.clone()
                    } else {
                        self.group_by
                            .iter()
                            .filter_map(|k| s.labels.get(k).map(|v| (k.clone(), v.clone())))
                            .collect()
                    };
                    let component = labels
                        .get("service")
                        .filter(|_| self.group_by.iter().any(|g| g == "service"))
                        .cloned()
                        .unwrap_or_else(|| self.component.clone());
                    let pts = points(s);
                    let bad = pts
                        .iter()
                        .filter(|(_, v)| !op.holds(**v, *value))
                        .map(|(t, _)| *t);
                    let early = pts
                        .iter()
                        .filter(|(_, v)| !op.holds(**v, warn.unwrap_or(*value)))
                        .map(|(t, _)| *t)
                        .collect::<Vec<_>>();
                    // `for`: the condition must hold that long without a break (from the
                    // first step it was seen to the last) before it alerts, as Prometheus
                    // judges it; runs that alerted are then merged across short gaps.
                    let alerted = strict_runs(bad, step)
                        .into_iter()
                        .filter(|(cs, ce)| (ce - cs) as u64 >= for_.secs());
                    for (cs, ce) in merge(alerted, step) {
                        if ce < from || cs > to {
                            continue;
                        }
                        let extent = if *trailing {
                            (cs, ce)
                        } else {
                            runs(early.iter().copied(), step)
                                .into_iter()
                                .find(|(a, b)| *a <= cs && *b >= ce)
                                .unwrap_or((cs, ce))
                        };
                        let worst = pts
                            .range(cs..=ce)
                            .map(|(_, v)| *v)
                            .reduce(|x, y| if op.upper_bound() { x.max(y) } else { x.min(y) });
                        push(
                            labels.clone(),
                            component.clone(),
                            self.severity,
                            ((extent.0 - step).max(from), extent.1.min(to)),
                            worst,
                            worst.map(|w| unit.format(w)).unwrap_or_default(),
                            *trailing,
                        );
                    }
                }
            }
            Kind::TargetDown => {
                // Per service: how many targets exist and which are down when.
                let mut per_service: BTreeMap<String, usize> = BTreeMap::new();
                for s in &a.series {
                    *per_service
                        .entry(s.labels.get("service").cloned().unwrap_or_default())
                        .or_default() += 1;
                }
                let mut down_at: BTreeMap<(String, i64), usize> = BTreeMap::new();
                for s in &a.series {
                    for (t, v) in points(s) {
                        if v == 0.0 {
                            *down_at
                                .entry((s.labels.get("service").cloned().unwrap_or_default(), t))
                                .or_default() += 1;
                        }
                    }
                }
                for s in &a.series {
                    let svc = s.labels.get("service").cloned().unwrap_or_default();
                    let down = points(s)
                        .into_iter()
                        .filter(|(t, v)| *v == 0.0 && in_range(t))
                        .map(|(t, _)| t);
                    for (cs, ce) in runs(down, step) {
                        let all = (cs..=ce).step_by(step as usize).any(|t| {
                            down_at.get(&(svc.clone(), t)).copied().unwrap_or(0)
                                >= per_service[&svc]
                        });
                        push(
                            instance_label(s),
                            svc.clone(),
                            if all {
                                Severity::Page
                            } else {
                                Severity::Ticket
                            },
                            ((cs - step).max(from), ce),
                            None,
                            if all {
                                "all targets down".into()
                            } else {
                                "not scraped".into()
                            },
                            false,
                        );
                    }
                }
            }
            Kind::Restart => {
                for s in &a.series {
                    let svc = s.labels.get("service").cloned().unwrap_or_default();
                    for (t, v) in points(s) {
                        if v > 0.0 && in_range(&t) {
                            push(
                                instance_label(s),
                                svc.clone(),
                                Severity::Info,
                                ((t - step).max(from), t),
                                None,
                                "restarted".into(),
                                false,
                            );
                        }
                    }
                }
            }
        }
        out
    }
}

/// One incident: overlapping conditions, grouped.
#[derive(Clone, Debug, Serialize)]
pub struct Incident {
    /// 1, 2, ... in time order.
    pub id: usize,
    /// When the problem started (RFC 3339).
    pub start: String,
    /// When it ended; null while it is still going on at the end of the range.
    pub end: Option<String>,
    /// Seconds from start to end (or to the end of the range while ongoing).
    pub duration_seconds: f64,
    pub ongoing: bool,
    pub severity: Severity,
    /// The component of its first and loudest condition.
    pub component: String,
    /// Every component involved.
    pub components: Vec<String>,
    /// A one-line summary: `mes-availability (page, 58.6x burn)`.
    pub title: String,
    /// Its conditions.
    pub conditions: Vec<Member>,
    /// What else changed meanwhile: `mes 5xx 0.21 % -> 58.4 %`.
    pub cause: Vec<String>,
    #[serde(skip)]
    start_s: i64,
    #[serde(skip)]
    end_s: i64,
}

impl Incident {
    fn fill_text(&mut self) {
        self.start = format_time(from_unix_seconds(self.start_s as f64));
        self.end = (!self.ongoing).then(|| format_time(from_unix_seconds(self.end_s as f64)));
        self.duration_seconds = (self.end_s - self.start_s) as f64;
        let mut comps: Vec<String> = Vec::new();
        for m in &self.conditions {
            if !m.component.is_empty() && !comps.contains(&m.component) {
                comps.push(m.component.clone());
            }
        }
        self.components = comps;
        let primary = self
            .conditions
            .iter()
            .filter(|m| !m.trailing)
            .max_by(|a, b| a.severity.cmp(&b.severity).then(b.start_s.cmp(&a.start_s)))
            .or(self.conditions.first());
        if let Some(p) = primary {
            self.component = p.component.clone();
            self.title = format!(
                "{} ({}, {})",
                p.display_name(),
                p.severity.as_str(),
                p.peak_text
            );
            let more = self.conditions.len() - 1;
            if more > 0 {
                self.title.push_str(&format!(" +{more} more"));
            }
        }
    }

    pub fn start_time(&self) -> DateTime<Utc> {
        from_unix_seconds(self.start_s as f64)
    }

    pub fn end_time(&self) -> DateTime<Utc> {
        from_unix_seconds(self.end_s as f64)
    }
}

/// Groups conditions into incidents: those that set bounds overlap (or touch within a step);
/// trailing ones join the incident they overlap most, or stand alone.
fn group(mut members: Vec<Member>, step: i64) -> Vec<Incident> {
    members.sort_by_key(|m| (m.start_s, m.end_s));
    let (leading, trailing): (Vec<Member>, Vec<Member>) =
        members.into_iter().partition(|m| !m.trailing);
    let mut incidents: Vec<Incident> = Vec::new();
    let new = |m: Member| Incident {
        id: 0,
        start: String::new(),
        end: None,
        duration_seconds: 0.0,
        ongoing: false,
        severity: m.severity,
        component: String::new(),
        components: vec![],
        title: String::new(),
        start_s: m.start_s,
        end_s: m.end_s,
        conditions: vec![m],
        cause: vec![],
    };
    for m in leading {
        match incidents.last_mut() {
            Some(i) if m.start_s <= i.end_s + step => {
                i.end_s = i.end_s.max(m.end_s);
                i.severity = i.severity.max(m.severity);
                i.conditions.push(m);
            }
            _ => incidents.push(new(m)),
        }
    }
    for m in trailing {
        let best = incidents
            .iter_mut()
            .map(|i| {
                let overlap = m.end_s.min(i.end_s) - m.start_s.max(i.start_s);
                (overlap, i)
            })
            .filter(|(o, _)| *o >= 0)
            .max_by_key(|(o, _)| *o);
        match best {
            Some((_, i)) => {
                i.severity = i.severity.max(m.severity);
                i.conditions.push(m);
            }
            None => incidents.push(new(m)),
        }
    }
    incidents.sort_by_key(|i| (i.start_s, i.end_s));
    incidents
}

/// The hint signals, by id then labels.
#[derive(Default)]
struct Signals {
    by_id: BTreeMap<String, Labelled>,
}

/// How a hint is worded from a signal's labels, its value before and during an incident.
type Say<'a> = &'a dyn Fn(&BTreeMap<String, String>, f64, f64) -> String;

/// Series of one hint signal: labels and points.
type Labelled = Vec<(BTreeMap<String, String>, Points)>;

impl Signals {
    fn new(a: &Answer) -> Signals {
        let mut by_id: BTreeMap<String, Labelled> = BTreeMap::new();
        for s in &a.series {
            let mut labels = s.labels.clone();
            let Some(id) = labels.remove("vitals_signal") else {
                continue;
            };
            by_id.entry(id).or_default().push((labels, points(s)));
        }
        Signals { by_id }
    }

    /// What changed during `[start, end]` compared with the hour before, strongest first.
    fn hints(&self, start: i64, end: i64, step: i64) -> Vec<String> {
        let base_from = start - BASELINE.secs() as i64;
        let mut found: Vec<(f64, String)> = Vec::new();
        let series = |id: &str| self.by_id.get(id).map(|v| v.as_slice()).unwrap_or(&[]);
        let median = |p: &Points, a: i64, b: i64| -> Option<f64> {
            let mut v: Vec<f64> = p.range(a..b).map(|(_, v)| *v).collect();
            if v.is_empty() {
                return None;
            }
            v.sort_by(f64::total_cmp);
            Some(v[v.len() / 2])
        };
        let during = |p: &Points| -> Vec<f64> { p.range(start..=end).map(|(_, v)| *v).collect() };
        let name =
            |l: &BTreeMap<String, String>, key: &str| l.get(key).cloned().unwrap_or_default();
        // Each signal: its median the hour before against a summary of the incident (error
        // ratios and latencies by their mean, so one failed request at a quiet hour does not
        // make a hint); `judge` says how strong a change is (None: no hint) and `say` how to
        // put it.
        let mut compare = |id: &str,
                           how: fn(&[f64]) -> Option<f64>,
                           judge: &dyn Fn(f64, f64) -> Option<f64>,
                           say: Say| {
            for (l, p) in series(id) {
                let (Some(base), Some(now)) = (median(p, base_from, start), how(&during(p))) else {
                    continue;
                };
                if let Some(strength) = judge(base, now) {
                    found.push((strength, say(l, base, now)));
                }
            }
        };
        fn mean(v: &[f64]) -> Option<f64> {
            (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
        }
        fn max(v: &[f64]) -> Option<f64> {
            v.iter().copied().reduce(f64::max)
        }
        fn min(v: &[f64]) -> Option<f64> {
            v.iter().copied().reduce(f64::min)
        }
        let ratio = |l: &BTreeMap<String, String>, b: f64, n: f64, what: &str, key: &str| {
            format!(
                "{} {what} {} -> {}",
                name(l, key),
                Unit::Ratio.format(b),
                Unit::Ratio.format(n)
            )
        };
        compare(
            "err",
            mean,
            &|b, n| (n - b >= 0.01 && n >= 3.0 * b).then(|| 10.0 + n / b.max(1e-4)),
            &|l, b, n| ratio(l, b, n, "5xx", "service"),
        );
        compare(
            "consumers",
            min,
            &|b, n| (n < b && b >= 1.0).then_some(9.0 + b - n),
            &|l, b, n| format!("{} consumers {b} -> {n}", name(l, "queue")),
        );
        compare(
            "depth",
            max,
            &|b, n| (n - b >= 5.0 && n >= 2.0 * b).then(|| 8.0 + (n - b) / 100.0),
            &|l, b, n| {
                format!(
                    "{} depth {} -> {}",
                    name(l, "queue"),
                    Unit::Count.format(b),
                    Unit::Count.format(n)
                )
            },
        );
        compare(
            "dbsat",
            max,
            &|b, n| (n - b >= 0.2).then_some(6.0 + n),
            &|l, b, n| format!("{} of max", ratio(l, b, n, "connections", "service")),
        );
        for (id, what) in [("p99", "p99"), ("s3p95", "S3 p95")] {
            compare(
                id,
                mean,
                &|b, n| (n >= 2.0 * b && n - b >= 0.1).then(|| 5.0 + n / b.max(1e-3) / 100.0),
                &|l, b, n| {
                    let who = name(l, "service");
                    let who = if who.is_empty() {
                        String::new()
                    } else {
                        format!("{who} ")
                    };
                    format!(
                        "{who}{what} {} -> {}",
                        Unit::Seconds.format(b),
                        Unit::Seconds.format(n)
                    )
                },
            );
        }
        // Messages: how many during the incident, against the rate per step before it.
        for (id, what) in [("dead", "dead-lettered"), ("dropped", "dropped (no DLX)")] {
            for (l, p) in series(id) {
                let n: f64 = during(p).iter().sum();
                let steps_in = ((end - start) / step + 1) as f64;
                let before: Vec<f64> = p.range(base_from..start).map(|(_, v)| *v).collect();
                let rate_before = before.iter().sum::<f64>() / before.len().max(1) as f64;
                if n >= 3.0 && n / steps_in >= 3.0 * rate_before {
                    found.push((
                        7.0 + n / 1000.0,
                        format!("{what} {} +{}", name(l, "reason"), Unit::Count.format(n)),
                    ));
                }
            }
        }
        found.sort_by(|a, b| b.0.total_cmp(&a.0));
        found.into_iter().take(5).map(|(_, s)| s).collect()
    }
}

/// `vitals incidents --format json` (and the incidents section of a report).
#[derive(Clone, Debug, Serialize)]
pub struct IncidentReport {
    /// Layout version of this document.
    pub schema_version: u32,
    /// The range searched (RFC 3339).
    pub from: String,
    pub to: String,
    /// The resolution: starts and ends are accurate to one step.
    pub step: String,
    /// How the incidents were found.
    pub method: &'static str,
    pub incidents: Vec<Incident>,
    pub summary: Summary,
    /// Queries that failed or SLOs that could not be read: the list may be incomplete.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// Incidents found (every severity).
    pub count: usize,
    /// Incidents by severity.
    pub by_severity: BTreeMap<&'static str, usize>,
    /// Mean duration of the page and ticket incidents that ended (null without any).
    pub mttr_seconds: Option<f64>,
    /// The longest incident: its id and seconds.
    pub longest: Option<(usize, f64)>,
    /// Time during which at least one incident was going on, in seconds.
    pub total_seconds: f64,
}

impl IncidentReport {
    fn new(plan: &Plan, incidents: Vec<Incident>, errors: Vec<String>) -> Self {
        let mut by_severity = BTreeMap::new();
        for s in [Severity::Page, Severity::Ticket, Severity::Info] {
            by_severity.insert(
                s.as_str(),
                incidents.iter().filter(|i| i.severity == s).count(),
            );
        }
        let counted: Vec<f64> = incidents
            .iter()
            .filter(|i| i.severity >= Severity::Ticket && !i.ongoing)
            .map(|i| i.duration_seconds)
            .collect();
        let mttr =
            (!counted.is_empty()).then(|| counted.iter().sum::<f64>() / counted.len() as f64);
        let longest = incidents
            .iter()
            .max_by(|a, b| a.duration_seconds.total_cmp(&b.duration_seconds))
            .map(|i| (i.id, i.duration_seconds));
        // The union of the intervals (they are in start order and do not overlap by
        // construction, except trailing conditions which never extend them).
        let mut total = 0i64;
        let mut cover: Option<(i64, i64)> = None;
        for i in &incidents {
            match cover {
                Some((a, b)) if i.start_s <= b => cover = Some((a, b.max(i.end_s))),
                Some((a, b)) => {
                    total += b - a;
                    cover = Some((i.start_s, i.end_s));
                }
                None => cover = Some((i.start_s, i.end_s)),
            }
        }
        if let Some((a, b)) = cover {
            total += b - a;
        }
        IncidentReport {
            schema_version: crate::render::json::SCHEMA_VERSION,
            from: format_time(plan.from),
            to: format_time(plan.to),
            step: plan.step.to_string(),
            method: "alert conditions of slo.toml computed from the raw metrics (ALERTS history is not used)",
            summary: Summary {
                count: incidents.len(),
                by_severity,
                mttr_seconds: mttr,
                longest,
                total_seconds: total as f64,
            },
            incidents,
            errors,
        }
    }

    /// Incidents that overlap `[from, to)`.
    pub fn within(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<&Incident> {
        self.incidents
            .iter()
            .filter(|i| i.start_time() < to && i.end_time() >= from)
            .collect()
    }
}

/// `47m`, `6h30m`, `2m (ongoing)`.
pub fn duration_text(seconds: f64, ongoing: bool) -> String {
    // Whole minutes from ten minutes up: `1h52m`, not `1h51m36s`.
    let s = seconds.max(0.0);
    let s = if s >= 600.0 {
        (s / 60.0).round() * 60.0
    } else {
        s.round()
    };
    let d = Duration::from_secs(s as u64);
    if ongoing {
        format!("{d} (ongoing)")
    } else {
        d.to_string()
    }
}

/// `6 incidents from .. to .. (step 2m): 2 page, 3 ticket, 1 info; MTTR 1h12m; longest #2
/// (6h30m); 9h10m in all`.
pub fn summary_line(r: &IncidentReport) -> String {
    let s = &r.summary;
    let mut out = String::new();
    if !r.errors.is_empty() {
        out.push_str(&format!(
            "INCOMPLETE ({} quer{} failed, see below): ",
            r.errors.len(),
            if r.errors.len() == 1 { "y" } else { "ies" }
        ));
    }
    out.push_str(&format!(
        "{} incident{} from {} to {} (step {}): {} page, {} ticket, {} info",
        s.count,
        if s.count == 1 { "" } else { "s" },
        r.from,
        r.to,
        r.step,
        s.by_severity["page"],
        s.by_severity["ticket"],
        s.by_severity["info"]
    ));
    if let Some(m) = s.mttr_seconds {
        out.push_str(&format!("; MTTR {}", duration_text(m, false)));
    }
    if let Some((id, secs)) = s.longest {
        out.push_str(&format!("; longest #{id} ({})", duration_text(secs, false)));
    }
    if s.count > 0 {
        out.push_str(&format!(
            "; {} in all",
            duration_text(s.total_seconds, false)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(start: i64, end: i64, trailing: bool, sev: Severity) -> Member {
        Member {
            name: format!("m{start}"),
            labels: BTreeMap::new(),
            component: "c".into(),
            severity: sev,
            start: String::new(),
            end: String::new(),
            peak: None,
            peak_text: String::new(),
            trailing,
            start_s: start,
            end_s: end,
        }
    }

    #[test]
    fn runs_merge_short_gaps_only() {
        assert_eq!(runs([0, 60, 120, 300, 600], 60), vec![(0, 300), (600, 600)]);
        assert_eq!(runs([], 60), vec![]);
    }

    #[test]
    fn a_for_is_judged_on_runs_without_a_gap() {
        // Bad at 0 and 6m with good samples between: two one-sample runs, neither of
        // which held for 5m, though merged they would span 6m.
        let bad = [0, 360];
        assert_eq!(runs(bad, 120), vec![(0, 360)]);
        assert_eq!(strict_runs(bad, 120), vec![(0, 0), (360, 360)]);
        // Runs that held are merged across short gaps afterwards.
        assert_eq!(merge([(0, 300), (480, 900)], 120), vec![(0, 900)]);
        assert_eq!(
            merge([(0, 300), (900, 1200)], 120),
            vec![(0, 300), (900, 1200)]
        );
    }

    #[test]
    fn overlapping_conditions_make_one_incident_and_trailing_ones_do_not_stretch_it() {
        let inc = group(
            vec![
                member(1000, 4000, false, Severity::Page),
                member(3000, 5000, false, Severity::Ticket),
                member(3500, 9000, true, Severity::Page),
                member(20000, 21000, true, Severity::Ticket),
            ],
            120,
        );
        assert_eq!(inc.len(), 2);
        assert_eq!((inc[0].start_s, inc[0].end_s), (1000, 5000));
        assert_eq!(inc[0].conditions.len(), 3);
        assert_eq!(inc[0].severity, Severity::Page);
        // A trailing condition on its own is an incident with its own bounds.
        assert_eq!((inc[1].start_s, inc[1].end_s), (20000, 21000));
    }
}
