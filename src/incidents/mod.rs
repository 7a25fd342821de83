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

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::Serialize;

mod conditions;
mod group;
mod hints;

use crate::config::Config;
use crate::duration::Duration;
use crate::prom::{Answer, Answers, Batch, Prom, Request, Series, tag};
use crate::slo::math::BurnPair;
use crate::slo::model::{Alerting, Objective, Slo};
use crate::slo::sli;
use crate::timespec::{format_time, from_unix_seconds};

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
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Ticket => "ticket",
            Severity::Page => "page",
        }
    }
}

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
    Threshold(conditions::Threshold),
    /// The scrape targets of every component that has them, tagged `vitals_component`.
    TargetDown,
    /// Counter resets of the components' processes, tagged `vitals_component`.
    Restart,
}

/// One range query whose answer yields conditions.
#[derive(Clone, Debug)]
struct SourceDef {
    /// SLO name, or `target-down` / `restart`.
    name: String,
    /// The SLO's component (or group); empty for targets and restarts.
    component: String,
    severity: Severity,
    kind: Kind,
    group_by: Vec<String>,
}

/// What a plan asks: the sources of conditions, then the hints' signals around the
/// incidents found (one request per span).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Ask {
    Source(usize),
    Hints(usize),
}

/// At most this many spans of hint signals are asked for (one range query each); more
/// incidents than that are covered by fewer, wider spans.
const MAX_HINT_SPANS: usize = 8;

/// At most this many spans of a threshold SLO's raw values are asked for around its
/// recorded violated minutes (one range query each).
const MAX_BREACH_SPANS: usize = 8;
/// How far before its first recorded violated minute a threshold's raw values are read: an
/// incident starts where its warn level was first crossed, looked for this far back (and
/// its `for` before that).
const WARN_LOOKBACK: Duration = Duration::from_secs(3 * 3600);

/// A threshold SLO whose conditions are read in two phases: its recorded violated minutes
/// per step over the whole range, then its raw values only around the steps with one.
#[derive(Clone, Debug)]
struct Prefilter {
    /// The SLO's own query (raw).
    promql: String,
    /// How far before a violated step its values are read.
    before: Duration,
}

/// Everything needed to find the incidents of `[from, to]`: the requests to send, and how
/// to read their answers.
pub struct Plan<'a> {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub step: Duration,
    config: &'a Config,
    sources: Vec<(SourceDef, Request)>,
    /// The budget SLOs whose burn rates are read from their recorded increases.
    recorded: Vec<String>,
    /// Threshold SLOs read raw only around their recorded violated minutes, by source.
    prefiltered: BTreeMap<usize, Prefilter>,
    /// KPI terms (`vitals_term`) whose recorded increases cover the range: per-step cause
    /// hints made of them are summed from those (see [`Search::terms`]).
    hint_terms: BTreeSet<String>,
    /// Problems found while planning (a latency threshold that is not a bucket).
    pub errors: Vec<String>,
}

