//! `vitals incidents` against the simulated weeks: every scripted incident is found where
//! the simulator's event log put it, the quiet week has none, and the output keeps its
//! contract.

use serde_json::Value;

use crate::support::schema::assert_valid;
use crate::support::{TestResult, vitals};
use crate::week::{END, END_S, WEEK, Week, week};

fn at(t: i64) -> String {
    vitals::timespec::format_time(vitals::timespec::from_unix_seconds(t as f64))
}

fn incidents(w: &Week, from: i64, to: i64) -> Value {
    let r = vitals(&[
        "incidents",
        "--from",
        &at(from),
        "--to",
        &at(to),
        "--format",
        "json",
    ])
    .prometheus(&w.prom.url)
    .run();
    r.expect_code(0);
    let doc = r.json();
    assert_valid("incidents.schema.json", &doc);
    doc
}

fn secs(v: &Value) -> i64 {
    chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap())
        .unwrap()
        .timestamp()
}

fn step_of(doc: &Value) -> i64 {
    doc["step"]
        .as_str()
        .unwrap()
        .parse::<vitals::duration::Duration>()
        .unwrap()
        .secs() as i64
}

/// Every scripted incident of the truth has a detected incident of its component whose start
/// and end are within two steps of the truth's.
///
/// Where the tolerance comes from: an incident's bounds are grid steps at which a condition
/// (or its per-step burn) was seen, so a bound is off by at most one step for where the event
/// fell inside its step, plus one for the scrape that first showed it: two steps. One
/// incident cannot meet that by nature, and is held to what can be known instead: the MES DB
/// connection pile-up ramps up over 75 % of its duration (the simulator's smoothstep), and
/// no detector can tell a ramp's first connections from normal load; its start must fall
/// inside the ramp, not before the truth's start.
pub fn every_scripted_incident_is_found_within_two_steps() -> TestResult {
    let w = week()?;
    let doc = incidents(w, END_S - WEEK, END_S);
    let step = step_of(&doc);
    assert!(
        step <= 180,
        "a week is searched at a fine step, got {step} s"
    );
    let found = doc["incidents"].as_array().unwrap();
    for truth in w.truth["incidents"].as_array().unwrap() {
        let (name, ts, te) = (
            truth["name"].as_str().unwrap(),
            truth["start"].as_i64().unwrap(),
            truth["end"].as_i64().unwrap(),
        );
        let component = truth["component"].as_str().unwrap();
        let candidates: Vec<&Value> = found
            .iter()
            .filter(|i| {
                i["components"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|c| c == component)
                    && secs(&i["start"]) <= te + 2 * step
                    && i["end"]
                        .as_str()
                        .is_none_or(|_| secs(&i["end"]) >= ts - 2 * step)
            })
            .collect();
        assert_eq!(
            candidates.len(),
            1,
            "{name} ({component}, {} .. {}): expected one overlapping incident, found {candidates:#?}",
            at(ts),
            at(te)
        );
        let i = candidates[0];
        let (s, e) = (secs(&i["start"]), secs(&i["end"]));
        if truth["kind"] == "db-connection-pileup" {
            let ramp_end = ts + (te - ts) * 3 / 4;
            assert!(
                s >= ts - step && s <= ramp_end,
                "{name}: start {} outside the ramp {} .. {}",
                at(s),
                at(ts),
                at(ramp_end)
            );
        } else {
            assert!(
                (s - ts).abs() <= 2 * step,
                "{name}: start {} vs truth {}: {i:#}",
                at(s),
                at(ts)
            );
        }
        assert!(
            (e - te).abs() <= 2 * step,
            "{name}: end {} vs truth {}",
            at(e),
            at(te)
        );
    }
    // The MES outage names its causes: MES answering 5xx, its consumer gone, orders queueing.
    let outage = found
        .iter()
        .find(|i| i["component"] == "mes")
        .expect("the MES outage");
    let cause = outage["cause"].to_string();
    for want in [
        "mes 5xx",
        "shop.orders consumers",
        "shop.orders depth",
        "dead-lettered rejected",
    ] {
        assert!(cause.contains(want), "{want:?} not in {cause}");
    }
    assert_eq!(outage["severity"], "page");
    // A restart is information: it does not count towards MTTR.
    let s = &doc["summary"];
    assert_eq!(s["count"].as_u64().unwrap() as usize, found.len());
    let counted: Vec<f64> = found
        .iter()
        .filter(|i| i["severity"] != "info" && !i["ongoing"].as_bool().unwrap())
        .map(|i| i["duration_seconds"].as_f64().unwrap())
        .collect();
    let mttr = counted.iter().sum::<f64>() / counted.len() as f64;
    assert!((s["mttr_seconds"].as_f64().unwrap() - mttr).abs() < 1e-6);
    Ok(())
}

pub fn the_quiet_week_has_no_incidents() -> TestResult {
    let w = week()?;
    let doc = incidents(w, END_S - 2 * WEEK, END_S - WEEK);
    assert_eq!(
        doc["incidents"].as_array().unwrap().len(),
        0,
        "phantom incidents in the normal week: {:#}",
        doc["incidents"]
    );
    assert_eq!(doc["summary"]["mttr_seconds"], Value::Null);
    Ok(())
}

pub fn incidents_table_and_markdown_name_the_outage() -> TestResult {
    let w = week()?;
    let from = at(END_S - WEEK);
    let r = vitals(&[
        "incidents",
        "--from",
        &from,
        "--to",
        END,
        "--color",
        "never",
    ])
    .prometheus(&w.prom.url)
    .run();
    r.expect_code(0);
    let first = r.stdout.lines().next().unwrap();
    assert!(
        first.contains(" incidents from ") && first.contains("MTTR"),
        "{first}"
    );
    assert!(r.stdout.contains("mes-availability (page"), "{}", r.stdout);
    let md = vitals(&[
        "incidents",
        "--from",
        &from,
        "--to",
        END,
        "--format",
        "markdown",
    ])
    .prometheus(&w.prom.url)
    .run();
    md.expect_code(0);
    assert!(md.stdout.starts_with("## Incidents\n"), "{}", md.stdout);
    assert!(md.stdout.contains("| # | start (UTC) |"), "{}", md.stdout);
    // One SLO only: its own conditions, no scrape targets.
    let only = vitals(&[
        "incidents",
        "--from",
        &from,
        "--to",
        END,
        "--slo",
        "queue-consumers",
        "--format",
        "json",
    ])
    .prometheus(&w.prom.url)
    .run()
    .json();
    // The MES outage took the consumers of shop.orders away: at least that one is found.
    let listed = only["incidents"].as_array().unwrap();
    assert!(!listed.is_empty(), "{only}");
    for i in listed {
        for c in i["conditions"].as_array().unwrap() {
            assert_eq!(c["name"], "queue-consumers", "{c}");
        }
    }
    let bad = vitals(&["incidents", "--slo", "nope"])
        .prometheus(&w.prom.url)
        .run();
    bad.expect_code(2);
    assert!(bad.stderr.contains("no SLO named `nope`"), "{}", bad.stderr);
    Ok(())
}
