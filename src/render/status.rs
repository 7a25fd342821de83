//! The on-call screen as text, fitted to the terminal: the verdict first, one line per
//! component, then — as far as the height allows — why anything is not OK. Nothing is ever
//! wrapped: a line holds whole signals (`p99 227 ms`) and says how many it left out (`+3`).

use super::Paint;
use crate::status::{ComponentStatus, Health, Level, SPARK_POINTS, SloState, StatusReport};
use crate::units::Unit;

/// How much room the screen has.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Room {
    pub cols: usize,
    /// Lines available; `None`: as many as it takes (a pipe, a file).
    pub rows: Option<usize>,
    pub color: bool,
}

/// The columns a width allows.
struct Columns {
    name: usize,
    /// Width of the SLO cell.
    slo: usize,
    /// Characters of sparkline (0: none).
    spark: usize,
}

impl Columns {
    /// Room left for the signals in a line `total` wide.
    fn signals(&self, total: usize) -> usize {
        let spark = if self.spark > 0 {
            1 + self.spark + 12
        } else {
            0
        };
        total
            .saturating_sub(self.name + 1 + 9 + 1 + self.slo + spark)
            .max(12)
    }

    fn for_width(cols: usize, report: &StatusReport) -> Columns {
        let name = report
            .components
            .iter()
            .map(|c| c.name.chars().count())
            .max()
            .unwrap_or(8)
            .max("component".len());
        match cols {
            0..110 => Columns {
                name,
                slo: 12,
                spark: 0,
            },
            110..170 => Columns {
                name,
                slo: 28,
                spark: 12,
            },
            _ => Columns {
                name,
                slo: 44,
                spark: SPARK_POINTS,
            },
        }
    }
}

/// A piece of a line: its text, and the colour it is painted in.
#[derive(Clone, Copy)]
enum Tone {
    Plain,
    Red,
    Yellow,
    Green,
    Dim,
    Bold,
}

fn paint(p: Paint, tone: Tone, s: &str) -> String {
    match tone {
        Tone::Plain => s.to_string(),
        Tone::Red => p.red(s),
        Tone::Yellow => p.yellow(s),
        Tone::Green => p.green(s),
        Tone::Dim => p.dim(s),
        Tone::Bold => p.bold(s),
    }
}

fn width(s: &str) -> usize {
    s.chars().count()
}

fn pad(s: &str, w: usize) -> String {
    let n = width(s);
    if n >= w {
        s.to_string()
    } else {
        format!("{s}{}", " ".repeat(w - n))
    }
}

/// The longest text of `candidates` (best first) that fits `w`, or an empty one.
fn fitting(candidates: &[String], w: usize) -> String {
    candidates
        .iter()
        .find(|c| width(c) <= w)
        .cloned()
        .unwrap_or_default()
}

/// Joins `items` with `sep` as far as they fit `w`, with ` +N` for those left out.
fn fit_list(items: &[String], sep: &str, w: usize) -> (String, usize) {
    let mut out = String::new();
    for (i, it) in items.iter().enumerate() {
        let left = items.len() - i - 1;
        let more = if left > 0 {
            format!(" +{left}")
        } else {
            String::new()
        };
        let candidate = if out.is_empty() {
            it.clone()
        } else {
            format!("{out}{sep}{it}")
        };
        // Keep room for the count of what may still be left out after this one.
        if width(&candidate) + width(&more) <= w {
            out = candidate;
        } else {
            let rest = items.len() - i;
            let more = format!(" +{rest}");
            if width(&out) + width(&more) <= w {
                out.push_str(&more);
            }
            return (out, rest);
        }
    }
    (out, 0)
}

fn health_tone(h: Health) -> Tone {
    match h {
        Health::Ok => Tone::Green,
        Health::Degraded => Tone::Yellow,
        Health::Down => Tone::Red,
        Health::Unknown => Tone::Bold,
    }
}

/// The name in a problem line (`fail api-5xx-ratio{service=mes}: ...`).
fn problem_name(p: &str) -> &str {
    let head = p.split(": ").next().unwrap_or(p);
    head.split_once(' ').map(|x| x.1).unwrap_or(head)
}

