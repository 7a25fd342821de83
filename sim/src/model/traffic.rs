//! HTTP traffic: requests per API, instance and route, their status codes, latencies and
//! sizes, and what successful requests set in motion ([`Effects`]).

use rand::RngExt;
use rand_distr::{Distribution, StandardNormal};

use super::{Effects, Model, lognormal, poisson};
use crate::scenario::IncidentKind;
use crate::topology::{Effect, Sessions};
use crate::truth::{self, ServiceHour};

/// What holds for every request of an API in one interval.
struct Conditions {
    rate: f64,
    /// Latency factor of a slow release (1 without).
    slow: f64,
    /// Share of 503s of an outage.
    outage: Option<f64>,
    n_alive: f64,
    dt: f64,
}

fn empty_hour(bounds: usize) -> ServiceHour {
    ServiceHour {
        le: vec![0; bounds + 1],
        ..Default::default()
    }
}

fn add_route(into: &mut ServiceHour, handler: &str, requests: u64, le: &[u64], bounds: usize) {
    let rh = into
        .handlers
        .entry(handler.to_string())
        .or_insert_with(|| truth::RouteHour {
            requests: 0,
            le: vec![0; bounds + 1],
        });
    rh.requests += requests;
    for (x, y) in rh.le.iter_mut().zip(le) {
        *x += y;
    }
}

impl Model {
    /// Serves one interval of requests on every API.
    pub(super) fn http_traffic(&mut self, t0: i64, t1: i64, dt: f64) -> Effects {
        let mut fx = Effects {
            uploads: Vec::new(),
            orders: Vec::new(),
            render_views: self
                .apis
                .iter()
                .map(|a| vec![0; a.instances.len()])
                .collect(),
            jobs: self
                .apis
                .iter()
                .map(|a| vec![0; a.instances.len()])
                .collect(),
            job_status: 0,
            events: vec![0; self.apis.len()],
            db_load: vec![0.0; self.dbs.len()],
        };
        for a in 0..self.apis.len() {
            self.api_traffic(a, t0, t1, dt, &mut fx);
        }
        fx
    }

    fn api_traffic(&mut self, a: usize, t0: i64, t1: i64, dt: f64, fx: &mut Effects) {
        let mut rate = self.apis[a].peak_rps * self.profile(a, t1);
        // Slow multiplicative noise, different per service.
        let z: f64 = StandardNormal.sample(&mut self.rng);
        self.apis[a].noise = 0.97 * self.apis[a].noise + 0.03 * z;
        rate *= (0.15 * self.apis[a].noise).exp();
        let service = self.apis[a].service.clone();
        let slow = self
            .active(IncidentKind::SlowRelease, &service, t1)
            .map(|x| x.incident.magnitude.unwrap_or(4.0))
            .unwrap_or(1.0);
        let outage = self
            .outage(a, t1)
            .map(|x| x.incident.magnitude.unwrap_or(0.6));
        let alive: Vec<usize> = (0..self.apis[a].instances.len())
            .filter(|i| self.apis[a].instances[*i].down_until_ms <= t0)
            .collect();
        let cond = Conditions {
            rate,
            slow,
            outage,
            n_alive: alive.len().max(1) as f64,
            dt,
        };
        let bounds = self.latency_bounds.len();
        let mut service_hour = empty_hour(bounds);
        for &i in &alive {
            let inst_requests = self.instance_traffic(a, i, &cond, &mut service_hour, fx);
            let max = self
                .truth
                .max_requests_per_interval
                .entry(service.clone())
                .or_insert(0);
            *max = (*max).max(inst_requests);
            // Requests of an instance that restarts in this interval are counted and then
            // lost with the reset: remember them for the truth.
            self.pending_requests(a, i, inst_requests);
        }
        let sh = self
            .truth
            .hour(t0)
            .services
            .entry(service)
            .or_insert_with(|| empty_hour(bounds));
        sh.requests += service_hour.requests;
        sh.c2xx += service_hour.c2xx;
        sh.c4xx += service_hour.c4xx;
        sh.c5xx += service_hour.c5xx;
        for (x, y) in sh.le.iter_mut().zip(&service_hour.le) {
            *x += *y;
        }
        for (h, r) in &service_hour.handlers {
            add_route(sh, h, r.requests, &r.le, bounds);
        }
        self.apis[a].noise = self.apis[a].noise.clamp(-3.0, 3.0);
        self.instance_gauges(a, rate, slow, outage.is_some(), t1, dt);
    }

