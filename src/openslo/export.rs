//! `vitals openslo export`: the SLOs of slo.toml as OpenSLO v1 documents (one YAML
//! stream). See docs/openslo.md for the mapping, field by field, and what it loses.
//!
//! Every query comes from the SLI layer (`sli::parts`, `sli::threshold`), turned into
//! OpenSLO's counter form on the PromQL syntax tree ([`super::promql`]); the burn-rate
//! windows are the ones `vitals rules` and `vitals check` use (`math::burn_pairs` of
//! `sli::rule_window`).

use std::collections::BTreeMap;
use std::fmt::Write;

use super::promql::counter_form;
use super::yaml::quote;
use super::{ANN, DATASOURCE, THRESHOLD_TARGET, dns_name, op_name, shorthand, target_name};
use crate::config::Config;
use crate::duration::Duration;
use crate::slo::math::{self, BurnPair};
use crate::slo::model::{Calendar, Objective, Sli, Slo, SloWindow};
use crate::slo::sli::{self, Le, Part};

/// One alert condition of the burn-rate windows, shared by the SLOs whose window scales
/// to the same pair.
struct Condition {
    name: String,
    pair: BurnPair,
}

/// The name of a burn-rate pair's AlertCondition and AlertPolicy (`burn-page-56m-14-4x`).
pub(crate) fn condition_name(p: &BurnPair) -> String {
    let factor = sli::number(p.factor).replace('.', "-");
    format!(
        "burn-{}-{}-{factor}x",
        p.severity.as_str(),
        shorthand(p.long).unwrap_or_else(|| p.long.to_string())
    )
}

/// A lookback window as a duration shorthand: exact when it is whole minutes, else rounded
/// up to one (the exact window is in the `vitals/long-window` annotation).
fn lookback(d: Duration) -> String {
    shorthand(d).unwrap_or_else(|| {
        let minutes = d.secs().div_ceil(60);
        format!("{minutes}m")
    })
}

fn header(out: &mut String, kind: &str, name: &str, display: &str) {
    out.push_str("---\napiVersion: openslo/v1\n");
    let _ = writeln!(out, "kind: {kind}");
    out.push_str("metadata:\n");
    let _ = writeln!(out, "  name: {name}");
    let _ = writeln!(out, "  displayName: {}", quote(display));
}

fn string_map(out: &mut String, key: &str, pairs: &[(&str, String)], indent: usize) {
    if pairs.is_empty() {
        return;
    }
    let pad = " ".repeat(indent);
    let _ = writeln!(out, "{pad}{key}:");
    for (k, v) in pairs {
        let _ = writeln!(out, "{pad}  {k}: {}", quote(v));
    }
}

fn metric_source(out: &mut String, indent: usize, query: &str) {
    let pad = " ".repeat(indent);
    let _ = writeln!(out, "{pad}metricSource:");
    let _ = writeln!(out, "{pad}  metricSourceRef: {DATASOURCE}");
    let _ = writeln!(out, "{pad}  type: Prometheus");
    let _ = writeln!(out, "{pad}  spec:");
    let _ = writeln!(out, "{pad}    query: {}", quote(query));
}

/// What cannot be exported, per SLO.
pub type Problems = Vec<String>;

