//! `vitals rules`: the file passes `promtool check rules`; `promtool test rules` proves the
//! alerts fire where they should on generated inputs; the windows, factors and burn rates are
//! those of `vitals check`; and a live outage served by the simulator fires the page alert in
//! a real Prometheus, after which `vitals incidents` lists it.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::sim::Serve;
use crate::support::prometheus::{Prometheus, Spec, http_get, instant_value, require_binaries};
use crate::support::{Run, TestResult, rel_diff, repo, scratch, vitals, write};
use crate::week::{sim, week};

fn rules(config: Option<&Path>, slos: &[&str], out: &Path) -> Run {
    let mut args: Vec<String> = Vec::new();
    if let Some(c) = config {
        args.extend(["--config".into(), c.display().to_string()]);
    }
    args.extend(["rules".into(), "--out".into(), out.display().to_string()]);
    for s in slos {
        args.extend(["--slo".into(), s.to_string()]);
    }
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    vitals(&a).run()
}

pub fn generated_rules_pass_promtool_check() -> TestResult {
    require_binaries()?;
    let dir = scratch();
    let out = dir.path().join("vitals.yml");
    let r = vitals(&["rules", "--out", out.to_str().unwrap(), "--check"]).run();
    r.expect_code(0);
    // Every rule the SLOs call for: per budget SLO 7 windows and 2 alerts, plus its SLO
    // window (another group) and its two increases and heartbeat (a third); per alerting
    // threshold SLO one alert, and its violation and heartbeat every minute (a fourth); the
    // target alerts.
    let config = crate::support::config();
    let slos = &config.slos;
    let budget = slos
        .iter()
        .filter(|s| s.kind != vitals::SloKind::Threshold)
        .count();
    let thresholds = slos
        .iter()
        .filter(|s| {
            matches!(&s.objective, vitals::Objective::Threshold { severity, .. }
                if *severity != vitals::Alerting::None)
        })
        .count();
    let services = config
        .site
        .components
        .iter()
        .filter(|c| c.targets.is_some())
        .count();
    // And per term of the report's queries over the period, its increase and heartbeat.
    let text = std::fs::read_to_string(&out).unwrap();
    let terms = text.matches("- record: kpi:term:increase5m\n").count();
    assert_eq!(
        terms,
        text.matches("- record: kpi:term:evaluations5m\n").count()
    );
    assert!(terms >= 10, "{terms} KPI terms recorded");
    assert_eq!(
        text.matches("- record: slo:threshold_violated:bool1m\n")
            .count(),
        thresholds
    );
    assert!(text.contains("  - name: vitals-threshold-minutes\n    interval: 1m\n"));
    // Per peak KPI its largest value, and one heartbeat; per status signal its value and
    // heartbeat.
    let peaks = text.matches("- record: kpi:peak:max1m\n").count();
    assert_eq!(
        text.matches("- record: kpi:peak_evaluations:1m\n").count(),
        1
    );
    assert!(peaks >= 4, "{peaks} peaks recorded");
    let signals = text.matches("- record: vitals:status_signal\n").count();
    assert_eq!(
        signals,
        text.matches("- record: vitals:status_signal_evaluations\n")
            .count()
    );
    assert!(signals >= 20, "{signals} status signals recorded");
    let want = budget * 13 + 3 * thresholds + 2 + services + 2 * terms + peaks + 1 + 2 * signals;
    assert_eq!(
        text.matches("- record: slo:sli_evaluations:5m\n").count(),
        budget
    );
    assert!(
        r.stderr.contains(&format!("SUCCESS: {want} rules found")),
        "expected {want} rules: {}",
        r.stderr
    );
    // An SLO that does not alert has nothing to generate: a usage error, not an empty file.
    let r = vitals(&["rules", "--slo", "lost-order-share"]).run();
    r.expect_code(2);
    assert!(r.stderr.contains("nothing to generate"), "{}", r.stderr);
    // Without promtool on the PATH, --check cannot decide.
    let r = vitals(&["rules", "--check"])
        .env("PATH", "/nonexistent")
        .run();
    r.expect_code(3);
    assert!(
        r.stderr.contains("promtool is not installed"),
        "{}",
        r.stderr
    );
    Ok(())
}

