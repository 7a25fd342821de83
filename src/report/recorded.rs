//! Recorded KPI increases: what lets a report read a month's KPI totals from a few thousand
//! points per term instead of every raw sample of the month.
//!
//! A KPI query over the period (`{{window}}` set to the period) is made of terms like
//! `sum by (service) (increase(http_requests_total{...}[{{window}}]))`: a sum of the increases
//! (or rates) of the series a selector picks, over the window. `vitals rules` records each
//! such term's increase over every 5 minutes, exactly (the difference of consecutive
//! evaluations, as for latency SLOs: the sums telescope), under [`TERM_RECORD`] with the
//! term's grouping and `vitals_term` (a hash of the selector and the grouping), and one
//! [`HEARTBEAT_RECORD`] point per term and evaluation. The report rewrites every term into
//! `sum by (...) (sum_over_time(kpi:term:increase5m{vitals_term="..."}[period]))` (divided by
//! the period's seconds for a rate): ratios, quantiles of histograms and sums of terms keep
//! their own PromQL around the rewritten terms.
//!
//! A query is rewritten only when every windowed range in it is such a term, and a term is
//! read from recorded series only when its heartbeat has a point for every interval of the
//! period that Prometheus has data for (two may be missing at the ends): rules loaded
//! yesterday, or a changed selector (a new `vitals_term`), leave the query raw.

use std::collections::BTreeMap;

use promql_parser::parser::{self, Expr};

use crate::catalog::params::escape_promql_string;
use crate::config::Config;
use crate::duration::Duration;
use crate::site::At;
use crate::slo::sli::{RECORD_INTERVAL, Stitch, exact_between};

/// The record of a term's increase over one interval.
pub const TERM_RECORD: &str = "kpi:term:increase5m";
/// One point per term at every evaluation of the group: how much of a period it covers.
pub const HEARTBEAT_RECORD: &str = "kpi:term:evaluations5m";
/// The rule group's name.
pub const GROUP: &str = "vitals-kpi-increases";

/// 1 where an alerting threshold SLO was violated at a minute's evaluation, 0 where it held
/// (worst member per group): the report sums it over a period for the time it was broken.
pub const BREACH_RECORD: &str = "slo:threshold_violated:bool1m";
/// One point per threshold SLO at every evaluation of the breach group.
pub const BREACH_HEARTBEAT: &str = "slo:threshold_evaluations:1m";
/// The group recording threshold violations every minute.
pub const BREACH_GROUP: &str = "vitals-threshold-minutes";
/// Its interval: the resolution of the time a threshold was broken.
pub const BREACH_INTERVAL: Duration = Duration::from_secs(60);

/// The value of a peak KPI's query at a minute's evaluation, per the labels that tell the
/// report's rows apart (the components' identifying labels and the KPIs' filters), the
/// largest of each group: the report's peak is the `max_over_time` of it over the period.
pub const PEAK_RECORD: &str = "kpi:peak:max1m";
/// One point per evaluation of the peaks group (one series for the group, keyed by the
/// hash of every peak's definition).
pub const PEAK_HEARTBEAT: &str = "kpi:peak_evaluations:1m";
/// The group recording the peaks every minute.
pub const PEAK_GROUP: &str = "vitals-kpi-peaks";
/// Its interval: the resolution of a recorded peak.
pub const PEAK_INTERVAL: Duration = Duration::from_secs(60);

/// A peak KPI (`at = "peak"`) combined by its largest series (`combine = "max"`), recorded
/// every minute so that a month's peak is a `max_over_time` of one point per minute and row
/// instead of a subquery over every raw series of the month. Combined by the largest, the
/// largest per group of the labels the rows are told apart by loses nothing: the report's
/// value is the largest peak of the series a row keeps, and a row keeps whole groups.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Peak {
    /// The report's key of the number ([`super::plan::kpi_key`]).
    pub key: String,
    /// The query as the raw peak samples it (its own 5-minute window).
    pub promql: String,
    /// The labels kept.
    pub by: Vec<String>,
}

impl Peak {
    /// 16 hex digits of the FNV-1a hash of the recorded expression: the `vitals_term`.
    pub(crate) fn id(&self) -> String {
        crate::slo::sli::fnv1a(&format!("kpi-peak=1\nexpr={}\n", self.rule()))
    }

    /// The rule's expression.
    pub(crate) fn rule(&self) -> String {
        format!("max by ({}) ({})", self.by.join(", "), self.promql)
    }

    /// The peak over `window` before the query's time, with the query's labels.
    pub(crate) fn read(&self, window: Duration) -> String {
        format!(
            "max without (vitals_term) (max_over_time({PEAK_RECORD}{{vitals_term=\"{}\"}}[{window}]))",
            escape_promql_string(&self.id())
        )
    }
}

