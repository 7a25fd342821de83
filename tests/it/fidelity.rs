//! Simulator fidelity: the series `vitals-sim` serves for the broker and a database server,
//! compared object by object with what the real exporters serve under the same topology
//! (the RabbitMQ node `real.rs` drives, the PostgreSQL stack of `realdb.rs`).
//!
//! For every family the simulator serves for a target:
//! - the real exporter serves it too, with the same type;
//! - its label names are the same;
//! - for the exporters' fixed grids (a series per queue, per database and state, per
//!   queue type and dead-letter strategy) the same series exist: the same objects, no more,
//!   no fewer. Identifiers that only the real thing has (channel pids, `server` host:port,
//!   `datid`, disk device names) are compared as `*`.
//!
//! Rows of the exporters' GROUP BY queries (connections by role, statements by command)
//! exist only while there is something to count, so for those only the label names are
//! compared. Where the simulator cannot match (a series the real broker serves only for a
//! few seconds after a publish), the test names the family and the reason.
//!
//! Also: every family the catalog (`queries/*.toml`) reads that the real exporter serves is
//! simulated, so no catalog query is tested on the simulator against a series it does not
//! have.
//!
//! The real scrapes are kept in `tests/fixtures/real/` next to the simulator's (set
//! `VITALS_WRITE_REAL_FIXTURE=1` to rewrite them), and
//! `the_kept_real_scrapes_match_the_simulator` runs the same comparison on them without
//! any real server.

use std::collections::{BTreeMap, BTreeSet};

use crate::support::omcheck::parse_labels;
use crate::support::prometheus::http_get;
use crate::support::{TestResult, repo};

/// One family's type and series (label sets, values normalised where noted).
#[derive(Debug, Default, Clone)]
pub struct Family {
    pub kind: String,
    pub series: BTreeSet<Vec<(String, String)>>,
}

pub type Shape = BTreeMap<String, Family>;

/// Labels whose values identify a process, a connection or a disk of one machine.
const OPAQUE: [&str; 4] = ["channel", "server", "datid", "device"];

/// Labels Prometheus adds at scrape time; the exporters do not serve them.
const TARGET_LABELS: [&str; 3] = ["instance", "job", "service"];

/// The sample name's family in a text exposition: counters' `_total`, histograms'
/// `_bucket`/`_sum`/`_count` belong to the `# TYPE` name.
fn family_of<'a>(sample: &'a str, types: &BTreeMap<String, String>) -> (&'a str, String) {
    for suffix in ["", "_total", "_bucket", "_sum", "_count", "_created"] {
        if let Some(base) = sample.strip_suffix(suffix)
            && let Some(t) = types.get(base)
        {
            return (sample, t.clone());
        }
    }
    (sample, "untyped".into())
}

/// The shape of an exposition (text format 0.0.4 or OpenMetrics without timestamps).
pub fn shape(text: &str) -> Shape {
    let mut types = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut it = rest.split_whitespace();
            if let (Some(n), Some(t)) = (it.next(), it.next()) {
                types.insert(n.to_string(), t.to_string());
            }
        }
    }
    let mut out = Shape::new();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let (name, labels) = match line.find('{') {
            Some(open) if !line[..open].contains(' ') => {
                let close = line.rfind('}').expect("a closing brace");
                let labels = parse_labels(&line[open + 1..close]).expect("labels");
                (&line[..open], labels)
            }
            _ => (line.split_whitespace().next().unwrap(), Vec::new()),
        };
        let (name, kind) = family_of(name, &types);
        let mut labels: Vec<(String, String)> = labels
            .into_iter()
            .filter(|(k, _)| !TARGET_LABELS.contains(&k.as_str()))
            .map(|(k, v)| {
                let v = if OPAQUE.contains(&k.as_str()) {
                    "*".to_string()
                } else {
                    v
                };
                (k, v)
            })
            .collect();
        labels.sort();
        let f = out.entry(name.to_string()).or_default();
        f.kind = kind;
        f.series.insert(labels);
    }
    out
}

/// How one exporter is compared.
pub struct Rules {
    /// What is compared, for the messages.
    pub what: &'static str,
    /// Families whose rows exist only while there is something to count: label names only.
    pub sparse: &'static [(&'static str, &'static str)],
    /// Families the simulator serves that the real scrape may lack, with the reason.
    pub transient: &'static [(&'static str, &'static str)],
    /// Families whose type the simulator cannot give, with the reason.
    pub retyped: &'static [(&'static str, &'static str)],
    /// Metric name prefixes of this exporter (for the catalog's coverage).
    pub prefixes: &'static [&'static str],
}

fn label_names(f: &Family) -> BTreeSet<Vec<String>> {
    f.series
        .iter()
        .map(|s| s.iter().map(|(k, _)| k.clone()).collect())
        .collect()
}

fn show(s: &[(String, String)]) -> String {
    let inner: Vec<String> = s.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    format!("{{{}}}", inner.join(","))
}

/// The metric names the catalog's PromQL mentions.
fn catalog_names() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for entry in std::fs::read_dir(repo().join("queries")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let mut word = String::new();
        for c in text.chars().chain(std::iter::once(' ')) {
            if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
                word.push(c);
            } else {
                if !word.is_empty() {
                    out.insert(std::mem::take(&mut word));
                }
                word.clear();
            }
        }
    }
    out
}

