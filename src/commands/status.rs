//! `vitals status`: the on-call snapshot, once or refreshed in place (`--watch`).

use std::time::Duration as StdDuration;

use comfy_table::Cell;

use crate::cli::{Format, StatusArgs};
use crate::config::Config;
use crate::exit::{ExitStatus, Failure};
use crate::progress::Progress;
use crate::render::{self, Paint, json, table};
use crate::settings::Settings;
use crate::slo::eval::{self, Status};
use crate::status::{self, Health, Level, StatusReport};
use crate::timespec::parse_time;
use crate::units::Unit;

pub async fn run(settings: &Settings, args: &StatusArgs) -> Result<ExitStatus, Failure> {
    let format = settings.format("status", &[Format::Table, Format::Json])?;
    let config = settings.config()?;
    let fixed_at = args
        .at
        .as_deref()
        .map(|a| parse_time(a, settings.now).map_err(|e| Failure::usage(format!("--at: {e}"))))
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
    loop {
        let at = fixed_at.unwrap_or_else(|| chrono::Utc::now().with_timezone(&chrono::Utc));
        let at = at - chrono::Duration::nanoseconds(at.timestamp_subsec_nanos() as i64);
        let progress = Progress::new(
            settings,
            format,
            (2 + eval::query_count(&config.slos)) as u64,
            "reading the system",
        );
        let tick = || progress.tick();
        let (signals_req, sparks_req) = status::requests(&config, at);
        let (signals, sparks, rows) = tokio::join!(
            prom.run(&signals_req),
            prom.run(&sparks_req),
            eval::evaluate(&config.slos, &prom, at, &tick)
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
        let report = status::assemble(&config, &rows, signals.as_ref(), sparks.as_ref(), at);
        let code = exit_status(&report, &rows, &config);
        let text = match format {
            Format::Json => json::to_string(&report),
            _ => render_table(&report, settings.color_stdout, settings.stdout_tty),
        };
        match watch {
            None => {
                super::print(&text)?;
                return Ok(code);
            }
            Some(every) => {
                if settings.stdout_tty {
                    // Home and clear: the screen is redrawn in place.
                    super::print(&format!("\x1b[H\x1b[2J{text}"))?;
                } else {
                    super::print(&text)?;
                }
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = stop.notified() => return Ok(code),
                }
            }
        }
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

/// The name in a problem line (`fail api-5xx-ratio{service=mes}: ...`).
fn problem_name(p: &str) -> &str {
    let head = p.split(": ").next().unwrap_or(p);
    head.split_once(' ').map(|x| x.1).unwrap_or(head)
}

/// `FAIL api-5xx-ratio{service=mes} +1 (1/3 pass); budget 54.5 % (mes-latency)`: the
/// worst SLO that alerts, how many pass, the least budget left and whose it is, and the
/// period KPIs off target.
fn slo_cell(s: &status::SloState) -> String {
    let mut parts = Vec::new();
    if s.count > 0 {
        let word = s.status.as_str().to_uppercase();
        let pass = s.count - s.problems.len();
        parts.push(match s.problems.first() {
            None => format!("{word} {pass}/{}", s.count),
            Some(p) => {
                let more = s.problems.len() - 1;
                let more = if more > 0 {
                    format!(" +{more}")
                } else {
                    String::new()
                };
                format!("{word} {}{more} ({pass}/{} pass)", problem_name(p), s.count)
            }
        });
    }
    if let (Some(b), Some(who)) = (s.budget_left, &s.budget_slo) {
        parts.push(format!("budget {} ({who})", Unit::Ratio.format(b)));
    }
    if !s.kpi_problems.is_empty() {
        let names: Vec<&str> = s.kpi_problems.iter().map(|p| problem_name(p)).collect();
        parts.push(format!("KPI off target: {}", names.join(", ")));
    }
    parts.join("; ")
}

fn health_cell(h: Health, color: bool) -> Cell {
    let c = Cell::new(h.word());
    if !color {
        return c;
    }
    c.fg(match h {
        Health::Ok => comfy_table::Color::Green,
        Health::Degraded => comfy_table::Color::Yellow,
        Health::Down => comfy_table::Color::Red,
        Health::Unknown => comfy_table::Color::Magenta,
    })
}

/// The screen: verdict, one row per component, then why anything is not OK.
pub fn render_table(report: &StatusReport, color: bool, wrap: bool) -> String {
    let paint = Paint { on: color };
    let verdict = match report.verdict.as_str() {
        "HEALTHY" => paint.green(&report.verdict_line),
        "DOWN" => paint.red(&report.verdict_line),
        "DEGRADED" => paint.yellow(&report.verdict_line),
        _ => paint.bold(&report.verdict_line),
    };
    // When the table is fitted to the terminal, a signal (`p95 162 ms`) is never split
    // across lines: only the ` · ` between signals may break.
    let keep = |s: &str| {
        if wrap {
            s.replace(' ', "\u{a0}")
        } else {
            s.to_string()
        }
    };
    let mut t = table::new(
        &["component", "status", "signals", "SLOs", "last hour"],
        wrap,
    );
    table::styling(&mut t, color);
    for c in &report.components {
        let signals: Vec<String> = c
            .signals
            .iter()
            .map(|s| {
                let text = keep(&format!("{} {}", s.name, s.text));
                match s.level {
                    Level::Fail => paint.red(&text),
                    Level::Warn => paint.yellow(&text),
                    Level::NoData => paint.dim(&text),
                    Level::Ok => text,
                }
            })
            .collect();
        let mut sig = signals.join(" · ");
        if let Some((u, n)) = c.targets_up {
            sig.push_str(&format!(" · {}", keep(&format!("{u}/{n} up"))));
        }
        let slos = match &c.slos {
            None => String::new(),
            Some(s) => slo_cell(s),
        };
        let spark = c
            .spark
            .as_ref()
            .map(|s| {
                let start = s.points.first().map(|p| p.0).unwrap_or(0.0);
                let end = s.points.last().map(|p| p.0).unwrap_or(1.0);
                let pts: Vec<(f64, f64)> = s
                    .points
                    .iter()
                    .map(|(t, v)| (*t, v.unwrap_or(f64::NAN)))
                    .collect();
                let line = render::sparkline(&render::downsample(
                    &pts,
                    start,
                    end + 1e-9,
                    status::SPARK_POINTS,
                ));
                let last = s
                    .points
                    .iter()
                    .rev()
                    .find_map(|p| p.1)
                    .map(|v| s.unit.format(v))
                    .unwrap_or_default();
                format!("{line} {last}")
            })
            .unwrap_or_default();
        t.add_row(vec![
            Cell::new(&c.name),
            health_cell(c.status, color),
            Cell::new(sig),
            Cell::new(slos),
            Cell::new(spark),
        ]);
    }
    let mut out = format!("{verdict}\n{t}\n");
    // When nothing could be read, the errors below say it all.
    let blind = report
        .verdict_line
        .starts_with("UNKNOWN: nothing could be read");
    for c in report
        .components
        .iter()
        .filter(|c| c.status != Health::Ok && !blind)
    {
        out.push_str(&format!(
            "{} {}: {}\n",
            c.status.word(),
            c.name,
            c.reasons.join("; ")
        ));
        if let Some(s) = &c.slos {
            for p in &s.problems {
                out.push_str(&format!("  SLO {p}\n"));
            }
            for p in &s.kpi_problems {
                out.push_str(&format!("  KPI {p}\n"));
            }
        }
    }
    for e in &report.errors {
        out.push_str(&format!("error: {e}\n"));
    }
    out.push_str(&format!("at {}\n", report.at));
    out
}
