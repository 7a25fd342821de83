//! The scenario's script (incidents starting, restarts, scrape gaps) and the CRM's
//! incidents (scripted ones and those customers report).

use std::collections::BTreeMap;

use rand::RngExt;

use super::{Model, lognormal, poisson};
use crate::scenario::{Incident, IncidentKind, Severity};
use crate::truth;

impl Model {
    /// Starts scripted incidents, files their CRM incidents, opens scrape gaps and marks
    /// restarts (applied after the interval's events by [`Model::restarts`]).
    pub(super) fn scripted_incidents(&mut self, t0: i64, t1: i64) {
        for k in 0..self.scenario.incidents.len() {
            let inc = self.scenario.incidents[k].clone();
            let start = self.scenario_start_ms + inc.at.millis() as i64;
            let end = start + inc.duration.millis() as i64;
            if self.started[k].is_none() && t1 > start {
                let record = self.incident_record(&inc, start, end);
                self.truth.incidents.push(record);
                self.started[k] = Some(self.truth.incidents.len() - 1);
            }
            // The CRM incident is opened a few minutes after the start and resolved after
            // the end, once someone confirms the fix.
            if let Some(sev) = inc.severity
                && !self.filed[k]
                && t1 > start + 4 * 60_000
            {
                self.filed[k] = true;
                self.file_incident(&inc, sev, start, end);
            }
            match inc.kind {
                IncidentKind::ScrapeGap => self.scrape_gap(k, &inc.target, start, end, t1),
                IncidentKind::Restart if !self.restarted[k] && t1 > start && t0 <= start => {
                    self.restarted[k] = true;
                    self.truth.restarts.push(truth::Restart {
                        instance: inc.target.clone(),
                        at: i64::MIN,
                        lost_requests: 0,
                        lost_orders_created: 0,
                    });
                }
                _ => {}
            }
        }
    }

    /// The component an incident hurts: the service of an instance, the broker for a
    /// queue, else the target itself (an API or a database).
    fn component(&self, inc: &Incident) -> String {
        match inc.kind {
            IncidentKind::Restart | IncidentKind::ScrapeGap => self
                .reg
                .find_target(&inc.target)
                .map(|t| self.reg.targets[t].service.clone())
                .unwrap_or_else(|| inc.target.clone()),
            IncidentKind::ExpiredMessages => self.reg.targets[self.rmq.tid].service.clone(),
            _ => inc.target.clone(),
        }
    }

    fn incident_record(&self, inc: &Incident, start: i64, end: i64) -> truth::Incident {
        let production = &self.apis[self.biz.production].service;
        let cause = match inc.kind {
            IncidentKind::MesOutage | IncidentKind::ApiOutage if &inc.target == production => {
                format!(
                    "{} answers 503; its order consumer rejects orders (dead-lettered as `rejected`), then disconnects and {} backs up",
                    inc.target.to_uppercase(),
                    self.rmq.queues[self.rmq.orders_q].name
                )
            }
            IncidentKind::MesOutage | IncidentKind::ApiOutage => {
                format!("{} answers 503 to part of its requests", inc.target)
            }
            IncidentKind::SlowRelease => {
                "a release multiplied response times until it was rolled back".into()
            }
            IncidentKind::Restart => "the instance restarted: its counters reset".into(),
            IncidentKind::ScrapeGap => "Prometheus could not scrape the target".into(),
            IncidentKind::DbConnectionPileup => {
                "connections left idle in transaction piled up towards max_connections".into()
            }
            IncidentKind::ExpiredMessages => {
                "the consumer stopped; messages outlived their TTL and expired".into()
            }
        };
        truth::Incident {
            name: inc.name.clone(),
            kind: inc.kind.as_str(),
            component: self.component(inc),
            target: inc.target.clone(),
            start: start / 1000,
            end: end / 1000,
            cause,
            peak_queue_depth: BTreeMap::new(),
        }
    }

    fn file_incident(&mut self, inc: &Incident, sev: Severity, start: i64, end: i64) {
        let service = self.component(inc);
        let opened = (start + 4 * 60_000) as f64 / 1000.0;
        let fix = 10.0 * 60.0 + 20.0 * 60.0 * self.rng.random::<f64>();
        let resolve_at = end + (fix * 1000.0) as i64;
        self.truth.crm_incidents.push(truth::CrmIncident {
            severity: sev,
            service,
            opened,
            resolved: None,
            cause: Some(inc.name.clone()),
        });
        self.biz
            .open_incidents
            .push((self.truth.crm_incidents.len() - 1, resolve_at));
    }

    fn scrape_gap(&mut self, k: usize, target: &str, start: i64, end: i64, t1: i64) {
        let Some(t) = self.reg.find_target(target) else {
            return;
        };
        let in_gap = t1 > start && t1 <= end;
        self.reg.targets[t].reachable = !in_gap;
        if in_gap && self.gap_open[k].is_none() {
            self.truth.gaps.push(truth::Gap {
                instance: target.to_string(),
                start: t1 / 1000,
                end: t1 / 1000,
            });
            self.gap_open[k] = Some(self.truth.gaps.len() - 1);
        }
        if in_gap && let Some(g) = self.gap_open[k] {
            self.truth.gaps[g].end = t1 / 1000;
        }
    }

