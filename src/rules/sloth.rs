//! `vitals rules --naming sloth`: the recording rules and alerts of budget SLOs under the
//! names, labels and windows [Sloth](https://sloth.dev) generates, so Grafana dashboards and
//! queries written for Sloth read vitals' rules unchanged.
//!
//! Per budget SLO, four groups:
//! - `sloth-slo-sli-recordings-<id>`: `slo:sli_error:ratio_rate<w>` for Sloth's fixed windows
//!   (5m, 30m, 1h, 2h, 6h, 1d, 3d) with `sloth_id`, `sloth_service`, `sloth_slo` and
//!   `sloth_window`;
//! - `sloth-slo-period-recordings-<id>`, evaluated every 5 minutes: the SLO window's own ratio
//!   (`ratio_rate28d`, ...), the exact ratio of events over the window (Sloth averages its 5m
//!   ratio instead, which weights a quiet night like a busy day);
//! - `sloth-slo-meta-recordings-<id>`: `slo:objective:ratio`, `slo:error_budget:ratio`,
//!   `slo:time_period:days`, `slo:current_burn_rate:ratio`, `slo:period_burn_rate:ratio`,
//!   `slo:period_error_budget_remaining:ratio` and `sloth_slo_info`;
//! - `sloth-slo-alerts-<id>`: the page and ticket alerts over Sloth's window pairs (page: 1h
//!   with 5m spending 2 % of the budget, 6h with 30m spending 5 %; ticket: 1d with 2h and 3d
//!   with 6h, 10 % each), with `sloth_severity` beside vitals' `severity`, `slo` and
//!   `component`. The factor of a pair is the share it spends times the SLO window over the
//!   long window: 14.4, 6, 3 and 1 for 30 days; 13.44, 5.6, 2.8 and 0.93 for 28.
//!
//! `sloth_service` is the SLO's component and `sloth_slo` its name without the component's
//! prefix (`mes-availability` of `mes` is `availability`), unless that would make two SLOs of
//! one component alike; `sloth_id` is `<sloth_service>-<sloth_slo>`. The `vitals-slo-increases`
//! group and the threshold and target alerts are the same under both namings.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::{Burn, block, burn_alert, error_ratio, labels, record_name};
use crate::duration::Duration;
use crate::site::Site;
use crate::slo::math::{BurnPair, Severity};
use crate::slo::model::{Objective, Slo};
use crate::slo::sli::{number as num, rule_window};

const MIN: u64 = 60;
const HOUR: u64 = 3600;
const DAY: u64 = 86_400;

/// Sloth's alert windows: severity, long and short window, and the percent of the SLO
/// window's budget the pair spends when it fires.
const PAIRS: [(Severity, u64, u64, u64); 4] = [
    (Severity::Page, HOUR, 5 * MIN, 2),
    (Severity::Page, 6 * HOUR, 30 * MIN, 5),
    (Severity::Ticket, DAY, 2 * HOUR, 10),
    (Severity::Ticket, 3 * DAY, 6 * HOUR, 10),
];

/// The windows Sloth records, shortest first.
const WINDOWS: [u64; 7] = [5 * MIN, 30 * MIN, HOUR, 2 * HOUR, 6 * HOUR, DAY, 3 * DAY];

/// Sloth's burn pairs for an SLO window of `period`.
pub(crate) fn pairs(period: Duration) -> [BurnPair; 4] {
    PAIRS.map(|(severity, long, short, percent)| BurnPair {
        severity,
        long: Duration::from_secs(long),
        short: Duration::from_secs(short),
        factor: (percent * period.secs()) as f64 / (100 * long) as f64,
    })
}

/// Why SLOs cannot have Sloth's rules: a window no longer than Sloth's longest alerting
/// window (3 days), which a ticket pair would read beyond.
pub(crate) fn unsupported(slos: &[Slo]) -> Vec<String> {
    slos.iter()
        .filter_map(|slo| {
            let Objective::Budget { window, .. } = &slo.objective else {
                return None;
            };
            let length = rule_window(window);
            (length.secs() <= 3 * DAY).then(|| {
                format!(
                    "{}: its {length} window is not longer than Sloth's longest alerting window (3d)",
                    slo.name
                )
            })
        })
        .collect()
}

/// The `sloth_service` and `sloth_slo` of every budget SLO.
pub(crate) struct Ids(BTreeMap<String, (String, String)>);

impl Ids {
    pub(crate) fn new(budgets: &[&Slo]) -> Ids {
        let short = |slo: &Slo| {
            slo.name
                .strip_prefix(&format!("{}-", slo.component))
                .filter(|s| !s.is_empty())
                .unwrap_or(&slo.name)
                .to_string()
        };
        let mut map = BTreeMap::new();
        for slo in budgets {
            let mine = short(slo);
            let clash = budgets.iter().any(|o| {
                o.name != slo.name
                    && o.component == slo.component
                    && (short(o) == mine || o.name == mine)
            });
            let name = if clash { slo.name.clone() } else { mine };
            map.insert(slo.name.clone(), (slo.component.clone(), name));
        }
        Ids(map)
    }

