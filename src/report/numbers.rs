//! The report's numbers: business KPIs, each component's figures and the breakdowns, read
//! from the tagged KPI answers of both periods; and how much of each period has data.

use std::collections::BTreeMap;

use super::plan::{Ask, Evaluated, Plan, Which, kpi_key};
use super::{Breakdown, BreakdownRow, ComponentSection, Kpi, Report, Value};
use crate::config::Config;
use crate::prom::{Answer, Answers, PromError, Series, split_by};
use crate::site::{At, Combine, Component, Metric};
use crate::timespec::format_time;
use crate::units::Unit;

/// A KPI answer, by tag.
#[derive(Default)]
struct Kpis {
    by_key: BTreeMap<String, Vec<Series>>,
    failed: bool,
}

impl Kpis {
    fn new(a: Option<Result<Answer, PromError>>, missing: &mut Vec<String>, label: &str) -> Kpis {
        match a {
            Some(Ok(a)) => Kpis {
                by_key: split_by(&a.series, "vitals_kpi"),
                failed: false,
            },
            Some(Err(e)) => {
                missing.push(format!("KPIs of {label}: {e}"));
                Kpis {
                    by_key: BTreeMap::new(),
                    failed: true,
                }
            }
            None => Kpis::default(),
        }
    }

    /// The series of `key` that `keep` accepts, combined.
    fn get(&self, key: &str, keep: &dyn Fn(&Series) -> bool, combine: Combine) -> Value {
        let Some(series) = self.by_key.get(key) else {
            return Value::Missing;
        };
        let vals: Vec<f64> = series
            .iter()
            .filter(|s| keep(s))
            .filter_map(Series::value)
            .collect();
        if vals.is_empty() {
            return Value::Missing;
        }
        if vals.iter().all(|v| v.is_nan()) {
            return Value::NoEvents;
        }
        match combine.apply(vals.iter().copied().filter(|v| v.is_finite())) {
            Some(v) => Value::Number(v),
            None => Value::NoEvents,
        }
    }
}

/// Reads one number of both periods.
struct Reader<'a> {
    config: &'a Config,
    plan: &'a Plan,
    cur: Kpis,
    prev: Kpis,
    missing: Vec<String>,
}

impl Reader<'_> {
    fn unit(&self, query: &str) -> Unit {
        self.config
            .catalog
            .get(query)
            .map(|d| d.unit)
            .unwrap_or(Unit::Count)
    }

    /// A metric of the site, as `id`, for the series a component owns (or all).
    fn kpi(&mut self, id: &str, m: &Metric, component: Option<&Component>) -> Kpi {
        let key = kpi_key(&m.source, m.at);
        let keep = |s: &Series| {
            m.filter.iter().all(|(k, v)| s.labels.get(k) == Some(v))
                && component.is_none_or(|c| c.owns(&s.labels))
        };
        let combine = m.combine;
        let k = Kpi::new(
            id,
            &m.label,
            self.unit(&m.source.query),
            m.better,
            self.cur.get(&key, &keep, combine),
            self.prev.get(&key, &keep, combine),
        );
        if k.value.is_none() && k.note.is_none() && !self.cur.failed {
            self.missing.push(format!(
                "{}: `{}` returned no data for {}",
                m.label,
                m.source.display(),
                self.plan.period.label
            ));
        }
        k
    }
}

pub(super) fn assemble(
    plan: &Plan,
    config: &Config,
    answers: &mut Answers<Ask>,
    evaluated: &Evaluated<'_>,
) -> Report {
    let ([coverage, previous_coverage], mut missing) = coverage(plan, answers.take(&Ask::Coverage));
    let cur = Kpis::new(
        answers.take(&Ask::Kpis(Which::Current)),
        &mut missing,
        &plan.period.label,
    );
    let prev = Kpis::new(
        answers.take(&Ask::Kpis(Which::Previous)),
        &mut missing,
        &plan.previous.label,
    );
    let mut r = Reader {
        config,
        plan,
        cur,
        prev,
        missing,
    };
    let site = &config.site;
    let kpis: Vec<Kpi> = site
        .report
        .kpis
        .iter()
        .map(|m| r.kpi(&m.id, m, None))
        .collect();
    let components: Vec<ComponentSection> = site
        .components
        .iter()
        .filter(|c| !c.report.is_empty())
        .map(|c| ComponentSection {
            name: c.name.clone(),
            metrics: c
                .report
                .iter()
                .map(|m| r.kpi(&format!("{}.{}", c.name, m.id), m, Some(c)))
                .collect(),
        })
        .collect();
    let breakdowns = breakdowns(&r);
    Report {
        schema_version: crate::SCHEMA_VERSION,
        period: plan.period.clone(),
        previous_period: plan.previous.clone(),
        generated_at: String::new(),
        coverage,
        previous_coverage,
        verdict: crate::slo::eval::Status::Inconclusive,
        compliance: Kpi::new(
            "slo_compliance",
            "SLOs met over the period",
            Unit::Ratio,
            super::Better::Higher,
            Value::Missing,
            Value::Missing,
        ),
        slos: Vec::new(),
        kpis,
        breakdowns,
        components,
        incidents: super::IncidentSection::empty(),
        charts: Vec::new(),
        slo_sources: crate::slo::eval::source_lines(evaluated.rows),
        kpi_sources: super::plan::kpi_sources(plan, config),
        sample_step: plan.sample_step,
        breaches_recorded: super::plan::breaches_recorded(plan, config),
        peaks_recorded: super::plan::peaks_recorded(plan, config),
        missing: r.missing,
        warnings: Vec::new(),
    }
}

