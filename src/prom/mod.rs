//! The Prometheus HTTP API client: one connection pool, bounded concurrency, retries of
//! transient failures within an optional run deadline, bounded replies, one policy for
//! partial data, and errors that say which query failed, where, and what to do.
//!
//! [`http`] is the transport (TLS only for https://, see [`tls`]), [`decode`] reads the
//! API envelope, [`http_config`] reads a Prometheus `http_config` file.

mod batch;
pub mod decode;
pub mod http;
pub mod http_config;
pub mod tls;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::{DateTime, Utc};
use tokio::sync::Semaphore;
use url::Url;

use crate::duration::Duration;
use crate::timespec::format_time;

pub use self::tls::{Pem, TlsOptions, TlsProblem};
pub(crate) use batch::{Answers, Batch, split_by, tag};

/// When a query is evaluated.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum When {
    At(DateTime<Utc>),
    Range {
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        step: Duration,
    },
}

/// One query to send. `label` names it in errors (a catalog name or an SLO name).
#[derive(Clone, Debug)]
pub struct Request {
    pub label: String,
    pub promql: String,
    pub when: When,
}

impl Request {
    pub fn instant(label: impl Into<String>, promql: impl Into<String>, at: DateTime<Utc>) -> Self {
        Self {
            label: label.into(),
            promql: promql.into(),
            when: When::At(at),
        }
    }

    pub fn range(
        label: impl Into<String>,
        promql: impl Into<String>,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        step: Duration,
    ) -> Self {
        Self {
            label: label.into(),
            promql: promql.into(),
            when: When::Range { start, end, step },
        }
    }
}

/// One time series of an answer: an instant vector element has one sample.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub labels: BTreeMap<String, String>,
    /// `(unix seconds, value)`, in time order.
    pub samples: Vec<(f64, f64)>,
}

impl Series {
    /// The last sample's value (the only one for instant queries).
    pub fn value(&self) -> Option<f64> {
        self.samples.last().map(|s| s.1)
    }
}

/// A successful reply.
#[derive(Clone, Debug, Default)]
pub struct Answer {
    pub series: Vec<Series>,
    /// Warnings Prometheus attached to the reply (shown on stderr by the commands). Only
    /// with `--allow-partial`: otherwise a reply with warnings is an [`ErrorKind::Partial`]
    /// failure.
    pub warnings: Vec<String>,
}

impl Answer {}

/// What went wrong with a query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// No connection (refused, DNS, unroutable).
    Unreachable,
    /// The TLS handshake failed (untrusted, expired or wrong-host certificate, ...).
    Tls(TlsProblem),
    /// The connection broke after it was made (reset, closed early, body cut off).
    Broken,
    /// No complete answer within `--timeout` (or Prometheus' own query timeout).
    Timeout,
    /// `--deadline` ran out before this query was answered.
    Deadline {
        /// Attempts made (0: it never got a turn).
        attempts: u32,
        /// Other queries still unanswered at that moment.
        pending: Vec<String>,
    },
    /// A non-success HTTP status without a Prometheus error body.
    Http(u16),
    /// Prometheus answered `status: error`.
    Api { status: u16, error_type: String },
    /// A reply that is not a Prometheus API answer (not JSON, truncated, wrong shape).
    BadBody { status: u16 },
    /// A reply larger than `--max-body-size` (stopped, not read whole).
    TooLarge { announced: Option<u64> },
    /// More series than `--max-series` (decoding stopped there).
    TooManySeries,
    /// A reply flagged as incomplete: Prometheus/Thanos `warnings` or VictoriaMetrics
    /// `isPartial` (refused unless `--allow-partial`).
    Partial,
    /// A redirect that could not be followed.
    Redirect,
}

/// The limits in force, for messages and hints.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limits {
    pub deadline: Option<Duration>,
    pub max_series: usize,
    pub max_body: u64,
    /// Whether credentials were configured (a 401 then means wrong ones, else missing).
    pub credentials: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            deadline: None,
            max_series: DEFAULT_MAX_SERIES,
            max_body: DEFAULT_MAX_BODY,
            credentials: false,
        }
    }
}

