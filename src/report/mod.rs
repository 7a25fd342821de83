//! The period report: SLO compliance, business KPIs, components, incidents and charts, each
//! number beside the previous period's.
//!
//! Query cost does not grow with the period: every total is one `increase(...[period])` (or
//! a quantile over `rate(...[period])`) evaluated at the period's end, every peak one
//! `max_over_time` subquery, all of a period's KPIs in one tagged instant query. Charts are
//! range queries at a step that gives them a few hundred points; the budget burn-down sums
//! per-step increases here instead of asking for the SLO window at every point.

pub mod period;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::catalog::Catalog;
use crate::duration::Duration;
use crate::incidents::{Incident, IncidentReport, Severity};
use crate::prom::{Answer, PromError, Request, Series};
use crate::render::chart::{Band, Chart, Line, Zone};
use crate::slo::eval::{self, Row, Status, sli_parts};
use crate::slo::model::{Objective, Slo};
use crate::timespec::{format_time, unix_seconds};
use crate::units::Unit;
pub use period::Period;

/// Which way is good for a number (how its change is coloured).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Better {
    Higher,
    Lower,
    Neutral,
}

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
    pub fn text(&self) -> String {
        match self.value {
            Some(v) => self.unit.format(v),
            None if self.note.is_some() => "n/a".into(),
            None => "missing".into(),
        }
    }

    pub fn previous_text(&self) -> String {
        self.previous
            .map(|v| self.unit.format(v))
            .unwrap_or_else(|| "n/a".into())
    }

    /// `↑ 12.5 %`, `↓ 3.1 %`, `→ 0 %`, `↑ from 0`, or empty.
    pub fn change_text(&self) -> String {
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
    pub fn verdict(&self) -> Option<bool> {
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
    /// period, at one-minute resolution.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub breached: Option<Kpi>,
    /// Whether the SLO was met over the period: a budget SLO's SLI over the period against
    /// its objective; a threshold that alerts never broken longer than its `for`; a period
    /// KPI's value at the end. Null when it cannot be judged.
    pub met: Option<bool>,
    pub previous_met: Option<bool>,
}

impl SloLine {
    /// What the SLO looked like over a period (this one, or the previous with `previous`):
    /// a budget SLO's SLI, how long a threshold was broken, a period KPI's value.
    pub fn over_text(&self, previous: bool) -> String {
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

/// `met`, `missed` or `n/a`.
pub fn met_text(m: Option<bool>) -> &'static str {
    match m {
        Some(true) => "met",
        Some(false) => "missed",
        None => "n/a",
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
    #[serde(skip)]
    pub chart: Chart,
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
}

/// How a probe uses the period.
#[derive(Clone, Copy)]
enum Mode {
    /// `window` = the period, at its end.
    Window,
    /// The value at the period's end.
    End,
    /// The highest value during the period (a `max_over_time` subquery).
    Peak,
}

type Params = &'static [(&'static str, &'static str)];

/// The KPI probes: (id, catalog query, fixed params, mode).
const PROBES: [(&str, &str, Params, Mode); 27] = [
    (
        "orders_created",
        "business.orders_created",
        &[],
        Mode::Window,
    ),
    ("orders_lost", "business.orders_lost", &[], Mode::Window),
    ("lost_share", "business.lost_order_share", &[], Mode::Window),
    (
        "lost_by_reason",
        "business.lost_orders_by_reason",
        &[],
        Mode::Window,
    ),
    ("completed", "business.orders_completed", &[], Mode::Window),
    ("p50", "business.order_processing_p50", &[], Mode::Window),
    ("p95", "business.order_processing_p95", &[], Mode::Window),
    ("mttr_crm", "business.mttr_seconds", &[], Mode::Window),
    ("resolved", "business.incidents_resolved", &[], Mode::Window),
    ("open", "business.incidents_open", &[], Mode::End),
    ("dlq", "rabbitmq.dlq_by_queue_reason", &[], Mode::Window),
    ("dead", "rabbitmq.dead_lettered", &[], Mode::Window),
    ("dropped", "rabbitmq.dropped", &[], Mode::Window),
    ("published", "rabbitmq.publish_rate", &[], Mode::Window),
    (
        "depth_peak",
        "rabbitmq.queue_depth",
        &[("queue", "shop.orders")],
        Mode::Peak,
    ),
    ("requests", "api.requests", &[], Mode::Window),
    ("e5xx", "api.responses_5xx", &[], Mode::Window),
    ("error_ratio", "api.error_ratio", &[], Mode::Window),
    ("api_p95", "api.latency_p95", &[], Mode::Window),
    ("api_p99", "api.latency_p99", &[], Mode::Window),
    ("cpu_peak", "api.cpu_percent", &[], Mode::Peak),
    ("mem_peak", "api.memory_bytes", &[], Mode::Peak),
    ("db_size", "db.size_bytes", &[], Mode::End),
    ("db_growth", "db.size_growth_bytes", &[], Mode::Window),
    ("db_sat_peak", "db.connection_saturation", &[], Mode::Peak),
    ("s3_size", "s3.size_bytes", &[], Mode::End),
    ("s3_growth", "s3.growth_bytes", &[], Mode::Window),
];

/// S3 numbers with their own windows (kept apart from PROBES for readability).
const S3_PROBES: [(&str, &str, Params, Mode); 2] = [
    ("s3_p95", "s3.latency_p95_overall", &[], Mode::Window),
    ("s3_5xx", "s3.errors_5xx", &[], Mode::Window),
];

/// The resolution of peak subqueries: one minute, the usual scrape interval, so a peak is
/// the highest sample and not the highest of every sixth (a month is 44,640 evaluations of
/// a small query: cheap next to reading its samples).
fn peak_resolution(_period: &Period) -> Duration {
    Duration::from_secs(60)
}

/// The one instant query with every KPI of a period, each part tagged `vitals_kpi`.
fn kpi_request(catalog: &Catalog, period: &Period) -> Request {
    let window = period.length().to_string();
    let res = peak_resolution(period);
    let terms: Vec<String> = PROBES
        .iter()
        .chain(S3_PROBES.iter())
        .filter_map(|(id, q, fixed, mode)| {
            let def = catalog.get(q)?;
            let mut p: BTreeMap<String, String> = fixed
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            if matches!(mode, Mode::Window) {
                p.insert("window".into(), window.clone());
            }
            let e = def.expand(&def.applicable(&p)).ok()?;
            let promql = match mode {
                Mode::Peak => format!("max_over_time(({})[{window}:{res}])", e.promql),
                _ => e.promql,
            };
            Some(format!(
                "label_replace(({promql}), \"vitals_kpi\", \"{id}\", \"\", \"\")"
            ))
        })
        .collect();
    Request::instant(
        format!("report KPIs {}", period.label),
        terms.join("\n  or "),
        period.end,
    )
}

/// Where each answer of [`Plan::requests`] is.
const A_KPIS: usize = 0;
const A_PREVIOUS_KPIS: usize = 1;
const A_CHARTS: std::ops::Range<usize> = 2..5;
const A_COVERAGE: usize = 5;
const A_BREACH: usize = 6;
const A_PREVIOUS_BREACH: usize = 7;
const A_PERIOD_VALUES: usize = 8;
const A_PREVIOUS_PERIOD_VALUES: usize = 9;

/// The value over the whole period of every period KPI (a threshold SLO with `severity =
/// "none"` whose query has a `window`), tagged `vitals_slo`: the query with its window set
/// to the period's length, at the period's end, worst value per group.
fn period_value_request(catalog: &Catalog, slos: &[Slo], period: &Period) -> Request {
    let window = period.length().to_string();
    let terms: Vec<String> = slos
        .iter()
        .filter_map(|slo| {
            let (name, params, op) = period_kpi(catalog, slo)?;
            let mut params = params.clone();
            params.insert("window".to_string(), window.clone());
            let e = catalog.get(name)?.expand(&params).ok()?;
            let by = if slo.group_by.is_empty() {
                String::new()
            } else {
                format!(" by ({})", slo.group_by.join(", "))
            };
            let worst = if op.upper_bound() { "max" } else { "min" };
            Some(format!(
                "label_replace({worst}{by} ({}), \"vitals_slo\", \"{}\", \"\", \"\")",
                e.promql, slo.name
            ))
        })
        .collect();
    Request::instant(
        format!("report: period KPIs over {}", period.label),
        if terms.is_empty() {
            "vector(0) > 1".to_string()
        } else {
            terms.join("\n  or ")
        },
        period.end,
    )
}

/// A period KPI's catalog query, params and comparison, when its query has a `window` to
/// stretch over a period.
fn period_kpi<'a>(
    catalog: &Catalog,
    slo: &'a Slo,
) -> Option<(&'a str, &'a BTreeMap<String, String>, crate::slo::model::Op)> {
    match &slo.objective {
        Objective::Threshold {
            source: crate::slo::model::ThresholdSource::Query { name, params },
            op,
            severity: crate::slo::model::Alerting::None,
            ..
        } if catalog
            .get(name)
            .is_some_and(|d| d.params.contains_key("window")) =>
        {
            Some((name.as_str(), params, *op))
        }
        _ => None,
    }
}

/// Minutes each threshold SLO that alerts was broken during a period (one series per group,
/// or one for the SLO), tagged `vitals_slo`: the inner query at every minute compared with
/// the limit, summed.
fn breach_request(catalog: &Catalog, slos: &[Slo], period: &Period) -> Request {
    let window = period.length().to_string();
    let terms: Vec<String> = slos
        .iter()
        .filter_map(|slo| {
            let Objective::Threshold {
                source,
                op,
                value,
                severity,
                ..
            } = &slo.objective
            else {
                return None;
            };
            if *severity == crate::slo::model::Alerting::None {
                return None;
            }
            let q = match source {
                crate::slo::model::ThresholdSource::Promql(p) => p.clone(),
                crate::slo::model::ThresholdSource::Query { name, params } => {
                    catalog.get(name)?.expand(params).ok()?.promql
                }
            };
            let by = if slo.group_by.is_empty() {
                String::new()
            } else {
                format!(" by ({})", slo.group_by.join(", "))
            };
            Some(format!(
                "label_replace(sum_over_time((max{by} (({q}) {} bool {value}))[{window}:1m]), \"vitals_slo\", \"{}\", \"\", \"\")",
                op.violated_promql(),
                slo.name
            ))
        })
        .collect();
    Request::instant(
        format!("report: thresholds broken in {}", period.label),
        if terms.is_empty() {
            "vector(0) > 1".to_string()
        } else {
            terms.join("\n  or ")
        },
        period.end,
    )
}

/// The KPI answer, by probe id.
#[derive(Default)]
struct Kpis {
    by_id: BTreeMap<String, Vec<Series>>,
    failed: bool,
}

impl Kpis {
    fn new(a: &Result<Answer, PromError>) -> Kpis {
        let Ok(a) = a else {
            return Kpis {
                by_id: BTreeMap::new(),
                failed: true,
            };
        };
        let mut by_id: BTreeMap<String, Vec<Series>> = BTreeMap::new();
        for s in &a.series {
            let mut s = s.clone();
            if let Some(id) = s.labels.remove("vitals_kpi") {
                by_id.entry(id).or_default().push(s);
            }
        }
        Kpis {
            by_id,
            failed: false,
        }
    }

    /// Sum (or max) of the series of `id` whose labels match `filter`.
    fn get(&self, id: &str, filter: &[(&str, &str)], max: bool) -> Value {
        let Some(series) = self.by_id.get(id) else {
            return Value::Missing;
        };
        let vals: Vec<f64> = series
            .iter()
            .filter(|s| {
                filter
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .filter_map(Series::value)
            .collect();
        if vals.is_empty() {
            return Value::Missing;
        }
        if vals.iter().all(|v| v.is_nan()) {
            return Value::NoEvents;
        }
        let finite = vals.iter().copied().filter(|v| v.is_finite());
        Value::Number(if max {
            finite.fold(f64::NEG_INFINITY, f64::max)
        } else {
            finite.sum()
        })
    }

    fn labels(&self, id: &str, key: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .by_id
            .get(id)
            .map(|s| {
                s.iter()
                    .filter_map(|s| s.labels.get(key).cloned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v.dedup();
        v
    }
}

/// Everything a report sends, in groups answered together.
pub struct Plan {
    pub period: Period,
    pub previous: Period,
    tz: Tz,
    /// The budget burn-down's step (and the per-step increases its SLIs are summed from).
    chart_step: Duration,
}

impl Plan {
    pub fn new(period: Period, tz: Tz) -> Plan {
        let previous = period.previous(tz);
        let len = period.length().secs();
        // About 170 points a week: hourly for a week, 4-hourly for a month.
        let nice = [
            300u64, 600, 900, 1800, 3600, 7200, 10800, 14400, 21600, 43200, 86400,
        ];
        let chart = nice
            .iter()
            .copied()
            .find(|s| len / s <= 200)
            .unwrap_or(86400);
        Plan {
            chart_step: Duration::from_secs(chart),
            period,
            previous,
            tz,
        }
    }

    /// The instants the SLOs are judged at: the last second of each period, so a calendar
    /// SLO is judged on the week or month that ends, not on the next one.
    pub fn slo_instants(&self) -> (DateTime<Utc>, DateTime<Utc>) {
        let s = chrono::Duration::seconds(1);
        (self.period.end - s, self.previous.end - s)
    }

    /// The queries that need nothing else, in the order of the `A_*` indexes: the KPIs of
    /// both periods, the charts, how much of both periods has data at all, and how long
    /// each alerting threshold SLO was broken in each period.
    pub fn requests(&self, catalog: &Catalog, slos: &[Slo]) -> Vec<Request> {
        let mut r = vec![
            kpi_request(catalog, &self.period),
            kpi_request(catalog, &self.previous),
        ];
        r.extend(self.chart_requests(catalog));
        r.push(Request::range(
            "report: data coverage",
            "count(up)",
            self.previous.start + self.chart_step.to_chrono(),
            self.period.end,
            self.chart_step,
        ));
        r.push(breach_request(catalog, slos, &self.period));
        r.push(breach_request(catalog, slos, &self.previous));
        r.push(period_value_request(catalog, slos, &self.period));
        r.push(period_value_request(catalog, slos, &self.previous));
        r
    }

    /// Periods that have no data for part of their length (a history that starts late, a
    /// Prometheus that was down): their numbers are partial.
    /// The share of each period (this one, the previous one) that has data, and what to say
    /// about it.
    fn coverage(&self, a: &Result<Answer, PromError>) -> ([f64; 2], Vec<String>) {
        let Ok(a) = a else {
            return ([1.0, 1.0], vec![]);
        };
        let times: Vec<i64> = a
            .series
            .iter()
            .flat_map(|s| s.samples.iter().map(|(t, _)| t.round() as i64))
            .collect();
        let step = self.chart_step.secs() as i64;
        let mut out = Vec::new();
        let mut shares = [1.0; 2];
        for (k, p) in [&self.period, &self.previous].into_iter().enumerate() {
            let (a, b) = (p.start.timestamp(), p.end.timestamp());
            let expected = ((b - a) / step).max(1);
            let have: Vec<i64> = times
                .iter()
                .copied()
                .filter(|t| *t > a && *t <= b)
                .collect();
            let share = (have.len() as f64 / expected as f64).min(1.0);
            shares[k] = share;
            if share < 0.99 {
                let span = match (have.first(), have.last()) {
                    (Some(f), Some(l)) => format!(
                        "data from {} to {}",
                        format_time(crate::timespec::from_unix_seconds(*f as f64)),
                        format_time(crate::timespec::from_unix_seconds(*l as f64))
                    ),
                    _ => "no data at all".into(),
                };
                out.push(format!(
                    "{}: Prometheus has data for {} of it ({span}); its numbers are partial{}",
                    p.label,
                    Unit::Ratio.format(share),
                    if k == 1 {
                        ", so no change is computed against it"
                    } else {
                        ""
                    }
                ));
            }
        }
        (shares, out)
    }

    fn chart_requests(&self, catalog: &Catalog) -> Vec<Request> {
        let p = &self.period;
        let hour = Duration::from_secs(3600);
        let expand = |q: &str, params: &[(&str, &str)]| -> String {
            catalog
                .get(q)
                .and_then(|d| {
                    let p: BTreeMap<String, String> = params
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect();
                    d.expand(&d.applicable(&p)).ok()
                })
                .map(|e| e.promql)
                .unwrap_or_else(|| "vector(0) > 1".into())
        };
        let tag = |id: &str, q: String| {
            format!("label_replace(({q}), \"vitals_line\", \"{id}\", \"\", \"\")")
        };
        let step = self.chart_step;
        let w = step.to_string();
        // Hourly counts, each the hour before it, summed per local day when the chart is
        // made: a day is 23 or 25 hours where the clocks change.
        let daily = format!(
            "{}\n  or {}",
            tag(
                "created",
                expand("business.orders_created", &[("window", "1h")])
            ),
            tag("lost", expand("business.orders_lost", &[("window", "1h")]))
        );
        let first_hour = (p.start + hour.to_chrono()).min(p.end);
        let mut out = vec![Request::range(
            "report chart: orders per hour",
            daily,
            first_hour,
            p.end,
            hour,
        )];
        out.push(Request::range(
            "report chart: error ratio",
            expand("api.error_ratio", &[("window", &w)]),
            p.start + step.to_chrono(),
            p.end,
            step,
        ));
        out.push(Request::range(
            "report chart: queue depth",
            format!(
                "max_over_time(({})[{w}:1m])",
                expand("rabbitmq.queue_depth", &[("queue", "shop.orders")])
            ),
            p.start + step.to_chrono(),
            p.end,
            step,
        ));
        out
    }

    /// The burn-down query: every budget SLO's parts as increases per step over both
    /// periods (latency SLOs need the `le` bucket `check` found).
    pub fn burn_request(&self, slos: &[Slo], rows: &[Row]) -> Option<Request> {
        let step = self.chart_step;
        let mut terms = Vec::new();
        for slo in slos {
            let le = rows
                .iter()
                .find(|r| r.name == slo.name)
                .and_then(|r| r.le.clone());
            let Some(parts) = sli_parts(slo, le.as_deref()) else {
                continue;
            };
            // The parts keep the SLO's own grouping (one series per route, per service).
            for (part, tmpl) in parts {
                terms.push(format!(
                    "label_replace(label_replace(({}), \"vitals_part\", \"{part}\", \"\", \"\"), \"vitals_slo\", \"{}\", \"\", \"\")",
                    crate::slo::model::fill_window(&tmpl, step),
                    slo.name
                ));
            }
        }
        (!terms.is_empty()).then(|| {
            Request::range(
                "report: budget burn-down",
                terms.join("\n  or "),
                self.previous.start + step.to_chrono(),
                self.period.end,
                step,
            )
        })
    }

    /// Builds the report from the answers.
    #[allow(clippy::too_many_arguments)]
    pub fn assemble(
        &self,
        catalog: &Catalog,
        slos: &[Slo],
        rows: &[Row],
        previous_rows: &[Row],
        answers: &[Result<Answer, PromError>],
        burn: Option<&Result<Answer, PromError>>,
        incidents: &IncidentReport,
        generated_at: DateTime<Utc>,
    ) -> Report {
        let ([coverage, previous_coverage], mut missing) = self.coverage(&answers[A_COVERAGE]);
        let cur = Kpis::new(&answers[A_KPIS]);
        let prev = Kpis::new(&answers[A_PREVIOUS_KPIS]);
        for (a, p) in [&answers[A_KPIS], &answers[A_PREVIOUS_KPIS]]
            .into_iter()
            .zip([&self.period, &self.previous])
        {
            if let Err(e) = a {
                missing.push(format!("KPIs of {}: {e}", p.label));
            }
        }
        let unit = |q: &str| catalog.get(q).map(|d| d.unit).unwrap_or(Unit::Count);
        let mut kpi = |id: &str,
                       label: &str,
                       probe: &str,
                       filter: &[(&str, &str)],
                       max: bool,
                       better: Better| {
            let q = PROBES
                .iter()
                .chain(S3_PROBES.iter())
                .find(|p| p.0 == probe)
                .map(|p| p.1)
                .unwrap_or("");
            let k = Kpi::new(
                id,
                label,
                unit(q),
                better,
                cur.get(probe, filter, max),
                prev.get(probe, filter, max),
            );
            if k.value.is_none() && k.note.is_none() && !cur.failed {
                missing.push(format!(
                    "{label}: `{q}` returned no data for {}",
                    self.period.label
                ));
            }
            k
        };
        let secs = self.period.length().secs_f64();
        let prev_secs = self.previous.length().secs_f64();
        // Business KPIs.
        let mut kpis = vec![
            kpi(
                "orders_created",
                "Orders created",
                "orders_created",
                &[],
                false,
                Better::Higher,
            ),
            kpi(
                "orders_delivered",
                "Orders delivered",
                "completed",
                &[("outcome", "delivered")],
                false,
                Better::Higher,
            ),
            kpi(
                "orders_lost",
                "Orders lost",
                "orders_lost",
                &[],
                false,
                Better::Lower,
            ),
            kpi(
                "lost_order_share",
                "Lost-order share",
                "lost_share",
                &[],
                false,
                Better::Lower,
            ),
            kpi(
                "processing_p50",
                "Order processing p50",
                "p50",
                &[],
                false,
                Better::Lower,
            ),
            kpi(
                "processing_p95",
                "Order processing p95",
                "p95",
                &[],
                false,
                Better::Lower,
            ),
            kpi(
                "dead_lettered",
                "Messages dead-lettered",
                "dead",
                &[],
                false,
                Better::Lower,
            ),
            kpi(
                "dropped",
                "Messages dropped (no dead-letter exchange)",
                "dropped",
                &[],
                false,
                Better::Lower,
            ),
            kpi(
                "mttr_crm",
                "MTTR of CRM incidents",
                "mttr_crm",
                &[],
                false,
                Better::Lower,
            ),
            kpi(
                "crm_incidents_resolved",
                "CRM incidents resolved",
                "resolved",
                &[],
                false,
                Better::Neutral,
            ),
            kpi(
                "crm_incidents_open",
                "CRM incidents open at the end",
                "open",
                &[],
                false,
                Better::Lower,
            ),
        ];
        // Components.
        let mut components = Vec::new();
        let services = canonical(cur.labels("requests", "service"), &["shop", "crm", "mes"]);
        for svc in &services {
            let f: &[(&str, &str)] = &[("service", svc.as_str())];
            components.push(ComponentSection {
                name: svc.clone(),
                metrics: vec![
                    kpi(
                        &format!("{svc}.requests"),
                        "Requests",
                        "requests",
                        f,
                        false,
                        Better::Neutral,
                    ),
                    kpi(
                        &format!("{svc}.responses_5xx"),
                        "5xx responses",
                        "e5xx",
                        f,
                        false,
                        Better::Lower,
                    ),
                    kpi(
                        &format!("{svc}.error_ratio"),
                        "Error ratio",
                        "error_ratio",
                        f,
                        false,
                        Better::Lower,
                    ),
                    kpi(
                        &format!("{svc}.latency_p95"),
                        "Latency p95",
                        "api_p95",
                        f,
                        false,
                        Better::Lower,
                    ),
                    kpi(
                        &format!("{svc}.latency_p99"),
                        "Latency p99",
                        "api_p99",
                        f,
                        false,
                        Better::Lower,
                    ),
                    kpi(
                        &format!("{svc}.cpu_peak"),
                        "Peak CPU (busiest instance)",
                        "cpu_peak",
                        f,
                        true,
                        Better::Lower,
                    ),
                    kpi(
                        &format!("{svc}.memory_peak"),
                        "Peak memory (largest instance)",
                        "mem_peak",
                        f,
                        true,
                        Better::Lower,
                    ),
                ],
            });
        }
        let mut published = kpi(
            "rabbitmq.published",
            "Messages published",
            "published",
            &[],
            false,
            Better::Neutral,
        );
        published.value = published.value.map(|r| r * secs);
        published.previous = published.previous.map(|r| r * prev_secs);
        published.unit = Unit::Count;
        published.change = match (published.value, published.previous) {
            (Some(a), Some(b)) if b != 0.0 => Some((a - b) / b),
            _ => None,
        };
        components.push(ComponentSection {
            name: "rabbitmq".into(),
            metrics: vec![
                published,
                kpi(
                    "rabbitmq.depth_peak",
                    "Peak shop.orders depth",
                    "depth_peak",
                    &[],
                    true,
                    Better::Lower,
                ),
                kpi(
                    "rabbitmq.dead_lettered",
                    "Dead-lettered",
                    "dead",
                    &[],
                    false,
                    Better::Lower,
                ),
            ],
        });
        let dbs = canonical(cur.labels("db_size", "service"), &["shop-db", "mes-db"]);
        for db in &dbs {
            let f: &[(&str, &str)] = &[("service", db.as_str())];
            components.push(ComponentSection {
                name: db.clone(),
                metrics: vec![
                    kpi(
                        &format!("{db}.size"),
                        "Size at the end",
                        "db_size",
                        f,
                        false,
                        Better::Neutral,
                    ),
                    kpi(
                        &format!("{db}.growth"),
                        "Growth",
                        "db_growth",
                        f,
                        false,
                        Better::Neutral,
                    ),
                    kpi(
                        &format!("{db}.saturation_peak"),
                        "Peak connection saturation",
                        "db_sat_peak",
                        f,
                        true,
                        Better::Lower,
                    ),
                ],
            });
        }
        components.push(ComponentSection {
            name: "s3".into(),
            metrics: vec![
                kpi(
                    "s3.size",
                    "Size at the end",
                    "s3_size",
                    &[],
                    false,
                    Better::Neutral,
                ),
                kpi(
                    "s3.growth",
                    "Growth",
                    "s3_growth",
                    &[],
                    false,
                    Better::Neutral,
                ),
                kpi(
                    "s3.latency_p95",
                    "Request latency p95",
                    "s3_p95",
                    &[],
                    false,
                    Better::Lower,
                ),
                kpi(
                    "s3.errors_5xx",
                    "5xx responses",
                    "s3_5xx",
                    &[],
                    false,
                    Better::Lower,
                ),
            ],
        });
        // Breakdowns.
        let breakdown = |id: &str, title: &str, probe: &str, columns: &[&str]| -> Breakdown {
            let q = PROBES
                .iter()
                .find(|p| p.0 == probe)
                .map(|p| p.1)
                .unwrap_or("");
            let mut rows: BTreeMap<BTreeMap<String, String>, (Option<f64>, Option<f64>)> =
                BTreeMap::new();
            for (which, k) in [(0, &cur), (1, &prev)] {
                for s in k.by_id.get(probe).map(|v| v.as_slice()).unwrap_or(&[]) {
                    let labels: BTreeMap<String, String> = columns
                        .iter()
                        .map(|c| (c.to_string(), s.labels.get(*c).cloned().unwrap_or_default()))
                        .collect();
                    let v = s.value().filter(|v| v.is_finite());
                    let e = rows.entry(labels).or_default();
                    if which == 0 {
                        e.0 = v;
                    } else {
                        e.1 = v;
                    }
                }
            }
            let mut rows: Vec<BreakdownRow> = rows
                .into_iter()
                .filter(|(_, (a, b))| a.unwrap_or(0.0) > 0.0 || b.unwrap_or(0.0) > 0.0)
                .map(|(labels, (value, previous))| BreakdownRow {
                    labels,
                    value,
                    previous,
                })
                .collect();
            rows.sort_by(|a, b| b.value.unwrap_or(0.0).total_cmp(&a.value.unwrap_or(0.0)));
            Breakdown {
                id: id.into(),
                title: title.into(),
                unit: unit(q),
                columns: columns.iter().map(|c| c.to_string()).collect(),
                rows,
            }
        };
        let breakdowns = vec![
            breakdown(
                "lost_by_reason",
                "Lost orders by stage and reason",
                "lost_by_reason",
                &["stage", "reason"],
            ),
            breakdown(
                "dead_letters",
                "Dead letters by queue and reason (DLQ consumer)",
                "dlq",
                &["source_queue", "reason"],
            ),
            breakdown(
                "dead_lettered_by_reason",
                "Dead-lettered by the broker, by reason",
                "dead",
                &["reason"],
            ),
        ];
        // SLOs: status at both ends, period SLIs from the burn-down increases.
        let burn_data = match burn {
            Some(Ok(a)) => Some(BurnData::new(a, self.chart_step)),
            Some(Err(e)) => {
                missing.push(format!("budget burn-down: {e}"));
                None
            }
            None => None,
        };
        // Minutes broken at one-minute resolution, as seconds.
        let breaches = [
            by_slo(
                &answers[A_BREACH],
                &mut missing,
                &format!("how long thresholds were broken in {}", self.period.label),
            ),
            by_slo(&answers[A_PREVIOUS_BREACH], &mut Vec::new(), ""),
        ]
        .map(|b| b.into_iter().map(|(k, v)| (k, v * 60.0)).collect());
        let period_values: [BTreeMap<(String, Group), f64>; 2] = [
            by_slo(
                &answers[A_PERIOD_VALUES],
                &mut missing,
                &format!("period KPIs over {}", self.period.label),
            ),
            by_slo(&answers[A_PREVIOUS_PERIOD_VALUES], &mut Vec::new(), ""),
        ];
        let mut lines = Vec::new();
        for r in rows {
            let prev_row = previous_rows
                .iter()
                .find(|p| p.name == r.name && p.group == r.group);
            if let Some(e) = &r.error {
                missing.push(format!("SLO {}: {e}", r.display_name()));
            } else if r.status == Status::Inconclusive {
                missing.push(format!("SLO {}: {}", r.display_name(), r.reason));
            }
            let n = |v: Option<f64>| v.map(Value::Number).unwrap_or(Value::Missing);
            let value = Kpi::new(
                &r.display_name(),
                "value at the end",
                r.unit,
                if r.op.upper_bound() {
                    Better::Lower
                } else {
                    Better::Higher
                },
                n(r.value),
                n(prev_row.and_then(|p| p.value)),
            );
            let budget_left = r.budget.map(|b| {
                Kpi::new(
                    &r.display_name(),
                    "budget left",
                    Unit::Ratio,
                    Better::Higher,
                    Value::Number(b.remaining_ratio),
                    n(prev_row.and_then(|p| p.budget.map(|b| b.remaining_ratio))),
                )
            });
            let group = Some(&r.group);
            let period_sli = burn_data.as_ref().and_then(|d| {
                let cur = d.sli(&r.name, group, self.period.start, self.period.end)?;
                Some(Kpi::new(
                    &r.display_name(),
                    "SLI over the period",
                    Unit::Ratio,
                    Better::Higher,
                    Value::Number(cur),
                    d.sli(&r.name, group, self.previous.start, self.previous.end)
                        .map(Value::Number)
                        .unwrap_or(Value::Missing),
                ))
            });
            // Was the SLO met over the period? A budget SLO: its SLI over the period; a
            // threshold that alerts: never broken longer than its `for`; a period KPI: its
            // value at the end (it already looks back over its window).
            let slo = slos.iter().find(|s| s.name == r.name);
            let broken = |which: &BTreeMap<(String, Group), f64>| {
                which.get(&(r.name.clone(), r.group.clone())).copied()
            };
            let (breached, met, previous_met) = match slo.map(|s| &s.objective) {
                Some(Objective::Budget { target, .. }) => (
                    None,
                    period_sli
                        .as_ref()
                        .and_then(|k| k.value)
                        .map(|v| v >= *target),
                    period_sli
                        .as_ref()
                        .and_then(|k| k.previous)
                        .map(|v| v >= *target),
                ),
                Some(Objective::Threshold {
                    severity: crate::slo::model::Alerting::None,
                    op,
                    value,
                    ..
                }) => {
                    let ok = |st: Status| match st {
                        Status::Pass | Status::Warn => Some(true),
                        Status::Fail => Some(false),
                        Status::Inconclusive => None,
                    };
                    if slo.and_then(|s| period_kpi(catalog, s)).is_some() {
                        // Judged on its value over the whole period, not its own window.
                        let met = |i: usize| {
                            period_values[i]
                                .get(&(r.name.clone(), r.group.clone()))
                                .map(|v| op.holds(*v, *value))
                        };
                        (None, met(0), met(1))
                    } else {
                        (None, ok(r.status), prev_row.and_then(|p| ok(p.status)))
                    }
                }
                Some(Objective::Threshold { .. }) => {
                    // Met when it never alerted: no incident has it as a condition in the
                    // period (broken longer than its `for`, as `vitals incidents` judges).
                    let alerted = |p: &Period| -> Option<bool> {
                        incidents.errors.is_empty().then(|| {
                            incidents.incidents.iter().any(|i| {
                                i.conditions.iter().any(|m| {
                                    m.name == r.name
                                        && r.group.iter().all(|(k, v)| m.labels.get(k) == Some(v))
                                        && m.overlaps(p.start.timestamp(), p.end.timestamp())
                                })
                            })
                        })
                    };
                    let (cur, before) = (broken(&breaches[0]), broken(&breaches[1]));
                    (
                        Some(Kpi::new(
                            &r.display_name(),
                            "time broken",
                            Unit::Seconds,
                            Better::Lower,
                            cur.map(Value::Number).unwrap_or(Value::Missing),
                            before.map(Value::Number).unwrap_or(Value::Missing),
                        )),
                        cur.and(alerted(&self.period)).map(|a| !a),
                        before.and(alerted(&self.previous)).map(|a| !a),
                    )
                }
                None => (None, None, None),
            };
            lines.push(SloLine {
                met,
                previous_met,
                breached,
                name: r.display_name(),
                component: r.component.clone(),
                description: r.description.clone(),
                status: r.status,
                previous_status: prev_row.map(|p| p.status),
                reason: r.reason.clone(),
                value_vs_objective: r.value_vs_objective(),
                value,
                budget_left,
                period_sli,
            });
        }
        let share = |met: Vec<Option<bool>>| {
            let judged: Vec<bool> = met.into_iter().flatten().collect();
            if judged.is_empty() {
                Value::Missing
            } else {
                Value::Number(judged.iter().filter(|m| **m).count() as f64 / judged.len() as f64)
            }
        };
        let compliance = Kpi::new(
            "slo_compliance",
            "SLOs met over the period",
            Unit::Ratio,
            Better::Higher,
            share(lines.iter().map(|l| l.met).collect()),
            share(lines.iter().map(|l| l.previous_met).collect()),
        );
        // Incidents: those that started in each period.
        let in_period = |p: &Period| -> Vec<&Incident> {
            incidents
                .incidents
                .iter()
                .filter(|i| i.start_time() >= p.start && i.start_time() < p.end)
                .collect()
        };
        let (now_list, before) = (in_period(&self.period), in_period(&self.previous));
        let mttr = |l: &[&Incident]| -> Value {
            let d: Vec<f64> = l
                .iter()
                .filter(|i| i.severity >= Severity::Ticket && !i.ongoing)
                .map(|i| i.duration_seconds)
                .collect();
            if d.is_empty() {
                Value::NoEvents
            } else {
                Value::Number(d.iter().sum::<f64>() / d.len() as f64)
            }
        };
        // `+ 0.0`: an empty sum of f64 is -0.0.
        let total = |l: &[&Incident]| {
            Value::Number(l.iter().map(|i| i.duration_seconds).sum::<f64>() + 0.0)
        };
        let counted = |l: &[&Incident]| {
            Value::Number(l.iter().filter(|i| i.severity >= Severity::Ticket).count() as f64)
        };
        for e in &incidents.errors {
            missing.push(format!("incidents: {e}"));
        }
        let incident_section = IncidentSection {
            count: Kpi::new(
                "incidents",
                "Incidents (page and ticket)",
                Unit::Count,
                Better::Lower,
                counted(&now_list),
                counted(&before),
            ),
            mttr: Kpi::new(
                "mttr_detected",
                "MTTR of detected incidents",
                Unit::Seconds,
                Better::Lower,
                mttr(&now_list),
                mttr(&before),
            ),
            time_in_incidents: Kpi::new(
                "time_in_incidents",
                "Time in incidents",
                Unit::Seconds,
                Better::Lower,
                total(&now_list),
                total(&before),
            ),
            list: now_list.into_iter().cloned().collect(),
            step: incidents.step.clone(),
            method: incidents.method.to_string(),
        };
        kpis.push(incident_section.count.clone());
        kpis.push(incident_section.mttr.clone());
        // Charts.
        let mut charts = Vec::new();
        let zone = Zone::Tz(self.tz);
        let (start, end) = (
            unix_seconds(self.period.start),
            unix_seconds(self.period.end),
        );
        // Each chart shades the incidents of the components it shows.
        let bands = |components: &[&str]| -> Vec<Band> {
            incident_section
                .list
                .iter()
                .filter(|i| {
                    i.severity >= Severity::Ticket
                        && i.components
                            .iter()
                            .any(|c| components.contains(&c.as_str()))
                })
                .map(|i| Band {
                    start: unix_seconds(i.start_time()),
                    end: unix_seconds(i.end_time()),
                })
                .collect()
        };
        let chart = |title: &str, unit: Unit, lines: Vec<Line>, bands: Vec<Band>| Chart {
            title: title.into(),
            subtitle: format!(
                "{} ({}), {} .. {}",
                self.period.label,
                self.period.time_zone,
                zone.format(self.period.start, "%Y-%m-%d %H:%M"),
                zone.format(self.period.end, "%Y-%m-%d %H:%M")
            ),
            unit,
            start,
            end,
            zone,
            lines,
            rules: vec![],
            bands,
            secondary: None,
        };
        let names = ["daily_orders", "error_ratio", "queue_depth"];
        let titles = [
            "Orders per day: created and lost",
            "5xx error ratio per API (shaded: incidents of shop, crm, mes)",
            "shop.orders queue depth, peak per step (shaded: incidents of rabbitmq)",
        ];
        for (i, a) in answers[A_CHARTS].iter().enumerate() {
            match a {
                Ok(a) => {
                    let lines: Vec<Line> = a
                        .series
                        .iter()
                        .map(|s| Line {
                            label: s
                                .labels
                                .get("vitals_line")
                                .or_else(|| s.labels.get("service"))
                                .or_else(|| s.labels.get("queue"))
                                .cloned()
                                .unwrap_or_default(),
                            points: s.samples.clone(),
                        })
                        .collect();
                    let unit = match i {
                        1 => Unit::Ratio,
                        _ => Unit::Count,
                    };
                    let shaded: &[&str] = match i {
                        1 => &["shop", "crm", "mes"],
                        2 => &["rabbitmq"],
                        _ => &[],
                    };
                    let mut c = chart(titles[i], unit, lines, bands(shaded));
                    if i == 0 {
                        // A day's count is drawn at its noon, and the lost orders (tens)
                        // on their own axis beside the created ones (thousands).
                        let noon = |l: &mut Line| l.points = per_local_day(&l.points, self.tz);
                        let (mut lost, mut created): (Vec<Line>, Vec<Line>) =
                            c.lines.drain(..).partition(|l| l.label == "lost");
                        created.iter_mut().for_each(noon);
                        lost.iter_mut().for_each(noon);
                        c.lines = created;
                        c.secondary = Some(crate::render::chart::Secondary {
                            unit: Unit::Count,
                            label: "lost orders".into(),
                            lines: lost,
                        });
                        c.bands.clear();
                    }
                    charts.push(ChartInfo {
                        id: names[i].into(),
                        title: titles[i].into(),
                        file: None,
                        chart: c,
                    });
                }
                Err(e) => missing.push(format!("chart {}: {e}", titles[i])),
            }
        }
        if let Some(d) = &burn_data {
            let mut lines = Vec::new();
            for slo in slos {
                let Objective::Budget { target, .. } = &slo.objective else {
                    continue;
                };
                if let Some(points) =
                    d.burn_down(&slo.name, 1.0 - target, self.period.start, self.period.end)
                {
                    lines.push(Line {
                        label: slo.name.clone(),
                        points,
                    });
                }
            }
            charts.push(ChartInfo {
                id: "budget_burn_down".into(),
                title: "Error budget of the period left (1 = untouched, below 0 = overspent)"
                    .into(),
                file: None,
                chart: chart(
                    "Error budget of the period left",
                    Unit::Ratio,
                    lines,
                    bands(
                        &slos
                            .iter()
                            .map(|s| s.component.as_str())
                            .collect::<Vec<_>>(),
                    ),
                ),
            });
        }
        // The verdict is the period's: any SLO not met fails it, one that cannot be judged
        // leaves it undecided, a warning at the end shows.
        let verdict = if lines.iter().any(|l| l.met == Some(false)) {
            Status::Fail
        } else if lines.iter().any(|l| l.met.is_none()) {
            Status::Inconclusive
        } else if lines.iter().any(|l| l.status == Status::Warn) {
            Status::Warn
        } else {
            Status::Pass
        };
        let mut report = Report {
            schema_version: crate::render::json::SCHEMA_VERSION,
            coverage,
            previous_coverage,
            period: self.period.clone(),
            previous_period: self.previous.clone(),
            generated_at: format_time(generated_at),
            verdict,
            compliance,
            slos: lines,
            kpis,
            breakdowns,
            components,
            incidents: incident_section,
            charts,
            missing,
        };
        // A previous period with data for only part of it cannot be compared with: its
        // numbers stay (those there are), the changes go; with no data at all, it is empty.
        // Nor can a period still in progress: its totals cover only part of its length.
        if previous_coverage < 0.99 || self.period.in_progress {
            report.without_changes(previous_coverage == 0.0);
        }
        report
    }
}

/// The names found, the reference system's in its order first, others after; the reference
/// names when none were found (their rows then say `missing`).
fn canonical(found: Vec<String>, order: &[&str]) -> Vec<String> {
    if found.is_empty() {
        return order.iter().map(|s| s.to_string()).collect();
    }
    let mut out: Vec<String> = order
        .iter()
        .filter(|o| found.iter().any(|f| f == *o))
        .map(|s| s.to_string())
        .collect();
    out.extend(found.into_iter().filter(|f| !order.contains(&f.as_str())));
    out
}

/// Hourly counts `(end of the hour, count)` summed per local day in `tz`, each day's sum at
/// its middle.
fn per_local_day(hourly: &[(f64, f64)], tz: Tz) -> Vec<(f64, f64)> {
    use crate::slo::window::local_midnight;
    let mut days: BTreeMap<chrono::NaiveDate, f64> = BTreeMap::new();
    for (t, v) in hourly.iter().filter(|(_, v)| v.is_finite()) {
        let Some(hour_end) = DateTime::from_timestamp(*t as i64 - 1, 0) else {
            continue;
        };
        *days
            .entry(hour_end.with_timezone(&tz).date_naive())
            .or_default() += v;
    }
    days.into_iter()
        .map(|(d, v)| {
            let start = local_midnight(tz, d);
            let end = d.succ_opt().map_or(start, |n| local_midnight(tz, n));
            ((start + (end - start) / 2).timestamp() as f64, v)
        })
        .collect()
}

/// An answer of series tagged `vitals_slo`, by SLO and group; a failed query is listed in
/// `missing` as `what`.
fn by_slo(
    a: &Result<Answer, PromError>,
    missing: &mut Vec<String>,
    what: &str,
) -> BTreeMap<(String, Group), f64> {
    let a = match a {
        Ok(a) => a,
        Err(e) => {
            missing.push(format!("{what}: {e}"));
            return BTreeMap::new();
        }
    };
    a.series
        .iter()
        .filter_map(|s| {
            let mut labels = s.labels.clone();
            let slo = labels.remove("vitals_slo")?;
            Some(((slo, labels), s.value().filter(|v| v.is_finite())?))
        })
        .collect()
}

/// Labels of a group (`handler=/models`), empty for an SLO without `group_by`.
type Group = BTreeMap<String, String>;

/// Per-step increases of every budget SLO's parts: (SLO, group) -> part -> time -> rate.
struct BurnData {
    by_slo: BTreeMap<(String, Group), BTreeMap<String, BTreeMap<i64, f64>>>,
    step: f64,
}

impl BurnData {
    fn new(a: &Answer, step: Duration) -> BurnData {
        let mut by_slo: BTreeMap<(String, Group), BTreeMap<String, BTreeMap<i64, f64>>> =
            BTreeMap::new();
        for s in &a.series {
            let mut labels = s.labels.clone();
            let (Some(slo), Some(part)) =
                (labels.remove("vitals_slo"), labels.remove("vitals_part"))
            else {
                continue;
            };
            by_slo.entry((slo, labels)).or_default().insert(
                part,
                s.samples
                    .iter()
                    .filter(|(_, v)| v.is_finite())
                    .map(|(t, v)| (t.round() as i64, *v))
                    .collect(),
            );
        }
        BurnData {
            by_slo,
            step: step.secs_f64(),
        }
    }

    /// (bad, total) increases per step of one group of `slo` (every group summed when
    /// `group` is `None`), for steps ending in `(from, to]`.
    fn steps(
        &self,
        slo: &str,
        group: Option<&Group>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Vec<(i64, f64, f64)> {
        let (a, b) = (from.timestamp() + 1, to.timestamp());
        let mut sum: BTreeMap<i64, (f64, f64)> = BTreeMap::new();
        for ((name, g), parts) in &self.by_slo {
            if name != slo || group.is_some_and(|want| want != g) {
                continue;
            }
            let Some(total) = parts.get("total") else {
                continue;
            };
            for (t, tot) in total.range(a..=b) {
                let bad = match (parts.get("bad"), parts.get("good")) {
                    (Some(bad), _) => bad.get(t).copied().unwrap_or(0.0),
                    (None, Some(good)) => (tot - good.get(t).copied().unwrap_or(0.0)).max(0.0),
                    (None, None) => 0.0,
                };
                let e = sum.entry(*t).or_default();
                e.0 += bad * self.step;
                e.1 += tot * self.step;
            }
        }
        sum.into_iter().map(|(t, (b, tot))| (t, b, tot)).collect()
    }

    /// Event-weighted SLI of one group (or of all) over `(from, to]`.
    fn sli(
        &self,
        slo: &str,
        group: Option<&Group>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Option<f64> {
        let s = self.steps(slo, group, from, to);
        let (bad, total) = s.iter().fold((0.0, 0.0), |a, x| (a.0 + x.1, a.1 + x.2));
        (total > 0.0).then(|| 1.0 - bad / total)
    }

    /// The share of the period's budget left after each step: 1 - bad so far / (budget x
    /// the period's events).
    fn burn_down(
        &self,
        slo: &str,
        budget: f64,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Option<Vec<(f64, f64)>> {
        let s = self.steps(slo, None, from, to);
        let total: f64 = s.iter().map(|x| x.2).sum();
        if total <= 0.0 {
            return None;
        }
        let allowed = budget * total;
        let mut spent = 0.0;
        let mut out = vec![(unix_seconds(from), 1.0)];
        for (t, bad, _) in s {
            spent += bad;
            out.push((t as f64, 1.0 - spent / allowed));
        }
        Some(out)
    }
}

/// Every query a report will send, for progress bars: KPIs and charts, the burn-down, the
/// SLO evaluation at both ends and the incidents.
pub fn query_estimate(slos: &[Slo]) -> usize {
    (A_PREVIOUS_PERIOD_VALUES + 1) + 1 + 2 * eval::query_count(slos) + slos.len() + 4
}

impl Report {
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
    pub fn period_line(&self) -> String {
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

    /// `12 of 17 SLOs met over the period`.
    pub fn compliance_line(&self) -> String {
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
        let days = per_local_day(&hourly, tz);
        assert_eq!(days.len(), 2);
        assert_eq!(days[0].1, 23.0);
        assert_eq!(days[1].1, 24.0);
        // Drawn at each day's middle: 11:30 after the 23-hour day's start.
        assert_eq!(days[0].0, (start.timestamp() + 23 * 1800) as f64);
    }
}
