//! The shape of the simulated site: its APIs (instances, routes, users, load profile), the
//! broker's queues (type, dead-letter exchange, TTL, producer and consumers), the databases,
//! and S3 (or none). The model is built from a [`Topology`]; the business flows find their
//! actors by role (who creates orders, which queue carries them, who consumes them), never
//! by name.
//!
//! [`Topology::reference()`] is the reference system of the metric contract
//! (`sim/topologies/reference.toml`); [`Topology::load`] reads another site from a TOML
//! file, validated with `file:line:col` errors.

use std::collections::BTreeSet;
use std::ops::Range;
use std::path::Path;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use vitals::diag::{Source, toml_message};
use vitals::duration::Duration;

/// The reference topology's TOML.
pub const REFERENCE: &str = include_str!("../topologies/reference.toml");

/// Upper bounds of `http_request_duration_seconds` unless a topology says otherwise.
pub const HTTP_BUCKETS: [f64; 16] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 30.0, 60.0,
];

/// What a successful request of a route does besides answering.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Effect {
    #[default]
    None,
    /// Stores an uploaded model in the `models` bucket.
    Upload,
    /// Creates an order, published to the orders queue.
    Order,
    /// A quarter of them fetch a preview from the `renders` bucket.
    ViewRender,
    /// Computes a job: reads its model from S3, sometimes writes a render.
    Job,
    /// Publishes a status update to the status queue.
    JobStatus,
    /// Publishes an event to the events queue the API produces.
    Event,
}

/// How an API's load follows the day.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Profile {
    /// Consumers: peaks at 13:00 and 20:30 local time, +20 % at weekends.
    Shoppers,
    /// Staff: office hours on weekdays.
    Office,
    /// A factory working around the clock, busier when the shop is.
    Factory,
}

/// What `app_sessions_active` counts (or `none`: no such series).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Sessions {
    /// Shoppers making a request every ~12 s.
    Shoppers,
    /// Staff at work, following the API's load.
    Staff,
    None,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    pub method: String,
    pub handler: String,
    /// Share of the API's requests.
    pub share: f64,
    /// Status codes of success and of a client error.
    pub ok: String,
    pub client_error: String,
    /// Share of client errors [default: 0.004 for GET, 0.01 otherwise].
    #[serde(default)]
    pub client_error_share: Option<f64>,
    /// Median latency and lognormal sigma.
    pub median_seconds: f64,
    pub sigma: f64,
    /// Median and sigma of body sizes.
    pub request_bytes: [f64; 2],
    pub response_bytes: [f64; 2],
    pub cpu_seconds: f64,
    #[serde(default)]
    pub effect: Effect,
}

