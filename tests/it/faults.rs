//! Faults during long work: a fault proxy in front of the real Prometheus of the shared
//! weeks injects connection resets, 503s, slow replies, truncated bodies and HTML pages at
//! random (from a seed) during `report --month`, `check` and `incidents`. Every run prints
//! exactly the fault-free answer, or exits 3 naming what failed, and then every number it
//! still prints is the fault-free one: never a wrong number.
//!
//! Also here: `--deadline` bounds a run that meets slow or failing servers, and the reply
//! limits (`--max-body-size`, `--max-series`) stop a reply without reading it whole.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use libtest_mimic::Trial;
use serde_json::Value;

use crate::support::proxy::{self, Fault, Plan, Proxy};
use crate::support::{Run, TestResult, vitals};
use crate::trial;
use crate::week::{END, week};

pub fn trials() -> Vec<Trial> {
    vec![
        trial(
            "faults::faults_mid_run_give_the_fault_free_answer_or_exit_3_never_a_wrong_number",
            faults_mid_run_give_the_fault_free_answer_or_exit_3_never_a_wrong_number,
        ),
        trial(
            "faults::the_deadline_bounds_slow_and_failing_runs_and_names_what_was_pending",
            the_deadline_bounds_slow_and_failing_runs_and_names_what_was_pending,
        ),
        trial(
            "faults::huge_replies_are_stopped_at_the_limit_not_read_whole",
            huge_replies_are_stopped_at_the_limit_not_read_whole,
        ),
        trial(
            "faults::too_many_series_from_a_real_prometheus_is_an_error_with_a_hint",
            too_many_series_from_a_real_prometheus_is_an_error_with_a_hint,
        ),
    ]
}

/// The messages vitals gives for the injected faults (after its retries).
const FAULT_MESSAGES: [&str; 5] = [
    "returned HTTP 503",
    "the connection to Prometheus at",
    "sent an unreadable reply",
    "cannot reach Prometheus",
    "did not answer within",
];

/// Where `got` has a number, `base` must have the same one. Arrays of objects are matched
/// by their identifying fields, other arrays by position when their lengths agree.
fn numbers_agree(base: &Value, got: &Value, path: &str, wrong: &mut Vec<String>) {
    match (base, got) {
        (_, Value::Number(g)) if base.as_f64() != g.as_f64() => {
            wrong.push(format!("{path}: {g} where the fault-free run has {base}"));
        }
        (_, Value::Number(_)) => {}
        (Value::Object(b), Value::Object(g)) => {
            for (k, v) in g {
                numbers_agree(
                    b.get(k).unwrap_or(&Value::Null),
                    v,
                    &format!("{path}.{k}"),
                    wrong,
                );
            }
        }
        (Value::Array(b), Value::Array(g)) => {
            let key = |v: &Value| -> Option<String> {
                let o = v.as_object()?;
                let k: Vec<String> = ["name", "id", "slo", "group", "series", "component", "kind"]
                    .iter()
                    .filter_map(|f| o.get(*f).map(|x| format!("{f}={x}")))
                    .collect();
                (!k.is_empty()).then(|| k.join(","))
            };
            if g.iter().all(|v| key(v).is_some()) && b.iter().all(|v| key(v).is_some()) {
                for gv in g {
                    let k = key(gv).unwrap();
                    let same: Vec<&Value> =
                        b.iter().filter(|bv| key(bv).as_ref() == Some(&k)).collect();
                    match (
                        same.as_slice(),
                        g.iter().filter(|x| key(x).as_ref() == Some(&k)).count(),
                    ) {
                        ([one], 1) => numbers_agree(one, gv, &format!("{path}[{k}]"), wrong),
                        // A failed SLO is one row without its groups: it must agree
                        // with a row of the same name, or of one of its groups
                        // (`name{service=shop}`): its objective; its value is null.
                        ([], _) => match b.iter().find(|bv| {
                            let (Some(n), Some(of)) = (
                                bv.get("name").and_then(Value::as_str),
                                gv.get("name").and_then(Value::as_str),
                            ) else {
                                return false;
                            };
                            n == of || n.strip_prefix(of).is_some_and(|g| g.starts_with('{'))
                        }) {
                            Some(same_name) => {
                                numbers_agree(same_name, gv, &format!("{path}[{k}]"), wrong)
                            }
                            None => wrong.push(format!(
                                "{path}: an element {k} the fault-free run does not have"
                            )),
                        },
                        // Several with one key: compare by position among them.
                        (many, n) if many.len() == n => {
                            let i = g
                                .iter()
                                .filter(|x| key(x).as_ref() == Some(&k))
                                .position(|x| std::ptr::eq(x, gv))
                                .unwrap();
                            numbers_agree(many[i], gv, &format!("{path}[{k}#{i}]"), wrong)
                        }
                        _ => {}
                    }
                }
            } else if b.len() == g.len() {
                for (i, (bv, gv)) in b.iter().zip(g).enumerate() {
                    numbers_agree(bv, gv, &format!("{path}[{i}]"), wrong);
                }
            }
        }
        _ => {}
    }
}

