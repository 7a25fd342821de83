//! Recorded SLIs: the increases `vitals rules` records, evaluated over the simulated weeks
//! and backfilled with `promtool`, give the SLIs the raw series give (within
//! the bound of docs/recording.md); rules made for another definition of an SLO are stale,
//! reported and not used; `auto` reads raw where the recorded series do not cover the window.
//!
//! `promtool tsdb create-blocks-from rules` writes one block per rule and 2 hours (1.2 s a
//! rule-day here: 14 rules x 14 days took 214 s), so the fixture checks on two hours of one
//! rule that it evaluates the rules exactly as promtool does, then evaluates them with one
//! range query per rule and backfills the result with `create-blocks-from openmetrics`.
//!
//! The fixture is a second Prometheus holding only the backfilled blocks, which reads the
//! raw series of the shared week server through remote read (`read_recent`): both sources
//! are answered by one server, as in production, without loading the history twice.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Instant;

use serde_json::Value;

use crate::support::prometheus::{Prometheus, Spec, enc, http_get};
use crate::support::{Run, Skip, TestResult, rel_diff, repo, vitals, write};
use crate::week::{END_S, WEEK, week};

/// The status signals are evaluated every minute at this second, over the last
/// [`SIGNAL_SPAN`] seconds of the history only.
const SIGNAL_OFFSET: i64 = 17;
const SIGNAL_SPAN: i64 = 3 * 3600;

/// The SLO whose increases are backfilled over the last week only (the others over both):
/// `auto` must read it raw.
const PARTIAL: &str = "mes-latency";

struct Fixture {
    prom: Prometheus,
    /// The generated rule file.
    rules: String,
    dir: PathBuf,
}