    /// `(sloth_service, sloth_slo)`.
    pub(crate) fn get(&self, slo: &Slo) -> (&str, &str) {
        let (service, name) = &self.0[&slo.name];
        (service, name)
    }
}

/// The groups of one budget SLO.
pub(crate) fn groups(
    out: &mut String,
    site: &Site,
    slo: &Slo,
    ids: &Ids,
    target: f64,
    period: Duration,
) {
    let (service, name) = ids.get(slo);
    let id = format!("{service}-{name}");
    let sel = format!("{{sloth_id=\"{id}\", sloth_service=\"{service}\", sloth_slo=\"{name}\"}}");
    let with = |window: Option<Duration>| {
        let mut l: Vec<(&str, String)> = vec![
            ("slo", slo.name.clone()),
            ("component", slo.component.clone()),
            ("sloth_id", id.clone()),
            ("sloth_service", service.to_string()),
            ("sloth_slo", name.to_string()),
        ];
        if let Some(w) = window {
            l.push(("sloth_window", w.to_string()));
        }
        l
    };
    let record = |out: &mut String, name: &str, expr: &str, l: &[(&str, String)]| {
        let _ = writeln!(out, "      - record: {name}");
        let _ = writeln!(out, "        expr: {}", block(expr, 10));
        labels(out, l);
    };

    let _ = writeln!(out, "  - name: sloth-slo-sli-recordings-{id}\n    rules:");
    for w in WINDOWS.map(Duration::from_secs) {
        let expr = error_ratio(slo, w).expect("budget SLO");
        record(out, &record_name(w), &expr, &with(Some(w)));
    }
    let _ = writeln!(
        out,
        "  - name: sloth-slo-period-recordings-{id}\n    interval: 5m\n    rules:"
    );
    let expr = error_ratio(slo, period).expect("budget SLO");
    record(out, &record_name(period), &expr, &with(Some(period)));

    let _ = writeln!(out, "  - name: sloth-slo-meta-recordings-{id}\n    rules:");
    let budget = 1.0 - target;
    let per_budget = |w: Duration| {
        format!(
            "{}{sel}\n/ on (sloth_id, sloth_slo, sloth_service) group_left\nslo:error_budget:ratio{sel}",
            record_name(w)
        )
    };
    let meta = [
        ("slo:objective:ratio", format!("vector({})", num(target))),
        ("slo:error_budget:ratio", format!("vector({})", num(budget))),
        (
            "slo:time_period:days",
            format!("vector({})", num(period.secs() as f64 / DAY as f64)),
        ),
        (
            "slo:current_burn_rate:ratio",
            per_budget(Duration::from_secs(5 * MIN)),
        ),
        ("slo:period_burn_rate:ratio", per_budget(period)),
        (
            "slo:period_error_budget_remaining:ratio",
            format!("1 - slo:period_burn_rate:ratio{sel}"),
        ),
    ];
    for (name, expr) in &meta {
        record(out, name, expr, &with(None));
    }
    let mut info = with(None);
    info.extend([
        ("sloth_mode", "vitals".to_string()),
        ("sloth_objective", num(target * 100.0)),
        ("sloth_spec", "prometheus/v1".to_string()),
        (
            "sloth_version",
            format!("vitals-{}", env!("CARGO_PKG_VERSION")),
        ),
    ]);
    record(out, "sloth_slo_info", "vector(1)", &info);

    let _ = writeln!(out, "  - name: sloth-slo-alerts-{id}\n    rules:");
    // The windows' series differ in `sloth_window` only: dropping it lets `and` match them.
    let ratio = |w: Duration| format!("max without (sloth_window) ({}{sel})", record_name(w));
    let all = pairs(period);
    for sev in [Severity::Page, Severity::Ticket] {
        let these: Vec<BurnPair> = all.iter().copied().filter(|p| p.severity == sev).collect();
        let burn = Burn {
            slo,
            budget,
            sev: sev.as_str(),
            window: period,
            ratio: &ratio,
            extra: vec![("sloth_severity", sev.as_str().to_string())],
        };
        burn_alert(out, site, &burn, &these);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factors_spend_sloths_shares_of_the_budget() {
        let f = |d: u64| pairs(Duration::from_secs(d * DAY)).map(|p| num(p.factor));
        assert_eq!(f(30), ["14.4", "6", "3", "1"]);
        assert_eq!(f(28), ["13.44", "5.6", "2.8", "0.9333333333333"]);
        // Each pair spends the same share as the workbook's pair, scaled, under vitals' naming.
        for (p, w) in pairs(Duration::from_secs(28 * DAY))
            .iter()
            .zip(crate::slo::math::burn_pairs(Duration::from_secs(28 * DAY)))
        {
            let spent = |factor: f64, long: Duration| factor * long.secs() as f64;
            assert!(
                (spent(p.factor, p.long) - spent(w.factor, w.long)).abs()
                    < 1e-6 * spent(w.factor, w.long)
            );
        }
    }
}
