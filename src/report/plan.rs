//! What a report asks Prometheus, under names: the KPIs of both periods, the charts, how
//! much of both periods has data, how long each alerting threshold was broken, the period
//! KPIs over the whole period, and the budget burn-down.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::{Period, Report};
use crate::config::Config;
use crate::duration::Duration;
use crate::incidents::IncidentReport;
use crate::prom::{Answers, Batch, Request, tag};
use crate::site::{At, ChartKind, Use};
use crate::slo::eval::Row;
use crate::slo::model::{Alerting, Objective};
use crate::slo::sli;

use super::recorded;

/// This period or the one before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Which {
    Current,
    Previous,
}

/// The requests of a report, by what they are for.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Ask {
    Kpis(Which),
    Chart(String),
    Coverage,
    Breach(Which),
    PeriodValues(Which),
    BurnDown,
}

/// What was evaluated beside the plan's own queries.
pub(super) struct Evaluated<'a> {
    pub rows: &'a [Row],
    pub previous_rows: &'a [Row],
    pub incidents: &'a IncidentReport,
    pub warnings: Vec<String>,
}

/// The periods of a report and the steps its charts use.
pub struct Plan {
    pub period: Period,
    pub previous: Period,
    pub(super) tz: Tz,
    /// The budget burn-down's step (and the per-step increases its SLIs are summed from).
    pub(super) chart_step: Duration,
    /// The step peaks and time broken are sampled at ([`sli::sample_step`]): one minute up
    /// to a week, five minutes for a month.
    pub(super) sample_step: Duration,
    /// The recorded KPI terms' coverage of both periods (none: every KPI reads raw).
    pub(super) kpi_cover: recorded::Coverage,
    /// The budget SLOs whose recorded increases cover both periods and the lookback of the
    /// incidents' burn windows before them: the burn-down and the incidents read those.
    pub(super) recorded_slos: BTreeSet<String>,
}

/// How far before the previous period the incidents' burn windows reach: the longest long
/// window of any budget SLO's alert pairs.
pub(super) fn burn_lookback(config: &Config, at: DateTime<Utc>) -> Duration {
    config
        .slos
        .iter()
        .filter_map(|s| sli::pairs_at(s, at))
        .flat_map(|(_, p)| p.map(|p| p.long))
        .max()
        .unwrap_or_default()
}

/// The tag of a number's series in a KPI answer.
pub(super) fn kpi_key(u: &Use, at: At) -> String {
    format!("{}@{at:?}", u.display())
}

/// How many requests a report sends besides the SLO evaluation and incidents.
pub(super) fn fixed_requests(config: &Config) -> usize {
    // KPIs and breaches and period values of both periods, coverage, burn-down, charts.
    7 + config.site.report.charts.len()
}

impl Plan {
    pub(crate) fn new(period: Period, tz: Tz) -> Plan {
        let previous = period.previous(tz);
        let len = period.length().secs();
        // About 170 points a week: hourly for a week, 4-hourly for a month.
        let nice = [
            300u64, 600, 900, 1800, 3600, 7200, 10800, 14400, 21600, 43200, 86400,
        ];
        let chart = nice
            .iter()
            .copied()
            .find(|s| len / s <= 200)
            .unwrap_or(86400);
        Plan {
            chart_step: Duration::from_secs(chart),
            sample_step: sli::sample_step(period.length()),
            period,
            previous,
            tz,
            kpi_cover: recorded::Coverage {
                unavailable: Some("not probed".into()),
                ..Default::default()
            },
            recorded_slos: BTreeSet::new(),
        }
    }

    /// Whether the burn-down reads `slo`'s recorded increases: they cover both periods, and
    /// its step is a whole number of intervals (each recorded point in exactly one step).
    pub(super) fn burn_down_recorded(&self, slo: &str) -> bool {
        self.recorded_slos.contains(slo)
            && self.chart_step.secs() % sli::RECORD_INTERVAL.secs() == 0
    }

