//! OpenSLO v1: `vitals openslo export` writes the SLOs of slo.toml as OpenSLO documents,
//! `vitals openslo import` turns such documents into slo.toml entries and says precisely
//! what it cannot represent. The mapping, field by field, is in docs/openslo.md.

pub(crate) mod export;
pub(crate) mod import;
pub(crate) mod promql;
pub(crate) mod yaml;

#[cfg(test)]
mod spec_tests;

use crate::duration::Duration;
use crate::slo::model::Op;

/// The prefix of the annotations that carry what OpenSLO has no field for.
pub(crate) const ANN: &str = "vitals/";

/// The name of the DataSource document every metric source refers to.
pub(crate) const DATASOURCE: &str = "prometheus";

/// The `target` written for a threshold SLO. vitals judges a threshold at an instant and
/// has no budget for it; OpenSLO requires a target below 1. Import reads it back as
/// nothing (the `vitals/judged: instant` annotation says so).
pub(crate) const THRESHOLD_TARGET: &str = "0.99";

/// The AlertNotificationTarget of a severity.
pub(crate) fn target_name(severity: &str) -> String {
    format!("vitals-{severity}")
}

/// A name as an RFC 1123 DNS label (what every OpenSLO implementation must accept):
/// lowercase letters, digits and `-`, at most 63 characters, alphanumeric at both ends.
pub(crate) fn dns_name(s: &str) -> String {
    let mapped: String = s
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                c
            } else {
                '-'
            }
        })
        .collect();
    let mut t = mapped.trim_matches('-').to_string();
    t.truncate(63);
    let t = t.trim_end_matches('-').to_string();
    if t.is_empty() { "x".into() } else { t }
}

/// Whether `s` is a DNS label as [`dns_name`] writes them.
#[cfg(test)]
pub(crate) fn is_dns_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 63 && dns_name(s) == s
}

/// OpenSLO's comparison names.
pub(crate) fn op_name(op: Op) -> &'static str {
    match op {
        Op::Lt => "lt",
        Op::Le => "lte",
        Op::Gt => "gt",
        Op::Ge => "gte",
    }
}

pub(crate) fn op_from(name: &str) -> Option<Op> {
    Some(match name {
        "lt" => Op::Lt,
        "lte" => Op::Le,
        "gt" => Op::Gt,
        "gte" => Op::Ge,
        _ => return None,
    })
}

/// A duration as OpenSLO's duration shorthand (`28d`, `6h`, `56m`), when it is whole
/// minutes.
pub(crate) fn shorthand(d: Duration) -> Option<String> {
    if d.millis() % 60_000 != 0 || d.millis() == 0 {
        return None;
    }
    let m = d.millis() / 60_000;
    Some(if m % 1440 == 0 {
        format!("{}d", m / 1440)
    } else if m % 60 == 0 {
        format!("{}h", m / 60)
    } else {
        format!("{m}m")
    })
}

/// A duration shorthand of a fixed length (minutes, hours, days, weeks). Months, quarters
/// and years have none.
pub(crate) fn parse_shorthand(s: &str) -> Result<Duration, String> {
    let bad = || {
        format!("`{s}` is not a duration shorthand (a whole number and one of m, h, d, w, M, Q, Y)")
    };
    let unit = s.chars().last().ok_or_else(bad)?;
    let n: u64 = s[..s.len() - unit.len_utf8()].parse().map_err(|_| bad())?;
    if n == 0 {
        return Err(bad());
    }
    let size = match unit {
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        'w' => 7 * 86_400,
        'M' | 'Q' | 'Y' => {
            return Err(format!(
                "`{s}`: a rolling window of months, quarters or years has no fixed length; vitals windows are a fixed duration (e.g. 30d) or a calendar week or month"
            ));
        }
        _ => return Err(bad()),
    };
    n.checked_mul(size).map(Duration::from_secs).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_dns_labels() {
        assert_eq!(dns_name("shop-availability"), "shop-availability");
        assert_eq!(dns_name("db_memory"), "db-memory");
        assert_eq!(dns_name("_x_"), "x");
        let long = "a".repeat(70);
        assert_eq!(dns_name(&long).len(), 63);
        assert!(is_dns_name("api-5xx-ratio"));
        assert!(!is_dns_name("db_memory"));
    }

    #[test]
    fn durations_go_both_ways_in_shorthand() {
        for (secs, s) in [(28 * 86_400, "28d"), (6 * 3600, "6h"), (56 * 60, "56m")] {
            let d = Duration::from_secs(secs);
            assert_eq!(shorthand(d).as_deref(), Some(s));
            assert_eq!(parse_shorthand(s).unwrap(), d);
        }
        assert_eq!(shorthand(Duration::from_secs(280)), None);
        assert_eq!(
            parse_shorthand("2w").unwrap(),
            Duration::from_secs(14 * 86_400)
        );
        assert!(
            parse_shorthand("1M")
                .unwrap_err()
                .contains("no fixed length")
        );
        assert!(parse_shorthand("5s").is_err());
        assert!(parse_shorthand("m").is_err());
    }
}
