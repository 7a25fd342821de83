//! Ground truth: what happened, counted from the simulator's own events as they are
//! generated — never read back from the metrics. Tests compare what vitals computes through
//! Prometheus with this.

use std::collections::BTreeMap;

use serde::Serialize;

use super::scenario::Severity;

/// Everything the tests need to know, per UTC hour where a window matters.
#[derive(Debug, Default, Serialize)]
pub struct Truth {
    /// Layout version of this document.
    pub schema_version: u32,
    pub scenario: String,
    pub seed: u64,
    /// First and last sample (Unix seconds).
    pub start: i64,
    pub end: i64,
    /// Start of the scenario proper (earlier days are normal).
    pub scenario_start: i64,
    pub interval_seconds: i64,
    /// Upper bounds of the HTTP latency histogram, for `hours[].services[].le`.
    pub latency_bounds: Vec<f64>,
    /// Upper bounds of `s3_client_request_duration_seconds`, for `s3_latency`.
    pub s3_latency_bounds: Vec<f64>,
    /// S3 request durations seen by the APIs, per five minutes.
    pub s3_latency: Vec<LeBlock>,
    /// Hour by hour, starting at `start` (which is hour-aligned).
    pub hours: Vec<Hour>,
    /// Every order, in creation order.
    pub orders: Vec<Order>,
    /// Scripted incidents and the CRM incidents (scripted and customer-reported).
    pub incidents: Vec<Incident>,
    pub crm_incidents: Vec<CrmIncident>,
    /// Restarts, and the requests Prometheus cannot see because they were counted after
    /// the last scrape before the counter reset.
    pub restarts: Vec<Restart>,
    /// Scrape gaps (no samples from a target).
    pub gaps: Vec<Gap>,
    /// The largest number of requests one instance served in one interval, per service:
    /// the most a single lost scrape interval can hide.
    pub max_requests_per_interval: BTreeMap<String, u64>,
    /// Totals and ratios per UTC day and for the scenario's window (filled by
    /// [`Truth::summarise`]).
    pub summary: Option<Summary>,
}

/// Ready-made numbers for the usual windows.
#[derive(Debug, Default, Serialize, Clone)]
pub struct Summary {
    /// Each whole UTC day of the history.
    pub days: Vec<Window>,
    /// The scenario's window (`scenario_start` .. `end`).
    pub scenario: Window,
}

#[derive(Debug, Default, Serialize, Clone)]
pub struct Window {
    /// Unix seconds, start inclusive, end exclusive (events in `(start, end]` intervals).
    pub start: i64,
    pub end: i64,
    pub services: BTreeMap<String, ServiceTotals>,
    pub orders: OrderTotals,
    /// Dead-lettered to a DLX, by source queue and reason.
    pub dead_lettered: BTreeMap<String, BTreeMap<String, u64>>,
    /// Dropped for lack of a DLX, by queue and reason.
    pub dropped: BTreeMap<String, BTreeMap<String, u64>>,
}

#[derive(Debug, Default, Serialize, Clone)]
pub struct ServiceTotals {
    pub requests: u64,
    #[serde(rename = "2xx")]
    pub c2xx: u64,
    #[serde(rename = "5xx")]
    pub c5xx: u64,
    /// 5xx / requests (null without requests).
    pub error_ratio: Option<f64>,
}

#[derive(Debug, Default, Serialize, Clone)]
pub struct OrderTotals {
    /// Orders created in the window.
    pub created: u64,
    /// Orders lost in the window (whenever they were created), by `stage/reason`.
    pub lost: u64,
    pub lost_by_reason: BTreeMap<String, u64>,
    /// lost / created (null without orders).
    pub lost_share: Option<f64>,
    /// Orders delivered in the window.
    pub delivered: u64,
    /// Processing time (creation to delivery) of orders delivered in the window.
    pub processing_p50: Option<f64>,
    pub processing_p95: Option<f64>,
}

/// The q-quantile of sorted values (nearest rank, as an event log would answer it).
pub fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

#[derive(Debug, Default, Serialize, Clone)]
pub struct Hour {
    /// Unix seconds of the hour's start.
    pub start: i64,
    pub services: BTreeMap<String, ServiceHour>,
    /// Messages dead-lettered to a DLX, by source queue and reason.
    pub dead_lettered: BTreeMap<String, BTreeMap<String, u64>>,
    /// Messages discarded (no DLX: dead_letter_strategy disabled), by queue and reason.
    pub dropped: BTreeMap<String, BTreeMap<String, u64>>,
    /// Deepest `ready` count of each queue at any scrape of the hour.
    pub max_queue_depth: BTreeMap<String, u64>,
    /// Most client connections of each database server (all states) at any scrape.
    pub max_db_connections: BTreeMap<String, f64>,
    /// Most PostgreSQL memory (PSS) of each server at any scrape.
    pub max_db_memory_bytes: BTreeMap<String, f64>,
}

#[derive(Debug, Default, Serialize, Clone)]
pub struct ServiceHour {
    pub requests: u64,
    #[serde(rename = "2xx")]
    pub c2xx: u64,
    #[serde(rename = "4xx")]
    pub c4xx: u64,
    #[serde(rename = "5xx")]
    pub c5xx: u64,
    /// Requests at or under each latency bound (cumulative, like `le` buckets), +Inf last.
    pub le: Vec<u64>,
    /// The same per route (`handler`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub handlers: BTreeMap<String, RouteHour>,
}

#[derive(Debug, Default, Serialize, Clone)]
pub struct RouteHour {
    pub requests: u64,
    /// Cumulative like `le` buckets, +Inf last.
    pub le: Vec<u64>,
}

