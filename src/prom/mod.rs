//! The Prometheus HTTP API client: one connection pool, bounded concurrency, retries of
//! transient failures, and errors that say which query failed, where, and what to do.
//!
//! Response bodies are decoded with `prometheus-http-query`'s types; the envelope is ours
//! because that crate drops the `warnings` field and the body of non-JSON error replies,
//! both of which vitals shows to the user.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, Utc};
use prometheus_http_query::reqwest;
use prometheus_http_query::response::Data;
use serde::Deserialize;
use tokio::sync::Semaphore;

use crate::duration::Duration;
use crate::timespec::format_time;

mod batch;
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
    pub(crate) fn instant(
        label: impl Into<String>,
        promql: impl Into<String>,
        at: DateTime<Utc>,
    ) -> Self {
        Self {
            label: label.into(),
            promql: promql.into(),
            when: When::At(at),
        }
    }

    pub(crate) fn range(
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
    pub(crate) fn value(&self) -> Option<f64> {
        self.samples.last().map(|s| s.1)
    }
}

/// A successful reply.
#[derive(Clone, Debug, Default)]
pub struct Answer {
    pub series: Vec<Series>,
    /// Warnings Prometheus attached to the reply (shown on stderr by the commands).
    pub warnings: Vec<String>,
}

impl Answer {}

/// What went wrong with a query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// No connection (refused, DNS, TLS).
    Unreachable,
    /// No complete answer within `--timeout` (or Prometheus' own query timeout).
    Timeout,
    /// A non-success HTTP status without a Prometheus error body.
    Http(u16),
    /// Prometheus answered `status: error`.
    Api { status: u16, error_type: String },
    /// A reply that is not a Prometheus API answer (not JSON, truncated, wrong shape).
    BadBody { status: u16 },
}

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
}

impl std::fmt::Display for PromError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match &self.label {
            Some(l) => format!("query `{l}`: "),
            None => String::new(),
        };
        match &self.kind {
            ErrorKind::Unreachable => {
                write!(
                    f,
                    "{what}cannot reach Prometheus at {}: {}",
                    self.url, self.detail
                )
            }
            ErrorKind::Timeout => write!(
                f,
                "{what}Prometheus at {} did not answer within {}: {}",
                self.url, self.timeout, self.detail
            ),
            ErrorKind::Http(status) => write!(
                f,
                "{what}Prometheus at {} returned HTTP {status}: {}",
                self.url, self.detail
            ),
            ErrorKind::Api { status, error_type } => write!(
                f,
                "{what}Prometheus at {} rejected it (HTTP {status}, {error_type}): {}",
                self.url, self.detail
            ),
            ErrorKind::BadBody { status } => write!(
                f,
                "{what}Prometheus at {} sent an unreadable reply (HTTP {status}): {}",
                self.url, self.detail
            ),
        }
    }
}

