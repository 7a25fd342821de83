//! `vitals openslo export` and `vitals openslo import`.

use std::path::{Path, PathBuf};

use crate::cli::{Format, OpensloCommand, OpensloExportArgs, OpensloImportArgs};
use crate::diag::Problem;
use crate::exit::{ExitStatus, Failure, Severity};
use crate::settings::Settings;

pub(crate) fn run(settings: &Settings, cmd: &OpensloCommand) -> Result<ExitStatus, Failure> {
    match cmd {
        OpensloCommand::Export(a) => export(settings, a),
        OpensloCommand::Import(a) => import(settings, a),
    }
}

/// Writes `text` to `path` through a scratch file, so a reader never sees half of it.
fn write(path: &Path, text: &str) -> Result<(), Failure> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|e| Failure::Output(format!("--out {}: {e}", path.display())))
}

fn export(settings: &Settings, args: &OpensloExportArgs) -> Result<ExitStatus, Failure> {
    settings.format("openslo export", &[Format::Table])?;
    let config = settings.config()?;
    let slos = config.select(&args.slos, &[])?;
    let yaml = crate::openslo::export::generate(&config, &slos, &settings.global.prometheus)
        .map_err(|p| Failure::Config(p.into_iter().map(Problem::new).collect()))?;
    match &args.out {
        Some(p) => {
            let path: PathBuf = if p.is_dir() {
                p.join("openslo.yaml")
            } else {
                p.clone()
            };
            write(&path, &yaml)?;
            super::note(
                settings,
                &format!("wrote {} SLOs to {}", slos.len(), path.display()),
            );
        }
        None => super::print(&yaml)?,
    }
    Ok(ExitStatus::Success)
}

fn import(settings: &Settings, args: &OpensloImportArgs) -> Result<ExitStatus, Failure> {
    settings.format("openslo import", &[Format::Table])?;
    let mut files = Vec::new();
    for f in &args.files {
        let text = std::fs::read_to_string(f)
            .map_err(|e| Failure::usage(format!("{}: {e}", f.display())))?;
        files.push((f.display().to_string(), text));
    }
    let catalog = settings.catalog()?;
    let imported = match crate::openslo::import::import(&files, &catalog) {
        Ok(i) => i,
        Err(problems) => {
            for p in &problems {
                super::say(settings, Severity::Error, p);
            }
            return Err(Failure::usage_hint(
                format!(
                    "{} thing(s) in the OpenSLO documents cannot be represented in slo.toml; nothing was written",
                    problems.len()
                ),
                "docs/openslo.md lists what maps and what does not",
            ));
        }
    };
    match &args.out {
        Some(p) => {
            write(p, &imported.toml)?;
            super::note(
                settings,
                &format!("wrote {} SLOs to {}", imported.count, p.display()),
            );
        }
        None => super::print(&imported.toml)?,
    }
    Ok(ExitStatus::Success)
}