/// S3 request durations the APIs observed in a five-minute block (events in `(start, start +
/// 300]`), cumulative over `Truth::s3_latency_bounds`, +Inf last.
#[derive(Debug, Default, Serialize, Clone)]
pub struct LeBlock {
    pub start: i64,
    pub le: Vec<u64>,
}

#[derive(Debug, Serialize, Clone)]
pub struct Order {
    pub id: u64,
    /// Unix seconds.
    pub created: f64,
    pub channel: &'static str,
    /// delivered, cancelled, failed (completed), lost, or open (neither yet).
    pub fate: &'static str,
    /// When it completed or was lost.
    pub ended: Option<f64>,
    /// Completion minus creation, for completed orders.
    pub processing_seconds: Option<f64>,
    pub lost_stage: Option<&'static str>,
    pub lost_reason: Option<&'static str>,
}

#[derive(Debug, Serialize, Clone)]
pub struct Incident {
    pub name: String,
    pub kind: &'static str,
    /// The component whose SLOs it hurts.
    pub component: String,
    pub target: String,
    pub start: i64,
    pub end: i64,
    pub cause: String,
    /// Deepest `shop.orders` backlog during it (scrape-time samples).
    pub peak_queue_depth: BTreeMap<String, u64>,
}

#[derive(Debug, Serialize, Clone)]
pub struct CrmIncident {
    pub severity: Severity,
    /// The service the incident is filed against.
    pub service: String,
    pub opened: f64,
    pub resolved: Option<f64>,
    /// For scripted incidents, their name.
    pub cause: Option<String>,
}

#[derive(Debug, Serialize, Clone)]
pub struct Restart {
    pub instance: String,
    /// The first scrape after the reset (Unix seconds).
    pub at: i64,
    /// Requests counted after the last scrape and lost with the reset.
    pub lost_requests: u64,
    /// Orders created on the instance in that time (their `shop_orders_created_total`
    /// increments are lost the same way).
    pub lost_orders_created: u64,
}

#[derive(Debug, Serialize, Clone)]
pub struct Gap {
    pub instance: String,
    pub start: i64,
    pub end: i64,
}

impl Truth {
    /// Totals for a window of whole hours `[start, end)` (Unix seconds).
    pub fn window(&self, start: i64, end: i64) -> Window {
        let mut w = Window {
            start,
            end,
            ..Window::default()
        };
        for h in self
            .hours
            .iter()
            .filter(|h| h.start >= start && h.start < end)
        {
            for (svc, sh) in &h.services {
                let t = w.services.entry(svc.clone()).or_default();
                t.requests += sh.requests;
                t.c2xx += sh.c2xx;
                t.c5xx += sh.c5xx;
            }
            for (map, into) in [
                (&h.dead_lettered, &mut w.dead_lettered),
                (&h.dropped, &mut w.dropped),
            ] {
                for (q, reasons) in map {
                    for (r, n) in reasons {
                        *into
                            .entry(q.clone())
                            .or_default()
                            .entry(r.clone())
                            .or_insert(0) += n;
                    }
                }
            }
        }
        for t in w.services.values_mut() {
            t.error_ratio = (t.requests > 0).then(|| t.c5xx as f64 / t.requests as f64);
        }
        let (s, e) = (start as f64, end as f64);
        let o = &mut w.orders;
        let mut took = Vec::new();
        for order in &self.orders {
            if order.created > s && order.created <= e {
                o.created += 1;
            }
            let ended_in = order.ended.is_some_and(|t| t > s && t <= e);
            if order.fate == "lost" && ended_in {
                o.lost += 1;
                let key = format!(
                    "{}/{}",
                    order.lost_stage.unwrap_or("?"),
                    order.lost_reason.unwrap_or("?")
                );
                *o.lost_by_reason.entry(key).or_insert(0) += 1;
            }
            if order.fate == "delivered" && ended_in {
                o.delivered += 1;
                took.push(order.processing_seconds.unwrap_or_default());
            }
        }
        took.sort_by(f64::total_cmp);
        o.processing_p50 = quantile(&took, 0.5);
        o.processing_p95 = quantile(&took, 0.95);
        o.lost_share = (o.created > 0).then(|| o.lost as f64 / o.created as f64);
        w
    }

    /// Fills [`Truth::summary`].
    pub fn summarise(&mut self) {
        let first_day = (self.start + 86_399).div_euclid(86_400) * 86_400;
        let mut days = Vec::new();
        let mut d = first_day;
        while d + 86_400 <= self.end {
            days.push(self.window(d, d + 86_400));
            d += 86_400;
        }
        let scenario = self.window(self.scenario_start, self.end);
        self.summary = Some(Summary { days, scenario });
    }

    /// Counts an S3 request duration observed in the interval starting at `t_ms`.
    pub fn s3_latency(&mut self, t_ms: i64, seconds: f64, bounds: &[f64]) {
        let start = t_ms.div_euclid(300_000) * 300;
        if self.s3_latency.last().is_none_or(|b| b.start != start) {
            self.s3_latency.push(LeBlock {
                start,
                le: vec![0; bounds.len() + 1],
            });
        }
        let block = self.s3_latency.last_mut().expect("just pushed");
        let i = bounds.partition_point(|b| *b < seconds);
        for c in &mut block.le[i..] {
            *c += 1;
        }
    }

    /// The hour record containing time `t_ms` (hours are created as time advances).
    pub fn hour(&mut self, t_ms: i64) -> &mut Hour {
        let start = t_ms.div_euclid(3_600_000) * 3600;
        if self.hours.last().is_none_or(|h| h.start != start) {
            self.hours.push(Hour {
                start,
                ..Hour::default()
            });
        }
        self.hours.last_mut().expect("just pushed")
    }
}