/// The output as JSON, without what differs between any two runs (when it was made).
fn doc(r: &Run) -> Value {
    let mut v = r.json();
    if let Some(o) = v.as_object_mut() {
        o.remove("generated_at");
    }
    v
}

/// Checks one faulty run against the fault-free one.
fn judge(what: &str, seed: u64, base: &Run, got: &Run) -> &'static str {
    if got.code == base.code && doc(got) == doc(base) {
        return "same answer";
    }
    let all = format!("{}\n{}", got.stdout, got.stderr);
    // Exit 3, or the fault-free run's 1: a breach outranks an undecided SLO (the exit-code
    // contract), so a run that still sees the breach exits 1 and names what failed.
    assert!(
        got.code == 3 || (got.code == 1 && base.code == 1),
        "{what} seed {seed}: a different answer with exit {} (fault-free: {})\n--- stderr\n{}",
        got.code,
        base.code,
        got.stderr
    );
    assert!(
        all.contains("query `") && FAULT_MESSAGES.iter().any(|m| all.contains(m)),
        "{what} seed {seed}: exit 3 without naming the failed query and why\n--- stderr\n{}",
        got.stderr
    );
    let mut wrong = Vec::new();
    numbers_agree(&doc(base), &doc(got), "", &mut wrong);
    // Tallies of statuses (how many SLOs passed, were inconclusive) are not measurements:
    // they must move when a query fails.
    wrong.retain(|w| {
        let path = w.split(':').next().unwrap_or_default();
        !["pass", "warn", "fail", "inconclusive"]
            .iter()
            .any(|s| path.ends_with(&format!(".{s}")))
    });
    assert!(
        wrong.is_empty(),
        "{what} seed {seed}: wrong numbers:\n{}",
        wrong.join("\n")
    );
    if got.code == 3 {
        "exit 3"
    } else {
        "exit 1 (a breach), failures named"
    }
}

