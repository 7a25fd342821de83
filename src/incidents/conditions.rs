//! From a source's answer to the conditions that held: burn-rate pairs of a budget SLO,
//! a threshold broken for its `for`, scrape targets down, restarts.

use std::collections::BTreeMap;

use super::group::{merge, runs, strict_runs};
use super::{Kind, Member, Points, Severity, SourceDef, points};
use crate::duration::Duration;
use crate::prom::{Answer, Series, split_by};
use crate::site::Site;
use crate::slo::math::{self, BurnPair};
use crate::slo::model::Op;
use crate::timespec::{format_time, from_unix_seconds};
use crate::units::Unit;

/// What every condition of one source shares while it is read.
struct Reader<'a> {
    src: &'a SourceDef,
    site: &'a Site,
    step: i64,
    /// The range searched, Unix seconds.
    from: i64,
    to: i64,
    out: Vec<Member>,
}

/// A condition before it is written out.
struct Held {
    labels: BTreeMap<String, String>,
    component: String,
    severity: Severity,
    span: (i64, i64),
    peak: Option<f64>,
    peak_text: String,
    trailing: bool,
}

impl Reader<'_> {
    fn push(&mut self, h: Held) {
        self.out.push(Member {
            name: self.src.name.clone(),
            labels: h.labels,
            component: h.component,
            severity: h.severity,
            start: format_time(from_unix_seconds(h.span.0 as f64)),
            end: format_time(from_unix_seconds(h.span.1 as f64)),
            peak: h.peak,
            peak_text: h.peak_text,
            trailing: h.trailing,
            start_s: h.span.0,
            end_s: h.span.1,
        });
    }

    fn in_range(&self, t: i64) -> bool {
        t >= self.from && t <= self.to
    }

    /// The group labels of a series (all its labels without a grouping).
    fn group_of(&self, s: &Series, all_without: bool) -> BTreeMap<String, String> {
        if all_without && self.src.group_by.is_empty() {
            return s.labels.clone();
        }
        self.src
            .group_by
            .iter()
            .filter_map(|k| s.labels.get(k).map(|v| (k.clone(), v.clone())))
            .collect()
    }

    /// The component a condition belongs to: the one member of the SLO's group its labels
    /// identify, else the SLO's own component.
    fn component_of(&self, labels: &BTreeMap<String, String>) -> String {
        match self
            .site
            .members_for(&self.src.component, labels)
            .as_slice()
        {
            [one] => one.to_string(),
            _ => self.src.component.clone(),
        }
    }
}

/// The conditions in one source's answer, within `(from, to)` (Unix seconds).
pub(super) fn of(
    src: &SourceDef,
    site: &Site,
    a: &Answer,
    step: i64,
    (from, to): (i64, i64),
) -> Vec<Member> {
    let mut r = Reader {
        src,
        site,
        step,
        from,
        to,
        out: Vec::new(),
    };
    match &src.kind {
        Kind::Burn {
            target,
            pairs,
            good_total,
        } => burns(&mut r, a, 1.0 - target, pairs, *good_total),
        Kind::Threshold(t) => {
            for s in &a.series {
                threshold(&mut r, s, t);
            }
        }
        Kind::TargetDown => targets_down(&mut r, a),
        Kind::Restart => restarts(&mut r, a),
    }
    r.out
}

/// Bad and total events per step of one group: `time -> (bad, total)`.
type Events = BTreeMap<i64, (f64, f64)>;

/// A budget SLO's groups as events per step (increase = rate x step). A missing `bad`
/// series means no bad events; a missing `good` one means no data.
fn events_by_group(
    r: &Reader,
    a: &Answer,
    good_total: bool,
) -> BTreeMap<BTreeMap<String, String>, Events> {
    let mut groups: BTreeMap<BTreeMap<String, String>, BTreeMap<String, Points>> = BTreeMap::new();
    for (part, series) in split_by(&a.series, "vitals_part") {
        for s in series {
            groups
                .entry(r.group_of(&s, false))
                .or_default()
                .insert(part.clone(), points(&s));
        }
    }
    let st = r.step as f64;
    groups
        .into_iter()
        .filter_map(|(g, parts)| {
            let total = parts.get("total")?;
            let events = total
                .iter()
                .filter_map(|(t, tot)| {
                    let b = if good_total {
                        (tot - parts.get("good")?.get(t)?).max(0.0)
                    } else {
                        parts
                            .get("bad")
                            .and_then(|p| p.get(t))
                            .copied()
                            .unwrap_or(0.0)
                    };
                    Some((*t, (b * st, tot * st)))
                })
                .collect();
            Some((g, events))
        })
        .collect()
}