    /// The budget SLOs whose recorded increases cover both periods and the burn windows'
    /// lookback ([`burn_lookback`]), and the alerting threshold SLOs whose recorded minutes
    /// cover both periods, from the probe.
    pub(super) fn covered_slos(&self, config: &Config) -> BTreeSet<String> {
        let start = self.previous.start - burn_lookback(config, self.period.end).to_chrono();
        let (start, end) = (
            crate::timespec::unix_seconds(start),
            crate::timespec::unix_seconds(self.period.end),
        );
        // Alerting thresholds whose recorded minutes cover both periods: their incidents
        // read raw values only around the violated minutes.
        let (prev, cur) = (
            crate::timespec::unix_seconds(self.previous.start),
            crate::timespec::unix_seconds(self.period.start),
        );
        let minutes = config.slos.iter().filter(|s| {
            recorded::Breach::of(s).is_some_and(|b| {
                self.kpi_cover.covers_breach(&b, prev, cur, true)
                    && self.kpi_cover.covers_breach(&b, cur, end, false)
            })
        });
        config
            .slos
            .iter()
            .filter(|s| sli::pairs_at(s, self.period.end).is_some())
            .filter(|s| self.kpi_cover.covers_slo(s, start, end))
            .chain(minutes)
            .map(|s| s.name.clone())
            .collect()
    }

    /// The KPI terms of the site whose recorded increases cover both periods (the ids the
    /// incidents' cause hints may be summed from).
    pub(super) fn covered_terms(&self, config: &Config) -> BTreeSet<String> {
        let at = crate::timespec::unix_seconds;
        let (prev, cur, end) = (
            at(self.previous.start),
            at(self.period.start),
            at(self.period.end),
        );
        recorded::site_terms(config)
            .into_iter()
            .filter(|t| {
                let one = std::slice::from_ref(t);
                self.kpi_cover.covers(one, prev, cur, true)
                    && self.kpi_cover.covers(one, cur, end, false)
            })
            .map(|t| t.id())
            .collect()
    }

    /// The query over `which` period a marked query ([`recorded::MARKER`] as its window)
    /// is read with from the recorded KPI increases, when every term of it covers the
    /// period; None: raw.
    pub(super) fn recorded_form(&self, marked: &str, which: Which) -> Option<String> {
        self.recorded_over(marked, self.of(which).length(), which)
    }

    /// `marked` with its terms summed from the recorded KPI increases over `window` (the
    /// period, or a chart's step of whole intervals) when they cover `which` period.
    fn recorded_over(&self, marked: &str, window: Duration, which: Which) -> Option<String> {
        let p = self.of(which);
        let (q, terms) = recorded::rewrite(marked, window).ok()?;
        let (start, end) = (
            crate::timespec::unix_seconds(p.start),
            crate::timespec::unix_seconds(p.end),
        );
        (!terms.is_empty()
            && window.secs() % sli::RECORD_INTERVAL.secs() == 0
            && self
                .kpi_cover
                .covers(&terms, start, end, which == Which::Previous))
        .then_some(q)
    }

    /// A peak KPI's query (by its key) over `which` period from the recorded minutes of
    /// `vitals-kpi-peaks`, when they cover the period; None: raw.
    /// `peaks` are the site's ([`recorded::site_peaks`]).
    pub(super) fn recorded_peak(
        &self,
        peaks: &[recorded::Peak],
        key: &str,
        which: Which,
    ) -> Option<String> {
        let peak = peaks.iter().find(|p| p.key == key)?;
        let p = self.of(which);
        let at = crate::timespec::unix_seconds;
        self.kpi_cover
            .covers_peaks(
                &recorded::peaks_id(peaks),
                at(p.start),
                at(p.end),
                which == Which::Previous,
            )
            .then(|| peak.read(p.length()))
    }

