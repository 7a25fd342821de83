//! `vitals chart NAME`: a catalog query over time, as PNG, SVG or a terminal chart.

use std::path::Path;

use crate::cli::{ChartArgs, Format};
use crate::duration::Duration;
use crate::exit::{ExitStatus, Failure};
use crate::prom::{self, Request};
use crate::render::chart::{Band, Chart, Line, Rule, Zone};
use crate::settings::{MAX_POINTS, Settings, TimeSpec, parse_params};
use crate::slo::model::{Objective, Op, Slo, ThresholdSource};
use crate::status::{COMPONENTS, Kind};
use crate::timespec::format_time;

enum Target {
    Png(std::path::PathBuf),
    Svg(std::path::PathBuf),
    Terminal { cols: usize, rows: usize },
}

pub async fn run(settings: &Settings, args: &ChartArgs) -> Result<ExitStatus, Failure> {
    settings.format("chart", &[Format::Table])?;
    let catalog = settings.catalog()?;
    let (_, slos) = settings.slos(&catalog)?;
    let params = parse_params(&args.params)?;
    let (def, expanded) = super::query::resolve(&catalog, &args.name, &params)?;
    let zone =
        Zone::parse(&args.time_zone).map_err(|e| Failure::usage(format!("--time-zone: {e}")))?;
    if !(200..=8000).contains(&args.width) || !(150..=4000).contains(&args.height) {
        return Err(Failure::usage(
            "--width must be 200..8000 and --height 150..4000 pixels",
        ));
    }
    let target = match &args.out {
        Some(p) => match p
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("png") => Target::Png(p.clone()),
            Some("svg") => Target::Svg(p.clone()),
            _ => {
                return Err(Failure::usage(format!(
                    "--out {}: the file name must end in .png or .svg",
                    p.display()
                )));
            }
        },
        None => {
            let cols = console::Term::stdout()
                .size_checked()
                .map(|(_, c)| c as usize)
                .unwrap_or(100)
                .clamp(40, 400);
            Target::Terminal { cols, rows: 16 }
        }
    };
    if args.time.at.is_some() {
        return Err(Failure::usage(
            "a chart draws a range, not an instant: use --since or --from/--to instead of --at",
        ));
    }
    let mut time = args.time.clone();
    if time.since.is_none() && time.from.is_none() {
        time.since = Some("24h".into());
    }
    let TimeSpec::Range { start, end, step } = time.resolve(settings.now)? else {
        return Err(Failure::usage(
            "a chart needs a range: --since or --from/--to",
        ));
    };
    // One point per pixel (or braille dot) at most: a chart never fetches what it cannot draw.
    let drawable = match &target {
        Target::Png(_) | Target::Svg(_) => Chart::plot_width(args.width) as u64,
        Target::Terminal { cols, .. } => (cols.saturating_sub(12) * 2) as u64,
    };
    let step = step.unwrap_or_else(|| {
        prom::auto_step(
            end - start,
            drawable.min(MAX_POINTS),
            Duration::from_secs(15),
        )
    });
    let (def, expanded) = match super::query::cover_step(def, &params, step) {
        Some(p) => super::query::resolve(&catalog, &args.name, &p)?,
        None => (def, expanded),
    };
    let prom = settings.prom()?;
    let answer = prom
        .run(&Request::range(
            &def.name,
            &expanded.promql,
            start,
            end,
            step,
        ))
        .await?;
    super::warn_prometheus(settings, &def.name, &answer.warnings);
    let mut series = answer.series;
    series.sort_by(|a, b| a.labels.cmp(&b.labels));
    let lines: Vec<Line> = series
        .iter()
        .map(|s| Line {
            label: if s.labels.is_empty() {
                def.name.clone()
            } else {
                s.labels
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            },
            points: s.samples.clone(),
        })
        .collect();
    if lines.is_empty() {
        super::note(
            settings,
            &format!(
                "`{}` returned no series in that range: the chart is empty",
                def.name
            ),
        );
    }
    let (rules, mut bands) = slo_overlay(
        &slos,
        &def.name,
        def.unit,
        &expanded.params,
        &lines,
        step,
        settings,
    );
    // Incidents of the components on the chart, when slo.toml has SLOs for them.
    let components = chart_components(&def.name, &series);
    let relevant: Vec<Slo> = slos
        .iter()
        .filter(|s| components.contains(&s.component) || s.group_by.iter().any(|g| g == "service"))
        .cloned()
        .collect();
    if !components.is_empty() {
        let found = super::incidents::find(
            settings,
            Format::Table,
            &prom,
            &catalog,
            &relevant,
            (start, end),
            None,
            true,
        )
        .await;
        for e in &found.errors {
            super::say(
                settings,
                crate::exit::Severity::Warning,
                &format!("incidents: {e}"),
            );
        }
        bands.extend(
            found
                .incidents
                .iter()
                .filter(|i| {
                    i.severity >= crate::incidents::Severity::Ticket
                        && i.components.iter().any(|c| components.contains(c))
                })
                .map(|i| Band {
                    start: crate::timespec::unix_seconds(i.start_time()),
                    end: crate::timespec::unix_seconds(i.end_time()),
                }),
        );
    }
    // Overlapping intervals (a threshold broken inside an incident) are shaded once.
    bands.sort_by(|a, b| a.start.total_cmp(&b.start));
    let mut merged: Vec<Band> = Vec::new();
    for b in bands {
        match merged.last_mut() {
            Some(m) if b.start <= m.end => m.end = m.end.max(b.end),
            _ => merged.push(b),
        }
    }
    let bands = merged;
    let chart = Chart {
        title: format!("{} — {}", def.name, def.help),
        subtitle: format!(
            "{} .. {} ({}), step {}{}",
            zone.format(start, "%Y-%m-%d %H:%M"),
            zone.format(end, "%Y-%m-%d %H:%M"),
            zone.name(),
            step,
            params_text(&expanded.params)
        ),
        unit: def.unit,
        start: crate::timespec::unix_seconds(start),
        end: crate::timespec::unix_seconds(end),
        zone,
        lines,
        rules,
        bands,
        secondary: None,
    };
    match target {
        Target::Terminal { cols, rows } => {
            super::print(&chart.terminal(cols, rows, settings.color_stdout))?
        }
        Target::Svg(p) => {
            let svg = chart
                .svg(args.width, args.height)
                .map_err(|e| Failure::Output(format!("drawing the chart: {e}")))?;
            std::fs::write(&p, svg)
                .map_err(|e| Failure::Output(format!("{}: {e}", p.display())))?;
            wrote(settings, &p, args, &chart, &start, &end);
        }
        Target::Png(p) => {
            chart
                .png(&p, args.width, args.height)
                .map_err(|e| Failure::Output(format!("{}: {e}", p.display())))?;
            wrote(settings, &p, args, &chart, &start, &end);
        }
    }
    Ok(ExitStatus::Success)
}