/// The `description` annotation of an alert in a generated file, as written (quoted).
fn description(yaml: &str, alert: &str, severity: Option<&str>) -> String {
    let lines: Vec<&str> = yaml.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim() == format!("- alert: {alert}") {
            let end = lines[i + 1..]
                .iter()
                .position(|l| l.trim_start().starts_with("- "))
                .map_or(lines.len(), |p| i + 1 + p);
            let body = &lines[i..end];
            let sev_ok = severity
                .is_none_or(|s| body.iter().any(|l| l.trim() == format!("severity: '{s}'")));
            if sev_ok {
                return body
                    .iter()
                    .find_map(|l| l.trim().strip_prefix("description: "))
                    .expect("a description")
                    .to_string();
            }
        }
        i += 1;
    }
    panic!("no alert {alert} {severity:?}");
}

/// Per-minute request counters of MES: segments of (minutes, ok per minute, 5xx per
/// minute), as promtool's expanding notation and as the cumulative counts a test needs.
struct Traffic(Vec<(u32, u32, u32)>);

impl Traffic {
    fn values(&self, bad: bool) -> String {
        let mut out = Vec::new();
        let mut v: u64 = 0;
        for (k, (n, ok, b)) in self.0.iter().enumerate() {
            let inc = if bad { *b } else { *ok } as u64;
            let first = if k == 0 { 0 } else { v + inc };
            out.push(format!("{first}+{inc}x{}", n - 1));
            v = first + inc * (*n as u64 - 1);
        }
        out.join(" ")
    }

    /// Cumulative (ok, bad) at minute `t` (0 before the first sample).
    fn at(&self, t: i64) -> (f64, f64) {
        let (mut ok, mut bad, mut m) = (0.0, 0.0, 0i64);
        for (k, (n, o, b)) in self.0.iter().enumerate() {
            for i in 0..*n {
                let minute = m + i as i64;
                if minute > t {
                    return (ok, bad);
                }
                if k > 0 || i > 0 {
                    ok += *o as f64;
                    bad += *b as f64;
                }
            }
            m += *n as i64;
        }
        (ok, bad)
    }

    /// The burn rate Prometheus computes over `[t - w, t]` (minutes; both counters start at
    /// 0, so nothing is extrapolated before the first sample), against a 1 % budget.
    fn burn(&self, t: i64, w: i64) -> f64 {
        let (o1, b1) = self.at(t);
        let (o0, b0) = self.at((t - w).max(0));
        ((b1 - b0) / ((o1 - o0) + (b1 - b0))) / 0.01
    }
}