/// Every peak KPI of the site that can be recorded (combined by its largest series, as
/// every metric with its key is), once each.
pub(crate) fn site_peaks(config: &Config) -> Vec<Peak> {
    let site = &config.site;
    let metrics: Vec<&crate::site::Metric> = site
        .report
        .kpis
        .iter()
        .chain(site.components.iter().flat_map(|c| c.report.iter()))
        .filter(|m| m.at == At::Peak)
        .collect();
    let mut by: Vec<String> = site
        .components
        .iter()
        .flat_map(|c| c.labels.keys().cloned())
        .chain(metrics.iter().flat_map(|m| m.filter.keys().cloned()))
        .collect();
    by.sort();
    by.dedup();
    let mut peaks: BTreeMap<String, Option<Peak>> = BTreeMap::new();
    for m in &metrics {
        let key = super::plan::kpi_key(&m.source, m.at);
        let peak = (m.combine == crate::site::Combine::Max)
            .then(|| m.source.expand(&config.catalog, &[]).ok())
            .flatten()
            .map(|e| Peak {
                key: key.clone(),
                promql: e.promql,
                by: by.clone(),
            });
        let entry = peaks.entry(key).or_insert_with(|| peak.clone());
        if *entry != peak {
            *entry = None;
        }
    }
    peaks.into_values().flatten().collect()
}

/// The peaks group's `vitals_term`: a hash of every peak's, so that a heartbeat with it says
/// every current peak is recorded.
pub(crate) fn peaks_id(peaks: &[Peak]) -> String {
    let ids: Vec<String> = peaks.iter().map(Peak::id).collect();
    crate::slo::sli::fnv1a(&format!("kpi-peaks=1\n{}\n", ids.join("\n")))
}

/// A threshold SLO's violation, recorded every minute so that the time it was broken over a
/// month is a `sum_over_time` of recorded points instead of a subquery over raw series.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Breach {
    pub slo: String,
    /// `max by (...) ((expr) > bool value)`: [`crate::slo::sli::violated_bool`].
    pub expr: String,
    pub by: Vec<String>,
}

impl Breach {
    /// The breach of an alerting threshold SLO (None for other SLOs and period KPIs).
    pub(crate) fn of(slo: &crate::slo::model::Slo) -> Option<Breach> {
        if super::plan::is_period_kpi(slo) {
            return None;
        }
        Some(Breach {
            slo: slo.name.clone(),
            expr: crate::slo::sli::violated_bool(slo)?,
            by: slo.group_by.clone(),
        })
    }

    /// 16 hex digits of the FNV-1a hash of the violation's PromQL: the `vitals_term` label.
    /// An edit of the SLO's query, comparison or threshold gives another one, and the
    /// points recorded for the old definition are not read for the new one.
    pub(crate) fn id(&self) -> String {
        crate::slo::sli::fnv1a(&format!("threshold-breach=1\nexpr={}\n", self.expr))
    }

    /// 1 per group where it was violated at a recorded minute of the `step` before each
    /// step of a range query, 0 where it held throughout.
    pub(crate) fn violated_per_step(&self, step: Duration) -> String {
        format!(
            "max{} (max_over_time({BREACH_RECORD}{{vitals_term=\"{}\"}}[{step}]))",
            self.by_clause(),
            escape_promql_string(&self.id())
        )
    }

    /// ` by (a, b)`, or nothing without a grouping.
    fn by_clause(&self) -> String {
        if self.by.is_empty() {
            String::new()
        } else {
            format!(" by ({})", self.by.join(", "))
        }
    }

    /// Minutes broken during the `window` before the evaluation time, per group.
    pub(crate) fn recorded(&self, window: Duration) -> String {
        let by = self.by_clause();
        format!(
            "sum{by} (sum_over_time({BREACH_RECORD}{{vitals_term=\"{}\"}}[{window}]))",
            escape_promql_string(&self.id())
        )
    }
}

/// The breaches of every alerting threshold SLO of the site.
pub(crate) fn site_breaches(config: &Config) -> Vec<Breach> {
    config.slos.iter().filter_map(Breach::of).collect()
}

/// The window written where a query has `{{window}}`, to find those ranges in its syntax
/// tree: no query uses 114d7h29m3s of its own.
pub(crate) const MARKER: Duration = Duration::from_secs(9_876_543);

/// One recordable term: the increase of the series `selector` picks, summed by `by`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Term {
    /// The vector selector as PromQL (`http_requests_total{code=~"5..",service=~"shop"}`).
    pub selector: String,
    /// The labels kept (empty: one sum).
    pub by: Vec<String>,
}

impl Term {
    /// 16 hex digits of the FNV-1a hash of the term: the `vitals_term` label.
    pub(crate) fn id(&self) -> String {
        crate::slo::sli::fnv1a(&format!(
            "kpi-term=1\nselector={}\nby={}\n",
            self.selector,
            self.by.join(",")
        ))
    }

    fn group(&self) -> String {
        if self.by.is_empty() {
            "sum".into()
        } else {
            format!("sum by ({})", self.by.join(", "))
        }
    }

