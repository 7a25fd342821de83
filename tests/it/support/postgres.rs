//! The real database stack, started once per test run and shared: two PostgreSQL 15
//! servers (`shop-db` with database `shop`, `mes-db` with `mes`; `pg_stat_statements`
//! preloaded), a `prometheus-postgres-exporter` per server with the contract's extension
//! queries (deploy/postgres_exporter/queries.yaml), a `prometheus-process-exporter` per
//! server (its postgres processes, by cluster name), one `prometheus-node-exporter`
//! (diskstats), `vitals-sim drive --postgres` (the scenario, the truth and the applications'
//! client histogram), and a Prometheus scraping all of them every 5 s. Everything listens on
//! loopback and is stopped when the test binary ends.
//!
//! PostgreSQL refuses to run as root: under root the servers run as the `postgres` user of
//! the Debian package.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::Skip;
use super::prometheus::{Prometheus, Spec, free_port, remove_at_end, start_supervised, which};

/// Where Debian installs PostgreSQL 15's server binaries.
const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

/// The scrape interval of the stack.
pub const SCRAPE_S: f64 = 5.0;

pub struct RealDb {
    pub prom: Prometheus,
    /// The driver's truth (`vitals-sim drive --postgres ... --truth`: its `postgres` part).
    pub truth: Value,
    /// `service` -> PostgreSQL port.
    pub servers: Vec<(String, u16)>,
    /// An instant after the scenario by which every target has been scraped twice since
    /// the held connections were open (unix seconds).
    pub at: f64,
}

impl RealDb {
    /// A window that reaches back from `at` to a scrape before the scenario (and after the
    /// set-up, which ended a settle time of 12 s before it), in whole seconds.
    pub fn window_s(&self) -> u64 {
        let started = self.truth["started"].as_f64().unwrap();
        (self.at - started + SCRAPE_S + 2.0).ceil() as u64
    }

