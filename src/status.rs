//! The on-call snapshot: one row per component of the site with its signals, the state of
//! its SLOs and the last hour of its headline signal, and a verdict on top.
//!
//! A screen costs two queries for the signals — every distinct catalog query the site's
//! signals use in one instant query and every sparkline in one range query, each part
//! tagged with a `vitals_signal` label — plus the SLO evaluation of `vitals check`. Each
//! component reads its own series out of the answers by its labels (site.toml).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::Config;
use crate::duration::Duration;
use crate::prom::{Answer, ErrorKind, PromError, Request, Series, split_by};
use crate::site::{Component, Levels, Use};
use crate::slo::eval::{Row, Status};
use crate::units::{Unit, finite};

pub(crate) mod recorded;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    Ok,
    Unknown,
    Degraded,
    Down,
}

impl Health {
    pub(crate) fn word(self) -> &'static str {
        match self {
            Health::Ok => "OK",
            Health::Unknown => "UNKNOWN",
            Health::Degraded => "DEGRADED",
            Health::Down => "DOWN",
        }
    }
}

/// How a value compares with its levels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Ok,
    Warn,
    Fail,
    NoData,
}

/// Width of the sparklines in characters (one point each).
pub const SPARK_POINTS: usize = 30;

/// One signal of a row.
#[derive(Clone, Debug, Serialize)]
pub struct Signal {
    /// Short name (`err`, `p99`, `shop.orders`), as site.toml gives it.
    pub name: String,
    /// Raw value in `unit`; null when there is no data (never zero instead).
    pub value: Option<f64>,
    pub unit: Unit,
    /// As shown: `12.4 req/s`, `0.05 %`, `62/200 (31 %)`.
    pub text: String,
    pub level: Level,
    /// What the level was judged against (`warn > 1 %, fail > 14.4 %`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<String>,
    /// The level comes from a period KPI (an SLO with `severity = "none"`): it colours the
    /// signal but does not make the component degraded.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub advisory: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct SloState {
    /// Worst status of the component's SLOs that alert (pass when it has none).
    pub status: Status,
    /// Those SLOs evaluated (rows, with groups).
    pub count: usize,
    /// Those not passing, worst first, with their reasons.
    pub problems: Vec<String>,
    /// Period KPIs (`severity = "none"`) that fail: shown, not judged here (they do not
    /// degrade the component; `vitals check` fails on them).
    pub kpi_problems: Vec<String>,
    /// Period KPIs (`severity = "none"`) of the component, and the worst of them.
    pub kpi_count: usize,
    pub kpi_status: Option<Status>,
    /// Least budget left among the component's budget SLOs (a share; negative if overspent).
    pub budget_left: Option<f64>,
    /// The SLO (or group) that budget belongs to.
    pub budget_slo: Option<String>,
    /// Where each of these SLOs was read from (`--source`): `recorded` or `raw`.
    pub sources: BTreeMap<String, crate::slo::eval::Source>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Spark {
    /// What is drawn.
    pub signal: String,
    pub unit: Unit,
    /// `[unix_seconds, value|null]` over the last hour.
    pub points: Vec<(f64, Option<f64>)>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ComponentStatus {
    pub name: String,
    pub status: Health,
    /// Why it is not OK (empty when it is).
    pub reasons: Vec<String>,
    pub signals: Vec<Signal>,
    /// Scrape targets up, of all known.
    pub targets_up: Option<(u32, u32)>,
    /// The `instance` of every scrape target that is down.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub targets_down: Vec<String>,
    pub slos: Option<SloState>,
    pub spark: Option<Spark>,
}

/// `vitals status --format json`.
#[derive(Clone, Debug, Serialize)]
pub struct StatusReport {
    /// Layout version of this document.
    pub schema_version: u32,
    /// The instant shown (RFC 3339, UTC).
    pub at: String,
    /// HEALTHY, DEGRADED, DOWN or UNKNOWN (worst first) and the line shown on top.
    pub verdict: String,
    pub verdict_line: String,
    pub components: Vec<ComponentStatus>,
    /// Period KPIs off target (`severity = "none"` SLOs that fail): they do not change the
    /// on-call verdict, but `vitals check` fails on them, and the verdict line says so.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kpis_off_target: Vec<String>,
    /// Queries that failed (the affected components are UNKNOWN).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
    /// With `--alertmanager`: its alerts and silences, and where it disagrees with vitals.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alertmanager: Option<crate::alertmanager::View>,
    /// Which SLOs were read from recorded series, and why others were not (stale rules,
    /// short coverage); empty when every SLO read raw series with nothing to say.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub slo_sources: Vec<String>,
    /// Whether the signals and sparklines were read from the recorded series of `vitals
    /// rules` (and as of when), and which were read raw; empty when all were raw with
    /// nothing to say.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub signal_sources: Vec<String>,
}

/// The tag of a query's series in the combined answers.
fn key(u: &Use) -> String {
    u.display()
}

fn targets_key(c: &Component) -> String {
    format!("targets:{}", c.name)
}

fn down_key(c: &Component) -> String {
    format!("down:{}", c.name)
}

/// Every catalog query the screen's signals read, once each: (tag, PromQL).
fn catalog_terms(config: &Config) -> BTreeMap<String, String> {
    let mut terms = BTreeMap::new();
    let mut add = |u: &Use| {
        if let Ok(e) = u.expand(&config.catalog, &[]) {
            terms.entry(key(u)).or_insert(e.promql);
        }
    };
    for c in &config.site.components {
        for s in &c.signals {
            add(&s.source);
            if let Some((part, whole)) = &s.fraction {
                add(part);
                add(whole);
            }
        }
    }
    terms
}

/// The targets' terms: how many there are and which are down (one sample per target,
/// always read raw).
fn target_terms(config: &Config) -> BTreeMap<String, String> {
    let mut terms = BTreeMap::new();
    for c in &config.site.components {
        if let Some(m) = &c.targets {
            terms.insert(targets_key(c), format!("count(up{{{m}}})"));
            terms.insert(down_key(c), format!("up{{{m}}} == 0"));
        }
    }
    terms
}

fn spark_terms(config: &Config) -> BTreeMap<String, String> {
    let mut terms = BTreeMap::new();
    for c in &config.site.components {
        if let Some(s) = &c.sparkline
            && let Ok(e) = s.source.expand(&config.catalog, &[])
        {
            terms.entry(key(&s.source)).or_insert(e.promql);
        }
    }
    terms
}

/// Every catalog query of the screen, signals and sparklines, once each: what `vitals
/// rules` records ([`recorded`]).
pub(crate) fn recorded_terms(config: &Config) -> Vec<recorded::Term> {
    let mut all = catalog_terms(config);
    for (k, q) in spark_terms(config) {
        all.entry(k).or_insert(q);
    }
    as_terms(all)
}

fn as_terms(terms: BTreeMap<String, String>) -> Vec<recorded::Term> {
    terms
        .into_iter()
        .map(|(key, promql)| recorded::Term { key, promql })
        .collect()
}

/// Everything `status` sends besides the SLOs: the signals at `at`, the sparklines over
/// the hour before, each term raw or recorded as `choice` says.
pub(crate) fn requests(
    config: &Config,
    at: DateTime<Utc>,
    choice: &recorded::Choice,
) -> (Request, Request) {
    let start = at - chrono::Duration::hours(1);
    let step = Duration::from_secs(3600 / SPARK_POINTS as u64);
    let signals: Vec<String> = as_terms(catalog_terms(config))
        .iter()
        .map(|t| choice.signal_query(t))
        .chain(
            as_terms(target_terms(config))
                .iter()
                .map(recorded::Term::raw),
        )
        .collect();
    let sparks: Vec<String> = as_terms(spark_terms(config))
        .iter()
        .map(|t| choice.spark_query(t))
        .collect();
    (
        Request::instant("status signals", joined(&signals), at),
        Request::range(
            "status sparklines",
            joined(&sparks),
            start + step.to_chrono(),
            at,
            step,
        ),
    )
}

fn joined(parts: &[String]) -> String {
    parts.join("\n  or ")
}

/// The answers, by tag.
type Tagged = BTreeMap<String, Vec<Series>>;

/// Judges a value against its levels.
pub(crate) fn judge(levels: &Levels, v: f64) -> Level {
    if !levels.op.holds(v, levels.value) {
        Level::Fail
    } else if levels.warn.is_some_and(|w| !levels.op.holds(v, w)) {
        Level::Warn
    } else {
        Level::Ok
    }
}

/// `warn > 1 %, fail > 14.4 %`.
fn limit_text(levels: &Levels, unit: Unit) -> String {
    let op = levels.op.violated_promql();
    format!(
        "warn {op} {}, fail {op} {}",
        unit.format(levels.warn.unwrap_or(levels.value)),
        unit.format(levels.value)
    )
}

/// The component's value of a query: its own finite series, combined.
fn value_of(tagged: &Tagged, u: &Use, c: &Component, combine: crate::site::Combine) -> Option<f64> {
    let series = tagged.get(&key(u))?;
    combine.apply(
        series
            .iter()
            .filter(|s| c.owns(&s.labels))
            .filter_map(Series::value)
            .filter(|v| v.is_finite()),
    )
}

fn signals_of(config: &Config, c: &Component, tagged: &Tagged) -> Vec<Signal> {
    let unit_of = |u: &Use| {
        config
            .catalog
            .get(&u.query)
            .map(|d| d.unit)
            .unwrap_or(Unit::Count)
    };
    c.signals
        .iter()
        .map(|s| {
            let unit = unit_of(&s.source);
            let v = value_of(tagged, &s.source, c, s.combine);
            let level = match (v, &s.levels) {
                (None, _) => Level::NoData,
                (Some(v), Some(l)) => judge(l, v),
                (Some(_), None) => Level::Ok,
            };
            let mut text = v
                .map(|v| unit.format(v))
                .unwrap_or_else(|| "no data".into());
            if let (Some(_), Some((part, whole))) = (v, &s.fraction) {
                let (p, w) = (
                    value_of(tagged, part, c, crate::site::Combine::Sum),
                    value_of(tagged, whole, c, crate::site::Combine::Max),
                );
                if let (Some(p), Some(w)) = (p, w) {
                    text = format!(
                        "{}/{} ({text})",
                        unit_of(part).format(p),
                        unit_of(whole).format(w)
                    );
                }
            }
            if let (Some(v), Some(label)) = (v, &s.top)
                && v > 0.0
                && let Some(top) = largest(tagged, &s.source, c)
            {
                text = format!(
                    "{text} ({})",
                    top.labels.get(label).cloned().unwrap_or_default()
                );
            }
            Signal {
                name: s.name.clone(),
                value: v,
                unit,
                text,
                level,
                limit: s.levels.as_ref().map(|l| limit_text(l, unit)),
                advisory: s.levels.as_ref().is_some_and(|l| l.advisory),
            }
        })
        .collect()
}

/// The component's largest finite series of a query.
fn largest<'a>(tagged: &'a Tagged, u: &Use, c: &Component) -> Option<&'a Series> {
    tagged
        .get(&key(u))?
        .iter()
        .filter(|s| c.owns(&s.labels) && s.value().is_some_and(f64::is_finite))
        .max_by(|a, b| {
            a.value()
                .unwrap_or(0.0)
                .total_cmp(&b.value().unwrap_or(0.0))
        })
}