/// `--max-series` default: 100x the largest answer vitals' own queries give at 100x the
/// reference system's cardinality (about 1,000 series: per-instance signals of 300
/// instances per API).
pub const DEFAULT_MAX_SERIES: usize = 100_000;
/// `--max-body-size` default: 3x the largest reply of vitals' own queries at 100x the
/// reference cardinality (per-route range queries over a month, ~80 MB of JSON).
pub const DEFAULT_MAX_BODY: u64 = 256 << 20;

#[derive(Clone, Debug, thiserror::Error)]
pub struct PromError {
    pub kind: ErrorKind,
    /// The Prometheus base URL, without credentials.
    pub url: String,
    /// The query it concerns, if any.
    pub label: Option<String>,
    pub detail: String,
    /// The client timeout, for the hint.
    pub timeout: Duration,
    /// The limits in force (boxed: errors travel in every `Result`).
    pub limits: Box<Limits>,
}

impl std::fmt::Display for PromError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match &self.label {
            Some(l) => format!("query `{l}`: "),
            None => String::new(),
        };
        let url = &self.url;
        let detail = &self.detail;
        match &self.kind {
            ErrorKind::Unreachable => {
                write!(f, "{what}cannot reach Prometheus at {url}: {detail}")
            }
            ErrorKind::Tls(_) => {
                write!(
                    f,
                    "{what}no TLS connection to Prometheus at {url}: {detail}"
                )
            }
            ErrorKind::Broken => write!(
                f,
                "{what}the connection to Prometheus at {url} broke: {detail}"
            ),
            ErrorKind::Timeout => write!(
                f,
                "{what}Prometheus at {url} did not answer within {}: {detail}",
                self.timeout
            ),
            ErrorKind::Deadline { pending, .. } => {
                let d = self.limits.deadline.unwrap_or_default();
                write!(
                    f,
                    "{what}the run's --deadline of {d} was reached before Prometheus at {url} answered: {detail}"
                )?;
                if !pending.is_empty() {
                    let shown: Vec<String> =
                        pending.iter().take(5).map(|p| format!("`{p}`")).collect();
                    write!(f, "; still pending: {}", shown.join(", "))?;
                    if pending.len() > 5 {
                        write!(f, " and {} more", pending.len() - 5)?;
                    }
                }
                Ok(())
            }
            ErrorKind::Http(status) => write!(
                f,
                "{what}Prometheus at {url} returned HTTP {status}: {detail}"
            ),
            ErrorKind::Api { status, error_type } => write!(
                f,
                "{what}Prometheus at {url} rejected it (HTTP {status}, {error_type}): {detail}"
            ),
            ErrorKind::BadBody { status } => write!(
                f,
                "{what}Prometheus at {url} sent an unreadable reply (HTTP {status}): {detail}"
            ),
            ErrorKind::TooLarge { announced } => {
                write!(
                    f,
                    "{what}the reply of Prometheus at {url} is larger than the --max-body-size of {}",
                    size_text(self.limits.max_body)
                )?;
                if let Some(n) = announced {
                    write!(f, " (it announced {})", size_text(*n))?;
                }
                write!(f, "; vitals stopped reading it")
            }
            ErrorKind::TooManySeries => write!(
                f,
                "{what}Prometheus at {url} answered with more than the --max-series of {} series; vitals stopped reading it",
                self.limits.max_series
            ),
            ErrorKind::Partial => write!(
                f,
                "{what}Prometheus at {url} answered with partial data: {detail}"
            ),
            ErrorKind::Redirect => write!(
                f,
                "{what}Prometheus at {url} redirected the request: {detail}"
            ),
        }
    }
}

