//! A private RabbitMQ node for the tests: the Debian `rabbitmq-server` (3.10) with only the
//! `rabbitmq_prometheus` plugin, its own epmd, every listener on a free loopback port and
//! its data in a scratch directory. Started once per test run and shared; stopped with the
//! other servers at the end ([`super::prometheus::shutdown`]).
//!
//! The Debian package's own service (if the package manager started one) is never used:
//! the node has its own name, ports, Erlang cookie (HOME) and epmd.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::Skip;
use super::prometheus::{free_port, http_get, start_supervised, which};

pub struct RabbitMq {
    /// AMQP URL of the default vhost as guest (allowed on loopback only).
    pub url: String,
    /// The `rabbitmq_prometheus` listener (`/metrics`, `/metrics/per-object`).
    pub prometheus_port: u16,
    /// The node's scratch directory (its pid file, log and data).
    dir: PathBuf,
    server: PathBuf,
    name: String,
    /// AMQP, Erlang distribution and epmd ports.
    ports: (u16, u16, u16),
}

/// The server script itself: `/usr/sbin/rabbitmq-server` is a wrapper that switches to
/// the `rabbitmq` user and the package's own directories.
fn server_binary() -> Option<PathBuf> {
    let debian = Path::new("/usr/lib/rabbitmq/bin/rabbitmq-server");
    if debian.is_file() {
        return Some(debian.to_path_buf());
    }
    which("rabbitmq-server")
}

/// `Err(Skip)` when RabbitMQ is not installed, unless `CI` is set: then it is a failure.
pub fn require_binaries() -> Result<PathBuf, Skip> {
    match (server_binary(), which("epmd")) {
        (Some(s), Some(_)) => Ok(s),
        _ => {
            if super::in_ci() {
                panic!(
                    "`rabbitmq-server` is not installed, and CI is set: scripts/test installs the Debian package `rabbitmq-server`"
                );
            }
            Err(Skip(
                "`rabbitmq-server` not installed (run scripts/test, which installs it)".into(),
            ))
        }
    }
}

/// A node of its own, for a test that stops it.
pub fn private() -> Result<RabbitMq, Skip> {
    let server = require_binaries()?;
    Ok(RabbitMq::start(&server).unwrap_or_else(|e| panic!("{e}")))
}

/// The node shared by every test of this run, started on first use.
pub fn shared() -> Result<&'static RabbitMq, Skip> {
    static NODE: OnceLock<Result<RabbitMq, String>> = OnceLock::new();
    let server = require_binaries()?;
    match NODE.get_or_init(|| RabbitMq::start(&server)) {
        Ok(n) => Ok(n),
        Err(e) => panic!("{e}"),
    }
}

fn port_open(port: u16) -> bool {
    TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(200),
    )
    .is_ok()
}

