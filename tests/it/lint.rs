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
    let (cat, problems) = vitals::Catalog::load_dir(&repo().join("queries"));
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

/// 1-based line and column of the first `needle` in `text`.
fn position(text: &str, needle: &str) -> (usize, usize) {
    let at = text
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} not in the edited file"));
    line_col(text, at)
}

fn line_col(text: &str, at: usize) -> (usize, usize) {
    let line = text[..at].matches('\n').count() + 1;
    let col = at - text[..at].rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, col)
}

/// Applies `(from, to)` edits (each must match) to a shipped file.
fn edited(file: &str, edits: &[(&str, &str)]) -> String {
    let mut text = std::fs::read_to_string(repo().join(file)).unwrap();
    for (from, to) in edits {
        assert!(text.contains(from), "{from:?} not in {file}");
        text = text.replacen(from, to, 1);
    }
    text
}

pub fn lint_finds_every_mistake_of_a_broken_site() -> TestResult {
    let dir = scratch();
    let site = edited(
        "site.toml",
        &[
            // An unknown query, with a suggestion.
            (
                r#"{ name = "p99", query = "api.latency_p99" }"#,
                r#"{ name = "p99", query = "api.latency_p999" }"#,
            ),
            // A param the query does not take.
            (
                r#"{ name = "rps", query = "api.rps" }"#,
                r#"{ name = "rps", query = "api.rps", params = { servce = "shop" } }"#,
            ),
            // Levels from an SLO that does not exist.
            (
                r#"levels = { slo = "crm-availability" }"#,
                r#"levels = { slo = "crm-availabilty" }"#,
            ),
            // The wrong shape: a label the query aggregates away.
            (r#"top = "reason""#, r#"top = "queue""#),
            // A KPI that names nothing: its filter label is not in the query's answer.
            (
                r#"match = { outcome = "delivered" }"#,
                r#"match = { outcom = "delivered" }"#,
            ),
        ],
    ) + "\n[[component]]\nname = \"shop\"\nkind = \"api\"\n";
    let site_path = write(dir.path(), "site.toml", &site);
    // An SLO of a component the site does not have.
    let slo = edited(
        "slo.toml",
        &[(
            "component = \"mes\"\ndescription = \"Quotes",
            "component = \"mes-api\"\ndescription = \"Quotes",
        )],
    );
    let slo_path = write(dir.path(), "slo.toml", &slo);
    let r = vitals(&["lint", "--config", slo_path.to_str().unwrap()]).run();
    r.expect_code(2);
    let s = site_path.display().to_string();
    let o = slo_path.display().to_string();
    let want = [
        (
            &s,
            position(&site, "\"api.latency_p999\""),
            "component `shop`, signal `p99`: unknown catalog query `api.latency_p999` (did you mean `api.latency_p99`?)",
        ),
        (
            &s,
            position(&site, "\"api.rps\", params = { servce"),
            "component `shop`, signal `rps`: query `api.rps` has no param `servce`",
        ),
        (
            &s,
            position(&site, "\"crm-availabilty\""),
            "component `crm`, signal `err`: no SLO named `crm-availabilty` (did you mean `crm-availability`?)",
        ),
        (
            &s,
            position(&site, "\"queue\""),
            "query `rabbitmq.dead_lettered` answers with series labelled estimate, reason, not `queue`",
        ),
        (
            &s,
            position(&site, "{ outcom ="),
            "report KPI `orders_delivered`: query `business.orders_completed` answers with series labelled outcome, not `outcom`",
        ),
        (
            &s,
            line_col(&site, site.rfind("name = \"shop\"").unwrap() + 7),
            "duplicate component `shop`",
        ),
        (
            &o,
            position(&slo, "component = \"mes-api\""),
            "SLO `mes-latency`: component `mes-api` is not a component or group of the site (site.toml)",
        ),
    ];
    for (file, (line, col), message) in want {
        let expect = format!("{file}:{line}:{col}: ");
        assert!(
            r.stdout
                .lines()
                .any(|l| l.starts_with(&expect) && l.contains(message)),
            "missing `{expect}...{message}` in:\n{}",
            r.stdout
        );
    }
    Ok(())
}
