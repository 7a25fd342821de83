//! Sites other than the reference system: the payments site of `tests/sites/payments`
//! (its series, and its ground truth against the counters it exports) and `--scale`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::OnceLock;

use vitals::duration::Duration;
use vitals_sim::model::Model;
use vitals_sim::output::Sink;
use vitals_sim::scenario::Scenario;
use vitals_sim::topology::Topology;
use vitals_sim::truth::Truth;
use vitals_sim::{Plan, run};

const END: &str = "2026-11-23T00:00:00Z";

fn site_file(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/sites/payments")
        .join(name)
}

fn payments_topology() -> Topology {
    Topology::load(Some(&site_file("topology.toml"))).expect("the payments topology loads")
}

fn plan(topology: Topology, scenario: Scenario, span: &str) -> Plan {
    let end = chrono::DateTime::parse_from_rfc3339(END)
        .unwrap()
        .timestamp_millis();
    Plan::new(
        topology,
        scenario,
        42,
        end,
        span.parse::<Duration>().unwrap(),
        "60s".parse::<Duration>().unwrap(),
    )
    .expect("a valid plan")
}

/// What Prometheus would have stored of the counters: per series, the increases of each
/// interval (resets handled as `increase()` does), by the five minutes the interval
/// starts in.
#[derive(Default)]
struct Recorder {
    last: BTreeMap<usize, f64>,
    /// (series, block start in seconds) -> increase
    increases: BTreeMap<(usize, i64), f64>,
    /// Every series exported at some point.
    seen: BTreeSet<usize>,
}

impl Sink for Recorder {
    fn tick(&mut self, m: &Model) -> std::io::Result<()> {
        let reg = &m.reg;
        let block = (m.now_ms() - m.interval_ms()).div_euclid(300_000) * 300;
        for (i, s) in reg.series.iter().enumerate() {
            if !s.born || !reg.targets[s.target].reachable {
                continue;
            }
            self.seen.insert(i);
            if !s.metric.ends_with("_total") {
                continue;
            }
            let inc = match self.last.insert(i, s.value) {
                Some(prev) if s.value >= prev => s.value - prev,
                Some(_) => s.value,
                None => 0.0,
            };
            if inc > 0.0 {
                *self.increases.entry((i, block)).or_insert(0.0) += inc;
            }
        }
        Ok(())
    }
}

struct Run {
    model: Model,
    rec: Recorder,
    /// `metric{labels}` of every series exported at some point.
    seen: BTreeSet<String>,
}

/// The payments site's whole scenario, simulated once for every test here.
fn payments_run() -> &'static Run {
    static RUN: OnceLock<Run> = OnceLock::new();
    RUN.get_or_init(|| {
        let scenario = Scenario::load(site_file("scenario.toml").to_str().unwrap()).unwrap();
        let p = plan(payments_topology(), scenario, "3d");
        let mut rec = Recorder::default();
        let mut model = run(&p, &mut rec, &mut |_| {}).unwrap();
        model.truth.summarise();
        let seen = rec
            .seen
            .iter()
            .map(|i| {
                let s = &model.reg.series[*i];
                format!("{}{}", s.metric, s.label_text)
            })
            .collect();
        Run { model, rec, seen }
    })
}

fn label<'a>(m: &'a Model, series: usize, name: &str) -> Option<&'a str> {
    m.reg.series[series]
        .labels
        .iter()
        .find(|(k, _)| &**k == name)
        .map(|(_, v)| &**v)
}

/// Increases of `metric` whose labels include `want`, by hour.
fn hourly(r: &Run, metric: &str, want: &[(&str, &str)]) -> BTreeMap<i64, f64> {
    let mut out = BTreeMap::new();
    for (block, inc) in blocks(r, metric, want) {
        *out.entry(block.div_euclid(3600) * 3600).or_insert(0.0) += inc;
    }
    out
}

