//! Real RabbitMQ: `vitals-sim drive` runs a scripted scenario against a private
//! `rabbitmq-server` node, a real Prometheus scrapes the broker (`/metrics/per-object`) and
//! the driver every 5 s, and every `rabbitmq.*` catalog query is compared with the truth
//! the driver wrote. Counts of discrete events and gauges must be exact; rates get a
//! tolerance derived from the scrape interval and the window.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::prometheus::{Prometheus, Spec, free_port, instant_query, start_supervised};
use crate::support::rabbitmq::{self, RabbitMq};
use crate::support::{Skip, TestResult, scratch, sim_binary, vitals};

/// Scrape interval of the test's Prometheus.
const SCRAPE_S: f64 = 5.0;

/// The driven broker, its Prometheus and the truth, once per test run.
pub struct Driven {
    pub prom: Prometheus,
    pub truth: Value,
    /// Evaluation instant (Unix seconds) and the window covering the scenario.
    pub at: i64,
    pub window_s: i64,
    /// The broker's `rabbitmq_prometheus` port (`/metrics/per-object`).
    pub broker_port: u16,
    _dir: tempfile::TempDir,
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

pub fn driven() -> Result<&'static Driven, Skip> {
    static D: OnceLock<Driven> = OnceLock::new();
    crate::support::prometheus::require_binaries()?;
    let rmq = rabbitmq::shared()?;
    if let Some(d) = D.get() {
        return Ok(d);
    }
    Ok(D.get_or_init(|| drive(rmq)))
}

fn drive(rmq: &'static RabbitMq) -> Driven {
    let dir = scratch();
    let listen = format!("127.0.0.1:{}", free_port());
    let config = format!(
        "scrape_configs:\n  - job_name: rabbitmq\n    metrics_path: /metrics/per-object\n    static_configs:\n      - targets: ['{}']\n        labels: {{service: rabbitmq}}\n  - job_name: apps\n    honor_labels: true\n    static_configs:\n      - targets: ['{listen}']\n        labels: {{service: apps}}\n",
        rmq.metrics_target()
    );
    let prom = Prometheus::start(Spec {
        config,
        interval: Some("5s"),
        ..Default::default()
    })
    .expect("prometheus is installed");
    // The window starts after Prometheus has seen the broker's counters (at zero).
    let t0 = Instant::now();
    while !up(&prom, "rabbitmq") {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "Prometheus never scraped the broker"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // The window opens just before that scrape's sample (range selectors exclude their
    // start), not at the wall clock: a scrape landing late in a second and seen early in
    // the next would otherwise leave the zero sample outside the window, and a scenario
    // counted whole by the next scrape would read as a rate of zero.
    let window_start = last_scrape(&prom, "rabbitmq").floor() as i64 - 1;
    let truth = run_driver(
        dir.path(),
        &["--rabbitmq", &rmq.url, "--listen", &listen, "--wait-scrape"],
    );
    // The broker refreshes queue gauges every 5 s (collect_statistics_interval); two
    // scrapes after that every gauge and counter shows the end of the scenario.
    let finished = truth["finished_at"].as_f64().unwrap();
    let settle = finished + 5.0 + 2.0 * SCRAPE_S + 2.0;
    let wait = settle - unix_now();
    if wait > 0.0 {
        std::thread::sleep(Duration::from_secs_f64(wait));
    }
    let at = unix_now().floor() as i64;
    // VITALS_WRITE_REAL_FIXTURE=1 keeps this scrape as tests/fixtures/real/ (the real
    // exporter next to the simulator's, so their differences stay visible).
    if std::env::var_os("VITALS_WRITE_REAL_FIXTURE").is_some() {
        let fx = crate::support::repo().join("tests/fixtures/real");
        std::fs::create_dir_all(&fx).unwrap();
        let (_, body) =
            crate::support::prometheus::http_get(rmq.prometheus_port, "/metrics/per-object")
                .expect("the broker answers");
        std::fs::write(fx.join("rabbitmq-3.10-per-object.prom"), body).unwrap();
        let (_, body) = crate::support::prometheus::http_get(
            listen.rsplit(':').next().unwrap().parse().unwrap(),
            "/metrics",
        )
        .expect("the driver answers");
        std::fs::write(fx.join("drive-apps.prom"), body).unwrap();
        std::fs::write(
            fx.join("drive-truth.json"),
            // The driver's document, whose only part is the broker's.
            serde_json::to_string_pretty(&serde_json::json!({ "rabbitmq": truth })).unwrap() + "\n",
        )
        .unwrap();
    }
    Driven {
        prom,
        truth,
        at,
        window_s: at - window_start,
        broker_port: rmq.prometheus_port,
        _dir: dir,
    }
}

fn up(prom: &Prometheus, job: &str) -> bool {
    let v = instant_query(
        prom.port,
        &format!("up{{job=\"{job}\"}}"),
        &unix_now().to_string(),
    );
    v["data"]["result"][0]["value"][1] == "1"
}

/// The timestamp of the job's latest scrape (Unix seconds).
fn last_scrape(prom: &Prometheus, job: &str) -> f64 {
    let v = instant_query(
        prom.port,
        &format!("timestamp(up{{job=\"{job}\"}})"),
        &unix_now().to_string(),
    );
    v["data"]["result"][0]["value"][1]
        .as_str()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("no scrape of {job}: {v}"))
}

