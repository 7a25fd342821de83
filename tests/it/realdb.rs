//! The `db.*` catalog on real PostgreSQL servers and their exporters, against what
//! `vitals-sim drive --postgres` did (tests/it/support/postgres.rs starts the stack once).
//!
//! Gauges are exact: connections held per role, max_connections, up. Counters of discrete
//! events read through `rate()`/`increase()` are bounded, not exact: Prometheus extrapolates
//! the increase between the window's first and last samples to the window's ends, so over a
//! window of `w` seconds holding every event, with samples every `s` seconds, an increase of
//! N events reads between N and N * w / (w - 2s) (and a rate N / w to N / (w - 2s)).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::support::postgres::{RealDb, SCRAPE_S, real_db};
use crate::support::{TestResult, vitals};

const SERVICES: [&str; 2] = ["shop-db", "mes-db"];

/// `vitals query NAME` at the stack's instant: value by the labels' values (joined by `/`).
fn query(db: &RealDb, name: &str, params: &[(&str, String)]) -> BTreeMap<String, f64> {
    let at = format!("{}", db.at.floor() as i64);
    let mut args = vec!["query", name, "--at", &at, "--format", "json"];
    let ps: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
    for p in &ps {
        args.extend(["--param", p]);
    }
    let run = vitals(&args).prometheus(&db.prom.url).run();
    run.expect_code(0);
    let doc: Value = run.json();
    doc["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let key = s["labels"]
                .as_object()
                .unwrap()
                .values()
                .map(|v| v.as_str().unwrap().to_string())
                .collect::<Vec<_>>()
                .join("/");
            (key, s["value"].as_f64().unwrap_or(f64::NAN))
        })
        .collect()
}

/// The bounds of what `increase()` over `w` seconds reads for `n` events in it.
fn increase_bounds(n: f64, w: f64) -> (f64, f64) {
    (n, n * w / (w - 2.0 * SCRAPE_S))
}

fn within(what: &str, got: f64, (lo, hi): (f64, f64)) {
    assert!(
        got >= lo - 1e-9 && got <= hi + 1e-9,
        "{what}: {got} is outside [{lo}, {hi}]"
    );
}

fn server<'a>(db: &'a RealDb, service: &str) -> &'a Value {
    &db.truth["servers"][service]
}

/// Both servers up; connections by role exactly those the driver holds; the total and the
/// saturation what the servers themselves count; max_connections as configured.
pub fn db_gauges_match_the_servers() -> TestResult {
    let db = real_db()?;
    let up = query(db, "db.up", &[]);
    assert_eq!(
        up,
        SERVICES.iter().map(|s| (s.to_string(), 1.0)).collect(),
        "db.up"
    );

    let by_role = query(db, "db.connections_by_role", &[]);
    for service in SERVICES {
        for (role, n) in server(db, service)["held"].as_object().unwrap() {
            assert_eq!(
                by_role.get(&format!("{service}/{role}")),
                Some(&n.as_f64().unwrap()),
                "db.connections_by_role {service} {role}: {by_role:?}"
            );
        }
    }
    let max = query(db, "db.connections_max", &[]);
    let used = query(db, "db.connections_used", &[]);
    let saturation = query(db, "db.connection_saturation", &[]);
    for service in SERVICES {
        let want_max: f64 = db
            .psql(service, "postgres", "SHOW max_connections")
            .parse()
            .unwrap();
        assert_eq!(max[service], want_max, "db.connections_max {service}");
        // Every client connection is some role's: the held ones and the exporter's own.
        let roles: f64 = by_role
            .iter()
            .filter(|(k, _)| k.starts_with(&format!("{service}/")))
            .map(|(_, v)| v)
            .sum();
        assert_eq!(
            used[service], roles,
            "db.connections_used {service}: {by_role:?}"
        );
        assert!((saturation[service] - roles / want_max).abs() < 1e-12);
    }
    Ok(())
}