/// Increases of `metric` whose labels include `want`, by five minutes.
fn blocks(r: &Run, metric: &str, want: &[(&str, &str)]) -> BTreeMap<i64, f64> {
    let mut out = BTreeMap::new();
    for ((s, hour), inc) in &r.rec.increases {
        let series = &r.model.reg.series[*s];
        if &*series.metric == metric && want.iter().all(|(k, v)| label(&r.model, *s, k) == Some(*v))
        {
            *out.entry(*hour).or_insert(0.0) += inc;
        }
    }
    out
}

fn values<'a>(r: &'a Run, metric: &str, label_name: &str) -> BTreeSet<&'a str> {
    r.model
        .reg
        .series
        .iter()
        .enumerate()
        .filter(|(_, s)| s.born && (s.metric.starts_with(metric)))
        .filter_map(|(i, _)| label(&r.model, i, label_name))
        .collect()
}

#[test]
fn the_payments_site_has_its_own_shape() {
    let r = payments_run();
    let reg = &r.model.reg;
    let services: BTreeSet<&str> = reg.targets.iter().map(|t| t.service.as_str()).collect();
    assert_eq!(
        services,
        BTreeSet::from(["shop", "crm", "mes", "payments", "mq", "main-db"])
    );
    let payments: Vec<&str> = reg
        .targets
        .iter()
        .filter(|t| t.service == "payments")
        .map(|t| t.instance.as_str())
        .collect();
    assert_eq!(payments, ["payments-1", "payments-2"]);
    // No S3 at all.
    for s in &r.seen {
        for bad in [
            "minio_",
            "s3_client_",
            "shop_model_upload_size_bytes",
            "shop_user_model_storage_bytes",
        ] {
            assert!(
                !s.starts_with(bad),
                "an S3 series on a site without S3: {s}"
            );
        }
        assert!(!s.contains("service=\"s3\""), "{s}");
    }
    // The payments API has the families of the other APIs, but no sessions.
    let families_of = |svc: &str| -> BTreeSet<String> {
        reg.series
            .iter()
            .filter(|s| reg.targets[s.target].service == svc && s.born)
            .map(|s| reg.families[s.family].name.clone())
            .collect()
    };
    let pay = families_of("payments");
    for f in [
        "http_requests",
        "http_request_duration_seconds",
        "http_request_size_bytes",
        "http_response_size_bytes",
        "http_requests_in_flight",
        "app_requests_by_user",
        "process_cpu_seconds",
        "process_resident_memory_bytes",
        "db_client_operation_duration_seconds",
    ] {
        assert!(pay.contains(f), "payments lacks {f}");
    }
    assert!(!pay.contains("app_sessions_active"));
    assert!(families_of("shop").contains("app_sessions_active"));
    let handlers = values(r, "http_requests_total", "handler");
    for h in ["/payments", "/payments/{id}", "/refunds"] {
        assert!(handlers.contains(h), "no route {h}");
    }
    assert!(
        r.seen
            .iter()
            .any(|s| s.contains("handler=\"/payments\",code=\"402\""))
    );
    // One database, used by every API.
    assert_eq!(values(r, "pg_up", "service"), BTreeSet::from(["main-db"]));
    assert_eq!(
        values(r, "pg_stat_activity_count", "datname"),
        BTreeSet::from(["main", "postgres", "template0", "template1"])
    );
    assert_eq!(
        values(r, "db_client_operation_duration_seconds", "service"),
        BTreeSet::from(["main-db"])
    );
    for f in [
        "namedprocess_namegroup_cpu_seconds_total",
        "node_disk_io_time_seconds_total",
    ] {
        assert_eq!(values(r, f, "service"), BTreeSet::from(["main-db"]), "{f}");
    }
    // The broker as `mq`: three queues and two DLQs.
    assert_eq!(
        values(r, "rabbitmq_queue_messages_ready", "queue"),
        BTreeSet::from([
            "orders.incoming",
            "orders.incoming.dlq",
            "mes.updates",
            "mes.updates.dlq",
            "payments.events",
        ])
    );
    assert_eq!(
        values(r, "rabbitmq_queue_messages_ready", "service"),
        BTreeSet::from(["mq"])
    );
    assert_eq!(
        values(r, "dlq_messages_received_total", "service"),
        BTreeSet::from(["mq"])
    );
    assert_eq!(
        values(r, "dlq_messages_received_total", "source_queue"),
        BTreeSet::from(["orders.incoming", "mes.updates"])
    );
    assert_eq!(
        values(r, "rabbitmq_queue_messages_published_total", "queue"),
        BTreeSet::from(["orders.incoming", "mes.updates", "payments.events"])
    );
}