pub fn faults_mid_run_give_the_fault_free_answer_or_exit_3_never_a_wrong_number() -> TestResult {
    let w = week()?;
    let w47 = "2026-11-16T00:00:00Z";
    // A report costs ~30 s of a loaded debug run: one seed; check and incidents two.
    let commands: [(&str, Vec<&str>, &[u64]); 3] = [
        (
            "report --month",
            vec!["report", "--month", "2026-11", "--format", "json"],
            &[11],
        ),
        (
            "check",
            vec!["check", "--at", END, "--format", "json"],
            &[11, 23],
        ),
        (
            "incidents",
            vec!["incidents", "--from", w47, "--to", END, "--format", "json"],
            &[11, 23],
        ),
    ];
    let mut seen = Vec::new();
    let mut outcomes = Vec::new();
    for (what, args, seeds) in &commands {
        let mut a = args.clone();
        // A generous per-request timeout: the shared server answers other tests too, and a
        // slow answer must not be taken for a fault.
        a.extend(["--timeout", "2m", "--quiet"]);
        // Two queries at a time: a month report is heavy on the server the other tests
        // share, and its own timeouts are not what this test is about.
        if what.starts_with("report") {
            a.extend(["--concurrency", "2"]);
        }
        let t0 = Instant::now();
        let base = vitals(&a).prometheus(&w.prom.url).run();
        eprintln!(
            "{what} fault-free: exit {} in {:?}",
            base.code,
            t0.elapsed()
        );
        assert!(
            [0, 1, 3].contains(&base.code),
            "{what}: fault-free run exit {}: {}",
            base.code,
            base.stderr
        );
        for &seed in *seeds {
            let p = Proxy::start(
                w.prom.port,
                Plan {
                    seed: seed ^ what.len() as u64,
                    rate: 0.08,
                    faults: proxy::ALL.to_vec(),
                    slow: Duration::from_millis(700),
                },
            );
            let t0 = Instant::now();
            let got = vitals(&a).prometheus(&p.url).run();
            eprintln!(
                "{what} seed {seed}: exit {} in {:?}",
                got.code,
                t0.elapsed()
            );
            let outcome = judge(what, seed, &base, &got);
            seen.extend(p.injected());
            outcomes.push(format!(
                "{what} seed {seed}: {} requests, {:?}: {outcome}",
                p.hits(),
                p.injected()
            ));
        }
    }
    eprintln!("{}", outcomes.join("\n"));
    seen.sort();
    seen.dedup();
    assert!(
        seen.len() >= 4,
        "too few kinds of fault were injected: {seen:?}"
    );
    Ok(())
}

pub fn the_deadline_bounds_slow_and_failing_runs_and_names_what_was_pending() -> TestResult {
    let w = week()?;
    // Every reply takes 5 s: `check` (22 queries, 4 at a time) would need ~30 s.
    let slow = Proxy::start(
        w.prom.port,
        Plan {
            seed: 1,
            rate: 1.0,
            faults: vec![Fault::Slow],
            slow: Duration::from_secs(5),
        },
    );
    let t0 = Instant::now();
    let r = vitals(&["check", "--at", END, "--format", "json", "--deadline", "2s"])
        .prometheus(&slow.url)
        .run();
    let took = t0.elapsed();
    r.expect_code(3);
    assert!(took < Duration::from_secs(4), "the run took {took:?}");
    let doc = r.json();
    let errors: Vec<&str> = doc["slos"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["error"].as_str())
        .collect();
    assert!(!errors.is_empty(), "{}", r.stdout);
    assert!(
        errors
            .iter()
            .all(|e| e.contains("the run's --deadline of 2s was reached")),
        "{errors:#?}"
    );
    assert!(
        errors.iter().any(|e| e.contains("still pending: `")),
        "{errors:#?}"
    );
    assert!(
        errors[0].contains("raise --deadline (now 2s)"),
        "{}",
        errors[0]
    );
    // Retries stop when the next one would not finish in time: 503, 200 ms, 503, then a
    // 400 ms wait would pass the deadline.
    let failing = Proxy::start(
        w.prom.port,
        Plan {
            seed: 1,
            rate: 1.0,
            faults: vec![Fault::Unavailable],
            slow: Duration::ZERO,
        },
    );
    let t0 = Instant::now();
    let r = vitals(&["query", "api.rps", "--deadline", "500ms"])
        .prometheus(&failing.url)
        .run();
    r.expect_code(3);
    assert!(
        t0.elapsed() < Duration::from_millis(1500),
        "{:?}",
        t0.elapsed()
    );
    assert_eq!(failing.hits(), 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("--deadline of 500ms was reached")
            && r.stderr
                .contains("2 attempts, no time left to retry after the last failed:")
            && r.stderr.contains("returned HTTP 503"),
        "{}",
        r.stderr
    );
    Ok(())
}

