//! RabbitMQ and the business flows through it: orders from their creator to production
//! and on to completion (or loss), status updates, events; dead letters; queue gauges.

use rand::RngExt;

use super::{InProduction, Model, NACK_PHASE_MS, ORDER_SLA_MS, PEAK_TAIL_MS, lognormal, poisson};
use crate::scenario::IncidentKind;
use crate::truth;

/// How the orders' consumers are doing in an interval.
#[derive(Clone, Copy)]
struct OrderConsumers {
    /// Rejecting every order (the first minutes of an outage of production).
    nacking: bool,
    /// Not consuming: disconnected by an outage, or stalled.
    stopped: bool,
}

impl Model {
    pub(super) fn publish(&mut self, q: usize, n: u64, t_ms: i64, order: Option<u64>) {
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

    /// Dead-letters `n` messages of queue `q` for `reason` (dropped without a DLX).
    fn dead_letter(&mut self, q: usize, reason: &'static str, n: u64, t_ms: i64) {
        if n == 0 {
            return;
        }
        let queue = &self.rmq.queues[q];
        let (qt, strategy, has_dlx) = (queue.queue_type, queue.strategy, queue.dlx.is_some());
        let name = queue.name.clone();
        if let Some(s) = self.rmq.dead.get(&(reason, qt, strategy)) {
            self.reg.inc(*s, n as f64);
        }
        let hour = self.truth.hour(t_ms - 1);
        let into = if has_dlx {
            &mut hour.dead_lettered
        } else {
            &mut hour.dropped
        };
        *into
            .entry(name)
            .or_default()
            .entry(reason.to_string())
            .or_insert(0) += n;
        if has_dlx {
            if strategy == "at_least_once" {
                self.reg.inc(self.rmq.confirmed, n as f64);
            }
            // The DLQ consumer reads them at once (x-first-death-queue / -reason).
            if let Some(s) = self.rmq.dlq_received.get(&(q, reason)) {
                self.reg.inc(*s, n as f64);
            }
            self.reg
                .inc(self.rmq.delivered["rabbit_classic_queue"], n as f64);
            self.reg
                .inc(self.rmq.acked["rabbit_classic_queue"], n as f64);
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

    /// Whether queue `q`'s consumers are stopped by an `expired-messages` incident.
    fn stalled(&self, q: usize, t1: i64) -> bool {
        self.active(IncidentKind::ExpiredMessages, &self.rmq.queues[q].name, t1)
            .is_some()
    }

    /// Removes the messages of queue `q` older than its TTL, dead-lettering them; returns
    /// their order ids.
    fn expire(&mut self, q: usize, t1: i64) -> Vec<u64> {
        let mut expired = Vec::new();
        if let Some(ttl) = self.rmq.queues[q].ttl_ms {
            while let Some((at, id)) = self.rmq.queues[q].ready.front().copied() {
                if t1 - at > ttl {
                    self.rmq.queues[q].ready.pop_front();
                    expired.push(id);
                } else {
                    break;
                }
            }
        }
        self.dead_letter(q, "expired", expired.len() as u64, t1);
        expired
    }

    /// Orders: created, published, consumed by production (or rejected, or expired), then
    /// finished or timed out.
    pub(super) fn order_flow(&mut self, t0: i64, t1: i64, created: &[(usize, &'static str)]) {
        self.create_orders(t0, t1, created);
        let q = self.rmq.orders_q;
        let outage = self.outage(self.biz.production, t1).map(|x| x.elapsed_ms);
        let state = OrderConsumers {
            nacking: outage.is_some_and(|e| e < NACK_PHASE_MS),
            stopped: outage.is_some_and(|e| e >= NACK_PHASE_MS) || self.stalled(q, t1),
        };
        let queue = &mut self.rmq.queues[q];
        queue.consumer_count = if state.stopped {
            0.0
        } else {
            queue.normal_consumers
        };
        // Expiry: messages older than the TTL leave the queue for its DLQ.
        for id in self.expire(q, t1) {
            self.lose_order(id, "broker", "dead_lettered", t1);
        }
        if state.stopped {
            self.rmq.queues[q].unacked = 0.0;
        } else {
            self.consume_orders(t1, state);
        }
        self.finish_production(t1);
        self.stuck_orders(t1);
    }

    /// Orders are committed, then published; a failed publish loses the order at the shop.
    fn create_orders(&mut self, t0: i64, t1: i64, created: &[(usize, &'static str)]) {
        let creator = self.biz.creator;
        for (inst, channel) in created {
            let id = self.biz.next_order;
            self.biz.next_order += 1;
            let ch = if *channel == "web" { 0 } else { 1 };
            let s = self.apis[creator].instances[*inst].orders_created[ch];
            self.reg.inc(s, 1.0);
            let at = t0 + 1 + self.rng.random_range(0..self.interval_ms);
            let name = &self.apis[creator].instances[*inst].name;
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
                self.publish(self.rmq.orders_q, 1, at, Some(id));
            }
        }
    }

    /// Production consumes at up to 6 orders/s per instance; orders published in the last
    /// couple of seconds are still in the queue at scrape time.
    fn consume_orders(&mut self, t1: i64, state: OrderConsumers) {
        let q = self.rmq.orders_q;
        let capacity = (12.0 * self.interval_ms as f64 / 1000.0) as usize;
        let mut taken = 0;
        let cutoff = t1 - 2_000;
        while taken < capacity {
            match self.rmq.queues[q].ready.front().copied() {
                Some((at, id)) if at <= cutoff || self.rmq.queues[q].ready.len() > 50 => {
                    self.rmq.queues[q].ready.pop_front();
                    taken += 1;
                    self.consume_order(t1, id, state.nacking);
                }
                _ => break,
            }
        }
        let rate = self.rmq.queues[q].ready.len() as f64 + taken as f64;
        self.rmq.queues[q].unacked = poisson(
            &mut self.rng,
            rate / (self.interval_ms as f64 / 1000.0) * 0.6,
        ) as f64;
    }

    /// One order delivered to its consumer (chosen by id): rejected during an outage,
    /// otherwise accepted and put into production.
    fn consume_order(&mut self, t1: i64, id: u64, nacking: bool) {
        let q = self.rmq.orders_q;
        let qt = self.rmq.queues[q].queue_type;
        let k = (id % self.rmq.queues[q].consumers.len() as u64) as usize;
        let consumer = &self.rmq.queues[q].consumers[k];
        let (ack_h, nack_h) = (consumer.ack, consumer.nack);
        self.reg.inc(self.rmq.delivered[qt], 1.0);
        if nacking {
            let d = lognormal(&mut self.rng, 0.03, 0.5);
            if let Some(h) = nack_h {
                self.reg.observe(h, d);
            }
            self.dead_letter(q, "rejected", 1, t1);
            self.lose_order(id, "mes", "rejected", t1);
            return;
        }
        let d = lognormal(&mut self.rng, 0.6, 0.5);
        self.reg.observe(ack_h, d);
        self.reg.inc(self.rmq.acked[qt], 1.0);
        self.reg.inc(self.biz.received[k], 1.0);
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
        self.biz.in_production.push(InProduction {
            id,
            created_ms: (created * 1000.0) as i64,
            done_ms: done,
            outcome,
            instance: k,
        });
        if let Some(s) = self.rmq.status_q {
            self.publish(s, 1, t1, None);
        }
    }

    /// Production: completions, and the reconciliation of orders past twice their SLA.
    fn finish_production(&mut self, t1: i64) {
        let mut finished = Vec::new();
        let mut i = 0;
        while i < self.biz.in_production.len() {
            let p = &self.biz.in_production[i];
            let done = p.done_ms.is_some_and(|d| d <= t1);
            let timed_out = p.done_ms.is_none() && t1 - p.created_ms > 2 * ORDER_SLA_MS;
            if done || timed_out {
                finished.push(self.biz.in_production.swap_remove(i));
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
                    if let Some(s) = self.rmq.status_q {
                        self.publish(s, 1, t1, None);
                    }
                }
                None => self.lose_order(p.id, "shop", "sla_timeout", t1),
            }
        }
    }

    fn stuck_orders(&mut self, t1: i64) {
        let stuck_prod = self
            .biz
            .in_production
            .iter()
            .filter(|p| t1 - p.created_ms > ORDER_SLA_MS)
            .count();
        let stuck_queue = self.rmq.queues[self.rmq.orders_q]
            .ready
            .iter()
            .filter(|(at, _)| t1 - at > ORDER_SLA_MS)
            .count();
        self.reg
            .set(self.biz.stuck["in_production"], stuck_prod as f64);
        self.reg.set(self.biz.stuck["queued"], stuck_queue as f64);
    }

    /// Delivers everything ready on queue `q`, message `k` to consumer `k mod n`; a
    /// consumer that rejects does so rarely. Returns how many were delivered.
    fn consume_all(&mut self, q: usize, median_s: f64, sigma: f64) -> u64 {
        let n = self.rmq.queues[q].ready.len() as u64;
        self.rmq.queues[q].ready.clear();
        let qt = self.rmq.queues[q].queue_type;
        let mut rejected = 0;
        for k in 0..n {
            let queue = &self.rmq.queues[q];
            let c = &queue.consumers[(k % queue.consumers.len() as u64) as usize];
            let (ack_h, nack_h) = (c.ack, c.nack);
            let nack = nack_h.is_some() && self.rng.random::<f64>() < 0.0005;
            let d = lognormal(&mut self.rng, median_s, sigma);
            self.reg
                .observe(if nack { nack_h.unwrap_or(ack_h) } else { ack_h }, d);
            self.reg.inc(self.rmq.delivered[qt], 1.0);
            if nack {
                rejected += 1;
            } else {
                self.reg.inc(self.rmq.acked[qt], 1.0);
            }
        }
        self.dead_letter(q, "rejected", rejected, self.now_ms);
        n
    }

    /// The status queue: production publishes job updates; its consumers take them at once.
    pub(super) fn status_flow(&mut self, t1: i64, job_status: u64, dt: f64) {
        let Some(q) = self.rmq.status_q else { return };
        self.publish(q, job_status, t1, None);
        let stalled = self.stalled(q, t1);
        self.expire(q, t1);
        if stalled {
            self.rmq.queues[q].consumer_count = 0.0;
            self.rmq.queues[q].unacked = 0.0;
            return;
        }
        self.rmq.queues[q].consumer_count = self.rmq.queues[q].normal_consumers;
        let n = self.consume_all(q, 0.015, 0.6);
        self.rmq.queues[q].unacked = poisson(&mut self.rng, n as f64 / dt * 0.02) as f64;
    }

    /// Event queues: their producer's events plus a trickle of its own; without a DLX,
    /// expired messages are dropped.
    pub(super) fn events_flow(&mut self, t1: i64, events: &[u64], dt: f64) {
        for q in self.rmq.events_qs.clone() {
            let producer = self.rmq.queues[q].producer.expect("validated producer");
            let notices = events[producer] + poisson(&mut self.rng, 0.05 * dt);
            self.publish(q, notices, t1, None);
            let stopped = self.stalled(q, t1);
            self.expire(q, t1);
            if stopped {
                self.rmq.queues[q].consumer_count = 0.0;
                self.rmq.queues[q].unacked = 0.0;
            } else {
                self.rmq.queues[q].consumer_count = self.rmq.queues[q].normal_consumers;
                self.consume_all(q, 0.08, 0.5);
            }
        }
        for q in &mut self.rmq.queues {
            if q.role.is_none() {
                q.consumer_count = q.normal_consumers;
            }
        }
    }

    /// Queue gauges and everything sampled at scrape time.
    pub(super) fn set_gauges(&mut self, t1: i64) {
        let mut depths = Vec::new();
        for q in &self.rmq.queues {
            let ready = q.ready.len() as f64;
            self.reg.set(q.ready_g, ready);
            self.reg.set(q.unacked_g, q.unacked);
            self.reg.set(q.messages_g, ready + q.unacked);
            self.reg.set(q.consumers_g, q.consumer_count);
            if let Some(head_g) = q.head_g {
                let head = q
                    .ready
                    .front()
                    .map(|(at, _)| *at as f64 / 1000.0)
                    .unwrap_or(f64::NAN);
                self.reg.set(head_g, head);
            }
            depths.push((q.name.clone(), ready as u64));
        }
        self.queue_depth_truth(t1, &depths);
        let disconnected = self
            .outage(self.biz.production, t1)
            .is_some_and(|x| x.elapsed_ms >= NACK_PHASE_MS);
        let connected = self
            .apis
            .iter()
            .flat_map(|a| a.instances.iter())
            .filter(|i| i.down_until_ms <= t1)
            .count() as f64
            + 1.0
            - if disconnected {
                self.rmq.queues[self.rmq.orders_q].consumers.len() as f64
            } else {
                0.0
            };
        self.reg.set(self.rmq.connections, connected);
        self.reg.sync_histograms();
    }

    /// The deepest queues of the hour, and of each incident (at scrapes of a reachable
    /// broker, as Prometheus can see them).
    fn queue_depth_truth(&mut self, t1: i64, depths: &[(String, u64)]) {
        let scraped = self.reg.targets[self.rmq.tid].reachable;
        if t1 > self.truth.start * 1000 {
            let hour = self.truth.hour(t1 - 1);
            for (name, d) in depths {
                let e = hour.max_queue_depth.entry(name.clone()).or_insert(0);
                *e = (*e).max(*d);
            }
        }
        for (k, idx) in self.started.iter().enumerate() {
            let Some(idx) = idx else { continue };
            let inc = &self.scenario.incidents[k];
            let start = self.scenario_start_ms + inc.at.millis() as i64;
            if scraped && t1 > start && t1 <= start + inc.duration.millis() as i64 + PEAK_TAIL_MS {
                for (name, d) in depths {
                    let e = self.truth.incidents[*idx]
                        .peak_queue_depth
                        .entry(name.clone())
                        .or_insert(0);
                    *e = (*e).max(*d);
                }
            }
        }
    }
}
