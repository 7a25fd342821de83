//! `vitals lint`: every problem in `queries/`, `site.toml` and `slo.toml`, without
//! contacting Prometheus.

use serde::Serialize;

use crate::cli::Format;
use crate::diag::Problem;
use crate::exit::{ExitStatus, Failure};
use crate::render::json;
use crate::settings::Settings;

/// `vitals lint --format json`.
#[derive(Serialize)]
struct LintOutput {
    /// Layout version of this document.
    schema_version: u32,
    /// True when no problem was found.
    ok: bool,
    /// Where the catalog came from.
    queries: String,
    /// Where the SLOs came from.
    config: String,
    /// Where the site came from.
    site: String,
    /// Components of the site (valid ones).
    component_count: usize,
    /// Queries checked.
    query_count: usize,
    /// SLOs checked (valid ones).
    slo_count: usize,
    /// Every problem found.
    problems: Vec<ProblemOutput>,
}

#[derive(Serialize)]
struct ProblemOutput {
    /// File the problem is in, when known.
    file: Option<String>,
    /// 1-based line, when known.
    line: Option<usize>,
    /// 1-based column (characters), when known.
    column: Option<usize>,
    /// What is wrong.
    message: String,
}

/// Where a problem is, to sort by: file, line, column. A problem made as text that starts with
/// its place (`queries/api.toml:12: query ...`) is placed by that text; one without a line
/// comes after the file's lines, one without a file after every file.
fn place(p: &Problem) -> (bool, String, usize, usize) {
    if let Some(path) = &p.path {
        let (line, col) = p.line_col.unwrap_or((usize::MAX, 0));
        return (false, path.display().to_string(), line, col);
    }
    let head = p.message.split(": ").next().unwrap_or_default();
    let mut file = head;
    let mut numbers = Vec::new();
    while let Some((rest, n)) = file.rsplit_once(':') {
        match n.parse::<usize>() {
            Ok(n) if numbers.len() < 2 => {
                numbers.insert(0, n);
                file = rest;
            }
            _ => break,
        }
    }
    match numbers[..] {
        [line] => (false, file.to_string(), line, 0),
        [line, col] => (false, file.to_string(), line, col),
        _ => (true, String::new(), 0, 0),
    }
}

pub(crate) fn run(settings: &Settings) -> Result<ExitStatus, Failure> {
    let format = settings.format("lint", &[Format::Table, Format::Json])?;
    let (config, mut problems) = settings.load_config()?;
    let catalog = &config.catalog;
    for q in &catalog.queries {
        if let Some(m) = q.check_promql() {
            problems.push(Problem::new(format!(
                "{}: query `{}`: {m}",
                q.origin, q.name
            )));
        }
    }
    if !catalog.plan.is_empty() {
        for p in catalog.unmapped_plan_items() {
            problems.push(Problem::new(format!(
                "{}: plan line `{}` ({}) is not answered by any query (add `plan = [\"{}\"]` to one)",
                catalog.origin, p.id, p.en, p.id
            )));
        }
    }
    // In file order: a reader fixes them top to bottom.
    problems.sort_by_cached_key(place);
    problems.dedup();
    let slo_count = config.slos.len();
    let site = config.site.origin.clone();
    let components = config.site.components.len();
    let config = config.slo_source.path.display().to_string();
    let text = match format {
        Format::Json => json::to_string(&LintOutput {
            schema_version: json::SCHEMA_VERSION,
            ok: problems.is_empty(),
            queries: catalog.origin.clone(),
            config: config.clone(),
            site: site.clone(),
            component_count: components,
            query_count: catalog.queries.len(),
            slo_count,
            problems: problems
                .iter()
                .map(|p| ProblemOutput {
                    file: p.path.as_ref().map(|p| p.display().to_string()),
                    line: p.line_col.map(|l| l.0),
                    column: p.line_col.map(|l| l.1),
                    message: p.message.clone(),
                })
                .collect(),
        }),
        _ => {
            let mut s: String = problems.iter().map(|p| format!("{p}\n")).collect();
            if problems.is_empty() {
                if settings.chatty() {
                    s.push_str(&format!(
                        "ok: {} queries ({}), {} SLOs ({config}), {components} components ({site})\n",
                        catalog.queries.len(),
                        catalog.origin,
                        slo_count
                    ));
                }
            } else {
                s.push_str(&format!("{} problem(s) found\n", problems.len()));
            }
            s
        }
    };
    super::print(&text)?;
    Ok(if problems.is_empty() {
        ExitStatus::Success
    } else {
        ExitStatus::Usage
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_sort_by_file_then_line_then_column_wherever_the_place_is_written() {
        let mut problems = [
            Problem::new("no place at all"),
            Problem::new("queries/b.toml:3: query `b.x`: invalid PromQL"),
            Problem {
                path: Some("queries/b.toml".into()),
                line_col: Some((10, 2)),
                message: "late".into(),
            },
            Problem::new("queries/a.toml:40: query `a.y`: unknown plan line"),
            Problem {
                path: Some("queries/a.toml".into()),
                line_col: Some((7, 9)),
                message: "second".into(),
            },
            Problem {
                path: Some("queries/a.toml".into()),
                line_col: Some((7, 3)),
                message: "first".into(),
            },
            Problem::in_file(std::path::Path::new("queries/a.toml"), "whole file"),
            Problem::new("queries/b.toml:2:5: query `b.w`: early"),
        ];
        problems.sort_by_cached_key(place);
        let shown: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(
            shown,
            [
                "queries/a.toml:7:3: first",
                "queries/a.toml:7:9: second",
                "queries/a.toml:40: query `a.y`: unknown plan line",
                "queries/a.toml: whole file",
                "queries/b.toml:2:5: query `b.w`: early",
                "queries/b.toml:3: query `b.x`: invalid PromQL",
                "queries/b.toml:10:2: late",
                "no place at all",
            ]
        );
    }
}
