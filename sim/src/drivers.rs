//! `vitals-sim drive`: the drivers of real servers in one process. The RabbitMQ scenario
//! ([`crate::drive`]) and the PostgreSQL one ([`crate::pgdrive`]) run concurrently; one
//! `/metrics` endpoint serves the application-side series of those driven, and one truth
//! document holds what each did, written once all of them are over.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::net::TcpListener;

use crate::{drive, pgdrive};

/// The truth file: a part per driven scenario, each what that driver records.
#[derive(Debug, Default, Serialize)]
pub struct Truth {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rabbitmq: Option<drive::Truth>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postgres: Option<pgdrive::Truth>,
}

impl Truth {
    /// Writes the document to `path` whole, then renames it into place: a reader waiting
    /// for the file never sees half of it.
    pub fn write(&self, path: &Path) -> Result<(), String> {
        let mut name = path.file_name().unwrap_or_default().to_os_string();
        name.push(".tmp");
        let tmp = path.with_file_name(name);
        let text = serde_json::to_string_pretty(self).map_err(|e| e.to_string())?;
        std::fs::write(&tmp, text + "\n").map_err(|e| format!("{}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
    }
}

/// The application-side series of the driven scenarios, and how often they were scraped.
#[derive(Clone, Default)]
pub struct Endpoint {
    pub rabbitmq: Option<drive::Driver>,
    pub postgres: Option<pgdrive::Metrics>,
    scrapes: Arc<AtomicU64>,
}

impl Endpoint {
    pub fn new(rabbitmq: Option<drive::Driver>, postgres: Option<pgdrive::Metrics>) -> Endpoint {
        Endpoint {
            rabbitmq,
            postgres,
            scrapes: Arc::default(),
        }
    }

    /// Every driven scenario's series, in the Prometheus text format.
    pub fn exposition(&self) -> String {
        let mut out = String::new();
        if let Some(d) = &self.rabbitmq {
            out.push_str(&d.exposition());
        }
        if let Some(m) = &self.postgres {
            out.push_str(&m.exposition());
        }
        out
    }

    /// Waits until `/metrics` has been scraped once (at most `limit`).
    pub async fn wait_scraped(&self, limit: Duration) -> Result<(), String> {
        let t0 = Instant::now();
        while self.scrapes.load(Ordering::Relaxed) == 0 {
            if t0.elapsed() >= limit {
                return Err(format!("no scrape of /metrics within {limit:?}"));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }

    /// Serves `/metrics` (and `/-/healthy`) on `listen` until the process ends; returns the
    /// bound address.
    pub async fn serve(&self, listen: SocketAddr) -> std::io::Result<SocketAddr> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let ep = self.clone();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let ep = ep.clone();
                tokio::spawn(crate::serve::respond(sock, move |path| match path {
                    "/metrics" => {
                        let text = ep.exposition();
                        ep.scrapes.fetch_add(1, Ordering::Relaxed);
                        (200, text)
                    }
                    "/-/healthy" => (200, "ok\n".to_string()),
                    _ => (404, "see /metrics\n".to_string()),
                }));
            }
        });
        Ok(addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_truth_has_only_the_parts_driven() {
        let t = Truth {
            postgres: Some(pgdrive::Truth::default()),
            ..Truth::default()
        };
        let v = serde_json::to_value(&t).unwrap();
        assert!(v["postgres"]["servers"].is_object(), "{v}");
        assert!(v.get("rabbitmq").is_none(), "{v}");
        let t = Truth {
            rabbitmq: Some(drive::Truth::default()),
            postgres: Some(pgdrive::Truth::default()),
        };
        let v = serde_json::to_value(&t).unwrap();
        assert!(v["rabbitmq"]["dead_lettered"].is_object(), "{v}");
        assert!(v["postgres"]["holding_since"].is_number(), "{v}");
    }

    #[test]
    fn the_truth_file_appears_whole() {
        let dir = std::env::temp_dir().join(format!("vitals-sim-truth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("truth.json");
        Truth::default().write(&path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{}\n");
        assert!(!dir.join("truth.json.tmp").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn one_endpoint_serves_both_drivers_series() {
        let servers = [pgdrive::Server::parse("shop-db=shop=host=127.0.0.1").unwrap()];
        let ep = Endpoint::new(
            Some(drive::Driver::new()),
            Some(pgdrive::Metrics::new(&servers)),
        );
        let text = ep.exposition();
        for family in [
            "# TYPE dlq_messages_received_total counter",
            "# TYPE messaging_process_duration_seconds histogram",
            "# TYPE db_client_operation_duration_seconds histogram",
            r#"db_client_operation_duration_seconds_count{service="shop-db",db_operation_name="SELECT",error_type=""} 0"#,
        ] {
            assert!(text.contains(family), "{family} in\n{text}");
        }
        let pg_only = Endpoint::new(None, Some(pgdrive::Metrics::new(&servers))).exposition();
        assert!(
            !pg_only.contains("dlq_messages_received_total"),
            "{pg_only}"
        );
    }
}