/// The SLO cell, longest first: the worst SLO that alerts, how many pass, the least budget
/// left, the period KPIs off target.
fn slo_texts(s: &SloState) -> Vec<String> {
    let word = s.status.as_str().to_uppercase();
    let pass = s.count - s.problems.len();
    let worst = s.problems.first().map(|p| problem_name(p).to_string());
    let more = s.problems.len().saturating_sub(1);
    let more = if more > 0 {
        format!(" +{more}")
    } else {
        String::new()
    };
    let kpi = (!s.kpi_problems.is_empty()).then(|| {
        let names: Vec<&str> = s.kpi_problems.iter().map(|p| problem_name(p)).collect();
        format!("KPI off: {}", names.join(", "))
    });
    let kpi_short =
        (!s.kpi_problems.is_empty()).then(|| format!("KPI off {}", s.kpi_problems.len()));
    let budget = match (s.budget_left, &s.budget_slo) {
        (Some(b), Some(_)) => Some(format!("budget {}", Unit::Ratio.format(b))),
        _ => None,
    };
    let join = |parts: Vec<Option<String>>| -> String {
        parts.into_iter().flatten().collect::<Vec<_>>().join("; ")
    };
    let head = (s.count > 0).then(|| match &worst {
        Some(w) => format!("{word} {w}{more} ({pass}/{} pass)", s.count),
        None => format!("{word} {pass}/{} ok", s.count),
    });
    let short = (s.count > 0).then(|| format!("{word} {pass}/{} ok", s.count));
    // A component with period KPIs only (business) still says how they stand.
    let kpi_only = (s.count == 0 && s.kpi_problems.is_empty())
        .then_some(s.kpi_status)
        .flatten()
        .filter(|st| *st != crate::slo::eval::Status::Pass)
        .map(|st| st.as_str().to_uppercase());
    let kpi_word = kpi_only.clone();
    let kpi_only = kpi_only.map(|w| format!("KPI {w}"));
    // The status word alone, the last resort of a narrow screen.
    let word_only = (s.count > 0).then(|| word.clone());
    vec![
        join(vec![head.clone(), budget.clone(), kpi.clone()]),
        join(vec![head.clone(), kpi.clone()]),
        join(vec![short.clone(), budget, kpi.clone()]),
        join(vec![short.clone(), kpi]),
        join(vec![short.clone(), kpi_short.clone()]),
        join(vec![head]),
        join(vec![short]),
        join(vec![kpi_short]),
        join(vec![kpi_only]),
        join(vec![word_only]),
        join(vec![kpi_word]),
    ]
    .into_iter()
    // An empty form would "fit" before the short ones that say something.
    .filter(|t| !t.is_empty())
    .collect()
}

/// The signals of a row, those past a level first, with their tones.
fn signal_items(c: &ComponentStatus) -> Vec<(String, Tone)> {
    let tone = |l: Level| match l {
        Level::Fail => Tone::Red,
        Level::Warn => Tone::Yellow,
        Level::NoData => Tone::Dim,
        Level::Ok => Tone::Plain,
    };
    let mut items: Vec<(u8, String, Tone)> = c
        .signals
        .iter()
        .map(|s| {
            let rank = match s.level {
                Level::Fail => 0,
                Level::Warn => 1,
                _ => 3,
            };
            (rank, format!("{} {}", s.name, s.text), tone(s.level))
        })
        .collect();
    if let Some((u, n)) = c.targets_up {
        let down = u < n;
        items.push((
            if down { 0 } else { 4 },
            format!("{u}/{n} up"),
            if down { Tone::Red } else { Tone::Plain },
        ));
    }
    items.sort_by_key(|i| i.0);
    items.into_iter().map(|(_, s, t)| (s, t)).collect()
}

fn spark_text(c: &ComponentStatus, n: usize) -> String {
    let Some(s) = &c.spark else {
        return String::new();
    };
    let start = s.points.first().map(|p| p.0).unwrap_or(0.0);
    let end = s.points.last().map(|p| p.0).unwrap_or(1.0);
    let pts: Vec<(f64, f64)> = s
        .points
        .iter()
        .map(|(t, v)| (*t, v.unwrap_or(f64::NAN)))
        .collect();
    let line = super::sparkline(&super::downsample(&pts, start, end + 1e-9, n));
    let last = s
        .points
        .iter()
        .rev()
        .find_map(|p| p.1)
        .map(|v| s.unit.format(v))
        .unwrap_or_default();
    format!("{line} {last}")
}

