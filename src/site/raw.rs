//! `site.toml` as written: serde types that keep the position of every name a later check
//! may need to point at, and the first pass that reads them.

use std::collections::BTreeMap;
use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use super::{At, Better, Combine, Direction, Kind, Summary};
use crate::catalog::params::Scalar;
use crate::diag::{Problem, Source, toml_message};
use crate::slo::model::Op;

pub(super) type Params = BTreeMap<String, Scalar>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLevels {
    pub slo: Option<Spanned<String>>,
    pub op: Option<Op>,
    pub value: Option<f64>,
    pub warn: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFraction {
    pub part: Spanned<String>,
    pub whole: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSignal {
    pub name: Spanned<String>,
    pub query: Spanned<String>,
    #[serde(default)]
    pub params: Params,
    #[serde(default)]
    pub combine: Combine,
    pub levels: Option<Spanned<RawLevels>>,
    pub fraction: Option<RawFraction>,
    pub top: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSpark {
    pub label: String,
    pub query: Spanned<String>,
    #[serde(default)]
    pub params: Params,
    #[serde(default)]
    pub combine: Combine,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDown {
    pub signal: Spanned<String>,
    pub op: Op,
    pub value: f64,
    pub reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMetric {
    pub id: Spanned<String>,
    pub label: String,
    pub query: Spanned<String>,
    #[serde(default)]
    pub params: Params,
    #[serde(default)]
    pub at: At,
    #[serde(default)]
    pub combine: Combine,
    #[serde(default)]
    pub better: Better,
    #[serde(rename = "match")]
    pub filter: Option<Spanned<BTreeMap<String, String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawComponent {
    pub name: Spanned<String>,
    pub kind: Kind,
    #[serde(default)]
    pub description: String,
    pub labels: Option<Spanned<BTreeMap<String, String>>>,
    /// `false`, or label matchers for `up{...}`.
    pub targets: Option<Spanned<toml::Value>>,
    #[serde(default)]
    pub signals: Vec<RawSignal>,
    pub sparkline: Option<RawSpark>,
    #[serde(default)]
    pub down: Vec<RawDown>,
    #[serde(default)]
    pub report: Vec<RawMetric>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBreakdown {
    pub id: Spanned<String>,
    pub title: String,
    pub query: Spanned<String>,
    #[serde(default)]
    pub params: Params,
    pub columns: Spanned<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDailyLine {
    pub label: String,
    pub query: Spanned<String>,
    #[serde(default)]
    pub params: Params,
    #[serde(default)]
    pub axis: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawChart {
    pub id: Spanned<String>,
    pub title: String,
    pub daily: Option<Vec<RawDailyLine>>,
    pub query: Option<Spanned<String>>,
    #[serde(default)]
    pub params: Params,
    #[serde(default)]
    pub at: At,
    pub line_label: Option<Spanned<String>>,
    pub shade: Option<Spanned<Vec<String>>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawReport {
    #[serde(default)]
    pub kpis: Vec<RawMetric>,
    #[serde(default)]
    pub breakdowns: Vec<RawBreakdown>,
    #[serde(default)]
    pub chart: Vec<RawChart>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHint {
    pub query: Spanned<String>,
    #[serde(default)]
    pub params: Params,
    #[serde(default)]
    pub per_step: bool,
    pub summary: Summary,
    #[serde(default)]
    pub direction: Direction,
    #[serde(default)]
    pub min_change: f64,
    #[serde(default)]
    pub min_factor: f64,
    #[serde(default)]
    pub min_before: f64,
    #[serde(default)]
    pub priority: f64,
    pub say: Spanned<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawIncidents {
    #[serde(default)]
    pub hint: Vec<RawHint>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHeader {
    #[serde(default)]
    pub name: String,
}

/// A component as the first pass read it, with where it is.
pub(super) struct Entry {
    pub raw: RawComponent,
    pub span: Range<usize>,
}

/// The first pass: the components' names, kinds and labels (which the catalog and the
/// SLOs need), and everything else still as written.
pub struct Parsed {
    pub src: Source,
    pub(super) name: String,
    pub(super) components: Vec<Entry>,
    pub(super) groups: Spanned<BTreeMap<String, Vec<String>>>,
    pub(super) report: RawReport,
    pub(super) incidents: RawIncidents,
}

impl Parsed {
    /// The names an SLO's `component` may take: components and groups.
    pub(crate) fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .components
            .iter()
            .map(|e| e.raw.name.get_ref().clone())
            .collect();
        v.extend(self.groups.get_ref().keys().cloned());
        v
    }

    /// Component kind -> the `service` labels of its components.
    pub(crate) fn services_by_kind(&self) -> BTreeMap<String, Vec<String>> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for e in &self.components {
            let name = e.raw.name.get_ref();
            let service = e
                .raw
                .labels
                .as_ref()
                .and_then(|l| l.get_ref().get("service").cloned())
                .unwrap_or_else(|| name.clone());
            out.entry(e.raw.kind.as_str().to_string())
                .or_default()
                .push(service);
        }
        out
    }
}

/// Reads `site.toml`: every mistake of the file's structure is reported with its place,
/// and one bad entry never hides the others.
pub(crate) fn parse(src: &Source) -> (Parsed, Vec<Problem>) {
    let mut problems = Vec::new();
    let mut parsed = Parsed {
        src: src.clone(),
        name: String::new(),
        components: Vec::new(),
        groups: Spanned::new(0..0, BTreeMap::new()),
        report: RawReport::default(),
        incidents: RawIncidents::default(),
    };
    let table = match DeTable::parse(&src.text) {
        Ok(t) => t,
        Err(e) => return (parsed, vec![src.problem_at(e.span(), toml_message(&e))]),
    };
    for (key, value) in table.into_inner() {
        let k = key.get_ref().as_ref().to_string();
        match (k.as_str(), value.get_ref()) {
            ("component", DeValue::Array(a)) => {
                for entry in a.iter().cloned() {
                    let span = entry.span();
                    let (raw, _) = crate::diag::deserialize_entry::<RawComponent>(
                        src,
                        entry,
                        &mut problems,
                    );
                    if let Some(raw) = raw {
                        parsed.components.push(Entry { raw, span });
                    }
                }
            }
            ("component", _) => problems.push(src.problem_at(
                Some(key.span()),
                "`component` must be written [[component]]",
            )),
            ("site", _) => {
                if let Some(h) = section::<RawHeader>(src, value, &mut problems) {
                    parsed.name = h.name;
                }
            }
            ("groups", _) => {
                if let Some(g) = section::<Spanned<BTreeMap<String, Vec<String>>>>(
                    src,
                    value,
                    &mut problems,
                ) {
                    parsed.groups = g;
                }
            }
            ("report", _) => {
                if let Some(r) = section::<RawReport>(src, value, &mut problems) {
                    parsed.report = r;
                }
            }
            ("incidents", _) => {
                if let Some(i) = section::<RawIncidents>(src, value, &mut problems) {
                    parsed.incidents = i;
                }
            }
            (other, _) => problems.push(src.problem_at(
                Some(key.span()),
                format!(
                    "unknown top-level key `{other}` (expected [site], [groups], [[component]], [report] or [incidents])"
                ),
            )),
        }
    }
    (parsed, problems)
}

/// A `[section]`: a field with a mistake is reported and left out, the rest still read.
fn section<T: serde::de::DeserializeOwned>(
    src: &Source,
    value: Spanned<DeValue<'_>>,
    problems: &mut Vec<Problem>,
) -> Option<T> {
    if matches!(value.get_ref(), DeValue::Table(_)) {
        return crate::diag::deserialize_entry::<T>(src, value, problems).0;
    }
    let span = value.span();
    match T::deserialize(ValueDeserializer::from(value)) {
        Ok(t) => Some(t),
        Err(e) => {
            problems.push(src.problem_at(e.span().or(Some(span)), toml_message(&e)));
            None
        }
    }
}