/// Scrape targets: none at all means nothing is scraped for this component.
fn judge_targets(c: &Component, tagged: &Tagged, out: &mut ComponentStatus) {
    if c.targets.is_none() {
        return;
    }
    out.targets_down = tagged
        .get(&down_key(c))
        .map(|s| {
            let mut v: Vec<String> = s
                .iter()
                .map(|s| s.labels.get("instance").cloned().unwrap_or_default())
                .collect();
            v.sort();
            v
        })
        .unwrap_or_default();
    // `up` is 0 or 1: the targets up are those not down.
    let down = out.targets_down.len() as u32;
    out.targets_up = tagged
        .get(&targets_key(c))
        .and_then(|s| s.first())
        .and_then(Series::value)
        .map(|t| ((t as u32).saturating_sub(down), t as u32));
    // The targets that are down, by name: a few, then how many more.
    let d = &out.targets_down;
    let shown = d.iter().take(3).cloned().collect::<Vec<_>>().join(", ");
    let names = match d.len() {
        0 => String::new(),
        n if n > 3 => format!(": {shown} and {} more", n - 3),
        _ => format!(": {shown}"),
    };
    match out.targets_up {
        None => {
            out.status = Health::Unknown;
            out.reasons.push("no data: no scrape targets for it".into());
        }
        Some((0, t)) => {
            out.status = Health::Down;
            out.reasons.push(format!("all {t} targets down{names}"));
        }
        Some((u, t)) if u < t => {
            out.status = out.status.max(Health::Degraded);
            out.reasons
                .push(format!("{}/{t} targets down{names}", t - u));
        }
        _ => {}
    }
}

