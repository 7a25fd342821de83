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
//! 28-day range is too costly to read every 15 seconds). Threshold SLOs become alerts with
//! their `for` (default 5m) and severity; scrape targets get `TargetDown`, `ComponentDown`
//! and `ComponentAbsent`.

use std::fmt::Write as _;

use crate::catalog::Catalog;
use crate::duration::Duration;
use crate::slo::math::{self, BurnPair};
use crate::slo::model::{
    Alerting, Calendar, DEFAULT_FOR, Objective, Sli, Slo, SloWindow, ThresholdSource, fill_window,
};
use crate::units::Unit;

/// The record name of an SLO's error ratio over a window.
pub fn record_name(window: Duration) -> String {
    format!("slo:sli_error:ratio_rate{window}")
}

/// `mes-availability` -> `MesAvailability` (an alert name).
pub fn camel(name: &str) -> String {
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

/// The length the burn-rate windows are scaled from: the rolling window, or the calendar
/// period's usual length (a week; 30 days for a month, whose real length `check` uses).
pub fn rule_window(w: &SloWindow) -> Duration {
    match w {
        SloWindow::Rolling(d) => *d,
        SloWindow::Calendar {
            period: Calendar::Week,
            ..
        } => Duration::from_secs(7 * 86_400),
        SloWindow::Calendar {
            period: Calendar::Month,
            ..
        } => Duration::from_secs(30 * 86_400),
    }
}

/// A number as PromQL reads it, without the binary noise of `1 - 0.995`
/// (0.0050000000000000044 is written 0.005: they differ in the 17th digit).
fn num(v: f64) -> String {
    let s = format!("{:.12e}", v);
    let back: f64 = s.parse().unwrap_or(v);
    format!("{back}")
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

/// `le` matcher for a latency threshold: the spellings client libraries use for the bucket
/// (`0.5`; `1` and `1.0`), since rules are written without asking Prometheus.
fn le_matcher(threshold: f64) -> String {
    let mut forms = vec![format!("{threshold}")];
    if threshold.fract() == 0.0 {
        forms.push(format!("{threshold:.1}"));
    }
    let alts: Vec<String> = forms.iter().map(|f| f.replace('.', "\\\\.")).collect();
    format!("le=~\"{}\"", alts.join("|"))
}

/// The error-ratio expression of an SLO over `window`.
fn error_ratio(slo: &Slo, window: Duration) -> Option<String> {
    let Objective::Budget { sli, .. } = &slo.objective else {
        return None;
    };
    let g = if slo.group_by.is_empty() {
        "sum".to_string()
    } else {
        format!("sum by ({})", slo.group_by.join(", "))
    };
    Some(match sli {
        Sli::BadTotal { bad, total } => format!(
            "({})\n/\n({})",
            fill_window(bad, window),
            fill_window(total, window)
        ),
        Sli::GoodTotal { good, total } => format!(
            "1 - (\n  ({})\n  /\n  ({})\n)",
            fill_window(good, window),
            fill_window(total, window)
        ),
        Sli::Latency {
            metric,
            selector,
            threshold,
        } => {
            let sel = selector.trim().trim_end_matches(',');
            let with_le = if sel.is_empty() {
                le_matcher(*threshold)
            } else {
                format!("{sel}, {}", le_matcher(*threshold))
            };
            format!(
                "1 - (\n  {g} (rate({metric}_bucket{{{with_le}}}[{window}]))\n  /\n  {g} (rate({metric}_count{{{sel}}}[{window}]))\n)"
            )
        }
    })
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

/// The burn alert of one severity: both windows of either pair above the pair's factor; the
/// value is the long window's burn rate.
fn burn_alert(
    out: &mut String,
    slo: &Slo,
    budget: f64,
    pairs: &[BurnPair],
    sev: &str,
    window: Duration,
) {
    let sel = format!("{{slo=\"{}\"}}", slo.name);
    let terms: Vec<String> = pairs
        .iter()
        .map(|p| {
            format!(
                "(\n  {}{sel} / {b} > {f}\nand\n  {}{sel} / {b} > {f}\n)",
                record_name(p.long),
                record_name(p.short),
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
        ("component", component_label(slo)),
    ];
    l.retain(|(_, v)| !v.is_empty());
    labels(out, &l);
    let how: Vec<String> = pairs
        .iter()
        .map(|p| format!("{}x over {} and {}", p.factor, p.long, p.short))
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
}

/// The `component` label: the SLO's, or the `service` label for SLOs split by service.
fn component_label(slo: &Slo) -> String {
    if slo.group_by.iter().any(|g| g == "service") {
        "{{ $labels.service }}".into()
    } else {
        slo.component.clone()
    }
}

/// Writes the rule file for `slos`; `targets` adds the scrape-target alerts for the
/// reference system's services.
pub fn generate(slos: &[Slo], catalog: &Catalog, targets: bool, source: &str) -> String {
    let mut out = format!(
        "# Prometheus rules generated by vitals {} from {source}: do not edit, regenerate with\n# `vitals rules`. The burn-rate windows and factors are those `vitals check` uses.\ngroups:\n",
        env!("CARGO_PKG_VERSION")
    );
    let mut slo_windows: Vec<(String, String, Duration)> = Vec::new();
    for slo in slos {
        let Objective::Budget { target, window, .. } = &slo.objective else {
            continue;
        };
        let length = rule_window(window);
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
        burn_alert(&mut out, slo, budget, &page, "page", length);
        burn_alert(&mut out, slo, budget, &ticket, "ticket", length);
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
                source,
                op,
                value,
                for_,
                severity,
                ..
            } = &slo.objective
            else {
                continue;
            };
            let (promql, unit) = match source {
                ThresholdSource::Promql(p) => (p.clone(), Unit::Count),
                ThresholdSource::Query { name, params } => {
                    match catalog
                        .get(name)
                        .and_then(|d| d.expand(params).ok().map(|e| (e, d.unit)))
                    {
                        Some((e, u)) => (e.promql, u),
                        None => continue,
                    }
                }
            };
            let _ = writeln!(out, "      - alert: {}", camel(&slo.name));
            let _ = writeln!(
                out,
                "        expr: {}",
                block(
                    &format!(
                        "(\n{}\n) {} {}",
                        promql
                            .trim()
                            .lines()
                            .map(|l| format!("  {l}"))
                            .collect::<Vec<_>>()
                            .join("\n"),
                        op.violated_promql(),
                        num(*value)
                    ),
                    10
                )
            );
            let _ = writeln!(out, "        for: {}", for_.unwrap_or(DEFAULT_FOR));
            labels(
                &mut out,
                &[
                    ("severity", severity.as_str().to_string()),
                    ("slo", slo.name.clone()),
                    ("component", component_label(slo)),
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
        }
    }
    if targets {
        out.push_str("  - name: vitals-targets\n    rules:\n");
        out.push_str(
            "      - alert: TargetDown\n        expr: up == 0\n        for: 5m\n        labels:\n          severity: 'ticket'\n          component: '{{ $labels.service }}'\n        annotations:\n          summary: '{{ $labels.instance }} ({{ $labels.service }}) cannot be scraped'\n          description: 'No data from this target: its signals and SLOs go blind while it lasts.'\n",
        );
        out.push_str(
            "      - alert: ComponentDown\n        expr: sum by (service) (up) == 0\n        for: 2m\n        labels:\n          severity: 'page'\n          component: '{{ $labels.service }}'\n        annotations:\n          summary: 'every target of {{ $labels.service }} is down'\n          description: 'Prometheus reaches none of its instances.'\n",
        );
        for (name, kind) in crate::status::COMPONENTS {
            if kind == crate::status::Kind::Business {
                continue;
            }
            let _ = write!(
                out,
                "      - alert: ComponentAbsent\n        expr: absent(up{{service=\"{name}\"}})\n        for: 10m\n        labels:\n          severity: 'page'\n          component: '{name}'\n        annotations:\n          summary: 'no scrape target of {name} exists'\n          description: 'Its scrape job is gone or relabelled: nothing about it is measured.'\n"
            );
        }
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
        assert_eq!(le_matcher(0.5), r#"le=~"0\\.5""#);
        assert_eq!(le_matcher(1.0), r#"le=~"1|1\\.0""#);
        assert_eq!(num(1.0 - 0.995), "0.005");
        assert_eq!(num(14.4), "14.4");
        assert_eq!(num(4294967296.0), "4294967296");
    }

    #[test]
    fn every_rule_of_the_reference_slos_is_valid_promql() {
        let (cat, _) = Catalog::builtin();
        let (slos, p) = crate::slo::model::load(
            &crate::diag::Source::new("slo.toml", crate::slo::model::BUILTIN),
            &cat,
        );
        assert!(p.is_empty());
        let yaml = generate(&slos, &cat, true, "slo.toml");
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
    }
}
