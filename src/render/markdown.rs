//! Markdown: GitHub-flavoured tables, for CI summaries and reports.

use crate::slo::eval::{CheckReport, Status};

/// A cell's text with the characters that would break a table escaped.
pub(crate) fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', "<br>")
}

/// A table; the `right` columns are right-aligned.
pub(crate) fn table<S: AsRef<str>>(headers: &[&str], right: &[usize], rows: &[Vec<S>]) -> String {
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

pub(crate) fn status_badge(s: Status) -> &'static str {
    match s {
        Status::Pass => "✅ pass",
        Status::Warn => "⚠️ warn",
        Status::Fail => "❌ fail",
        Status::Inconclusive => "❔ inconclusive",
    }
}

/// `vitals check --format markdown`.
pub(crate) fn check(report: &CheckReport) -> String {
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
    let sources = crate::slo::eval::source_lines(&report.slos);
    if !sources.is_empty() {
        out.push_str("\n### Sources\n\n");
        for l in sources {
            out.push_str(&format!("- {l}\n"));
        }
    }
    out
}

/// `vitals incidents --format markdown` (and the incidents section of a report, with a
/// deeper heading).
pub(crate) fn incidents(report: &crate::incidents::IncidentReport) -> String {
    format!(
        "## Incidents\n\n{}",
        incidents_body(report, &report.incidents.iter().collect::<Vec<_>>())
    )
}

/// A summary line and the table of `list`.
pub(crate) fn incidents_body(
    report: &crate::incidents::IncidentReport,
    list: &[&crate::incidents::Incident],
) -> String {
    let mut out = format!("{}\n\n", crate::incidents::summary_line(report));
    if !list.is_empty() {
        out.push_str(&incident_table(list));
    }
    out
}