/// DOWN rules, then the signals past their levels (period KPIs excepted).
fn judge_signals(c: &Component, out: &mut ComponentStatus) {
    for d in &c.down {
        // `op value` says when it is DOWN: `err >= 0.5`.
        if let Some(s) = out.signals.iter().find(|s| s.name == d.signal)
            && let Some(v) = s.value
            && d.op.holds(v, d.value)
        {
            out.status = Health::Down;
            out.reasons
                .push(d.reason.replace("{value}", &s.unit.format(v)));
        }
    }
    for s in out.signals.iter().filter(|s| !s.advisory) {
        if matches!(s.level, Level::Warn | Level::Fail) {
            if out.status < Health::Degraded {
                out.status = Health::Degraded;
            }
            out.reasons.push(format!(
                "{} {} ({})",
                s.name,
                s.text,
                s.limit.clone().unwrap_or_default()
            ));
        }
    }
}

/// The component's SLO rows: its own, and grouped rows that its labels identify.
fn slo_state(config: &Config, c: &Component, rows: &[Row], out: &mut ComponentStatus) {
    let mine: Vec<&Row> = rows
        .iter()
        .filter(|r| {
            config
                .site
                .members_for(&r.component, &r.group)
                .contains(&c.name.as_str())
        })
        .collect();
    if mine.is_empty() {
        return;
    }
    // Period KPIs (severity = "none") are shown, but it is the SLOs that alert which make a
    // component degraded on the on-call screen.
    let (alerting, kpis): (Vec<&Row>, Vec<&Row>) =
        mine.iter().partition(|r| config.alerts(&r.name));
    let status = Status::overall(alerting.iter().map(|r| r.status));
    let describe = |rows: &[&Row], only_fail: bool| -> Vec<String> {
        // Worst first: the screen names the first one. A period KPI is off target only
        // when it fails: a warning is not, and nothing is without data.
        let mut bad: Vec<&&Row> = rows
            .iter()
            .filter(|r| r.status != Status::Pass && (!only_fail || r.status == Status::Fail))
            .collect();
        bad.sort_by_key(|r| std::cmp::Reverse(r.status));
        bad.iter()
            .map(|r| format!("{} {}: {}", r.status.as_str(), r.display_name(), r.reason))
            .collect()
    };
    let least = mine
        .iter()
        .filter_map(|r| r.budget.map(|b| (b.remaining_ratio, r.display_name())))
        .min_by(|a, b| a.0.total_cmp(&b.0));
    if matches!(status, Status::Fail | Status::Warn) && out.status < Health::Degraded {
        out.status = Health::Degraded;
    }
    for r in alerting
        .iter()
        .filter(|r| matches!(r.status, Status::Fail | Status::Warn))
    {
        out.reasons
            .push(format!("SLO {} {}", r.display_name(), r.status.as_str()));
    }
    out.slos = Some(SloState {
        status,
        count: alerting.len(),
        problems: describe(&alerting, false),
        kpi_problems: describe(&kpis, true),
        kpi_count: kpis.len(),
        kpi_status: (!kpis.is_empty()).then(|| Status::overall(kpis.iter().map(|r| r.status))),
        budget_left: least.as_ref().map(|l| l.0),
        budget_slo: least.map(|l| l.1),
        sources: mine.iter().map(|r| (r.name.clone(), r.source)).collect(),
    });
}

