//! `vitals-sim drive --postgres`: drives real PostgreSQL servers through a scripted scenario
//! and writes what it did (the truth the end-to-end tests compare vitals with).
//!
//! One server per database of the reference system (`shop-db` holds `shop`, `mes-db` holds
//! `mes`). Against each, as its superuser, it creates the roles `app`, `analyst` and
//! `migration`, the database and a table `orders`; then, after a settle time (so that a
//! scrape sees the state before the scenario), it runs the scenario as those roles:
//! INSERT/SELECT/UPDATE/DELETE mixes, a slow query, INSERTs that fail with a unique
//! violation, a transaction rolled back, DDL, and (on `mes-db`) a deadlock between two
//! transactions. Every statement's outcome is counted the way the server counts it:
//! `pg_stat_statements` records completed statements only (per role, database and leading
//! keyword), `pg_stat_database.xact_rollback` counts every transaction that ended in a
//! rollback (failed autocommit statements too), `deadlocks` each deadlock detected.
//!
//! The applications' side of the metric contract, the `db_client_operation_duration_seconds`
//! histogram (labels `service`, `db_operation_name`, `error_type`: the SQLSTATE, empty on
//! success), is measured around each data statement and served on `--listen` (its series of
//! successes at zero from the start). After the scenario it holds idle connections per role
//! (the truth lists them) until `--hold` ends.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tokio_postgres::{Client, NoTls};

/// The client histogram's bucket bounds (seconds), those the simulator uses.
const BUCKETS: [f64; 8] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5];

/// The data operations the client histogram measures.
const OPERATIONS: [&str; 4] = ["SELECT", "INSERT", "UPDATE", "DELETE"];

/// The roles the scenario connects as.
pub const ROLES: [&str; 3] = ["app", "analyst", "migration"];

/// One server to drive: its `service` name, database and superuser connection string
/// (`host=127.0.0.1 port=5432 user=postgres`).
#[derive(Clone, Debug)]
pub struct Server {
    pub service: String,
    pub database: String,
    pub conninfo: String,
}

impl Server {
    /// `service=database=conninfo`, as the command line gives it (`--postgres`).
    pub fn parse(s: &str) -> Result<Server, String> {
        let mut it = s.splitn(3, '=');
        match (it.next(), it.next(), it.next()) {
            (Some(service), Some(database), Some(conninfo))
                if !service.is_empty() && !database.is_empty() && !conninfo.is_empty() =>
            {
                Ok(Server {
                    service: service.into(),
                    database: database.into(),
                    conninfo: conninfo.into(),
                })
            }
            _ => Err(
                "expected SERVICE=DATABASE=CONNINFO, e.g. 'shop-db=shop=host=127.0.0.1 port=5432 user=postgres'"
                    .into(),
            ),
        }
    }
}

/// What the scenario did to one server.
#[derive(Debug, Default, Serialize)]
pub struct ServerTruth {
    pub database: String,
    /// Completed statements by role and leading keyword (select, insert, update, delete,
    /// other), as `pg_stat_statements` counts them.
    pub statements: BTreeMap<String, BTreeMap<String, u64>>,
    /// Transactions of the scenario that ended in a rollback.
    pub rollbacks: u64,
    /// Deadlocks the server detected.
    pub deadlocks: u64,
    /// Data statements the application side measured, by operation and SQLSTATE ("" on
    /// success): the `_count` of the client histogram.
    pub operations: BTreeMap<String, BTreeMap<String, u64>>,
    /// Idle connections held after the scenario, by role.
    pub held: BTreeMap<String, u64>,
}

#[derive(Debug, Default, Serialize)]
pub struct Truth {
    /// Unix seconds: the scenario's first and last statement.
    pub started: f64,
    pub finished: f64,
    /// Unix seconds: when the held connections were all open (gauges valid from then).
    pub holding_since: f64,
    pub servers: BTreeMap<String, ServerTruth>,
}

