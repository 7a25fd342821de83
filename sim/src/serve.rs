//! `vitals-sim serve`: the model running in real time behind one `/metrics/<instance>`
//! endpoint per scrape target, on loopback.
//!
//! It first replays the plan's history up to now (so counters continue exactly where a
//! backfilled history of the same plan ends), then steps once per interval.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::Plan;
use super::model::Model;
use super::output::exposition;

/// What the endpoints serve: per instance, its exposition, or `None` while unreachable.
#[derive(Default)]
struct Snapshot {
    targets: BTreeMap<String, Option<String>>,
    now_ms: i64,
}

fn snapshot(m: &Model) -> Snapshot {
    let reg = &m.reg;
    Snapshot {
        targets: (0..reg.targets.len())
            .map(|t| {
                let tg = &reg.targets[t];
                (
                    tg.instance.clone(),
                    tg.reachable.then(|| exposition(reg, t)),
                )
            })
            .collect(),
        now_ms: m.now_ms(),
    }
}

/// Steps a fresh model of `plan` until its clock reaches `until_ms`.
pub fn replay(plan: &Plan, until_ms: i64) -> Model {
    let mut m = plan.model();
    while m.now_ms() + m.interval_ms() <= until_ms {
        m.step();
    }
    m
}

/// Serves until the process is stopped. `ready` is called with the bound address.
pub async fn serve(
    plan: Plan,
    listen: SocketAddr,
    ready: impl FnOnce(SocketAddr),
) -> std::io::Result<()> {
    let listener = TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let now = chrono::Utc::now().timestamp_millis();
    let plan2 = plan.clone();
    let model = tokio::task::spawn_blocking(move || replay(&plan2, now))
        .await
        .expect("replay task");
    let shared = Arc::new(RwLock::new(snapshot(&model)));
    ready(addr);

    let writer = shared.clone();
    tokio::spawn(async move {
        let mut m = model;
        loop {
            let next = m.now_ms() + m.interval_ms();
            let wait = next - chrono::Utc::now().timestamp_millis();
            if wait > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(wait as u64)).await;
            }
            m.step();
            let snap = snapshot(&m);
            *writer.write().expect("snapshot lock") = snap;
        }
    });

    loop {
        let (sock, _) = listener.accept().await?;
        let shared = shared.clone();
        tokio::spawn(respond(sock, move |path| {
            let snap = shared.read().expect("snapshot lock");
            route(&snap, path)
        }));
    }
}

/// Answers one HTTP/1.1 request on `sock`: reads its head, asks `route` for the status and
/// the text body of its path, writes them and closes (every endpoint of the simulator's
/// servers).
pub async fn respond(mut sock: TcpStream, route: impl FnOnce(&str) -> (u16, String)) {
    let mut buf = vec![0u8; 8192];
    let mut n = 0;
    while n < buf.len() {
        match sock.read(&mut buf[n..]).await {
            Ok(0) | Err(_) => return,
            Ok(k) => n += k,
        }
        if buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    let head = String::from_utf8_lossy(&buf[..n]);
    let path = head.split_whitespace().nth(1).unwrap_or("/");
    let (status, body) = route(path);
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        _ => "Service Unavailable",
    };
    let resp = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = sock.write_all(resp.as_bytes()).await;
    let _ = sock.write_all(body.as_bytes()).await;
    let _ = sock.shutdown().await;
}

fn route(snap: &Snapshot, path: &str) -> (u16, String) {
    if path == "/" {
        let mut s = format!(
            "vitals-sim: model time {}\n",
            vitals::timespec::format_time(vitals::timespec::from_unix_seconds(
                snap.now_ms as f64 / 1000.0
            ))
        );
        for (inst, body) in &snap.targets {
            s.push_str(&format!(
                "/metrics/{inst}{}\n",
                if body.is_some() {
                    ""
                } else {
                    "  (unreachable now)"
                }
            ));
        }
        return (200, s);
    }
    if path == "/-/healthy" {
        return (200, "ok\n".into());
    }
    match path.strip_prefix("/metrics/").map(|i| snap.targets.get(i)) {
        Some(Some(Some(body))) => (200, body.clone()),
        Some(Some(None)) => (503, "target unreachable in the scenario\n".into()),
        _ => (404, "no such target; see /\n".into()),
    }
}

/// Prometheus `scrape_configs` for the served targets.
pub fn scrape_config(m: &Model, addr: &str, interval: &str) -> String {
    let mut jobs: BTreeMap<&str, Vec<(&str, &str)>> = BTreeMap::new();
    for t in &m.reg.targets {
        jobs.entry(&t.job)
            .or_default()
            .push((&t.instance, &t.service));
    }
    let mut out = String::from("scrape_configs:\n");
    for (job, targets) in jobs {
        out.push_str(&format!(
            "  - job_name: {job}\n    scrape_interval: {interval}\n    honor_labels: true\n    static_configs:\n"
        ));
        for (inst, svc) in targets {
            out.push_str(&format!(
                "      - targets: ['{addr}']\n        labels: {{instance: '{inst}', service: '{svc}', __metrics_path__: '/metrics/{inst}'}}\n"
            ));
        }
    }
    out
}