/// Deadlocks are counted exactly; rollbacks, read through `rate()` over a window holding
/// the whole scenario, lie within the extrapolation bounds of the driver's counts; the mean
/// server time per command is what pg_stat_statements itself says.
pub fn db_counters_match_the_driven_scenario() -> TestResult {
    let db = real_db()?;
    let w = db.window_s();
    let window = format!("{w}s");
    let w = w as f64;
    let deadlocks = query(db, "db.deadlocks", &[("window", window.clone())]);
    let rollbacks = query(db, "db.rollback_rate", &[("window", window.clone())]);
    for service in SERVICES {
        let t = server(db, service);
        // A discrete count: exact (the row exists from the server's start).
        let n = t["deadlocks"].as_f64().unwrap();
        assert_eq!(
            deadlocks[service], n,
            "db.deadlocks {service}: {deadlocks:?}"
        );
        let r = t["rollbacks"].as_f64().unwrap();
        let (lo, hi) = increase_bounds(r, w);
        let samples = crate::support::prometheus::instant_query(
            db.prom.port,
            &format!(
                "pg_stat_database_xact_rollback{{service=\"{service}\"}}[{}s]",
                w + 30.0
            ),
            &format!("{}", db.at),
        );
        within(
            &format!(
                "db.rollback_rate {service} (truth {}, started {}, samples {samples})",
                t, db.truth["started"]
            ),
            rollbacks[service],
            (lo / w, hi / w),
        );
    }
    Ok(())
}

/// The exporter's statement counters by role and command, as the exact difference of the
/// counters across the window (a series first seen inside it counts from zero, as
/// pg_stat_statements creates an entry at its first call), equal the driver's counts of
/// completed statements; failed statements are not among them.
pub fn statement_counts_are_exact_integers() -> TestResult {
    let db = real_db()?;
    let w = db.window_s();
    let c = "pg_stat_statements_by_command_calls_total{user=~\"app|analyst|migration\"}";
    let promql = format!(
        "sum by (service, user, command) (({c} - {c} offset {w}s) or ({c} unless {c} offset {w}s))"
    );
    let at = format!("{}", db.at.floor() as i64);
    let run = vitals(&[
        "query", "--promql", &promql, "--at", &at, "--format", "json",
    ])
    .prometheus(&db.prom.url)
    .run();
    run.expect_code(0);
    let mut got: BTreeMap<String, f64> = BTreeMap::new();
    for s in run.json()["series"].as_array().unwrap() {
        let l = &s["labels"];
        got.insert(
            format!(
                "{}/{}/{}",
                l["service"].as_str().unwrap(),
                l["user"].as_str().unwrap(),
                l["command"].as_str().unwrap()
            ),
            s["value"].as_f64().unwrap(),
        );
    }
    let mut want: BTreeMap<String, f64> = BTreeMap::new();
    for service in SERVICES {
        for (role, by) in server(db, service)["statements"].as_object().unwrap() {
            for (command, n) in by.as_object().unwrap() {
                want.insert(format!("{service}/{role}/{command}"), n.as_f64().unwrap());
            }
        }
    }
    assert_eq!(got, want, "statements by service, role and command");
    Ok(())
}

/// The proportional set size of a cluster's processes, from /proc (processes whose command
/// line carries its `cluster_name`, as the process-exporter's group matches them).
fn pss_bytes(service: &str) -> f64 {
    let mut total = 0.0;
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let p = e.path();
        let Ok(cmd) = std::fs::read(p.join("cmdline")) else {
            continue;
        };
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        let comm = std::fs::read_to_string(p.join("comm")).unwrap_or_default();
        if comm.trim() != "postgres" || !cmd.contains(service) {
            continue;
        }
        let rollup = std::fs::read_to_string(p.join("smaps_rollup")).unwrap_or_default();
        if let Some(kb) = rollup
            .lines()
            .find_map(|l| l.strip_prefix("Pss:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        {
            total += kb * 1024.0;
        }
    }
    total
}

/// The USE signals of the servers come from the process and node exporters: memory is
/// the servers' proportional set size as /proc has it now (within 2x: it moves between
/// the scrape and this reading, but not by that much), CPU a share between 0 and 100 %
/// of the two cores, disk utilisation between 0 and 1.
pub fn db_usage_signals_come_from_the_process_and_node_exporters() -> TestResult {
    let db = real_db()?;
    let memory = query(db, "db.memory_bytes", &[]);
    let cpu = query(db, "db.cpu_percent", &[("window", "30s".into())]);
    let disk = query(db, "db.disk_io_utilization", &[("window", "30s".into())]);
    for service in SERVICES {
        let pss = pss_bytes(service);
        let got = memory[service];
        assert!(
            pss > 0.0 && got > pss / 2.0 && got < pss * 2.0,
            "db.memory_bytes {service}: {got}, /proc says {pss}"
        );
        let c = cpu[service];
        assert!(
            (0.0..=100.0 * 2.0).contains(&c),
            "db.cpu_percent {service}: {c}"
        );
        let d = disk[service];
        assert!(
            (0.0..=1.0).contains(&d),
            "db.disk_io_utilization {service}: {d}"
        );
    }
    Ok(())
}
/// The applications' failed statements (the client histogram's `_count` with an
/// `error_type`): unique violations on both servers, the deadlock victim on mes-db. Their
/// series are born with the first error, inside the window: `db.error_rate` counts them
/// from zero and divides by the window, so it is exact.
pub fn client_errors_match_the_driven_scenario() -> TestResult {
    let db = real_db()?;
    let w = db.window_s();
    let errors = query(db, "db.error_rate", &[("window", format!("{w}s"))]);
    for service in SERVICES {
        let n: f64 = server(db, service)["operations"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|by| by.as_object().unwrap().iter())
            .filter(|(code, _)| !code.is_empty())
            .map(|(_, n)| n.as_f64().unwrap())
            .sum();
        assert!(n >= 3.0, "{service}: the scenario makes failures");
        let got = errors.get(service).copied().unwrap_or(0.0);
        assert!(
            (got * w as f64 - n).abs() < 1e-9,
            "db.error_rate {service}: {got}/s over {w}s is {} failures, the driver made {n}",
            got * w as f64
        );
    }
    Ok(())
}

