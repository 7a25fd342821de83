//! Progress bars on stderr for commands that send many queries: shown only on a terminal,
//! never with `--quiet` or machine output, and only once the work has taken ~300 ms (a fast
//! answer should not flicker).

use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cli::Format;
use crate::settings::Settings;

/// A bar that may never be drawn.
#[derive(Clone)]
pub struct Progress {
    bar: Option<Arc<ProgressBar>>,
}

/// Below this many queries a command is quick enough without a bar.
const MIN_QUERIES: u64 = 6;
const DELAY: Duration = Duration::from_millis(300);

/// Whether a bar is drawn at all: for people on a terminal, not with `--quiet`, not with
/// machine output, and not for a handful of queries.
fn wanted(stderr_tty: bool, quiet: bool, format: Format, total: u64) -> bool {
    stderr_tty
        && !quiet
        && !matches!(format, Format::Json | Format::Junit | Format::Csv)
        && total >= MIN_QUERIES
}

impl Progress {
    pub(crate) fn hidden() -> Self {
        Self { bar: None }
    }

    pub(crate) fn new(settings: &Settings, format: Format, total: u64, what: &str) -> Self {
        if !wanted(settings.stderr_tty, settings.global.quiet, format, total) {
            return Self::hidden();
        }
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden());
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} {msg} {pos}/{len} queries [{bar:30}] {elapsed}",
            )
            .expect("static template")
            .progress_chars("=> "),
        );
        bar.set_message(what.to_string());
        let bar = Arc::new(bar);
        let later = bar.clone();
        std::thread::spawn(move || {
            std::thread::sleep(DELAY);
            if !later.is_finished() {
                later.set_draw_target(ProgressDrawTarget::stderr());
                later.enable_steady_tick(Duration::from_millis(100));
            }
        });
        Self { bar: Some(bar) }
    }

    /// One query done.
    pub(crate) fn tick(&self) {
        if let Some(b) = &self.bar {
            b.inc(1);
        }
    }

    /// Removes the bar (before printing results).
    pub(crate) fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bar_is_only_for_people_on_a_terminal() {
        assert!(wanted(true, false, Format::Table, 20));
        assert!(wanted(true, false, Format::Markdown, 20));
        assert!(
            !wanted(false, false, Format::Table, 20),
            "stderr is not a terminal"
        );
        assert!(!wanted(true, true, Format::Table, 20), "--quiet");
        for f in [Format::Json, Format::Junit, Format::Csv] {
            assert!(!wanted(true, false, f, 20), "{f:?}");
        }
        assert!(
            !wanted(true, false, Format::Table, MIN_QUERIES - 1),
            "a handful"
        );
    }
}
