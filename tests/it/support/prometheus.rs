//! Real Prometheus servers for the tests: the Debian `prometheus` binary on a free loopback
//! port with a temporary TSDB, optionally backfilled by `promtool` from OpenMetrics files.
//!
//! Every server is registered here and killed when the test binary ends
//! ([`shutdown`]); as a second line of defence each one gets `PR_SET_PDEATHSIG`, from a
//! spawner thread that lives as long as the test process, so a killed test run cannot
//! leave servers behind.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::Skip;

/// A running server. Dropping it stops it and removes its data.
pub struct Prometheus {
    pub url: String,
    pub port: u16,
    pub dir: PathBuf,
    pid: u32,
}

#[derive(Default)]
pub struct Spec {
    /// OpenMetrics files backfilled with `promtool tsdb create-blocks-from openmetrics`.
    pub openmetrics: Vec<PathBuf>,
    /// TSDB block directories (e.g. from `promtool tsdb create-blocks-from rules`) copied
    /// into the data directory before the server starts.
    pub blocks: Vec<PathBuf>,
    /// Extra YAML appended to prometheus.yml (scrape_configs, rule_files).
    pub config: String,
    /// Accept remote write (`/api/v1/write`) with an out-of-order window for history.
    pub remote_write: bool,
    /// Scrape and rule evaluation interval [default: 15s].
    pub interval: Option<&'static str>,
    /// A `--web.config.file` (TLS, basic auth), written to `web.yml` in the server's
    /// directory; Prometheus re-reads it for every connection, so tests may rewrite it.
    pub web_config: Option<String>,
    /// Extra command-line flags (e.g. `--web.route-prefix=/prom`).
    pub args: Vec<String>,
    /// How to tell the server is ready when `/-/ready` over plain HTTP cannot (TLS, auth).
    pub ready: Option<Box<dyn Fn(u16) -> bool + Send + Sync>>,
}

struct Registry {
    children: Vec<(Child, PathBuf)>,
    dirs: Vec<PathBuf>,
    /// Which server each child is, and the test that started it, by process id.
    labels: Vec<(u32, String)>,
    /// The CPU time of each server that has stopped: where a test run's time goes.
    cpu: Vec<(String, f64)>,
}

impl Registry {
    fn push(&mut self, child: Child, dir: PathBuf, program: &std::ffi::OsStr) {
        let program = Path::new(program)
            .file_name()
            .unwrap_or(program)
            .to_string_lossy()
            .into_owned();
        self.labels.push((
            child.id(),
            format!("{program} (started by {})", crate::support::current_test()),
        ));
        self.children.push((child, dir));
    }

    /// Kills a child, noting its CPU time first (read while it runs: a reaped process has
    /// no /proc entry).
    fn stop(&mut self, mut c: Child) {
        if let (Some(cpu), Some(i)) = (
            cpu_seconds(c.id()),
            self.labels.iter().position(|l| l.0 == c.id()),
        ) {
            let label = self.labels.remove(i).1;
            self.cpu.push((label, cpu));
        }
        let _ = c.kill();
        let _ = c.wait();
    }
}

/// User and system CPU seconds of a running process, from /proc/PID/stat.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    let ticks = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (hz > 0).then(|| ticks / hz as f64)
}

/// Prints the `n` servers that used the most CPU, so a run over its time budget says where.
pub fn print_busiest(n: usize) {
    let mut all = registry()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .cpu
        .clone();
    if all.is_empty() {
        return;
    }
    all.sort_by(|a, b| b.1.total_cmp(&a.1));
    let total: f64 = all.iter().map(|c| c.1).sum();
    eprintln!("servers by CPU time ({total:.0} s in all):");
    for (label, cpu) in all.iter().take(n) {
        eprintln!("  {cpu:>7.1} s  {label}");
    }
}

fn registry() -> &'static Mutex<Registry> {
    static R: OnceLock<Mutex<Registry>> = OnceLock::new();
    R.get_or_init(|| {
        Mutex::new(Registry {
            children: Vec::new(),
            dirs: Vec::new(),
            labels: Vec::new(),
            cpu: Vec::new(),
        })
    })
}

type SpawnReq = (Command, mpsc::Sender<std::io::Result<Child>>);