/// One component's line.
fn row(c: &ComponentStatus, cols: &Columns, room: Room) -> String {
    let p = Paint { on: room.color };
    let status = pad(c.status.word(), 8);
    let slo = c
        .slos
        .as_ref()
        .map(|s| fitting(&slo_texts(s), cols.slo))
        .unwrap_or_default();
    let spark = if cols.spark > 0 {
        spark_text(c, cols.spark)
    } else {
        String::new()
    };
    let room_for_signals = cols.signals(room.cols);
    let items = signal_items(c);
    let texts: Vec<String> = items.iter().map(|(s, _)| s.clone()).collect();
    let (plain, _) = fit_list(&texts, " · ", room_for_signals);
    // Colour the signals that made it (the plain text decides what fits).
    let mut shown = plain.clone();
    if room.color {
        for (s, t) in &items {
            if plain.contains(s.as_str()) {
                shown = shown.replacen(s.as_str(), &paint(p, *t, s), 1);
            }
        }
    }
    let gap = room_for_signals.saturating_sub(width(&plain));
    let mut line = format!(
        "{} {} {shown}{} {}",
        pad(&c.name, cols.name),
        paint(p, health_tone(c.status), &status),
        " ".repeat(gap),
        pad(&slo, cols.slo)
    );
    if cols.spark > 0 {
        line.push(' ');
        line.push_str(&spark);
    }
    line.trim_end().to_string()
}

/// The verdict line fitted to the width: in full, else with the reasons of the first few
/// components only (the worst first), else names only; the KPIs off target last.
fn verdict_line(report: &StatusReport, cols: usize) -> String {
    if width(&report.verdict_line) <= cols || report.verdict_line.starts_with("UNKNOWN: nothing") {
        return report.verdict_line.clone();
    }
    let bad = report
        .components
        .iter()
        .filter(|c| c.status != Health::Ok)
        .count();
    let kpis = (!report.kpis_off_target.is_empty()).then(|| {
        let names = report.kpis_off_target.join(", ");
        [
            format!("period KPI off target: {names} (on-call is not paged; `vitals check` fails)"),
            format!("KPI off target: {names}"),
            format!("{} KPI off target", report.kpis_off_target.len()),
        ]
    });
    // With the reasons of the first `k` components, for k from all of them down to none.
    let line = |k: usize, kpi: Option<&String>| -> String {
        let mut parts = crate::status::verdict_parts(&report.components, k);
        if parts.is_empty() {
            parts.push(format!(
                "HEALTHY: all {} components OK",
                report.components.len()
            ));
        }
        parts.extend(kpi.cloned());
        parts.join(" · ")
    };
    let mut candidates = Vec::new();
    for k in (0..=bad).rev() {
        match &kpis {
            Some(forms) => candidates.extend(forms.iter().map(|f| line(k, Some(f)))),
            None => candidates.push(line(k, None)),
        }
    }
    candidates
        .into_iter()
        .find(|c| width(c) <= cols)
        .unwrap_or_else(|| {
            let (l, _) = fit_list(&[line(0, None)], "", cols);
            if l.is_empty() {
                report.verdict.clone()
            } else {
                l
            }
        })
}

