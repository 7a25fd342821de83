//! The chart model: lines, reference lines and shaded intervals over a time range, built
//! by `vitals chart` and the report and drawn by [`crate::render::chart`]; and what a chart
//! shows of an SLO (its limits, the intervals that broke them).

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::duration::Duration;
use crate::slo::model::{Objective, Op, Slo};
use crate::units::Unit;

/// Where times are shown.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Zone {
    Tz(Tz),
    Local,
}

impl Zone {
    pub(crate) fn parse(s: &str) -> Result<Zone, String> {
        if s.eq_ignore_ascii_case("local") {
            return Ok(Zone::Local);
        }
        s.parse::<Tz>().map(Zone::Tz).map_err(|_| {
            format!(
                "unknown time zone {s:?} (use UTC, local, or an IANA name such as Europe/Moscow)"
            )
        })
    }

    pub(crate) fn name(self) -> String {
        match self {
            Zone::Tz(tz) => tz.to_string(),
            Zone::Local => "local time".into(),
        }
    }

    /// Seconds this zone is ahead of UTC at `t`.
    pub(crate) fn offset(self, t: DateTime<Utc>) -> i64 {
        use chrono::Offset;
        match self {
            Zone::Tz(tz) => t.with_timezone(&tz).offset().fix().local_minus_utc() as i64,
            Zone::Local => t
                .with_timezone(&chrono::Local)
                .offset()
                .fix()
                .local_minus_utc() as i64,
        }
    }

    pub(crate) fn format(self, t: DateTime<Utc>, fmt: &str) -> String {
        match self {
            Zone::Tz(tz) => t.with_timezone(&tz).format(fmt).to_string(),
            Zone::Local => t.with_timezone(&chrono::Local).format(fmt).to_string(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Line {
    pub label: String,
    /// `(unix seconds, value)`; NaN breaks the line.
    pub points: Vec<(f64, f64)>,
}

/// A horizontal reference line (an SLO's limit or warning level).
#[derive(Clone, Debug)]
pub struct Rule {
    pub label: String,
    pub value: f64,
    pub warn: bool,
}

/// A shaded interval (an incident: an SLO's condition held).
#[derive(Clone, Debug)]
pub struct Band {
    pub start: f64,
    pub end: f64,
}

/// Lines on a second y axis, on the right (a count beside a share, lost beside created).
#[derive(Clone, Debug)]
pub struct Secondary {
    pub unit: Unit,
    /// Axis description (`lost`).
    pub label: String,
    pub lines: Vec<Line>,
}

#[derive(Clone, Debug)]
pub struct Chart {
    pub title: String,
    pub subtitle: String,
    pub unit: Unit,
    pub start: f64,
    pub end: f64,
    pub zone: Zone,
    pub lines: Vec<Line>,
    pub rules: Vec<Rule>,
    pub bands: Vec<Band>,
    /// Lines drawn against a right-hand axis (PNG and SVG; the terminal chart has none).
    pub secondary: Option<Secondary>,
}

/// What the SLOs on a chart's query add to it.
#[derive(Clone, Debug, Default)]
pub struct Overlay {
    /// Their limits and warning levels.
    pub rules: Vec<Rule>,
    /// The intervals in which their condition held.
    pub bands: Vec<Band>,
    /// SLOs that judge the query with other params: (SLO, param, its value).
    pub elsewhere: Vec<(String, String, String)>,
}

/// Reference lines of the threshold SLOs that judge `query` with the chart's params, and
/// the intervals in which their condition held. SLOs that judge it with other params are
/// named, with the param that differs (so the user can be told).
pub(crate) fn slo_overlay(
    slos: &[Slo],
    query: &str,
    unit: Unit,
    params: &std::collections::BTreeMap<String, String>,
    lines: &[Line],
    step: Duration,
) -> Overlay {
    let mut o = Overlay::default();
    for s in slos {
        let Objective::Threshold {
            expr,
            op,
            value,
            warn,
            ..
        } = &s.objective
        else {
            continue;
        };
        let Some((name, sp)) = &expr.query else {
            continue;
        };
        if name != query {
            continue;
        }
        if let Some((k, v)) = sp.iter().find(|(k, v)| params.get(*k) != Some(*v)) {
            o.elsewhere.push((s.name.clone(), k.clone(), v.clone()));
            continue;
        }
        o.rules.push(Rule {
            label: format!("SLO {} {op} {}", s.name, unit.format(*value)),
            value: *value,
            warn: false,
        });
        if let Some(w) = warn {
            o.rules.push(Rule {
                label: format!("SLO {} warning {op} {}", s.name, unit.format(*w)),
                value: *w,
                warn: true,
            });
        }
        o.bands.extend(violations(lines, *op, *value, step));
    }
    o
}

/// Intervals where some series breaks `value OP limit`, at the chart's resolution.
pub(crate) fn violations(lines: &[Line], op: Op, limit: f64, step: Duration) -> Vec<Band> {
    let mut times: std::collections::BTreeMap<i64, bool> = std::collections::BTreeMap::new();
    for l in lines {
        for (t, v) in &l.points {
            let bad = v.is_finite() && !op.holds(*v, limit);
            let e = times.entry((*t * 1000.0) as i64).or_insert(false);
            *e |= bad;
        }
    }
    let half = step.secs_f64() / 2.0;
    let mut bands: Vec<Band> = Vec::new();
    for (t, bad) in times {
        if !bad {
            continue;
        }
        let t = t as f64 / 1000.0;
        match bands.last_mut() {
            Some(b) if t - half <= b.end + 1e-6 => b.end = t + half,
            _ => bands.push(Band {
                start: t - half,
                end: t + half,
            }),
        }
    }
    bands
}

/// Overlapping intervals (a threshold broken inside an incident) shaded once.
pub(crate) fn merge_bands(mut bands: Vec<Band>) -> Vec<Band> {
    bands.sort_by(|a, b| a.start.total_cmp(&b.start));
    let mut merged: Vec<Band> = Vec::new();
    for b in bands {
        match merged.last_mut() {
            Some(m) if b.start <= m.end => m.end = m.end.max(b.end),
            _ => merged.push(b),
        }
    }
    merged
}
