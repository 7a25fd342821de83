//! The second pass over `site.toml`: every query, param, level, label and name it uses is
//! checked against the catalog, the SLOs and itself, so nothing blanks silently at run time.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use toml::Spanned;

use super::raw::{Params, Parsed, RawComponent, RawLevels, RawMetric, RawSignal};
use super::{
    Breakdown, Chart, ChartKind, Component, DailyLine, Down, Hint, Kind, Levels, Metric, Report,
    Signal, Site, Spark, Use,
};
use crate::catalog::{Catalog, closest, shape};
use crate::diag::{Problem, Source};
use crate::slo::model::{Alerting, Objective, Op, Slo};

/// The burn rate at which a budget SLO's signal fails: the page threshold of the SRE
/// workbook (its warning is the budget itself, burning 1x).
const PAGE_BURN: f64 = 14.4;

struct Ctx<'a> {
    src: &'a Source,
    catalog: &'a Catalog,
    slos: &'a [Slo],
    problems: Vec<Problem>,
}

impl Ctx<'_> {
    fn at(&mut self, span: Range<usize>, msg: impl Into<String>) {
        self.problems.push(self.src.problem_at(Some(span), msg));
    }

    /// A catalog query with fixed params, checked: it exists, takes these params, expands,
    /// and answers with an instant vector. Returns it with the labels its series carry.
    fn query_use(
        &mut self,
        what: &str,
        query: &Spanned<String>,
        params: &Params,
    ) -> Option<(Use, shape::Labels)> {
        let name = query.get_ref();
        let Some(def) = self.catalog.get(name) else {
            let hint = self
                .catalog
                .suggest(name)
                .map(|s| format!(" (did you mean `{s}`?)"))
                .unwrap_or_default();
            self.at(
                query.span(),
                format!("{what}: unknown catalog query `{name}`{hint}"),
            );
            return None;
        };
        let params: BTreeMap<String, String> = params
            .iter()
            .map(|(k, v)| (k.clone(), v.0.clone()))
            .collect();
        let expanded = match def.expand(&params) {
            Ok(e) => e,
            Err(e) => {
                self.at(query.span(), format!("{what}: {e}"));
                return None;
            }
        };
        let labels = match shape::of(&expanded.promql) {
            Ok(s) if s.kind == shape::Type::InstantVector => s.labels,
            Ok(s) => {
                self.at(
                    query.span(),
                    format!(
                        "{what}: query `{name}` returns {}; vitals needs an instant vector here",
                        s.kind.as_str()
                    ),
                );
                return None;
            }
            // The catalog's own check reports invalid PromQL.
            Err(_) => shape::Labels::AtLeast(BTreeSet::new()),
        };
        Some((
            Use {
                query: name.clone(),
                params,
            },
            labels,
        ))
    }

    fn takes_window(&self, query: &str) -> bool {
        self.catalog
            .get(query)
            .is_some_and(|d| d.params.contains_key("window"))
    }

    /// `label` must be one the query's series can carry.
    fn label_of(
        &mut self,
        what: &str,
        span: Range<usize>,
        u: &Use,
        labels: &shape::Labels,
        label: &str,
    ) {
        if !labels.may_have(label) {
            self.at(
                span,
                format!(
                    "{what}: query `{}` answers with series labelled {}, not `{label}`",
                    u.query,
                    labels.describe()
                ),
            );
        }
    }

    fn slo(&mut self, what: &str, name: &Spanned<String>) -> Option<&Slo> {
        let slos = self.slos;
        match slos.iter().find(|s| &s.name == name.get_ref()) {
            Some(s) => Some(s),
            None => {
                let hint = closest(name.get_ref(), slos.iter().map(|s| s.name.as_str()))
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default();
                self.at(
                    name.span(),
                    format!("{what}: no SLO named `{}`{hint}", name.get_ref()),
                );
                None
            }
        }
    }
}

