//! The end-to-end suite on VictoriaMetrics: the same two simulated weeks as the Prometheus
//! fixture ([`crate::week`]), pushed into a single-node VictoriaMetrics by the same remote
//! write; the catalog, `check`, `status` and a weekly `report` answer there as they do on
//! Prometheus, within the tolerances derived below and in docs/backends.md; and the increases
//! `vitals rules` records, evaluated by `vmalert` (replay mode) and written back, serve
//! `--source recorded`.
//!
//! Where the engines differ: MetricsQL's `rate()`/`increase()` do not extrapolate. Over a
//! window `(t - w, t]` Prometheus 2.x takes the samples in `[t - w, t]` and scales their
//! increase to the window; MetricsQL takes the increase from the last sample before the
//! window. With 60 s scrapes on the minute and `t` on a minute, both read the same samples
//! and agree to rounding: the comparisons below are made at such instants. Off the grid,
//! Prometheus' rate is the mean of the `k - 1` intervals inside the window and MetricsQL's
//! the mean of `k` (with the one across its start): they differ by that interval's deviation
//! from the mean, up to one interval's events in `k`, which for a 5-minute ratio of rare 5xx
//! is tens of percent (measured: 20 % for api-5xx-ratio) and for a week `60 s / 7 d` =
//! 0.01 %. A report's SLOs are judged at its period's last second, off the grid: its
//! short-window threshold SLOs are compared by status only there.

use std::sync::OnceLock;
use std::time::Instant;

use serde_json::Value;

use crate::support::victoria::Victoria;
use crate::support::{Run, Skip, TestResult, rel_diff, vitals, write};
use crate::week::{END, END_S, WEEK, incident, sim, week};

pub struct Vm {
    pub vm: Victoria,
    pub truth: Value,
}

/// Scrape interval of the simulated history.
const SCRAPE: i64 = 60;

/// The step of the data-start query for the longest SLO window (28 d / 250 points, rounded
/// to a nice step: 3 h): vitals reads a window that begins one such step before the data
/// start it found, so on VictoriaMetrics `rate x range` counts up to this much too long
/// ([`events_tolerance`]).
const DATA_START_STEP: f64 = 10_800.0;

/// Threshold SLOs over 5-minute windows: judged off the scrape grid (a report's last
/// second), their values differ by the extrapolation described above.
const SHORT_WINDOW_THRESHOLDS: [&str; 2] = ["api-5xx-ratio", "s3-latency-p95"];

pub fn vm() -> Result<&'static Vm, Skip> {
    static V: OnceLock<Result<Vm, String>> = OnceLock::new();
    let r = V.get_or_init(|| {
        let t0 = Instant::now();
        let vm = Victoria::start().map_err(|s| s.0)?;
        let truth_path = vm.dir.join("truth.json");
        let out = sim()
            .arg("history")
            .args(["--scenario", "incident-week", "--days", "14", "--end", END])
            .args(["--interval", "60s", "--quiet"])
            .arg("--remote-write")
            .arg(format!("{}/api/v1/write", vm.url))
            .arg("--truth")
            .arg(&truth_path)
            .output()
            .expect("run vitals-sim");
        assert!(
            out.status.success(),
            "vitals-sim history into VictoriaMetrics failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        vm.flush();
        let loaded = t0.elapsed().as_secs_f64();
        let truth: Value =
            serde_json::from_str(&std::fs::read_to_string(&truth_path).unwrap()).unwrap();
        // The recorded increases: `vitals rules`' increases group, replayed by vmalert over
        // the whole history and written back.
        let file = vm.dir.join("rules.yml");
        vitals(&["rules", "--out", file.to_str().unwrap()])
            .run()
            .expect_code(0);
        let rules = std::fs::read_to_string(&file).unwrap();
        let group = crate::recorded::increases_of(&rules, "", false);
        let group_file = write(&vm.dir, "increases.yml", &group);
        let t1 = Instant::now();
        let from = vitals::timespec::format_time(vitals::timespec::from_unix_seconds(
            (END_S - 2 * WEEK) as f64,
        ));
        let said = vm.replay(&group_file, &from, END);
        let imported = said
            .split("Imported ")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .unwrap_or("?")
            .to_string();
        eprintln!(
            "victoria: 14 days loaded by remote write in {loaded:.1} s; vmalert replayed the increases group ({imported} samples) in {:.1} s",
            t1.elapsed().as_secs_f64()
        );
        Ok(Vm { vm, truth })
    });
    match r {
        Ok(v) => Ok(v),
        Err(reason) => Err(Skip(reason.clone())),
    }
}

