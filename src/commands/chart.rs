//! `vitals chart NAME`: a catalog query over time, as PNG, SVG or a terminal chart.

use std::path::Path;

use chrono::{DateTime, Utc};

use crate::chart::{Band, Chart, Line, Zone, merge_bands, slo_overlay};
use crate::cli::{ChartArgs, Format};
use crate::config::Config;
use crate::duration::Duration;
use crate::exit::{ExitStatus, Failure};
use crate::prom::{self, Request};
use crate::settings::{MAX_POINTS, Settings, TimeSpec, parse_params};
use crate::slo::model::Slo;
use crate::timespec::format_time;

enum Target {
    Png(std::path::PathBuf),
    Svg(std::path::PathBuf),
    Terminal { cols: usize, rows: usize },
}

pub(crate) async fn run(settings: &Settings, args: &ChartArgs) -> Result<ExitStatus, Failure> {
    settings.format("chart", &[Format::Table])?;
    let config = settings.config()?;
    let catalog = &config.catalog;
    let Subject {
        name,
        params,
        component,
    } = what_to_chart(&config, args)?;
    let (def, expanded) = catalog.resolve(&name, &params)?;
    let zone =
        Zone::parse(&args.time_zone).map_err(|e| Failure::usage(format!("--time-zone: {e}")))?;
    if !(200..=8000).contains(&args.width) || !(150..=4000).contains(&args.height) {
        return Err(Failure::usage(
            "--width must be 200..8000 and --height 150..4000 pixels",
        ));
    }
    let target = target(args)?;
    let (start, end, step) = range(settings, args)?;
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
    let (def, expanded) = match crate::catalog::cover_step(def, &params, step) {
        Some(p) => catalog.resolve(&name, &p)?,
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
    if let Some(c) = component {
        series.retain(|s| c.owns(&s.labels));
    }
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
    let overlay = slo_overlay(
        &config.slos,
        &def.name,
        def.unit,
        &expanded.params,
        &lines,
        step,
    );
    let (rules, mut bands) = (overlay.rules, overlay.bands);
    for (slo, k, v) in overlay.elsewhere {
        super::note(
            settings,
            &format!(
                "SLO `{slo}` judges {} with {k}={v}; chart with --param {k}={v} to see its threshold",
                def.name
            ),
        );
    }
    // Incidents of the components on the chart, when slo.toml has SLOs for them.
    let labels: Vec<&std::collections::BTreeMap<String, String>> =
        series.iter().map(|s| &s.labels).collect();
    let components: Vec<String> = match component {
        Some(c) => vec![c.name.clone()],
        None => config
            .site
            .components_showing(&def.name, &labels)
            .into_iter()
            .map(String::from)
            .collect(),
    };
    if !components.is_empty() {
        bands.extend(incident_bands(settings, &config, &prom, &components, (start, end)).await);
    }
    let bands = merge_bands(bands);
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
    draw(settings, args, target, &chart, (start, end))?;
    Ok(ExitStatus::Success)
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

/// What a chart draws: a query with its params, for one component or all.
struct Subject<'a> {
    name: String,
    params: std::collections::BTreeMap<String, String>,
    component: Option<&'a crate::site::Component>,
}

/// The query, params and component of the chart: NAME with --param, or the headline of
/// --component (its sparkline in site.toml); with both, NAME drawn for that component.
fn what_to_chart<'a>(config: &'a Config, args: &ChartArgs) -> Result<Subject<'a>, Failure> {
    let params = parse_params(&args.params)?;
    let component = match &args.component {
        None => None,
        Some(c) => Some(config.site.component(c).ok_or_else(|| {
            Failure::usage_hint(
                format!("--component {c}: no such component"),
                format!(
                    "the site's components: {}",
                    config
                        .site
                        .components
                        .iter()
                        .map(|c| c.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })?),
    };
    match (&args.name, component) {
        (Some(n), c) => Ok(Subject {
            name: n.clone(),
            params,
            component: c,
        }),
        (None, Some(c)) => {
            let s = c.sparkline.as_ref().ok_or_else(|| {
                Failure::usage(format!(
                    "component `{}` has no sparkline in the site file to chart; give a query name",
                    c.name
                ))
            })?;
            let mut p = s.source.params.clone();
            p.extend(params);
            Ok(Subject {
                name: s.source.query.clone(),
                params: p,
                component: Some(c),
            })
        }
        (None, None) => Err(Failure::usage_hint(
            "give a query name to chart, or --component NAME for its headline signal",
            "`vitals queries` lists the catalog",
        )),
    }
}

/// The incidents (page and ticket) of `components` in the range, as shaded intervals.
async fn incident_bands(
    settings: &Settings,
    config: &Config,
    prom: &prom::Prom,
    components: &[String],
    range: (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>),
) -> Vec<Band> {
    let relevant: Vec<Slo> = config
        .slos
        .iter()
        .filter(|s| {
            components.contains(&s.component)
                || config
                    .site
                    .groups
                    .get(&s.component)
                    .is_some_and(|m| m.iter().any(|x| components.contains(x)))
        })
        .cloned()
        .collect();
    let search = crate::incidents::Search {
        slos: &relevant,
        range,
        step: None,
        with_targets: true,
        recorded: &Default::default(),
        terms: &Default::default(),
    };
    let found = crate::incidents::find(prom, config, &search, &|| {}).await;
    super::tell_incidents(settings, &found);
    for e in &found.report.errors {
        super::say(
            settings,
            crate::exit::Severity::Warning,
            &format!("incidents: {e}"),
        );
    }
    found
        .report
        .incidents
        .iter()
        .filter(|i| {
            i.severity >= crate::incidents::Severity::Ticket
                && i.components.iter().any(|c| components.contains(c))
        })
        .map(|i| Band {
            start: crate::timespec::unix_seconds(i.start_time()),
            end: crate::timespec::unix_seconds(i.end_time()),
        })
        .collect()
}

/// Where the chart goes: `--out` (.png or .svg), or the terminal.
fn target(args: &ChartArgs) -> Result<Target, Failure> {
    Ok(match &args.out {
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
    })
}

/// Start, end and the step asked for (if any).
type Span = (DateTime<Utc>, DateTime<Utc>, Option<Duration>);

/// The range drawn: `--since` or `--from/--to` (default: the last 24h), and `--step`.
fn range(settings: &Settings, args: &ChartArgs) -> Result<Span, Failure> {
    if args.time.at.is_some() {
        return Err(Failure::usage(
            "a chart draws a range, not an instant: use --since or --from/--to instead of --at",
        ));
    }
    let mut time = args.time.clone();
    if time.since.is_none() && time.from.is_none() {
        time.since = Some("24h".into());
    }
    // Plain dates (`--from 2026-11-18`) are midnight on the time axis' zone.
    let spec = match Zone::parse(&args.time_zone) {
        Ok(Zone::Tz(tz)) => time.resolve_in(settings.now, &tz)?,
        Ok(Zone::Local) => time.resolve_in(settings.now, &chrono::Local)?,
        Err(_) => time.resolve(settings.now)?,
    };
    let TimeSpec::Range { start, end, step } = spec else {
        return Err(Failure::usage(
            "a chart needs a range: --since or --from/--to",
        ));
    };
    Ok((start, end, step))
}

fn draw(
    settings: &Settings,
    args: &ChartArgs,
    target: Target,
    chart: &Chart,
    (start, end): (DateTime<Utc>, DateTime<Utc>),
) -> Result<(), Failure> {
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
            wrote(settings, &p, args, chart, &start, &end);
        }
        Target::Png(p) => {
            chart
                .png(&p, args.width, args.height)
                .map_err(|e| Failure::Output(format!("{}: {e}", p.display())))?;
            wrote(settings, &p, args, chart, &start, &end);
        }
    }
    Ok(())
}