/// The rules of the `vitals-slo-increases` group whose labels name `slo` (or every other
/// SLO's with `keep = false`), as a rule file of their own.
pub(crate) fn increases_of(rules: &str, slo: &str, keep: bool) -> String {
    let start = rules
        .find("  - name: vitals-slo-increases\n")
        .expect("an increases group");
    let rest = &rules[start..];
    let end = rest[1..].find("\n  - name: ").map_or(rest.len(), |i| i + 2);
    let group = &rest[..end];
    let (head, body) = group.split_at(group.find("      - record:").expect("rules"));
    let mut out = format!("groups:\n{head}");
    for rule in body
        .split_inclusive('\n')
        .fold(Vec::<String>::new(), |mut acc, l| {
            if l.starts_with("      - record:") || acc.is_empty() {
                acc.push(String::new());
            }
            acc.last_mut().unwrap().push_str(l);
            acc
        })
    {
        if rule.contains(&format!("slo: '{slo}'")) == keep {
            out.push_str(&rule);
        }
    }
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

/// A group of the generated file as a rule file of its own.
fn group_of(rules: &str, name: &str) -> String {
    let start = rules
        .find(&format!("  - name: {name}\n"))
        .unwrap_or_else(|| panic!("a group {name}"));
    let rest = &rules[start..];
    let end = rest[1..].find("\n  - name: ").map_or(rest.len(), |i| i + 2);
    format!("groups:\n{}", &rest[..end])
}

/// One recording rule of a generated file.
struct Rule {
    record: String,
    expr: String,
    labels: Vec<(String, String)>,
}

/// The rules of a one-group rule file as `vitals rules` writes them (`expr: |-` blocks,
/// single-quoted labels).
fn parse_rules(file: &str) -> Vec<Rule> {
    let mut out: Vec<Rule> = Vec::new();
    for l in file.lines() {
        if let Some(name) = l.strip_prefix("      - record: ") {
            out.push(Rule {
                record: name.to_string(),
                expr: String::new(),
                labels: Vec::new(),
            });
        } else if let Some(r) = out.last_mut() {
            if let Some(e) = l.strip_prefix("          ")
                && r.labels.is_empty()
                && !e.contains(": '")
            {
                r.expr.push_str(e);
                r.expr.push('\n');
            } else if let Some((k, v)) = l.trim().split_once(": '") {
                r.labels
                    .push((k.to_string(), v.trim_end_matches('\'').to_string()));
            }
        }
    }
    out
}

/// The rules evaluated as a rule group with a 5-minute interval evaluates them, at
/// `first + k x 5m` up to the history's end: one range query per rule (the same evaluation
/// `promtool tsdb create-blocks-from rules` makes, in one query instead of one per 2-hour
/// block), written as OpenMetrics for `promtool tsdb create-blocks-from openmetrics`.
fn evaluate(port: u16, rules: &[Rule], first: i64) -> String {
    evaluate_every(port, rules, first, 300)
}

/// [`evaluate`] for a group evaluated every `step` seconds, in range queries of at most
/// 10,000 steps (Prometheus answers 11,000 points per series at most).
fn evaluate_every(port: u16, rules: &[Rule], first: i64, step: i64) -> String {
    let mut om = String::new();
    let mut from = first;
    while from <= END_S {
        let to = (from + 9_999 * step).min(END_S);
        om.push_str(&evaluate_span(port, rules, from, to, step));
        from = to + step;
    }
    om
}

/// The rules evaluated at `from + k x step` up to `to`, as OpenMetrics.
fn evaluate_span(port: u16, rules: &[Rule], from: i64, to: i64, step: i64) -> String {
    let mut om = String::new();
    for r in rules {
        let path = format!(
            "/api/v1/query_range?query={}&start={from}&end={to}&step={step}",
            enc(&r.expr)
        );
        let t = Instant::now();
        let (status, body) = http_get(port, &path).expect("Prometheus answers");
        assert_eq!(status, 200, "{}: {body}", r.expr);
        if std::env::var_os("VITALS_TEST_TIMES").is_some() {
            eprintln!(
                "{:.2} s: {}",
                t.elapsed().as_secs_f64(),
                r.expr.replace('\n', " ")
            );
        }
        let v: Value = serde_json::from_str(&body).unwrap();
        for s in v["data"]["result"].as_array().unwrap() {
            let mut labels: Vec<(String, String)> = s["metric"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                .collect();
            labels.extend(r.labels.iter().cloned());
            labels.sort();
            let l: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
            for p in s["values"].as_array().unwrap() {
                om.push_str(&format!(
                    "{}{{{}}} {} {}\n",
                    r.record,
                    l.join(","),
                    p[1].as_str().unwrap(),
                    p[0]
                ));
            }
        }
    }
    om
}

fn promtool(args: &[&str]) -> String {
    let r = Command::new("promtool")
        .args(args)
        .output()
        .expect("run promtool");
    assert!(
        r.status.success(),
        "promtool {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&r.stdout),
        String::from_utf8_lossy(&r.stderr)
    );
    String::from_utf8_lossy(&r.stdout).into_owned()
}

/// `promtool tsdb create-blocks-from rules` on one rule over two hours gives the values the
/// range query gives at its evaluation times: the fixture's evaluation is the rules'.
fn same_as_promtool_backfill(dir: &Path, port: u16, url: &str, rules: &str) {
    let one = parse_rules(rules)
        .into_iter()
        .find(|r| r.record == "slo:sli_total:increase5m")
        .expect("a total rule");
    let chunks: Vec<&str> = rules.split("      - record: ").collect();
    let total = chunks
        .iter()
        .find(|c| c.starts_with("slo:sli_total:"))
        .expect("a total rule");
    let file = format!("{}      - record: {total}", chunks[0]);
    let file = write(dir, "one.yml", &file);
    let out = dir.join("promtool-blocks");
    promtool(&[
        "tsdb",
        "create-blocks-from",
        "rules",
        "--quiet",
        &format!("--start={}", END_S - 7200),
        &format!("--end={END_S}"),
        &format!("--url={url}"),
        &format!("--output-dir={}", out.display()),
        file.to_str().unwrap(),
    ]);
    std::fs::create_dir_all(out.join("wal")).unwrap();
    let dump = promtool(&["tsdb", "dump", out.to_str().unwrap()]);
    let points: Vec<(f64, f64)> = dump
        .lines()
        .filter_map(|l| {
            let mut it = l.rsplitn(3, ' ');
            let ts: f64 = it.next()?.parse().ok()?;
            let v: f64 = it.next()?.parse().ok()?;
            Some((ts / 1000.0, v))
        })
        .collect();
    assert!(points.len() >= 20, "{dump}");
    let first = points.iter().map(|p| p.0).fold(f64::MAX, f64::min);
    let path = format!(
        "/api/v1/query_range?query={}&start={first}&end={END_S}&step=300",
        enc(&one.expr)
    );
    let (_, body) = http_get(port, &path).unwrap();
    let v: Value = serde_json::from_str(&body).unwrap();
    let ours = v["data"]["result"][0]["values"].as_array().unwrap();
    for (ts, val) in &points {
        let mine = ours
            .iter()
            .find(|p| (p[0].as_f64().unwrap() - ts).abs() < 0.01)
            .unwrap_or_else(|| panic!("no evaluation at {ts}"));
        let mine: f64 = mine[1].as_str().unwrap().parse().unwrap();
        assert!(
            rel_diff(mine, *val) < 1e-12,
            "at {ts}: {mine} vs promtool {val}"
        );
    }
}

fn fixture() -> Result<&'static Fixture, Skip> {
    static F: OnceLock<Result<Fixture, String>> = OnceLock::new();
    let w = week()?;
    let r = F.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("vitals-recorded-")
            .tempdir()
            .unwrap()
            .keep();
        let file = dir.join("rules.yml");
        vitals(&["rules", "--out", file.to_str().unwrap()])
            .run()
            .expect_code(0);
        let rules = std::fs::read_to_string(&file).unwrap();
        let t0 = Instant::now();
        same_as_promtool_backfill(&dir, w.prom.port, &w.prom.url, &increases_of(&rules, PARTIAL, false));
        let checked = t0.elapsed().as_secs_f64();
        // Evaluated off the 5-minute grid, as Prometheus offsets every group's evaluations
        // within its interval.
        let offset = 137;
        let mut om = evaluate(
            w.prom.port,
            &parse_rules(&increases_of(&rules, PARTIAL, false)),
            END_S - 2 * WEEK + offset,
        );
        om.push_str(&evaluate(
            w.prom.port,
            &parse_rules(&increases_of(&rules, PARTIAL, true)),
            END_S - WEEK + offset,
        ));
        // The report's KPI terms, over both weeks (offset differently: another group).
        om.push_str(&evaluate(
            w.prom.port,
            &parse_rules(&group_of(&rules, "vitals-kpi-increases")),
            END_S - 2 * WEEK + 61,
        ));
        // The thresholds' minutes, over both weeks, on the minute: evaluated where the raw
        // breach subquery samples, the recorded time broken must equal the raw one exactly.
        om.push_str(&evaluate_every(
            w.prom.port,
            &parse_rules(&group_of(&rules, "vitals-threshold-minutes")),
            END_S - 2 * WEEK,
            60,
        ));
        // The peaks, over both weeks, on the minute: where the raw peak subquery samples.
        om.push_str(&evaluate_every(
            w.prom.port,
            &parse_rules(&group_of(&rules, "vitals-kpi-peaks")),
            END_S - 2 * WEEK,
            60,
        ));
        // The status signals, every minute of the last hours.
        om.push_str(&evaluate_span(
            w.prom.port,
            &parse_rules(&group_of(&rules, "vitals-status-signals")),
            END_S - SIGNAL_SPAN + SIGNAL_OFFSET,
            END_S,
            60,
        ));
        om.push_str("# EOF\n");
        let om_file = write(&dir, "recorded.om", &om);
        let blocks = dir.join("blocks");
        promtool(&[
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            "--max-block-duration=1440h",
            om_file.to_str().unwrap(),
            blocks.to_str().unwrap(),
        ]);
        eprintln!(
            "recorded: promtool's rule backfill of 2 hours checked in {checked:.1} s; 14 days of 5-minute increases of {} rules evaluated and backfilled in {:.1} s",
            parse_rules(&increases_of(&rules, "", false)).len(),
            t0.elapsed().as_secs_f64() - checked
        );
        let mut found: Vec<PathBuf> = std::fs::read_dir(&blocks)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.join("meta.json").is_file())
            .collect();
        found.sort();
        assert!(!found.is_empty(), "promtool wrote no blocks");
        let prom = Prometheus::start(Spec {
            blocks: found,
            config: format!(
                "remote_read:\n  - url: {}/api/v1/read\n    read_recent: true\n",
                w.prom.url
            ),
            ..Spec::default()
        })
        .map_err(|s| s.0)?;
        Ok(Fixture { prom, rules, dir })
    });
    match r {
        Ok(f) => Ok(f),
        Err(reason) => Err(Skip(reason.clone())),
    }
}