/// Runs `vitals-sim drive ARGS --truth DIR/truth.json` (its log in DIR/drive.log) until
/// the scenario is over; returns the RabbitMQ part of its truth.
fn run_driver(dir: &std::path::Path, args: &[&str]) -> Value {
    let truth_path = dir.join("truth.json");
    let mut cmd = Command::new(sim_binary());
    cmd.arg("drive")
        .args(args)
        .arg("--truth")
        .arg(&truth_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("drive.log")).unwrap());
    start_supervised(cmd, PathBuf::from("/nonexistent-vitals-drive")).expect("spawn drive");
    let t0 = Instant::now();
    while !truth_path.is_file() {
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "the driver wrote no truth:\n{}",
            std::fs::read_to_string(dir.join("drive.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The driver's document: `{"rabbitmq": {...}}`, the part of the scenario it drove.
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&truth_path).unwrap()).unwrap();
    let truth = doc["rabbitmq"].clone();
    assert!(truth.is_object(), "no rabbitmq truth in {doc}");
    truth
}

/// A catalog query at the test's instant: label set (as `k=v,...`) -> value.
fn query(d: &Driven, name: &str, params: &[(&str, String)]) -> BTreeMap<String, f64> {
    let mut args = vec![
        "query".to_string(),
        name.to_string(),
        "--at".into(),
        d.at.to_string(),
        "--format".into(),
        "json".into(),
    ];
    for (k, v) in params {
        args.push("--param".into());
        args.push(format!("{k}={v}"));
    }
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = vitals(&a).prometheus(&d.prom.url).run();
    r.expect_code(0);
    let j = r.json();
    let mut out = BTreeMap::new();
    for s in j["series"].as_array().unwrap() {
        let labels = s["labels"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default();
        let v = s["value"]
            .as_f64()
            .unwrap_or_else(|| panic!("{name}: no value in {s}"));
        out.insert(labels, v);
    }
    out
}

fn window(d: &Driven) -> (&'static str, String) {
    ("window", format!("{}s", d.window_s))
}

fn u(v: &Value) -> f64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}")) as f64
}

/// `reason=<r>` -> count for the four dead-letter reasons, zero where the truth has none.
fn by_reason(t: &Value) -> BTreeMap<String, f64> {
    ["delivery_limit", "expired", "maxlen", "rejected"]
        .iter()
        .map(|r| (format!("reason={r}"), t.get(*r).map(u).unwrap_or(0.0)))
        .collect()
}

/// Every `rabbitmq.*` query of the catalog, checked here (a new one fails until it is).
const CHECKED: &[&str] = &[
    "rabbitmq.queue_depth",
    "rabbitmq.in_flight",
    "rabbitmq.messages",
    "rabbitmq.consumers",
    "rabbitmq.connections",
    "rabbitmq.dead_lettered",
    "rabbitmq.dead_lettered_total",
    "rabbitmq.dropped",
    "rabbitmq.dlq_by_queue_reason",
    "rabbitmq.published",
    "rabbitmq.publish_rate",
    "rabbitmq.publish_rate_by_queue",
    "rabbitmq.deliver_rate",
    "rabbitmq.ack_rate",
    "rabbitmq.connection_churn",
    "rabbitmq.message_age_seconds",
    "rabbitmq.processing_p95",
    "rabbitmq.consumer_errors",
];

