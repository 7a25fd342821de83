//! `vitals incidents`: when alert conditions of slo.toml held, grouped into incidents.

use crate::cli::{Format, IncidentsArgs, SliSource, TimeArgs};
use crate::duration::Duration;
use crate::exit::{ExitStatus, Failure};
use crate::incidents;
use crate::progress::Progress;
use crate::render::{json, markdown, table};
use crate::settings::{Settings, TimeSpec};

pub(crate) async fn run(settings: &Settings, args: &IncidentsArgs) -> Result<ExitStatus, Failure> {
    let format = settings.format(
        "incidents",
        &[Format::Table, Format::Json, Format::Markdown],
    )?;
    let config = settings.config()?;
    let slos = config.select(&args.slos, &[])?;
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
    let progress = Progress::new(
        settings,
        format,
        (incidents::query_estimate(&slos) + usize::from(args.source != SliSource::Raw)) as u64,
        "finding incidents",
    );
    let chosen = incidents::choose_step(&slos, start, end, step);
    let recorded =
        incidents::recorded_slos(&prom, &slos, (start, end), chosen, args.source, &|| {
            progress.tick()
        })
        .await;
    let search = incidents::Search {
        slos: &slos,
        range: (start, end),
        step,
        with_targets: args.slos.is_empty(),
        recorded: &recorded,
        terms: &Default::default(),
    };
    let found = incidents::find(&prom, &config, &search, &|| progress.tick()).await;
    progress.finish();
    super::tell_incidents(settings, &found);
    let report = found.report;
    let text = match format {
        Format::Json => json::to_string(&report),
        Format::Markdown => markdown::incidents(&report),
        _ => table::incidents(&report, settings.color_stdout, settings.stdout_tty),
    };
    super::print(&text)?;
    // Said once per cause: an unreachable server fails every query the same way.
    for e in crate::failures::distinct_messages(&report.errors, "a query") {
        super::say(settings, crate::exit::Severity::Warning, &e);
    }
    Ok(if found.config_error {
        ExitStatus::Usage
    } else if report.errors.is_empty() {
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