/// A server's connections (every role's, the exporter's own included) over its
/// max_connections, as the server says it.
fn saturation(db: &RealDb, by_role: &BTreeMap<String, f64>, service: &str) -> f64 {
    let max: f64 = db
        .psql(service, "postgres", "SHOW max_connections")
        .parse()
        .unwrap();
    let held: f64 = by_role
        .iter()
        .filter(|(k, _)| k.starts_with(&format!("{service}/")))
        .map(|(_, v)| v)
        .sum();
    held / max
}

/// The database SLOs' check rows and the servers' status rows on the real stack: the
/// connection saturation is the connections the servers hold (the driver's and the
/// exporter's own) over max_connections, the memory what process-exporter reads, both
/// within their objectives; each server's row shows its connections and is OK.
pub fn db_slos_and_status_rows_follow_the_servers() -> TestResult {
    let db = real_db()?;
    let at = format!("{}", db.at.floor() as i64);
    let by_role = query(db, "db.connections_by_role", &[]);
    let memory = query(db, "db.memory_bytes", &[]);
    let r = vitals(&[
        "check",
        "--component",
        "databases",
        "--at",
        &at,
        "--format",
        "json",
    ])
    .prometheus(&db.prom.url)
    .run();
    r.expect_code(0);
    let doc = r.json();
    let mut seen = Vec::new();
    for row in doc["slos"].as_array().unwrap() {
        let name = row["name"].as_str().unwrap();
        let service = row["group"]["service"]
            .as_str()
            .unwrap_or_else(|| panic!("a row per server: {row:#}"));
        let saturation = saturation(db, &by_role, service);
        let want = match name {
            "db-connection-saturation" => saturation,
            "db-memory" => memory[service],
            other => panic!("an SLO of the databases this test does not know: {other}"),
        };
        let got = row["value"].as_f64().unwrap();
        assert!(
            (got - want).abs() <= 1e-9 * want.abs().max(1.0),
            "{name} {service}: {got} vs {want}"
        );
        assert_eq!(row["status"], "pass", "{row:#}");
        seen.push(format!("{name}/{service}"));
    }
    seen.sort();
    assert_eq!(
        seen,
        [
            "db-connection-saturation/mes-db",
            "db-connection-saturation/shop-db",
            "db-memory/mes-db",
            "db-memory/shop-db"
        ],
        "{doc:#}"
    );
    let s = vitals(&["status", "--at", &at, "--format", "json"])
        .prometheus(&db.prom.url)
        .run();
    let doc = s.json();
    for service in SERVICES {
        let row = doc["components"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == service)
            .unwrap_or_else(|| panic!("no {service} row: {doc:#}"));
        let conns = row["signals"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == "conns")
            .unwrap();
        let saturation = saturation(db, &by_role, service);
        assert_eq!(conns["value"].as_f64(), Some(saturation), "{row:#}");
        assert_eq!(row["status"], "ok", "{row:#}");
        assert_eq!(row["slos"]["status"], "pass", "{row:#}");
    }
    Ok(())
}