    /// One instance's requests on every route; returns how many it served.
    fn instance_traffic(
        &mut self,
        a: usize,
        i: usize,
        c: &Conditions,
        service_hour: &mut ServiceHour,
        fx: &mut Effects,
    ) -> u64 {
        let mut inst_requests = 0u64;
        let mut cpu = 0.03 * c.dt;
        for r in 0..self.apis[a].routes.len() {
            let share = self.apis[a].routes[r].share;
            let n = poisson(&mut self.rng, c.rate * share / c.n_alive * c.dt);
            if n == 0 {
                continue;
            }
            inst_requests += n;
            self.route_traffic(a, i, r, n, c, &mut cpu, service_hour, fx);
        }
        let inst = &self.apis[a].instances[i];
        self.reg.inc(inst.cpu, cpu);
        inst_requests
    }

    /// `n` requests of one route on one instance, adding the CPU seconds they take to `cpu`.
    #[allow(clippy::too_many_arguments)]
    fn route_traffic(
        &mut self,
        a: usize,
        i: usize,
        r: usize,
        n: u64,
        c: &Conditions,
        cpu: &mut f64,
        service_hour: &mut ServiceHour,
        fx: &mut Effects,
    ) {
        let bounds = self.latency_bounds.len();
        let p503 = c.outage.unwrap_or(0.0);
        let p500 = self.apis[a].base_500 * if c.slow > 1.0 { 4.0 } else { 1.0 };
        let p4 = self.apis[a].routes[r].client_error_share();
        let mut counts = [0u64; 4];
        let mut route_le = vec![0u64; bounds + 1];
        for _ in 0..n {
            let u: f64 = self.rng.random();
            let class = if u < p503 {
                3
            } else if u < p503 + p500 {
                2
            } else if u < p503 + p500 + p4 {
                1
            } else {
                0
            };
            counts[class] += 1;
            let bucket = self.request(a, i, r, class, c, fx);
            for le in &mut service_hour.le[bucket..] {
                *le += 1;
            }
            for le in &mut route_le[bucket..] {
                *le += 1;
            }
            *cpu += self.apis[a].routes[r].cpu_seconds * if class == 3 { 0.1 } else { 1.0 };
        }
        let codes = self.apis[a].instances[i].routes[r].codes;
        for (code, k) in counts.iter().enumerate() {
            if *k > 0 {
                self.reg.inc(codes[code], *k as f64);
            }
        }
        service_hour.requests += n;
        service_hour.c2xx += counts[0];
        service_hour.c4xx += counts[1];
        service_hour.c5xx += counts[2] + counts[3];
        let handler = self.apis[a].routes[r].handler.clone();
        add_route(service_hour, &handler, n, &route_le, bounds);
        let get = self.apis[a].routes[r].method == "GET";
        let db = self.apis[a].db;
        fx.db_load[db] += (n - counts[3]) as f64 * if get { 3.0 } else { 6.0 };
    }

    /// One request of status class `class` (0 ok, 1 client error, 2 500, 3 503): its
    /// latency, sizes, user and effect. Returns its latency bucket.
    fn request(
        &mut self,
        a: usize,
        i: usize,
        r: usize,
        class: usize,
        c: &Conditions,
        fx: &mut Effects,
    ) -> usize {
        let def = &self.apis[a].routes[r];
        let (median_s, sigma, req_def, resp_def, effect) = (
            def.median_seconds,
            def.sigma,
            def.request_bytes,
            def.response_bytes,
            def.effect,
        );
        let latency = match class {
            3 => {
                lognormal(&mut self.rng, 0.004, 0.5)
                    + if c.outage.is_some() {
                        lognormal(&mut self.rng, 2.0, 0.8)
                    } else {
                        0.0
                    }
            }
            2 => lognormal(&mut self.rng, median_s * 3.0, 0.8),
            _ => lognormal(
                &mut self.rng,
                median_s * c.slow * if c.outage.is_some() { 3.0 } else { 1.0 },
                sigma,
            ),
        };
        let series = &self.apis[a].instances[i].routes[r];
        let (lat_h, req_h, resp_h) = (series.latency, series.req_size, series.resp_size);
        self.reg.observe(lat_h, latency);
        let bucket = self.latency_bounds.partition_point(|b| *b < latency);
        let req = lognormal(&mut self.rng, req_def[0], req_def[1]);
        self.reg.observe(req_h, req);
        let resp = if class == 0 {
            lognormal(&mut self.rng, resp_def[0], resp_def[1])
        } else {
            lognormal(&mut self.rng, 250.0, 0.2)
        };
        self.reg.observe(resp_h, resp);
        let uu: f64 = self.rng.random();
        let user_cum = &self.apis[a].user_cum;
        let user = user_cum
            .partition_point(|c| *c < uu)
            .min(user_cum.len() - 1);
        let us = self.apis[a].instances[i].users[user];
        self.reg.inc(us, 1.0);
        if class == 0 {
            self.effect(a, i, effect, req, fx);
        }
        bucket
    }

