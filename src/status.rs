//! The on-call snapshot: one row per component with its key signals, the state of its SLOs
//! and the last hour of its headline signal, and a verdict on top.
//!
//! A screen costs two queries for the signals — every signal of every component in one
//! instant query and every sparkline in one range query, each part tagged with a
//! `vitals_signal` label — plus the SLO evaluation of `vitals check`. Signals are catalog
//! queries, so a site that edits `queries/` edits its status screen; warning and failure
//! levels come from the SLO of the same signal where there is one.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::catalog::Catalog;
use crate::duration::Duration;
use crate::prom::{Answer, PromError, Request, Series};
use crate::render::json::finite;
use crate::slo::eval::{Row, Status};
use crate::slo::model::{Objective, Slo, ThresholdSource};
use crate::units::Unit;

/// The components, in screen order, and the `service` label of their scrape targets.
pub const COMPONENTS: [(&str, Kind); 8] = [
    ("shop", Kind::Api),
    ("crm", Kind::Api),
    ("mes", Kind::Api),
    ("rabbitmq", Kind::Broker),
    ("shop-db", Kind::Db),
    ("mes-db", Kind::Db),
    ("s3", Kind::S3),
    ("business", Kind::Business),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Api,
    Broker,
    Db,
    S3,
    Business,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    Ok,
    Unknown,
    Degraded,
    Down,
}