pub fn every_rabbitmq_query_is_checked_against_the_real_broker() -> TestResult {
    let (cat, _) = vitals::Catalog::load_dir(&crate::support::repo().join("queries"));
    let missing: Vec<_> = cat
        .queries
        .iter()
        .map(|q| q.name.as_str())
        .filter(|n| n.starts_with("rabbitmq.") && !CHECKED.contains(n))
        .collect();
    assert!(
        missing.is_empty(),
        "rabbitmq queries without a real-broker check in tests/it/real.rs: {missing:?}"
    );
    Ok(())
}

pub fn gauges_equal_what_the_driver_holds() -> TestResult {
    let d = driven()?;
    let queues = d.truth["queues"].as_object().unwrap();
    let want = |f: &dyn Fn(&Value) -> f64| -> BTreeMap<String, f64> {
        queues
            .iter()
            .map(|(q, s)| (format!("queue={q}"), f(s)))
            .collect()
    };
    assert_eq!(
        query(d, "rabbitmq.queue_depth", &[]),
        want(&|s| u(&s["ready"]))
    );
    assert_eq!(
        query(d, "rabbitmq.in_flight", &[]),
        want(&|s| u(&s["unacked"]))
    );
    assert_eq!(
        query(d, "rabbitmq.messages", &[]),
        want(&|s| u(&s["ready"]) + u(&s["unacked"]))
    );
    assert_eq!(
        query(d, "rabbitmq.consumers", &[]),
        want(&|s| u(&s["consumers"]))
    );
    assert_eq!(
        query(d, "rabbitmq.connections", &[]),
        BTreeMap::from([(String::new(), u(&d.truth["connections"]))])
    );
    Ok(())
}

pub fn dead_letter_counts_are_exact_integers() -> TestResult {
    let d = driven()?;
    let t = &d.truth;
    let w = window(d);
    let dead = query(d, "rabbitmq.dead_lettered", std::slice::from_ref(&w));
    assert_eq!(
        dead,
        by_reason(&t["dead_lettered"]),
        "dead-lettered by reason"
    );
    let dropped = query(d, "rabbitmq.dropped", std::slice::from_ref(&w));
    assert_eq!(dropped, by_reason(&t["dropped"]), "dropped by reason");
    let total: f64 = by_reason(&t["dead_lettered"]).values().sum();
    assert_eq!(
        query(d, "rabbitmq.dead_lettered_total", std::slice::from_ref(&w)),
        BTreeMap::from([(String::new(), total)])
    );
    let mut dlq = BTreeMap::new();
    for (_, sources) in t["dlq_received"].as_object().unwrap() {
        for (source, reasons) in sources.as_object().unwrap() {
            for (reason, n) in reasons.as_object().unwrap() {
                dlq.insert(format!("reason={reason},source_queue={source}"), u(n));
            }
        }
    }
    // The DLQ consumer's series are born with their first message: counted from zero.
    assert_eq!(
        query(d, "rabbitmq.dlq_by_queue_reason", std::slice::from_ref(&w)),
        dlq
    );
    assert_eq!(
        query(d, "rabbitmq.published", &[w]),
        BTreeMap::from([(String::new(), u(&t["published"]))])
    );
    // A window reaching back before the node started: still exact (counted from zero).
    assert_eq!(
        query(d, "rabbitmq.dead_lettered", &[("window", "1h".into())]),
        by_reason(&t["dead_lettered"])
    );
    Ok(())
}

/// `rate()` over a window of `w` seconds of a counter that rose by `n` between two scrapes
/// inside it: the raw increase is `n`, extrapolated to the window's ends by at most 1.1
/// scrape intervals each (Prometheus' rule), over a sampled span of at least `w - 2
/// intervals`. So `n / w <= rate <= n / (w - 2.2 * interval)`.
fn rate_bounds(n: f64, w: f64) -> (f64, f64) {
    (n / w, n / (w - 2.2 * SCRAPE_S))
}

#[track_caller]
fn assert_rate(name: &str, got: f64, n: f64, w: f64) {
    let (lo, hi) = rate_bounds(n, w);
    assert!(
        got >= lo * (1.0 - 1e-9) && got <= hi * (1.0 + 1e-9),
        "{name}: {got}/s outside [{lo}, {hi}] for {n} events in {w}s"
    );
}

