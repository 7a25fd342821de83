//! `vitals check`: evaluate SLOs, the CI gate.

use crate::cli::{CheckArgs, FailOn, Format};
use crate::exit::{ExitStatus, Failure};
use crate::progress::Progress;
use crate::render::{json, junit, markdown, table};
use crate::settings::Settings;
use crate::slo::eval::{self, CheckReport, Status};
use crate::timespec::parse_instant;

pub(crate) async fn run(settings: &Settings, args: &CheckArgs) -> Result<ExitStatus, Failure> {
    let format = settings.format(
        "check",
        &[Format::Table, Format::Json, Format::Junit, Format::Markdown],
    )?;
    let config = settings.config()?;
    let slos = config.select(&args.slos, &args.components)?;
    let at = match &args.at {
        Some(a) => {
            parse_instant(a, settings.now).map_err(|e| Failure::usage(format!("--at: {e}")))?
        }
        None => settings.now,
    };
    let prom = settings.prom()?;
    let progress = Progress::new(
        settings,
        format,
        eval::query_count(&slos, args.source) as u64,
        "evaluating SLOs",
    );
    let started = std::time::Instant::now();
    let rows = eval::evaluate(&slos, &prom, at, args.source, &|| progress.tick()).await;
    let elapsed = started.elapsed();
    progress.finish();
    for r in &rows {
        super::warn_prometheus(settings, &format!("slo {}", r.name), &r.warnings);
    }
    let config_error = rows.iter().any(|r| r.config_error);
    let report = CheckReport::new(at, config.slo_source.path.display().to_string(), rows);
    let text = match format {
        Format::Json => json::to_string(&report),
        Format::Junit => junit::check(&report, args.fail_on == FailOn::Warn, elapsed),
        Format::Markdown => markdown::check(&report),
        _ => table::check(&report, settings.color_stdout, settings.stdout_tty),
    };
    super::print(&text)?;
    Ok(exit_status(&report, args.fail_on, config_error))
}

/// 0 pass (and warn, unless --fail-on warn), 1 breach, 3 undecided, 2 for an SLO that does
/// not fit the data (e.g. a latency threshold that is not a bucket).
pub(crate) fn exit_status(report: &CheckReport, fail_on: FailOn, config_error: bool) -> ExitStatus {
    if config_error {
        return ExitStatus::Usage;
    }
    let mut worst = ExitStatus::Success;
    for r in &report.slos {
        let s = match r.status {
            Status::Pass => ExitStatus::Success,
            Status::Warn if fail_on == FailOn::Warn => ExitStatus::Breach,
            Status::Warn => ExitStatus::Success,
            Status::Fail => ExitStatus::Breach,
            Status::Inconclusive => ExitStatus::Undecided,
        };
        worst = worst.worst(s);
    }
    worst
}
