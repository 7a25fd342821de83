//! `vitals openslo import`: OpenSLO v1 documents into slo.toml entries.
//!
//! Every SLO document becomes one `[[slo]]`; what it says that vitals cannot represent is
//! reported with the file, the line, the document's index and the field, and nothing is
//! written then. The entries are checked by the same loader as slo.toml (`vitals lint`).

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDateTime, Timelike, Weekday};
use serde::Serialize;

use super::promql::{canonical, counter_form, from_counter, from_rates, latency_shape, outer_by};
use super::yaml::{Document, Node, Value, parse_stream};
use super::{ANN, THRESHOLD_TARGET, op_from, parse_shorthand};
use crate::catalog::Catalog;
use crate::diag::Source;
use crate::duration::Duration;
use crate::slo::math;
use crate::slo::model::{self, Objective, Sli, Slo, SloKind, SloWindow};
use crate::slo::sli::{self, Le};

/// One `[[slo]]` of the output, in the order slo.toml writes its fields.
#[derive(Debug, Default, Serialize)]
struct Entry {
    name: String,
    component: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    description: String,
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    bad: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    good: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    total: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    histogram: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    selector: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    threshold: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    query: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    promql: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    op: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    warn: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    objective: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    window: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    calendar: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    time_zone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    min_events: Option<f64>,
    #[serde(rename = "for", skip_serializing_if = "Option::is_none")]
    for_: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    severity: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    on_no_data: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    group_by: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    params: BTreeMap<String, String>,
}

#[derive(Serialize)]
struct File {
    slo: Vec<Entry>,
}

/// A document and where it came from.
struct Doc {
    file: String,
    index: usize,
    kind: String,
    name: String,
    root: Node,
}

impl Doc {
    /// `file:line: document N (Kind `name`): field: message`.
    fn at(&self, node: Option<&Node>, field: &str, msg: impl AsRef<str>) -> String {
        let line = node.map_or(self.root.line, |n| n.line);
        let what = if self.name.is_empty() {
            self.kind.clone()
        } else {
            format!("{} `{}`", self.kind, self.name)
        };
        format!(
            "{}:{line}: document {} ({what}): {field}: {}",
            self.file,
            self.index,
            msg.as_ref()
        )
    }
}

const KINDS: &[&str] = &[
    "SLO",
    "SLI",
    "DataSource",
    "AlertPolicy",
    "AlertCondition",
    "AlertNotificationTarget",
    "Service",
];

/// What import produced: the slo.toml text and how many SLOs it holds.
#[derive(Debug)]
pub struct Imported {
    pub toml: String,
    pub count: usize,
}

