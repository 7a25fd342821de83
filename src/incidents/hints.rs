//! Cause hints: what changed during an incident compared with the hour before it, by the
//! rules of the site (`[[incidents.hint]]` in site.toml).

use std::collections::BTreeMap;

use super::{BASELINE, Points, points};
use crate::catalog::template::fill_braced;
use crate::prom::{Answer, split_by};
use crate::site::{Direction, Hint, Summary};
use crate::units::Unit;

/// Series of one hint rule: labels and points.
type Labelled = Vec<(BTreeMap<String, String>, Points)>;

/// At most this many hints per incident, strongest first.
const MAX_HINTS: usize = 5;

/// The hint signals, by rule (its index in site.toml) then labels.
#[derive(Default)]
pub(super) struct Signals {
    by_rule: BTreeMap<usize, Labelled>,
}

fn median(p: &Points, a: i64, b: i64) -> Option<f64> {
    let mut v: Vec<f64> = p.range(a..b).map(|(_, v)| *v).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some(v[v.len() / 2])
}

fn summarise(summary: Summary, v: &[f64]) -> Option<f64> {
    match summary {
        Summary::Mean | Summary::Sum => {
            (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
        }
        Summary::Max => v.iter().copied().reduce(f64::max),
        Summary::Min => v.iter().copied().reduce(f64::min),
    }
}

/// How strong a change is, past its rule's priority: the relative change, squeezed into
/// [0, 1) so that the priority decides first.
fn tiebreak(before: f64, now: f64) -> f64 {
    let rel = (now - before).abs() / before.abs().max(1e-6);
    rel.min(999.0) / 1000.0
}

impl Signals {
    /// Adds the series of one answer (a span of the signals), joining the points of the
    /// same series across spans.
    pub(super) fn add(&mut self, a: &Answer) {
        for (id, series) in split_by(&a.series, "vitals_hint") {
            let Ok(i) = id.parse::<usize>() else {
                continue;
            };
            let rule = self.by_rule.entry(i).or_default();
            for s in series {
                match rule.iter_mut().find(|(l, _)| *l == s.labels) {
                    Some((_, p)) => p.extend(points(&s)),
                    None => rule.push((s.labels.clone(), points(&s))),
                }
            }
        }
    }

    /// What changed during `[start, end]` compared with the hour before, strongest first.
    pub(super) fn hints(&self, rules: &[Hint], start: i64, end: i64, step: i64) -> Vec<String> {
        let base_from = start - BASELINE.secs() as i64;
        let mut found: Vec<(f64, String)> = Vec::new();
        for (i, rule) in rules.iter().enumerate() {
            for (labels, p) in self.by_rule.get(&i).map(|v| v.as_slice()).unwrap_or(&[]) {
                let during: Vec<f64> = p.range(start..=end).map(|(_, v)| *v).collect();
                let hint = if rule.summary == Summary::Sum {
                    count_hint(rule, p, &during, (base_from, start, end), step)
                } else {
                    change_hint(rule, p, &during, (base_from, start))
                };
                if let Some((strength, before, now, count)) = hint {
                    found.push((strength, say(rule, labels, before, now, count)));
                }
            }
        }
        found.sort_by(|a, b| b.0.total_cmp(&a.0));
        found.into_iter().take(MAX_HINTS).map(|(_, s)| s).collect()
    }
}

/// A level that moved: its median the hour before against the incident's summary.
/// Returns (strength, before, now, count).
fn change_hint(
    rule: &Hint,
    p: &Points,
    during: &[f64],
    (base_from, start): (i64, i64),
) -> Option<(f64, f64, f64, f64)> {
    let before = median(p, base_from, start)?;
    let now = summarise(rule.summary, during)?;
    let change = match rule.direction {
        Direction::Up => now - before,
        Direction::Down => before - now,
    };
    let grew = match rule.direction {
        Direction::Up => now >= rule.min_factor * before,
        Direction::Down => before >= rule.min_factor * now,
    };
    (change > 0.0 && change >= rule.min_change && grew && before >= rule.min_before)
        .then(|| (rule.priority + tiebreak(before, now), before, now, 0.0))
}

/// Events during the incident against the rate per step before it.
fn count_hint(
    rule: &Hint,
    p: &Points,
    during: &[f64],
    (base_from, start, end): (i64, i64, i64),
    step: i64,
) -> Option<(f64, f64, f64, f64)> {
    let n: f64 = during.iter().sum();
    let steps_in = ((end - start) / step + 1) as f64;
    let before: Vec<f64> = p.range(base_from..start).map(|(_, v)| *v).collect();
    let rate_before = before.iter().sum::<f64>() / before.len().max(1) as f64;
    (n >= rule.min_change.max(f64::MIN_POSITIVE) && n / steps_in >= rule.min_factor * rate_before)
        .then(|| {
            (
                rule.priority + (n / 1000.0).min(0.999),
                rate_before,
                n / steps_in,
                n,
            )
        })
}

fn say(
    rule: &Hint,
    labels: &BTreeMap<String, String>,
    before: f64,
    now: f64,
    count: f64,
) -> String {
    let unit = rule.unit;
    fill_braced(&rule.say, &|name| match name {
        "before" => Some(unit.format(before)),
        "now" => Some(unit.format(now)),
        "count" => Some(Unit::Count.format(count)),
        other => labels.get(other).cloned(),
    })
}
