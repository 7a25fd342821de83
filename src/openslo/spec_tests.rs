//! The exported documents against the OpenSLO v1 specification, field by field (its
//! README: required fields, enums, name rules, references), and export -> import giving
//! back the very SLOs it started from.

use std::collections::BTreeSet;
use std::path::Path;

use super::yaml::{Node, Value, parse_stream};
use super::{export, import, is_dns_name};
use crate::config::Config;
use crate::diag::Source;

fn config_of(dir: &str) -> Config {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let read = |f: &str| {
        let p = root.join(dir).join(f);
        Source::new(p.clone(), std::fs::read_to_string(&p).unwrap())
    };
    let (config, problems) = Config::load(
        crate::catalog::Catalog::load_dir(&root.join("queries")),
        Some(&read("site.toml")),
        &read("slo.toml"),
    );
    assert!(problems.is_empty(), "{problems:#?}");
    config
}

fn configs() -> Vec<(&'static str, Config)> {
    vec![
        ("shipped", config_of(".")),
        ("payments", config_of("tests/sites/payments")),
    ]
}

fn is_shorthand(s: &str, zero_ok: bool) -> bool {
    let Some(unit) = s.chars().last() else {
        return false;
    };
    let n = &s[..s.len() - 1];
    "mhdwMQY".contains(unit)
        && !n.is_empty()
        && n.bytes().all(|b| b.is_ascii_digit())
        && (zero_ok || n.parse::<u64>().is_ok_and(|n| n > 0))
}

/// Label keys and annotation names: at most 63 characters, alphanumeric at both ends,
/// `-`, `_` and `.` between.
fn is_key_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

struct Checker {
    errors: std::cell::RefCell<Vec<String>>,
    names: BTreeSet<(String, String)>,
}

impl Checker {
    fn err(&self, e: String) {
        self.errors.borrow_mut().push(e);
    }