#[test]
fn the_payments_truth_matches_its_own_counters() {
    let r = payments_run();
    let truth: &Truth = &r.model.truth;
    let interval = truth.interval_seconds;
    let mut checked = 0;
    for svc in ["shop", "crm", "mes", "payments"] {
        let seen = hourly(r, "http_requests_total", &[("service", svc)]);
        for h in &truth.hours {
            let Some(t) = h.services.get(svc) else {
                continue;
            };
            // Requests counted after the last scrape before a reset are invisible.
            let lost: u64 = truth
                .restarts
                .iter()
                .filter(|x| x.instance.starts_with(&format!("{svc}-")))
                .filter(|x| (x.at - interval).div_euclid(3600) * 3600 == h.start)
                .map(|x| x.lost_requests)
                .sum();
            let counted = seen.get(&h.start).copied().unwrap_or(0.0) as u64;
            assert_eq!(
                counted + lost,
                t.requests,
                "{svc}, hour {}: counters say {counted} (+{lost} lost in a restart), the truth {}",
                h.start,
                t.requests
            );
            checked += 1;
        }
        let errors: f64 = ["500", "503"]
            .iter()
            .flat_map(|c| hourly(r, "http_requests_total", &[("service", svc), ("code", c)]))
            .map(|(_, v)| v)
            .sum();
        let true_errors: u64 = truth
            .hours
            .iter()
            .filter_map(|h| h.services.get(svc))
            .map(|s| s.c5xx)
            .sum();
        let lost: u64 = truth.restarts.iter().map(|x| x.lost_requests).sum();
        assert!(
            (errors as u64) <= true_errors && true_errors <= errors as u64 + lost,
            "{svc}: {errors} 5xx counted, {true_errors} true"
        );
    }
    assert_eq!(checked, 4 * 72, "every hour of every API was compared");
    let restart = &truth.restarts[0];
    assert_eq!(restart.instance, "payments-2");
    assert!(restart.lost_requests > 0);

    // The payments outage: about 40 % 5xx while it lasts, 5xx at the usual trickle before.
    let outage = &truth.incidents[0];
    assert_eq!(outage.kind, "api-outage");
    let share = |from: i64, to: i64| {
        let pick = |code: Option<&str>| -> f64 {
            let mut want = vec![("service", "payments")];
            want.extend(code.map(|c| ("code", c)));
            blocks(r, "http_requests_total", &want)
                .range(from..to)
                .map(|(_, v)| v)
                .sum()
        };
        pick(Some("503")) / pick(None)
    };
    let during = share(outage.start, outage.end);
    assert!(
        (0.35..0.45).contains(&during),
        "payments 503 share {during}"
    );
    let before = share(outage.start - 3 * 3600, outage.start);
    assert!(
        before < 0.01,
        "payments 503 share before the outage {before}"
    );

    // Orders: created, expired in the backlog and dead-lettered, lost; all three counted
    // by the metrics as by the truth.
    let sum =
        |metric: &str, want: &[(&str, &str)]| -> f64 { hourly(r, metric, want).values().sum() };
    let created = sum("shop_orders_created_total", &[]);
    let lost_created: u64 = truth.restarts.iter().map(|x| x.lost_orders_created).sum();
    assert_eq!(created as u64 + lost_created, truth.orders.len() as u64);
    let expired = truth
        .orders
        .iter()
        .filter(|o| o.lost_reason == Some("dead_lettered"))
        .count() as u64;
    assert!(expired > 0, "the orders backlog expired nothing");
    let s = truth.summary.as_ref().unwrap();
    assert_eq!(
        s.scenario.dead_lettered["orders.incoming"]["expired"],
        expired
    );
    assert_eq!(
        sum(
            "orders_lost_total",
            &[("stage", "broker"), ("reason", "dead_lettered")]
        ) as u64,
        expired
    );
    assert_eq!(
        sum(
            "dlq_messages_received_total",
            &[("source_queue", "orders.incoming"), ("reason", "expired")]
        ) as u64,
        expired
    );
    let backlog = &truth.incidents[2];
    assert_eq!(backlog.target, "orders.incoming");
    assert!(backlog.peak_queue_depth["orders.incoming"] > 20);
    // payments.events has no DLX: what is rejected there is dropped, never dead-lettered.
    assert!(!s.scenario.dead_lettered.contains_key("payments.events"));
    // The connection pile-up on main-db reaches most of max_connections.
    let pile = &truth.incidents[3];
    let peak = truth
        .hours
        .iter()
        .filter(|h| h.start + 3600 > pile.start && h.start < pile.end)
        .filter_map(|h| h.max_db_connections.get("main-db"))
        .fold(0.0f64, |a, b| a.max(*b));
    assert!(peak > 200.0, "main-db peaked at {peak} connections");
    // CRM incidents are filed against this site's services.
    let filed: BTreeSet<&str> = truth
        .crm_incidents
        .iter()
        .map(|c| c.service.as_str())
        .collect();
    assert!(filed.contains("payments") && filed.contains("mq") && filed.contains("main-db"));
    assert!(!filed.contains("s3") && !filed.contains("rabbitmq"));
}

