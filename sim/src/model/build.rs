//! Builders: every series of the site registered from the topology, one subsystem at a
//! time. The order of registration is the order of the exported families and series.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use super::{
    Api, Business, Channel, DB_BUCKETS, Db, INCIDENT_BUCKETS, Instance, Minio, ORDER_BUCKETS,
    Queue, QueueConsumer, Rabbit, RouteSeries, S3, S3_BUCKETS, SIZE_BUCKETS, TTFB_BUCKETS,
    UPLOAD_BUCKETS,
};
use crate::registry::{Hid, Registry, Sid, Tid};
use crate::scenario::{Scenario, Severity};
use crate::topology::{self, BucketRole, Effect, Role, Sessions, Topology};
use crate::truth::Truth;

const QUEUE_TYPES: [&str; 3] = [
    "rabbit_classic_queue",
    "rabbit_quorum_queue",
    "rabbit_stream_queue",
];

/// Dead-letter label combinations as RabbitMQ 3.10 exports them (see the reference scrape).
const DEAD_LETTER_COMBOS: [(&str, &[(&str, &str)]); 4] = [
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

/// The states postgres_exporter's `pg_stat_activity` collector exports for every database.
const ACTIVITY_STATES: [&str; 6] = [
    "active",
    "disabled",
    "fastpath function call",
    "idle",
    "idle in transaction",
    "idle in transaction (aborted)",
];

const LOST: [(&str, &str); 4] = [
    ("mes", "rejected"),
    ("broker", "dead_lettered"),
    ("shop", "dropped"),
    ("shop", "sla_timeout"),
];

fn db_op(op: &str) -> &'static str {
    match op {
        "SELECT" => "SELECT",
        "INSERT" => "INSERT",
        _ => "UPDATE",
    }
}

/// The APIs and their instances' series.
pub(super) fn apis(reg: &mut Registry, t: &Topology, scenario: &Scenario) -> Vec<Api> {
    let buckets = Buckets::new(&t.latency_buckets);
    t.apis
        .iter()
        .map(|def| {
            let instances = (0..def.instances)
                .map(|i| instance(reg, t, def, i, &buckets))
                .collect();
            // Zipf-like weights for the named users; `_other` takes the long tail.
            let mut w: Vec<f64> = (0..def.users.len())
                .map(|i| 0.06 / (i as f64 + 1.0))
                .collect();
            w.push(1.0 - w.iter().sum::<f64>());
            let mut cum = 0.0;
            let user_cum = w
                .iter()
                .map(|x| {
                    cum += x;
                    cum
                })
                .collect();
            Api {
                service: def.name.clone(),
                peak_rps: def.peak_rps * scenario.traffic.factor(&def.name),
                base_peak_rps: def.peak_rps,
                routes: def.routes.clone(),
                base_500: def.server_error_share,
                profile: def.profile,
                sessions: def.sessions,
                memory_bytes: def.memory_bytes,
                db: t.database(&def.database).expect("validated database"),
                instances,
                user_cum,
                noise: 0.0,
            }
        })
        .collect()
}

/// Histogram bounds shared by many series.
struct Buckets {
    http: Arc<[f64]>,
    size: Arc<[f64]>,
    db: Arc<[f64]>,
    s3: Arc<[f64]>,
    upload: Arc<[f64]>,
}

impl Buckets {
    fn new(latency: &[f64]) -> Self {
        Buckets {
            http: latency.into(),
            size: SIZE_BUCKETS.into(),
            db: DB_BUCKETS.into(),
            s3: S3_BUCKETS.into(),
            upload: UPLOAD_BUCKETS.into(),
        }
    }
}