    fn req<'n>(&self, at: &str, n: &'n Node, key: &str) -> Option<&'n Node> {
        let v = n.get(key);
        if v.is_none() {
            self.err(format!("{at}: `{key}` is required"));
        }
        v
    }

    fn only(&self, at: &str, n: &Node, allowed: &[&str]) {
        for k in n.keys() {
            if !allowed.contains(&k) {
                self.err(format!("{at}: `{k}` is not a field of the spec"));
            }
        }
    }

    fn string(&self, at: &str, n: Option<&Node>) -> Option<String> {
        match n.map(|n| &n.value) {
            Some(Value::Scalar { text, .. }) => Some(text.clone()),
            Some(_) => {
                self.err(format!("{at}: must be a string"));
                None
            }
            None => None,
        }
    }

    fn one_of(&self, at: &str, n: Option<&Node>, values: &[&str]) {
        if let Some(v) = self.string(at, n) {
            if !values.contains(&v.as_str()) {
                self.err(format!("{at}: `{v}` is not one of {}", values.join(", ")));
            }
        }
    }

    fn refers(&self, at: &str, kind: &str, n: Option<&Node>) {
        if let Some(name) = self.string(at, n) {
            if !self.names.contains(&(kind.to_string(), name.clone())) {
                self.err(format!("{at}: no {kind} document named `{name}`"));
            }
        }
    }

    fn description(&self, at: &str, spec: &Node) {
        if let Some(d) = self.string(&format!("{at}.description"), spec.get("description")) {
            if d.chars().count() > 1050 {
                self.err(format!("{at}.description: more than 1050 characters"));
            }
        }
    }

    fn metadata(&self, at: &str, m: &Node) {
        self.only(at, m, &["name", "displayName", "labels", "annotations"]);
        if let Some(name) = self.string(
            &format!("{at}.name"),
            self.req(at, m, "name").cloned().as_ref(),
        ) {
            if !is_dns_name(&name) {
                self.err(format!("{at}.name: `{name}` is not an RFC 1123 DNS label"));
            }
        }
        if let Some(l) = m.get("labels") {
            match l.string_map() {
                Some(pairs) => {
                    for (k, _) in pairs {
                        if !is_key_name(&k) {
                            self.err(format!("{at}.labels: bad key `{k}`"));
                        }
                    }
                }
                None => self.err(format!("{at}.labels: must map keys to strings")),
            }
        }
        if let Some(a) = m.get("annotations") {
            match a.string_map() {
                Some(pairs) => {
                    for (k, _) in pairs {
                        let (prefix, name) = k.rsplit_once('/').unwrap_or(("", &k));
                        let prefix_ok = prefix.is_empty()
                            || (prefix.len() <= 253
                                && prefix != "openslo.com"
                                && prefix.split('.').all(is_dns_name));
                        if !prefix_ok || !is_key_name(name) {
                            self.err(format!("{at}.annotations: bad key `{k}`"));
                        }
                    }
                }
                None => self.err(format!("{at}.annotations: must map keys to strings")),
            }
        }
    }

    fn metric_source(&self, at: &str, part: &Node) {
        self.only(at, part, &["metricSource"]);
        let Some(ms) = self.req(at, part, "metricSource") else {
            return;
        };
        let at = format!("{at}.metricSource");
        self.only(&at, ms, &["metricSourceRef", "type", "spec"]);
        if ms.get("metricSourceRef").is_some() {
            self.refers(
                &format!("{at}.metricSourceRef"),
                "DataSource",
                ms.get("metricSourceRef"),
            );
        } else {
            self.req(&at, ms, "type");
        }
        self.string(&format!("{at}.type"), ms.get("type"));
        match self.req(&at, ms, "spec") {
            Some(s) if s.is_map() => {}
            Some(_) => self.err(format!("{at}.spec: must be a mapping")),
            None => {}
        }
    }

    fn sli_spec(&self, at: &str, spec: &Node) -> Option<&'static str> {
        self.only(at, spec, &["description", "thresholdMetric", "ratioMetric"]);
        self.description(at, spec);
        match (spec.get("ratioMetric"), spec.get("thresholdMetric")) {
            (Some(r), None) => {
                let at = format!("{at}.ratioMetric");
                self.only(
                    &at,
                    r,
                    &["counter", "good", "bad", "total", "rawType", "raw"],
                );
                if let Some(c) = self.req(&at, r, "counter") {
                    if c.boolean().is_none() {
                        self.err(format!("{at}.counter: must be a boolean"));
                    }
                }
                match (r.get("good"), r.get("bad")) {
                    (Some(p), None) | (None, Some(p)) => {
                        self.metric_source(&format!("{at}.good|bad"), p)
                    }
                    _ => self.err(format!("{at}: exactly one of `good` and `bad`")),
                }
                if let Some(t) = self.req(&at, r, "total") {
                    self.metric_source(&format!("{at}.total"), t);
                }
                Some("ratio")
            }
            (None, Some(t)) => {
                self.metric_source(&format!("{at}.thresholdMetric"), t);
                Some("threshold")
            }
            _ => {
                self.err(format!(
                    "{at}: exactly one of `ratioMetric` and `thresholdMetric`"
                ));
                None
            }
        }
    }

    fn time_window(&self, at: &str, tw: &Node) {
        match tw.items() {
            Some([w]) => {
                let wat = format!("{at}.timeWindow[0]");
                self.only(&wat, w, &["duration", "isRolling", "calendar"]);
                match self.string(
                    &format!("{wat}.duration"),
                    self.req(&wat, w, "duration").cloned().as_ref(),
                ) {
                    Some(d) if is_shorthand(&d, false) => {}
                    Some(d) => {
                        self.err(format!("{wat}.duration: `{d}` is not a duration shorthand"))
                    }
                    None => {}
                }
                let rolling = w.get("isRolling").map(|r| r.boolean());
                if rolling == Some(None) {
                    self.err(format!("{wat}.isRolling: must be a boolean"));
                }
                match (rolling.flatten(), w.get("calendar")) {
                    (Some(true), Some(_)) => {
                        self.err(format!("{wat}: a rolling window has no calendar"))
                    }
                    (Some(true), None) => {}
                    (_, Some(c)) => {
                        self.only(&format!("{wat}.calendar"), c, &["startTime", "timeZone"]);
                        let st = self
                            .req(&format!("{wat}.calendar"), c, "startTime")
                            .cloned();
                        if let Some(s) =
                            self.string(&format!("{wat}.calendar.startTime"), st.as_ref())
                        {
                            if chrono::NaiveDateTime::parse_from_str(&s, "%Y-%m-%d %H:%M:%S")
                                .is_err()
                            {
                                self.err(format!(
                                    "{wat}.calendar.startTime: `{s}` is not a date with time"
                                ));
                            }
                        }
                        let tz = self.req(&format!("{wat}.calendar"), c, "timeZone").cloned();
                        if let Some(z) =
                            self.string(&format!("{wat}.calendar.timeZone"), tz.as_ref())
                        {
                            if z.parse::<chrono_tz::Tz>().is_err() {
                                self.err(format!(
                                    "{wat}.calendar.timeZone: `{z}` is not an IANA name"
                                ));
                            }
                        }
                    }
                    (_, None) => self.err(format!("{wat}: neither rolling nor calendar")),
                }
            }
            _ => self.err(format!("{at}.timeWindow: exactly one item")),
        }
    }

    fn slo(&self, at: &str, spec: &Node) {
        self.only(
            at,
            spec,
            &[
                "description",
                "service",
                "indicator",
                "indicatorRef",
                "timeWindow",
                "budgetingMethod",
                "objectives",
                "alertPolicies",
            ],
        );
        self.description(at, spec);
        if let Some(s) = self.string(&format!("{at}.service"), spec.get("service")) {
            self.refers(
                &format!("{at}.service"),
                "Service",
                Some(&Node {
                    line: 0,
                    value: Value::Scalar {
                        text: s,
                        plain: false,
                    },
                }),
            );
        }
        let kind = match (spec.get("indicator"), spec.get("indicatorRef")) {
            (Some(i), None) => {
                let iat = format!("{at}.indicator");
                self.only(&iat, i, &["metadata", "spec"]);
                if let Some(m) = self.req(&iat, i, "metadata") {
                    self.metadata(&format!("{iat}.metadata"), m);
                }
                self.req(&iat, i, "spec")
                    .and_then(|s| self.sli_spec(&format!("{iat}.spec"), &s.clone()))
            }
            (None, Some(r)) => {
                self.refers(&format!("{at}.indicatorRef"), "SLI", Some(r));
                None
            }
            _ => {
                self.err(format!(
                    "{at}: exactly one of `indicator` and `indicatorRef`"
                ));
                None
            }
        };
        self.one_of(
            &format!("{at}.budgetingMethod"),
            self.req(at, spec, "budgetingMethod").cloned().as_ref(),
            &["Occurrences", "Timeslices", "RatioTimeslices"],
        );
        if let Some(tw) = spec.get("timeWindow") {
            self.time_window(at, tw);
        }
        let objs = self
            .req(at, spec, "objectives")
            .and_then(|o| o.items())
            .unwrap_or(&[])
            .to_vec();
        if objs.is_empty() {
            self.err(format!("{at}.objectives: at least one"));
        }
        if kind == Some("threshold") && objs.len() != 1 {
            self.err(format!(
                "{at}.objectives: one objective with a thresholdMetric"
            ));
        }
        for (i, o) in objs.iter().enumerate() {
            let oat = format!("{at}.objectives[{i}]");
            self.only(
                &oat,
                o,
                &[
                    "displayName",
                    "op",
                    "value",
                    "target",
                    "targetPercent",
                    "timeSliceTarget",
                    "timeSliceWindow",
                ],
            );
            match (
                o.get("target").map(Node::number),
                o.get("targetPercent").map(Node::number),
            ) {
                (Some(Some(t)), None) if (0.0..1.0).contains(&t) => {}
                (None, Some(Some(t))) if (0.0..100.0).contains(&t) => {}
                _ => self.err(format!(
                    "{oat}: one of `target` in [0, 1) or `targetPercent` in [0, 100)"
                )),
            }
            if kind == Some("threshold") {
                self.one_of(
                    &format!("{oat}.op"),
                    self.req(&oat, o, "op").cloned().as_ref(),
                    &["lte", "gte", "lt", "gt"],
                );
                if self.req(&oat, o, "value").and_then(Node::number).is_none() {
                    self.err(format!("{oat}.value: must be a number"));
                }
            }
        }
        if let Some(ps) = spec.get("alertPolicies") {
            for (i, p) in ps.items().unwrap_or(&[]).iter().enumerate() {
                self.refers(
                    &format!("{at}.alertPolicies[{i}].alertPolicyRef"),
                    "AlertPolicy",
                    p.get("alertPolicyRef"),
                );
            }
        }
    }

    fn document(&self, at: &str, root: &Node) {
        self.only(at, root, &["apiVersion", "kind", "metadata", "spec"]);
        self.one_of(
            &format!("{at}.apiVersion"),
            self.req(at, root, "apiVersion").cloned().as_ref(),
            &["openslo/v1"],
        );
        let kind = self
            .string(
                &format!("{at}.kind"),
                self.req(at, root, "kind").cloned().as_ref(),
            )
            .unwrap_or_default();
        if let Some(m) = self.req(at, root, "metadata") {
            self.metadata(&format!("{at}.metadata"), m);
        }
        let Some(spec) = self.req(at, root, "spec").cloned() else {
            return;
        };
        let sat = format!("{at}.spec");
        match kind.as_str() {
            "DataSource" => {
                self.only(&sat, &spec, &["description", "type", "connectionDetails"]);
                self.description(&sat, &spec);
                self.string(
                    &format!("{sat}.type"),
                    self.req(&sat, &spec, "type").cloned().as_ref(),
                );
                self.req(&sat, &spec, "connectionDetails");
            }
            "SLO" => self.slo(&sat, &spec),
            "SLI" => {
                self.sli_spec(&sat, &spec);
            }
            "AlertPolicy" => {
                self.only(
                    &sat,
                    &spec,
                    &[
                        "description",
                        "alertWhenNoData",
                        "alertWhenResolved",
                        "alertWhenBreaching",
                        "conditions",
                        "notificationTargets",
                    ],
                );
                self.description(&sat, &spec);
                for k in ["alertWhenNoData", "alertWhenResolved", "alertWhenBreaching"] {
                    if spec.get(k).is_some_and(|b| b.boolean().is_none()) {
                        self.err(format!("{sat}.{k}: must be a boolean"));
                    }
                }
                match self.req(&sat, &spec, "conditions").and_then(Node::items) {
                    Some([c]) => self.refers(
                        &format!("{sat}.conditions[0].conditionRef"),
                        "AlertCondition",
                        c.get("conditionRef"),
                    ),
                    _ => self.err(format!("{sat}.conditions: exactly one condition")),
                }
                match self
                    .req(&sat, &spec, "notificationTargets")
                    .and_then(Node::items)
                {
                    Some(ts) if !ts.is_empty() => {
                        for (i, t) in ts.iter().enumerate() {
                            self.refers(
                                &format!("{sat}.notificationTargets[{i}].targetRef"),
                                "AlertNotificationTarget",
                                t.get("targetRef"),
                            );
                        }
                    }
                    _ => self.err(format!("{sat}.notificationTargets: at least one")),
                }
            }
            "AlertCondition" => {
                self.only(&sat, &spec, &["description", "severity", "condition"]);
                self.description(&sat, &spec);
                self.string(
                    &format!("{sat}.severity"),
                    self.req(&sat, &spec, "severity").cloned().as_ref(),
                );
                if let Some(c) = self.req(&sat, &spec, "condition").cloned() {
                    let cat = format!("{sat}.condition");
                    self.only(
                        &cat,
                        &c,
                        &["kind", "op", "threshold", "lookbackWindow", "alertAfter"],
                    );
                    self.one_of(&format!("{cat}.kind"), c.get("kind"), &["burnrate"]);
                    self.one_of(
                        &format!("{cat}.op"),
                        self.req(&cat, &c, "op").cloned().as_ref(),
                        &["lte", "gte", "lt", "gt"],
                    );
                    if self
                        .req(&cat, &c, "threshold")
                        .and_then(Node::number)
                        .is_none()
                    {
                        self.err(format!("{cat}.threshold: must be a number"));
                    }
                    for (k, zero) in [("lookbackWindow", false), ("alertAfter", true)] {
                        match self.string(
                            &format!("{cat}.{k}"),
                            self.req(&cat, &c, k).cloned().as_ref(),
                        ) {
                            Some(d) if is_shorthand(&d, zero) => {}
                            Some(d) => {
                                self.err(format!("{cat}.{k}: `{d}` is not a duration shorthand"))
                            }
                            None => {}
                        }
                    }
                }
            }
            "AlertNotificationTarget" => {
                self.only(&sat, &spec, &["description", "target"]);
                self.string(
                    &format!("{sat}.target"),
                    self.req(&sat, &spec, "target").cloned().as_ref(),
                );
            }
            "Service" => {
                self.only(&sat, &spec, &["description"]);
                self.description(&sat, &spec);
            }
            k => self.err(format!("{at}.kind: `{k}` is not an OpenSLO v1 kind")),
        }
    }
}

