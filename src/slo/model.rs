//! `slo.toml`: the file format, and its validation into typed SLOs.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use toml::de::{DeTable, DeValue};

use crate::catalog::params::Scalar;
use crate::catalog::{Catalog, one_line, template};
use crate::diag::{Problem, Source, toml_message};
use crate::duration::Duration;
use crate::units::Unit;

/// The reference system's `slo.toml`, compiled in for use outside a checkout.
pub const BUILTIN: &str = include_str!("../../slo.toml");

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SloKind {
    Ratio,
    Latency,
    Threshold,
}

impl SloKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            SloKind::Ratio => "ratio",
            SloKind::Latency => "latency",
            SloKind::Threshold => "threshold",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = ">=")]
    Ge,
}

impl Op {
    /// Whether `value` satisfies `value OP limit`.
    pub(crate) fn holds(self, value: f64, limit: f64) -> bool {
        match self {
            Op::Lt => value < limit,
            Op::Le => value <= limit,
            Op::Gt => value > limit,
            Op::Ge => value >= limit,
        }
    }

    /// True when larger values are worse (`<`, `<=`).
    pub(crate) fn upper_bound(self) -> bool {
        matches!(self, Op::Lt | Op::Le)
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
    }

    /// The PromQL comparison that is true when the objective is *violated*.
    pub(crate) fn violated_promql(self) -> &'static str {
        match self {
            Op::Lt => ">=",
            Op::Le => ">",
            Op::Gt => "<=",
            Op::Ge => "<",
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who a threshold SLO's alert goes to: it pages, opens a ticket, or there is none (a
/// period objective such as a 7-day share, judged by `check` and `report` only: no alerting
/// rule, no incidents).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Alerting {
    None,
    #[default]
    Ticket,
    Page,
}

impl Alerting {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Alerting::None => "none",
            Alerting::Ticket => "ticket",
            Alerting::Page => "page",
        }
    }
}

/// What an SLO says when its queries return nothing (or too few events).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnNoData {
    #[default]
    Inconclusive,
    Fail,
    Pass,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Calendar {
    Week,
    Month,
}

/// The period an SLO is judged over.
#[derive(Clone, Debug, PartialEq)]
pub enum SloWindow {
    /// The last `d` before the evaluation time.
    Rolling(Duration),
    /// The current calendar week (Monday 00:00) or month in a time zone, up to the
    /// evaluation time.
    Calendar { period: Calendar, tz: Tz },
}

/// How a ratio SLO counts good and bad events.
#[derive(Clone, Debug, PartialEq)]
pub enum Sli {
    /// PromQL templates with `{{window}}`; the bad (or good) fraction of total.
    BadTotal {
        bad: String,
        total: String,
    },
    GoodTotal {
        good: String,
        total: String,
    },
    /// Requests at or under `threshold` seconds, from the histogram `metric` (base name).
    Latency {
        metric: String,
        selector: String,
        threshold: f64,
    },
}

