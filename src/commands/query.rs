//! `vitals query NAME`: one catalog query, instant or range.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::catalog::QueryDef;
use crate::cli::{Format, QueryArgs};
use crate::exit::{ExitStatus, Failure};
use crate::prom::{self, Request, Series};
use crate::render::{self, csv, json, table};
use crate::settings::{Settings, TARGET_POINTS, TimeSpec, parse_params};
use crate::timespec::{format_time, from_unix_seconds};
use crate::units::Unit;

/// The JSON document of `vitals query --format json` (schema_version 1).
#[derive(Debug, Serialize)]
pub struct QueryOutput {
    /// Layout version of this document.
    pub schema_version: u32,
    /// Catalog query name.
    pub query: String,
    /// The PromQL sent to Prometheus, parameters substituted.
    pub promql: String,
    /// Effective parameter values (defaults included).
    pub params: BTreeMap<String, String>,
    /// Evaluation time of an instant query (RFC 3339, UTC).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    /// Start of a range query.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// End of a range query.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// Step of a range query (PromQL duration).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// Unit of every value.
    pub unit: Unit,
    /// One entry per series; a series Prometheus did not return is absent, never zero.
    pub series: Vec<SeriesOutput>,
    /// Warnings Prometheus attached to its answer.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct SeriesOutput {
    /// The series' labels.
    pub labels: BTreeMap<String, String>,
    #[serde(flatten)]
    pub data: SeriesData,
    /// Why a value is null (NaN or ±Inf), when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum SeriesData {
    /// Instant query: the value (null for NaN/±Inf).
    Value { value: Option<f64> },
    /// Range query: `[unix_seconds, value]` pairs (value null for NaN/±Inf).
    Points { points: Vec<(f64, Option<f64>)> },
}

pub(crate) async fn run(settings: &Settings, args: &QueryArgs) -> Result<ExitStatus, Failure> {
    let format = settings.format("query", &[Format::Table, Format::Json, Format::Csv])?;
    let params = parse_params(&args.params)?;
    // A catalog query, or ad-hoc PromQL (which needs no catalog at all).
    let catalog = match args.promql {
        Some(_) => None,
        None => Some(settings.catalog()?),
    };
    let adhoc;
    let (def, mut expanded) = match (&args.name, &args.promql, &catalog) {
        (_, Some(expr), _) => {
            adhoc = adhoc_query(expr, &args.unit)?;
            let expanded = crate::catalog::Expanded {
                promql: expr.clone(),
                params: BTreeMap::new(),
            };
            (&adhoc, expanded)
        }
        (Some(name), None, Some(catalog)) => catalog.resolve(name, &params)?,
        _ => {
            return Err(Failure::usage(
                "name a catalog query (see `vitals queries`) or give --promql EXPR",
            ));
        }
    };
    let time = args.time.resolve(settings.now)?;
    let prom = settings.prom()?;

    let (req, step) = match time {
        TimeSpec::At(at) => (Request::instant(&def.name, &expanded.promql, at), None),
        TimeSpec::Range { start, end, step } => {
            let step = step.unwrap_or_else(|| {
                prom::auto_step(
                    end - start,
                    TARGET_POINTS,
                    crate::duration::Duration::from_secs(15),
                )
            });
            if let (Some(catalog), Some(p)) =
                (&catalog, crate::catalog::cover_step(def, &params, step))
            {
                expanded = catalog.resolve(&def.name, &p)?.1;
                super::note(
                    settings,
                    &format!(
                        "window={step}, the step, so that every moment of the range is counted once"
                    ),
                );
            }
            (
                Request::range(&def.name, &expanded.promql, start, end, step),
                Some(step),
            )
        }
    };
    let answer = prom.run(&req).await?;
    super::warn_prometheus(settings, &def.name, &answer.warnings);

    let mut out = QueryOutput {
        schema_version: json::SCHEMA_VERSION,
        query: def.name.clone(),
        promql: expanded.promql.clone(),
        params: expanded.params.clone(),
        at: None,
        from: None,
        to: None,
        step: step.map(|s| s.to_string()),
        unit: def.unit,
        series: Vec::new(),
        warnings: answer.warnings.clone(),
    };
    match time {
        TimeSpec::At(at) => out.at = Some(format_time(at)),
        TimeSpec::Range { start, end, .. } => {
            out.from = Some(format_time(start));
            out.to = Some(format_time(end));
        }
    }
    let mut series = answer.series;
    series.sort_by(|a, b| a.labels.cmp(&b.labels));
    // A top-N reads in rank order: by its groups, then the highest (or lowest) first.
    if let (TimeSpec::At(_), Some((highest, within))) =
        (&time, crate::catalog::shape::ranking(&expanded.promql))
    {
        let group = |s: &crate::prom::Series| -> Vec<Option<String>> {
            within.iter().map(|l| s.labels.get(l).cloned()).collect()
        };
        series.sort_by(|a, b| {
            let by_value = a
                .value()
                .unwrap_or(f64::NAN)
                .total_cmp(&b.value().unwrap_or(f64::NAN));
            group(a).cmp(&group(b)).then(if highest {
                by_value.reverse()
            } else {
                by_value
            })
        });
    }
    out.series = series
        .iter()
        .map(|s| series_output(s, step.is_some()))
        .collect();

    if series.is_empty() && settings.chatty() {
        super::note(
            settings,
            &format!(
                "`{}` returned no series: nothing matched at that time (is the metric scraped? are the params right?)",
                def.name
            ),
        );
    }
    let text = match format {
        Format::Json => json::to_string(&out),
        Format::Csv => to_csv(&series, step.is_some()),
        _ => to_table(settings, def, &out, &series),
    };
    super::print(&text)?;
    Ok(ExitStatus::Success)
}