#[test]
fn every_exported_document_follows_the_v1_specification() {
    for (what, config) in configs() {
        let yaml = export::generate(&config, &config.slos, "http://u:p@localhost:9090/").unwrap();
        assert!(!yaml.contains("u:p"), "credentials are never written");
        let docs = parse_stream(&yaml, what).unwrap();
        let mut c = Checker {
            errors: Default::default(),
            names: BTreeSet::new(),
        };
        for d in &docs {
            let kind = d
                .root
                .get("kind")
                .and_then(Node::text)
                .unwrap_or("")
                .to_string();
            let name = d
                .root
                .get("metadata")
                .and_then(|m| m.get("name"))
                .and_then(Node::text)
                .unwrap_or("")
                .to_string();
            assert!(
                c.names.insert((kind.clone(), name.clone())),
                "{what}: two {kind} named {name}"
            );
        }
        for d in &docs {
            c.document(&format!("{what} document {}", d.index), &d.root);
        }
        assert!(c.errors.borrow().is_empty(), "{:#?}", c.errors);
        let slos = docs
            .iter()
            .filter(|d| d.root.get("kind").and_then(Node::text) == Some("SLO"))
            .count();
        assert_eq!(slos, config.slos.len(), "{what}: one SLO document per SLO");
        // The checker itself catches what it is for.
        let broken = yaml
            .replacen(
                "budgetingMethod: Occurrences",
                "budgetingMethod: Sometimes",
                1,
            )
            .replacen("lookbackWindow: ", "lookbackWindow: 1x", 1);
        let c2 = Checker {
            errors: Default::default(),
            names: c.names.clone(),
        };
        for d in parse_stream(&broken, what).unwrap() {
            c2.document("broken", &d.root);
        }
        assert!(
            c2.errors
                .borrow()
                .iter()
                .any(|e| e.contains("`Sometimes` is not one of")),
            "{:#?}",
            c2.errors
        );
        assert!(
            c2.errors
                .borrow()
                .iter()
                .any(|e| e.contains("lookbackWindow: `1x")),
            "{:#?}",
            c2.errors
        );
    }
}