/// Why the components that are not OK are not, and the errors: lines of at most `cols`.
fn details(report: &StatusReport, cols: usize) -> Vec<String> {
    let mut out = Vec::new();
    // When nothing could be read, the error says it all.
    let blind = report
        .verdict_line
        .starts_with("UNKNOWN: nothing could be read");
    for c in report
        .components
        .iter()
        .filter(|c| c.status != Health::Ok && !blind)
    {
        let head = format!("{} {}: ", c.status.word(), c.name);
        let (reasons, _) = fit_list(&c.reasons, "; ", cols.saturating_sub(width(&head)));
        out.push(format!("{head}{reasons}"));
        if let Some(s) = &c.slos {
            let lines = s
                .problems
                .iter()
                .map(|p| format!("  SLO {p}"))
                .chain(s.kpi_problems.iter().map(|p| format!("  KPI {p}")));
            for l in lines {
                out.push(if width(&l) <= cols {
                    l
                } else {
                    // Its name and status only: the rest would have to be cut inside a value.
                    l.split(": ").next().unwrap_or(&l).to_string()
                });
            }
        }
    }
    // Where the SLOs were read from says nothing when nothing could be read.
    for s in report
        .signal_sources
        .iter()
        .chain(&report.slo_sources)
        .filter(|_| !blind)
    {
        out.push(ellipsized(&format!("source: {s}"), cols));
    }
    for e in &report.errors {
        // `who: cause (hint: ...)`: in full, else the cause and hint, else the cause, else
        // the cause cut at a word with an ellipsis (a message, not a value).
        let cause = e.split_once(": ").map_or(e.as_str(), |x| x.1);
        let bare = cause.split(" (hint: ").next().unwrap_or(cause);
        let cut = ellipsized(&format!("error: {bare}"), cols);
        out.push(fitting(
            &[
                format!("error: {e}"),
                format!("error: {}", e.split(" (hint: ").next().unwrap_or(e)),
                format!("error: {cause}"),
                format!("error: {bare}"),
                cut,
            ],
            cols,
        ));
    }
    out
}

/// A message in full when it fits, else cut after a whole word with an ellipsis (for
/// messages only: a value is never cut).
fn ellipsized(text: &str, cols: usize) -> String {
    if width(text) <= cols {
        return text.to_string();
    }
    let mut cut = String::new();
    for w in text.split(' ') {
        if width(&cut) + width(w) + 2 > cols {
            break;
        }
        cut.push_str(w);
        cut.push(' ');
    }
    format!("{}…", cut.trim_end())
}

/// With `--alertmanager`: what it has, and where it disagrees with vitals (first: it is why
/// the flag was given).
fn alertmanager_lines(report: &StatusReport, cols: usize) -> Vec<String> {
    let Some(v) = &report.alertmanager else {
        return Vec::new();
    };
    let mut out = vec![fitting(&[v.summary()], cols)];
    for d in &v.disagreements {
        out.push(fitting(
            &[format!("  disagrees: {d}"), format!("  {d}")],
            cols,
        ));
    }
    if let Some(n) = &v.note {
        out.push(fitting(&[format!("  ({n})")], cols));
    }
    out.retain(|l| !l.is_empty());
    out
}

/// The screen: verdict, header, one line per component, then as many details as fit above
/// the footer (the evaluation time, or what `--watch` says).
pub(crate) fn screen(report: &StatusReport, room: Room, footer: &str) -> String {
    let p = Paint { on: room.color };
    let cols = Columns::for_width(room.cols, report);
    let tone = match report.verdict.as_str() {
        "HEALTHY" => Tone::Green,
        "DOWN" => Tone::Red,
        "DEGRADED" => Tone::Yellow,
        _ => Tone::Bold,
    };
    let mut lines = vec![paint(p, tone, &verdict_line(report, room.cols))];
    let mut header = format!(
        "{} {} {}",
        pad("component", cols.name),
        pad("status", 8),
        pad("signals", cols.signals(room.cols))
    );
    header.push_str(&format!(" {}", pad("SLOs", cols.slo)));
    if cols.spark > 0 {
        header.push_str(" last hour");
    }
    lines.push(p.dim(header.trim_end()));
    for c in &report.components {
        lines.push(row(c, &cols, room));
    }
    let mut more = alertmanager_lines(report, room.cols);
    more.extend(details(report, room.cols));
    if let Some(rows) = room.rows {
        let free = rows.saturating_sub(lines.len() + 1);
        if more.len() > free {
            let keep = free.saturating_sub(1);
            let hidden = more.len() - keep;
            more.truncate(keep);
            if free > 0 {
                more.push(fitting(
                    &[
                        format!("+{hidden} more lines: `vitals status --format json` has them all"),
                        format!("+{hidden} more"),
                    ],
                    room.cols,
                ));
            }
        }
    }
    lines.extend(more);
    lines.push(fitting(
        &[footer.to_string()],
        room.cols.max(width(footer).min(room.cols)),
    ));
    let mut out = lines.join("\n");
    out.push('\n');
    out
}
