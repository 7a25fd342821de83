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

/// How the count queries stay exact integers (docs/catalog.md).
const EXACT_COUNTS: &str = "
## Exact counts

`increase(c[w])` extrapolates to the ends of the window, so on real data 9 rejected messages
read as 10.27. The count queries of the broker (`rabbitmq.dead_lettered`,
`rabbitmq.dead_lettered_total`, `rabbitmq.dropped`, `rabbitmq.dlq_by_queue_reason`,
`rabbitmq.published`) count per series instead:

```promql
(c - (last_over_time(c[w] offset w) or c * 0)) unless (resets(c[w]) > 0)
```

- `c - last_over_time(c[w] offset w)`: the last sample before the end minus the last sample
  before the start: an exact integer, aligned to the scrapes. `last_over_time` (not a bare
  `offset`) keeps the start when the target was not scraped at that moment (a scrape gap);
  the events of the gap are then counted in the window.
- `or c * 0`: a series that did not exist before the window (a counter born with its first
  event, such as the DLQ consumer's `dlq_messages_received_total`, or a window reaching back
  before the first scrape) counts from 0. This assumes Prometheus saw the series from its
  birth; a target added long after its counters started over-counts.
- **Counter resets**: where `resets(c[w]) > 0` (an exporter or broker restart in the
  window) the difference is meaningless, and the query falls back to
  `increase(c[w])` for that series, labelled `estimate=\"counter_reset\"`. Such a row is an
  estimate (it may be fractional) and is shown as a row of its own, never silently mixed
  into the exact ones.
- `db.error_rate` divides such a count by the window (`{{window_seconds}}`, the window's
  seconds): a rate without extrapolation that sees the failures of an error series born in
  the window, which `rate()` cannot (a series' first value is no increase to it).

Rates (`rate()`) keep Prometheus' extrapolation; over a window of `w` with scrapes every
`i`, a rate of `n` events lies between `n / w` and `n / (w - 2.2 i)`.
";

/// What the real rabbitmq_prometheus 3.10 exports, where it differs from the simulator
/// (checked by tests/it/real.rs; a scrape is kept in tests/fixtures/real/).
const REAL_RABBITMQ: &str = "
## Real-exporter behaviour (RabbitMQ 3.10 rabbitmq_prometheus)

Checked against a real broker by `tests/it/real.rs`; a scrape of the driven broker is kept in
`tests/fixtures/real/`.

- The global dead-letter counters exist from the start at 0, for every
  `queue_type`/`dead_letter_strategy` pair the broker supports (no `delivery_limit` for
  classic queues; no `maxlen` with `at_least_once`, which needs `reject-publish` overflow).
- `rabbitmq_queue_head_message_timestamp` is **absent for quorum queues** and `NaN` for an
  empty classic queue (the `> 0` filter drops the `NaN`s). For a queue without the series
  (`shop.orders`, quorum) `rabbitmq.message_age_seconds` falls back to Little's law: the
  ready messages over the rate the consumers processed that queue's messages
  (`messaging_process_duration_seconds_count`) in `window`, a row marked
  `estimate=\"ready_over_processing_rate\"`. It is the mean wait of a steady flow, not the
  head's age: after a burst it can be far off, and a queue nobody consumed from in the window
  has no row (look at its depth and consumers).
- A classic queue's head timestamp is that of the oldest message it holds, **delivered and
  unacknowledged ones included**: a message a consumer is stuck on keeps the age growing
  while newer messages wait behind it (`tests/it/real.rs` tells the two apart).
- Queue gauges (ready, unacked, consumers) are refreshed every
  `collect_statistics_interval` (5 s); a quorum queue's series appear only after its first
  refresh.
- `rabbitmq_queue_messages_published_total` (per channel) is born with the channel's first
  publish and was gone again a few seconds after a short burst: `rate()` can miss a burst
  shorter than a scrape interval, so `rabbitmq.publish_rate_by_queue` is at most the true
  rate and may have no row. `rabbitmq.publish_rate` (global) is complete.
- `rabbitmq_global_messages_delivered_total` counts redeliveries (a message returned to a
  quorum queue three times is delivered three times); a consumer of a quorum queue that
  returned messages (nack with requeue) could exceed its prefetch on 3.10.8.

## Real-exporter behaviour (postgres_exporter 0.11, process-exporter, node_exporter)

Checked against two real PostgreSQL 15 servers by `tests/it/realdb.rs`.

- Every series of postgres_exporter except `pg_up` carries `server` (the DSN's host:port);
  `pg_stat_database_*` also `datid`, with rows for the shared objects (`datname=\"\"`),
  `template0`, `template1` and `postgres`; `pg_stat_activity_count` is a grid of every
  database and six states. The queries sum or select by `datname` and `service`, never by
  `server`.
- `pg_replication_lag` is not built in: it comes from the example query block
  `pg_replication` in `deploy/postgres_exporter/queries.yaml` (0 on a primary).
- The extension queries' rows (`pg_stat_statements_by_command_*`,
  `pg_stat_activity_by_user_count`) exist only after the first statement or while a
  connection of that role exists; counts over a window treat a row born in it as counted
  from zero (see Exact counts).
- The exporter's own failed queries count as rollbacks of the `postgres` database.

## Simulator fidelity

`tests/it/fidelity.rs` compares the simulator's broker and database targets with these
exporters family by family: the same families and types, the same label names, and for the
exporters' fixed grids (per queue, per database and state, per queue type and dead-letter
strategy) the same series. Scrapes of both sides are kept in `tests/fixtures/real/`
(`rabbitmq-3.10-per-object.prom` and `sim-rabbitmq.prom`, `postgres-15-exporters.prom` and
`sim-postgres.prom`). Known differences, by design: the simulator serves one target per
database server (the real stack has three exporters), types `pg_stat_database_*` unknown
(OpenMetrics cannot type a counter without `_total`), and keeps
`rabbitmq_queue_messages_published_total` while the real broker drops it between bursts.
";

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
    out.push_str(EXACT_COUNTS);
    out.push_str(REAL_RABBITMQ);
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