/// Spawns from one long-lived thread: PDEATHSIG fires when the *thread* that forked the
/// child exits, and test threads come and go.
fn spawn_supervised(cmd: Command) -> std::io::Result<Child> {
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<SpawnReq>>> = OnceLock::new();
    let tx = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnReq>();
        std::thread::spawn(move || {
            for (mut cmd, reply) in rx {
                unsafe {
                    cmd.pre_exec(|| {
                        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                        Ok(())
                    });
                }
                let _ = reply.send(cmd.spawn());
            }
        });
        Mutex::new(tx)
    });
    let (rtx, rrx) = mpsc::channel();
    tx.lock()
        .unwrap()
        .send((cmd, rtx))
        .expect("spawner thread alive");
    rrx.recv().expect("spawner replied")
}

/// Starts another server (Alertmanager) as Prometheus servers are started: it dies with the
/// test run, and `dir` is removed at the end.
pub fn start_supervised(cmd: Command, dir: PathBuf) -> std::io::Result<()> {
    let program = cmd.get_program().to_owned();
    let child = spawn_supervised(cmd)?;
    registry().lock().unwrap().push(child, dir, &program);
    Ok(())
}

/// Removes `dir` when the test run ends, with the servers' directories.
pub fn remove_at_end(dir: PathBuf) {
    registry().lock().unwrap().dirs.push(dir);
}

/// Stops every server this run started and removes their data directories.
pub fn shutdown() {
    let mut r = registry().lock().unwrap();
    let children: Vec<(Child, PathBuf)> = r.children.drain(..).collect();
    for (c, dir) in children {
        r.stop(c);
        let _ = std::fs::remove_dir_all(dir);
    }
    for dir in r.dirs.drain(..) {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// Path of a binary on PATH.
pub fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    })
}

