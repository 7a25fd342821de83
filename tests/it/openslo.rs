//! `vitals openslo`: export, import, and the round trip judged by `vitals check` on the
//! week's Prometheus; what import cannot represent, named by file, line, document and field.

use std::path::Path;

use serde_json::Value;

use crate::support::{TestResult, repo, scratch, vitals, write};
use crate::week::{END_S, week};

/// The sites whose SLOs go round: the shipped one and the payments site.
const SITES: [(&str, &str); 2] = [("shipped", "."), ("payments", "tests/sites/payments")];

fn at(t: i64) -> String {
    vitals::timespec::format_time(vitals::timespec::from_unix_seconds(t as f64))
}

fn files(dir: &str) -> (String, String) {
    let d = repo().join(dir);
    (
        d.join("slo.toml").display().to_string(),
        d.join("site.toml").display().to_string(),
    )
}

/// `vitals check` JSON without the name of the SLO file (the one thing that differs).
fn check(url: &str, slo: &str, site: Option<&str>, at: &str) -> (i32, Value) {
    let mut args = vec![
        "check",
        "--timeout",
        "2m",
        "--at",
        at,
        "--format",
        "json",
        "--config",
        slo,
        "--queries",
        "queries",
    ];
    if let Some(site) = site {
        args.extend(["--site", site]);
    }
    let r = vitals(&args).prometheus(url).run();
    assert!([0, 1, 3].contains(&r.code), "exit {}: {}", r.code, r.stderr);
    let mut doc = r.json();
    doc.as_object_mut().unwrap().remove("config");
    (r.code, doc)
}

fn export_import(dir: &Path, slo: &str, site: &str) -> String {
    let yaml = dir.join("openslo.yaml");
    let toml = dir.join("slo.toml");
    vitals(&[
        "openslo",
        "export",
        "--config",
        slo,
        "--site",
        site,
        "--out",
        dir.to_str().unwrap(),
    ])
    .run()
    .expect_code(0);
    assert!(yaml.is_file(), "--out DIR writes DIR/openslo.yaml");
    let r = vitals(&[
        "openslo",
        "import",
        yaml.to_str().unwrap(),
        "--out",
        toml.to_str().unwrap(),
        "--site",
        site,
    ])
    .run();
    r.expect_code(0);
    vitals(&[
        "lint",
        "--config",
        toml.to_str().unwrap(),
        "--site",
        site,
        "--queries",
        "queries",
    ])
    .run()
    .expect_code(0);
    toml.display().to_string()
}

pub fn export_then_import_gives_the_same_check_results() -> TestResult {
    let w = week()?;
    // In the incident week (breaches and burns) and in the quiet one before it.
    let times = [at(END_S - 4 * 3600), at(END_S - 8 * 86_400)];
    for (what, dir) in SITES {
        let (slo, site) = files(dir);
        let tmp = scratch();
        let imported = export_import(tmp.path(), &slo, &site);
        for t in &times {
            let (code_a, a) = check(&w.prom.url, &slo, Some(&site), t);
            let (code_b, b) = check(&w.prom.url, &imported, Some(&site), t);
            assert_eq!(code_a, code_b, "{what} at {t}: exit codes differ");
            assert_eq!(
                a,
                b,
                "{what} at {t}: check differs after export and import:\n{}",
                std::fs::read_to_string(&imported).unwrap()
            );
            let rows = a["slos"].as_array().unwrap();
            assert!(
                rows.iter().any(|r| r["value"].is_number()),
                "{what} at {t}: no SLO has a value, so nothing was compared"
            );
        }
    }
    Ok(())
}

pub fn the_export_of_the_payments_site_is_stable() -> TestResult {
    let (slo, site) = files("tests/sites/payments");
    let r = vitals(&[
        "openslo",
        "export",
        "--config",
        &slo,
        "--site",
        &site,
        "--prometheus",
        "http://prometheus.example:9090",
    ])
    .run();
    r.expect_code(0);
    // The first line names the SLO file by its path on this machine.
    let body: String = r.stdout.split_once('\n').unwrap().1.to_string();
    insta::assert_snapshot!("openslo_export_payments", body);
    Ok(())
}

/// A foreign file, as other tools write OpenSLO: counters without rate(), no vitals/
/// annotations, an SLI document referenced by name.
const FOREIGN: &str = r#"apiVersion: openslo/v1
kind: DataSource
metadata:
  name: prom
spec:
  type: Prometheus
  connectionDetails:
    url: http://prometheus:9090
---
apiVersion: openslo/v1
kind: SLI
metadata:
  name: shop-errors
spec:
  ratioMetric:
    counter: true
    bad:
      metricSource:
        metricSourceRef: prom
        spec:
          query: sum(http_requests_total{service="shop",code=~"5.."})
    total:
      metricSource:
        metricSourceRef: prom
        spec:
          query: sum(http_requests_total{service="shop"})
---
apiVersion: openslo/v1
kind: SLO
metadata:
  name: shop-errors-28d
  labels:
    component: shop
