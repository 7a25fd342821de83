//! Prometheus rules generated from `slo.toml`: the SLOs that gate CI and the alerts that page
//! people are the same objects, so they cannot drift apart.
//!
//! For every ratio or latency SLO, one group with
//! - recording rules `slo:sli_error:ratio_rate<window>` (level `slo`, metric `sli_error`,
//!   operation `ratio_rate<window>`): the error ratio over every burn-rate window of the SRE
//!   workbook, scaled to the SLO window exactly as `vitals check` scales them;
//! - two multi-window multi-burn-rate alerts, `<Slo>BudgetBurn` with `severity="page"`
//!   (14.4x over 1h and 5m, or 6x over 6h and 30m) and `severity="ticket"` (3x over 1d and 2h,
//!   or 1x over 3d and 6h), whose value is the long window's burn rate.
//!
//! The SLO window's own ratio is recorded in a separate group evaluated every 5 minutes (a
//! 28-day range is too costly to read every 15 seconds).
//!
//! The group `vitals-slo-increases`, evaluated every 5 minutes, records what `check`,
//! `status` and `report` read instead of raw series over long windows: each budget SLO's
//! bad (or good) and total events of the last 5 minutes, `slo:sli_bad:increase5m` (or
//! `slo:sli_good:increase5m`) and `slo:sli_total:increase5m`, with the SLO's grouping and the
//! labels `slo`, `component` and `vitals_fingerprint` (the hash of the SLO's definition,
//! [`sli::fingerprint`], also listed in the file's header): a 28-day total is then a
//! `sum_over_time` of 8,064 points per group whatever the raw cardinality, and series from
//! rules older than the SLO's definition are told apart and not used. Threshold SLOs become alerts with
//! their `for` (default 5m) and severity; scrape targets get `TargetDown`, `ComponentDown`
//! and `ComponentAbsent`.
//!
//! With [`Naming::Sloth`] the budget SLOs' groups are [`sloth`]'s instead (the increases,
//! threshold and target groups stay).

use std::fmt::Write as _;

use crate::config::Config;
use crate::duration::Duration;
use crate::site::Site;
use crate::slo::math::{self, BurnPair};
use crate::slo::model::{Alerting, Calendar, DEFAULT_FOR, Objective, Slo, SloWindow};
use crate::slo::sli::{self, Le, number as num, rule_window};
use crate::units::Unit;

mod sloth;

pub(crate) use sloth::unsupported as sloth_unsupported;

/// The names and labels of the recording rules and alerts of budget SLOs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Naming {
    /// vitals' own: windows scaled to the SLO window, labels `slo` and `component`
    Vitals,
    /// Sloth's: its fixed windows and `sloth_*` labels, for dashboards built for Sloth
    Sloth,
}

/// The record name of an SLO's error ratio over a window.
pub(crate) fn record_name(window: Duration) -> String {
    format!("slo:sli_error:ratio_rate{window}")
}

