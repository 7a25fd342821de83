//! The site is configuration: renaming a catalog query in the files keeps every screen
//! populated, and a second site of another shape (tests/sites/payments) runs every command
//! with no code change.

use std::path::Path;

use serde_json::Value;

use crate::support::{TestResult, repo, scratch, vitals};
use crate::week::{END_S, incident, week};

fn at(t: i64) -> String {
    vitals::timespec::format_time(vitals::timespec::from_unix_seconds(t as f64))
}

/// Copies `queries/`, `site.toml` and `slo.toml` of `from` into `to`, replacing `old` by
/// `new` wherever it names a query.
fn copy_renamed(from: &Path, to: &Path, old: &str, new: &str) {
    let rename = |text: String| text.replace(&format!("\"{old}\""), &format!("\"{new}\""));
    std::fs::create_dir_all(to.join("queries")).unwrap();
    for e in std::fs::read_dir(from.join("queries")).unwrap() {
        let p = e.unwrap().path();
        let text = std::fs::read_to_string(&p).unwrap();
        std::fs::write(to.join("queries").join(p.file_name().unwrap()), rename(text)).unwrap();
    }
    for f in ["site.toml", "slo.toml"] {
        let text = std::fs::read_to_string(from.join(f)).unwrap();
        std::fs::write(to.join(f), rename(text)).unwrap();
    }
}

/// (component, signal) -> whether it has a value.
fn populated(doc: &Value) -> Vec<(String, String, bool)> {
    let mut out = Vec::new();
    for c in doc["components"].as_array().unwrap() {
        for s in c["signals"].as_array().unwrap() {
            out.push((
                c["name"].as_str().unwrap().to_string(),
                s["name"].as_str().unwrap().to_string(),
                !s["value"].is_null(),
            ));
        }
        out.push((
            c["name"].as_str().unwrap().to_string(),
            "sparkline".into(),
            !c["spark"].is_null(),
        ));
    }
    out
}

pub fn renaming_a_catalog_query_in_the_files_keeps_every_screen_populated() -> TestResult {
    let w = week()?;
    let t = at(incident(&w.truth, "MES outage")["start"].as_i64().unwrap() + 1800);
    let dir = scratch();
    // Used by a status signal, a sparkline, an SLO, a report figure and a report chart.
    copy_renamed(repo(), dir.path(), "rabbitmq.queue_depth", "broker.ready_messages");
    let renamed = dir.path().join("slo.toml");
    assert!(
        !std::fs::read_to_string(dir.path().join("site.toml"))
            .unwrap()
            .contains("rabbitmq.queue_depth")
    );
    let status = |config: Option<&Path>| {
        let mut args = vec!["status", "--at", &t, "--format", "json"];
        let c;
        if let Some(p) = config {
            c = p.to_str().unwrap().to_string();
            args.extend(["--config", &c]);
        }
        vitals(&args).prometheus(&w.prom.url).run()
    };
    let before = status(None);
    let after = status(Some(&renamed));
    assert_eq!(after.code, before.code, "{}", after.stderr);
    let (b, a) = (populated(&before.json()), populated(&after.json()));
    assert!(b.iter().filter(|x| x.2).count() > 20, "{b:?}");
    assert_eq!(a, b, "a renamed query blanked a signal");
    // The report's numbers and charts, and check's SLOs, likewise.
    let week_label = "2026-W47";
    let report = |config: &Path| {
        vitals(&[
            "report",
            "--week",
            week_label,
            "--format",
            "json",
            "--config",
            config.to_str().unwrap(),
        ])
        .prometheus(&w.prom.url)
        .run()
    };
    let (rb, ra) = (report(&repo().join("slo.toml")), report(&renamed));
    assert_eq!(ra.code, rb.code, "{}", ra.stderr);
    let (jb, ja) = (rb.json(), ra.json());
    for key in ["kpis", "components", "slos", "breakdowns", "charts", "missing"] {
        assert_eq!(
            ja[key].to_string().replace("broker.ready_messages", "rabbitmq.queue_depth"),
            jb[key].to_string(),
            "report `{key}` differs after the rename"
        );
    }
    let end = at(END_S - 1);
    let check = |config: &Path| {
        vitals(&[
            "check",
            "--at",
            &end,
            "--format",
            "json",
            "--config",
            config.to_str().unwrap(),
        ])
        .prometheus(&w.prom.url)
        .run()
    };
    let (cb, ca) = (check(&repo().join("slo.toml")), check(&renamed));
    assert_eq!(ca.code, cb.code);
    assert_eq!(ca.json()["slos"], cb.json()["slos"]);
    Ok(())
}