    /// The rule's expression: the increase since the previous evaluation, per series (a
    /// counter that went down was reset: its value is what it counted since), summed.
    pub(crate) fn rule(&self) -> String {
        crate::slo::sli::exact_increase(&self.group(), &self.selector)
    }

    /// The term over `window` [`Stitch`]ed: its recorded increases over the stitch's whole
    /// intervals and the head, plus the exact difference of its counters over the tail (a
    /// group missing from a piece had no increase there).
    fn stitched(&self, window: Duration, st: &Stitch, rate: bool) -> String {
        let g = self.group();
        let sel = format!("vitals_term=\"{}\"", escape_promql_string(&self.id()));
        let summed = st.summed(&g, TERM_RECORD, &sel);
        let head = st.head_share(&g, TERM_RECORD, &sel);
        let tail = exact_between(&g, &self.selector, Some(st.end), None);
        // Tagged apart so that `or` keeps all three, then added up per group: a group
        // missing from a piece had no increase there, and each piece is read once.
        let piece = |q: &str, p: &str| crate::prom::tag(q, &[("vitals_piece", p)]);
        let sum = format!(
            "{g} (\n  {}\n  or {}\n  or {}\n)",
            piece(&summed, "recorded"),
            piece(&head, "head"),
            piece(&tail, "tail")
        );
        if rate {
            format!("({sum}) / {}", window.secs())
        } else {
            sum
        }
    }

    /// The recorded sum over `window` that replaces the term (`rate`: per second).
    fn recorded(&self, window: Duration, rate: bool) -> String {
        let sum = format!(
            "{} (sum_over_time({TERM_RECORD}{{vitals_term=\"{}\"}}[{window}]))",
            self.group(),
            escape_promql_string(&self.id())
        );
        if rate {
            format!("{sum} / {}", window.secs())
        } else {
            sum
        }
    }
}

/// What a query over the period can be read from.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Form {
    /// It has no `{{window}}` range: nothing to record.
    NoWindow,
    /// Every windowed range is one of these terms.
    Terms(Vec<Term>),
    /// A windowed range that is not `sum [by (...)] (increase|rate(selector[window]))`.
    Raw(String),
}

/// The form of `marked`: a query expanded with [`MARKER`] as its window.
pub(crate) fn form(marked: &str) -> Form {
    match rewrite(marked, Duration::from_secs(60)) {
        Err(why) => Form::Raw(why),
        Ok((_, terms)) if terms.is_empty() => Form::NoWindow,
        Ok((_, terms)) => Form::Terms(terms),
    }
}

/// `marked` with every term summed from its recorded increases over `window`, and the
/// terms; an error says why it cannot be.
pub(crate) fn rewrite(marked: &str, window: Duration) -> Result<(String, Vec<Term>), String> {
    let (out, terms) = rewrite_ranges(marked, MARKER, &|t, rate| t.recorded(window, rate))?;
    if out.contains(&MARKER.secs().to_string()) {
        return Err("it uses the window's length in seconds".into());
    }
    Ok((out, terms))
}

/// `promql` (a query over its `window`, expanded) with every term over `window` read from
/// its recorded increases [`Stitch`]ed at the evaluation time: the recorded intervals, the
/// head's prorated share of the one before, and the counters' exact difference over the
/// tail, so that the window ends at the time asked instead of at the last recorded point.
pub(crate) fn rewrite_stitched(
    promql: &str,
    window: Duration,
    stitch: &Stitch,
) -> Result<(String, Vec<Term>), String> {
    rewrite_ranges(promql, window, &|t, rate| t.stitched(window, stitch, rate))
}

/// The terms of `promql` (a query over its `window`, expanded) when every range over the
/// window is one (none: an error).
pub(crate) fn terms_over(promql: &str, window: Duration) -> Result<Vec<Term>, String> {
    let (_, terms) = rewrite_ranges(promql, window, &|t, rate| t.recorded(window, rate))?;
    if terms.is_empty() {
        return Err("no range over its window".into());
    }
    Ok(terms)
}

/// The term a budget SLO's part is as a whole, when it is one: `sum [by (...)]
/// (rate(selector[{{window}}]))` (None for any other form).
pub(crate) fn rate_term(template: &str) -> Option<Term> {
    let marked = crate::slo::sli::fill_window(template, MARKER);
    let parsed = parser::parse(&marked).ok()?;
    let mut e = &parsed;
    while let Expr::Paren(p) = e {
        e = &p.expr;
    }
    let r = Rewrite {
        marker: MARKER,
        replace: &|_, _| String::new(),
    };
    match as_term(e, &r)? {
        (t, true) => Some(t),
        _ => None,
    }
}