    /// A chart's query over the period, and whether it reads recorded KPI increases: a
    /// daily chart's hourly counts and a series chart's values per step (not its peaks,
    /// which are sampled within each step) are sums of terms over a window of whole
    /// intervals, which on the chart's grid the recorded points tile exactly.
    pub(super) fn chart_request(&self, config: &Config, c: &crate::site::Chart) -> (Request, bool) {
        let p = &self.period;
        let hour = Duration::from_secs(3600);
        let step = self.chart_step;
        let expand = |u: &Use, window: &str| -> String {
            u.expand(&config.catalog, &[("window", window.to_string())])
                .map(|e| e.promql)
                .unwrap_or_else(|_| "vector(0) > 1".into())
        };
        let marker = recorded::MARKER.to_string();
        // Raw, or recorded when every line can be.
        let read = |u: &Use, window: Duration| -> (String, bool) {
            match self.recorded_over(&expand(u, &marker), window, Which::Current) {
                Some(q) => (q, true),
                None => (expand(u, &window.to_string()), false),
            }
        };
        let label = format!("report chart: {}", c.id);
        match &c.kind {
            // Hourly counts, each the hour before it, summed per local day when the chart is
            // made: a day is 23 or 25 hours where the clocks change.
            ChartKind::Daily(lines) => {
                let read: Vec<(String, bool)> =
                    lines.iter().map(|l| read(&l.source, hour)).collect();
                let recorded = read.iter().all(|(_, r)| *r);
                let terms: Vec<String> = lines
                    .iter()
                    .zip(read)
                    .map(|(l, (q, _))| {
                        let q = if recorded { q } else { expand(&l.source, "1h") };
                        tag(&q, &[("vitals_line", &l.label)])
                    })
                    .collect();
                let first_hour = (p.start + hour.to_chrono()).min(p.end);
                (
                    Request::range(label, terms.join("\n  or "), first_hour, p.end, hour),
                    recorded,
                )
            }
            ChartKind::Series { source, at, .. } => {
                let w = step.to_string();
                let (promql, recorded) = match at {
                    At::Peak => (
                        format!(
                            "max_over_time(({})[{w}:{}])",
                            expand(source, &w),
                            self.sample_step
                        ),
                        false,
                    ),
                    _ => read(source, step),
                };
                (
                    Request::range(label, promql, p.start + step.to_chrono(), p.end, step),
                    recorded,
                )
            }
        }
    }

    /// The minutes a threshold SLO was broken during `which` period, from its recorded
    /// minutes ([`recorded::BREACH_GROUP`]) when they cover the period; None: raw.
    pub(super) fn recorded_breach(
        &self,
        slo: &crate::slo::model::Slo,
        which: Which,
    ) -> Option<String> {
        let p = self.of(which);
        let b = recorded::Breach::of(slo)?;
        self.kpi_cover
            .covers_breach(
                &b,
                crate::timespec::unix_seconds(p.start),
                crate::timespec::unix_seconds(p.end),
                which == Which::Previous,
            )
            .then(|| b.recorded(p.length()))
    }

    /// The instants the SLOs are judged at: the last second of each period, so a calendar
    /// SLO is judged on the week or month that ends, not on the next one.
    pub(crate) fn slo_instants(&self) -> (DateTime<Utc>, DateTime<Utc>) {
        let s = chrono::Duration::seconds(1);
        (self.period.end - s, self.previous.end - s)
    }

    pub(super) fn of(&self, w: Which) -> &Period {
        match w {
            Which::Current => &self.period,
            Which::Previous => &self.previous,
        }
    }

    /// Every request the report sends itself (the SLOs and incidents come on their own).
    pub(super) fn batch(&self, config: &Config, buckets: &sli::Buckets) -> Batch<Ask> {
        let mut b = Batch::new();
        for w in [Which::Current, Which::Previous] {
            b.add(Ask::Kpis(w), kpi_request(self, config, w));
            b.add(Ask::Breach(w), breach_request(self, config, w));
            b.add(Ask::PeriodValues(w), period_value_request(self, config, w));
        }
        for (id, req) in self.chart_requests(config) {
            b.add(Ask::Chart(id), req);
        }
        b.add(
            Ask::Coverage,
            Request::range(
                "report: data coverage",
                "count(up)",
                self.previous.start + self.chart_step.to_chrono(),
                self.period.end,
                self.chart_step,
            ),
        );
        if let Some(req) = self.burn_request(config, buckets) {
            b.add(Ask::BurnDown, req);
        }
        b
    }

    fn chart_requests(&self, config: &Config) -> Vec<(String, Request)> {
        config
            .site
            .report
            .charts
            .iter()
            .map(|c| (c.id.clone(), self.chart_request(config, c).0))
            .collect()
    }

