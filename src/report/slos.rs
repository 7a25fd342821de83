//! The report's SLOs: their status at both ends, whether each was met over the period (a
//! budget SLO's SLI over it, how long a threshold was broken, a period KPI's value over
//! it), the compliance share, and the incidents of both periods.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::plan::{Ask, Evaluated, Plan, Which, is_period_kpi};
use super::{IncidentSection, Kpi, Report, SloLine, Value};
use crate::config::Config;
use crate::incidents::{Incident, IncidentReport, Severity};
use crate::prom::{Answer, Answers, PromError, split_by};
use crate::site::Better;
use crate::slo::eval::{Row, Status};
use crate::slo::model::Objective;
use crate::timespec::unix_seconds;
use crate::units::Unit;

/// Labels of a group (`handler=/models`), empty for an SLO without `group_by`.
pub(super) type Group = BTreeMap<String, String>;

/// An answer of series tagged `vitals_slo`, by SLO and group; a failed query is listed in
/// `missing` as `what`.
fn by_slo(
    a: Option<Result<Answer, PromError>>,
    missing: &mut Vec<String>,
    what: &str,
    failed: &mut bool,
) -> BTreeMap<(String, Group), f64> {
    let a = match a {
        Some(Ok(a)) => a,
        Some(Err(e)) => {
            *failed = true;
            missing.push(format!("{what}: {e}"));
            return BTreeMap::new();
        }
        None => return BTreeMap::new(),
    };
    split_by(&a.series, "vitals_slo")
        .into_iter()
        .flat_map(|(slo, series)| {
            series.into_iter().filter_map(move |s| {
                Some((
                    (slo.clone(), s.labels.clone()),
                    s.value().filter(|v| v.is_finite())?,
                ))
            })
        })
        .collect()
}

/// Per-step increases of every budget SLO's parts: (SLO, group) -> part -> time -> rate.
pub(super) struct BurnData {
    by_slo: BTreeMap<(String, Group), BTreeMap<String, BTreeMap<i64, f64>>>,
    step: f64,
}

impl BurnData {
    pub(super) fn new(a: &Answer, step: crate::duration::Duration) -> BurnData {
        let mut by_slo: BTreeMap<(String, Group), BTreeMap<String, BTreeMap<i64, f64>>> =
            BTreeMap::new();
        for s in &a.series {
            let mut labels = s.labels.clone();
            let (Some(slo), Some(part)) =
                (labels.remove("vitals_slo"), labels.remove("vitals_part"))
            else {
                continue;
            };
            by_slo.entry((slo, labels)).or_default().insert(
                part,
                s.samples
                    .iter()
                    .filter(|(_, v)| v.is_finite())
                    .map(|(t, v)| (t.round() as i64, *v))
                    .collect(),
            );
        }
        BurnData {
            by_slo,
            step: step.secs_f64(),
        }
    }