/// `Err(Skip)` when Prometheus is not installed, unless `CI` is set: then it is a failure.
pub fn require_binaries() -> Result<(), Skip> {
    for b in ["prometheus", "promtool"] {
        if which(b).is_none() {
            if crate::support::in_ci() {
                panic!(
                    "`{b}` is not installed, and CI is set: scripts/test installs the Debian package `prometheus`"
                );
            }
            return Err(Skip(format!(
                "`{b}` not installed (run scripts/test, which installs it)"
            )));
        }
    }
    Ok(())
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// Runs `promtool tsdb create-blocks-from openmetrics` into `data`.
pub fn backfill(file: &Path, data: &Path) {
    let out = Command::new("promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(file)
        .arg(data)
        .output()
        .expect("run promtool");
    assert!(
        out.status.success(),
        "promtool backfill of {} failed:\n{}\n{}",
        file.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Prometheus {
    pub fn start(spec: Spec) -> Result<Prometheus, Skip> {
        require_binaries()?;
        let dir = tempfile::Builder::new()
            .prefix("vitals-prom-")
            .tempdir()
            .unwrap()
            .keep();
        let data = dir.join("data");
        std::fs::create_dir_all(&data).unwrap();
        for f in &spec.openmetrics {
            backfill(f, &data);
        }
        for b in &spec.blocks {
            copy_dir(b, &data.join(b.file_name().expect("a block directory")));
        }
        let every = spec.interval.unwrap_or("15s");
        let mut config =
            format!("global:\n  scrape_interval: {every}\n  evaluation_interval: {every}\n");
        // For profiling a run: VITALS_TEST_QUERY_LOG=DIR keeps every server's query log
        // (with its statistics) as DIR/<started by>-<data directory>.log.
        if let Some(logs) = std::env::var_os("VITALS_TEST_QUERY_LOG") {
            let tmp = dir.file_name().unwrap_or_default().to_string_lossy();
            let name = format!("{}-{tmp}.log", crate::support::current_test());
            let path = Path::new(&logs).join(name.replace("::", "."));
            config.push_str(&format!("  query_log_file: {}\n", path.display()));
        }
        if spec.remote_write {
            config.push_str("storage:\n  tsdb:\n    out_of_order_time_window: 30d\n");
        }
        config.push_str(&spec.config);
        std::fs::write(dir.join("prometheus.yml"), config).unwrap();
        if let Some(web) = &spec.web_config {
            std::fs::write(dir.join("web.yml"), web).unwrap();
        }

        for _attempt in 0..5 {
            let port = free_port();
            let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
            let mut cmd = Command::new("prometheus");
            cmd.arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--storage.tsdb.retention.time=3650d")
            // Keep every sample in the head: a fixture pushed by remote write is otherwise
            // compacted into 2-hour blocks while tests query it, and Prometheus 2.42 then
            // answered a rate over the oldest hours off by an event or two now and then.
            .arg("--storage.tsdb.min-block-duration=60d")
            .arg("--storage.tsdb.max-block-duration=60d")
            .arg("--web.enable-lifecycle")
            .arg("--log.level=warn")
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
            if spec.remote_write {
                cmd.arg("--web.enable-remote-write-receiver");
            }
            if spec.web_config.is_some() {
                cmd.arg(format!(
                    "--web.config.file={}",
                    dir.join("web.yml").display()
                ));
            }
            cmd.args(&spec.args);
            let program = cmd.get_program().to_owned();
            let child = spawn_supervised(cmd).expect("spawn prometheus");
            let pid = child.id();
            registry()
                .lock()
                .unwrap()
                .push(child, dir.clone(), &program);
            let p = Prometheus {
                url: format!("http://127.0.0.1:{port}"),
                port,
                dir: dir.clone(),
                pid,
            };
            match p.wait_ready(Duration::from_secs(60), spec.ready.as_deref()) {
                Ok(()) => return Ok(p),
                Err(log) if log.contains("address already in use") => {
                    p.kill();
                    continue;
                }
                Err(log) => {
                    p.kill();
                    panic!("prometheus did not become ready:\n{log}");
                }
            }
        }
        panic!("no free port for prometheus after 5 attempts");
    }

    fn alive(&self) -> bool {
        let mut r = registry().lock().unwrap();
        r.children
            .iter_mut()
            .find(|(c, _)| c.id() == self.pid)
            .is_some_and(|(c, _)| matches!(c.try_wait(), Ok(None)))
    }

    fn wait_ready(
        &self,
        limit: Duration,
        probe: Option<&(dyn Fn(u16) -> bool + Send + Sync)>,
    ) -> Result<(), String> {
        let t0 = Instant::now();
        while t0.elapsed() < limit {
            if !self.alive() {
                return Err(
                    std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default()
                );
            }
            let ready = match probe {
                Some(p) => p(self.port),
                None => http_get(self.port, "/-/ready").is_some_and(|(s, _)| s == 200),
            };
            if ready {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!(
            "timed out after {limit:?}; log:\n{}",
            std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default()
        ))
    }

    /// Stops the server (its data stays until drop).
    pub fn stop(&self) {
        self.kill();
    }

    fn kill(&self) {
        let mut r = registry().lock().unwrap();
        if let Some(i) = r.children.iter().position(|(c, _)| c.id() == self.pid) {
            let (c, _) = r.children.remove(i);
            r.stop(c);
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A minimal HTTP/1.0 GET over loopback (no client library needed for readiness checks).
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    http_exchange(
        port,
        &format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"),
    )
}

/// POSTs a JSON body; the status and the body of the reply.
pub fn http_post_json(port: u16, path: &str, body: &str) -> Option<(u16, String)> {
    http_exchange(
        port,
        &format!(
            "POST {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    )
}

/// Sends one request over loopback and reads the reply to its end: its status and body.
fn http_exchange(port: u16, request: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(120))).ok()?;
    s.write_all(request.as_bytes()).ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf).to_string();
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|x| x.1.to_string())
        .unwrap_or_default();
    Some((status, body))
}

/// Percent-encodes a query parameter.
pub fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Runs raw PromQL at an instant (RFC 3339 or Unix seconds) through the HTTP API: for tests
/// that compare a hand-written expression with what vitals computes.
pub fn instant_query(port: u16, promql: &str, time: &str) -> serde_json::Value {
    let (status, body) = http_get(
        port,
        &format!("/api/v1/query?query={}&time={}", enc(promql), enc(time)),
    )
    .expect("Prometheus answers");
    assert_eq!(status, 200, "{promql}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// The value of a one-series query now (to the millisecond), `None` while it has none.
pub fn value_now(port: u16, promql: &str) -> Option<f64> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let v = instant_query(port, promql, &format!("{now:.3}"));
    v["data"]["result"][0]["value"][1]
        .as_str()
        .and_then(|s| s.parse().ok())
}

/// The single value of an instant query that returns one series.
pub fn instant_value(port: u16, promql: &str, time: &str) -> f64 {
    let v = instant_query(port, promql, time);
    v["data"]["result"][0]["value"][1]
        .as_str()
        .unwrap_or_else(|| panic!("{promql}: no single value in {v}"))
        .parse()
        .unwrap()
}