impl RabbitMq {
    fn start(server: &Path) -> Result<RabbitMq, String> {
        let t0 = Instant::now();
        let dir = tempfile::Builder::new()
            .prefix("vitals-rabbitmq-")
            .tempdir()
            .map_err(|e| e.to_string())?
            .keep();
        for d in ["mnesia", "log", "home"] {
            std::fs::create_dir_all(dir.join(d)).map_err(|e| e.to_string())?;
        }
        let (amqp, prom, dist, epmd) = (free_port(), free_port(), free_port(), free_port());
        std::fs::write(
            dir.join("rabbitmq.conf"),
            format!(
                "listeners.tcp.default = 127.0.0.1:{amqp}\nprometheus.tcp.port = {prom}\nprometheus.tcp.ip = 127.0.0.1\nlog.console = false\nlog.file.level = info\n"
            ),
        )
        .map_err(|e| e.to_string())?;
        std::fs::write(dir.join("enabled_plugins"), "[rabbitmq_prometheus].\n")
            .map_err(|e| e.to_string())?;
        let node = format!("vitals-test-{}-{amqp}@localhost", std::process::id());

        // Our own epmd, in the foreground, so it is a supervised child that ends with us
        // (a node would otherwise start a daemon epmd that outlives the tests).
        let mut e = Command::new("epmd");
        e.args(["-port", &epmd.to_string(), "-address", "127.0.0.1"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        start_supervised(e, dir.join("epmd-unused")).map_err(|e| format!("epmd: {e}"))?;
        let t_epmd = Instant::now();
        while !port_open(epmd) {
            if t_epmd.elapsed() > Duration::from_secs(10) {
                return Err(format!("epmd did not listen on 127.0.0.1:{epmd}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }

        let node = RabbitMq {
            url: format!("amqp://guest:guest@127.0.0.1:{amqp}/%2f"),
            prometheus_port: prom,
            dir,
            server: server.to_path_buf(),
            name: node,
            ports: (amqp, dist, epmd),
        };
        node.boot(t0)?;
        Ok(node)
    }

    /// Starts the node's VM (again, after [`RabbitMq::kill`]: same name, ports and data)
    /// and waits until it answers AMQP and its metrics.
    pub fn boot(&self, t0: Instant) -> Result<(), String> {
        let (dir, server, node, prom) = (&self.dir, &self.server, &self.name, self.prometheus_port);
        let (amqp, dist, epmd) = self.ports;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("server.log"))
            .map_err(|e| e.to_string())?;
        let mut cmd = Command::new(server);
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("LANG", "C.UTF-8")
            .env("HOME", dir.join("home"))
            .env("RABBITMQ_NODENAME", node)
            .env("RABBITMQ_MNESIA_BASE", dir.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", dir.join("log"))
            .env("RABBITMQ_CONFIG_FILE", dir.join("rabbitmq.conf"))
            .env("RABBITMQ_ADVANCED_CONFIG_FILE", dir.join("advanced.config"))
            .env("RABBITMQ_CONF_ENV_FILE", dir.join("rabbitmq-env.conf"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", dir.join("enabled_plugins"))
            .env("RABBITMQ_PID_FILE", dir.join("rabbitmq.pid"))
            .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
            .env("RABBITMQ_NODE_PORT", amqp.to_string())
            .env("RABBITMQ_DIST_PORT", dist.to_string())
            .env("ERL_EPMD_PORT", epmd.to_string())
            .env("ERL_EPMD_ADDRESS", "127.0.0.1")
            .env(
                "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS",
                "-kernel inet_dist_use_interface {127,0,0,1}",
            )
            // Exec the VM in place of the script, so stopping the child stops the node.
            .env("RUNNING_UNDER_SYSTEMD", "true")
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log);
        start_supervised(cmd, dir.clone()).map_err(|e| format!("rabbitmq-server: {e}"))?;

        let limit = Duration::from_secs(120);
        loop {
            let prom_ready = port_open(amqp)
                && http_get(prom, "/metrics/per-object").is_some_and(|(s, _)| s == 200);
            if prom_ready {
                break;
            }
            if t0.elapsed() > limit {
                let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
                return Err(format!(
                    "rabbitmq-server did not become ready in {limit:?} ({}):\n{log}",
                    dir.display()
                ));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        eprintln!(
            "rabbitmq-server ready in {:.1}s",
            t0.elapsed().as_secs_f64()
        );
        Ok(())
    }

    /// Kills the node's VM at once (SIGKILL), as a crash would; its epmd stays.
    pub fn kill(&self) {
        let pid = std::fs::read_to_string(self.dir.join("rabbitmq.pid"))
            .expect("the node wrote its pid file");
        let pid: i32 = pid.trim().parse().expect("a pid");
        assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0, "kill {pid}");
        let t0 = Instant::now();
        while port_open(self.prometheus_port) {
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "the node did not stop"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The `host:port` Prometheus scrapes.
    pub fn metrics_target(&self) -> String {
        format!("127.0.0.1:{}", self.prometheus_port)
    }
}
