//! `vitals status`: the on-call snapshot, once or refreshed in place (`--watch`).

use std::time::Duration as StdDuration;

use crate::cli::{Format, StatusArgs};
use crate::config::Config;
use crate::exit::{ExitStatus, Failure};
use crate::progress::Progress;
use crate::render::{self, json};
use crate::settings::Settings;
use crate::slo::eval::{self, Status};
use crate::status::{self, Health, StatusReport};
use crate::timespec::parse_instant;

pub(crate) async fn run(settings: &Settings, args: &StatusArgs) -> Result<ExitStatus, Failure> {
    let format = settings.format("status", &[Format::Table, Format::Json])?;
    let config = settings.config()?;
    let fixed_at = args
        .at
        .as_deref()
        .map(|a| parse_instant(a, settings.now).map_err(|e| Failure::usage(format!("--at: {e}"))))
        .transpose()?;
    let watch: Option<StdDuration> = args
        .watch
        .as_deref()
        .map(|w| {
            w.parse::<crate::duration::Duration>()
                .map_err(|e| Failure::usage(format!("--watch: {e}")))
                .and_then(|d| {
                    if d.secs() < 1 {
                        Err(Failure::usage("--watch must be at least 1s"))
                    } else {
                        Ok(d.to_std())
                    }
                })
        })
        .transpose()?;
    if watch.is_some() && fixed_at.is_some() {
        return Err(Failure::usage(
            "--watch shows the present; it cannot be combined with --at",
        ));
    }
    let prom = settings.prom()?;
    // Listen for Ctrl-C from the start, so it is never the default handler that ends a
    // --watch half-way through a screen.
    let stop = std::sync::Arc::new(tokio::sync::Notify::new());
    if watch.is_some() {
        let s = stop.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                s.notify_one();
            }
        });
    }
    // What the screen's signals are, and what `vitals rules` records of them: the same
    // for every refresh.
    let terms = status::recorded_terms(&config);
    let mut first = true;
    loop {
        // --deadline bounds each screen, not the whole watch.
        prom.renew_deadline();
        let at = fixed_at.unwrap_or_else(|| chrono::Utc::now().with_timezone(&chrono::Utc));
        let at = at - chrono::Duration::nanoseconds(at.timestamp_subsec_nanos() as i64);
        let probe = (args.source != crate::cli::SliSource::Raw)
            .then(|| status::recorded::probe(&terms, at))
            .flatten();
        // A refresh draws no progress bar: it would land below the footer and scroll the
        // screen; the footer's time says when the screen was read.
        let progress = if first {
            Progress::new(
                settings,
                format,
                (2 + usize::from(probe.is_some()) + eval::query_count(&config.slos, args.source))
                    as u64,
                "reading the system",
            )
        } else {
            Progress::hidden()
        };
        first = false;
        let tick = || progress.tick();
        let screen = Screen {
            settings,
            prom: &prom,
            config: &config,
            terms: &terms,
            at,
            source: args.source,
        };
        let ((signals, sparks, choice), rows) = tokio::join!(
            screen.signals(probe.as_ref(), &tick),
            eval::evaluate(&config.slos, &prom, at, args.source, &tick)
        );
        tick();
        tick();
        progress.finish();
        for r in &rows {
            super::warn_prometheus(settings, &format!("slo {}", r.name), &r.warnings);
        }
        for a in [&signals, &sparks].into_iter().flatten() {
            super::warn_prometheus(settings, "status", &a.warnings);
        }
        let mut report = status::assemble(
            &config,
            &rows,
            signals.as_ref(),
            sparks.as_ref(),
            at,
            &choice,
        );
        if let Some(url) = &args.alertmanager {
            let alerting = |n: &str| config.alerts(n);
            match crate::alertmanager::view(url, &rows, &alerting, fixed_at.is_some()).await {
                Ok(v) => report.alertmanager = Some(v),
                Err(e) => report.errors.push(e),
            }
        }
        let code = exit_status(&report, &rows, &config);
        let footer = match watch {
            None => format!("at {}", report.at),
            Some(every) => format!(
                "at {} · every {} · {} · Ctrl-C quits",
                report.at,
                crate::duration::Duration::from_millis(every.as_millis() as u64),
                match report.errors.len() {
                    0 => "no errors".to_string(),
                    1 => "1 error".to_string(),
                    n => format!("{n} errors"),
                }
            ),
        };
        let text = match format {
            Format::Json => json::to_string(&report),
            _ => render::status::screen(&report, room(settings, watch.is_some()), &footer),
        };
        match watch {
            None => {
                super::print(&text)?;
                return Ok(code);
            }
            Some(every) => {
                if settings.stdout_tty {
                    // Redrawn in place: home, each line cleared to its end, the rest of the
                    // old screen cleared (no blank flash between refreshes).
                    // No newline after the last line: on the bottom row it would scroll the
                    // verdict off the top.
                    let redraw: Vec<String> = text.lines().map(|l| format!("{l}\x1b[K")).collect();
                    super::print_raw(&format!("\x1b[H{}\x1b[J", redraw.join("\n")))?;
                } else {
                    super::print(&text)?;
                }
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = stop.notified() => {
                        // The prompt goes below the screen, not onto its footer.
                        if settings.stdout_tty {
                            super::print_raw("\n")?;
                        }
                        return Ok(code);
                    }
                }
            }
        }
    }
}

