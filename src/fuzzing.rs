//! Entry points for the fuzz targets (`fuzz/`, `scripts/fuzz`) and the property tests: the
//! loaders on text in memory, and every PromQL the commands would plan for a configuration.
//! Not an API.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::catalog::{Catalog, template};
use crate::cli::TimeArgs;
use crate::config::Config;
use crate::diag::{Problem, Source};
use crate::duration::{self, Duration};
use crate::settings::TimeSpec;
use crate::slo::model::{Objective, Sli, Slo};
use crate::slo::{math, sli, window};
use crate::{incidents, report, rules, site, status};

/// The evaluation time of the fuzz targets' plans.
pub const AT: DateTime<Utc> = match DateTime::from_timestamp(1_795_001_700, 0) {
    Some(t) => t,
    None => DateTime::<Utc>::UNIX_EPOCH,
};

/// The shipped files, as the binary has them built in: (path, text).
pub fn shipped() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = crate::catalog::BUILTIN
        .iter()
        .map(|(n, t)| (format!("queries/{n}"), t.to_string()))
        .collect();
    out.push(("site.toml".into(), site::BUILTIN.into()));
    out.push(("slo.toml".into(), crate::slo::model::BUILTIN.into()));
    out
}

/// Loads files as `vitals lint` does, from text in memory: `queries/*.toml`, `site.toml`
/// (optional) and `slo.toml`.
pub fn load(files: &[(String, String)]) -> (Config, Vec<Problem>) {
    let queries: Vec<Source> = files
        .iter()
        .filter(|(p, _)| p.starts_with("queries/"))
        .map(|(p, t)| Source::new(p, t.as_str()))
        .collect();
    let find = |name: &str| {
        files
            .iter()
            .find(|(p, _)| p == name)
            .map(|(p, t)| Source::new(p, t.as_str()))
    };
    let site = find("site.toml");
    let slos = find("slo.toml").unwrap_or_else(|| Source::new("slo.toml", ""));
    let (mut config, mut problems) =
        Config::load(Catalog::from_sources(&queries), site.as_ref(), &slos);
    // What lint adds: every query's PromQL, expanded with its defaults.
    for q in &config.catalog.queries {
        if let Some(m) = q.check_promql() {
            problems.push(Problem::new(format!("{}: {m}", q.name)));
        }
    }
    config.catalog.origin = "memory".into();
    (config, problems)
}

/// The shipped files with one of them replaced.
pub fn load_with(path: &str, text: &str) -> (Config, Vec<Problem>) {
    let mut files = shipped();
    match files.iter_mut().find(|(p, _)| p == path) {
        Some(f) => f.1 = text.to_string(),
        None => files.push((path.to_string(), text.to_string())),
    }
    load(&files)
}

/// `Ok` when PromQL parses it.
pub fn parses(promql: &str) -> Result<(), String> {
    promql_parser::parser::parse(promql)
        .map(|_| ())
        .map_err(|e| format!("{e}\n--- in ---\n{promql}"))
}

/// Scans a template and fills `{{window}}` and `{{x}}` with `value`, as the catalog and the
/// SLI layer do; then every param of every shipped query is given `value`: what renders must
/// expand to PromQL that parses (a value cannot change a query's shape).
pub fn expand(template_text: &str, value: &str) -> Result<(), String> {
    let values: BTreeMap<String, String> = [("window", value), ("x", value)]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    if let Ok(found) = template::scan(template_text) {
        for p in &found {
            if !template_text[p.span.clone()].starts_with("{{") {
                return Err(format!("placeholder span {:?} is not one", p.span));
            }
        }
    }
    let _ = template::substitute(template_text, &values);
    let _ = template::braced_names(template_text);
    let _ = template::fill_braced(template_text, &|n| (n == "x").then(|| value.to_string()));
    static SHIPPED: std::sync::OnceLock<Config> = std::sync::OnceLock::new();
    let config = SHIPPED.get_or_init(|| load(&shipped()).0);
    for q in &config.catalog.queries {
        for name in q.params.keys() {
            let mut p = BTreeMap::new();
            p.insert(name.clone(), value.to_string());
            if let Ok(e) = q.expand(&p) {
                parses(&e.promql).map_err(|m| format!("{} {name}={value:?}: {m}", q.name))?;
            }
        }
    }
    Ok(())
}

/// A fake bucket answer for every latency SLO: its threshold as Prometheus spells it.
fn buckets(slos: &[Slo]) -> sli::Buckets {
    slos.iter()
        .filter_map(|s| match &s.objective {
            Objective::Budget {
                sli: Sli::Latency { threshold, .. },
                ..
            } => Some((s.name.clone(), Ok(format!("{threshold}")))),
            _ => None,
        })
        .collect()
}

