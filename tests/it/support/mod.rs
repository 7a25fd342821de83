//! Test support: running the `vitals` binary, real Prometheus servers, fixtures and a
//! fault-injecting HTTP server.

pub mod fixture;
pub mod mock;
pub mod omcheck;
pub mod postgres;
pub mod prometheus;
pub mod proxy;
pub mod rabbitmq;
pub mod schema;
pub mod victoria;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

static DURATIONS: std::sync::Mutex<Vec<(String, std::time::Duration)>> =
    std::sync::Mutex::new(Vec::new());

/// Notes how long a test took (a shared server it started first counts towards it).
pub fn record_duration(name: &str, took: std::time::Duration) {
    DURATIONS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((name.to_string(), took));
}

thread_local! {
    static CURRENT: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// Names the test this thread runs (for the servers it starts).
pub fn set_current_test(name: &str) {
    CURRENT.with(|c| *c.borrow_mut() = name.to_string());
}

/// The test this thread runs, as [`set_current_test`] named it.
pub fn current_test() -> String {
    CURRENT.with(|c| c.borrow().clone())
}

/// Prints the `n` slowest tests, so a run that creeps over its time budget says where.
pub fn print_slowest(n: usize) {
    let mut all = DURATIONS.lock().unwrap_or_else(|e| e.into_inner()).clone();
    if all.is_empty() {
        return;
    }
    all.sort_by_key(|d| std::cmp::Reverse(d.1));
    eprintln!("slowest tests (a shared server counts towards the first test that needs it):");
    for (name, took) in all.iter().take(n) {
        eprintln!("  {:>7.1} s  {name}", took.as_secs_f64());
    }
}

/// Why a test did not run (a missing tool outside CI).
#[derive(Debug)]
pub struct Skip(pub String);

/// What a test returns: `Err(Skip)` to be reported as ignored.
pub type TestResult = Result<(), Skip>;

/// Whether this is a CI run (`CI` set to anything but empty, `0` or `false`): there, a
/// missing tool fails the tests instead of skipping them.
pub fn in_ci() -> bool {
    std::env::var("CI")
        .is_ok_and(|v| !matches!(v.trim().to_ascii_lowercase().as_str(), "" | "0" | "false"))
}

/// The `vitals-sim` binary of the same build. It belongs to the workspace's `vitals-sim`
/// package, so Cargo gives no `CARGO_BIN_EXE_` for it here; it lands beside `vitals`, and
/// `cargo test --workspace` builds it (the sim package has tests of its own).
pub fn sim_binary() -> PathBuf {
    let p = Path::new(env!("CARGO_BIN_EXE_vitals"))
        .with_file_name(format!("vitals-sim{}", std::env::consts::EXE_SUFFIX));
    assert!(
        p.is_file(),
        "{} is missing: run the tests with `cargo test --workspace` (or `cargo build -p vitals-sim` first)",
        p.display()
    );
    p
}

/// The repository's own configuration (queries/, site.toml, slo.toml), checked.
pub fn config() -> vitals::Config {
    let read =
        |f: &str| vitals::diag::Source::new(f, std::fs::read_to_string(repo().join(f)).unwrap());
    let (config, problems) = vitals::Config::load(
        vitals::Catalog::load_dir(&repo().join("queries")),
        Some(&read("site.toml")),
        &read("slo.toml"),
    );
    assert!(
        problems.is_empty(),
        "the shipped configuration has problems: {problems:#?}"
    );
    config
}

pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A finished `vitals` run.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    /// Asserts the exit code, showing the output when it differs.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "unexpected exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

/// Builder for one invocation of the `vitals` binary (`just`-style).
pub struct Vitals {
    cmd: Command,
}

impl Vitals {
    pub fn new(args: &[&str]) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_vitals"));
        cmd.args(args)
            .current_dir(repo())
            .env_remove("VITALS_PROMETHEUS_URL")
            .env_remove("NO_COLOR")
            .stdin(Stdio::null());
        Self { cmd }
    }

    pub fn prometheus(mut self, url: &str) -> Self {
        self.cmd.arg("--prometheus").arg(url);
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.cmd.env(key, value);
        self
    }

    pub fn run(mut self) -> Run {
        let out = self.cmd.output().expect("run vitals");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

pub fn vitals(args: &[&str]) -> Vitals {
    Vitals::new(args)
}

/// A scratch directory removed at drop.
pub fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("vitals-test-")
        .tempdir()
        .unwrap()
}

pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&p, text).unwrap();
    p
}

/// Relative difference, for comparing floats computed two ways.
pub fn rel_diff(a: f64, b: f64) -> f64 {
    if a == b {
        return 0.0;
    }
    (a - b).abs() / a.abs().max(b.abs()).max(1e-12)
}

/// One component's row of `vitals status --format json` against `prometheus_url`, now.
pub fn status_row(prometheus_url: &str, component: &str) -> serde_json::Value {
    let doc = vitals(&["status", "--format", "json"])
        .prometheus(prometheus_url)
        .run()
        .json();
    doc["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == component)
        .cloned()
        .unwrap_or_else(|| panic!("no row {component} in {doc:#}"))
}
