//! `vitals-sim`: determinism, valid OpenMetrics, live serving, and — end to end through a
//! real Prometheus — catalog queries against the simulator's ground truth.
//!
//! Tolerances. The simulator samples every series on a fixed grid (here 60 s) and the
//! windows below are aligned to it, so for a counter `increase(x[w])` at `t` is exactly
//! `x(t) - x(t - w)` (Prometheus 2.x includes both ends and needs no extrapolation): the
//! events of the window. The only events Prometheus cannot see are those counted after the
//! last scrape before a process restart; the truth records them per restart
//! (`lost_requests`, `lost_orders_created`), so each comparison allows exactly those and
//! a relative 1e-9 for floating point. Queue depth is a gauge sampled on the same grid:
//! exact. Histogram quantiles interpolate inside a bucket: the estimate must lie in the
//! bucket that holds the true quantile.

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::omcheck;
use crate::support::prometheus::{Prometheus, Spec, free_port, http_get};
use crate::support::{TestResult, rel_diff, scratch, vitals, write};
use crate::week::{END, END_S, WEEK, incident, lost_requests, service_total, sim, week};

pub fn run_sim(args: &[&str]) -> std::process::Output {
    let out = sim().args(args).output().expect("run vitals-sim");
    assert!(
        out.status.success(),
        "vitals-sim {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn simulator_is_deterministic_for_a_seed() -> TestResult {
    let dir = scratch();
    let p = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    let base = [
        "history",
        "--scenario",
        "mes-outage",
        "--length",
        "3h",
        "--end",
        "2026-11-20T12:00:00Z",
        "--interval",
        "60s",
        "--quiet",
    ];
    for (name, seed) in [("a", "7"), ("b", "7"), ("c", "8")] {
        let mut args = base.to_vec();
        let (om, truth) = (p(&format!("{name}.om")), p(&format!("{name}.json")));
        args.extend(["--seed", seed, "--out", &om, "--truth", &truth]);
        run_sim(&args);
    }
    let read = |n: &str| std::fs::read(dir.path().join(n)).unwrap();
    assert!(
        read("a.om") == read("b.om"),
        "same seed, different OpenMetrics"
    );
    assert!(
        read("a.json") == read("b.json"),
        "same seed, different truth"
    );
    assert!(
        read("a.om") != read("c.om"),
        "another seed must give another history"
    );
    Ok(())
}

pub fn openmetrics_history_is_valid_and_promtool_backfills_it() -> TestResult {
    crate::support::prometheus::require_binaries()?;
    let dir = scratch();
    let om = dir.path().join("outage.om");
    let tj = dir.path().join("truth.json");
    let end = "2026-11-20T12:00:00Z";
    run_sim(&[
        "history",
        "--scenario",
        "mes-outage",
        "--length",
        "3h",
        "--end",
        end,
        "--interval",
        "60s",
        "--quiet",
        "--out",
        om.to_str().unwrap(),
        "--truth",
        tj.to_str().unwrap(),
    ]);
    let text = std::fs::read_to_string(&om).unwrap();
    let report = omcheck::check(&text);
    assert!(
        report.errors.is_empty(),
        "{:#?}",
        &report.errors[..report.errors.len().min(20)]
    );
    assert!(
        report.resets.is_empty(),
        "no restart in this scenario, yet counters went down: {:?}",
        &report.resets[..report.resets.len().min(5)]
    );
    assert!(
        report.families >= 50 && report.series >= 2000,
        "{} families, {} series",
        report.families,
        report.series
    );
    // 181 scrapes (3 h at 60 s, both ends); series born later (error types) have fewer.
    assert!(
        report.samples <= report.series * 181 && report.samples * 10 >= report.series * 181 * 9,
        "{} samples of {} series",
        report.samples,
        report.series
    );
    assert_eq!(
        text.lines().filter(|l| l.starts_with("up{")).count(),
        13 * 181,
        "`up` for 13 targets at every scrape"
    );

    let prom = Prometheus::start(Spec {
        openmetrics: vec![om],
        ..Spec::default()
    })?;
    let truth: Value = serde_json::from_str(&std::fs::read_to_string(&tj).unwrap()).unwrap();
    let scen = &truth["summary"]["scenario"];
    assert_eq!(
        scen["end"].as_i64().unwrap() - scen["start"].as_i64().unwrap(),
        3 * 3600
    );
    let r = vitals(&[
        "query",
        "api.requests",
        "--param",
        "window=3h",
        "--at",
        end,
        "--format",
        "json",
    ])
    .prometheus(&prom.url)
    .run();
    r.expect_code(0);
    for s in r.json()["series"].as_array().unwrap() {
        let svc = s["labels"]["service"].as_str().unwrap();
        assert_eq!(
            s["value"].as_f64().unwrap(),
            scen["services"][svc]["requests"].as_f64().unwrap(),
            "{svc}"
        );
    }
    let r = vitals(&[
        "query",
        "api.responses_5xx",
        "--param",
        "window=3h",
        "--param",
        "service=mes",
        "--at",
        end,
        "--format",
        "json",
    ])
    .prometheus(&prom.url)
    .run();
    let mes_5xx = r.json()["series"][0]["value"].as_f64().unwrap();
    assert_eq!(mes_5xx, scen["services"]["mes"]["5xx"].as_f64().unwrap());
    assert!(
        mes_5xx > 1000.0,
        "the outage's 20 minutes must show: {mes_5xx}"
    );
    Ok(())
}

pub fn scenario_files_are_validated() -> TestResult {
    let dir = scratch();
    let good = write(
        dir.path(),
        "mine.toml",
        "name = 'mine'\nlength = '2h'\n[traffic]\nshop = 2.0\n[[incident]]\nname = 'blip'\nkind = 'restart'\ntarget = 'mes-1'\nat = '1h'\nduration = '30s'\n",
    );
    let tj = dir.path().join("t.json");
    let om = dir.path().join("h.om");
    run_sim(&[
        "history",
        "--scenario",
        good.to_str().unwrap(),
        "--end",
        "2026-11-20T12:00:00Z",
        "--interval",
        "60s",
        "--quiet",
        "--out",
        om.to_str().unwrap(),
        "--truth",
        tj.to_str().unwrap(),
    ]);
    let truth: Value = serde_json::from_str(&std::fs::read_to_string(&tj).unwrap()).unwrap();
    assert_eq!(truth["scenario"], "mine");
    assert_eq!(truth["restarts"][0]["instance"], "mes-1");
    assert!(
        omcheck::check(&std::fs::read_to_string(&om).unwrap())
            .resets
            .iter()
            .all(|(k, _)| k.contains("instance=\"mes-1\""))
    );

    let bad = write(
        dir.path(),
        "bad.toml",
        "name = 'bad'\nlength = '2h'\n[[incident]]\nname = 'x'\nkind = 'mes-outage'\ntarget = 'crm'\nat = '1h'\nduration = '5m'\n",
    );
    let out = sim()
        .args([
            "history",
            "--scenario",
            bad.to_str().unwrap(),
            "--out",
            "/dev/null",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("target \"crm\" does not fit kind mes-outage")
    );
    let out = sim()
        .args([
            "history",
            "--scenario",
            "no-such-week",
            "--out",
            "/dev/null",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("built-in ones are normal-week, incident-week, mes-outage")
    );
    Ok(())
}

/// A running `vitals-sim serve` on a free loopback port, killed when dropped.
pub struct Serve {
    child: Child,
    pub port: u16,
    pub listen: String,
}

impl Serve {
    /// Starts `vitals-sim serve ARGS --listen 127.0.0.1:PORT` and waits until it answers.
    pub fn start(args: &[&str]) -> Serve {
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let child = sim()
            .arg("serve")
            .args(args)
            .args(["--listen", listen.as_str()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let serve = Serve {
            child,
            port,
            listen,
        };
        let t0 = Instant::now();
        while http_get(port, "/").is_none() {
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "serve did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        serve
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn serve_continues_a_history_and_passes_promtool_check_metrics() -> TestResult {
    crate::support::prometheus::require_binaries()?;
    let dir = scratch();
    // A history that ended 20 minutes ago; serve replays the same plan to now.
    let end = chrono::Utc::now().timestamp() / 60 * 60 - 20 * 60;
    let end_s = end.to_string();
    let plan = [
        "--scenario",
        "normal-week",
        "--length",
        "2h",
        "--end",
        end_s.as_str(),
        "--interval",
        "60s",
    ];
    let om = dir.path().join("h.om");
    let mut args = vec!["history"];
    args.extend(plan);
    args.extend(["--quiet", "--out", om.to_str().unwrap()]);
    run_sim(&args);
    let serve = Serve::start(&plan);
    // Last history value of every shop-1 series.
    let text = std::fs::read_to_string(&om).unwrap();
    let mut last: BTreeMap<String, f64> = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| l.contains("instance=\"shop-1\"") && l.contains("_total{"))
    {
        let (name, labels, v, _) = omcheck::parse_sample(line).unwrap();
        let own: Vec<String> = omcheck::parse_labels(&labels)
            .unwrap()
            .into_iter()
            .filter(|(k, _)| !matches!(k.as_str(), "job" | "instance" | "service"))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        last.insert(format!("{name}{{{}}}", own.join(",")), v);
    }
    let (status, body) = http_get(serve.port, "/metrics/shop-1").unwrap();
    assert_eq!(status, 200);
    let mut compared = 0;
    for line in body
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains("_total"))
    {
        let (series, v) = line.rsplit_once(' ').unwrap();
        let (name, labels) = series
            .split_once('{')
            .map(|(n, l)| (n, l.trim_end_matches('}')))
            .unwrap_or((series, ""));
        let own: Vec<String> = omcheck::parse_labels(labels)
            .unwrap()
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        if let Some(h) = last.get(&format!("{name}{{{}}}", own.join(","))) {
            let v: f64 = v.parse().unwrap();
            assert!(
                v >= *h,
                "{series}: live {v} < history {h}: a reset, not a continuation"
            );
            compared += 1;
        }
    }
    assert!(compared > 20, "only {compared} series compared");
    // promtool's linter accepts every target, apart from names the real exporters use.
    let known = [
        "pg_stat_activity_count",
        "pg_stat_activity_by_user_count",
        "minio_bucket_usage_object_total",
    ];
    for inst in [
        "shop-1",
        "crm-1",
        "mes-1",
        "rabbitmq-1",
        "dlq-consumer-1",
        "shop-db-1",
        "minio-1",
    ] {
        let (_, body) = http_get(serve.port, &format!("/metrics/{inst}")).unwrap();
        let mut child = Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(body.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let findings = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        for line in findings.lines() {
            assert!(
                known.iter().any(|k| line.starts_with(k)),
                "{inst}: promtool check metrics: {line}"
            );
        }
    }
    Ok(())
}

// --- End to end against the ground truth ---

fn query(w: &crate::week::Week, args: &[&str]) -> Value {
    let r = vitals(args).prometheus(&w.prom.url).run();
    r.expect_code(0);
    r.json()
}

fn by_label(doc: &Value, label: &str) -> BTreeMap<String, f64> {
    doc["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["labels"][label].as_str().unwrap_or("").to_string(),
                s["value"].as_f64().unwrap_or(f64::NAN),
            )
        })
        .collect()
}

fn at(t: i64) -> String {
    vitals::timespec::format_time(vitals::timespec::from_unix_seconds(t as f64))
}

pub fn request_counts_and_error_ratios_match_the_truth() -> TestResult {
    let w = week()?;
    let t = &w.truth;
    let mut windows: Vec<(i64, &str)> = (0..7)
        .map(|d| (END_S - WEEK + (d + 1) * 86_400, "1d"))
        .collect();
    windows.push((END_S, "7d"));
    for (end, window) in windows {
        let start = end - if window == "7d" { WEEK } else { 86_400 };
        let when = at(end);
        let param = format!("window={window}");
        let req = by_label(
            &query(
                w,
                &[
                    "query",
                    "api.requests",
                    "--param",
                    &param,
                    "--at",
                    &when,
                    "--format",
                    "json",
                ],
            ),
            "service",
        );
        let e5 = by_label(
            &query(
                w,
                &[
                    "query",
                    "api.responses_5xx",
                    "--param",
                    &param,
                    "--at",
                    &when,
                    "--format",
                    "json",
                ],
            ),
            "service",
        );
        let ratio = by_label(
            &query(
                w,
                &[
                    "query",
                    "api.error_ratio",
                    "--param",
                    &param,
                    "--at",
                    &when,
                    "--format",
                    "json",
                ],
            ),
            "service",
        );
        for svc in ["shop", "crm", "mes"] {
            let true_req = service_total(t, svc, "requests", start, end) as f64;
            let true_5xx = service_total(t, svc, "5xx", start, end) as f64;
            let lost = lost_requests(t, svc, start, end) as f64;
            let (r, e) = (req[svc], e5[svc]);
            assert!(true_req > 1000.0, "{svc} {when}: no traffic in the truth");
            assert!(
                r <= true_req * (1.0 + 1e-9) && r >= (true_req - lost) * (1.0 - 1e-9),
                "{svc} requests {when} ({window}): Prometheus {r}, truth {true_req}, lost to resets {lost}"
            );
            assert!(
                e <= true_5xx * (1.0 + 1e-9) && e >= (true_5xx - lost) * (1.0 - 1e-9),
                "{svc} 5xx {when}: Prometheus {e}, truth {true_5xx}"
            );
            let lo = (true_5xx - lost).max(0.0) / true_req;
            let hi = true_5xx / (true_req - lost);
            let got = ratio[svc];
            assert!(
                got >= lo * (1.0 - 1e-9) && got <= hi * (1.0 + 1e-9),
                "{svc} error ratio {when} ({window}): {got} outside [{lo}, {hi}]"
            );
        }
    }
    // The incident week's MES error ratio is the outage's: far above the baseline.
    let week_mes = service_total(t, "mes", "5xx", END_S - WEEK, END_S) as f64
        / service_total(t, "mes", "requests", END_S - WEEK, END_S) as f64;
    let prev_mes = service_total(t, "mes", "5xx", END_S - 2 * WEEK, END_S - WEEK) as f64
        / service_total(t, "mes", "requests", END_S - 2 * WEEK, END_S - WEEK) as f64;
    assert!(
        week_mes > 1.5 * prev_mes,
        "incident week {week_mes} vs normal {prev_mes}"
    );
    Ok(())
}

pub fn lost_order_share_matches_the_truth() -> TestResult {
    let w = week()?;
    let o = &w.truth["summary"]["scenario"]["orders"];
    let (created, lost) = (o["created"].as_f64().unwrap(), o["lost"].as_f64().unwrap());
    let lost_created: f64 = w.truth["restarts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["lost_orders_created"].as_f64().unwrap())
        .sum();
    assert!(lost >= 10.0, "the incident week loses orders: {lost}");
    let doc = query(
        w,
        &[
            "query",
            "business.lost_order_share",
            "--param",
            "window=7d",
            "--at",
            END,
            "--format",
            "json",
        ],
    );
    let got = doc["series"][0]["value"].as_f64().unwrap();
    let (lo, hi) = (lost / created, lost / (created - lost_created));
    assert!(
        got >= lo * (1.0 - 1e-9) && got <= hi * (1.0 + 1e-9),
        "lost-order share {got} outside [{lo}, {hi}] (truth {lost}/{created})"
    );
    let by_reason = query(
        w,
        &[
            "query",
            "business.lost_orders_by_reason",
            "--param",
            "window=7d",
            "--at",
            END,
            "--format",
            "json",
        ],
    );
    let mut seen = 0.0;
    for s in by_reason["series"].as_array().unwrap() {
        let key = format!(
            "{}/{}",
            s["labels"]["stage"].as_str().unwrap(),
            s["labels"]["reason"].as_str().unwrap()
        );
        let want = o["lost_by_reason"][&key].as_f64().unwrap_or(0.0);
        assert_eq!(s["value"].as_f64().unwrap(), want, "{key}");
        seen += want;
    }
    assert_eq!(seen, lost);
    Ok(())
}

pub fn dead_letters_by_queue_and_reason_match_the_truth() -> TestResult {
    let w = week()?;
    let scen = &w.truth["summary"]["scenario"];
    let dlq = query(
        w,
        &[
            "query",
            "rabbitmq.dlq_by_queue_reason",
            "--param",
            "window=7d",
            "--at",
            END,
            "--format",
            "json",
        ],
    );
    let mut total = 0.0;
    for s in dlq["series"].as_array().unwrap() {
        let (q, r) = (
            s["labels"]["source_queue"].as_str().unwrap(),
            s["labels"]["reason"].as_str().unwrap(),
        );
        let want = scen["dead_lettered"][q][r].as_f64().unwrap_or(0.0);
        assert_eq!(s["value"].as_f64().unwrap(), want, "{q}/{r}");
        total += want;
    }
    assert!(
        scen["dead_lettered"]["shop.orders"]["rejected"]
            .as_f64()
            .unwrap()
            > 0.0,
        "the MES outage rejects orders"
    );
    let broker = by_label(
        &query(
            w,
            &[
                "query",
                "rabbitmq.dead_lettered",
                "--param",
                "window=7d",
                "--at",
                END,
                "--format",
                "json",
            ],
        ),
        "reason",
    );
    let mut broker_total = 0.0;
    for (reason, v) in &broker {
        let want: f64 = scen["dead_lettered"]
            .as_object()
            .unwrap()
            .values()
            .map(|q| q[reason].as_f64().unwrap_or(0.0))
            .sum();
        assert_eq!(*v, want, "broker dead-lettered {reason}");
        broker_total += v;
    }
    assert_eq!(broker_total, total, "broker and DLQ consumer agree");
    let dropped = by_label(
        &query(
            w,
            &[
                "query",
                "rabbitmq.dropped",
                "--param",
                "window=7d",
                "--at",
                END,
                "--format",
                "json",
            ],
        ),
        "reason",
    );
    let want = scen["dropped"]["crm.notifications"]["expired"]
        .as_f64()
        .unwrap();
    assert!(want > 0.0, "expired notifications are dropped (no DLX)");
    assert_eq!(dropped["expired"], want);
    Ok(())
}

pub fn queue_depth_at_the_outage_peak_matches_the_truth() -> TestResult {
    let w = week()?;
    let inc = incident(&w.truth, "MES outage");
    let (start, end) = (inc["start"].as_i64().unwrap(), inc["end"].as_i64().unwrap());
    let want = inc["peak_queue_depth"]["shop.orders"].as_f64().unwrap();
    assert!(want >= 10.0, "the outage backs shop.orders up: {want}");
    let doc = query(
        w,
        &[
            "query",
            "rabbitmq.queue_depth",
            "--param",
            "queue=shop.orders",
            "--from",
            &at(start),
            "--to",
            &at(end + 30 * 60),
            "--step",
            "60s",
            "--format",
            "json",
        ],
    );
    let pts = doc["series"][0]["points"].as_array().unwrap();
    let peak = pts
        .iter()
        .filter_map(|p| p[1].as_f64())
        .fold(f64::MIN, f64::max);
    assert_eq!(peak, want);
    // Before the outage the queue is drained.
    let before = query(
        w,
        &[
            "query",
            "rabbitmq.queue_depth",
            "--param",
            "queue=shop.orders",
            "--at",
            &at(start - 600),
            "--format",
            "json",
        ],
    );
    assert!(before["series"][0]["value"].as_f64().unwrap() < 5.0);
    Ok(())
}

pub fn processing_time_quantiles_fall_in_the_truths_bucket() -> TestResult {
    let w = week()?;
    let o = &w.truth["summary"]["scenario"]["orders"];
    let bounds = vitals_sim::model::ORDER_BUCKETS;
    for (q, name) in [
        ("processing_p50", "business.order_processing_p50"),
        ("processing_p95", "business.order_processing_p95"),
    ] {
        let truth = o[q].as_f64().unwrap();
        let i = bounds.partition_point(|b| *b < truth);
        let (lo, hi) = (if i == 0 { 0.0 } else { bounds[i - 1] }, bounds[i]);
        let doc = query(
            w,
            &[
                "query",
                name,
                "--param",
                "window=7d",
                "--at",
                END,
                "--format",
                "json",
            ],
        );
        let got = doc["series"][0]["value"].as_f64().unwrap();
        assert!(
            got >= lo && got <= hi,
            "{name}: {got} outside the bucket ({lo}, {hi}] holding the true {truth}"
        );
        assert!(rel_diff(got, truth) < 1.0, "{name}: {got} vs {truth}");
    }
    Ok(())
}

pub fn truth_lists_every_scripted_incident_with_its_cause() -> TestResult {
    let w = week()?;
    let names: Vec<&str> = w.truth["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "slow CRM release",
            "MES outage",
            "shop-2 restart",
            "RabbitMQ scrape gap",
            "MES DB connection pile-up",
            "expired notifications"
        ]
    );
    for i in w.truth["incidents"].as_array().unwrap() {
        assert!(
            i["end"].as_i64() > i["start"].as_i64() && !i["cause"].as_str().unwrap().is_empty(),
            "{i}"
        );
    }
    // The scrape gap leaves no broker samples: `up` is 0 and queue metrics are absent.
    let gap = incident(&w.truth, "RabbitMQ scrape gap");
    let mid = at(gap["start"].as_i64().unwrap() + 15 * 60);
    let up = query(w, &["query", "api.up", "--at", &mid, "--format", "json"]);
    assert!(
        up["series"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["value"] == 1.0),
        "only rabbitmq is affected: {up}"
    );
    let depth = query(
        w,
        &[
            "query",
            "rabbitmq.queue_depth",
            "--at",
            &mid,
            "--format",
            "json",
        ],
    );
    assert_eq!(
        depth["series"].as_array().unwrap().len(),
        0,
        "no broker samples inside the gap: {depth}"
    );
    Ok(())
}

/// The counters tell one story: every order created was published to shop.orders or lost
/// by the shop; every published one reached MES or was dead-lettered; every dead-lettered
/// one is counted lost with the reason the DLQ consumer saw. Over the whole fixture (both
/// weeks, counters from zero), short only of the created orders a restart hid.
pub fn counters_are_consistent_with_each_other() -> TestResult {
    let w = week()?;
    let port = w.prom.port;
    let v = |q: &str| crate::support::prometheus::instant_value(port, q, END);
    let inc = |m: &str| v(&format!("sum(increase({m}[14d]))"));
    let created = inc("shop_orders_created_total");
    let published = inc("rabbitmq_queue_messages_published_total{queue=\"shop.orders\"}");
    let lost = |stage: &str, reason: &str| {
        inc(&format!(
            "orders_lost_total{{stage=\"{stage}\", reason=\"{reason}\"}}"
        ))
    };
    let dlq = |reason: &str| {
        inc(&format!(
            "dlq_messages_received_total{{source_queue=\"shop.orders\", reason=\"{reason}\"}}"
        ))
    };
    let received = inc("mes_orders_received_total");
    let queued = v("sum(rabbitmq_queue_messages{queue=\"shop.orders\"})");
    let hidden: f64 = w.truth["restarts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["lost_orders_created"].as_f64().unwrap())
        .sum();
    let shop_dropped = lost("shop", "dropped");
    assert!(
        created <= published + shop_dropped && created >= published + shop_dropped - hidden,
        "created {created} vs published {published} + dropped by the shop {shop_dropped} (restart hid {hidden})"
    );
    let (expired, rejected) = (dlq("expired"), dlq("rejected"));
    assert_eq!(
        published,
        received + expired + rejected + queued,
        "published = received by MES + dead-lettered + still in the queue"
    );
    assert!(
        expired + rejected > 0.0,
        "the incident week dead-letters orders"
    );
    assert_eq!(
        lost("broker", "dead_lettered"),
        expired,
        "expired orders are lost"
    );
    assert_eq!(
        lost("mes", "rejected"),
        rejected,
        "rejected orders are lost"
    );
    // And the truth agrees with the counters on what was lost.
    let truth_lost: f64 = w.truth["summary"]["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["orders"]["lost"].as_f64().unwrap())
        .sum();
    assert_eq!(inc("orders_lost_total"), truth_lost);
    Ok(())
}