    /// Applies restarts scheduled in this interval, after the interval's events.
    pub(super) fn restarts(&mut self, t0: i64, t1: i64) {
        for k in 0..self.scenario.incidents.len() {
            let inc = &self.scenario.incidents[k];
            if inc.kind != IncidentKind::Restart {
                continue;
            }
            let start = self.scenario_start_ms + inc.at.millis() as i64;
            if !(t1 > start && t0 <= start) {
                continue;
            }
            let down_until = start + inc.duration.millis() as i64;
            let target = inc.target.clone();
            self.restart(&target, down_until, t1);
        }
        self.reachability(t1);
    }

    /// Resets `target`'s counters; an API instance is down until `down_until` and comes
    /// back with a new publisher channel.
    fn restart(&mut self, target: &str, down_until: i64, t1: i64) {
        let Some(tid) = self.reg.find_target(target) else {
            return;
        };
        self.reg.reset_target(tid);
        for a in 0..self.apis.len() {
            for i in 0..self.apis[a].instances.len() {
                if self.apis[a].instances[i].tid != tid {
                    continue;
                }
                if let Some(ch) = self.apis[a].instances[i].channel {
                    let q = self.rmq.channels[ch].queue;
                    self.reg.series[self.rmq.channels[ch].series].born = false;
                    self.apis[a].instances[i].channel =
                        Some(super::build::new_channel(&mut self.reg, &mut self.rmq, q));
                }
                let inst = &mut self.apis[a].instances[i];
                inst.down_until_ms = down_until;
                inst.since_restart_ms = 0;
                self.reg.inc(self.rmq.closed, 1.0);
                self.reg.inc(self.rmq.opened, 1.0);
            }
        }
        // The first scrape that can see the restarted process.
        let first = down_until.div_euclid(self.interval_ms) * self.interval_ms
            + if down_until.rem_euclid(self.interval_ms) == 0 {
                0
            } else {
                self.interval_ms
            };
        if let Some(r) = self
            .truth
            .restarts
            .iter_mut()
            .rev()
            .find(|r| r.instance == target && r.at == i64::MIN)
        {
            r.at = first.max(t1) / 1000;
        }
    }

    /// Targets are unreachable while down after a restart or inside a scrape gap.
    fn reachability(&mut self, t1: i64) {
        for t in 0..self.reg.targets.len() {
            let down = self
                .apis
                .iter()
                .flat_map(|a| a.instances.iter())
                .any(|i| i.tid == t && i.down_until_ms > t1);
            if down {
                self.reg.targets[t].reachable = false;
            } else if !self.scenario.incidents.iter().any(|i| {
                let s = self.scenario_start_ms + i.at.millis() as i64;
                i.kind == IncidentKind::ScrapeGap
                    && self.reg.targets[t].instance == i.target
                    && t1 > s
                    && t1 <= s + i.duration.millis() as i64
            }) {
                self.reg.targets[t].reachable = true;
            }
        }
    }

    /// Customer-reported minor incidents (resolved within hours), resolutions, open counts.
    pub(super) fn crm_incidents(&mut self, t0: i64, t1: i64) {
        let per_day = self.scenario.traffic.minor_incidents_per_day;
        let n = poisson(&mut self.rng, per_day * (t1 - t0) as f64 / 86_400_000.0);
        for _ in 0..n {
            let services = &self.biz.customer_services;
            let service = services[self.rng.random_range(0..services.len())].clone();
            let opened = t0 + 1 + self.rng.random_range(0..self.interval_ms);
            let took = lognormal(&mut self.rng, 2.0 * 3600.0, 0.8);
            self.truth.crm_incidents.push(truth::CrmIncident {
                severity: Severity::Minor,
                service,
                opened: opened as f64 / 1000.0,
                resolved: None,
                cause: None,
            });
            self.biz.open_incidents.push((
                self.truth.crm_incidents.len() - 1,
                opened + (took * 1000.0) as i64,
            ));
        }
        let mut still = Vec::new();
        for (idx, at) in std::mem::take(&mut self.biz.open_incidents) {
            if at <= t1 {
                let inc = &mut self.truth.crm_incidents[idx];
                inc.resolved = Some(at as f64 / 1000.0);
                let took = at as f64 / 1000.0 - inc.opened;
                if let Some(h) = self
                    .biz
                    .resolution
                    .get(&(inc.severity, inc.service.clone()))
                {
                    self.reg.observe(*h, took);
                }
            } else {
                still.push((idx, at));
            }
        }
        self.biz.open_incidents = still;
        let mut open: BTreeMap<Severity, f64> = BTreeMap::new();
        for (idx, _) in &self.biz.open_incidents {
            let inc = &self.truth.crm_incidents[*idx];
            if inc.opened <= t1 as f64 / 1000.0 {
                *open.entry(inc.severity).or_insert(0.0) += 1.0;
            }
        }
        for (sev, sid) in &self.biz.open {
            self.reg.set(*sid, open.get(sev).copied().unwrap_or(0.0));
        }
    }
}