fn check(f: &Fixture, at: i64, extra: &[&str]) -> Run {
    let at = at.to_string();
    let mut a = vec!["--timeout", "2m", "check", "--at", &at, "--format", "json"];
    a.extend(extra);
    vitals(&a).prometheus(&f.prom.url).run()
}

fn rows(r: &Run) -> Vec<Value> {
    assert!([0, 1, 3].contains(&r.code), "exit {}: {}", r.code, r.stderr);
    r.json()["slos"].as_array().unwrap().clone()
}

fn key(row: &Value) -> String {
    format!("{}{}", row["name"].as_str().unwrap(), row["group"])
}

fn is_budget(row: &Value) -> bool {
    row["kind"] != "threshold"
}

/// `--source recorded` and `--source raw` give every SLI within 0.1 % and the same statuses,
/// at two instants that are not on the rules' 5-minute grid (one in the incident week's
/// outage day, one at its end).
pub fn recorded_and_raw_slis_agree() -> TestResult {
    let f = fixture()?;
    // The recorded window is the SLO window shifted back by less than one interval (the
    // last evaluation is up to 5 minutes before --at): the SLI moves by at most the share of
    // events in the two 5-minute slices at its ends, bad ones, divided by the SLI: with the
    // 13 days of data the instants below see, 300 s / (13 x 86,400 s) / 0.9 = 0.03 % for
    // steady traffic in the worst case of slices made of errors only. The rest is rate()'s
    // extrapolation at every interval's edges (60 s scrapes), noise that averages out over
    // thousands of intervals. The requirement, 0.1 %, leaves room for traffic that is not
    // steady.
    const TOLERANCE: f64 = 1e-3;
    let mut worst: (f64, String) = (0.0, String::new());
    let mut worst_burn: (f64, String) = (0.0, String::new());
    for at in [END_S - 2 * 86_400 - 150, END_S - 1] {
        let raw = rows(&check(f, at, &["--source", "raw"]));
        let rec = rows(&check(f, at, &["--source", "recorded"]));
        let auto = rows(&check(f, at, &[]));
        assert_eq!(raw.len(), rec.len());
        let mut compared = 0;
        let mut thresholds = 0;
        for ((r, c), a) in raw.iter().zip(&rec).zip(&auto) {
            assert_eq!(key(r), key(c));
            assert_eq!(r["source"], "raw", "{r}");
            if !is_budget(r) {
                // Thresholds over a window of 30 minutes or more made of recordable KPI
                // terms (the trailing lost-order share, MTTR, p95 of order processing)
                // are stitched from `vitals-kpi-increases`; the rest read raw series.
                assert_eq!(c["source"], a["source"], "{c}\n{a}");
                if c["source"] == "raw" {
                    assert_eq!(r["value"], c["value"], "{}", key(r));
                    continue;
                }
                assert_eq!(c["source"], "recorded", "{c}");
                thresholds += 1;
                let (x, y) = (r["value"].as_f64(), c["value"].as_f64());
                let (Some(x), Some(y)) = (x, y) else {
                    assert_eq!(r["value"], c["value"], "{}", key(r));
                    continue;
                };
                let d = rel_diff(x, y);
                if d > worst.0 {
                    worst = (d, format!("{} at {at}: raw {x}, recorded {y}", key(r)));
                }
                assert!(
                    d <= TOLERANCE,
                    "{} at {at}: raw {x} vs recorded {y}",
                    key(r)
                );
                assert_eq!(r["status"], c["status"], "{}: {r}\n{c}", key(r));
                continue;
            }
            let name = r["name"].as_str().unwrap();
            if c["source"] == "raw" {
                // A calendar week under half an hour old: every window is short, read raw.
                let note = c["source_note"].as_str().unwrap_or_default();
                assert!(note.contains("shorter than 30m"), "{c}");
                assert_eq!(a["source"], "raw", "{a}");
                assert_eq!((&a["value"], &c["value"]), (&r["value"], &r["value"]));
                continue;
            }
            assert_eq!(c["source"], "recorded", "{c}");
            if name == PARTIAL {
                // Recorded over the last week only: forced, it says so; auto reads raw.
                let note = c["source_note"].as_str().unwrap_or_default();
                assert!(note.contains("current fingerprint cover "), "{note}");
                assert_eq!(a["source"], "raw", "{a}");
                let note = a["source_note"].as_str().unwrap_or_default();
                assert!(note.contains("raw series used"), "{note}");
                assert_eq!(a["value"], r["value"]);
                continue;
            }
            assert_eq!(a["source"], "recorded", "auto with full coverage: {a}");
            assert!(a.get("source_note").is_none(), "{a}");
            assert_eq!(a["value"], c["value"]);
            let (x, y) = (r["value"].as_f64().unwrap(), c["value"].as_f64().unwrap());
            let d = rel_diff(x, y);
            if d > worst.0 {
                worst = (d, format!("{} at {at}: raw {x}, recorded {y}", key(r)));
            }
            assert!(
                d <= TOLERANCE,
                "{} at {at}: raw SLI {x} vs recorded {y} ({:.4} %)",
                key(r),
                d * 100.0
            );
            assert_eq!(r["status"], c["status"], "{}: {r}\n{c}", key(r));
            // Event counts: the same bound, plus rate()'s extrapolation at the edges of
            // every 5-minute interval for ratio SLOs recorded as rate() x 300 (0.15 % on the
            // slowest route, 20,000 requests in 13 days), plus the raw window's own
            // extrapolation over up to a scrape interval at its ends (0.55 % of a calendar
            // week 3 hours old; stitched, the recorded count is the counters' exact
            // difference across the window).
            let events = |v: &Value| v["events"]["total"].as_f64().unwrap();
            let elapsed = r["window"]["elapsed"]
                .as_str()
                .unwrap()
                .parse::<vitals::duration::Duration>()
                .unwrap()
                .secs_f64();
            assert!(
                rel_diff(events(r), events(c)) <= 5e-3 + 60.0 / elapsed,
                "{}: {} vs {} events",
                key(r),
                events(r),
                events(c)
            );
            // The burn rates, over windows of 30 minutes or more stitched from recorded
            // intervals and 10-20 raw minutes at their ends. Both forms count exact
            // differences of the counters (ratio SLOs of `sum(rate(selector))` are recorded
            // so, as latency SLOs are), so what differs is the raw window's own rate()
            // extrapolation at its two ends: up to the bad events of a scrape interval at
            // each, and at least a few bad events where a window has a few dozen. The bound:
            // 5 % plus two scrape intervals' share of the window, plus the burn rate of three
            // bad events in the window (its events estimated from the SLO window's rate).
            let budget = 1.0 - r["objective"].as_f64().unwrap();
            let per_second = events(r) / (at - (END_S - 2 * WEEK)) as f64;
            let burns = |v: &Value| v["burn_rates"].as_array().unwrap().clone();
            for (br, bc) in burns(r).iter().zip(&burns(c)) {
                for side in ["long", "short"] {
                    let rate = |b: &Value| b[format!("{side}_rate")].as_f64();
                    let (Some(x), Some(y)) = (rate(br), rate(bc)) else {
                        assert_eq!(rate(br).is_some(), rate(bc).is_some(), "{br}\n{bc}");
                        continue;
                    };
                    let w = br[side]
                        .as_str()
                        .unwrap()
                        .parse::<vitals::duration::Duration>()
                        .unwrap()
                        .secs_f64();
                    let rel = 0.05 + 2.0 * 60.0 / w;
                    let abs = 3.0 / (budget * per_second * w).max(1.0);
                    let d = (x - y).abs();
                    let w = format!("{} {} {} at {at}", key(r), br["severity"], br[side]);
                    if d / x.abs().max(y.abs()).max(1.0) > worst_burn.0 {
                        worst_burn = (
                            d / x.abs().max(y.abs()).max(1.0),
                            format!("{w}: raw {x}, recorded {y}"),
                        );
                    }
                    assert!(
                        d <= rel * x.abs().max(y.abs()) + abs,
                        "{w}: raw burn {x} vs recorded {y} (budget {budget}, {per_second} events/s, bound {rel} + {abs})"
                    );
                }
                assert_eq!(br["firing"], bc["firing"], "{}: {br}\n{bc}", key(r));
            }
            compared += 1;
        }
        assert!(compared >= 6, "{compared} budget SLO rows compared");
        assert!(
            thresholds >= 3,
            "{thresholds} threshold SLOs read recorded KPI terms"
        );
    }
    eprintln!(
        "recorded: largest SLI difference {:.5} % ({}); largest burn-rate difference {:.4} % ({})",
        worst.0 * 100.0,
        worst.1,
        worst_burn.0 * 100.0,
        worst_burn.1
    );
    Ok(())
}