/// The component's sparkline: its own series of the headline query, combined per step.
fn spark_of(config: &Config, c: &Component, sparks: &Tagged) -> Option<Spark> {
    let s = c.sparkline.as_ref()?;
    let mine: Vec<&Series> = sparks
        .get(&key(&s.source))?
        .iter()
        .filter(|x| c.owns(&x.labels))
        .collect();
    if mine.is_empty() {
        return None;
    }
    let mut by_time: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
    for series in &mine {
        for (t, v) in &series.samples {
            by_time
                .entry((t * 1000.0).round() as i64)
                .or_default()
                .push(*v);
        }
    }
    let unit = config
        .catalog
        .get(&s.source.query)
        .map(|d| d.unit)
        .unwrap_or(Unit::Count);
    Some(Spark {
        signal: s.label.clone(),
        unit,
        points: by_time
            .into_iter()
            .map(|(t, v)| (t as f64 / 1000.0, s.combine.apply(v).and_then(finite)))
            .collect(),
    })
}

fn component(
    config: &Config,
    c: &Component,
    rows: &[Row],
    signals: Result<&Tagged, ()>,
    sparks: &Tagged,
) -> ComponentStatus {
    let empty = Tagged::new();
    let tagged = signals.unwrap_or(&empty);
    let mut out = ComponentStatus {
        name: c.name.clone(),
        status: Health::Ok,
        reasons: Vec::new(),
        signals: signals_of(config, c, tagged),
        targets_up: None,
        targets_down: Vec::new(),
        slos: None,
        spark: None,
    };
    if signals.is_ok() {
        judge_targets(c, tagged, &mut out);
    }
    if signals.is_err() {
        out.status = Health::Unknown;
        out.reasons
            .push("not read: the query for its signals failed".into());
    } else if out.status != Health::Down
        && !out.signals.is_empty()
        && out.signals.iter().all(|s| s.level == Level::NoData)
    {
        out.status = Health::Unknown;
        out.reasons
            .push("no data: none of its signals returned a value".into());
    }
    judge_signals(c, &mut out);
    slo_state(config, c, rows, &mut out);
    out.spark = spark_of(config, c, sparks);
    out
}