/// Chooses the step for a range: `wanted` when given, else at least [`MIN_STEP`]; whole
/// minutes, and coarser when needed for few enough points for every query (which reach back
/// by their longest window).
pub(crate) fn choose_step(
    slos: &[Slo],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    wanted: Option<Duration>,
) -> Duration {
    let lookback = slos
        .iter()
        .filter_map(|s| sli::pairs_at(s, to))
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

/// Every query is on the same grid: multiples of the step since the epoch.
fn grid(t: DateTime<Utc>, step: Duration) -> DateTime<Utc> {
    let s = step.secs() as i64;
    from_unix_seconds((t.timestamp().div_euclid(s) * s) as f64)
}

impl<'a> Plan<'a> {
    /// Plans the queries for `slos` (those of `config`, or some of them); `buckets` are the
    /// `le` labels of their latency SLOs ([`sli::resolve_buckets`]).
    pub(crate) fn new(
        config: &'a Config,
        slos: &[Slo],
        (from, to): (DateTime<Utc>, DateTime<Utc>),
        step: Duration,
        with_targets: bool,
        buckets: &sli::Buckets,
        recorded: &BTreeSet<String>,
    ) -> Plan<'a> {
        let mut plan = Plan {
            from,
            to,
            step,
            config,
            sources: Vec::new(),
            recorded: Vec::new(),
            prefiltered: BTreeMap::new(),
            hint_terms: BTreeSet::new(),
            errors: Vec::new(),
        };
        for slo in slos {
            plan.add_slo(slo, buckets, recorded.contains(&slo.name));
        }
        if with_targets {
            plan.add_targets();
        }
        plan
    }

    /// Every request of the plan (the fuzz targets and tests check their PromQL).
    pub(crate) fn requests(&self) -> impl Iterator<Item = Request> {
        let whole = grid(self.from - BASELINE.to_chrono(), self.step).timestamp();
        let hints = self.hints_request((whole, grid(self.to, self.step).timestamp()));
        self.sources.iter().map(|(_, r)| r.clone()).chain(hints)
    }

    fn range(&self, label: String, promql: String, lookback: Duration) -> Request {
        let start = grid(self.from - lookback.to_chrono(), self.step);
        Request::range(label, promql, start, grid(self.to, self.step), self.step)
    }

    fn add_slo(&mut self, slo: &Slo, buckets: &sli::Buckets, recorded: bool) {
        let label = format!("incidents of {}", slo.name);
        let def = |severity, kind| SourceDef {
            name: slo.name.clone(),
            component: slo.component.clone(),
            severity,
            kind,
            group_by: slo.group_by.clone(),
        };
        match &slo.objective {
            Objective::Budget { .. } => {
                let parts = match sli::parts_with(slo, buckets) {
                    Ok(Some(p)) => p,
                    Ok(None) => return,
                    Err(p) => {
                        self.errors.push(bucket_error(slo, &p));
                        return;
                    }
                };
                let (target, pairs) = sli::pairs_at(slo, self.to).expect("budget SLO");
                let longest = pairs.iter().map(|p| p.long).max().unwrap_or_default();
                // Recorded increases sum exactly over a step of whole intervals.
                let per_step = if recorded && self.step.secs() % sli::RECORD_INTERVAL.secs() == 0 {
                    self.recorded.push(slo.name.clone());
                    parts.clone().reading_recorded(slo).at_step(self.step)
                } else {
                    parts.at(self.step)
                };
                let promql = per_step
                    .iter()
                    .map(|(part, q)| tag(q, &[("vitals_part", part.as_str())]))
                    .collect::<Vec<_>>()
                    .join("\n  or ");
                let req = self.range(label, promql, longest);
                let kind = Kind::Burn {
                    target,
                    pairs,
                    good_total: parts.counts_good(),
                };
                self.sources.push((def(Severity::Page, kind), req));
            }
            Objective::Threshold {
                expr,
                op,
                value,
                warn,
                for_,
                severity,
            } => {
                if *severity == Alerting::None {
                    return;
                }
                let for_ = for_.unwrap_or(crate::slo::model::DEFAULT_FOR);
                let trailing = expr.window.is_some_and(|w| w >= TRAILING_WINDOW);
                let lookback = threshold_lookback(slo).expect("a threshold SLO");
                let breach = crate::report::recorded::Breach::of(slo).filter(|_| recorded);
                let req = match breach {
                    Some(b) => {
                        self.prefiltered.insert(
                            self.sources.len(),
                            Prefilter {
                                promql: expr.promql.clone(),
                                before: Duration::from_millis(
                                    WARN_LOOKBACK.millis() + for_.millis(),
                                ),
                            },
                        );
                        self.range(label, b.violated_per_step(self.step), lookback)
                    }
                    None => self.range(label, expr.promql.clone(), lookback),
                };
                let sev = match severity {
                    Alerting::Page => Severity::Page,
                    _ => Severity::Ticket,
                };
                let kind = Kind::Threshold(conditions::Threshold {
                    op: *op,
                    value: *value,
                    warn: *warn,
                    for_,
                    trailing,
                    unit: expr.unit,
                });
                self.sources.push((def(sev, kind), req));
            }
        }
    }

    /// Targets down and restarts of every component with scrape targets, one query each.
    fn add_targets(&mut self) {
        let step = self.step;
        let per_component = |q: &dyn Fn(&str) -> String| -> Option<String> {
            let terms: Vec<String> = self
                .config
                .site
                .components
                .iter()
                .filter_map(|c| {
                    let m = c.targets.as_ref()?;
                    Some(tag(&q(m), &[("vitals_component", &c.name)]))
                })
                .collect();
            (!terms.is_empty()).then(|| terms.join("\n  or "))
        };
        let sources = [
            (
                "target-down",
                Severity::Ticket,
                Kind::TargetDown,
                per_component(&|m| format!("min by (instance) (min_over_time(up{{{m}}}[{step}]))")),
            ),
            (
                "restart",
                Severity::Info,
                Kind::Restart,
                per_component(&|m| {
                    format!("max by (instance) (resets(process_cpu_seconds_total{{{m}}}[{step}]))")
                }),
            ),
        ];
        for (name, severity, kind, promql) in sources {
            let Some(promql) = promql else { continue };
            let req = self.range(format!("incidents: {name}"), promql, BASELINE);
            let def = SourceDef {
                name: name.into(),
                component: String::new(),
                severity,
                kind,
                group_by: vec![],
            };
            self.sources.push((def, req));
        }
    }

    /// The signals of the site's cause hints over `[from, to]` (Unix seconds on the grid),
    /// one range query.
    /// A per-step hint's query with its terms summed from the recorded KPI increases over
    /// each step, when the step is whole record intervals and every term covers the range
    /// (the charts' rule: on the step grid each recorded point falls in one step).
    fn recorded_hint(&self, h: &crate::site::Hint) -> Option<String> {
        use crate::report::recorded::{MARKER, rewrite};
        if !h.per_step
            || self.hint_terms.is_empty()
            || self.step.secs() % sli::RECORD_INTERVAL.secs() != 0
        {
            return None;
        }
        let marked = h
            .source
            .expand(&self.config.catalog, &[("window", MARKER.to_string())])
            .ok()?;
        let (q, terms) = rewrite(&marked.promql, self.step).ok()?;
        (!terms.is_empty() && terms.iter().all(|t| self.hint_terms.contains(&t.id()))).then_some(q)
    }

    /// The per-step hints read from recorded increases (their query names).
    fn recorded_hints(&self) -> Vec<String> {
        self.config
            .site
            .hints
            .iter()
            .filter(|h| self.recorded_hint(h).is_some())
            .map(|h| h.source.query.clone())
            .collect()
    }

    fn hints_request(&self, (from, to): (i64, i64)) -> Option<Request> {
        let w = self.step.to_string();
        let terms: Vec<String> = self
            .config
            .site
            .hints
            .iter()
            .enumerate()
            .filter_map(|(i, h)| {
                let promql = match self.recorded_hint(h) {
                    Some(q) => q,
                    None => {
                        let extra = if h.per_step {
                            vec![("window", w.clone())]
                        } else {
                            vec![]
                        };
                        h.source.expand(&self.config.catalog, &extra).ok()?.promql
                    }
                };
                Some(tag(&promql, &[("vitals_hint", &i.to_string())]))
            })
            .collect();
        (!terms.is_empty()).then(|| {
            Request::range(
                "incidents: signals",
                terms.join("\n  or "),
                from_unix_seconds(from as f64),
                from_unix_seconds(to as f64),
                self.step,
            )
        })
    }

    /// The spans the hints need: each incident and the hour before it, on the grid,
    /// overlapping ones joined, at most [`MAX_HINT_SPANS`] (the closest joined first).
    fn hint_spans(&self, incidents: &[Incident]) -> Vec<(i64, i64)> {
        let step = self.step.secs() as i64;
        let on_grid = |t: i64| t.div_euclid(step) * step;
        let spans: Vec<(i64, i64)> = incidents
            .iter()
            .map(|i| {
                (
                    on_grid(i.start_s - BASELINE.secs() as i64),
                    on_grid(i.end_s + step - 1),
                )
            })
            .collect();
        join_spans(spans, step, MAX_HINT_SPANS)
    }

    /// The spans of raw values a prefiltered threshold needs: around every step at which
    /// its recorded minutes say it was violated (by any group), from `before` earlier to
    /// two steps later, on the grid and within the range asked, joined, at most
    /// [`MAX_BREACH_SPANS`].
    fn breach_spans(&self, violated: &Answer, before: Duration) -> Vec<(i64, i64)> {
        let step = self.step.secs() as i64;
        let on_grid = |t: i64| t.div_euclid(step) * step;
        let first = grid(self.from - BASELINE.to_chrono(), self.step).timestamp();
        let last = grid(self.to, self.step).timestamp();
        let spans: Vec<(i64, i64)> = violated
            .series
            .iter()
            .flat_map(|s| s.samples.iter())
            .filter(|(_, v)| *v >= 1.0)
            .map(|(t, _)| {
                let t = *t as i64;
                (
                    on_grid(t - before.secs() as i64).max(first),
                    (t + 2 * step).min(last),
                )
            })
            .collect();
        join_spans(spans, step, MAX_BREACH_SPANS)
    }

    /// The second phase of the prefiltered thresholds: their raw values asked around their
    /// violated steps, put in place of the recorded minutes as one answer per SLO.
    async fn refine(&self, answers: &mut Answers<Ask>, prom: &Prom, progress: &(dyn Fn() + Sync)) {
        let mut batch = Batch::new();
        let mut asked: BTreeMap<usize, usize> = BTreeMap::new();
        for (i, pre) in &self.prefiltered {
            let Some(Ok(violated)) = answers.get(&Ask::Source(*i)) else {
                continue;
            };
            let spans = self.breach_spans(violated, pre.before);
            asked.insert(*i, spans.len());
            for (k, (a, b)) in spans.into_iter().enumerate() {
                let req = Request::range(
                    format!(
                        "{} around its recorded violations",
                        self.sources[*i].1.label
                    ),
                    pre.promql.clone(),
                    from_unix_seconds(a as f64),
                    from_unix_seconds(b as f64),
                    self.step,
                );
                batch.add((*i, k), req);
            }
        }
        let mut raw = prom.run_batch(batch, progress).await;
        for (i, n) in asked {
            let mut merged: BTreeMap<BTreeMap<String, String>, BTreeMap<i64, f64>> =
                BTreeMap::new();
            let mut warnings = Vec::new();
            let mut failed = None;
            for k in 0..n {
                match raw.take(&(i, k)) {
                    Some(Ok(a)) => {
                        warnings.extend(a.warnings);
                        for s in a.series {
                            let points = merged.entry(s.labels).or_default();
                            for (t, v) in s.samples {
                                points.insert(t as i64, v);
                            }
                        }
                    }
                    Some(Err(e)) => failed = Some(e),
                    None => {}
                }
            }
            let answer = match failed {
                Some(e) => Err(e),
                None => Ok(Answer {
                    series: merged
                        .into_iter()
                        .map(|(labels, points)| Series {
                            labels,
                            samples: points.into_iter().map(|(t, v)| (t as f64, v)).collect(),
                        })
                        .collect(),
                    warnings,
                }),
            };
            answers.put(Ask::Source(i), answer);
        }
    }

    fn batch(&self) -> Batch<Ask> {
        let mut b = Batch::new();
        for (i, (_, req)) in self.sources.iter().enumerate() {
            b.add(Ask::Source(i), req.clone());
        }
        b
    }

    /// Reads the answers of the sources into incidents (their causes not yet found).
    fn incidents(&self, answers: &mut Answers<Ask>, errors: &mut Vec<String>) -> Vec<Incident> {
        let mut members = Vec::new();
        let step = self.step.secs() as i64;
        let window = (self.from.timestamp(), self.to.timestamp());
        for (i, (src, _)) in self.sources.iter().enumerate() {
            match answers.take(&Ask::Source(i)) {
                Some(Ok(a)) => {
                    members.extend(conditions::of(src, &self.config.site, &a, step, window))
                }
                Some(Err(e)) => errors.push(e.to_string()),
                None => {}
            }
        }
        let mut incidents = group::group(members, step);
        for (i, inc) in incidents.iter_mut().enumerate() {
            inc.id = i + 1;
            inc.ongoing = inc.end_s + step > window.1;
        }
        incidents
    }

    /// The incidents with their cause hints, as a report.
    fn finish(
        &self,
        mut incidents: Vec<Incident>,
        signals: &hints::Signals,
        errors: Vec<String>,
    ) -> IncidentReport {
        let step = self.step.secs() as i64;
        for inc in incidents.iter_mut() {
            inc.cause = signals.hints(&self.config.site.hints, inc.start_s, inc.end_s, step);
            inc.fill_text();
        }
        IncidentReport::new(self, incidents, errors)
    }
}

