//! `vitals query` output against a real Prometheus loaded with the catalog fixture.

use crate::catalog::{AT, END, expected, fixture, prometheus};
use crate::support::fixture::labels;
use crate::support::{TestResult, rel_diff, repo, vitals};
use vitals::Unit;

fn api_rps() -> Vec<(String, f64)> {
    let f = fixture();
    f.rate_by("http_requests_total", &["service"], |_| true)
        .into_iter()
        .map(|(l, v)| (l["service"].clone(), v))
        .collect()
}

pub fn rps_table_shows_humanised_values_per_service() -> TestResult {
    let prom = prometheus()?;
    let r = vitals(&["query", "api.rps", "--at", AT])
        .prometheus(&prom.url)
        .run();
    r.expect_code(0);
    assert!(
        r.stdout
            .starts_with("api.rps — Requests per second, by service (at 2026-11-20T12:00:00Z)"),
        "{}",
        r.stdout
    );
    let rps = api_rps();
    assert_eq!(rps.len(), 3);
    for (service, v) in rps {
        let row = r
            .stdout
            .lines()
            .find(|l| l.contains(&format!(" {service} ")))
            .unwrap_or_else(|| panic!("no row for {service}:\n{}", r.stdout));
        assert!(
            row.contains(&Unit::Rps.format(v)),
            "{service}: expected {v} req/s in {row:?}"
        );
    }
    // shop: 6 + 0.06 + 0.8 + 0.04 on shop-1, 4 + 0.02 + 0.5 on shop-2.
    assert!(r.stdout.contains("11.4 req/s"), "{}", r.stdout);
    Ok(())
}

pub fn range_query_chooses_a_step_under_the_point_budget() -> TestResult {
    let prom = prometheus()?;
    let r = vitals(&[
        "query",
        "api.rps",
        "--from",
        "2026-11-20T10:30:00Z",
        "--to",
        AT,
        "--format",
        "json",
    ])
    .prometheus(&prom.url)
    .run();
    r.expect_code(0);
    let j = r.json();
    assert_eq!(j["step"], "15s");
    assert_eq!(j["from"], "2026-11-20T10:30:00Z");
    let want: std::collections::BTreeMap<String, f64> = api_rps().into_iter().collect();
    for s in j["series"].as_array().unwrap() {
        let pts = s["points"].as_array().unwrap();
        assert_eq!(pts.len(), 361, "1.5 h at 15 s, both ends included");
        let svc = s["labels"]["service"].as_str().unwrap();
        for p in pts {
            let v = p[1].as_f64().unwrap();
            assert!(rel_diff(v, want[svc]) < 1e-6, "{svc}: {v} vs {}", want[svc]);
        }
        assert_eq!(pts.last().unwrap()[0].as_f64().unwrap() as i64, END);
    }
    // A week is drawn at 15 minutes: 673 points, under the 1,000 budget.
    let week = vitals(&[
        "query",
        "api.rps",
        "--from",
        "2026-11-13T12:00:00Z",
        "--to",
        AT,
        "--format",
        "json",
    ])
    .prometheus(&prom.url)
    .run();
    week.expect_code(0);
    assert_eq!(week.json()["step"], "15m");
    Ok(())
}

pub fn csv_output_has_raw_values() -> TestResult {
    let prom = prometheus()?;
    let r = vitals(&["query", "api.rps", "--at", AT, "--format", "csv"])
        .prometheus(&prom.url)
        .run();
    r.expect_code(0);
    let mut lines = r.stdout.lines();
    assert_eq!(lines.next(), Some("service,value"));
    let want: std::collections::BTreeMap<String, f64> = api_rps().into_iter().collect();
    let mut n = 0;
    for line in lines {
        let (svc, v) = line.split_once(',').unwrap();
        let v: f64 = v.parse().unwrap();
        assert!(rel_diff(v, want[svc]) < 1e-6, "{line}");
        n += 1;
    }
    assert_eq!(n, 3);
    Ok(())
}