/// `--promql EXPR --unit U` as a query of its own, checked offline: a typo is a usage error
/// before any request.
fn adhoc_query(expr: &str, unit: &str) -> Result<QueryDef, Failure> {
    if expr.trim().is_empty() {
        return Err(Failure::usage("--promql: the expression is empty"));
    }
    promql_parser::parser::parse(expr).map_err(|e| {
        Failure::usage(format!(
            "--promql does not parse: {}",
            e.split_whitespace().collect::<Vec<_>>().join(" ")
        ))
    })?;
    let unit = Unit::ALL
        .into_iter()
        .find(|u| u.as_str() == unit)
        .ok_or_else(|| {
            let all: Vec<&str> = Unit::ALL.iter().map(|u| u.as_str()).collect();
            Failure::usage(format!("--unit {unit}: not one of {}", all.join(", ")))
        })?;
    Ok(QueryDef {
        name: "promql".into(),
        help: "ad-hoc PromQL (--promql)".into(),
        unit,
        promql: expr.to_string(),
        params: BTreeMap::new(),
        plan: Vec::new(),
        origin: "--promql".into(),
    })
}

fn series_output(s: &Series, range: bool) -> SeriesOutput {
    if range {
        let bad = s.samples.iter().filter(|p| !p.1.is_finite()).count();
        SeriesOutput {
            labels: s.labels.clone(),
            data: SeriesData::Points {
                points: s
                    .samples
                    .iter()
                    .map(|(t, v)| (*t, json::finite(*v)))
                    .collect(),
            },
            note: (bad > 0).then(|| format!("{bad} point(s) are NaN or ±Inf, shown as null")),
        }
    } else {
        let v = s.value().unwrap_or(f64::NAN);
        SeriesOutput {
            labels: s.labels.clone(),
            data: SeriesData::Value {
                value: json::finite(v),
            },
            note: json::non_finite_note(v),
        }
    }
}

/// Label names to show as columns: every name present in some series, `__name__` first.
fn label_columns(series: &[Series]) -> Vec<String> {
    let set: BTreeSet<&String> = series.iter().flat_map(|s| s.labels.keys()).collect();
    let mut cols: Vec<String> = set.into_iter().cloned().collect();
    if let Some(i) = cols.iter().position(|c| c == "__name__") {
        let n = cols.remove(i);
        cols.insert(0, n);
    }
    cols
}

fn to_csv(series: &[Series], range: bool) -> String {
    let cols = label_columns(series);
    let mut head: Vec<String> = cols.clone();
    if range {
        head.push("timestamp".into());
    }
    head.push("value".into());
    let mut out = csv::row(&head);
    for s in series {
        let labels: Vec<String> = cols
            .iter()
            .map(|c| s.labels.get(c).cloned().unwrap_or_default())
            .collect();
        if range {
            for (t, v) in &s.samples {
                let mut r = labels.clone();
                r.push(format_time(from_unix_seconds(*t)));
                r.push(csv::number(*v));
                out.push_str(&csv::row(&r));
            }
        } else {
            let mut r = labels;
            r.push(csv::number(s.value().unwrap_or(f64::NAN)));
            out.push_str(&csv::row(&r));
        }
    }
    out
}

fn to_table(settings: &Settings, def: &QueryDef, out: &QueryOutput, series: &[Series]) -> String {
    let paint = render::Paint {
        on: settings.color_stdout,
    };
    let when = match (&out.at, &out.from, &out.to, &out.step) {
        (Some(at), ..) => format!("at {at}"),
        (None, Some(f), Some(t), Some(s)) => format!("{f} .. {t}, step {s}"),
        _ => String::new(),
    };
    let caption = format!("{} — {} ({})", paint.bold(&def.name), def.help, when);
    if series.is_empty() {
        return format!("{caption}\nno series\n");
    }
    let cols = label_columns(series);
    let range = out.at.is_none();
    let mut headers: Vec<&str> = cols.iter().map(String::as_str).collect();
    let numeric: Vec<&str> = if range {
        vec!["points", "min", "avg", "max", "last", "trend"]
    } else {
        vec!["value"]
    };
    headers.extend(&numeric);
    let mut t = table::new(&headers, settings.stdout_tty);
    for s in series {
        let mut row: Vec<String> = cols
            .iter()
            .map(|c| s.labels.get(c).cloned().unwrap_or_default())
            .collect();
        if range {
            let finite: Vec<f64> = s
                .samples
                .iter()
                .map(|p| p.1)
                .filter(|v| v.is_finite())
                .collect();
            let (min, avg, max) = if finite.is_empty() {
                (f64::NAN, f64::NAN, f64::NAN)
            } else {
                (
                    finite.iter().copied().fold(f64::INFINITY, f64::min),
                    finite.iter().sum::<f64>() / finite.len() as f64,
                    finite.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                )
            };
            let last = s.value().unwrap_or(f64::NAN);
            let (start, end) = match (s.samples.first(), s.samples.last()) {
                (Some(a), Some(b)) => (a.0, b.0),
                _ => (0.0, 1.0),
            };
            let spark = render::sparkline(&render::downsample(&s.samples, start, end + 1e-9, 24));
            row.extend([
                s.samples.len().to_string(),
                def.unit.format(min),
                def.unit.format(avg),
                def.unit.format(max),
                def.unit.format(last),
                spark,
            ]);
        } else {
            row.push(def.unit.format(s.value().unwrap_or(f64::NAN)));
        }
        t.add_row(row);
    }
    let n = cols.len();
    table::align_right(&mut t, n..n + numeric.len() - usize::from(range));
    format!("{caption}\n{t}\n")
}
