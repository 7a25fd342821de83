//! `vitals incidents`: when alert conditions of slo.toml held, grouped into incidents.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::catalog::Catalog;
use crate::cli::{Format, IncidentsArgs, TimeArgs};
use crate::duration::Duration;
use crate::exit::{ExitStatus, Failure};
use crate::incidents::{self, IncidentReport};
use crate::progress::Progress;
use crate::prom::Prom;
use crate::render::{json, markdown, table};
use crate::settings::{Settings, TimeSpec};
use crate::slo::model::Slo;

pub async fn run(settings: &Settings, args: &IncidentsArgs) -> Result<ExitStatus, Failure> {
    let format = settings.format(
        "incidents",
        &[Format::Table, Format::Json, Format::Markdown],
    )?;
    let catalog = settings.catalog()?;
    let (_, all) = settings.slos(&catalog)?;
    let slos = super::check::select(&all, &args.slos, &[])?;
    let time = TimeArgs {
        at: None,
        since: match (&args.since, &args.from) {
            (None, None) => Some("7d".into()),
            (s, _) => s.clone(),
        },
        from: args.from.clone(),
        to: args.to.clone(),
        step: None,
    };
    let TimeSpec::Range { start, end, .. } = time.resolve(settings.now)? else {
        unreachable!("a range is always given");
    };
    let step = parse_step(args.step.as_deref())?;
    let prom = settings.prom()?;
    let report = find(
        settings,
        format,
        &prom,
        &catalog,
        &slos,
        (start, end),
        step,
        args.slos.is_empty(),
    )
    .await;
    let text = match format {
        Format::Json => json::to_string(&report),
        Format::Markdown => markdown::incidents(&report),
        _ => table::incidents(&report, settings.color_stdout, settings.stdout_tty),
    };
    super::print(&text)?;
    for e in &report.errors {
        super::say(settings, crate::exit::Severity::Warning, e);
    }
    Ok(if report.errors.is_empty() {
        ExitStatus::Success
    } else {
        ExitStatus::Undecided
    })
}

fn parse_step(s: Option<&str>) -> Result<Option<Duration>, Failure> {
    s.map(|s| {
        let d: Duration = s
            .parse()
            .map_err(|e| Failure::usage(format!("--step: {e}")))?;
        if d.secs() < 60 || d.millis() % 60_000 != 0 {
            return Err(Failure::usage(
                "--step must be whole minutes, at least 1m (each step needs two samples of every series)",
            ));
        }
        Ok(d)
    })
    .transpose()
}

/// Finds the incidents of `range`: the bucket lists of latency SLOs first, then every range
/// query at once. Used by `incidents` and `report`.
#[allow(clippy::too_many_arguments)]
pub async fn find(
    settings: &Settings,
    format: Format,
    prom: &Prom,
    catalog: &Catalog,
    slos: &[Slo],
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    step: Option<Duration>,
    with_targets: bool,
) -> IncidentReport {
    let wanted = step;
    let step = incidents::choose_step(slos, from, to, step);
    if wanted.is_some_and(|w| w != step) {
        super::note(
            settings,
            &format!("--step raised to {step}: a finer one would return too many points"),
        );
    }
    let bucket_reqs = incidents::bucket_requests(slos, to);
    let n = bucket_reqs.len() + slos.len() + 3;
    let progress = Progress::new(settings, format, n as u64, "finding incidents");
    let tick = || progress.tick();
    let (names, reqs): (Vec<String>, Vec<_>) = bucket_reqs.into_iter().unzip();
    let answers = prom.run_all(reqs, &tick).await;
    let buckets: BTreeMap<String, _> = names.into_iter().zip(answers).collect();
    let plan = incidents::plan(slos, catalog, from, to, step, with_targets, &buckets);
    let answers = prom.run_all(plan.requests(catalog), &tick).await;
    progress.finish();
    for a in answers.iter().flatten() {
        super::warn_prometheus(settings, "incidents", &a.warnings);
    }
    plan.assemble(&answers)
}