#[test]
fn export_then_import_gives_back_the_same_slos() {
    for (what, config) in configs() {
        let yaml = export::generate(&config, &config.slos, "http://localhost:9090").unwrap();
        let imported = import::import(&[(format!("{what}.yaml"), yaml)], &config.catalog)
            .unwrap_or_else(|p| panic!("{what}: {p:#?}"));
        assert_eq!(imported.count, config.slos.len());
        let names: Vec<String> = config
            .site
            .components
            .iter()
            .map(|c| c.name.clone())
            .chain(config.site.groups.keys().cloned())
            .collect();
        let (back, problems) = crate::slo::model::load(
            &Source::new("imported.toml", imported.toml.clone()),
            &config.catalog,
            Some(&names),
        );
        assert!(problems.is_empty(), "{problems:#?}");
        assert_eq!(back.len(), config.slos.len());
        for (a, b) in config.slos.iter().zip(&back) {
            assert_eq!(
                a, b,
                "{what}: {} differs after the round trip:\n{}",
                a.name, imported.toml
            );
        }
    }
}

#[test]
fn the_alert_conditions_are_the_burn_rate_pairs_of_the_generated_rules() {
    for (what, config) in configs() {
        let yaml = export::generate(&config, &config.slos, "http://localhost:9090").unwrap();
        let docs = parse_stream(&yaml, what).unwrap();
        fn of_kind<'a>(
            docs: &'a [super::yaml::Document],
            kind: &'a str,
        ) -> impl Iterator<Item = &'a super::yaml::Document> {
            docs.iter()
                .filter(move |d| d.root.get("kind").and_then(Node::text) == Some(kind))
        }
        let mut checked = 0;
        for slo in of_kind(&docs, "SLO") {
            let name = slo
                .root
                .get("metadata")
                .and_then(|m| m.get("labels"))
                .and_then(|l| l.get("slo"))
                .and_then(Node::text)
                .unwrap();
            let Some(policies) = slo
                .root
                .get("spec")
                .and_then(|s| s.get("alertPolicies"))
                .and_then(Node::items)
            else {
                continue;
            };
            let s = config.slos.iter().find(|s| s.name == name).unwrap();
            let rules = crate::rules::generate(
                &config,
                std::slice::from_ref(s),
                false,
                "slo.toml",
                crate::rules::Naming::Vitals,
            );
            assert_eq!(policies.len(), 4, "{name}: two page and two ticket pairs");
            for p in policies {
                let cname = p.get("alertPolicyRef").and_then(Node::text).unwrap();
                let cond = of_kind(&docs, "AlertCondition")
                    .find(|d| {
                        d.root
                            .get("metadata")
                            .and_then(|m| m.get("name"))
                            .and_then(Node::text)
                            == Some(cname)
                    })
                    .unwrap();
                let ann = |k: &str| {
                    cond.root
                        .get("metadata")
                        .and_then(|m| m.get("annotations"))
                        .and_then(|a| a.get(k))
                        .and_then(Node::text)
                        .unwrap()
                        .to_string()
                };
                let spec = cond.root.get("spec").unwrap();
                let factor = spec
                    .get("condition")
                    .and_then(|c| c.get("threshold"))
                    .and_then(Node::number)
                    .unwrap();
                let severity = spec.get("severity").and_then(Node::text).unwrap();
                // The rule of that severity names the same factor and windows.
                let said = format!(
                    "{}x over {} and {}",
                    crate::slo::sli::number(factor),
                    ann("vitals/long-window"),
                    ann("vitals/short-window")
                );
                let alert = rules
                    .split("- alert: ")
                    .find(|a| {
                        a.contains(&format!("severity: '{severity}'"))
                            || a.contains(&format!("severity: {severity}"))
                    })
                    .unwrap_or_else(|| panic!("{name}: no {severity} alert in\n{rules}"));
                assert!(
                    alert.contains(&said),
                    "{name}: `{said}` is not in the {severity} rule:\n{alert}"
                );
                checked += 1;
            }
        }
        assert!(checked >= 16, "{what}: only {checked} conditions checked");
    }
}

