//! The reference system, tick by tick: three APIs behind a diurnal load, RabbitMQ between
//! them, two PostgreSQL servers, MinIO, and the business processes on top (orders,
//! production, incidents). Every request, order and message is an event drawn from a
//! seeded generator; metrics are counters of those events, and the ground truth counts the
//! same events on its own path.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use chrono::{Datelike, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, Poisson, StandardNormal};

use super::registry::{Hid, Registry, Sid, Tid};
use super::scenario::{Incident, IncidentKind, Scenario, Severity};
use super::truth::{self, Truth};

pub const HTTP_BUCKETS: [f64; 16] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 30.0, 60.0,
];
const SIZE_BUCKETS: [f64; 5] = [1e3, 1e4, 1e5, 1e6, 1e7];
const DB_BUCKETS: [f64; 8] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5];
const S3_BUCKETS: [f64; 10] = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
const TTFB_BUCKETS: [f64; 8] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
const UPLOAD_BUCKETS: [f64; 6] = [1e5, 1e6, 5e6, 1e7, 5e7, 1e8];
pub const ORDER_BUCKETS: [f64; 11] = [
    60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 86400.0, 172800.0, 604800.0,
];
const INCIDENT_BUCKETS: [f64; 9] = [
    300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 86400.0, 259200.0,
];

/// Minutes an MES outage spends rejecting orders before its consumer disconnects.
const NACK_PHASE_MS: i64 = 12 * 60_000;
/// Consumers of shop.orders, mes.status, crm.notifications and the two DLQs in normal times.
const NORMAL_CONSUMERS: [f64; 5] = [2.0, 2.0, 1.0, 1.0, 1.0];
/// Message TTL of `shop.orders` and `crm.notifications`.
const ORDERS_TTL_MS: i64 = 30 * 60_000;
const NOTIFY_TTL_MS: i64 = 10 * 60_000;
/// An order not finished this long after creation is stuck; twice this, lost.
const ORDER_SLA_MS: i64 = 12 * 3_600_000;

type Rng = Xoshiro256PlusPlus;

/// service, peak requests per second, routes, instances, base 500 share, named users.
type ApiDef = (
    &'static str,
    f64,
    &'static [RouteDef],
    usize,
    f64,
    &'static [&'static str],
);

fn lognormal(rng: &mut Rng, median: f64, sigma: f64) -> f64 {
    let z: f64 = StandardNormal.sample(rng);
    median * (sigma * z).exp()
}

fn poisson(rng: &mut Rng, lambda: f64) -> u64 {
    if lambda <= 0.0 {
        return 0;
    }
    Poisson::new(lambda)
        .map(|p| p.sample(rng) as u64)
        .unwrap_or(0)
}

fn gauss(h: f64, mu: f64, width: f64) -> f64 {
    (-((h - mu) / width).powi(2)).exp()
}

