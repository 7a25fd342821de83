//! `vitals dashboard`: the JSON type-checks against Grafana's published types
//! (`@grafana/schema`, with TypeScript's `tsc` from tests/grafana), every panel's PromQL
//! parses and returns data on the simulated week, the payments site gets its own dashboard
//! with no code change, and a deployed rule file switches the SLO panels to its records.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::prometheus::{http_get, instant_query, require_binaries, which};
use crate::support::{Run, Skip, TestResult, in_ci, repo, scratch, vitals};
use crate::week::{END_S, incident, week};

/// The Grafana variables a panel's PromQL may hold, as the test evaluates them: the
/// dashboard's range is the week before the instant queried.
const RANGE: &str = "7d";

fn substitute(e: &str) -> String {
    e.replace("$__range", RANGE)
        .replace("$__rate_interval", "5m")
        .replace("$__interval", "1m")
}

fn dashboard(extra: &[&str]) -> Value {
    let mut args = vec!["dashboard"];
    args.extend(extra);
    let r = vitals(&args).run();
    r.expect_code(0);
    assert!(!r.stderr.contains("no panel for"), "{}", r.stderr);
    r.json()
}

/// Every query of every panel: (panel title, PromQL as written, the panel).
fn queries(d: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for p in d["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().into_iter().flatten() {
            out.push((
                p["title"].as_str().unwrap().to_string(),
                t["expr"].as_str().unwrap().to_string(),
                p.clone(),
            ));
        }
    }
    out
}

/// Rows and the panels under each, one line each: `row: title` / `  type: title`.
fn summary(d: &Value) -> String {
    let mut out = String::new();
    for p in d["panels"].as_array().unwrap() {
        let (kind, title) = (p["type"].as_str().unwrap(), p["title"].as_str().unwrap());
        if kind == "row" {
            out.push_str(&format!("row: {title}\n"));
        } else {
            out.push_str(&format!("  {kind}: {title}\n"));
        }
    }
    out
}

// --- (a) the type check ------------------------------------------------------------------

/// tests/grafana with its node_modules, or why the check cannot run (a failure in CI).
fn grafana_types() -> Result<PathBuf, Skip> {
    let dir = repo().join("tests/grafana");
    let problem = if which("node").is_none() || which("npx").is_none() {
        Some(
            "node and npm are not installed (scripts/test installs the Debian packages nodejs and npm)",
        )
    } else if !dir
        .join("node_modules/@grafana/schema/package.json")
        .is_file()
        || !dir.join("node_modules/typescript/bin/tsc").is_file()
    {
        Some("tests/grafana has no node_modules: run `npm ci` in tests/grafana (scripts/test does)")
    } else {
        None
    };
    match problem {
        None => Ok(dir),
        Some(p) if in_ci() => panic!("{p}, and CI is set"),
        Some(p) => Err(Skip(p.to_string())),
    }
}

