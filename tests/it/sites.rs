//! The site is configuration: renaming a catalog query in the files keeps every screen
//! populated, and a second site of another shape (tests/sites/payments) runs every command
//! with no code change.

use std::path::Path;

use serde_json::Value;

use crate::support::{TestResult, repo, scratch, vitals};
use crate::week::{END_S, Week, incident, week};

fn at(t: i64) -> String {
    vitals::timespec::format_time(vitals::timespec::from_unix_seconds(t as f64))
}

/// Copies `queries/`, `site.toml` and `slo.toml` of `from` into `to`, replacing `old` by
/// `new` wherever it names a query.
fn copy_renamed(from: &Path, to: &Path, old: &str, new: &str) {
    let rename = |text: String| text.replace(&format!("\"{old}\""), &format!("\"{new}\""));
    std::fs::create_dir_all(to.join("queries")).unwrap();
    for e in std::fs::read_dir(repo().join("queries")).unwrap() {
        let p = e.unwrap().path();
        let text = std::fs::read_to_string(&p).unwrap();
        std::fs::write(
            to.join("queries").join(p.file_name().unwrap()),
            rename(text),
        )
        .unwrap();
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
    copy_renamed(
        repo(),
        dir.path(),
        "rabbitmq.queue_depth",
        "broker.ready_messages",
    );
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
    for key in [
        "kpis",
        "components",
        "slos",
        "breakdowns",
        "charts",
        "missing",
    ] {
        assert_eq!(
            ja[key]
                .to_string()
                .replace("broker.ready_messages", "rabbitmq.queue_depth"),
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

/// Three days of the payments site, pushed into its own Prometheus, with the truth.
pub(crate) fn payments() -> Result<&'static Week, crate::support::Skip> {
    static P: std::sync::OnceLock<Result<Week, String>> = std::sync::OnceLock::new();
    let r = P.get_or_init(|| {
        let site = repo().join("tests/sites/payments");
        let (topology, scenario) = (site.join("topology.toml"), site.join("scenario.toml"));
        let args: [&std::ffi::OsStr; 8] = [
            "--topology".as_ref(),
            topology.as_os_str(),
            "--scenario".as_ref(),
            scenario.as_os_str(),
            "--days".as_ref(),
            "3".as_ref(),
            "--end".as_ref(),
            crate::week::END.as_ref(),
        ];
        crate::week::simulated(&args)
    });
    r.as_ref().map_err(|e| crate::support::Skip(e.clone()))
}

/// `vitals` with the payments site's files (and the shipped catalog).
fn on_payments(p: &Week, args: &[&str]) -> crate::support::Run {
    let config = repo().join("tests/sites/payments/slo.toml");
    let mut all: Vec<&str> = args.to_vec();
    let c = config.to_str().unwrap().to_string();
    all.extend(["--config", &c]);
    vitals(&all).prometheus(&p.prom.url).run()
}

fn truth_incident<'a>(t: &'a Value, name: &str) -> &'a Value {
    t["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == name)
        .unwrap_or_else(|| panic!("no incident {name:?}"))
}

pub fn the_payments_site_runs_every_command_with_no_code_change() -> TestResult {
    let p = payments()?;
    let t = &p.truth;
    let outage = truth_incident(t, "payments outage");
    let during = outage["start"].as_i64().unwrap() + 1200;
    // status: its own components, payments DOWN by its own rule, every signal read.
    let r = on_payments(p, &["status", "--at", &at(during), "--format", "json"]);
    let doc = r.json();
    let names: Vec<&str> = doc["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "shop", "crm", "mes", "payments", "mq", "main-db", "business"
        ]
    );
    let comp = |n: &str| {
        doc["components"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == n)
            .unwrap()
            .clone()
    };
    let pay = comp("payments");
    assert_eq!(pay["status"], "down", "{pay:#}");
    assert!(
        pay["reasons"][0].as_str().unwrap().starts_with("fails "),
        "{pay:#}"
    );
    for (c, s, has) in populated(&doc) {
        assert!(has, "{c} {s}: no data on the payments site");
    }
    // The same screen from a copy of its files (and the catalog) with a query renamed.
    let dir = scratch();
    copy_renamed(
        &repo().join("tests/sites/payments"),
        dir.path(),
        "rabbitmq.queue_depth",
        "broker.ready_messages",
    );
    let renamed = vitals(&[
        "status",
        "--at",
        &at(during),
        "--format",
        "json",
        "--config",
        dir.path().join("slo.toml").to_str().unwrap(),
    ])
    .prometheus(&p.prom.url)
    .run();
    assert_eq!(populated(&renamed.json()), populated(&doc));
    let mq = comp("mq")["targets_up"].clone();
    assert!(mq[1].as_u64().unwrap() > 0 && mq[0] == mq[1], "{mq}");
    // query: the catalog's service param follows the site (payments is an API now).
    let r = on_payments(
        p,
        &[
            "query",
            "api.rps",
            "--param",
            "service=payments",
            "--at",
            &at(during),
            "--format",
            "json",
        ],
    );
    r.expect_code(0);
    assert!(
        r.json()["series"][0]["value"].as_f64().unwrap() > 0.0,
        "{}",
        r.stdout
    );
    // check: payments-availability over the whole history, against the truth's counts.
    let end = crate::week::END_S;
    let r = on_payments(p, &["check", "--at", &at(end - 60), "--format", "json"]);
    let row = r.json()["slos"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "payments-availability")
        .unwrap()
        .clone();
    let (mut req, mut bad) = (0.0, 0.0);
    for h in t["hours"].as_array().unwrap() {
        req += h["services"]["payments"]["requests"].as_f64().unwrap();
        bad += h["services"]["payments"]["5xx"].as_f64().unwrap();
    }
    let sli = row["value"].as_f64().unwrap();
    assert!(
        (sli - (1.0 - bad / req)).abs() < 5e-4,
        "SLI {sli} vs truth {}",
        1.0 - bad / req
    );
    assert_eq!(
        row["status"], "fail",
        "a 45-minute outage at 40 % spends a 99.9 % budget"
    );
    // incidents: each scripted one, on its own component.
    let r = on_payments(
        p,
        &[
            "incidents",
            "--from",
            &at(end - 3 * 86_400),
            "--to",
            &at(end),
            "--format",
            "json",
        ],
    );
    let doc = r.json();
    let found = doc["incidents"].as_array().unwrap();
    for (name, component) in [
        ("payments outage", "payments"),
        ("orders backlog", "mq"),
        ("main-db connection pile-up", "main-db"),
    ] {
        let i = truth_incident(t, name);
        let (s, e) = (i["start"].as_i64().unwrap(), i["end"].as_i64().unwrap());
        let hit = found.iter().any(|f| {
            f["components"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c == component)
                && vitals::timespec::parse_time(f["start"].as_str().unwrap(), chrono::Utc::now())
                    .unwrap()
                    .timestamp()
                    <= e
                && f["end"]
                    .as_str()
                    .and_then(|x| vitals::timespec::parse_time(x, chrono::Utc::now()).ok())
                    .is_none_or(|x| x.timestamp() >= s)
        });
        assert!(hit, "{name} ({component}) not found: {found:#?}");
    }
    // report: the last day against the one before, with the site's own sections.
    let r = on_payments(
        p,
        &[
            "report",
            "--from",
            &at(end - 86_400),
            "--to",
            &at(end),
            "--format",
            "json",
        ],
    );
    let doc = r.json();
    let comps: Vec<&str> = doc["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(comps, ["shop", "crm", "mes", "payments", "mq", "main-db"]);
    let day = &t["summary"]["days"].as_array().unwrap()[2];
    let kpi = doc["kpis"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == "orders_created")
        .unwrap();
    let want = day["orders"]["created"].as_f64().unwrap();
    let got = kpi["value"].as_f64().unwrap();
    assert!(
        (got - want).abs() <= want * 0.01 + 1.0,
        "orders {got} vs {want}"
    );
    let pay_requests = doc["components"][3]["metrics"][0]["value"]
        .as_f64()
        .unwrap();
    let want = day["services"]["payments"]["requests"].as_f64().unwrap();
    assert!(
        (pay_requests - want).abs() <= want * 0.01,
        "{pay_requests} vs {want}"
    );
    assert!(
        doc["missing"].as_array().unwrap().is_empty(),
        "{:#}",
        doc["missing"]
    );
    // chart: the headline of a component.
    let dir = scratch();
    let png = dir.path().join("payments.png");
    let r = on_payments(
        p,
        &[
            "chart",
            "--component",
            "payments",
            "--from",
            &at(end - 86_400),
            "--to",
            &at(end),
            "--out",
            png.to_str().unwrap(),
        ],
    );
    r.expect_code(0);
    assert!(std::fs::metadata(&png).unwrap().len() > 10_000);
    // rules: the site's components, and the group's label for the grouped SLO.
    let r = on_payments(p, &["rules", "--check"]);
    r.expect_code(0);
    assert!(
        r.stdout.contains("absent(up{service=\"payments\"})"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("absent(up{service=\"mq\"})"));
    assert!(!r.stdout.contains("service=\"s3\""));
    assert!(r.stdout.contains("component: '{{ $labels.service }}'"));
    Ok(())
}

/// The names and kinds of the components of a site file.
fn components_of(site: &std::path::Path) -> Vec<(String, String)> {
    let doc: toml::Value = toml::from_str(&std::fs::read_to_string(site).unwrap()).unwrap();
    doc["component"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// `vitals init` on both sites' Prometheus: the components of each site are found from its
/// series alone, the files are lint-clean, and status reads every signal with them.
pub fn init_writes_a_lint_clean_starter_for_what_prometheus_has() -> TestResult {
    let w = crate::week::week()?;
    let p = payments()?;
    type Case<'a> = (&'a Week, i64, &'a [(&'a str, &'a str)]);
    let cases: [Case; 2] = [
        (
            w,
            END_S - 3600,
            &[
                ("crm", "api"),
                ("mes", "api"),
                ("shop", "api"),
                ("rabbitmq", "broker"),
                ("mes-db", "database"),
                ("shop-db", "database"),
                ("s3", "storage"),
                ("business", "business"),
            ],
        ),
        (
            p,
            END_S - 3600,
            &[
                ("crm", "api"),
                ("mes", "api"),
                ("payments", "api"),
                ("shop", "api"),
                ("mq", "broker"),
                ("main-db", "database"),
                ("business", "business"),
            ],
        ),
    ];
    for (site, t, want) in cases {
        let dir = scratch();
        let out = dir.path().join("starter");
        let r = vitals(&["init", "--out", out.to_str().unwrap(), "--at", &at(t)])
            .prometheus(&site.prom.url)
            .run();
        r.expect_code(0);
        assert!(r.stderr.contains("lint-clean"), "{}", r.stderr);
        let got = components_of(&out.join("site.toml"));
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(n, k)| (n.to_string(), k.to_string()))
            .collect();
        assert_eq!(
            got,
            want,
            "{}",
            std::fs::read_to_string(out.join("site.toml")).unwrap()
        );
        let slo = out.join("slo.toml");
        vitals(&["lint", "--config", slo.to_str().unwrap()])
            .run()
            .expect_code(0);
        // The starter works: every component has its signals read, none is left blank.
        let doc = vitals(&[
            "status",
            "--config",
            slo.to_str().unwrap(),
            "--at",
            &at(t),
            "--format",
            "json",
        ])
        .prometheus(&site.prom.url)
        .run()
        .json();
        for c in doc["components"].as_array().unwrap() {
            let signals = c["signals"].as_array().unwrap();
            assert!(!signals.is_empty(), "{c}");
            assert!(
                signals.iter().any(|s| s["value"].is_number()),
                "no signal of {} was read: {c}",
                c["name"]
            );
        }
        // And it is never written over.
        let again = vitals(&["init", "--out", out.to_str().unwrap(), "--at", &at(t)])
            .prometheus(&site.prom.url)
            .run();
        again.expect_code(2);
        assert!(again.stderr.contains("--force"), "{}", again.stderr);
    }
    // Nothing known: a clear usage error, and nothing written.
    let empty = crate::support::prometheus::Prometheus::start(Default::default())?;
    let dir = scratch();
    let r = vitals(&["init", "--out", dir.path().join("x").to_str().unwrap()])
        .prometheus(&empty.url)
        .run();
    r.expect_code(2);
    assert!(r.stderr.contains("nothing vitals knows"), "{}", r.stderr);
    assert!(!dir.path().join("x/site.toml").exists());
    Ok(())
}