impl PromError {
    /// What the user can do about it.
    pub fn hint(&self) -> String {
        let narrow =
            "narrow the query (a param that selects less, a shorter range, a coarser --step)";
        match &self.kind {
            ErrorKind::Unreachable => format!(
                "is Prometheus up at {}? Point vitals at it with --prometheus URL or VITALS_PROMETHEUS_URL",
                self.url
            ),
            ErrorKind::Tls(p) => match p {
                TlsProblem::Untrusted => "the server's certificate is not signed by a CA vitals trusts: give its CA with --ca-cert (or tls_config.ca_file in --http-config-file)".into(),
                TlsProblem::Expired => "the server's certificate has expired: renew it".into(),
                TlsProblem::NotYetValid => "the server's certificate is not valid yet: check the clocks of the server and of this machine".into(),
                TlsProblem::WrongHost => "the certificate does not name the host in --prometheus: use a name it lists, or set tls_config.server_name in --http-config-file".into(),
                TlsProblem::NotTls => "the server does not speak TLS on that port: use http:// instead of https://".into(),
                TlsProblem::ClientCertificate => "the server did not accept vitals' client certificate: give one it trusts with --client-cert and --client-key (or tls_config.cert_file and key_file)".into(),
                TlsProblem::Other => "check the TLS settings of the server and of vitals (--ca-cert, --client-cert, --http-config-file)".into(),
            },
            ErrorKind::Broken => "retried; a proxy or load balancer in front of Prometheus may be closing connections: check it, or retry later".into(),
            ErrorKind::Timeout => format!(
                "raise --timeout (now {}) or ask for a shorter range or a coarser --step",
                self.timeout
            ),
            ErrorKind::Deadline { .. } => format!(
                "raise --deadline (now {}), or find out why Prometheus is slow or failing (run with fewer SLOs or a shorter range)",
                self.limits.deadline.unwrap_or_default()
            ),
            ErrorKind::Http(401 | 403) | ErrorKind::Api { status: 401 | 403, .. } => {
                if self.limits.credentials {
                    "check the credentials given with --basic-auth-file, --bearer-token-file, --http-config-file or --header".into()
                } else {
                    "Prometheus wants credentials: give them with --basic-auth-file, --bearer-token-file or --http-config-file".into()
                }
            }
            ErrorKind::Http(400) if self.detail.contains("HTTP request to an HTTPS server") => {
                "the server speaks https: use https:// in --prometheus".into()
            }
            ErrorKind::Http(status @ 300..=399) => format!(
                "Prometheus redirects (HTTP {status}) and following redirects is off (follow_redirects: false): point --prometheus at the new address"
            ),
            ErrorKind::Http(404) | ErrorKind::BadBody { status: 404 } => format!(
                "is {} the Prometheus base URL (without /api/v1)? Behind a path prefix, include it (e.g. http://host/select/0/prometheus)",
                self.url
            ),
            ErrorKind::Http(_) => "Prometheus or a proxy in front of it failed; retry later or check its logs".into(),
            ErrorKind::Api { error_type, .. } if error_type == "bad_data" => {
                "the PromQL is not valid for this Prometheus; run `vitals lint` and check the query's params".into()
            }
            ErrorKind::Api { error_type, .. } if error_type == "execution" => {
                "the PromQL parses but failed while running (e.g. series that collide once metric names are dropped); fix the query".into()
            }
            ErrorKind::Api { .. } => "check the Prometheus server logs".into(),
            ErrorKind::BadBody { .. } => format!(
                "is {} a Prometheus server, not a proxy error or login page?",
                self.url
            ),
            ErrorKind::TooLarge { .. } => format!(
                "{narrow}, or raise --max-body-size (now {})",
                size_text(self.limits.max_body)
            ),
            ErrorKind::TooManySeries => format!(
                "{narrow}, or raise --max-series (now {})",
                self.limits.max_series
            ),
            ErrorKind::Partial => "part of the data (a store, shard or remote-read source) did not answer, so any number from it could be wrong: retry later or fix the backend; --allow-partial uses such answers anyway and shows their warnings".into(),
            ErrorKind::Redirect => "point --prometheus at the address the server redirects to".into(),
        }
    }

    /// Whether another attempt may succeed.
    fn retryable(&self) -> bool {
        match &self.kind {
            ErrorKind::Unreachable | ErrorKind::Broken | ErrorKind::Partial => true,
            ErrorKind::Http(s) => matches!(s, 429 | 502 | 503 | 504),
            ErrorKind::Api { status, error_type } => {
                error_type == "unavailable" || matches!(status, 502..=504)
            }
            ErrorKind::BadBody { status } => matches!(status, 502..=504),
            ErrorKind::Timeout
            | ErrorKind::Deadline { .. }
            | ErrorKind::Tls(_)
            | ErrorKind::TooLarge { .. }
            | ErrorKind::TooManySeries
            | ErrorKind::Redirect => false,
        }
    }
}

