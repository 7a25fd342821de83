//! Flags, environment and files turned into validated settings before any network I/O.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Timelike, Utc};

mod client;

use crate::catalog::Catalog;
use crate::cli::{ColorChoice, Format, GlobalArgs, TimeArgs};
use crate::config::Config;
use crate::diag::{Problem, Source};
use crate::duration::Duration;
use crate::exit::Failure;
use crate::prom;
use crate::slo::model as slo_model;
use crate::timespec::{parse_instant_in, parse_time_in};

/// Prometheus refuses range queries of more than 11,000 points per series.
pub const MAX_POINTS: u64 = 11_000;
/// What an automatically chosen step aims for.
pub const TARGET_POINTS: u64 = 1_000;

/// Everything a command needs to know about how it was invoked.
pub struct Settings {
    pub global: GlobalArgs,
    /// The instant this run treats as "now" (one value for every query of a run).
    pub now: DateTime<Utc>,
    pub timeout: Duration,
    pub color_stdout: bool,
    pub color_stderr: bool,
    /// Whether stderr is a terminal (progress bars).
    pub stderr_tty: bool,
    /// Whether stdout is a terminal (tables fit its width; piped output keeps whole lines).
    pub stdout_tty: bool,
}

impl Settings {
    pub(crate) fn new(global: GlobalArgs) -> Result<Self, Failure> {
        let timeout: Duration = global
            .timeout
            .parse()
            .map_err(|e| Failure::usage(format!("--timeout: {e}")))?;
        if timeout.millis() < 100 {
            return Err(Failure::usage("--timeout must be at least 100ms"));
        }
        if global.concurrency == 0 || global.concurrency > 64 {
            return Err(Failure::usage("--concurrency must be between 1 and 64"));
        }
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let decide = |tty: bool| match global.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => tty && !no_color,
        };
        let stderr_tty = std::io::stderr().is_terminal();
        let stdout_tty = std::io::stdout().is_terminal();
        Ok(Settings {
            color_stdout: decide(stdout_tty),
            stdout_tty,
            color_stderr: decide(stderr_tty),
            stderr_tty,
            timeout,
            // Whole seconds: every query of a run shares this instant, and outputs read better.
            now: Utc::now().with_nanosecond(0).unwrap_or_else(Utc::now),
            global,
        })
    }

    /// The output format, checked against what the command supports.
    pub(crate) fn format(&self, command: &str, supported: &[Format]) -> Result<Format, Failure> {
        let f = self.global.format.unwrap_or(supported[0]);
        if supported.contains(&f) {
            Ok(f)
        } else {
            Err(Failure::usage(format!(
                "`{command}` cannot write --format {}; it supports {}",
                f.name(),
                supported
                    .iter()
                    .map(|f| f.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            )))
        }
    }

    /// Progress bars and notes are for people: not with --quiet, not off a terminal.
    pub(crate) fn chatty(&self) -> bool {
        !self.global.quiet
    }

    /// The SLO file used: `--config`, else `./slo.toml`; `None`: the built-in one.
    fn slo_path(&self) -> Option<PathBuf> {
        match &self.global.config {
            Some(p) => Some(p.clone()),
            None if Path::new("slo.toml").is_file() => Some(PathBuf::from("slo.toml")),
            None => None,
        }
    }

    /// The directory of the SLO file used, where the site and the catalog are looked for.
    fn config_dir(&self) -> Option<PathBuf> {
        self.slo_path().map(|p| {
            p.parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."))
                .to_path_buf()
        })
    }

    /// A file or directory given with a flag must exist: that mistake is told apart from
    /// mistakes inside the files.
    fn given(path: &Option<PathBuf>, flag: &str, dir: bool) -> Result<(), Failure> {
        match path {
            Some(p) if dir && !p.is_dir() => Err(Failure::usage_hint(
                format!("{flag} {}: directory not found", p.display()),
                format!(
                    "give the directory of your query files, or leave {flag} out to use the built-in catalog"
                ),
            )),
            Some(p) if !dir && !p.is_file() => Err(Failure::usage_hint(
                format!("{flag} {}: file not found", p.display()),
                format!(
                    "give the path of the file, or leave {flag} out to use the one in the current directory or the built-in reference configuration"
                ),
            )),
            _ => Ok(()),
        }
    }

    /// The catalog: `--queries`, else `queries/` beside the SLO file, else `./queries`,
    /// else the built-in one; with the problems of loading it.
    fn load_catalog(&self) -> (Catalog, Vec<Problem>) {
        if let Some(dir) = &self.global.queries {
            return Catalog::load_dir(dir);
        }
        if let Some(d) = self
            .config_dir()
            .map(|d| d.join("queries"))
            .filter(|d| d.is_dir())
        {
            return Catalog::load_dir(&d);
        }
        if Path::new("queries").is_dir() {
            return Catalog::load_dir(Path::new("queries"));
        }
        Catalog::builtin()
    }

    /// The problems `vitals lint` would find in this site and SLO file (with the catalog
    /// these settings load): what `vitals init` checks before it says it is done.
    pub(crate) fn check_files(&self, site: &Path, slo: &Path) -> Vec<Problem> {
        let site = match Self::read_source(site, "site file") {
            Ok(s) => s,
            Err(p) => return vec![p],
        };
        let slo = match Self::read_source(slo, "SLO file") {
            Ok(s) => s,
            Err(p) => return vec![p],
        };
        Config::load(self.load_catalog(), Some(&site), &slo).1
    }

    fn read_source(p: &Path, what: &str) -> Result<Source, Problem> {
        std::fs::read_to_string(p)
            .map(|t| Source::new(p, t))
            .map_err(|e| Problem::in_file(p, format!("cannot read the {what}: {e}")))
    }

    /// The site file: `--site`, else `site.toml` beside the SLO file; the built-in one with
    /// the built-in SLOs; `None` when an SLO file has no site beside it (its components are
    /// the site).
    fn site_source(&self) -> Result<Option<Source>, Problem> {
        if let Some(p) = &self.global.site {
            return Self::read_source(p, "site file").map(Some);
        }
        match self.config_dir() {
            Some(dir) => match dir.join("site.toml") {
                p if p.is_file() => Self::read_source(&p, "site file").map(Some),
                _ => Ok(None),
            },
            None => Ok(Some(Source::new(
                "<built-in>/site.toml",
                crate::site::BUILTIN,
            ))),
        }
    }

    /// The catalog, site and SLOs with every problem found in them (for `lint`, which
    /// reports rather than stops). A flag naming a missing file is a usage error.
    pub(crate) fn load_config(&self) -> Result<(Config, Vec<Problem>), Failure> {
        Self::given(&self.global.config, "--config", false)?;
        Self::given(&self.global.site, "--site", false)?;
        Self::given(&self.global.queries, "--queries", true)?;
        let mut problems = Vec::new();
        let site = self.site_source().unwrap_or_else(|p| {
            problems.push(p);
            None
        });
        let slos = match self.slo_path() {
            Some(p) => Self::read_source(&p, "SLO file").unwrap_or_else(|e| {
                problems.push(e);
                Source::new(p, "")
            }),
            None => Source::new("<built-in>/slo.toml", slo_model::BUILTIN),
        };
        let (config, more) = Config::load(self.load_catalog(), site.as_ref(), &slos);
        problems.extend(more);
        Ok((config, problems))
    }

    /// The catalog alone, bound to the site's components, for commands that only run
    /// queries (`query`, `queries`): a mistake in the SLOs or the rest of the site does not
    /// stop them. Problems of the catalog itself do (exit 2).
    pub(crate) fn catalog(&self) -> Result<Catalog, Failure> {
        Self::given(&self.global.site, "--site", false)?;
        Self::given(&self.global.queries, "--queries", true)?;
        let (mut catalog, mut problems) = self.load_catalog();
        let services = match self.site_source() {
            Ok(Some(src)) => crate::site::parse(&src).0.services_by_kind(),
            _ => Default::default(),
        };
        problems.extend(catalog.bind_components(&crate::site::Kind::ALL, &services));
        if problems.is_empty() {
            Ok(catalog)
        } else {
            Err(Failure::Config(problems))
        }
    }

    /// The validated configuration: any problem stops the command (exit 2).
    pub(crate) fn config(&self) -> Result<Config, Failure> {
        let (config, problems) = self.load_config()?;
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(Failure::Config(problems))
        }
    }
}

