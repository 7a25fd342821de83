//! HTML: the period report as one self-contained page (inline CSS and SVG, no scripts, no
//! external assets), laid out with tables so the numbers survive an email client that drops
//! the charts.

use crate::report::{Kpi, Report};
use crate::slo::eval::Status;

/// Escapes text for HTML.
pub(crate) fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const CSS: &str = "\
body{font-family:-apple-system,'Segoe UI',Roboto,'DejaVu Sans',Arial,sans-serif;color:#1f2328;max-width:1100px;margin:24px auto;padding:0 16px;line-height:1.4}
h1{font-size:24px;margin-bottom:4px}h2{font-size:19px;margin-top:32px;border-bottom:1px solid #d0d7de;padding-bottom:4px}h3{font-size:15px;margin-top:20px}
table{border-collapse:collapse;margin:8px 0 16px;font-size:13px}th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa}td.n{text-align:right;white-space:nowrap}.muted{color:#656d76}
.good{color:#1a7f37}.bad{color:#cf222e}.pass{background:#dafbe1}.warn{background:#fff8c5}.fail{background:#ffebe9}.inconclusive{background:#eaeef2}
.verdict{font-size:16px;padding:8px 12px;border-radius:6px;display:inline-block}
.chart{margin:12px 0}.chart svg{max-width:100%;height:auto;border:1px solid #d0d7de}td.nw{white-space:nowrap}
.missing{background:#fff8c5;border:1px solid #d4a72c;padding:8px 12px;border-radius:6px}
.toc{background:#f6f8fa;border:1px solid #d0d7de;border-radius:6px;padding:8px 12px;margin:12px 0;font-size:14px}.toc ol{margin:4px 0;padding-left:22px}
";

fn status_class(s: Status) -> &'static str {
    s.as_str()
}

fn change_cell(k: &Kpi) -> String {
    let text = esc(&k.change_text());
    match k.verdict() {
        Some(true) => format!("<td class=\"n good\">{text}</td>"),
        Some(false) => format!("<td class=\"n bad\">{text}</td>"),
        None => format!("<td class=\"n muted\">{text}</td>"),
    }
}

fn kpi_rows(kpis: &[Kpi], out: &mut String) {
    for k in kpis {
        out.push_str(&format!(
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n muted\">{}</td>{}</tr>\n",
            esc(&k.label),
            esc(&k.text()),
            esc(&k.previous_text()),
            change_cell(k)
        ));
    }
}

/// `vitals report --format html`.
pub(crate) fn report(r: &Report, charts: &[(String, String)]) -> String {
    let mut o = String::new();
    head(&mut o, r);
    toc(&mut o, charts);
    headline(&mut o, r);
    changes(&mut o, r);
    incidents(&mut o, r);
    business(&mut o, r);
    components(&mut o, r);
    charts_section(&mut o, charts);
    o.push_str("</body>\n</html>\n");
    o
}

/// The sections, in the order a reader needs them: the verdict, what changed, what went
/// wrong, then the figures and the charts.
const SECTIONS: [(&str, &str); 6] = [
    ("headline", "Headline"),
    ("changes", "What changed"),
    ("incidents", "Incidents"),
    ("business", "Business KPIs"),
    ("components", "Components"),
    ("charts", "Charts"),
];

fn section(o: &mut String, id: &str) {
    let (i, (_, title)) = SECTIONS
        .iter()
        .enumerate()
        .find(|(_, (s, _))| *s == id)
        .expect("a known section");
    o.push_str(&format!("<h2 id=\"{id}\">{}. {title}</h2>\n", i + 1));
}

/// The table of contents, with a link to each chart.
fn toc(o: &mut String, charts: &[(String, String)]) {
    o.push_str("<nav class=\"toc\"><strong>Contents</strong><ol>\n");
    for (id, title) in SECTIONS {
        o.push_str(&format!("<li><a href=\"#{id}\">{title}</a>"));
        if id == "charts" && !charts.is_empty() {
            o.push_str("<ol>");
            for (k, (t, _)) in charts.iter().enumerate() {
                o.push_str(&format!(
                    "<li><a href=\"#chart-{}\">{}</a></li>",
                    k + 1,
                    esc(t)
                ));
            }
            o.push_str("</ol>");
        }
        o.push_str("</li>\n");
    }
    o.push_str("</ol></nav>\n");
}

/// The largest changes against the previous period, worse ones first: the figures a
/// reader should look at, from the KPI and component tables below.
fn changes(o: &mut String, r: &Report) {
    let (cur, prev) = (&r.period.label, &r.previous_period.label);
    section(o, "changes");
    let mut all: Vec<(&str, &Kpi)> = r
        .kpis
        .iter()
        .map(|k| ("business", k))
        .chain(
            r.components
                .iter()
                .flat_map(|c| c.metrics.iter().map(move |k| (c.name.as_str(), k))),
        )
        .chain([
            ("incidents", &r.incidents.count),
            ("incidents", &r.incidents.mttr),
        ])
        .filter(|(_, k)| !k.incomparable && k.change.is_some_and(|c| c.abs() >= 0.1))
        .collect();
    if all.is_empty() {
        o.push_str(&format!(
            "<p>No figure changed by 10 % or more against {}{}.</p>\n",
            esc(prev),
            if r.previous_coverage < 0.999 {
                " (the previous period is not fully covered by data: its changes are not shown)"
            } else {
                ""
            }
        ));
        return;
    }
    // Worse first, then better, then neutral; each by the size of the change.
    let rank = |k: &Kpi| match k.verdict() {
        Some(false) => 0,
        Some(true) => 1,
        None => 2,
    };
    all.sort_by(|a, b| {
        rank(a.1).cmp(&rank(b.1)).then(
            b.1.change
                .unwrap_or(0.0)
                .abs()
                .total_cmp(&a.1.change.unwrap_or(0.0).abs()),
        )
    });
    let shown = all.len().min(10);
    o.push_str(&format!(
        "<table>\n<tr><th>where</th><th>figure</th><th>{}</th><th>{}</th><th>change</th></tr>\n",
        esc(cur),
        esc(prev)
    ));
    for (place, k) in &all[..shown] {
        o.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n muted\">{}</td>{}</tr>\n",
            esc(place),
            esc(&k.label),
            esc(&k.text()),
            esc(&k.previous_text()),
            change_cell(k)
        ));
    }
    o.push_str("</table>\n");
    o.push_str(&format!(
        "<p class=\"muted\">Figures that changed by 10 % or more, worse first{}.</p>\n",
        if all.len() > shown {
            format!("; {} more in the tables below", all.len() - shown)
        } else {
            String::new()
        }
    ));
}

/// The page head, title and what could not be read.
fn head(o: &mut String, r: &Report) {
    let cur = &r.period.label;
    o.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    o.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    o.push_str(&format!("<title>vitals report {}</title>\n", esc(cur)));
    o.push_str(&format!("<style>\n{CSS}</style>\n</head>\n<body>\n"));
    o.push_str(&format!("<h1>vitals report {}</h1>\n", esc(cur)));
    o.push_str(&format!(
        "<p class=\"muted\">{}. Generated {}.</p>\n",
        esc(&r.period_line()),
        esc(&r.generated_at)
    ));
    if !r.missing.is_empty() {
        o.push_str("<div class=\"missing\"><strong>Incomplete:</strong> some numbers could not be read.<ul>\n");
        for m in &r.missing {
            o.push_str(&format!("<li>{}</li>\n", esc(m)));
        }
        o.push_str("</ul></div>\n");
    }
    if let Some(n) = r.sample_note() {
        o.push_str(&format!("<p class=\"muted\">{}</p>\n", esc(&n)));
    }
    for (heading, lines) in [
        ("Sources of the SLOs at the period's end:", &r.slo_sources),
        ("Sources of the KPIs over the period:", &r.kpi_sources),
    ] {
        if lines.is_empty() {
            continue;
        }
        o.push_str(&format!(
            "<p class=\"muted\">{heading}</p><ul class=\"muted\">\n"
        ));
        for s in lines {
            o.push_str(&format!("<li>{}</li>\n", esc(s)));
        }
        o.push_str("</ul>\n");
    }
}

/// 1. The verdict and every SLO over the period.
fn headline(o: &mut String, r: &Report) {
    let (cur, prev) = (&r.period.label, &r.previous_period.label);
    section(o, "headline");
    o.push_str(&format!(
        "<p><span class=\"verdict {}\">Verdict: <strong>{}</strong></span> &nbsp; {}</p>\n",
        status_class(r.verdict),
        r.verdict.as_str().to_uppercase(),
        esc(&r.compliance_line())
    ));
    o.push_str(&format!(
        "<table>\n<tr><th>SLO</th><th>component</th><th>met over {}</th><th>{}</th><th>{}</th><th>at the end</th><th>budget left at the end</th></tr>\n",
        esc(cur), esc(cur), esc(prev)
    ));
    for s in &r.slos {
        let (class, word) = match s.met {
            Some(true) => ("pass", "met"),
            Some(false) => ("fail", "missed"),
            None => ("inconclusive", "n/a"),
        };
        o.push_str(&format!(
            "<tr><td title=\"{}\"><code>{}</code></td><td>{}</td><td class=\"{class}\">{word}</td><td class=\"n\">{}</td><td class=\"n muted\">{}</td><td class=\"nw\">{} ({})</td><td class=\"n\">{}</td></tr>\n",
            esc(&s.description),
            esc(&s.name),
            esc(&s.component),
            esc(&s.over_text(false)),
            esc(&s.over_text(true)),
            esc(&s.value_vs_objective),
            s.status.as_str(),
            esc(&s.budget_left.as_ref().map(|k| k.text()).unwrap_or_default()),
        ));
    }
    o.push_str("</table>\n");
    o.push_str("<p class=\"muted\">Met over the period: a ratio or latency SLO&#39;s SLI over the period against its objective; a threshold that alerts never broken longer than its <code>for</code>; a period KPI (severity none) at the end. <em>At the end</em>: as <code>vitals check</code> judges it then, over the SLO&#39;s own window.</p>\n");
}

/// 2. Business KPIs and breakdowns.
fn business(o: &mut String, r: &Report) {
    let (cur, prev) = (&r.period.label, &r.previous_period.label);
    section(o, "business");
    o.push_str(&format!(
        "<table>\n<tr><th>KPI</th><th>{}</th><th>{}</th><th>change</th></tr>\n",
        esc(cur),
        esc(prev)
    ));
    kpi_rows(&r.kpis, o);
    o.push_str("</table>\n");
    for b in &r.breakdowns {
        o.push_str(&format!("<h3>{}</h3>\n", esc(&b.title)));
        if b.rows.is_empty() {
            o.push_str("<p class=\"muted\">None in either period.</p>\n");
            continue;
        }
        o.push_str("<table>\n<tr>");
        for c in &b.columns {
            o.push_str(&format!("<th>{}</th>", esc(c)));
        }
        o.push_str(&format!(
            "<th>{}</th><th>{}</th></tr>\n",
            esc(cur),
            esc(prev)
        ));
        for row in &b.rows {
            o.push_str("<tr>");
            for c in &b.columns {
                o.push_str(&format!("<td>{}</td>", esc(&row.labels[c])));
            }
            let f = |v: Option<f64>| v.map(|v| b.unit.format(v)).unwrap_or_else(|| "0".into());
            o.push_str(&format!(
                "<td class=\"n\">{}</td><td class=\"n muted\">{}</td></tr>\n",
                esc(&f(row.value)),
                esc(&f(row.previous))
            ));
        }
        o.push_str("</table>\n");
    }
}

/// 3. Each component's figures.
fn components(o: &mut String, r: &Report) {
    let (cur, prev) = (&r.period.label, &r.previous_period.label);
    section(o, "components");
    for c in &r.components {
        o.push_str(&format!(
            "<h3>{}</h3>\n<table>\n<tr><th>metric</th><th>{}</th><th>{}</th><th>change</th></tr>\n",
            esc(&c.name),
            esc(cur),
            esc(prev)
        ));
        kpi_rows(&c.metrics, o);
        o.push_str("</table>\n");
    }
}

/// 4. Incidents: counts, MTTR and the list.
fn incidents(o: &mut String, r: &Report) {
    let (cur, prev) = (&r.period.label, &r.previous_period.label);
    section(o, "incidents");
    let inc = &r.incidents;
    o.push_str(&format!(
        "<table>\n<tr><th></th><th>{}</th><th>{}</th><th>change</th></tr>\n",
        esc(cur),
        esc(prev)
    ));
    kpi_rows(
        &[
            inc.count.clone(),
            inc.mttr.clone(),
            inc.time_in_incidents.clone(),
        ],
        o,
    );
    o.push_str("</table>\n");
    if inc.list.is_empty() {
        o.push_str("<p>No incident started in the period.</p>\n");
    } else {
        o.push_str("<table>\n<tr><th>#</th><th>start (UTC)</th><th>end (UTC)</th><th>duration</th><th>severity</th><th>components</th><th>conditions</th><th>cause hints</th></tr>\n");
        for i in &inc.list {
            let conds: Vec<String> = i
                .conditions
                .iter()
                .map(|m| {
                    format!(
                        "<code>{}</code> ({}, {})",
                        esc(&m.display_name()),
                        m.severity.as_str(),
                        esc(&m.peak_text)
                    )
                })
                .collect();
            o.push_str(&format!(
                "<tr><td class=\"n\">{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                i.id,
                esc(&i.start),
                esc(i.end.as_deref().unwrap_or("ongoing")),
                esc(&crate::incidents::duration_text(i.duration_seconds, i.ongoing)),
                i.severity.as_str(),
                esc(&i.components.join(", ")),
                conds.join("<br>"),
                i.cause.iter().map(|c| esc(c)).collect::<Vec<_>>().join("<br>")
            ));
        }
        o.push_str("</table>\n");
    }
    o.push_str(&format!(
        "<p class=\"muted\">Found from {} at a {} step.</p>\n",
        esc(&inc.method),
        esc(&inc.step)
    ));
}

/// 5. Charts, inline SVG.
fn charts_section(o: &mut String, charts: &[(String, String)]) {
    section(o, "charts");
    // Each chart carries its title; the alt text is for readers without SVG.
    for (k, (title, svg)) in charts.iter().enumerate() {
        o.push_str(&format!(
            "<div class=\"chart\" id=\"chart-{}\" role=\"img\" aria-label=\"{}\">\n{}\n</div>\n",
            k + 1,
            esc(title),
            svg
        ));
    }
}