/// `268435456` -> `256MiB`, as `--max-body-size` takes it.
pub fn size_text(n: u64) -> String {
    for (unit, size) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
        if n >= size && n % size == 0 {
            return format!("{}{unit}", n / size);
        }
    }
    if n >= 1 << 20 {
        format!("{:.1}MiB", n as f64 / (1u64 << 20) as f64)
    } else {
        format!("{n}B")
    }
}

/// Parses `--max-body-size`: bytes, or a number with `KiB`, `MiB`, `GiB` (or `KB`, `MB`,
/// `GB`: powers of ten).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("invalid size {s:?}: write it like 256MiB or 1GiB"))?;
    let mult: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "KB" | "kB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        other => {
            return Err(format!(
                "invalid size unit {other:?} in {s:?}: use B, KiB, MiB, GiB, KB, MB or GB"
            ));
        }
    };
    let v = n * mult as f64;
    if !v.is_finite() || v < 1.0 || v > u64::MAX as f64 {
        return Err(format!("invalid size {s:?}"));
    }
    Ok(v as u64)
}

/// How to reach Prometheus.
#[derive(Clone, Debug)]
pub struct Options {
    /// The base URL, without credentials (they belong in `headers`).
    pub url: Url,
    pub timeout: Duration,
    pub concurrency: usize,
    /// Extra attempts for transient failures (connection refused or broken, 502/503/504,
    /// 429, partial answers).
    pub retries: u32,
    /// Sent with every request to the server of `url` (auth, `--header`, `--tenant`).
    pub headers: ::http::HeaderMap,
    pub tls: TlsOptions,
    pub follow_redirects: bool,
    pub limits: Limits,
    /// Use answers flagged partial (their warnings are kept) instead of failing.
    pub allow_partial: bool,
}

/// HTTP requests sent to Prometheus by this process (for `--stats`).
pub static REQUESTS_SENT: AtomicUsize = AtomicUsize::new(0);

/// A cheap-to-clone handle on one HTTP client.
#[derive(Clone)]
pub struct Prom {
    inner: Arc<Inner>,
}

struct Inner {
    http: http::Http,
    base: Url,
    shown: String,
    timeout: Duration,
    permits: Semaphore,
    retries: u32,
    limits: Limits,
    allow_partial: bool,
    /// When the run's requests must be done by (`--deadline`, from the client's creation).
    deadline: Mutex<Option<Instant>>,
    /// Queries asked for and not answered yet (for the deadline's message).
    pending: Mutex<BTreeMap<u64, String>>,
    next_id: AtomicU64,
}

/// The URL as it may be shown: without user name or password.
pub fn redact(url: &Url) -> String {
    let mut u = url.clone();
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.to_string()
}

/// Removes a query from the pending list when it is answered (or abandoned).
struct PendingGuard<'a> {
    inner: &'a Inner,
    id: u64,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        if let Ok(mut p) = self.inner.pending.lock() {
            p.remove(&self.id);
        }
    }
}

impl Prom {
    pub fn new(o: Options) -> Result<Self, String> {
        let mut base = o.url.clone();
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        base.set_fragment(None);
        let shown = redact(&o.url);
        let eager_tls = base.scheme() == "https";
        let http = http::Http::new(
            http::HttpOptions {
                headers: o.headers,
                tls: o.tls,
                follow_redirects: o.follow_redirects,
                max_body: o.limits.max_body,
                connect_timeout: o.timeout.to_std().min(std::time::Duration::from_secs(10)),
                pool_size: o.concurrency.max(1),
            },
            eager_tls,
        )?;
        let deadline = o.limits.deadline.map(|d| Instant::now() + d.to_std());
        Ok(Prom {
            inner: Arc::new(Inner {
                http,
                shown,
                base,
                timeout: o.timeout,
                permits: Semaphore::new(o.concurrency.max(1)),
                retries: o.retries,
                limits: o.limits,
                allow_partial: o.allow_partial,
                deadline: Mutex::new(deadline),
                pending: Mutex::new(BTreeMap::new()),
                next_id: AtomicU64::new(0),
            }),
        })
    }

    /// Starts `--deadline` afresh (for commands that run round after round, like
    /// `status --watch`: the deadline bounds each round).
    pub fn renew_deadline(&self) {
        if let (Some(d), Ok(mut dl)) = (self.inner.limits.deadline, self.inner.deadline.lock()) {
            *dl = Some(Instant::now() + d.to_std());
        }
    }

