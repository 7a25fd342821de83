//! `vitals queries`: the catalog, as a table, JSON, or the Markdown of `docs/catalog.md`.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::catalog::{Catalog, QueryDef};
use crate::cli::{Format, QueriesArgs};
use crate::exit::{ExitStatus, Failure};
use crate::render::{json, table};
use crate::settings::Settings;
use crate::units::Unit;

/// `vitals queries --format json`.
#[derive(Serialize)]
struct CatalogOutput<'a> {
    /// Layout version of this document.
    schema_version: u32,
    /// Where the catalog was read from (`queries` directory or `built-in`).
    origin: &'a str,
    /// Every query, in catalog order.
    queries: Vec<QueryOutput<'a>>,
}

#[derive(Serialize)]
struct QueryOutput<'a> {
    /// Query name.
    name: &'a str,
    /// What it answers.
    help: &'a str,
    /// Unit of its values.
    unit: Unit,
    /// PromQL template with `{{param}}` placeholders.
    promql: &'a str,
    /// Parameters: kind, default, allowed values and bounds.
    params: BTreeMap<&'a str, ParamOutput<'a>>,
    /// Monitoring-plan lines it answers (ids of `[[plan]]` entries).
    plan: &'a [String],
}

#[derive(Serialize)]
struct ParamOutput<'a> {
    kind: &'static str,
    default: &'a str,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    allowed: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    min: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    help: Option<&'a str>,
    /// The component kind whose `service` labels are the values (site.toml).
    #[serde(skip_serializing_if = "Option::is_none")]
    components: Option<&'a str>,
}

pub(crate) fn run(settings: &Settings, args: &QueriesArgs) -> Result<ExitStatus, Failure> {
    let format = settings.format("queries", &[Format::Table, Format::Json, Format::Markdown])?;
    let catalog = &settings.catalog()?;
    let selected: Vec<&QueryDef> = catalog
        .queries
        .iter()
        .filter(|q| args.prefix.as_deref().is_none_or(|p| q.name.starts_with(p)))
        .collect();
    if selected.is_empty() {
        return Err(Failure::usage(format!(
            "no query name starts with {:?}",
            args.prefix.as_deref().unwrap_or_default()
        )));
    }
    let text = match format {
        Format::Json => json::to_string(&CatalogOutput {
            schema_version: json::SCHEMA_VERSION,
            origin: &catalog.origin,
            queries: selected.iter().map(|q| query_output(q)).collect(),
        }),
        Format::Markdown => markdown(catalog),
        _ => {
            let mut t = table::new(
                &["name", "unit", "params (default)", "help"],
                settings.color_stdout,
            );
            for q in &selected {
                let params = q
                    .params
                    .iter()
                    .map(|(k, p)| format!("{k}={}", p.default))
                    .collect::<Vec<_>>()
                    .join("\n");
                t.add_row(vec![
                    q.name.clone(),
                    q.unit.to_string(),
                    params,
                    q.help.clone(),
                ]);
            }
            format!(
                "{} queries from the {} catalog\n{t}\n",
                selected.len(),
                if catalog.origin == "built-in" {
                    "built-in".to_string()
                } else {
                    format!("{}/", catalog.origin)
                }
            )
        }
    };
    super::print(&text)?;
    Ok(ExitStatus::Success)
}

fn query_output(q: &QueryDef) -> QueryOutput<'_> {
    QueryOutput {
        name: &q.name,
        help: &q.help,
        unit: q.unit,
        promql: &q.promql,
        params: q
            .params
            .iter()
            .map(|(k, p)| {
                (
                    k.as_str(),
                    ParamOutput {
                        kind: p.kind.as_str(),
                        default: &p.default,
                        allowed: &p.allowed,
                        min: p.min,
                        max: p.max,
                        help: p.help.as_deref(),
                        components: p.components.as_deref(),
                    },
                )
            })
            .collect(),
        plan: &q.plan,
    }
}

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// `docs/catalog.md`: monitoring plan line -> query -> PromQL -> unit.
pub(crate) fn markdown(catalog: &Catalog) -> String {
    let mut out = String::new();
    out.push_str("# Query catalog\n\n");
    out.push_str(
        "Generated from `queries/` by `vitals queries --format markdown > docs/catalog.md`; \
         a test fails when this file and the catalog disagree.\n\n",
    );
    out.push_str("## From the monitoring plan to queries\n\n");
    out.push_str(
        "Every metric of the monitoring plan (`monitoring-plan.ru.md`), the queries that answer it, \
         and their units. The PromQL of each query is listed below.\n\n",
    );
    out.push_str(
        "| Section | Plan line | Original (ru) | Queries | Unit |\n|---|---|---|---|---|\n",
    );
    for p in &catalog.plan {
        let qs: Vec<&QueryDef> = catalog
            .queries
            .iter()
            .filter(|q| q.plan.contains(&p.id))
            .collect();
        let names = qs
            .iter()
            .map(|q| format!("[`{}`](#{})", q.name, anchor(&q.name)))
            .collect::<Vec<_>>()
            .join("<br>");
        let mut units: Vec<&str> = qs.iter().map(|q| q.unit.as_str()).collect();
        units.dedup();
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            md_cell(&p.section),
            md_cell(&p.en),
            md_cell(&p.ru),
            if names.is_empty() {
                "**none**".into()
            } else {
                names
            },
            units.join(", ")
        ));
    }
    out.push_str("\n## Queries\n");
    for q in &catalog.queries {
        out.push_str(&format!("\n### {}\n\n{}\n\n", q.name, q.help));
        out.push_str(&format!("- unit: `{}`\n", q.unit));
        if q.params.is_empty() {
            out.push_str("- params: none\n");
        } else {
            out.push_str("- params:\n");
            for (k, p) in &q.params {
                let allowed = match (&p.components, p.allowed.is_empty()) {
                    (Some(kind), _) => format!(
                        ", the site's `{kind}` components: `{}`",
                        p.allowed.join("`, `")
                    ),
                    (None, true) => String::new(),
                    (None, false) => format!(", one of `{}`", p.allowed.join("`, `")),
                };
                let help = p
                    .help
                    .as_deref()
                    .map(|h| format!(" — {h}"))
                    .unwrap_or_default();
                out.push_str(&format!(
                    "  - `{k}` ({}, default `{}`{allowed}){help}\n",
                    p.kind, p.default
                ));
            }
        }
        out.push_str(&format!("\n```promql\n{}\n```\n", q.promql.trim()));
    }
    out
}

/// GitHub's heading anchor for a query name (`api.rps` -> `apirps`).
fn anchor(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_alphanumeric() || *c == '-' || *c == '_')
        .collect::<String>()
        .to_lowercase()
}
