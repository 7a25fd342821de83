//! One file per subcommand, plus the few helpers they share for talking to the user.

pub mod chart;
pub mod check;
pub mod dashboard;
pub mod incidents;
pub mod init;
pub mod lint;
pub mod openslo;
pub mod queries;
pub mod query;
pub mod report;
pub mod rules;
pub mod status;

use crate::exit::{Failure, Severity};
use crate::render::{self, Paint};
use crate::settings::Settings;

/// Prints command output. A reader that went away (`| head`) is not an error and does not
/// change the exit status.
pub(crate) fn print(text: &str) -> Result<(), Failure> {
    match render::stdout(text) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Failure::Output(format!("cannot write to stdout: {e}"))),
    }
}

/// `text` on stdout exactly as it is (no newline added), flushed: a screen redrawn in place.
pub(crate) fn print_raw(text: &str) -> Result<(), Failure> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Failure::Output(format!("cannot write to stdout: {e}"))),
    }
}

/// One line on stderr, `label: text`, coloured on a terminal.
pub(crate) fn say(settings: &Settings, severity: Severity, text: &str) {
    let paint = Paint {
        on: settings.color_stderr,
    };
    let label = match severity {
        Severity::Error => paint.red(&paint.bold("error")),
        Severity::Warning => paint.yellow(&paint.bold("warning")),
        Severity::Hint => paint.cyan("hint"),
        Severity::Note => paint.dim("note"),
    };
    eprintln!("{label}: {text}");
}

/// A note for people (suppressed by `--quiet`).
pub(crate) fn note(settings: &Settings, text: &str) {
    if settings.chatty() {
        say(settings, Severity::Note, text);
    }
}

/// Prometheus' own warnings for a query (suppressed by `--quiet`).
pub(crate) fn warn_prometheus(settings: &Settings, label: &str, warnings: &[String]) {
    if settings.chatty() {
        for w in warnings {
            say(
                settings,
                Severity::Warning,
                &format!("Prometheus, for `{label}`: {w}"),
            );
        }
    }
}

/// What a search has to tell besides its report: a raised step, Prometheus' warnings.
pub(crate) fn tell_incidents(settings: &Settings, found: &crate::incidents::Found) {
    if let Some(w) = found.step_raised {
        note(
            settings,
            &format!(
                "--step {w} raised to {}: a finer one would return too many points",
                found.report.step
            ),
        );
    }
    warn_prometheus(settings, "incidents", &found.warnings);
}