/// An engine without the `@` modifier, which stitched windows need: the probe pins its
/// last-point query with `@`, so it is the probe that fails, and every SLO is read from raw
/// series with a note (the values of `--source raw`), none inconclusive.
pub fn without_the_at_modifier_every_slo_is_read_raw() -> TestResult {
    use crate::support::proxy::{Fault, Plan, Proxy};
    let f = fixture()?;
    let proxy = Proxy::start(
        f.prom.port,
        Plan {
            seed: 0,
            rate: 1.0,
            faults: vec![Fault::NoAtModifier],
            slow: std::time::Duration::ZERO,
        },
    );
    let at = (END_S - 1).to_string();
    let run = |url: &str, extra: &[&str]| {
        let mut a = vec!["--timeout", "2m", "check", "--at", &at, "--format", "json"];
        a.extend(extra);
        vitals(&a).prometheus(url).run()
    };
    let raw = run(&f.prom.url, &["--source", "raw"]);
    let refused = run(&proxy.url, &[]);
    assert_eq!(refused.code, raw.code, "{}", refused.stderr);
    let (raw, refused) = (rows(&raw), rows(&refused));
    assert_eq!(raw.len(), refused.len());
    let mut noted = 0;
    for (r, v) in raw.iter().zip(&refused) {
        assert_eq!(key(r), key(v));
        assert_eq!(v["source"], "raw", "{v}");
        assert_eq!(r["value"], v["value"], "{}", key(r));
        assert_ne!(v["status"], "inconclusive", "{v}");
        if is_budget(v) {
            let note = v["source_note"].as_str().unwrap_or_default();
            assert!(
                note.contains("could not read the recorded series")
                    && note.contains("@ modifier is disabled"),
                "{note}"
            );
            noted += 1;
        }
    }
    assert!(noted >= 6, "{noted} budget SLOs noted");
    // `--source raw` asks nothing with `@`: through the same proxy, the same answers.
    let plain = rows(&run(&proxy.url, &["--source", "raw"]));
    for (r, p) in raw.iter().zip(&plain) {
        assert_eq!((key(r), &r["value"]), (key(p), &p["value"]));
    }
    Ok(())
}

/// An edited objective changes the SLO's fingerprint: its recorded series are stale, auto
/// says so and reads raw; `--source recorded` is inconclusive (exit 3); the table shows it.
pub fn stale_rules_are_reported_and_not_used() -> TestResult {
    let f = fixture()?;
    let slo = std::fs::read_to_string(repo().join("slo.toml")).unwrap();
    let start = slo.find("name = \"mes-availability\"").unwrap();
    let at = start + slo[start..].find("objective = 99.0").unwrap();
    let edited = format!(
        "{}objective = 99.2{}",
        &slo[..at],
        &slo[at + "objective = 99.0".len()..]
    );
    let dir = f.dir.join("edited");
    let config = write(&dir, "slo.toml", &edited);
    write(
        &dir,
        "site.toml",
        &std::fs::read_to_string(repo().join("site.toml")).unwrap(),
    );
    let config = config.to_str().unwrap();
    let old = f
        .rules
        .lines()
        .find_map(|l| l.strip_prefix("#   mes-availability: "))
        .expect("the fingerprint in the rule file's header");
    let when = END_S - 1;
    let auto = rows(&check(f, when, &["--config", config]));
    let mes = auto
        .iter()
        .find(|r| r["name"] == "mes-availability")
        .unwrap();
    assert_eq!(mes["source"], "raw", "{mes}");
    let note = mes["source_note"].as_str().unwrap_or_default();
    assert!(
        note.contains("stale") && note.contains(old) && note.contains("vitals rules"),
        "{note}"
    );
    let raw = rows(&check(f, when, &["--config", config, "--source", "raw"]));
    let raw_mes = raw
        .iter()
        .find(|r| r["name"] == "mes-availability")
        .unwrap();
    assert_eq!(mes["value"], raw_mes["value"]);
    // The other SLOs are unchanged: still read from their recorded series.
    let shop = auto
        .iter()
        .find(|r| r["name"] == "shop-availability")
        .unwrap();
    assert_eq!(shop["source"], "recorded", "{shop}");
    // Forced, stale series are never used.
    let forced = check(
        f,
        when,
        &[
            "--config",
            config,
            "--source",
            "recorded",
            "--slo",
            "mes-availability",
        ],
    );
    forced.expect_code(3);
    let row = &rows(&forced)[0];
    assert_eq!(row["status"], "inconclusive");
    assert!(row["value"].is_null());
    assert!(row["error"].as_str().unwrap().contains("stale"), "{row}");
    // The table says which source each SLO used, and why not the recorded one.
    let when = when.to_string();
    let t = vitals(&["check", "--config", config, "--at", &when])
        .prometheus(&f.prom.url)
        .run();
    assert!(
        t.stdout.contains("mes-availability: raw series") && t.stdout.contains("stale"),
        "{}",
        t.stdout
    );
    Ok(())
}