/// A database that goes down while its exporter keeps answering: the server's status row is
/// DOWN and says why (pg_up = 0), and its SLOs are inconclusive (exit 3), never passing.
/// (A server of its own: stopping a shared one would take the other tests' truth.)
pub fn a_database_that_goes_down_is_named_and_its_slos_are_inconclusive() -> TestResult {
    use crate::support::postgres::{
        pg_user, postgres, postgres_exporter, required, scratch_dir, stop_postgres, wait_for,
    };
    required()?;
    crate::support::prometheus::require_binaries()?;
    let user = pg_user();
    let dir = scratch_dir("dbdown").unwrap();
    let port = postgres(&dir, "shop-db", user).unwrap();
    let exporter = postgres_exporter(&dir, "shop-db", port).unwrap();
    let prom = crate::support::prometheus::Prometheus::start(crate::support::prometheus::Spec {
        config: format!(
            "scrape_configs:\n  - job_name: postgres\n    static_configs:\n      - targets: ['127.0.0.1:{exporter}']\n        labels: {{service: 'shop-db'}}\n"
        ),
        // Not shorter: with its server down, the exporter takes a second to answer (it
        // retries the connection), and a scrape may not outlast the interval.
        interval: Some("3s"),
        ..Default::default()
    })?;
    let pg_up = || crate::support::prometheus::value_now(prom.port, "pg_up{service=\"shop-db\"}");
    wait_for("pg_up = 1", std::time::Duration::from_secs(30), || {
        pg_up() == Some(1.0)
    })
    .unwrap();
    let status = || crate::support::status_row(&prom.url, "shop-db");
    // (status, reason) of each server's row of the saturation SLO, and the exit code.
    let check = || {
        let r = vitals(&[
            "check",
            "--slo",
            "db-connection-saturation",
            "--format",
            "json",
        ])
        .prometheus(&prom.url)
        .run();
        let rows: BTreeMap<String, (String, String)> = r.json()["slos"]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| {
                (
                    row["group"]["service"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    (
                        row["status"].as_str().unwrap().to_string(),
                        row["reason"].as_str().unwrap().to_string(),
                    ),
                )
            })
            .collect();
        (r.code, rows)
    };
    // This Prometheus scrapes shop-db only. mes-db, which the SLO's query names (its
    // `db` param lists the site's databases), is a row of its own without data: the SLO
    // is undecided (exit 3), never passed on the one server that reports.
    // The exporter's first scrapes may lack the settings; then shop-db's row passes.
    wait_for(
        "shop-db's saturation row to pass",
        std::time::Duration::from_secs(30),
        || check().1.get("shop-db").is_some_and(|(s, _)| s == "pass"),
    )
    .unwrap();
    let (code, rows) = check();
    assert_eq!(code, 3, "{rows:?}");
    let (status_, reason) = &rows["mes-db"];
    assert!(
        status_ == "inconclusive" && reason.starts_with("no data: no series for service=mes-db"),
        "{rows:?}"
    );
    let row = status();
    assert_ne!(row["status"], "down", "{row:#}");

    stop_postgres(&dir, "shop-db", user);
    wait_for("pg_up = 0", std::time::Duration::from_secs(30), || {
        pg_up() == Some(0.0)
    })
    .unwrap();
    wait_for(
        "the row to say DOWN",
        std::time::Duration::from_secs(10),
        || status()["status"] == "down",
    )
    .unwrap();
    let row = status();
    assert_eq!(row["status"], "down", "{row:#}");
    assert!(
        row["reasons"].as_array().unwrap().iter().any(|r| r
            .as_str()
            .unwrap()
            .contains("PostgreSQL does not answer its exporter")),
        "{row:#}"
    );
    let (code, rows) = check();
    assert_eq!(code, 3, "{rows:?}");
    assert!(
        rows.values().all(|(s, _)| s == "inconclusive"),
        "no row passes with the server down: {rows:?}"
    );
    Ok(())
}

/// The scrapes of every exporter of one server (postgres_exporter, process-exporter, the
/// host's node_exporter), concatenated, from the URLs Prometheus scrapes.
pub fn exporter_scrapes(db: &RealDb, service: &str) -> String {
    let (_, body) = crate::support::prometheus::http_get(db.prom.port, "/api/v1/targets")
        .expect("Prometheus answers");
    let doc: Value = serde_json::from_str(&body).unwrap();
    let mut out = String::new();
    for t in doc["data"]["activeTargets"].as_array().unwrap() {
        let job = t["labels"]["job"].as_str().unwrap_or_default();
        if t["labels"]["service"] != service || !["postgres", "process", "node"].contains(&job) {
            continue;
        }
        let url = t["scrapeUrl"].as_str().unwrap();
        let rest = url.strip_prefix("http://127.0.0.1:").unwrap();
        let (port, path) = rest.split_once('/').unwrap();
        let (status, text) =
            crate::support::prometheus::http_get(port.parse().unwrap(), &format!("/{path}"))
                .expect("the exporter answers");
        assert_eq!(status, 200, "{url}");
        out.push_str(&format!("# {job} exporter ({url})\n"));
        out.push_str(&text);
    }
    out
}