/// Converts the documents of `files` (name, text); every problem found, or the entries.
pub(crate) fn import(
    files: &[(String, String)],
    catalog: &Catalog,
) -> Result<Imported, Vec<String>> {
    let mut problems = Vec::new();
    let mut docs: Vec<Doc> = Vec::new();
    for (file, text) in files {
        let parsed: Vec<Document> = match parse_stream(text, file) {
            Ok(d) => d,
            Err(e) => {
                problems.push(e);
                continue;
            }
        };
        for d in parsed {
            let mut doc = Doc {
                file: file.clone(),
                index: d.index,
                kind: String::new(),
                name: String::new(),
                root: d.root,
            };
            let kind = doc.root.get("kind").and_then(Node::text).unwrap_or("");
            doc.kind = if kind.is_empty() {
                "document".into()
            } else {
                kind.into()
            };
            doc.name = doc
                .root
                .get("metadata")
                .and_then(|m| m.get("name"))
                .and_then(Node::text)
                .unwrap_or("")
                .to_string();
            let api = doc.root.get("apiVersion");
            match api.and_then(Node::text) {
                Some("openslo/v1") => {}
                Some(v) => {
                    problems.push(doc.at(
                        api,
                        "apiVersion",
                        format!("`{v}`: only openslo/v1 documents are read"),
                    ));
                    continue;
                }
                None => {
                    problems.push(doc.at(None, "apiVersion", "missing (openslo/v1)"));
                    continue;
                }
            }
            if !KINDS.contains(&kind) {
                problems.push(doc.at(
                    doc.root.get("kind"),
                    "kind",
                    format!("`{kind}` is not an OpenSLO v1 kind ({})", KINDS.join(", ")),
                ));
                continue;
            }
            if doc.name.is_empty() {
                problems.push(doc.at(None, "metadata.name", "missing"));
                continue;
            }
            if let Some(first) = docs
                .iter()
                .find(|o| o.kind == doc.kind && o.name == doc.name)
            {
                // Two exports share their DataSource and alert documents: the same
                // document twice is one.
                if first.root.same_content(&doc.root) && doc.kind != "SLO" {
                    continue;
                }
                problems.push(doc.at(
                    None,
                    "metadata.name",
                    format!(
                        "a second {} named `{}` (the first: {} document {})",
                        doc.kind, doc.name, first.file, first.index
                    ),
                ));
                continue;
            }
            docs.push(doc);
        }
    }
    let mut entries = Vec::new();
    for d in docs.iter().filter(|d| d.kind == "SLO") {
        let mut c = Converter {
            docs: &docs,
            catalog,
            problems: &mut problems,
        };
        if let Some(e) = c.slo(d) {
            entries.push(e);
        }
    }
    if entries.is_empty() && problems.is_empty() {
        problems.push("no SLO document found".into());
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let count = entries.len();
    let body = toml::to_string(&File { slo: entries }).map_err(|e| vec![e.to_string()])?;
    let text = format!(
        "# SLOs imported from OpenSLO by `vitals openslo import` ({}).\n\n{body}",
        files
            .iter()
            .map(|(f, _)| f.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    // The same checks as slo.toml (components are checked against a site by `vitals lint`).
    let (_, found) = model::load(
        &Source::new("<imported slo.toml>", text.clone()),
        catalog,
        None,
    );
    if !found.is_empty() {
        return Err(found
            .iter()
            .map(|p| format!("the converted entries do not load: {p}"))
            .collect());
    }
    Ok(Imported { toml: text, count })
}

struct Converter<'a> {
    docs: &'a [Doc],
    catalog: &'a Catalog,
    problems: &'a mut Vec<String>,
}

/// The query of a metric source, once its data source is known to be Prometheus.
struct Query<'n> {
    text: String,
    node: &'n Node,
}

impl<'a> Converter<'a> {
    fn find(&self, kind: &str, name: &str) -> Option<&'a Doc> {
        self.docs.iter().find(|d| d.kind == kind && d.name == name)
    }

    fn slo(&mut self, d: &Doc) -> Option<Entry> {
        let before = self.problems.len();
        let meta = d.root.get("metadata");
        // Label values may also be lists of strings (the spec allows both): only the
        // string ones can name a component or an SLO.
        let labels: BTreeMap<String, String> = match meta.and_then(|m| m.get("labels")) {
            Some(Node {
                value: Value::Map(entries),
                ..
            }) => entries
                .iter()
                .filter_map(|(k, n)| n.text().map(|t| (k.clone(), t.to_string())))
                .collect(),
            _ => BTreeMap::new(),
        };
        let ann: BTreeMap<String, String> = meta
            .and_then(|m| m.get("annotations"))
            .and_then(Node::string_map)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(k, v)| k.strip_prefix(ANN).map(|k| (k.to_string(), v)))
            .collect();
        let Some(spec) = d.root.get("spec").filter(|s| s.is_map()) else {
            self.problems.push(d.at(None, "spec", "missing"));
            return None;
        };
        let mut e = self.common(d, spec, &labels, &ann);
        let objective = self.objective(d, spec);
        // The indicator: inline, or an SLI document.
        let (sli_doc, sli_spec, sli_field) = match (spec.get("indicator"), spec.get("indicatorRef"))
        {
            (Some(_), Some(r)) => {
                self.problems.push(d.at(
                    Some(r),
                    "spec.indicatorRef",
                    "give `indicator` or `indicatorRef`, not both",
                ));
                return None;
            }
            (Some(i), None) => (d, i.get("spec"), "spec.indicator.spec"),
            (None, Some(r)) => {
                let name = r.text().unwrap_or("");
                match self.find("SLI", name) {
                    Some(s) => (s, s.root.get("spec"), "spec"),
                    None => {
                        self.problems.push(d.at(
                            Some(r),
                            "spec.indicatorRef",
                            format!("no SLI document named `{name}`"),
                        ));
                        return None;
                    }
                }
            }
            (None, None) => {
                self.problems.push(d.at(
                    None,
                    "spec.indicator",
                    "missing (an inline `indicator` or an `indicatorRef`)",
                ));
                return None;
            }
        };
        let Some(sli_spec) = sli_spec else {
            self.problems.push(sli_doc.at(None, sli_field, "missing"));
            return None;
        };
        let tw = spec.get("timeWindow");
        match (sli_spec.get("ratioMetric"), sli_spec.get("thresholdMetric")) {
            (Some(r), None) => {
                self.ratio(
                    sli_doc,
                    &format!("{sli_field}.ratioMetric"),
                    r,
                    &ann,
                    &mut e,
                );
                self.budget(d, spec, &ann, objective, &mut e);
            }
            (None, Some(t)) => {
                self.threshold(
                    d,
                    sli_doc,
                    &format!("{sli_field}.thresholdMetric"),
                    t,
                    &ann,
                    objective,
                    &mut e,
                );
                if let Some(tw) = tw {
                    self.problems.push(d.at(Some(tw), "spec.timeWindow", "cannot be represented: vitals compares a threshold SLO's value at each instant (the query's own range is its window)"));
                }
                if let Some(p) = spec.get("alertPolicies") {
                    self.problems.push(d.at(Some(p), "spec.alertPolicies", "cannot be represented for a threshold SLO: vitals alerts on it when it is violated for `for` (the vitals/for and vitals/severity annotations)"));
                }
            }
            (Some(_), Some(t)) => self.problems.push(sli_doc.at(
                Some(t),
                &format!("{sli_field}.thresholdMetric"),
                "give `ratioMetric` or `thresholdMetric`, not both",
            )),
            (None, None) => {
                let raw = sli_spec.get("rawMetric");
                self.problems.push(sli_doc.at(raw, sli_field, if raw.is_some() { "`rawMetric` cannot be represented: vitals needs good or bad and total events (ratioMetric) or a threshold (thresholdMetric)" } else { "needs `ratioMetric` or `thresholdMetric`" }));
            }
        }
        (self.problems.len() == before).then_some(e)
    }

    /// What every SLO has: name, component, description, no-data policy, grouping; and
    /// the budgeting method, which must be Occurrences.
    fn common(
        &mut self,
        d: &Doc,
        spec: &Node,
        labels: &BTreeMap<String, String>,
        ann: &BTreeMap<String, String>,
    ) -> Entry {
        let meta = d.root.get("metadata");
        let mut e = Entry {
            name: labels.get("slo").cloned().unwrap_or_else(|| d.name.clone()),
            ..Entry::default()
        };
        let valid = !e.name.is_empty()
            && e.name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !valid {
            self.problems.push(d.at(
                meta,
                "metadata.name",
                format!(
                    "`{}` is not a vitals SLO name (lowercase letters, digits, - and _)",
                    e.name
                ),
            ));
        }
        e.component = match (
            labels.get("component"),
            spec.get("service").and_then(Node::text),
        ) {
            (Some(c), _) => c.clone(),
            (None, Some(s)) => s.to_string(),
            (None, None) => {
                self.problems.push(d.at(
                    None,
                    "spec.service",
                    "no component: give metadata.labels.component or spec.service",
                ));
                String::new()
            }
        };
        e.description = spec
            .get("description")
            .and_then(Node::text)
            .unwrap_or("")
            .to_string();
        if let Some(v) = ann.get("on-no-data") {
            if matches!(v.as_str(), "inconclusive" | "fail" | "pass") {
                e.on_no_data = Some(v.clone()).filter(|v| v != "inconclusive");
            } else {
                self.problems.push(d.at(
                    meta,
                    "metadata.annotations.vitals/on-no-data",
                    format!("`{v}` is not inconclusive, fail or pass"),
                ));
            }
        }
        if let Some(g) = ann.get("group-by") {
            e.group_by = g
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect();
        }
        let bm = spec.get("budgetingMethod");
        match bm.and_then(Node::text) {
            Some("Occurrences") => {}
            Some(m @ ("Timeslices" | "RatioTimeslices")) => self.problems.push(d.at(
                bm,
                "spec.budgetingMethod",
                format!("`{m}` cannot be represented: vitals counts events (Occurrences)"),
            )),
            Some(m) => self.problems.push(d.at(
                bm,
                "spec.budgetingMethod",
                format!("`{m}` is not Occurrences, Timeslices or RatioTimeslices"),
            )),
            None => self.problems.push(d.at(
                None,
                "spec.budgetingMethod",
                "missing (vitals counts events: Occurrences)",
            )),
        }
        e
    }

    /// A ratio or latency SLO's objective, window, minimum of events and alert policies.
    fn budget(
        &mut self,
        d: &Doc,
        spec: &Node,
        ann: &BTreeMap<String, String>,
        objective: Option<(f64, &Node)>,
        e: &mut Entry,
    ) {
        let meta = d.root.get("metadata");
        let tw = spec.get("timeWindow");
        if let Some((target, _)) = objective {
            e.objective = Some(percent(target));
        }
        let window = self.window(d, tw);
        if let Some(v) = ann.get("min-events") {
            match v.parse::<f64>() {
                Ok(m) if m > 0.0 => e.min_events = Some(m),
                Ok(_) => {}
                Err(_) => self.problems.push(d.at(
                    meta,
                    "metadata.annotations.vitals/min-events",
                    format!("`{v}` is not a number"),
                )),
            }
        }
        if let Some(w) = window {
            match &w {
                SloWindow::Rolling(d) => e.window = Some(d.to_string()),
                SloWindow::Calendar { period, tz } => {
                    e.calendar = Some(match period {
                        model::Calendar::Week => "week",
                        model::Calendar::Month => "month",
                    });
                    e.time_zone = Some(tz.name().to_string()).filter(|z| z != "UTC");
                }
            }
            self.alert_policies(d, spec, &w);
        }
    }

    /// The one objective: its target (a fraction) and node.
    fn objective<'n>(&mut self, d: &Doc, spec: &'n Node) -> Option<(f64, &'n Node)> {
        let objs = spec.get("objectives");
        let Some(items) = objs.and_then(Node::items) else {
            self.problems
                .push(d.at(objs, "spec.objectives", "missing (a list of one objective)"));
            return None;
        };
        if items.len() != 1 {
            self.problems.push(d.at(
                objs,
                "spec.objectives",
                format!(
                    "{} objectives: vitals has one objective per SLO (write one SLO for each)",
                    items.len()
                ),
            ));
            return None;
        }
        let o = &items[0];
        for k in ["timeSliceTarget", "timeSliceWindow"] {
            if let Some(n) = o.get(k) {
                self.problems.push(d.at(
                    Some(n),
                    &format!("spec.objectives[0].{k}"),
                    "time slices cannot be represented: vitals counts events (Occurrences)",
                ));
            }
        }
        let target = match (o.get("target"), o.get("targetPercent")) {
            (Some(t), None) => t.number().filter(|t| *t > 0.0 && *t < 1.0).map(|t| (t, t)),
            (None, Some(p)) => p
                .number()
                .filter(|p| *p > 0.0 && *p < 100.0)
                .map(|p| (p / 100.0, p)),
            (Some(_), Some(p)) => {
                self.problems.push(d.at(
                    Some(p),
                    "spec.objectives[0].targetPercent",
                    "give `target` or `targetPercent`, not both",
                ));
                return None;
            }
            (None, None) => {
                self.problems
                    .push(d.at(Some(o), "spec.objectives[0].target", "missing"));
                return None;
            }
        };
        match target {
            Some((t, _)) => Some((t, o)),
            None => {
                self.problems.push(d.at(
                    o.get("target").or(o.get("targetPercent")),
                    "spec.objectives[0].target",
                    "must be a number in (0, 1) (targetPercent: in (0, 100))",
                ));
                None
            }
        }
    }

    /// The metric source's PromQL, or a problem (a non-Prometheus source, no query).
    fn source<'n>(&mut self, doc: &Doc, field: &str, part: &'n Node) -> Option<Query<'n>> {
        let Some(ms) = part.get("metricSource") else {
            self.problems
                .push(doc.at(Some(part), &format!("{field}.metricSource"), "missing"));
            return None;
        };
        let mut kind = ms.get("type").and_then(Node::text).map(str::to_string);
        if let Some(r) = ms.get("metricSourceRef") {
            let name = r.text().unwrap_or("");
            match self.find("DataSource", name) {
                Some(ds) => {
                    let t = ds.root.get("spec").and_then(|s| s.get("type"));
                    match t.and_then(Node::text) {
                        Some("Prometheus") => {}
                        Some(other) => {
                            self.problems.push(ds.at(t, "spec.type", format!("`{other}` cannot be represented: vitals reads Prometheus (used by {field})")));
                            return None;
                        }
                        None => {
                            self.problems
                                .push(ds.at(None, "spec.type", "missing (Prometheus)"));
                            return None;
                        }
                    }
                    kind.get_or_insert_with(|| "Prometheus".into());
                }
                None if kind.is_some() => {}
                None => {
                    self.problems.push(doc.at(
                        Some(r),
                        &format!("{field}.metricSource.metricSourceRef"),
                        format!("no DataSource document named `{name}` (and no `type`)"),
                    ));
                    return None;
                }
            }
        }
        match kind.as_deref() {
            Some("Prometheus") => {}
            Some(other) => {
                self.problems.push(doc.at(
                    ms.get("type"),
                    &format!("{field}.metricSource.type"),
                    format!("`{other}` cannot be represented: vitals reads Prometheus"),
                ));
                return None;
            }
            None => {
                self.problems.push(doc.at(
                    Some(ms),
                    &format!("{field}.metricSource.type"),
                    "missing (Prometheus), and no metricSourceRef",
                ));
                return None;
            }
        }
        let q = ms.get("spec").and_then(|s| s.get("query"));
        match q.and_then(Node::text) {
            Some(text) => Some(Query {
                text: text.to_string(),
                node: q.unwrap_or(ms),
            }),
            None => {
                self.problems.push(doc.at(
                    Some(ms),
                    &format!("{field}.metricSource.spec.query"),
                    "missing (a PromQL query)",
                ));
                None
            }
        }
    }

    fn ratio(
        &mut self,
        doc: &Doc,
        field: &str,
        r: &Node,
        ann: &BTreeMap<String, String>,
        e: &mut Entry,
    ) {
        for k in ["raw", "rawType"] {
            if let Some(n) = r.get(k) {
                self.problems.push(doc.at(Some(n), &format!("{field}.{k}"), "a precomputed ratio cannot be represented: vitals counts good or bad and total events"));
                return;
            }
        }
        let counter = match r.get("counter").map(|c| (c, c.boolean())) {
            Some((_, Some(b))) => b,
            Some((c, None)) => {
                self.problems.push(doc.at(
                    Some(c),
                    &format!("{field}.counter"),
                    "must be true or false",
                ));
                return;
            }
            None => {
                self.problems.push(doc.at(
                    Some(r),
                    &format!("{field}.counter"),
                    "missing (true for counters)",
                ));
                return;
            }
        };
        let first = match (r.get("good"), r.get("bad")) {
            (Some(g), None) => ("good", g),
            (None, Some(b)) => ("bad", b),
            (Some(_), Some(b)) => {
                self.problems.push(doc.at(
                    Some(b),
                    &format!("{field}.bad"),
                    "give `good` or `bad`, not both",
                ));
                return;
            }
            (None, None) => {
                self.problems.push(doc.at(
                    Some(r),
                    &format!("{field}.good"),
                    "needs `good` or `bad`, and `total`",
                ));
                return;
            }
        };
        let Some(total) = r.get("total") else {
            self.problems
                .push(doc.at(Some(r), &format!("{field}.total"), "missing"));
            return;
        };
        let mut templates = Vec::new();
        for (part, node) in [first, ("total", total)] {
            let f = format!("{field}.{part}");
            let Some(q) = self.source(doc, &f, node) else {
                return;
            };
            // vitals' own export keeps the template it came from: used when the query is
            // still its counter form.
            let kept = ann.get(part).filter(|t| {
                counter
                    && counter_form(t)
                        .and_then(|c| canonical(&c))
                        .is_ok_and(|c| canonical(&q.text).is_ok_and(|q| q == c))
            });
            let t = match kept {
                Some(t) => Ok(t.clone()),
                None if counter => from_counter(&q.text),
                None => from_rates(&q.text),
            };
            match t {
                Ok(t) => templates.push((part, t, q.text.clone())),
                Err(m) => {
                    self.problems.push(doc.at(
                        Some(q.node),
                        &format!("{f}.metricSource.spec.query"),
                        m,
                    ));
                    return;
                }
            }
        }
        if let Some(l) = self.latency(ann, e, counter, &templates) {
            *e = l;
            return;
        }
        e.kind = "ratio";
        // A foreign SLO split by a label: both parts summed by the same labels.
        if !ann.contains_key("kind") && e.group_by.is_empty() {
            if let (Some(a), Some(b)) = (outer_by(&templates[0].2), outer_by(&templates[1].2)) {
                if a == b {
                    e.group_by = a;
                }
            }
        }
        for (part, t, _) in templates {
            match part {
                "good" => e.good = Some(t),
                "bad" => e.bad = Some(t),
                _ => e.total = Some(t),
            }
        }
    }

    /// A latency SLO, when the annotations of vitals' export name one and the SLI layer
    /// writes the same queries for it.
    fn latency(
        &self,
        ann: &BTreeMap<String, String>,
        e: &Entry,
        counter: bool,
        templates: &[(&str, String, String)],
    ) -> Option<Entry> {
        if !counter || templates.first()?.0 != "good" {
            return None;
        }
        let (good, total) = (&templates[0].2, &templates[1].2);
        // vitals' own export names the histogram; a foreign query may be one in shape.
        let (metric, selector, threshold, le, group_by) = match ann.get("histogram") {
            Some(metric) => (
                metric.clone(),
                ann.get("selector").cloned().unwrap_or_default(),
                ann.get("threshold")?.parse::<f64>().ok()?,
                None,
                e.group_by.clone(),
            ),
            None if ann.contains_key("kind") => return None,
            None => {
                let s = latency_shape(good, total)?;
                let t =
                    s.le.parse::<f64>()
                        .ok()
                        .filter(|t| t.is_finite() && *t > 0.0)?;
                (s.metric, s.selector, t, Some(s.le), s.group_by)
            }
        };
        let slo = Slo {
            name: e.name.clone(),
            component: e.component.clone(),
            description: String::new(),
            kind: SloKind::Latency,
            objective: Objective::Budget {
                sli: Sli::Latency {
                    metric: metric.clone(),
                    selector: selector.clone(),
                    threshold,
                },
                target: 0.5,
                window: SloWindow::Rolling(Duration::from_secs(86_400)),
                min_events: 0.0,
            },
            on_no_data: Default::default(),
            group_by: group_by.clone(),
        };
        // The SLI layer must write these very queries for it.
        let le = match &le {
            Some(l) => Le::Found(l),
            None => Le::AnySpelling,
        };
        let parts = sli::parts(&slo, le)?;
        let same = |template: &str, query: &str| {
            counter_form(template)
                .and_then(|c| canonical(&c))
                .is_ok_and(|c| canonical(query).is_ok_and(|q| q == c))
        };
        (same(&parts.first_promql, good) && same(&parts.total_promql, total)).then(|| Entry {
            name: e.name.clone(),
            component: e.component.clone(),
            description: e.description.clone(),
            kind: "latency",
            histogram: Some(metric),
            selector: Some(selector).filter(|s| !s.is_empty()),
            threshold: Some(threshold),
            on_no_data: e.on_no_data.clone(),
            group_by,
            ..Entry::default()
        })
    }

    fn window(&mut self, d: &Doc, tw: Option<&Node>) -> Option<SloWindow> {
        let Some(items) = tw.and_then(Node::items) else {
            self.problems.push(d.at(
                tw,
                "spec.timeWindow",
                "missing: a ratio SLO needs its window (a list of one)",
            ));
            return None;
        };
        if items.len() != 1 {
            self.problems
                .push(d.at(tw, "spec.timeWindow", "must hold exactly one window"));
            return None;
        }
        let w = &items[0];
        let dur = w.get("duration");
        let Some(text) = dur.and_then(Node::text) else {
            self.problems
                .push(d.at(Some(w), "spec.timeWindow[0].duration", "missing"));
            return None;
        };
        let cal = w.get("calendar");
        let rolling = w
            .get("isRolling")
            .and_then(Node::boolean)
            .unwrap_or(cal.is_none());
        if rolling {
            if let Some(c) = cal {
                self.problems.push(d.at(
                    Some(c),
                    "spec.timeWindow[0].calendar",
                    "a rolling window has no calendar",
                ));
                return None;
            }
            return match parse_shorthand(text) {
                Ok(d) => Some(SloWindow::Rolling(d)),
                Err(m) => {
                    self.problems
                        .push(d.at(dur, "spec.timeWindow[0].duration", m));
                    None
                }
            };
        }
        let Some(c) = cal else {
            self.problems.push(d.at(
                Some(w),
                "spec.timeWindow[0].calendar",
                "missing for isRolling: false",
            ));
            return None;
        };
        let tz_node = c.get("timeZone");
        let tz: chrono_tz::Tz = match tz_node.and_then(Node::text).unwrap_or("UTC").parse() {
            Ok(tz) => tz,
            Err(_) => {
                self.problems.push(d.at(
                    tz_node,
                    "spec.timeWindow[0].calendar.timeZone",
                    "not an IANA time zone name",
                ));
                return None;
            }
        };
        let st = c.get("startTime");
        let start = st
            .and_then(Node::text)
            .and_then(|s| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").ok());
        let Some(start) = start else {
            self.problems.push(d.at(
                st.or(Some(c)),
                "spec.timeWindow[0].calendar.startTime",
                "missing or not `YYYY-MM-DD HH:MM:SS`",
            ));
            return None;
        };
        let midnight = start.hour() == 0 && start.minute() == 0 && start.second() == 0;
        let period = match text {
            "1w" if midnight && start.weekday() == Weekday::Mon => model::Calendar::Week,
            "1M" if midnight && start.day() == 1 => model::Calendar::Month,
            _ => {
                self.problems.push(d.at(dur, "spec.timeWindow[0]", format!("a calendar window of `{text}` from {start} cannot be represented: vitals has calendar weeks (1w from a Monday 00:00) and months (1M from the 1st, 00:00)")));
                return None;
            }
        };
        Some(SloWindow::Calendar { period, tz })
    }

    /// The alert policies say what vitals alerts on anyway (its burn-rate windows for the
    /// SLO's window), or what cannot be represented.
    fn alert_policies(&mut self, d: &Doc, spec: &Node, w: &SloWindow) {
        let Some(items) = spec.get("alertPolicies").and_then(Node::items) else {
            return;
        };
        let pairs = math::burn_pairs(sli::rule_window(w));
        let vitals_pairs = pairs
            .iter()
            .map(|p| {
                format!(
                    "{} {}x over {}",
                    p.severity.as_str(),
                    sli::number(p.factor),
                    p.long
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        for (i, item) in items.iter().enumerate() {
            let field = format!("spec.alertPolicies[{i}]");
            let (pdoc, policy) = match item.get("alertPolicyRef").and_then(Node::text) {
                Some(name) => match self.find("AlertPolicy", name) {
                    Some(p) => (p, &p.root),
                    None => {
                        self.problems.push(d.at(
                            Some(item),
                            &field,
                            format!("no AlertPolicy document named `{name}`"),
                        ));
                        continue;
                    }
                },
                None => (d, item),
            };
            let conds = policy
                .get("spec")
                .and_then(|s| s.get("conditions"))
                .and_then(Node::items);
            let Some(cond) = conds.and_then(|c| c.first()) else {
                self.problems
                    .push(pdoc.at(Some(policy), "spec.conditions", "missing"));
                continue;
            };
            let (cdoc, cnode) = match cond.get("conditionRef").and_then(Node::text) {
                Some(name) => match self.find("AlertCondition", name) {
                    Some(c) => (c, &c.root),
                    None => {
                        self.problems.push(pdoc.at(
                            Some(cond),
                            "spec.conditions[0].conditionRef",
                            format!("no AlertCondition document named `{name}`"),
                        ));
                        continue;
                    }
                },
                None => (pdoc, cond),
            };
            let cspec = cnode.get("spec");
            let sev = cspec
                .and_then(|s| s.get("severity"))
                .and_then(Node::text)
                .unwrap_or("");
            let c = cspec.and_then(|s| s.get("condition"));
            let kind = c
                .and_then(|c| c.get("kind"))
                .and_then(Node::text)
                .unwrap_or("burnrate");
            let op = c
                .and_then(|c| c.get("op"))
                .and_then(Node::text)
                .unwrap_or("");
            let threshold = c.and_then(|c| c.get("threshold")).and_then(Node::number);
            let lookback = c
                .and_then(|c| c.get("lookbackWindow"))
                .and_then(Node::text)
                .map(parse_shorthand);
            let matches = kind == "burnrate"
                && op == "gt"
                && pairs.iter().any(|p| {
                    p.severity.as_str() == sev
                        && threshold.is_some_and(|t| (t - p.factor).abs() < 1e-9)
                        && lookback.as_ref().is_some_and(|l| {
                            l.as_ref()
                                .is_ok_and(|l| l.secs().abs_diff(p.long.secs()) < 60)
                        })
                });
            if !matches {
                self.problems.push(cdoc.at(c.or(Some(cnode)), "spec.condition", format!(
                    "{kind} {op} {} over {} (severity `{sev}`) cannot be represented: vitals alerts on fixed burn rates, for this SLO's window {vitals_pairs} (each with a shorter second window)",
                    threshold.map(sli::number).unwrap_or_else(|| "?".into()),
                    c.and_then(|c| c.get("lookbackWindow")).and_then(Node::text).unwrap_or("?"),
                )));
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn threshold(
        &mut self,
        d: &Doc,
        sli_doc: &Doc,
        field: &str,
        t: &Node,
        ann: &BTreeMap<String, String>,
        objective: Option<(f64, &Node)>,
        e: &mut Entry,
    ) {
        e.kind = "threshold";
        let meta = d.root.get("metadata");
        let q = self.source(sli_doc, field, t);
        if ann.get("judged").map(String::as_str) != Some("instant") {
            let target = objective
                .map(|(t, _)| sli::number(t))
                .unwrap_or_else(|| "?".into());
            self.problems.push(d.at(objective.and_then(|(_, n)| n.get("target").or(n.get("targetPercent"))), "spec.objectives[0].target", format!(
                "a threshold objective met {target} of the time cannot be represented: vitals compares a threshold SLO's value at each instant, with no budget (its own export marks them vitals/judged: instant)"
            )));
            return;
        }
        if let Some((_, o)) = objective {
            let opn = o.get("op");
            match opn.and_then(Node::text).and_then(op_from) {
                Some(op) => e.op = Some(op.as_str()),
                None => self.problems.push(d.at(
                    opn.or(Some(o)),
                    "spec.objectives[0].op",
                    "must be lt, lte, gt or gte",
                )),
            }
            match o.get("value").and_then(Node::number) {
                Some(v) => e.value = Some(v),
                None => self.problems.push(d.at(
                    Some(o),
                    "spec.objectives[0].value",
                    "missing (a number)",
                )),
            }
            let _ = THRESHOLD_TARGET;
        }
        let Some(q) = q else {
            return;
        };
        self.catalog_query(ann, &q.text, e);
        if let Some(v) = ann.get("warn") {
            match v.parse() {
                Ok(w) => e.warn = Some(w),
                Err(_) => self.problems.push(d.at(
                    meta,
                    "metadata.annotations.vitals/warn",
                    format!("`{v}` is not a number"),
                )),
            }
        }
        if let Some(f) = ann.get("for") {
            match f.parse::<Duration>() {
                Ok(_) => e.for_ = Some(f.clone()),
                Err(m) => {
                    self.problems
                        .push(d.at(meta, "metadata.annotations.vitals/for", m.to_string()))
                }
            }
        }
        if let Some(s) = ann.get("severity") {
            if matches!(s.as_str(), "page" | "ticket" | "none") {
                e.severity = Some(s.clone());
            } else {
                self.problems.push(d.at(
                    meta,
                    "metadata.annotations.vitals/severity",
                    format!("`{s}` is not page, ticket or none"),
                ));
            }
        }
    }

    /// The catalog query the PromQL is, with its params (the annotation's, else a query
    /// that takes none), or the PromQL itself.
    fn catalog_query(&self, ann: &BTreeMap<String, String>, promql: &str, e: &mut Entry) {
        let Ok(want) = canonical(promql) else {
            e.promql = Some(promql.to_string());
            return;
        };
        let same = |name: &str, params: &BTreeMap<String, String>| {
            self.catalog
                .get(name)
                .and_then(|def| def.expand(params).ok())
                .is_some_and(|x| canonical(&x.promql).is_ok_and(|c| c == want))
        };
        if let Some(name) = ann.get("query") {
            let params: BTreeMap<String, String> = ann
                .get("params")
                .and_then(|p| serde_json::from_str(p).ok())
                .unwrap_or_default();
            if same(name, &params) {
                e.query = Some(name.clone());
                // Only the params that differ from the defaults are written.
                let defaults = self
                    .catalog
                    .get(name)
                    .and_then(|def| def.expand(&BTreeMap::new()).ok())
                    .map(|x| x.params)
                    .unwrap_or_default();
                e.params = params
                    .into_iter()
                    .filter(|(k, v)| defaults.get(k) != Some(v))
                    .collect();
                return;
            }
        }
        let empty = BTreeMap::new();
        if let Some(def) = self.catalog.queries.iter().find(|q| same(&q.name, &empty)) {
            e.query = Some(def.name.clone());
            return;
        }
        e.promql = Some(promql.to_string());
    }
}

/// A target as slo.toml's percentage, without binary noise (0.995 is 99.5).
fn percent(target: f64) -> f64 {
    let p = target * 100.0;
    format!("{p:.10}").parse().unwrap_or(p)
}
