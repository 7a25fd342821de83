//! The period report: SLO compliance, business KPIs, components, incidents and charts, each
//! number beside the previous period's. What it contains comes from the site (site.toml):
//! its KPIs, breakdowns and charts, and each component's figures.
//!
//! Query cost does not grow with the period: every total is one `increase(...[period])` (or
//! a quantile over `rate(...[period])`) evaluated at the period's end, every peak one
//! `max_over_time`, all of a period's KPIs in one tagged instant query. Charts are range
//! queries at a step that gives them a few hundred points; the budget burn-down sums
//! per-step increases here instead of asking for the SLO window at every point.

mod charts;
mod numbers;
pub mod period;
mod plan;
pub(crate) mod recorded;
mod slos;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::chart::{Chart, Zone};
use crate::config::Config;
use crate::incidents::Incident;
use crate::prom::Prom;
pub use crate::site::Better;
use crate::slo::eval::{self, Status};
use crate::slo::sli;
use crate::units::Unit;
pub use period::Period;
pub use plan::Plan;

/// One number of the report with the previous period's.
#[derive(Clone, Debug, Serialize)]
pub struct Kpi {
    /// Stable identifier (`orders_created`, `shop.error_ratio`).
    pub id: String,
    pub label: String,
    pub unit: Unit,
    /// This period's value; null with a `note` when there is none.
    pub value: Option<f64>,
    /// The previous period's value.
    pub previous: Option<f64>,
    /// (value - previous) / previous; null when either is missing or previous is 0.
    pub change: Option<f64>,
    pub better: Better,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The previous period cannot be compared with (it lacks data): no change is shown.
    #[serde(skip)]
    pub incomparable: bool,
}

impl Kpi {
    fn new(id: &str, label: &str, unit: Unit, better: Better, v: Value, prev: Value) -> Kpi {
        let note = match (&v, &prev) {
            (Value::NoEvents, _) => Some("no events in the period".to_string()),
            _ => None,
        };
        let (value, previous) = (v.number(), prev.number());
        Kpi {
            id: id.into(),
            label: label.into(),
            unit,
            value,
            previous,
            change: match (value, previous) {
                (Some(a), Some(b)) if b != 0.0 => Some((a - b) / b.abs()),
                _ => None,
            },
            better,
            note,
            incomparable: false,
        }
    }

    /// The value as text, or `n/a`.
    pub(crate) fn text(&self) -> String {
        match self.value {
            Some(v) => self.unit.format(v),
            None if self.note.is_some() => "n/a".into(),
            None => "missing".into(),
        }
    }

    pub(crate) fn previous_text(&self) -> String {
        self.previous
            .map(|v| self.unit.format(v))
            .unwrap_or_else(|| "n/a".into())
    }

    /// `↑ 12.5 %`, `↓ 3.1 %`, `→ 0 %`, `↑ from 0`, or empty.
    pub(crate) fn change_text(&self) -> String {
        if self.incomparable {
            return String::new();
        }
        match (self.change, self.value, self.previous) {
            (Some(c), _, _) if c.abs() < 0.0005 => "→ 0 %".into(),
            (Some(c), _, _) => format!(
                "{} {}",
                if c > 0.0 { "↑" } else { "↓" },
                Unit::Ratio.format(c.abs())
            ),
            (None, Some(v), Some(p)) if p == 0.0 && v != 0.0 => "↑ from 0".into(),
            (None, Some(_), Some(_)) => "→ 0 %".into(),
            _ => String::new(),
        }
    }

    /// Whether the change is good, bad or neither (for colours).
    pub(crate) fn verdict(&self) -> Option<bool> {
        if self.incomparable {
            return None;
        }
        let up = match (self.change, self.value, self.previous) {
            (Some(c), _, _) if c.abs() >= 0.0005 => c > 0.0,
            (None, Some(v), Some(p)) if p == 0.0 && v > 0.0 => true,
            _ => return None,
        };
        match self.better {
            Better::Higher => Some(up),
            Better::Lower => Some(!up),
            Better::Neutral => None,
        }
    }
}

/// A value read from an answer.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Value {
    Number(f64),
    /// NaN: a ratio of zero events.
    NoEvents,
    /// The series is absent (or the query failed).
    Missing,
}