/// How far before the range a threshold SLO's values are read: the hints' hour before an
/// incident, and its `for` (None for other SLOs).
fn threshold_lookback(slo: &Slo) -> Option<Duration> {
    let Objective::Threshold { for_, .. } = &slo.objective else {
        return None;
    };
    let for_ = for_.unwrap_or(crate::slo::model::DEFAULT_FOR);
    Some(Duration::from_millis(BASELINE.millis() + for_.millis()))
}

fn bucket_error(slo: &Slo, p: &sli::BucketProblem) -> String {
    match p {
        sli::BucketProblem::NotABucket { message } | sli::BucketProblem::NoSeries { message } => {
            format!("SLO {}: {message}", slo.name)
        }
        sli::BucketProblem::Query(e) => format!("SLO {}: {e}", slo.name),
    }
}

/// Spans joined where they overlap or touch (within `step`), then the closest ones until
/// at most `max` are left.
fn join_spans(mut spans: Vec<(i64, i64)>, step: i64, max: usize) -> Vec<(i64, i64)> {
    spans.sort();
    let mut joined: Vec<(i64, i64)> = Vec::new();
    for (a, b) in spans {
        match joined.last_mut() {
            Some(last) if a <= last.1 + step => last.1 = last.1.max(b),
            _ => joined.push((a, b)),
        }
    }
    while joined.len() > max.max(1) {
        let i = (1..joined.len())
            .min_by_key(|&i| joined[i].0 - joined[i - 1].1)
            .expect("two spans or more");
        joined[i - 1].1 = joined[i].1;
        joined.remove(i);
    }
    joined
}

