//! `vitals lint`: every problem in `queries/` and `slo.toml`, without contacting Prometheus.

use serde::Serialize;

use crate::cli::Format;
use crate::diag::Problem;
use crate::exit::{ExitStatus, Failure};
use crate::render::json;
use crate::settings::Settings;
use crate::slo::model as slo_model;

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

pub fn run(settings: &Settings) -> Result<ExitStatus, Failure> {
    let format = settings.format("lint", &[Format::Table, Format::Json])?;
    let (catalog, mut problems) = settings.load_catalog();
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
    let (config, slo_count) = match settings.slo_source() {
        Ok(src) => {
            let (slos, more) = slo_model::load(&src, &catalog);
            problems.extend(more);
            (src.path.display().to_string(), slos.len())
        }
        Err(p) => {
            problems.push(p);
            (String::new(), 0)
        }
    };
    let text = match format {
        Format::Json => json::to_string(&LintOutput {
            schema_version: json::SCHEMA_VERSION,
            ok: problems.is_empty(),
            queries: catalog.origin.clone(),
            config: config.clone(),
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
                        "ok: {} queries ({}), {} SLOs ({config})\n",
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
