//! The `vitals-sim` command line. (Its models are tested end to end, against a real
//! Prometheus, by the workspace's integration tests in `tests/it`; this file also makes
//! `cargo test --workspace` build the binary those tests run.)

use std::process::Command;

fn sim(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_vitals-sim"))
        .args(args)
        .output()
        .expect("run vitals-sim")
}

#[test]
fn lists_the_builtin_scenarios() {
    let out = sim(&["scenarios"]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    for name in ["normal-week", "incident-week"] {
        assert!(text.contains(name), "{name} missing from:\n{text}");
    }
}

#[test]
fn a_bad_interval_is_a_usage_error() {
    let out = sim(&["bench", "--interval", "7m", "--length", "1h"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("divide an hour"));
}