/// What a search found, and what to tell the user about it.
pub struct Found {
    pub report: IncidentReport,
    /// The step asked for, when a coarser one had to be used.
    pub step_raised: Option<Duration>,
    /// Warnings Prometheus attached to the answers.
    pub warnings: Vec<String>,
    /// Whether a latency threshold is not a bucket (a configuration error).
    pub config_error: bool,
}

/// How many requests [`find`] sends at most (for progress bars).
pub(crate) fn query_estimate(slos: &[Slo]) -> usize {
    slos.iter()
        .filter(|s| sli::bucket_query(s).is_some())
        .count()
        + slos.len()
        + 3
}

/// What to search: the SLOs' conditions (and the scrape targets') over a range.
pub(crate) struct Search<'a> {
    pub slos: &'a [Slo],
    pub range: (DateTime<Utc>, DateTime<Utc>),
    /// The step asked for; `None`: chosen for the range.
    pub step: Option<Duration>,
    /// Also targets down and restarts.
    pub with_targets: bool,
    /// Budget SLOs whose recorded increases (`vitals rules`, current fingerprint) cover the
    /// range and the lookback of its burn windows: their burn rates are summed from those
    /// at a step that is a whole number of record intervals.
    pub recorded: &'a BTreeSet<String>,
    /// KPI terms (`vitals_term` of `vitals-kpi-increases`) whose recorded increases cover
    /// the range: a per-step cause hint made only of them is summed from those at a step of
    /// whole record intervals instead of reading its raw series around every incident.
    pub terms: &'a BTreeSet<String>,
}

