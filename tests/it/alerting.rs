//! `vitals status --alertmanager`: a real Alertmanager (the configuration of
//! docs/alerting.md) with alerts and a silence posted to its API, beside the week's outage.

use serde_json::{Value, json};

use crate::support::mock::{Mock, Reply};
use crate::support::prometheus::{http_get, http_post_json};
use crate::support::{TestResult, scratch, vitals};
use crate::week::{incident, week};

pub fn status_shows_alertmanager_alerts_silences_and_where_they_disagree() -> TestResult {
    let w = week()?;
    let dir = scratch();
    let hook = Mock::start(|_| Reply::json(200, "{}"));
    let port = crate::rules::alertmanager(dir.path(), &hook.url)?;
    let now = chrono::Utc::now();
    let t = |m: i64| (now + chrono::Duration::minutes(m)).to_rfc3339();
    let alert = |name: &str, slo: &str, component: &str| {
        json!({
            "labels": {"alertname": name, "severity": "page", "slo": slo, "component": component},
            "annotations": {"summary": "posted by the test"},
            "startsAt": t(-5),
            "endsAt": t(60),
        })
    };
    let alerts = json!([
        alert("MesAvailabilityBudgetBurn", "mes-availability", "mes"),
        alert("CrmLatencyBudgetBurn", "crm-latency", "crm"),
    ]);
    let r = http_post_json(port, "/api/v2/alerts", &alerts.to_string()).unwrap();
    assert_eq!(r.0, 200, "{r:?}");
    let silence = json!({
        "matchers": [{"name": "slo", "value": "crm-latency", "isRegex": false, "isEqual": true}],
        "startsAt": t(-1),
        "endsAt": t(60),
        "createdBy": "vitals test",
        "comment": "rollback in progress",
    });
    let r = http_post_json(port, "/api/v2/silences", &silence.to_string()).unwrap();
    assert_eq!(r.0, 200, "{r:?}");
    // The silence applies once Alertmanager has processed the alert.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (_, body) = http_get(port, "/api/v2/alerts").unwrap();
        let v: Value = serde_json::from_str(&body).unwrap();
        let silenced = v.as_array().unwrap().iter().any(|a| {
            a["labels"]["slo"] == "crm-latency"
                && !a["status"]["silencedBy"].as_array().unwrap().is_empty()
        });
        if silenced {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "not silenced: {v}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let at_s = incident(&w.truth, "MES outage")["start"].as_i64().unwrap() + 1800;
    let at = vitals::timespec::format_time(vitals::timespec::from_unix_seconds(at_s as f64));
    let am = format!("http://127.0.0.1:{port}");
    let r = vitals(&[
        "status",
        "--at",
        &at,
        "--alertmanager",
        &am,
        "--format",
        "json",
    ])
    .prometheus(&w.prom.url)
    .run();
    r.expect_code(1);
    let doc = r.json();
    crate::support::schema::assert_valid("status.schema.json", &doc);
    let v = &doc["alertmanager"];
    let alerts = v["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 2, "{v:#}");
    let crm = alerts.iter().find(|a| a["slo"] == "crm-latency").unwrap();
    assert_eq!(crm["silenced"], true);
    assert_eq!(crm["state"], "suppressed");
    let mes = alerts
        .iter()
        .find(|a| a["slo"] == "mes-availability")
        .unwrap();
    assert_eq!(mes["state"], "active");
    assert_eq!(v["silences"][0]["matchers"], "slo=\"crm-latency\"");
    assert_eq!(v["silences"][0]["comment"], "rollback in progress");
    let d: Vec<&str> = v["disagreements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    // crm-latency fails and its alert is silenced; api-5xx-ratio fails with no alert at all;
    // mes-availability burns (warn) with its page firing: they agree.
    assert!(
        d.contains(&"SLO crm-latency fails, and its alert is silenced"),
        "{d:?}"
    );
    assert!(
        d.contains(&"SLO api-5xx-ratio fails, but no alert fires for it"),
        "{d:?}"
    );
    assert!(!d.iter().any(|x| x.contains("mes-availability")), "{d:?}");
    assert!(v["note"].as_str().unwrap().contains("not of --at"));
    // On the screen: a summary line and the disagreements, inside 80 columns.
    let r = vitals(&[
        "status",
        "--at",
        &at,
        "--alertmanager",
        &am,
        "--color",
        "never",
    ])
    .prometheus(&w.prom.url)
    .env("COLUMNS", "80")
    .env("LINES", "24")
    .run();
    assert!(
        r.stdout.contains(
            "alertmanager: 1 firing (1 page, 0 ticket), 1 suppressed, 1 silence(s) active"
        ),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("crm-latency fails, and its alert is silenced"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.lines().count() <= 24, "{}", r.stdout);
    // An Alertmanager that cannot be reached: said, and the run is undecided, not wrong.
    let r = vitals(&[
        "status",
        "--at",
        &at,
        "--alertmanager",
        "http://127.0.0.1:9",
        "--format",
        "json",
    ])
    .prometheus(&w.prom.url)
    .run();
    let doc = r.json();
    let errors = doc["errors"].as_array().unwrap();
    assert!(
        errors.iter().any(|e| e
            .as_str()
            .unwrap()
            .starts_with("Alertmanager at http://127.0.0.1:9/")),
        "{errors:?}"
    );
    Ok(())
}
