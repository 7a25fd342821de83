//! `vitals dashboard`: Grafana dashboard JSON from site.toml, slo.toml and the catalog.

use crate::cli::{DashboardArgs, Format};
use crate::dashboard::{self, Options};
use crate::exit::{ExitStatus, Failure, Severity};
use crate::settings::Settings;

pub(crate) fn run(settings: &Settings, args: &DashboardArgs) -> Result<ExitStatus, Failure> {
    settings.format("dashboard", &[Format::Json])?;
    let config = settings.config()?;
    let mut opts = Options {
        title: args.title.clone(),
        ..Options::default()
    };
    if let Some(path) = &args.rules {
        let yaml = std::fs::read_to_string(path).map_err(|e| {
            Failure::usage_hint(
                format!("--rules {}: {e}", path.display()),
                "pass the rule file `vitals rules --out FILE` wrote and Prometheus loads",
            )
        })?;
        let (recorded, missing) = dashboard::recorded_slos(&yaml, &config.slos);
        for m in &missing {
            super::say(
                settings,
                Severity::Warning,
                &format!("{m}: its panels use the SLI expressions"),
            );
        }
        opts.recorded = recorded;
    }
    let (doc, skipped) = dashboard::generate(&config, &opts);
    for s in &skipped {
        super::say(
            settings,
            Severity::Warning,
            &format!("no panel for {s}: its query could not be expanded"),
        );
    }
    let text = serde_json::to_string_pretty(&doc)
        .map_err(|e| Failure::Output(format!("cannot write the dashboard: {e}")))?
        + "\n";
    match &args.out {
        Some(p) => {
            let tmp = p.with_extension("json.tmp");
            std::fs::write(&tmp, &text)
                .and_then(|_| std::fs::rename(&tmp, p))
                .map_err(|e| Failure::Output(format!("--out {}: {e}", p.display())))?;
            super::note(settings, &format!("wrote {}", p.display()));
        }
        None => super::print(&text)?,
    }
    Ok(ExitStatus::Success)
}