impl Route {
    pub fn client_error_share(&self) -> f64 {
        self.client_error_share
            .unwrap_or(if self.method == "GET" { 0.004 } else { 0.01 })
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Api {
    /// The `service` label and the instance prefix (`shop-1`, `shop-2`, ...).
    pub name: String,
    pub instances: usize,
    /// Requests per second at the daily peak (times the scenario's `[traffic]` factor).
    pub peak_rps: f64,
    /// Share of requests answering 500 in normal times.
    pub server_error_share: f64,
    pub profile: Profile,
    pub sessions: Sessions,
    /// Resident memory of a fresh process.
    pub memory_bytes: f64,
    /// The database it uses.
    pub database: String,
    /// The operations its database client records (SELECT, INSERT, UPDATE).
    pub db_operations: Vec<String>,
    /// Named users of `app_requests_by_user_total` (the rest count as `_other`).
    pub users: Vec<String>,
    #[serde(rename = "route")]
    pub routes: Vec<Route>,
}

impl Api {
    pub fn instance_name(&self, i: usize) -> String {
        format!("{}-{}", self.name, i + 1)
    }

    pub fn has_effect(&self, e: Effect) -> bool {
        self.routes.iter().any(|r| r.effect == e)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum QueueType {
    Quorum,
    Classic,
}

impl QueueType {
    /// The `queue_type` label RabbitMQ exports.
    pub fn label(self) -> &'static str {
        match self {
            QueueType::Quorum => "rabbit_quorum_queue",
            QueueType::Classic => "rabbit_classic_queue",
        }
    }
}

/// What a queue carries, which decides who publishes to it and how it is consumed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Orders from the API that creates them to the API that produces them (exactly one).
    Orders,
    /// Production status updates, published by the orders' consumer (at most one).
    Status,
    /// Events of its producer API (its `event` routes, plus a trickle of its own).
    Events,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Consumer {
    /// An API instance (`mes-1`).
    pub instance: String,
    /// Whether it rejects messages (some status updates; every order during an outage).
    #[serde(default)]
    pub nack: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Queue {
    pub name: String,
    #[serde(rename = "type")]
    pub queue_type: QueueType,
    pub role: Role,
    /// The dead-letter queue (through a DLX); none: dead letters are dropped.
    #[serde(default)]
    pub dead_letter: Option<String>,
    /// Message TTL; none: messages never expire.
    #[serde(default)]
    pub ttl: Option<Duration>,
    /// The API that publishes to it.
    pub producer: String,
    pub consumers: Vec<Consumer>,
}

impl Queue {
    /// The `dead_letter_strategy` label: quorum queues with a DLX confirm dead letters.
    pub fn strategy(&self) -> &'static str {
        match (self.dead_letter.is_some(), self.queue_type) {
            (false, _) => "disabled",
            (true, QueueType::Quorum) => "at_least_once",
            (true, QueueType::Classic) => "at_most_once",
        }
    }

    pub fn ttl_ms(&self) -> Option<i64> {
        self.ttl.map(|t| t.millis() as i64)
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Database {
    /// The `service` label (`shop-db`).
    pub name: String,
    pub datname: String,
    /// The exporter's instance (`shop-db-1`).
    pub instance: String,
    pub max_connections: f64,
    /// Connections each application pool keeps open.
    pub pool: f64,
    pub size_bytes: f64,
    pub growth_bytes_per_day: f64,
    /// PostgreSQL's memory (PSS) without connections.
    pub memory_bytes: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Server {
    pub instance: String,
    /// The `server` label MinIO reports.
    pub server: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BucketRole {
    /// Uploaded 3D models (written by `upload`, read by `job`).
    Models,
    /// Preview renders (written by `job`, read by `view-render`).
    Renders,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bucket {
    pub name: String,
    pub role: BucketRole,
    pub bytes: f64,
    pub objects: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3 {
    /// The `service` label of the MinIO targets.
    pub service: String,
    pub servers: Vec<S3Server>,
    /// Users storing models (the shop reports the top 20).
    pub users: usize,
    pub buckets: Vec<Bucket>,
}

impl S3 {
    pub fn bucket(&self, role: BucketRole) -> &str {
        &self
            .buckets
            .iter()
            .find(|b| b.role == role)
            .expect("validated: one bucket per role")
            .name
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Broker {
    /// The `service` label of the broker and the DLQ consumer.
    pub service: String,
    pub instance: String,
    pub dlq_consumer: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Business {
    /// The API whose first instance reports CRM incidents.
    pub incident_desk: String,
    /// Services customers file minor incidents against (repeat a name to weigh it).
    pub customer_incident_services: Vec<String>,
}

/// A site: what the simulator models.
#[derive(Clone, Debug)]
pub struct Topology {
    pub name: String,
    pub description: String,
    pub broker: Broker,
    pub business: Business,
    pub apis: Vec<Api>,
    pub queues: Vec<Queue>,
    pub databases: Vec<Database>,
    pub s3: Option<S3>,
    /// Bounds of `http_request_duration_seconds`.
    pub latency_buckets: Vec<f64>,
    /// The `--scale` it was made with (1: as written), and how it was spread.
    pub scale: u32,
    pub factors: ScaleFactors,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    name: String,
    #[serde(default)]
    description: String,
    broker: Spanned<Broker>,
    business: Spanned<Business>,
    #[serde(default)]
    latency_buckets: Option<Spanned<Vec<f64>>>,
    api: Vec<Spanned<Api>>,
    #[serde(default)]
    queue: Vec<Spanned<Queue>>,
    database: Vec<Spanned<Database>>,
    #[serde(default)]
    s3: Option<Spanned<S3>>,
}

/// Collects problems found after deserialisation, each at the key it is about.
struct Checker<'a> {
    src: &'a Source,
    problems: Vec<String>,
}

impl Checker<'_> {
    fn at(&mut self, entry: &Range<usize>, key: &str, message: String) {
        let span = self.src.find_key(entry, key).or(Some(entry.clone()));
        self.problems
            .push(self.src.problem_at(span, message).to_string());
    }
}

impl Topology {
    /// The reference system (the metric contract's shop).
    pub fn reference() -> Topology {
        Topology::parse("reference topology", REFERENCE).expect("the reference topology is valid")
    }

    /// The reference topology, or a TOML file.
    pub fn load(path: Option<&Path>) -> Result<Topology, String> {
        match path {
            None => Ok(Topology::reference()),
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| {
                    format!(
                        "cannot read topology {}: {e} (give a topology .toml file, or leave out --topology for the reference system)",
                        p.display()
                    )
                })?;
                Topology::parse(&p.display().to_string(), &text)
            }
        }
    }

    /// Parses and validates a topology; errors are `name:line:col: problem`, one a line.
    pub fn parse(name: &str, text: &str) -> Result<Topology, String> {
        let src = Source::new(name, text);
        let file: File = toml::from_str(text)
            .map_err(|e| src.problem_at(e.span(), toml_message(&e)).to_string())?;
        let mut c = Checker {
            src: &src,
            problems: Vec::new(),
        };
        check(&file, &mut c);
        if !c.problems.is_empty() {
            return Err(c.problems.join("\n"));
        }
        Ok(Topology {
            name: file.name,
            description: file.description,
            broker: file.broker.into_inner(),
            business: file.business.into_inner(),
            apis: file.api.into_iter().map(Spanned::into_inner).collect(),
            queues: file.queue.into_iter().map(Spanned::into_inner).collect(),
            databases: file.database.into_iter().map(Spanned::into_inner).collect(),
            s3: file.s3.map(Spanned::into_inner),
            latency_buckets: file
                .latency_buckets
                .map(Spanned::into_inner)
                .unwrap_or_else(|| HTTP_BUCKETS.to_vec()),
            scale: 1,
            factors: ScaleFactors {
                instances: 1,
                routes: 1,
                fine_buckets: false,
            },
        })
    }

    pub fn api(&self, name: &str) -> Option<usize> {
        self.apis.iter().position(|a| a.name == name)
    }

    /// (API, instance) of an API instance name.
    pub fn api_instance(&self, instance: &str) -> Option<(usize, usize)> {
        instance_of(&self.apis, instance)
    }

    pub fn database(&self, name: &str) -> Option<usize> {
        self.databases.iter().position(|d| d.name == name)
    }

    /// The queue of a role (the first, for `events`).
    pub fn queue_of(&self, role: Role) -> Option<usize> {
        self.queues.iter().position(|q| q.role == role)
    }

    /// Every scrape target's instance name, in registration order.
    pub fn instances(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .apis
            .iter()
            .flat_map(|a| (0..a.instances).map(|i| a.instance_name(i)))
            .collect();
        v.push(self.broker.instance.clone());
        v.push(self.broker.dlq_consumer.clone());
        v.extend(self.databases.iter().map(|d| d.instance.clone()));
        if let Some(s3) = &self.s3 {
            v.extend(s3.servers.iter().map(|s| s.instance.clone()));
        }
        v
    }

    /// Services incidents can be filed against: the APIs, the broker, the databases, S3.
    pub fn components(&self) -> Vec<String> {
        let mut v: Vec<String> = self.apis.iter().map(|a| a.name.clone()).collect();
        v.push(self.broker.service.clone());
        v.extend(self.databases.iter().map(|d| d.name.clone()));
        if let Some(s3) = &self.s3 {
            v.push(s3.service.clone());
        }
        v
    }
}

/// The largest `--scale`.
pub const MAX_SCALE: u32 = 100;

/// How a scale factor is spread: instances, routes and latency-bucket refinement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScaleFactors {
    /// Instances per API are multiplied by this, and so are users per instance (via routes).
    pub instances: usize,
    /// Each route is split into this many variants (`/products`, `/v2/products`, ...),
    /// sharing its traffic; named users, and event queues, are multiplied by it too.
    pub routes: usize,
    /// Whether latency buckets are refined (a bound between every two: 31 instead of 16).
    pub fine_buckets: bool,
}

impl Topology {
    /// The site with about `n` times the series (`--scale`): more instances, routes, users,
    /// event queues and latency buckets, the same traffic in total (so orders and their
    /// totals stay as they are, spread over more series). `n` = 1 is the site as written.
    pub fn scaled(self, n: u32) -> Result<Topology, String> {
        if n == 0 || n > MAX_SCALE {
            return Err(format!(
                "--scale {n}: give a factor from 1 to {MAX_SCALE} (1, 10 and 100 are benchmarked)"
            ));
        }
        if n == 1 {
            return Ok(self);
        }
        // Instances grow by about sqrt(n), latency buckets double from 50 on, and routes
        // are split until the model registers about n times the series.
        let instances = (n as f64).sqrt().round() as usize;
        let fine_buckets = n >= 50;
        let target = crate::series_count(&self) as f64 * n as f64;
        let with = |routes: usize| {
            self.clone().scaled_by(
                n,
                ScaleFactors {
                    instances,
                    routes,
                    fine_buckets,
                },
            )
        };
        // The count grows linearly with the routes: estimate from 1 and 2, then take the
        // closest of the neighbours.
        let count = |t: &Topology| crate::series_count(t) as f64;
        let (c1, c2) = (count(&with(1)), count(&with(2)));
        let estimate = (1.0 + (target - c1) / (c2 - c1).max(1.0)).round().max(1.0) as usize;
        let best = (estimate.saturating_sub(1).max(1)..=estimate + 1)
            .map(|r| {
                let t = with(r);
                ((count(&t) - target).abs(), t)
            })
            .min_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, t)| t)
            .expect("a non-empty range");
        Ok(best)
    }

    /// The topology with `f` applied.
    pub fn scaled_by(mut self, n: u32, f: ScaleFactors) -> Topology {
        for api in &mut self.apis {
            scale_api(api, f);
        }
        self.scale_queues(f);
        if let Some(s3) = &mut self.s3 {
            s3.users *= n as usize;
        }
        if f.fine_buckets {
            self.latency_buckets = refine(&self.latency_buckets);
        }
        self.scale = n;
        self.factors = f;
        self
    }

    /// The orders are consumed by every instance of production; every event queue gets
    /// shards (`payments.events.2`, ...) carrying a trickle of their own.
    fn scale_queues(&mut self, f: ScaleFactors) {
        let apis = self.apis.clone();
        let mut shards = Vec::new();
        for q in &mut self.queues {
            match q.role {
                Role::Orders => {
                    let nack = q.consumers.iter().any(|c| c.nack);
                    if let Some((a, _)) = q
                        .consumers
                        .first()
                        .and_then(|c| instance_of(&apis, &c.instance))
                    {
                        q.consumers = (0..apis[a].instances)
                            .map(|i| Consumer {
                                instance: apis[a].instance_name(i),
                                nack,
                            })
                            .collect();
                    }
                }
                Role::Events => {
                    for k in 2..=f.routes {
                        let mut shard = q.clone();
                        shard.name = format!("{}.{k}", q.name);
                        shard.dead_letter = q.dead_letter.as_ref().map(|d| format!("{d}.{k}"));
                        shards.push(shard);
                    }
                }
                Role::Status => {}
            }
        }
        self.queues.extend(shards);
    }
}

fn scale_api(api: &mut Api, f: ScaleFactors) {
    api.instances *= f.instances;
    let mut routes = Vec::new();
    for r in &api.routes {
        for k in 1..=f.routes {
            let mut v = r.clone();
            v.share = r.share / f.routes as f64;
            if k > 1 {
                v.handler = format!("/v{k}{}", r.handler);
            }
            routes.push(v);
        }
    }
    api.routes = routes;
    let named = api.users.clone();
    for k in 2..=f.routes {
        api.users.extend(named.iter().map(|u| format!("{u}-{k}")));
    }
}

/// The bounds with one more between every two (the geometric mean, 3 significant digits).
fn refine(bounds: &[f64]) -> Vec<f64> {
    let mut out = Vec::with_capacity(bounds.len() * 2);
    for w in bounds.windows(2) {
        out.push(w[0]);
        let mid = (w[0] * w[1]).sqrt();
        let digits = 10f64.powi(2 - mid.log10().floor() as i32);
        out.push((mid * digits).round() / digits);
    }
    out.extend(bounds.last());
    out
}

fn instance_of(apis: &[Api], instance: &str) -> Option<(usize, usize)> {
    let (prefix, n) = instance.rsplit_once('-')?;
    let n: usize = n.parse().ok()?;
    let a = apis.iter().position(|a| a.name == prefix)?;
    (n >= 1 && n <= apis[a].instances).then_some((a, n - 1))
}

fn list(names: impl IntoIterator<Item = String>) -> String {
    names.into_iter().collect::<Vec<_>>().join(", ")
}

fn check(f: &File, c: &mut Checker) {
    let apis: Vec<Api> = f.api.iter().map(|a| a.get_ref().clone()).collect();
    let api_names = || list(apis.iter().map(|a| a.name.clone()));
    let db_names = || list(f.database.iter().map(|d| d.get_ref().name.clone()));
    let mut seen = BTreeSet::new();
    for a in &f.api {
        check_api(a, f, c, &mut seen, &db_names);
    }
    if f.database.is_empty() {
        c.problems.push(
            c.src
                .problem_at(None, "a topology needs at least one [[database]]")
                .to_string(),
        );
    }
    for d in &f.database {
        if !seen.insert(d.get_ref().name.clone()) {
            c.at(
                &d.span(),
                "name",
                format!("duplicate name {:?}", d.get_ref().name),
            );
        }
        if d.get_ref().max_connections <= d.get_ref().pool {
            c.at(
                &d.span(),
                "pool",
                "pool must be smaller than max_connections".into(),
            );
        }
    }
    check_queues(f, &apis, c, &api_names);
    check_s3(f, c);
    let b = f.business.get_ref();
    if !apis.iter().any(|a| a.name == b.incident_desk) {
        c.at(
            &f.business.span(),
            "incident_desk",
            format!(
                "incident_desk {:?} is not an API (APIs: {})",
                b.incident_desk,
                api_names()
            ),
        );
    }
    let mut components: Vec<String> = apis.iter().map(|a| a.name.clone()).collect();
    components.push(f.broker.get_ref().service.clone());
    components.extend(f.database.iter().map(|d| d.get_ref().name.clone()));
    if let Some(s3) = &f.s3 {
        components.push(s3.get_ref().service.clone());
    }
    for s in &b.customer_incident_services {
        if !components.contains(s) {
            c.at(
                &f.business.span(),
                "customer_incident_services",
                format!(
                    "{s:?} is not a service of this topology ({})",
                    list(components.clone())
                ),
            );
        }
    }
    if b.customer_incident_services.is_empty() {
        c.at(
            &f.business.span(),
            "customer_incident_services",
            "name at least one service".into(),
        );
    }
    if let Some(lb) = &f.latency_buckets {
        let v = lb.get_ref();
        if v.is_empty() || v.windows(2).any(|w| w[0] >= w[1]) || v[0] <= 0.0 {
            c.problems.push(
                c.src
                    .problem_at(
                        Some(lb.span()),
                        "latency_buckets must be positive and increasing",
                    )
                    .to_string(),
            );
        }
    }
}

fn check_api(
    a: &Spanned<Api>,
    f: &File,
    c: &mut Checker,
    seen: &mut BTreeSet<String>,
    db_names: &dyn Fn() -> String,
) {
    let span = a.span();
    let api = a.get_ref();
    if !seen.insert(api.name.clone()) {
        c.at(&span, "name", format!("duplicate name {:?}", api.name));
    }
    if api.name.is_empty() || api.name.contains(|ch: char| ch.is_whitespace()) {
        c.at(
            &span,
            "name",
            format!("API name {:?} must be a word", api.name),
        );
    }
    if api.instances == 0 {
        c.at(
            &span,
            "instances",
            "an API needs at least one instance".into(),
        );
    }
    if !(api.peak_rps.is_finite() && api.peak_rps >= 0.0) {
        c.at(
            &span,
            "peak_rps",
            "peak_rps must be a positive number".into(),
        );
    }
    if !(0.0..0.5).contains(&api.server_error_share) {
        c.at(
            &span,
            "server_error_share",
            "server_error_share must be in 0..0.5".into(),
        );
    }
    if !f.database.iter().any(|d| d.get_ref().name == api.database) {
        c.at(
            &span,
            "database",
            format!(
                "database {:?} is not a [[database]] of this topology ({})",
                api.database,
                db_names()
            ),
        );
    }
    for op in &api.db_operations {
        if !["SELECT", "INSERT", "UPDATE"].contains(&op.as_str()) {
            c.at(
                &span,
                "db_operations",
                format!("db_operations: {op:?} is not SELECT, INSERT or UPDATE"),
            );
        }
    }
    if api.routes.is_empty() {
        c.at(
            &span,
            "name",
            format!("API {:?} has no [[api.route]]", api.name),
        );
    }
    let total: f64 = api.routes.iter().map(|r| r.share).sum();
    if api
        .routes
        .iter()
        .any(|r| r.share.is_nan() || r.share <= 0.0)
        || (total - 1.0).abs() > 0.01
    {
        c.at(
            &span,
            "share",
            format!(
                "route shares of {:?} must be positive and add up to 1 (they add up to {total})",
                api.name
            ),
        );
    }
    for r in &api.routes {
        if let Some(s) = r.client_error_share
            && !(0.0..0.5).contains(&s)
        {
            c.at(
                &span,
                "client_error_share",
                "client_error_share must be in 0..0.5".into(),
            );
        }
    }
}

fn check_queues(f: &File, apis: &[Api], c: &mut Checker, api_names: &dyn Fn() -> String) {
    let mut names = BTreeSet::new();
    for q in &f.queue {
        let queue = q.get_ref();
        for n in std::iter::once(&queue.name).chain(&queue.dead_letter) {
            if !names.insert(n.clone()) {
                c.at(&q.span(), "name", format!("duplicate queue name {n:?}"));
            }
        }
        if !apis.iter().any(|a| a.name == queue.producer) {
            c.at(
                &q.span(),
                "producer",
                format!(
                    "producer {:?} is not an API ({})",
                    queue.producer,
                    api_names()
                ),
            );
        }
        if queue.consumers.is_empty() {
            c.at(&q.span(), "consumers", "a queue needs a consumer".into());
        }
        for con in &queue.consumers {
            if instance_of(apis, &con.instance).is_none() {
                c.at(
                    &q.span(),
                    "consumers",
                    format!(
                        "consumer {:?} is not an API instance (`<api>-<n>`, APIs: {})",
                        con.instance,
                        api_names()
                    ),
                );
            }
        }
    }
    let of_role = |r: Role| f.queue.iter().filter(move |q| q.get_ref().role == r);
    let orders: Vec<_> = of_role(Role::Orders).collect();
    if orders.len() != 1 {
        c.problems.push(
            c.src
                .problem_at(
                    orders.get(1).map(|q| q.span()),
                    format!(
                        "a topology needs exactly one queue with role = \"orders\" (it has {})",
                        orders.len()
                    ),
                )
                .to_string(),
        );
        return;
    }
    let oq = orders[0];
    let producer = apis.iter().find(|a| a.name == oq.get_ref().producer);
    if let Some(p) = producer
        && !p.has_effect(Effect::Order)
    {
        c.at(
            &oq.span(),
            "producer",
            format!(
                "the orders' producer {:?} has no route with effect = \"order\"",
                p.name
            ),
        );
    }
    let creators = apis.iter().filter(|a| a.has_effect(Effect::Order)).count();
    if creators > 1 {
        c.at(
            &oq.span(),
            "producer",
            "only one API may have routes with effect = \"order\"".into(),
        );
    }
    let production: BTreeSet<usize> = oq
        .get_ref()
        .consumers
        .iter()
        .filter_map(|k| instance_of(apis, &k.instance).map(|x| x.0))
        .collect();
    if production.len() > 1 {
        c.at(
            &oq.span(),
            "consumers",
            "the orders' consumers must be instances of one API".into(),
        );
    }
    let status: Vec<_> = of_role(Role::Status).collect();
    if status.len() > 1 {
        c.at(
            &status[1].span(),
            "role",
            "at most one queue may have role = \"status\"".into(),
        );
    }
    if let (Some(s), Some(p)) = (status.first(), production.first())
        && s.get_ref().producer != apis[*p].name
    {
        c.at(
            &s.span(),
            "producer",
            format!(
                "the status queue is published by the orders' consumer {:?}",
                apis[*p].name
            ),
        );
    }
}

fn check_s3(f: &File, c: &mut Checker) {
    let Some(s3) = &f.s3 else { return };
    let v = s3.get_ref();
    for role in [BucketRole::Models, BucketRole::Renders] {
        if v.buckets.iter().filter(|b| b.role == role).count() != 1 {
            c.at(
                &s3.span(),
                "buckets",
                format!("[s3] needs exactly one bucket with role = {role:?}").to_lowercase(),
            );
        }
    }
    if v.servers.is_empty() {
        c.at(&s3.span(), "servers", "[s3] needs a server".into());
    }
    if v.users == 0 {
        c.at(&s3.span(), "users", "[s3] users must be at least 1".into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_topology_parses() {
        let t = Topology::reference();
        assert_eq!(t.apis.len(), 3);
        assert_eq!(t.queues.len(), 3);
        assert_eq!(t.instances().len(), 13);
        assert_eq!(t.queues[0].strategy(), "at_least_once");
        assert_eq!(t.queues[1].strategy(), "at_most_once");
        assert_eq!(t.queues[2].strategy(), "disabled");
    }

    #[test]
    fn scaling_spreads_the_same_traffic_over_more_series() {
        let t = Topology::reference().scaled(10).unwrap();
        let f = t.factors;
        assert_eq!((f.instances, f.fine_buckets), (3, false));
        assert_eq!(t.apis[0].instances, 9);
        assert_eq!(t.apis[0].routes.len(), 4 * f.routes);
        let share: f64 = t.apis[0].routes.iter().map(|r| r.share).sum();
        assert!((share - 1.0).abs() < 1e-9);
        assert_eq!(t.apis[0].peak_rps, 26.0);
        assert_eq!(t.queues[0].consumers.len(), 6);
        assert!(t.queues.iter().any(|q| q.name == "crm.notifications.3"));
        let ratio =
            crate::series_count(&t) as f64 / crate::series_count(&Topology::reference()) as f64;
        assert!(
            (9.0..11.0).contains(&ratio),
            "x10 registers {ratio} times the series"
        );
        let t = Topology::reference().scaled(100).unwrap();
        assert_eq!(t.latency_buckets.len(), 31);
        assert!(t.latency_buckets.windows(2).all(|w| w[0] < w[1]));
        assert!(Topology::reference().scaled(0).is_err());
        assert!(Topology::reference().scaled(101).is_err());
    }

    #[test]
    fn errors_point_at_the_key() {
        let text = REFERENCE.replace("database = \"mes-db\"", "database = \"nope-db\"");
        let e = Topology::parse("t.toml", &text).unwrap_err();
        let line = text.lines().position(|l| l.contains("nope-db")).unwrap() + 1;
        assert!(
            e.starts_with(&format!("t.toml:{line}:1: database \"nope-db\" is not")),
            "{e}"
        );
        let text = REFERENCE.replace("instance = \"crm-2\"", "instance = \"crm-7\"");
        let e = Topology::parse("t.toml", &text).unwrap_err();
        assert!(
            e.contains("consumer \"crm-7\" is not an API instance"),
            "{e}"
        );
        let e = Topology::parse("t.toml", "name = 'x'\ncolour = 1\n").unwrap_err();
        assert!(e.starts_with("t.toml:2:1: unknown field `colour`"), "{e}");
    }
}