/// Checks the parsed site against the catalog (bound to it) and the SLOs.
pub(crate) fn resolve(parsed: &Parsed, catalog: &Catalog, slos: &[Slo]) -> (Site, Vec<Problem>) {
    let mut cx = Ctx {
        src: &parsed.src,
        catalog,
        slos,
        problems: Vec::new(),
    };
    let mut components = Vec::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for e in &parsed.components {
        let name = e.raw.name.get_ref().clone();
        if let Some(line) = seen.get(&name) {
            cx.at(
                e.raw.name.span(),
                format!("duplicate component `{name}` (first defined on line {line})"),
            );
            continue;
        }
        seen.insert(name.clone(), parsed.src.line_col(e.span.start).0);
        if let Some(c) = component(&mut cx, &e.raw) {
            components.push(c);
        }
    }
    let groups = groups(&mut cx, parsed, &components);
    for slo in slos {
        // SLO components were checked when slo.toml was loaded; a group must be able to tell
        // its rows apart.
        if let Some(members) = groups.get(&slo.component) {
            let keys: BTreeSet<&String> = members
                .iter()
                .filter_map(|m| components.iter().find(|c: &&Component| &c.name == m))
                .flat_map(|c| c.labels.keys())
                .collect();
            if !keys.is_empty() && !keys.iter().any(|k| slo.group_by.contains(k)) {
                cx.problems.push(Problem::new(format!(
                    "SLO `{}` belongs to the group `{}`: group it by {} (group_by) so each row belongs to one of {}",
                    slo.name,
                    slo.component,
                    keys.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(" or "),
                    members.join(", ")
                )));
            }
        }
    }
    let report = report(&mut cx, parsed, &components);
    let hints = hints(&mut cx, parsed);
    let site = Site {
        name: parsed.name.clone(),
        components,
        groups,
        report,
        hints,
        origin: parsed.src.path.display().to_string(),
    };
    (site, cx.problems)
}

fn is_component_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

fn component(cx: &mut Ctx, raw: &RawComponent) -> Option<Component> {
    let name = raw.name.get_ref().clone();
    if !is_component_name(&name) {
        cx.at(
            raw.name.span(),
            format!("component name `{name}`: use lowercase words joined by `-` (e.g. shop-db)"),
        );
    }
    let labels = match &raw.labels {
        Some(l) => {
            for k in l.get_ref().keys() {
                if !crate::slo::model::is_label_name(k) {
                    cx.at(
                        l.span(),
                        format!("component `{name}`: `{k}` is not a label name"),
                    );
                }
            }
            l.get_ref().clone()
        }
        None => BTreeMap::from([("service".to_string(), name.clone())]),
    };
    let targets = targets(cx, raw, &name, &labels);
    let what = |s: &str| format!("component `{name}`, {s}");
    let mut signals: Vec<Signal> = Vec::new();
    for s in &raw.signals {
        if signals.iter().any(|x| x.name == *s.name.get_ref()) {
            cx.at(
                s.name.span(),
                format!(
                    "component `{name}`: two signals named `{}`",
                    s.name.get_ref()
                ),
            );
            continue;
        }
        if let Some(sig) = signal(cx, &what(&format!("signal `{}`", s.name.get_ref())), s) {
            signals.push(sig);
        }
    }
    let sparkline = raw.sparkline.as_ref().and_then(|s| {
        let (source, _) = cx.query_use(&what("sparkline"), &s.query, &s.params)?;
        Some(Spark {
            label: s.label.clone(),
            source,
            combine: s.combine,
        })
    });
    let mut down = Vec::new();
    for d in &raw.down {
        if !signals.iter().any(|s| s.name == *d.signal.get_ref()) {
            cx.at(
                d.signal.span(),
                format!(
                    "component `{name}`: `down` names the signal `{}`, which it does not have (its signals: {})",
                    d.signal.get_ref(),
                    signals.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ")
                ),
            );
            continue;
        }
        down.push(Down {
            signal: d.signal.get_ref().clone(),
            op: d.op,
            value: d.value,
            reason: d.reason.clone(),
        });
    }
    let report = metrics(cx, &what("report"), &raw.report);
    Some(Component {
        name,
        kind: raw.kind,
        description: raw.description.clone(),
        labels,
        targets,
        signals,
        sparkline,
        down,
        report,
    })
}