fn instance(
    reg: &mut Registry,
    t: &Topology,
    def: &topology::Api,
    i: usize,
    b: &Buckets,
) -> Instance {
    let service = def.name.as_str();
    let name = def.instance_name(i);
    let tid = reg.target(service, &name, service);
    let routes = def
        .routes
        .iter()
        .map(|r| route_series(reg, tid, r, b))
        .collect();
    let in_flight = reg.gauge("http_requests_in_flight", "Requests being served", tid, &[]);
    let sessions = (def.sessions != Sessions::None)
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
    let users = def
        .users
        .iter()
        .map(String::as_str)
        .chain(["_other"])
        .map(|u| {
            reg.counter(
                "app_requests_by_user",
                "Requests by user (top users, the rest as _other)",
                tid,
                &[("user", u)],
            )
        })
        .collect();
    let db_ops = def
        .db_operations
        .iter()
        .map(|op| db_client(reg, tid, &def.database, db_op(op), b))
        .collect();
    let s3_ops = s3_client(reg, t, def, tid, b);
    let creates_orders = def.has_effect(Effect::Order);
    let orders_created = if creates_orders {
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
    let upload_size = match &t.s3 {
        Some(s3) if def.has_effect(Effect::Upload) => Some(reg.histogram(
            "shop_model_upload_size_bytes",
            "Sizes of uploaded 3D models",
            tid,
            &[("bucket", s3.bucket(BucketRole::Models))],
            &b.upload,
        )),
        _ => None,
    };
    Instance {
        tid,
        name,
        routes,
        in_flight,
        sessions,
        cpu,
        memory,
        since_restart_ms: 0,
        users,
        down_until_ms: i64::MIN,
        db_ops,
        s3_ops,
        orders_created,
        upload_size,
        channel: None,
    }
}

fn route_series(reg: &mut Registry, tid: Tid, r: &topology::Route, b: &Buckets) -> RouteSeries {
    let l = [
        ("method", r.method.as_str()),
        ("handler", r.handler.as_str()),
    ];
    let mut code = |c: &str| {
        reg.counter(
            "http_requests",
            "HTTP requests by route and status code",
            tid,
            &[l[0], l[1], ("code", c)],
        )
    };
    let codes = [code(&r.ok), code(&r.client_error), code("500"), code("503")];
    RouteSeries {
        codes,
        latency: reg.histogram(
            "http_request_duration_seconds",
            "HTTP request latency",
            tid,
            &l,
            &b.http,
        ),
        req_size: reg.histogram(
            "http_request_size_bytes",
            "HTTP request body sizes",
            tid,
            &l,
            &b.size,
        ),
        resp_size: reg.histogram(
            "http_response_size_bytes",
            "HTTP response body sizes",
            tid,
            &l,
            &b.size,
        ),
    }
}

/// A database client histogram pair of one operation: ok (from the start) and error
/// (with the first error).
fn db_client(
    reg: &mut Registry,
    tid: Tid,
    db: &str,
    op: &'static str,
    b: &Buckets,
) -> (&'static str, Hid, Hid) {
    let ok = reg.histogram(
        "db_client_operation_duration_seconds",
        "Database operations seen by the client",
        tid,
        &[
            ("service", db),
            ("db_operation_name", op),
            ("error_type", ""),
        ],
        &b.db,
    );
    let err_code = if op == "SELECT" { "57014" } else { "40001" };
    let err = reg.lazy_histogram(
        "db_client_operation_duration_seconds",
        "Database operations seen by the client",
        tid,
        &[
            ("service", db),
            ("db_operation_name", op),
            ("error_type", err_code),
        ],
        &b.db,
    );
    (op, ok, err)
}

/// The S3 operations an API's routes make: uploads put models, render views get renders,
/// jobs get models and put renders.
fn s3_client(
    reg: &mut Registry,
    t: &Topology,
    def: &topology::Api,
    tid: Tid,
    b: &Buckets,
) -> Vec<(String, &'static str, Hid, Hid)> {
    let Some(s3) = &t.s3 else {
        return Vec::new();
    };
    let (models, renders) = (
        s3.bucket(BucketRole::Models),
        s3.bucket(BucketRole::Renders),
    );
    let mut pairs: Vec<(&str, &'static str)> = Vec::new();
    if def.has_effect(Effect::Upload) {
        pairs.push((models, "PutObject"));
    }
    if def.has_effect(Effect::ViewRender) {
        pairs.push((renders, "GetObject"));
    }
    if def.has_effect(Effect::Job) {
        pairs.push((models, "GetObject"));
        pairs.push((renders, "PutObject"));
    }
    pairs
        .into_iter()
        .map(|(bucket, op)| {
            let ok = reg.histogram(
                "s3_client_request_duration_seconds",
                "S3 requests seen by the client",
                tid,
                &[("bucket", bucket), ("operation", op), ("outcome", "ok")],
                &b.s3,
            );
            let err = reg.lazy_histogram(
                "s3_client_request_duration_seconds",
                "S3 requests seen by the client",
                tid,
                &[("bucket", bucket), ("operation", op), ("outcome", "error")],
                &b.s3,
            );
            (bucket.to_string(), op, ok, err)
        })
        .collect()
}

/// RabbitMQ, its queues (the DLQs after the others) and the DLQ consumer.
pub(super) fn broker(reg: &mut Registry, t: &Topology, apis: &[Api]) -> Rabbit {
    let rtid = reg.target("rabbitmq", &t.broker.instance, &t.broker.service);
    let dlq_tid = reg.target("dlq-consumer", &t.broker.dlq_consumer, &t.broker.service);
    let mut queues: Vec<Queue> = t
        .queues
        .iter()
        .map(|q| {
            let mut queue = queue_gauges(reg, rtid, &q.name, q.queue_type.label(), q.strategy());
            queue.role = Some(q.role);
            queue.dlx = q.dead_letter.clone();
            queue.ttl_ms = q.ttl_ms();
            queue.producer = t.api(&q.producer);
            queue.normal_consumers = q.consumers.len() as f64;
            queue
        })
        .collect();
    for q in t.queues.iter().filter_map(|q| q.dead_letter.as_ref()) {
        let mut dlq = queue_gauges(reg, rtid, q, "rabbit_classic_queue", "disabled");
        dlq.normal_consumers = 1.0;
        queues.push(dlq);
    }
    let received = reg.counter(
        "rabbitmq_global_messages_received",
        "Total number of messages received from publishers",
        rtid,
        &[("protocol", "amqp091")],
    );
    let (delivered, acked) = global_counters(reg, rtid);
    let dead = dead_letter_counters(reg, rtid);
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
    let dlq_received = dlq_consumer(reg, t, dlq_tid);
    let lost = LOST
        .iter()
        .map(|(stage, reason)| {
            let s = reg.counter(
                "orders_lost",
                "Orders that will never be produced, by stage and reason",
                dlq_tid,
                &[("stage", stage), ("reason", reason)],
            );
            ((*stage, *reason), s)
        })
        .collect();
    for (q, def) in t.queues.iter().enumerate() {
        queues[q].consumers = consumers(reg, t, apis, def);
    }
    let role = |r: Role| t.queues.iter().position(|q| q.role == r);
    Rabbit {
        tid: rtid,
        orders_q: role(Role::Orders).expect("validated: an orders queue"),
        status_q: role(Role::Status),
        events_qs: (0..t.queues.len())
            .filter(|q| t.queues[*q].role == Role::Events)
            .collect(),
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
        next_pid: 1273,
    }
}

fn queue_gauges(
    reg: &mut Registry,
    rtid: Tid,
    name: &str,
    queue_type: &'static str,
    strategy: &'static str,
) -> Queue {
    let l = [("vhost", "/"), ("queue", name)];
    Queue {
        name: name.to_string(),
        role: None,
        queue_type,
        dlx: None,
        strategy,
        ttl_ms: None,
        producer: None,
        consumers: Vec::new(),
        normal_consumers: 0.0,
        ready: VecDeque::new(),
        unacked: 0.0,
        consumer_count: 0.0,
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
        consumers_g: reg.gauge("rabbitmq_queue_consumers", "Consumers on a queue", rtid, &l),
        head_g: (queue_type != "rabbit_quorum_queue").then(|| {
            reg.gauge(
                "rabbitmq_queue_head_message_timestamp",
                "Timestamp of the first message in the queue, if any",
                rtid,
                &l,
            )
        }),
    }
}

type Counters = BTreeMap<&'static str, Sid>;

fn global_counters(reg: &mut Registry, rtid: Tid) -> (Counters, Counters) {
    let mut delivered = BTreeMap::new();
    let mut acked = BTreeMap::new();
    for qt in QUEUE_TYPES {
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
    (delivered, acked)
}

fn dead_letter_counters(
    reg: &mut Registry,
    rtid: Tid,
) -> BTreeMap<(&'static str, &'static str, &'static str), Sid> {
    let mut dead = BTreeMap::new();
    for (reason, cs) in DEAD_LETTER_COMBOS {
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
    dead
}

/// The DLQ consumer's counters: per queue with a DLX, `rejected` when a consumer rejects
/// and `expired` when messages have a TTL.
fn dlq_consumer(
    reg: &mut Registry,
    t: &Topology,
    dlq_tid: Tid,
) -> BTreeMap<(usize, &'static str), Sid> {
    let mut out = BTreeMap::new();
    for (q, def) in t.queues.iter().enumerate() {
        let Some(dlq) = &def.dead_letter else {
            continue;
        };
        let mut reasons = Vec::new();
        if def.consumers.iter().any(|c| c.nack) {
            reasons.push("rejected");
        }
        if def.ttl.is_some() {
            reasons.push("expired");
        }
        for reason in reasons {
            let s = reg.counter(
                "dlq_messages_received",
                "Dead-lettered messages by source queue and first death reason",
                dlq_tid,
                &[
                    ("dlq", dlq),
                    ("source_queue", &def.name),
                    ("reason", reason),
                ],
            );
            out.insert((q, reason), s);
        }
    }
    out
}

/// A queue's consumers and their processing histograms.
fn consumers(
    reg: &mut Registry,
    t: &Topology,
    apis: &[Api],
    def: &topology::Queue,
) -> Vec<QueueConsumer> {
    let bounds: Arc<[f64]> = t.latency_buckets.as_slice().into();
    def.consumers
        .iter()
        .map(|c| {
            let (api, instance) = t.api_instance(&c.instance).expect("validated consumer");
            let tid = apis[api].instances[instance].tid;
            let mut hist = |outcome: &str| {
                reg.histogram(
                    "messaging_process_duration_seconds",
                    "Time consumers take to process a message",
                    tid,
                    &[("queue", &def.name), ("outcome", outcome)],
                    &bounds,
                )
            };
            let ack = hist("ack");
            let nack = c.nack.then(|| hist("nack"));
            QueueConsumer {
                api,
                instance,
                ack,
                nack,
            }
        })
        .collect()
}

/// Each API instance's publisher channel, on the first queue its API produces.
pub(super) fn attach_channels(reg: &mut Registry, rmq: &mut Rabbit, apis: &mut [Api]) {
    for (a, api) in apis.iter_mut().enumerate() {
        let Some(q) = rmq.queues.iter().position(|q| q.producer == Some(a)) else {
            continue;
        };
        for inst in &mut api.instances {
            inst.channel = Some(new_channel(reg, rmq, q));
        }
    }
}

/// A new publisher channel on queue `queue` (its publish counter has the channel's pid).
pub(super) fn new_channel(reg: &mut Registry, rmq: &mut Rabbit, queue: usize) -> usize {
    let pid = format!("<0.{}.0>", rmq.next_pid);
    rmq.next_pid += 17;
    let qname = rmq.queues[queue].name.clone();
    let s = reg.counter(
        "rabbitmq_queue_messages_published",
        "Total number of messages published to queues",
        rmq.tid,
        &[
            ("channel", &pid),
            ("queue_vhost", "/"),
            ("queue", &qname),
            ("exchange_vhost", "/"),
            ("exchange", ""),
        ],
    );
    rmq.channels.push(Channel { queue, series: s });
    rmq.channels.len() - 1
}

/// PostgreSQL servers: postgres_exporter, process-exporter and node-exporter series.
pub(super) fn databases(reg: &mut Registry, t: &Topology) -> Vec<Db> {
    t.databases.iter().map(|d| database(reg, d)).collect()
}

fn database(reg: &mut Registry, d: &topology::Database) -> Db {
    let datname = d.datname.as_str();
    let tid = reg.target("postgres", &d.instance, &d.name);
    // postgres_exporter labels every series of a server with the DSN's host:port.
    let server = format!("{}:5432", d.instance);
    let server = server.as_str();
    // pg_stat_activity_count is a grid: every database the server has, every state.
    let mut activity = BTreeMap::new();
    for db in [datname, "postgres", "template0", "template1"] {
        for st in ACTIVITY_STATES {
            let s = reg.gauge(
                "pg_stat_activity_count",
                "number of connections in this state",
                tid,
                &[("datname", db), ("server", server), ("state", st)],
            );
            if db == datname && ["active", "idle", "idle in transaction"].contains(&st) {
                activity.insert(st, s);
            } else if db == "postgres" && st == "idle" {
                // The exporter's own connection.
                reg.set(s, 1.0);
            }
        }
    }
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
                &[
                    ("datname", datname),
                    ("server", server),
                    ("usename", u),
                    ("state", st),
                ],
            ),
        );
    }
    let maxc = reg.gauge(
        "pg_settings_max_connections",
        "Sets the maximum number of concurrent connections.",
        tid,
        &[("server", server)],
    );
    reg.set(maxc, d.max_connections);
    let sizes = [
        (datname, d.size_bytes, d.growth_bytes_per_day),
        ("postgres", 7_631_023.0, 0.0),
        ("template0", 7_479_811.0, 0.0),
        ("template1", 7_713_299.0, 0.0),
    ]
    .into_iter()
    .map(|(name, size, growth)| {
        let s = reg.gauge(
            "pg_database_size_bytes",
            "Disk space used by the database",
            tid,
            &[("datname", name), ("server", server)],
        );
        (s, size, growth)
    })
    .collect();
    let calls = statements(reg, tid, datname, server);
    let (rollback, deadlocks, lag) = stat_database(reg, tid, datname, server);
    let host = host_series(reg, tid);
    let up = reg.gauge(
        "pg_up",
        "Whether the last scrape of metrics from PostgreSQL was able to connect to the server (1 for yes, 0 for no).",
        tid,
        &[],
    );
    reg.set(up, 1.0);
    Db {
        name: d.name.clone(),
        max_conn: d.max_connections,
        pool: d.pool,
        memory_bytes: d.memory_bytes,
        activity,
        by_user,
        sizes,
        calls,
        rollback,
        deadlocks,
        lag,
        mem_pss: host.mem_pss,
        mem_rss: host.mem_rss,
        mem_virtual: host.mem_virtual,
        cpu: host.cpu,
        disk: host.disk,
        idle_in_tx: 0.5,
        qps: 0.0,
        writes: 0.0,
    }
}

fn statements(
    reg: &mut Registry,
    tid: Tid,
    datname: &str,
    server: &str,
) -> BTreeMap<(&'static str, &'static str), (Sid, Sid)> {
    let mut calls = BTreeMap::new();
    for (u, cmd) in [
        ("app", "select"),
        ("app", "insert"),
        ("app", "update"),
        ("app", "delete"),
        ("app", "other"),
        ("reporting", "select"),
    ] {
        let l = [
            ("user", u),
            ("datname", datname),
            ("command", cmd),
            ("server", server),
        ];
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
    calls
}

/// pg_stat_database's rows: the shared objects (`datname=""`), the template and
/// maintenance databases and the site's database, each with its oid as `datid`.
fn stat_database(reg: &mut Registry, tid: Tid, datname: &str, server: &str) -> (Sid, Sid, Sid) {
    let mut own = None;
    for (datid, db) in [
        ("0", ""),
        ("1", "template1"),
        ("4", "template0"),
        ("5", "postgres"),
        ("16384", datname),
    ] {
        let l = [("datid", datid), ("datname", db), ("server", server)];
        let rollback = reg.untyped_counter(
            "pg_stat_database_xact_rollback",
            "Number of transactions in this database that have been rolled back",
            tid,
            &l,
        );
        let deadlocks = reg.untyped_counter(
            "pg_stat_database_deadlocks",
            "Number of deadlocks detected in this database",
            tid,
            &l,
        );
        if db == datname {
            own = Some((rollback, deadlocks));
        }
    }
    let (rollback, deadlocks) = own.expect("the site's database is a row");
    // The example query block of postgres_exporter (deploy/postgres_exporter/queries.yaml).
    let lag = reg.gauge(
        "pg_replication_lag",
        "Replication lag behind master in seconds",
        tid,
        &[("server", server)],
    );
    (rollback, deadlocks, lag)
}

struct HostSeries {
    mem_pss: Sid,
    mem_rss: Sid,
    mem_virtual: Sid,
    cpu: [Sid; 2],
    disk: [Sid; 2],
}

/// process-exporter and node-exporter series of a database host.
fn host_series(reg: &mut Registry, tid: Tid) -> HostSeries {
    let mem = |reg: &mut Registry, memtype: &str| {
        reg.gauge(
            "namedprocess_namegroup_memory_bytes",
            "number of bytes of memory in use",
            tid,
            &[("groupname", "postgres"), ("memtype", memtype)],
        )
    };
    let mem_pss = mem(reg, "proportionalResident");
    let mem_rss = mem(reg, "resident");
    let mem_virtual = mem(reg, "virtual");
    // No swap on the simulated hosts: exported at 0, as process-exporter does.
    mem(reg, "swapped");
    mem(reg, "proportionalSwapped");
    let cpu = ["user", "system"].map(|mode| {
        reg.counter(
            "namedprocess_namegroup_cpu_seconds",
            "Cpu user usage in seconds",
            tid,
            &[("groupname", "postgres"), ("mode", mode)],
        )
    });
    let disk = ["vda", "vdb"].map(|device| {
        reg.counter(
            "node_disk_io_time_seconds",
            "Total seconds spent doing I/Os.",
            tid,
            &[("device", device)],
        )
    });
    HostSeries {
        mem_pss,
        mem_rss,
        mem_virtual,
        cpu,
        disk,
    }
}

/// MinIO servers and the shop's per-user storage report, when the site has S3.
pub(super) fn s3(reg: &mut Registry, t: &Topology, apis: &[Api]) -> Option<S3> {
    let def = t.s3.as_ref()?;
    let ttfb_b: Arc<[f64]> = TTFB_BUCKETS.into();
    let servers = def
        .servers
        .iter()
        .map(|srv| minio(reg, def, srv, &ttfb_b))
        .collect();
    let uploader = t
        .apis
        .iter()
        .position(|a| a.has_effect(Effect::Upload))
        .unwrap_or(0);
    let storage_tid = apis[uploader].instances[0].tid;
    let n_users = def.users;
    let mut cum = 0.0;
    let user_cum: Vec<f64> = (0..n_users)
        .map(|i| {
            cum += 1.0 / (i as f64 + 1.0).powf(1.1);
            cum
        })
        .collect();
    Some(S3 {
        servers,
        models: def.bucket(BucketRole::Models).to_string(),
        renders: def.bucket(BucketRole::Renders).to_string(),
        bytes: def
            .buckets
            .iter()
            .map(|b| (b.name.clone(), b.bytes))
            .collect(),
        objects: def
            .buckets
            .iter()
            .map(|b| (b.name.clone(), b.objects))
            .collect(),
        next_scan_ms: i64::MIN,
        user_bytes: (0..n_users)
            .map(|i| 4e10 / (i as f64 + 1.0).powf(1.1))
            .collect(),
        user_gauges: BTreeMap::new(),
        user_cum,
        storage_tid,
    })
}

fn minio(
    reg: &mut Registry,
    def: &topology::S3,
    srv: &topology::S3Server,
    ttfb_b: &Arc<[f64]>,
) -> Minio {
    let tid = reg.target("s3", &srv.instance, &def.service);
    let server = srv.server.as_str();
    let mut m = Minio {
        usage_bytes: BTreeMap::new(),
        usage_objects: BTreeMap::new(),
        requests: BTreeMap::new(),
    };
    for bucket in def.buckets.iter().map(|b| b.name.as_str()) {
        let l = [("server", server), ("bucket", bucket)];
        m.usage_bytes.insert(
            bucket.to_string(),
            reg.gauge(
                "minio_bucket_usage_total_bytes",
                "Total bucket size in bytes",
                tid,
                &l,
            ),
        );
        m.usage_objects.insert(
            bucket.to_string(),
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
                ttfb_b,
            );
            m.requests
                .insert((bucket.to_string(), api), (r, e5, e4, ttfb));
        }
    }
    m
}

/// Business metrics: MES orders on the orders' consumers, stuck orders on the creator,
/// incidents on the incident desk.
pub(super) fn business(reg: &mut Registry, t: &Topology, apis: &[Api], rmq: &Rabbit) -> Business {
    let order_b: Arc<[f64]> = ORDER_BUCKETS.into();
    let incident_b: Arc<[f64]> = INCIDENT_BUCKETS.into();
    let desk = t.api(&t.business.incident_desk).expect("validated desk");
    let desk_tid = apis[desk].instances[0].tid;
    let orders = &rmq.queues[rmq.orders_q];
    let production = orders.consumers[0].api;
    let creator = orders.producer.expect("validated producer");
    let mut received = Vec::new();
    let mut completed = Vec::new();
    let mut processing = Vec::new();
    for c in &orders.consumers {
        let tid = apis[c.api].instances[c.instance].tid;
        received.push(reg.counter(
            "mes_orders_received",
            "Orders the MES consumer accepted",
            tid,
            &[],
        ));
        let mut done = BTreeMap::new();
        let mut took = BTreeMap::new();
        for o in ["delivered", "cancelled", "failed"] {
            done.insert(
                o,
                reg.counter(
                    "mes_orders_completed",
                    "Orders finished by MES, by outcome",
                    tid,
                    &[("outcome", o)],
                ),
            );
            took.insert(
                o,
                reg.histogram(
                    "order_processing_duration_seconds",
                    "Time from order to its outcome",
                    tid,
                    &[("outcome", o)],
                    &order_b,
                ),
            );
        }
        completed.push(done);
        processing.push(took);
    }
    let creator_tid = apis[creator].instances[0].tid;
    let stuck = ["queued", "in_production"]
        .into_iter()
        .map(|st| {
            let s = reg.gauge(
                "shop_orders_stuck",
                "Orders older than their SLA that are not finished",
                creator_tid,
                &[("status", st)],
            );
            (st, s)
        })
        .collect();
    let severities = [Severity::Critical, Severity::Major, Severity::Minor];
    let open = severities
        .into_iter()
        .map(|sev| {
            let s = reg.gauge(
                "incidents_open",
                "Open incidents",
                desk_tid,
                &[("severity", sev.as_str())],
            );
            (sev, s)
        })
        .collect();
    let mut resolution = BTreeMap::new();
    for sev in severities {
        for svc in t.components() {
            let h = reg.histogram(
                "incident_resolution_duration_seconds",
                "Time from opening to resolving an incident",
                desk_tid,
                &[("severity", sev.as_str()), ("service", &svc)],
                &incident_b,
            );
            resolution.insert((sev, svc), h);
        }
    }
    Business {
        creator,
        production,
        received,
        completed,
        processing,
        stuck,
        resolution,
        open,
        in_production: Vec::new(),
        next_order: 1,
        open_incidents: Vec::new(),
        customer_services: t.business.customer_incident_services.clone(),
    }
}

/// The ground truth's header; hours are added as time advances.
pub(super) fn truth(
    t: &Topology,
    scenario: &Scenario,
    seed: u64,
    start_ms: i64,
    scenario_start_ms: i64,
    interval_ms: i64,
) -> Truth {
    let mut truth = Truth {
        schema_version: 1,
        scenario: scenario.name.clone(),
        seed,
        start: start_ms / 1000,
        end: start_ms / 1000,
        scenario_start: scenario_start_ms / 1000,
        interval_seconds: interval_ms / 1000,
        latency_bounds: t.latency_buckets.clone(),
        s3_latency_bounds: S3_BUCKETS.to_vec(),
        ..Truth::default()
    };
    truth.hour(start_ms);
    truth
}
