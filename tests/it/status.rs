//! `vitals status` against the simulated weeks, a stopped Prometheus, and a system with one
//! component's metrics missing.

use std::time::{Duration, Instant};

use crate::support::prometheus::{Prometheus, Spec};
use crate::support::schema::assert_valid;
use crate::support::{TestResult, scratch, vitals};
use crate::week::{END_S, WEEK, incident, sim, week};

fn at(t: i64) -> String {
    vitals::timespec::format_time(vitals::timespec::from_unix_seconds(t as f64))
}

pub fn status_names_mes_during_the_outage() -> TestResult {
    let w = week()?;
    let t = incident(&w.truth, "MES outage")["start"].as_i64().unwrap() + 1800;
    let r = vitals(&["status", "--at", &at(t)])
        .prometheus(&w.prom.url)
        .run();
    r.expect_code(1);
    let verdict = r.stdout.lines().next().unwrap();
    assert!(
        verdict.starts_with("DOWN: mes (answers 5xx to"),
        "{verdict}"
    );
    let row = r.stdout.lines().find(|l| l.starts_with("mes ")).unwrap();
    assert!(row.contains("DOWN"), "{row}");
    let doc = vitals(&["status", "--at", &at(t), "--format", "json"])
        .prometheus(&w.prom.url)
        .run()
        .json();
    assert_valid("status.schema.json", &doc);
    let mes = doc["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "mes")
        .unwrap();
    assert_eq!(mes["status"], "down");
    let err = mes["signals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "err")
        .unwrap();
    assert_eq!(err["level"], "fail");
    assert!(err["value"].as_f64().unwrap() > 0.4);
    // Its 5xx ratio breaks api-5xx-ratio (listed first) while the 28-day availability still
    // holds but burns at the page rate.
    assert_eq!(mes["slos"]["status"], "fail");
    let problems = mes["slos"]["problems"].as_array().unwrap();
    assert!(
        problems[0]
            .as_str()
            .unwrap()
            .starts_with("fail api-5xx-ratio{service=mes}"),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p
            .as_str()
            .unwrap()
            .starts_with("warn mes-availability: burning")),
        "{problems:?}"
    );
    Ok(())
}

pub fn status_is_healthy_at_quiet_times() -> TestResult {
    let w = week()?;
    // Every six hours of the normal week's last four days (the first three fill the
    // longest burn-rate window), nights and weekend included.
    let mut t = END_S - WEEK - 4 * 86_400;
    while t < END_S - WEEK {
        let r = vitals(&["status", "--at", &at(t)])
            .prometheus(&w.prom.url)
            .run();
        r.expect_code(0);
        assert!(
            r.stdout.starts_with("HEALTHY: all 8 components OK"),
            "at {}:\n{}",
            at(t),
            r.stdout
        );
        assert_eq!(r.stdout.matches(" OK ").count(), 8, "{}", r.stdout);
        t += 6 * 3600;
    }
    Ok(())
}

pub fn status_is_unknown_when_prometheus_is_stopped() -> TestResult {
    let p = Prometheus::start(Spec::default())?;
    let url = p.url.clone();
    p.stop();
    let r = vitals(&["status"]).prometheus(&url).run();
    r.expect_code(3);
    let verdict = r.stdout.lines().next().unwrap();
    assert_eq!(
        verdict,
        format!("UNKNOWN: nothing could be read (cannot reach Prometheus at {url}/)")
    );
    assert!(r.stdout.matches("UNKNOWN").count() >= 8, "{}", r.stdout);
    // The failure is said once, naming everything it hit, not once per query.
    let errors: Vec<&str> = r
        .stdout
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect();
    assert_eq!(errors.len(), 1, "{}", r.stdout);
    assert!(
        errors[0].starts_with("error: signals, sparklines and 18 more: cannot reach")
            && errors[0].contains(&format!("cannot reach Prometheus at {url}/")),
        "{}",
        errors[0]
    );
    assert!(!r.stdout.contains("no scrape targets"), "{}", r.stdout);
    Ok(())
}

pub fn a_component_without_metrics_says_no_data_not_zero() -> TestResult {
    crate::support::prometheus::require_binaries()?;
    let dir = scratch();
    let om = dir.path().join("h.om");
    let end = "2026-11-20T12:00:00Z";
    let out = sim()
        .args([
            "history",
            "--scenario",
            "normal-week",
            "--length",
            "2h",
            "--end",
            end,
            "--interval",
            "60s",
            "--quiet",
            "--out",
        ])
        .arg(&om)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Drop every sample of the S3 targets, as if MinIO had never been scraped.
    let text = std::fs::read_to_string(&om).unwrap();
    let kept: String = text
        .lines()
        .filter(|l| !l.contains("job=\"s3\"") && !l.contains("instance=\"minio-"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&om, kept).unwrap();
    let p = Prometheus::start(Spec {
        openmetrics: vec![om],
        ..Spec::default()
    })?;
    let doc = vitals(&["status", "--at", end, "--format", "json"])
        .prometheus(&p.url)
        .run()
        .json();
    assert_valid("status.schema.json", &doc);
    let comp = |n: &str| {
        doc["components"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == n)
            .unwrap()
            .clone()
    };
    let s3 = comp("s3");
    assert_eq!(s3["status"], "unknown");
    assert!(
        s3["reasons"][0].as_str().unwrap().starts_with("no data"),
        "{s3}"
    );
    // MinIO's own metrics are gone; the S3 latency the APIs measure is still there.
    for s in s3["signals"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["name"] != "p95")
    {
        assert_eq!(s["value"], serde_json::Value::Null, "{s}");
        assert_eq!(s["text"], "no data");
        assert_eq!(s["level"], "no_data");
    }
    assert_ne!(comp("shop")["status"], "unknown");
    let r = vitals(&["status", "--at", end]).prometheus(&p.url).run();
    r.expect_code(3);
    let row = r.stdout.lines().find(|l| l.starts_with("s3 ")).unwrap();
    assert!(
        row.contains("UNKNOWN") && row.contains("size no data"),
        "{row}"
    );
    assert!(!row.contains("size 0"), "{row}");
    Ok(())
}

pub fn status_plain_text_snapshot() -> TestResult {
    let w = week()?;
    let t = incident(&w.truth, "MES outage")["start"].as_i64().unwrap() + 1800;
    // A laptop's tmux pane, a common terminal, and a wide one (a pipe: no height limit).
    for (cols, lines, name) in [
        ("80", Some("24"), "status_during_the_mes_outage_80x24"),
        ("120", Some("45"), "status_during_the_mes_outage_120x45"),
        ("200", None, "status_during_the_mes_outage_200"),
    ] {
        let mut cmd = vitals(&["status", "--at", &at(t), "--color", "never"])
            .prometheus(&w.prom.url)
            .env("COLUMNS", cols);
        if let Some(l) = lines {
            cmd = cmd.env("LINES", l);
        }
        let r = cmd.run();
        assert!(!r.stdout.contains('\x1b'), "no colour without a terminal");
        let width: usize = cols.parse().unwrap();
        for l in r.stdout.lines() {
            assert!(l.chars().count() <= width, "wider than {width}: {l}");
        }
        if let Some(l) = lines {
            let n = r.stdout.lines().count();
            assert!(n <= l.parse().unwrap(), "{n} lines:\n{}", r.stdout);
        }
        // Verdict first, then the header and every component, each on one line.
        let out: Vec<&str> = r.stdout.lines().collect();
        assert!(out[0].starts_with("DOWN: mes"), "{}", out[0]);
        for (i, c) in ["shop", "crm", "mes"].iter().enumerate() {
            assert!(out[2 + i].starts_with(&format!("{c} ")), "{}", r.stdout);
        }
        insta::assert_snapshot!(name, r.stdout);
    }
    Ok(())
}

/// In a real terminal of 80x24 (tmux), the outage screen is whole: the verdict on the first
/// line, every component, the time on the last line. `--watch` (which shows the present: the
/// week's data ends in the past, so nothing is scraped now) redraws in place with its footer.
pub fn watch_fits_an_80x24_tmux_pane() -> TestResult {
    let w = week()?;
    if which("tmux").is_none() {
        if crate::support::in_ci() {
            panic!("tmux is missing (scripts/test installs it)");
        }
        return Err(crate::support::Skip("tmux is not installed".into()));
    }
    let t = incident(&w.truth, "MES outage")["start"].as_i64().unwrap() + 1800;
    let bin = env!("CARGO_BIN_EXE_vitals");
    let server = format!("vitals-it-{}", std::process::id());
    let tmux = |args: &[&str]| {
        std::process::Command::new("tmux")
            .args(["-L", &server, "-f", "/dev/null"])
            .args(args)
            .current_dir(crate::support::repo())
            .output()
            .unwrap()
    };
    let open = |name: &str, cmd: &str| {
        let r = tmux(&[
            "new-session",
            "-d",
            "-s",
            name,
            "-x",
            "80",
            "-y",
            "24",
            "sh",
            "-c",
            cmd,
        ]);
        assert!(r.status.success(), "{r:?}");
    };
    let capture = |name: &str| {
        String::from_utf8_lossy(&tmux(&["capture-pane", "-p", "-t", name]).stdout).to_string()
    };
    let wait_for = |name: &str, done: &dyn Fn(&str) -> bool| {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut screen = capture(name);
        while Instant::now() < deadline && !done(&screen) {
            std::thread::sleep(Duration::from_millis(300));
            screen = capture(name);
        }
        screen
    };
    let url = &w.prom.url;
    open(
        "at",
        &format!("{bin} status --at {} --prometheus {url}; sleep 60", at(t)),
    );
    open(
        "watch",
        &format!("{bin} status --watch 2s --prometheus {url}; sleep 60"),
    );
    let outage = wait_for("at", &|s| s.contains("\nat "));
    let first = wait_for("watch", &|s| s.contains("Ctrl-C quits"));
    // The footer's time changes with each refresh; the screen stays one screen.
    let footer = |s: &str| {
        s.lines()
            .find(|l| l.contains("Ctrl-C quits"))
            .map(str::to_string)
    };
    let before = footer(&first);
    let second = wait_for("watch", &|s| footer(s).is_some() && footer(s) != before);
    tmux(&["kill-server"]);

    let lines: Vec<&str> = outage.lines().collect();
    assert!(lines[0].starts_with("DOWN: mes"), "{outage}");
    for c in [
        "shop", "crm", "mes", "rabbitmq", "shop-db", "mes-db", "s3", "business",
    ] {
        assert!(
            lines.iter().any(|l| l.starts_with(&format!("{c} "))),
            "{c}:\n{outage}"
        );
    }
    assert!(lines.iter().any(|l| l.starts_with("at ")), "{outage}");
    assert_ne!(footer(&second), before, "refreshed:\n{second}");
    for s in [&first, &second] {
        let lines: Vec<&str> = s.lines().collect();
        assert!(lines[0].starts_with("UNKNOWN"), "{s}");
        assert_eq!(
            s.matches("Ctrl-C quits").count(),
            1,
            "redrawn in place:\n{s}"
        );
        let f = footer(s).unwrap();
        assert!(f.starts_with("at ") && f.contains("every 2s"), "{f}");
        for c in ["shop", "mes", "business"] {
            assert!(
                lines.iter().any(|l| l.starts_with(&format!("{c} "))),
                "{c}:\n{s}"
            );
        }
    }
    Ok(())
}

fn which(tool: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(tool))
            .find(|f| f.is_file())
    })
}