spec:
  service: shop
  indicatorRef: shop-errors
  timeWindow:
    - duration: 4w
      isRolling: true
  budgetingMethod: Occurrences
  objectives:
    - targetPercent: 99.5
---
apiVersion: openslo/v1
kind: SLO
metadata:
  name: shop-errors-sampled
spec:
  service: shop
  indicator:
    metadata:
      name: sampled
    spec:
      ratioMetric:
        counter: false
        bad:
          metricSource:
            type: Prometheus
            spec:
              query: sum(rate(http_requests_total{service="shop",code=~"5.."}[1m]))
        total:
          metricSource:
            type: Prometheus
            spec:
              query: sum(rate(http_requests_total{service="shop"}[1m]))
  timeWindow:
    - duration: 28d
  budgetingMethod: Occurrences
  objectives:
    - target: 0.995
---
apiVersion: openslo/v1
kind: SLO
metadata:
  name: shop-route-fast
spec:
  service: shop
  indicator:
    metadata:
      name: fast-routes
    spec:
      ratioMetric:
        counter: true
        good:
          metricSource:
            type: Prometheus
            spec:
              query: sum by (handler) (http_request_duration_seconds_bucket{service="shop",le="1"})
        total:
          metricSource:
            type: Prometheus
            spec:
              query: sum by (handler) (http_request_duration_seconds_count{service="shop"})
  timeWindow:
    - duration: 28d
      isRolling: true
  budgetingMethod: Occurrences
  objectives:
    - target: 0.9
"#;