/// A group's events with running sums, so the burn rate over any window is two lookups:
/// a week at the 10-minute incident step has ~1,000 steps, and each is judged over windows
/// of up to three days for every pair (summing each window step by step took seconds).
struct Cumulative {
    times: Vec<i64>,
    /// Sums of (bad, total) before index i; `sums[0]` is zero.
    sums: Vec<(f64, f64)>,
    /// How many steps before index i had bad / total events: a window without any reads as
    /// exactly zero / no traffic, whatever the rounding of the running sums.
    nonzero: Vec<(u32, u32)>,
}

impl Cumulative {
    fn new(events: &Events) -> Cumulative {
        let mut c = Cumulative {
            times: Vec::with_capacity(events.len()),
            sums: Vec::with_capacity(events.len() + 1),
            nonzero: Vec::with_capacity(events.len() + 1),
        };
        let (mut b, mut tot, mut nb, mut nt) = (0.0, 0.0, 0, 0);
        c.sums.push((b, tot));
        c.nonzero.push((nb, nt));
        for (t, (x, y)) in events {
            c.times.push(*t);
            b += x;
            tot += y;
            nb += u32::from(*x != 0.0);
            nt += u32::from(*y != 0.0);
            c.sums.push((b, tot));
            c.nonzero.push((nb, nt));
        }
        c
    }

    /// The burn rate over the window of `w` ending at `t` (the steps in `(t - w, t]`).
    fn burn_at(&self, step: i64, budget: f64, t: i64, w: Duration) -> Option<f64> {
        let n = ((w.secs_f64() / step as f64).round() as i64).max(1);
        let lo = self.times.partition_point(|x| *x < t - (n - 1) * step);
        let hi = self.times.partition_point(|x| *x <= t);
        if hi <= lo || self.nonzero[hi].1 == self.nonzero[lo].1 {
            return None;
        }
        let tot = self.sums[hi].1 - self.sums[lo].1;
        let b = if self.nonzero[hi].0 == self.nonzero[lo].0 {
            0.0
        } else {
            self.sums[hi].0 - self.sums[lo].0
        };
        (tot > 0.0).then(|| b.max(0.0) / tot / budget)
    }
}

/// Steps where a pair of each severity fired, `[ticket, page]`: (burn, lowest pair).
fn firing_steps(
    r: &Reader,
    sums: &Cumulative,
    budget: f64,
    pairs: &[BurnPair],
) -> [BTreeMap<i64, (f64, BurnPair)>; 2] {
    // A pair is judged only once data covers its long window: the first minutes of a
    // history would otherwise "burn" on a handful of events.
    let first = sums.times.first().copied().unwrap_or(i64::MAX);
    let mut firing: [BTreeMap<i64, (f64, BurnPair)>; 2] = Default::default();
    for t in sums.times.iter().copied().filter(|t| r.in_range(*t)) {
        for p in pairs {
            if t - (p.long.secs() as i64) + r.step < first {
                continue;
            }
            let burn = |w| sums.burn_at(r.step, budget, t, w);
            let (Some(l), Some(s)) = (burn(p.long), burn(p.short)) else {
                continue;
            };
            if l > p.factor && s > p.factor {
                let k = usize::from(p.severity == math::Severity::Page);
                let e = firing[k].entry(t).or_insert((l, *p));
                if p.factor < e.1.factor {
                    *e = (l.max(e.0), *p);
                } else {
                    e.0 = e.0.max(l);
                }
            }
        }
    }
    firing
}

