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
fn history_takes_exactly_one_output() {
    let none = sim(&["history", "--length", "1h"]);
    assert_eq!(none.status.code(), Some(2), "{none:?}");
    let err = String::from_utf8_lossy(&none.stderr);
    for flag in ["--out", "--remote-write", "--tsdb"] {
        assert!(err.contains(flag), "{flag} missing from:\n{err}");
    }
    let two = sim(&[
        "history", "--length", "1h", "--out", "x.om", "--tsdb", "blocks",
    ]);
    assert_eq!(two.status.code(), Some(2), "{two:?}");
    assert!(String::from_utf8_lossy(&two.stderr).contains("cannot be used with"));
}

#[test]
fn history_writes_day_blocks() {
    let dir = std::env::temp_dir().join(format!("vitals-sim-cli-tsdb-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = sim(&[
        "history",
        "--length",
        "3h",
        "--end",
        "2026-12-01T01:00:00Z",
        "--interval",
        "60s",
        "--quiet",
        "--tsdb",
        dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{out:?}");
    // 22:00..24:00 in one block, 00:00..01:00 in the next; no .tmp left.
    let mut ranges: Vec<(i64, i64)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("meta.json").exists())
        .map(|p| {
            let name = p.file_name().unwrap().to_str().unwrap().to_string();
            assert_eq!(name.len(), 26, "{name}");
            let meta: serde_json::Value =
                serde_json::from_slice(&std::fs::read(p.join("meta.json")).unwrap()).unwrap();
            assert_eq!(meta["ulid"], name.as_str());
            for f in ["index", "tombstones", "chunks/000001"] {
                assert!(p.join(f).is_file(), "{f} missing in {name}");
            }
            (
                meta["minTime"].as_i64().unwrap(),
                meta["maxTime"].as_i64().unwrap(),
            )
        })
        .collect();
    ranges.sort();
    let day = 1_796_083_200_000; // 2026-12-01T00:00:00Z
    assert_eq!(
        ranges,
        [
            (day - 2 * 3_600_000, day - 60_000 + 1),
            (day, day + 3_600_000 + 1)
        ]
    );
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.ends_with(".tmp")), "{names:?}");
    std::fs::remove_dir_all(&dir).unwrap();
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