pub fn a_foreign_openslo_file_imports_and_judges_as_the_original() -> TestResult {
    let w = week()?;
    let tmp = scratch();
    let file = write(tmp.path(), "foreign.yaml", FOREIGN);
    let out = tmp.path().join("slo.toml");
    let (slo, site) = files(".");
    vitals(&[
        "openslo",
        "import",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ])
    .run()
    .expect_code(0);
    let toml = std::fs::read_to_string(&out).unwrap();
    assert!(toml.contains("[{{window}}]"), "{toml}");
    let t = at(END_S - 4 * 3600);
    let (_, original) = check(&w.prom.url, &slo, Some(&site), &t);
    let (_, imported) = check(&w.prom.url, out.to_str().unwrap(), None, &t);
    let value = |doc: &Value, name: &str| {
        doc["slos"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("no row {name} in {doc:#}"))["value"]
            .as_f64()
            .unwrap_or_else(|| panic!("{name} has no value"))
    };
    // Same queries, window (4w = 28d) and objective as shop-availability (which also has
    // min_events, which does not change its value).
    // A bucket over its count is a latency SLO, split by the label both sum by.
    assert!(
        toml.contains("kind = \"latency\"") && toml.contains("group_by = [\"handler\"]"),
        "{toml}"
    );
    let values = |doc: &Value, name: &str| {
        let mut v: Vec<(String, f64)> = doc["slos"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["name"] == name)
            .map(|r| (r["group"].to_string(), r["value"].as_f64().unwrap()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    };
    let (a, b) = (
        values(&original, "shop-route-latency"),
        values(&imported, "shop-route-fast"),
    );
    assert!(
        a.len() > 1,
        "shop-route-latency has one row per handler: {a:?}"
    );
    assert_eq!(
        a, b,
        "the imported latency SLO judges as shop-route-latency"
    );
    let want = value(&original, "shop-availability");
    for name in ["shop-errors-28d", "shop-errors-sampled"] {
        let got = value(&imported, name);
        assert!(
            crate::support::rel_diff(got, want) < 1e-9,
            "{name}: {got} but shop-availability is {want}"
        );
    }
    Ok(())
}

/// One of each thing import cannot represent, each at a line the message must name.
const UNSUPPORTED: &str = r#"apiVersion: openslo/v1
kind: DataSource
metadata:
  name: dd
spec:
  type: Datadog
  connectionDetails: {}
---
apiVersion: openslo/v1
kind: SLO
metadata:
  name: timeslices
spec:
  service: shop
  indicator:
    metadata:
      name: t
    spec:
      ratioMetric:
        counter: true
        good:
          metricSource:
            type: Prometheus
            spec:
              query: sum(x_total)
        total:
          metricSource:
            type: Prometheus
            spec:
              query: sum(y_total)
  timeWindow:
    - duration: 28d
      isRolling: true
  budgetingMethod: Timeslices
  objectives:
    - target: 0.99
      timeSliceTarget: 0.9
      timeSliceWindow: 1m
---
apiVersion: openslo/v1
kind: SLO
metadata:
  name: datadog
spec:
  service: shop
  indicator:
    metadata:
      name: d
    spec:
      thresholdMetric:
        metricSource:
          metricSourceRef: dd
          spec:
            query: avg:system.cpu{*}
  budgetingMethod: Occurrences
  objectives:
    - op: lte
      value: 90
      target: 0.95
---
apiVersion: openslo/v1
kind: SLO
metadata:
  name: raw-ratio
spec:
  service: shop
  indicator:
    metadata:
      name: r
    spec:
      ratioMetric:
        counter: false
        rawType: success
        raw:
          metricSource:
            type: Prometheus
            spec:
              query: availability_ratio
  timeWindow:
    - duration: 1M
      isRolling: true
  budgetingMethod: Occurrences
  objectives:
    - target: 0.99
---
apiVersion: openslo/v1
kind: SLO
metadata:
  name: gauge
spec:
  service: shop
  indicator:
    metadata:
      name: g
    spec:
      ratioMetric:
        counter: false
        good:
          metricSource:
            type: Prometheus
            spec:
              query: sum(up{job="shop"})
        total:
          metricSource:
            type: Prometheus
            spec:
              query: count(up{job="shop"})
  timeWindow:
    - duration: 7d
      isRolling: true
  budgetingMethod: Occurrences
  objectives:
    - target: 0.99
  alertPolicies:
    - kind: AlertPolicy
      metadata:
        name: fast
      spec:
        alertWhenBreaching: true
        conditions:
          - kind: AlertCondition
            metadata:
              name: fast
            spec:
              severity: page
              condition:
                kind: burnrate
                op: gt
                threshold: 2
                lookbackWindow: 1h
                alertAfter: 5m
        notificationTargets:
          - targetRef: someone
---
apiVersion: openslo/v1alpha
kind: SLO
metadata:
  name: old
spec: {}
"#;

pub fn import_names_the_file_line_document_and_field_it_cannot_represent() -> TestResult {
    let tmp = scratch();
    let file = write(tmp.path(), "other.yaml", UNSUPPORTED);
    let out = tmp.path().join("slo.toml");
    let r = vitals(&[
        "openslo",
        "import",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ])
    .run();
    r.expect_code(2);
    assert!(
        !out.exists(),
        "nothing is written when something cannot be represented"
    );
    let f = file.display().to_string();
    for want in [
        format!(
            "{f}:34: document 2 (SLO `timeslices`): spec.budgetingMethod: `Timeslices` cannot be represented"
        ),
        format!("{f}:37: document 2 (SLO `timeslices`): spec.objectives[0].timeSliceTarget"),
        format!("{f}:6: document 1 (DataSource `dd`): spec.type: `Datadog` cannot be represented"),
        format!(
            "{f}:59: document 3 (SLO `datadog`): spec.objectives[0].target: a threshold objective met 0.95 of the time cannot be represented"
        ),
        format!(
            "{f}:74: document 4 (SLO `raw-ratio`): spec.indicator.spec.ratioMetric.raw: a precomputed ratio cannot be represented"
        ),
        format!(
            "{f}:80: document 4 (SLO `raw-ratio`): spec.timeWindow[0].duration: `1M`: a rolling window of months"
        ),
        format!(
            "{f}:102: document 5 (SLO `gauge`): spec.indicator.spec.ratioMetric.good.metricSource.spec.query: `counter: false` and `up{{job=\"shop\"}}` is a value"
        ),
        format!(
            "{f}:126: document 5 (SLO `gauge`): spec.condition: burnrate gt 2 over 1h (severity `page`) cannot be represented"
        ),
        format!("{f}:135: document 6 (SLO `old`): apiVersion: `openslo/v1alpha`: only openslo/v1"),
    ] {
        assert!(
            r.stderr.contains(&want),
            "missing {want:?} in:\n{}",
            r.stderr
        );
    }
    Ok(())
}

pub fn export_names_what_it_cannot_write_and_takes_slo_filters() -> TestResult {
    let tmp = scratch();
    let slo = write(
        tmp.path(),
        "slo.toml",
        r#"[[slo]]
name = "fine"
component = "shop"
kind = "ratio"
bad = 'sum(rate(x_total{code="500"}[{{window}}]))'
total = 'sum(rate(x_total[{{window}}]))'
objective = 99
window = "7d"

[[slo]]
name = "gauge-based"
component = "shop"
kind = "ratio"
bad = 'sum(sum_over_time(broken[{{window}}]))'
total = 'sum(rate(x_total[{{window}}]))'
objective = 99
window = "7d"
"#,
    );
    let slo = slo.to_str().unwrap();
    let r = vitals(&["openslo", "export", "--config", slo]).run();
    r.expect_code(2);
    assert!(
        r.stderr
            .contains("SLO `gauge-based`: `bad`: {{window}} is used outside rate() or increase()"),
        "{}",
        r.stderr
    );
    assert!(r.stdout.is_empty(), "nothing is written: {}", r.stdout);
    // The other one alone exports, and only it.
    let r = vitals(&["openslo", "export", "--config", slo, "--slo", "fine"]).run();
    r.expect_code(0);
    assert_eq!(r.stdout.matches("\nkind: SLO\n").count(), 1, "{}", r.stdout);
    assert!(r.stdout.contains("  name: fine\n"), "{}", r.stdout);
    Ok(())
}