/// Every `expr:` of a generated rule file.
fn rule_exprs(yaml: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut block: Option<(usize, String)> = None;
    for line in yaml.lines() {
        let indent = line.len() - line.trim_start().len();
        if let Some((at, text)) = block.as_mut() {
            if line.trim().is_empty() || indent > *at {
                text.push_str(line.trim_start());
                text.push('\n');
                continue;
            }
            out.push(std::mem::take(text));
            block = None;
        }
        if let Some(rest) = line.trim_start().strip_prefix("expr: ") {
            if rest == "|-" {
                block = Some((indent, String::new()));
            } else {
                out.push(rest.to_string());
            }
        }
    }
    if let Some((_, text)) = block {
        out.push(text);
    }
    out
}

/// Everything the commands would ask Prometheus for this configuration at `at`, without
/// asking: the SLI layer's parts, ratios and thresholds over every window, the rules, the
/// status screen, the incidents of the longest `--since`, the default report periods. Every
/// PromQL must parse and no date arithmetic may overflow; returns how many were planned.
pub fn plan_everything(config: &Config, at: DateTime<Utc>) -> Result<usize, String> {
    let mut exprs: Vec<String> = Vec::new();
    let buckets = buckets(&config.slos);
    for slo in &config.slos {
        let resolved = match &slo.objective {
            Objective::Budget { window, .. } => Some(window::resolve(window, at)),
            Objective::Threshold { .. } => None,
        };
        if let Some(r) = &resolved {
            if r.start > r.end {
                return Err(format!("{}: window starts after it ends: {r:?}", slo.name));
            }
        }
        let mut windows: Vec<Duration> = sli::pairs_at(slo, at)
            .map(|(_, p)| math::alert_windows(&p))
            .unwrap_or_default();
        windows.extend(resolved.as_ref().map(|r| r.length));
        // What `check` asks over the window so far: at least a minute (eval's windows_of).
        windows.extend(
            resolved
                .as_ref()
                .map(|r| r.elapsed.max(Duration::from_secs(60))),
        );
        for le in [sli::Le::AnySpelling, sli::Le::Found("0.25")] {
            if let Some(parts) = sli::parts(slo, le) {
                for w in &windows {
                    exprs.push(parts.error_ratio(*w));
                }
                let labelled: Vec<(String, Duration)> =
                    windows.iter().map(|w| (w.to_string(), *w)).collect();
                exprs.push(parts.over_windows(&labelled));
            }
        }
        if let (Ok(Some(parts)), Objective::Budget { window, .. }) =
            (sli::parts_with(slo, &buckets), &slo.objective)
        {
            exprs.push(parts.error_ratio(sli::rule_window(window)));
        }
        exprs.extend(sli::threshold(slo).map(|t| t.promql.clone()));
        exprs.extend(sli::violation(slo));
        exprs.extend(sli::violated_bool(slo));
        exprs.extend(sli::bucket_query(slo));
        for w in [Duration::from_secs(3600), duration::MAX] {
            exprs.extend(sli::minutes_violated(slo, w, sli::sample_step(w)));
            exprs.extend(sli::threshold_over(slo, &config.catalog, w));
        }
    }
    exprs.extend(crate::slo::eval::data_start_request(&config.slos, at).map(|r| r.promql));
    let yaml = rules::generate(
        config,
        &config.slos,
        true,
        "slo.toml",
        rules::Naming::Vitals,
    );
    exprs.extend(rule_exprs(&yaml));
    let terms = status::recorded_terms(config);
    exprs.extend(status::recorded::probe(&terms, at).map(|r| r.promql));
    for choice in [
        status::recorded::Choice::raw(),
        status::recorded::Choice::all_recorded(&terms),
    ] {
        let (signals, sparks) = status::requests(config, at, &choice);
        exprs.push(signals.promql);
        exprs.push(sparks.promql);
    }
    let since = TimeArgs {
        since: Some(duration::MAX.to_string()),
        ..Default::default()
    };
    if let Ok(TimeSpec::Range { start, end, .. }) = since.resolve(at) {
        let step = incidents::choose_step(&config.slos, start, end, None);
        // Raw, and every burn rate from recorded increases (at a step of whole intervals).
        let all: std::collections::BTreeSet<String> =
            config.slos.iter().map(|s| s.name.clone()).collect();
        let interval = crate::slo::sli::RECORD_INTERVAL.secs();
        let whole = Duration::from_secs(step.secs().div_ceil(interval).max(1) * interval);
        for (step, recorded) in [(step, Default::default()), (whole, all)] {
            let plan = incidents::Plan::new(
                config,
                &config.slos,
                (start, end),
                step,
                true,
                &buckets,
                &recorded,
            );
            exprs.extend(plan.requests().map(|r| r.promql.clone()));
        }
    }
    for tz in [Tz::UTC, chrono_tz::America::Santiago] {
        if let Ok(p) = report::period::resolve(None, None, None, None, tz, at) {
            let _ = p.previous(tz);
        }
    }
    // An empty expression is not sent (`Prom::run`): a site without signals.
    for e in exprs.iter().filter(|e| !e.trim().is_empty()) {
        parses(e)?;
    }
    Ok(exprs.len())
}