/// Every difference between the simulator's shape and the real one, under `rules`.
pub fn differences(sim: &Shape, real: &Shape, rules: &Rules) -> Vec<String> {
    let mut out = Vec::new();
    for (name, s) in sim {
        let transient = rules.transient.iter().find(|(n, _)| n == name);
        let Some(r) = real.get(name) else {
            if transient.is_none() {
                out.push(format!(
                    "{name}: served by the simulator, not by the real exporter"
                ));
            }
            continue;
        };
        if s.kind != r.kind && !rules.retyped.iter().any(|(n, _)| n == name) {
            out.push(format!(
                "{name}: type {} in the simulator, {} in the real exporter",
                s.kind, r.kind
            ));
        }
        let (sn, rn) = (label_names(s), label_names(r));
        if sn != rn {
            out.push(format!(
                "{name}: label names {sn:?} in the simulator, {rn:?} in the real exporter"
            ));
            continue;
        }
        if rules.sparse.iter().any(|(n, _)| n == name) || transient.is_some() {
            continue;
        }
        for extra in s.series.difference(&r.series) {
            out.push(format!(
                "{name}{}: only in the simulator",
                show(extra.as_slice())
            ));
        }
        for missing in r.series.difference(&s.series) {
            out.push(format!(
                "{name}{}: only in the real exporter",
                show(missing.as_slice())
            ));
        }
    }
    for name in catalog_names() {
        let ours = rules.prefixes.iter().any(|p| name.starts_with(p));
        if ours && real.contains_key(&name) && !sim.contains_key(&name) {
            out.push(format!(
                "{name}: read by the catalog and served by the real exporter, not simulated"
            ));
        }
    }
    out
}

pub fn assert_same(sim: &Shape, real: &Shape, rules: &Rules) {
    let d = differences(sim, real, rules);
    assert!(
        d.is_empty(),
        "{}: the simulator differs from the real exporter in {} place(s):\n  {}",
        rules.what,
        d.len(),
        d.join("\n  ")
    );
}

pub const RABBITMQ: Rules = Rules {
    what: "RabbitMQ 3.10 /metrics/per-object",
    sparse: &[],
    transient: &[(
        "rabbitmq_queue_messages_published_total",
        "per channel: born with a channel's first publish and gone a few seconds after a burst (docs/catalog.md)",
    )],
    retyped: &[],
    prefixes: &["rabbitmq_"],
};

pub const POSTGRES: Rules = Rules {
    what: "postgres_exporter 0.11 (contract queries), process-exporter, node_exporter",
    sparse: &[
        (
            "pg_stat_activity_by_user_count",
            "GROUP BY datname, usename, state: a row per combination that has connections",
        ),
        (
            "pg_stat_statements_by_command_calls_total",
            "GROUP BY user, datname, command: a row after the first statement of each",
        ),
        (
            "pg_stat_statements_by_command_seconds_total",
            "the same rows as the calls",
        ),
    ],
    transient: &[],
    retyped: &[
        (
            "pg_stat_database_xact_rollback",
            "a counter without `_total`: OpenMetrics (the simulator's histories) cannot say so, the simulator types it unknown; Prometheus' queries do not read types",
        ),
        ("pg_stat_database_deadlocks", "the same"),
    ],
    prefixes: &["pg_", "namedprocess_", "node_disk_"],
};

/// The simulator's exposition of one target of the reference site, served live.
pub fn simulated(instance: &str) -> String {
    let serve = crate::sim::Serve::start(&[
        "--scenario",
        "normal-week",
        "--length",
        "1h",
        "--interval",
        "60s",
    ]);
    let (status, body) = http_get(serve.port, &format!("/metrics/{instance}")).unwrap();
    assert_eq!(status, 200, "vitals-sim serve /metrics/{instance}: {body}");
    body
}

fn fixture(name: &str) -> std::path::PathBuf {
    repo().join("tests/fixtures/real").join(name)
}

fn keep(name: &str, text: &str) {
    if std::env::var_os("VITALS_WRITE_REAL_FIXTURE").is_some() {
        std::fs::write(fixture(name), text).unwrap();
    }
}

/// The real broker after the driven scenario, live.
pub fn the_simulated_broker_has_the_real_brokers_series_object_by_object() -> TestResult {
    let d = crate::real::driven()?;
    let (status, real) =
        http_get(d.broker_port, "/metrics/per-object").expect("the broker answers");
    assert_eq!(status, 200);
    let sim = simulated("rabbitmq-1");
    keep("rabbitmq-3.10-per-object.prom", &real);
    keep("sim-rabbitmq.prom", &sim);
    assert_same(&shape(&sim), &shape(&real), &RABBITMQ);
    Ok(())
}

/// The real database server `shop-db` (its three exporters together), live.
pub fn the_simulated_database_has_the_real_exporters_series_object_by_object() -> TestResult {
    let db = crate::support::postgres::real_db()?;
    let real = crate::realdb::exporter_scrapes(db, "shop-db");
    let sim = simulated("shop-db-1");
    keep("postgres-15-exporters.prom", &real);
    keep("sim-postgres.prom", &sim);
    assert_same(&shape(&sim), &shape(&real), &POSTGRES);
    Ok(())
}

/// The kept real scrapes against the simulator as it is now: no real server needed.
pub fn the_kept_real_scrapes_match_the_simulator() -> TestResult {
    for (real, instance, rules) in [
        ("rabbitmq-3.10-per-object.prom", "rabbitmq-1", &RABBITMQ),
        ("postgres-15-exporters.prom", "shop-db-1", &POSTGRES),
    ] {
        let text = std::fs::read_to_string(fixture(real)).unwrap();
        assert_same(&shape(&simulated(instance)), &shape(&text), rules);
    }
    Ok(())
}
