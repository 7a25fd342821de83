//! `vitals init`: a starter `site.toml` and `slo.toml` for the services a Prometheus has,
//! found from the series of the metric contract (HTTP APIs, RabbitMQ queues, PostgreSQL
//! servers, S3 buckets, the shop's business counters), and checked as `vitals lint` checks
//! them before anything is written.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::catalog::Catalog;
use crate::cli::InitArgs;
use crate::exit::{ExitStatus, Failure};
use crate::prom::{Prom, Request};
use crate::settings::Settings;

/// What the Prometheus has, by kind of component.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Found {
    /// HTTP APIs (`service` of `http_requests_total`), with their latency buckets.
    pub apis: BTreeMap<String, Vec<f64>>,
    /// The broker's `service` (or `rabbitmq`) and its queues, busiest first.
    pub broker: Option<(String, Vec<String>)>,
    /// PostgreSQL servers (`service` of `pg_stat_activity_count`).
    pub databases: BTreeSet<String>,
    /// S3 storage (`service` of the MinIO bucket series, or `s3`).
    pub storage: Option<String>,
    /// The shop's business counters are there.
    pub business: bool,
    /// Scrape jobs no component above accounts for.
    pub other_jobs: BTreeSet<String>,
}

pub(crate) async fn run(settings: &Settings, args: &InitArgs) -> Result<ExitStatus, Failure> {
    let dir = PathBuf::from(&args.out);
    let (site_path, slo_path) = (dir.join("site.toml"), dir.join("slo.toml"));
    for p in [&site_path, &slo_path] {
        if p.exists() && !args.force {
            return Err(Failure::usage_hint(
                format!("{} exists: vitals init does not overwrite it", p.display()),
                "choose another --out DIR, or --force to replace it",
            ));
        }
    }
    let catalog = settings.catalog()?;
    let prom = settings.prom()?;
    let at = match &args.at {
        Some(a) => crate::timespec::parse_time(a, settings.now)
            .map_err(|e| Failure::usage(format!("--at: {e}")))?,
        None => settings.now,
    };
    let found = discover(&prom, at).await?;
    if found.apis.is_empty()
        && found.broker.is_none()
        && found.databases.is_empty()
        && found.storage.is_none()
        && !found.business
    {
        return Err(Failure::usage_hint(
            format!(
                "nothing vitals knows was found at {} (no http_requests_total, RabbitMQ, PostgreSQL, MinIO or shop series)",
                crate::timespec::format_time(at)
            ),
            "is this the right Prometheus, and is it scraping now? (--at T looks at another time)",
        ));
    }
    let (site, slo) = (site_toml(&found, &catalog), slo_toml(&found, &catalog));
    std::fs::create_dir_all(&dir)
        .map_err(|e| Failure::Output(format!("cannot create {}: {e}", dir.display())))?;
    // Checked in a scratch directory first: a starter that lint rejects is never left behind.
    let scratch = dir.join(".vitals-init.tmp");
    std::fs::create_dir_all(&scratch)
        .map_err(|e| Failure::Output(format!("cannot create {}: {e}", scratch.display())))?;
    let (tmp_site, tmp_slo) = (scratch.join("site.toml"), scratch.join("slo.toml"));
    let written = write(&tmp_site, &site).and_then(|()| write(&tmp_slo, &slo));
    let problems = match written {
        Ok(()) => settings.check_files(&tmp_site, &tmp_slo),
        Err(e) => {
            let _ = std::fs::remove_dir_all(&scratch);
            return Err(e);
        }
    };
    if !problems.is_empty() {
        let _ = std::fs::remove_dir_all(&scratch);
        return Err(Failure::Config(problems));
    }
    let moved =
        std::fs::rename(&tmp_site, &site_path).and_then(|()| std::fs::rename(&tmp_slo, &slo_path));
    let _ = std::fs::remove_dir_all(&scratch);
    moved.map_err(|e| Failure::Output(format!("cannot write into {}: {e}", dir.display())))?;
    super::note(settings, &summary(&found, &site_path, &slo_path));
    Ok(ExitStatus::Success)
}

