//! Runs of steps, and conditions grouped into incidents.

use super::{Incident, Member};

/// Gaps of up to this many steps inside a condition do not split it (an alert that flaps
/// for a minute is one incident).
const MERGE_GAP_STEPS: i64 = 2;

/// Runs of consecutive grid times (gaps of up to [`MERGE_GAP_STEPS`] merged), as
/// `(first, last)` step times.
pub(super) fn runs(times: impl IntoIterator<Item = i64>, step: i64) -> Vec<(i64, i64)> {
    merge(strict_runs(times, step), step)
}

/// Runs of grid times one step apart, without a gap, as `(first, last)` step times.
pub(super) fn strict_runs(times: impl IntoIterator<Item = i64>, step: i64) -> Vec<(i64, i64)> {
    let mut out: Vec<(i64, i64)> = Vec::new();
    for t in times {
        match out.last_mut() {
            Some(r) if t - r.1 <= step => r.1 = t,
            _ => out.push((t, t)),
        }
    }
    out
}

/// Runs (in time order) with gaps of up to [`MERGE_GAP_STEPS`] between them merged.
pub(super) fn merge(runs: impl IntoIterator<Item = (i64, i64)>, step: i64) -> Vec<(i64, i64)> {
    let mut out: Vec<(i64, i64)> = Vec::new();
    for (a, b) in runs {
        match out.last_mut() {
            Some(r) if a - r.1 <= step * (MERGE_GAP_STEPS + 1) => r.1 = b,
            _ => out.push((a, b)),
        }
    }
    out
}

/// Groups conditions into incidents: those that set bounds overlap (or touch within a step);
/// trailing ones join the incident they overlap most, or stand alone.
pub(super) fn group(mut members: Vec<Member>, step: i64) -> Vec<Incident> {
    members.sort_by_key(|m| (m.start_s, m.end_s));
    let (leading, trailing): (Vec<Member>, Vec<Member>) =
        members.into_iter().partition(|m| !m.trailing);
    let mut incidents: Vec<Incident> = Vec::new();
    let new = |m: Member| Incident {
        id: 0,
        start: String::new(),
        end: None,
        duration_seconds: 0.0,
        ongoing: false,
        severity: m.severity,
        component: String::new(),
        components: vec![],
        title: String::new(),
        start_s: m.start_s,
        end_s: m.end_s,
        conditions: vec![m],
        cause: vec![],
    };
    for m in leading {
        match incidents.last_mut() {
            Some(i) if m.start_s <= i.end_s + step => {
                i.end_s = i.end_s.max(m.end_s);
                i.severity = i.severity.max(m.severity);
                i.conditions.push(m);
            }
            _ => incidents.push(new(m)),
        }
    }
    for m in trailing {
        let best = incidents
            .iter_mut()
            .map(|i| {
                let overlap = m.end_s.min(i.end_s) - m.start_s.max(i.start_s);
                (overlap, i)
            })
            .filter(|(o, _)| *o >= 0)
            .max_by_key(|(o, _)| *o);
        match best {
            Some((_, i)) => {
                i.severity = i.severity.max(m.severity);
                i.conditions.push(m);
            }
            None => incidents.push(new(m)),
        }
    }
    incidents.sort_by_key(|i| (i.start_s, i.end_s));
    incidents
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::incidents::Severity;

    fn member(start: i64, end: i64, trailing: bool, sev: Severity) -> Member {
        Member {
            name: format!("m{start}"),
            labels: BTreeMap::new(),
            component: "c".into(),
            severity: sev,
            start: String::new(),
            end: String::new(),
            peak: None,
            peak_text: String::new(),
            trailing,
            start_s: start,
            end_s: end,
        }
    }

    #[test]
    fn runs_merge_short_gaps_only() {
        assert_eq!(runs([0, 60, 120, 300, 600], 60), vec![(0, 300), (600, 600)]);
        assert_eq!(runs([], 60), vec![]);
    }

    #[test]
    fn a_for_is_judged_on_runs_without_a_gap() {
        // Bad at 0 and 6m with good samples between: two one-sample runs, neither of
        // which held for 5m, though merged they would span 6m.
        let bad = [0, 360];
        assert_eq!(runs(bad, 120), vec![(0, 360)]);
        assert_eq!(strict_runs(bad, 120), vec![(0, 0), (360, 360)]);
        // Runs that held are merged across short gaps afterwards.
        assert_eq!(merge([(0, 300), (480, 900)], 120), vec![(0, 900)]);
        assert_eq!(
            merge([(0, 300), (900, 1200)], 120),
            vec![(0, 300), (900, 1200)]
        );
    }

    #[test]
    fn overlapping_conditions_make_one_incident_and_trailing_ones_do_not_stretch_it() {
        let inc = group(
            vec![
                member(1000, 4000, false, Severity::Page),
                member(3000, 5000, false, Severity::Ticket),
                member(3500, 9000, true, Severity::Page),
                member(20000, 21000, true, Severity::Ticket),
            ],
            120,
        );
        assert_eq!(inc.len(), 2);
        assert_eq!((inc[0].start_s, inc[0].end_s), (1000, 5000));
        assert_eq!(inc[0].conditions.len(), 3);
        assert_eq!(inc[0].severity, Severity::Page);
        // A trailing condition on its own is an incident with its own bounds.
        assert_eq!((inc[1].start_s, inc[1].end_s), (20000, 21000));
    }
}
