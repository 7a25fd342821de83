//! Terminal tables (comfy-table), one look for every command.

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{Cell, CellAlignment, ContentArrangement, Table};

/// A table with the project's style. `wrap` lets comfy-table fit the terminal width (only
/// on a terminal: piped output keeps whole lines).
pub(crate) fn new(headers: &[&str], wrap: bool) -> Table {
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED.with_rounded_corners());
    t.set_content_arrangement(if wrap {
        ContentArrangement::Dynamic
    } else {
        ContentArrangement::Disabled
    });
    // comfy-table reads the terminal width only while it styles for a terminal; without
    // colour (`--color never`, NO_COLOR) it must be told.
    if wrap && let Some((_, cols)) = console::Term::stdout().size_checked() {
        t.set_width(cols);
    }
    t.set_header(headers.iter().map(|h| Cell::new(*h)));
    t
}

/// Right-aligns the given columns (numbers).
pub(crate) fn align_right(t: &mut Table, columns: impl IntoIterator<Item = usize>) {
    for c in columns {
        if let Some(col) = t.column_mut(c) {
            col.set_cell_alignment(CellAlignment::Right);
        }
    }
}

use comfy_table::Color;

use crate::slo::eval::{CheckReport, Status};

/// `PASS`, `WARN`, `FAIL`, `????`: the word always says it; colour only helps.
pub(crate) fn status_cell(status: Status, color: bool) -> Cell {
    let (text, c) = match status {
        Status::Pass => ("PASS", Color::Green),
        Status::Warn => ("WARN", Color::Yellow),
        Status::Fail => ("FAIL", Color::Red),
        Status::Inconclusive => ("INCONCLUSIVE", Color::Magenta),
    };
    let cell = Cell::new(text);
    if color { cell.fg(c) } else { cell }
}

/// Applies the colour decision: styled on a terminal (or `--color always`), plain otherwise.
pub(crate) fn styling(t: &mut Table, color: bool) {
    if color {
        t.enforce_styling();
    } else {
        t.force_no_tty();
    }
}

/// The `vitals check` table, with the reasons of every row that did not pass below it.
pub(crate) fn check(report: &CheckReport, color: bool, wrap: bool) -> String {
    let mut t = new(
        &[
            "status",
            "SLO",
            "component",
            "value vs objective",
            "budget left",
            "fastest burn",
        ],
        wrap,
    );
    styling(&mut t, color);
    for r in &report.slos {
        t.add_row(vec![
            status_cell(r.status, color),
            Cell::new(r.display_name()),
            Cell::new(&r.component),
            Cell::new(r.value_vs_objective()),
            Cell::new(r.budget_left()),
            Cell::new(r.fastest_burn()),
        ]);
    }
    let s = &report.summary;
    let mut out = format!(
        "{} SLOs at {} ({}): {} pass, {} warn, {} fail, {} inconclusive\n{t}\n",
        report.slos.len(),
        report.at,
        report.config,
        s["pass"],
        s["warn"],
        s["fail"],
        s["inconclusive"]
    );
    for l in crate::slo::eval::source_lines(&report.slos) {
        out.push_str(&format!("{l}\n"));
    }
    for r in report.slos.iter().filter(|r| r.status != Status::Pass) {
        out.push_str(&format!(
            "{} {}: {}\n",
            r.status.as_str().to_uppercase(),
            r.display_name(),
            r.reason
        ));
        if let Some(e) = &r.error {
            out.push_str(&format!("  {e}\n"));
        }
    }
    out
}

/// The `vitals incidents` table: a summary line, one row per incident, its conditions and
/// cause hints in the last columns.
pub(crate) fn incidents(
    report: &crate::incidents::IncidentReport,
    color: bool,
    wrap: bool,
) -> String {
    use crate::incidents::Severity;
    let mut t = new(
        &[
            "#",
            "start",
            "end",
            "duration",
            "severity",
            "component",
            "conditions",
            "cause hints",
        ],
        wrap,
    );
    styling(&mut t, color);
    for i in &report.incidents {
        let sev = Cell::new(i.severity.as_str().to_uppercase());
        let sev = if color {
            sev.fg(match i.severity {
                Severity::Page => Color::Red,
                Severity::Ticket => Color::Yellow,
                Severity::Info => Color::Cyan,
            })
        } else {
            sev
        };
        let conditions: Vec<String> = i
            .conditions
            .iter()
            .map(|m| {
                format!(
                    "{} ({}, {})",
                    m.display_name(),
                    m.severity.as_str(),
                    m.peak_text
                )
            })
            .collect();
        t.add_row(vec![
            Cell::new(i.id),
            Cell::new(&i.start),
            Cell::new(i.end.as_deref().unwrap_or("ongoing")),
            Cell::new(crate::incidents::duration_text(
                i.duration_seconds,
                i.ongoing,
            )),
            sev,
            Cell::new(i.components.join(", ")),
            Cell::new(conditions.join("\n")),
            Cell::new(i.cause.join("\n")),
        ]);
    }
    let mut out = format!("{}\n", crate::incidents::summary_line(report));
    if !report.incidents.is_empty() {
        out.push_str(&format!("{t}\n"));
    }
    out
}
