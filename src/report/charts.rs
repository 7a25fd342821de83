//! The report's charts: those of the site (daily totals, a query per step), and the
//! error budget burn-down of every budget SLO; each shades the incidents of the components
//! it shows.

use std::collections::BTreeMap;

use chrono::DateTime;
use chrono_tz::Tz;

use super::plan::{Ask, Plan};
use super::slos::BurnData;
use super::{ChartInfo, Report};
use crate::chart::{Band, Chart, Line, Secondary, Zone};
use crate::config::Config;
use crate::incidents::Severity;
use crate::prom::{Answer, Answers};
use crate::site::{ChartKind, DailyLine};
use crate::slo::model::Objective;
use crate::timespec::unix_seconds;
use crate::units::Unit;

/// Hourly counts `(end of the hour, count)` summed per local day in `tz`, each day's sum at
/// its middle.
pub(super) fn per_local_day(hourly: &[(f64, f64)], tz: Tz) -> Vec<(f64, f64)> {
    use crate::slo::window::local_midnight;
    let mut days: BTreeMap<chrono::NaiveDate, f64> = BTreeMap::new();
    for (t, v) in hourly.iter().filter(|(_, v)| v.is_finite()) {
        let Some(hour_end) = DateTime::from_timestamp(*t as i64 - 1, 0) else {
            continue;
        };
        *days
            .entry(hour_end.with_timezone(&tz).date_naive())
            .or_default() += v;
    }
    days.into_iter()
        .map(|(d, v)| {
            let start = local_midnight(tz, d);
            let end = d.succ_opt().map_or(start, |n| local_midnight(tz, n));
            ((start + (end - start) / 2).timestamp() as f64, v)
        })
        .collect()
}

/// The frame every chart of a report shares.
struct Frame<'a> {
    plan: &'a Plan,
    report: &'a Report,
}

impl Frame<'_> {
    fn chart(&self, title: &str, unit: Unit, lines: Vec<Line>, bands: Vec<Band>) -> Chart {
        let p = &self.plan.period;
        let zone = Zone::Tz(self.plan.tz);
        Chart {
            title: title.into(),
            subtitle: format!(
                "{} ({}), {} .. {}",
                p.label,
                p.time_zone,
                zone.format(p.start, "%Y-%m-%d %H:%M"),
                zone.format(p.end, "%Y-%m-%d %H:%M")
            ),
            unit,
            start: unix_seconds(p.start),
            end: unix_seconds(p.end),
            zone,
            lines,
            rules: vec![],
            bands,
            secondary: None,
        }
    }

    /// The incidents (page and ticket) of the period whose components include one of these.
    fn bands(&self, components: &[String]) -> Vec<Band> {
        self.report
            .incidents
            .list
            .iter()
            .filter(|i| {
                i.severity >= Severity::Ticket
                    && i.components.iter().any(|c| components.contains(c))
            })
            .map(|i| Band {
                start: unix_seconds(i.start_time()),
                end: unix_seconds(i.end_time()),
            })
            .collect()
    }
}

fn unit_of(config: &Config, query: &str) -> Unit {
    config
        .catalog
        .get(query)
        .map(|d| d.unit)
        .unwrap_or(Unit::Count)
}

/// A daily chart: one line per count, those on the right axis apart.
fn daily(frame: &Frame, config: &Config, title: &str, lines: &[DailyLine], a: &Answer) -> Chart {
    let by_label = crate::prom::split_by(&a.series, "vitals_line");
    let tz = frame.plan.tz;
    let line = |l: &DailyLine| Line {
        label: l.label.clone(),
        points: by_label
            .get(&l.label)
            .and_then(|s| s.first())
            .map(|s| per_local_day(&s.samples, tz))
            .unwrap_or_default(),
    };
    let left: Vec<Line> = lines.iter().filter(|l| !l.right_axis).map(line).collect();
    let right: Vec<&DailyLine> = lines.iter().filter(|l| l.right_axis).collect();
    let unit = lines
        .first()
        .map(|l| unit_of(config, &l.source.query))
        .unwrap_or(Unit::Count);
    let mut c = frame.chart(title, unit, left, vec![]);
    if let Some(first) = right.first() {
        c.secondary = Some(Secondary {
            unit: unit_of(config, &first.source.query),
            label: right
                .iter()
                .map(|l| l.label.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            lines: right.into_iter().map(line).collect(),
        });
    }
    c
}

pub(super) fn add(
    plan: &Plan,
    config: &Config,
    report: &mut Report,
    answers: &mut Answers<Ask>,
    burn: Option<&BurnData>,
) {
    let mut charts = Vec::new();
    let mut missing = Vec::new();
    {
        let frame = Frame { plan, report };
        for c in &config.site.report.charts {
            let a = match answers.take(&Ask::Chart(c.id.clone())) {
                Some(Ok(a)) => a,
                Some(Err(e)) => {
                    missing.push(format!("chart {}: {e}", c.title));
                    continue;
                }
                None => continue,
            };
            let chart = match &c.kind {
                ChartKind::Daily(lines) => daily(&frame, config, &c.title, lines, &a),
                ChartKind::Series {
                    source, line_label, ..
                } => {
                    let lines: Vec<Line> = a
                        .series
                        .iter()
                        .map(|s| Line {
                            label: line_label
                                .as_ref()
                                .and_then(|l| s.labels.get(l))
                                .cloned()
                                .unwrap_or_default(),
                            points: s.samples.clone(),
                        })
                        .collect();
                    let unit = unit_of(config, &source.query);
                    // The limits of the threshold SLOs on this query, as `vitals chart`
                    // draws them (the incidents are shaded already).
                    let overlay = crate::chart::slo_overlay(
                        &config.slos,
                        &source.query,
                        unit,
                        &source.params,
                        &lines,
                        plan.chart_step,
                    );
                    let mut chart = frame.chart(&c.title, unit, lines, frame.bands(&c.shade));
                    chart.rules = overlay.rules;
                    chart
                }
            };
            charts.push(ChartInfo {
                id: c.id.clone(),
                title: c.title.clone(),
                file: None,
                chart,
            });
        }
        if let Some(d) = burn {
            charts.push(burn_down(&frame, config, d));
        }
    }
    report.charts = charts;
    report.missing.extend(missing);
}

/// The error budget of the period left after each step, one line per budget SLO.
fn burn_down(frame: &Frame, config: &Config, d: &BurnData) -> ChartInfo {
    let p = &frame.plan.period;
    let mut lines = Vec::new();
    for slo in &config.slos {
        let Objective::Budget { target, .. } = &slo.objective else {
            continue;
        };
        if let Some(points) = d.burn_down(&slo.name, 1.0 - target, p.start, p.end) {
            lines.push(Line {
                label: slo.name.clone(),
                points,
            });
        }
    }
    let components: Vec<String> = config.slos.iter().map(|s| s.component.clone()).collect();
    ChartInfo {
        id: "budget_burn_down".into(),
        title: "Error budget of the period left (1 = untouched, below 0 = overspent)".into(),
        file: None,
        chart: frame.chart(
            "Error budget of the period left",
            Unit::Ratio,
            lines,
            frame.bands(&components),
        ),
    }
}