    fn deadline(&self) -> Option<Instant> {
        *self.inner.deadline.lock().expect("deadline lock")
    }

    /// Runs one query, retrying transient failures. Nothing to ask (no term: a site whose
    /// components have no signals) is an empty answer, not a request Prometheus refuses.
    pub async fn run(&self, req: &Request) -> Result<Answer, PromError> {
        if req.promql.trim().is_empty() {
            return Ok(Answer {
                series: Vec::new(),
                warnings: Vec::new(),
            });
        }
        let label = req.label.as_str();
        self.with_retries(label, Some(label), || self.send_once(req))
            .await
    }

    /// Runs queries concurrently (at most `--concurrency` at a time); results keep the
    /// order of `reqs`. `progress` is called once per finished query.
    pub async fn run_all(
        &self,
        reqs: Vec<Request>,
        progress: &(dyn Fn() + Sync),
    ) -> Vec<Result<Answer, PromError>> {
        let mut set = tokio::task::JoinSet::new();
        let n = reqs.len();
        for (i, r) in reqs.into_iter().enumerate() {
            let me = self.clone();
            set.spawn(async move { (i, me.run(&r).await) });
        }
        let mut out: Vec<Option<Result<Answer, PromError>>> = (0..n).map(|_| None).collect();
        while let Some(joined) = set.join_next().await {
            let (i, r) = joined.expect("query task panicked");
            out[i] = Some(r);
            progress();
        }
        out.into_iter()
            .map(|r| r.expect("every query answered"))
            .collect()
    }