/// `query` with every term whose range is `marker` replaced by `replace(term, is_rate)`.
fn rewrite_ranges(
    query: &str,
    marker: Duration,
    replace: &dyn Fn(&Term, bool) -> String,
) -> Result<(String, Vec<Term>), String> {
    let mut e = parser::parse(query).map_err(|e| format!("does not parse: {e}"))?;
    let mut terms = Vec::new();
    let r = Rewrite { marker, replace };
    visit(&mut e, &r, &mut terms)?;
    terms.sort();
    terms.dedup();
    Ok((e.to_string(), terms))
}

/// What [`visit`] replaces: terms over ranges of `marker`, by `replace`.
struct Rewrite<'a> {
    marker: Duration,
    replace: &'a dyn Fn(&Term, bool) -> String,
}

impl Rewrite<'_> {
    fn marks(&self, range: std::time::Duration) -> bool {
        range.as_millis() == u128::from(self.marker.millis())
    }
}

/// The term an aggregation is, if it is one.
fn as_term(e: &Expr, r: &Rewrite) -> Option<(Term, bool)> {
    let (by, inner) = crate::catalog::shape::plain_sum(e)?;
    let Expr::Call(c) = inner else {
        return None;
    };
    let rate = match c.func.name {
        "increase" => false,
        "rate" => true,
        _ => return None,
    };
    let [arg] = c.args.args.as_slice() else {
        return None;
    };
    let Expr::MatrixSelector(m) = arg.as_ref() else {
        return None;
    };
    if !r.marks(m.range) || m.vs.offset.is_some() || m.vs.at.is_some() {
        return None;
    }
    Some((
        Term {
            selector: m.vs.to_string(),
            by,
        },
        rate,
    ))
}

