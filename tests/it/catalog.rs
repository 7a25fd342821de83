//! Every catalog query against a real Prometheus loaded with a fixture of the metric
//! contract, compared with the value the fixture's own numbers imply.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use crate::support::fixture::{Agg, Fixture, Labels, labels};
use crate::support::prometheus::{Prometheus, Spec};
use crate::support::{Skip, TestResult, rel_diff, vitals};

/// 2026-11-20T10:00:00Z: the fixture covers two hours from here, every 15 s.
pub const START: i64 = 1_795_168_800;
pub const END: i64 = START + 7200;
pub const AT: &str = "2026-11-20T12:00:00Z";

const HTTP_BUCKETS: [f64; 16] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 30.0, 60.0,
];
const SIZE_BUCKETS: [f64; 6] = [1e3, 1e4, 1e5, 1e6, 1e7, 1e8];
const ORDER_BUCKETS: [f64; 11] = [
    60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 86400.0, 172800.0, 604800.0,
];
const INCIDENT_BUCKETS: [f64; 9] = [
    300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 86400.0, 259200.0,
];

/// The metric contract with simple, known numbers.
pub fn fixture() -> Fixture {
    let mut f = Fixture::new(START, END, 15);
    // --- APIs ---
    type Routes<'a> = &'a [(&'a str, &'a str, &'a str, f64)];
    let apis: [(&str, &str, Routes); 5] = [
        (
            "shop",
            "shop-1",
            &[
                ("GET", "/products", "200", 6.0),
                ("GET", "/products", "500", 0.06),
                ("POST", "/orders", "201", 0.8),
                ("POST", "/orders", "503", 0.04),
            ],
        ),
        (
            "shop",
            "shop-2",
            &[
                ("GET", "/products", "200", 4.0),
                ("GET", "/products", "500", 0.02),
                ("POST", "/orders", "201", 0.5),
            ],
        ),
        (
            "crm",
            "crm-1",
            &[
                ("GET", "/customers", "200", 2.0),
                ("GET", "/customers", "500", 0.01),
                ("PUT", "/orders/{id}", "200", 0.5),
            ],
        ),
        (
            "mes",
            "mes-1",
            &[
                ("POST", "/jobs", "200", 3.0),
                ("POST", "/jobs", "503", 0.3),
                ("GET", "/jobs/{id}", "200", 1.2),
                ("GET", "/jobs/{id}", "404", 0.1),
            ],
        ),
        (
            "mes",
            "mes-2",
            &[("POST", "/jobs", "200", 2.0), ("POST", "/jobs", "503", 0.1)],
        ),
    ];
    for (i, (svc, inst, routes)) in apis.iter().enumerate() {
        let base = [("job", *svc), ("instance", *inst), ("service", *svc)];
        f.gauge("up", &base, if *inst == "mes-2" { 0.0 } else { 1.0 });
        for (method, handler, code, rate) in routes.iter() {
            let mut l = base.to_vec();
            l.extend([("method", *method), ("handler", *handler), ("code", *code)]);
            f.counter("http_requests", &l, *rate);
        }
        // One latency histogram per route, shaped differently per instance.
        let mut seen = Vec::new();
        for (method, handler, _, _) in routes.iter() {
            if seen.contains(handler) {
                continue;
            }
            seen.push(handler);
            let mut l = base.to_vec();
            l.extend([("method", *method), ("handler", *handler)]);
            let k = (i + seen.len()) as f64;
            let rates: Vec<f64> = (0..17)
                .map(|b| ((b as f64 - 6.0 - k * 0.5).abs() + 1.0).recip())
                .collect();
            f.histogram(
                "http_request_duration_seconds",
                &l,
                &HTTP_BUCKETS,
                &rates,
                0.2 + 0.05 * k,
            );
            f.histogram(
                "http_request_size_bytes",
                &l,
                &SIZE_BUCKETS,
                &[0.5, 1.0, 0.5, 0.2 * k, 0.1, 0.0, 0.0],
                20_000.0 * k,
            );
            f.histogram(
                "http_response_size_bytes",
                &l,
                &SIZE_BUCKETS,
                &[0.2, 2.0, 0.4, 0.1, 0.0, 0.0, 0.0],
                5_000.0 + 100.0 * k,
            );
        }
        f.gauge("http_requests_in_flight", &base, 2.0 + i as f64);
        f.counter("process_cpu_seconds", &base, 0.25 + 0.1 * i as f64);
        f.gauge(
            "process_resident_memory_bytes",
            &base,
            2.5e8 + 1e7 * i as f64,
        );
        if *svc != "mes" {
            f.gauge("app_sessions_active", &base, 40.0 + 3.0 * i as f64);
        }
    }
    for (svc, users) in [
        ("shop", &[("alice", 0.5), ("bob", 0.2), ("_other", 4.0)][..]),
        ("crm", &[("manager1", 0.7), ("_other", 0.1)][..]),
        ("mes", &[("planner", 1.5)][..]),
    ] {
        for (u, r) in users {
            f.counter(
                "app_requests_by_user",
                &[
                    ("job", svc),
                    ("instance", &format!("{svc}-1")),
                    ("service", svc),
                    ("user", u),
                ],
                *r,
            );
        }
    }
    // --- RabbitMQ ---
    let rmq = [
        ("job", "rabbitmq"),
        ("instance", "rabbitmq-1"),
        ("service", "rabbitmq"),
    ];
    f.gauge("up", &rmq, 1.0);
    let queues = [
        ("shop.orders", 12.0, 3.0, 2.0),
        ("mes.status", 0.0, 1.0, 3.0),
        ("crm.notifications", 4.0, 0.0, 1.0),
        ("shop.orders.dlq", 7.0, 0.0, 1.0),
        ("mes.status.dlq", 0.0, 0.0, 1.0),
    ];
    for (q, ready, unacked, consumers) in queues {
        let mut l = rmq.to_vec();
        l.extend([("vhost", "/"), ("queue", q)]);
        f.gauge("rabbitmq_queue_messages_ready", &l, ready);
        f.gauge("rabbitmq_queue_messages_unacked", &l, unacked);
        f.gauge("rabbitmq_queue_messages", &l, ready + unacked);
        f.gauge("rabbitmq_queue_consumers", &l, consumers);
        let head = match q {
            "shop.orders" => (END - 90) as f64,
            "crm.notifications" => (END - 5) as f64,
            _ => f64::NAN,
        };
        f.gauge("rabbitmq_queue_head_message_timestamp", &l, head);
    }
    f.gauge("rabbitmq_connections", &rmq, 9.0);
    f.counter("rabbitmq_connections_opened", &rmq, 0.002);
    f.counter("rabbitmq_connections_closed", &rmq, 0.002);
    for (qt, r) in [
        ("rabbit_classic_queue", 2.5),
        ("rabbit_quorum_queue", 0.5),
        ("rabbit_stream_queue", 0.0),
    ] {
        let mut l = rmq.to_vec();
        l.extend([("protocol", "amqp091"), ("queue_type", qt)]);
        f.counter("rabbitmq_global_messages_delivered", &l, r * 0.99);
        f.counter("rabbitmq_global_messages_acknowledged", &l, r * 0.98);
    }
    let mut l = rmq.to_vec();
    l.push(("protocol", "amqp091"));
    f.counter("rabbitmq_global_messages_received", &l, 3.1);
    for (ch, q, r) in [
        ("<0.1273.0>", "shop.orders", 1.2),
        ("<0.1274.0>", "shop.orders", 0.1),
        ("<0.1290.0>", "mes.status", 1.5),
    ] {
        let mut l = rmq.to_vec();
        l.extend([
            ("channel", ch),
            ("queue_vhost", "/"),
            ("queue", q),
            ("exchange_vhost", "/"),
            ("exchange", ""),
        ]);
        f.counter("rabbitmq_queue_messages_published", &l, r);
    }
    type Strategies<'a> = &'a [(&'a str, &'a str, f64)];
    let dl: [(&str, Strategies); 4] = [
        (
            "expired",
            &[
                ("rabbit_classic_queue", "at_most_once", 0.01),
                ("rabbit_classic_queue", "disabled", 0.002),
                ("rabbit_quorum_queue", "at_least_once", 0.0),
            ],
        ),
        (
            "rejected",
            &[
                ("rabbit_classic_queue", "at_most_once", 0.05),
                ("rabbit_classic_queue", "disabled", 0.0),
            ],
        ),
        (
            "maxlen",
            &[
                ("rabbit_classic_queue", "at_most_once", 0.001),
                ("rabbit_classic_queue", "disabled", 0.003),
            ],
        ),
        (
            "delivery_limit",
            &[
                ("rabbit_quorum_queue", "at_most_once", 0.0),
                ("rabbit_quorum_queue", "disabled", 0.0),
            ],
        ),
    ];
    for (reason, series) in dl {
        for (qt, strategy, r) in series {
            let mut l = rmq.to_vec();
            l.extend([("queue_type", *qt), ("dead_letter_strategy", *strategy)]);
            f.counter(
                &format!("rabbitmq_global_messages_dead_lettered_{reason}"),
                &l,
                *r,
            );
        }
    }
    for (src, reason, r) in [
        ("shop.orders", "rejected", 0.04),
        ("shop.orders", "expired", 0.01),
        ("mes.status", "rejected", 0.01),
    ] {
        let dlq = format!("{src}.dlq");
        let mut l = rmq.to_vec();
        l.extend([
            ("dlq", dlq.as_str()),
            ("source_queue", src),
            ("reason", reason),
        ]);
        f.counter("dlq_messages_received", &l, r);
    }
    for (svc, q, outcome, rates) in [
        ("mes", "shop.orders", "ack", [0.2, 0.5, 0.3, 0.1]),
        ("mes", "shop.orders", "nack", [0.0, 0.01, 0.02, 0.01]),
        ("shop", "mes.status", "ack", [1.0, 0.4, 0.1, 0.0]),
        ("crm", "mes.status", "error", [0.0, 0.0, 0.005, 0.0]),
    ] {
        let l = [
            ("job", svc),
            ("instance", &format!("{svc}-1")),
            ("service", svc),
            ("queue", q),
            ("outcome", outcome),
        ];
        let mut r = vec![0.0; 6];
        r.extend(rates);
        f.histogram(
            "messaging_process_duration_seconds",
            &l,
            &HTTP_BUCKETS,
            &r,
            0.3,
        );
    }
    // --- PostgreSQL ---
    for (i, db) in ["shop-db", "mes-db"].iter().enumerate() {
        let k = i as f64;
        let base = [
            ("job", *db),
            ("instance", if i == 0 { "shop-db-1" } else { "mes-db-1" }),
            ("service", *db),
        ];
        f.gauge("up", &base, 1.0);
        f.gauge("pg_up", &base, 1.0);
        let dat = if i == 0 { "shop" } else { "mes" };
        for (state, n) in [
            ("active", 5.0 + k),
            ("idle", 20.0),
            ("idle in transaction", 1.0 + 2.0 * k),
        ] {
            let mut l = base.to_vec();
            l.extend([("datname", dat), ("state", state)]);
            f.gauge("pg_stat_activity_count", &l, n);
        }
        for (role, state, n) in [
            ("app", "active", 4.0 + k),
            ("app", "idle", 18.0),
            ("reporting", "active", 1.0),
            ("admin", "idle", 2.0 + k),
        ] {
            let mut l = base.to_vec();
            l.extend([("datname", dat), ("usename", role), ("state", state)]);
            f.gauge("pg_stat_activity_by_user_count", &l, n);
        }
        f.gauge("pg_settings_max_connections", &base, 100.0 + 100.0 * k);
        for (d, size, growth) in [
            (dat, 5e9 + 2e9 * k, 1000.0 + 500.0 * k),
            ("postgres", 7.5e6, 0.0),
            ("template1", 7.4e6, 0.0),
        ] {
            let mut l = base.to_vec();
            l.push(("datname", d));
            f.growing_gauge("pg_database_size_bytes", &l, size, growth);
        }
        for (cmd, calls, secs) in [
            ("select", 40.0, 0.2),
            ("insert", 5.0, 0.05),
            ("update", 3.0 + k, 0.06),
            ("delete", 0.5, 0.002),
            ("other", 0.2, 0.01),
        ] {
            let mut l = base.to_vec();
            l.extend([("user", "app"), ("datname", dat), ("command", cmd)]);
            f.counter("pg_stat_statements_by_command_calls", &l, calls);
            f.counter(
                "pg_stat_statements_by_command_seconds",
                &l,
                secs * (1.0 + k),
            );
        }
        let mut l = base.to_vec();
        l.push(("datname", dat));
        f.untyped_counter("pg_stat_database_xact_rollback", &l, 0.3 + k);
        f.untyped_counter("pg_stat_database_deadlocks", &l, 0.001 * (1.0 + k));
        f.gauge("pg_replication_lag", &base, 0.5 + 2.0 * k);
        let mut l = base.to_vec();
        l.extend([
            ("groupname", "postgres"),
            ("memtype", "proportionalResident"),
        ]);
        f.gauge("namedprocess_namegroup_memory_bytes", &l, 1.5e9 + 1e9 * k);
        let mut l = base.to_vec();
        l.extend([("groupname", "postgres"), ("memtype", "resident")]);
        f.gauge("namedprocess_namegroup_memory_bytes", &l, 9e9);
        for mode in ["user", "system"] {
            let mut l = base.to_vec();
            l.extend([("groupname", "postgres"), ("mode", mode)]);
            f.counter(
                "namedprocess_namegroup_cpu_seconds",
                &l,
                if mode == "user" { 0.6 + k } else { 0.2 },
            );
        }
        for (dev, busy) in [("vda", 0.35 + 0.2 * k), ("vdb", 0.05)] {
            let mut l = base.to_vec();
            l.push(("device", dev));
            f.counter("node_disk_io_time_seconds", &l, busy);
        }
        for (client, op, err, rates) in [
            ("shop", "SELECT", "", [3.0, 2.0, 1.0, 0.2]),
            ("shop", "INSERT", "", [0.1, 0.5, 0.2, 0.1]),
            ("mes", "SELECT", "", [1.0, 1.0, 1.0 + k, 0.5]),
            ("shop", "UPDATE", "40001", [0.0, 0.01, 0.02, 0.0]),
        ] {
            let l = [
                ("job", client),
                ("instance", &format!("{client}-1")),
                ("service", *db),
                ("db_operation_name", op),
                ("error_type", err),
            ];
            let mut r = vec![rates[0]];
            r.extend(&rates[1..]);
            f.histogram(
                "db_client_operation_duration_seconds",
                &l,
                &HTTP_BUCKETS,
                &r,
                0.004,
            );
        }
    }
    // --- S3 ---
    let s3 = [("job", "s3"), ("service", "s3")];
    for server in ["minio-1:9000", "minio-2:9000"] {
        let mut b = s3.to_vec();
        b.push(("instance", server));
        f.gauge("up", &b, 1.0);
        for (bucket, bytes, growth, objects, ogrowth) in [
            ("models", 8e11, 5e5, 40_000.0, 0.02),
            ("renders", 1e11, 1e5, 120_000.0, 0.1),
        ] {
            let mut l = b.clone();
            l.extend([("server", server), ("bucket", bucket)]);
            f.growing_gauge("minio_bucket_usage_total_bytes", &l, bytes, growth);
            f.growing_gauge("minio_bucket_usage_object_total", &l, objects, ogrowth);
        }
        for (bucket, api, r, r5) in [
            ("models", "putobject", 0.05, 0.001),
            ("models", "getobject", 0.4, 0.0),
            ("renders", "getobject", 2.0, 0.004),
        ] {
            let mut l = b.clone();
            l.extend([("server", server), ("bucket", bucket), ("api", api)]);
            f.counter("minio_bucket_requests", &l, r);
            f.counter("minio_bucket_requests_5xx_errors", &l, r5);
            f.counter("minio_bucket_requests_4xx_errors", &l, 0.0);
            f.distribution(
                "minio_bucket_requests_ttfb_seconds_distribution",
                &l,
                &[0.05, 0.1, 0.25, 0.5, 1.0],
                &[r * 0.5, r * 0.3, r * 0.1, r * 0.05, r * 0.05],
            );
        }
    }
    for (svc, bucket, op, rates) in [
        ("shop", "models", "PutObject", [0.0, 0.01, 0.03, 0.01]),
        ("shop", "models", "GetObject", [0.1, 0.2, 0.05, 0.0]),
        ("mes", "renders", "GetObject", [0.5, 0.3, 0.1, 0.05]),
    ] {
        let l = [
            ("job", svc),
            ("instance", &format!("{svc}-1")),
            ("service", svc),
            ("bucket", bucket),
            ("operation", op),
            ("outcome", "ok"),
        ];
        let mut r = vec![0.0; 7];
        r.extend(rates);
        f.histogram(
            "s3_client_request_duration_seconds",
            &l,
            &HTTP_BUCKETS,
            &r,
            0.4,
        );
    }
    let shop = [("job", "shop"), ("instance", "shop-1"), ("service", "shop")];
    let mut l = shop.to_vec();
    l.push(("bucket", "models"));
    f.histogram(
        "shop_model_upload_size_bytes",
        &l,
        &SIZE_BUCKETS,
        &[0.0, 0.0, 0.01, 0.03, 0.01, 0.0, 0.0],
        2.5e6,
    );
    for u in 0..12 {
        let user = format!("user{u:02}");
        let mut l = shop.to_vec();
        l.push(("user", &user));
        f.gauge("shop_user_model_storage_bytes", &l, 1e9 - 5e7 * u as f64);
    }
    // --- Business ---
    for (ch, r) in [("web", 0.05), ("api", 0.01)] {
        let mut l = shop.to_vec();
        l.push(("channel", ch));
        f.counter("shop_orders_created", &l, r);
    }
    let mes = [("job", "mes"), ("instance", "mes-1"), ("service", "mes")];
    f.counter("mes_orders_received", &mes, 0.058);
    for (o, r) in [("delivered", 0.05), ("cancelled", 0.002), ("failed", 0.001)] {
        let mut l = mes.to_vec();
        l.push(("outcome", o));
        f.counter("mes_orders_completed", &l, r);
    }
    let rmq_consumer = [("job", "shop"), ("instance", "shop-1"), ("service", "shop")];
    for (stage, reason, r) in [
        ("broker", "dead_lettered", 0.0004),
        ("broker", "dropped", 0.0001),
        ("mes", "rejected", 0.0002),
        ("shop", "sla_timeout", 0.00005),
    ] {
        let mut l = rmq_consumer.to_vec();
        l.extend([("stage", stage), ("reason", reason)]);
        f.counter("orders_lost", &l, r);
    }
    for (o, rates) in [
        (
            "delivered",
            [0.0, 0.0, 0.002, 0.01, 0.02, 0.01, 0.005, 0.002, 0.001],
        ),
        (
            "failed",
            [0.0, 0.0, 0.0, 0.0005, 0.0005, 0.0, 0.0, 0.0, 0.0],
        ),
    ] {
        let mut l = mes.to_vec();
        l.push(("outcome", o));
        f.histogram(
            "order_processing_duration_seconds",
            &l,
            &ORDER_BUCKETS,
            &rates,
            5000.0,
        );
    }
    for (status, n) in [("awaiting_payment", 2.0), ("in_production", 1.0)] {
        let mut l = shop.to_vec();
        l.push(("status", status));
        f.gauge("shop_orders_stuck", &l, n);
    }
    let crm = [("job", "crm"), ("instance", "crm-1"), ("service", "crm")];
    for (sev, about, rates, mean) in [
        ("critical", "mes", [0.0, 0.0001, 0.0002, 0.0001], 2400.0),
        ("minor", "shop", [0.0002, 0.0003, 0.0, 0.0], 700.0),
    ] {
        let l = [crm[0], crm[1], ("service", about), ("severity", sev)];
        f.histogram(
            "incident_resolution_duration_seconds",
            &l,
            &INCIDENT_BUCKETS,
            &rates,
            mean,
        );
    }
    for (sev, n) in [("critical", 1.0), ("minor", 3.0)] {
        let mut l = crm.to_vec();
        l.push(("severity", sev));
        f.gauge("incidents_open", &l, n);
    }
    f
}

/// The shared Prometheus loaded with [`fixture`].
pub fn prometheus() -> Result<&'static Prometheus, Skip> {
    static P: OnceLock<Result<Prometheus, String>> = OnceLock::new();
    let r = P.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("vitals-fixture-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file: PathBuf = dir.join("catalog.om");
        fixture().write(&file).unwrap();
        let p = Prometheus::start(Spec {
            openmetrics: vec![file],
            ..Spec::default()
        })
        .map_err(|s| s.0);
        let _ = std::fs::remove_dir_all(&dir);
        p
    });
    match r {
        Ok(p) => Ok(p),
        Err(reason) => Err(Skip(reason.clone())),
    }
}