type Hist = BTreeMap<(String, String, String), (Vec<u64>, f64, u64)>;

/// The application-side histogram, shared with the metrics listener.
#[derive(Clone, Default)]
pub struct Metrics(Arc<Mutex<Hist>>);

impl Metrics {
    /// The histogram of `servers`, their successful operations' series declared at zero.
    pub fn new(servers: &[Server]) -> Metrics {
        let m = Metrics::default();
        for s in servers {
            for op in OPERATIONS {
                m.declare(&s.service, op);
            }
        }
        m
    }

    /// Exports a successful operation's series at zero before its first observation, as
    /// an application that registers its metrics at start-up does: a burst right after is
    /// then an increase `rate()` sees, not the birth of a series.
    fn declare(&self, service: &str, op: &str) {
        let mut h = self.0.lock().expect("metrics lock");
        h.entry((service.into(), op.into(), String::new()))
            .or_insert_with(|| (vec![0; BUCKETS.len()], 0.0, 0));
    }

    fn observe(&self, service: &str, op: &str, error: &str, secs: f64) {
        let mut h = self.0.lock().expect("metrics lock");
        let e = h
            .entry((service.into(), op.into(), error.into()))
            .or_insert_with(|| (vec![0; BUCKETS.len()], 0.0, 0));
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                e.0[i] += 1;
            }
        }
        e.1 += secs;
        e.2 += 1;
    }

    /// Prometheus text exposition of the histogram.
    pub fn exposition(&self) -> String {
        let h = self.0.lock().expect("metrics lock");
        let mut out = String::from(
            "# HELP db_client_operation_duration_seconds Database operations seen by the client\n# TYPE db_client_operation_duration_seconds histogram\n",
        );
        for ((service, op, error), (buckets, sum, count)) in h.iter() {
            let l =
                format!("service=\"{service}\",db_operation_name=\"{op}\",error_type=\"{error}\"");
            for (b, n) in BUCKETS.iter().zip(buckets) {
                out.push_str(&format!(
                    "db_client_operation_duration_seconds_bucket{{{l},le=\"{b}\"}} {n}\n"
                ));
            }
            out.push_str(&format!(
                "db_client_operation_duration_seconds_bucket{{{l},le=\"+Inf\"}} {count}\n"
            ));
            out.push_str(&format!(
                "db_client_operation_duration_seconds_sum{{{l}}} {sum}\n"
            ));
            out.push_str(&format!(
                "db_client_operation_duration_seconds_count{{{l}}} {count}\n"
            ));
        }
        out
    }
}

fn now_s() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

async fn connect(conninfo: &str) -> Result<Client, String> {
    let (client, conn) = tokio_postgres::connect(conninfo, NoTls)
        .await
        .map_err(|e| format!("cannot connect ({conninfo}): {e}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

/// `conninfo` with another user and database.
fn as_role(conninfo: &str, user: &str, db: &str) -> String {
    format!("{conninfo} user={user} dbname={db}")
}

/// Creates the roles, the database and its table (again on a second run: the table is
/// emptied).
async fn setup(s: &Server) -> Result<(), String> {
    let admin = connect(&format!("{} dbname=postgres", s.conninfo)).await?;
    for role in ROLES {
        let exists = admin
            .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&role])
            .await
            .map_err(|e| e.to_string())?;
        if exists.is_none() {
            admin
                .batch_execute(&format!("CREATE ROLE {role} LOGIN"))
                .await
                .map_err(|e| e.to_string())?;
        }
    }
    let exists = admin
        .query_opt(
            "SELECT 1 FROM pg_database WHERE datname = $1",
            &[&s.database],
        )
        .await
        .map_err(|e| e.to_string())?;
    if exists.is_none() {
        admin
            .batch_execute(&format!("CREATE DATABASE {}", s.database))
            .await
            .map_err(|e| e.to_string())?;
    }
    admin
        .batch_execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        .await
        .map_err(|e| format!("pg_stat_statements (shared_preload_libraries?): {e}"))?;
    let db = connect(&format!("{} dbname={}", s.conninfo, s.database)).await?;
    db.batch_execute(
        "CREATE TABLE IF NOT EXISTS orders (id int PRIMARY KEY, sku text NOT NULL, qty int NOT NULL);
         TRUNCATE orders;
         INSERT INTO orders SELECT g, 'seed-' || g, 1 FROM generate_series(1, 10) g;
         GRANT SELECT, INSERT, UPDATE, DELETE ON orders TO app, migration;
         GRANT SELECT ON orders TO analyst;
         GRANT CREATE ON SCHEMA public TO migration;
         DROP TABLE IF EXISTS audit;",
    )
    .await
    .map_err(|e| e.to_string())?;
    Ok(())
}

/// Counts what one role's statements did.
struct Session<'a> {
    client: Client,
    role: &'a str,
    service: &'a str,
    metrics: &'a Metrics,
}