/// `mes-availability` -> `MesAvailability` (an alert name).
pub(crate) fn camel(name: &str) -> String {
    name.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

/// YAML single-quoted scalar.
fn q(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A YAML block scalar (`|-`) indented by `indent` spaces.
fn block(s: &str, indent: usize) -> String {
    let pad = " ".repeat(indent);
    let mut out = String::from("|-\n");
    for line in s.lines() {
        if line.trim().is_empty() {
            out.push('\n');
        } else {
            let _ = writeln!(out, "{pad}{line}");
        }
    }
    out.pop();
    out
}

/// The error-ratio expression of an SLO over `window`.
fn error_ratio(slo: &Slo, window: Duration) -> Option<String> {
    sli::parts(slo, Le::AnySpelling).map(|p| p.error_ratio(window))
}

fn labels(out: &mut String, pairs: &[(&str, String)]) {
    out.push_str("        labels:\n");
    for (k, v) in pairs {
        let _ = writeln!(out, "          {k}: {}", q(v));
    }
}

/// How an alert shows its value, by unit.
fn value_text(unit: Unit) -> &'static str {
    match unit {
        Unit::Seconds => "{{ $value | humanizeDuration }}",
        Unit::Bytes => "{{ $value | humanize1024 }}B",
        Unit::BytesPerSecond => "{{ $value | humanize1024 }}B/s",
        Unit::Ratio => "{{ $value | humanizePercentage }}",
        Unit::Percent => "{{ printf \"%.1f\" $value }} %",
        Unit::Rps => "{{ $value | humanize }} req/s",
        Unit::PerSecond => "{{ $value | humanize }}/s",
        Unit::Count => "{{ $value | humanize }}",
    }
}

/// What one burn alert is made of.
struct Burn<'a> {
    slo: &'a Slo,
    budget: f64,
    sev: &'a str,
    /// The SLO window the budget is spent over.
    window: Duration,
    /// The recorded error ratio over one alerting window, as the alert reads it.
    ratio: &'a dyn Fn(Duration) -> String,
    /// Labels after `severity`, `slo` and `component`.
    extra: Vec<(&'a str, String)>,
}

/// The burn alert of one severity: both windows of either pair above the pair's factor; the
/// value is the long window's burn rate.
fn burn_alert(out: &mut String, site: &Site, burn: &Burn<'_>, pairs: &[BurnPair]) {
    let Burn {
        slo,
        budget,
        sev,
        window,
        ..
    } = *burn;
    let terms: Vec<String> = pairs
        .iter()
        .map(|p| {
            format!(
                "(\n  {} / {b} > {f}\nand\n  {} / {b} > {f}\n)",
                (burn.ratio)(p.long),
                (burn.ratio)(p.short),
                b = num(budget),
                f = num(p.factor)
            )
        })
        .collect();
    let _ = writeln!(out, "      - alert: {}BudgetBurn", camel(&slo.name));
    let _ = writeln!(out, "        expr: {}", block(&terms.join("\nor\n"), 10));
    let mut l = vec![
        ("severity", sev.to_string()),
        ("slo", slo.name.clone()),
        ("component", component_label(site, slo)),
    ];
    l.extend(burn.extra.iter().cloned());
    l.retain(|(_, v)| !v.is_empty());
    labels(out, &l);
    let how: Vec<String> = pairs
        .iter()
        .map(|p| format!("{}x over {} and {}", num(p.factor), p.long, p.short))
        .collect();
    let group = if slo.group_by.is_empty() {
        String::new()
    } else {
        format!(
            " for {}",
            slo.group_by
                .iter()
                .map(|g| format!("{g}={{{{ $labels.{g} }}}}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    out.push_str("        annotations:\n");
    let _ = writeln!(
        out,
        "          summary: {}",
        q(&format!(
            "{}{group} burns its error budget at {{{{ printf \"%.1f\" $value }}}}x",
            slo.name
        ))
    );
    let _ = writeln!(
        out,
        "          description: {}",
        q(&format!(
            "Errors spend the error budget ({} of events over {window}) faster than {}: {}. {}.",
            Unit::Ratio.format(budget),
            how.join(", or "),
            match sev {
                "page" => "at this rate it is gone within days",
                _ => "at this rate it runs out before the window ends",
            },
            slo.description.trim_end_matches('.')
        ))
    );
    commands_annotation(out, slo);
}

/// The `vitals` annotation: the commands an on-call engineer runs to see the alert as vitals
/// sees it, at the moment the alert was evaluated (Prometheus fills the time in). The time
/// is rounded up to the second: rounded to the nearest, it could fall before the scrape the
/// rule had just seen, and the command would not show what fired the alert.
fn commands_annotation(out: &mut String, slo: &Slo) {
    let now = "{{ with query \"ceil(vector(time()))\" }}{{ . | first | value | printf \"%.0f\" }}{{ end }}";
    let before = "{{ with query \"ceil(vector(time())) - 21600\" }}{{ . | first | value | printf \"%.0f\" }}{{ end }}";
    let _ = writeln!(
        out,
        "          vitals: {}",
        q(&format!(
            "vitals status --at {now}; vitals incidents --slo {} --from {before} --to {now}",
            slo.name
        ))
    );
}

/// The `component` label: the SLO's component, or, for an SLO of a group split by the label
/// that tells its members apart, that label's value (`{{ $labels.service }}`).
fn component_label(site: &Site, slo: &Slo) -> String {
    let members = site.groups.get(&slo.component);
    let key = members.and_then(|m| {
        m.iter()
            .filter_map(|name| site.component(name))
            .flat_map(|c| c.labels.keys())
            .find(|k| slo.group_by.contains(k))
    });
    match key {
        Some(k) => format!("{{{{ $labels.{k} }}}}"),
        None => slo.component.clone(),
    }
}

/// The header's list of each budget SLO's fingerprint.
fn fingerprints(out: &mut String, budgets: &[&Slo]) {
    if budgets.is_empty() {
        return;
    }
    out.push_str("# vitals_fingerprint of each budget SLO's definition (its recorded increases carry it;\n# vitals reads no series with another one):\n");
    for slo in budgets {
        let _ = writeln!(out, "#   {}: {}", slo.name, sli::fingerprint(slo));
    }
}

/// A recording rule group's header.
fn group(out: &mut String, name: &str, interval: Duration) {
    let _ = writeln!(
        out,
        "  - name: {name}\n    interval: {interval}\n    rules:"
    );
}

/// One recording rule of a group.
fn rule(out: &mut String, record: &str, expr: &str, tags: &[(&str, String)]) {
    let _ = writeln!(out, "      - record: {record}");
    let _ = writeln!(out, "        expr: {}", block(expr, 10));
    labels(out, tags);
}

/// The group recording every budget SLO's increases over one interval, which `check`,
/// `status` and `report` sum over long windows.
fn increases(out: &mut String, budgets: &[&Slo]) {
    if budgets.is_empty() {
        return;
    }
    group(out, "vitals-slo-increases", sli::RECORD_INTERVAL);
    for slo in budgets {
        let parts = sli::parts(slo, Le::AnySpelling).expect("budget SLO");
        let rules = parts
            .increase_rules()
            .into_iter()
            .chain([(sli::EVALUATIONS_RECORD.to_string(), "vector(1)".to_string())]);
        for (record, expr) in rules {
            rule(
                out,
                &record,
                &expr,
                &[
                    ("slo", slo.name.clone()),
                    ("component", slo.component.clone()),
                    ("vitals_fingerprint", sli::fingerprint(slo)),
                ],
            );
        }
    }
}

/// The group recording the increases of the report's KPI terms (docs/recording.md), which
/// `report` sums over its periods.
fn kpi_increases(out: &mut String, config: &Config) {
    use crate::report::recorded::{GROUP, HEARTBEAT_RECORD, TERM_RECORD, site_terms};
    let terms = site_terms(config);
    if terms.is_empty() {
        return;
    }
    group(out, GROUP, sli::RECORD_INTERVAL);
    for t in &terms {
        rule(out, TERM_RECORD, &t.rule(), &[("vitals_term", t.id())]);
        rule(
            out,
            HEARTBEAT_RECORD,
            "vector(1)",
            &[("vitals_term", t.id())],
        );
    }
}

/// The group recording, every minute, the largest value of each peak KPI per row
/// (docs/recording.md), which `report` takes the maximum of over its periods.
fn kpi_peaks(out: &mut String, config: &Config) {
    use crate::report::recorded::{
        PEAK_GROUP, PEAK_HEARTBEAT, PEAK_INTERVAL, PEAK_RECORD, peaks_id, site_peaks,
    };
    let peaks = site_peaks(config);
    if peaks.is_empty() {
        return;
    }
    group(out, PEAK_GROUP, PEAK_INTERVAL);
    for p in &peaks {
        rule(out, PEAK_RECORD, &p.rule(), &[("vitals_term", p.id())]);
    }
    rule(
        out,
        PEAK_HEARTBEAT,
        "vector(1)",
        &[("vitals_term", peaks_id(&peaks))],
    );
}

/// The group recording, every minute, the value of every signal and sparkline query of
/// `vitals status` (src/status/recorded.rs), which a screen reads instead of their raw
/// series.
fn status_signals(out: &mut String, config: &Config) {
    use crate::status::recorded::{SIGNAL_GROUP, SIGNAL_HEARTBEAT, SIGNAL_INTERVAL, SIGNAL_RECORD};
    let terms = crate::status::recorded_terms(config);
    if terms.is_empty() {
        return;
    }
    group(out, SIGNAL_GROUP, SIGNAL_INTERVAL);
    for t in &terms {
        let tags = [("vitals_signal", t.key.clone()), ("vitals_term", t.id())];
        rule(out, SIGNAL_RECORD, t.rule(), &tags);
        rule(out, SIGNAL_HEARTBEAT, "vector(1)", &tags);
    }
}

/// The group recording, every minute, whether each threshold SLO that alerts is violated
/// (docs/recording.md), which `report` sums over its periods for the time it was broken.
fn threshold_minutes(out: &mut String, slos: &[Slo]) {
    use crate::report::recorded::{
        BREACH_GROUP, BREACH_HEARTBEAT, BREACH_INTERVAL, BREACH_RECORD, Breach,
    };
    let breaches: Vec<(&Slo, Breach)> = slos
        .iter()
        .filter_map(|s| Breach::of(s).map(|b| (s, b)))
        .collect();
    if breaches.is_empty() {
        return;
    }
    group(out, BREACH_GROUP, BREACH_INTERVAL);
    for (slo, b) in &breaches {
        let tags = [
            ("slo", slo.name.clone()),
            ("component", slo.component.clone()),
            ("vitals_term", b.id()),
        ];
        rule(out, BREACH_RECORD, &b.expr, &tags);
        rule(out, BREACH_HEARTBEAT, "vector(1)", &tags);
    }
}

/// The alerts of the threshold SLOs that alert.
fn threshold_alerts(out: &mut String, site: &Site, slos: &[Slo]) {
    let thresholds: Vec<&Slo> = slos
        .iter()
        .filter(|s| {
            matches!(&s.objective, Objective::Threshold { severity, .. } if *severity != Alerting::None)
        })
        .collect();
    if !thresholds.is_empty() {
        out.push_str("  - name: vitals-thresholds\n    rules:\n");
        for slo in thresholds {
            let Objective::Threshold {
                expr,
                op,
                value,
                for_,
                severity,
                ..
            } = &slo.objective
            else {
                continue;
            };
            let (Some(violation), unit) = (sli::violation(slo), expr.unit) else {
                continue;
            };
            let _ = writeln!(out, "      - alert: {}", camel(&slo.name));
            let _ = writeln!(out, "        expr: {}", block(&violation, 10));
            let _ = writeln!(out, "        for: {}", for_.unwrap_or(DEFAULT_FOR));
            labels(
                out,
                &[
                    ("severity", severity.as_str().to_string()),
                    ("slo", slo.name.clone()),
                    ("component", component_label(site, slo)),
                ],
            );
            out.push_str("        annotations:\n");
            let _ = writeln!(
                out,
                "          summary: {}",
                q(&format!(
                    "{}: {} is not {op} {}",
                    slo.name,
                    value_text(unit),
                    unit.format(*value)
                ))
            );
            let _ = writeln!(out, "          description: {}", q(&slo.description));
            commands_annotation(out, slo);
        }
    }
}

/// `TargetDown`, `ComponentDown`, and `ComponentAbsent` per component with targets.
fn target_alerts(out: &mut String, site: &Site) {
    out.push_str("  - name: vitals-targets\n    rules:\n");
    out.push_str(
        "      - alert: TargetDown\n        expr: up == 0\n        for: 5m\n        labels:\n          severity: 'ticket'\n          component: '{{ $labels.service }}'\n        annotations:\n          summary: '{{ $labels.instance }} ({{ $labels.service }}) cannot be scraped'\n          description: 'No data from this target: its signals and SLOs go blind while it lasts.'\n",
    );
    out.push_str(
        "      - alert: ComponentDown\n        expr: sum by (service) (up) == 0\n        for: 2m\n        labels:\n          severity: 'page'\n          component: '{{ $labels.service }}'\n        annotations:\n          summary: 'every target of {{ $labels.service }} is down'\n          description: 'Prometheus reaches none of its instances.'\n",
    );
    for c in site.components.iter() {
        let Some(m) = &c.targets else {
            continue;
        };
        let name = &c.name;
        let _ = write!(
            out,
            "      - alert: ComponentAbsent\n        expr: absent(up{{{m}}})\n        for: 10m\n        labels:\n          severity: 'page'\n          component: {}\n        annotations:\n          summary: {}\n          description: 'Its scrape job is gone or relabelled: nothing about it is measured.'\n",
            q(name),
            q(&format!("no scrape target of {name} exists"))
        );
    }
}

/// Writes the rule file for `slos`; `targets` adds the scrape-target alerts for the site's
/// components.
pub(crate) fn generate(
    config: &Config,
    slos: &[Slo],
    targets: bool,
    source: &str,
    naming: Naming,
) -> String {
    let site = &config.site;
    let mut out = format!(
        "# Prometheus rules generated by vitals {} from {source}: do not edit, regenerate with\n# `vitals rules{}`. {}\n",
        env!("CARGO_PKG_VERSION"),
        match naming {
            Naming::Vitals => "",
            Naming::Sloth => " --naming sloth",
        },
        match naming {
            Naming::Vitals => "The burn-rate windows and factors are those `vitals check` uses.",
            Naming::Sloth => "Sloth's names, labels and fixed windows (docs/recording.md#sloth).",
        }
    );
    let budgets: Vec<&Slo> = slos
        .iter()
        .filter(|s| matches!(s.objective, Objective::Budget { .. }))
        .collect();
    fingerprints(&mut out, &budgets);
    let ids = sloth::Ids::new(&budgets);
    out.push_str("groups:\n");
    let mut slo_windows: Vec<(String, String, Duration)> = Vec::new();
    for slo in slos {
        let Objective::Budget { target, window, .. } = &slo.objective else {
            continue;
        };
        let length = rule_window(window);
        if naming == Naming::Sloth {
            sloth::groups(&mut out, site, slo, &ids, *target, length);
            continue;
        }
        let pairs = math::burn_pairs(length);
        let budget = 1.0 - target;
        let _ = writeln!(out, "  - name: vitals-slo-{}", slo.name);
        if let SloWindow::Calendar { period, .. } = window {
            let _ = writeln!(
                out,
                "    # A calendar {} in `check`; the burn windows here are scaled from {length}.",
                match period {
                    Calendar::Week => "week",
                    Calendar::Month => "month",
                }
            );
        }
        out.push_str("    rules:\n");
        for w in math::alert_windows(&pairs) {
            let _ = writeln!(out, "      - record: {}", record_name(w));
            let _ = writeln!(
                out,
                "        expr: {}",
                block(&error_ratio(slo, w).expect("budget SLO"), 10)
            );
            labels(
                &mut out,
                &[
                    ("slo", slo.name.clone()),
                    ("component", slo.component.clone()),
                ],
            );
        }
        let page: Vec<BurnPair> = pairs
            .iter()
            .copied()
            .filter(|p| p.severity == math::Severity::Page)
            .collect();
        let ticket: Vec<BurnPair> = pairs
            .iter()
            .copied()
            .filter(|p| p.severity == math::Severity::Ticket)
            .collect();
        let sel = format!("{{slo=\"{}\"}}", slo.name);
        let ratio = |w: Duration| format!("{}{sel}", record_name(w));
        for (sev, pairs) in [("page", &page), ("ticket", &ticket)] {
            let burn = Burn {
                slo,
                budget,
                sev,
                window: length,
                ratio: &ratio,
                extra: Vec::new(),
            };
            burn_alert(&mut out, site, &burn, pairs);
        }
        slo_windows.push((slo.name.clone(), slo.component.clone(), length));
    }
    if !slo_windows.is_empty() {
        out.push_str("  - name: vitals-slo-windows\n    interval: 5m\n    rules:\n");
        for (name, component, length) in &slo_windows {
            let slo = slos.iter().find(|s| &s.name == name).expect("listed");
            let _ = writeln!(out, "      - record: {}", record_name(*length));
            let _ = writeln!(
                out,
                "        expr: {}",
                block(&error_ratio(slo, *length).expect("budget SLO"), 10)
            );
            labels(
                &mut out,
                &[("slo", name.clone()), ("component", component.clone())],
            );
        }
    }
    increases(&mut out, &budgets);
    if targets {
        kpi_increases(&mut out, config);
        kpi_peaks(&mut out, config);
        status_signals(&mut out, config);
    }
    threshold_alerts(&mut out, site, slos);
    threshold_minutes(&mut out, slos);
    if targets {
        target_alerts(&mut out, site);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_prometheus_conventions() {
        assert_eq!(camel("mes-availability"), "MesAvailability");
        assert_eq!(camel("db-connection-saturation"), "DbConnectionSaturation");
        assert_eq!(
            record_name(Duration::from_secs(280)),
            "slo:sli_error:ratio_rate4m40s"
        );
        assert_eq!(num(1.0 - 0.995), "0.005");
        assert_eq!(num(14.4), "14.4");
        assert_eq!(num(4294967296.0), "4294967296");
    }

    #[test]
    fn every_rule_of_the_reference_slos_is_valid_promql() {
        let (config, p) = Config::builtin();
        assert!(p.is_empty());
        let yaml = generate(&config, &config.slos, true, "slo.toml", Naming::Vitals);
        // Every expression block parses.
        let mut exprs = Vec::new();
        let mut cur: Option<String> = None;
        for line in yaml.lines() {
            if let Some(c) = cur.as_mut() {
                if line.starts_with("          ") {
                    c.push_str(line.trim_start());
                    c.push('\n');
                    continue;
                }
                exprs.push(cur.take().unwrap());
            }
            if let Some(rest) = line.trim_start().strip_prefix("expr: ") {
                if rest == "|-" {
                    cur = Some(String::new());
                } else {
                    exprs.push(rest.to_string());
                }
            }
        }
        assert!(exprs.len() > 40, "{}", exprs.len());
        for e in exprs {
            assert!(promql_parser::parser::parse(&e).is_ok(), "{e}");
        }
        // One heartbeat per budget SLO in the increases group, with its fingerprint.
        let budgets = config
            .slos
            .iter()
            .filter(|s| matches!(s.objective, Objective::Budget { .. }));
        for slo in budgets {
            let beat = format!(
                "      - record: slo:sli_evaluations:5m\n        expr: |-\n          vector(1)\n        labels:\n          slo: '{}'",
                slo.name
            );
            assert!(yaml.contains(&beat), "{beat}");
            assert!(yaml.contains(&format!("vitals_fingerprint: '{}'", sli::fingerprint(slo))));
        }
    }
}