impl Value {
    fn number(self) -> Option<f64> {
        match self {
            Value::Number(v) => Some(v),
            _ => None,
        }
    }
}

/// One row of a breakdown table (dead letters by queue and reason ...).
#[derive(Clone, Debug, Serialize)]
pub struct BreakdownRow {
    pub labels: BTreeMap<String, String>,
    pub value: Option<f64>,
    pub previous: Option<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Breakdown {
    pub id: String,
    pub title: String,
    pub unit: Unit,
    /// The label columns, in order.
    pub columns: Vec<String>,
    /// Largest first.
    pub rows: Vec<BreakdownRow>,
}

/// One SLO at the end of the period, and over it.
#[derive(Clone, Debug, Serialize)]
pub struct SloLine {
    /// `mes-availability`, `db-memory{service=mes-db}`.
    pub name: String,
    pub component: String,
    pub description: String,
    /// Status at the end of the period, over the SLO's own window (as `vitals check`).
    pub status: Status,
    pub previous_status: Option<Status>,
    pub reason: String,
    /// `99.61 % >= 99 %`.
    pub value_vs_objective: String,
    /// The SLI (budget SLOs) or the value (thresholds) at the end of the period, with the
    /// previous period's.
    pub value: Kpi,
    /// Error budget left at the end of the period, in the SLO's own window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget_left: Option<Kpi>,
    /// Budget SLOs: the SLI over the report period itself (event-weighted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period_sli: Option<Kpi>,
    /// Threshold SLOs that alert: how long (seconds) the value was past its limit in the
    /// period, sampled every `sample_step` of the report.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub breached: Option<Kpi>,
    /// Whether the SLO was met over the period: a budget SLO's SLI over the period against
    /// its objective; a threshold that alerts never broken longer than its `for`; a period
    /// KPI's value at the end. Null when it cannot be judged.
    pub met: Option<bool>,
    pub previous_met: Option<bool>,
    /// Where the value at the end was read from (`--source`): `recorded` or `raw`.
    pub source: crate::slo::eval::Source,
}

impl SloLine {
    /// What the SLO looked like over a period (this one, or the previous with `previous`):
    /// a budget SLO's SLI, how long a threshold was broken, a period KPI's value.
    pub(crate) fn over_text(&self, previous: bool) -> String {
        let pick = |k: &Kpi| {
            if previous {
                k.previous.map(|v| k.unit.format(v))
            } else {
                k.value.map(|v| k.unit.format(v))
            }
        };
        if let Some(k) = &self.period_sli {
            return pick(k).unwrap_or_else(|| "n/a".into());
        }
        if let Some(k) = &self.breached {
            return match if previous { k.previous } else { k.value } {
                Some(0.0) => "never broken".into(),
                Some(v) => format!("broken {}", crate::incidents::duration_text(v, false)),
                None => "n/a".into(),
            };
        }
        pick(&self.value).unwrap_or_else(|| "n/a".into())
    }
}

/// A chart of the report (drawn as inline SVG in HTML, PNG next to Markdown).
#[derive(Clone, Debug, Serialize)]
pub struct ChartInfo {
    pub id: String,
    pub title: String,
    /// The file written next to a Markdown report, relative to it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The lines drawn, with their points (`[unix seconds, value]`, null where the line
    /// breaks), those on the right-hand axis too.
    #[serde(rename = "lines", serialize_with = "chart_lines")]
    pub chart: Chart,
}

/// A chart's lines as JSON: label, axis and points.
fn chart_lines<S: serde::Serializer>(c: &Chart, s: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Out<'a> {
        label: &'a str,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        right_axis: bool,
        points: Vec<(f64, Option<f64>)>,
    }
    fn out(l: &crate::chart::Line, right_axis: bool) -> Out<'_> {
        Out {
            label: &l.label,
            right_axis,
            points: l
                .points
                .iter()
                .map(|(t, v)| (*t, v.is_finite().then_some(*v)))
                .collect(),
        }
    }
    let right = c.secondary.iter().flat_map(|x| x.lines.iter());
    let all: Vec<Out> = c
        .lines
        .iter()
        .map(|l| out(l, false))
        .chain(right.map(|l| out(l, true)))
        .collect();
    serde::Serialize::serialize(&all, s)
}