    /// One query's attempts: a turn among `--concurrency`, then attempts with backoff for
    /// transient failures, each within `--timeout` and all within `--deadline`.
    async fn with_retries<T, F, Fut>(
        &self,
        name: &str,
        label: Option<&str>,
        attempt: F,
    ) -> Result<T, PromError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, PromError>>,
    {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        self.inner
            .pending
            .lock()
            .expect("pending lock")
            .insert(id, name.to_string());
        let _guard = PendingGuard {
            inner: &self.inner,
            id,
        };
        let deadline = self.deadline();
        let permit = match deadline {
            Some(d) => tokio::time::timeout_at(d.into(), self.inner.permits.acquire()).await,
            None => Ok(self.inner.permits.acquire().await),
        };
        let Ok(permit) = permit else {
            return Err(self.deadline_error(
                label,
                id,
                0,
                "it never got a turn (--concurrency)".into(),
            ));
        };
        let _permit = permit.expect("semaphore closed");
        let mut attempts = 0u32;
        loop {
            let timeout = self.inner.timeout.to_std();
            let (budget, by_deadline) = match deadline {
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    (left.min(timeout), left < timeout)
                }
                None => (timeout, false),
            };
            attempts += 1;
            let r = match tokio::time::timeout(budget, attempt()).await {
                Ok(r) => r,
                Err(_) if by_deadline => {
                    return Err(self.deadline_error(
                        label,
                        id,
                        attempts,
                        format!("attempt {attempts} was still waiting"),
                    ));
                }
                Err(_) => Err(self.error(label, ErrorKind::Timeout, "no complete reply".into())),
            };
            match r {
                Err(e) if e.retryable() && attempts <= self.inner.retries => {
                    let backoff = std::time::Duration::from_millis(200u64 << (attempts - 1));
                    if deadline.is_some_and(|d| Instant::now() + backoff >= d) {
                        return Err(self.deadline_error(
                            label,
                            id,
                            attempts,
                            format!("no time left to retry after {}", last_failure(&e)),
                        ));
                    }
                    tokio::time::sleep(backoff).await;
                }
                other => return other,
            }
        }
    }

    fn deadline_error(
        &self,
        label: Option<&str>,
        id: u64,
        attempts: u32,
        detail: String,
    ) -> PromError {
        let pending: Vec<String> = self
            .inner
            .pending
            .lock()
            .map(|p| {
                p.iter()
                    .filter(|(k, _)| **k != id)
                    .map(|(_, v)| v.clone())
                    .collect()
            })
            .unwrap_or_default();
        let detail = match attempts {
            0 => detail,
            1 => format!("1 attempt, {detail}"),
            n => format!("{n} attempts, {detail}"),
        };
        self.error(label, ErrorKind::Deadline { attempts, pending }, detail)
    }

    /// The endpoint URL for an API path, keeping the base URL's own query parameters.
    fn endpoint(&self, path: &str) -> Url {
        let mut u = self.inner.base.join(path).expect("static API path");
        u.set_query(self.inner.base.query());
        u
    }

    fn count_request(&self) {
        REQUESTS_SENT.fetch_add(1, Ordering::Relaxed);
    }

    async fn send_once(&self, req: &Request) -> Result<Answer, PromError> {
        let label = Some(req.label.as_str());
        let timeout = format!("{}ms", self.inner.timeout.millis());
        let (path, form): (&str, Vec<(&str, String)>) = match req.when {
            When::At(t) => (
                "api/v1/query",
                vec![
                    ("query", req.promql.clone()),
                    ("time", format_time(t)),
                    ("timeout", timeout),
                ],
            ),
            When::Range { start, end, step } => (
                "api/v1/query_range",
                vec![
                    ("query", req.promql.clone()),
                    ("start", format_time(start)),
                    ("end", format_time(end)),
                    ("step", format!("{}", step.secs_f64())),
                    ("timeout", timeout),
                ],
            ),
        };
        let form = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        self.count_request();
        let reply = self
            .inner
            .http
            .send(self.endpoint(path), Some(form))
            .await
            .map_err(|t| self.transport_error(label, t))?;
        let status = reply.status;
        let env = match decode::envelope(&reply.body, self.inner.limits.max_series) {
            Ok(env) => env,
            Err(decode::DecodeError::TooManySeries) => {
                return Err(self.error(label, ErrorKind::TooManySeries, String::new()));
            }
            Err(decode::DecodeError::Json(e)) => {
                return Err(self.body_error(label, status, &reply.body, &e));
            }
        };
        if env.status != "success" {
            let error_type = env.error_type.unwrap_or_else(|| "error".into());
            let detail = env.error.unwrap_or_default();
            let kind = if error_type == "timeout" {
                ErrorKind::Timeout
            } else {
                ErrorKind::Api { status, error_type }
            };
            return Err(self.error(label, kind, detail));
        }
        let Some(data) = env.data else {
            return Err(self.error(
                label,
                ErrorKind::BadBody { status },
                "a success reply without `data`".into(),
            ));
        };
        // Partial data is not data: one policy for every command.
        let warnings = partial_warnings(env.warnings, env.is_partial);
        if !warnings.is_empty() && !self.inner.allow_partial {
            return Err(self.error(label, ErrorKind::Partial, warnings.join("; ")));
        }
        Ok(Answer {
            series: data.series,
            warnings,
        })
    }

    fn error(&self, label: Option<&str>, kind: ErrorKind, detail: String) -> PromError {
        PromError {
            kind,
            url: self.inner.shown.clone(),
            label: label.map(str::to_string),
            detail,
            timeout: self.inner.timeout,
            limits: Box::new(self.inner.limits),
        }
    }

    fn transport_error(&self, label: Option<&str>, t: http::Transport) -> PromError {
        let (kind, detail) = match t {
            http::Transport::Connect(m) => (ErrorKind::Unreachable, m),
            http::Transport::Tls(p, m) => (ErrorKind::Tls(p), m),
            http::Transport::Broken(m) => (ErrorKind::Broken, m),
            http::Transport::TooLarge { announced } => {
                (ErrorKind::TooLarge { announced }, String::new())
            }
            http::Transport::Redirect(m) => (ErrorKind::Redirect, m),
            http::Transport::Setup(m) => (ErrorKind::Tls(TlsProblem::Other), m),
        };
        self.error(label, kind, detail)
    }

    fn body_error(
        &self,
        label: Option<&str>,
        status: u16,
        body: &[u8],
        e: &serde_json::Error,
    ) -> PromError {
        let excerpt = excerpt(body);
        if !(200..300).contains(&status) {
            let detail = if excerpt.is_empty() {
                "empty body".to_string()
            } else {
                excerpt
            };
            return self.error(label, ErrorKind::Http(status), detail);
        }
        let why = if e.is_eof() {
            "the JSON ends early (truncated reply)".to_string()
        } else if body.first().is_some_and(|b| *b == b'{') {
            format!("not a Prometheus API reply ({e})")
        } else {
            format!("not JSON: {excerpt:?}")
        };
        self.error(label, ErrorKind::BadBody { status }, why)
    }
}