fn breakdowns(r: &Reader) -> Vec<Breakdown> {
    r.config
        .site
        .report
        .breakdowns
        .iter()
        .map(|b| {
            let key = kpi_key(&b.source, At::Period);
            let mut rows: BTreeMap<BTreeMap<String, String>, (Option<f64>, Option<f64>)> =
                BTreeMap::new();
            for (which, k) in [(0, &r.cur), (1, &r.prev)] {
                for s in k.by_key.get(&key).map(|v| v.as_slice()).unwrap_or(&[]) {
                    let labels: BTreeMap<String, String> = b
                        .columns
                        .iter()
                        .map(|c| (c.clone(), s.labels.get(c).cloned().unwrap_or_default()))
                        .collect();
                    let v = s.value().filter(|v| v.is_finite());
                    let e = rows.entry(labels).or_default();
                    if which == 0 {
                        e.0 = v;
                    } else {
                        e.1 = v;
                    }
                }
            }
            let mut rows: Vec<BreakdownRow> = rows
                .into_iter()
                .filter(|(_, (a, b))| a.unwrap_or(0.0) > 0.0 || b.unwrap_or(0.0) > 0.0)
                .map(|(labels, (value, previous))| BreakdownRow {
                    labels,
                    value,
                    previous,
                })
                .collect();
            rows.sort_by(|a, b| b.value.unwrap_or(0.0).total_cmp(&a.value.unwrap_or(0.0)));
            Breakdown {
                id: b.id.clone(),
                title: b.title.clone(),
                unit: r.unit(&b.source.query),
                columns: b.columns.clone(),
                rows,
            }
        })
        .collect()
}

/// The share of each period (this one, the previous one) that has data, and what to say
/// about periods that have no data for part of their length (a history that starts late, a
/// Prometheus that was down): their numbers are partial.
fn coverage(plan: &Plan, a: Option<Result<Answer, PromError>>) -> ([f64; 2], Vec<String>) {
    let Some(Ok(a)) = a else {
        return ([1.0, 1.0], vec![]);
    };
    let times: Vec<i64> = a
        .series
        .iter()
        .flat_map(|s| s.samples.iter().map(|(t, _)| t.round() as i64))
        .collect();
    let step = plan.chart_step.secs() as i64;
    let mut out = Vec::new();
    let mut shares = [1.0; 2];
    for (k, p) in [&plan.period, &plan.previous].into_iter().enumerate() {
        let (a, b) = (p.start.timestamp(), p.end.timestamp());
        let expected = ((b - a) / step).max(1);
        let have: Vec<i64> = times
            .iter()
            .copied()
            .filter(|t| *t > a && *t <= b)
            .collect();
        let share = (have.len() as f64 / expected as f64).min(1.0);
        shares[k] = share;
        if share < 0.99 {
            let span = match (have.first(), have.last()) {
                (Some(f), Some(l)) => format!(
                    "data from {} to {}",
                    format_time(crate::timespec::from_unix_seconds(*f as f64)),
                    format_time(crate::timespec::from_unix_seconds(*l as f64))
                ),
                _ => "no data at all".into(),
            };
            out.push(format!(
                "{}: Prometheus has data for {} of it ({span}); its numbers are partial{}",
                p.label,
                Unit::Ratio.format(share),
                if k == 1 {
                    ", so no change is computed against it"
                } else {
                    ""
                }
            ));
        }
    }
    (shares, out)
}