impl Health {
    pub fn word(self) -> &'static str {
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

/// A query sent as part of the combined instant query.
struct Probe {
    id: &'static str,
    source: Source,
}

/// Fixed params of a catalog query (`queue = shop.orders`).
type Params = &'static [(&'static str, &'static str)];

enum Source {
    Catalog(&'static str, Params),
    Promql(&'static str),
}

const PROBES: [Probe; 26] = [
    Probe {
        id: "rps",
        source: Source::Catalog("api.rps", &[]),
    },
    Probe {
        id: "err",
        source: Source::Catalog("api.error_ratio", &[]),
    },
    Probe {
        id: "p99",
        source: Source::Catalog("api.latency_p99", &[]),
    },
    Probe {
        id: "cpu",
        source: Source::Catalog("api.cpu_percent", &[]),
    },
    Probe {
        id: "mem",
        source: Source::Catalog("api.memory_bytes", &[]),
    },
    Probe {
        id: "sessions",
        source: Source::Catalog("api.sessions", &[]),
    },
    Probe {
        id: "up",
        source: Source::Promql("sum by (service) (up)"),
    },
    Probe {
        id: "targets",
        source: Source::Promql("count by (service) (up)"),
    },
    Probe {
        id: "publish",
        source: Source::Catalog("rabbitmq.publish_rate", &[]),
    },
    Probe {
        id: "depth",
        source: Source::Catalog("rabbitmq.queue_depth", &[("queue", "shop.orders")]),
    },
    Probe {
        id: "inflight",
        source: Source::Catalog("rabbitmq.in_flight", &[]),
    },
    Probe {
        id: "dead",
        source: Source::Catalog("rabbitmq.dead_lettered", &[("window", "1h")]),
    },
    Probe {
        id: "consumers",
        source: Source::Catalog("rabbitmq.consumers", &[]),
    },
    Probe {
        id: "conns",
        source: Source::Catalog("db.connections_used", &[]),
    },
    Probe {
        id: "maxconns",
        source: Source::Catalog("db.connections_max", &[]),
    },
    Probe {
        id: "saturation",
        source: Source::Catalog("db.connection_saturation", &[]),
    },
    Probe {
        id: "qp95",
        source: Source::Catalog("db.query_p95", &[]),
    },
    Probe {
        id: "dbsize",
        source: Source::Catalog("db.size_bytes", &[]),
    },
    Probe {
        id: "lag",
        source: Source::Catalog("db.replication_lag_seconds", &[]),
    },
    Probe {
        id: "s3size",
        source: Source::Catalog("s3.size_bytes", &[]),
    },
    Probe {
        id: "growth",
        source: Source::Catalog("s3.growth_bytes", &[("window", "1d")]),
    },
    Probe {
        id: "s3p95",
        source: Source::Catalog("s3.latency_p95_overall", &[]),
    },
    Probe {
        id: "s3err",
        source: Source::Catalog("s3.errors_5xx", &[("window", "1h")]),
    },
    Probe {
        id: "orders",
        source: Source::Catalog("business.orders_created", &[("window", "1h")]),
    },
    Probe {
        id: "lost",
        source: Source::Catalog("business.lost_order_share", &[("window", "7d")]),
    },
    Probe {
        id: "incidents",
        source: Source::Catalog("business.incidents_open", &[]),
    },
];

/// The sparkline of each kind of component: the headline signal over the last hour.
const SPARKS: [(Kind, &str, &str, Params); 5] = [
    (Kind::Api, "requests/s", "api.rps", &[]),
    (
        Kind::Broker,
        "shop.orders depth",
        "rabbitmq.queue_depth",
        &[("queue", "shop.orders")],
    ),
    (Kind::Db, "connections", "db.connections_used", &[]),
    (Kind::S3, "p95 latency", "s3.latency_p95_overall", &[]),
    (
        Kind::Business,
        "orders/h",
        "business.orders_created",
        &[("window", "1h")],
    ),
];

/// Width of the sparklines in characters (one point each).
pub const SPARK_POINTS: usize = 30;

/// One signal of a row.
#[derive(Clone, Debug, Serialize)]
pub struct Signal {
    /// Short name (`err`, `p99`, `depth`).
    pub name: &'static str,
    /// Raw value in `unit`; null when there is no data (never zero instead).
    pub value: Option<f64>,
    pub unit: Unit,
    /// As shown: `12.4 req/s`, `0.05 %`, `62/200`.
    pub text: String,
    pub level: Level,
    /// What the level was judged against (`> 0.5 %`).
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
    /// Period KPIs (`severity = "none"`) not on target: shown, not judged here.
    pub kpi_problems: Vec<String>,
    /// Least budget left among the component's budget SLOs (a share; negative if overspent).
    pub budget_left: Option<f64>,
    /// The SLO (or group) that budget belongs to.
    pub budget_slo: Option<String>,
}

/// Whether an SLO alerts (budget SLOs always do; thresholds unless `severity = "none"`).
pub fn alerts(slos: &[Slo], name: &str) -> bool {
    slos.iter().find(|s| s.name == name).is_none_or(|s| {
        !matches!(
            s.objective,
            Objective::Threshold {
                severity: crate::slo::model::Alerting::None,
                ..
            }
        )
    })
}

#[derive(Clone, Debug, Serialize)]
pub struct Spark {
    /// What is drawn.
    pub signal: &'static str,
    pub unit: Unit,
    /// `[unix_seconds, value|null]` over the last hour.
    pub points: Vec<(f64, Option<f64>)>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ComponentStatus {
    pub name: &'static str,
    pub status: Health,
    /// Why it is not OK (empty when it is).
    pub reasons: Vec<String>,
    pub signals: Vec<Signal>,
    /// Scrape targets up, of all known.
    pub targets_up: Option<(u32, u32)>,
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
    /// Queries that failed (the affected components are UNKNOWN).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

/// Warning and failure levels of a signal; `upper` when larger is worse.
#[derive(Clone, Copy, Debug)]
struct Limits {
    warn: f64,
    fail: f64,
    upper: bool,
    /// From an SLO with `severity = "none"` (a period KPI such as the 7-day lost-order
    /// share): shown and coloured, but it does not make the component degraded.
    advisory: bool,
}

impl Limits {
    fn judge(self, v: f64) -> Level {
        let past = |l: f64| if self.upper { v > l } else { v < l };
        if past(self.fail) {
            Level::Fail
        } else if past(self.warn) {
            Level::Warn
        } else {
            Level::Ok
        }
    }

    fn text(self, unit: Unit) -> String {
        let op = if self.upper { ">" } else { "<" };
        format!(
            "warn {op} {}, fail {op} {}",
            unit.format(self.warn),
            unit.format(self.fail)
        )
    }
}

/// Levels from a threshold SLO on `query` whose params are among those of the probe `probe`
/// (its warn and value), if one exists: an SLO on a 7-day share says nothing about a 1-day
/// one. The SLO's query may be another shape of the probe's signal (a total where the probe
/// reads it by reason).
fn slo_limits(slos: &[Slo], query: &str, probe: &str) -> Option<Limits> {
    let probe_params: &[(&str, &str)] = PROBES
        .iter()
        .find_map(|p| match p.source {
            Source::Catalog(_, params) if p.id == probe => Some(params),
            _ => None,
        })
        .unwrap_or(&[]);
    slos.iter().find_map(|s| match &s.objective {
        Objective::Threshold {
            source: ThresholdSource::Query { name, params },
            op,
            value,
            warn,
            severity,
            ..
        } if name == query
            && params
                .iter()
                .all(|(k, v)| probe_params.iter().any(|(pk, pv)| pk == k && pv == v)) =>
        {
            Some(Limits {
                warn: warn.unwrap_or(*value),
                fail: *value,
                upper: op.upper_bound(),
                advisory: *severity == crate::slo::model::Alerting::None,
            })
        }
        _ => None,
    })
}

/// API error-ratio levels from the availability SLO: burning the budget at all (1x) warns,
/// burning it at the page rate (14.4x) fails.
fn availability_limits(slos: &[Slo], service: &str) -> Limits {
    let target = slos
        .iter()
        .find(|s| {
            s.component == service
                && matches!(
                    &s.objective,
                    Objective::Budget {
                        sli: crate::slo::model::Sli::BadTotal { .. },
                        ..
                    }
                )
        })
        .and_then(|s| match &s.objective {
            Objective::Budget { target, .. } => Some(*target),
            _ => None,
        })
        .unwrap_or(0.99);
    let budget = 1.0 - target;
    Limits {
        warn: budget,
        fail: (14.4 * budget).min(0.5),
        upper: true,
        advisory: false,
    }
}

fn tagged(id: &str, promql: &str) -> String {
    format!("label_replace(({promql}), \"vitals_signal\", \"{id}\", \"\", \"\")")
}

/// Builds the combined queries: (instant, range). Probes missing from the catalog are left
/// out (their signals show "no data").
fn queries(catalog: &Catalog) -> (String, String) {
    let expand = |q: &str, params: &[(&str, &str)]| -> Option<String> {
        let p: BTreeMap<String, String> = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        catalog
            .get(q)
            .and_then(|d| d.expand(&d.applicable(&p)).ok())
            .map(|e| e.promql)
    };
    let instant: Vec<String> = PROBES
        .iter()
        .filter_map(|p| {
            let promql = match &p.source {
                Source::Catalog(q, params) => expand(q, params)?,
                Source::Promql(s) => s.to_string(),
            };
            Some(tagged(p.id, &promql))
        })
        .collect();
    let range: Vec<String> = SPARKS
        .iter()
        .filter_map(|(kind, _, q, params)| expand(q, params).map(|e| tagged(kind_id(*kind), &e)))
        .collect();
    (instant.join("\n  or "), range.join("\n  or "))
}

fn kind_id(k: Kind) -> &'static str {
    match k {
        Kind::Api => "spark_api",
        Kind::Broker => "spark_broker",
        Kind::Db => "spark_db",
        Kind::S3 => "spark_s3",
        Kind::Business => "spark_business",
    }
}

/// Everything `status` sends: the two combined queries.
pub fn requests(catalog: &Catalog, at: DateTime<Utc>) -> Vec<Request> {
    let (instant, range) = queries(catalog);
    let start = at - chrono::Duration::hours(1);
    let step = Duration::from_secs(3600 / SPARK_POINTS as u64);
    vec![
        Request::instant("status signals", instant, at),
        Request::range(
            "status sparklines",
            range,
            start + step.to_chrono(),
            at,
            step,
        ),
    ]
}

fn by_signal(a: &Answer) -> BTreeMap<String, Vec<&Series>> {
    let mut m: BTreeMap<String, Vec<&Series>> = BTreeMap::new();
    for s in &a.series {
        if let Some(id) = s.labels.get("vitals_signal") {
            m.entry(id.clone()).or_default().push(s);
        }
    }
    m
}

fn unit_of(catalog: &Catalog, probe: &str) -> Unit {
    PROBES
        .iter()
        .find(|p| p.id == probe)
        .and_then(|p| match p.source {
            Source::Catalog(q, _) => catalog.get(q).map(|d| d.unit),
            Source::Promql(_) => Some(Unit::Count),
        })
        .unwrap_or(Unit::Count)
}

/// Assembles the screen from the answers and the SLO rows.
pub fn assemble(
    catalog: &Catalog,
    slos: &[Slo],
    slo_rows: &[Row],
    signals: Result<&Answer, &PromError>,
    sparks: Result<&Answer, &PromError>,
    at: DateTime<Utc>,
) -> StatusReport {
    // One line per distinct failure: a Prometheus that cannot be reached fails every query
    // the same way, and saying so twenty times helps nobody.
    let mut failures: Vec<(String, Vec<String>)> = Vec::new();
    let mut add = |who: String, what: String| {
        let what = what
            .split_once(" (hint: ")
            .map(|(m, _)| m.to_string())
            .unwrap_or(what);
        let what = what
            .split_once(": ")
            .filter(|(head, _)| head.starts_with("query `"))
            .map(|(_, rest)| rest.to_string())
            .unwrap_or(what);
        match failures.iter_mut().find(|(w, _)| *w == what) {
            Some((_, whos)) => whos.push(who),
            None => failures.push((what, vec![who])),
        }
    };
    if let Err(e) = signals {
        add("signals".into(), e.to_string());
    }
    if let Err(e) = sparks {
        add("sparklines".into(), e.to_string());
    }
    for r in slo_rows.iter().filter(|r| r.error.is_some()) {
        add(
            format!("SLO {}", r.name),
            r.error.clone().unwrap_or_default(),
        );
    }
    let errors: Vec<String> = failures
        .into_iter()
        .map(|(what, whos)| {
            let who = if whos.len() > 4 {
                format!("{}, {} and {} more", whos[0], whos[1], whos.len() - 2)
            } else {
                whos.join(", ")
            };
            format!("{who}: {what}")
        })
        .collect();
    let sig = signals.ok().map(by_signal).unwrap_or_default();
    let spk = sparks.ok().map(by_signal).unwrap_or_default();
    let value = |id: &str, service: Option<&str>, agg: Agg| -> Option<f64> {
        let series = sig.get(id)?;
        let vals: Vec<f64> = series
            .iter()
            .filter(|s| {
                service.is_none_or(|svc| s.labels.get("service").map(String::as_str) == Some(svc))
            })
            .filter_map(|s| s.value())
            .filter(|v| v.is_finite())
            .collect();
        if vals.is_empty() {
            return None;
        }
        Some(match agg {
            Agg::One | Agg::Sum => vals.iter().sum(),
            Agg::Max => vals.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        })
    };
    let mut components = Vec::new();
    for (name, kind) in COMPONENTS {
        let mut c = ComponentStatus {
            name,
            status: Health::Ok,
            reasons: Vec::new(),
            signals: Vec::new(),
            targets_up: None,
            slos: None,
            spark: None,
        };
        let push = |c: &mut ComponentStatus,
                    label: &'static str,
                    probe: &str,
                    v: Option<f64>,
                    limits: Option<Limits>| {
            let unit = unit_of(catalog, probe);
            let level = match (v, limits) {
                (None, _) => Level::NoData,
                (Some(v), Some(l)) => l.judge(v),
                (Some(_), None) => Level::Ok,
            };
            c.signals.push(Signal {
                name: label,
                value: v,
                unit,
                text: v
                    .map(|v| unit.format(v))
                    .unwrap_or_else(|| "no data".into()),
                level,
                limit: limits.map(|l| l.text(unit)),
                advisory: limits.is_some_and(|l| l.advisory),
            });
        };
        let svc = Some(name);
        match kind {
            Kind::Api => {
                push(&mut c, "rps", "rps", value("rps", svc, Agg::One), None);
                push(
                    &mut c,
                    "err",
                    "err",
                    value("err", svc, Agg::One),
                    Some(availability_limits(slos, name)),
                );
                // Latency is judged by the latency SLOs (share of fast requests), not by p99.
                push(&mut c, "p99", "p99", value("p99", svc, Agg::One), None);
                push(
                    &mut c,
                    "cpu",
                    "cpu",
                    value("cpu", svc, Agg::Max),
                    Some(Limits {
                        warn: 80.0,
                        fail: 95.0,
                        upper: true,
                        advisory: false,
                    }),
                );
                push(&mut c, "mem", "mem", value("mem", svc, Agg::Max), None);
                if name != "mes" {
                    push(
                        &mut c,
                        "sessions",
                        "sessions",
                        value("sessions", svc, Agg::One),
                        None,
                    );
                }
            }
            Kind::Broker => {
                push(
                    &mut c,
                    "publish",
                    "publish",
                    value("publish", None, Agg::One),
                    None,
                );
                push(
                    &mut c,
                    "shop.orders",
                    "depth",
                    value("depth", None, Agg::One),
                    slo_limits(slos, "rabbitmq.queue_depth", "depth"),
                );
                push(
                    &mut c,
                    "in flight",
                    "inflight",
                    value("inflight", None, Agg::Sum),
                    None,
                );
                let dead = value("dead", None, Agg::Sum);
                let limits = slo_limits(slos, "rabbitmq.dead_lettered_total", "dead");
                push(&mut c, "dead-lettered/h", "dead", dead, limits);
                if let (Some(d), Some(series)) = (dead, sig.get("dead"))
                    && d > 0.0
                    && let Some(top) = series
                        .iter()
                        .filter(|s| s.value().is_some_and(f64::is_finite))
                        .max_by(|a, b| {
                            a.value()
                                .unwrap_or(0.0)
                                .total_cmp(&b.value().unwrap_or(0.0))
                        })
                    && let Some(last) = c.signals.last_mut()
                {
                    last.text = format!(
                        "{} ({})",
                        last.text,
                        top.labels.get("reason").cloned().unwrap_or_default()
                    );
                }
                push(
                    &mut c,
                    "consumers",
                    "consumers",
                    value("consumers", None, Agg::Sum),
                    None,
                );
            }
            Kind::Db => {
                let used = value("conns", svc, Agg::One);
                let max = value("maxconns", svc, Agg::One);
                let sat = value("saturation", svc, Agg::One);
                push(
                    &mut c,
                    "conns",
                    "saturation",
                    sat,
                    slo_limits(slos, "db.connection_saturation", "saturation"),
                );
                if let (Some(u), Some(m), Some(last)) = (used, max, c.signals.last_mut()) {
                    last.text = format!(
                        "{}/{} ({})",
                        Unit::Count.format(u),
                        Unit::Count.format(m),
                        last.text
                    );
                }
                push(
                    &mut c,
                    "query p95",
                    "qp95",
                    value("qp95", svc, Agg::One),
                    None,
                );
                push(
                    &mut c,
                    "size",
                    "dbsize",
                    value("dbsize", svc, Agg::One),
                    None,
                );
                push(
                    &mut c,
                    "lag",
                    "lag",
                    value("lag", svc, Agg::One),
                    Some(Limits {
                        warn: 5.0,
                        fail: 30.0,
                        upper: true,
                        advisory: false,
                    }),
                );
            }
            Kind::S3 => {
                push(
                    &mut c,
                    "size",
                    "s3size",
                    value("s3size", None, Agg::Sum),
                    None,
                );
                push(
                    &mut c,
                    "growth/day",
                    "growth",
                    value("growth", None, Agg::Sum),
                    None,
                );
                push(
                    &mut c,
                    "p95",
                    "s3p95",
                    value("s3p95", None, Agg::One),
                    slo_limits(slos, "s3.latency_p95_overall", "s3p95"),
                );
                push(
                    &mut c,
                    "5xx/h",
                    "s3err",
                    value("s3err", None, Agg::Sum),
                    None,
                );
            }
            Kind::Business => {
                push(
                    &mut c,
                    "orders/h",
                    "orders",
                    value("orders", None, Agg::One),
                    None,
                );
                push(
                    &mut c,
                    "lost (7d)",
                    "lost",
                    value("lost", None, Agg::One),
                    slo_limits(slos, "business.lost_order_share", "lost"),
                );
                push(
                    &mut c,
                    "open incidents",
                    "incidents",
                    value("incidents", None, Agg::Sum),
                    None,
                );
            }
        }
        // Targets: none at all means nothing is scraped for this component (when the query
        // itself could be read).
        if kind != Kind::Business && signals.is_ok() {
            let up = value("up", svc, Agg::One);
            let total = value("targets", svc, Agg::One);
            c.targets_up = up.zip(total).map(|(u, t)| (u as u32, t as u32));
            match c.targets_up {
                None => {
                    c.status = Health::Unknown;
                    c.reasons.push("no data: no scrape targets for it".into());
                }
                Some((0, t)) => {
                    c.status = Health::Down;
                    c.reasons.push(format!("all {t} targets down"));
                }
                Some((u, t)) if u < t => {
                    c.status = c.status.max(Health::Degraded);
                    c.reasons.push(format!("{}/{t} targets down", t - u));
                }
                _ => {}
            }
        }
        if signals.is_err() {
            c.status = Health::Unknown;
            c.reasons
                .push("not read: the query for its signals failed".into());
        } else if c.status != Health::Down && c.signals.iter().all(|s| s.level == Level::NoData) {
            c.status = Health::Unknown;
            c.reasons
                .push("no data: none of its signals returned a value".into());
        }
        if kind == Kind::Api
            && let Some(e) = c
                .signals
                .iter()
                .find(|s| s.name == "err")
                .and_then(|s| s.value)
            && e >= 0.5
        {
            c.status = Health::Down;
            c.reasons.push(format!(
                "answers 5xx to {} of requests",
                Unit::Ratio.format(e)
            ));
        }
        for s in c.signals.iter().filter(|s| !s.advisory) {
            if matches!(s.level, Level::Warn | Level::Fail) && c.status < Health::Degraded {
                c.status = Health::Degraded;
            }
            if matches!(s.level, Level::Warn | Level::Fail) {
                c.reasons.push(format!(
                    "{} {} ({})",
                    s.name,
                    s.text,
                    s.limit.clone().unwrap_or_default()
                ));
            }
        }
        // SLOs: a component's own, and grouped rows that name it (databases by service).
        let mine: Vec<&Row> = slo_rows
            .iter()
            .filter(|r| {
                r.component == name || r.group.get("service").map(String::as_str) == Some(name)
            })
            .collect();
        if !mine.is_empty() {
            // Period KPIs (severity = "none") are shown, but it is the SLOs that alert which
            // make a component degraded on the on-call screen.
            let (alerting, kpis): (Vec<&Row>, Vec<&Row>) =
                mine.iter().partition(|r| alerts(slos, &r.name));
            let status = Status::overall(alerting.iter().map(|r| r.status));
            let describe = |rows: &[&Row]| -> Vec<String> {
                // Worst first: the screen names the first one.
                let mut bad: Vec<&&Row> =
                    rows.iter().filter(|r| r.status != Status::Pass).collect();
                bad.sort_by_key(|r| std::cmp::Reverse(r.status));
                bad.iter()
                    .map(|r| format!("{} {}: {}", r.status.as_str(), r.display_name(), r.reason))
                    .collect()
            };
            let least = mine
                .iter()
                .filter_map(|r| r.budget.map(|b| (b.remaining_ratio, r.display_name())))
                .min_by(|a, b| a.0.total_cmp(&b.0));
            if matches!(status, Status::Fail | Status::Warn) && c.status < Health::Degraded {
                c.status = Health::Degraded;
            }
            for r in alerting
                .iter()
                .filter(|r| matches!(r.status, Status::Fail | Status::Warn))
            {
                c.reasons
                    .push(format!("SLO {} {}", r.display_name(), r.status.as_str()));
            }
            c.slos = Some(SloState {
                status,
                count: alerting.len(),
                problems: describe(&alerting),
                kpi_problems: describe(&kpis),
                budget_left: least.as_ref().map(|l| l.0),
                budget_slo: least.map(|l| l.1),
            });
        }
        if let Some((_, label, q, _)) = SPARKS.iter().find(|(k, ..)| *k == kind) {
            let series = spk.get(kind_id(kind)).map(|v| v.as_slice()).unwrap_or(&[]);
            let pick: Option<&&Series> = if kind == Kind::Api || kind == Kind::Db {
                series
                    .iter()
                    .find(|s| s.labels.get("service").map(String::as_str) == Some(name))
            } else {
                series.first()
            };
            let unit = catalog.get(q).map(|d| d.unit).unwrap_or(Unit::Count);
            c.spark = pick.map(|s| Spark {
                signal: label,
                unit,
                points: s.samples.iter().map(|(t, v)| (*t, finite(*v))).collect(),
            });
        }
        components.push(c);
    }
    let worst = components
        .iter()
        .map(|c| c.status)
        .max()
        .unwrap_or(Health::Ok);
    let verdict = match worst {
        Health::Ok => "HEALTHY",
        Health::Unknown => "UNKNOWN",
        Health::Degraded => "DEGRADED",
        Health::Down => "DOWN",
    };
    let mut parts = Vec::new();
    for h in [Health::Down, Health::Degraded, Health::Unknown] {
        let names: Vec<String> = components
            .iter()
            .filter(|c| c.status == h)
            .map(|c| {
                format!(
                    "{} ({})",
                    c.name,
                    c.reasons.first().cloned().unwrap_or_default()
                )
            })
            .collect();
        if !names.is_empty() {
            parts.push(format!("{}: {}", h.word(), names.join(", ")));
        }
    }
    let verdict_line = match signals {
        // Nothing could be read: say why once, not per component.
        Err(e) => format!(
            "UNKNOWN: nothing could be read ({})",
            match &e.kind {
                crate::prom::ErrorKind::Unreachable =>
                    format!("cannot reach Prometheus at {}", e.url),
                _ => e.to_string(),
            }
        ),
        Ok(_) if parts.is_empty() => {
            format!("HEALTHY: all {} components OK", components.len())
        }
        Ok(_) => parts.join(" · "),
    };
    StatusReport {
        schema_version: crate::render::json::SCHEMA_VERSION,
        at: crate::timespec::format_time(at),
        verdict: verdict.into(),
        verdict_line,
        components,
        errors,
    }
}

#[derive(Clone, Copy)]
enum Agg {
    One,
    Sum,
    Max,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_probe_names_a_catalog_query_of_the_builtin_catalog() {
        let (cat, _) = Catalog::builtin();
        for p in PROBES {
            if let Source::Catalog(q, _) = p.source {
                assert!(cat.get(q).is_some(), "{q}");
            }
        }
        let (instant, range) = queries(&cat);
        assert_eq!(instant.matches("vitals_signal").count(), PROBES.len());
        assert_eq!(range.matches("vitals_signal").count(), SPARKS.len());
        assert!(promql_parser::parser::parse(&instant).is_ok());
        assert!(promql_parser::parser::parse(&range).is_ok());
    }

    #[test]
    fn the_shipped_threshold_slos_give_their_signals_levels() {
        let (cat, _) = Catalog::builtin();
        let src = crate::diag::Source::new("slo.toml", crate::slo::model::BUILTIN);
        let (slos, problems) = crate::slo::model::load(&src, &cat);
        assert!(problems.is_empty());
        for (query, probe, fail) in [
            ("rabbitmq.queue_depth", "depth", 15.0),
            ("rabbitmq.dead_lettered_total", "dead", 20.0),
            ("db.connection_saturation", "saturation", 0.8),
            ("s3.latency_p95_overall", "s3p95", 1.0),
            ("business.lost_order_share", "lost", 0.001),
        ] {
            let l = slo_limits(&slos, query, probe).unwrap_or_else(|| panic!("{query}"));
            assert_eq!(l.fail, fail, "{query}");
        }
        // An SLO whose params the probe does not share gives no levels.
        assert!(slo_limits(&slos, "business.lost_order_share", "dead").is_none());
    }

    #[test]
    fn limits_judge_in_the_right_direction() {
        let l = Limits {
            warn: 5.0,
            fail: 15.0,
            upper: true,
            advisory: false,
        };
        assert_eq!(l.judge(3.0), Level::Ok);
        assert_eq!(l.judge(6.0), Level::Warn);
        assert_eq!(l.judge(16.0), Level::Fail);
    }
}