/// One row per incident: when, how long, how loud, what held and what else changed.
fn incident_table(list: &[&crate::incidents::Incident]) -> String {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|i| {
            vec![
                i.id.to_string(),
                i.start.clone(),
                i.end.clone().unwrap_or_else(|| "ongoing".into()),
                crate::incidents::duration_text(i.duration_seconds, i.ongoing),
                i.severity.as_str().to_string(),
                i.components.join(", "),
                i.conditions
                    .iter()
                    .map(|m| {
                        format!(
                            "`{}` ({}, {})",
                            m.display_name(),
                            m.severity.as_str(),
                            m.peak_text
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("<br>"),
                i.cause.join("<br>"),
            ]
        })
        .collect();
    table(
        &[
            "#",
            "start (UTC)",
            "end (UTC)",
            "duration",
            "severity",
            "components",
            "conditions",
            "cause hints",
        ],
        &[0, 3],
        &rows,
    )
}

fn kpi_table(kpis: &[crate::report::Kpi], cur: &str, prev: &str, first: &str) -> String {
    let rows: Vec<Vec<String>> = kpis
        .iter()
        .map(|k| {
            vec![
                k.label.clone(),
                k.text(),
                k.previous_text(),
                k.change_text(),
            ]
        })
        .collect();
    table(&[first, cur, prev, "change"], &[1, 2, 3], &rows)
}

/// `vitals report --format markdown`: `charts` are (title, file) pairs written next to it.
pub(crate) fn report(r: &crate::report::Report, charts: &[(String, String)]) -> String {
    let (cur, prev) = (r.period.label.as_str(), r.previous_period.label.as_str());
    let mut o = format!(
        "# vitals report {cur}\n\n{}. Generated {}.\n\n",
        r.period_line(),
        r.generated_at
    );
    if !r.missing.is_empty() {
        o.push_str("> **Incomplete**: some numbers could not be read:\n");
        for m in &r.missing {
            o.push_str(&format!("> - {}\n", m.replace('\n', " ")));
        }
        o.push('\n');
    }
    if let Some(n) = r.sample_note() {
        o.push_str(&format!("> {n}\n\n"));
    }
    for (what, lines) in [
        ("the SLOs at the period's end", &r.slo_sources),
        ("the KPIs over the period", &r.kpi_sources),
    ] {
        if lines.is_empty() {
            continue;
        }
        o.push_str(&format!("> **Sources** of {what}:\n"));
        for s in lines {
            o.push_str(&format!("> - {s}\n"));
        }
        o.push('\n');
    }
    o.push_str(&format!(
        "## 1. Headline\n\n**Verdict: {}** — {}.\n\n",
        status_badge(r.verdict),
        r.compliance_line()
    ));
    let badge = |m: Option<bool>| match m {
        Some(true) => "✅ met",
        Some(false) => "❌ missed",
        None => "❔ n/a",
    };
    let rows: Vec<Vec<String>> = r
        .slos
        .iter()
        .map(|s| {
            vec![
                format!("`{}`", s.name),
                s.component.clone(),
                badge(s.met).to_string(),
                s.over_text(false),
                s.over_text(true),
                format!("{} ({})", s.value_vs_objective, s.status.as_str()),
                s.budget_left.as_ref().map(|k| k.text()).unwrap_or_default(),
            ]
        })
        .collect();
    let (h1, h2, h3) = (format!("met over {cur}"), cur.to_string(), prev.to_string());
    o.push_str(&table(
        &[
            "SLO",
            "component",
            &h1,
            &h2,
            &h3,
            "at the end",
            "budget left at the end",
        ],
        &[3, 4, 6],
        &rows,
    ));
    o.push_str(
        "\nMet over the period: a ratio or latency SLO's SLI over the period against its objective; a threshold that alerts never broken longer than its `for`; a period KPI (`severity = \"none\"`) at the end. *At the end*: as `vitals check` judges it then, over the SLO's own window.\n",
    );
    o.push_str("\n## 2. Business KPIs\n\n");
    o.push_str(&kpi_table(&r.kpis, cur, prev, "KPI"));
    for b in &r.breakdowns {
        o.push_str(&format!("\n### {}\n\n", b.title));
        if b.rows.is_empty() {
            o.push_str("None in either period.\n");
            continue;
        }
        let mut headers: Vec<&str> = b.columns.iter().map(String::as_str).collect();
        headers.extend([cur, prev]);
        let rows: Vec<Vec<String>> = b
            .rows
            .iter()
            .map(|row| {
                let mut v: Vec<String> = b.columns.iter().map(|c| row.labels[c].clone()).collect();
                let f = |x: Option<f64>| x.map(|x| b.unit.format(x)).unwrap_or_else(|| "0".into());
                v.push(f(row.value));
                v.push(f(row.previous));
                v
            })
            .collect();
        let n = b.columns.len();
        o.push_str(&table(&headers, &[n, n + 1], &rows));
    }
    o.push_str("\n## 3. Components\n");
    for c in &r.components {
        o.push_str(&format!("\n### {}\n\n", c.name));
        o.push_str(&kpi_table(&c.metrics, cur, prev, "metric"));
    }
    let inc = &r.incidents;
    o.push_str("\n## 4. Incidents\n\n");
    o.push_str(&kpi_table(
        &[
            inc.count.clone(),
            inc.mttr.clone(),
            inc.time_in_incidents.clone(),
        ],
        cur,
        prev,
        "",
    ));
    o.push('\n');
    if inc.list.is_empty() {
        o.push_str("No incident started in the period.\n");
    } else {
        o.push_str(&incident_table(&inc.list.iter().collect::<Vec<_>>()));
    }
    o.push_str(&format!(
        "\nFound from {} at a {} step.\n",
        inc.method, inc.step
    ));
    o.push_str("\n## 5. Charts\n\n");
    if charts.is_empty() {
        o.push_str("Charts are written as PNG files next to the report with `--out DIR`.\n");
    }
    for (title, file) in charts {
        o.push_str(&format!("![{title}]({file})\n\n"));
    }
    o
}