/// The budget SLOs of `slos` whose burn rates over `range` at `step` can be read from their
/// recorded increases (`vitals rules`, current fingerprint): `auto`, those that cover the
/// range and its lookback; `recorded`, those that have any; none for `raw`, or at a step
/// that is not a whole number of record intervals. One instant query at the range's end.
pub(crate) async fn recorded_slos(
    prom: &Prom,
    slos: &[Slo],
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    step: Duration,
    source: crate::cli::SliSource,
    progress: &(dyn Fn() + Sync),
) -> BTreeSet<String> {
    use crate::report::recorded::{BREACH_HEARTBEAT, Breach};
    // Budget SLOs at a step of whole record intervals only; thresholds at any.
    let budget: Vec<&Slo> = slos
        .iter()
        .filter(|s| sli::pairs_at(s, to).is_some())
        .filter(|_| step.secs() % sli::RECORD_INTERVAL.secs() == 0)
        .collect();
    let thresholds: Vec<(&Slo, Breach)> = slos
        .iter()
        .filter_map(|s| Breach::of(s).map(|b| (s, b)))
        .collect();
    if source == crate::cli::SliSource::Raw || (budget.is_empty() && thresholds.is_empty()) {
        return BTreeSet::new();
    }
    let lookback = budget
        .iter()
        .filter_map(|s| sli::pairs_at(s, to))
        .flat_map(|(_, p)| p.map(|p| p.long))
        .chain(thresholds.iter().filter_map(|(s, _)| threshold_lookback(s)))
        .max()
        .unwrap_or_default();
    let start = grid(from - lookback.to_chrono(), step);
    let span = Duration::from_secs((to - start).num_seconds().max(60) as u64);
    let mut probe = crate::report::recorded::slo_probe(span);
    if !thresholds.is_empty() {
        probe.push_str(&format!(
            "\n  or {}",
            tag(
                &format!("max by (vitals_term) (count_over_time({BREACH_HEARTBEAT}[{span}]))"),
                &[("vitals_probe", "current")]
            )
        ));
    }
    let mut batch = Batch::new();
    batch.add(
        0u8,
        Request::instant("incidents: recorded increases and minutes", probe, to),
    );
    let cover = match prom.run_batch(batch, progress).await.take(&0) {
        Some(Ok(a)) => crate::report::recorded::Coverage::from_series(&a.series),
        _ => return BTreeSet::new(),
    };
    let (a, b) = (
        crate::timespec::unix_seconds(start),
        crate::timespec::unix_seconds(to),
    );
    let minutes = |br: &Breach| match source {
        crate::cli::SliSource::Recorded => cover.current.get(&br.id()).is_some_and(|n| *n > 0.0),
        _ => cover.covers_breach(br, a, b, false),
    };
    budget
        .into_iter()
        .filter(|s| match source {
            crate::cli::SliSource::Recorded => cover.has_slo(s),
            _ => cover.covers_slo(s, a, b),
        })
        .map(|s| s.name.clone())
        .chain(
            thresholds
                .iter()
                .filter(|(_, br)| minutes(br))
                .map(|(s, _)| s.name.clone()),
        )
        .collect()
}