    /// (bad, total) increases per step of one group of `slo` (every group summed when
    /// `group` is `None`), for steps ending in `(from, to]`.
    fn steps(
        &self,
        slo: &str,
        group: Option<&Group>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Vec<(i64, f64, f64)> {
        let (a, b) = (from.timestamp() + 1, to.timestamp());
        let mut sum: BTreeMap<i64, (f64, f64)> = BTreeMap::new();
        for ((name, g), parts) in &self.by_slo {
            if name != slo || group.is_some_and(|want| want != g) {
                continue;
            }
            let Some(total) = parts.get("total") else {
                continue;
            };
            for (t, tot) in total.range(a..=b) {
                let bad = match (parts.get("bad"), parts.get("good")) {
                    (Some(bad), _) => bad.get(t).copied().unwrap_or(0.0),
                    (None, Some(good)) => (tot - good.get(t).copied().unwrap_or(0.0)).max(0.0),
                    (None, None) => 0.0,
                };
                let e = sum.entry(*t).or_default();
                e.0 += bad * self.step;
                e.1 += tot * self.step;
            }
        }
        sum.into_iter().map(|(t, (b, tot))| (t, b, tot)).collect()
    }

    /// Event-weighted SLI of one group (or of all) over `(from, to]`.
    fn sli(
        &self,
        slo: &str,
        group: Option<&Group>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Option<f64> {
        let s = self.steps(slo, group, from, to);
        let (bad, total) = s.iter().fold((0.0, 0.0), |a, x| (a.0 + x.1, a.1 + x.2));
        (total > 0.0).then(|| 1.0 - bad / total)
    }

    /// The share of the period's budget left after each step: 1 - bad so far / (budget x
    /// the period's events).
    pub(super) fn burn_down(
        &self,
        slo: &str,
        budget: f64,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Option<Vec<(f64, f64)>> {
        let s = self.steps(slo, None, from, to);
        let total: f64 = s.iter().map(|x| x.2).sum();
        if total <= 0.0 {
            return None;
        }
        let allowed = budget * total;
        let mut spent = 0.0;
        let mut out = vec![(unix_seconds(from), 1.0)];
        for (t, bad, _) in s {
            spent += bad;
            out.push((t as f64, 1.0 - spent / allowed));
        }
        Some(out)
    }
}

/// What the SLO lines are judged from.
struct Inputs<'a> {
    plan: &'a Plan,
    burn: Option<BurnData>,
    /// Seconds each alerting threshold was broken, per period.
    breaches: [BTreeMap<(String, Group), f64>; 2],
    /// Period KPIs' values over each period.
    period_values: [BTreeMap<(String, Group), f64>; 2],
    incidents: &'a IncidentReport,
}

fn number(v: Option<f64>) -> Value {
    v.map(Value::Number).unwrap_or(Value::Missing)
}

/// Whether an alerting threshold alerted in a period: an incident has it as a condition
/// (broken longer than its `for`, as `vitals incidents` judges it). None when the
/// incidents could not all be read.
fn alerted(incidents: &IncidentReport, r: &Row, p: &super::Period) -> Option<bool> {
    incidents.errors.is_empty().then(|| {
        incidents.incidents.iter().any(|i| {
            i.conditions.iter().any(|m| {
                m.name == r.name
                    && r.group.iter().all(|(k, v)| m.labels.get(k) == Some(v))
                    && m.overlaps(p.start.timestamp(), p.end.timestamp())
            })
        })
    })
}

fn line(config: &Config, inp: &Inputs, r: &Row, prev_row: Option<&Row>) -> SloLine {
    let plan = inp.plan;
    let name = r.display_name();
    let value = Kpi::new(
        &name,
        "value at the end",
        r.unit,
        if r.op.upper_bound() {
            Better::Lower
        } else {
            Better::Higher
        },
        number(r.value),
        number(prev_row.and_then(|p| p.value)),
    );
    let budget_left = r.budget.map(|b| {
        Kpi::new(
            &name,
            "budget left",
            Unit::Ratio,
            Better::Higher,
            Value::Number(b.remaining_ratio),
            number(prev_row.and_then(|p| p.budget.map(|b| b.remaining_ratio))),
        )
    });
    let group = Some(&r.group);
    let period_sli = inp.burn.as_ref().and_then(|d| {
        let cur = d.sli(&r.name, group, plan.period.start, plan.period.end)?;
        Some(Kpi::new(
            &name,
            "SLI over the period",
            Unit::Ratio,
            Better::Higher,
            Value::Number(cur),
            number(d.sli(&r.name, group, plan.previous.start, plan.previous.end)),
        ))
    });
    let key = (r.name.clone(), r.group.clone());
    let slo = config.slo(&r.name);
    let (breached, met, previous_met) = match slo.map(|s| (s, &s.objective)) {
        Some((_, Objective::Budget { target, .. })) => (
            None,
            period_sli
                .as_ref()
                .and_then(|k| k.value)
                .map(|v| v >= *target),
            period_sli
                .as_ref()
                .and_then(|k| k.previous)
                .map(|v| v >= *target),
        ),
        Some((s, Objective::Threshold { op, value, .. })) if is_period_kpi(s) => {
            // Judged on its value over the whole period when its query has a window to
            // stretch, else on its status at the end (it already looks back over it).
            let ok = |st: Status| match st {
                Status::Pass | Status::Warn => Some(true),
                Status::Fail => Some(false),
                Status::Inconclusive => None,
            };
            if crate::slo::sli::threshold_over(s, &config.catalog, plan.period.length()).is_some() {
                let met = |i: usize| inp.period_values[i].get(&key).map(|v| op.holds(*v, *value));
                (None, met(0), met(1))
            } else {
                (None, ok(r.status), prev_row.and_then(|p| ok(p.status)))
            }
        }
        Some((_, Objective::Threshold { .. })) => {
            let (cur, before) = (
                inp.breaches[0].get(&key).copied(),
                inp.breaches[1].get(&key).copied(),
            );
            (
                Some(Kpi::new(
                    &name,
                    "time broken",
                    Unit::Seconds,
                    Better::Lower,
                    number(cur),
                    number(before),
                )),
                cur.and(alerted(inp.incidents, r, &plan.period)).map(|a| !a),
                before
                    .and(alerted(inp.incidents, r, &plan.previous))
                    .map(|a| !a),
            )
        }
        None => (None, None, None),
    };
    SloLine {
        source: r.source,
        met,
        previous_met,
        breached,
        name,
        component: r.component.clone(),
        description: r.description.clone(),
        status: r.status,
        previous_status: prev_row.map(|p| p.status),
        reason: r.reason.clone(),
        value_vs_objective: r.value_vs_objective(),
        value,
        budget_left,
        period_sli,
    }
}

/// The SLO lines, the compliance share and the incidents, added to the report.
pub(super) fn add(
    plan: &Plan,
    config: &Config,
    report: &mut Report,
    evaluated: &Evaluated<'_>,
    answers: &mut Answers<Ask>,
) -> Option<BurnData> {
    let missing = &mut report.missing;
    // Whether a read failed for either period: a share of SLOs met over those that could be
    // read would be a wrong number, not a partial one.
    let mut failed = [false, false];
    let burn = match answers.take(&Ask::BurnDown) {
        Some(Ok(a)) => Some(BurnData::new(&a, plan.chart_step)),
        Some(Err(e)) => {
            failed = [true, true];
            missing.push(format!("budget burn-down: {e}"));
            None
        }
        None => None,
    };
    let [mut failed_cur, mut failed_prev] = failed;
    // Minutes broken (sampled every `plan.sample_step`), as seconds.
    let breaches = [
        by_slo(
            answers.take(&Ask::Breach(Which::Current)),
            missing,
            &format!("how long thresholds were broken in {}", plan.period.label),
            &mut failed_cur,
        ),
        by_slo(
            answers.take(&Ask::Breach(Which::Previous)),
            &mut Vec::new(),
            "",
            &mut failed_prev,
        ),
    ]
    .map(|b| b.into_iter().map(|(k, v)| (k, v * 60.0)).collect());
    let period_values = [
        by_slo(
            answers.take(&Ask::PeriodValues(Which::Current)),
            missing,
            &format!("period KPIs over {}", plan.period.label),
            &mut failed_cur,
        ),
        by_slo(
            answers.take(&Ask::PeriodValues(Which::Previous)),
            &mut Vec::new(),
            "",
            &mut failed_prev,
        ),
    ];
    let inp = Inputs {
        plan,
        burn,
        breaches,
        period_values,
        incidents: evaluated.incidents,
    };
    for r in evaluated.rows {
        if let Some(e) = &r.error {
            missing.push(format!("SLO {}: {e}", r.display_name()));
        } else if r.status == Status::Inconclusive {
            missing.push(format!("SLO {}: {}", r.display_name(), r.reason));
        }
        let prev_row = evaluated
            .previous_rows
            .iter()
            .find(|p| p.name == r.name && p.group == r.group);
        report.slos.push(line(config, &inp, r, prev_row));
    }
    failed_cur |= evaluated.rows.iter().any(|r| r.error.is_some());
    failed_prev |= evaluated.previous_rows.iter().any(|r| r.error.is_some());
    let share = |met: Vec<Option<bool>>, failed: bool| {
        // An SLO left unjudged by a failed read is not left out of the share: no share.
        if failed && met.iter().any(Option::is_none) {
            return Value::Missing;
        }
        let judged: Vec<bool> = met.into_iter().flatten().collect();
        if judged.is_empty() {
            Value::Missing
        } else {
            Value::Number(judged.iter().filter(|m| **m).count() as f64 / judged.len() as f64)
        }
    };
    report.compliance = Kpi::new(
        "slo_compliance",
        "SLOs met over the period",
        Unit::Ratio,
        Better::Higher,
        share(report.slos.iter().map(|l| l.met).collect(), failed_cur),
        share(
            report.slos.iter().map(|l| l.previous_met).collect(),
            failed_prev,
        ),
    );
    report.incidents = incident_section(plan, evaluated.incidents, &mut report.missing);
    report.kpis.push(report.incidents.count.clone());
    report.kpis.push(report.incidents.mttr.clone());
    inp.burn
}

/// Incidents that started in each period, their count, MTTR and total time.
fn incident_section(
    plan: &Plan,
    incidents: &IncidentReport,
    missing: &mut Vec<String>,
) -> IncidentSection {
    let in_period = |p: &super::Period| -> Vec<&Incident> {
        incidents
            .incidents
            .iter()
            .filter(|i| i.start_time() >= p.start && i.start_time() < p.end)
            .collect()
    };
    // A search with a failed query may have cut an incident short or missed one: its
    // numbers are withheld rather than wrong.
    let complete = incidents.errors.is_empty();
    let (now_list, before) = if complete {
        (in_period(&plan.period), in_period(&plan.previous))
    } else {
        (Vec::new(), Vec::new())
    };
    let known = |v: Value| if complete { v } else { Value::Missing };
    let mttr = |l: &[&Incident]| -> Value {
        let d: Vec<f64> = l
            .iter()
            .filter(|i| i.severity >= Severity::Ticket && !i.ongoing)
            .map(|i| i.duration_seconds)
            .collect();
        if d.is_empty() {
            Value::NoEvents
        } else {
            Value::Number(d.iter().sum::<f64>() / d.len() as f64)
        }
    };
    // `+ 0.0`: an empty sum of f64 is -0.0.
    let total =
        |l: &[&Incident]| Value::Number(l.iter().map(|i| i.duration_seconds).sum::<f64>() + 0.0);
    let counted = |l: &[&Incident]| {
        Value::Number(l.iter().filter(|i| i.severity >= Severity::Ticket).count() as f64)
    };
    for e in &incidents.errors {
        missing.push(format!("incidents: {e}"));
    }
    IncidentSection {
        count: Kpi::new(
            "incidents",
            "Incidents (page and ticket)",
            Unit::Count,
            Better::Lower,
            known(counted(&now_list)),
            known(counted(&before)),
        ),
        mttr: Kpi::new(
            "mttr_detected",
            "MTTR of detected incidents",
            Unit::Seconds,
            Better::Lower,
            known(mttr(&now_list)),
            known(mttr(&before)),
        ),
        time_in_incidents: Kpi::new(
            "time_in_incidents",
            "Time in incidents",
            Unit::Seconds,
            Better::Lower,
            known(total(&now_list)),
            known(total(&before)),
        ),
        list: now_list.into_iter().cloned().collect(),
        step: incidents.step.clone(),
        method: incidents.method.to_string(),
    }
}