fn visit(e: &mut Expr, r: &Rewrite, terms: &mut Vec<Term>) -> Result<(), String> {
    if let Some((term, rate)) = as_term(e, r) {
        let replacement = (r.replace)(&term, rate);
        let parsed = parser::parse(&replacement)
            .map_err(|err| format!("the recorded form `{replacement}` does not parse: {err}"))?;
        *e = Expr::Paren(parser::ParenExpr {
            expr: Box::new(parsed),
        });
        terms.push(term);
        return Ok(());
    }
    match e {
        Expr::Aggregate(a) => {
            visit(&mut a.expr, r, terms)?;
            if let Some(p) = a.param.as_mut() {
                visit(p, r, terms)?;
            }
        }
        Expr::Unary(u) => visit(&mut u.expr, r, terms)?,
        Expr::Binary(b) => {
            visit(&mut b.lhs, r, terms)?;
            visit(&mut b.rhs, r, terms)?;
        }
        Expr::Paren(p) => visit(&mut p.expr, r, terms)?,
        Expr::Subquery(s) => {
            if r.marks(s.range) {
                return Err("a subquery over the period".into());
            }
            visit(&mut s.expr, r, terms)?;
        }
        Expr::MatrixSelector(m) if r.marks(m.range) => {
            return Err(format!(
                "`{}` over the period is not a sum of increase() or rate()",
                m.vs
            ));
        }
        Expr::Call(c) => {
            for a in c.args.args.iter_mut() {
                visit(a, r, terms)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Every query a report reads over the period, expanded with [`MARKER`] as its window:
/// the KPIs, component figures and breakdowns `at = "period"`, and the period KPIs (threshold
/// SLOs with `severity = "none"`), by the key the report tags them with.
pub(crate) fn period_queries(config: &Config) -> BTreeMap<String, String> {
    let site = &config.site;
    let mut out = BTreeMap::new();
    let metrics = site
        .report
        .kpis
        .iter()
        .chain(site.components.iter().flat_map(|c| c.report.iter()))
        .filter(|m| m.at == At::Period)
        .map(|m| &m.source)
        .chain(site.report.breakdowns.iter().map(|b| &b.source));
    for u in metrics {
        if let Ok(e) = u.expand(&config.catalog, &[("window", MARKER.to_string())]) {
            out.insert(super::plan::kpi_key(u, At::Period), e.promql);
        }
    }
    for slo in config.slos.iter().filter(|s| super::plan::is_period_kpi(s)) {
        if let Some(q) = crate::slo::sli::threshold_over(slo, &config.catalog, MARKER) {
            out.insert(format!("slo:{}", slo.name), q);
        }
    }
    out
}

/// The queries of the report's charts that can read recorded increases (daily charts and
/// series charts not at their peak), expanded with [`MARKER`] as their window.
fn chart_queries(config: &Config) -> Vec<String> {
    let mut uses = Vec::new();
    for c in &config.site.report.charts {
        match &c.kind {
            crate::site::ChartKind::Daily(lines) => uses.extend(lines.iter().map(|l| &l.source)),
            crate::site::ChartKind::Series { source, at, .. } if *at != At::Peak => {
                uses.push(source)
            }
            crate::site::ChartKind::Series { .. } => {}
        }
    }
    uses.into_iter()
        .filter_map(|u| {
            u.expand(&config.catalog, &[("window", MARKER.to_string())])
                .ok()
                .map(|e| e.promql)
        })
        .collect()
}

/// The incidents' per-step cause hints, expanded with [`MARKER`] as their window.
fn hint_queries(config: &Config) -> Vec<String> {
    config
        .site
        .hints
        .iter()
        .filter(|h| h.per_step)
        .filter_map(|h| {
            h.source
                .expand(&config.catalog, &[("window", MARKER.to_string())])
                .ok()
                .map(|e| e.promql)
        })
        .collect()
}

/// The terms of every period query and chart of the report, and of the incidents' per-step
/// cause hints, that can be rewritten.
pub(crate) fn site_terms(config: &Config) -> Vec<Term> {
    let mut terms: Vec<Term> = period_queries(config)
        .into_values()
        .chain(chart_queries(config))
        .chain(hint_queries(config))
        .filter_map(|q| match form(&q) {
            Form::Terms(t) => Some(t),
            _ => None,
        })
        .flatten()
        .collect();
    terms.sort();
    terms.dedup();
    terms
}

/// The probe of the terms' heartbeats over both periods, of the budget SLOs' recorded
/// increases over both periods and `lookback` before them (what the burn-down and the
/// incidents' burn rates read), and the data start over all of it: one instant query at the
/// period's end. `current` and `previous` are the periods' lengths (the previous one ends
/// where the current one starts).
pub(crate) fn probe(current: Duration, previous: Duration, lookback: Duration) -> String {
    let count = |w: Duration, offset: Option<Duration>| {
        let o = offset.map(|o| format!(" offset {o}")).unwrap_or_default();
        format!(
            "max by (vitals_term) (count_over_time({HEARTBEAT_RECORD}[{w}]{o}))\n  or max by (vitals_term) (count_over_time({BREACH_HEARTBEAT}[{w}]{o}))\n  or max by (vitals_term) (count_over_time({PEAK_HEARTBEAT}[{w}]{o}))"
        )
    };
    let both = Duration::from_secs(current.secs() + previous.secs()).max(RECORD_INTERVAL);
    format!(
        "{}\n  or {}\n  or {}",
        crate::prom::tag(
            &count(current.max(RECORD_INTERVAL), None),
            &[("vitals_probe", "current")]
        ),
        crate::prom::tag(
            &count(
                previous.max(RECORD_INTERVAL),
                Some(current.max(RECORD_INTERVAL))
            ),
            &[("vitals_probe", "previous")]
        ),
        slo_probe(Duration::from_secs(both.secs() + lookback.secs())),
    )
}

/// The probe of every budget SLO's recorded increases over `span` before the query's time
/// (`vitals_probe="slo"`, keyed by [`slo_key`]), and the data start over it.
pub(crate) fn slo_probe(span: Duration) -> String {
    let step = crate::prom::auto_step(span.to_chrono(), 250, Duration::from_secs(60));
    let slos = format!(
        "max by (vitals_term) (label_join(count_over_time({}[{span}]), \"vitals_term\", \"/\", \"slo\", \"vitals_fingerprint\"))",
        crate::slo::sli::EVALUATIONS_RECORD
    );
    format!(
        "{}\n  or {}",
        crate::prom::tag(&slos, &[("vitals_probe", "slo")]),
        crate::prom::tag(
            &crate::prom::data_start_expr(span, step),
            &[("vitals_probe", "start")]
        ),
    )
}

/// The key of a budget SLO's recorded increases in [`Coverage::slos`]: its name and the
/// fingerprint of its definition (only the current one counts).
pub(crate) fn slo_key(slo: &crate::slo::model::Slo) -> String {
    format!("{}/{}", slo.name, crate::slo::sli::fingerprint(slo))
}

/// The heartbeat points of every term in both periods, and the data start.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Coverage {
    pub current: BTreeMap<String, f64>,
    pub previous: BTreeMap<String, f64>,
    /// Points of each budget SLO's recorded increases ([`slo_key`]) over both periods and
    /// the lookback before them.
    pub slos: BTreeMap<String, f64>,
    pub data_start: Option<f64>,
    /// Why there is none (the probe failed, or was not asked: `--source raw`).
    pub unavailable: Option<String>,
}

impl Coverage {
    pub(crate) fn from_series(series: &[crate::prom::Series]) -> Coverage {
        let mut c = Coverage::default();
        for s in series {
            let v = s.value().unwrap_or(0.0);
            let term = s.labels.get("vitals_term").cloned().unwrap_or_default();
            match s.labels.get("vitals_probe").map(String::as_str) {
                Some("current") => {
                    c.current.insert(term, v);
                }
                Some("previous") => {
                    c.previous.insert(term, v);
                }
                Some("slo") => {
                    c.slos.insert(term, v);
                }
                Some("start") if v.is_finite() => c.data_start = Some(v),
                _ => {}
            }
        }
        c
    }

    /// Whether every term has a heartbeat for each interval of `[start, end]` that has
    /// data (`previous`: in the previous period's counts).
    pub(crate) fn covers(&self, terms: &[Term], start: f64, end: f64, previous: bool) -> bool {
        let ids: Vec<String> = terms.iter().map(Term::id).collect();
        self.enough(self.of(previous), &ids, RECORD_INTERVAL, start, end)
    }

    /// Whether a threshold's recorded minutes cover `[start, end]` (as [`Coverage::covers`]).
    pub(crate) fn covers_breach(&self, b: &Breach, start: f64, end: f64, previous: bool) -> bool {
        self.enough(self.of(previous), &[b.id()], BREACH_INTERVAL, start, end)
    }

    /// Whether the peaks group's minutes (`group` is [`peaks_id`]) cover `[start, end]`.
    pub(crate) fn covers_peaks(&self, group: &str, start: f64, end: f64, previous: bool) -> bool {
        self.enough(
            self.of(previous),
            &[group.to_string()],
            PEAK_INTERVAL,
            start,
            end,
        )
    }

    /// Whether a budget SLO's recorded increases (with its current fingerprint) have a
    /// point for each interval of `[start, end]` that has data; `start` may be up to the
    /// probe's lookback before the previous period.
    pub(crate) fn covers_slo(&self, slo: &crate::slo::model::Slo, start: f64, end: f64) -> bool {
        self.enough(&self.slos, &[slo_key(slo)], RECORD_INTERVAL, start, end)
    }

    /// Whether `slo` has recorded increases with its current fingerprint at all.
    pub(crate) fn has_slo(&self, slo: &crate::slo::model::Slo) -> bool {
        self.unavailable.is_none() && self.slos.get(&slo_key(slo)).is_some_and(|n| *n > 0.0)
    }

    /// The terms' heartbeat counts of a period.
    fn of(&self, previous: bool) -> &BTreeMap<String, f64> {
        if previous {
            &self.previous
        } else {
            &self.current
        }
    }

    /// Whether every id has a point in `counts` for each `interval` of `[start, end]` that
    /// has data, two short at most (the evaluations at the ends).
    fn enough(
        &self,
        counts: &BTreeMap<String, f64>,
        ids: &[String],
        interval: Duration,
        start: f64,
        end: f64,
    ) -> bool {
        if self.unavailable.is_some() {
            return false;
        }
        let from = self.data_start.map_or(start, |d| d.max(start));
        let needed = ((end - from).max(0.0) / interval.secs_f64()).floor() - 2.0;
        ids.iter()
            .all(|id| counts.get(id).copied().unwrap_or(0.0) >= needed.max(1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marked(q: &str) -> String {
        q.replace("{{window}}", &MARKER.to_string())
    }

    #[test]
    fn a_threshold_over_a_window_is_stitched_from_its_recorded_terms() {
        let week = Duration::from_secs(7 * 86_400);
        let q = "sum(increase(orders_lost_total[7d])) / sum(rate(shop_orders_created_total[7d])) / 2 > on() group_left sum(rate(x[5m]))";
        let terms = terms_over(q, week).unwrap();
        assert_eq!(terms.len(), 2, "the 5-minute rate is not over the window");
        let last = 1_796_083_337.0;
        let st = Stitch::new(last, last + 100.0, week).unwrap();
        let (out, _) = rewrite_stitched(q, week, &st).unwrap();
        assert!(parser::parse(&out).is_ok(), "{out}");
        assert_eq!(
            out.matches("sum_over_time(kpi:term:increase5m").count(),
            2,
            "{out}"
        );
        let rec = Duration::from_secs((st.intervals + 1) * 300 - 1);
        assert!(out.contains(&format!("[{rec}] @ 1796083037.000")), "{out}");
        let (point, _) = st.head_point();
        assert!(
            out.contains(&format!(
                "kpi:term:increase5m{{vitals_term=\"{}\"}} @ {point:.3}",
                terms[0].id()
            )),
            "the head, a share of a recorded point: {out}"
        );
        let tail = format!("orders_lost_total - orders_lost_total @ {:.3}", st.end);
        assert!(out.contains(&tail), "the tail, exact: {tail} in {out}");
        assert!(out.contains("/ 604800"), "a rate over the window: {out}");
        assert!(out.contains("rate(x[5m])"), "{out}");
        // A range over the window that is not a term: not recorded.
        assert!(terms_over("max_over_time(x[7d])", week).is_err());
        assert!(terms_over("sum(rate(x[5m]))", week).is_err());
    }

    #[test]
    fn sums_of_increases_and_rates_are_rewritten_and_the_rest_kept() {
        let q = marked(
            r#"histogram_quantile(0.95, sum by (service, le) (rate(http_request_duration_seconds_bucket{service=~"shop|crm"}[{{window}}])))"#,
        );
        let (out, terms) = rewrite(&q, Duration::from_secs(7 * 86_400)).unwrap();
        assert_eq!(terms.len(), 1);
        assert_eq!(terms[0].by, ["service", "le"]);
        assert_eq!(
            terms[0].selector,
            r#"http_request_duration_seconds_bucket{service=~"shop|crm"}"#
        );
        assert!(out.starts_with("histogram_quantile(0.95, "), "{out}");
        assert!(
            out.contains(&format!("vitals_term=\"{}\"", terms[0].id())),
            "{out}"
        );
        assert!(out.contains("[1w]") || out.contains("[7d]"), "{out}");
        assert!(out.contains("/ 604800"), "{out}");
        // It is PromQL, and the raw range is gone.
        parser::parse(&out).unwrap();
        assert!(!out.contains("http_request_duration"), "{out}");

        let ratio = marked(
            r#"sum(increase(orders_lost_total[{{window}}])) / sum(increase(shop_orders_created_total[{{window}}]))"#,
        );
        let (out, terms) = rewrite(&ratio, Duration::from_secs(86_400)).unwrap();
        assert_eq!(terms.len(), 2);
        assert!(!out.contains("/ 86400"), "increases are not divided: {out}");
        assert_eq!(out.matches("sum_over_time").count(), 2, "{out}");
    }

    #[test]
    fn other_windowed_ranges_leave_the_query_raw() {
        for q in [
            "sum(x - last_over_time(x[{{window}}] offset {{window}}))",
            "max(increase(x[{{window}}]))",
            "sum without (a) (increase(x[{{window}}]))",
            "sum(increase(x[{{window}}] offset 1h))",
            "max_over_time(sum(rate(x[5m]))[{{window}}:1m])",
        ] {
            assert!(
                matches!(form(&marked(q)), Form::Raw(_)),
                "{q}: {:?}",
                form(&marked(q))
            );
        }
        assert_eq!(form("sum(rate(x[5m]))"), Form::NoWindow);
        assert_eq!(form("sum by (status) (shop_orders_stuck)"), Form::NoWindow);
    }

    #[test]
    fn the_terms_rule_is_an_exact_difference_and_its_id_is_stable() {
        let t = Term {
            selector: "orders_lost_total{stage=\"mes\"}".into(),
            by: vec!["reason".into()],
        };
        let rule = t.rule();
        parser::parse(&rule).unwrap();
        assert!(rule.starts_with("sum by (reason) ("), "{rule}");
        assert!(rule.contains("offset 5m"), "{rule}");
        assert_eq!(t.id(), t.clone().id());
        let other = Term {
            by: vec![],
            ..t.clone()
        };
        assert_ne!(t.id(), other.id());
    }

    #[test]
    fn every_catalog_query_over_a_window_round_trips() {
        // (Queries whose parameters name a site's components are left out: unbound.)
        // The rewritten query of every reference query is PromQL that parses; the heavy
        // ones (requests, histograms, business counters) are rewritten; gauges over the
        // window (delta, deriv) and the exact counts (last_over_time ... offset) stay raw.
        let (catalog, problems) = crate::catalog::Catalog::builtin();
        assert!(problems.is_empty(), "{problems:?}");
        let mut rewritten = Vec::new();
        for def in &catalog.queries {
            if !def.params.contains_key("window") {
                continue;
            }
            let mut p = BTreeMap::new();
            p.insert("window".to_string(), MARKER.to_string());
            let Ok(e) = def.expand(&p) else { continue };
            if let Ok((out, terms)) = rewrite(&e.promql, Duration::from_secs(30 * 86_400)) {
                parser::parse(&out).unwrap_or_else(|err| panic!("{}: {out}: {err}", def.name));
                assert!(!out.contains(&MARKER.to_string()), "{}: {out}", def.name);
                if !terms.is_empty() {
                    rewritten.push(def.name.as_str());
                }
            }
        }
        for name in [
            "s3.requests",
            "s3.latency_p95",
            "business.orders_created",
            "business.lost_order_share",
            "business.order_processing_p95",
            "business.mttr_seconds",
        ] {
            assert!(rewritten.contains(&name), "{name} not in {rewritten:?}");
        }
        assert!(
            !rewritten.contains(&"rabbitmq.dead_lettered"),
            "exact counts stay raw"
        );
    }

    #[test]
    fn a_breach_is_summed_from_its_minutes_and_its_id_follows_the_definition() {
        let (config, problems) = crate::config::Config::builtin();
        assert!(problems.is_empty(), "{problems:?}");
        let breaches = site_breaches(&config);
        assert!(breaches.len() >= 5, "{breaches:?}");
        // Period KPIs (severity = "none") are not breaches: they are judged over the period.
        assert!(!breaches.iter().any(|b| b.slo == "lost-order-share"));
        let grouped = breaches
            .iter()
            .find(|b| !b.by.is_empty())
            .expect("a grouped threshold");
        let q = grouped.recorded(Duration::from_secs(30 * 86_400));
        parser::parse(&q).unwrap();
        assert!(
            q.starts_with(&format!(
                "sum by ({}) (sum_over_time(",
                grouped.by.join(", ")
            )),
            "{q}"
        );
        assert!(
            q.contains(&format!("vitals_term=\"{}\"", grouped.id())),
            "{q}"
        );
        // Another threshold is another series.
        let mut other = grouped.clone();
        other.expr = other.expr.replace(" bool ", " bool 2 * ");
        assert_ne!(other.id(), grouped.id());
        // Minutes are covered by one heartbeat a minute, two short at most.
        let mut c = Coverage::default();
        let day = 86_400.0;
        c.current.insert(grouped.id(), 1438.0);
        assert!(c.covers_breach(grouped, 0.0, day, false));
        c.current.insert(grouped.id(), 1437.0);
        assert!(!c.covers_breach(grouped, 0.0, day, false));
        assert!(
            !c.covers_breach(grouped, 0.0, day, true),
            "no previous points"
        );
    }

    #[test]
    fn peaks_combined_by_the_largest_are_recorded_per_row_and_the_others_are_not() {
        let (mut config, _) = Config::builtin();
        let peaks = site_peaks(&config);
        let keys: Vec<&str> = peaks.iter().map(|p| p.key.as_str()).collect();
        assert!(keys.contains(&"api.cpu_percent@Peak"), "{keys:?}");
        assert!(
            keys.contains(&"rabbitmq.queue_depth{queue=shop.orders}@Peak"),
            "{keys:?}"
        );
        for p in &peaks {
            parser::parse(&p.rule()).unwrap_or_else(|e| panic!("{e}: {}", p.rule()));
            parser::parse(&p.read(Duration::from_secs(86_400))).unwrap();
            // The rows are told apart by the components' `service`.
            assert_eq!(p.by, vec!["service".to_string()]);
        }
        let group = peaks_id(&peaks);
        // One API's CPU peak summed over its instances: the shared query is no longer
        // combined by its largest series everywhere, so it is read raw, and the group is
        // another one.
        let c = config
            .site
            .components
            .iter_mut()
            .find(|c| c.name == "crm")
            .unwrap();
        c.report
            .iter_mut()
            .find(|m| m.id == "cpu_peak")
            .unwrap()
            .combine = crate::site::Combine::Sum;
        let after = site_peaks(&config);
        assert_eq!(after.len(), peaks.len() - 1);
        assert!(after.iter().all(|p| p.key != "api.cpu_percent@Peak"));
        assert_ne!(peaks_id(&after), group);
    }

    #[test]
    fn coverage_needs_a_heartbeat_per_interval_with_data() {
        let t = Term {
            selector: "x".into(),
            by: vec![],
        };
        let mut c = Coverage::default();
        let day = 86_400.0;
        c.current.insert(t.id(), 286.0);
        assert!(c.covers(std::slice::from_ref(&t), 0.0, day, false));
        c.current.insert(t.id(), 280.0);
        assert!(!c.covers(std::slice::from_ref(&t), 0.0, day, false));
        // Data for half the day only: half the points suffice.
        c.data_start = Some(day / 2.0);
        assert!(c.covers(std::slice::from_ref(&t), 0.0, day, false));
        assert!(
            !c.covers(std::slice::from_ref(&t), 0.0, day, true),
            "no previous points"
        );
        c.unavailable = Some("raw".into());
        assert!(!c.covers(std::slice::from_ref(&t), 0.0, day, false));
    }

    #[test]
    fn the_probe_counts_each_slos_recorded_increases_over_the_lookback_too() {
        let (config, _) = Config::builtin();
        let week = Duration::from_secs(7 * 86_400);
        let lookback = Duration::from_secs(3 * 86_400);
        let q = probe(week, week, lookback);
        parser::parse(&q).unwrap_or_else(|e| panic!("{e}: {q}"));
        assert!(
            q.contains("count_over_time(slo:sli_evaluations:5m[17d])"),
            "{q}"
        );
        // The data start is looked for over the same span.
        assert!(q.contains("count(up))[17d:"), "{q}");
        let slo = config
            .slos
            .iter()
            .find(|s| s.name == "shop-availability")
            .unwrap();
        let series = |key: &str, v: f64| crate::prom::Series {
            labels: [
                ("vitals_probe".to_string(), "slo".to_string()),
                ("vitals_term".to_string(), key.to_string()),
            ]
            .into_iter()
            .collect(),
            samples: vec![(0.0, v)],
        };
        let day = 86_400.0;
        // 17 days of 5-minute points, the two at the ends excepted.
        let full = 17.0 * 288.0 - 2.0;
        let c = Coverage::from_series(&[series(&slo_key(slo), full)]);
        assert!(c.covers_slo(slo, 0.0, 17.0 * day));
        assert!(!c.covers_slo(slo, 0.0, 18.0 * day), "a day short");
        // Another fingerprint (the rules of an older slo.toml) does not count.
        let stale = format!("{}/0000000000000000", slo.name);
        let c = Coverage::from_series(&[series(&stale, full)]);
        assert!(!c.covers_slo(slo, 0.0, 17.0 * day));
    }
}