impl Session<'_> {
    /// A data statement (`op` SELECT/INSERT/UPDATE/DELETE), measured on the client side;
    /// `Ok` counts it in `pg_stat_statements`, an error in `xact_rollback` when outside a
    /// transaction (the caller knows which).
    async fn data(
        &self,
        t: &mut ServerTruth,
        op: &str,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<(), String> {
        let started = Instant::now();
        let r = self.client.execute(sql, params).await;
        let secs = started.elapsed().as_secs_f64();
        let code = match &r {
            Ok(_) => String::new(),
            Err(e) => e
                .code()
                .map(|c| c.code().to_string())
                .ok_or_else(|| format!("{op} as {}: {e}", self.role))?,
        };
        self.metrics.observe(self.service, op, &code, secs);
        *t.operations
            .entry(op.into())
            .or_default()
            .entry(code.clone())
            .or_default() += 1;
        match r {
            Ok(_) => {
                self.counted(t, &op.to_ascii_lowercase());
                Ok(())
            }
            Err(_) => Err(code),
        }
    }

    /// A statement outside the data operations (BEGIN, COMMIT, DDL): `pg_stat_statements`
    /// counts it as `other`.
    async fn other(&self, t: &mut ServerTruth, sql: &str) -> Result<(), String> {
        self.client
            .batch_execute(sql)
            .await
            .map_err(|e| format!("{sql} as {}: {e}", self.role))?;
        self.counted(t, "other");
        Ok(())
    }

    fn counted(&self, t: &mut ServerTruth, command: &str) {
        *t.statements
            .entry(self.role.into())
            .or_default()
            .entry(command.into())
            .or_default() += 1;
    }
}