/// One line per distinct failure: a Prometheus that cannot be reached fails every query
/// the same way, and saying so twenty times helps nobody.
fn failures(
    rows: &[Row],
    signals: Result<&Answer, &PromError>,
    sparks: Result<&Answer, &PromError>,
) -> Vec<String> {
    let mut failures: Vec<(String, String)> = Vec::new();
    if let Err(e) = signals {
        failures.push(("signals".into(), e.to_string()));
    }
    if let Err(e) = sparks {
        failures.push(("sparklines".into(), e.to_string()));
    }
    for r in rows.iter().filter(|r| r.error.is_some()) {
        failures.push((
            format!("SLO {}", r.name),
            r.error.clone().unwrap_or_default(),
        ));
    }
    crate::failures::distinct(failures)
}

/// The verdict's parts, worst first (`DOWN: mes (answers 5xx ...)`, `DEGRADED: crm`), the
/// first `with_reasons` components that are not OK with their first reason; none when all
/// are OK. The screen drops reasons from the end when the line is too wide.
pub(crate) fn verdict_parts(components: &[ComponentStatus], with_reasons: usize) -> Vec<String> {
    let order = [Health::Down, Health::Degraded, Health::Unknown];
    let bad: Vec<&ComponentStatus> = order
        .iter()
        .flat_map(|h| components.iter().filter(move |c| c.status == *h))
        .collect();
    order
        .iter()
        .filter_map(|h| {
            let names: Vec<String> = bad
                .iter()
                .enumerate()
                .filter(|(_, c)| c.status == *h)
                .map(|(i, c)| match c.reasons.first() {
                    Some(r) if i < with_reasons => format!("{} ({r})", c.name),
                    _ => c.name.clone(),
                })
                .collect();
            (!names.is_empty()).then(|| format!("{}: {}", h.word(), names.join(", ")))
        })
        .collect()
}

