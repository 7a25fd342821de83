//! The site: which components exist, how their series and scrape targets are told apart,
//! what the on-call screen shows of each, and what the period report, the charts and the
//! incident hints are made of. It is `site.toml` beside `slo.toml`; the shipped one
//! describes the reference shop. vitals knows component *kinds* (api, broker, ...), never
//! a site's names.
//!
//! Loading has two steps, because the catalog and the SLOs refer to the site and the site
//! to them: [`parse`] reads the file (names, kinds, groups), the catalog is bound to the
//! components and the SLOs are checked against their names, then [`resolve`] checks every
//! query, param, level and label the site uses.

mod raw;
mod resolve;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::catalog::{Catalog, ExpandError, Expanded};
use crate::slo::model::Op;
pub(crate) use raw::parse;
pub(crate) use resolve::resolve;

/// The reference system's `site.toml`, compiled in for use outside a checkout.
pub const BUILTIN: &str = include_str!("../../site.toml");

/// What a component is; it decides little beyond documentation and defaults (a business
/// component has no scrape targets).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Api,
    Broker,
    Database,
    Storage,
    Business,
    Generic,
}

impl Kind {
    pub const ALL: [&'static str; 6] = [
        "api", "broker", "database", "storage", "business", "generic",
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Api => "api",
            Kind::Broker => "broker",
            Kind::Database => "database",
            Kind::Storage => "storage",
            Kind::Business => "business",
            Kind::Generic => "generic",
        }
    }
}

/// A catalog query with fixed params, as the site uses it.
#[derive(Clone, Debug, PartialEq)]
pub struct Use {
    pub query: String,
    pub params: BTreeMap<String, String>,
}

impl Use {
    /// The PromQL with the fixed params, and `extra` ones the query takes (a report sets
    /// `window` to the period); `extra` wins.
    pub(crate) fn expand(
        &self,
        catalog: &Catalog,
        extra: &[(&str, String)],
    ) -> Result<Expanded, ExpandError> {
        let Some(def) = catalog.get(&self.query) else {
            return Err(ExpandError::UnknownQuery(self.query.clone()));
        };
        let mut p = self.params.clone();
        for (k, v) in extra {
            if def.params.contains_key(*k) {
                p.insert(k.to_string(), v.clone());
            }
        }
        def.expand(&p)
    }

    /// `api.rps`, or `rabbitmq.queue_depth{queue=shop.orders}`.
    pub(crate) fn display(&self) -> String {
        crate::slo::eval::labelled_name(&self.query, &self.params)
    }
}

/// How several series of one component make one value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Combine {
    #[default]
    Sum,
    Max,
    Min,
}

impl Combine {
    pub(crate) fn apply(self, values: impl IntoIterator<Item = f64>) -> Option<f64> {
        let mut it = values.into_iter();
        let first = it.next()?;
        Some(it.fold(first, |a, b| match self {
            Combine::Sum => a + b,
            Combine::Max => a.max(b),
            Combine::Min => a.min(b),
        }))
    }
}

/// Warning and failure levels: healthy while `value OP limit` holds.
#[derive(Clone, Debug, PartialEq)]
pub struct Levels {
    pub op: Op,
    /// The failure level.
    pub value: f64,
    pub warn: Option<f64>,
    /// From a period KPI (an SLO with `severity = "none"`): shown, never degrading.
    pub advisory: bool,
    /// The SLO they come from, if any.
    pub slo: Option<String>,
}

/// One signal of a component's status row.
#[derive(Clone, Debug, PartialEq)]
pub struct Signal {
    /// The short label shown (`rps`, `shop.orders`, `dead-lettered/h`).
    pub name: String,
    pub source: Use,
    pub combine: Combine,
    pub levels: Option<Levels>,
    /// Shown as `part/whole (value)`: e.g. connections used of the maximum.
    pub fraction: Option<(Use, Use)>,
    /// A label whose value, for the largest series, is shown after the value (`(rejected)`).
    pub top: Option<String>,
}

/// The headline of a component's last hour.
#[derive(Clone, Debug, PartialEq)]
pub struct Spark {
    pub label: String,
    pub source: Use,
    pub combine: Combine,
}

/// A rule that makes a component DOWN: its signal past a value.
#[derive(Clone, Debug, PartialEq)]
pub struct Down {
    pub signal: String,
    pub op: Op,
    pub value: f64,
    /// What the verdict says; `{value}` is the signal's value.
    pub reason: String,
}

/// When in a report period a number is read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum At {
    /// The query's `window` set to the period, evaluated at its end.
    #[default]
    Period,
    /// The value at the period's end.
    End,
    /// The highest value during the period.
    Peak,
}

/// Which way is good for a number (how its change is coloured).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Better {
    Higher,
    Lower,
    #[default]
    Neutral,
}

/// A number of the report (a business KPI, a component's figure).
#[derive(Clone, Debug, PartialEq)]
pub struct Metric {
    /// Stable identifier (`orders_created`; `requests`, shown as `shop.requests`).
    pub id: String,
    pub label: String,
    pub source: Use,
    pub at: At,
    pub combine: Combine,
    pub better: Better,
    /// Only the series with these labels (`outcome = "delivered"`).
    pub filter: BTreeMap<String, String>,
}

/// A table of a count by some labels.
#[derive(Clone, Debug, PartialEq)]
pub struct Breakdown {
    pub id: String,
    pub title: String,
    pub source: Use,
    pub columns: Vec<String>,
}