/// The documents for `slos`, or what stops them (each message names the SLO and field).
pub(crate) fn generate(config: &Config, slos: &[Slo], url: &str) -> Result<String, Problems> {
    let mut problems = Vec::new();
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    for s in slos {
        let n = dns_name(&s.name);
        if let Some(other) = names.insert(n.clone(), s.name.clone()) {
            problems.push(format!(
                "SLO `{}`: its OpenSLO name `{n}` is the name of SLO `{other}` too (names are DNS labels: lowercase letters, digits and -)",
                s.name
            ));
        }
    }
    let mut conditions: Vec<Condition> = Vec::new();
    let mut slo_docs = String::new();
    for slo in slos {
        match slo_doc(slo, &mut conditions) {
            Ok(doc) => slo_docs.push_str(&doc),
            Err(e) => problems.extend(e),
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# OpenSLO v1 documents written by `vitals openslo export` from {}.\n# The vitals/ annotations carry what OpenSLO has no field for; `vitals openslo import` reads them.",
        config.slo_source.path.display()
    );
    header(&mut out, "DataSource", DATASOURCE, "Prometheus");
    out.push_str("spec:\n  description: 'The Prometheus vitals reads (its --prometheus)'\n  type: Prometheus\n  connectionDetails:\n");
    let _ = writeln!(out, "    url: {}", quote(&public_url(url)));
    if !conditions.is_empty() {
        for sev in [math::Severity::Page, math::Severity::Ticket] {
            if !conditions.iter().any(|c| c.pair.severity == sev) {
                continue;
            }
            header(
                &mut out,
                "AlertNotificationTarget",
                &target_name(sev.as_str()),
                &format!("Alertmanager, severity={}", sev.as_str()),
            );
            let _ = writeln!(
                out,
                "spec:\n  target: alertmanager\n  description: {}",
                quote(&format!(
                    "The Alertmanager route for severity=\"{}\": the label `vitals rules` puts on its burn-rate alerts",
                    sev.as_str()
                ))
            );
        }
        for c in &conditions {
            let p = &c.pair;
            let f = sli::number(p.factor);
            header(
                &mut out,
                "AlertCondition",
                &c.name,
                &format!(
                    "{}: burn rate above {f} over {} and {}",
                    p.severity.as_str(),
                    p.long,
                    p.short
                ),
            );
            string_map(
                &mut out,
                "annotations",
                &[
                    (&format!("{ANN}long-window"), p.long.to_string()),
                    (&format!("{ANN}short-window"), p.short.to_string()),
                ],
                2,
            );
            out.push_str("spec:\n");
            let _ = writeln!(
                out,
                "  description: {}",
                quote(&format!(
                    "The error budget burns faster than {f}x over {} and over {} (vitals' multi-window alert; OpenSLO has one lookback window, the short one is the vitals/short-window annotation)",
                    p.long, p.short
                ))
            );
            let _ = writeln!(out, "  severity: {}", p.severity.as_str());
            let _ = writeln!(
                out,
                "  condition:\n    kind: burnrate\n    op: gt\n    threshold: {f}\n    lookbackWindow: {}\n    alertAfter: 0m",
                lookback(p.long)
            );
        }
        for c in &conditions {
            header(
                &mut out,
                "AlertPolicy",
                &c.name,
                &format!(
                    "{} on a {}x burn",
                    c.pair.severity.as_str(),
                    sli::number(c.pair.factor)
                ),
            );
            let _ = writeln!(
                out,
                "spec:\n  description: {}\n  alertWhenNoData: false\n  alertWhenResolved: false\n  alertWhenBreaching: true\n  conditions:\n    - conditionRef: {}\n  notificationTargets:\n    - targetRef: {}",
                quote(&format!(
                    "Alert ({}) when the condition {} holds",
                    c.pair.severity.as_str(),
                    c.name
                )),
                c.name,
                target_name(c.pair.severity.as_str())
            );
        }
    }
    let mut components: Vec<&str> = slos.iter().map(|s| s.component.as_str()).collect();
    components.sort();
    components.dedup();
    for c in components {
        header(&mut out, "Service", &dns_name(c), c);
        let description = config
            .site
            .component(c)
            .map(|c| c.description.clone())
            .filter(|d| !d.is_empty())
            .or_else(|| {
                config
                    .site
                    .groups
                    .get(c)
                    .map(|m| format!("The group of {}", m.join(", ")))
            })
            .unwrap_or_else(|| format!("The component {c}"));
        let _ = writeln!(out, "spec:\n  description: {}", quote(&description));
    }
    out.push_str(&slo_docs);
    Ok(out)
}

/// The Prometheus URL without credentials (they are sent as basic auth, never written).
fn public_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string().trim_end_matches('/').to_string()
        }
        Err(_) => url.to_string(),
    }
}

/// The OpenSLO spelling of a window, or why there is none.
fn time_window(w: &SloWindow) -> Result<String, String> {
    Ok(match w {
        SloWindow::Rolling(d) => {
            let s = shorthand(*d).ok_or_else(|| {
                format!("window {d} is not whole minutes: OpenSLO durations are a number of minutes, hours, days or weeks")
            })?;
            format!("  timeWindow:\n    - duration: {s}\n      isRolling: true\n")
        }
        SloWindow::Calendar { period, tz } => {
            // 2024-01-01 is a Monday: the start of weeks and of months alike.
            let duration = match period {
                Calendar::Week => "1w",
                Calendar::Month => "1M",
            };
            format!(
                "  timeWindow:\n    - duration: {duration}\n      calendar:\n        startTime: '2024-01-01 00:00:00'\n        timeZone: {}\n      isRolling: false\n",
                quote(tz.name())
            )
        }
    })
}