/// What one screen's signals are read with.
struct Screen<'a> {
    settings: &'a Settings,
    prom: &'a crate::prom::Prom,
    config: &'a Config,
    terms: &'a [status::recorded::Term],
    at: chrono::DateTime<chrono::Utc>,
    source: crate::cli::SliSource,
}

impl Screen<'_> {
    /// The signals' probe first (it says which are read from recorded series), then the
    /// signals and sparklines (asked while the SLOs are evaluated).
    async fn signals(
        &self,
        probe: Option<&crate::prom::Request>,
        tick: &(dyn Fn() + Sync),
    ) -> (
        Result<crate::prom::Answer, crate::prom::PromError>,
        Result<crate::prom::Answer, crate::prom::PromError>,
        status::recorded::Choice,
    ) {
        let choice = match probe {
            Some(p) => {
                let answer = self.prom.run(p).await;
                tick();
                if let Ok(a) = &answer {
                    super::warn_prometheus(self.settings, "status", &a.warnings);
                }
                status::recorded::choose(self.terms, answer.as_ref(), self.at, self.source)
            }
            None => status::recorded::Choice::raw(),
        };
        let (signals_req, sparks_req) = status::requests(self.config, self.at, &choice);
        let (signals, sparks) =
            tokio::join!(self.prom.run(&signals_req), self.prom.run(&sparks_req));
        (signals, sparks, choice)
    }
}

/// The terminal's size on a terminal; else `COLUMNS` and `LINES` when set (a script that
/// wants a given layout), else wide and as long as it takes. Printed once, the screen leaves
/// a line for the shell's prompt; `--watch` owns the whole terminal.
fn room(settings: &Settings, watch: bool) -> render::status::Room {
    let env = |k: &str| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
    };
    let (cols, rows) = if settings.stdout_tty {
        match console::Term::stdout().size_checked() {
            Some((r, c)) => (c as usize, Some(r as usize)),
            None => (80, Some(24)),
        }
    } else {
        (env("COLUMNS").unwrap_or(200), env("LINES"))
    };
    render::status::Room {
        cols: cols.clamp(40, 400),
        rows: rows.map(|r| r.saturating_sub(usize::from(!watch)).max(8)),
        color: settings.color_stdout,
    }
}

/// 1 when a component is down or an SLO breached, 3 when something could not be read (and
/// nothing breached), else 0.
fn exit_status(report: &StatusReport, rows: &[eval::Row], config: &Config) -> ExitStatus {
    if rows.iter().any(|r| r.config_error) {
        return ExitStatus::Usage;
    }
    // A period KPI off target (severity = "none") is not an on-call breach.
    let breached = rows
        .iter()
        .any(|r| r.status == Status::Fail && config.alerts(&r.name));
    if report.components.iter().any(|c| c.status == Health::Down) || breached {
        ExitStatus::Breach
    } else if report
        .components
        .iter()
        .any(|c| c.status == Health::Unknown)
        || !report.errors.is_empty()
    {
        ExitStatus::Undecided
    } else {
        ExitStatus::Success
    }
}