/// The scenario on one server.
async fn scenario(s: &Server, metrics: &Metrics, t: &mut ServerTruth) -> Result<(), String> {
    let open = |role: &'static str| {
        let conninfo = as_role(&s.conninfo, role, &s.database);
        async move { connect(&conninfo).await }
    };
    let app = Session {
        client: open("app").await?,
        role: "app",
        service: &s.service,
        metrics,
    };
    let base: i32 = 100;
    for i in 0..20 {
        let (id, sku, qty) = (base + i, format!("sku-{i}"), i % 3 + 1);
        app.data(
            t,
            "INSERT",
            "INSERT INTO orders (id, sku, qty) VALUES ($1, $2, $3)",
            &[&id, &sku, &qty],
        )
        .await?;
    }
    for i in 0..30 {
        let id = base + i % 20;
        app.data(t, "SELECT", "SELECT qty FROM orders WHERE id = $1", &[&id])
            .await?;
    }
    for i in 0..10 {
        let id = base + i;
        app.data(
            t,
            "UPDATE",
            "UPDATE orders SET qty = qty + 1 WHERE id = $1",
            &[&id],
        )
        .await?;
    }
    for i in 15..20 {
        let id = base + i;
        app.data(t, "DELETE", "DELETE FROM orders WHERE id = $1", &[&id])
            .await?;
    }
    // Three INSERTs of an existing key: each fails (23505), and its implicit transaction
    // rolls back; pg_stat_statements does not count them.
    for i in 0..3 {
        let (id, sku, qty) = (base + i, "dup".to_string(), 1);
        let r = app
            .data(
                t,
                "INSERT",
                "INSERT INTO orders (id, sku, qty) VALUES ($1, $2, $3)",
                &[&id, &sku, &qty],
            )
            .await;
        match r {
            Err(code) if code == "23505" => t.rollbacks += 1,
            other => return Err(format!("a duplicate key was accepted: {other:?}")),
        }
    }
    // A transaction rolled back by the application.
    app.other(t, "BEGIN").await?;
    let (id, sku, qty) = (base + 50, "abandoned".to_string(), 1);
    app.data(
        t,
        "INSERT",
        "INSERT INTO orders (id, sku, qty) VALUES ($1, $2, $3)",
        &[&id, &sku, &qty],
    )
    .await?;
    app.other(t, "ROLLBACK").await?;
    t.rollbacks += 1;

    // The analyst: reads, one of them slow.
    let analyst = Session {
        client: open("analyst").await?,
        role: "analyst",
        service: &s.service,
        metrics,
    };
    for _ in 0..4 {
        analyst
            .data(t, "SELECT", "SELECT count(*) FROM orders", &[])
            .await?;
    }
    analyst
        .data(t, "SELECT", "SELECT pg_sleep(0.3)", &[])
        .await?;

    // The migration: DDL.
    let migration = Session {
        client: open("migration").await?,
        role: "migration",
        service: &s.service,
        metrics,
    };
    migration
        .other(t, "CREATE TABLE audit (id int, at timestamptz)")
        .await?;
    migration
        .other(t, "ALTER TABLE audit ADD COLUMN note text")
        .await?;
    Ok(())
}

/// Two transactions that lock rows 1 and 2 in opposite orders: the server detects the
/// deadlock (after `deadlock_timeout`, 1 s by default) and aborts one of them.
async fn deadlock(s: &Server, metrics: &Metrics, t: &mut ServerTruth) -> Result<(), String> {
    let conninfo = as_role(&s.conninfo, "app", &s.database);
    let a = Session {
        client: connect(&conninfo).await?,
        role: "app",
        service: &s.service,
        metrics,
    };
    let b = Session {
        client: connect(&conninfo).await?,
        role: "app",
        service: &s.service,
        metrics,
    };
    let upd = "UPDATE orders SET qty = qty + 1 WHERE id = $1";
    let (one, two) = (1i32, 2i32);
    a.other(t, "BEGIN").await?;
    b.other(t, "BEGIN").await?;
    a.data(t, "UPDATE", upd, &[&one]).await?;
    b.data(t, "UPDATE", upd, &[&two]).await?;
    // Each half records into its own truth, merged below (both borrow `t` otherwise).
    let (mut ta, mut tb) = (ServerTruth::default(), ServerTruth::default());
    type Params<'p> = &'p [&'p (dyn tokio_postgres::types::ToSql + Sync)];
    let (p_two, p_one): (Params, Params) = (&[&two], &[&one]);
    let (ra, rb) = tokio::join!(a.data(&mut ta, "UPDATE", upd, p_two), async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        b.data(&mut tb, "UPDATE", upd, p_one).await
    });
    merge(t, ta);
    merge(t, tb);
    let failed = [&ra, &rb]
        .iter()
        .filter(|r| matches!(r, Err(code) if code == "40P01"))
        .count();
    if failed != 1
        || [&ra, &rb]
            .iter()
            .any(|r| matches!(r, Err(c) if c != "40P01"))
    {
        return Err(format!("expected one deadlock victim: {ra:?} {rb:?}"));
    }
    t.deadlocks += 1;
    // The victim's transaction is aborted: its ROLLBACK ends it; the other commits.
    let (victim, survivor) = if ra.is_err() { (&a, &b) } else { (&b, &a) };
    victim.other(t, "ROLLBACK").await?;
    t.rollbacks += 1;
    survivor.other(t, "COMMIT").await?;
    Ok(())
}

