//! Bad input and failing servers: each with its exit code and message.
//!
//! A real Prometheus cannot time out, fail in bursts or answer HTML on demand, so these use
//! the loopback mock; the happy paths run against real Prometheus elsewhere.

use std::time::{Duration, Instant};

use crate::support::mock::{EMPTY_VECTOR, Mock, Reply};
use crate::support::{TestResult, scratch, vitals, write};

pub fn unknown_query_is_a_usage_error_with_a_suggestion() -> TestResult {
    let mock = Mock::start(|_| Reply::json(200, EMPTY_VECTOR));
    let r = vitals(&["query", "api.rsp"]).prometheus(&mock.url).run();
    r.expect_code(2);
    assert!(
        r.stderr.contains("error: unknown query `api.rsp`"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("did you mean `api.rps`?"), "{}", r.stderr);
    assert_eq!(mock.hits(), 0, "nothing may be sent for a usage error");
    Ok(())
}

pub fn injected_label_matcher_is_rejected_before_any_request() -> TestResult {
    let mock = Mock::start(|_| Reply::json(200, EMPTY_VECTOR));
    let r = vitals(&[
        "query",
        "api.rps",
        "--param",
        r#"service=x"} or vector(1) #"#,
    ])
    .prometheus(&mock.url)
    .run();
    r.expect_code(2);
    assert!(r.stderr.contains("invalid value"), "{}", r.stderr);
    assert!(
        r.stderr.contains("is not one of shop, crm, mes"),
        "{}",
        r.stderr
    );
    let r = vitals(&["query", "api.rps", "--param", "window=5m]) or vector(1"])
        .prometheus(&mock.url)
        .run();
    r.expect_code(2);
    let r = vitals(&["query", "api.rps", "--param", "servcie=shop"])
        .prometheus(&mock.url)
        .run();
    r.expect_code(2);
    assert!(
        r.stderr
            .contains("has no param `servcie` (its params: service, window)"),
        "{}",
        r.stderr
    );
    assert_eq!(mock.hits(), 0);
    Ok(())
}

pub fn malformed_query_toml_is_reported_with_file_line_and_column() -> TestResult {
    let dir = scratch();
    write(
        dir.path(),
        "queries/a.toml",
        "[[query]]\nname = \"x.one\"\nhelp = \"unterminated\n",
    );
    write(
        dir.path(),
        "queries/b.toml",
        "[[query]]\nname = \"x.two\"\nhelp = \"h\"\nunit = \"count\"\npromql = \"up\"\ncolour = \"red\"\n",
    );
    let q = dir.path().join("queries");
    let r = vitals(&["query", "x.two", "--queries", q.to_str().unwrap()]).run();
    r.expect_code(2);
    assert!(
        r.stderr.contains("a.toml:3:21: invalid basic string"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("b.toml:6:1: unknown field `colour`"),
        "{}",
        r.stderr
    );
    Ok(())
}

pub fn malformed_slo_toml_is_reported_with_file_line_and_column() -> TestResult {
    let dir = scratch();
    let p = write(
        dir.path(),
        "slo.toml",
        "[[slo]]\nname = \"a\"\nkind = ratio\n",
    );
    let r = vitals(&["lint", "--config", p.to_str().unwrap()]).run();
    r.expect_code(2);
    assert!(r.stdout.contains("slo.toml:3:8:"), "{}", r.stdout);
    Ok(())
}

pub fn invalid_promql_in_the_catalog_is_a_config_error() -> TestResult {
    let mock = Mock::start(|_| Reply::json(200, EMPTY_VECTOR));
    let dir = scratch();
    write(
        dir.path(),
        "queries/a.toml",
        "[[query]]\nname = \"x.bad\"\nhelp = \"h\"\nunit = \"count\"\npromql = 'sum(rate(up[5m])'\n",
    );
    let q = dir.path().join("queries");
    let lint = vitals(&["lint", "--queries", q.to_str().unwrap()]).run();
    lint.expect_code(2);
    assert!(
        lint.stdout.contains("query `x.bad`: invalid PromQL"),
        "{}",
        lint.stdout
    );
    let r = vitals(&["query", "x.bad", "--queries", q.to_str().unwrap()])
        .prometheus(&mock.url)
        .run();
    r.expect_code(2);
    assert!(
        r.stderr.contains("expands to invalid PromQL"),
        "{}",
        r.stderr
    );
    assert_eq!(mock.hits(), 0);
    Ok(())
}

pub fn unreachable_prometheus_exits_3_naming_the_url() -> TestResult {
    let port = crate::support::prometheus::free_port();
    let url = format!("http://127.0.0.1:{port}");
    let r = vitals(&["query", "api.rps"]).prometheus(&url).run();
    r.expect_code(3);
    let first = r.stderr.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("error: query `api.rps`: cannot reach Prometheus at http://127.0.0.1:"),
        "{}",
        r.stderr
    );
    assert!(
        first.to_lowercase().contains("connection refused"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("hint: is Prometheus up at"),
        "{}",
        r.stderr
    );
    Ok(())
}

pub fn prometheus_error_reply_exits_3_with_its_message() -> TestResult {
    let mock = Mock::start(|_| {
        Reply::json(
            400,
            r#"{"status":"error","errorType":"bad_data","error":"1:10: parse error: unexpected right parenthesis ')'"}"#,
        )
    });
    let r = vitals(&["query", "api.rps"]).prometheus(&mock.url).run();
    r.expect_code(3);
    assert!(
        r.stderr
            .contains("rejected it (HTTP 400, bad_data): 1:10: parse error"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("vitals lint"), "{}", r.stderr);
    assert_eq!(mock.hits(), 1, "a 400 is not retried");
    Ok(())
}

pub fn persistent_503_is_retried_then_exits_3() -> TestResult {
    let mock = Mock::start(|_| Reply::text(503, "text/plain", "upstream connect error"));
    let r = vitals(&["query", "api.rps"]).prometheus(&mock.url).run();
    r.expect_code(3);
    assert!(
        r.stderr
            .contains("returned HTTP 503: upstream connect error"),
        "{}",
        r.stderr
    );
    assert_eq!(mock.hits(), 3, "one attempt and two retries");
    Ok(())
}

pub fn a_burst_of_503_is_retried_and_succeeds() -> TestResult {
    let mock = Mock::start(|n| {
        if n < 2 {
            Reply::text(503, "text/plain", "busy")
        } else {
            Reply::json(
                200,
                r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"service":"shop"},"value":[1795176000,"12.5"]}]}}"#,
            )
        }
    });
    let r = vitals(&["query", "api.rps", "--format", "json"])
        .prometheus(&mock.url)
        .run();
    r.expect_code(0);
    assert_eq!(r.json()["series"][0]["value"], 12.5);
    assert_eq!(mock.hits(), 3);
    Ok(())
}