/// Parses repeated `--param k=v` flags.
pub(crate) fn parse_params(raw: &[String]) -> Result<BTreeMap<String, String>, Failure> {
    let mut out = BTreeMap::new();
    for p in raw {
        let Some((k, v)) = p.split_once('=') else {
            return Err(Failure::usage(format!(
                "--param {p:?}: expected NAME=VALUE"
            )));
        };
        if out.insert(k.trim().to_string(), v.to_string()).is_some() {
            return Err(Failure::usage(format!("--param {}: given twice", k.trim())));
        }
    }
    Ok(out)
}

/// An instant or a range, resolved.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TimeSpec {
    At(DateTime<Utc>),
    Range {
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        /// `None`: the caller picks a step for its drawing width or point budget.
        step: Option<Duration>,
    },
}

impl TimeArgs {
    /// Resolves the flags against `now`, plain dates in UTC.
    pub(crate) fn resolve(&self, now: DateTime<Utc>) -> Result<TimeSpec, Failure> {
        self.resolve_in(now, &Utc)
    }

    /// Resolves the flags against `now`, plain dates (`2026-11-18`) at midnight in `zone`.
    pub(crate) fn resolve_in<Z: chrono::TimeZone>(
        &self,
        now: DateTime<Utc>,
        zone: &Z,
    ) -> Result<TimeSpec, Failure> {
        let time = |flag: &str, s: &str| {
            parse_time_in(s, now, zone).map_err(|e| Failure::usage(format!("{flag}: {e}")))
        };
        let step = self
            .step
            .as_deref()
            .map(|s| {
                s.parse::<Duration>()
                    .map_err(|e| Failure::usage(format!("--step: {e}")))
            })
            .transpose()?;
        if step.is_some_and(|s| s.millis() == 0) {
            return Err(Failure::usage("--step must be longer than zero"));
        }
        let (start, end) = match (&self.since, &self.from, &self.to) {
            (Some(since), _, _) => {
                let d: Duration = since
                    .parse()
                    .map_err(|e| Failure::usage(format!("--since: {e}")))?;
                if d.millis() == 0 {
                    return Err(Failure::usage("--since must be longer than zero"));
                }
                let start = now.checked_sub_signed(d.to_chrono()).ok_or_else(|| {
                    Failure::usage(format!("--since {since}: reaches before the year 0"))
                })?;
                (start, now)
            }
            (None, Some(from), to) => {
                let start = time("--from", from)?;
                let end = match to {
                    Some(t) => time("--to", t)?,
                    None => now,
                };
                (start, end)
            }
            (None, None, _) => {
                if step.is_some() {
                    return Err(Failure::usage(
                        "--step needs a range: give --since or --from",
                    ));
                }
                let at = match &self.at {
                    Some(a) => parse_instant_in(a, now, zone)
                        .map_err(|e| Failure::usage(format!("--at: {e}")))?,
                    None => now,
                };
                return Ok(TimeSpec::At(at));
            }
        };
        if end <= start {
            return Err(Failure::usage(format!(
                "the range is empty: --from {} is not before --to {}",
                crate::timespec::format_time(start),
                crate::timespec::format_time(end)
            )));
        }
        if let Some(s) = step {
            let n = prom::points(end - start, s);
            if n > MAX_POINTS {
                let min = prom::auto_step(end - start, MAX_POINTS - 1, Duration::from_secs(1));
                return Err(Failure::usage_hint(
                    format!(
                        "--step {s} gives {n} points per series; Prometheus allows at most {MAX_POINTS}"
                    ),
                    format!("use --step {min} or more, or leave --step out"),
                ));
            }
        }
        Ok(TimeSpec::Range { start, end, step })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn params_are_name_value_pairs() {
        let p = parse_params(&["service=shop|crm".into(), "window=1h".into()]).unwrap();
        assert_eq!(p["service"], "shop|crm");
        assert!(parse_params(&["service".into()]).is_err());
        assert!(parse_params(&["a=1".into(), "a=2".into()]).is_err());
    }

    #[test]
    fn time_flags_resolve_to_an_instant_or_a_range() {
        let now = Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap();
        let args = TimeArgs::default();
        assert_eq!(args.resolve(now).unwrap(), TimeSpec::At(now));
        let since = TimeArgs {
            since: Some("24h".into()),
            ..Default::default()
        };
        assert_eq!(
            since.resolve(now).unwrap(),
            TimeSpec::Range {
                start: now - chrono::Duration::hours(24),
                end: now,
                step: None
            }
        );
        let too_fine = TimeArgs {
            since: Some("7d".into()),
            step: Some("15s".into()),
            ..Default::default()
        };
        let e = too_fine.resolve(now).unwrap_err().to_string();
        assert!(e.contains("40321 points"), "{e}");
        let backwards = TimeArgs {
            from: Some("now".into()),
            to: Some("now-1h".into()),
            ..Default::default()
        };
        assert!(backwards.resolve(now).is_err());
    }
}