fn merge(into: &mut ServerTruth, from: ServerTruth) {
    for (role, by) in from.statements {
        for (k, n) in by {
            *into
                .statements
                .entry(role.clone())
                .or_default()
                .entry(k)
                .or_default() += n;
        }
    }
    for (op, by) in from.operations {
        for (k, n) in by {
            *into
                .operations
                .entry(op.clone())
                .or_default()
                .entry(k)
                .or_default() += n;
        }
    }
}

/// Idle connections held after the scenario, per server and role.
const HELD: [(&str, u64); 3] = [("app", 3), ("analyst", 1), ("migration", 1)];

/// Runs setup, the settle time, the scenario on every server (the deadlock on the last),
/// and opens the held connections; returns the truth and the connections to keep open.
pub async fn drive(
    servers: &[Server],
    metrics: &Metrics,
    settle: Duration,
) -> Result<(Truth, Vec<Client>), String> {
    for s in servers {
        setup(s).await?;
        for op in OPERATIONS {
            metrics.declare(&s.service, op);
        }
    }
    tokio::time::sleep(settle).await;
    let mut truth = Truth {
        started: now_s(),
        ..Truth::default()
    };
    for (i, s) in servers.iter().enumerate() {
        let mut t = ServerTruth {
            database: s.database.clone(),
            ..ServerTruth::default()
        };
        scenario(s, metrics, &mut t).await?;
        if i + 1 == servers.len() {
            deadlock(s, metrics, &mut t).await?;
        }
        truth.servers.insert(s.service.clone(), t);
    }
    truth.finished = now_s();
    let mut held = Vec::new();
    for s in servers {
        let t = truth.servers.get_mut(&s.service).expect("driven");
        for (role, n) in HELD {
            for _ in 0..n {
                held.push(connect(&as_role(&s.conninfo, role, &s.database)).await?);
            }
            t.held.insert(role.into(), n);
        }
    }
    truth.holding_since = now_s();
    Ok((truth, held))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_parse_and_bad_ones_say_the_form() {
        let s = Server::parse("shop-db=shop=host=127.0.0.1 port=5432 user=postgres").unwrap();
        assert_eq!(
            (s.service.as_str(), s.database.as_str(), s.conninfo.as_str()),
            ("shop-db", "shop", "host=127.0.0.1 port=5432 user=postgres")
        );
        for bad in ["shop-db", "shop-db=shop", "=shop=host=x", "shop-db==host=x"] {
            let e = Server::parse(bad).unwrap_err();
            assert!(e.contains("SERVICE=DATABASE=CONNINFO"), "{bad}: {e}");
        }
    }

    #[test]
    fn the_client_histogram_is_cumulative_with_count_and_sum() {
        let m = Metrics::default();
        m.observe("shop-db", "INSERT", "", 0.003);
        m.observe("shop-db", "INSERT", "", 0.2);
        m.observe("shop-db", "INSERT", "23505", 0.0005);
        let text = m.exposition();
        let l = r#"service="shop-db",db_operation_name="INSERT",error_type="""#;
        for (le, n) in [
            ("0.001", 0),
            ("0.005", 1),
            ("0.1", 1),
            ("0.5", 2),
            ("+Inf", 2),
        ] {
            let line =
                format!("db_client_operation_duration_seconds_bucket{{{l},le=\"{le}\"}} {n}\n");
            assert!(text.contains(&line), "{line} in\n{text}");
        }
        assert!(text.contains(&format!(
            "db_client_operation_duration_seconds_count{{{l}}} 2\n"
        )));
        assert!(
            text.contains(r#"error_type="23505",le="0.001"} 1"#),
            "{text}"
        );
    }
}