fn burns(r: &mut Reader, a: &Answer, budget: f64, pairs: &[BurnPair], good_total: bool) {
    for (g, events) in events_by_group(r, a, good_total) {
        let sums = Cumulative::new(&events);
        let firing = firing_steps(r, &sums, budget, pairs);
        // Page conditions first: their problem is delimited per step. Ticket conditions of
        // the same episode then only join it.
        let mut paged: Vec<(i64, i64)> = Vec::new();
        for (k, sev) in [(1, Severity::Page), (0, Severity::Ticket)] {
            for (cs, ce) in runs(firing[k].keys().copied(), r.step) {
                let held: Vec<&(f64, BurnPair)> =
                    firing[k].range(cs..=ce).map(|(_, v)| v).collect();
                let peak = held.iter().map(|h| h.0).fold(0.0, f64::max);
                let pair = held
                    .iter()
                    .map(|h| h.1)
                    .min_by(|a, b| a.factor.total_cmp(&b.factor))
                    .expect("a run has steps");
                let joins = sev == Severity::Ticket
                    && paged
                        .iter()
                        .any(|(a, b)| cs <= *b + r.step && ce + r.step >= *a);
                let (a, b) = if joins {
                    (cs, ce)
                } else {
                    problem_extent(r, &sums, budget, sev, &pair, (cs, ce))
                };
                // A run's first step covers the step before it.
                let a = (a - r.step).max(r.from);
                if sev == Severity::Page {
                    paged.push((a, b));
                }
                let component = r.component_of(&g);
                r.push(Held {
                    labels: g.clone(),
                    component,
                    severity: sev,
                    span: (a, b.min(r.to)),
                    peak: Some(peak),
                    peak_text: format!("{} burn", crate::slo::eval::burn_text(peak)),
                    trailing: joins,
                });
            }
        }
    }
}

/// The problem itself around a condition `(cs, ce)`: the steps burning faster than the
/// lowest factor that fired, back to that pair's long window. A page pair is read per
/// step; a ticket pair (slow, low factors) over its short window.
fn problem_extent(
    r: &Reader,
    sums: &Cumulative,
    budget: f64,
    sev: Severity,
    pair: &BurnPair,
    (cs, ce): (i64, i64),
) -> (i64, i64) {
    let window = if sev == Severity::Page {
        Duration::from_secs(r.step as u64)
    } else {
        pair.short
    };
    let hot = sums.times.iter().copied().filter(|t| {
        sums.burn_at(r.step, budget, *t, window)
            .is_some_and(|b| b > pair.factor)
    });
    let lo = cs - pair.long.secs() as i64;
    runs(hot, r.step)
        .into_iter()
        .filter(|(a, b)| *b >= lo && *a <= ce)
        .fold(None, |acc: Option<(i64, i64)>, (a, b)| match acc {
            None => Some((a, b)),
            Some((x, y)) => Some((x.min(a), y.max(b))),
        })
        .unwrap_or((cs, ce))
}

/// A threshold SLO as its conditions are read.
#[derive(Clone, Debug)]
pub(super) struct Threshold {
    pub op: Op,
    pub value: f64,
    pub warn: Option<f64>,
    pub for_: Duration,
    pub trailing: bool,
    pub unit: Unit,
}

fn threshold(r: &mut Reader, s: &Series, t: &Threshold) {
    let labels = r.group_of(s, true);
    let component = r.component_of(&labels);
    let pts = points(s);
    let bad = pts
        .iter()
        .filter(|(_, v)| !t.op.holds(**v, t.value))
        .map(|(t, _)| *t);
    let early = pts
        .iter()
        .filter(|(_, v)| !t.op.holds(**v, t.warn.unwrap_or(t.value)))
        .map(|(t, _)| *t)
        .collect::<Vec<_>>();
    // `for`: the condition must hold that long without a break (from the first step it was
    // seen to the last) before it alerts, as Prometheus judges it; runs that alerted are
    // then merged across short gaps.
    let alerted = strict_runs(bad, r.step)
        .into_iter()
        .filter(|(cs, ce)| (ce - cs) as u64 >= t.for_.secs());
    for (cs, ce) in merge(alerted, r.step) {
        if ce < r.from || cs > r.to {
            continue;
        }
        let extent = if t.trailing {
            (cs, ce)
        } else {
            runs(early.iter().copied(), r.step)
                .into_iter()
                .find(|(a, b)| *a <= cs && *b >= ce)
                .unwrap_or((cs, ce))
        };
        let worst = pts.range(cs..=ce).map(|(_, v)| *v).reduce(|x, y| {
            if t.op.upper_bound() {
                x.max(y)
            } else {
                x.min(y)
            }
        });
        r.push(Held {
            labels: labels.clone(),
            component: component.clone(),
            severity: r.src.severity,
            span: ((extent.0 - r.step).max(r.from), extent.1.min(r.to)),
            peak: worst,
            peak_text: worst.map(|w| t.unit.format(w)).unwrap_or_default(),
            trailing: t.trailing,
        });
    }
}