/// The verdict word and the line shown on top.
fn verdict(
    components: &[ComponentStatus],
    signals: Result<&Answer, &PromError>,
) -> (&'static str, String) {
    let worst = components
        .iter()
        .map(|c| c.status)
        .max()
        .unwrap_or(Health::Ok);
    let word = match worst {
        Health::Ok => "HEALTHY",
        Health::Unknown => "UNKNOWN",
        Health::Degraded => "DEGRADED",
        Health::Down => "DOWN",
    };
    let parts = verdict_parts(components, usize::MAX);
    let line = match signals {
        // Nothing could be read: say why once, not per component.
        Err(e) => format!(
            "UNKNOWN: nothing could be read ({})",
            match &e.kind {
                ErrorKind::Unreachable => format!("cannot reach Prometheus at {}", e.url),
                _ => e.to_string(),
            }
        ),
        Ok(_) if parts.is_empty() => {
            format!("HEALTHY: all {} components OK", components.len())
        }
        Ok(_) => parts.join(" · "),
    };
    (word, line)
}

/// Assembles the screen from the answers and the SLO rows.
pub(crate) fn assemble(
    config: &Config,
    slo_rows: &[Row],
    signals: Result<&Answer, &PromError>,
    sparks: Result<&Answer, &PromError>,
    at: DateTime<Utc>,
    choice: &recorded::Choice,
) -> StatusReport {
    let errors = failures(slo_rows, signals, sparks);
    let tagged = signals.map(|a| split_by(&a.series, "vitals_signal"));
    let spark_tagged = sparks
        .map(|a| split_by(&a.series, "vitals_signal"))
        .unwrap_or_default();
    let components: Vec<ComponentStatus> = config
        .site
        .components
        .iter()
        .map(|c| {
            component(
                config,
                c,
                slo_rows,
                tagged.as_ref().map_err(|_| ()),
                &spark_tagged,
            )
        })
        .collect();
    let (word, mut line) = verdict(&components, signals);
    let kpis_off_target: Vec<String> = slo_rows
        .iter()
        .filter(|r| r.status == Status::Fail && !config.alerts(&r.name))
        .map(Row::display_name)
        .collect();
    if !kpis_off_target.is_empty() && signals.is_ok() {
        line.push_str(&format!(
            " · period KPI off target: {} (on-call is not paged; `vitals check` fails)",
            kpis_off_target.join(", ")
        ));
    }
    StatusReport {
        kpis_off_target,
        schema_version: crate::SCHEMA_VERSION,
        at: crate::timespec::format_time(at),
        verdict: word.into(),
        verdict_line: line,
        components,
        errors,
        alertmanager: None,
        slo_sources: crate::slo::eval::source_lines(slo_rows),
        signal_sources: choice.lines.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_signal_of_the_builtin_site_is_one_term_of_one_query() {
        let (config, problems) = Config::builtin();
        assert!(problems.is_empty(), "{problems:#?}");
        let at = chrono::Utc::now();
        let terms = recorded_terms(&config);
        for choice in [
            recorded::Choice::raw(),
            recorded::Choice::all_recorded(&terms),
        ] {
            let (instant, range) = requests(&config, at, &choice);
            assert!(promql_parser::parser::parse(&instant.promql).is_ok());
            assert!(promql_parser::parser::parse(&range.promql).is_ok());
            // Shared queries (api.rps for three APIs) are asked once.
            let (a, b) = (
                terms.iter().find(|t| t.key == "api.rps").unwrap(),
                &terms[0],
            );
            assert_eq!(instant.promql.matches(&choice.signal_query(a)).count(), 1);
            assert_eq!(range.promql.matches(&choice.spark_query(a)).count(), 1);
            assert_eq!(instant.promql.matches(&choice.signal_query(b)).count(), 1);
        }
        // Recorded, the screen reads no raw series but the targets' `up`.
        let (instant, range) = requests(&config, at, &recorded::Choice::all_recorded(&terms));
        assert!(!range.promql.contains("rate("), "{}", range.promql);
        assert!(!instant.promql.contains("rate("), "{}", instant.promql);
    }

    #[test]
    fn levels_judge_in_the_right_direction() {
        let l = Levels {
            op: crate::slo::model::Op::Le,
            value: 15.0,
            warn: Some(5.0),
            advisory: false,
            slo: None,
        };
        assert_eq!(judge(&l, 3.0), Level::Ok);
        assert_eq!(judge(&l, 6.0), Level::Warn);
        assert_eq!(judge(&l, 16.0), Level::Fail);
        assert_eq!(limit_text(&l, Unit::Count), "warn > 5, fail > 15");
    }
}