fn write(path: &Path, text: &str) -> Result<(), Failure> {
    std::fs::write(path, text)
        .map_err(|e| Failure::Output(format!("cannot write {}: {e}", path.display())))
}

fn summary(f: &Found, site: &Path, slo: &Path) -> String {
    let mut parts = Vec::new();
    if !f.apis.is_empty() {
        parts.push(format!(
            "APIs {}",
            f.apis.keys().cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    if let Some((b, q)) = &f.broker {
        parts.push(format!("broker {b} ({} queues)", q.len()));
    }
    if !f.databases.is_empty() {
        parts.push(format!(
            "databases {}",
            f.databases.iter().cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    if let Some(s) = &f.storage {
        parts.push(format!("storage {s}"));
    }
    if f.business {
        parts.push("business KPIs".into());
    }
    let mut out = format!(
        "wrote {} and {} (lint-clean): {}. Tune the objectives, then run `vitals status --config {}`",
        site.display(),
        slo.display(),
        parts.join("; "),
        slo.display()
    );
    if !f.other_jobs.is_empty() {
        out.push_str(&format!(
            ". Scrape jobs left out (no series vitals knows): {}",
            f.other_jobs.iter().cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    out
}

/// A label's values in an answer.
async fn values(
    prom: &Prom,
    at: chrono::DateTime<chrono::Utc>,
    promql: &str,
    label: &str,
) -> Result<Vec<(BTreeMap<String, String>, f64)>, Failure> {
    let a = prom
        .run(&Request::instant(format!("init: {label}"), promql, at))
        .await?;
    Ok(a.series
        .into_iter()
        .map(|s| {
            let v = s.value().unwrap_or(0.0);
            (s.labels, v)
        })
        .collect())
}

/// One instant query per kind of component, at `at`.
async fn discover(prom: &Prom, at: chrono::DateTime<chrono::Utc>) -> Result<Found, Failure> {
    let mut f = Found::default();
    let get = |l: &BTreeMap<String, String>, k: &str| l.get(k).cloned();
    for (l, _) in values(
        prom,
        at,
        "group by (service, le) (http_request_duration_seconds_bucket) or group by (service) (http_requests_total)",
        "apis",
    )
    .await?
    {
        let Some(svc) = get(&l, "service").filter(|s| component_name(s)) else {
            continue;
        };
        let buckets = f.apis.entry(svc).or_default();
        if let Some(le) = get(&l, "le").and_then(|v| v.parse::<f64>().ok())
            && le.is_finite()
        {
            buckets.push(le);
        }
    }
    let queues = values(
        prom,
        at,
        "sum by (service, queue) (rabbitmq_queue_messages_ready) + sum by (service, queue) (rabbitmq_queue_messages_unacked)",
        "queues",
    )
    .await?;
    if !queues.is_empty() {
        let name = queues
            .iter()
            .find_map(|(l, _)| get(l, "service"))
            .filter(|s| component_name(s))
            .unwrap_or_else(|| "rabbitmq".into());
        let mut q: Vec<(String, f64)> = queues
            .iter()
            .filter_map(|(l, v)| get(l, "queue").map(|q| (q, *v)))
            .filter(|(q, _)| !q.contains(".dlq") && !q.ends_with("-dlq"))
            .collect();
        q.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        f.broker = Some((name, q.into_iter().map(|x| x.0).collect()));
    }
    for (l, _) in values(
        prom,
        at,
        "group by (service) (pg_stat_activity_count)",
        "databases",
    )
    .await?
    {
        if let Some(s) = get(&l, "service").filter(|s| component_name(s)) {
            f.databases.insert(s);
        }
    }
    let s3 = values(
        prom,
        at,
        "group by (service) (minio_bucket_usage_total_bytes)",
        "storage",
    )
    .await?;
    if !s3.is_empty() {
        f.storage = Some(
            s3.iter()
                .find_map(|(l, _)| get(l, "service"))
                .filter(|s| component_name(s))
                .unwrap_or_else(|| "s3".into()),
        );
    }
    f.business = !values(prom, at, "group(shop_orders_created_total)", "business")
        .await?
        .is_empty();
    let known: BTreeSet<String> = f
        .apis
        .keys()
        .cloned()
        .chain(f.broker.iter().map(|b| b.0.clone()))
        .chain(f.databases.iter().cloned())
        .chain(f.storage.iter().cloned())
        .collect();
    // A job is left out only if none of its targets belongs to a component.
    let (mut all, mut covered) = (BTreeSet::new(), BTreeSet::new());
    for (l, _) in values(prom, at, "group by (job, service) (up)", "jobs").await? {
        if let Some(job) = get(&l, "job") {
            if get(&l, "service").is_some_and(|s| known.contains(&s)) {
                covered.insert(job.clone());
            }
            all.insert(job);
        }
    }
    f.other_jobs = all.difference(&covered).cloned().collect();
    for b in f.apis.values_mut() {
        b.sort_by(f64::total_cmp);
        b.dedup();
    }
    Ok(f)
}

/// Names vitals can use as a component (and in TOML, PromQL and file names) as they are.
fn component_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// A TOML basic string.
fn q(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// The bucket bound nearest 0.5 s (a common first latency objective), if any.
fn latency_threshold(buckets: &[f64]) -> Option<f64> {
    buckets
        .iter()
        .copied()
        .filter(|b| *b >= 0.05 && *b <= 10.0)
        .min_by(|a, b| (a - 0.5).abs().total_cmp(&(b - 0.5).abs()))
}

/// A signal line, only when the catalog has its query (a renamed catalog drops it rather
/// than writing a site lint would reject).
fn signal(catalog: &Catalog, name: &str, query: &str, extra: &str) -> Option<String> {
    catalog
        .get(query)
        .map(|_| format!("  {{ name = {}, query = {}{extra} }},\n", q(name), q(query)))
}

fn signals(catalog: &Catalog, list: &[(&str, &str, String)]) -> String {
    let mut out = String::from("signals = [\n");
    for (name, query, extra) in list {
        out.extend(signal(catalog, name, query, extra));
    }
    out.push_str("]\n");
    out
}

pub(crate) fn site_toml(f: &Found, catalog: &Catalog) -> String {
    let mut o = String::from(
        "# Written by `vitals init` from the series Prometheus has. A starter: rename, describe and\n\
         # tune it; docs/configuration.md describes every field, `vitals lint` checks it.\n\n\
         [site]\nname = \"my site\"\n",
    );
    let apis: Vec<&String> = f.apis.keys().collect();
    let groups: Vec<(&str, Vec<&String>)> = [
        ("apis", apis.clone()),
        ("databases", f.databases.iter().collect()),
    ]
    .into_iter()
    .filter(|(_, m)| m.len() > 1)
    .collect();
    if !groups.is_empty() {
        o.push_str("\n[groups]\n");
        for (g, m) in &groups {
            let names: Vec<String> = m.iter().map(|n| q(n)).collect();
            o.push_str(&format!("{g} = [{}]\n", names.join(", ")));
        }
    }
    for svc in &apis {
        o.push_str(&format!(
            "\n[[component]]\nname = {}\nkind = \"api\"\n",
            q(svc)
        ));
        o.push_str(&signals(
            catalog,
            &[
                ("rps", "api.rps", String::new()),
                (
                    "err",
                    "api.error_ratio",
                    format!(
                        ", levels = {{ slo = {} }}",
                        q(&format!("{svc}-availability"))
                    ),
                ),
                ("p99", "api.latency_p99", String::new()),
                (
                    "cpu",
                    "api.cpu_percent",
                    ", combine = \"max\", levels = { op = \"<=\", value = 95, warn = 80 }".into(),
                ),
                ("mem", "api.memory_bytes", ", combine = \"max\"".into()),
            ],
        ));
        if catalog.get("api.rps").is_some() {
            o.push_str("sparkline = { label = \"requests/s\", query = \"api.rps\" }\n");
        }
        if catalog.get("api.error_ratio").is_some() {
            o.push_str("down = [{ signal = \"err\", op = \">=\", value = 0.5, reason = \"answers 5xx to {value} of requests\" }]\n");
        }
    }
    if let Some((b, queues)) = &f.broker {
        o.push_str(&format!(
            "\n[[component]]\nname = {}\nkind = \"broker\"\n",
            q(b)
        ));
        let mut list = vec![("publish", "rabbitmq.publish_rate", String::new())];
        let depth: Vec<(String, String)> = queues
            .iter()
            .take(2)
            .map(|queue| {
                (
                    queue.clone(),
                    format!(
                        ", params = {{ queue = {} }}, levels = {{ slo = {} }}",
                        q(queue),
                        q(&format!("{}-depth", slug(queue)))
                    ),
                )
            })
            .collect();
        for (queue, extra) in &depth {
            list.push((queue.as_str(), "rabbitmq.queue_depth", extra.clone()));
        }
        list.push(("in flight", "rabbitmq.in_flight", String::new()));
        list.push(("consumers", "rabbitmq.consumers", String::new()));
        o.push_str(&signals(catalog, &list));
    }
    for db in &f.databases {
        o.push_str(&format!(
            "\n[[component]]\nname = {}\nkind = \"database\"\n",
            q(db)
        ));
        o.push_str(&signals(
            catalog,
            &[
                (
                    "conns",
                    "db.connection_saturation",
                    ", levels = { slo = \"db-connection-saturation\" }".into(),
                ),
                ("query p95", "db.query_p95", String::new()),
                ("size", "db.size_bytes", String::new()),
            ],
        ));
        if catalog.get("db.connections_used").is_some() {
            o.push_str(
                "sparkline = { label = \"connections\", query = \"db.connections_used\" }\n",
            );
        }
    }
    if let Some(s) = &f.storage {
        o.push_str(&format!(
            "\n[[component]]\nname = {}\nkind = \"storage\"\n",
            q(s)
        ));
        o.push_str(&signals(
            catalog,
            &[
                ("size", "s3.size_bytes", String::new()),
                (
                    "growth/day",
                    "s3.growth_bytes",
                    ", params = { window = \"1d\" }".into(),
                ),
                ("p95", "s3.latency_p95_overall", String::new()),
            ],
        ));
    }
    if f.business {
        o.push_str("\n[[component]]\nname = \"business\"\nkind = \"business\"\ntargets = false\n");
        o.push_str(&signals(
            catalog,
            &[
                (
                    "orders/h",
                    "business.orders_created",
                    ", params = { window = \"1h\" }".into(),
                ),
                (
                    "lost (7d)",
                    "business.lost_order_share",
                    ", params = { window = \"7d\" }, levels = { slo = \"lost-order-share\" }"
                        .into(),
                ),
            ],
        ));
    }
    o
}

fn slug(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect::<String>()
        .trim_matches('-')
        .to_string()
}

/// A PromQL label matcher value (inside double quotes).
fn promql_value(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

pub(crate) fn slo_toml(f: &Found, catalog: &Catalog) -> String {
    let mut o = String::from(
        "# Written by `vitals init`: starter SLOs for what Prometheus has. The objectives are\n\
         # common first choices, not yours: tune them (README, \"SLOs\"), then `vitals lint`.\n",
    );
    for (svc, buckets) in &f.apis {
        let v = promql_value(svc);
        o.push_str(&format!(
            "\n[[slo]]\nname = {}\ncomponent = {}\nkind = \"ratio\"\nbad = {}\ntotal = {}\nobjective = 99.5\nwindow = \"28d\"\nmin_events = 1000\n",
            q(&format!("{svc}-availability")),
            q(svc),
            q(&format!("sum(rate(http_requests_total{{service=\"{v}\", code=~\"5..\"}}[{{{{window}}}}]))")),
            q(&format!("sum(rate(http_requests_total{{service=\"{v}\"}}[{{{{window}}}}]))")),
        ));
        if let Some(t) = latency_threshold(buckets) {
            o.push_str(&format!(
                "\n[[slo]]\nname = {}\ncomponent = {}\nkind = \"latency\"\nhistogram = \"http_request_duration_seconds\"\nselector = {}\nthreshold = {t}\nobjective = 95\nwindow = \"28d\"\nmin_events = 1000\n",
                q(&format!("{svc}-latency")),
                q(svc),
                q(&format!("service=\"{v}\"")),
            ));
        }
    }
    if let Some((b, queues)) = &f.broker
        && catalog.get("rabbitmq.queue_depth").is_some()
    {
        for queue in queues.iter().take(2) {
            o.push_str(&format!(
                "\n[[slo]]\nname = {}\ncomponent = {}\ndescription = \"Messages waiting: the consumers do not keep up\"\nkind = \"threshold\"\nquery = \"rabbitmq.queue_depth\"\nparams = {{ queue = {} }}\nop = \"<=\"\nvalue = 1000\nwarn = 100\nfor = \"10m\"\nseverity = \"ticket\"\n",
                q(&format!("{}-depth", slug(queue))),
                q(b),
                q(queue),
            ));
        }
    }
    if !f.databases.is_empty() && catalog.get("db.connection_saturation").is_some() {
        let component = if f.databases.len() > 1 {
            "databases".to_string()
        } else {
            f.databases.iter().next().cloned().unwrap_or_default()
        };
        o.push_str(&format!(
            "\n[[slo]]\nname = \"db-connection-saturation\"\ncomponent = {}\ndescription = \"At max_connections new requests fail outright\"\nkind = \"threshold\"\nquery = \"db.connection_saturation\"\nop = \"<=\"\nvalue = 0.8\nwarn = 0.6\nfor = \"5m\"\ngroup_by = [\"service\"]\nseverity = \"page\"\n",
            q(&component)
        ));
    }
    if let Some(s) = &f.storage
        && catalog.get("s3.latency_p95_overall").is_some()
    {
        o.push_str(&format!(
            "\n[[slo]]\nname = \"s3-latency-p95\"\ncomponent = {}\nkind = \"threshold\"\nquery = \"s3.latency_p95_overall\"\nop = \"<=\"\nvalue = 1.0\nwarn = 0.5\nfor = \"10m\"\nseverity = \"ticket\"\n",
            q(s)
        ));
    }
    if f.business && catalog.get("business.lost_order_share").is_some() {
        o.push_str("\n[[slo]]\nname = \"lost-order-share\"\ncomponent = \"business\"\nkind = \"threshold\"\nquery = \"business.lost_order_share\"\nparams = { window = \"7d\" }\nop = \"<=\"\nvalue = 0.001\nwarn = 0.0005\nseverity = \"none\"\n");
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nearest_bucket_to_half_a_second_is_the_latency_threshold() {
        assert_eq!(latency_threshold(&[0.1, 0.25, 0.5, 1.0]), Some(0.5));
        assert_eq!(latency_threshold(&[0.1, 0.3, 0.8]), Some(0.3));
        assert_eq!(latency_threshold(&[]), None);
        assert_eq!(latency_threshold(&[30.0]), None);
    }

    #[test]
    fn odd_names_are_not_components_and_strings_are_quoted() {
        assert!(component_name("shop-db"));
        assert!(!component_name("a b"));
        assert!(!component_name("x\"y"));
        for odd in ["a\"b", "it's", "back\\slash", "new\nline"] {
            let doc: toml::Value = toml::from_str(&format!("x = {}", q(odd))).unwrap();
            assert_eq!(doc["x"].as_str(), Some(odd));
        }
        assert_eq!(slug("shop.orders"), "shop-orders");
    }
}