pub fn escaped_label_param_is_neutralised_not_executed() -> TestResult {
    let prom = prometheus()?;
    let evil = r#"le=0.5"} or vector(1) #"#;
    let r = vitals(&[
        "query",
        "api.fast_ratio",
        "--at",
        AT,
        "--format",
        "json",
        "--param",
        evil,
        "--param",
        "service=shop",
    ])
    .prometheus(&prom.url)
    .run();
    r.expect_code(0);
    let j = r.json();
    assert_eq!(
        j["series"].as_array().unwrap().len(),
        0,
        "vector(1) must not have run: {j}"
    );
    assert!(
        j["promql"]
            .as_str()
            .unwrap()
            .contains(r#"le="0.5\"} or vector(1) #""#),
        "{}",
        j["promql"]
    );
    // The same query with an honest value returns shop's share of fast requests.
    let ok = vitals(&[
        "query",
        "api.fast_ratio",
        "--at",
        AT,
        "--format",
        "json",
        "--param",
        "service=shop",
    ])
    .prometheus(&prom.url)
    .run();
    let f = fixture();
    let want = expected(&f, "api.fast_ratio").unwrap().expect[&labels(&[("service", "shop")])];
    let got = ok.json()["series"][0]["value"].as_f64().unwrap();
    assert!(rel_diff(got, want) < 1e-6, "{got} vs {want}");
    Ok(())
}

pub fn every_catalog_query_has_an_expected_value() -> TestResult {
    let (cat, _) = vitals::Catalog::load_dir(&repo().join("queries"));
    let f = fixture();
    let missing: Vec<_> = cat
        .queries
        .iter()
        .filter(|q| expected(&f, &q.name).is_none())
        .map(|q| q.name.clone())
        .collect();
    assert!(
        missing.is_empty(),
        "queries without an expected value: {missing:?}"
    );
    Ok(())
}

/// `--promql` answers as the catalog query with the same PromQL does, in every format; one
/// that does not parse is a usage error before any request (the server here is unreachable).
pub fn adhoc_promql_answers_like_the_catalog_and_is_checked_offline() -> TestResult {
    let prom = prometheus()?;
    let named = vitals(&["query", "api.rps", "--at", AT, "--format", "json"])
        .prometheus(&prom.url)
        .run()
        .json();
    let promql = named["promql"].as_str().unwrap().to_string();
    let adhoc = vitals(&[
        "query", "--promql", &promql, "--unit", "rps", "--at", AT, "--format", "json",
    ])
    .prometheus(&prom.url)
    .run();
    adhoc.expect_code(0);
    let adhoc = adhoc.json();
    assert_eq!(adhoc["series"], named["series"]);
    assert_eq!(adhoc["unit"], "rps");
    assert!(!named["series"].as_array().unwrap().is_empty());
    // A range, as a table with the unit applied.
    let r = vitals(&[
        "query",
        "--promql",
        &promql,
        "--unit",
        "rps",
        "--from",
        "2026-11-20T11:30:00Z",
        "--to",
        AT,
    ])
    .prometheus(&prom.url)
    .run();
    r.expect_code(0);
    assert!(r.stdout.contains("req/s"), "{}", r.stdout);
    for (args, says) in [
        (
            &["query", "--promql", "sum(rate(x[5m]"][..],
            "does not parse",
        ),
        (
            &["query", "--promql", "up", "--unit", "parsecs"][..],
            "not one of",
        ),
        (
            &["query", "api.rps", "--promql", "up"][..],
            "cannot be used with",
        ),
        (&["query"][..], "required"),
    ] {
        let r = vitals(args).prometheus("http://127.0.0.1:9").run();
        r.expect_code(2);
        assert!(r.stderr.contains(says), "{args:?}: {}", r.stderr);
    }
    Ok(())
}