fn slo_doc(slo: &Slo, conditions: &mut Vec<Condition>) -> Result<String, Problems> {
    let name = dns_name(&slo.name);
    let mut problems = Vec::new();
    let mut ann: Vec<(String, String)> = vec![(format!("{ANN}kind"), slo.kind.as_str().into())];
    let mut body = String::new();
    let on_no_data = match slo.on_no_data {
        crate::slo::model::OnNoData::Inconclusive => "inconclusive",
        crate::slo::model::OnNoData::Fail => "fail",
        crate::slo::model::OnNoData::Pass => "pass",
    };
    match &slo.objective {
        Objective::Budget {
            sli: s,
            target,
            window,
            min_events,
        } => {
            match s {
                Sli::BadTotal { bad, total } => {
                    ann.push((format!("{ANN}bad"), bad.clone()));
                    ann.push((format!("{ANN}total"), total.clone()));
                }
                Sli::GoodTotal { good, total } => {
                    ann.push((format!("{ANN}good"), good.clone()));
                    ann.push((format!("{ANN}total"), total.clone()));
                }
                Sli::Latency {
                    metric,
                    selector,
                    threshold,
                } => {
                    ann.push((format!("{ANN}histogram"), metric.clone()));
                    ann.push((format!("{ANN}selector"), selector.clone()));
                    ann.push((format!("{ANN}threshold"), sli::number(*threshold)));
                }
            }
            ann.push((format!("{ANN}min-events"), sli::number(*min_events)));
            let parts = sli::parts(slo, Le::AnySpelling).expect("a budget SLO has parts");
            body.push_str("      ratioMetric:\n        counter: true\n");
            for (part, template) in [
                (parts.first, &parts.first_promql),
                (Part::Total, &parts.total_promql),
            ] {
                match counter_form(template) {
                    Ok(q) => {
                        let _ = writeln!(body, "        {}:", part.as_str());
                        metric_source(&mut body, 10, &q);
                    }
                    Err(e) => problems.push(format!(
                        "SLO `{}`: `{}`: {e}",
                        slo.name,
                        match (part, s) {
                            (_, Sli::Latency { .. }) => "histogram",
                            (p, _) => p.as_str(),
                        }
                    )),
                }
            }
            let tw = time_window(window).unwrap_or_else(|e| {
                problems.push(format!("SLO `{}`: {e}", slo.name));
                String::new()
            });
            body.push_str("  budgetingMethod: Occurrences\n");
            body.push_str(&tw);
            let _ = writeln!(
                body,
                "  objectives:\n    - displayName: {}\n      target: {}",
                quote(&format!("{} %", sli::number(target * 100.0))),
                sli::number(*target)
            );
            let pairs = math::burn_pairs(sli::rule_window(window));
            body.push_str("  alertPolicies:\n");
            for p in pairs {
                let cname = condition_name(&p);
                if !conditions.iter().any(|c| c.name == cname) {
                    conditions.push(Condition {
                        name: cname.clone(),
                        pair: p,
                    });
                }
                let _ = writeln!(body, "    - alertPolicyRef: {cname}");
            }
        }
        Objective::Threshold { .. } => threshold_body(slo, &mut ann, &mut body),
    }
    ann.push((format!("{ANN}on-no-data"), on_no_data.into()));
    if !slo.group_by.is_empty() {
        ann.push((format!("{ANN}group-by"), slo.group_by.join(",")));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let mut out = String::new();
    header(
        &mut out,
        "SLO",
        &name,
        &format!("{}: {}", slo.component, slo.name),
    );
    string_map(
        &mut out,
        "labels",
        &[
            ("component", slo.component.clone()),
            ("slo", slo.name.clone()),
        ],
        2,
    );
    let ann_ref: Vec<(&str, String)> = ann.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    string_map(&mut out, "annotations", &ann_ref, 2);
    out.push_str("spec:\n");
    if !slo.description.is_empty() {
        let _ = writeln!(out, "  description: {}", quote(&slo.description));
    }
    let _ = writeln!(out, "  service: {}", dns_name(&slo.component));
    let _ = writeln!(
        out,
        "  indicator:\n    metadata:\n      name: {name}\n      displayName: {}\n    spec:",
        quote(&format!("{} ({})", slo.name, slo.kind.as_str()))
    );
    out.push_str(&body);
    Ok(out)
}

/// A threshold SLO's indicator and objective, and the annotations for what OpenSLO lacks.
fn threshold_body(slo: &Slo, ann: &mut Vec<(String, String)>, body: &mut String) {
    let Objective::Threshold {
        expr,
        op,
        value,
        warn,
        for_,
        severity,
    } = &slo.objective
    else {
        return;
    };
    ann.push((format!("{ANN}judged"), "instant".into()));
    if let Some((q, params)) = &expr.query {
        ann.push((format!("{ANN}query"), q.clone()));
        if !params.is_empty() {
            ann.push((
                format!("{ANN}params"),
                serde_json::to_string(params).unwrap_or_default(),
            ));
        }
    }
    if let Some(w) = warn {
        ann.push((format!("{ANN}warn"), sli::number(*w)));
    }
    if let Some(f) = for_ {
        ann.push((format!("{ANN}for"), f.to_string()));
    }
    ann.push((format!("{ANN}severity"), severity.as_str().into()));
    body.push_str("      thresholdMetric:\n");
    metric_source(body, 8, &expr.promql);
    body.push_str("  budgetingMethod: Occurrences\n");
    let _ = writeln!(
        body,
        "  objectives:\n    - displayName: {}\n      op: {}\n      value: {}\n      target: {THRESHOLD_TARGET}",
        quote(&format!("{op} {}", sli::number(*value))),
        op_name(*op),
        sli::number(*value)
    );
}