pub fn rates_fall_within_the_derived_tolerance() -> TestResult {
    let d = driven()?;
    let t = &d.truth;
    let w = window(d);
    let ws = d.window_s as f64;
    let one = |name: &str| -> f64 {
        let m = query(d, name, std::slice::from_ref(&w));
        assert_eq!(m.len(), 1, "{name}: {m:?}");
        m[""]
    };
    assert_rate(
        "publish_rate",
        one("rabbitmq.publish_rate"),
        u(&t["published"]),
        ws,
    );
    assert_rate(
        "deliver_rate",
        one("rabbitmq.deliver_rate"),
        u(&t["delivered"]),
        ws,
    );
    assert_rate("ack_rate", one("rabbitmq.ack_rate"), u(&t["acked"]), ws);
    assert_rate(
        "connection_churn",
        one("rabbitmq.connection_churn"),
        u(&t["connections_opened"]),
        ws,
    );
    // Failed processing (nack outcomes) per queue, from the driver's pre-registered
    // histograms.
    let mut nacks = BTreeMap::new();
    for (q, outcomes) in t["processing"].as_object().unwrap() {
        let n = outcomes
            .get("nack")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        nacks.insert(format!("queue={q}"), n as f64);
    }
    let errors = query(d, "rabbitmq.consumer_errors", std::slice::from_ref(&w));
    assert_eq!(
        errors.keys().collect::<Vec<_>>(),
        nacks.keys().collect::<Vec<_>>()
    );
    for (k, n) in &nacks {
        assert_rate(&format!("consumer_errors {k}"), errors[k], *n, ws);
    }
    // Per-queue publishes: the per-channel series is born with the channel's first
    // publish, and a burst shorter than a scrape interval lands whole in that first
    // sample, which rate() cannot count. Real behaviour: at most the true rate.
    // Seen on 3.10.8: the series may be missing altogether by then (docs/catalog.md).
    let by_queue = query(d, "rabbitmq.publish_rate_by_queue", &[w]);
    for (q, n) in t["published_by_queue"].as_object().unwrap() {
        if let Some(got) = by_queue.get(&format!("queue={q}")) {
            let (_, hi) = rate_bounds(u(n), ws);
            assert!((0.0..=hi).contains(got), "{q}: {got} > {hi}");
        }
    }
    Ok(())
}

pub fn message_age_and_processing_time_match_the_truth() -> TestResult {
    let d = driven()?;
    let t = &d.truth;
    let age = query(d, "rabbitmq.message_age_seconds", &[window(d)]);
    // Classic queues export the head message's timestamp: exact. Quorum queues
    // (shop.orders) do not export the series at all in 3.10: their row is Little's
    // estimate, the ready messages over the rate the consumers processed them, marked.
    let crm = u(&t["head_timestamp"]["crm.notifications"]);
    let estimated = "estimate=ready_over_processing_rate,queue=shop.orders";
    assert_eq!(
        age.keys().cloned().collect::<Vec<_>>(),
        vec![estimated.to_string(), "queue=crm.notifications".to_string()],
        "{age:?}"
    );
    assert_eq!(age["queue=crm.notifications"], d.at as f64 - crm);
    let ready = u(&t["queues"]["shop.orders"]["ready"]);
    let processed: usize = t["processing"]["shop.orders"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_array().unwrap().len())
        .sum();
    let (lo, hi) = rate_bounds(processed as f64, d.window_s as f64);
    let got = age[estimated];
    assert!(
        got >= ready / hi * (1.0 - 1e-9) && got <= ready / lo * (1.0 + 1e-9),
        "shop.orders: estimated age {got} outside [{}, {}] ({ready} ready, {processed} processed in {}s)",
        ready / hi,
        ready / lo,
        d.window_s
    );
    // p95 of the processing time lies in the bucket of the truth's 95th percentile.
    let p95 = query(d, "rabbitmq.processing_p95", &[window(d)]);
    for (q, outcomes) in t["processing"].as_object().unwrap() {
        let mut all: Vec<f64> = outcomes
            .as_object()
            .unwrap()
            .values()
            .flat_map(|v| v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()))
            .collect();
        all.sort_by(f64::total_cmp);
        let rank = 0.95 * all.len() as f64;
        let idx = (rank.ceil() as usize).clamp(1, all.len()) - 1;
        let obs = all[idx];
        let b = vitals_sim::drive::BUCKETS;
        let hi_i = b.iter().position(|x| obs <= *x).unwrap();
        let lo = if hi_i == 0 { 0.0 } else { b[hi_i - 1] };
        let got = p95[&format!("queue={q}")];
        assert!(
            got >= lo && got <= b[hi_i],
            "{q}: p95 {got} outside the truth's bucket ({lo}, {}]",
            b[hi_i]
        );
    }
    Ok(())
}