fn at(t: i64) -> String {
    vitals::timespec::format_time(vitals::timespec::from_unix_seconds(t as f64))
}

/// Instants on the scrape grid: in the MES outage, a quiet evening of the normal week, and
/// the last scrape.
fn grid_instants(truth: &Value) -> [i64; 3] {
    let outage = incident(truth, "MES outage")["start"].as_i64().unwrap() + 1800;
    let quiet = END_S - WEEK - 3 * 86_400 + 20 * 3600;
    let last = END_S - SCRAPE;
    for t in [outage, quiet, last] {
        assert_eq!(t % SCRAPE, 0, "{t} is not on the scrape grid");
    }
    [outage, quiet, last]
}

fn finite_series(r: &Run) -> Vec<(String, f64)> {
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut out: Vec<(String, f64)> = r.json()["series"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| Some((s["labels"].to_string(), s["value"].as_f64()?)))
        .filter(|(_, v)| v.is_finite())
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Every catalog query answers on VictoriaMetrics as on Prometheus at instants on the scrape
/// grid: the same series with a finite value, each value within 1e-9 (summation order). A
/// series whose value is NaN (a quantile without events) is no data: MetricsQL drops it,
/// Prometheus returns it.
pub fn catalog_queries_answer_on_victoriametrics_as_on_prometheus() -> TestResult {
    let w = week()?;
    let v = vm()?;
    assert_eq!(w.truth, v.truth, "the same simulated history");
    let list = vitals(&["queries", "--format", "json"]).run();
    list.expect_code(0);
    let names: Vec<String> = list.json()["queries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["name"].as_str().unwrap().to_string())
        .collect();
    assert!(names.len() > 50, "{} queries", names.len());
    let mut with_data = 0;
    let mut compared = 0;
    let mut worst = (0.0, String::new());
    for name in &names {
        let mut seen = false;
        for t in grid_instants(&w.truth) {
            let t = t.to_string();
            let args = ["query", name.as_str(), "--at", &t, "--format", "json"];
            let p = finite_series(&vitals(&args).prometheus(&w.prom.url).run());
            let m = finite_series(&vitals(&args).prometheus(&v.vm.url).run());
            let keys = |s: &[(String, f64)]| s.iter().map(|x| x.0.clone()).collect::<Vec<_>>();
            assert_eq!(
                keys(&p),
                keys(&m),
                "{name} at {t}: Prometheus and VictoriaMetrics return different series"
            );
            for ((k, a), (_, b)) in p.iter().zip(&m) {
                let d = if (a - b).abs() < 1e-12 {
                    0.0
                } else {
                    rel_diff(*a, *b)
                };
                if d > worst.0 {
                    worst = (d, format!("{name}{k} at {t}: {a} vs {b}"));
                }
                assert!(
                    d <= 1e-9,
                    "{name}{k} at {t}: Prometheus {a}, VictoriaMetrics {b}"
                );
                compared += 1;
            }
            seen |= !p.is_empty();
        }
        with_data += usize::from(seen);
    }
    assert!(
        with_data + 3 >= names.len(),
        "only {with_data} of {} queries returned data",
        names.len()
    );
    eprintln!(
        "victoria: {with_data} of {} catalog queries with data, {compared} values compared, largest difference {:.2e} ({})",
        names.len(),
        worst.0,
        worst.1
    );
    Ok(())
}

fn check_json(url: &str, t: i64, extra: &[&str]) -> (i32, Vec<Value>) {
    let t = t.to_string();
    let mut a = vec!["check", "--at", &t, "--format", "json"];
    a.extend(extra);
    let r = vitals(&a).prometheus(url).run();
    assert!([0, 1].contains(&r.code), "exit {}: {}", r.code, r.stderr);
    (r.code, r.json()["slos"].as_array().unwrap().clone())
}

/// How far VictoriaMetrics' event counts may be above Prometheus' for a row: the data-start
/// step over the data the window has ([`DATA_START_STEP`]), plus rounding.
fn events_tolerance(row: &Value) -> f64 {
    let secs = |k: &str| {
        chrono::DateTime::parse_from_rfc3339(row["window"][k].as_str().unwrap())
            .unwrap()
            .timestamp() as f64
    };
    let span = row["coverage"].as_f64().unwrap() * (secs("end") - secs("start"));
    DATA_START_STEP / span + 1e-6
}

/// Whole minutes: a window that starts on the scrape grid when its end does.
fn on_grid(window: &str) -> bool {
    !window.contains('s')
}

fn key(r: &Value) -> String {
    format!("{}{}", r["name"].as_str().unwrap(), r["group"])
}

/// `vitals check` on VictoriaMetrics gives Prometheus' statuses and values at instants on
/// the scrape grid: SLIs within 1e-6, threshold values within 1e-9, burn rates over
/// whole-minute windows within 1e-6, event counts within the data-start step over the data
/// span (1-1.4 % here).
pub fn check_on_victoriametrics_agrees_with_prometheus() -> TestResult {
    let w = week()?;
    let v = vm()?;
    for t in grid_instants(&w.truth) {
        let (pc, p) = check_json(&w.prom.url, t, &["--source", "raw"]);
        let (vc, m) = check_json(&v.vm.url, t, &["--source", "raw"]);
        assert_eq!(pc, vc, "exit codes at {t}");
        assert_eq!(p.len(), m.len(), "rows at {t}");
        for (a, b) in p.iter().zip(&m) {
            let k = format!("{} at {t}", key(a));
            assert_eq!(key(a), key(b));
            assert_eq!(a["status"], b["status"], "{k}:\n{a}\n{b}");
            let (x, y) = (a["value"].as_f64(), b["value"].as_f64());
            let (Some(x), Some(y)) = (x, y) else {
                assert_eq!(a["value"], b["value"], "{k}");
                continue;
            };
            if a["kind"] == "threshold" {
                assert!(rel_diff(x, y) <= 1e-9, "{k}: {x} vs {y}");
                continue;
            }
            assert!(rel_diff(x, y) <= 1e-6, "{k}: SLI {x} vs {y}");
            let tol = events_tolerance(a);
            let (e, f) = (
                a["events"]["total"].as_f64().unwrap(),
                b["events"]["total"].as_f64().unwrap(),
            );
            assert!(
                f >= e * (1.0 - 1e-6) && rel_diff(e, f) <= tol,
                "{k}: {e} events vs {f} (tolerance {tol})"
            );
            for (br, bv) in a["burn_rates"]
                .as_array()
                .unwrap()
                .iter()
                .zip(b["burn_rates"].as_array().unwrap())
            {
                for (wk, rk) in [("long", "long_rate"), ("short", "short_rate")] {
                    if !on_grid(br[wk].as_str().unwrap()) {
                        continue;
                    }
                    let (r1, r2) = (br[rk].as_f64(), bv[rk].as_f64());
                    match (r1, r2) {
                        (Some(r1), Some(r2)) => assert!(
                            (r1 - r2).abs() <= 1e-9 || rel_diff(r1, r2) <= 1e-6,
                            "{k}: burn rate over {}: {r1} vs {r2}",
                            br[wk]
                        ),
                        _ => assert_eq!(br[rk], bv[rk], "{k}"),
                    }
                }
            }
        }
    }
    Ok(())
}

/// Walks two JSON documents and lists where they differ: numbers by more than `tol`
/// (relative, or 1e-12 absolute), anything else at all; `skip` names the keys not compared.
fn differences(
    a: &Value,
    b: &Value,
    path: &str,
    tol: f64,
    skip: &dyn Fn(&str) -> bool,
) -> Vec<String> {
    let mut out = Vec::new();
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for k in x.keys().chain(y.keys().filter(|k| !x.contains_key(*k))) {
                let p = format!("{path}.{k}");
                if skip(&p) {
                    continue;
                }
                match (x.get(k), y.get(k)) {
                    (Some(u), Some(v)) => out.extend(differences(u, v, &p, tol, skip)),
                    _ => out.push(format!("{p}: only on one side")),
                }
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            if x.len() != y.len() {
                out.push(format!("{path}: {} vs {} items", x.len(), y.len()));
            }
            for (i, (u, v)) in x.iter().zip(y).enumerate() {
                out.extend(differences(u, v, &format!("{path}[{i}]"), tol, skip));
            }
        }
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            if (x - y).abs() > 1e-12 && rel_diff(x, y) > tol {
                out.push(format!("{path}: {x} vs {y}"));
            }
        }
        _ if a != b => out.push(format!("{path}: {a} vs {b}")),
        _ => {}
    }
    out
}