impl PromError {
    /// What the user can do about it.
    pub(crate) fn hint(&self) -> String {
        match &self.kind {
            ErrorKind::Unreachable => format!(
                "is Prometheus up at {}? Point vitals at it with --prometheus URL or VITALS_PROMETHEUS_URL",
                self.url
            ),
            ErrorKind::Timeout => format!(
                "raise --timeout (now {}) or ask for a shorter range or a coarser --step",
                self.timeout
            ),
            ErrorKind::Http(401 | 403) | ErrorKind::Api { status: 401 | 403, .. } => {
                "check the credentials given with --bearer-token-file, --basic-auth-file or --header".into()
            }
            ErrorKind::Http(404) | ErrorKind::BadBody { status: 404 } => format!(
                "is {} the Prometheus base URL (without /api/v1)?",
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
        }
    }

    fn retryable(&self) -> bool {
        match &self.kind {
            ErrorKind::Unreachable => true,
            ErrorKind::Http(s) => matches!(s, 429 | 502 | 503 | 504),
            ErrorKind::Api { status, error_type } => {
                error_type == "unavailable" || matches!(status, 502..=504)
            }
            ErrorKind::BadBody { status } => matches!(status, 502..=504),
            ErrorKind::Timeout => false,
        }
    }
}

/// How to reach Prometheus.
#[derive(Clone, Debug)]
pub struct Options {
    pub url: reqwest::Url,
    pub timeout: Duration,
    pub concurrency: usize,
    /// Extra attempts for transient failures (connection refused, 502/503/504, 429).
    pub retries: u32,
    pub headers: reqwest::header::HeaderMap,
    pub ca_cert: Option<Vec<u8>>,
    /// PEM certificate and PKCS#8 key.
    pub identity: Option<(Vec<u8>, Vec<u8>)>,
}

/// HTTP requests sent to Prometheus by this process (for `--stats`).
pub static REQUESTS_SENT: AtomicUsize = AtomicUsize::new(0);

/// A cheap-to-clone handle on one HTTP client.
#[derive(Clone)]
pub struct Prom {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base: reqwest::Url,
    shown: String,
    timeout: Duration,
    permits: Semaphore,
    retries: u32,
}

/// The URL as it may be shown: without user name or password.
pub(crate) fn redact(url: &reqwest::Url) -> String {
    let mut u = url.clone();
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.to_string()
}

#[derive(Deserialize)]
struct Envelope {
    status: String,
    data: Option<Data>,
    #[serde(rename = "errorType")]
    error_type: Option<String>,
    error: Option<String>,
    #[serde(default)]
    warnings: Vec<String>,
}

impl Prom {
    pub(crate) fn new(o: Options) -> Result<Self, String> {
        let mut b = reqwest::Client::builder()
            .timeout(o.timeout.to_std())
            .connect_timeout(o.timeout.to_std().min(std::time::Duration::from_secs(10)))
            .default_headers(o.headers)
            .user_agent(concat!("vitals/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = &o.ca_cert {
            let cert = reqwest::Certificate::from_pem(pem)
                .map_err(|e| format!("--ca-cert is not a PEM certificate: {e}"))?;
            b = b.add_root_certificate(cert);
        }
        if let Some((cert, key)) = &o.identity {
            let id = reqwest::Identity::from_pkcs8_pem(cert, key).map_err(|e| {
                format!(
                    "--client-cert/--client-key: {e} (the key must be PKCS#8 PEM; convert with `openssl pkcs8 -topk8 -nocrypt`)"
                )
            })?;
            b = b.identity(id);
        }
        let http = b
            .build()
            .map_err(|e| format!("cannot set up the HTTP client: {e}"))?;
        let mut base = o.url.clone();
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        Ok(Prom {
            inner: Arc::new(Inner {
                http,
                shown: redact(&o.url),
                base,
                timeout: o.timeout,
                permits: Semaphore::new(o.concurrency.max(1)),
                retries: o.retries,
            }),
        })
    }

    /// Runs one query, retrying transient failures.
    pub(crate) async fn run(&self, req: &Request) -> Result<Answer, PromError> {
        let _permit = self
            .inner
            .permits
            .acquire()
            .await
            .expect("semaphore closed");
        let mut attempt = 0;
        loop {
            match self.send_once(req).await {
                Err(e) if e.retryable() && attempt < self.inner.retries => {
                    attempt += 1;
                    let backoff = 200u64 * (1 << (attempt - 1));
                    tokio::time::sleep(std::time::Duration::from_millis(backoff)).await;
                }
                other => return other,
            }
        }
    }

    /// Runs queries concurrently (at most `--concurrency` at a time); results keep the
    /// order of `reqs`. `progress` is called once per finished query.
    pub(crate) async fn run_all(
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
        let url = self.inner.base.join(path).expect("static API path");
        REQUESTS_SENT.fetch_add(1, Ordering::Relaxed);
        let resp = self
            .inner
            .http
            .post(url)
            .form(&form)
            .send()
            .await
            .map_err(|e| self.transport_error(label, e))?;
        let (status, body) = self.read(label, resp).await?;
        let env: Envelope = match serde_json::from_slice(&body) {
            Ok(env) => env,
            Err(e) => return Err(self.body_error(label, status, &body, &e)),
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
        Ok(Answer {
            series: to_series(data),
            warnings: env.warnings,
        })
    }

    async fn read(
        &self,
        label: Option<&str>,
        resp: reqwest::Response,
    ) -> Result<(u16, Vec<u8>), PromError> {
        let status = resp.status().as_u16();
        let body = resp
            .bytes()
            .await
            .map_err(|e| self.transport_error(label, e))?;
        Ok((status, body.to_vec()))
    }

    fn error(&self, label: Option<&str>, kind: ErrorKind, detail: String) -> PromError {
        PromError {
            kind,
            url: self.inner.shown.clone(),
            label: label.map(str::to_string),
            detail,
            timeout: self.inner.timeout,
        }
    }

    fn transport_error(&self, label: Option<&str>, e: reqwest::Error) -> PromError {
        let kind = if e.is_timeout() {
            ErrorKind::Timeout
        } else if e.is_connect() {
            ErrorKind::Unreachable
        } else if e.is_body() || e.is_decode() {
            ErrorKind::BadBody {
                status: e.status().map(|s| s.as_u16()).unwrap_or(0),
            }
        } else {
            ErrorKind::Unreachable
        };
        self.error(label, kind, root_cause(&e.without_url()))
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

/// The innermost error message ("connection refused"), which is the useful one.
fn root_cause(e: &dyn std::error::Error) -> String {
    let mut cur = e;
    let mut msg = e.to_string();
    while let Some(next) = cur.source() {
        msg = next.to_string();
        cur = next;
    }
    msg
}

fn to_series(data: Data) -> Vec<Series> {
    let labels = |m: &std::collections::HashMap<String, String>| -> BTreeMap<String, String> {
        m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    };
    match data {
        Data::Vector(v) => v
            .iter()
            .map(|s| Series {
                labels: labels(s.metric()),
                samples: vec![(s.sample().timestamp(), s.sample().value())],
            })
            .collect(),
        Data::Matrix(m) => m
            .iter()
            .map(|s| Series {
                labels: labels(s.metric()),
                samples: s
                    .samples()
                    .iter()
                    .map(|p| (p.timestamp(), p.value()))
                    .collect(),
            })
            .collect(),
        Data::Scalar(s) => vec![Series {
            labels: BTreeMap::new(),
            samples: vec![(s.timestamp(), s.value())],
        }],
    }
}

/// A step that keeps a range query under `max_points` per series, rounded up to a
/// readable size (`15s`, `1m`, `5m`, ...), never below `min`.
pub(crate) fn auto_step(span: chrono::Duration, max_points: u64, min: Duration) -> Duration {
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
pub(crate) fn points(span: chrono::Duration, step: Duration) -> u64 {
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
    fn redacts_credentials_from_urls() {
        let u: reqwest::Url = "http://user:secret@127.0.0.1:9090/prom".parse().unwrap();
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
        };
        assert_eq!(
            e.to_string(),
            "query `api.rps`: Prometheus at http://127.0.0.1:9090/ rejected it (HTTP 400, bad_data): 1:5: parse error"
        );
        assert!(e.hint().contains("vitals lint"));
    }
}