fn smoothstep(x: f64, a: f64, b: f64) -> f64 {
    let t = ((x - a) / (b - a)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Effect {
    None,
    Upload,
    Order,
    ViewRender,
    Job,
    JobStatus,
    CrmUpdate,
}

struct RouteDef {
    method: &'static str,
    handler: &'static str,
    share: f64,
    ok: &'static str,
    client_err: &'static str,
    median_s: f64,
    sigma: f64,
    req: (f64, f64),
    resp: (f64, f64),
    cpu_s: f64,
    effect: Effect,
}

const SHOP_ROUTES: [RouteDef; 4] = [
    RouteDef {
        method: "GET",
        handler: "/products",
        share: 0.697,
        ok: "200",
        client_err: "404",
        median_s: 0.045,
        sigma: 0.55,
        req: (300.0, 0.3),
        resp: (24_000.0, 0.6),
        cpu_s: 0.003,
        effect: Effect::None,
    },
    RouteDef {
        method: "GET",
        handler: "/orders/{id}",
        share: 0.30,
        ok: "200",
        client_err: "404",
        median_s: 0.032,
        sigma: 0.5,
        req: (250.0, 0.2),
        resp: (2_200.0, 0.4),
        cpu_s: 0.002,
        effect: Effect::ViewRender,
    },
    RouteDef {
        method: "POST",
        handler: "/models",
        share: 0.002,
        ok: "201",
        client_err: "400",
        median_s: 0.42,
        sigma: 0.6,
        req: (3.2e6, 0.9),
        resp: (600.0, 0.2),
        cpu_s: 0.02,
        effect: Effect::Upload,
    },
    RouteDef {
        method: "POST",
        handler: "/orders",
        share: 0.001,
        ok: "201",
        client_err: "400",
        median_s: 0.12,
        sigma: 0.45,
        req: (1_400.0, 0.3),
        resp: (700.0, 0.2),
        cpu_s: 0.008,
        effect: Effect::Order,
    },
];
const CRM_ROUTES: [RouteDef; 3] = [
    RouteDef {
        method: "GET",
        handler: "/customers",
        share: 0.5,
        ok: "200",
        client_err: "404",
        median_s: 0.085,
        sigma: 0.5,
        req: (300.0, 0.2),
        resp: (8_000.0, 0.6),
        cpu_s: 0.004,
        effect: Effect::None,
    },
    RouteDef {
        method: "PUT",
        handler: "/orders/{id}",
        share: 0.35,
        ok: "200",
        client_err: "400",
        median_s: 0.11,
        sigma: 0.5,
        req: (900.0, 0.3),
        resp: (1_200.0, 0.3),
        cpu_s: 0.005,
        effect: Effect::CrmUpdate,
    },
    RouteDef {
        method: "GET",
        handler: "/incidents",
        share: 0.15,
        ok: "200",
        client_err: "404",
        median_s: 0.06,
        sigma: 0.4,
        req: (250.0, 0.2),
        resp: (3_000.0, 0.5),
        cpu_s: 0.003,
        effect: Effect::None,
    },
];
const MES_ROUTES: [RouteDef; 3] = [
    RouteDef {
        method: "POST",
        handler: "/jobs",
        share: 0.1,
        ok: "201",
        client_err: "400",
        median_s: 0.9,
        sigma: 0.7,
        req: (2.8e6, 0.9),
        resp: (1_500.0, 0.3),
        cpu_s: 0.12,
        effect: Effect::Job,
    },
    RouteDef {
        method: "GET",
        handler: "/jobs/{id}",
        share: 0.7,
        ok: "200",
        client_err: "404",
        median_s: 0.025,
        sigma: 0.5,
        req: (200.0, 0.2),
        resp: (1_800.0, 0.3),
        cpu_s: 0.002,
        effect: Effect::None,
    },
    RouteDef {
        method: "POST",
        handler: "/jobs/{id}/status",
        share: 0.2,
        ok: "200",
        client_err: "400",
        median_s: 0.05,
        sigma: 0.4,
        req: (500.0, 0.2),
        resp: (300.0, 0.2),
        cpu_s: 0.003,
        effect: Effect::JobStatus,
    },
];

struct RouteSeries {
    /// 2xx, 4xx, 500, 503.
    codes: [Sid; 4],
    latency: Hid,
    req_size: Hid,
    resp_size: Hid,
}

struct Instance {
    tid: Tid,
    name: String,
    routes: Vec<RouteSeries>,
    in_flight: Sid,
    sessions: Option<Sid>,
    cpu: Sid,
    memory: Sid,
    /// Memory grows slowly since the last restart.
    since_restart_ms: i64,
    users: Vec<Sid>,
    /// Not serving until this time (a restart).
    down_until_ms: i64,
    /// DB client histograms: (operation, ok histogram, error histogram, error code).
    db_ops: Vec<(&'static str, Hid, Hid)>,
    /// S3 client histograms by (bucket, operation): ok and error.
    s3_ops: Vec<(&'static str, &'static str, Hid, Hid)>,
    /// Shop only: created orders by channel, model upload sizes.
    orders_created: Vec<Sid>,
    upload_size: Option<Hid>,
    /// Publisher channel to RabbitMQ (a new one after a restart).
    channel: usize,
}

struct Api {
    service: &'static str,
    peak_rps: f64,
    routes: &'static [RouteDef],
    base_500: f64,
    instances: Vec<Instance>,
    /// Cumulative weights of the users; the last is `_other`.
    user_cum: Vec<f64>,
    noise: f64,
}

struct Queue {
    name: &'static str,
    queue_type: &'static str,
    /// Where its dead letters go, and the strategy label the broker reports.
    dlx: Option<&'static str>,
    strategy: &'static str,
    /// Enqueue time of each ready message (and the order id, for shop.orders).
    ready: VecDeque<(i64, u64)>,
    unacked: f64,
    consumers: f64,
    ready_g: Sid,
    unacked_g: Sid,
    messages_g: Sid,
    consumers_g: Sid,
    head_g: Sid,
}

struct Channel {
    queue: usize,
    series: Sid,
}

struct Rabbit {
    tid: Tid,
    queues: Vec<Queue>,
    channels: Vec<Channel>,
    received: Sid,
    delivered: BTreeMap<&'static str, Sid>,
    acked: BTreeMap<&'static str, Sid>,
    /// (reason, queue_type, strategy) -> counter
    dead: BTreeMap<(&'static str, &'static str, &'static str), Sid>,
    confirmed: Sid,
    connections: Sid,
    opened: Sid,
    closed: Sid,
    /// (dlq, source, reason) -> counter on the DLQ consumer
    dlq_received: BTreeMap<(&'static str, &'static str, &'static str), Sid>,
    /// (stage, reason) -> orders_lost_total
    lost: BTreeMap<(&'static str, &'static str), Sid>,
    /// Consumer processing histograms: (consumer instance, queue, outcome) -> hist
    process: BTreeMap<(String, &'static str, &'static str), Hid>,
    next_pid: u64,
}

struct Db {
    name: &'static str,
    datname: &'static str,
    max_conn: f64,
    pool: f64,
    activity: BTreeMap<&'static str, Sid>,
    by_user: BTreeMap<(&'static str, &'static str), Sid>,
    sizes: Vec<(Sid, f64, f64)>,
    calls: BTreeMap<(&'static str, &'static str), (Sid, Sid)>,
    rollback: Sid,
    deadlocks: Sid,
    lag: Sid,
    mem_pss: Sid,
    mem_rss: Sid,
    cpu: [Sid; 2],
    disk: [Sid; 2],
    idle_in_tx: f64,
    /// Queries per second served in the last tick (drives CPU, connections, lag).
    qps: f64,
    writes: f64,
}

struct Minio {
    usage_bytes: BTreeMap<&'static str, Sid>,
    usage_objects: BTreeMap<&'static str, Sid>,
    requests: BTreeMap<(&'static str, &'static str), (Sid, Sid, Sid, Hid)>,
}

struct S3 {
    servers: Vec<Minio>,
    bytes: BTreeMap<&'static str, f64>,
    objects: BTreeMap<&'static str, f64>,
    next_scan_ms: i64,
    /// Bytes each known user stores in `models`.
    user_bytes: Vec<f64>,
    user_gauges: BTreeMap<usize, Sid>,
    user_cum: Vec<f64>,
    storage_tid: Tid,
}

struct InProduction {
    id: u64,
    created_ms: i64,
    done_ms: Option<i64>,
    outcome: &'static str,
    instance: usize,
}

struct Business {
    received: Vec<Sid>,
    completed: Vec<BTreeMap<&'static str, Sid>>,
    processing: Vec<BTreeMap<&'static str, Hid>>,
    stuck: BTreeMap<&'static str, Sid>,
    resolution: BTreeMap<(Severity, String), Hid>,
    open: BTreeMap<Severity, Sid>,
    production: Vec<InProduction>,
    next_order: u64,
    /// Open CRM incidents: (index into truth.crm_incidents, resolve at).
    open_incidents: Vec<(usize, i64)>,
}

/// A scripted incident in effect, with how far it has run.
#[derive(Clone, Copy)]
struct Active<'a> {
    incident: &'a Incident,
    elapsed_ms: i64,
}

pub struct Model {
    pub reg: Registry,
    pub truth: Truth,
    rng: Rng,
    scenario: Scenario,
    tz: Tz,
    interval_ms: i64,
    scenario_start_ms: i64,
    now_ms: i64,
    apis: Vec<Api>,
    rmq: Rabbit,
    dbs: Vec<Db>,
    s3: S3,
    biz: Business,
    /// Index in truth.incidents of each scripted incident, once started.
    started: Vec<Option<usize>>,
    /// Per scripted incident: whether its CRM incident was filed.
    filed: Vec<bool>,
    restarted: Vec<bool>,
    gap_open: Vec<Option<usize>>,
}

impl Model {
    /// A model whose first sample is at `start_ms` (counters at zero) and whose scenario
    /// begins at `scenario_start_ms` (normal days before it).
    pub fn new(
        scenario: Scenario,
        seed: u64,
        start_ms: i64,
        scenario_start_ms: i64,
        interval_ms: i64,
    ) -> Model {
        let tz: Tz = scenario
            .time_zone
            .parse()
            .unwrap_or(chrono_tz::Europe::Moscow);
        let mut reg = Registry::default();
        let http_b: Arc<[f64]> = HTTP_BUCKETS.into();
        let size_b: Arc<[f64]> = SIZE_BUCKETS.into();
        let db_b: Arc<[f64]> = DB_BUCKETS.into();
        let s3_b: Arc<[f64]> = S3_BUCKETS.into();
        let ttfb_b: Arc<[f64]> = TTFB_BUCKETS.into();
        let upload_b: Arc<[f64]> = UPLOAD_BUCKETS.into();
        let order_b: Arc<[f64]> = ORDER_BUCKETS.into();
        let incident_b: Arc<[f64]> = INCIDENT_BUCKETS.into();

        let defs: [ApiDef; 3] = [
            (
                "shop",
                26.0 * scenario.traffic.shop,
                &SHOP_ROUTES,
                3,
                0.0006,
                &[
                    "anna", "boris", "chen", "dmitry", "elena", "farid", "galina", "hugo", "irina",
                    "jonas",
                ],
            ),
            (
                "crm",
                6.0 * scenario.traffic.crm,
                &CRM_ROUTES,
                2,
                0.0008,
                &[
                    "manager1", "manager2", "support1", "support2", "support3", "sales1",
                ],
            ),
            (
                "mes",
                10.0 * scenario.traffic.mes,
                &MES_ROUTES,
                2,
                0.002,
                &["planner1", "planner2", "scheduler", "printer-fleet"],
            ),
        ];
        let mut apis = Vec::new();
        for (service, peak, routes, n, base_500, users) in defs {
            let mut instances = Vec::new();
            for i in 1..=n {
                let name = format!("{service}-{i}");
                let tid = reg.target(service, &name, service);
                let mut rs = Vec::new();
                for r in routes {
                    let l = [("method", r.method), ("handler", r.handler)];
                    let code = |reg: &mut Registry, c: &str| {
                        reg.counter(
                            "http_requests",
                            "HTTP requests by route and status code",
                            tid,
                            &[l[0], l[1], ("code", c)],
                        )
                    };
                    let codes = [
                        code(&mut reg, r.ok),
                        code(&mut reg, r.client_err),
                        code(&mut reg, "500"),
                        code(&mut reg, "503"),
                    ];
                    rs.push(RouteSeries {
                        codes,
                        latency: reg.histogram(
                            "http_request_duration_seconds",
                            "HTTP request latency",
                            tid,
                            &l,
                            &http_b,
                        ),
                        req_size: reg.histogram(
                            "http_request_size_bytes",
                            "HTTP request body sizes",
                            tid,
                            &l,
                            &size_b,
                        ),
                        resp_size: reg.histogram(
                            "http_response_size_bytes",
                            "HTTP response body sizes",
                            tid,
                            &l,
                            &size_b,
                        ),
                    });
                }
                let in_flight =
                    reg.gauge("http_requests_in_flight", "Requests being served", tid, &[]);
                let sessions = (service != "mes")
                    .then(|| reg.gauge("app_sessions_active", "Logged-in sessions", tid, &[]));
                let cpu = reg.counter(
                    "process_cpu_seconds",
                    "Total user and system CPU time spent in seconds.",
                    tid,
                    &[],
                );
                let memory = reg.gauge(
                    "process_resident_memory_bytes",
                    "Resident memory size in bytes.",
                    tid,
                    &[],
                );
                let mut unames: Vec<String> = users.iter().map(|s| s.to_string()).collect();
                unames.push("_other".into());
                let user_sids = unames
                    .iter()
                    .map(|u| {
                        reg.counter(
                            "app_requests_by_user",
                            "Requests by user (top users, the rest as _other)",
                            tid,
                            &[("user", u)],
                        )
                    })
                    .collect();
                let db = if service == "mes" {
                    "mes-db"
                } else {
                    "shop-db"
                };
                let ops: &[&'static str] = if service == "crm" {
                    &["SELECT", "UPDATE"]
                } else {
                    &["SELECT", "INSERT", "UPDATE"]
                };
                let db_ops = ops
                    .iter()
                    .map(|op| {
                        let ok = reg.histogram(
                            "db_client_operation_duration_seconds",
                            "Database operations seen by the client",
                            tid,
                            &[
                                ("service", db),
                                ("db_operation_name", op),
                                ("error_type", ""),
                            ],
                            &db_b,
                        );
                        let err_code = if *op == "SELECT" { "57014" } else { "40001" };
                        let err = reg.lazy_histogram(
                            "db_client_operation_duration_seconds",
                            "Database operations seen by the client",
                            tid,
                            &[
                                ("service", db),
                                ("db_operation_name", op),
                                ("error_type", err_code),
                            ],
                            &db_b,
                        );
                        (*op, ok, err)
                    })
                    .collect();
                let s3_pairs: &[(&'static str, &'static str)] = match service {
                    "shop" => &[("models", "PutObject"), ("renders", "GetObject")],
                    "mes" => &[("models", "GetObject"), ("renders", "PutObject")],
                    _ => &[],
                };
                let s3_ops = s3_pairs
                    .iter()
                    .map(|(b, op)| {
                        let ok = reg.histogram(
                            "s3_client_request_duration_seconds",
                            "S3 requests seen by the client",
                            tid,
                            &[("bucket", b), ("operation", op), ("outcome", "ok")],
                            &s3_b,
                        );
                        let err = reg.lazy_histogram(
                            "s3_client_request_duration_seconds",
                            "S3 requests seen by the client",
                            tid,
                            &[("bucket", b), ("operation", op), ("outcome", "error")],
                            &s3_b,
                        );
                        (*b, *op, ok, err)
                    })
                    .collect();
                let orders_created = if service == "shop" {
                    ["web", "api"]
                        .iter()
                        .map(|c| {
                            reg.counter(
                                "shop_orders_created",
                                "Orders committed by the shop",
                                tid,
                                &[("channel", c)],
                            )
                        })
                        .collect()
                } else {
                    Vec::new()
                };
                let upload_size = (service == "shop").then(|| {
                    reg.histogram(
                        "shop_model_upload_size_bytes",
                        "Sizes of uploaded 3D models",
                        tid,
                        &[("bucket", "models")],
                        &upload_b,
                    )
                });
                instances.push(Instance {
                    tid,
                    name,
                    routes: rs,
                    in_flight,
                    sessions,
                    cpu,
                    memory,
                    since_restart_ms: 0,
                    users: user_sids,
                    down_until_ms: i64::MIN,
                    db_ops,
                    s3_ops,
                    orders_created,
                    upload_size,
                    channel: usize::MAX,
                });
            }
            // Zipf-like weights for the named users; `_other` takes the long tail.
            let mut w: Vec<f64> = (0..users.len()).map(|i| 0.06 / (i as f64 + 1.0)).collect();
            w.push(1.0 - w.iter().sum::<f64>());
            let mut cum = 0.0;
            let user_cum = w
                .iter()
                .map(|x| {
                    cum += x;
                    cum
                })
                .collect();
            apis.push(Api {
                service,
                peak_rps: peak,
                routes,
                base_500,
                instances,
                user_cum,
                noise: 0.0,
            });
        }

        // --- RabbitMQ and the DLQ consumer ---
        let rtid = reg.target("rabbitmq", "rabbitmq-1", "rabbitmq");
        let dlq_tid = reg.target("dlq-consumer", "dlq-consumer-1", "rabbitmq");
        let qdefs: [(
            &'static str,
            &'static str,
            Option<&'static str>,
            &'static str,
        ); 5] = [
            (
                "shop.orders",
                "rabbit_quorum_queue",
                Some("shop.orders.dlq"),
                "at_least_once",
            ),
            (
                "mes.status",
                "rabbit_classic_queue",
                Some("mes.status.dlq"),
                "at_most_once",
            ),
            (
                "crm.notifications",
                "rabbit_classic_queue",
                None,
                "disabled",
            ),
            ("shop.orders.dlq", "rabbit_classic_queue", None, "disabled"),
            ("mes.status.dlq", "rabbit_classic_queue", None, "disabled"),
        ];
        let mut queues = Vec::new();
        for (name, qt, dlx, strategy) in qdefs {
            let l = [("vhost", "/"), ("queue", name)];
            queues.push(Queue {
                name,
                queue_type: qt,
                dlx,
                strategy,
                ready: VecDeque::new(),
                unacked: 0.0,
                consumers: 0.0,
                ready_g: reg.gauge(
                    "rabbitmq_queue_messages_ready",
                    "Messages ready to be delivered to consumers",
                    rtid,
                    &l,
                ),
                unacked_g: reg.gauge(
                    "rabbitmq_queue_messages_unacked",
                    "Messages delivered to consumers but not yet acknowledged",
                    rtid,
                    &l,
                ),
                messages_g: reg.gauge(
                    "rabbitmq_queue_messages",
                    "Sum of ready and unacknowledged messages - total queue depth",
                    rtid,
                    &l,
                ),
                consumers_g: reg.gauge(
                    "rabbitmq_queue_consumers",
                    "Consumers on a queue",
                    rtid,
                    &l,
                ),
                head_g: reg.gauge(
                    "rabbitmq_queue_head_message_timestamp",
                    "Timestamp of the first message in the queue, if any",
                    rtid,
                    &l,
                ),
            });
        }
        let received = reg.counter(
            "rabbitmq_global_messages_received",
            "Total number of messages received from publishers",
            rtid,
            &[("protocol", "amqp091")],
        );
        let mut delivered = BTreeMap::new();
        let mut acked = BTreeMap::new();
        for qt in [
            "rabbit_classic_queue",
            "rabbit_quorum_queue",
            "rabbit_stream_queue",
        ] {
            let l = [("protocol", "amqp091"), ("queue_type", qt)];
            let d = reg.counter(
                "rabbitmq_global_messages_delivered",
                "Total number of messages delivered to consumers",
                rtid,
                &l,
            );
            let a = reg.counter(
                "rabbitmq_global_messages_acknowledged",
                "Total number of messages acknowledged by consumers",
                rtid,
                &l,
            );
            delivered.insert(qt, d);
            acked.insert(qt, a);
        }
        let mut dead = BTreeMap::new();
        // Label combinations as RabbitMQ 3.10 exports them (see the reference scrape).
        let combos: [(&'static str, &[(&'static str, &'static str)]); 4] = [
            (
                "expired",
                &[
                    ("rabbit_classic_queue", "at_most_once"),
                    ("rabbit_classic_queue", "disabled"),
                    ("rabbit_quorum_queue", "at_least_once"),
                    ("rabbit_quorum_queue", "at_most_once"),
                    ("rabbit_quorum_queue", "disabled"),
                ],
            ),
            (
                "rejected",
                &[
                    ("rabbit_classic_queue", "at_most_once"),
                    ("rabbit_classic_queue", "disabled"),
                    ("rabbit_quorum_queue", "at_least_once"),
                    ("rabbit_quorum_queue", "at_most_once"),
                    ("rabbit_quorum_queue", "disabled"),
                ],
            ),
            (
                "maxlen",
                &[
                    ("rabbit_classic_queue", "at_most_once"),
                    ("rabbit_classic_queue", "disabled"),
                    ("rabbit_quorum_queue", "at_most_once"),
                    ("rabbit_quorum_queue", "disabled"),
                ],
            ),
            (
                "delivery_limit",
                &[
                    ("rabbit_quorum_queue", "at_least_once"),
                    ("rabbit_quorum_queue", "at_most_once"),
                    ("rabbit_quorum_queue", "disabled"),
                ],
            ),
        ];
        for (reason, cs) in combos {
            for (qt, st) in cs {
                let help = format!("Total number of messages dead-lettered due to {reason}");
                let s = reg.counter(
                    &format!("rabbitmq_global_messages_dead_lettered_{reason}"),
                    &help,
                    rtid,
                    &[("queue_type", qt), ("dead_letter_strategy", st)],
                );
                dead.insert((reason, *qt, *st), s);
            }
        }
        let confirmed = reg.counter(
            "rabbitmq_global_messages_dead_lettered_confirmed",
            "Total number of messages dead-lettered and confirmed by target queues",
            rtid,
            &[
                ("queue_type", "rabbit_quorum_queue"),
                ("dead_letter_strategy", "at_least_once"),
            ],
        );
        let connections = reg.gauge(
            "rabbitmq_connections",
            "Connections currently open",
            rtid,
            &[],
        );
        let opened = reg.counter(
            "rabbitmq_connections_opened",
            "Total number of connections opened",
            rtid,
            &[],
        );
        let closed = reg.counter(
            "rabbitmq_connections_closed",
            "Total number of connections closed or terminated",
            rtid,
            &[],
        );
        let mut dlq_received = BTreeMap::new();
        for (dlq, src, reason) in [
            ("shop.orders.dlq", "shop.orders", "rejected"),
            ("shop.orders.dlq", "shop.orders", "expired"),
            ("mes.status.dlq", "mes.status", "rejected"),
        ] {
            dlq_received.insert(
                (dlq, src, reason),
                reg.counter(
                    "dlq_messages_received",
                    "Dead-lettered messages by source queue and first death reason",
                    dlq_tid,
                    &[("dlq", dlq), ("source_queue", src), ("reason", reason)],
                ),
            );
        }
        let mut lost = BTreeMap::new();
        for (stage, reason) in [
            ("mes", "rejected"),
            ("broker", "dead_lettered"),
            ("shop", "dropped"),
            ("shop", "sla_timeout"),
        ] {
            lost.insert(
                (stage, reason),
                reg.counter(
                    "orders_lost",
                    "Orders that will never be produced, by stage and reason",
                    dlq_tid,
                    &[("stage", stage), ("reason", reason)],
                ),
            );
        }
        let mut process = BTreeMap::new();
        let consumers: [(usize, usize, &'static str, &[&'static str]); 5] = [
            (2, 0, "shop.orders", &["ack", "nack"]),
            (2, 1, "shop.orders", &["ack", "nack"]),
            (0, 0, "mes.status", &["ack"]),
            (1, 0, "mes.status", &["ack", "nack"]),
            (1, 1, "crm.notifications", &["ack"]),
        ];
        for (api, inst, q, outcomes) in consumers {
            let (tid, name) = (
                apis[api].instances[inst].tid,
                apis[api].instances[inst].name.clone(),
            );
            for o in outcomes {
                let h = reg.histogram(
                    "messaging_process_duration_seconds",
                    "Time consumers take to process a message",
                    tid,
                    &[("queue", q), ("outcome", o)],
                    &http_b,
                );
                process.insert((name.clone(), q, *o), h);
            }
        }
        let mut rmq = Rabbit {
            tid: rtid,
            queues,
            channels: Vec::new(),
            received,
            delivered,
            acked,
            dead,
            confirmed,
            connections,
            opened,
            closed,
            dlq_received,
            lost,
            process,
            next_pid: 1273,
        };
        for api in &mut apis {
            let q = match api.service {
                "shop" => 0,
                "mes" => 1,
                _ => 2,
            };
            for inst in &mut api.instances {
                inst.channel = new_channel(&mut reg, &mut rmq, q);
            }
        }

        // --- PostgreSQL servers ---
        let mut dbs = Vec::new();
        for (name, datname, inst, max_conn, pool, base_size) in [
            ("shop-db", "shop", "shop-db-1", 200.0, 60.0, 42e9),
            ("mes-db", "mes", "mes-db-1", 200.0, 40.0, 18e9),
        ] {
            let tid = reg.target("postgres", inst, name);
            let mut activity = BTreeMap::new();
            for st in ["active", "idle", "idle in transaction"] {
                activity.insert(
                    st,
                    reg.gauge(
                        "pg_stat_activity_count",
                        "number of connections in this state",
                        tid,
                        &[("datname", datname), ("state", st)],
                    ),
                );
            }
            let maint = reg.gauge(
                "pg_stat_activity_count",
                "number of connections in this state",
                tid,
                &[("datname", "postgres"), ("state", "idle")],
            );
            reg.set(maint, 1.0);
            let mut by_user = BTreeMap::new();
            for (u, st) in [
                ("app", "active"),
                ("app", "idle"),
                ("app", "idle in transaction"),
                ("reporting", "active"),
                ("reporting", "idle"),
                ("admin", "idle"),
            ] {
                by_user.insert(
                    (u, st),
                    reg.gauge(
                        "pg_stat_activity_by_user_count",
                        "Client connections",
                        tid,
                        &[("datname", datname), ("usename", u), ("state", st)],
                    ),
                );
            }
            let maxc = reg.gauge(
                "pg_settings_max_connections",
                "Sets the maximum number of concurrent connections.",
                tid,
                &[],
            );
            reg.set(maxc, max_conn);
            let mut sizes = Vec::new();
            for (d, s, growth) in [
                (
                    datname,
                    base_size,
                    if name == "shop-db" { 6e7 } else { 1.1e8 },
                ),
                ("postgres", 7_631_023.0, 0.0),
                ("template0", 7_479_811.0, 0.0),
                ("template1", 7_713_299.0, 0.0),
            ] {
                sizes.push((
                    reg.gauge(
                        "pg_database_size_bytes",
                        "Disk space used by the database",
                        tid,
                        &[("datname", d)],
                    ),
                    s,
                    growth,
                ));
            }
            let mut calls = BTreeMap::new();
            for (u, cmd) in [
                ("app", "select"),
                ("app", "insert"),
                ("app", "update"),
                ("app", "delete"),
                ("app", "other"),
                ("reporting", "select"),
            ] {
                let l = [("user", u), ("datname", datname), ("command", cmd)];
                let c = reg.counter(
                    "pg_stat_statements_by_command_calls",
                    "Number of times executed",
                    tid,
                    &l,
                );
                let s = reg.counter(
                    "pg_stat_statements_by_command_seconds",
                    "Total execution time in seconds",
                    tid,
                    &l,
                );
                calls.insert((u, cmd), (c, s));
            }
            let rollback = reg.untyped_counter(
                "pg_stat_database_xact_rollback",
                "Number of transactions in this database that have been rolled back",
                tid,
                &[("datname", datname)],
            );
            let deadlocks = reg.untyped_counter(
                "pg_stat_database_deadlocks",
                "Number of deadlocks detected in this database",
                tid,
                &[("datname", datname)],
            );
            let lag = reg.gauge(
                "pg_replication_lag",
                "Replication lag behind master in seconds",
                tid,
                &[],
            );
            let mem_pss = reg.gauge(
                "namedprocess_namegroup_memory_bytes",
                "number of bytes of memory in use",
                tid,
                &[
                    ("groupname", "postgres"),
                    ("memtype", "proportionalResident"),
                ],
            );
            let mem_rss = reg.gauge(
                "namedprocess_namegroup_memory_bytes",
                "number of bytes of memory in use",
                tid,
                &[("groupname", "postgres"), ("memtype", "resident")],
            );
            let cpu = [
                reg.counter(
                    "namedprocess_namegroup_cpu_seconds",
                    "Cpu user usage in seconds",
                    tid,
                    &[("groupname", "postgres"), ("mode", "user")],
                ),
                reg.counter(
                    "namedprocess_namegroup_cpu_seconds",
                    "Cpu user usage in seconds",
                    tid,
                    &[("groupname", "postgres"), ("mode", "system")],
                ),
            ];
            let disk = [
                reg.counter(
                    "node_disk_io_time_seconds",
                    "Total seconds spent doing I/Os.",
                    tid,
                    &[("device", "vda")],
                ),
                reg.counter(
                    "node_disk_io_time_seconds",
                    "Total seconds spent doing I/Os.",
                    tid,
                    &[("device", "vdb")],
                ),
            ];
            let up = reg.gauge("pg_up", "Whether the last scrape of metrics from PostgreSQL was able to connect to the server (1 for yes, 0 for no).", tid, &[]);
            reg.set(up, 1.0);
            dbs.push(Db {
                name,
                datname,
                max_conn,
                pool,
                activity,
                by_user,
                sizes,
                calls,
                rollback,
                deadlocks,
                lag,
                mem_pss,
                mem_rss,
                cpu,
                disk,
                idle_in_tx: 0.5,
                qps: 0.0,
                writes: 0.0,
            });
        }

        // --- MinIO ---
        let mut servers = Vec::new();
        for (inst, server) in [("minio-1", "minio-1:9000"), ("minio-2", "minio-2:9000")] {
            let tid = reg.target("s3", inst, "s3");
            let mut usage_bytes = BTreeMap::new();
            let mut usage_objects = BTreeMap::new();
            let mut requests = BTreeMap::new();
            for bucket in ["models", "renders"] {
                let l = [("server", server), ("bucket", bucket)];
                usage_bytes.insert(
                    bucket,
                    reg.gauge(
                        "minio_bucket_usage_total_bytes",
                        "Total bucket size in bytes",
                        tid,
                        &l,
                    ),
                );
                usage_objects.insert(
                    bucket,
                    reg.gauge(
                        "minio_bucket_usage_object_total",
                        "Total number of objects",
                        tid,
                        &l,
                    ),
                );
                for api in ["putobject", "getobject"] {
                    let l = [("server", server), ("bucket", bucket), ("api", api)];
                    let r = reg.counter(
                        "minio_bucket_requests",
                        "Total number of S3 requests on a bucket",
                        tid,
                        &l,
                    );
                    let e5 = reg.counter(
                        "minio_bucket_requests_5xx_errors",
                        "Total number of S3 requests with (5xx) errors on a bucket",
                        tid,
                        &l,
                    );
                    let e4 = reg.counter(
                        "minio_bucket_requests_4xx_errors",
                        "Total number of S3 requests with (4xx) errors on a bucket",
                        tid,
                        &l,
                    );
                    let ttfb = reg.distribution(
                        "minio_bucket_requests_ttfb_seconds_distribution",
                        "Distribution of time to first byte across API calls per bucket",
                        tid,
                        &l,
                        &ttfb_b,
                    );
                    requests.insert((bucket, api), (r, e5, e4, ttfb));
                }
            }
            servers.push(Minio {
                usage_bytes,
                usage_objects,
                requests,
            });
        }
        let storage_tid = apis[0].instances[0].tid;
        let n_users = 400;
        let mut cum = 0.0;
        let user_cum: Vec<f64> = (0..n_users)
            .map(|i| {
                cum += 1.0 / (i as f64 + 1.0).powf(1.1);
                cum
            })
            .collect();
        let s3 = S3 {
            servers,
            bytes: BTreeMap::from([("models", 1.9e12), ("renders", 2.4e11)]),
            objects: BTreeMap::from([("models", 512_000.0), ("renders", 1_380_000.0)]),
            next_scan_ms: i64::MIN,
            user_bytes: (0..n_users)
                .map(|i| 4e10 / (i as f64 + 1.0).powf(1.1))
                .collect(),
            user_gauges: BTreeMap::new(),
            user_cum,
            storage_tid,
        };

        // --- Business ---
        let crm_tid = apis[1].instances[0].tid;
        let mut received_s = Vec::new();
        let mut completed = Vec::new();
        let mut processing = Vec::new();
        for inst in &apis[2].instances {
            received_s.push(reg.counter(
                "mes_orders_received",
                "Orders the MES consumer accepted",
                inst.tid,
                &[],
            ));
            let mut c = BTreeMap::new();
            let mut p = BTreeMap::new();
            for o in ["delivered", "cancelled", "failed"] {
                c.insert(
                    o,
                    reg.counter(
                        "mes_orders_completed",
                        "Orders finished by MES, by outcome",
                        inst.tid,
                        &[("outcome", o)],
                    ),
                );
                p.insert(
                    o,
                    reg.histogram(
                        "order_processing_duration_seconds",
                        "Time from order to its outcome",
                        inst.tid,
                        &[("outcome", o)],
                        &order_b,
                    ),
                );
            }
            completed.push(c);
            processing.push(p);
        }
        let shop1 = apis[0].instances[0].tid;
        let mut stuck = BTreeMap::new();
        for st in ["queued", "in_production"] {
            stuck.insert(
                st,
                reg.gauge(
                    "shop_orders_stuck",
                    "Orders older than their SLA that are not finished",
                    shop1,
                    &[("status", st)],
                ),
            );
        }
        let mut open = BTreeMap::new();
        for sev in [Severity::Critical, Severity::Major, Severity::Minor] {
            open.insert(
                sev,
                reg.gauge(
                    "incidents_open",
                    "Open incidents",
                    crm_tid,
                    &[("severity", sev.as_str())],
                ),
            );
        }
        let mut resolution = BTreeMap::new();
        for sev in [Severity::Critical, Severity::Major, Severity::Minor] {
            for svc in ["shop", "crm", "mes", "rabbitmq", "shop-db", "mes-db", "s3"] {
                resolution.insert(
                    (sev, svc.to_string()),
                    reg.histogram(
                        "incident_resolution_duration_seconds",
                        "Time from opening to resolving an incident",
                        crm_tid,
                        &[("severity", sev.as_str()), ("service", svc)],
                        &incident_b,
                    ),
                );
            }
        }
        let biz = Business {
            received: received_s,
            completed,
            processing,
            stuck,
            resolution,
            open,
            production: Vec::new(),
            next_order: 1,
            open_incidents: Vec::new(),
        };

        let n_incidents = scenario.incidents.len();
        let mut truth = Truth {
            schema_version: 1,
            scenario: scenario.name.clone(),
            seed,
            start: start_ms / 1000,
            end: start_ms / 1000,
            scenario_start: scenario_start_ms / 1000,
            interval_seconds: interval_ms / 1000,
            latency_bounds: HTTP_BUCKETS.to_vec(),
            s3_latency_bounds: S3_BUCKETS.to_vec(),
            ..Truth::default()
        };
        truth.hour(start_ms);
        let mut m = Model {
            reg,
            truth,
            rng: Rng::seed_from_u64(seed),
            scenario,
            tz,
            interval_ms,
            scenario_start_ms,
            now_ms: start_ms,
            apis,
            rmq,
            dbs,
            s3,
            biz,
            started: vec![None; n_incidents],
            filed: vec![false; n_incidents],
            restarted: vec![false; n_incidents],
            gap_open: vec![None; n_incidents],
        };
        // Gauges have values from the first sample on (an exporter reports them at once).
        for a in 0..m.apis.len() {
            let rate = m.apis[a].peak_rps * m.profile(m.apis[a].service, start_ms);
            m.instance_gauges(a, rate, 1.0, false, start_ms, 0.0);
        }
        m.databases([0.0; 2], start_ms, 0.0);
        // Consumers are attached, and MinIO has scanned its buckets, before the first scrape:
        // a history must not start with a queue nobody consumes or an empty bucket.
        for (q, c) in m.rmq.queues.iter_mut().zip(NORMAL_CONSUMERS) {
            q.consumers = c;
        }
        m.scan_buckets();
        m.set_gauges(start_ms, 0.0);
        m
    }

    pub fn now_ms(&self) -> i64 {
        self.now_ms
    }

    pub fn interval_ms(&self) -> i64 {
        self.interval_ms
    }

    /// Scripted incidents of a kind in effect at `t_ms` for `target`.
    fn active(&self, kind: IncidentKind, target: &str, t_ms: i64) -> Option<Active<'_>> {
        self.scenario.incidents.iter().find_map(|i| {
            let start = self.scenario_start_ms + i.at.millis() as i64;
            let end = start + i.duration.millis() as i64;
            (i.kind == kind && i.target == target && t_ms >= start && t_ms < end).then_some(
                Active {
                    incident: i,
                    elapsed_ms: t_ms - start,
                },
            )
        })
    }

    /// Local hour (fractional) and weekday (0 = Monday) in the shop's time zone.
    fn local(&self, t_ms: i64) -> (f64, u32) {
        let t = self.tz.from_utc_datetime(
            &Utc.timestamp_millis_opt(t_ms)
                .single()
                .expect("valid time")
                .naive_utc(),
        );
        (
            t.hour() as f64 + t.minute() as f64 / 60.0 + t.second() as f64 / 3600.0,
            t.weekday().num_days_from_monday(),
        )
    }

    fn profile(&self, service: &str, t_ms: i64) -> f64 {
        let (h, wd) = self.local(t_ms);
        let weekend = wd >= 5;
        let shop = (0.08 + 0.55 * gauss(h, 13.0, 3.0) + 0.92 * gauss(h, 20.5, 2.3))
            * if weekend { 1.2 } else { 1.0 };
        match service {
            "shop" => shop,
            "crm" => {
                if weekend {
                    0.06
                } else {
                    0.04 + 0.96 * smoothstep(h, 8.5, 10.0) * (1.0 - smoothstep(h, 17.5, 19.0))
                }
            }
            _ => 0.35 + 0.6 * shop,
        }
    }

    /// Advances the model by one interval, to `t1_ms`.
    pub fn step(&mut self) {
        let t0 = self.now_ms;
        let t1 = t0 + self.interval_ms;
        let dt = self.interval_ms as f64 / 1000.0;
        self.now_ms = t1;
        self.truth.end = t1 / 1000;
        self.scripted_incidents(t0, t1);

        // --- HTTP traffic ---
        let mut uploads: Vec<(usize, f64, usize)> = Vec::new(); // (shop instance, bytes, user)
        let mut orders: Vec<(usize, &'static str)> = Vec::new();
        let mut render_views = [0u64; 3];
        let mut jobs = [0u64; 2];
        let mut job_status = 0u64;
        let mut crm_updates = 0u64;
        let mut db_load = [0.0f64; 2];
        for a in 0..self.apis.len() {
            let service = self.apis[a].service;
            let mut rate = self.apis[a].peak_rps * self.profile(service, t1);
            // Slow multiplicative noise, different per service.
            let z: f64 = StandardNormal.sample(&mut self.rng);
            self.apis[a].noise = 0.97 * self.apis[a].noise + 0.03 * z;
            rate *= (0.15 * self.apis[a].noise).exp();
            let slow = self
                .active(IncidentKind::SlowRelease, service, t1)
                .map(|x| x.incident.magnitude.unwrap_or(4.0))
                .unwrap_or(1.0);
            let outage = if service == "mes" {
                self.active(IncidentKind::MesOutage, "mes", t1)
                    .map(|x| x.incident.magnitude.unwrap_or(0.6))
            } else {
                None
            };
            let alive: Vec<usize> = (0..self.apis[a].instances.len())
                .filter(|i| self.apis[a].instances[*i].down_until_ms <= t0)
                .collect();
            let n_alive = alive.len().max(1) as f64;
            let mut service_hour = truth::ServiceHour {
                le: vec![0; HTTP_BUCKETS.len() + 1],
                ..Default::default()
            };
            for &i in &alive {
                let mut inst_requests = 0u64;
                let mut cpu = 0.03 * dt;
                for r in 0..self.apis[a].routes.len() {
                    let def = &self.apis[a].routes[r];
                    let n = poisson(&mut self.rng, rate * def.share / n_alive * dt);
                    if n == 0 {
                        continue;
                    }
                    inst_requests += n;
                    let p503 = outage.unwrap_or(0.0);
                    let p500 = self.apis[a].base_500 * if slow > 1.0 { 4.0 } else { 1.0 };
                    let p4 = if def.method == "GET" { 0.004 } else { 0.01 };
                    let mut counts = [0u64; 4];
                    let mut route_le = vec![0u64; HTTP_BUCKETS.len() + 1];
                    let lat_h = self.apis[a].instances[i].routes[r].latency;
                    let req_h = self.apis[a].instances[i].routes[r].req_size;
                    let resp_h = self.apis[a].instances[i].routes[r].resp_size;
                    for _ in 0..n {
                        let u: f64 = self.rng.random();
                        let class = if u < p503 {
                            3
                        } else if u < p503 + p500 {
                            2
                        } else if u < p503 + p500 + p4 {
                            1
                        } else {
                            0
                        };
                        counts[class] += 1;
                        let latency = match class {
                            3 => {
                                lognormal(&mut self.rng, 0.004, 0.5)
                                    + if outage.is_some() {
                                        lognormal(&mut self.rng, 2.0, 0.8)
                                    } else {
                                        0.0
                                    }
                            }
                            2 => lognormal(&mut self.rng, def.median_s * 3.0, 0.8),
                            _ => lognormal(
                                &mut self.rng,
                                def.median_s * slow * if outage.is_some() { 3.0 } else { 1.0 },
                                def.sigma,
                            ),
                        };
                        self.reg.observe(lat_h, latency);
                        let bucket = HTTP_BUCKETS.partition_point(|b| *b < latency);
                        for le in &mut service_hour.le[bucket..] {
                            *le += 1;
                        }
                        for le in &mut route_le[bucket..] {
                            *le += 1;
                        }
                        let req = lognormal(&mut self.rng, def.req.0, def.req.1);
                        self.reg.observe(req_h, req);
                        let resp = if class == 0 {
                            lognormal(&mut self.rng, def.resp.0, def.resp.1)
                        } else {
                            lognormal(&mut self.rng, 250.0, 0.2)
                        };
                        self.reg.observe(resp_h, resp);
                        let uu: f64 = self.rng.random();
                        let user = self.apis[a]
                            .user_cum
                            .partition_point(|c| *c < uu)
                            .min(self.apis[a].user_cum.len() - 1);
                        let us = self.apis[a].instances[i].users[user];
                        self.reg.inc(us, 1.0);
                        if class == 0 {
                            match def.effect {
                                Effect::Upload => {
                                    let uu: f64 = self.rng.random::<f64>()
                                        * self.s3.user_cum.last().copied().unwrap_or(1.0);
                                    let who = self
                                        .s3
                                        .user_cum
                                        .partition_point(|c| *c < uu)
                                        .min(self.s3.user_cum.len() - 1);
                                    uploads.push((i, req, who));
                                }
                                Effect::Order => orders.push((
                                    i,
                                    if self.rng.random::<f64>() < 0.8 {
                                        "web"
                                    } else {
                                        "api"
                                    },
                                )),
                                Effect::ViewRender => {
                                    if self.rng.random::<f64>() < 0.25 {
                                        render_views[i] += 1;
                                    }
                                }
                                Effect::Job => jobs[i] += 1,
                                Effect::JobStatus => job_status += 1,
                                Effect::CrmUpdate => crm_updates += 1,
                                Effect::None => {}
                            }
                        }
                        cpu += def.cpu_s * if class == 3 { 0.1 } else { 1.0 };
                    }
                    let codes = self.apis[a].instances[i].routes[r].codes;
                    for (c, k) in counts.iter().enumerate() {
                        if *k > 0 {
                            self.reg.inc(codes[c], *k as f64);
                        }
                    }
                    service_hour.requests += n;
                    service_hour.c2xx += counts[0];
                    service_hour.c4xx += counts[1];
                    service_hour.c5xx += counts[2] + counts[3];
                    let rh = service_hour
                        .handlers
                        .entry(def.handler.to_string())
                        .or_insert_with(|| truth::RouteHour {
                            requests: 0,
                            le: vec![0; HTTP_BUCKETS.len() + 1],
                        });
                    rh.requests += n;
                    for (x, y) in rh.le.iter_mut().zip(&route_le) {
                        *x += y;
                    }
                    let db = if service == "mes" { 1 } else { 0 };
                    db_load[db] +=
                        (n - counts[3]) as f64 * if def.method == "GET" { 3.0 } else { 6.0 };
                }
                let inst = &mut self.apis[a].instances[i];
                self.reg.inc(inst.cpu, cpu);
                let max = self
                    .truth
                    .max_requests_per_interval
                    .entry(service.to_string())
                    .or_insert(0);
                *max = (*max).max(inst_requests);
                // Requests of an instance that restarts in this interval are counted and then
                // lost with the reset: remember them for the truth.
                self.pending_requests(a, i, inst_requests);
            }
            let hour = self.truth.hour(t0);
            let sh =
                hour.services
                    .entry(service.to_string())
                    .or_insert_with(|| truth::ServiceHour {
                        le: vec![0; HTTP_BUCKETS.len() + 1],
                        ..Default::default()
                    });
            sh.requests += service_hour.requests;
            sh.c2xx += service_hour.c2xx;
            sh.c4xx += service_hour.c4xx;
            sh.c5xx += service_hour.c5xx;
            for (x, y) in sh.le.iter_mut().zip(&service_hour.le) {
                *x += *y;
            }
            for (h, r) in &service_hour.handlers {
                let e = sh
                    .handlers
                    .entry(h.clone())
                    .or_insert_with(|| truth::RouteHour {
                        requests: 0,
                        le: vec![0; HTTP_BUCKETS.len() + 1],
                    });
                e.requests += r.requests;
                for (x, y) in e.le.iter_mut().zip(&r.le) {
                    *x += y;
                }
            }
            self.apis[a].noise = self.apis[a].noise.clamp(-3.0, 3.0);
            let rate_now = rate;
            self.instance_gauges(a, rate_now, slow, outage.is_some(), t1, dt);
        }

        self.database_clients(db_load, dt, t1);
        self.storage(t1, &uploads, &render_views, &jobs, dt);
        self.order_flow(t0, t1, &orders);
        self.status_flow(t1, job_status, crm_updates, dt);
        self.databases(db_load, t1, dt);
        self.crm_incidents(t0, t1);
        self.restarts(t0, t1);
        self.set_gauges(t1, dt);
    }

    fn pending_requests(&mut self, a: usize, i: usize, n: u64) {
        let name = &self.apis[a].instances[i].name;
        if let Some(r) = self
            .truth
            .restarts
            .iter_mut()
            .rev()
            .find(|r| &r.instance == name && r.at == i64::MIN)
        {
            r.lost_requests += n;
        }
    }

    fn instance_gauges(&mut self, a: usize, rate: f64, slow: f64, outage: bool, t1: i64, dt: f64) {
        let n = self.apis[a].instances.len() as f64;
        let service = self.apis[a].service;
        for i in 0..self.apis[a].instances.len() {
            let down = self.apis[a].instances[i].down_until_ms > t1;
            let share = if down { 0.0 } else { rate / n };
            let mean_latency = 0.08 * slow * if outage { 4.0 } else { 1.0 };
            let inflight = poisson(&mut self.rng, share * mean_latency);
            let inst = &mut self.apis[a].instances[i];
            inst.since_restart_ms += (dt * 1000.0) as i64;
            let s = inst.in_flight;
            self.reg.set(s, inflight as f64);
            if let Some(sess) = inst.sessions {
                // Shoppers make a request every ~12 s; CRM sessions are staff at work.
                let v = if service == "shop" {
                    share * 12.0
                } else if down {
                    0.0
                } else {
                    (3.0 + 35.0 * rate / 6.0) / n
                };
                let z: f64 = self.rng.random();
                self.reg.set(sess, (v * (0.9 + 0.2 * z)).round());
            }
            let leak = inst.since_restart_ms as f64 / 3_600_000.0 * 1.5e6;
            let base = match service {
                "mes" => 6.1e8,
                "crm" => 2.9e8,
                _ => 3.4e8,
            };
            let z: f64 = self.rng.random();
            let mem = base + leak + share * 4e6 + z * 5e6;
            let inst = &self.apis[a].instances[i];
            self.reg.set(inst.memory, mem.round());
        }
    }

    fn database_clients(&mut self, load: [f64; 2], dt: f64, t1: i64) {
        for a in 0..self.apis.len() {
            let db = if self.apis[a].service == "mes" { 1 } else { 0 };
            let pile = self
                .active(IncidentKind::DbConnectionPileup, self.dbs[db].name, t1)
                .map(|x| x.elapsed_ms as f64 / x.incident.duration.millis() as f64);
            let slow = 1.0 + pile.map(|p| 6.0 * p).unwrap_or(0.0);
            let n_inst = self.apis[a].instances.len() as f64;
            let per_instance = load[db] / dt / 3.0 / n_inst * dt;
            for i in 0..self.apis[a].instances.len() {
                if self.apis[a].instances[i].down_until_ms > t1 {
                    continue;
                }
                let ops = self.apis[a].instances[i].db_ops.clone();
                for (op, ok, err) in ops {
                    let share = match op {
                        "SELECT" => 0.8,
                        "INSERT" => 0.08,
                        _ => 0.12,
                    };
                    // Client spans are sampled: one in ten operations is recorded.
                    let n = poisson(&mut self.rng, per_instance * share * 0.1);
                    let err_p = 0.0005
                        + pile
                            .map(|p| if p > 0.7 { 0.05 } else { 0.0 })
                            .unwrap_or(0.0);
                    for _ in 0..n {
                        let median = match op {
                            "SELECT" => 0.0018,
                            "INSERT" => 0.0025,
                            _ => 0.004,
                        };
                        let d = lognormal(&mut self.rng, median * slow, 0.7);
                        if self.rng.random::<f64>() < err_p {
                            self.reg.observe(err, d);
                        } else {
                            self.reg.observe(ok, d);
                        }
                    }
                }
            }
        }
    }

    fn storage(
        &mut self,
        t1: i64,
        uploads: &[(usize, f64, usize)],
        render_views: &[u64; 3],
        jobs: &[u64; 2],
        _dt: f64,
    ) {
        let mut ops: Vec<(&'static str, &'static str, usize, usize, f64)> = Vec::new(); // bucket, api, client service, instance, bytes
        for (inst, bytes, user) in uploads {
            ops.push(("models", "putobject", 0, *inst, *bytes));
            *self.s3.bytes.get_mut("models").expect("bucket") += bytes;
            *self.s3.objects.get_mut("models").expect("bucket") += 1.0;
            self.s3.user_bytes[*user] += bytes;
            if let Some(h) = self.apis[0].instances[*inst].upload_size {
                self.reg.observe(h, *bytes);
            }
        }
        for (inst, n) in render_views.iter().enumerate() {
            for _ in 0..*n {
                ops.push(("renders", "getobject", 0, inst, 0.0));
            }
        }
        for (inst, n) in jobs.iter().enumerate() {
            for _ in 0..*n {
                ops.push(("models", "getobject", 2, inst, 0.0));
                // One job in ten produces a new preview render.
                if self.rng.random::<f64>() < 0.1 {
                    let size = lognormal(&mut self.rng, 4.5e5, 0.5);
                    ops.push(("renders", "putobject", 2, inst, size));
                    *self.s3.bytes.get_mut("renders").expect("bucket") += size;
                    *self.s3.objects.get_mut("renders").expect("bucket") += 1.0;
                }
            }
        }
        for (bucket, api, a, inst, bytes) in ops {
            let server = self.rng.random_range(0..self.s3.servers.len());
            let (r, e5, _, ttfb) = self.s3.servers[server].requests[&(bucket, api)];
            self.reg.inc(r, 1.0);
            let failed = self.rng.random::<f64>() < 0.0004;
            if failed {
                self.reg.inc(e5, 1.0);
            }
            let t = lognormal(&mut self.rng, 0.035, 0.6);
            self.reg.observe(ttfb, t);
            let transfer = if bytes > 0.0 {
                bytes / 8e7
            } else {
                lognormal(&mut self.rng, 0.02, 0.5)
            };
            let op = if api == "putobject" {
                "PutObject"
            } else {
                "GetObject"
            };
            if let Some((_, _, ok, err)) = self.apis[a]
                .instances
                .get(inst)
                .and_then(|i| {
                    i.s3_ops
                        .iter()
                        .find(|(b, o, _, _)| *b == bucket && *o == op)
                })
                .copied()
            {
                self.reg
                    .observe(if failed { err } else { ok }, t + transfer);
                self.truth.s3_latency(t1 - 1, t + transfer, &S3_BUCKETS);
            }
        }
        // MinIO's scanner refreshes bucket usage every five minutes.
        if t1 >= self.s3.next_scan_ms {
            self.s3.next_scan_ms = t1 - t1.rem_euclid(300_000) + 300_000;
            self.scan_buckets();
            // The shop's storage report: the top 20 users by stored model bytes.
            let mut idx: Vec<usize> = (0..self.s3.user_bytes.len()).collect();
            idx.sort_by(|a, b| self.s3.user_bytes[*b].total_cmp(&self.s3.user_bytes[*a]));
            let top: Vec<usize> = idx.into_iter().take(20).collect();
            for (u, sid) in &self.s3.user_gauges {
                if !top.contains(u) {
                    self.reg.series[*sid].born = false;
                }
            }
            for u in top {
                let sid = match self.s3.user_gauges.get(&u) {
                    Some(s) => *s,
                    None => {
                        let name = format!("user{u:04}");
                        let s = self.reg.lazy_gauge(
                            "shop_user_model_storage_bytes",
                            "Model bytes stored per user (top 20)",
                            self.s3.storage_tid,
                            &[("user", &name)],
                        );
                        self.s3.user_gauges.insert(u, s);
                        s
                    }
                };
                self.reg.set(sid, self.s3.user_bytes[u].round());
            }
        }
    }

    fn publish(&mut self, q: usize, n: u64, t_ms: i64, order: Option<u64>) {
        if n == 0 {
            return;
        }
        self.reg.inc(self.rmq.received, n as f64);
        for _ in 0..n {
            self.rmq.queues[q]
                .ready
                .push_back((t_ms, order.unwrap_or(0)));
        }
        if let Some(ch) = self.rmq.channels.iter().rev().find(|c| c.queue == q) {
            self.reg.inc(ch.series, n as f64);
        }
    }

    /// Dead-letters `n` messages of queue `q` for `reason`.
    fn dead_letter(&mut self, q: usize, reason: &'static str, n: u64, t_ms: i64) {
        if n == 0 {
            return;
        }
        let (qt, strategy, dlx, name) = {
            let queue = &self.rmq.queues[q];
            (queue.queue_type, queue.strategy, queue.dlx, queue.name)
        };
        if let Some(s) = self.rmq.dead.get(&(reason, qt, strategy)) {
            self.reg.inc(*s, n as f64);
        }
        let hour = self.truth.hour(t_ms - 1);
        match dlx {
            Some(dlq) => {
                *hour
                    .dead_lettered
                    .entry(name.to_string())
                    .or_default()
                    .entry(reason.to_string())
                    .or_insert(0) += n;
                if strategy == "at_least_once" {
                    self.reg.inc(self.rmq.confirmed, n as f64);
                }
                // The DLQ consumer reads them at once (x-first-death-queue / -reason).
                if let Some(s) = self.rmq.dlq_received.get(&(dlq, name, reason)) {
                    self.reg.inc(*s, n as f64);
                }
                self.reg
                    .inc(self.rmq.delivered["rabbit_classic_queue"], n as f64);
                self.reg
                    .inc(self.rmq.acked["rabbit_classic_queue"], n as f64);
            }
            None => {
                *hour
                    .dropped
                    .entry(name.to_string())
                    .or_default()
                    .entry(reason.to_string())
                    .or_insert(0) += n;
            }
        }
    }

    fn lose_order(&mut self, id: u64, stage: &'static str, reason: &'static str, t_ms: i64) {
        self.reg.inc(self.rmq.lost[&(stage, reason)], 1.0);
        if let Some(o) = self.truth.orders.get_mut((id - 1) as usize) {
            o.fate = "lost";
            o.ended = Some(t_ms as f64 / 1000.0);
            o.lost_stage = Some(stage);
            o.lost_reason = Some(reason);
        }
    }

    fn order_flow(&mut self, t0: i64, t1: i64, created: &[(usize, &'static str)]) {
        // Orders are committed, then published; a failed publish loses the order at the shop.
        for (inst, channel) in created {
            let id = self.biz.next_order;
            self.biz.next_order += 1;
            let ch = if *channel == "web" { 0 } else { 1 };
            let s = self.apis[0].instances[*inst].orders_created[ch];
            self.reg.inc(s, 1.0);
            let at = t0 + 1 + self.rng.random_range(0..self.interval_ms);
            let name = &self.apis[0].instances[*inst].name;
            if let Some(r) = self
                .truth
                .restarts
                .iter_mut()
                .rev()
                .find(|r| &r.instance == name && r.at == i64::MIN)
            {
                r.lost_orders_created += 1;
            }
            self.truth.orders.push(truth::Order {
                id,
                created: at as f64 / 1000.0,
                channel,
                fate: "open",
                ended: None,
                processing_seconds: None,
                lost_stage: None,
                lost_reason: None,
            });
            if self.rng.random::<f64>() < 0.0001 {
                self.lose_order(id, "shop", "dropped", t1);
            } else {
                self.publish(0, 1, at, Some(id));
            }
        }
        let outage = self
            .active(IncidentKind::MesOutage, "mes", t1)
            .map(|x| x.elapsed_ms);
        let nacking = outage.is_some_and(|e| e < NACK_PHASE_MS);
        let disconnected = outage.is_some_and(|e| e >= NACK_PHASE_MS);
        self.rmq.queues[0].consumers = if disconnected {
            0.0
        } else {
            NORMAL_CONSUMERS[0]
        };
        // Expiry: messages older than the TTL leave shop.orders for its DLQ.
        let mut expired = Vec::new();
        while let Some((at, id)) = self.rmq.queues[0].ready.front().copied() {
            if t1 - at > ORDERS_TTL_MS {
                self.rmq.queues[0].ready.pop_front();
                expired.push(id);
            } else {
                break;
            }
        }
        self.dead_letter(0, "expired", expired.len() as u64, t1);
        for id in expired {
            self.lose_order(id, "broker", "dead_lettered", t1);
        }
        if disconnected {
            self.rmq.queues[0].unacked = 0.0;
        } else {
            // MES consumes at up to 6 orders/s per instance; orders published in the last
            // couple of seconds are still in the queue at scrape time.
            let capacity = (12.0 * self.interval_ms as f64 / 1000.0) as usize;
            let mut taken = 0;
            let cutoff = t1 - 2_000;
            while taken < capacity {
                match self.rmq.queues[0].ready.front().copied() {
                    Some((at, id)) if at <= cutoff || self.rmq.queues[0].ready.len() > 50 => {
                        self.rmq.queues[0].ready.pop_front();
                        taken += 1;
                        let inst = (id % 2) as usize;
                        let consumer = self.apis[2].instances[inst].name.clone();
                        self.reg.inc(self.rmq.delivered["rabbit_quorum_queue"], 1.0);
                        if nacking {
                            let h = self.rmq.process[&(consumer, "shop.orders", "nack")];
                            let d = lognormal(&mut self.rng, 0.03, 0.5);
                            self.reg.observe(h, d);
                            self.dead_letter(0, "rejected", 1, t1);
                            self.lose_order(id, "mes", "rejected", t1);
                        } else {
                            let h = self.rmq.process[&(consumer, "shop.orders", "ack")];
                            let d = lognormal(&mut self.rng, 0.6, 0.5);
                            self.reg.observe(h, d);
                            self.reg.inc(self.rmq.acked["rabbit_quorum_queue"], 1.0);
                            self.reg.inc(self.biz.received[inst], 1.0);
                            let created = self.truth.orders[(id - 1) as usize].created;
                            let u: f64 = self.rng.random();
                            let (outcome, done) = if u < 0.0001 {
                                ("stuck", None)
                            } else {
                                let outcome = if u < 0.0101 {
                                    "failed"
                                } else if u < 0.0301 {
                                    "cancelled"
                                } else {
                                    "delivered"
                                };
                                let took = lognormal(&mut self.rng, 9000.0, 0.55)
                                    * if outcome == "cancelled" { 0.3 } else { 1.0 };
                                (outcome, Some(t1 + (took * 1000.0) as i64))
                            };
                            self.biz.production.push(InProduction {
                                id,
                                created_ms: (created * 1000.0) as i64,
                                done_ms: done,
                                outcome,
                                instance: inst,
                            });
                            self.publish(1, 1, t1, None);
                        }
                    }
                    _ => break,
                }
            }
            let rate = self.rmq.queues[0].ready.len() as f64 + taken as f64;
            self.rmq.queues[0].unacked = poisson(
                &mut self.rng,
                rate / (self.interval_ms as f64 / 1000.0) * 0.6,
            ) as f64;
        }
        // Production: completions, and the reconciliation of orders past twice their SLA.
        let mut finished = Vec::new();
        let mut i = 0;
        while i < self.biz.production.len() {
            let p = &self.biz.production[i];
            let done = p.done_ms.is_some_and(|d| d <= t1);
            let timed_out = p.done_ms.is_none() && t1 - p.created_ms > 2 * ORDER_SLA_MS;
            if done || timed_out {
                finished.push(self.biz.production.swap_remove(i));
            } else {
                i += 1;
            }
        }
        finished.sort_by_key(|p| p.id);
        for p in finished {
            match p.done_ms {
                Some(done) => {
                    let took = (done - p.created_ms) as f64 / 1000.0;
                    self.reg.inc(self.biz.completed[p.instance][p.outcome], 1.0);
                    self.reg
                        .observe(self.biz.processing[p.instance][p.outcome], took);
                    let o = &mut self.truth.orders[(p.id - 1) as usize];
                    o.fate = p.outcome;
                    o.ended = Some(done as f64 / 1000.0);
                    o.processing_seconds = Some(took);
                    self.publish(1, 1, t1, None);
                }
                None => self.lose_order(p.id, "shop", "sla_timeout", t1),
            }
        }
        let stuck_prod = self
            .biz
            .production
            .iter()
            .filter(|p| t1 - p.created_ms > ORDER_SLA_MS)
            .count();
        let stuck_queue = self.rmq.queues[0]
            .ready
            .iter()
            .filter(|(at, _)| t1 - at > ORDER_SLA_MS)
            .count();
        self.reg
            .set(self.biz.stuck["in_production"], stuck_prod as f64);
        self.reg.set(self.biz.stuck["queued"], stuck_queue as f64);
    }

    fn status_flow(&mut self, t1: i64, job_status: u64, crm_updates: u64, dt: f64) {
        // mes.status: MES publishes job updates; the shop and CRM consume them.
        self.publish(1, job_status, t1, None);
        let n = self.rmq.queues[1].ready.len() as u64;
        self.rmq.queues[1].ready.clear();
        self.rmq.queues[1].consumers = NORMAL_CONSUMERS[1];
        let mut rejected = 0;
        for k in 0..n {
            let (consumer, outcome) = if k % 2 == 0 {
                ("shop-1", "ack")
            } else if self.rng.random::<f64>() < 0.0005 {
                ("crm-1", "nack")
            } else {
                ("crm-1", "ack")
            };
            let d = lognormal(&mut self.rng, 0.015, 0.6);
            let h = self.rmq.process[&(consumer.to_string(), "mes.status", outcome)];
            self.reg.observe(h, d);
            self.reg
                .inc(self.rmq.delivered["rabbit_classic_queue"], 1.0);
            if outcome == "ack" {
                self.reg.inc(self.rmq.acked["rabbit_classic_queue"], 1.0);
            } else {
                rejected += 1;
            }
        }
        self.dead_letter(1, "rejected", rejected, t1);
        self.rmq.queues[1].unacked = poisson(&mut self.rng, n as f64 / dt * 0.02) as f64;

        // crm.notifications: CRM's notifier; without a DLX, expired messages are dropped.
        let notices = crm_updates + poisson(&mut self.rng, 0.05 * dt);
        self.publish(2, notices, t1, None);
        let stopped = self
            .active(IncidentKind::ExpiredMessages, "crm.notifications", t1)
            .is_some();
        let mut expired = 0;
        while let Some((at, _)) = self.rmq.queues[2].ready.front().copied() {
            if t1 - at > NOTIFY_TTL_MS {
                self.rmq.queues[2].ready.pop_front();
                expired += 1;
            } else {
                break;
            }
        }
        self.dead_letter(2, "expired", expired, t1);
        if stopped {
            self.rmq.queues[2].consumers = 0.0;
            self.rmq.queues[2].unacked = 0.0;
        } else {
            self.rmq.queues[2].consumers = NORMAL_CONSUMERS[2];
            let n = self.rmq.queues[2].ready.len();
            self.rmq.queues[2].ready.clear();
            for _ in 0..n {
                let d = lognormal(&mut self.rng, 0.08, 0.5);
                let h = self.rmq.process[&("crm-2".to_string(), "crm.notifications", "ack")];
                self.reg.observe(h, d);
                self.reg
                    .inc(self.rmq.delivered["rabbit_classic_queue"], 1.0);
                self.reg.inc(self.rmq.acked["rabbit_classic_queue"], 1.0);
            }
        }
        for (q, c) in self.rmq.queues.iter_mut().zip(NORMAL_CONSUMERS).skip(3) {
            q.consumers = c;
        }
    }

    fn databases(&mut self, load: [f64; 2], t1: i64, dt: f64) {
        for (d, queries) in load.iter().enumerate() {
            let qps = if dt > 0.0 { queries / dt } else { 0.0 };
            let pile = self
                .active(IncidentKind::DbConnectionPileup, self.dbs[d].name, t1)
                .map(|x| {
                    (
                        x.elapsed_ms as f64 / x.incident.duration.millis() as f64,
                        x.incident.magnitude.unwrap_or(0.9),
                    )
                });
            let db = &mut self.dbs[d];
            db.qps = qps;
            let target_idle_tx = match pile {
                Some((p, peak)) => {
                    (peak * db.max_conn - db.pool - 8.0).max(0.0) * smoothstep(p, 0.0, 0.75)
                }
                None => 0.5,
            };
            db.idle_in_tx = if pile.is_some() {
                target_idle_tx
            } else {
                db.idle_in_tx * 0.3 + 0.5 * 0.7
            };
            let slow = 1.0 + pile.map(|(p, _)| 6.0 * p).unwrap_or(0.0);
            let active = (qps * 0.004 * slow).max(1.0);
            let idle_tx = db.idle_in_tx.round();
            let app_active = active.round().min(db.pool);
            let app_idle = (db.pool - app_active).max(0.0);
            let reporting_active = if (t1 / 3_600_000) % 6 == 2 { 2.0 } else { 0.0 };
            let reporting_idle = 2.0 - reporting_active;
            let vals = [
                (("app", "active"), app_active),
                (("app", "idle"), app_idle),
                (("app", "idle in transaction"), idle_tx),
                (("reporting", "active"), reporting_active),
                (("reporting", "idle"), reporting_idle),
                (("admin", "idle"), 1.0),
            ];
            let mut by_state: BTreeMap<&str, f64> = BTreeMap::new();
            for ((u, st), v) in vals {
                self.reg.set(db.by_user[&(u, st)], v);
                *by_state.entry(st).or_insert(0.0) += v;
            }
            for (st, sid) in &db.activity {
                self.reg.set(*sid, by_state.get(st).copied().unwrap_or(0.0));
            }
            let writes = qps * 0.2;
            db.writes = writes;
            for (sid, base, growth) in &mut db.sizes {
                if *growth > 0.0 {
                    *base += *growth * dt / 86400.0 * (0.4 + writes / 60.0);
                }
                self.reg.set(*sid, base.round());
            }
            for ((u, cmd), (c, s)) in &db.calls {
                let (share, mean) = match (*u, *cmd) {
                    ("app", "select") => (0.7, 0.0012),
                    ("app", "insert") => (0.08, 0.0009),
                    ("app", "update") => (0.12, 0.0021),
                    ("app", "delete") => (0.01, 0.0015),
                    ("app", _) => (0.05, 0.0004),
                    _ => (0.04, 0.06),
                };
                let n = poisson(&mut self.rng, qps * dt * share);
                if n > 0 {
                    self.reg.inc(*c, n as f64);
                    self.reg.inc(*s, n as f64 * mean * slow);
                }
            }
            let rollbacks = poisson(
                &mut self.rng,
                (0.02 + qps * 0.0004) * dt * if pile.is_some() { 20.0 } else { 1.0 },
            );
            self.reg.inc(db.rollback, rollbacks as f64);
            let dl = poisson(&mut self.rng, 0.3 / 86400.0 * dt);
            self.reg.inc(db.deadlocks, dl as f64);
            let z: f64 = self.rng.random();
            self.reg.set(
                db.lag,
                (0.05 + writes / 400.0 + 0.2 * z + if pile.is_some() { 2.0 } else { 0.0 }) * 1.0,
            );
            let conns = by_state.values().sum::<f64>() + 1.0;
            let pss = if db.datname == "shop" { 1.6e9 } else { 2.3e9 } + conns * 9.5e6;
            self.reg.set(db.mem_pss, pss.round());
            if dt > 0.0 {
                let hour = self.truth.hour(t1 - 1);
                let c = hour
                    .max_db_connections
                    .entry(db.name.to_string())
                    .or_insert(0.0);
                *c = c.max(conns);
                let mem = hour
                    .max_db_memory_bytes
                    .entry(db.name.to_string())
                    .or_insert(0.0);
                *mem = mem.max(pss.round());
            }
            self.reg.set(db.mem_rss, (pss * 2.6).round());
            self.reg.inc(db.cpu[0], dt * (0.05 + qps * 0.0009 * slow));
            self.reg.inc(db.cpu[1], dt * (0.02 + qps * 0.0002));
            self.reg
                .inc(db.disk[0], dt * (0.03 + writes / 300.0).min(0.95));
            self.reg
                .inc(db.disk[1], dt * (0.01 + writes / 900.0).min(0.95));
        }
    }

    fn scripted_incidents(&mut self, t0: i64, t1: i64) {
        for k in 0..self.scenario.incidents.len() {
            let inc = self.scenario.incidents[k].clone();
            let start = self.scenario_start_ms + inc.at.millis() as i64;
            let end = start + inc.duration.millis() as i64;
            if self.started[k].is_none() && t1 > start {
                let component = match inc.kind {
                    IncidentKind::Restart | IncidentKind::ScrapeGap => inc
                        .target
                        .rsplit_once('-')
                        .map(|x| x.0.to_string())
                        .unwrap_or(inc.target.clone()),
                    IncidentKind::ExpiredMessages => "rabbitmq".into(),
                    _ => inc.target.clone(),
                };
                let component = if component == "minio" {
                    "s3".into()
                } else if component == "dlq-consumer" {
                    "rabbitmq".into()
                } else {
                    component
                };
                let cause = match inc.kind {
                    IncidentKind::MesOutage => {
                        "MES answers 503; its order consumer rejects orders (dead-lettered as `rejected`), then disconnects and shop.orders backs up"
                    }
                    IncidentKind::SlowRelease => {
                        "a release multiplied response times until it was rolled back"
                    }
                    IncidentKind::Restart => "the instance restarted: its counters reset",
                    IncidentKind::ScrapeGap => "Prometheus could not scrape the target",
                    IncidentKind::DbConnectionPileup => {
                        "connections left idle in transaction piled up towards max_connections"
                    }
                    IncidentKind::ExpiredMessages => {
                        "the consumer stopped; messages outlived their TTL and expired"
                    }
                };
                self.truth.incidents.push(truth::Incident {
                    name: inc.name.clone(),
                    kind: inc.kind.as_str(),
                    component,
                    target: inc.target.clone(),
                    start: start / 1000,
                    end: end / 1000,
                    cause: cause.into(),
                    peak_queue_depth: BTreeMap::new(),
                });
                self.started[k] = Some(self.truth.incidents.len() - 1);
            }
            // The CRM incident is opened a few minutes after the start and resolved after
            // the end, once someone confirms the fix.
            if let Some(sev) = inc.severity
                && !self.filed[k]
                && t1 > start + 4 * 60_000
            {
                self.filed[k] = true;
                let service = match inc.kind {
                    IncidentKind::ExpiredMessages => "rabbitmq".to_string(),
                    _ => inc.target.clone(),
                };
                let opened = (start + 4 * 60_000) as f64 / 1000.0;
                let fix = 10.0 * 60.0 + 20.0 * 60.0 * self.rng.random::<f64>();
                let resolve_at = end + (fix * 1000.0) as i64;
                self.truth.crm_incidents.push(truth::CrmIncident {
                    severity: sev,
                    service,
                    opened,
                    resolved: None,
                    cause: Some(inc.name.clone()),
                });
                self.biz
                    .open_incidents
                    .push((self.truth.crm_incidents.len() - 1, resolve_at));
            }
            match inc.kind {
                IncidentKind::ScrapeGap => {
                    if let Some(t) = self.reg.find_target(&inc.target) {
                        let in_gap = t1 > start && t1 <= end;
                        self.reg.targets[t].reachable = !in_gap;
                        if in_gap && self.gap_open[k].is_none() {
                            self.truth.gaps.push(truth::Gap {
                                instance: inc.target.clone(),
                                start: t1 / 1000,
                                end: t1 / 1000,
                            });
                            self.gap_open[k] = Some(self.truth.gaps.len() - 1);
                        }
                        if in_gap && let Some(g) = self.gap_open[k] {
                            self.truth.gaps[g].end = t1 / 1000;
                        }
                    }
                }
                IncidentKind::Restart if !self.restarted[k] && t1 > start && t0 <= start => {
                    self.restarted[k] = true;
                    self.truth.restarts.push(truth::Restart {
                        instance: inc.target.clone(),
                        at: i64::MIN,
                        lost_requests: 0,
                        lost_orders_created: 0,
                    });
                }
                _ => {}
            }
        }
    }

    /// Applies restarts scheduled in this interval, after the interval's events.
    fn restarts(&mut self, t0: i64, t1: i64) {
        for k in 0..self.scenario.incidents.len() {
            let inc = &self.scenario.incidents[k];
            if inc.kind != IncidentKind::Restart {
                continue;
            }
            let start = self.scenario_start_ms + inc.at.millis() as i64;
            if !(t1 > start && t0 <= start) {
                continue;
            }
            let down_until = start + inc.duration.millis() as i64;
            let target = inc.target.clone();
            let Some(tid) = self.reg.find_target(&target) else {
                continue;
            };
            self.reg.reset_target(tid);
            for a in 0..self.apis.len() {
                for i in 0..self.apis[a].instances.len() {
                    if self.apis[a].instances[i].tid == tid {
                        let q = self.rmq.channels[self.apis[a].instances[i].channel].queue;
                        self.reg.series
                            [self.rmq.channels[self.apis[a].instances[i].channel].series]
                            .born = false;
                        self.apis[a].instances[i].channel =
                            new_channel(&mut self.reg, &mut self.rmq, q);
                        let inst = &mut self.apis[a].instances[i];
                        inst.down_until_ms = down_until;
                        inst.since_restart_ms = 0;
                        self.reg.inc(self.rmq.closed, 1.0);
                        self.reg.inc(self.rmq.opened, 1.0);
                    }
                }
            }
            // The first scrape that can see the restarted process.
            let first = down_until.div_euclid(self.interval_ms) * self.interval_ms
                + if down_until.rem_euclid(self.interval_ms) == 0 {
                    0
                } else {
                    self.interval_ms
                };
            if let Some(r) = self
                .truth
                .restarts
                .iter_mut()
                .rev()
                .find(|r| r.instance == target && r.at == i64::MIN)
            {
                r.at = first.max(t1) / 1000;
            }
        }
        for t in 0..self.reg.targets.len() {
            let down = self
                .apis
                .iter()
                .flat_map(|a| a.instances.iter())
                .any(|i| i.tid == t && i.down_until_ms > t1);
            if down {
                self.reg.targets[t].reachable = false;
            } else if !self.scenario.incidents.iter().any(|i| {
                let s = self.scenario_start_ms + i.at.millis() as i64;
                i.kind == IncidentKind::ScrapeGap
                    && self.reg.targets[t].instance == i.target
                    && t1 > s
                    && t1 <= s + i.duration.millis() as i64
            }) {
                self.reg.targets[t].reachable = true;
            }
        }
    }

    fn crm_incidents(&mut self, t0: i64, t1: i64) {
        // Customer-reported minor incidents, resolved within hours.
        let per_day = self.scenario.traffic.minor_incidents_per_day;
        let n = poisson(&mut self.rng, per_day * (t1 - t0) as f64 / 86_400_000.0);
        for _ in 0..n {
            let services = ["shop", "shop", "crm", "mes", "s3"];
            let service = services[self.rng.random_range(0..services.len())].to_string();
            let opened = t0 + 1 + self.rng.random_range(0..self.interval_ms);
            let took = lognormal(&mut self.rng, 2.0 * 3600.0, 0.8);
            self.truth.crm_incidents.push(truth::CrmIncident {
                severity: Severity::Minor,
                service,
                opened: opened as f64 / 1000.0,
                resolved: None,
                cause: None,
            });
            self.biz.open_incidents.push((
                self.truth.crm_incidents.len() - 1,
                opened + (took * 1000.0) as i64,
            ));
        }
        let mut still = Vec::new();
        for (idx, at) in std::mem::take(&mut self.biz.open_incidents) {
            if at <= t1 {
                let inc = &mut self.truth.crm_incidents[idx];
                inc.resolved = Some(at as f64 / 1000.0);
                let took = at as f64 / 1000.0 - inc.opened;
                let h = self.biz.resolution[&(inc.severity, inc.service.clone())];
                self.reg.observe(h, took);
            } else {
                still.push((idx, at));
            }
        }
        self.biz.open_incidents = still;
        let mut open: BTreeMap<Severity, f64> = BTreeMap::new();
        for (idx, _) in &self.biz.open_incidents {
            let inc = &self.truth.crm_incidents[*idx];
            if inc.opened <= t1 as f64 / 1000.0 {
                *open.entry(inc.severity).or_insert(0.0) += 1.0;
            }
        }
        for (sev, sid) in &self.biz.open {
            self.reg.set(*sid, open.get(sev).copied().unwrap_or(0.0));
        }
    }

    /// MinIO's bucket usage, as its scanner reports it.
    fn scan_buckets(&mut self) {
        for srv in &self.s3.servers {
            for (bucket, sid) in &srv.usage_bytes {
                self.reg.set(*sid, self.s3.bytes[bucket].round());
            }
            for (bucket, sid) in &srv.usage_objects {
                self.reg.set(*sid, self.s3.objects[bucket]);
            }
        }
    }

    /// Queue gauges and everything sampled at scrape time.
    fn set_gauges(&mut self, t1: i64, _dt: f64) {
        let mut depths = Vec::new();
        for q in &self.rmq.queues {
            let ready = q.ready.len() as f64;
            self.reg.set(q.ready_g, ready);
            self.reg.set(q.unacked_g, q.unacked);
            self.reg.set(q.messages_g, ready + q.unacked);
            self.reg.set(q.consumers_g, q.consumers);
            let head = q
                .ready
                .front()
                .map(|(at, _)| *at as f64 / 1000.0)
                .unwrap_or(f64::NAN);
            self.reg.set(q.head_g, head);
            depths.push((q.name, ready as u64));
        }
        let scraped = self.reg.targets[self.rmq.tid].reachable;
        if t1 > self.truth.start * 1000 {
            let hour = self.truth.hour(t1 - 1);
            for (name, d) in &depths {
                let e = hour.max_queue_depth.entry(name.to_string()).or_insert(0);
                *e = (*e).max(*d);
            }
        }
        for (k, idx) in self.started.iter().enumerate() {
            let Some(idx) = idx else { continue };
            let inc = &self.scenario.incidents[k];
            let start = self.scenario_start_ms + inc.at.millis() as i64;
            // Peaks as Prometheus can see them: at scrapes of a reachable broker.
            if scraped && t1 > start && t1 <= start + inc.duration.millis() as i64 + ORDERS_TTL_MS {
                for (name, d) in &depths {
                    let e = self.truth.incidents[*idx]
                        .peak_queue_depth
                        .entry(name.to_string())
                        .or_insert(0);
                    *e = (*e).max(*d);
                }
            }
        }
        let connected = self
            .apis
            .iter()
            .flat_map(|a| a.instances.iter())
            .filter(|i| i.down_until_ms <= t1)
            .count() as f64
            + 1.0
            - if self
                .active(IncidentKind::MesOutage, "mes", t1)
                .is_some_and(|x| x.elapsed_ms >= NACK_PHASE_MS)
            {
                2.0
            } else {
                0.0
            };
        self.reg.set(self.rmq.connections, connected);
        self.reg.sync_histograms();
    }
}

fn new_channel(reg: &mut Registry, rmq: &mut Rabbit, queue: usize) -> usize {
    let pid = format!("<0.{}.0>", rmq.next_pid);
    rmq.next_pid += 17;
    let qname = rmq.queues[queue].name;
    let s = reg.counter(
        "rabbitmq_queue_messages_published",
        "Total number of messages published to queues",
        rmq.tid,
        &[
            ("channel", &pid),
            ("queue_vhost", "/"),
            ("queue", qname),
            ("exchange_vhost", "/"),
            ("exchange", ""),
        ],
    );
    rmq.channels.push(Channel { queue, series: s });
    rmq.channels.len() - 1
}