#[derive(Clone, Debug, Serialize)]
pub struct ComponentSection {
    pub name: String,
    pub metrics: Vec<Kpi>,
}

#[derive(Clone, Debug, Serialize)]
pub struct IncidentSection {
    /// Incidents that started in the period.
    pub list: Vec<Incident>,
    pub count: Kpi,
    pub mttr: Kpi,
    pub time_in_incidents: Kpi,
    pub step: String,
    pub method: String,
}

/// `vitals report --format json`: the same numbers the Markdown and HTML show.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Layout version of this document.
    pub schema_version: u32,
    pub period: Period,
    pub previous_period: Period,
    /// When the report was made (RFC 3339).
    pub generated_at: String,
    /// Share of the period, and of the previous one, for which Prometheus has data. Below
    /// 0.99 for the previous period no change is computed; at 0 it has no numbers.
    pub coverage: f64,
    pub previous_coverage: f64,
    /// The worst SLO status at the period's end: pass, warn, fail or inconclusive.
    pub verdict: Status,
    /// SLOs passing (or warning) of all SLOs, at the period's end.
    pub compliance: Kpi,
    pub slos: Vec<SloLine>,
    pub kpis: Vec<Kpi>,
    pub breakdowns: Vec<Breakdown>,
    pub components: Vec<ComponentSection>,
    pub incidents: IncidentSection,
    pub charts: Vec<ChartInfo>,
    /// What could not be read: the report is incomplete when this is not empty.
    pub missing: Vec<String>,
    /// Which SLOs were read from recorded series at the period's end, and why others were
    /// not (stale rules, short coverage); absent when every SLO read raw series.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub slo_sources: Vec<String>,
    /// Which KPIs over the period were summed from the recorded KPI increases of `vitals
    /// rules` (docs/recording.md), and which read raw series because those do not cover
    /// the period; absent with `--source raw` or without recorded increases.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kpi_sources: Vec<String>,
    /// The step at which peaks and the time thresholds were broken are sampled: `1m` up to a
    /// week, `5m` for a month (as many samples as a week at one minute).
    pub sample_step: crate::duration::Duration,
    /// Whether every threshold's time broken was summed from recorded minutes (then only
    /// the peaks are sampled at `sample_step`).
    #[serde(skip)]
    pub breaches_recorded: bool,
    /// Whether every peak was read from recorded minutes (then it is a minute's resolution).
    #[serde(skip)]
    pub peaks_recorded: bool,
    /// Warnings Prometheus attached to the answers (shown on stderr).
    #[serde(skip)]
    pub warnings: Vec<String>,
}

impl IncidentSection {
    fn empty() -> IncidentSection {
        let none = |id: &str, label: &str, unit| {
            Kpi::new(
                id,
                label,
                unit,
                Better::Lower,
                Value::Missing,
                Value::Missing,
            )
        };
        IncidentSection {
            list: Vec::new(),
            count: none("incidents", "Incidents (page and ticket)", Unit::Count),
            mttr: none("mttr_detected", "MTTR of detected incidents", Unit::Seconds),
            time_in_incidents: none("time_in_incidents", "Time in incidents", Unit::Seconds),
            step: String::new(),
            method: String::new(),
        }
    }
}

impl Report {
    /// The verdict is the period's: any SLO not met fails it, one that cannot be judged
    /// leaves it undecided, a warning at the end shows. A previous period with data for only
    /// part of it cannot be compared with: its numbers stay (those there are), the changes
    /// go; with no data at all, it is empty. Nor can a period still in progress: its totals
    /// cover only part of its length.
    fn finish(&mut self, in_progress: bool) {
        let lines = &self.slos;
        self.verdict = if lines.iter().any(|l| l.met == Some(false)) {
            Status::Fail
        } else if lines.iter().any(|l| l.met.is_none()) {
            Status::Inconclusive
        } else if lines.iter().any(|l| l.status == Status::Warn) {
            Status::Warn
        } else {
            Status::Pass
        };
        if self.previous_coverage < 0.99 || in_progress {
            self.without_changes(self.previous_coverage == 0.0);
        }
    }

