//! The on-call screen as text: the verdict, one row per component, then why anything is
//! not OK.

use comfy_table::Cell;

use super::Paint;
use crate::status::{Health, Level, SPARK_POINTS, SloState, StatusReport};
use crate::units::Unit;

/// The name in a problem line (`fail api-5xx-ratio{service=mes}: ...`).
fn problem_name(p: &str) -> &str {
    let head = p.split(": ").next().unwrap_or(p);
    head.split_once(' ').map(|x| x.1).unwrap_or(head)
}

/// `FAIL api-5xx-ratio{service=mes} +1 (1/3 pass); budget 54.5 % (mes-latency)`: the
/// worst SLO that alerts, how many pass, the least budget left and whose it is, and the
/// period KPIs off target.
fn slo_cell(s: &SloState) -> String {
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
pub(crate) fn table(report: &StatusReport, color: bool, wrap: bool) -> String {
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
    let mut t = super::table::new(
        &["component", "status", "signals", "SLOs", "last hour"],
        wrap,
    );
    super::table::styling(&mut t, color);
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
                let line =
                    super::sparkline(&super::downsample(&pts, start, end + 1e-9, SPARK_POINTS));
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