    /// What a successful request does besides answering.
    fn effect(&mut self, a: usize, i: usize, effect: Effect, req_bytes: f64, fx: &mut Effects) {
        match effect {
            Effect::Upload => {
                if let Some(s3) = &self.s3 {
                    let uu: f64 =
                        self.rng.random::<f64>() * s3.user_cum.last().copied().unwrap_or(1.0);
                    let who = s3
                        .user_cum
                        .partition_point(|c| *c < uu)
                        .min(s3.user_cum.len() - 1);
                    fx.uploads.push((a, i, req_bytes, who));
                }
            }
            Effect::Order => fx.orders.push((
                i,
                if self.rng.random::<f64>() < 0.8 {
                    "web"
                } else {
                    "api"
                },
            )),
            Effect::ViewRender => {
                if self.rng.random::<f64>() < 0.25 {
                    fx.render_views[a][i] += 1;
                }
            }
            Effect::Job => fx.jobs[a][i] += 1,
            Effect::JobStatus => fx.job_status += 1,
            Effect::Event => fx.events[a] += 1,
            Effect::None => {}
        }
    }

    fn pending_requests(&mut self, a: usize, i: usize, n: u64) {
        let name = &self.apis[a].instances[i].name;
        if let Some(r) = self
            .truth
            .restarts
            .iter_mut()
            .rev()
            .find(|r| &r.instance == name && r.at == i64::MIN)
        {
            r.lost_requests += n;
        }
    }

    /// In-flight requests, sessions and memory of API `a`'s instances.
    pub(super) fn instance_gauges(
        &mut self,
        a: usize,
        rate: f64,
        slow: f64,
        outage: bool,
        t1: i64,
        dt: f64,
    ) {
        let n = self.apis[a].instances.len() as f64;
        let (sessions, base_peak, base_memory) = (
            self.apis[a].sessions,
            self.apis[a].base_peak_rps,
            self.apis[a].memory_bytes,
        );
        for i in 0..self.apis[a].instances.len() {
            let down = self.apis[a].instances[i].down_until_ms > t1;
            let share = if down { 0.0 } else { rate / n };
            let mean_latency = 0.08 * slow * if outage { 4.0 } else { 1.0 };
            let inflight = poisson(&mut self.rng, share * mean_latency);
            let inst = &mut self.apis[a].instances[i];
            inst.since_restart_ms += (dt * 1000.0) as i64;
            let s = inst.in_flight;
            self.reg.set(s, inflight as f64);
            if let Some(sess) = inst.sessions {
                // Shoppers make a request every ~12 s; staff sessions follow office load.
                let v = if sessions == Sessions::Shoppers {
                    share * 12.0
                } else if down {
                    0.0
                } else {
                    (3.0 + 35.0 * rate / base_peak) / n
                };
                let z: f64 = self.rng.random();
                self.reg.set(sess, (v * (0.9 + 0.2 * z)).round());
            }
            let leak = inst.since_restart_ms as f64 / 3_600_000.0 * 1.5e6;
            let z: f64 = self.rng.random();
            let mem = base_memory + leak + share * 4e6 + z * 5e6;
            let inst = &self.apis[a].instances[i];
            self.reg.set(inst.memory, mem.round());
        }
    }
}
