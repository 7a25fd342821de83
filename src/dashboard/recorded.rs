//! Which SLOs a deployed rule file records: the dashboard reads their recorded series
//! (`slo:sli_error:ratio_rate<window>{slo="..."}`) instead of the raw SLI expressions only
//! when every window its panels need is recorded for that SLO.

use std::collections::BTreeSet;

use crate::rules::record_name;
use crate::slo::math;
use crate::slo::model::{Objective, Slo};
use crate::slo::sli::rule_window;

/// The `(record, slo label)` pairs of a Prometheus rule file, in the layout `vitals rules`
/// writes (and most hand-written files use): `- record: NAME` items with a `slo:` label.
fn records(yaml: &str) -> BTreeSet<(String, String)> {
    let unquote = |v: &str| -> String {
        let v = v.trim();
        let v = v.split(" #").next().unwrap_or(v).trim();
        if v.len() >= 2
            && ((v.starts_with('\'') && v.ends_with('\''))
                || (v.starts_with('"') && v.ends_with('"')))
        {
            v[1..v.len() - 1].replace("''", "'")
        } else {
            v.to_string()
        }
    };
    let mut out = BTreeSet::new();
    let mut current: Option<String> = None;
    for line in yaml.lines() {
        let t = line.trim_start().trim_start_matches("- ").trim_start();
        if let Some(r) = t.strip_prefix("record:") {
            current = Some(unquote(r));
        } else if t.starts_with("alert:") {
            current = None;
        } else if let (Some(r), Some(v)) = (&current, t.strip_prefix("slo:")) {
            out.insert((r.clone(), unquote(v)));
        }
    }
    out
}

/// The record names the dashboard reads for a budget SLO: every burn-rate window and the
/// SLO window (None for a threshold SLO).
pub(crate) fn needed(slo: &Slo) -> Option<Vec<String>> {
    let Objective::Budget { window, .. } = &slo.objective else {
        return None;
    };
    let length = rule_window(window);
    let mut w = math::alert_windows(&math::burn_pairs(length));
    w.push(length);
    let mut names: Vec<String> = w.into_iter().map(record_name).collect();
    names.sort();
    names.dedup();
    Some(names)
}

/// The budget SLOs whose recorded series the rule file has, and for the others what is
/// missing (they fall back to the SLI expressions).
pub(crate) fn recorded_slos(yaml: &str, slos: &[Slo]) -> (BTreeSet<String>, Vec<String>) {
    let have = records(yaml);
    let mut yes = BTreeSet::new();
    let mut missing = Vec::new();
    for slo in slos {
        let Some(names) = needed(slo) else {
            continue;
        };
        let absent: Vec<&String> = names
            .iter()
            .filter(|n| !have.contains(&((*n).clone(), slo.name.clone())))
            .collect();
        if absent.is_empty() {
            yes.insert(slo.name.clone());
        } else {
            missing.push(format!(
                "{}: the rule file does not record {}",
                slo.name,
                absent
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    (yes, missing)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn the_rules_vitals_writes_record_every_budget_slo() {
        let (config, _) = Config::builtin();
        let yaml = crate::rules::generate(
            &config,
            &config.slos,
            true,
            "slo.toml",
            crate::rules::Naming::Vitals,
        );
        let (yes, missing) = recorded_slos(&yaml, &config.slos);
        assert!(missing.is_empty(), "{missing:?}");
        let budget: BTreeSet<String> = config
            .slos
            .iter()
            .filter(|s| needed(s).is_some())
            .map(|s| s.name.clone())
            .collect();
        assert_eq!(yes, budget);
        assert!(yes.len() >= 5, "{yes:?}");
    }

    #[test]
    fn rules_of_one_slo_leave_the_others_on_the_sli() {
        let (config, _) = Config::builtin();
        let one = config.select(&["mes-availability".into()], &[]).unwrap();
        let yaml = crate::rules::generate(
            &config,
            &one,
            false,
            "slo.toml",
            crate::rules::Naming::Vitals,
        );
        let (yes, missing) = recorded_slos(&yaml, &config.slos);
        assert_eq!(yes, BTreeSet::from(["mes-availability".to_string()]));
        assert!(
            missing.iter().any(|m| m.starts_with("shop-availability: ")),
            "{missing:?}"
        );
        // A file missing one window does not count.
        let first = &needed(config.slo("mes-availability").unwrap()).unwrap()[0];
        let cut = yaml.replace(&format!("{first}\n"), &format!("{first}_other\n"));
        assert_ne!(cut, yaml);
        let (yes, _) = recorded_slos(&cut, &config.slos);
        assert!(yes.is_empty());
    }
}
