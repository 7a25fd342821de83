//! `vitals check` against the simulated weeks: SLO values against the ground truth, burn-rate
//! alerts against the scripted outage, exit codes, and the output contracts.
//!
//! Tolerances are those of `sim.rs`: on the 60 s sample grid `rate()`/`increase()` over an
//! aligned window is the exact event count, short only of the requests the truth records as
//! lost to a restart; gauges are exact at sample times; a histogram quantile lies in the
//! bucket of the true quantile.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::support::mock::{EMPTY_VECTOR, Mock, Reply};
use crate::support::prometheus::{free_port, which};
use crate::support::schema::assert_valid;
use crate::support::{Run, Skip, TestResult, rel_diff, repo, scratch, vitals, write};
use crate::week::{END, END_S, WEEK, Week, incident, lost_requests, service_total, week};

fn check(w: &Week, args: &[&str]) -> Run {
    let mut a = vec!["check"];
    a.extend(args);
    vitals(&a).prometheus(&w.prom.url).run()
}

fn check_json(w: &Week, at: &str, extra: &[&str]) -> Value {
    // The shared Prometheus answers many tests at once on two cores: a generous timeout, so
    // that a slow answer is not mistaken for a wrong one; a query that still fails is named.
    let mut a = vec!["--timeout", "2m", "--at", at, "--format", "json"];
    a.extend(extra);
    let r = check(w, &a);
    assert!([0, 1, 3].contains(&r.code), "exit {}: {}", r.code, r.stderr);
    let doc = r.json();
    for row in doc["slos"].as_array().unwrap() {
        assert!(row["error"].is_null(), "a query failed: {row:#}");
    }
    doc
}

fn row<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["slos"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("no row {name}"))
}

fn at(t: i64) -> String {
    vitals::timespec::format_time(vitals::timespec::from_unix_seconds(t as f64))
}

/// Requests at or under the latency bound `le` in `[start, end)`, from the truth.
fn truth_fast(t: &Value, svc: &str, le: f64, start: i64, end: i64) -> f64 {
    let idx = t["latency_bounds"]
        .as_array()
        .unwrap()
        .iter()
        .position(|b| b.as_f64() == Some(le))
        .expect("a histogram bound");
    t["hours"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| (start..end).contains(&h["start"].as_i64().unwrap()))
        .map(|h| h["services"][svc]["le"][idx].as_f64().unwrap_or(0.0))
        .sum()
}

/// `lo <= got <= hi`, with a relative 1e-9 for floating point.
#[track_caller]
fn within(what: &str, got: f64, lo: f64, hi: f64) {
    assert!(
        got >= lo * (1.0 - 1e-9) - 1e-12 && got <= hi * (1.0 + 1e-9) + 1e-12,
        "{what}: {got} outside [{lo}, {hi}]"
    );
}