    /// Drops every change (and, with `previous`, every previous value).
    fn without_changes(&mut self, previous: bool) {
        let fix = |k: &mut Kpi| {
            k.change = None;
            k.incomparable = true;
            if previous {
                k.previous = None;
            }
        };
        fix(&mut self.compliance);
        self.kpis.iter_mut().for_each(fix);
        for c in &mut self.components {
            c.metrics.iter_mut().for_each(fix);
        }
        for s in &mut self.slos {
            fix(&mut s.value);
            s.budget_left.iter_mut().for_each(fix);
            s.period_sli.iter_mut().for_each(fix);
            s.breached.iter_mut().for_each(fix);
            if previous {
                s.previous_met = None;
                s.previous_status = None;
            }
        }
        fix(&mut self.incidents.count);
        fix(&mut self.incidents.mttr);
        fix(&mut self.incidents.time_in_incidents);
        if previous {
            for b in &mut self.breakdowns {
                for r in &mut b.rows {
                    r.previous = None;
                }
            }
        }
    }

    /// `2026-W47 (Europe/Moscow): 2026-11-16 00:00 .. 2026-11-23 00:00, compared with 2026-W46`.
    pub(crate) fn period_line(&self) -> String {
        let tz: Tz = self.period.time_zone.parse().unwrap_or(Tz::UTC);
        let z = Zone::Tz(tz);
        format!(
            "{} .. {}{} ({}), compared with {} ({} .. {})",
            z.format(self.period.start, "%Y-%m-%d %H:%M"),
            z.format(self.period.end, "%Y-%m-%d %H:%M"),
            if self.period.in_progress {
                " (in progress: numbers up to now, no changes against the previous period)"
            } else {
                ""
            },
            self.period.time_zone,
            self.previous_period.label,
            z.format(self.previous_period.start, "%Y-%m-%d %H:%M"),
            z.format(self.previous_period.end, "%Y-%m-%d %H:%M"),
        )
    }

    /// What sampling peaks and breaches coarser than a minute means, or None at a minute
    /// (or when both were read from recorded minutes).
    pub(crate) fn sample_note(&self) -> Option<String> {
        let s = self.sample_step;
        if s <= crate::duration::Duration::from_secs(60) {
            return None;
        }
        Some(match (self.peaks_recorded, self.breaches_recorded) {
            (true, true) => return None,
            (true, false) => format!(
                "The time thresholds were broken is sampled every {s} over a period this long (every minute up to a week): each breach is counted to within {s} at either end. Peaks are taken every minute, from recorded minutes."
            ),
            (false, true) => format!(
                "Peaks are sampled every {s} over a period this long (every minute up to a week): a peak shorter than {s} can be missed. The time thresholds were broken is counted every minute, from recorded minutes."
            ),
            (false, false) => format!(
                "Peaks and the time thresholds were broken are sampled every {s} over a period this long (every minute up to a week): a peak shorter than {s} can be missed, and each breach is counted to within {s} at either end."
            ),
        })
    }

    /// `12 of 17 SLOs met over the period`.
    pub(crate) fn compliance_line(&self) -> String {
        let met = self.slos.iter().filter(|s| s.met == Some(true)).count();
        let judged = self.slos.iter().filter(|s| s.met.is_some()).count();
        format!(
            "{met} of {judged} SLOs met over the period ({}{})",
            self.compliance.text(),
            match self.compliance.change_text() {
                c if c.is_empty() => String::new(),
                c => format!(", {c} vs {}", self.previous_period.label),
            }
        )
    }
}

