//! `vitals lint` and the catalog documentation.

use crate::support::{TestResult, repo, scratch, vitals, write};

pub fn the_shipped_catalog_and_slos_lint_clean() -> TestResult {
    let r = vitals(&["lint"]).run();
    r.expect_code(0);
    assert!(r.stdout.starts_with("ok: "), "{}", r.stdout);
    Ok(())
}

pub fn lint_lists_every_problem_not_only_the_first() -> TestResult {
    let dir = scratch();
    write(
        dir.path(),
        "queries/a.toml",
        r#"
[[query]]
name = "x.one"
help = "h"
unit = "count"
promql = 'sum(rate(up[{{window}}]))'

[[query]]
name = "x.one"
help = "dup"
unit = "count"
promql = "up"

[[query]]
name = "x.three"
help = "h"
unit = "count"
promql = 'up{a="{{a}}"}'
[query.params]
a = { kind = "duration", default = "5m" }
"#,
    );
    write(
        dir.path(),
        "queries/b.toml",
        "[[query]]\nname = 'x.four'\nhelp = 'h'\nunit = 'count'\npromql = 'up +'\n",
    );
    let slo = write(
        dir.path(),
        "slo.toml",
        r#"
[[slo]]
name = "s-one"
component = "x"
kind = "threshold"
query = "x.nope"
op = "<="
value = 1

[[slo]]
name = "s-two"
component = "x"
kind = "ratio"
bad = 'sum(rate(x[{{window}}]))'
total = 'sum(rate(y[{{window}}]))'
objective = 99
"#,
    );
    let r = vitals(&[
        "lint",
        "--queries",
        dir.path().join("queries").to_str().unwrap(),
        "--config",
        slo.to_str().unwrap(),
    ])
    .run();
    r.expect_code(2);
    let expected = [
        "a.toml:6:1: query `x.one`: unknown param `{{window}}`",
        "a.toml:8:1: duplicate query name `x.one`",
        "a.toml:18:1: query `x.three`: param `a` of kind \"duration\" must be written outside string literals",
        "query `x.four`: invalid PromQL",
        "slo.toml:6:1: SLO `s-one`: unknown catalog query `x.nope`",
        "slo.toml:10:1: SLO `s-two`: needs `window`",
    ];
    for e in expected {
        assert!(r.stdout.contains(e), "missing {e:?} in:\n{}", r.stdout);
    }
    assert!(r.stdout.contains("6 problem(s) found"), "{}", r.stdout);
    Ok(())
}

pub fn lint_json_lists_problems_with_positions() -> TestResult {
    let dir = scratch();
    let slo = write(
        dir.path(),
        "slo.toml",
        "[[slo]]\nname = \"a\"\ncomponent = \"x\"\nkind = \"latency\"\nhistogram = \"h\"\nthreshold = 0.5\nobjective = 95\nwindow = \"28d\"\nfor = \"5m\"\n",
    );
    let r = vitals(&[
        "lint",
        "--config",
        slo.to_str().unwrap(),
        "--format",
        "json",
    ])
    .run();
    r.expect_code(2);
    let j = r.json();
    assert_eq!(j["schema_version"], 1);
    assert_eq!(j["ok"], false);
    let p = &j["problems"][0];
    assert_eq!(p["line"], 9);
    assert_eq!(p["column"], 1);
    assert!(
        p["message"]
            .as_str()
            .unwrap()
            .contains("`for` belongs to kind = \"threshold\""),
        "{p}"
    );
    Ok(())
}

pub fn docs_catalog_md_matches_the_catalog() -> TestResult {
    let r = vitals(&["queries", "--format", "markdown"]).run();
    r.expect_code(0);
    let on_disk = std::fs::read_to_string(repo().join("docs/catalog.md")).unwrap_or_default();
    assert!(
        on_disk == r.stdout,
        "docs/catalog.md is out of date: run `cargo run -q -- queries --format markdown > docs/catalog.md`"
    );
    Ok(())
}