/// What a threshold SLO `v op value` (warning past `warn`) says of `v`.
fn judged(v: f64, op: &str, value: f64, warn: Option<f64>) -> &'static str {
    let bad = |limit: f64| if op == "<=" { v > limit } else { v < limit };
    if bad(value) {
        "fail"
    } else if warn.is_some_and(bad) {
        "warn"
    } else {
        "pass"
    }
}

pub fn rabbitmq_slos_and_the_status_row_follow_the_truth() -> TestResult {
    let d = driven()?;
    let t = &d.truth;
    let at = d.at.to_string();
    let r = vitals(&[
        "check",
        "--component",
        "rabbitmq",
        "--at",
        &at,
        "--format",
        "json",
    ])
    .prometheus(&d.prom.url)
    .run();
    assert!([0, 1].contains(&r.code), "exit {}: {}", r.code, r.stderr);
    let doc = r.json();
    let sum = |v: &Value| -> f64 { v.as_object().unwrap().values().map(u).sum() };
    let reason =
        |v: &Value, r: &Value| -> f64 { r.as_str().and_then(|r| v.get(r)).map(u).unwrap_or(0.0) };
    // Per SLO and row (a row per series the SLO's query returns): the truth's value.
    let expected = |name: &str, series: &Value| -> Option<f64> {
        match name {
            "dead-letter-rate" => Some(sum(&t["dead_lettered"])),
            "dropped-messages" => Some(reason(&t["dropped"], &series["reason"])),
            "shop-orders-queue-depth" => Some(u(&t["queues"]["shop.orders"]["ready"])),
            "queue-consumers" => Some(u(
                &t["queues"][series["queue"].as_str().unwrap()]["consumers"],
            )),
            _ => None,
        }
    };
    let mut seen = BTreeMap::<String, usize>::new();
    for row in doc["slos"].as_array().unwrap() {
        let name = row["name"].as_str().unwrap();
        let Some(v) = expected(name, &row["series"]) else {
            continue;
        };
        *seen.entry(name.to_string()).or_default() += 1;
        assert_eq!(row["value"].as_f64(), Some(v), "{name}: {row:#}");
        let expect = judged(
            v,
            row["op"].as_str().unwrap(),
            row["objective"].as_f64().unwrap(),
            row["warn"].as_f64(),
        );
        assert_eq!(row["status"], expect, "{name}: {row:#}");
    }
    assert_eq!(
        seen.keys().map(String::as_str).collect::<Vec<_>>(),
        vec![
            "dead-letter-rate",
            "dropped-messages",
            "queue-consumers",
            "shop-orders-queue-depth"
        ],
        "{doc:#}"
    );
    // A row per SLO, judged on its worst series: the reason with the most drops.
    let worst = doc["slos"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "dropped-messages")
        .unwrap();
    let most = t["dropped"]
        .as_object()
        .unwrap()
        .values()
        .map(u)
        .fold(0.0, f64::max);
    assert_eq!(worst["value"].as_f64(), Some(most), "{worst:#}");
    // The broker's status row: the same depth, and the dropped messages' failure.
    let s = vitals(&["status", "--at", &at, "--format", "json"])
        .prometheus(&d.prom.url)
        .run();
    let doc = s.json();
    let rmq = doc["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "rabbitmq")
        .unwrap_or_else(|| panic!("no rabbitmq row: {doc:#}"));
    let depth = rmq["signals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "shop.orders")
        .unwrap();
    assert_eq!(
        depth["value"].as_f64(),
        Some(u(&t["queues"]["shop.orders"]["ready"])),
        "{rmq:#}"
    );
    assert_eq!(rmq["slos"]["status"], "fail", "{rmq:#}");
    Ok(())
}

/// A counter reset in the window makes the difference meaningless: that series falls back
/// to `increase()` on a row of its own labelled `estimate="counter_reset"`, while the other
/// reasons stay exact. (A backfilled fixture: restarting the shared broker would cost the
/// other tests their truth.)
pub fn a_counter_reset_is_marked_as_an_estimate_and_the_rest_stays_exact() -> TestResult {
    crate::support::prometheus::require_binaries()?;
    let dir = scratch();
    let t0: i64 = 1_795_996_800; // 2026-11-30T00:00:00Z
    let mut om = String::new();
    om.push_str("# TYPE rabbitmq_global_messages_dead_lettered_expired counter\n");
    for k in 0..=120 {
        om.push_str(&format!(
            "rabbitmq_global_messages_dead_lettered_expired_total{{queue_type=\"rabbit_classic_queue\",dead_letter_strategy=\"at_most_once\"}} {k} {}\n",
            t0 + 15 * k
        ));
    }
    om.push_str("# TYPE rabbitmq_global_messages_dead_lettered_rejected counter\n");
    for k in 0..=120 {
        // The broker restarts 5 minutes before the end: the counter starts over.
        let v = if k < 100 { 2 * k } else { 2 * (k - 100) };
        om.push_str(&format!(
            "rabbitmq_global_messages_dead_lettered_rejected_total{{queue_type=\"rabbit_classic_queue\",dead_letter_strategy=\"at_most_once\"}} {v} {}\n",
            t0 + 15 * k
        ));
    }
    om.push_str("# EOF\n");
    let file = crate::support::write(dir.path(), "reset.om", &om);
    let prom = Prometheus::start(Spec {
        openmetrics: vec![file],
        ..Default::default()
    })?;
    let at = (t0 + 1800).to_string();
    let r = vitals(&[
        "query",
        "rabbitmq.dead_lettered",
        "--param",
        "window=10m",
        "--at",
        &at,
        "--format",
        "json",
    ])
    .prometheus(&prom.url)
    .run();
    r.expect_code(0);
    let mut rows = BTreeMap::new();
    for s in r.json()["series"].as_array().unwrap() {
        rows.insert(
            (
                s["labels"]["reason"].as_str().unwrap().to_string(),
                s["labels"]["estimate"].as_str().unwrap_or("").to_string(),
            ),
            s["value"].as_f64().unwrap(),
        );
    }
    // expired: samples 80..=120 in the window, one event per sample: exactly 40.
    assert_eq!(rows.remove(&("expired".into(), String::new())), Some(40.0));
    // rejected: marked, and an estimate of the 2 * 20 + 2 * 20 events around the reset.
    let est = rows
        .remove(&("rejected".into(), "counter_reset".into()))
        .unwrap_or_else(|| panic!("no estimate row for rejected: {rows:?}"));
    assert!((60.0..=100.0).contains(&est), "{est}");
    assert!(rows.is_empty(), "unexpected rows: {rows:?}");
    Ok(())
}

/// A broker that goes down mid-run (its VM killed): its status row is DOWN and names the
/// target that stopped answering, and its SLOs are inconclusive (exit 3), never passing.
/// Restarted, its counters start again from zero: the dead letters counted before are
/// then marked as an estimate (`counter_reset`), never shown as an exact count.
pub fn a_broker_that_goes_down_is_named_and_its_slos_are_inconclusive() -> TestResult {
    use crate::support::postgres::wait_for;
    crate::support::prometheus::require_binaries()?;
    let node = rabbitmq::private()?;
    let scrape = 2.0;
    let prom = Prometheus::start(Spec {
        config: format!(
            "scrape_configs:\n  - job_name: rabbitmq\n    metrics_path: /metrics/per-object\n    static_configs:\n      - targets: ['{}']\n        labels: {{service: rabbitmq}}\n",
            node.metrics_target()
        ),
        interval: Some("2s"),
        ..Default::default()
    })?;
    let up = || crate::support::prometheus::value_now(prom.port, "up{job=\"rabbitmq\"}");
    wait_for("up = 1", Duration::from_secs(30), || up() == Some(1.0)).unwrap();
    let window_start = unix_now().floor() as i64 - 1;

    // The scenario, on a broker Prometheus has seen at zero.
    let dir = scratch();
    let truth = run_driver(dir.path(), &["--rabbitmq", &node.url]);
    let finished = truth["finished_at"].as_f64().unwrap();
    std::thread::sleep(Duration::from_secs_f64(
        (finished + 5.0 + 2.0 * scrape + 1.0 - unix_now()).max(0.0),
    ));
    let dead_lettered = |window: i64| -> BTreeMap<String, f64> {
        let r = vitals(&[
            "query",
            "rabbitmq.dead_lettered",
            "--param",
            &format!("window={window}s"),
            "--format",
            "json",
        ])
        .prometheus(&prom.url)
        .run();
        r.expect_code(0);
        r.json()["series"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                let l = &s["labels"];
                let key = match l["estimate"].as_str() {
                    Some(e) => format!("{} ({e})", l["reason"].as_str().unwrap()),
                    None => l["reason"].as_str().unwrap().to_string(),
                };
                (key, s["value"].as_f64().unwrap())
            })
            .collect()
    };
    let exact: BTreeMap<String, f64> = truth["dead_lettered"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(r, n)| (r.clone(), u(n)))
        .collect();
    let before = dead_lettered(unix_now().ceil() as i64 - window_start);
    for (reason, n) in &exact {
        assert_eq!(before.get(reason), Some(n), "{reason}: {before:?}");
    }

    let status = || crate::support::status_row(&prom.url, "rabbitmq");
    let check = || {
        vitals(&[
            "check",
            "--slo",
            "dead-letter-rate",
            "--slo",
            "dropped-messages",
        ])
        .prometheus(&prom.url)
        .run()
    };
    let r = check();
    assert!(
        [0, 1].contains(&r.code),
        "decided before the crash: {}",
        r.stdout
    );
    let row = status();
    assert_ne!(row["status"], "down", "{row:#}");

    node.kill();
    wait_for("up = 0", Duration::from_secs(30), || up() == Some(0.0)).unwrap();
    // vitals asks at whole seconds: the failed scrape may be a fraction of a second later.
    wait_for("the row to say DOWN", Duration::from_secs(10), || {
        status()["status"] == "down"
    })
    .unwrap();
    let row = status();
    assert_eq!(row["status"], "down", "{row:#}");
    let reasons = row["reasons"].to_string();
    assert!(
        reasons.contains("targets down") && reasons.contains(&node.metrics_target()),
        "the reasons name the target that is down: {row:#}"
    );
    assert_eq!(
        row["targets_down"][0],
        node.metrics_target().as_str(),
        "{row:#}"
    );
    let r = check();
    r.expect_code(3);
    assert!(r.stdout.contains("INCONCLUSIVE"), "{}", r.stdout);
    assert!(!r.stdout.contains("PASS"), "{}", r.stdout);

    // Restarted: its counters begin again at zero, so over a window from before the
    // scenario every reason that had dead letters is an estimate, marked; the others
    // are exact (zero).
    node.boot(Instant::now()).unwrap();
    wait_for("up = 1 again", Duration::from_secs(60), || {
        up() == Some(1.0)
    })
    .unwrap();
    std::thread::sleep(Duration::from_secs_f64(2.0 * scrape + 0.5));
    let w = (unix_now().ceil() as i64 - window_start) as f64;
    let after = dead_lettered(w as i64);
    for (key, v) in &after {
        let reason = key.split(' ').next().unwrap();
        let had = exact.get(reason).copied().unwrap_or(0.0);
        if key.ends_with("(counter_reset)") {
            // increase() across the reset: the count before it, extrapolated.
            let (lo, hi) = (had, had * w / (w - 2.2 * scrape));
            assert!(
                had > 0.0 && *v >= lo * (1.0 - 1e-9) && *v <= hi * (1.0 + 1e-9),
                "{key}: {v} outside [{lo}, {hi}]: {after:?}"
            );
        } else {
            // The series of this reason that did not reset: nothing happened on them.
            assert_eq!(*v, 0.0, "{key}: {after:?}");
        }
    }
    for (reason, n) in &exact {
        if *n > 0.0 {
            assert!(
                after.contains_key(&format!("{reason} (counter_reset)")),
                "{reason}: {n} dead letters before the restart, no marked row: {after:?}"
            );
        }
    }
    Ok(())
}