    /// The burn-down query: every budget SLO's parts as increases per step over both
    /// periods (latency SLOs need their `le` bucket).
    fn burn_request(&self, config: &Config, buckets: &sli::Buckets) -> Option<Request> {
        let step = self.chart_step;
        let mut terms = Vec::new();
        for slo in &config.slos {
            let Ok(Some(parts)) = sli::parts_with(slo, buckets) else {
                continue;
            };
            // The parts keep the SLO's own grouping (one series per route, per service);
            // recorded increases sum exactly over steps of whole intervals.
            let per_step = if self.burn_down_recorded(&slo.name) {
                parts.reading_recorded(slo).at_step(step)
            } else {
                parts.at(step)
            };
            for (part, promql) in per_step {
                terms.push(tag(
                    &promql,
                    &[("vitals_part", part.as_str()), ("vitals_slo", &slo.name)],
                ));
            }
        }
        (!terms.is_empty()).then(|| {
            Request::range(
                "report: budget burn-down",
                terms.join("\n  or "),
                self.previous.start + step.to_chrono(),
                self.period.end,
                step,
            )
        })
    }

    /// Builds the report from the answers.
    pub(super) fn assemble(
        &self,
        config: &Config,
        evaluated: Evaluated<'_>,
        mut answers: Answers<Ask>,
        generated_at: DateTime<Utc>,
    ) -> Report {
        let mut warnings = evaluated.warnings.clone();
        for k in [
            Ask::Kpis(Which::Current),
            Ask::Kpis(Which::Previous),
            Ask::Coverage,
        ] {
            if let Some(Ok(a)) = answers.get(&k) {
                warnings.extend(a.warnings.iter().cloned());
            }
        }
        let mut report = super::numbers::assemble(self, config, &mut answers, &evaluated);
        report.generated_at = crate::timespec::format_time(generated_at);
        report.warnings = warnings;
        let burn = super::slos::add(self, config, &mut report, &evaluated, &mut answers);
        super::charts::add(self, config, &mut report, &mut answers, burn.as_ref());
        report.finish(self.period.in_progress);
        report
    }
}

/// The one instant query with every number of a period (KPIs, component figures,
/// breakdowns), each distinct query once, tagged `vitals_kpi`. A query over the period whose
/// terms are recorded ([`recorded`]) sums the recorded increases instead of the raw series.
fn kpi_request(plan: &Plan, config: &Config, which: Which) -> Request {
    let period = plan.of(which);
    let fine = plan.sample_step;
    let window = period.length().to_string();
    let site = &config.site;
    let marked = recorded::period_queries(config);
    let peaks = recorded::site_peaks(config);
    let mut wanted: BTreeMap<String, (&Use, At)> = BTreeMap::new();
    for m in site
        .report
        .kpis
        .iter()
        .chain(site.components.iter().flat_map(|c| c.report.iter()))
    {
        wanted.insert(kpi_key(&m.source, m.at), (&m.source, m.at));
    }
    for b in &site.report.breakdowns {
        wanted.insert(kpi_key(&b.source, At::Period), (&b.source, At::Period));
    }
    let terms: Vec<String> = wanted
        .iter()
        .filter_map(|(key, (u, at))| {
            if let Some(q) = marked.get(key).and_then(|m| plan.recorded_form(m, which)) {
                return Some(tag(&q, &[("vitals_kpi", key)]));
            }
            if *at == At::Peak
                && let Some(q) = plan.recorded_peak(&peaks, key, which)
            {
                return Some(tag(&q, &[("vitals_kpi", key)]));
            }
            // A peak is of the query as it is (a 5-minute rate), over the whole period.
            let extra = match at {
                At::Period => vec![("window", window.clone())],
                At::End | At::Peak => vec![],
            };
            let e = u.expand(&config.catalog, &extra).ok()?;
            let promql = match at {
                // The highest value the query had, sampled every `fine` (a minute up to a
                // week): as many samples for a month as for a week.
                At::Peak => format!("max_over_time(({})[{window}:{fine}])", e.promql),
                _ => e.promql,
            };
            Some(tag(&promql, &[("vitals_kpi", key)]))
        })
        .collect();
    Request::instant(
        format!("report KPIs {}", period.label),
        join_or_nothing(terms),
        period.end,
    )
}