/// A server that announces or streams an endless reply, counting what it wrote.
fn endless(announce: Option<u64>) -> (String, Arc<AtomicU64>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let written = Arc::new(AtomicU64::new(0));
    let w = written.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let w = w.clone();
            std::thread::spawn(move || {
                let mut r = BufReader::new(s.try_clone().unwrap());
                let mut line = String::new();
                while r.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                    line.clear();
                }
                let len = announce
                    .map(|n| format!("Content-Length: {n}\r\n"))
                    .unwrap_or_default();
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{len}Connection: close\r\n\r\n"
                );
                if s.write_all(head.as_bytes()).is_err() {
                    return;
                }
                let _ =
                    s.write_all(br#"{"status":"success","data":{"resultType":"vector","result":["#);
                let one = br#"{"metric":{"service":"shop","instance":"shop-0000"},"value":[1795176000,"1"]},"#;
                let chunk: Vec<u8> = one.iter().copied().cycle().take(one.len() * 1000).collect();
                // At most 1 GiB, and only while the client reads.
                for _ in 0..(1 << 30) / chunk.len() {
                    if s.write_all(&chunk).is_err() {
                        return;
                    }
                    w.fetch_add(chunk.len() as u64, Ordering::SeqCst);
                }
            });
        }
    });
    (url, written)
}

pub fn huge_replies_are_stopped_at_the_limit_not_read_whole() -> TestResult {
    let (url, written) = endless(None);
    let t0 = Instant::now();
    let r = vitals(&["query", "api.rps", "--max-body-size", "4MiB"])
        .prometheus(&url)
        .run();
    r.expect_code(3);
    assert!(
        r.stderr
            .contains("is larger than the --max-body-size of 4MiB; vitals stopped reading it"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("raise --max-body-size (now 4MiB)"),
        "{}",
        r.stderr
    );
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    std::thread::sleep(Duration::from_millis(300));
    let sent = written.load(Ordering::SeqCst);
    assert!(
        sent < 64 << 20,
        "the server could write {sent} bytes: the reply was read on"
    );
    // An announced size past the limit is refused before the body is read.
    let (url, written) = endless(Some(10 << 30));
    let r = vitals(&["query", "api.rps"]).prometheus(&url).run();
    r.expect_code(3);
    assert!(
        r.stderr
            .contains("larger than the --max-body-size of 256MiB (it announced 10GiB)"),
        "{}",
        r.stderr
    );
    std::thread::sleep(Duration::from_millis(300));
    assert!(written.load(Ordering::SeqCst) < 64 << 20);
    Ok(())
}

pub fn too_many_series_from_a_real_prometheus_is_an_error_with_a_hint() -> TestResult {
    let w = week()?;
    let args = [
        "query",
        "api.rps_by_instance",
        "--at",
        END,
        "--format",
        "json",
        "--timeout",
        "2m",
    ];
    let all = vitals(&args).prometheus(&w.prom.url).run();
    all.expect_code(0);
    let n = all.json()["series"].as_array().unwrap().len();
    assert!(n > 3, "{n} series");
    let mut a = args.to_vec();
    let limit = (n - 1).to_string();
    a.extend(["--max-series", &limit]);
    let r = vitals(&a).prometheus(&w.prom.url).run();
    r.expect_code(3);
    assert!(
        r.stderr.contains(&format!(
            "query `api.rps_by_instance`: Prometheus at {}/ answered with more than the --max-series of {limit} series",
            w.prom.url
        )),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains(&format!("raise --max-series (now {limit})")),
        "{}",
        r.stderr
    );
    let mut a = args.to_vec();
    let exact = n.to_string();
    a.extend(["--max-series", &exact]);
    vitals(&a).prometheus(&w.prom.url).run().expect_code(0);
    Ok(())
}
