//! The simulated site, tick by tick: APIs behind a diurnal load, RabbitMQ between them,
//! PostgreSQL servers, optionally MinIO, and the business processes on top (orders,
//! production, incidents). Its shape comes from a [`Topology`]. Every request, order and
//! message is an event drawn from a seeded generator; metrics are counters of those events,
//! and the ground truth counts the same events on its own path.
//!
//! The pieces: [`build`] registers every series (one builder per subsystem), [`traffic`]
//! serves the HTTP requests, [`broker`] moves messages and orders, [`backends`] runs the
//! databases and S3, [`incidents`] plays the scenario's script and the CRM.

mod backends;
mod broker;
mod build;
mod incidents;
mod traffic;

use std::collections::{BTreeMap, VecDeque};

use chrono::{Datelike, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;
use rand_distr::{Distribution, Poisson, StandardNormal};

use super::registry::{Hid, Registry, Sid, Tid};
use super::scenario::{Incident, IncidentKind, Scenario, Severity};
use super::topology::{Profile, Role, Route, Sessions, Topology};
use super::truth::Truth;

pub use super::topology::HTTP_BUCKETS;

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

/// Minutes an outage of the production API spends rejecting orders before its consumer
/// disconnects.
const NACK_PHASE_MS: i64 = 12 * 60_000;
/// How long after an incident queue depths still count as its peak (the orders' TTL in
/// the reference system).
const PEAK_TAIL_MS: i64 = 30 * 60_000;
/// An order not finished this long after creation is stuck; twice this, lost.
const ORDER_SLA_MS: i64 = 12 * 3_600_000;

type Rng = Xoshiro256PlusPlus;

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
    /// DB client histograms: (operation, ok histogram, error histogram).
    db_ops: Vec<(&'static str, Hid, Hid)>,
    /// S3 client histograms by (bucket, operation): ok and error.
    s3_ops: Vec<(String, &'static str, Hid, Hid)>,
    /// Order creators only: created orders by channel, model upload sizes.
    orders_created: Vec<Sid>,
    upload_size: Option<Hid>,
    /// Publisher channel to RabbitMQ (a new one after a restart); none for an API that
    /// publishes nothing.
    channel: Option<usize>,
}

struct Api {
    service: String,
    /// Peak requests per second with the scenario's traffic factor.
    peak_rps: f64,
    /// The topology's peak (staff sessions follow the load relative to it).
    base_peak_rps: f64,
    routes: Vec<Route>,
    base_500: f64,
    profile: Profile,
    sessions: Sessions,
    memory_bytes: f64,
    /// Index of its database.
    db: usize,
    instances: Vec<Instance>,
    /// Cumulative weights of the users; the last is `_other`.
    user_cum: Vec<f64>,
    noise: f64,
}

/// A consumer of a queue and its processing histograms.
struct QueueConsumer {
    api: usize,
    instance: usize,
    ack: Hid,
    nack: Option<Hid>,
}

struct Queue {
    name: String,
    role: Option<Role>,
    queue_type: &'static str,
    /// Its dead-letter queue, and the strategy label the broker reports.
    dlx: Option<String>,
    strategy: &'static str,
    ttl_ms: Option<i64>,
    /// The API that publishes to it (none for a DLQ).
    producer: Option<usize>,
    consumers: Vec<QueueConsumer>,
    /// Consumers attached in normal times.
    normal_consumers: f64,
    /// Enqueue time of each ready message (and the order id, for the orders queue).
    ready: VecDeque<(i64, u64)>,
    unacked: f64,
    consumer_count: f64,
    ready_g: Sid,
    unacked_g: Sid,
    messages_g: Sid,
    consumers_g: Sid,
    /// `None` for quorum queues: RabbitMQ 3.10 does not export their head timestamp.
    head_g: Option<Sid>,
}

struct Channel {
    queue: usize,
    series: Sid,
}

struct Rabbit {
    tid: Tid,
    queues: Vec<Queue>,
    /// The queues by role.
    orders_q: usize,
    status_q: Option<usize>,
    events_qs: Vec<usize>,
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
    /// (source queue, reason) -> counter on the DLQ consumer
    dlq_received: BTreeMap<(usize, &'static str), Sid>,
    /// (stage, reason) -> orders_lost_total
    lost: BTreeMap<(&'static str, &'static str), Sid>,
    next_pid: u64,
}

struct Db {
    name: String,
    max_conn: f64,
    pool: f64,
    memory_bytes: f64,
    activity: BTreeMap<&'static str, Sid>,
    by_user: BTreeMap<(&'static str, &'static str), Sid>,
    sizes: Vec<(Sid, f64, f64)>,
    calls: BTreeMap<(&'static str, &'static str), (Sid, Sid)>,
    rollback: Sid,
    deadlocks: Sid,
    lag: Sid,
    mem_pss: Sid,
    mem_rss: Sid,
    mem_virtual: Sid,
    cpu: [Sid; 2],
    disk: [Sid; 2],
    idle_in_tx: f64,
    /// Queries per second served in the last tick (drives CPU, connections, lag).
    qps: f64,
    writes: f64,
}

struct Minio {
    usage_bytes: BTreeMap<String, Sid>,
    usage_objects: BTreeMap<String, Sid>,
    requests: BTreeMap<(String, &'static str), (Sid, Sid, Sid, Hid)>,
}

struct S3 {
    servers: Vec<Minio>,
    models: String,
    renders: String,
    bytes: BTreeMap<String, f64>,
    objects: BTreeMap<String, f64>,
    next_scan_ms: i64,
    /// Bytes each known user stores in the models bucket.
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
    /// Which consumer of the orders queue took it.
    instance: usize,
}

struct Business {
    /// The API that creates orders and the one that produces them (consumes the orders
    /// queue).
    creator: usize,
    production: usize,
    received: Vec<Sid>,
    completed: Vec<BTreeMap<&'static str, Sid>>,
    processing: Vec<BTreeMap<&'static str, Hid>>,
    stuck: BTreeMap<&'static str, Sid>,
    resolution: BTreeMap<(Severity, String), Hid>,
    open: BTreeMap<Severity, Sid>,
    in_production: Vec<InProduction>,
    next_order: u64,
    /// Open CRM incidents: (index into truth.crm_incidents, resolve at).
    open_incidents: Vec<(usize, i64)>,
    customer_services: Vec<String>,
}

/// A scripted incident in effect, with how far it has run.
#[derive(Clone, Copy)]
struct Active<'a> {
    incident: &'a Incident,
    elapsed_ms: i64,
}

/// What one interval's requests set in motion, for the phases after the traffic.
struct Effects {
    /// (API, instance, bytes, storing user).
    uploads: Vec<(usize, usize, f64, usize)>,
    /// (instance of the order creator, channel).
    orders: Vec<(usize, &'static str)>,
    /// Per API and instance.
    render_views: Vec<Vec<u64>>,
    jobs: Vec<Vec<u64>>,
    job_status: u64,
    /// Events published, per API.
    events: Vec<u64>,
    /// Database queries, per database.
    db_load: Vec<f64>,
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
    latency_bounds: Vec<f64>,
    apis: Vec<Api>,
    rmq: Rabbit,
    dbs: Vec<Db>,
    s3: Option<S3>,
    biz: Business,
    /// Index in truth.incidents of each scripted incident, once started.
    started: Vec<Option<usize>>,
    /// Per scripted incident: whether its CRM incident was filed.
    filed: Vec<bool>,
    restarted: Vec<bool>,
    gap_open: Vec<Option<usize>>,
}

impl Model {
    /// A model of `topology` whose first sample is at `start_ms` (counters at zero) and
    /// whose scenario begins at `scenario_start_ms` (normal days before it).
    pub fn new(
        topology: &Topology,
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
        let mut apis = build::apis(&mut reg, topology, &scenario);
        let mut rmq = build::broker(&mut reg, topology, &apis);
        build::attach_channels(&mut reg, &mut rmq, &mut apis);
        let dbs = build::databases(&mut reg, topology);
        let s3 = build::s3(&mut reg, topology, &apis);
        let biz = build::business(&mut reg, topology, &apis, &rmq);
        let truth = build::truth(
            topology,
            &scenario,
            seed,
            start_ms,
            scenario_start_ms,
            interval_ms,
        );
        let n_incidents = scenario.incidents.len();
        let mut m = Model {
            reg,
            truth,
            rng: Rng::seed_from_u64(seed),
            scenario,
            tz,
            interval_ms,
            scenario_start_ms,
            now_ms: start_ms,
            latency_bounds: topology.latency_buckets.clone(),
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
        m.first_sample(start_ms);
        m
    }

    /// Gauges have values from the first sample on (an exporter reports them at once).
    fn first_sample(&mut self, start_ms: i64) {
        for a in 0..self.apis.len() {
            let rate = self.apis[a].peak_rps * self.profile(a, start_ms);
            self.instance_gauges(a, rate, 1.0, false, start_ms, 0.0);
        }
        self.databases(&vec![0.0; self.dbs.len()], start_ms, 0.0);
        // Consumers are attached, and MinIO has scanned its buckets, before the first scrape:
        // a history must not start with a queue nobody consumes or an empty bucket.
        for q in &mut self.rmq.queues {
            q.consumer_count = q.normal_consumers;
        }
        self.scan_buckets();
        self.set_gauges(start_ms);
    }

    pub fn now_ms(&self) -> i64 {
        self.now_ms
    }

    pub fn interval_ms(&self) -> i64 {
        self.interval_ms
    }

    /// The first scripted incident of one of `kinds` in effect at `t_ms` for `target`.
    fn active_any(&self, kinds: &[IncidentKind], target: &str, t_ms: i64) -> Option<Active<'_>> {
        self.scenario.incidents.iter().find_map(|i| {
            let start = self.scenario_start_ms + i.at.millis() as i64;
            let end = start + i.duration.millis() as i64;
            (kinds.contains(&i.kind) && i.target == target && t_ms >= start && t_ms < end)
                .then_some(Active {
                    incident: i,
                    elapsed_ms: t_ms - start,
                })
        })
    }

    /// A scripted incident of a kind in effect at `t_ms` for `target`.
    fn active(&self, kind: IncidentKind, target: &str, t_ms: i64) -> Option<Active<'_>> {
        self.active_any(&[kind], target, t_ms)
    }

    /// An outage of API `a` in effect at `t_ms`.
    fn outage(&self, a: usize, t_ms: i64) -> Option<Active<'_>> {
        self.active_any(
            &[IncidentKind::MesOutage, IncidentKind::ApiOutage],
            &self.apis[a].service,
            t_ms,
        )
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

    /// Load of API `a` at `t_ms` relative to its peak.
    fn profile(&self, a: usize, t_ms: i64) -> f64 {
        let (h, wd) = self.local(t_ms);
        let weekend = wd >= 5;
        let shop = (0.08 + 0.55 * gauss(h, 13.0, 3.0) + 0.92 * gauss(h, 20.5, 2.3))
            * if weekend { 1.2 } else { 1.0 };
        match self.apis[a].profile {
            Profile::Shoppers => shop,
            Profile::Office => {
                if weekend {
                    0.06
                } else {
                    0.04 + 0.96 * smoothstep(h, 8.5, 10.0) * (1.0 - smoothstep(h, 17.5, 19.0))
                }
            }
            Profile::Factory => 0.35 + 0.6 * shop,
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
        let fx = self.http_traffic(t0, t1, dt);
        self.database_clients(&fx.db_load, dt, t1);
        self.storage(t1, &fx);
        self.order_flow(t0, t1, &fx.orders);
        self.status_flow(t1, fx.job_status, dt);
        self.events_flow(t1, &fx.events, dt);
        self.databases(&fx.db_load, t1, dt);
        self.crm_incidents(t0, t1);
        self.restarts(t0, t1);
        self.set_gauges(t1);
    }
}