/// `vitals status` during the outage and at quiet times: the same screen on both engines,
/// every number within 1e-6, except a burn rate over a window that is not whole minutes
/// (4m40s, the short page window of a 28-day SLO), which may start off the scrape grid.
pub fn status_on_victoriametrics_agrees_with_prometheus() -> TestResult {
    let w = week()?;
    let v = vm()?;
    for t in grid_instants(&w.truth) {
        let args = [
            "status",
            "--at",
            &at(t),
            "--format",
            "json",
            "--source",
            "raw",
        ];
        let p = vitals(&args).prometheus(&w.prom.url).run();
        let m = vitals(&args).prometheus(&v.vm.url).run();
        assert_eq!(p.code, m.code, "{}\n{}", p.stderr, m.stderr);
        let (p, m) = (p.json(), m.json());
        // Burn-rate texts name their windows: drop the off-grid one's number.
        let off_grid = |s: &str| {
            s.split(" and ")
                .map(|part| {
                    if part.contains(" over 4m40s") {
                        "(4m40s)".to_string()
                    } else {
                        part.to_string()
                    }
                })
                .collect::<Vec<_>>()
                .join(" and ")
        };
        let norm = |mut d: Value| {
            for c in d["components"].as_array_mut().unwrap() {
                if let Some(ps) = c["slos"]["problems"].as_array_mut() {
                    for x in ps {
                        *x = Value::String(off_grid(x.as_str().unwrap()));
                    }
                }
            }
            d["verdict_line"] = Value::String(off_grid(d["verdict_line"].as_str().unwrap()));
            d
        };
        let diff = differences(&norm(p), &norm(m), "", 1e-6, &|_| false);
        assert!(diff.is_empty(), "status at {}:\n{}", at(t), diff.join("\n"));
    }
    Ok(())
}