/// The fast burn fires during a simulated outage and not in the quiet part; the slow burn
/// fires for a sustained small error rate, and the page alert does not; a threshold alert
/// fires after its `for`, not before.
pub fn promtool_unit_tests_fire_where_they_should() -> TestResult {
    require_binaries()?;
    let dir = scratch();
    let rules_path = dir.path().join("rules.yml");
    rules(
        None,
        &["mes-availability", "shop-orders-queue-depth"],
        &rules_path,
    )
    .expect_code(0);
    let yaml = std::fs::read_to_string(&rules_path).unwrap();
    let page_desc = description(&yaml, "MesAvailabilityBudgetBurn", Some("page"));
    let ticket_desc = description(&yaml, "MesAvailabilityBudgetBurn", Some("ticket"));
    let depth_desc = description(&yaml, "ShopOrdersQueueDepth", None);
    // Quiet: 0.1 % errors (0.1x); an outage: 50 % (50x) from minute 120.
    let outage = Traffic(vec![(120, 999, 1), (61, 500, 500)]);
    // Quiet for 6 hours, then 2 % errors (2x) for 11 hours.
    let slow = Traffic(vec![(360, 999, 1), (661, 980, 20)]);
    let mes = |t: &Traffic| {
        format!(
            "      - series: 'http_requests_total{{service=\"mes\",code=\"200\"}}'\n        values: '{}'\n      - series: 'http_requests_total{{service=\"mes\",code=\"503\"}}'\n        values: '{}'\n",
            t.values(false),
            t.values(true)
        )
    };
    // The commands to run, at the moment of the evaluation (seconds from the test's start).
    let commands = |slo: &str, t: i64| {
        format!(
            "              vitals: 'vitals status --at {t}; vitals incidents --slo {slo} --from {} --to {t}'\n",
            t - 21600
        )
    };
    let alert = |sev: &str, value: f64, desc: &str, t: i64| {
        format!(
            "          - exp_labels: {{severity: {sev}, slo: mes-availability, component: mes}}\n            exp_annotations:\n              summary: 'mes-availability burns its error budget at {value:.1}x'\n              description: {desc}\n{}",
            commands("mes-availability", t)
        )
    };
    // At minute 150 (30 into the outage) the 56m window burns and so does the 22h24m one
    // (all the data there is): page and ticket. The value is the long window's burn.
    let fast_page = outage.burn(150, 56);
    let fast_ticket = outage.burn(150, 22 * 60 + 24);
    assert!(fast_page > 14.4 && fast_ticket > 3.0 && outage.burn(100, 56) < 1.0);
    // At 16 h the 2d19h12m window holds 1.29x and its 5h36m partner 2x: a ticket; at 9 h
    // the long window is still under 1x.
    let slow_ticket = slow.burn(960, 2 * 1440 + 19 * 60 + 12);
    assert!(slow_ticket > 1.0 && slow.burn(540, 2 * 1440 + 19 * 60 + 12) < 1.0);
    let test = [
        format!("rule_files:\n  - {}\nevaluation_interval: 1m\ntests:\n", rules_path.display()),
        "  - name: fast burn\n    interval: 1m\n    input_series:\n".into(),
        mes(&outage),
        "    alert_rule_test:\n".into(),
        "      - eval_time: 100m\n        alertname: MesAvailabilityBudgetBurn\n        exp_alerts: []\n".into(),
        "      - eval_time: 150m\n        alertname: MesAvailabilityBudgetBurn\n        exp_alerts:\n".into(),
        alert("page", fast_page, &page_desc, 150 * 60),
        alert("ticket", fast_ticket, &ticket_desc, 150 * 60),
        "  - name: slow burn\n    interval: 1m\n    input_series:\n".into(),
        mes(&slow),
        "    alert_rule_test:\n".into(),
        "      - eval_time: 9h\n        alertname: MesAvailabilityBudgetBurn\n        exp_alerts: []\n".into(),
        "      - eval_time: 16h\n        alertname: MesAvailabilityBudgetBurn\n        exp_alerts:\n".into(),
        alert("ticket", slow_ticket, &ticket_desc, 16 * 3600),
        "  - name: threshold after its for\n    interval: 1m\n    input_series:\n".into(),
        "      - series: 'rabbitmq_queue_messages_ready{vhost=\"/\",queue=\"shop.orders\"}'\n        values: '3x19 20x20'\n".into(),
        "    alert_rule_test:\n".into(),
        "      - eval_time: 23m\n        alertname: ShopOrdersQueueDepth\n        exp_alerts: []\n".into(),
        "      - eval_time: 27m\n        alertname: ShopOrdersQueueDepth\n        exp_alerts:\n".into(),
        "          - exp_labels: {severity: page, slo: shop-orders-queue-depth, component: rabbitmq, queue: shop.orders}\n".into(),
        format!("            exp_annotations:\n              summary: 'shop-orders-queue-depth: 20 is not <= 15'\n              description: {depth_desc}\n{}", commands("shop-orders-queue-depth", 27 * 60)),
    ]
    .concat();
    let test_path = write(dir.path(), "test.yml", &test);
    let out = Command::new("promtool")
        .args(["test", "rules"])
        .arg(&test_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool test rules failed:\n{}{}\n--- test file\n{test}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// `--naming sloth`: the file passes `promtool check rules` with every rule Sloth would write,
/// and on an outage `promtool test rules` sees Sloth's series (with the values the traffic
/// gives) answer the queries Sloth's Grafana dashboards make, and the page and ticket alerts
/// fire over Sloth's windows with both vitals' and Sloth's labels. An SLO window Sloth's
/// windows do not fit is refused.
pub fn sloth_naming_passes_promtool_and_answers_sloths_queries() -> TestResult {
    require_binaries()?;
    let dir = scratch();
    let all = dir.path().join("all.yml");
    let r = vitals(&[
        "rules",
        "--naming",
        "sloth",
        "--out",
        all.to_str().unwrap(),
        "--check",
    ])
    .run();
    r.expect_code(0);
    // Per budget SLO: 7 Sloth windows, the SLO window, 7 meta records, 2 alerts and 2
    // increases; the threshold and target alerts as under vitals' naming.
    let config = crate::support::config();
    let budget = config
        .slos
        .iter()
        .filter(|s| s.kind != vitals::SloKind::Threshold)
        .count();
    let plain = dir.path().join("plain.yml");
    let r2 = vitals(&["rules", "--out", plain.to_str().unwrap(), "--check"]).run();
    r2.expect_code(0);
    let count = |stderr: &str| -> usize {
        let at = stderr.find("SUCCESS: ").expect("promtool's count");
        stderr[at + 9..].split(' ').next().unwrap().parse().unwrap()
    };
    assert_eq!(
        count(&r.stderr),
        count(&r2.stderr) + budget * (19 - 12),
        "{}\n{}",
        r.stderr,
        r2.stderr
    );

    let rules_path = dir.path().join("sloth.yml");
    let r = vitals(&[
        "rules",
        "--naming",
        "sloth",
        "--slo",
        "mes-availability",
        "--out",
        rules_path.to_str().unwrap(),
    ])
    .run();
    r.expect_code(0);
    let yaml = std::fs::read_to_string(&rules_path).unwrap();
    let page_desc = description(&yaml, "MesAvailabilityBudgetBurn", Some("page"));
    let ticket_desc = description(&yaml, "MesAvailabilityBudgetBurn", Some("ticket"));
    // mes-availability: 99 % over 28 days. Sloth's factors for 28 days: 2 % of the budget
    // in 1h is 0.02 * 672 = 13.44x; 10 % in 1d is 0.1 * 28 = 2.8x.
    assert!(
        page_desc.contains("faster than 13.44x over 1h and 5m, or 5.6x over 6h and 30m")
            && ticket_desc
                .contains("faster than 2.8x over 1d and 2h, or 0.9333333333333x over 3d and 6h"),
        "{page_desc}\n{ticket_desc}"
    );
    let outage = Traffic(vec![(120, 999, 1), (61, 500, 500)]);
    let t = 150;
    let (burn_5m, burn_1h, burn_1d, burn_28d) = (
        outage.burn(t, 5),
        outage.burn(t, 60),
        outage.burn(t, 1440),
        outage.burn(t, 28 * 1440),
    );
    assert!(burn_1h > 13.44 && outage.burn(t, 120) > 2.8 && burn_1d > 2.8);
    assert!(outage.burn(100, 60) < 2.8, "quiet before the outage");
    let series = format!(
        "      - series: 'http_requests_total{{service=\"mes\",code=\"200\"}}'\n        values: '{}'\n      - series: 'http_requests_total{{service=\"mes\",code=\"503\"}}'\n        values: '{}'\n",
        outage.values(false),
        outage.values(true)
    );
    let ids = "component: mes, slo: mes-availability, sloth_id: mes-availability, sloth_service: mes, sloth_slo: availability";
    let commands = format!(
        "              vitals: 'vitals status --at {now}; vitals incidents --slo mes-availability --from {} --to {now}'\n",
        t * 60 - 21600,
        now = t * 60
    );
    let alert = |sev: &str, value: f64, desc: &str| {
        format!(
            "          - exp_labels: {{severity: {sev}, sloth_severity: {sev}, {ids}}}\n            exp_annotations:\n              summary: 'mes-availability burns its error budget at {value:.1}x'\n              description: {desc}\n{commands}"
        )
    };
    // A query of Sloth's dashboards returns one sample, with these labels and (within
    // rounding: promtool compares exactly) this value.
    let expr = |q: &str, labels: &str, value: f64| {
        format!(
            "      - expr: 'abs(({q}) - {value:e}) <= bool {:e}'\n        eval_time: {t}m\n        exp_samples:\n          - labels: '{labels}'\n            value: 1\n",
            1e-9 * value.abs().max(1.0)
        )
    };
    let sel = "{sloth_service=\"mes\", sloth_slo=\"availability\"}";
    let lab = |name: &str, extra: &str| {
        format!(
            "{name}{{component=\"mes\", slo=\"mes-availability\", sloth_id=\"mes-availability\", sloth_service=\"mes\", sloth_slo=\"availability\"{extra}}}"
        )
    };
    let test = [
        format!(
            // promtool evaluates groups in random order unless told: records before the
            // records and alerts that read them, as a steady Prometheus has them.
            "rule_files:\n  - {}\nevaluation_interval: 1m\ngroup_eval_order:\n{}tests:\n  - name: sloth outage\n    interval: 1m\n    input_series:\n{series}",
            rules_path.display(),
            [
                "sli-recordings",
                "period-recordings",
                "meta-recordings",
                "alerts"
            ]
            .map(|g| format!("  - sloth-slo-{g}-mes-availability\n"))
            .concat()
        ),
        "    alert_rule_test:\n".into(),
        "      - eval_time: 100m\n        alertname: MesAvailabilityBudgetBurn\n        exp_alerts: []\n".into(),
        format!("      - eval_time: {t}m\n        alertname: MesAvailabilityBudgetBurn\n        exp_alerts:\n"),
        alert("page", burn_1h, &page_desc),
        alert("ticket", burn_1d, &ticket_desc),
        "    promql_expr_test:\n".into(),
        expr(
            &format!("slo:sli_error:ratio_rate1h{sel}"),
            &lab("", ", sloth_window=\"1h\""),
            burn_1h * 0.01,
        ),
        expr(
            &format!("slo:sli_error:ratio_rate6h{sel} / on (sloth_id) group_left slo:error_budget:ratio"),
            &lab("", ", sloth_window=\"6h\""),
            outage.burn(t, 360),
        ),
        expr(
            &format!("slo:current_burn_rate:ratio{sel}"),
            &lab("", ", sloth_window=\"5m\""),
            burn_5m,
        ),
        expr(
            &format!("slo:period_burn_rate:ratio{sel}"),
            &lab("", ", sloth_window=\"28d\""),
            burn_28d,
        ),
        expr(
            &format!("slo:period_error_budget_remaining:ratio{sel}"),
            &lab("", ", sloth_window=\"28d\""),
            1.0 - burn_28d,
        ),
        expr(&format!("slo:objective:ratio{sel}"), &lab("", ""), 0.99),
        expr(&format!("slo:error_budget:ratio{sel}"), &lab("", ""), 0.01),
        expr(&format!("slo:time_period:days{sel}"), &lab("", ""), 28.0),
        expr(
            &format!("sloth_slo_info{sel}"),
            &lab("",
                &format!(
                    ", sloth_mode=\"vitals\", sloth_objective=\"99\", sloth_spec=\"prometheus/v1\", sloth_version=\"vitals-{}\"",
                    env!("CARGO_PKG_VERSION")
                ),
            ),
            1.0,
        ),
    ]
    .concat();
    let test_path = write(dir.path(), "test.yml", &test);
    let out = Command::new("promtool")
        .args(["test", "rules"])
        .arg(&test_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool test rules failed:\n{}{}\n--- test file\n{test}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // A 1-day SLO: Sloth's 3-day ticket window would read beyond it.
    let cfg = write(
        dir.path(),
        "short.toml",
        "[[slo]]\nname = \"day\"\ncomponent = \"mes\"\nkind = \"ratio\"\nbad = 'sum(rate(http_requests_total{service=\"mes\", code=~\"5..\"}[{{window}}]))'\ntotal = 'sum(rate(http_requests_total{service=\"mes\"}[{{window}}]))'\nobjective = 99\nwindow = \"1d\"\n",
    );
    let r = vitals(&[
        "--config",
        cfg.to_str().unwrap(),
        "rules",
        "--naming",
        "sloth",
    ])
    .run();
    r.expect_code(2);
    assert!(
        r.stderr
            .contains("day: its 1d window is not longer than Sloth's longest alerting window (3d)"),
        "{}",
        r.stderr
    );
    assert!(r.stdout.is_empty(), "nothing written: {}", r.stdout);
    Ok(())
}

/// The `expr` block of every recording rule in a generated file, by record name.
fn recordings(yaml: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let lines: Vec<&str> = yaml.lines().collect();
    for (i, l) in lines.iter().enumerate() {
        if let Some(name) = l.trim().strip_prefix("- record: ") {
            let expr: Vec<&str> = lines[i + 2..]
                .iter()
                .take_while(|l| l.starts_with("          "))
                .map(|l| l.trim())
                .collect();
            out.push((name.to_string(), expr.join("\n")));
        }
    }
    out
}

/// The workbook's table for a 30-day SLO, and the burn rates Prometheus computes from the
/// recording rules equal those `vitals check` reports for the same instant.
pub fn rules_and_check_agree_on_windows_factors_and_burn_rates() -> TestResult {
    let w = week()?;
    let dir = scratch();
    let shipped = std::fs::read_to_string(repo().join("slo.toml")).unwrap();
    // The site goes with its SLOs (it takes levels from them; its APIs are what the
    // catalog's service params list).
    std::fs::copy(repo().join("site.toml"), dir.path().join("site.toml")).unwrap();
    let thirty = write(
        dir.path(),
        "slo.toml",
        &shipped.replacen(
            "objective = 99.0\nwindow = \"28d\"",
            "objective = 99.0\nwindow = \"30d\"",
            1,
        ),
    );
    let out = dir.path().join("r30.yml");
    rules(Some(&thirty), &["mes-availability"], &out).expect_code(0);
    let yaml = std::fs::read_to_string(&out).unwrap();
    // (window, factor) in the order the alerts test them.
    let mut pairs = Vec::new();
    for l in yaml.lines() {
        let l = l.trim();
        if let Some(rest) = l.strip_prefix("slo:sli_error:ratio_rate") {
            let window = rest.split('{').next().unwrap().to_string();
            let factor: f64 = l.rsplit("> ").next().unwrap().parse().unwrap();
            assert!(l.contains("/ 0.01 > "), "{l}");
            pairs.push((window, factor));
        }
    }
    let workbook: Vec<(String, f64)> = [
        ("1h", 14.4),
        ("5m", 14.4),
        ("6h", 6.0),
        ("30m", 6.0),
        ("1d", 3.0),
        ("2h", 3.0),
        ("3d", 1.0),
        ("6h", 1.0),
    ]
    .iter()
    .map(|(w, f)| (w.to_string(), *f))
    .collect();
    assert_eq!(pairs, workbook, "the SRE workbook table for 30 days");
    // `check` uses the same pairs for the same SLO.
    let at = "2026-11-18T11:40:00Z";
    let doc = vitals(&[
        "--config",
        thirty.to_str().unwrap(),
        "check",
        "--slo",
        "mes-availability",
        "--at",
        at,
        "--format",
        "json",
    ])
    .prometheus(&w.prom.url)
    .run()
    .json();
    let from_check: Vec<(String, f64)> = doc["slos"][0]["burn_rates"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|b| {
            let f = b["factor"].as_f64().unwrap();
            [
                (b["long"].as_str().unwrap().to_string(), f),
                (b["short"].as_str().unwrap().to_string(), f),
            ]
        })
        .collect();
    assert_eq!(from_check, workbook);
    // The shipped 28-day SLO: every recorded ratio, divided by the budget, is the burn rate
    // `check` reports for that window at the same instant (the MES outage).
    let out = dir.path().join("r28.yml");
    rules(None, &["mes-availability"], &out).expect_code(0);
    let yaml = std::fs::read_to_string(&out).unwrap();
    let doc = vitals(&[
        "check",
        "--slo",
        "mes-availability",
        "--at",
        at,
        "--format",
        "json",
    ])
    .prometheus(&w.prom.url)
    .run()
    .json();
    let burns = doc["slos"][0]["burn_rates"].as_array().unwrap();
    let mut compared = 0;
    for (name, expr) in recordings(&yaml) {
        let Some(window) = name.strip_prefix("slo:sli_error:ratio_rate") else {
            continue; // the increases that check reads: compared in tests/it/recorded.rs
        };
        let Some(check_rate) = burns.iter().find_map(|b| {
            if b["long"] == window {
                b["long_rate"].as_f64()
            } else if b["short"] == window {
                b["short_rate"].as_f64()
            } else {
                None
            }
        }) else {
            continue; // the SLO window's own ratio: no burn pair uses it
        };
        let ratio = instant_value(w.prom.port, &expr, at);
        assert!(
            rel_diff(ratio / 0.01, check_rate) < 1e-9,
            "{name}: rules {} vs check {check_rate}",
            ratio / 0.01
        );
        compared += 1;
    }
    assert_eq!(compared, 7, "every burn-rate window");
    Ok(())
}

/// Seconds since the epoch, now.
fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The simulator serves an MES outage that starts a minute after the test does; a real Prometheus
/// scrapes it with the rules of a one-day MES availability SLO loaded. The page alert must
/// fire after the outage starts and within the time its windows need, and `vitals incidents`
/// must then list the incident.
pub fn a_live_outage_fires_the_page_alert_and_incidents_lists_it() -> TestResult {
    require_binaries()?;
    let dir = scratch();
    let shipped = std::fs::read_to_string(repo().join("slo.toml")).unwrap();
    let start = shipped
        .find("[[slo]]\nname = \"mes-availability\"")
        .unwrap();
    let end = start + shipped[start..].find("\n\n").unwrap();
    let slo = shipped[start..end].replace("window = \"28d\"", "window = \"1d\"");
    let slo_path = write(dir.path(), "slo.toml", &slo);
    let rules_path = dir.path().join("rules.yml");
    rules(Some(&slo_path), &[], &rules_path).expect_code(0);
    // mes-outage: the outage begins 2h40m into the scenario; the history ends a minute before.
    let interval = 15;
    let end_s = now() / interval * interval;
    let outage_start = end_s + 60;
    let end_arg = end_s.to_string();
    let serve = Serve::start(&[
        "--scenario",
        "mes-outage",
        "--length",
        "2h39m",
        "--end",
        &end_arg,
        "--interval",
        "15s",
    ]);
    let scrape = sim()
        .args(["scrape-config", "--sim", &serve.listen, "--interval", "5s"])
        .output()
        .unwrap();
    // Alertmanager with the route and inhibition of docs/alerting.md (timers shortened), and
    // a webhook receiver standing in for the pager and the ticket queue.
    let hook = crate::support::mock::Mock::start(|_| crate::support::mock::Reply::json(200, "{}"));
    let am_port = alertmanager(dir.path(), &hook.url)?;
    let config = format!(
        "rule_files:\n  - {}\nalerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['127.0.0.1:{am_port}']\n{}",
        rules_path.display(),
        String::from_utf8_lossy(&scrape.stdout)
    );
    let prom = Prometheus::start(Spec {
        config,
        interval: Some("5s"),
        remote_write: true,
        ..Spec::default()
    })?;
    // The quiet hours before the outage, as the simulator served them, so every window the
    // rules and `vitals incidents` read is full of data, as on a system that has run a while.
    let out = sim()
        .args([
            "history",
            "--scenario",
            "mes-outage",
            "--length",
            "2h39m",
            "--end",
            &end_arg,
            "--interval",
            "15s",
            "--quiet",
            "--remote-write",
            &format!("{}/api/v1/write", prom.url),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "history: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The bound: a one-day SLO's page pair scales 1h/5m to 2m/10s, both raised to the 4m
    // floor (the history fills them with quiet traffic); the 4-minute window must hold more than 14.4 % errors while MES answers 60 % of
    // requests with 5xx: 4m x 14.4 % / 60 % = 57.6 s of outage; the simulator moves its
    // counters every 15 s, Prometheus scrapes every 5 s and evaluates every 5 s, and a rate
    // needs two scrapes of the outage: 57.6 + 15 + 5 + 5 + 10 = 93 s.
    let bound = 93;
    let mut fired: Option<i64> = None;
    while now() < outage_start + bound + 60 {
        if let Some((200, body)) = http_get(prom.port, "/api/v1/alerts") {
            let v: Value = serde_json::from_str(&body).unwrap();
            let page = v["data"]["alerts"].as_array().unwrap().iter().find(|a| {
                a["labels"]["alertname"] == "MesAvailabilityBudgetBurn"
                    && a["labels"]["severity"] == "page"
                    && a["state"] == "firing"
            });
            if let Some(a) = page {
                let active = chrono::DateTime::parse_from_rfc3339(a["activeAt"].as_str().unwrap())
                    .unwrap()
                    .timestamp();
                fired = Some(active);
                break;
            }
        }
        std::thread::sleep(Duration::from_secs(2));
    }
    let fired = fired.expect("the page alert never fired");
    assert!(
        fired >= outage_start,
        "the alert fired {} s before the outage",
        outage_start - fired
    );
    assert!(
        fired <= outage_start + bound,
        "the alert fired {} s after the outage started (bound {bound} s)",
        fired - outage_start
    );
    delivered(&hook, am_port, &slo_path, &prom.url);
    // vitals incidents, from the same conditions over the raw metrics, lists it once a step
    // of its grid has seen the outage: at one-minute steps (5 s scrapes leave twelve samples
    // a step), from two whole steps after the outage began; on a busy machine a little
    // later, so it is asked every 15 s for up to three minutes more.
    let step = 60;
    while now() < outage_start + 2 * step + 15 {
        std::thread::sleep(Duration::from_secs(2));
    }
    let listed = |doc: &Value| -> Option<Value> {
        doc["incidents"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| {
                i["conditions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|c| c["name"] == "mes-availability" && c["severity"] == "page")
            })
            .cloned()
    };
    let deadline = now() + 180;
    let (found, doc) = loop {
        let r = vitals(&[
            "--config",
            slo_path.to_str().unwrap(),
            "incidents",
            "--since",
            "10m",
            "--step",
            "1m",
            "--format",
            "json",
        ])
        .prometheus(&prom.url)
        .run();
        r.expect_code(0);
        let doc = r.json();
        let found = listed(&doc);
        if found.is_some() || now() > deadline {
            break (found, doc);
        }
        std::thread::sleep(Duration::from_secs(15));
    };
    let i = found.unwrap_or_else(|| panic!("no mes-availability incident: {doc:#}"));
    assert_eq!(i["severity"], "page");
    let start = chrono::DateTime::parse_from_rfc3339(i["start"].as_str().unwrap())
        .unwrap()
        .timestamp();
    assert!(
        (start - outage_start).abs() <= 2 * step,
        "incident start {start} vs outage {outage_start}"
    );
    Ok(())
}

/// Alertmanager on a free loopback port with the configuration of docs/alerting.md, its
/// receivers pointed at `hook` and its timers shortened; the port.
pub(crate) fn alertmanager(dir: &Path, hook: &str) -> Result<u16, crate::support::Skip> {
    let Some(bin) = crate::support::prometheus::which("prometheus-alertmanager") else {
        if crate::support::in_ci() {
            panic!("prometheus-alertmanager is missing (scripts/test installs it)");
        }
        return Err(crate::support::Skip(
            "prometheus-alertmanager is not installed".into(),
        ));
    };
    let doc = std::fs::read_to_string(repo().join("docs/alerting.md")).unwrap();
    let yaml = doc
        .split("```yaml\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("docs/alerting.md has the Alertmanager configuration");
    assert!(yaml.contains("inhibit_rules") && yaml.contains("http://127.0.0.1:5001/page"));
    let yaml = yaml
        .replace("http://127.0.0.1:5001", hook)
        .replace("group_wait: 30s", "group_wait: 1s")
        .replace("group_interval: 5m", "group_interval: 2s");
    let am_dir = dir.join("alertmanager");
    std::fs::create_dir_all(&am_dir).unwrap();
    let config = write(&am_dir, "alertmanager.yml", &yaml);
    let port = crate::support::prometheus::free_port();
    let mut cmd = Command::new(bin);
    cmd.arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.path={}", am_dir.join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .arg("--log.level=warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    crate::support::prometheus::start_supervised(cmd, am_dir).unwrap();
    let deadline = now() + 30;
    while http_get(port, "/-/ready").map(|r| r.0) != Some(200) {
        assert!(now() < deadline, "Alertmanager did not start on {port}");
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(port)
}

/// The page alert reached the page receiver (never the ticket one) with the labels a route
/// needs and a command that runs; a ticket of the same SLO, if it fired, was inhibited.
fn delivered(hook: &crate::support::mock::Mock, am_port: u16, slo: &Path, prom: &str) {
    let page_alert = |path: &str| -> Option<Value> {
        hook.requests().iter().find_map(|r| {
            let (head, body) = r.split_once("\r\n\r\n")?;
            if !head.starts_with(&format!("POST {path} ")) {
                return None;
            }
            let v: Value = serde_json::from_str(body).ok()?;
            v["alerts"]
                .as_array()?
                .iter()
                .find(|a| {
                    a["labels"]["alertname"] == "MesAvailabilityBudgetBurn"
                        && a["labels"]["severity"] == "page"
                })
                .cloned()
        })
    };
    let deadline = now() + 60;
    let alert = loop {
        if let Some(a) = page_alert("/page") {
            break a;
        }
        assert!(
            now() < deadline,
            "no page reached the receiver: {:?}",
            hook.requests()
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(
        page_alert("/ticket").is_none(),
        "a page was routed as a ticket"
    );
    assert_eq!(alert["labels"]["slo"], "mes-availability");
    assert_eq!(alert["labels"]["component"], "mes");
    let run = alert["annotations"]["vitals"].as_str().unwrap();
    let at = run
        .strip_prefix("vitals status --at ")
        .and_then(|r| r.split(';').next())
        .unwrap_or_else(|| panic!("{run}"));
    assert!(
        run.contains("; vitals incidents --slo mes-availability --from ") && run.contains(" --to "),
        "{run}"
    );
    // The command as the annotation gives it runs, and sees the outage.
    let r = vitals(&[
        "--config",
        slo.to_str().unwrap(),
        "status",
        "--at",
        at,
        "--format",
        "json",
    ])
    .prometheus(prom)
    .run();
    let doc = r.json();
    let mes = doc["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "mes")
        .unwrap();
    assert_ne!(mes["status"], "ok", "{mes}");
    // A ticket of the same SLO while the page fires: held back by the inhibition.
    if let Some((200, body)) = http_get(am_port, "/api/v2/alerts") {
        let v: Value = serde_json::from_str(&body).unwrap();
        for a in v.as_array().unwrap().iter().filter(|a| {
            a["labels"]["slo"] == "mes-availability" && a["labels"]["severity"] == "ticket"
        }) {
            assert!(
                !a["status"]["inhibitedBy"].as_array().unwrap().is_empty(),
                "the ticket is not inhibited: {a}"
            );
        }
    }
    assert!(
        !hook
            .requests()
            .iter()
            .any(|r| r.starts_with("POST /ticket ") && r.contains("mes-availability")),
        "the ticket of a paging SLO was delivered"
    );
}