pub fn html_reply_exits_3_as_not_json() -> TestResult {
    let mock =
        Mock::start(|_| Reply::text(200, "text/html", "<html><body>Please log in</body></html>"));
    let r = vitals(&["query", "api.rps"]).prometheus(&mock.url).run();
    r.expect_code(3);
    assert!(
        r.stderr
            .contains("unreadable reply (HTTP 200): not JSON: \"<html><body>Please log in"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("hint: is"), "{}", r.stderr);
    Ok(())
}

pub fn truncated_reply_exits_3_as_truncated() -> TestResult {
    let mock = Mock::start(|_| {
        Reply::json(
            200,
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"#,
        )
    });
    let r = vitals(&["query", "api.rps"]).prometheus(&mock.url).run();
    r.expect_code(3);
    assert!(r.stderr.contains("truncated reply"), "{}", r.stderr);
    Ok(())
}

pub fn slow_prometheus_times_out_with_exit_3() -> TestResult {
    let mock = Mock::start(|_| Reply::json(200, EMPTY_VECTOR).after(Duration::from_secs(5)));
    let t0 = Instant::now();
    let r = vitals(&["query", "api.rps", "--timeout", "500ms"])
        .prometheus(&mock.url)
        .run();
    let took = t0.elapsed();
    r.expect_code(3);
    assert!(
        r.stderr.contains("did not answer within 500ms"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("raise --timeout"), "{}", r.stderr);
    assert!(took < Duration::from_secs(4), "gave up after {took:?}");
    assert_eq!(mock.hits(), 1, "a timeout is not retried");
    Ok(())
}

/// Partial data is not data: a reply with warnings (Prometheus, Thanos) or `isPartial`
/// (VictoriaMetrics) fails the query, after the usual retries, unless `--allow-partial`;
/// then the answer is used and its warnings go to stderr (and into the JSON).
pub fn partial_answers_fail_unless_allow_partial() -> TestResult {
    let mock = Mock::start(|_| {
        Reply::json(
            200,
            r#"{"status":"success","warnings":["remote read from store-2 failed: timeout"],"infos":["PromQL info: not a warning"],"data":{"resultType":"vector","result":[{"metric":{"service":"shop"},"value":[1795176000,"12.5"]}]}}"#,
        )
    });
    let r = vitals(&["query", "api.rps", "--format", "json"])
        .prometheus(&mock.url)
        .run();
    r.expect_code(3);
    assert!(
        r.stdout.is_empty(),
        "no number from a partial answer: {}",
        r.stdout
    );
    assert!(
        r.stderr
            .contains("error: query `api.rps`: Prometheus at http://127.0.0.1:")
            && r.stderr
                .contains("answered with partial data: remote read from store-2 failed: timeout"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("--allow-partial"), "{}", r.stderr);
    assert_eq!(
        mock.hits(),
        3,
        "partial answers are retried like other transient failures"
    );

    let r = vitals(&["query", "api.rps", "--format", "json", "--allow-partial"])
        .prometheus(&mock.url)
        .run();
    r.expect_code(0);
    assert!(
        r.stderr.contains(
            "warning: Prometheus, for `api.rps`: remote read from store-2 failed: timeout"
        ),
        "{}",
        r.stderr
    );
    assert!(
        !r.stderr.contains("not a warning"),
        "infos are not warnings: {}",
        r.stderr
    );
    assert_eq!(r.json()["series"][0]["value"], 12.5);
    assert_eq!(
        r.json()["warnings"][0],
        "remote read from store-2 failed: timeout"
    );
    let quiet = vitals(&["query", "api.rps", "--quiet", "--allow-partial"])
        .prometheus(&mock.url)
        .run();
    assert!(!quiet.stderr.contains("warning"), "{}", quiet.stderr);

    // VictoriaMetrics marks a partial answer with a flag instead of a warning.
    let vm = Mock::start(|_| {
        Reply::json(
            200,
            r#"{"status":"success","isPartial":true,"data":{"resultType":"vector","result":[]}}"#,
        )
    });
    let r = vitals(&["query", "api.rps"]).prometheus(&vm.url).run();
    r.expect_code(3);
    assert!(
        r.stderr
            .contains("answered with partial data: the reply is marked partial (isPartial: true)"),
        "{}",
        r.stderr
    );
    // And `check` says which SLOs it could not judge, in its JSON and JUnit.
    let r = vitals(&["check", "--format", "json"])
        .prometheus(&mock.url)
        .run();
    r.expect_code(3);
    for row in r.json()["slos"].as_array().unwrap() {
        assert_eq!(row["status"], "inconclusive", "{row}");
        assert!(
            row["error"]
                .as_str()
                .unwrap_or_default()
                .contains("partial data"),
            "{row}"
        );
    }
    let r = vitals(&["check", "--format", "junit"])
        .prometheus(&mock.url)
        .run();
    r.expect_code(3);
    assert!(r.stdout.contains("partial data"), "{}", r.stdout);
    Ok(())
}

pub fn unsupported_format_is_a_usage_error() -> TestResult {
    let r = vitals(&["query", "api.rps", "--format", "junit"]).run();
    r.expect_code(2);
    assert!(
        r.stderr
            .contains("`query` cannot write --format junit; it supports table, json, csv"),
        "{}",
        r.stderr
    );
    let r = vitals(&["query", "api.rps", "--format", "yaml"]).run();
    r.expect_code(2);
    Ok(())
}

pub fn bad_time_flags_are_usage_errors() -> TestResult {
    for (args, msg) in [
        (
            vec!["query", "api.rps", "--at", "yesterday"],
            "--at: invalid time \"yesterday\"",
        ),
        (
            vec!["query", "api.rps", "--since", "7d", "--step", "10s"],
            "Prometheus allows at most 11000",
        ),
        (
            vec!["query", "api.rps", "--from", "now", "--to", "now-1h"],
            "the range is empty",
        ),
        (
            vec!["query", "api.rps", "--step", "1m"],
            "--step needs a range",
        ),
        (
            vec!["query", "api.rps", "--timeout", "soon"],
            "--timeout: invalid duration",
        ),
    ] {
        let r = vitals(&args).prometheus("http://127.0.0.1:9").run();
        r.expect_code(2);
        assert!(r.stderr.contains(msg), "{args:?}: {}", r.stderr);
    }
    // Conflicting flags are refused by the parser itself, also with exit 2.
    vitals(&["query", "api.rps", "--at", "now", "--since", "1h"])
        .run()
        .expect_code(2);
    Ok(())
}

pub fn bearer_token_is_sent_and_never_shown() -> TestResult {
    let mock = Mock::start(|_| {
        Reply::json(
            401,
            r#"{"status":"error","errorType":"unauthorized","error":"bad token"}"#,
        )
    });
    let dir = scratch();
    let token = write(dir.path(), "token", "s3cr3t-t0ken\n");
    let r = vitals(&[
        "query",
        "api.rps",
        "--bearer-token-file",
        token.to_str().unwrap(),
        "-H",
        "X-Scope-OrgID: shop",
    ])
    .prometheus(&mock.url)
    .run();
    r.expect_code(3);
    let req = &mock.requests()[0];
    let lower = req.to_lowercase();
    assert!(
        lower.contains("authorization: bearer s3cr3t-t0ken"),
        "{req}"
    );
    assert!(lower.contains("x-scope-orgid: shop"), "{req}");
    assert!(!r.stderr.contains("s3cr3t"), "{}", r.stderr);
    assert!(r.stderr.contains("--bearer-token-file"), "{}", r.stderr);
    // The request carries the query, the evaluation time and the timeout.
    assert!(req.contains("query=sum+by+%28service%29"), "{req}");
    assert!(
        req.contains("&time=") && req.contains("&timeout=30000ms"),
        "{req}"
    );
    Ok(())
}

/// `--concurrency N` bounds the queries in flight on the one client: never more than N at
/// once, and N when there is enough to do.
pub fn concurrency_bounds_the_queries_in_flight() -> TestResult {
    for n in [1usize, 3] {
        let mock =
            Mock::start(|_| Reply::json(200, EMPTY_VECTOR).after(Duration::from_millis(150)));
        let r = vitals(&["check", "--concurrency", &n.to_string(), "--format", "json"])
            .prometheus(&mock.url)
            .run();
        // Every SLO without data: inconclusive.
        r.expect_code(3);
        assert!(mock.hits() > 10, "{} requests", mock.hits());
        assert_eq!(mock.max_in_flight(), n, "--concurrency {n}");
    }
    Ok(())
}

/// No panic (exit 101) and no request: a usage error, exit 2, naming the flag.
fn expect_usage_error(r: &crate::support::Run, needle: &str) {
    r.expect_code(2);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    assert!(r.stderr.contains(needle), "{needle:?} not in: {}", r.stderr);
}

pub fn very_long_ranges_and_far_times_are_usage_errors_not_panics() -> TestResult {
    let mock = Mock::start(|_| Reply::json(200, EMPTY_VECTOR));
    // Each of these ended in `DateTime - TimeDelta overflowed` (exit 101).
    for args in [
        &["chart", "api.rps", "--since", "300000y"][..],
        &["incidents", "--since", "300000y"],
        &["query", "api.rps", "--since", "300000y"],
        &["query", "api.rps", "--from", "now-300000y"],
    ] {
        let r = vitals(args).prometheus(&mock.url).run();
        expect_usage_error(&r, "too large (at most 292y");
    }
    let r = vitals(&["query", "api.rps", "--from", "99999999999999"])
        .prometheus(&mock.url)
        .run();
    expect_usage_error(&r, "out of range");
    let r = vitals(&["report", "--from", "0000-01-01T00:00:00+01:00"])
        .prometheus(&mock.url)
        .run();
    expect_usage_error(&r, "out of range");
    assert_eq!(mock.hits(), 0, "nothing may be sent for a usage error");
    Ok(())
}

pub fn the_longest_slo_window_lint_accepts_is_evaluated_by_every_command() -> TestResult {
    let mock = Mock::start(|_| Reply::json(200, EMPTY_VECTOR));
    let dir = scratch();
    let repo = crate::support::repo();
    let slo = std::fs::read_to_string(repo.join("slo.toml")).expect("slo.toml");
    let site = std::fs::read_to_string(repo.join("site.toml")).expect("site.toml");
    write(dir.path(), "site.toml", &site);
    let longest = slo.replace("window = \"28d\"", "window = \"3660d\"");
    assert_ne!(longest, slo);
    let p = write(dir.path(), "slo.toml", &longest);
    let config = p.to_str().unwrap();
    vitals(&["lint", "--config", config]).run().expect_code(0);
    for args in [
        &["check", "--config", config][..],
        &["status", "--config", config],
        &["incidents", "--config", config, "--since", "292y"],
        &["chart", "api.rps", "--config", config, "--since", "292y"],
        &["report", "--config", config, "--month", "2026-10"],
    ] {
        let r = vitals(args).prometheus(&mock.url).run();
        assert!(!r.stderr.contains("panicked"), "{args:?}: {}", r.stderr);
        assert!([0, 1, 3].contains(&r.code), "{args:?}: {}", r.code);
    }
    let too_long = slo.replace("window = \"28d\"", "window = \"3661d\"");
    let p = write(dir.path(), "slo.toml", &too_long);
    let r = vitals(&["lint", "--config", p.to_str().unwrap()]).run();
    r.expect_code(2);
    assert!(r.stdout.contains("is longer than 3660d"), "{}", r.stdout);
    Ok(())
}

pub fn a_plain_date_is_a_time_and_a_future_instant_is_refused() -> TestResult {
    let mock = Mock::start(|_| Reply::json(200, EMPTY_VECTOR));
    vitals(&["query", "api.rps", "--at", "2026-11-18"])
        .prometheus(&mock.url)
        .run()
        .expect_code(0);
    // Midnight UTC.
    let sent = mock.requests().join("\n");
    assert!(sent.contains("time=2026-11-18T00%3A00%3A00Z"), "{sent}");
    // With --time-zone, midnight there (Moscow is UTC+3).
    vitals(&[
        "chart",
        "api.rps",
        "--from",
        "2026-11-18",
        "--to",
        "2026-11-19",
        "--time-zone",
        "Europe/Moscow",
        "--out",
        scratch().path().join("c.svg").to_str().unwrap(),
    ])
    .prometheus(&mock.url)
    .run();
    let sent = mock.requests().join("\n");
    assert!(sent.contains("start=2026-11-17T21%3A00%3A00Z"), "{sent}");
    let before = mock.hits();
    for args in [
        &["check", "--at", "2999-01-01"][..],
        &["status", "--at", "now+1h"],
        &["query", "api.rps", "--at", "2999-01-01T00:00:00Z"],
    ] {
        let r = vitals(args).prometheus(&mock.url).run();
        expect_usage_error(&r, "is in the future");
    }
    assert_eq!(mock.hits(), before, "nothing may be sent for a usage error");
    Ok(())
}

pub fn a_missing_config_file_is_file_not_found_without_the_lint_hint() -> TestResult {
    for cmd in ["lint", "check", "status"] {
        let r = vitals(&[cmd, "--config", "/nonexistent/slo.toml"]).run();
        r.expect_code(2);
        assert!(
            r.stderr
                .contains("error: --config /nonexistent/slo.toml: file not found"),
            "{}",
            r.stderr
        );
        assert!(!r.stderr.contains("vitals lint"), "{}", r.stderr);
    }
    Ok(())
}

/// Random time flags on every command that takes them: a result or a clear error, never a
/// panic (exit 101). One command per case, against the mock.
pub fn random_time_flags_never_panic_any_command() -> TestResult {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    let mock = Mock::start(|_| Reply::json(200, EMPTY_VECTOR));
    let time = prop_oneof![
        "now(-|\\+)[0-9]{1,22}(ms|s|m|h|d|w|y)",
        "[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}:[0-9]{2}(Z|[-+][0-9]{2}:[0-9]{2}))?",
        "[0-9.]{1,22}",
        "\\PC{0,12}",
    ];
    let duration = "[0-9]{1,22}(ms|s|m|h|d|w|y)";
    let command = (
        0..6usize,
        time.clone(),
        time,
        duration,
        prop_oneof![Just("UTC"), Just("Europe/Berlin"), Just("America/Santiago")],
    );
    let mut runner = TestRunner::new(Config {
        cases: 128,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&command, |(which, t1, t2, d, tz)| {
        let args: Vec<String> = match which {
            0 => vec!["query", "api.rps", "--from", &t1, "--to", &t2, "--step", &d],
            1 => vec!["query", "api.rps", "--at", &t1],
            2 => vec!["chart", "api.rps", "--since", &d, "--time-zone", tz],
            3 => vec!["incidents", "--from", &t1, "--to", &t2, "--step", &d],
            4 => vec!["check", "--at", &t1],
            _ => vec!["report", "--from", &t1, "--to", &t2, "--time-zone", tz],
        }
        .into_iter()
        .map(String::from)
        .collect();
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = vitals(&argv).prometheus(&mock.url).run();
        prop_assert!(
            [0, 1, 2, 3].contains(&r.code) && !r.stderr.contains("panicked"),
            "{argv:?}: exit {}\n{}",
            r.code,
            r.stderr
        );
        if r.code == 2 {
            prop_assert!(r.stderr.starts_with("error: "), "{argv:?}: {}", r.stderr);
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    Ok(())
}

pub fn a_site_without_signals_sends_no_empty_query() -> TestResult {
    // Found by the property tests: an SLO file with no site.toml beside it (its components
    // are the site, without signals) made `status` send an empty expression, which
    // Prometheus refuses (HTTP 400 "no expression found in input").
    let mock = Mock::start(|_| Reply::json(200, EMPTY_VECTOR));
    let dir = scratch();
    let p = write(
        dir.path(),
        "slo.toml",
        "[[slo]]\nname = \"m\"\ncomponent = \"c\"\nkind = \"ratio\"\nbad = 'sum(rate(x[{{window}}]))'\ntotal = 'sum(rate(y[{{window}}]))'\nobjective = 99\ncalendar = \"month\"\n",
    );
    let r = vitals(&["status", "--config", p.to_str().unwrap()])
        .prometheus(&mock.url)
        .run();
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    let requests = mock.requests();
    assert!(!requests.is_empty());
    for req in &requests {
        let body = req.rsplit("\r\n\r\n").next().unwrap_or(req);
        assert!(
            !body.starts_with("query=&") && !body.contains("&query=&"),
            "an empty query was sent: {req}"
        );
    }
    Ok(())
}

/// Every engine's way of saying an answer is incomplete makes the screens that read it
/// undecided, never complete: VictoriaMetrics cluster's `isPartial`, Thanos' `warnings` (a
/// store that did not answer) and Mimir's (a querier's), for `status` (exit 3, the warning
/// named) and `report` (exit 3, the sections it could not fill listed with the warning).
pub fn partial_answers_of_each_engine_leave_status_and_report_undecided() -> TestResult {
    let shapes = [
        (
            "VictoriaMetrics cluster",
            r#"{"status":"success","isPartial":true,"data":{"resultType":"vector","result":[{"metric":{"service":"shop"},"value":[1795176000,"1"]}]}}"#,
            "isPartial: true",
        ),
        (
            "Thanos Query",
            r#"{"status":"success","warnings":["No StoreAPIs matched for this query"],"data":{"resultType":"vector","result":[{"metric":{"service":"shop"},"value":[1795176000,"1"]}]}}"#,
            "No StoreAPIs matched for this query",
        ),
    ];
    for (engine, body, warning) in shapes {
        let body = body.to_string();
        let mock = Mock::start(move |_| Reply::json(200, &body));
        let r = vitals(&["status", "--format", "json"])
            .prometheus(&mock.url)
            .run();
        r.expect_code(3);
        let all = format!("{}{}", r.stdout, r.stderr);
        assert!(
            all.contains("partial data") && all.contains(warning),
            "{engine}: status\n{all}"
        );
        let r = vitals(&["report", "--week", "2026-W47", "--format", "json"])
            .prometheus(&mock.url)
            .run();
        r.expect_code(3);
        let all = format!("{}{}", r.stdout, r.stderr);
        assert!(
            all.contains("partial data") && all.contains(warning),
            "{engine}: report\n{all}"
        );
    }
    Ok(())
}