/// The alerting threshold SLOs whose time broken is summed from recorded minutes in both
/// periods, and the others (sampled from raw series), named as the report names them.
fn breach_sources(plan: &Plan, config: &Config) -> (Vec<String>, Vec<String>) {
    by_cover(
        config
            .slos
            .iter()
            .filter(|s| recorded::Breach::of(s).is_some())
            .map(|slo| {
                let covered = |w| plan.recorded_breach(slo, w).is_some();
                (
                    slo.name.clone(),
                    covered(Which::Current),
                    covered(Which::Previous),
                )
            }),
    )
}

/// Names read from recorded series in both periods, and the others (the previous period
/// named where only the current one is covered), from `(name, current, previous)`.
fn by_cover(items: impl Iterator<Item = (String, bool, bool)>) -> (Vec<String>, Vec<String>) {
    let (mut recorded, mut raw) = (Vec::new(), Vec::new());
    for (name, current, previous) in items {
        match (current, previous) {
            (true, true) => recorded.push(name),
            (true, false) => raw.push(format!("{name} (the previous period)")),
            _ => raw.push(name),
        }
    }
    (recorded, raw)
}

/// The peak KPIs read from recorded minutes in both periods, and the others (sampled from
/// raw series), by their query's name.
fn peak_sources(plan: &Plan, config: &Config) -> (Vec<String>, Vec<String>) {
    let mut keys: Vec<String> = config
        .site
        .report
        .kpis
        .iter()
        .chain(config.site.components.iter().flat_map(|c| c.report.iter()))
        .filter(|m| m.at == At::Peak)
        .map(|m| kpi_key(&m.source, m.at))
        .collect();
    keys.sort();
    keys.dedup();
    let peaks = recorded::site_peaks(config);
    by_cover(keys.into_iter().map(|key| {
        let covered = |w| plan.recorded_peak(&peaks, &key, w).is_some();
        let (current, previous) = (covered(Which::Current), covered(Which::Previous));
        (
            key.split('@').next().unwrap_or(&key).to_string(),
            current,
            previous,
        )
    }))
}

/// Whether every peak KPI, in both periods, is read from recorded minutes (false when the
/// site has none).
pub(super) fn peaks_recorded(plan: &Plan, config: &Config) -> bool {
    let (minutes, sampled) = peak_sources(plan, config);
    !minutes.is_empty() && sampled.is_empty()
}

/// Whether every alerting threshold's time broken, in both periods, is read from recorded
/// minutes (false when the site has none).
pub(super) fn breaches_recorded(plan: &Plan, config: &Config) -> bool {
    let (minutes, sampled) = breach_sources(plan, config);
    !minutes.is_empty() && sampled.is_empty()
}