/// The components a chart shows: its series' `service` labels, else the query's domain.
fn chart_components(query: &str, series: &[prom::Series]) -> std::collections::BTreeSet<String> {
    let mut c: std::collections::BTreeSet<String> = series
        .iter()
        .filter_map(|s| s.labels.get("service").cloned())
        .collect();
    if c.is_empty() {
        match query.split('.').next() {
            Some(d @ ("rabbitmq" | "s3" | "business")) => {
                c.insert(d.to_string());
            }
            Some(d @ ("api" | "db")) => {
                let kind = if d == "api" { Kind::Api } else { Kind::Db };
                c.extend(
                    COMPONENTS
                        .iter()
                        .filter(|(_, k)| *k == kind)
                        .map(|(n, _)| n.to_string()),
                );
            }
            _ => {}
        }
    }
    c
}

fn params_text(p: &std::collections::BTreeMap<String, String>) -> String {
    if p.is_empty() {
        String::new()
    } else {
        format!(
            ", {}",
            p.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ")
        )
    }
}

fn wrote(
    settings: &Settings,
    p: &Path,
    args: &ChartArgs,
    chart: &Chart,
    start: &chrono::DateTime<chrono::Utc>,
    end: &chrono::DateTime<chrono::Utc>,
) {
    let points: usize = chart.lines.iter().map(|l| l.points.len()).sum();
    super::note(
        settings,
        &format!(
            "wrote {} ({}x{}, {} series, {points} points, {} .. {})",
            p.display(),
            args.width,
            args.height,
            chart.lines.len(),
            format_time(*start),
            format_time(*end)
        ),
    );
}

/// Reference lines of threshold SLOs on this query (when the chart's params are the SLO's),
/// and the intervals in which their condition held.
fn slo_overlay(
    slos: &[Slo],
    query: &str,
    unit: crate::units::Unit,
    params: &std::collections::BTreeMap<String, String>,
    lines: &[Line],
    step: Duration,
    settings: &Settings,
) -> (Vec<Rule>, Vec<Band>) {
    let mut rules = Vec::new();
    let mut bands = Vec::new();
    for s in slos {
        let Objective::Threshold {
            source: ThresholdSource::Query { name, params: sp },
            op,
            value,
            warn,
            ..
        } = &s.objective
        else {
            continue;
        };
        if name != query {
            continue;
        }
        if let Some((k, v)) = sp.iter().find(|(k, v)| params.get(*k) != Some(*v)) {
            super::note(
                settings,
                &format!(
                    "SLO `{}` judges {query} with {k}={v}; chart with --param {k}={v} to see its threshold",
                    s.name
                ),
            );
            continue;
        }
        rules.push(Rule {
            label: format!("SLO {} {op} {}", s.name, unit.format(*value)),
            value: *value,
            warn: false,
        });
        if let Some(w) = warn {
            rules.push(Rule {
                label: format!("SLO {} warning {op} {}", s.name, unit.format(*w)),
                value: *w,
                warn: true,
            });
        }
        bands.extend(violations(lines, *op, *value, step));
    }
    (rules, bands)
}

/// Intervals where some series breaks `value OP limit`, at the chart's resolution.
pub fn violations(lines: &[Line], op: Op, limit: f64, step: Duration) -> Vec<Band> {
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