/// The report's KPIs over a week summed from the recorded KPI increases agree with the raw
/// series: counts within 0.5 % (or one event), ratios and quantiles within 0.5 %; the
/// report says which KPIs were recorded; `--source raw` reads none.
pub fn recorded_and_raw_kpis_agree() -> TestResult {
    let f = fixture()?;
    let report = |extra: &[&str]| {
        let mut a = vec![
            "--timeout",
            "2m",
            "report",
            "--week",
            "2026-W47",
            "--time-zone",
            "UTC",
            "--format",
            "json",
        ];
        a.extend(extra);
        let r = vitals(&a).prometheus(&f.prom.url).run();
        assert!([0, 3].contains(&r.code), "exit {}: {}", r.code, r.stderr);
        r.json()
    };
    let raw = report(&["--source", "raw"]);
    let rec = report(&[]);
    assert!(raw.get("kpi_sources").is_none(), "{}", raw["kpi_sources"]);
    // The incidents: at a 5-minute step with recorded increases (3 minutes raw), the
    // per-step cause hints summed from the recorded terms; the same incidents found, with
    // the same hints where both name one (their numbers come from other steps).
    let (ri, ci) = (&raw["incidents"], &rec["incidents"]);
    assert_eq!(
        (ri["step"].as_str(), ci["step"].as_str()),
        (Some("3m"), Some("5m"))
    );
    let method = ci["method"].as_str().unwrap();
    assert!(
        method.contains("the cause hints api.error_ratio")
            && method.contains("from recorded increases per step"),
        "{method}"
    );
    let first_words = |inc: &Value| -> Vec<String> {
        inc["cause"]
            .as_array()
            .map(|c| {
                c.iter()
                    .map(|h| {
                        h.as_str()
                            .unwrap()
                            .split(' ')
                            .take(2)
                            .collect::<Vec<_>>()
                            .join(" ")
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let (rl, cl) = (
        ri["list"].as_array().unwrap(),
        ci["list"].as_array().unwrap(),
    );
    assert_eq!(rl.len(), cl.len(), "{rl:?}\n{cl:?}");
    let mut hinted = 0;
    for (x, y) in rl.iter().zip(cl) {
        let (hx, hy) = (first_words(x), first_words(y));
        let shared = hx.iter().filter(|h| hy.contains(h)).count();
        assert!(
            hx.is_empty() == hy.is_empty() && (hx.is_empty() || shared >= 1),
            "incident {}: raw hints {hx:?}, recorded {hy:?}",
            x["id"]
        );
        hinted += usize::from(!hy.is_empty());
    }
    assert!(hinted >= 1, "no incident has a cause hint");
    let lines: Vec<&str> = rec["kpi_sources"]
        .as_array()
        .expect("kpi_sources")
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    let recorded = lines
        .iter()
        .find(|l| l.starts_with("KPIs over the period from recorded increases"))
        .unwrap_or_else(|| panic!("{lines:?}"));
    for q in [
        "business.orders_created",
        "business.lost_order_share",
        "business.order_processing_p95",
        "api.requests",
        "api.latency_p95",
    ] {
        assert!(recorded.contains(q), "{q} not recorded: {lines:?}");
    }
    assert!(
        !lines.iter().any(|l| l.contains("from raw series")),
        "both weeks are covered: {lines:?}"
    );
    // Every number of both weeks, by where it is in the document.
    let mut numbers: Vec<(String, Option<f64>, Option<f64>)> = Vec::new();
    let both = |a: &Value, b: &Value, key: String, out: &mut Vec<_>| {
        for field in ["value", "previous"] {
            out.push((
                format!("{key}.{field}"),
                a[field].as_f64(),
                b[field].as_f64(),
            ));
        }
    };
    for (a, b) in raw["kpis"]
        .as_array()
        .unwrap()
        .iter()
        .zip(rec["kpis"].as_array().unwrap())
    {
        assert_eq!(a["id"], b["id"]);
        both(a, b, a["id"].as_str().unwrap().to_string(), &mut numbers);
    }
    for (ca, cb) in raw["components"]
        .as_array()
        .unwrap()
        .iter()
        .zip(rec["components"].as_array().unwrap())
    {
        for (a, b) in ca["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .zip(cb["metrics"].as_array().unwrap())
        {
            both(a, b, a["id"].as_str().unwrap().to_string(), &mut numbers);
        }
    }
    for (ba, bb) in raw["breakdowns"]
        .as_array()
        .unwrap()
        .iter()
        .zip(rec["breakdowns"].as_array().unwrap())
    {
        let ra = ba["rows"].as_array().unwrap();
        let rb = bb["rows"].as_array().unwrap();
        assert_eq!(ra.len(), rb.len(), "{}: {ba}\n{bb}", ba["id"]);
        for (a, b) in ra.iter().zip(rb) {
            assert_eq!(a["labels"], b["labels"], "{}", ba["id"]);
            both(a, b, format!("{}{}", ba["id"], a["labels"]), &mut numbers);
        }
    }
    let mut worst = (0.0, String::new());
    let mut compared = 0;
    for (key, a, b) in &numbers {
        let (Some(a), Some(b)) = (a, b) else {
            assert_eq!(a.is_some(), b.is_some(), "{key}: raw {a:?}, recorded {b:?}");
            continue;
        };
        let d = rel_diff(*a, *b);
        // rate()'s extrapolation at the raw window's edges, and the recorded window's
        // shift by under 5 minutes, move a count by a fraction of an event per series.
        // Durations of incidents are accurate to a step at each end, and the recorded
        // report finds them at 5 minutes (raw: 3): their mean may differ by two steps.
        let incident_time =
            key.starts_with("mttr_detected") || key.starts_with("time_in_incidents");
        let ok = d <= 5e-3 || (a - b).abs() <= 1.0 || (incident_time && (a - b).abs() <= 600.0);
        assert!(ok, "{key}: raw {a} vs recorded {b} ({:.3} %)", d * 100.0);
        if d > worst.0 {
            worst = (d, format!("{key}: raw {a}, recorded {b}"));
        }
        compared += 1;
    }
    assert!(compared >= 30, "{compared} numbers compared");
    // The peaks, taken from the recorded minutes (evaluated on the raw subquery's steps):
    // the same numbers exactly.
    let peak_line = lines
        .iter()
        .find(|l| l.starts_with("Peaks from recorded minutes (vitals-kpi-peaks)"))
        .unwrap_or_else(|| panic!("{lines:?}"));
    for q in [
        "api.cpu_percent",
        "api.memory_bytes",
        "db.connection_saturation",
        "rabbitmq.queue_depth",
    ] {
        assert!(peak_line.contains(q), "{q} not recorded: {peak_line}");
    }
    let peaks: Vec<&(String, Option<f64>, Option<f64>)> = numbers
        .iter()
        .filter(|(k, ..)| k.contains("_peak."))
        .collect();
    assert!(peaks.len() >= 18, "{peaks:?}");
    for (key, a, b) in &peaks {
        let (Some(a), Some(b)) = (a, b) else {
            panic!("{key}: raw {a:?}, recorded {b:?}");
        };
        assert!(rel_diff(*a, *b) < 1e-9, "{key}: raw {a} vs recorded {b}");
    }
    eprintln!(
        "recorded peaks: {} numbers equal to the raw ones",
        peaks.len()
    );
    // The period KPIs (threshold SLOs judged over the period) agree too; and the time each
    // alerting threshold was broken, summed from its recorded minutes, is the raw breach
    // subquery's (the minutes were evaluated on its steps: no edge may differ).
    let breach_line = lines
        .iter()
        .find(|l| l.starts_with("Time thresholds were broken from recorded minutes"))
        .unwrap_or_else(|| panic!("{lines:?}"));
    let mut broken = 0;
    let mut nonzero = 0;
    let mut period_slis = 0;
    for (a, b) in raw["slos"]
        .as_array()
        .unwrap()
        .iter()
        .zip(rec["slos"].as_array().unwrap())
    {
        assert_eq!(a["name"], b["name"]);
        if let (Some(x), Some(y)) = (a["value"]["value"].as_f64(), b["value"]["value"].as_f64()) {
            assert!(
                rel_diff(x, y) <= 5e-3 || (x - y).abs() < 1e-9,
                "{}: raw {x} vs recorded {y}",
                a["name"]
            );
        }
        // The SLI over the period, from the budget burn-down's hourly steps (recorded
        // increases for every SLO but mes-latency): the error ratios agree. Both count a
        // ratio SLO's events with rate()'s extrapolation (hourly raw windows, 5-minute
        // recorded ones) on counters of a few hundred errors a week: a few events apart.
        if let (Some(x), Some(y)) = (
            a["period_sli"]["value"].as_f64(),
            b["period_sli"]["value"].as_f64(),
        ) {
            let (ex, ey) = (1.0 - x, 1.0 - y);
            let d = rel_diff(ex, ey);
            assert!(
                d <= 0.015 || (ex - ey).abs() < 1e-6,
                "{}: period SLI raw {x} vs recorded {y}",
                a["name"]
            );
            eprintln!(
                "period SLI {}: error ratio {:.3} % apart",
                a["name"],
                d * 100.0
            );
            period_slis += 1;
        }
        let (x, y) = (&a["breached"], &b["breached"]);
        assert_eq!(x.is_null(), y.is_null(), "{}: {x} vs {y}", a["name"]);
        if x.is_null() {
            continue;
        }
        let base = a["name"].as_str().unwrap().split('{').next().unwrap();
        assert!(breach_line.contains(base), "{base}: {breach_line}");
        for field in ["value", "previous"] {
            assert_eq!(
                x[field].as_f64(),
                y[field].as_f64(),
                "{} {field}: raw {x} vs recorded {y}",
                a["name"]
            );
            nonzero += usize::from(x[field].as_f64().unwrap_or(0.0) > 0.0);
        }
        broken += 1;
    }
    assert!(
        broken >= 8 && nonzero >= 2,
        "{broken} breaches, {nonzero} non-zero"
    );
    assert!(period_slis >= 5, "{period_slis} period SLIs compared");
    // The charts: the daily counts, the hourly error ratios and p99 latencies and the burn-down
    // read recorded increases (the queue depth's peaks stay raw). Summed over a day or
    // more, the counts agree as the KPIs do. An hour's value is the recorded sum of a
    // window shifted by the group's evaluation offset (under 5 minutes of the hour), so a
    // point differs by what happened in those minutes: over ratios of a few events an hour
    // (crm's errors, ~1 in 1,500 requests) that is an event or two, tens of percent of a
    // point, while the points' mean over the week agrees as the totals do.
    let chart_line = lines
        .iter()
        .find(|l| l.starts_with("Charts from recorded increases"))
        .unwrap_or_else(|| panic!("{lines:?}"));
    for c in [
        "daily_orders",
        "daily_lost_orders",
        "error_ratio",
        "latency_p99",
    ] {
        assert!(chart_line.contains(c), "{c}: {chart_line}");
    }
    assert!(!chart_line.contains("queue_depth"), "{chart_line}");
    let charts = |d: &Value| -> BTreeMap<String, Value> {
        d["charts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["id"].as_str().unwrap().to_string(), c["lines"].clone()))
            .collect()
    };
    let (cr, cc) = (charts(&raw), charts(&rec));
    assert_eq!(cr.keys().collect::<Vec<_>>(), cc.keys().collect::<Vec<_>>());
    let mut points = 0;
    for (id, la) in &cr {
        let lb = &cc[id];
        let (la, lb) = (la.as_array().unwrap(), lb.as_array().unwrap());
        assert_eq!(la.len(), lb.len(), "{id}: lines");
        for (a, b) in la.iter().zip(lb) {
            assert_eq!(a["label"], b["label"], "{id}");
            let (pa, pb) = (
                a["points"].as_array().unwrap(),
                b["points"].as_array().unwrap(),
            );
            assert_eq!(pa.len(), pb.len(), "{id} {}: points", a["label"]);
            let (mut close, mut near, mut both) = (0, 0, 0);
            let mut far = Vec::new();
            // One event of a ratio of counts: about the smallest non-zero value of the line.
            let event = if id == "error_ratio" {
                pa.iter()
                    .filter_map(|x| x[1].as_f64())
                    .filter(|v| *v > 0.0)
                    .fold(f64::INFINITY, f64::min)
            } else {
                0.0
            };
            for (x, y) in pa.iter().zip(pb) {
                assert_eq!(x[0], y[0], "{id}: the same times");
                let (Some(u), Some(v)) = (x[1].as_f64(), y[1].as_f64()) else {
                    continue;
                };
                both += 1;
                let tiny = (u - v).abs() <= 1e-3 * u.abs().max(1e-3);
                close += usize::from(rel_diff(u, v) <= 0.01 || tiny);
                if rel_diff(u, v) <= 0.25 || tiny || (u - v).abs() <= 2.5 * event {
                    near += 1;
                } else if far.len() < 12 {
                    far.push((x[0].clone(), u, v));
                }
            }
            let sum = |p: &[Value]| p.iter().filter_map(|x| x[1].as_f64()).sum::<f64>();
            let (u, v) = (sum(pa), sum(pb));
            if id.starts_with("daily_") {
                assert!(
                    rel_diff(u, v) <= 5e-3 || (u - v).abs() <= 2.0,
                    "{id}: the week's total raw {u} vs recorded {v}"
                );
                assert_eq!(close, both, "{id}: every day within 1 %");
            } else {
                assert!(
                    rel_diff(u, v) <= 0.02,
                    "{id} {}: the points' mean raw {u} vs recorded {v}",
                    a["label"]
                );
            }
            assert!(
                both > 0 && near * 100 >= both * 95,
                "{id} {}: {near} of {both} points within 25 % or 2 events; (time, raw, recorded) {far:?}",
                a["label"]
            );
            eprintln!(
                "chart {id} {}: {close} of {both} points within 1 %, {near} within 25 % or 2 events, mean {:.3} %",
                a["label"],
                rel_diff(u, v) * 100.0
            );
            points += both;
        }
    }
    assert!(points >= 500, "{points} chart points compared");
    let burn_line = lines
        .iter()
        .find(|l| l.starts_with("Budget burn-down from recorded increases"))
        .unwrap_or_else(|| panic!("{lines:?}"));
    assert!(
        burn_line.contains("shop-availability") && !burn_line.contains(PARTIAL),
        "{burn_line}"
    );
    eprintln!(
        "recorded KPIs: {compared} numbers compared, largest difference {:.4} % ({})",
        worst.0 * 100.0,
        worst.1
    );
    Ok(())
}

/// Six days of incidents at a 10-minute step: the burn rates summed from the recorded
/// increases give the incidents the raw series give (edges within a step, peaks within
/// 10 %). mes-latency's increases cover only the last week, not the burn windows' lookback
/// before the range: it stays raw.
pub fn recorded_and_raw_incidents_agree() -> TestResult {
    let f = fixture()?;
    let (from, to) = ((END_S - 6 * 86_400).to_string(), END_S.to_string());
    let incidents = |extra: &[&str]| {
        let mut a = vec![
            "--timeout",
            "2m",
            "incidents",
            "--from",
            &from,
            "--to",
            &to,
            "--step",
            "10m",
            "--format",
            "json",
        ];
        a.extend(extra);
        let r = vitals(&a).prometheus(&f.prom.url).run();
        assert_eq!(r.code, 0, "{}", r.stderr);
        r.json()
    };
    let raw = incidents(&["--source", "raw"]);
    let rec = incidents(&[]);
    let method = rec["method"].as_str().unwrap();
    let recorded_part = method
        .split("the burn rates of ")
        .nth(1)
        .unwrap_or_else(|| panic!("no recorded burn rates: {method}"));
    for slo in ["shop-availability", "mes-availability", "shop-latency"] {
        assert!(recorded_part.contains(slo), "{slo}: {method}");
    }
    assert!(!recorded_part.contains(PARTIAL), "{method}");
    assert!(
        !raw["method"].as_str().unwrap().contains("recorded"),
        "{}",
        raw["method"]
    );
    let (ri, ai) = (
        raw["incidents"].as_array().unwrap(),
        rec["incidents"].as_array().unwrap(),
    );
    assert!(ri.len() >= 2, "{} incidents", ri.len());
    assert_eq!(ri.len(), ai.len(), "raw {ri:?}\nrecorded {ai:?}");
    let secs = |v: &Value| {
        chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap())
            .unwrap()
            .timestamp()
    };
    let key = |c: &Value| format!("{} {} {}", c["name"], c["labels"], c["severity"]);
    let mut burns = 0;
    let mut thresholds = 0;
    let mut worst = (0.0, String::new());
    // The alerting thresholds' raw values are read only around their recorded minutes.
    let around = method
        .split("the values of ")
        .nth(1)
        .unwrap_or_else(|| panic!("no threshold read around its recorded minutes: {method}"));
    for slo in ["dead-letter-rate", "api-5xx-ratio"] {
        assert!(around.contains(slo), "{slo}: {method}");
    }
    for (x, y) in ri.iter().zip(ai) {
        let (cx, cy) = (
            x["conditions"].as_array().unwrap(),
            y["conditions"].as_array().unwrap(),
        );
        let mut kx: Vec<String> = cx.iter().map(key).collect();
        let mut ky: Vec<String> = cy.iter().map(key).collect();
        kx.sort();
        ky.sort();
        assert_eq!(kx, ky, "incident {}: {x}\n{y}", x["id"]);
        for a in cx {
            let b = cy.iter().find(|b| key(b) == key(a)).unwrap();
            for edge in ["start", "end"] {
                let d = (secs(&a[edge]) - secs(&b[edge])).abs();
                assert!(
                    d <= 600,
                    "{} {edge}: raw {} vs recorded {}",
                    key(a),
                    a[edge],
                    b[edge]
                );
            }
            if !a["peak_text"].as_str().unwrap_or("").ends_with("burn") {
                // A threshold: read raw, around its recorded violated minutes where they
                // cover the range, on the same steps: the same condition.
                assert_eq!(
                    (&a["peak"], &a["start"], &a["end"]),
                    (&b["peak"], &b["start"], &b["end"]),
                    "{}: not a burn rate, read raw",
                    key(a)
                );
                thresholds += 1;
                continue;
            }
            let (p, q) = (a["peak"].as_f64().unwrap(), b["peak"].as_f64().unwrap());
            // The peak is the burn over the pair's long window (an hour for a page) at its
            // worst step: rate()'s extrapolation over 10-minute raw windows and 5-minute
            // recorded ones, offset by the group's evaluation, differ most there.
            let d = rel_diff(p, q);
            assert!(d <= 0.1, "{} peak: raw {p} vs recorded {q}", key(a));
            if d >= worst.0 {
                worst = (d, key(a));
            }
            burns += 1;
        }
    }
    assert!(burns >= 2, "{burns} burn-rate conditions compared");
    assert!(
        thresholds >= 1,
        "{thresholds} threshold conditions compared"
    );
    eprintln!(
        "recorded incidents: {} incidents, {burns} burn-rate and {thresholds} threshold conditions, largest peak difference {:.3} % ({})",
        ri.len(),
        worst.0 * 100.0,
        worst.1
    );
    Ok(())
}

/// `vitals status` at `at` with `--source`.
fn status(f: &Fixture, at: i64, source: &str) -> Value {
    let at = at.to_string();
    let r = vitals(&[
        "--timeout",
        "2m",
        "status",
        "--at",
        &at,
        "--format",
        "json",
        "--source",
        source,
    ])
    .prometheus(&f.prom.url)
    .run();
    assert!([0, 1, 3].contains(&r.code), "exit {}: {}", r.code, r.stderr);
    r.json()
}

/// Every signal value of a screen, by component and signal name.
fn signal_values(v: &Value) -> BTreeMap<String, Option<f64>> {
    let mut out = BTreeMap::new();
    for c in v["components"].as_array().unwrap() {
        for s in c["signals"].as_array().unwrap() {
            out.insert(
                format!(
                    "{}/{}",
                    c["name"].as_str().unwrap(),
                    s["name"].as_str().unwrap()
                ),
                s["value"].as_f64(),
            );
        }
    }
    out
}

/// Every sparkline of a screen: its values in step order (the times are the screen's).
fn spark_values(v: &Value) -> BTreeMap<String, Vec<Option<f64>>> {
    let mut out = BTreeMap::new();
    for c in v["components"].as_array().unwrap() {
        if let Some(points) = c["spark"]["points"].as_array() {
            out.insert(
                c["name"].as_str().unwrap().to_string(),
                points.iter().map(|p| p[1].as_f64()).collect(),
            );
        }
    }
    out
}

fn assert_same<K: std::fmt::Debug + Ord>(
    what: &str,
    a: &BTreeMap<K, Vec<Option<f64>>>,
    b: &BTreeMap<K, Vec<Option<f64>>>,
) {
    assert_eq!(
        a.keys().collect::<Vec<_>>(),
        b.keys().collect::<Vec<_>>(),
        "{what}"
    );
    for (k, va) in a {
        let vb = &b[k];
        assert_eq!(va.len(), vb.len(), "{what} {k:?}: {va:?} vs {vb:?}");
        for (x, y) in va.iter().zip(vb) {
            match (x, y) {
                (Some(x), Some(y)) => {
                    assert!(rel_diff(*x, *y) < 1e-9, "{what} {k:?}: {va:?} vs {vb:?}")
                }
                _ => assert_eq!(x, y, "{what} {k:?}: {va:?} vs {vb:?}"),
            }
        }
    }
}

fn as_lists(m: BTreeMap<String, Option<f64>>) -> BTreeMap<String, Vec<Option<f64>>> {
    m.into_iter().map(|(k, v)| (k, vec![v])).collect()
}

/// The screen's signals and sparklines read from the recorded `vitals-status-signals` are
/// the raw queries' values at the group's last evaluation before `--at` (not at `--at`: a
/// minute older at most), and the screen says so; where the recorded points do not cover
/// the sparkline's hour it is drawn raw, and before them everything is raw.
pub fn recorded_status_signals_are_the_values_of_the_last_evaluation() -> TestResult {
    let f = fixture()?;
    // Between two evaluations, after a scrape that the last one did not see.
    let evaluation = END_S - 10 * 60 + SIGNAL_OFFSET;
    let at = evaluation + 50;
    let auto = status(f, at, "auto");
    let raw_then = status(f, evaluation, "raw");
    let raw_now = status(f, at, "raw");
    let lines = auto["signal_sources"].as_array().expect("signal_sources");
    let expected = format!(
        "signals from recorded series (vitals-status-signals), as of {} or later",
        vitals::timespec::format_time(vitals::timespec::from_unix_seconds(evaluation as f64))
    );
    assert_eq!(lines[0], expected.as_str(), "{lines:?}");
    assert_eq!(
        lines.len(),
        1,
        "every signal and sparkline recorded: {lines:?}"
    );
    crate::support::schema::assert_valid("status.schema.json", &auto);
    assert!(raw_now.get("signal_sources").is_none(), "{raw_now}");
    let (recorded, then, now) = (
        signal_values(&auto),
        signal_values(&raw_then),
        signal_values(&raw_now),
    );
    assert!(recorded.len() >= 20, "{recorded:?}");
    assert_same("signals", &as_lists(recorded.clone()), &as_lists(then));
    // The comparison can fail: a minute later the raw values moved.
    let moved = recorded.iter().filter(|(k, v)| now[*k] != **v).count();
    assert!(moved >= 3, "{recorded:?}\n{now:?}");
    let sparks = spark_values(&auto);
    assert!(sparks.len() >= 6, "{sparks:?}");
    assert_same("sparklines", &sparks, &spark_values(&raw_then));
    assert_ne!(sparks, spark_values(&raw_now));

    // Half an hour into the recorded span: the values recorded, the sparklines raw.
    let evaluation = END_S - SIGNAL_SPAN + SIGNAL_OFFSET + 30 * 60;
    let at = evaluation + 50;
    let auto = status(f, at, "auto");
    let lines = auto["signal_sources"].as_array().unwrap();
    assert!(
        lines
            .iter()
            .any(|l| l.as_str().unwrap().starts_with("sparklines read raw")),
        "{lines:?}"
    );
    assert_same(
        "signals",
        &as_lists(signal_values(&auto)),
        &as_lists(signal_values(&status(f, evaluation, "raw"))),
    );
    assert_same(
        "sparklines",
        &spark_values(&auto),
        &spark_values(&status(f, at, "raw")),
    );

    // Before the recorded span: raw, with nothing to say.
    let at = END_S - SIGNAL_SPAN - 600;
    let auto = status(f, at, "auto");
    assert!(auto.get("signal_sources").is_none(), "{auto}");
    assert_same(
        "signals",
        &as_lists(signal_values(&auto)),
        &as_lists(signal_values(&status(f, at, "raw"))),
    );
    Ok(())
}