/// A line of a daily chart: hourly counts summed per local day.
#[derive(Clone, Debug, PartialEq)]
pub struct DailyLine {
    pub label: String,
    pub source: Use,
    /// Drawn against a second axis on the right.
    pub right_axis: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ChartKind {
    Daily(Vec<DailyLine>),
    /// One line per series of a query, named by a label.
    Series {
        source: Use,
        at: At,
        line_label: Option<String>,
    },
}

/// A chart of the report.
#[derive(Clone, Debug, PartialEq)]
pub struct Chart {
    pub id: String,
    pub title: String,
    pub kind: ChartKind,
    /// Components whose incidents are shaded.
    pub shade: Vec<String>,
}

/// How an incident is summed up for a hint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Summary {
    Mean,
    Max,
    Min,
    Sum,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    #[default]
    Up,
    Down,
}

/// A cause hint: a signal that changed during an incident compared with the hour before.
#[derive(Clone, Debug, PartialEq)]
pub struct Hint {
    pub source: Use,
    /// The query's unit (how `{before}` and `{now}` are written).
    pub unit: crate::units::Unit,
    pub per_step: bool,
    pub summary: Summary,
    pub direction: Direction,
    pub min_change: f64,
    pub min_factor: f64,
    pub min_before: f64,
    pub priority: f64,
    pub say: String,
}

/// One component.
#[derive(Clone, Debug, PartialEq)]
pub struct Component {
    pub name: String,
    pub kind: Kind,
    pub description: String,
    /// The labels its series carry (default: `service` = its name).
    pub labels: BTreeMap<String, String>,
    /// Label matchers of its scrape targets (`service="shop"`); `None`: it has none.
    pub targets: Option<String>,
    pub signals: Vec<Signal>,
    pub sparkline: Option<Spark>,
    pub down: Vec<Down>,
    pub report: Vec<Metric>,
}

impl Component {
    /// Whether a series with these labels belongs to this component: every identifying
    /// label it carries has this component's value (a series without them belongs to any).
    pub(crate) fn owns(&self, labels: &BTreeMap<String, String>) -> bool {
        self.labels
            .iter()
            .all(|(k, v)| labels.get(k).is_none_or(|have| have == v))
    }

    /// Whether the series carries this component's identifying labels (strict).
    pub(crate) fn identified_by(&self, labels: &BTreeMap<String, String>) -> bool {
        !self.labels.is_empty() && self.labels.iter().all(|(k, v)| labels.get(k) == Some(v))
    }
}

/// The report's own sections.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    pub kpis: Vec<Metric>,
    pub breakdowns: Vec<Breakdown>,
    pub charts: Vec<Chart>,
}

/// A validated site.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Site {
    pub name: String,
    pub components: Vec<Component>,
    /// Named groups of components that an SLO may belong to.
    pub groups: BTreeMap<String, Vec<String>>,
    pub report: Report,
    pub hints: Vec<Hint>,
    /// Where it was read from.
    pub origin: String,
}

impl Site {
    pub(crate) fn component(&self, name: &str) -> Option<&Component> {
        self.components.iter().find(|c| c.name == name)
    }

    /// The components an SLO of `component` (a component or a group) with these row labels
    /// belongs to: the component itself, or the group members the labels identify (all of
    /// them when the labels identify none).
    pub(crate) fn members_for(
        &self,
        component: &str,
        labels: &BTreeMap<String, String>,
    ) -> Vec<&str> {
        if let Some(c) = self.component(component) {
            return vec![c.name.as_str()];
        }
        let Some(members) = self.groups.get(component) else {
            return vec![];
        };
        let named: Vec<&str> = members
            .iter()
            .filter_map(|m| self.component(m))
            .filter(|c| c.identified_by(labels))
            .map(|c| c.name.as_str())
            .collect();
        if named.is_empty() {
            members.iter().map(String::as_str).collect()
        } else {
            named
        }
    }

    /// The components whose series a query's answer shows: those its series' labels
    /// identify, else those that use the query in their signals or report.
    pub(crate) fn components_showing(
        &self,
        query: &str,
        series_labels: &[&BTreeMap<String, String>],
    ) -> Vec<&str> {
        let identified: Vec<&str> = self
            .components
            .iter()
            .filter(|c| series_labels.iter().any(|l| c.identified_by(l)))
            .map(|c| c.name.as_str())
            .collect();
        if !identified.is_empty() {
            return identified;
        }
        self.components
            .iter()
            .filter(|c| {
                c.signals.iter().any(|s| s.source.query == query)
                    || c.report.iter().any(|m| m.source.query == query)
                    || c.sparkline
                        .as_ref()
                        .is_some_and(|s| s.source.query == query)
            })
            .map(|c| c.name.as_str())
            .collect()
    }
}

/// The site of an SLO file that has no site file beside it: one generic component per
/// SLO component, without signals (the on-call screen then shows their SLOs only).
pub(crate) fn implicit(slos: &[crate::slo::model::Slo]) -> Site {
    let mut components: Vec<Component> = Vec::new();
    for s in slos {
        if components.iter().any(|c| c.name == s.component) {
            continue;
        }
        components.push(Component {
            name: s.component.clone(),
            kind: Kind::Generic,
            description: String::new(),
            labels: BTreeMap::from([("service".to_string(), s.component.clone())]),
            targets: None,
            signals: Vec::new(),
            sparkline: None,
            down: Vec::new(),
            report: Vec::new(),
        });
    }
    Site {
        name: String::new(),
        components,
        groups: BTreeMap::new(),
        report: Report::default(),
        hints: Vec::new(),
        origin: "(none: the SLOs' components)".into(),
    }
}
