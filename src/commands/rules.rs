//! `vitals rules`: Prometheus rules from slo.toml, optionally checked with promtool.

use std::process::Command;

use crate::cli::{Format, RulesArgs};
use crate::exit::{ExitStatus, Failure, Severity};
use crate::rules::Naming;
use crate::settings::Settings;

pub(crate) fn run(settings: &Settings, args: &RulesArgs) -> Result<ExitStatus, Failure> {
    settings.format("rules", &[Format::Table])?;
    let config = settings.config()?;
    let slos = config.select(&args.slos, &[])?;
    if args.naming == Naming::Sloth {
        let cannot = crate::rules::sloth_unsupported(&slos);
        if !cannot.is_empty() {
            return Err(Failure::usage_hint(
                format!(
                    "--naming sloth: Sloth's windows do not fit {} SLO(s):\n  {}",
                    cannot.len(),
                    cannot.join("\n  ")
                ),
                "leave those SLOs out with --slo, or use --naming vitals (windows scaled to the SLO window)",
            ));
        }
    }
    let yaml = crate::rules::generate(
        &config,
        &slos,
        args.slos.is_empty(),
        &config.slo_source.path.display().to_string(),
        args.naming,
    );
    if !yaml.contains("\n  - name: ") {
        return Err(Failure::usage_hint(
            "nothing to generate: the SLOs chosen have no alert (threshold SLOs with severity = \"none\")",
            "choose SLOs that alert, or leave --slo out",
        ));
    }
    // promtool reads a file: the output itself, or a scratch copy of it.
    let scratch;
    let checked_path = match &args.out {
        Some(p) => {
            let tmp = p.with_extension("yml.tmp");
            std::fs::write(&tmp, &yaml)
                .and_then(|_| std::fs::rename(&tmp, p))
                .map_err(|e| Failure::Output(format!("--out {}: {e}", p.display())))?;
            super::note(settings, &format!("wrote {}", p.display()));
            p.clone()
        }
        None => {
            super::print(&yaml)?;
            if !args.check {
                return Ok(ExitStatus::Success);
            }
            scratch = std::env::temp_dir().join(format!("vitals-rules-{}.yml", std::process::id()));
            std::fs::write(&scratch, &yaml)
                .map_err(|e| Failure::Output(format!("{}: {e}", scratch.display())))?;
            scratch.clone()
        }
    };
    if !args.check {
        return Ok(ExitStatus::Success);
    }
    let result = Command::new("promtool")
        .arg("check")
        .arg("rules")
        .arg(&checked_path)
        .output();
    if args.out.is_none() {
        let _ = std::fs::remove_file(&checked_path);
    }
    match result {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            super::say(
                settings,
                Severity::Warning,
                "--check: promtool is not installed, the rules were not checked (it comes with Prometheus: apt-get install prometheus)",
            );
            Ok(ExitStatus::Undecided)
        }
        Err(e) => Err(Failure::Output(format!(
            "--check: cannot run promtool: {e}"
        ))),
        Ok(out) if out.status.success() => {
            super::note(
                settings,
                &format!(
                    "promtool check rules: {}",
                    String::from_utf8_lossy(&out.stdout)
                        .lines()
                        .filter(|l| !l.trim().is_empty())
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
            );
            Ok(ExitStatus::Success)
        }
        Ok(out) => Err(Failure::usage(format!(
            "promtool rejected the generated rules:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))),
    }
}