pub fn status_sends_few_queries() -> TestResult {
    let w = week()?;
    let r = vitals(&["status", "--at", &at(END_S), "--stats"])
        .prometheus(&w.prom.url)
        .run();
    let line = r
        .stderr
        .lines()
        .find(|l| l.starts_with("stats: "))
        .unwrap_or_else(|| panic!("{}", r.stderr));
    let n: usize = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    // Two combined queries for the signals and sparklines, and the SLO evaluation: one per
    // SLO, two per latency SLO, one for how much of the SLO windows has data, one for
    // whether recorded series of the SLOs exist and one for whether the signals are
    // recorded (`--source auto`).
    // Counted from the file itself: a latency SLO first asks which buckets exist.
    let text = std::fs::read_to_string(crate::support::repo().join("slo.toml")).unwrap();
    let slos = text.lines().filter(|l| l.trim() == "[[slo]]").count();
    let latency = text
        .lines()
        .filter(|l| l.trim().starts_with("kind = \"latency\""))
        .count();
    assert!(slos >= 18 && latency >= 4, "{slos} SLOs, {latency} latency");
    assert_eq!(n, 2 + slos + latency + 1 + 1 + 1, "{line}");
    Ok(())
}

pub fn watch_refreshes_until_interrupted() -> TestResult {
    let w = week()?;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_vitals"))
        .args(["status", "--watch", "1s", "--prometheus", &w.prom.url])
        .current_dir(crate::support::repo())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Read the screens as they come until a second one has been drawn (a busy machine
    // may take a while), then press Ctrl-C.
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = std::io::Read::read(&mut stdout, &mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut text = Vec::new();
    let screens = |t: &[u8]| String::from_utf8_lossy(t).matches("\nat ").count();
    let deadline = Instant::now() + Duration::from_secs(120);
    while screens(&text) < 2 && Instant::now() < deadline {
        if let Ok(chunk) = rx.recv_timeout(Duration::from_millis(200)) {
            text.extend(chunk);
        }
    }
    // The week's data ends in the past: now, nothing is scraped, so every screen says so.
    let n = screens(&text);
    assert!(
        n >= 2,
        "{n} screens in 120 s:\n{}",
        String::from_utf8_lossy(&text)
    );
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let t0 = Instant::now();
    let stopped = loop {
        if child.try_wait().unwrap().is_some() {
            break true;
        }
        if t0.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            break false;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let _ = child.wait();
    let _ = reader.join();
    assert!(stopped, "Ctrl-C must stop --watch");
    Ok(())
}

/// With Prometheus unreachable, every row says its SLOs are inconclusive (none is blank, a
/// period KPI is not "off target" without data), the cause is said once, and it all fits
/// 80x24 without a broken line.
pub fn unreachable_status_fits_80x24_and_every_slo_cell_says_inconclusive() -> TestResult {
    let r = vitals(&["status", "--color", "never"])
        .prometheus("http://127.0.0.1:9")
        .env("COLUMNS", "80")
        .env("LINES", "24")
        .run();
    r.expect_code(3);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(lines.len() <= 24, "{}", r.stdout);
    assert!(
        lines[0].starts_with("UNKNOWN: nothing could be read (cannot reach Prometheus"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("off target"), "{}", r.stdout);
    for l in &lines {
        assert!(l.chars().count() <= 80, "{l}");
        assert!(!l.trim_start().starts_with('+'), "a bare count: {l:?}");
    }
    for c in [
        "shop", "crm", "mes", "rabbitmq", "shop-db", "mes-db", "s3", "business",
    ] {
        let row = lines
            .iter()
            .find(|l| l.starts_with(&format!("{c} ")))
            .unwrap_or_else(|| panic!("no {c} row:\n{}", r.stdout));
        assert!(
            row.contains("UNKNOWN") && row.contains("INCONCLUSIVE"),
            "{row}"
        );
    }
    // Said on the verdict line and once more with its hint, not once per query.
    assert!(
        r.stdout.matches("cannot reach").count() <= 2,
        "{}",
        r.stdout
    );
    assert!(
        r.stderr.matches("cannot reach").count() <= 1,
        "{}",
        r.stderr
    );
    Ok(())
}