/// Grafana's string enums are TypeScript enums in @grafana/schema: the JSON's value at a
/// threshold's `mode` and a colour's `mode` is written as a call of the helper in
/// tests/grafana/enums.ts that accepts exactly that enum's values.
fn mark_enums(v: &mut Value, key: Option<&str>) {
    match v {
        Value::Object(m) => {
            if let Some(helper) = match key {
                Some("thresholds") => Some("thresholdsMode"),
                Some("color") => Some("fieldColorMode"),
                _ => None,
            } && let Some(Value::String(mode)) = m.get_mut("mode")
            {
                *mode = format!("@@{helper}@@{mode}@@");
            }
            for (k, child) in m.iter_mut() {
                mark_enums(child, Some(k));
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|c| mark_enums(c, None)),
        _ => {}
    }
}

/// `const d: Dashboard = <json>;` as TypeScript.
fn as_typescript(d: &Value) -> String {
    let mut d = d.clone();
    mark_enums(&mut d, None);
    let mut json = serde_json::to_string_pretty(&d).unwrap();
    while let Some(start) = json.find("\"@@") {
        let end = start + json[start + 1..].find('"').unwrap() + 2;
        let inner = json[start + 3..end - 3].to_string();
        let (helper, value) = inner.split_once("@@").unwrap();
        json.replace_range(start..end, &format!("{helper}({value:?})"));
    }
    format!(
        "import type {{ Dashboard }} from '@grafana/schema';\nimport {{ fieldColorMode, thresholdsMode }} from './enums';\n\nconst d: Dashboard = {json};\n\nexport default d;\nvoid fieldColorMode;\nvoid thresholdsMode;\n"
    )
}

/// Runs `tsc --noEmit --strict` over the files; returns the diagnostics by file name.
fn tsc(files: &BTreeMap<&str, String>) -> BTreeMap<String, Vec<String>> {
    let types = grafana_types().expect("checked by the caller");
    let dir = scratch();
    std::os::unix::fs::symlink(types.join("node_modules"), dir.path().join("node_modules"))
        .unwrap();
    for f in ["enums.ts", "tsconfig.json"] {
        std::fs::copy(types.join(f), dir.path().join(f)).unwrap();
    }
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let out = Command::new("npx")
        .args([
            "--no-install",
            "tsc",
            "--noEmit",
            "--strict",
            "--pretty",
            "false",
            "-p",
            ".",
        ])
        .current_dir(dir.path())
        .output()
        .expect("run npx tsc");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    let mut by_file: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in text.lines().filter(|l| l.contains("error TS")) {
        let file = line.split('(').next().unwrap_or("").to_string();
        by_file.entry(file).or_default().push(line.to_string());
    }
    // tsc exits non-zero exactly when it reports errors.
    assert_eq!(
        out.status.success(),
        by_file.is_empty(),
        "tsc: unexpected outcome:\n{text}"
    );
    by_file
}

pub fn dashboards_type_check_against_grafanas_published_types() -> TestResult {
    grafana_types()?;
    let dir = scratch();
    let rules = dir.path().join("rules.yml");
    vitals(&["rules", "--out", rules.to_str().unwrap()])
        .run()
        .expect_code(0);
    let reference = dashboard(&[]);
    let recorded = dashboard(&["--rules", rules.to_str().unwrap()]);
    let payments = dashboard(&[
        "--config",
        repo()
            .join("tests/sites/payments/slo.toml")
            .to_str()
            .unwrap(),
    ]);
    // Negative controls: one broken field each, which the type check must reject.
    let mut string_version = reference.clone();
    string_version["schemaVersion"] = Value::String("41".into());
    let mut misspelt = reference.clone();
    misspelt["panels"][1]["gridPos"]["width"] = Value::from(6);
    let mut bad_mode = reference.clone();
    let stat = bad_mode["panels"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|p| p["type"] == "stat" && p["fieldConfig"]["defaults"]["thresholds"].is_object())
        .expect("a stat with thresholds");
    stat["fieldConfig"]["defaults"]["thresholds"]["mode"] = Value::String("relative".into());
    let mut bad_variable = reference.clone();
    bad_variable["templating"]["list"][0]["type"] = Value::String("datasources".into());
    let files = BTreeMap::from([
        ("reference.ts", as_typescript(&reference)),
        ("recorded.ts", as_typescript(&recorded)),
        ("payments.ts", as_typescript(&payments)),
        ("bad_version.ts", as_typescript(&string_version)),
        ("bad_gridpos.ts", as_typescript(&misspelt)),
        ("bad_mode.ts", as_typescript(&bad_mode)),
        ("bad_variable.ts", as_typescript(&bad_variable)),
    ]);
    let errors = tsc(&files);
    for good in ["reference.ts", "recorded.ts", "payments.ts"] {
        assert!(
            !errors.contains_key(good),
            "{good} does not type-check: {:#?}",
            errors[good]
        );
    }
    let expect = |file: &str, needle: &str| {
        let e = errors
            .get(file)
            .unwrap_or_else(|| panic!("{file}: the broken field was accepted"));
        assert!(
            e.len() == 1 && e[0].contains(needle),
            "{file}: expected one error about {needle}: {e:#?}"
        );
    };
    expect("bad_version.ts", "not assignable to type 'number'");
    expect(
        "bad_gridpos.ts",
        "width\"' does not exist in type 'GridPos'",
    );
    expect("bad_mode.ts", "\"relative\"");
    expect("bad_variable.ts", "\"datasources\"");
    Ok(())
}

// --- (b) every query parses and returns data ---------------------------------------------

/// Percent-encodes a query parameter.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The series a panel's query returns as Grafana asks for it: a stat's instant query at
/// `at`, a time series over the dashboard's default range (the 6 hours before `at`).
fn answer(port: u16, promql: &str, instant: bool, at: i64) -> Vec<Value> {
    let v = if instant {
        instant_query(port, promql, &at.to_string())
    } else {
        let path = format!(
            "/api/v1/query_range?query={}&start={}&end={at}&step=300",
            enc(promql),
            at - 6 * 3600
        );
        let (status, body) = http_get(port, &path).expect("Prometheus answers");
        assert_eq!(status, 200, "{promql}: {body}");
        serde_json::from_str(&body).unwrap()
    };
    v["data"]["result"].as_array().cloned().unwrap_or_default()
}

/// Checks every query of `d` on a Prometheus: it parses (after the Grafana variables are
/// substituted) and returns at least one series; a KPI filtered by labels finds a series
/// with them. Panels under a row titled `skip_row` are only parsed.
fn every_query_returns_data(d: &Value, port: u16, at: i64, skip_row: Option<&str>) {
    let mut empty = Vec::new();
    let mut row = String::new();
    let mut checked = 0;
    for panel in d["panels"].as_array().unwrap() {
        let title = panel["title"].as_str().unwrap();
        if panel["type"] == "row" {
            row = title.to_string();
        }
        for t in panel["targets"].as_array().into_iter().flatten() {
            let e = substitute(t["expr"].as_str().unwrap());
            assert!(!e.contains('$'), "{title}: a Grafana variable is left: {e}");
            if let Err(err) = promql_parser::parser::parse(&e) {
                panic!("{title}: does not parse: {err}\n{e}");
            }
            if skip_row == Some(row.as_str()) {
                continue;
            }
            checked += 1;
            let series = answer(port, &e, t["instant"] == true, at);
            if series.is_empty() {
                empty.push(format!("{title}: {e}"));
                continue;
            }
            for tr in panel["transformations"].as_array().into_iter().flatten() {
                let want = tr["options"]["include"]["names"][0].as_str().unwrap();
                let legend = t["legendFormat"].as_str().unwrap();
                let label = legend.trim_start_matches("{{").trim_end_matches("}}");
                assert!(
                    series.iter().any(|s| s["metric"][label] == want),
                    "{title}: no series with {label}={want}: {series:?}"
                );
            }
        }
    }
    assert!(checked > 40, "{checked}");
    assert!(
        empty.is_empty(),
        "queries without data:\n{}",
        empty.join("\n")
    );
}

pub fn every_panel_query_parses_and_returns_data_on_the_simulated_week() -> TestResult {
    let w = week()?;
    let d = dashboard(&[]);
    assert!(queries(&d).len() > 80, "{}", queries(&d).len());
    // During the MES outage, as on-call would look at it.
    let t = incident(&w.truth, "MES outage")["start"].as_i64().unwrap() + 1800;
    every_query_returns_data(&d, w.prom.port, t, None);
    Ok(())
}

/// The business KPIs over a week-long time range ending on the fixture's last instant are
/// the W47 report's numbers.
pub fn dashboard_kpis_over_a_week_equal_the_weekly_report() -> TestResult {
    let w = week()?;
    let r = vitals(&["report", "--week", "2026-W47", "--format", "json"])
        .prometheus(&w.prom.url)
        .run();
    r.expect_code(0);
    let report = r.json();
    let d = dashboard(&[]);
    let mut compared = 0;
    for p in d["panels"].as_array().unwrap() {
        let desc = p["description"].as_str().unwrap_or("");
        let Some(id) = desc
            .split("(the report's KPI `")
            .nth(1)
            .and_then(|s| s.split('`').next())
        else {
            continue;
        };
        let want = report["kpis"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["id"] == id)
            .unwrap_or_else(|| panic!("no KPI {id} in the report"))["value"]
            .as_f64()
            .unwrap();
        let t = &p["targets"][0];
        let series = answer(
            w.prom.port,
            &substitute(t["expr"].as_str().unwrap()),
            true,
            END_S,
        );
        // A filtered KPI: the series Grafana keeps (by their legend), summed as the report does.
        let keep: Option<(String, String)> = p["transformations"][0]["options"]["include"]["names"]
            [0]
        .as_str()
        .map(|name| {
            let legend = t["legendFormat"].as_str().unwrap();
            let label = legend.trim_start_matches("{{").trim_end_matches("}}");
            (label.to_string(), name.to_string())
        });
        let got: f64 = series
            .iter()
            .filter(|s| keep.as_ref().is_none_or(|(l, v)| s["metric"][l] == *v))
            .map(|s| s["value"][1].as_str().unwrap().parse::<f64>().unwrap())
            .sum();
        assert!(
            crate::support::rel_diff(got, want) < 1e-9,
            "{id}: the dashboard shows {got}, the report {want}"
        );
        compared += 1;
    }
    // Every KPI of site.toml's report (the report adds the SLOs' period values to its list).
    assert_eq!(compared, crate::support::config().site.report.kpis.len());
    assert!(compared >= 10, "{compared}");
    Ok(())
}

/// The recorded series a query reads: `(record, slo)` of each selector of a `slo:` name.
fn recorded_selectors(expr: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = expr;
    while let Some(i) = rest.find("slo:sli_error:ratio_rate") {
        let tail = &rest[i..];
        let end = tail.find('{').expect("a selector with the slo label");
        let name = tail[..end].to_string();
        let labels = &tail[end..tail.find('}').unwrap()];
        let slo = labels
            .split("slo=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .expect("an slo label")
            .to_string();
        out.push((name, slo));
        rest = &tail[end..];
    }
    out
}

pub fn a_deployed_rule_file_switches_slo_panels_to_its_recorded_series() -> TestResult {
    let dir = scratch();
    let rules = dir.path().join("rules.yml");
    vitals(&[
        "rules",
        "--slo",
        "mes-availability",
        "--slo",
        "shop-latency",
        "--out",
        rules.to_str().unwrap(),
    ])
    .run()
    .expect_code(0);
    let yaml = std::fs::read_to_string(&rules).unwrap();
    let r = vitals(&["dashboard", "--rules", rules.to_str().unwrap()]).run();
    r.expect_code(0);
    // The SLOs the file does not record are named, and keep the SLI expressions.
    assert!(
        r.stderr
            .contains("shop-availability: the rule file does not record"),
        "{}",
        r.stderr
    );
    let d = r.json();
    let mut recorded = BTreeSet::new();
    for (title, expr, _) in queries(&d) {
        assert!(
            promql_parser::parser::parse(&substitute(&expr)).is_ok(),
            "{title}: {expr}"
        );
        let sel = recorded_selectors(&expr);
        let slo = title.split(':').next().unwrap();
        if ["mes-availability", "shop-latency"].contains(&slo) {
            assert!(
                !sel.is_empty(),
                "{title} does not read a recorded series: {expr}"
            );
            assert!(!expr.contains("http_request"), "{title}: {expr}");
        } else {
            assert!(
                sel.is_empty(),
                "{title} reads a record the file lacks: {expr}"
            );
        }
        for (name, s) in sel {
            assert_eq!(s, slo, "{title}");
            // Recorded by the file, with that slo label.
            let rule = format!("- record: {name}\n");
            let found = yaml.match_indices(&rule).any(|(i, _)| {
                yaml[i..]
                    .lines()
                    .take(12)
                    .any(|l| l.trim() == format!("slo: '{s}'"))
            });
            assert!(
                found,
                "{title}: {name}{{slo={s:?}}} is not recorded by the rules"
            );
            recorded.insert(name);
        }
    }
    // The budget and the burn rate of both SLOs: the 28d window and every alert window.
    assert!(recorded.len() >= 5, "{recorded:?}");
    // With every SLO's rules deployed, no SLO panel reads the raw SLI.
    let all = dir.path().join("all.yml");
    vitals(&["rules", "--out", all.to_str().unwrap()])
        .run()
        .expect_code(0);
    let r = vitals(&["dashboard", "--rules", all.to_str().unwrap()]).run();
    r.expect_code(0);
    assert!(!r.stderr.contains("does not record"), "{}", r.stderr);
    let d = r.json();
    for (title, expr, _) in queries(&d) {
        if title.ends_with(": budget left") || title.ends_with(": burn rate") {
            assert!(!recorded_selectors(&expr).is_empty(), "{title}: {expr}");
        }
    }
    Ok(())
}

/// A YAML list item `- KEY: |` at `indent`, the text as a block under it.
fn yaml_item_block(key: &str, text: &str, indent: usize) -> String {
    let pad = " ".repeat(indent);
    let mut out = format!("{pad}- {key}: |\n");
    for line in text.lines() {
        out.push_str(&format!("{pad}    {line}\n"));
    }
    out
}

/// With the rules loaded (`promtool test rules`), each recorded-series panel of an SLO gives
/// exactly what the same panel computes from the raw series: the same number, so the
/// recorded series are there and mean the same.
pub fn recorded_panels_equal_the_sli_panels_under_promtool() -> TestResult {
    require_binaries()?;
    let dir = scratch();
    let rules = dir.path().join("rules.yml");
    vitals(&[
        "rules",
        "--slo",
        "mes-availability",
        "--out",
        rules.to_str().unwrap(),
    ])
    .run()
    .expect_code(0);
    let raw = dashboard(&[]);
    let recorded = dashboard(&["--rules", rules.to_str().unwrap()]);
    let by_target = |d: &Value| -> BTreeMap<(String, String), String> {
        let mut m = BTreeMap::new();
        for p in d["panels"].as_array().unwrap() {
            let title = p["title"].as_str().unwrap();
            if !title.starts_with("mes-availability: ") {
                continue;
            }
            for t in p["targets"].as_array().unwrap() {
                m.insert(
                    (title.to_string(), t["refId"].as_str().unwrap().to_string()),
                    t["expr"].as_str().unwrap().to_string(),
                );
            }
        }
        m
    };
    let (raw, recorded) = (by_target(&raw), by_target(&recorded));
    // The budget left and the burn rate over four windows.
    assert_eq!(raw.len(), 5, "{raw:?}");
    assert_eq!(
        raw.keys().collect::<Vec<_>>(),
        recorded.keys().collect::<Vec<_>>()
    );
    // Three hours of MES: 0.1 % errors, then 10 % from minute 61.
    let mut test = format!(
        "rule_files:\n  - {}\nevaluation_interval: 1m\ntests:\n  - name: recorded panels\n    interval: 1m\n    input_series:\n      - series: 'http_requests_total{{service=\"mes\",code=\"200\"}}'\n        values: '0+999x60 60840+900x119'\n      - series: 'http_requests_total{{service=\"mes\",code=\"503\"}}'\n        values: '0+1x60 160+100x119'\n    promql_expr_test:\n",
        rules.display()
    );
    for (key, r) in &recorded {
        assert!(!recorded_selectors(r).is_empty(), "{key:?}: {r}");
        // `on ()`: the recorded side carries the rule's labels, the raw side none.
        let cmp = format!("abs(\n({r})\n- on ()\n({})\n)", raw[key]);
        test.push_str(&yaml_item_block("expr", &cmp, 6));
        test.push_str("        eval_time: 150m\n        exp_samples:\n          - labels: '{}'\n            value: 0\n");
    }
    let path = crate::support::write(dir.path(), "test.yml", &test);
    let out = Command::new("promtool")
        .args(["test", "rules"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool test rules failed:\n{}{}\n--- test file\n{test}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

// --- (c) the payments site ---------------------------------------------------------------

pub fn the_payments_site_gets_its_own_dashboard_with_no_code_change() -> TestResult {
    let p = crate::sites::payments()?;
    let config = repo().join("tests/sites/payments/slo.toml");
    let d = dashboard(&["--config", config.to_str().unwrap()]);
    let rows: Vec<String> = d["panels"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["type"] == "row")
        .map(|p| {
            p["title"]
                .as_str()
                .unwrap()
                .split(':')
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    for c in ["payments", "mq", "main-db"] {
        assert!(rows.iter().any(|r| r == c), "no row for {c}: {rows:?}");
    }
    for c in ["rabbitmq", "shop-db", "s3"] {
        assert!(
            !rows.iter().any(|r| r == c),
            "the reference site's {c} is shown: {rows:?}"
        );
    }
    // Its own SLOs, and every query reads its own data.
    assert!(
        queries(&d)
            .iter()
            .any(|(t, _, _)| t == "payments-availability: budget left"),
        "{}",
        summary(&d)
    );
    // The plan's metrics no panel of this site shows are the reference plan's (S3, which
    // this site does not have): their panels say "no data", the rest must have it.
    every_query_returns_data(
        &d,
        p.prom.port,
        END_S - 60,
        Some("Monitoring plan: metrics not shown above"),
    );
    Ok(())
}

// --- the command ---------------------------------------------------------------------------

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap()
}

pub fn dashboard_out_title_and_errors() -> TestResult {
    let dir = scratch();
    let out = dir.path().join("d.json");
    let r = vitals(&[
        "dashboard",
        "--out",
        out.to_str().unwrap(),
        "--title",
        "Shop on call",
    ])
    .run();
    r.expect_code(0);
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    let d: Value = serde_json::from_str(&read(&out)).unwrap();
    assert_eq!(d["title"], "Shop on call");
    assert_eq!(d["uid"], "shop-on-call");
    // Deterministic: the same bytes on stdout as in the file.
    let again: Run = vitals(&["dashboard", "--title", "Shop on call"]).run();
    assert_eq!(again.stdout, read(&out));
    // The datasource is a template variable, and every panel reads through it.
    let vars = d["templating"]["list"].as_array().unwrap();
    assert_eq!(vars[0]["name"], "datasource");
    assert_eq!(vars[0]["type"], "datasource");
    assert_eq!(vars[0]["query"], "prometheus");
    let mut ids = BTreeSet::new();
    for p in d["panels"].as_array().unwrap() {
        assert!(
            ids.insert(p["id"].as_u64().unwrap()),
            "duplicate id {}",
            p["id"]
        );
        if p["type"] != "row" && p["type"] != "text" {
            assert_eq!(p["datasource"]["uid"], "${datasource}", "{}", p["title"]);
        }
    }
    // The plan's links point at panels that exist.
    let text = d["panels"].as_array().unwrap().last().unwrap();
    let md = text["options"]["content"].as_str().unwrap();
    let links: Vec<u64> = md
        .match_indices("(?viewPanel=panel-")
        .map(|(i, m)| {
            md[i + m.len()..]
                .split(')')
                .next()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    assert!(links.len() >= 52, "{}", links.len());
    assert!(links.iter().all(|l| ids.contains(l)), "{links:?}");
    assert!(!md.contains("(no panel"), "{md}");
    vitals(&["dashboard", "--format", "table"])
        .run()
        .expect_code(2);
    let r = vitals(&["dashboard", "--rules", "/nonexistent/rules.yml"]).run();
    r.expect_code(2);
    assert!(
        r.stderr.contains("--rules /nonexistent/rules.yml"),
        "{}",
        r.stderr
    );
    Ok(())
}

pub fn dashboard_summary_snapshot() -> TestResult {
    insta::assert_snapshot!("dashboard_summary", summary(&dashboard(&[])));
    Ok(())
}
