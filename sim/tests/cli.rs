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

#[test]
fn drive_without_a_server_is_a_usage_error_naming_both_flags() {
    let out = sim(&["drive", "--truth", "/nonexistent/truth.json"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--rabbitmq") && err.contains("--postgres"),
        "{err}"
    );
}

#[test]
fn drive_checks_its_flags_before_connecting() {
    for (args, says) in [
        (
            &["drive", "--postgres", "shop-db"][..],
            "SERVICE=DATABASE=CONNINFO",
        ),
        (
            &[
                "drive",
                "--rabbitmq",
                "amqp://127.0.0.1:9/",
                "--wait-scrape",
            ],
            "--listen",
        ),
        (
            &[
                "drive",
                "--rabbitmq",
                "amqp://127.0.0.1:9/",
                "--settle",
                "3s",
            ],
            "--postgres",
        ),
        (
            &[
                "drive",
                "--rabbitmq",
                "amqp://127.0.0.1:9/",
                "--listen",
                "0.0.0.0:0",
            ],
            "loopback",
        ),
        (
            &[
                "drive",
                "--postgres",
                "db=a=host=127.0.0.1 port=9",
                "--postgres",
                "db=b=host=127.0.0.1 port=9",
            ],
            "given twice",
        ),
        // The old name is gone: `drive --postgres` replaces it.
        (&["drive-postgres", "--server", "db=a=host=x"], "drive"),
    ] {
        let out = sim(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

#[test]
fn drive_names_the_server_it_cannot_reach() {
    // Port 9 (discard) is closed on loopback: the driver fails at once, naming it.
    let out = sim(&[
        "drive",
        "--rabbitmq",
        "amqp://guest:guest@127.0.0.1:9/%2f",
        "--postgres",
        "db=a=host=127.0.0.1 port=9 user=postgres connect_timeout=5",
        "--settle",
        "0s",
    ]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("RabbitMQ") || err.contains("PostgreSQL"),
        "{err}"
    );
}