/// Which of the report's queries over the period read recorded increases (by the key
/// [`recorded::period_queries`] gives them), of this period and the previous one.
pub(super) fn kpi_sources(plan: &Plan, config: &Config) -> Vec<String> {
    // Without rules loaded there is nothing to say: every KPI reads raw series, as always.
    let cover = &plan.kpi_cover;
    if cover.unavailable.is_some()
        || (cover.current.is_empty() && cover.previous.is_empty() && cover.slos.is_empty())
    {
        return Vec::new();
    }
    let (recorded_keys, uncovered) = by_cover(
        recorded::period_queries(config)
            .into_iter()
            .filter(|(_, marked)| matches!(recorded::form(marked), recorded::Form::Terms(_)))
            .map(|(key, marked)| {
                let name = key
                    .strip_prefix("slo:")
                    .map(str::to_string)
                    .unwrap_or_else(|| key.split('@').next().unwrap_or(&key).to_string());
                let covered = |w| plan.recorded_form(&marked, w).is_some();
                (name, covered(Which::Current), covered(Which::Previous))
            }),
    );
    let mut out = Vec::new();
    if !recorded_keys.is_empty() {
        out.push(format!(
            "KPIs over the period from recorded increases ({}): {}",
            recorded::GROUP,
            recorded_keys.join(", ")
        ));
    }
    if !uncovered.is_empty() {
        out.push(format!(
            "KPIs over the period from raw series (no recorded increases cover the period; load or backfill the rules of `vitals rules`): {}",
            uncovered.join(", ")
        ));
    }
    let burn_down: Vec<&str> = config
        .slos
        .iter()
        .filter(|s| sli::pairs_at(s, plan.period.end).is_some())
        .filter(|s| plan.recorded_slos.contains(&s.name))
        .map(|s| s.name.as_str())
        .collect();
    if !burn_down.is_empty() && plan.chart_step.secs() % sli::RECORD_INTERVAL.secs() == 0 {
        out.push(format!(
            "Budget burn-down from recorded increases (vitals-slo-increases): {}",
            burn_down.join(", ")
        ));
    }
    let prefiltered: Vec<&str> = config
        .slos
        .iter()
        .filter(|s| recorded::Breach::of(s).is_some())
        .filter(|s| plan.recorded_slos.contains(&s.name))
        .map(|s| s.name.as_str())
        .collect();
    if !prefiltered.is_empty() {
        out.push(format!(
            "Threshold incidents from raw values only around recorded violated minutes (vitals-threshold-minutes): {}",
            prefiltered.join(", ")
        ));
    }
    let charts: Vec<&str> = config
        .site
        .report
        .charts
        .iter()
        .filter(|c| plan.chart_request(config, c).1)
        .map(|c| c.id.as_str())
        .collect();
    if !charts.is_empty() {
        out.push(format!(
            "Charts from recorded increases ({}): {}",
            recorded::GROUP,
            charts.join(", ")
        ));
    }
    let (peaks, _) = peak_sources(plan, config);
    if !peaks.is_empty() {
        out.push(format!(
            "Peaks from recorded minutes ({}): {}",
            recorded::PEAK_GROUP,
            peaks.join(", ")
        ));
    }
    let (minutes, sampled) = breach_sources(plan, config);
    if !minutes.is_empty() {
        out.push(format!(
            "Time thresholds were broken from recorded minutes ({}): {}",
            recorded::BREACH_GROUP,
            minutes.join(", ")
        ));
    }
    if !sampled.is_empty() {
        out.push(format!(
            "Time thresholds were broken sampled from raw series every {} (no recorded minutes cover the period): {}",
            plan.sample_step,
            sampled.join(", ")
        ));
    }
    out
}

fn join_or_nothing(terms: Vec<String>) -> String {
    if terms.is_empty() {
        "vector(0) > 1".to_string()
    } else {
        terms.join("\n  or ")
    }
}

/// The value over the whole period of every period KPI (a threshold SLO with `severity =
/// "none"` whose query has a `window`), tagged `vitals_slo`; from the recorded KPI
/// increases where they cover the period.
fn period_value_request(plan: &Plan, config: &Config, which: Which) -> Request {
    let period = plan.of(which);
    let terms: Vec<String> = config
        .slos
        .iter()
        .filter(|s| is_period_kpi(s))
        .filter_map(|slo| {
            let q = sli::threshold_over(slo, &config.catalog, recorded::MARKER)
                .and_then(|m| plan.recorded_form(&m, which))
                .or_else(|| sli::threshold_over(slo, &config.catalog, period.length()))?;
            Some(tag(&q, &[("vitals_slo", &slo.name)]))
        })
        .collect();
    Request::instant(
        format!("report: period KPIs over {}", period.label),
        join_or_nothing(terms),
        period.end,
    )
}

/// A threshold SLO with `severity = "none"`: a period objective.
pub(super) fn is_period_kpi(slo: &crate::slo::model::Slo) -> bool {
    matches!(
        &slo.objective,
        Objective::Threshold {
            severity: Alerting::None,
            ..
        }
    )
}

/// Minutes each threshold SLO that alerts was broken during a period (one series per group,
/// or one for the SLO), tagged `vitals_slo`: summed from its recorded minutes where they
/// cover the period, else sampled from raw series every `plan.sample_step`.
fn breach_request(plan: &Plan, config: &Config, which: Which) -> Request {
    let period = plan.of(which);
    let terms: Vec<String> = config
        .slos
        .iter()
        .filter(|s| recorded::Breach::of(s).is_some())
        .filter_map(|slo| {
            let q = plan
                .recorded_breach(slo, which)
                .or_else(|| sli::minutes_violated(slo, period.length(), plan.sample_step))?;
            Some(tag(&q, &[("vitals_slo", &slo.name)]))
        })
        .collect();
    Request::instant(
        format!("report: thresholds broken in {}", period.label),
        join_or_nothing(terms),
        period.end,
    )
}