/// The warnings of a reply flagged partial, VictoriaMetrics' flag included.
fn partial_warnings(mut warnings: Vec<String>, is_partial: bool) -> Vec<String> {
    if is_partial {
        warnings.push("the reply is marked partial (isPartial: true)".into());
    }
    warnings
}

/// A failure as the last attempt's cause, without the query's name.
fn last_failure(e: &PromError) -> String {
    let mut e = e.clone();
    e.label = None;
    format!("the last failed: {e}")
}

/// The first 200 characters of a body, on one line.
fn excerpt(body: &[u8]) -> String {
    let s = String::from_utf8_lossy(body);
    let s: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.chars().count() > 200 {
        format!("{}…", s.chars().take(200).collect::<String>())
    } else {
        s
    }
}

/// Standard base64 (for basic auth; not worth a crate).
pub fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The earliest time Prometheus has data in the `range` before the query's time: the first
/// step of `step` at which any scrape target's `up` has a sample (so up to a step after the
/// first sample), as one series without labels.
///
/// Not `min_over_time(timestamp(up)[range:step])`: Prometheus 2.42 evaluates `timestamp()`
/// of a selector step by step, and that form took 1-4 s of server time over 28 days where
/// this one takes milliseconds.
pub fn data_start_expr(range: Duration, step: Duration) -> String {
    format!("min_over_time((vector(time()) and on () count(up))[{range}:{step}])")
}

/// A step that keeps a range query under `max_points` per series, rounded up to a
/// readable size (`15s`, `1m`, `5m`, ...), never below `min`.
pub fn auto_step(span: chrono::Duration, max_points: u64, min: Duration) -> Duration {
    const NICE: [u64; 18] = [
        1, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
        604800,
    ];
    let span_s = span.num_milliseconds().max(0) as f64 / 1000.0;
    let raw = (span_s / max_points.max(1) as f64).ceil() as u64;
    let nice = NICE
        .iter()
        .copied()
        .find(|n| *n >= raw)
        .unwrap_or_else(|| raw.div_ceil(86400) * 86400);
    Duration::from_secs(nice).max(min)
}

/// Points a range query returns per series.
pub fn points(span: chrono::Duration, step: Duration) -> u64 {
    if step.millis() == 0 {
        return u64::MAX;
    }
    span.num_milliseconds().max(0) as u64 / step.millis() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_step_stays_under_the_point_budget() {
        for hours in [1i64, 6, 24, 24 * 7, 24 * 28, 24 * 365] {
            let span = chrono::Duration::hours(hours);
            let step = auto_step(span, 1000, Duration::from_secs(1));
            assert!(points(span, step) <= 1001, "{hours}h -> {step}");
        }
        assert_eq!(
            auto_step(chrono::Duration::hours(24), 1000, Duration::from_secs(1)),
            Duration::from_secs(120)
        );
        assert_eq!(
            auto_step(chrono::Duration::minutes(10), 1000, Duration::from_secs(15)),
            Duration::from_secs(15)
        );
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }

    #[test]
    fn redacts_credentials_from_urls() {
        let u: Url = "http://user:secret@127.0.0.1:9090/prom".parse().unwrap();
        assert_eq!(redact(&u), "http://127.0.0.1:9090/prom");
    }

    #[test]
    fn error_messages_name_the_query_the_url_and_the_cause() {
        let e = PromError {
            kind: ErrorKind::Api {
                status: 400,
                error_type: "bad_data".into(),
            },
            url: "http://127.0.0.1:9090/".into(),
            label: Some("api.rps".into()),
            detail: "1:5: parse error".into(),
            timeout: Duration::from_secs(10),
            limits: Box::default(),
        };
        assert_eq!(
            e.to_string(),
            "query `api.rps`: Prometheus at http://127.0.0.1:9090/ rejected it (HTTP 400, bad_data): 1:5: parse error"
        );
        assert!(e.hint().contains("vitals lint"));
    }
}