/// A scrape target's condition labels: its `instance`.
fn instance_label(s: &Series) -> BTreeMap<String, String> {
    let instance = s.labels.get("instance").cloned().unwrap_or_default();
    BTreeMap::from([("instance".to_string(), instance)])
}

/// Per component: how many targets exist and which are down when; all of them down at once
/// pages.
fn targets_down(r: &mut Reader, a: &Answer) {
    for (component, series) in split_by(&a.series, "vitals_component") {
        let mut down_at: BTreeMap<i64, usize> = BTreeMap::new();
        for s in &series {
            for (t, v) in points(s) {
                if v == 0.0 {
                    *down_at.entry(t).or_default() += 1;
                }
            }
        }
        for s in &series {
            let down = points(s)
                .into_iter()
                .filter(|(t, v)| *v == 0.0 && r.in_range(*t))
                .map(|(t, _)| t);
            for (cs, ce) in runs(down, r.step) {
                let all = (cs..=ce)
                    .step_by(r.step as usize)
                    .any(|t| down_at.get(&t).copied().unwrap_or(0) >= series.len());
                r.push(Held {
                    labels: instance_label(s),
                    component: component.clone(),
                    severity: if all {
                        Severity::Page
                    } else {
                        Severity::Ticket
                    },
                    span: ((cs - r.step).max(r.from), ce),
                    peak: None,
                    peak_text: if all {
                        "all targets down".into()
                    } else {
                        "not scraped".into()
                    },
                    trailing: false,
                });
            }
        }
    }
}

fn restarts(r: &mut Reader, a: &Answer) {
    for (component, series) in split_by(&a.series, "vitals_component") {
        for s in &series {
            for (t, v) in points(s) {
                if v > 0.0 && r.in_range(t) {
                    r.push(Held {
                        labels: instance_label(s),
                        component: component.clone(),
                        severity: Severity::Info,
                        span: ((t - r.step).max(r.from), t),
                        peak: None,
                        peak_text: "restarted".into(),
                        trailing: false,
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The running sums give the burn rate summing the window step by step gives, and a
    /// window without traffic or without bad events reads as such, not as rounding.
    #[test]
    fn running_sums_burn_as_the_window_summed_step_by_step() {
        let step = 600;
        let mut events = Events::new();
        for i in 0..500i64 {
            let t = 1_700_000_000 + i * step;
            // A gap, a quiet stretch and a bad stretch among irregular totals.
            if (100..110).contains(&i) {
                continue;
            }
            let total = if (200..260).contains(&i) {
                0.0
            } else {
                1e6 / (1 + i % 7) as f64
            };
            let bad = if (300..340).contains(&i) {
                total * 0.3
            } else if i % 5 == 0 {
                0.1
            } else {
                0.0
            };
            events.insert(t, (bad, total));
        }
        let sums = Cumulative::new(&events);
        let budget = 0.001;
        let mut checked = 0;
        for w in [step, 6 * step, 36 * step, 432 * step] {
            let w = Duration::from_secs(w as u64);
            for t in events.keys().copied() {
                let n = ((w.secs_f64() / step as f64).round() as i64).max(1);
                let (mut b, mut tot) = (0.0, 0.0);
                for (_, (x, y)) in events.range(t - (n - 1) * step..=t) {
                    b += x;
                    tot += y;
                }
                let want = (tot > 0.0).then(|| b / tot / budget);
                let got = sums.burn_at(step, budget, t, w);
                match (want, got) {
                    (None, None) => {}
                    (Some(a), Some(g)) => {
                        assert!((a - g).abs() <= 1e-9 * a.max(1.0), "{t} {w:?}: {a} != {g}");
                        if a == 0.0 {
                            assert_eq!(g, 0.0, "{t} {w:?}: no bad events");
                        }
                        checked += 1;
                    }
                    _ => panic!("{t} {w:?}: {want:?} != {got:?}"),
                }
            }
        }
        assert!(checked > 1500, "{checked}");
        // Between two steps and before the first there is nothing.
        assert_eq!(
            sums.burn_at(step, budget, 1_600_000_000, Duration::from_secs(600)),
            None
        );
        let quiet = 1_700_000_000 + 230 * step;
        assert_eq!(
            sums.burn_at(step, budget, quiet, Duration::from_secs(6 * 600)),
            None
        );
    }
}
