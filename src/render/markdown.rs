//! Markdown: GitHub-flavoured tables, for CI summaries and reports.

use crate::slo::eval::{CheckReport, Status};

/// A cell's text with the characters that would break a table escaped.
pub fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', "<br>")
}

/// A table; the `right` columns are right-aligned.
pub fn table<S: AsRef<str>>(headers: &[&str], right: &[usize], rows: &[Vec<S>]) -> String {
    let mut out = format!("| {} |\n|", headers.join(" | "));
    for i in 0..headers.len() {
        out.push_str(if right.contains(&i) { "---:|" } else { "---|" });
    }
    out.push('\n');
    for r in rows {
        let cells: Vec<String> = r.iter().map(|c| cell(c.as_ref())).collect();
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    out
}

pub fn status_badge(s: Status) -> &'static str {
    match s {
        Status::Pass => "✅ pass",
        Status::Warn => "⚠️ warn",
        Status::Fail => "❌ fail",
        Status::Inconclusive => "❔ inconclusive",
    }
}

/// `vitals check --format markdown`.
pub fn check(report: &CheckReport) -> String {
    let s = &report.summary;
    let mut out = format!(
        "## SLO check: {}\n\n{} SLOs at {} (`{}`): {} pass, {} warn, {} fail, {} inconclusive.\n\n",
        status_badge(report.status),
        report.slos.len(),
        report.at,
        report.config,
        s["pass"],
        s["warn"],
        s["fail"],
        s["inconclusive"]
    );
    let rows: Vec<Vec<String>> = report
        .slos
        .iter()
        .map(|r| {
            vec![
                status_badge(r.status).to_string(),
                format!("`{}`", r.display_name()),
                r.component.clone(),
                r.value_vs_objective(),
                r.budget_left(),
                r.fastest_burn(),
            ]
        })
        .collect();
    out.push_str(&table(
        &[
            "status",
            "SLO",
            "component",
            "value vs objective",
            "budget left",
            "fastest burn",
        ],
        &[],
        &rows,
    ));
    let bad: Vec<_> = report
        .slos
        .iter()
        .filter(|r| r.status != Status::Pass)
        .collect();
    if !bad.is_empty() {
        out.push_str("\n### Why\n\n");
        for r in bad {
            out.push_str(&format!(
                "- **{}** `{}`: {}",
                r.status.as_str(),
                r.display_name(),
                r.reason
            ));
            if let Some(e) = &r.error {
                out.push_str(&format!(" — {}", e));
            }
            out.push('\n');
        }
    }
    out
}

/// `vitals incidents --format markdown` (and the incidents section of a report, with a
/// deeper heading).
pub fn incidents(report: &crate::incidents::IncidentReport) -> String {
    format!(
        "## Incidents\n\n{}",
        incidents_body(report, &report.incidents.iter().collect::<Vec<_>>())
    )
}

/// A summary line and the table of `list`.
pub fn incidents_body(
    report: &crate::incidents::IncidentReport,
    list: &[&crate::incidents::Incident],
) -> String {
    let mut out = format!("{}\n\n", crate::incidents::summary_line(report));
    if list.is_empty() {
        return out;
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|i| {
            vec![
                i.id.to_string(),
                i.start.clone(),
                crate::incidents::duration_text(i.duration_seconds, i.ongoing),
                i.severity.as_str().to_string(),
                i.components.join(", "),
                i.conditions
                    .iter()
                    .map(|m| format!("`{}` ({})", m.display_name(), m.peak_text))
                    .collect::<Vec<_>>()
                    .join("<br>"),
                i.cause.join("<br>"),
            ]
        })
        .collect();
    out.push_str(&table(
        &[
            "#",
            "start (UTC)",
            "duration",
            "severity",
            "components",
            "conditions",
            "cause hints",
        ],
        &[0, 2],
        &rows,
    ));
    out
}
