//! The backends: PostgreSQL (client latencies seen by the APIs, the servers' own series)
//! and S3 (MinIO's request counters and bucket usage, client latencies).

use std::collections::BTreeMap;

use rand::RngExt;

use super::{Effects, Model, S3_BUCKETS, lognormal, poisson, smoothstep};
use crate::scenario::IncidentKind;

/// One S3 request: bucket, MinIO api, client API, client instance, bytes written.
type S3Op = (String, &'static str, usize, usize, f64);

impl Model {
    /// A connection pile-up on database `d` at `t1`: (progress 0..1, peak share).
    fn pileup(&self, d: usize, t1: i64) -> Option<(f64, f64)> {
        self.active(IncidentKind::DbConnectionPileup, &self.dbs[d].name, t1)
            .map(|x| {
                (
                    x.elapsed_ms as f64 / x.incident.duration.millis() as f64,
                    x.incident.magnitude.unwrap_or(0.9),
                )
            })
    }

    /// The database client histograms of every API instance (one operation in ten is
    /// recorded, as sampled client spans are).
    pub(super) fn database_clients(&mut self, load: &[f64], dt: f64, t1: i64) {
        for a in 0..self.apis.len() {
            let db = self.apis[a].db;
            let pile = self.pileup(db, t1).map(|x| x.0);
            let slow = 1.0 + pile.map(|p| 6.0 * p).unwrap_or(0.0);
            let n_inst = self.apis[a].instances.len() as f64;
            let per_instance = load[db] / dt / 3.0 / n_inst * dt;
            for i in 0..self.apis[a].instances.len() {
                if self.apis[a].instances[i].down_until_ms > t1 {
                    continue;
                }
                let ops = self.apis[a].instances[i].db_ops.clone();
                for (op, ok, err) in ops {
                    let share = match op {
                        "SELECT" => 0.8,
                        "INSERT" => 0.08,
                        _ => 0.12,
                    };
                    let n = poisson(&mut self.rng, per_instance * share * 0.1);
                    let err_p = 0.0005
                        + pile
                            .map(|p| if p > 0.7 { 0.05 } else { 0.0 })
                            .unwrap_or(0.0);
                    let median = match op {
                        "SELECT" => 0.0018,
                        "INSERT" => 0.0025,
                        _ => 0.004,
                    };
                    for _ in 0..n {
                        let d = lognormal(&mut self.rng, median * slow, 0.7);
                        if self.rng.random::<f64>() < err_p {
                            self.reg.observe(err, d);
                        } else {
                            self.reg.observe(ok, d);
                        }
                    }
                }
            }
        }
    }

    /// The PostgreSQL servers' own series, from the queries the APIs sent them.
    pub(super) fn databases(&mut self, load: &[f64], t1: i64, dt: f64) {
        for (d, queries) in load.iter().enumerate() {
            self.database(d, *queries, t1, dt);
        }
    }

    fn database(&mut self, d: usize, queries: f64, t1: i64, dt: f64) {
        let qps = if dt > 0.0 { queries / dt } else { 0.0 };
        let pile = self.pileup(d, t1);
        let db = &mut self.dbs[d];
        db.qps = qps;
        let target_idle_tx = match pile {
            Some((p, peak)) => {
                (peak * db.max_conn - db.pool - 8.0).max(0.0) * smoothstep(p, 0.0, 0.75)
            }
            None => 0.5,
        };
        db.idle_in_tx = if pile.is_some() {
            target_idle_tx
        } else {
            db.idle_in_tx * 0.3 + 0.5 * 0.7
        };
        let slow = 1.0 + pile.map(|(p, _)| 6.0 * p).unwrap_or(0.0);
        let conns = self.connections(d, qps, slow, t1);
        let db = &mut self.dbs[d];
        let writes = qps * 0.2;
        db.writes = writes;
        for (sid, base, growth) in &mut db.sizes {
            if *growth > 0.0 {
                *base += *growth * dt / 86400.0 * (0.4 + writes / 60.0);
            }
            self.reg.set(*sid, base.round());
        }
        self.statements(d, qps, slow, pile.is_some(), dt);
        let db = &self.dbs[d];
        let z: f64 = self.rng.random();
        self.reg.set(
            db.lag,
            (0.05 + writes / 400.0 + 0.2 * z + if pile.is_some() { 2.0 } else { 0.0 }) * 1.0,
        );
        let pss = db.memory_bytes + conns * 9.5e6;
        self.reg.set(db.mem_pss, pss.round());
        if dt > 0.0 {
            let hour = self.truth.hour(t1 - 1);
            let c = hour
                .max_db_connections
                .entry(db.name.clone())
                .or_insert(0.0);
            *c = c.max(conns);
            let mem = hour
                .max_db_memory_bytes
                .entry(db.name.clone())
                .or_insert(0.0);
            *mem = mem.max(pss.round());
        }
        self.reg.set(db.mem_rss, (pss * 2.6).round());
        // Address space: the shared buffers' mapping and the binaries, as on a real host.
        self.reg.set(db.mem_virtual, (pss * 2.6 + 2.3e8).round());
        self.reg.inc(db.cpu[0], dt * (0.05 + qps * 0.0009 * slow));
        self.reg.inc(db.cpu[1], dt * (0.02 + qps * 0.0002));
        self.reg
            .inc(db.disk[0], dt * (0.03 + writes / 300.0).min(0.95));
        self.reg
            .inc(db.disk[1], dt * (0.01 + writes / 900.0).min(0.95));
    }

    /// Connections by role and state; returns them all (plus the maintenance one).
    fn connections(&mut self, d: usize, qps: f64, slow: f64, t1: i64) -> f64 {
        let db = &self.dbs[d];
        let active = (qps * 0.004 * slow).max(1.0);
        let idle_tx = db.idle_in_tx.round();
        let app_active = active.round().min(db.pool);
        let app_idle = (db.pool - app_active).max(0.0);
        let reporting_active = if (t1 / 3_600_000) % 6 == 2 { 2.0 } else { 0.0 };
        let reporting_idle = 2.0 - reporting_active;
        let vals = [
            (("app", "active"), app_active),
            (("app", "idle"), app_idle),
            (("app", "idle in transaction"), idle_tx),
            (("reporting", "active"), reporting_active),
            (("reporting", "idle"), reporting_idle),
            (("admin", "idle"), 1.0),
        ];
        let mut by_state: BTreeMap<&str, f64> = BTreeMap::new();
        for ((u, st), v) in vals {
            self.reg.set(db.by_user[&(u, st)], v);
            *by_state.entry(st).or_insert(0.0) += v;
        }
        for (st, sid) in &db.activity {
            self.reg.set(*sid, by_state.get(st).copied().unwrap_or(0.0));
        }
        by_state.values().sum::<f64>() + 1.0
    }

    /// pg_stat_statements calls and time, rollbacks and deadlocks.
    fn statements(&mut self, d: usize, qps: f64, slow: f64, pile: bool, dt: f64) {
        let db = &self.dbs[d];
        for ((u, cmd), (c, s)) in &db.calls {
            let (share, mean) = match (*u, *cmd) {
                ("app", "select") => (0.7, 0.0012),
                ("app", "insert") => (0.08, 0.0009),
                ("app", "update") => (0.12, 0.0021),
                ("app", "delete") => (0.01, 0.0015),
                ("app", _) => (0.05, 0.0004),
                _ => (0.04, 0.06),
            };
            let n = poisson(&mut self.rng, qps * dt * share);
            if n > 0 {
                self.reg.inc(*c, n as f64);
                self.reg.inc(*s, n as f64 * mean * slow);
            }
        }
        let rollbacks = poisson(
            &mut self.rng,
            (0.02 + qps * 0.0004) * dt * if pile { 20.0 } else { 1.0 },
        );
        self.reg.inc(db.rollback, rollbacks as f64);
        let dl = poisson(&mut self.rng, 0.3 / 86400.0 * dt);
        self.reg.inc(db.deadlocks, dl as f64);
    }

    /// S3 requests of the interval's uploads, render views and jobs; MinIO's scanner.
    pub(super) fn storage(&mut self, t1: i64, fx: &Effects) {
        if self.s3.is_none() {
            return;
        }
        let ops = self.s3_ops(fx);
        for (bucket, api, a, inst, bytes) in ops {
            self.s3_request(t1, &bucket, api, a, inst, bytes);
        }
        self.scanner(t1);
    }

    /// The interval's S3 requests in order: uploads, render views, jobs (one in ten
    /// writes a new preview render).
    fn s3_ops(&mut self, fx: &Effects) -> Vec<S3Op> {
        let s3 = self.s3.as_mut().expect("checked by the caller");
        let (models, renders) = (s3.models.clone(), s3.renders.clone());
        let mut ops: Vec<S3Op> = Vec::new();
        for (a, inst, bytes, user) in &fx.uploads {
            ops.push((models.clone(), "putobject", *a, *inst, *bytes));
            *s3.bytes.get_mut(&models).expect("bucket") += bytes;
            *s3.objects.get_mut(&models).expect("bucket") += 1.0;
            s3.user_bytes[*user] += bytes;
            if let Some(h) = self.apis[*a].instances[*inst].upload_size {
                self.reg.observe(h, *bytes);
            }
        }
        for (a, views) in fx.render_views.iter().enumerate() {
            for (inst, n) in views.iter().enumerate() {
                for _ in 0..*n {
                    ops.push((renders.clone(), "getobject", a, inst, 0.0));
                }
            }
        }
        for (a, jobs) in fx.jobs.iter().enumerate() {
            for (inst, n) in jobs.iter().enumerate() {
                for _ in 0..*n {
                    ops.push((models.clone(), "getobject", a, inst, 0.0));
                    if self.rng.random::<f64>() < 0.1 {
                        let size = lognormal(&mut self.rng, 4.5e5, 0.5);
                        ops.push((renders.clone(), "putobject", a, inst, size));
                        *s3.bytes.get_mut(&renders).expect("bucket") += size;
                        *s3.objects.get_mut(&renders).expect("bucket") += 1.0;
                    }
                }
            }
        }
        ops
    }

    fn s3_request(
        &mut self,
        t1: i64,
        bucket: &str,
        api: &'static str,
        a: usize,
        inst: usize,
        bytes: f64,
    ) {
        let s3 = self.s3.as_ref().expect("checked by the caller");
        let server = self.rng.random_range(0..s3.servers.len());
        let (r, e5, _, ttfb) = s3.servers[server].requests[&(bucket.to_string(), api)];
        self.reg.inc(r, 1.0);
        let failed = self.rng.random::<f64>() < 0.0004;
        if failed {
            self.reg.inc(e5, 1.0);
        }
        let t = lognormal(&mut self.rng, 0.035, 0.6);
        self.reg.observe(ttfb, t);
        let transfer = if bytes > 0.0 {
            bytes / 8e7
        } else {
            lognormal(&mut self.rng, 0.02, 0.5)
        };
        let op = if api == "putobject" {
            "PutObject"
        } else {
            "GetObject"
        };
        if let Some((_, _, ok, err)) = self.apis[a]
            .instances
            .get(inst)
            .and_then(|i| i.s3_ops.iter().find(|(b, o, _, _)| b == bucket && *o == op))
        {
            self.reg
                .observe(if failed { *err } else { *ok }, t + transfer);
            self.truth.s3_latency(t1 - 1, t + transfer, &S3_BUCKETS);
        }
    }

    /// MinIO's scanner refreshes bucket usage every five minutes; the shop's storage
    /// report then lists the top 20 users by stored model bytes.
    fn scanner(&mut self, t1: i64) {
        let Some(s3) = self.s3.as_mut() else { return };
        if t1 < s3.next_scan_ms {
            return;
        }
        s3.next_scan_ms = t1 - t1.rem_euclid(300_000) + 300_000;
        self.scan_buckets();
        let s3 = self.s3.as_mut().expect("checked above");
        let mut idx: Vec<usize> = (0..s3.user_bytes.len()).collect();
        idx.sort_by(|a, b| s3.user_bytes[*b].total_cmp(&s3.user_bytes[*a]));
        let top: Vec<usize> = idx.into_iter().take(20).collect();
        for (u, sid) in &s3.user_gauges {
            if !top.contains(u) {
                self.reg.series[*sid].born = false;
            }
        }
        for u in top {
            let sid = match s3.user_gauges.get(&u) {
                Some(s) => *s,
                None => {
                    let name = format!("user{u:04}");
                    let s = self.reg.lazy_gauge(
                        "shop_user_model_storage_bytes",
                        "Model bytes stored per user (top 20)",
                        s3.storage_tid,
                        &[("user", &name)],
                    );
                    s3.user_gauges.insert(u, s);
                    s
                }
            };
            self.reg.set(sid, s3.user_bytes[u].round());
        }
    }

    /// MinIO's bucket usage, as its scanner reports it.
    pub(super) fn scan_buckets(&mut self) {
        let Some(s3) = &self.s3 else { return };
        for srv in &s3.servers {
            for (bucket, sid) in &srv.usage_bytes {
                self.reg.set(*sid, s3.bytes[bucket].round());
            }
            for (bucket, sid) in &srv.usage_objects {
                self.reg.set(*sid, s3.objects[bucket]);
            }
        }
    }
}
