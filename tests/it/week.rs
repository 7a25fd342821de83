//! The shared end-to-end fixture: two weeks of the reference system from `vitals-sim`
//! (a normal week, then the incident week), pushed into a real Prometheus through its
//! remote-write receiver, with the simulator's ground truth.

use std::sync::OnceLock;

use serde_json::Value;

use crate::support::prometheus::{Prometheus, Spec};
use crate::support::{Skip, repo};

/// The history ends on Monday 2026-11-23 00:00 UTC: ISO week 2026-W47 (Nov 16-22) is the
/// incident week, 2026-W46 the normal one before it.
pub const END: &str = "2026-11-23T00:00:00Z";
pub const END_S: i64 = 1_795_392_000;
pub const WEEK: i64 = 7 * 86_400;

pub struct Week {
    pub prom: Prometheus,
    pub truth: Value,
}

pub fn sim() -> std::process::Command {
    let mut c = std::process::Command::new(crate::support::sim_binary());
    c.current_dir(repo());
    c
}

/// A real Prometheus loaded through remote write with a history of `vitals-sim history
/// ARGS`, and the simulator's ground truth.
pub fn simulated(args: &[&std::ffi::OsStr]) -> Result<Week, String> {
    let prom = Prometheus::start(Spec {
        remote_write: true,
        ..Spec::default()
    })
    .map_err(|s| s.0)?;
    let truth_path = prom.dir.join("truth.json");
    let out = sim()
        .arg("history")
        .args(args)
        .args(["--interval", "60s", "--quiet"])
        .arg("--remote-write")
        .arg(format!("{}/api/v1/write", prom.url))
        .arg("--truth")
        .arg(&truth_path)
        .output()
        .expect("run vitals-sim");
    assert!(
        out.status.success(),
        "vitals-sim history failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let truth: Value =
        serde_json::from_str(&std::fs::read_to_string(&truth_path).unwrap()).unwrap();
    Ok(Week { prom, truth })
}

pub fn week() -> Result<&'static Week, Skip> {
    static W: OnceLock<Result<Week, String>> = OnceLock::new();
    let r = W.get_or_init(|| {
        let args = ["--scenario", "incident-week", "--days", "14", "--end", END];
        simulated(&args.map(std::ffi::OsStr::new))
    });
    match r {
        Ok(w) => Ok(w),
        Err(reason) => Err(Skip(reason.clone())),
    }
}

/// Sums a per-hour truth field over `[start, end)`: `hours[].services[svc][field]`.
pub fn service_total(truth: &Value, svc: &str, field: &str, start: i64, end: i64) -> u64 {
    truth["hours"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| {
            let s = h["start"].as_i64().unwrap();
            s >= start && s < end
        })
        .map(|h| h["services"][svc][field].as_u64().unwrap_or(0))
        .sum()
}

/// Requests lost with counter resets of `svc`'s instances whose first visible scrape is in
/// `(start, end]`.
pub fn lost_requests(truth: &Value, svc: &str, start: i64, end: i64) -> u64 {
    truth["restarts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            let at = r["at"].as_i64().unwrap();
            r["instance"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{svc}-"))
                && at > start
                && at <= end
        })
        .map(|r| r["lost_requests"].as_u64().unwrap())
        .sum()
}

/// The incident of the truth with this name.
pub fn incident<'a>(truth: &'a Value, name: &str) -> &'a Value {
    truth["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == name)
        .unwrap_or_else(|| panic!("no incident {name:?} in the truth"))
}