/// The matchers of a component's scrape targets: its labels, or `targets`; none for a
/// business component or with `targets = false`.
fn targets(
    cx: &mut Ctx,
    raw: &RawComponent,
    name: &str,
    labels: &BTreeMap<String, String>,
) -> Option<String> {
    let from_labels = || {
        labels
            .iter()
            .map(|(k, v)| {
                format!(
                    "{k}=\"{}\"",
                    crate::catalog::params::escape_promql_string(v)
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    match raw.targets.as_ref().map(|t| (t.span(), t.get_ref())) {
        None if raw.kind == Kind::Business => None,
        None | Some((_, toml::Value::Boolean(true))) => Some(from_labels()),
        Some((_, toml::Value::Boolean(false))) => None,
        Some((span, toml::Value::String(m))) => {
            match promql_parser::parser::parse(&format!("up{{{m}}}")) {
                Ok(_) => Some(m.clone()),
                Err(e) => {
                    cx.at(
                        span,
                        format!(
                            "component `{name}`: `targets` must be label matchers such as job=\"shop\": {}",
                            crate::catalog::one_line(&e)
                        ),
                    );
                    None
                }
            }
        }
        Some((span, _)) => {
            cx.at(
                span,
                format!("component `{name}`: `targets` is false or label matchers (a string)"),
            );
            None
        }
    }
}

fn signal(cx: &mut Ctx, what: &str, s: &RawSignal) -> Option<Signal> {
    let (source, labels) = cx.query_use(what, &s.query, &s.params)?;
    if let Some(top) = &s.top {
        cx.label_of(what, top.span(), &source, &labels, top.get_ref());
    }
    let levels = s.levels.as_ref().and_then(|l| levels(cx, what, l, &source));
    let fraction = match &s.fraction {
        None => None,
        Some(f) => {
            let part = cx.query_use(&format!("{what}, fraction part"), &f.part, &Params::new());
            let whole = cx.query_use(&format!("{what}, fraction whole"), &f.whole, &Params::new());
            part.zip(whole).map(|((p, _), (w, _))| (p, w))
        }
    };
    Some(Signal {
        name: s.name.get_ref().clone(),
        source,
        combine: s.combine,
        levels,
        fraction,
        top: s.top.as_ref().map(|t| t.get_ref().clone()),
    })
}

/// Levels written out (`op`, `value`, `warn`) or taken from an SLO (`slo`): a threshold
/// SLO's value and warning; a budget SLO's budget (warn, burning 1x) and 14.4 times it
/// (fail, the page burn rate), at most 50 %.
fn levels(cx: &mut Ctx, what: &str, l: &Spanned<RawLevels>, source: &Use) -> Option<Levels> {
    let r = l.get_ref();
    match (&r.slo, r.op, r.value) {
        (Some(name), None, None) if r.warn.is_none() => {
            let slo = cx.slo(what, name)?.clone();
            slo_levels(cx, what, name.span(), &slo, source)
        }
        (None, Some(op), Some(value)) if value.is_finite() => {
            if let Some(w) = r.warn {
                let healthy_side = if op.upper_bound() {
                    w <= value
                } else {
                    w >= value
                };
                if !healthy_side {
                    cx.at(
                        l.span(),
                        format!("{what}: warn = {w} must be on the healthy side of value = {value} for op \"{op}\""),
                    );
                }
            }
            Some(Levels {
                op,
                value,
                warn: r.warn,
                advisory: false,
                slo: None,
            })
        }
        _ => {
            cx.at(
                l.span(),
                format!("{what}: levels are either {{ slo = NAME }} or {{ op, value, warn }}"),
            );
            None
        }
    }
}

fn slo_levels(
    cx: &mut Ctx,
    what: &str,
    span: Range<usize>,
    slo: &Slo,
    source: &Use,
) -> Option<Levels> {
    match &slo.objective {
        Objective::Budget { target, .. } => {
            let budget = 1.0 - target;
            Some(Levels {
                op: Op::Le,
                value: (PAGE_BURN * budget).min(0.5),
                warn: Some(budget),
                advisory: false,
                slo: Some(slo.name.clone()),
            })
        }
        Objective::Threshold {
            op,
            value,
            warn,
            severity,
            expr,
            ..
        } => {
            // An SLO on a 7-day share says nothing about a 1-hour one.
            if let Some((_, params)) = &expr.query
                && let Some(w) = params.get("window")
                && source.params.get("window").is_some_and(|mine| mine != w)
            {
                cx.at(
                    span,
                    format!(
                        "{what}: SLO `{}` judges a {w} window; this signal shows {} (give it params = {{ window = \"{w}\" }} or fixed levels)",
                        slo.name,
                        source.params["window"]
                    ),
                );
                return None;
            }
            Some(Levels {
                op: *op,
                value: *value,
                warn: *warn,
                advisory: *severity == Alerting::None,
                slo: Some(slo.name.clone()),
            })
        }
    }
}

fn metrics(cx: &mut Ctx, what: &str, raw: &[RawMetric]) -> Vec<Metric> {
    let mut out: Vec<Metric> = Vec::new();
    for m in raw {
        let id = m.id.get_ref();
        if out.iter().any(|x| &x.id == id) {
            cx.at(m.id.span(), format!("{what}: two entries with id `{id}`"));
            continue;
        }
        let w = format!("{what} `{id}`");
        let Some((source, labels)) = cx.query_use(&w, &m.query, &m.params) else {
            continue;
        };
        if m.at == super::At::Period && !cx.takes_window(&source.query) {
            cx.at(
                m.query.span(),
                format!(
                    "{w}: at = \"period\" sets the query's `window` to the period, and `{}` has none (use at = \"end\" or \"peak\")",
                    source.query
                ),
            );
            continue;
        }
        let filter = m
            .filter
            .as_ref()
            .map(|f| f.get_ref().clone())
            .unwrap_or_default();
        if let Some(f) = &m.filter {
            for k in f.get_ref().keys() {
                cx.label_of(&w, f.span(), &source, &labels, k);
            }
        }
        out.push(Metric {
            id: id.clone(),
            label: m.label.clone(),
            source,
            at: m.at,
            combine: m.combine,
            better: m.better,
            filter,
        });
    }
    out
}

fn groups(
    cx: &mut Ctx,
    parsed: &Parsed,
    components: &[Component],
) -> BTreeMap<String, Vec<String>> {
    let span = parsed.groups.span();
    let mut out = BTreeMap::new();
    for (g, members) in parsed.groups.get_ref() {
        if components.iter().any(|c| &c.name == g) {
            cx.at(
                span.clone(),
                format!("group `{g}` has the name of a component"),
            );
            continue;
        }
        if members.is_empty() {
            cx.at(span.clone(), format!("group `{g}` has no components"));
        }
        for m in members {
            if !components.iter().any(|c| &c.name == m) {
                let hint = closest(m, components.iter().map(|c| c.name.as_str()))
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default();
                cx.at(
                    span.clone(),
                    format!("group `{g}` names the component `{m}`, which does not exist{hint}"),
                );
            }
        }
        out.insert(g.clone(), members.clone());
    }
    out
}

fn report(cx: &mut Ctx, parsed: &Parsed, components: &[Component]) -> Report {
    let r = &parsed.report;
    let kpis = metrics(cx, "report KPI", &r.kpis);
    let mut breakdowns: Vec<Breakdown> = Vec::new();
    for b in &r.breakdowns {
        let what = format!("report breakdown `{}`", b.id.get_ref());
        if breakdowns.iter().any(|x| x.id == *b.id.get_ref()) {
            cx.at(b.id.span(), format!("{what}: its id is used twice"));
            continue;
        }
        let Some((source, labels)) = cx.query_use(&what, &b.query, &b.params) else {
            continue;
        };
        if !cx.takes_window(&source.query) {
            cx.at(
                b.query.span(),
                format!(
                    "{what}: `{}` has no `window` to count over the period",
                    source.query
                ),
            );
        }
        for c in b.columns.get_ref() {
            cx.label_of(&what, b.columns.span(), &source, &labels, c);
        }
        breakdowns.push(Breakdown {
            id: b.id.get_ref().clone(),
            title: b.title.clone(),
            source,
            columns: b.columns.get_ref().clone(),
        });
    }
    let mut charts: Vec<Chart> = Vec::new();
    for c in &r.chart {
        if let Some(chart) = chart(cx, c, components)
            && !charts.iter().any(|x| x.id == chart.id)
        {
            charts.push(chart);
        } else if charts.iter().any(|x| x.id == *c.id.get_ref()) {
            cx.at(
                c.id.span(),
                format!("report chart `{}`: its id is used twice", c.id.get_ref()),
            );
        }
    }
    Report {
        kpis,
        breakdowns,
        charts,
    }
}

fn chart(cx: &mut Ctx, c: &super::raw::RawChart, components: &[Component]) -> Option<Chart> {
    let what = format!("report chart `{}`", c.id.get_ref());
    let shade = c
        .shade
        .as_ref()
        .map(|s| s.get_ref().clone())
        .unwrap_or_default();
    if let Some(s) = &c.shade {
        for name in s.get_ref() {
            if !components.iter().any(|x| &x.name == name) {
                cx.at(
                    s.span(),
                    format!("{what}: `shade` names `{name}`, which is not a component"),
                );
            }
        }
    }
    let kind = match (&c.daily, &c.query) {
        (Some(lines), None) => {
            let mut out = Vec::new();
            for l in lines {
                let (source, _) = cx.query_use(&what, &l.query, &l.params)?;
                if !cx.takes_window(&source.query) {
                    cx.at(
                        l.query.span(),
                        format!(
                            "{what}: a daily line counts per hour, and `{}` has no `window`",
                            source.query
                        ),
                    );
                    return None;
                }
                let right_axis = match l.axis.as_ref().map(|a| (a.span(), a.get_ref().as_str())) {
                    None | Some((_, "left")) => false,
                    Some((_, "right")) => true,
                    Some((span, other)) => {
                        cx.at(
                            span,
                            format!("{what}: axis is \"left\" or \"right\", not {other:?}"),
                        );
                        false
                    }
                };
                out.push(DailyLine {
                    label: l.label.clone(),
                    source,
                    right_axis,
                });
            }
            ChartKind::Daily(out)
        }
        (None, Some(q)) => {
            let (source, labels) = cx.query_use(&what, q, &c.params)?;
            if let Some(l) = &c.line_label {
                cx.label_of(&what, l.span(), &source, &labels, l.get_ref());
            }
            if c.at == super::At::End {
                cx.at(
                    q.span(),
                    format!(
                        "{what}: a chart is drawn over the period: at = \"period\" or \"peak\""
                    ),
                );
            }
            ChartKind::Series {
                source,
                at: c.at,
                line_label: c.line_label.as_ref().map(|l| l.get_ref().clone()),
            }
        }
        _ => {
            cx.at(
                c.id.span(),
                format!("{what}: give either `daily` lines or one `query`"),
            );
            return None;
        }
    };
    Some(Chart {
        id: c.id.get_ref().clone(),
        title: c.title.clone(),
        kind,
        shade,
    })
}

fn hints(cx: &mut Ctx, parsed: &Parsed) -> Vec<Hint> {
    let mut out = Vec::new();
    for h in &parsed.incidents.hint {
        let what = format!("incident hint on `{}`", h.query.get_ref());
        let Some((source, labels)) = cx.query_use(&what, &h.query, &h.params) else {
            continue;
        };
        if h.per_step && !cx.takes_window(&source.query) {
            cx.at(
                h.query.span(),
                format!("{what}: per_step sets its `window`, and it has none"),
            );
        }
        for name in crate::catalog::template::braced_names(h.say.get_ref()) {
            if !matches!(name.as_str(), "before" | "now" | "count") {
                cx.label_of(&what, h.say.span(), &source, &labels, &name);
            }
        }
        let unit = cx
            .catalog
            .get(&source.query)
            .map(|d| d.unit)
            .unwrap_or(crate::units::Unit::Count);
        out.push(Hint {
            source,
            unit,
            per_step: h.per_step,
            summary: h.summary,
            direction: h.direction,
            min_change: h.min_change,
            min_factor: h.min_factor,
            min_before: h.min_before,
            priority: h.priority,
            say: h.say.get_ref().clone(),
        });
    }
    out
}