fn svc<'a>(names: &'a [&'a str]) -> impl Fn(&Labels) -> bool + 'a {
    move |l| {
        l.get("service")
            .is_some_and(|s| names.contains(&s.as_str()))
    }
}

const APIS: [&str; 3] = ["shop", "crm", "mes"];
const DBS: [&str; 2] = ["shop-db", "mes-db"];

fn scale(m: BTreeMap<Labels, f64>, k: f64) -> BTreeMap<Labels, f64> {
    m.into_iter().map(|(l, v)| (l, v * k)).collect()
}

fn div(a: BTreeMap<Labels, f64>, b: &BTreeMap<Labels, f64>) -> BTreeMap<Labels, f64> {
    a.into_iter()
        .filter_map(|(l, v)| b.get(&l).map(|d| (l, v / d)))
        .collect()
}

fn one(v: f64) -> BTreeMap<Labels, f64> {
    BTreeMap::from([(Labels::new(), v)])
}

/// Params a case sets, and the series it must return.
pub struct Case {
    pub params: Vec<(&'static str, &'static str)>,
    pub expect: BTreeMap<Labels, f64>,
}

fn case(expect: BTreeMap<Labels, f64>) -> Case {
    Case {
        params: vec![],
        expect,
    }
}

fn with(params: &[(&'static str, &'static str)], expect: BTreeMap<Labels, f64>) -> Case {
    Case {
        params: params.to_vec(),
        expect,
    }
}

/// What each catalog query must return over [`fixture`] at [`END`].
pub fn expected(f: &Fixture, name: &str) -> Option<Case> {
    let all = |_: &Labels| true;
    let h = 3600.0;
    let code5 = |l: &Labels| l.get("code").is_some_and(|c| c.starts_with('5'));
    let code2 = |l: &Labels| l.get("code").is_some_and(|c| c.starts_with('2'));
    let api = svc(&APIS);
    let dbs = svc(&DBS);
    Some(match name {
        "api.rps" => case(f.rate_by("http_requests_total", &["service"], &api)),
        "api.rps_by_instance" => {
            case(f.rate_by("http_requests_total", &["service", "instance"], &api))
        }
        "api.rps_by_user" => {
            // The app's `_other` fold of its long tail is not a user.
            let mut m = f.rate_by("app_requests_by_user_total", &["service", "user"], &api);
            m.retain(|l, _| l.get("user").is_none_or(|u| u != "_other"));
            assert!(!m.is_empty());
            case(m)
        }
        "api.requests" => case(scale(
            f.rate_by("http_requests_total", &["service"], &api),
            h,
        )),
        "api.cpu_percent" => case(scale(
            f.rate_by("process_cpu_seconds_total", &["service", "instance"], &api),
            100.0,
        )),
        "api.memory_bytes" => case(f.value_by(
            "process_resident_memory_bytes",
            &["service", "instance"],
            &api,
            Agg::Sum,
        )),
        "api.latency_p50" => case(f.quantile_by(
            "http_request_duration_seconds_bucket",
            0.5,
            &["service"],
            &api,
        )),
        "api.latency_p95" => case(f.quantile_by(
            "http_request_duration_seconds_bucket",
            0.95,
            &["service"],
            &api,
        )),
        "api.latency_p99" => case(f.quantile_by(
            "http_request_duration_seconds_bucket",
            0.99,
            &["service"],
            &api,
        )),
        "api.latency_by_handler_p95" => case(f.quantile_by(
            "http_request_duration_seconds_bucket",
            0.95,
            &["service", "handler"],
            &api,
        )),
        "api.fast_ratio" => case(div(
            f.rate_by("http_request_duration_seconds_bucket", &["service"], |l| {
                api(l) && l["le"] == "0.5"
            }),
            &f.rate_by("http_request_duration_seconds_count", &["service"], &api),
        )),
        "api.responses_2xx" => case(scale(
            f.rate_by("http_requests_total", &["service"], |l| api(l) && code2(l)),
            h,
        )),
        "api.responses_5xx" => case(scale(
            f.rate_by("http_requests_total", &["service"], |l| api(l) && code5(l)),
            h,
        )),
        "api.responses_by_code" => case(scale(
            f.rate_by("http_requests_total", &["service", "code"], &api),
            h,
        )),
        "api.error_ratio" => case(div(
            f.rate_by("http_requests_total", &["service"], |l| api(l) && code5(l)),
            &f.rate_by("http_requests_total", &["service"], &api),
        )),
        "api.sessions" => case(f.value_by(
            "app_sessions_active",
            &["service"],
            svc(&["shop", "crm"]),
            Agg::Sum,
        )),
        "api.in_flight" => {
            case(f.value_by("http_requests_in_flight", &["service"], &api, Agg::Sum))
        }
        "api.received_bytes" => case(f.rate_by("http_request_size_bytes_sum", &["service"], &api)),
        "api.sent_bytes" => case(f.rate_by("http_response_size_bytes_sum", &["service"], &api)),
        "api.up" => case(f.value_by("up", &["service"], &api, Agg::Avg)),

        "rabbitmq.queue_depth" => {
            case(f.value_by("rabbitmq_queue_messages_ready", &["queue"], all, Agg::Sum))
        }
        "rabbitmq.in_flight" => {
            case(f.value_by("rabbitmq_queue_messages_unacked", &["queue"], all, Agg::Sum))
        }
        "rabbitmq.messages" => {
            case(f.value_by("rabbitmq_queue_messages", &["queue"], all, Agg::Sum))
        }
        "rabbitmq.dead_lettered" | "rabbitmq.dropped" => {
            let dropped = name == "rabbitmq.dropped";
            let mut m = BTreeMap::new();
            for reason in ["expired", "rejected", "maxlen", "delivery_limit"] {
                let metric = format!("rabbitmq_global_messages_dead_lettered_{reason}_total");
                let r: f64 = f
                    .rate_by(&metric, &[], |l| {
                        (l["dead_letter_strategy"] == "disabled") == dropped
                    })
                    .values()
                    .sum();
                m.insert(labels(&[("reason", reason)]), r * h);
            }
            case(m)
        }
        "rabbitmq.dead_lettered_total" => {
            let mut total = 0.0;
            for reason in ["expired", "rejected", "maxlen", "delivery_limit"] {
                let metric = format!("rabbitmq_global_messages_dead_lettered_{reason}_total");
                total += f
                    .rate_by(&metric, &[], |l| l["dead_letter_strategy"] != "disabled")
                    .values()
                    .sum::<f64>();
            }
            case(one(total * h))
        }
        "rabbitmq.dlq_by_queue_reason" => case(scale(
            f.rate_by(
                "dlq_messages_received_total",
                &["source_queue", "reason"],
                all,
            ),
            h,
        )),
        "rabbitmq.connections" => case(one(9.0)),
        "rabbitmq.connection_churn" => case(one(0.002)),
        "rabbitmq.consumers" => {
            case(f.value_by("rabbitmq_queue_consumers", &["queue"], all, Agg::Sum))
        }
        "rabbitmq.publish_rate" => case(one(3.1)),
        "rabbitmq.published" => case(one(3.1 * h)),
        "rabbitmq.publish_rate_by_queue" => {
            case(f.rate_by("rabbitmq_queue_messages_published_total", &["queue"], all))
        }
        "rabbitmq.deliver_rate" => case(one(3.0 * 0.99)),
        "rabbitmq.ack_rate" => case(one(3.0 * 0.98)),
        "rabbitmq.message_age_seconds" => case(BTreeMap::from([
            (labels(&[("queue", "shop.orders")]), 90.0),
            (labels(&[("queue", "crm.notifications")]), 5.0),
        ])),
        "rabbitmq.processing_p95" => case(f.quantile_by(
            "messaging_process_duration_seconds_bucket",
            0.95,
            &["queue"],
            all,
        )),
        "rabbitmq.consumer_errors" => case(f.rate_by(
            "messaging_process_duration_seconds_count",
            &["queue"],
            |l| l["outcome"] != "ack",
        )),

        "db.memory_bytes" => case(f.value_by(
            "namedprocess_namegroup_memory_bytes",
            &["service"],
            |l| dbs(l) && l["memtype"] == "proportionalResident",
            Agg::Sum,
        )),
        "db.cpu_percent" => case(scale(
            f.rate_by(
                "namedprocess_namegroup_cpu_seconds_total",
                &["service"],
                &dbs,
            ),
            100.0,
        )),
        "db.disk_io_utilization" => {
            let per_dev = f.rate_by(
                "node_disk_io_time_seconds_total",
                &["service", "device"],
                &dbs,
            );
            let mut m: BTreeMap<Labels, f64> = BTreeMap::new();
            for (l, v) in per_dev {
                let e = m
                    .entry(labels(&[("service", &l["service"])]))
                    .or_insert(0.0);
                *e = e.max(v);
            }
            case(m)
        }
        "db.connections_by_role" => case(f.value_by(
            "pg_stat_activity_by_user_count",
            &["service", "usename"],
            &dbs,
            Agg::Sum,
        )),
        "db.connections_by_state" => case(f.value_by(
            "pg_stat_activity_count",
            &["service", "state"],
            &dbs,
            Agg::Sum,
        )),
        "db.connections_used" => {
            case(f.value_by("pg_stat_activity_count", &["service"], &dbs, Agg::Sum))
        }
        "db.connections_max" => {
            case(f.value_by("pg_settings_max_connections", &["service"], &dbs, Agg::Max))
        }
        "db.connection_saturation" => case(div(
            f.value_by("pg_stat_activity_count", &["service"], &dbs, Agg::Sum),
            &f.value_by("pg_settings_max_connections", &["service"], &dbs, Agg::Max),
        )),
        "db.size_bytes" => case(f.value_by("pg_database_size_bytes", &["service"], &dbs, Agg::Sum)),
        "db.size_growth_bytes" => with(
            &[("window", "1h")],
            scale(f.rate_by("pg_database_size_bytes", &["service"], &dbs), h),
        ),
        "db.query_duration_p95" => case(f.quantile_by(
            "db_client_operation_duration_seconds_bucket",
            0.95,
            &["service", "db_operation_name"],
            &dbs,
        )),
        "db.query_p95" => case(f.quantile_by(
            "db_client_operation_duration_seconds_bucket",
            0.95,
            &["service"],
            &dbs,
        )),
        "db.server_time_by_command" => case(div(
            f.rate_by(
                "pg_stat_statements_by_command_seconds_total",
                &["service", "command"],
                &dbs,
            ),
            &f.rate_by(
                "pg_stat_statements_by_command_calls_total",
                &["service", "command"],
                &dbs,
            ),
        )),
        "db.query_rate" => case(f.rate_by(
            "pg_stat_statements_by_command_calls_total",
            &["service"],
            &dbs,
        )),
        "db.error_rate" => case(f.rate_by(
            "db_client_operation_duration_seconds_count",
            &["service"],
            |l| dbs(l) && !l["error_type"].is_empty(),
        )),
        "db.rollback_rate" => case(f.rate_by("pg_stat_database_xact_rollback", &["service"], &dbs)),
        "db.deadlocks" => case(scale(
            f.rate_by("pg_stat_database_deadlocks", &["service"], &dbs),
            h,
        )),
        "db.replication_lag_seconds" => {
            case(f.value_by("pg_replication_lag", &["service"], &dbs, Agg::Max))
        }
        "db.up" => case(f.value_by("pg_up", &["service"], &dbs, Agg::Min)),

        "s3.size_bytes" => {
            case(f.value_by("minio_bucket_usage_total_bytes", &["bucket"], all, Agg::Max))
        }
        "s3.objects" => case(f.value_by(
            "minio_bucket_usage_object_total",
            &["bucket"],
            all,
            Agg::Max,
        )),
        "s3.growth_bytes" => {
            // Every server reports the same slope; max over servers is one of them.
            let per_server =
                f.rate_by("minio_bucket_usage_total_bytes", &["bucket", "server"], all);
            let mut m: BTreeMap<Labels, f64> = BTreeMap::new();
            for (l, v) in per_server {
                let e = m
                    .entry(labels(&[("bucket", &l["bucket"])]))
                    .or_insert(f64::MIN);
                *e = e.max(v * h);
            }
            with(&[("window", "1h")], m)
        }
        "s3.latency_p95" => case(f.quantile_by(
            "s3_client_request_duration_seconds_bucket",
            0.95,
            &["bucket", "operation"],
            all,
        )),
        "s3.latency_p95_overall" => {
            case(f.quantile_by("s3_client_request_duration_seconds_bucket", 0.95, &[], all))
        }
        "s3.ttfb_p95" => case(f.quantile_by(
            "minio_bucket_requests_ttfb_seconds_distribution",
            0.95,
            &["bucket", "api"],
            all,
        )),
        "s3.requests" => case(scale(
            f.rate_by("minio_bucket_requests_total", &["bucket", "api"], all),
            h,
        )),
        "s3.request_rate" => {
            case(f.rate_by("minio_bucket_requests_total", &["bucket", "api"], all))
        }
        "s3.errors_5xx" => case(scale(
            f.rate_by("minio_bucket_requests_5xx_errors_total", &["bucket"], all),
            h,
        )),
        "s3.object_size_avg" => case(div(
            f.value_by("minio_bucket_usage_total_bytes", &["bucket"], all, Agg::Max),
            &f.value_by(
                "minio_bucket_usage_object_total",
                &["bucket"],
                all,
                Agg::Max,
            ),
        )),
        "s3.upload_size_avg" => {
            with(&[("window", "1h")], one(2.5e6)).relabel(&[("bucket", "models")])
        }
        "s3.user_storage_top" => {
            let all_users = f.value_by("shop_user_model_storage_bytes", &["user"], all, Agg::Max);
            let mut v: Vec<(Labels, f64)> = all_users.into_iter().collect();
            v.sort_by(|a, b| b.1.total_cmp(&a.1));
            v.truncate(10);
            case(v.into_iter().collect())
        }

        "business.orders_created" => case(one(0.06 * h)),
        "business.orders_created_by_channel" => case(scale(
            f.rate_by("shop_orders_created_total", &["channel"], all),
            h,
        )),
        "business.orders_completed" => case(scale(
            f.rate_by("mes_orders_completed_total", &["outcome"], all),
            h,
        )),
        "business.orders_lost" => case(one(0.00075 * h)),
        "business.lost_order_share" => case(one(0.00075 / 0.06)),
        "business.lost_orders_by_reason" => case(scale(
            f.rate_by("orders_lost_total", &["stage", "reason"], all),
            h,
        )),
        "business.dlq_reasons" => case(scale(
            f.rate_by("dlq_messages_received_total", &["reason"], all),
            h,
        )),
        "business.order_processing_p50" => with(
            &[("window", "1h")],
            f.quantile_by("order_processing_duration_seconds_bucket", 0.5, &[], |l| {
                l["outcome"] == "delivered"
            }),
        ),
        "business.order_processing_p95" => with(
            &[("window", "1h")],
            f.quantile_by("order_processing_duration_seconds_bucket", 0.95, &[], |l| {
                l["outcome"] == "delivered"
            }),
        ),
        "business.orders_stuck" => {
            case(f.value_by("shop_orders_stuck", &["status"], all, Agg::Sum))
        }
        "business.mttr_seconds" => with(
            &[("window", "1h")],
            one(f
                .rate_by("incident_resolution_duration_seconds_sum", &[], all)
                .values()
                .sum::<f64>()
                / f.rate_by("incident_resolution_duration_seconds_count", &[], all)
                    .values()
                    .sum::<f64>()),
        ),
        "business.incidents_resolved" => with(
            &[("window", "1h")],
            scale(
                f.rate_by(
                    "incident_resolution_duration_seconds_count",
                    &["severity"],
                    all,
                ),
                h,
            ),
        ),
        "business.incidents_open" => {
            case(f.value_by("incidents_open", &["severity"], all, Agg::Sum))
        }
        _ => return None,
    })
}

impl Case {
    /// Adds constant labels to the single expected series.
    fn relabel(mut self, extra: &[(&str, &str)]) -> Case {
        self.expect = self
            .expect
            .into_iter()
            .map(|(mut l, v)| {
                for (k, val) in extra {
                    l.insert(k.to_string(), val.to_string());
                }
                (l, v)
            })
            .collect();
        self
    }
}

/// Runs one catalog query through the CLI and compares every series.
pub fn check_query(name: &str) -> TestResult {
    let prom = prometheus()?;
    let f = fixture();
    let case = expected(&f, name).unwrap_or_else(|| {
        panic!(
            "no expected value for catalog query `{name}`: add it to tests/it/catalog.rs::expected"
        )
    });
    assert!(
        !case.expect.is_empty(),
        "{name}: the fixture implies no series; the case is wrong"
    );
    let mut args = vec![
        "query".to_string(),
        name.to_string(),
        "--at".into(),
        AT.into(),
        "--format".into(),
        "json".into(),
    ];
    for (k, v) in &case.params {
        args.push("--param".into());
        args.push(format!("{k}={v}"));
    }
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = vitals(&argv).prometheus(&prom.url).run();
    run.expect_code(0);
    let doc = run.json();
    let mut got: BTreeMap<Labels, f64> = BTreeMap::new();
    for s in doc["series"].as_array().unwrap() {
        let l: Labels = serde_json::from_value(s["labels"].clone()).unwrap();
        let v = s["value"]
            .as_f64()
            .unwrap_or_else(|| panic!("{name}: null value for {l:?}: {s}"));
        got.insert(l, v);
    }
    let want_keys: Vec<&Labels> = case.expect.keys().collect();
    let got_keys: Vec<&Labels> = got.keys().collect();
    assert_eq!(
        got_keys, want_keys,
        "{name}: series differ\npromql: {}",
        doc["promql"]
    );
    for (l, want) in &case.expect {
        let g = got[l];
        assert!(
            rel_diff(g, *want) < 1e-6,
            "{name} {l:?}: got {g}, the fixture implies {want}\npromql: {}",
            doc["promql"]
        );
    }
    Ok(())
}