/// A threshold SLO's value, resolved when `slo.toml` is loaded: nothing about it can fail
/// later.
#[derive(Clone, Debug, PartialEq)]
pub struct ThresholdExpr {
    /// The PromQL: a catalog query expanded with the SLO's params, or written out.
    pub promql: String,
    pub unit: Unit,
    /// The catalog query and its effective params (defaults filled in), when it is one.
    pub query: Option<(String, BTreeMap<String, String>)>,
    /// The `window` the query looks back over, when it has one (a trailing count).
    pub window: Option<Duration>,
    /// The rows a grouped SLO must have: the query filters its one `group_by` label by a
    /// `names` param (`service=~"{{db}}"`) that lists plain names, so each name is a row;
    /// one without a series is no data, not silently absent.
    pub members: Option<(String, Vec<String>)>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Objective {
    /// Good events must be at least `target` (a fraction, e.g. 0.995) of all events.
    Budget {
        sli: Sli,
        target: f64,
        window: SloWindow,
        min_events: f64,
    },
    /// A value compared with a limit.
    Threshold {
        expr: ThresholdExpr,
        op: Op,
        value: f64,
        warn: Option<f64>,
        /// How long the condition must hold before the generated alert fires.
        for_: Option<Duration>,
        /// The alert's severity (`none`: no alert, no incidents).
        severity: Alerting,
    },
}

/// How long a threshold must be broken before it alerts, when its SLO gives no `for`: the
/// `for` of the generated alert and of the incidents `vitals incidents` finds.
pub const DEFAULT_FOR: Duration = Duration::from_secs(300);

/// The longest SLO window vitals accepts (ten years): longer ones would overflow the
/// calendar arithmetic, and no Prometheus keeps the raw history to judge them.
pub const MAX_WINDOW: Duration = Duration::from_secs(3660 * 86_400);

/// One validated SLO.
#[derive(Clone, Debug, PartialEq)]
pub struct Slo {
    pub name: String,
    pub component: String,
    pub description: String,
    pub kind: SloKind,
    pub objective: Objective,
    pub on_no_data: OnNoData,
    /// Labels that split the SLO into one row per group.
    pub group_by: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSlo {
    name: String,
    component: String,
    #[serde(default)]
    description: String,
    kind: SloKind,
    // ratio / latency
    objective: Option<f64>,
    window: Option<Duration>,
    calendar: Option<Calendar>,
    time_zone: Option<String>,
    min_events: Option<f64>,
    bad: Option<String>,
    good: Option<String>,
    total: Option<String>,
    histogram: Option<String>,
    selector: Option<String>,
    threshold: Option<f64>,
    // threshold
    query: Option<String>,
    promql: Option<String>,
    #[serde(default)]
    params: BTreeMap<String, Scalar>,
    op: Option<Op>,
    value: Option<f64>,
    warn: Option<f64>,
    #[serde(rename = "for")]
    for_: Option<Duration>,
    severity: Option<Alerting>,
    // all
    #[serde(default)]
    on_no_data: OnNoData,
    #[serde(default)]
    group_by: Vec<String>,
}

/// Loads and validates `slo.toml` against the catalog and the site's component and group
/// names (`None`: there is no site file, and the SLOs' components make one). Problems never
/// stop the other entries from being read.
pub(crate) fn load(
    src: &Source,
    catalog: &Catalog,
    components: Option<&[String]>,
) -> (Vec<Slo>, Vec<Problem>) {
    let mut slos = Vec::new();
    let mut problems = Vec::new();
    let table = match DeTable::parse(&src.text) {
        Ok(t) => t,
        Err(e) => return (slos, vec![src.problem_at(e.span(), toml_message(&e))]),
    };
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (key, value) in table.into_inner() {
        let entries = match (key.get_ref().as_ref(), value.get_ref()) {
            ("slo", DeValue::Array(a)) => a.to_vec(),
            ("slo", _) => {
                problems.push(src.problem_at(Some(key.span()), "`slo` must be written [[slo]]"));
                continue;
            }
            (k, _) => {
                problems.push(src.problem_at(
                    Some(key.span()),
                    format!("unknown top-level key `{k}` (expected [[slo]])"),
                ));
                continue;
            }
        };
        for entry in entries {
            let span = entry.span();
            let (raw, dropped) =
                crate::diag::deserialize_entry::<RawSlo>(src, entry, &mut problems);
            let Some(raw) = raw else {
                continue;
            };
            let duplicate = seen.get(&raw.name).copied();
            if let Some(line) = duplicate {
                problems.push(src.problem_at(
                    Some(span.clone()),
                    format!(
                        "duplicate SLO name `{}` (first defined on line {line})",
                        raw.name
                    ),
                ));
            } else {
                seen.insert(raw.name.clone(), src.line_col(span.start).0);
            }
            let mut errs = Vec::new();
            let slo = convert(raw, catalog, components, &mut errs);
            for (key, msg) in errs {
                // A field already reported as invalid is not reported again as missing:
                // a message about one field by its key, one about several (`window` or
                // `calendar`) by the fields it names after the `SLO `name`: ` prefix.
                let said = msg.split_once(": ").map_or(msg.as_str(), |(_, m)| m);
                let dropped_field = |d: &String| match key {
                    Some(k) => d == k,
                    None => said.contains(&format!("`{d}`")),
                };
                if dropped.iter().any(dropped_field) {
                    continue;
                }
                let at = key
                    .and_then(|k| src.find_key(&span, k))
                    .unwrap_or(span.clone());
                problems.push(src.problem_at(Some(at), msg));
            }
            if let Some(s) = slo.filter(|_| duplicate.is_none() && dropped.is_empty()) {
                slos.push(s);
            }
        }
    }
    (slos, problems)
}

type Errs = Vec<(Option<&'static str>, String)>;

/// Collects the mistakes of one SLO, each with the key it is about (for its position).
struct Mistakes<'a> {
    name: String,
    errs: &'a mut Errs,
}

impl Mistakes<'_> {
    fn at(&mut self, key: Option<&'static str>, msg: impl Into<String>) {
        self.errs
            .push((key, format!("SLO `{}`: {}", self.name, msg.into())));
    }
}

/// Fields that belong to ratio and latency SLOs, with whether the entry has them.
fn budget_fields(r: &RawSlo) -> [(&'static str, bool); 10] {
    [
        ("objective", r.objective.is_some()),
        ("window", r.window.is_some()),
        ("calendar", r.calendar.is_some()),
        ("time_zone", r.time_zone.is_some()),
        ("min_events", r.min_events.is_some()),
        ("bad", r.bad.is_some()),
        ("good", r.good.is_some()),
        ("total", r.total.is_some()),
        ("histogram", r.histogram.is_some() || r.selector.is_some()),
        ("threshold", r.threshold.is_some()),
    ]
}

/// Fields that belong to threshold SLOs.
fn threshold_fields(r: &RawSlo) -> [(&'static str, bool); 8] {
    [
        ("query", r.query.is_some()),
        ("promql", r.promql.is_some()),
        ("params", !r.params.is_empty()),
        ("op", r.op.is_some()),
        ("value", r.value.is_some()),
        ("warn", r.warn.is_some()),
        ("for", r.for_.is_some()),
        ("severity", r.severity.is_some()),
    ]
}

fn convert(
    r: RawSlo,
    catalog: &Catalog,
    components: Option<&[String]>,
    errs: &mut Errs,
) -> Option<Slo> {
    let before = errs.len();
    let mut m = Mistakes {
        name: r.name.clone(),
        errs,
    };
    check_common(&r, components, &mut m);
    let objective = match r.kind {
        SloKind::Ratio | SloKind::Latency => budget_objective(&r, &mut m),
        SloKind::Threshold => threshold_objective(&r, catalog, &mut m),
    };
    if m.errs.len() > before {
        return None;
    }
    objective.map(|objective| Slo {
        name: r.name,
        component: r.component,
        description: r.description,
        kind: r.kind,
        objective,
        on_no_data: r.on_no_data,
        group_by: r.group_by,
    })
}

/// Name, component and grouping: what every kind of SLO has.
fn check_common(r: &RawSlo, components: Option<&[String]>, m: &mut Mistakes) {
    let valid_name = !r.name.is_empty()
        && r.name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if !valid_name {
        m.at(
            Some("name"),
            "names are lowercase words joined by `-` (e.g. shop-availability)",
        );
    }
    if r.component.trim().is_empty() {
        m.at(Some("component"), "`component` must not be empty");
    } else if let Some(components) = components
        && !components.iter().any(|c| c == &r.component)
    {
        let hint = crate::catalog::closest(&r.component, components.iter().map(String::as_str))
            .map(|s| format!(" (did you mean `{s}`?)"))
            .unwrap_or_default();
        m.at(
            Some("component"),
            format!(
                "component `{}` is not a component or group of the site (site.toml){hint}",
                r.component
            ),
        );
    }
    for l in &r.group_by {
        if !is_label_name(l) {
            m.at(Some("group_by"), format!("`{l}` is not a label name"));
        }
    }
}

/// A ratio or latency SLO: target, window and SLI.
fn budget_objective(r: &RawSlo, m: &mut Mistakes) -> Option<Objective> {
    let kind = r.kind;
    // Fields that belong to the other kind are mistakes, not silently ignored.
    for (k, present) in threshold_fields(r) {
        if present {
            m.at(
                Some(k),
                format!(
                    "`{k}` belongs to kind = \"threshold\", not \"{}\"",
                    kind.as_str()
                ),
            );
        }
    }
    let allowed: &[&str] = if kind == SloKind::Ratio {
        &[
            "objective",
            "window",
            "calendar",
            "time_zone",
            "min_events",
            "bad",
            "good",
            "total",
        ]
    } else {
        &[
            "objective",
            "window",
            "calendar",
            "time_zone",
            "min_events",
            "histogram",
            "threshold",
        ]
    };
    for (k, present) in budget_fields(r) {
        if present && !allowed.contains(&k) {
            m.at(
                Some(k),
                format!("`{k}` does not apply to kind = \"{}\"", kind.as_str()),
            );
        }
    }
    let target = match r.objective {
        Some(o) if o > 0.0 && o < 100.0 => o / 100.0,
        Some(o) => {
            m.at(
                Some("objective"),
                format!("objective is a percentage between 0 and 100 (exclusive), got {o}"),
            );
            0.5
        }
        None => {
            m.at(
                Some("objective"),
                "`objective` (percent, e.g. 99.5) is required",
            );
            0.5
        }
    };
    let window = slo_window(r, m);
    let min_events = r.min_events.unwrap_or(0.0);
    if min_events < 0.0 || !min_events.is_finite() {
        m.at(Some("min_events"), "min_events must be zero or more");
    }
    let sli = if kind == SloKind::Ratio {
        ratio_sli(r, m)
    } else {
        latency_sli(r, m)
    };
    Some(Objective::Budget {
        sli: sli?,
        target,
        window: window?,
        min_events,
    })
}

/// `window` (rolling) or `calendar` with a time zone.
fn slo_window(r: &RawSlo, m: &mut Mistakes) -> Option<SloWindow> {
    match (r.window, r.calendar) {
        (Some(_), Some(_)) => {
            m.at(
                Some("calendar"),
                "give either `window` (rolling) or `calendar`, not both",
            );
            None
        }
        (Some(w), None) => {
            if r.time_zone.is_some() {
                m.at(
                    Some("time_zone"),
                    "`time_zone` only applies to calendar windows",
                );
            }
            if w.secs() < 3600 {
                m.at(
                    Some("window"),
                    format!("window {w} is too short for an error budget (at least 1h)"),
                );
            } else if w.secs() > MAX_WINDOW.secs() {
                m.at(
                    Some("window"),
                    format!("window {w} is longer than {MAX_WINDOW}: no Prometheus keeps that much raw history to judge it"),
                );
            }
            Some(SloWindow::Rolling(w))
        }
        (None, Some(period)) => {
            let tz = match r.time_zone.as_deref().unwrap_or("UTC").parse::<Tz>() {
                Ok(tz) => tz,
                Err(_) => {
                    m.at(
                        Some("time_zone"),
                        format!(
                            "unknown time zone {:?} (use an IANA name such as Europe/Moscow)",
                            r.time_zone.as_deref().unwrap_or_default()
                        ),
                    );
                    Tz::UTC
                }
            };
            Some(SloWindow::Calendar { period, tz })
        }
        (None, None) => {
            m.at(
                None,
                "needs `window` (e.g. \"28d\") or `calendar` (\"week\" or \"month\")",
            );
            None
        }
    }
}

fn ratio_sli(r: &RawSlo, m: &mut Mistakes) -> Option<Sli> {
    let mut err = |k: Option<&'static str>, msg: String| m.at(k, msg);
    match (&r.bad, &r.good, &r.total) {
        (Some(bad), None, Some(total)) => {
            check_window_template(bad, "bad", &mut err);
            check_window_template(total, "total", &mut err);
            Some(Sli::BadTotal {
                bad: bad.clone(),
                total: total.clone(),
            })
        }
        (None, Some(good), Some(total)) => {
            check_window_template(good, "good", &mut err);
            check_window_template(total, "total", &mut err);
            Some(Sli::GoodTotal {
                good: good.clone(),
                total: total.clone(),
            })
        }
        (Some(_), Some(_), _) => {
            m.at(Some("good"), "give `bad` or `good`, not both");
            None
        }
        _ => {
            m.at(None, "a ratio SLO needs `total` and one of `bad` or `good`");
            None
        }
    }
}

fn latency_sli(r: &RawSlo, m: &mut Mistakes) -> Option<Sli> {
    let metric = r.histogram.clone().unwrap_or_default();
    let metric = metric
        .strip_suffix("_bucket")
        .unwrap_or(&metric)
        .to_string();
    if !is_metric_name(&metric) {
        m.at(Some("histogram"), "a latency SLO needs `histogram`, the metric's base name (e.g. http_request_duration_seconds)");
    }
    let selector = r.selector.clone().unwrap_or_default();
    if let Err(e) = promql_parser::parser::parse(&format!("{metric}_bucket{{{selector}}}")) {
        m.at(
            Some("selector"),
            format!(
                "`selector` must be label matchers such as service=\"shop\": {}",
                one_line(&e)
            ),
        );
    }
    match r.threshold {
        Some(t) if t > 0.0 && t.is_finite() => Some(Sli::Latency {
            metric,
            selector,
            threshold: t,
        }),
        _ => {
            m.at(Some("threshold"), "a latency SLO needs `threshold`, in seconds, equal to one of the histogram's `le` buckets");
            None
        }
    }
}

/// A threshold SLO: its value (resolved now), comparison, warning and alert.
fn threshold_objective(r: &RawSlo, catalog: &Catalog, m: &mut Mistakes) -> Option<Objective> {
    for (k, present) in budget_fields(r) {
        if present {
            m.at(
                Some(k),
                format!("`{k}` belongs to ratio and latency SLOs, not thresholds"),
            );
        }
    }
    let expr = threshold_expr(r, catalog, m);
    let op = r.op.unwrap_or_else(|| {
        m.at(Some("op"), "`op` (<, <=, > or >=) is required");
        Op::Le
    });
    let value = match r.value {
        Some(v) if v.is_finite() => v,
        _ => {
            m.at(Some("value"), "`value` (a finite number) is required");
            0.0
        }
    };
    if let Some(w) = r.warn {
        // The warning level sits on the healthy side of the limit.
        let ok = if op.upper_bound() {
            w <= value
        } else {
            w >= value
        };
        if !ok {
            m.at(
                Some("warn"),
                format!(
                    "warn = {w} must be on the healthy side of value = {value} for op \"{op}\""
                ),
            );
        }
    }
    let severity = r.severity.unwrap_or_default();
    if severity == Alerting::None && r.for_.is_some() {
        m.at(
            Some("for"),
            "`for` applies to the alert, and severity = \"none\" has none",
        );
    }
    expr.map(|expr| Objective::Threshold {
        expr,
        op,
        value,
        warn: r.warn,
        for_: r.for_,
        severity,
    })
}

/// The names each of which must be a row of a grouped SLO (see [`ThresholdExpr::members`]).
fn members(
    def: &crate::catalog::QueryDef,
    params: &BTreeMap<String, String>,
    group_by: &[String],
) -> Option<(String, Vec<String>)> {
    let [label] = group_by else {
        return None;
    };
    def.params.iter().find_map(|(name, spec)| {
        if spec.kind != crate::catalog::params::ParamKind::Names
            || !def.promql.contains(&format!("{label}=~\"{{{{{name}}}}}\""))
        {
            return None;
        }
        let value = params.get(name)?;
        let names: Vec<String> = value.split('|').map(str::to_string).collect();
        let plain = |n: &String| {
            !n.is_empty()
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-.:/".contains(c))
        };
        names.iter().all(plain).then(|| (label.clone(), names))
    })
}

/// The PromQL a threshold SLO compares: a catalog query with its params, or `promql`.
fn threshold_expr(r: &RawSlo, catalog: &Catalog, m: &mut Mistakes) -> Option<ThresholdExpr> {
    let params: BTreeMap<String, String> = r
        .params
        .iter()
        .map(|(k, v)| (k.clone(), v.0.clone()))
        .collect();
    match (&r.query, &r.promql) {
        (Some(q), None) => {
            let Some(def) = catalog.get(q) else {
                let hint = catalog
                    .suggest(q)
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default();
                m.at(Some("query"), format!("unknown catalog query `{q}`{hint}"));
                return None;
            };
            match def.expand(&params) {
                Ok(e) => Some(ThresholdExpr {
                    window: e.params.get("window").and_then(|w| w.parse().ok()),
                    members: members(def, &e.params, &r.group_by),
                    promql: e.promql,
                    unit: def.unit,
                    query: Some((q.clone(), e.params)),
                }),
                Err(e) => {
                    m.at(Some("params"), e.to_string());
                    None
                }
            }
        }
        (None, Some(p)) => {
            if !params.is_empty() {
                m.at(Some("params"), "`params` only apply with `query`");
            }
            if let Err(e) = promql_parser::parser::parse(p) {
                m.at(Some("promql"), format!("invalid PromQL: {}", one_line(&e)));
            }
            Some(ThresholdExpr {
                promql: p.clone(),
                unit: Unit::Count,
                query: None,
                window: None,
                members: None,
            })
        }
        (Some(_), Some(_)) => {
            m.at(Some("promql"), "give `query` or `promql`, not both");
            None
        }
        (None, None) => {
            m.at(
                None,
                "a threshold SLO needs `query` (a catalog name) or `promql`",
            );
            None
        }
    }
}

fn check_window_template(
    t: &str,
    field: &'static str,
    err: &mut impl FnMut(Option<&'static str>, String),
) {
    match template::scan(t) {
        Err(_) => err(Some(field), format!("unterminated `{{{{` in `{field}`")),
        Ok(found) => {
            let names: BTreeSet<&str> = found.iter().map(|p| p.name.as_str()).collect();
            if let Some(other) = names.iter().find(|n| **n != "window") {
                err(
                    Some(field),
                    format!(
                        "`{field}` may only use the {{{{window}}}} placeholder, not {{{{{other}}}}}"
                    ),
                );
            }
            if !names.contains("window") {
                err(
                    Some(field),
                    format!(
                        "`{field}` must use {{{{window}}}} (e.g. rate(x[{{{{window}}}}])) so every burn-rate window can be evaluated"
                    ),
                );
            }
            if found.iter().any(|p| p.context != template::Context::Bare) {
                err(
                    Some(field),
                    "{{window}} must be written outside string literals".into(),
                );
            }
        }
    }
    let expanded = fill_window(t, Duration::from_secs(300));
    if let Err(m) = promql_parser::parser::parse(&expanded) {
        err(
            Some(field),
            format!("invalid PromQL in `{field}`: {}", one_line(&m)),
        );
    }
}

/// `{{window}}` replaced by a duration.
pub(crate) fn fill_window(t: &str, w: Duration) -> String {
    let mut v = BTreeMap::new();
    v.insert("window".to_string(), w.to_string());
    template::substitute(t, &v)
}

pub(crate) fn is_label_name(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

fn is_metric_name(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_' || c == b':')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b':')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_str(text: &str) -> (Vec<Slo>, Vec<String>) {
        // The built-in catalog, bound to the built-in site.
        let cat = crate::config::Config::builtin().0.catalog;
        let names: Vec<String> = [
            "shop",
            "crm",
            "mes",
            "rabbitmq",
            "s3",
            "business",
            "apis",
            "databases",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let (s, p) = load(&Source::new("slo.toml", text), &cat, Some(&names));
        (s, p.iter().map(|p| p.to_string()).collect())
    }

    #[test]
    fn the_builtin_slo_file_is_valid() {
        let (slos, problems) = load_str(BUILTIN);
        assert!(problems.is_empty(), "{problems:#?}");
        assert!(!slos.is_empty());
    }

    #[test]
    fn reads_a_ratio_and_a_threshold_slo() {
        let (s, p) = load_str(
            r#"
[[slo]]
name = "shop-availability"
component = "shop"
kind = "ratio"
bad = 'sum(rate(http_requests_total{service="shop",code=~"5.."}[{{window}}]))'
total = 'sum(rate(http_requests_total{service="shop"}[{{window}}]))'
objective = 99.5
calendar = "month"
time_zone = "Europe/Moscow"

[[slo]]
name = "lost-order-share"
component = "business"
kind = "threshold"
query = "business.lost_order_share"
params = { window = "7d" }
op = "<="
value = 0.001
warn = 0.0005
"#,
        );
        assert!(p.is_empty(), "{p:#?}");
        assert_eq!(s.len(), 2);
        match &s[0].objective {
            Objective::Budget { target, window, .. } => {
                assert!((target - 0.995).abs() < 1e-12);
                assert_eq!(
                    *window,
                    SloWindow::Calendar {
                        period: Calendar::Month,
                        tz: chrono_tz::Europe::Moscow
                    }
                );
            }
            o => panic!("{o:?}"),
        }
    }

    #[test]
    fn reports_every_mistake_with_its_line() {
        let (s, p) = load_str(
            r#"
[[slo]]
name = "a"
component = "shop"
kind = "ratio"
bad = 'sum(rate(x[5m]))'
total = 'sum(rate(y[{{window}}]))'
objective = 150
window = "28d"
value = 3

[[slo]]
name = "b"
component = "business"
kind = "threshold"
query = "business.lost_order_shar"
op = "<="
value = 0.001
warn = 0.01

[[slo]]
name = "c"
component = "x"
kind = "latency"
histogram = "http_request_duration_seconds"
selector = 'service="shop"'
objective = 95
window = "28d"
colour = "red"
"#,
        );
        assert!(s.is_empty());
        let expect = [
            "slo.toml:6:1: SLO `a`: `bad` must use {{window}}",
            "slo.toml:8:1: SLO `a`: objective is a percentage",
            "slo.toml:10:1: SLO `a`: `value` belongs to kind = \"threshold\"",
            "slo.toml:16:1: SLO `b`: unknown catalog query `business.lost_order_shar` (did you mean `business.lost_order_share`?)",
            "slo.toml:19:1: SLO `b`: warn = 0.01 must be on the healthy side",
            "slo.toml:29:1: unknown field `colour`",
        ];
        for e in expect {
            assert!(
                p.iter().any(|m| m.starts_with(e)),
                "missing {e:?} in {p:#?}"
            );
        }
    }

    #[test]
    fn an_invalid_field_hides_only_its_own_follow_ups() {
        // `op` is invalid, so "`op` is required" is not said again; the SLO is named like
        // the dropped field, and its other mistake is still reported.
        let (_, p) = load_str(
            r#"
[[slo]]
name = "op"
component = ""
kind = "threshold"
promql = 'vector(1)'
op = "=="
value = 1
"#,
        );
        assert!(
            p.iter()
                .any(|m| m.contains("`component` must not be empty")),
            "{p:#?}"
        );
        assert!(!p.iter().any(|m| m.contains("is required")), "{p:#?}");
    }
}
