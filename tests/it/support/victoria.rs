//! A real VictoriaMetrics for the tests: the Debian `victoria-metrics` binary (single node) on
//! a free loopback port with a scratch storage directory, and `vmalert` from the same package
//! to evaluate rule files against it. Started through the same supervisor as the Prometheus
//! servers ([`super::prometheus::start_supervised`]): killed when the test binary ends, its
//! data removed.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::Skip;
use super::prometheus::{free_port, http_get, start_supervised, which};

pub struct Victoria {
    pub url: String,
    pub port: u16,
    pub dir: PathBuf,
}

/// `Err(Skip)` when VictoriaMetrics is not installed, unless `CI` is set: then it is a
/// failure.
pub fn require_binaries() -> Result<(), Skip> {
    for b in ["victoria-metrics", "vmalert"] {
        if which(b).is_none() {
            if crate::support::in_ci() {
                panic!(
                    "`{b}` is not installed, and CI is set: scripts/test installs the Debian package `victoria-metrics`"
                );
            }
            return Err(Skip(format!(
                "`{b}` not installed (run scripts/test, which installs the Debian package victoria-metrics)"
            )));
        }
    }
    Ok(())
}

impl Victoria {
    pub fn start() -> Result<Victoria, Skip> {
        require_binaries()?;
        let dir = tempfile::Builder::new()
            .prefix("vitals-vm-")
            .tempdir()
            .unwrap()
            .keep();
        for _attempt in 0..5 {
            let port = free_port();
            let log = std::fs::File::create(dir.join("victoria-metrics.log")).unwrap();
            let mut cmd = Command::new("victoria-metrics");
            cmd.arg(format!("-storageDataPath={}", dir.join("data").display()))
                .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
                // The fixture's history is weeks old: keep it (the default is one month).
                .arg("-retentionPeriod=100y")
                // Samples are queryable as soon as they are flushed, not 30 s later.
                .arg("-search.latencyOffset=0")
                // The history is written after the fact (remote write of the past, vmalert's
                // replay): a response cache would answer with what was there before.
                .arg("-search.disableCache")
                // One sample per series and millisecond: a rule replayed twice over the same
                // span does not count its increases twice.
                .arg("-dedup.minScrapeInterval=1ms")
                .arg("-loggerLevel=ERROR")
                .current_dir(&dir)
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log);
            start_supervised(cmd, dir.clone()).expect("spawn victoria-metrics");
            let v = Victoria {
                url: format!("http://127.0.0.1:{port}"),
                port,
                dir: dir.clone(),
            };
            match v.wait_ready(Duration::from_secs(60)) {
                Ok(()) => return Ok(v),
                Err(log) if log.contains("address already in use") => continue,
                Err(log) => panic!("victoria-metrics did not become ready:\n{log}"),
            }
        }
        panic!("no free port for victoria-metrics after 5 attempts");
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("victoria-metrics.log")).unwrap_or_default()
    }

    fn wait_ready(&self, limit: Duration) -> Result<(), String> {
        let t0 = Instant::now();
        while t0.elapsed() < limit {
            if http_get(self.port, "/health").is_some_and(|(s, b)| s == 200 && b.trim() == "OK") {
                return Ok(());
            }
            let log = self.log();
            if log.contains("address already in use") || log.contains("FATAL") {
                return Err(log);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!("timed out after {limit:?}; log:\n{}", self.log()))
    }

    /// Makes every sample written so far visible to queries (VictoriaMetrics buffers writes
    /// for up to a second).
    pub fn flush(&self) {
        let (status, body) =
            http_get(self.port, "/internal/force_flush").expect("victoria-metrics answers");
        assert_eq!(status, 200, "force_flush: {body}");
    }

    /// `vmalert -dryRun`: parses and checks every group and expression of a rule file, and
    /// says what it found (an error, exit non-zero, for a file it would not load).
    pub fn dry_run(rules: &Path) -> Result<String, String> {
        let out = Command::new("vmalert")
            .arg(format!("-rule={}", rules.display()))
            .arg("-dryRun")
            .stdin(Stdio::null())
            .output()
            .expect("run vmalert");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if out.status.success() {
            Ok(text)
        } else {
            Err(text)
        }
    }

    /// Evaluates the rule file's groups over `[from, to]` with `vmalert`'s replay mode (one
    /// range query per rule and chunk of points, at the groups' intervals) and writes the
    /// results back into this server; returns what vmalert said.
    pub fn replay(&self, rules: &Path, from: &str, to: &str) -> String {
        let out = Command::new("vmalert")
            .arg(format!("-rule={}", rules.display()))
            .arg(format!("-datasource.url={}", self.url))
            .arg(format!("-remoteWrite.url={}", self.url))
            .arg(format!("-replay.timeFrom={from}"))
            .arg(format!("-replay.timeTo={to}"))
            // The rules of one group do not read each other's results.
            .arg("-replay.rulesDelay=0")
            .arg("-replay.maxDatapointsPerQuery=10000")
            .arg("-replay.disableProgressBar")
            .arg(format!("-httpListenAddr=127.0.0.1:{}", free_port()))
            .stdin(Stdio::null())
            .output()
            .expect("run vmalert");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "vmalert replay failed:\n{text}");
        self.flush();
        text
    }
}