pub fn every_slo_value_matches_the_truth() -> TestResult {
    let w = week()?;
    let t = &w.truth;
    let doc = check_json(w, END, &[]);
    assert_valid("check.schema.json", &doc);
    let data_start = END_S - 2 * WEEK;

    // Availability: SLI = 1 - 5xx/requests over the whole history (the 28d window reaches
    // before it); restarts hide at most `lost` requests, of any status.
    for (name, svc) in [
        ("shop-availability", "shop"),
        ("crm-availability", "crm"),
        ("mes-availability", "mes"),
    ] {
        let r = row(&doc, name);
        let (req, e5) = (
            service_total(t, svc, "requests", data_start, END_S) as f64,
            service_total(t, svc, "5xx", data_start, END_S) as f64,
        );
        let lost = lost_requests(t, svc, data_start, END_S) as f64;
        within(
            &format!("{name} total events"),
            r["events"]["total"].as_f64().unwrap(),
            req - lost,
            req,
        );
        within(
            &format!("{name} bad events"),
            r["events"]["bad"].as_f64().unwrap(),
            e5 - lost,
            e5,
        );
        within(
            &format!("{name} SLI"),
            r["value"].as_f64().unwrap(),
            1.0 - e5 / (req - lost),
            1.0 - (e5 - lost).max(0.0) / req,
        );
        // The budget follows from the same counts.
        let consumed = r["budget"]["consumed_ratio"].as_f64().unwrap();
        let target = r["objective"].as_f64().unwrap();
        assert!(
            rel_diff(
                consumed,
                (1.0 - r["value"].as_f64().unwrap()) / (1.0 - target)
            ) < 1e-9
        );
    }
    // Latency: the share of requests at or under the threshold bucket.
    for (name, svc, le) in [("shop-latency", "shop", 0.5), ("mes-latency", "mes", 1.0)] {
        let r = row(&doc, name);
        let (req, fast) = (
            service_total(t, svc, "requests", data_start, END_S) as f64,
            truth_fast(t, svc, le, data_start, END_S),
        );
        let lost = lost_requests(t, svc, data_start, END_S) as f64;
        within(
            &format!("{name} SLI"),
            r["value"].as_f64().unwrap(),
            (fast - lost) / req,
            fast / (req - lost),
        );
    }
    // CRM latency is judged per calendar week in Moscow: at Monday 00:00 UTC (03:00 Moscow)
    // the week is three hours old.
    let crm = row(&doc, "crm-latency");
    assert_eq!(crm["window"]["start"], "2026-11-22T21:00:00Z");
    assert_eq!(crm["window"]["length"], "7d");
    assert_eq!(crm["window"]["label"], "week 2026-W48 (Europe/Moscow)");
    let ws = END_S - 3 * 3600;
    let (req, fast) = (
        service_total(t, "crm", "requests", ws, END_S) as f64,
        truth_fast(t, "crm", 0.5, ws, END_S),
    );
    assert!(req > 500.0);
    within(
        "crm-latency SLI",
        crm["value"].as_f64().unwrap(),
        fast / req,
        fast / req,
    );
    // Grouped: the routes' events add up to the service's.
    let routes: Vec<&Value> = doc["slos"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["name"] == "shop-route-latency")
        .collect();
    assert_eq!(routes.len(), 4, "one row per shop route");
    let sum: f64 = routes
        .iter()
        .map(|r| r["events"]["total"].as_f64().unwrap())
        .sum();
    assert!(
        rel_diff(
            sum,
            row(&doc, "shop-latency")["events"]["total"]
                .as_f64()
                .unwrap()
        ) < 1e-9
    );

    // Business thresholds.
    let o = &t["summary"]["scenario"]["orders"];
    let lost_created: f64 = t["restarts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["lost_orders_created"].as_f64().unwrap())
        .sum();
    let (created, lost) = (o["created"].as_f64().unwrap(), o["lost"].as_f64().unwrap());
    within(
        "lost-order-share",
        row(&doc, "lost-order-share")["value"].as_f64().unwrap(),
        lost / created,
        lost / (created - lost_created),
    );
    let mut took: Vec<f64> = t["orders"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| {
            x["fate"] == "delivered"
                && x["ended"]
                    .as_f64()
                    .is_some_and(|e| e > (END_S - 86_400) as f64 && e <= END_S as f64)
        })
        .map(|x| x["processing_seconds"].as_f64().unwrap())
        .collect();
    took.sort_by(f64::total_cmp);
    let p95 = took[((0.95 * took.len() as f64).ceil() as usize).clamp(1, took.len()) - 1];
    let bounds = vitals_sim::model::ORDER_BUCKETS;
    let i = bounds.partition_point(|b| *b < p95);
    within(
        "order-processing-p95 (its bucket)",
        row(&doc, "order-processing-p95")["value"].as_f64().unwrap(),
        if i == 0 { 0.0 } else { bounds[i - 1] },
        bounds[i],
    );
    let resolved: Vec<f64> = t["crm_incidents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| {
            c["resolved"]
                .as_f64()
                .is_some_and(|r| r > (END_S - WEEK) as f64 && r <= END_S as f64)
        })
        .map(|c| c["resolved"].as_f64().unwrap() - c["opened"].as_f64().unwrap())
        .collect();
    assert!(
        resolved.len() >= 5,
        "incidents resolved this week: {}",
        resolved.len()
    );
    let mttr = resolved.iter().sum::<f64>() / resolved.len() as f64;
    assert!(
        rel_diff(row(&doc, "mttr")["value"].as_f64().unwrap(), mttr) < 1e-6,
        "mttr {} vs {mttr}",
        row(&doc, "mttr")["value"]
    );
    // RabbitMQ: dead letters of the last hour.
    let last_hour = t["hours"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["start"].as_i64() == Some(END_S - 3600))
        .unwrap();
    let dl: f64 = last_hour["dead_lettered"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|r| r.as_object().unwrap().values())
        .map(|v| v.as_f64().unwrap())
        .sum();
    assert_eq!(row(&doc, "dead-letter-rate")["value"].as_f64().unwrap(), dl);
    // S3: the p95 of the last five minutes lies in the bucket holding the 95th-percentile
    // rank of what the APIs observed then (the truth counts them per five minutes).
    let s3_bounds: Vec<f64> = t["s3_latency_bounds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_f64().unwrap())
        .collect();
    let block = t["s3_latency"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["start"].as_i64() == Some(END_S - 300))
        .expect("the last five minutes of S3 requests");
    let le: Vec<f64> = block["le"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let rank = 0.95 * le[le.len() - 1];
    let i = le.iter().position(|c| *c >= rank).unwrap();
    assert!(i < s3_bounds.len(), "the p95 is in a finite bucket");
    within(
        "s3-latency-p95 (its bucket)",
        row(&doc, "s3-latency-p95")["value"].as_f64().unwrap(),
        if i == 0 { 0.0 } else { s3_bounds[i - 1] },
        s3_bounds[i],
    );
    // Shop routes: each route's share of requests under 1 s, from the truth per route.
    let idx = t["latency_bounds"]
        .as_array()
        .unwrap()
        .iter()
        .position(|b| b.as_f64() == Some(1.0))
        .unwrap();
    let lost = lost_requests(t, "shop", data_start, END_S) as f64;
    for r in &routes {
        let handler = r["group"]["handler"].as_str().unwrap();
        let (mut req, mut fast) = (0.0, 0.0);
        for h in t["hours"].as_array().unwrap() {
            let route = &h["services"]["shop"]["handlers"][handler];
            req += route["requests"].as_f64().unwrap_or(0.0);
            fast += route["le"][idx].as_f64().unwrap_or(0.0);
        }
        assert!(req > 0.0, "{handler}: no requests in the truth");
        within(
            &format!("shop-route-latency {handler}"),
            r["value"].as_f64().unwrap(),
            (fast - lost) / req,
            fast / (req - lost),
        );
    }
    Ok(())
}

/// The largest value of an SLO's row over `[from, to]`, checked every minute.
fn peak(w: &Week, slo: &str, group: Option<(&str, &str)>, from: i64, to: i64) -> (f64, String) {
    let mut best = (f64::MIN, String::new());
    let mut t = from;
    while t <= to {
        let doc = check_json(w, &at(t), &["--slo", slo]);
        for r in doc["slos"].as_array().unwrap() {
            if group.is_some_and(|(k, v)| r["group"][k] != v) {
                continue;
            }
            let v = r["value"].as_f64().unwrap_or(f64::MIN);
            if v > best.0 {
                best = (v, r["status"].as_str().unwrap().to_string());
            }
        }
        t += 60;
    }
    best
}

pub fn gauge_slos_match_the_truth_at_their_peaks() -> TestResult {
    let w = week()?;
    let t = &w.truth;
    let outage = incident(t, "MES outage");
    let (s, e) = (
        outage["start"].as_i64().unwrap(),
        outage["end"].as_i64().unwrap(),
    );
    let (depth, status) = peak(w, "shop-orders-queue-depth", None, s, e + 1800);
    assert_eq!(
        depth,
        outage["peak_queue_depth"]["shop.orders"].as_f64().unwrap()
    );
    assert_eq!(
        status, "fail",
        "a backlog of {depth} orders breaches the depth SLO"
    );
    let pile = incident(t, "MES DB connection pile-up");
    let (s, e) = (
        pile["start"].as_i64().unwrap(),
        pile["end"].as_i64().unwrap(),
    );
    let hour = t["hours"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["start"].as_i64() == Some(s / 3600 * 3600))
        .unwrap();
    let (sat, status) = peak(
        w,
        "db-connection-saturation",
        Some(("service", "mes-db")),
        s,
        e,
    );
    assert_eq!(
        sat,
        hour["max_db_connections"]["mes-db"].as_f64().unwrap() / 200.0
    );
    assert_eq!(status, "fail");
    let (mem, _) = peak(w, "db-memory", Some(("service", "mes-db")), s, e);
    assert_eq!(mem, hour["max_db_memory_bytes"]["mes-db"].as_f64().unwrap());
    Ok(())
}

pub fn mes_fast_burn_fires_inside_the_outage_and_not_before() -> TestResult {
    let w = week()?;
    let outage = incident(&w.truth, "MES outage");
    let (s, e) = (
        outage["start"].as_i64().unwrap(),
        outage["end"].as_i64().unwrap(),
    );
    let fast = |t: i64| -> bool {
        let doc = check_json(w, &at(t), &["--slo", "mes-availability"]);
        let r = &doc["slos"][0];
        let b = &r["burn_rates"][0];
        assert_eq!(
            (b["severity"].as_str(), b["factor"].as_f64()),
            (Some("page"), Some(14.4)),
            "{r:#}"
        );
        b["firing"].as_bool().unwrap()
    };
    let mut first = None;
    let mut t = s - 3600;
    while t <= e {
        if fast(t) {
            first = Some(t);
            break;
        }
        t += 120;
    }
    let first = first.expect("the fast burn never fired during the outage");
    assert!(
        first > s && first <= e,
        "fired at {} for an outage {}..{}",
        at(first),
        at(s),
        at(e)
    );
    // It stops once the short window no longer sees errors.
    assert!(
        !fast(e + 10 * 60),
        "still firing 10 minutes after the outage"
    );
    let doc = check_json(w, &at(first), &["--slo", "mes-availability"]);
    assert_eq!(
        doc["slos"][0]["status"], "warn",
        "burning, but the 28-day objective still holds"
    );
    Ok(())
}

pub fn a_quiet_week_passes_and_the_incident_week_breaches() -> TestResult {
    let w = week()?;
    let quiet = check(w, &["--at", &at(END_S - WEEK)]);
    quiet.expect_code(0);
    assert!(
        quiet.stdout.contains("0 warn, 0 fail, 0 inconclusive"),
        "{}",
        quiet.stdout
    );
    // Sunday 23:00 in Moscow, the incident week's last hour: the lost orders breach their
    // SLO, and the slow release spent the CRM's weekly latency budget.
    let bad = check(w, &["--at", &at(END_S - 4 * 3600)]);
    bad.expect_code(1);
    for line in ["FAIL lost-order-share", "FAIL crm-latency"] {
        assert!(bad.stdout.contains(line), "{line} missing:\n{}", bad.stdout);
    }
    Ok(())
}

fn slo_file(dir: &std::path::Path, body: &str) -> String {
    write(dir, "slo.toml", body).to_str().unwrap().to_string()
}

const PASSING: &str = "[[slo]]\nname = \"s3\"\ncomponent = \"s3\"\nkind = \"threshold\"\nquery = \"s3.latency_p95_overall\"\nop = \"<=\"\nvalue = 1.0\n";

pub fn exit_codes_follow_the_contract() -> TestResult {
    let w = week()?;
    let dir = scratch();
    let run = |body: &str, extra: &[&str]| {
        let cfg = slo_file(dir.path(), body);
        let mut a = vec!["--config", cfg.as_str(), "--at", END];
        a.extend(extra);
        check(w, &a)
    };
    run(PASSING, &[]).expect_code(0);
    // mttr of the incident week is 2.4 h: past a 2 h warning level, within 4 h.
    let warn = "[[slo]]\nname = \"m\"\ncomponent = \"business\"\nkind = \"threshold\"\nquery = \"business.mttr_seconds\"\nop = \"<=\"\nvalue = 14400\nwarn = 7200\n";
    let r = run(warn, &[]);
    r.expect_code(0);
    assert!(r.stdout.contains("WARN m:"), "{}", r.stdout);
    run(warn, &["--fail-on", "warn"]).expect_code(1);
    let breach = "[[slo]]\nname = \"l\"\ncomponent = \"business\"\nkind = \"threshold\"\nquery = \"business.lost_order_share\"\nparams = { window = \"7d\" }\nop = \"<=\"\nvalue = 0.001\n";
    run(breach, &[]).expect_code(1);
    for (on_no_data, code) in [
        ("", 3),
        ("on_no_data = \"pass\"\n", 0),
        ("on_no_data = \"fail\"\n", 1),
    ] {
        let body = format!(
            "[[slo]]\nname = \"n\"\ncomponent = \"x\"\nkind = \"threshold\"\npromql = 'sum(metric_nobody_exports)'\nop = \"<=\"\nvalue = 1\n{on_no_data}"
        );
        let r = run(&body, &[]);
        r.expect_code(code);
        assert!(r.stdout.contains("no data"), "{}", r.stdout);
    }
    // A breach and an undecided SLO: the breach decides the exit code, both are reported.
    let both = format!(
        "{breach}\n[[slo]]\nname = \"n\"\ncomponent = \"x\"\nkind = \"threshold\"\npromql = 'sum(metric_nobody_exports)'\nop = \"<=\"\nvalue = 1\n"
    );
    let r = run(&both, &[]);
    r.expect_code(1);
    assert!(
        r.stdout.contains("FAIL l:") && r.stdout.contains("INCONCLUSIVE n:"),
        "{}",
        r.stdout
    );
    // Unreachable Prometheus: every SLO reported as undecided, exit 3.
    let cfg = slo_file(dir.path(), &both);
    let r = vitals(&["check", "--config", &cfg])
        .prometheus(&format!("http://127.0.0.1:{}", free_port()))
        .run();
    r.expect_code(3);
    assert_eq!(
        r.stdout.matches("cannot reach Prometheus").count(),
        2,
        "{}",
        r.stdout
    );
    // Bad configuration: exit 2 before anything is sent.
    let mock = Mock::start(|_| Reply::json(200, EMPTY_VECTOR));
    let cfg = slo_file(
        dir.path(),
        "[[slo]]\nname = \"x\"\ncomponent = \"x\"\nkind = \"ratio\"\nobjective = 99\n",
    );
    let r = vitals(&["check", "--config", &cfg])
        .prometheus(&mock.url)
        .run();
    r.expect_code(2);
    assert!(
        r.stderr.contains("slo.toml:1:1: SLO `x`: needs `window`"),
        "{}",
        r.stderr
    );
    let r = vitals(&["check", "--slo", "mes-availabilty"])
        .prometheus(&mock.url)
        .run();
    r.expect_code(2);
    assert!(
        r.stderr.contains("did you mean `mes-availability`?"),
        "{}",
        r.stderr
    );
    assert_eq!(mock.hits(), 0);
    // A latency threshold that is not a bucket is a configuration error found on the data.
    let le = "[[slo]]\nname = \"lat\"\ncomponent = \"shop\"\nkind = \"latency\"\nhistogram = \"http_request_duration_seconds\"\nselector = 'service=\"shop\"'\nthreshold = 0.3\nobjective = 95\nwindow = \"7d\"\n";
    let r = run(le, &[]);
    r.expect_code(2);
    assert!(r.stdout.contains("threshold 0.3 s is not an `le` bucket of http_request_duration_seconds (its buckets: 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5,"), "{}", r.stdout);
    Ok(())
}

pub fn a_failing_query_does_not_hide_the_other_slos() -> TestResult {
    let w = week()?;
    let dir = scratch();
    // Prometheus rejects this one at execution time (two series, one label set).
    let body = format!(
        "{PASSING}\n[[slo]]\nname = \"broken\"\ncomponent = \"x\"\nkind = \"threshold\"\npromql = 'rate({{__name__=~\"rabbitmq_global_messages_(delivered|acknowledged)_total\"}}[5m])'\nop = \"<=\"\nvalue = 1\n"
    );
    let cfg = slo_file(dir.path(), &body);
    let r = check(w, &["--config", &cfg, "--at", END, "--format", "json"]);
    r.expect_code(3);
    let doc = r.json();
    assert_eq!(row(&doc, "s3")["status"], "pass");
    assert_eq!(row(&doc, "broken")["status"], "inconclusive");
    assert!(
        row(&doc, "broken")["error"]
            .as_str()
            .unwrap()
            .contains("HTTP 422, execution"),
        "{}",
        row(&doc, "broken")["error"]
    );
    Ok(())
}

pub fn no_traffic_is_inconclusive_never_nan() -> TestResult {
    let w = week()?;
    let dir = scratch();
    let body = "[[slo]]\nname = \"ghost\"\ncomponent = \"x\"\nkind = \"ratio\"\nbad = 'sum(rate(http_requests_total{service=\"ghost\", code=~\"5..\"}[{{window}}]))'\ntotal = 'sum(rate(http_requests_total{service=\"ghost\"}[{{window}}]))'\nobjective = 99\nwindow = \"7d\"\n\n[[slo]]\nname = \"few\"\ncomponent = \"x\"\nkind = \"ratio\"\nbad = 'sum(rate(http_requests_total{service=\"crm\", code=~\"5..\"}[{{window}}]))'\ntotal = 'sum(rate(http_requests_total{service=\"crm\"}[{{window}}]))'\nobjective = 99\nwindow = \"1h\"\nmin_events = 1000000\n";
    let cfg = slo_file(dir.path(), body);
    let r = check(w, &["--config", &cfg, "--at", END, "--format", "json"]);
    r.expect_code(3);
    assert!(
        !r.stdout.contains("NaN") && !r.stdout.contains("nan"),
        "{}",
        r.stdout
    );
    let doc = r.json();
    assert_valid("check.schema.json", &doc);
    assert_eq!(row(&doc, "ghost")["value"], Value::Null);
    assert!(
        row(&doc, "ghost")["reason"]
            .as_str()
            .unwrap()
            .contains("no traffic")
    );
    assert!(
        row(&doc, "few")["reason"]
            .as_str()
            .unwrap()
            .contains("(min_events = 1000000)"),
        "{}",
        row(&doc, "few")["reason"]
    );
    Ok(())
}

pub fn calendar_months_are_calendar_months() -> TestResult {
    let w = week()?;
    let t = &w.truth;
    let dir = scratch();
    let body = "[[slo]]\nname = \"mes-monthly\"\ncomponent = \"mes\"\nkind = \"ratio\"\nbad = 'sum(rate(http_requests_total{service=\"mes\", code=~\"5..\"}[{{window}}]))'\ntotal = 'sum(rate(http_requests_total{service=\"mes\"}[{{window}}]))'\nobjective = 99\ncalendar = \"month\"\ntime_zone = \"UTC\"\n";
    let cfg = slo_file(dir.path(), body);
    let doc = check_json(w, END, &["--config", &cfg]);
    let r = row(&doc, "mes-monthly");
    assert_eq!(r["window"]["start"], "2026-11-01T00:00:00Z");
    assert_eq!(
        r["window"]["length"], "30d",
        "November, not a 28- or 31-day window"
    );
    assert_eq!(r["window"]["elapsed"], "22d");
    let (req, e5) = (
        service_total(t, "mes", "requests", END_S - 2 * WEEK, END_S) as f64,
        service_total(t, "mes", "5xx", END_S - 2 * WEEK, END_S) as f64,
    );
    assert!(rel_diff(r["value"].as_f64().unwrap(), 1.0 - e5 / req) < 1e-9);
    // A month's budget in minutes is 1 % of 30 days.
    assert!(
        rel_diff(
            r["budget"]["total_minutes"].as_f64().unwrap(),
            0.01 * 30.0 * 1440.0
        ) < 1e-12
    );
    Ok(())
}

pub fn outputs_match_their_schemas_junit_and_markdown() -> TestResult {
    let w = week()?;
    let at_outage = at(incident(&w.truth, "MES outage")["start"].as_i64().unwrap() + 1800);
    let doc = check_json(w, &at_outage, &[]);
    assert_valid("check.schema.json", &doc);
    let statuses: BTreeMap<String, usize> = doc["summary"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap() as usize))
        .collect();
    assert!(statuses["warn"] > 0 && statuses["fail"] > 0, "{statuses:?}");
    let q = vitals(&["query", "api.rps", "--at", END, "--format", "json"])
        .prometheus(&w.prom.url)
        .run();
    assert_valid("query.schema.json", &q.json());
    let r = vitals(&["query", "api.rps", "--since", "2h", "--format", "json"])
        .prometheus(&w.prom.url)
        .run();
    assert_valid("query.schema.json", &r.json());

    let junit = check(w, &["--at", &at_outage, "--format", "junit"]);
    junit.expect_code(1);
    assert_eq!(
        junit.stdout.matches("<testcase ").count(),
        doc["slos"].as_array().unwrap().len()
    );
    assert!(
        junit.stdout.contains("<failure message=\"fail: "),
        "{}",
        junit.stdout
    );
    let with_warn = check(
        w,
        &["--at", &at_outage, "--format", "junit", "--fail-on", "warn"],
    );
    assert!(
        with_warn.stdout.matches("<failure ").count() > junit.stdout.matches("<failure ").count()
    );
    if which("xmllint").is_none() {
        if crate::support::in_ci() {
            panic!("xmllint is missing and CI is set: scripts/test installs libxml2-utils");
        }
        return Err(Skip("xmllint not installed (Debian libxml2-utils)".into()));
    }
    let dir = scratch();
    let f = write(dir.path(), "check.xml", &junit.stdout);
    let out = std::process::Command::new("xmllint")
        .args(["--noout", "--schema"])
        .arg(repo().join("tests/fixtures/junit.xsd"))
        .arg(&f)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "JUnit does not fit the XSD: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let md = check(w, &["--at", &at_outage, "--format", "markdown"]);
    assert!(
        md.stdout.starts_with("## SLO check: ❌ fail"),
        "{}",
        md.stdout
    );
    assert!(
        md.stdout.contains("| ⚠️ warn | `mes-availability` | mes |"),
        "{}",
        md.stdout
    );
    Ok(())
}