#[test]
fn scenarios_name_targets_of_their_topology() {
    let s = Scenario::load(site_file("scenario.toml").to_str().unwrap()).unwrap();
    let e = s.check(&Topology::reference()).unwrap_err();
    assert!(
        e.contains("target \"payments\" does not fit kind api-outage in topology \"reference\""),
        "{e}"
    );
    assert!(e.contains("scenario.toml:"), "{e}");
    let week = Scenario::load("incident-week").unwrap();
    let e = week.check(&payments_topology()).unwrap_err();
    assert!(e.contains("target \"mes-db\" does not fit"), "{e}");
    assert!(
        e.contains("target \"crm.notifications\" does not fit"),
        "{e}"
    );
}

/// Series exported at the end of two hours of a normal day, and the requests served.
fn exported(topology: Topology) -> (usize, u64) {
    struct Count(usize);
    impl Sink for Count {
        fn tick(&mut self, m: &Model) -> std::io::Result<()> {
            self.0 = m.reg.series.iter().filter(|s| s.born).count();
            Ok(())
        }
    }
    let p = plan(topology, Scenario::load("normal-week").unwrap(), "2h");
    let mut c = Count(0);
    let m = run(&p, &mut c, &mut |_| {}).unwrap();
    let requests = m
        .truth
        .hours
        .iter()
        .flat_map(|h| h.services.values())
        .map(|s| s.requests)
        .sum();
    (c.0, requests)
}

#[test]
fn scale_ten_multiplies_the_series_by_about_ten() {
    for t in [Topology::reference(), payments_topology()] {
        let name = t.name.clone();
        let (one, req_one) = exported(t.clone());
        let (ten, req_ten) = exported(t.scaled(10).unwrap());
        let ratio = ten as f64 / one as f64;
        assert!(
            (8.5..11.5).contains(&ratio),
            "{name}: {one} series at x1, {ten} at x10 ({ratio:.2}x)"
        );
        // The same traffic, spread over more series.
        let traffic = req_ten as f64 / req_one as f64;
        assert!(
            (0.9..1.1).contains(&traffic),
            "{name}: {req_one} requests at x1, {req_ten} at x10"
        );
    }
}