#[test]
fn two_exports_import_together_and_a_conflict_is_named() {
    let config = config_of(".");
    let one = |name: &str| {
        let s: Vec<_> = config
            .slos
            .iter()
            .filter(|s| s.name == name)
            .cloned()
            .collect();
        export::generate(&config, &s, "http://localhost:9090").unwrap()
    };
    let (a, b) = (one("shop-availability"), one("crm-availability"));
    let both = import::import(
        &[("a.yaml".into(), a.clone()), ("b.yaml".into(), b)],
        &config.catalog,
    )
    .unwrap();
    assert_eq!(both.count, 2);
    // The same SLO twice, or a shared document that differs, is a conflict.
    let other = a.replacen(
        "url: 'http://localhost:9090'",
        "url: 'http://other:9090'",
        1,
    );
    let e = import::import(
        &[("a.yaml".into(), a.clone()), ("c.yaml".into(), other)],
        &config.catalog,
    )
    .unwrap_err();
    assert!(
        e.iter().any(|m| m.starts_with("c.yaml:")
            && m.contains("(DataSource `prometheus`): metadata.name: a second DataSource")),
        "{e:#?}"
    );
    assert!(
        e.iter()
            .any(|m| m.contains("(SLO `shop-availability`): metadata.name: a second SLO")),
        "{e:#?}"
    );
}