/// Finds the incidents of a search: the buckets of latency SLOs first, then every range
/// query at once. Used by `incidents`, `report` and `chart`.
pub(crate) async fn find(
    prom: &Prom,
    config: &Config,
    search: &Search<'_>,
    progress: &(dyn Fn() + Sync),
) -> Found {
    let buckets = sli::resolve_buckets(search.slos, prom, search.range.1, progress).await;
    find_with(prom, config, search, &buckets, progress).await
}

/// [`find`] with the latency buckets already found.
pub(crate) async fn find_with(
    prom: &Prom,
    config: &Config,
    search: &Search<'_>,
    buckets: &sli::Buckets,
    progress: &(dyn Fn() + Sync),
) -> Found {
    let Search {
        slos,
        range,
        step: wanted,
        with_targets,
        recorded,
        terms,
    } = *search;
    let mut step = choose_step(slos, range.0, range.1, wanted);
    // A step of its own choosing is rounded up to whole record intervals where a budget
    // SLO's recorded increases cover the range: they are then summed per step instead of
    // every raw series read at a 3-minute step (a week's report).
    let budget_recorded = slos
        .iter()
        .any(|s| recorded.contains(&s.name) && sli::pairs_at(s, range.1).is_some());
    if wanted.is_none() && budget_recorded {
        step = step.round_up_to(sli::RECORD_INTERVAL);
    }
    let config_error = buckets
        .values()
        .any(|b| matches!(b, Err(sli::BucketProblem::NotABucket { .. })));
    let mut plan = Plan::new(config, slos, range, step, with_targets, buckets, recorded);
    plan.hint_terms = terms.clone();
    let mut answers = prom.run_batch(plan.batch(), progress).await;
    plan.refine(&mut answers, prom, progress).await;
    let mut warnings = Vec::new();
    for k in (0..plan.sources.len()).map(Ask::Source) {
        if let Some(Ok(a)) = answers.get(&k) {
            warnings.extend(a.warnings.iter().cloned());
        }
    }
    let mut errors = plan.errors.clone();
    let incidents = plan.incidents(&mut answers, &mut errors);
    // The hints' signals are asked only around the incidents found: over a month they
    // would otherwise read every raw sample of every signal.
    let mut hint_batch = Batch::new();
    let mut spans = 0;
    for span in plan.hint_spans(&incidents) {
        if let Some(req) = plan.hints_request(span) {
            hint_batch.add(Ask::Hints(spans), req);
            spans += 1;
        }
    }
    let mut signals = hints::Signals::default();
    if spans > 0 {
        let mut hinted = prom.run_batch(hint_batch, progress).await;
        for i in 0..spans {
            match hinted.take(&Ask::Hints(i)) {
                Some(Ok(a)) => {
                    warnings.extend(a.warnings.iter().cloned());
                    signals.add(&a);
                }
                Some(Err(e)) => errors.push(e.to_string()),
                None => {}
            }
        }
    }
    warnings.sort();
    warnings.dedup();
    Found {
        report: plan.finish(incidents, &signals, errors),
        step_raised: wanted.filter(|w| *w != step),
        warnings,
        config_error,
    }
}