pub fn every_plan_line_maps_to_a_query() -> TestResult {
    let (cat, problems) = vitals::catalog::Catalog::load_dir(&repo().join("queries"));
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(
        cat.plan.len() >= 50,
        "the plan lists {} lines",
        cat.plan.len()
    );
    let unmapped: Vec<_> = cat
        .unmapped_plan_items()
        .iter()
        .map(|p| p.id.clone())
        .collect();
    assert!(
        unmapped.is_empty(),
        "plan lines without a query: {unmapped:?}"
    );
    // Every name product.md requires is in the catalog.
    for name in [
        "api.rps",
        "api.rps_by_user",
        "api.cpu_percent",
        "api.memory_bytes",
        "api.latency_p50",
        "api.latency_p95",
        "api.latency_p99",
        "api.responses_2xx",
        "api.responses_5xx",
        "api.error_ratio",
        "api.sessions",
        "api.received_bytes",
        "api.sent_bytes",
        "rabbitmq.queue_depth",
        "rabbitmq.in_flight",
        "rabbitmq.dead_lettered",
        "rabbitmq.dlq_by_queue_reason",
        "rabbitmq.connections",
        "rabbitmq.consumers",
        "rabbitmq.publish_rate",
        "rabbitmq.message_age_seconds",
        "rabbitmq.processing_p95",
        "db.memory_bytes",
        "db.cpu_percent",
        "db.disk_io_utilization",
        "db.connections_by_role",
        "db.size_bytes",
        "db.query_duration_p95",
        "db.query_rate",
        "db.error_rate",
        "db.connection_saturation",
        "db.replication_lag_seconds",
        "s3.size_bytes",
        "s3.latency_p95",
        "s3.requests",
        "s3.object_size_avg",
        "s3.user_storage_top",
        "business.orders_created",
        "business.lost_order_share",
        "business.lost_orders_by_reason",
        "business.dlq_reasons",
        "business.order_processing_p50",
        "business.order_processing_p95",
        "business.mttr_seconds",
        "business.incidents_open",
    ] {
        assert!(
            cat.get(name).is_some(),
            "required query `{name}` is missing"
        );
    }
    Ok(())
}

/// One entry with several mistakes reports each of them, and a duplicate is checked too:
/// a field that does not parse is left out and the rest of the entry is read again.
pub fn lint_lists_every_problem_inside_one_entry() -> TestResult {
    let dir = scratch();
    write(
        dir.path(),
        "queries/a.toml",
        r#"[[query]]
name = "x.one"
help = "h"
unit = "count"
promql = 'sum(foo'
bogus = 1

[[query]]
name = "x.one"
help = "dup"
unit = "count"
promql = 'sum(bar'
"#,
    );
    let slo = write(
        dir.path(),
        "slo.toml",
        r#"[[slo]]
name = "a"
component = "shop"
kind = "ratio"
bad = 'sum(rate(x[{{window}}]))'
total = 'sum(rate(y[{{window}}]))'
objective = 199.5
calendar = "fortnight"
window = "28x"

[[slo]]
name = "a"
component = "shop"
kind = "latency"
histogram = 5
objective = 95
window = "28d"
"#,
    );
    let r = vitals(&[
        "lint",
        "--queries",
        dir.path().join("queries").to_str().unwrap(),
        "--config",
        slo.to_str().unwrap(),
    ])
    .run();
    r.expect_code(2);
    let expected = [
        "a.toml:6:1: unknown field `bogus`",
        "a.toml:1: query `x.one`: invalid PromQL",
        "a.toml:8:1: duplicate query name `x.one`",
        "a.toml:8: query `x.one`: invalid PromQL",
        "slo.toml:7:1: SLO `a`: objective is a percentage",
        "slo.toml:8:12: unknown variant `fortnight`",
        "slo.toml:9:10: invalid duration \"28x\"",
        "slo.toml:15:13: invalid type: integer `5`, expected a string",
        "slo.toml:11:1: duplicate SLO name `a`",
    ];
    for e in expected {
        assert!(r.stdout.contains(e), "missing {e:?} in:\n{}", r.stdout);
    }
    // A field reported as invalid is not reported again as missing.
    assert!(!r.stdout.contains("needs `window`"), "{}", r.stdout);
    assert!(
        !r.stdout.contains("`histogram`, the metric"),
        "{}",
        r.stdout
    );
    Ok(())
}