/// Builds the report of `period`: the SLOs at both ends, every KPI, chart and the
/// incidents, asked together. `progress` is called once per finished query.
pub(crate) async fn build(
    prom: &Prom,
    config: &Config,
    period: Period,
    tz: Tz,
    generated_at: DateTime<Utc>,
    source: crate::cli::SliSource,
    progress: &(dyn Fn() + Sync),
) -> Report {
    let mut plan = Plan::new(period, tz);
    let slos = &config.slos;
    let (at, previous_at) = plan.slo_instants();
    // The latency buckets are asked once, at the period's end, for everything below; the
    // coverage of the recorded KPI increases with them.
    let (buckets, kpi_cover) = tokio::join!(
        sli::resolve_buckets(slos, prom, at, progress),
        kpi_coverage(prom, config, &plan, source, progress),
    );
    plan.kpi_cover = kpi_cover;
    plan.recorded_slos = plan.covered_slos(config);
    let hint_terms = plan.covered_terms(config);
    let search = crate::incidents::Search {
        slos,
        range: (plan.previous.start, plan.period.end),
        step: None,
        with_targets: true,
        recorded: &plan.recorded_slos,
        terms: &hint_terms,
    };
    let (rows, previous_rows, answers, found) = tokio::join!(
        eval::evaluate_with(slos, prom, at, &buckets, source, progress),
        eval::evaluate_with(slos, prom, previous_at, &buckets, source, progress),
        prom.run_batch(plan.batch(config, &buckets), progress),
        crate::incidents::find_with(prom, config, &search, &buckets, progress,),
    );
    plan.assemble(
        config,
        plan::Evaluated {
            rows: &rows,
            previous_rows: &previous_rows,
            incidents: &found.report,
            warnings: found.warnings,
        },
        answers,
        generated_at,
    )
}

/// How much of both periods the recorded KPI increases cover: one query, unless the
/// source is raw or the site's KPIs have no recordable term.
async fn kpi_coverage(
    prom: &Prom,
    config: &Config,
    plan: &Plan,
    source: crate::cli::SliSource,
    progress: &(dyn Fn() + Sync),
) -> recorded::Coverage {
    let unavailable = |why: &str| recorded::Coverage {
        unavailable: Some(why.to_string()),
        ..Default::default()
    };
    if source == crate::cli::SliSource::Raw {
        return unavailable("--source raw");
    }
    if recorded::site_terms(config).is_empty()
        && recorded::site_breaches(config).is_empty()
        && !config
            .slos
            .iter()
            .any(|s| matches!(s.objective, crate::slo::model::Objective::Budget { .. }))
    {
        return unavailable("no recordable KPI");
    }
    let mut batch = crate::prom::Batch::new();
    batch.add(
        0u8,
        crate::prom::Request::instant(
            "report: recorded KPI increases",
            recorded::probe(
                plan.period.length(),
                plan.previous.length(),
                plan::burn_lookback(config, plan.period.end),
            ),
            plan.period.end,
        ),
    );
    match prom.run_batch(batch, progress).await.take(&0) {
        Some(Ok(a)) => recorded::Coverage::from_series(&a.series),
        Some(Err(e)) => unavailable(&e.to_string()),
        None => unavailable("no answer"),
    }
}

/// Every query a report sends, for progress bars: KPIs and charts, the burn-down, the
/// SLO evaluation at both ends and the incidents.
pub(crate) fn query_estimate(config: &Config, source: crate::cli::SliSource) -> usize {
    let slos = &config.slos;
    plan::fixed_requests(config)
        + usize::from(
            source != crate::cli::SliSource::Raw
                && !(recorded::site_terms(config).is_empty()
                    && recorded::site_breaches(config).is_empty()),
        )
        + 2 * eval::query_count(slos, source)
        + crate::incidents::query_estimate(slos)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn hourly_counts_sum_to_local_days_across_a_clock_change() {
        // Berlin moves to summer time on 2026-03-29: that day has 23 hours.
        let tz: Tz = "Europe/Berlin".parse().unwrap();
        let start = Utc.with_ymd_and_hms(2026, 3, 28, 23, 0, 0).unwrap(); // 29th, 00:00
        let hourly: Vec<(f64, f64)> = (1..=47)
            .map(|h| ((start.timestamp() + h * 3600) as f64, 1.0))
            .collect();
        let days = charts::per_local_day(&hourly, tz);
        assert_eq!(days.len(), 2);
        assert_eq!(days[0].1, 23.0);
        assert_eq!(days[1].1, 24.0);
        // Drawn at each day's middle: 11:30 after the 23-hour day's start.
        assert_eq!(days[0].0, (start.timestamp() + 23 * 1800) as f64);
    }
}