/// A series as `time (s) -> value`.
type Points = BTreeMap<i64, f64>;

fn points(s: &Series) -> Points {
    s.samples
        .iter()
        .filter(|(_, v)| v.is_finite())
        .map(|(t, v)| (t.round() as i64, *v))
        .collect()
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
    pub(crate) fn display_name(&self) -> String {
        crate::slo::eval::labelled_name(&self.name, &self.labels)
    }

    /// Whether the problem it saw overlapped `[start, end)` (Unix seconds).
    pub(crate) fn overlaps(&self, start: i64, end: i64) -> bool {
        self.start_s < end && self.end_s > start
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

    pub(crate) fn start_time(&self) -> DateTime<Utc> {
        from_unix_seconds(self.start_s as f64)
    }

    pub(crate) fn end_time(&self) -> DateTime<Utc> {
        from_unix_seconds(self.end_s as f64)
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
    pub method: String,
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
    fn new(plan: &Plan<'_>, incidents: Vec<Incident>, errors: Vec<String>) -> Self {
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
            schema_version: crate::SCHEMA_VERSION,
            from: format_time(plan.from),
            to: format_time(plan.to),
            step: plan.step.to_string(),
            method: method(
                &plan.recorded,
                &plan
                    .prefiltered
                    .keys()
                    .map(|i| plan.sources[*i].0.name.clone())
                    .collect::<Vec<_>>(),
                &plan.recorded_hints(),
            ),
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
}

/// How the incidents were found: from the raw metrics, and the burn rates of `recorded`
/// from their recorded increases.
fn method(recorded: &[String], prefiltered: &[String], hints: &[String]) -> String {
    let mut m = "alert conditions of slo.toml computed from the raw metrics".to_string();
    if !recorded.is_empty() {
        m.push_str(&format!(
            ", the burn rates of {} from their recorded 5-minute increases",
            recorded.join(", ")
        ));
    }
    if !prefiltered.is_empty() {
        m.push_str(&format!(
            ", the values of {} only around their recorded violated minutes",
            prefiltered.join(", ")
        ));
    }
    if !hints.is_empty() {
        m.push_str(&format!(
            ", the cause hints {} from recorded increases per step",
            hints.join(", ")
        ));
    }
    m.push_str(" (ALERTS history is not used)");
    m
}

/// `47m`, `6h30m`, `2m (ongoing)`.
pub(crate) fn duration_text(seconds: f64, ongoing: bool) -> String {
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
pub(crate) fn summary_line(r: &IncidentReport) -> String {
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
    use super::join_spans;

    #[test]
    fn hint_spans_join_where_they_overlap_then_the_closest_first() {
        let step = 600;
        // Two overlapping, one touching within a step, one far away.
        let spans = vec![
            (10_000, 20_000),
            (0, 12_000),
            (20_500, 30_000),
            (100_000, 110_000),
        ];
        assert_eq!(
            join_spans(spans.clone(), step, 8),
            [(0, 30_000), (100_000, 110_000)]
        );
        // At most `max`: the closest gaps go first.
        let many = vec![(0, 10), (1_000, 1_010), (5_000, 5_010), (5_100, 5_110)];
        assert_eq!(
            join_spans(many.clone(), 1, 3),
            [(0, 10), (1_000, 1_010), (5_000, 5_110)]
        );
        assert_eq!(join_spans(many, 1, 1), [(0, 5_110)]);
        assert!(join_spans(Vec::new(), step, 8).is_empty());
    }
}
