//! `vitals report`: the period report, for people and for cron.

use std::path::{Path, PathBuf};

use chrono_tz::Tz;

use crate::cli::{Format, ReportArgs};
use crate::exit::{ExitStatus, Failure, Severity};
use crate::progress::Progress;
use crate::render::{html, json, markdown};
use crate::report::{self, period};
use crate::settings::Settings;

/// Chart size in the report (pixels).
const CHART_SIZE: (u32, u32) = (1000, 360);

pub(crate) async fn run(settings: &Settings, args: &ReportArgs) -> Result<ExitStatus, Failure> {
    let format = settings.format("report", &[Format::Markdown, Format::Html, Format::Json])?;
    let config = settings.config()?;
    let tz: Tz = args.time_zone.parse().map_err(|_| {
        Failure::usage(format!(
            "--time-zone: unknown time zone {:?} (use UTC or an IANA name such as Europe/Moscow)",
            args.time_zone
        ))
    })?;
    let period = period::resolve(
        args.week.as_deref(),
        args.month.as_deref(),
        args.from.as_deref(),
        args.to.as_deref(),
        tz,
        settings.now,
    )
    .map_err(Failure::usage)?;
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir)
            .map_err(|e| Failure::Output(format!("--out {}: {e}", dir.display())))?;
    }
    let prom = settings.prom()?;
    let progress = Progress::new(
        settings,
        format,
        report::query_estimate(&config, args.source) as u64,
        "building the report",
    );
    let mut report = report::build(
        &prom,
        &config,
        period,
        tz,
        settings.now,
        args.source,
        &|| progress.tick(),
    )
    .await;
    progress.finish();
    super::warn_prometheus(settings, "report", &report.warnings);
    let slug = format!("report-{}", report.period.slug());
    let text = match format {
        Format::Json => json::to_string(&report),
        Format::Html => {
            let mut charts = Vec::new();
            for c in &report.charts {
                let svg = c
                    .chart
                    .svg(CHART_SIZE.0, CHART_SIZE.1)
                    .map_err(|e| Failure::Output(format!("drawing {}: {e}", c.title)))?;
                charts.push((c.title.clone(), svg));
            }
            html::report(&report, &charts)
        }
        _ => {
            let mut charts = Vec::new();
            if let Some(dir) = &args.out {
                for c in &mut report.charts {
                    let file = format!("{slug}-{}.png", c.id);
                    c.chart
                        .png(&dir.join(&file), CHART_SIZE.0, CHART_SIZE.1)
                        .map_err(|e| {
                            Failure::Output(format!("{}: {e}", dir.join(&file).display()))
                        })?;
                    c.file = Some(file.clone());
                    charts.push((c.title.clone(), file));
                }
            } else if settings.chatty() {
                super::note(
                    settings,
                    "charts are written next to the report with --out DIR",
                );
            }
            markdown::report(&report, &charts)
        }
    };
    match &args.out {
        Some(dir) => {
            let ext = match format {
                Format::Json => "json",
                Format::Html => "html",
                _ => "md",
            };
            let path = dir.join(format!("{slug}.{ext}"));
            write(&path, &text)?;
            super::note(settings, &format!("wrote {}", path.display()));
        }
        None => super::print(&text)?,
    }
    if report.missing.is_empty() {
        Ok(ExitStatus::Success)
    } else {
        // The list is in the report too; on stderr unless --quiet.
        if settings.chatty() {
            super::say(
                settings,
                Severity::Warning,
                &format!(
                    "the report is incomplete: {} item(s) could not be read",
                    report.missing.len()
                ),
            );
            for m in crate::failures::distinct_messages(&report.missing, "a query") {
                eprintln!("  - {m}");
            }
        }
        Ok(ExitStatus::Undecided)
    }
}

fn write(path: &Path, text: &str) -> Result<(), Failure> {
    // Written whole, then renamed: a cron job never mails half a report.
    let tmp: PathBuf = path.with_extension("tmp");
    std::fs::write(&tmp, text)
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|e| Failure::Output(format!("{}: {e}", path.display())))
}
