#![warn(clippy::too_many_lines)]
//! vitals: a health and SLO reporter for Prometheus.
//!
//! Data flows one way: flags become [`settings::Settings`], the catalog and `slo.toml`
//! become validated models ([`catalog`], [`slo`]), queries go through one client
//! ([`prom`]), and [`render`] turns results into tables, JSON and the rest.

// The modules are private: the compiler then finds what nothing uses. What the binary,
// the simulator crate and the integration tests need is exported below.
mod alertmanager;
mod catalog;
mod chart;
mod cli;
mod commands;
mod config;
mod dashboard;
pub mod diag;
pub mod duration;
mod exit;
mod failures;
mod incidents;
mod openslo;
mod progress;
mod prom;
mod render;
mod report;
mod rules;
mod settings;
mod site;
mod slo;
mod status;
pub mod timespec;
mod units;

#[doc(hidden)]
pub mod fuzzing;
#[cfg(test)]
mod prop_tests;

pub use catalog::Catalog;
pub use chart::Chart;
pub use cli::Cli;
pub use config::Config;
/// For tests that look for credentials in every output, encoded as they are sent.
#[doc(hidden)]
pub use prom::base64;
pub use slo::model::{Alerting, Objective, Slo, SloKind};
pub use units::Unit;

use clap::CommandFactory;

/// Layout version of every JSON document vitals writes (a public contract).
pub const SCHEMA_VERSION: u32 = 1;

use crate::cli::Command;
use crate::exit::{ExitStatus, Failure};
use crate::settings::Settings;

/// Runs a parsed command line; the binary maps the result to an exit code.
pub async fn run(cli: Cli) -> (ExitStatus, Option<(Failure, Settings)>) {
    let started = std::time::Instant::now();
    let stats = cli.global.stats;
    let settings = match Settings::new(cli.global) {
        Ok(s) => s,
        Err(f) => {
            for (sev, line) in f.report() {
                eprintln!("{}: {line}", sev.label());
            }
            return (f.status(), None);
        }
    };
    let result = match &cli.command {
        Command::Status(a) => commands::status::run(&settings, a).await,
        Command::Check(a) => commands::check::run(&settings, a).await,
        Command::Query(a) => commands::query::run(&settings, a).await,
        Command::Chart(a) => commands::chart::run(&settings, a).await,
        Command::Incidents(a) => commands::incidents::run(&settings, a).await,
        Command::Report(a) => commands::report::run(&settings, a).await,
        Command::Rules(a) => commands::rules::run(&settings, a),
        Command::Queries(a) => commands::queries::run(&settings, a),
        Command::Openslo(a) => commands::openslo::run(&settings, a),
        Command::Lint => commands::lint::run(&settings),
        Command::Init(a) => commands::init::run(&settings, a).await,
        Command::Dashboard(a) => commands::dashboard::run(&settings, a),
        Command::Completions { shell } => {
            let mut cmd = Cli::command();
            let mut buf = Vec::new();
            clap_complete::generate(*shell, &mut cmd, "vitals", &mut buf);
            commands::print(&String::from_utf8_lossy(&buf)).map(|_| ExitStatus::Success)
        }
        Command::Man => {
            let mut buf = Vec::new();
            clap_mangen::Man::new(Cli::command())
                .render(&mut buf)
                .map_err(|e| Failure::Output(e.to_string()))
                .and_then(|_| commands::print(&String::from_utf8_lossy(&buf)))
                .map(|_| ExitStatus::Success)
        }
    };
    if stats {
        eprintln!(
            "stats: {} requests to Prometheus, {:.0} ms",
            prom::REQUESTS_SENT.load(std::sync::atomic::Ordering::Relaxed),
            started.elapsed().as_secs_f64() * 1000.0
        );
    }
    match result {
        Ok(status) => (status, None),
        Err(f) => (f.status(), Some((f, settings))),
    }
}

/// Prints a failure on stderr: `error: ...` lines, then a `hint:`.
pub fn report_failure(f: &Failure, settings: &Settings) {
    for (sev, line) in f.report() {
        commands::say(settings, sev, &line);
    }
}
