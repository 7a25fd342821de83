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
    problems.sort_by(|a, b| {
        (&a.path, a.line_col.is_none(), a.line_col).cmp(&(
            &b.path,
            b.line_col.is_none(),
            b.line_col,
        ))
    });
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