    /// `psql -At -c SQL` on a server, as its superuser.
    pub fn psql(&self, service: &str, db: &str, sql: &str) -> String {
        let port = self.servers.iter().find(|(s, _)| s == service).unwrap().1;
        let out = Command::new(format!("{PG_BIN}/psql"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-U",
                "postgres",
                "-d",
                db,
            ])
            .args(["-At", "-c", sql])
            .output()
            .expect("psql");
        assert!(
            out.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

pub fn required() -> Result<(), Skip> {
    let pg = Path::new(PG_BIN).join("postgres");
    let missing: Vec<String> = [
        "prometheus-postgres-exporter",
        "prometheus-process-exporter",
        "prometheus-node-exporter",
    ]
    .iter()
    .filter(|b| which(b).is_none())
    .map(|b| b.to_string())
    .chain((!pg.is_file()).then(|| pg.display().to_string()))
    .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let msg = format!(
        "not installed: {} (scripts/test installs postgresql-15, prometheus-postgres-exporter, prometheus-process-exporter, prometheus-node-exporter)",
        missing.join(", ")
    );
    if super::in_ci() {
        panic!("{msg}, and CI is set");
    }
    Err(Skip(msg))
}

/// The uid and gid to run PostgreSQL as: `postgres` under root, else ourselves.
pub fn pg_user() -> Option<(u32, u32)> {
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let id = |flag: &str| -> u32 {
        let out = Command::new("id")
            .args([flag, "postgres"])
            .output()
            .expect("id");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("a postgres user (Debian's postgresql package creates it)")
    };
    Some((id("-u"), id("-g")))
}

fn as_pg(mut cmd: Command, user: Option<(u32, u32)>) -> Command {
    if let Some((uid, gid)) = user {
        cmd.uid(uid).gid(gid);
    }
    cmd
}

fn now_s() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

pub fn wait_for(
    what: &str,
    timeout: Duration,
    mut ready: impl FnMut() -> bool,
) -> Result<(), String> {
    let t = Instant::now();
    while t.elapsed() < timeout {
        if ready() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Err(format!("{what} not ready after {timeout:?}"))
}

fn http_ok(port: u16, path: &str) -> bool {
    super::prometheus::http_get(port, path).is_some_and(|(code, _)| code == 200)
}

/// One PostgreSQL server in `dir`, on a free port.
pub fn postgres(dir: &Path, service: &str, user: Option<(u32, u32)>) -> Result<u16, String> {
    let data = dir.join(service);
    std::fs::create_dir_all(&data).map_err(|e| e.to_string())?;
    if let Some((uid, gid)) = user {
        std::os::unix::fs::chown(&data, Some(uid), Some(gid)).map_err(|e| e.to_string())?;
    }
    let out = as_pg(Command::new(format!("{PG_BIN}/initdb")), user)
        .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
        .arg(&data)
        .output()
        .map_err(|e| format!("initdb: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "initdb {service}: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let port = free_port();
    let log =
        std::fs::File::create(dir.join(format!("{service}.log"))).map_err(|e| e.to_string())?;
    let mut cmd = as_pg(Command::new(format!("{PG_BIN}/postgres")), user);
    cmd.arg("-D")
        .arg(&data)
        .args(["-p", &port.to_string()])
        .args(["-c", "listen_addresses=127.0.0.1"])
        .args(["-c", "unix_socket_directories="])
        .args(["-c", "shared_preload_libraries=pg_stat_statements"])
        .args(["-c", &format!("cluster_name={service}")])
        .args(["-c", "fsync=off"])
        .stdout(Stdio::null())
        .stderr(log);
    start_supervised(cmd, PathBuf::new()).map_err(|e| format!("postgres: {e}"))?;
    wait_for(
        &format!("PostgreSQL {service}"),
        Duration::from_secs(30),
        || {
            Command::new(format!("{PG_BIN}/pg_isready"))
                .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-q"])
                .status()
                .is_ok_and(|s| s.success())
        },
    )?;
    Ok(port)
}

pub fn exporter(mut cmd: Command, dir: &Path, name: &str) -> Result<u16, String> {
    let port = free_port();
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).map_err(|e| e.to_string())?;
    cmd.arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(log);
    start_supervised(cmd, PathBuf::new()).map_err(|e| format!("{name}: {e}"))?;
    wait_for(name, Duration::from_secs(20), || http_ok(port, "/metrics"))?;
    Ok(port)
}

/// Stops the server of `service` in `dir` at once (`pg_ctl stop -m immediate`), as a crash
/// would.
pub fn stop_postgres(dir: &Path, service: &str, user: Option<(u32, u32)>) {
    let out = as_pg(Command::new(format!("{PG_BIN}/pg_ctl")), user)
        .args(["stop", "-m", "immediate", "-D"])
        .arg(dir.join(service))
        .output()
        .expect("pg_ctl");
    assert!(
        out.status.success(),
        "pg_ctl stop {service}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A postgres_exporter of the contract for the server on `port`.
pub fn postgres_exporter(dir: &Path, service: &str, port: u16) -> Result<u16, String> {
    let queries = crate::support::repo().join("deploy/postgres_exporter/queries.yaml");
    let mut c = Command::new("prometheus-postgres-exporter");
    c.env(
        "DATA_SOURCE_NAME",
        format!("postgresql://postgres@127.0.0.1:{port}/postgres?sslmode=disable"),
    )
    .arg(format!("--extend.query-path={}", queries.display()));
    exporter(c, dir, &format!("postgres-exporter-{service}"))
}

/// A scratch directory the postgres user can enter, removed at the end of the run.
pub fn scratch_dir(name: &str) -> Result<PathBuf, String> {
    let dir = std::env::temp_dir().join(format!("vitals-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .map_err(|e| e.to_string())?;
    remove_at_end(dir.clone());
    Ok(dir)
}

fn start() -> Result<RealDb, String> {
    let user = pg_user();
    let dir = scratch_dir("realdb")?;
    let mut servers = Vec::new();
    let mut scrape = String::from("scrape_configs:\n");
    let mut pg_targets = String::new();
    let mut proc_targets = String::new();
    let mut node_targets = String::new();
    let node = exporter(
        {
            let mut c = Command::new("prometheus-node-exporter");
            c.args(["--collector.disable-defaults", "--collector.diskstats"]);
            c
        },
        &dir,
        "node-exporter",
    )?;
    for (service, _db) in [("shop-db", "shop"), ("mes-db", "mes")] {
        let port = postgres(&dir, service, user)?;
        let pe = postgres_exporter(&dir, service, port)?;
        // process-exporter: this cluster's processes (their titles carry cluster_name).
        let cfg = dir.join(format!("process-{service}.yml"));
        std::fs::write(
            &cfg,
            format!(
                "process_names:\n  - name: postgres\n    comm: [postgres]\n    cmdline: ['{service}']\n"
            ),
        )
        .map_err(|e| e.to_string())?;
        let mut c = Command::new("prometheus-process-exporter");
        c.arg(format!("-config.path={}", cfg.display()));
        // process-exporter spells its flags with one dash.
        let pp = {
            let port = free_port();
            let log = std::fs::File::create(dir.join(format!("process-exporter-{service}.log")))
                .map_err(|e| e.to_string())?;
            c.arg(format!("-web.listen-address=127.0.0.1:{port}"))
                .stdout(Stdio::null())
                .stderr(log);
            start_supervised(c, PathBuf::new()).map_err(|e| e.to_string())?;
            wait_for("process-exporter", Duration::from_secs(20), || {
                http_ok(port, "/metrics")
            })?;
            port
        };
        let label = format!("labels: {{service: '{service}'}}");
        pg_targets.push_str(&format!(
            "      - targets: ['127.0.0.1:{pe}']\n        {label}\n"
        ));
        proc_targets.push_str(&format!(
            "      - targets: ['127.0.0.1:{pp}']\n        {label}\n"
        ));
        // One host: the node exporter's disks are both servers' disks.
        node_targets.push_str(&format!(
            "      - targets: ['127.0.0.1:{node}']\n        {label}\n"
        ));
        servers.push((service.to_string(), port));
    }

    // The driver: set-up, the scenario, then the held connections.
    let truth_path = dir.join("truth.json");
    let driver_port = free_port();
    let mut c = Command::new(crate::support::sim_binary());
    c.arg("drive");
    for ((service, port), db) in servers.iter().zip(["shop", "mes"]) {
        c.arg("--postgres").arg(format!(
            "{service}={db}=host=127.0.0.1 port={port} user=postgres"
        ));
    }
    c.arg("--truth")
        .arg(&truth_path)
        .arg(format!("--listen=127.0.0.1:{driver_port}"))
        .args(["--settle", "12s", "--hold", "30m"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("driver.log")).map_err(|e| e.to_string())?);

    for (job, targets) in [
        ("postgres", &pg_targets),
        ("process", &proc_targets),
        ("node", &node_targets),
    ] {
        scrape.push_str(&format!(
            "  - job_name: {job}\n    static_configs:\n{targets}"
        ));
    }
    scrape.push_str(&format!(
        "  - job_name: db-clients\n    honor_labels: true\n    static_configs:\n      - targets: ['127.0.0.1:{driver_port}']\n"
    ));
    let prom = Prometheus::start(Spec {
        config: scrape,
        interval: Some("5s"),
        ..Spec::default()
    })
    .map_err(|s| s.0)?;
    // Prometheus scrapes the servers before the driver sets them up and while it settles.
    start_supervised(c, PathBuf::new()).map_err(|e| format!("driver: {e}"))?;
    wait_for("the driver's scenario", Duration::from_secs(120), || {
        truth_path.is_file()
    })
    .map_err(|e| {
        format!(
            "{e}: {}",
            std::fs::read_to_string(dir.join("driver.log")).unwrap_or_default()
        )
    })?;
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(&truth_path).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    let truth = doc["postgres"].clone();
    if !truth.is_object() {
        return Err(format!("no postgres truth in {doc}"));
    }
    // Scrapes of every target after the connections were held (backends flush their
    // statistics when they end, and the scenario's connections have ended by then).
    // The wait also makes the windows of the counter tests long against the scrape
    // interval, which keeps their extrapolation bounds tight (within 1.25x).
    let since = truth["holding_since"].as_f64().unwrap();
    let wait = 8.0 * SCRAPE_S;
    std::thread::sleep(Duration::from_secs_f64(
        (since + wait + 0.5 - now_s()).max(0.0),
    ));
    let at = since + wait;
    Ok(RealDb {
        prom,
        truth,
        servers,
        at,
    })
}

/// The shared stack, or why it cannot run here.
pub fn real_db() -> Result<&'static RealDb, Skip> {
    required()?;
    super::prometheus::require_binaries()?;
    static DB: OnceLock<Result<RealDb, String>> = OnceLock::new();
    match DB.get_or_init(start) {
        Ok(db) => Ok(db),
        Err(e) => panic!("the real database stack did not start: {e}"),
    }
}