/// The weekly report of the incident week on both engines: every KPI, chart point, SLO line
/// and component metric within 2 x 60 s / 7 d = 2e-4 (one scrape interval at each end of a
/// week judged at its last second, off the grid); the short-window threshold SLOs by status;
/// incidents, found from burn rates over short windows at the report's sample step, with the
/// same conditions and boundaries within one step (and MTTR, time in incidents accordingly):
/// a condition over `[step]` ends one step later on Prometheus 2.x, whose range `[t - step, t]`
/// still holds the last bad sample at `t - step` that MetricsQL's `(t - step, t]` does not
/// (measured: the RabbitMQ scrape gap ends at 01:33 on Prometheus, 01:30 on VictoriaMetrics).
pub fn weekly_report_on_victoriametrics_agrees_with_prometheus() -> TestResult {
    let w = week()?;
    let v = vm()?;
    let args = [
        "report", "--week", "2026-W47", "--format", "json", "--source", "raw",
    ];
    let p = vitals(&args).prometheus(&w.prom.url).run();
    let m = vitals(&args).prometheus(&v.vm.url).run();
    p.expect_code(0);
    m.expect_code(0);
    let (p, m) = (p.json(), m.json());
    // Incidents are found at their own step (3m for a week).
    let step = p["incidents"]["step"].as_str().unwrap().to_string();
    assert_eq!(p["incidents"]["step"], m["incidents"]["step"]);
    assert_eq!(p["sample_step"], m["sample_step"]);
    let step_s = step
        .parse::<vitals::duration::Duration>()
        .unwrap()
        .secs_f64();
    let tol = 2.0 * SCRAPE as f64 / WEEK as f64;
    let short: Vec<usize> = p["slos"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .filter(|(_, s)| {
            // A grouped SLO's line is named `name{label=value}`.
            let name = s["name"].as_str().unwrap();
            SHORT_WINDOW_THRESHOLDS.contains(&name.split('{').next().unwrap())
        })
        .map(|(i, _)| i)
        .collect();
    assert!(short.len() >= 4, "{short:?}");
    let mttr = p["kpis"]
        .as_array()
        .unwrap()
        .iter()
        .position(|k| k["id"] == "mttr_detected")
        .map(|i| format!(".kpis[{i}]"));
    let skip = |path: &str| {
        // When the report was written; `change` is value - previous, both compared; the
        // incidents and the MTTR of detected ones below.
        if path == ".generated_at"
            || path.ends_with(".change")
            || path.starts_with(".incidents")
            || mttr.as_deref().is_some_and(|m| path.starts_with(m))
        {
            return true;
        }
        short.iter().any(|i| {
            let s = format!(".slos[{i}].");
            path.starts_with(&s) && !path.ends_with("status") && !path.ends_with(".name")
        })
    };
    let diff = differences(&p, &m, "", tol, &skip);
    assert!(diff.is_empty(), "weekly report:\n{}", diff.join("\n"));
    // Incidents: the same ones, boundaries within one sample step.
    let (pi, mi) = (
        p["incidents"]["list"].as_array().unwrap(),
        m["incidents"]["list"].as_array().unwrap(),
    );
    assert_eq!(pi.len(), mi.len(), "incidents");
    let secs = |v: &Value| {
        chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap())
            .unwrap()
            .timestamp() as f64
    };
    for (a, b) in pi.iter().zip(mi) {
        for k in ["severity", "component", "components"] {
            assert_eq!(a[k], b[k], "incident {}: {k}", a["id"]);
        }
        for k in ["start", "end"] {
            assert!(
                (secs(&a[k]) - secs(&b[k])).abs() <= step_s,
                "incident {} {k}: {} vs {} (step {step})",
                a["id"],
                a[k],
                b[k]
            );
        }
        let names = |x: &Value| {
            x["conditions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| format!("{}/{}", c["name"], c["severity"]))
                .collect::<Vec<_>>()
        };
        assert_eq!(names(a), names(b), "incident {}", a["id"]);
    }
    let n = pi.len() as f64;
    for k in ["mttr", "time_in_incidents"] {
        let (x, y) = (
            p["incidents"][k]["value"].as_f64().unwrap(),
            m["incidents"][k]["value"].as_f64().unwrap(),
        );
        assert!(
            (x - y).abs() <= 2.0 * n * step_s,
            "{k}: {x} vs {y} ({n} incidents, step {step})"
        );
    }
    Ok(())
}

/// The recorded increases vmalert replayed into VictoriaMetrics serve `--source recorded`:
/// `auto` uses them, and every SLI agrees with the raw one on VictoriaMetrics and with
/// Prometheus' raw SLI within 0.1 % (the bound of docs/recording.md), with the same statuses.
pub fn recorded_slis_on_victoriametrics_agree_with_raw() -> TestResult {
    let w = week()?;
    let v = vm()?;
    let mut compared = 0;
    for t in [END_S - 2 * 86_400 - 150, END_S - 1] {
        let (_, raw) = check_json(&v.vm.url, t, &["--source", "raw"]);
        let (_, rec) = check_json(&v.vm.url, t, &["--source", "recorded"]);
        let (_, auto) = check_json(&v.vm.url, t, &[]);
        let (_, prom) = check_json(&w.prom.url, t, &["--source", "raw"]);
        for (((r, c), a), p) in raw.iter().zip(&rec).zip(&auto).zip(&prom) {
            assert_eq!(key(r), key(c));
            if r["kind"] == "threshold" || c["source"] == "raw" {
                continue;
            }
            let k = format!("{} at {t}", key(r));
            assert_eq!(c["source"], "recorded", "{k}: {c}");
            assert_eq!(a["source"], "recorded", "{k}: auto with full coverage: {a}");
            assert_eq!(a["value"], c["value"], "{k}");
            let y = c["value"].as_f64().unwrap();
            for (what, other) in [("raw on VictoriaMetrics", r), ("raw on Prometheus", p)] {
                let x = other["value"].as_f64().unwrap();
                assert!(
                    rel_diff(x, y) <= 1e-3,
                    "{k}: recorded SLI {y} vs {what} {x}"
                );
                assert_eq!(other["status"], c["status"], "{k}: {what}");
            }
            compared += 1;
        }
    }
    assert!(compared >= 12, "{compared} recorded rows compared");
    Ok(())
}

/// vmalert loads the whole rule file `vitals rules` writes (recording and alerting groups,
/// as Prometheus does: tests/it/rules.rs), and refuses a broken one.
pub fn vmalert_loads_the_generated_rules() -> TestResult {
    crate::support::victoria::require_binaries()?;
    let dir = crate::support::scratch();
    let file = dir.path().join("rules.yml");
    vitals(&["rules", "--out", file.to_str().unwrap()])
        .run()
        .expect_code(0);
    Victoria::dry_run(&file).unwrap_or_else(|e| panic!("vmalert refused the rules:\n{e}"));
    let text = std::fs::read_to_string(&file).unwrap();
    let broken = write(
        dir.path(),
        "broken.yml",
        &text.replacen("expr: |-\n          ", "expr: |-\n          sum((", 1),
    );
    assert!(
        Victoria::dry_run(&broken).is_err(),
        "vmalert -dryRun accepted a broken expression"
    );
    Ok(())
}
