#![warn(clippy::too_many_lines)]

//! `vitals-sim`: simulated history and live metrics of the reference system, with ground
//! truth, for demos and tests of vitals.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, Parser, Subcommand};
use vitals::duration::Duration;
use vitals::timespec::{format_time, parse_time};
use vitals_sim::output::{OpenMetricsSink, RemoteWriteBatcher, Sink};
use vitals_sim::scenario::{BUILTIN, Scenario};
use vitals_sim::topology::Topology;
use vitals_sim::tsdb::TsdbSink;
use vitals_sim::{Plan, run, serve};

#[derive(Parser)]
#[command(
    name = "vitals-sim",
    version,
    about = "Simulate a site (by default the reference system: Shop/CRM/MES, RabbitMQ, PostgreSQL, S3) with ground truth",
    after_help = "Examples:\n  vitals-sim history --scenario incident-week --days 7 --end now --out week.om --truth truth.json\n  vitals-sim history --scenario incident-week --days 14 --remote-write http://127.0.0.1:9090/api/v1/write\n  vitals-sim history --scenario incident-week --scale 100 --days 35 --interval 60s --end 2026-12-01T00:00:00Z --tsdb data/\n  vitals-sim serve --scenario normal-week --days 7 --end 2026-11-23T00:00:00Z --listen 127.0.0.1:9101\n  vitals-sim scrape-config --sim 127.0.0.1:9101\n  vitals-sim history --topology tests/sites/payments/topology.toml --scenario tests/sites/payments/scenario.toml --end now --out pay.om\n  vitals-sim bench --scale 100 --days 7 --interval 60s --model-only"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write a history: OpenMetrics for `promtool tsdb create-blocks-from openmetrics`,
    /// straight into Prometheus' remote-write receiver, or as Prometheus TSDB blocks
    History(HistoryArgs),
    /// Serve the model live: one /metrics/<instance> endpoint per scrape target
    Serve(ServeArgs),
    /// Print Prometheus scrape_configs for `serve`
    ScrapeConfig {
        #[command(flatten)]
        site: SiteArgs,
        /// Address `serve` listens on
        #[arg(long, default_value = "127.0.0.1:9101")]
        sim: String,
        /// Scrape interval (use the history's interval so the data lines up)
        #[arg(long, default_value = "30s")]
        interval: String,
    },
    /// Measure generation speed: the model alone, with OpenMetrics encoding, with
    /// remote-write encoding (nothing is written or sent)
    Bench {
        #[command(flatten)]
        plan: PlanArgs,
        /// Only the model stage (large --scale runs take long with every encoder)
        #[arg(long)]
        model_only: bool,
    },
    /// Drive real servers through short scripted scenarios, concurrently: a RabbitMQ (the
    /// reference topology, dead letters of every reason, held consumers) and PostgreSQL
    /// servers (roles app, analyst and migration; statement mixes, failures, a rollback,
    /// DDL, a deadlock); serve the applications' series and write what they caused as JSON
    #[command(after_help = DRIVE_HELP)]
    Drive(DriveArgs),
    /// List the built-in scenarios, or print one as TOML to start your own from
    Scenarios {
        /// Print this scenario's TOML
        #[arg(long)]
        show: Option<String>,
    },
}

/// Which site to simulate.
#[derive(Args, Clone)]
struct SiteArgs {
    /// The site's shape: a topology .toml file (see docs/simulator.md) [default: the
    /// reference system]
    #[arg(long, value_name = "FILE")]
    topology: Option<PathBuf>,
    /// Cardinality multiplier (1, 10, 100; at most 100): about N times the series (more
    /// instances, routes, users, event queues and latency buckets), the same traffic
    #[arg(long, value_name = "N", default_value_t = 1)]
    scale: u32,
}

impl SiteArgs {
    fn topology(&self) -> Result<Topology, String> {
        Topology::load(self.topology.as_deref())?.scaled(self.scale)
    }
}

#[derive(Args, Clone)]
struct PlanArgs {
    #[command(flatten)]
    site: SiteArgs,
    /// Scenario: a built-in name (see `vitals-sim scenarios`) or a .toml file
    #[arg(long, default_value = "normal-week")]
    scenario: String,
    /// Seed of the random generator: same seed, same history
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Days of history [default: the scenario's length]
    #[arg(long, conflicts_with = "length")]
    days: Option<f64>,
    /// History length as a duration (e.g. 3h) instead of --days
    #[arg(long)]
    length: Option<String>,
    /// End of the history: `now`, RFC 3339 or Unix seconds (rounded down to the interval)
    #[arg(long, default_value = "now")]
    end: String,
    /// Sample interval (a scrape interval; must divide an hour)
    #[arg(long, default_value = "30s")]
    interval: String,
}

#[derive(Args)]
#[command(group(
    clap::ArgGroup::new("output")
        .args(["out", "remote_write", "tsdb"])
        .required(true)
))]
struct HistoryArgs {
    #[command(flatten)]
    plan: PlanArgs,
    /// Write OpenMetrics to this file
    #[arg(long)]
    out: Option<PathBuf>,
    /// Push to Prometheus' remote-write receiver (started with
    /// --web.enable-remote-write-receiver and an out_of_order_time_window covering the history)
    #[arg(long, value_name = "URL")]
    remote_write: Option<String>,
    /// Write Prometheus TSDB blocks (the format of Prometheus 2.42) into this directory:
    /// start Prometheus with --storage.tsdb.path=DIR, or move the blocks into its data
    /// directory
    #[arg(long, value_name = "DIR")]
    tsdb: Option<PathBuf>,
    /// Length of a TSDB block in hours; blocks are aligned to multiples of it since the Unix
    /// epoch (UTC days for 24)
    #[arg(long, value_name = "H", default_value_t = vitals_sim::tsdb::DEFAULT_BLOCK_HOURS,
          value_parser = clap::value_parser!(u32).range(1..=744), requires = "tsdb")]
    block_hours: u32,
    /// Write the ground truth (JSON) here
    #[arg(long)]
    truth: Option<PathBuf>,
    /// No progress bar or summary
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Args)]
struct ServeArgs {
    /// The history this continues (same flags as `history`); by default a fresh start now
    #[command(flatten)]
    plan: PlanArgs,
    /// Address to listen on (loopback)
    #[arg(long, default_value = "127.0.0.1:9101")]
    listen: SocketAddr,
}

const DRIVE_HELP: &str = "\
Examples:
  vitals-sim drive --rabbitmq amqp://guest:guest@127.0.0.1:5672/%2f --truth truth.json --listen 127.0.0.1:9102 --wait-scrape
  vitals-sim drive --postgres \"shop-db=shop=host=127.0.0.1 port=5432 user=postgres\" --postgres \"mes-db=mes=host=127.0.0.1 port=5433 user=postgres\" --truth truth.json --listen 127.0.0.1:9187
  vitals-sim drive --rabbitmq URL --postgres SERVICE=DATABASE=CONNINFO --postgres ... --truth truth.json --listen 127.0.0.1:9102

Given both, the scenarios run at the same time. The truth is one JSON document, {\"rabbitmq\": {...}, \"postgres\": {...}} with the parts driven, written (whole, then renamed into place) once every scenario is over and its connections are held; the process then holds them for --hold (or until killed), serving on --listen dlq_messages_received_total and messaging_process_duration_seconds (RabbitMQ) and db_client_operation_duration_seconds (PostgreSQL); scrape it with honor_labels: true.

The RabbitMQ scenario needs a fresh broker (or at least fresh queues). Each PostgreSQL server needs pg_stat_statements in shared_preload_libraries and a superuser the driver can log in as (trust on loopback, or a password in CONNINFO).";

#[derive(Args)]
#[command(group(
    clap::ArgGroup::new("servers")
        .args(["rabbitmq", "postgres"])
        .required(true)
        .multiple(true)
))]
struct DriveArgs {
    /// Drive the RabbitMQ at this AMQP URL (e.g. amqp://guest:guest@127.0.0.1:5672/%2f)
    #[arg(long, value_name = "URL")]
    rabbitmq: Option<String>,
    /// Drive a PostgreSQL server: SERVICE=DATABASE=CONNINFO (libpq key=value of a
    /// superuser, without dbname); repeat for each (the deadlock is made on the last)
    #[arg(
        long = "postgres",
        value_name = "SERVICE=DATABASE=CONNINFO",
        value_parser = vitals_sim::pgdrive::Server::parse
    )]
    postgres: Vec<vitals_sim::pgdrive::Server>,
    /// Write the truth (JSON) here, atomically, when every scenario is over
    #[arg(long, value_name = "FILE")]
    truth: Option<PathBuf>,
    /// Serve the applications' series on /metrics here (loopback; port 0 picks one,
    /// printed on stderr)
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Wait this long between the PostgreSQL set-up and its scenario, so a scrape sees the
    /// state before it
    #[arg(long, value_name = "D", default_value = "8s", requires = "postgres")]
    settle: Duration,
    /// After the scenarios, hold the connections (and consumers, messages) this long (e.g.
    /// 10m), then exit [default: until killed]
    #[arg(long, value_name = "D")]
    hold: Option<Duration>,
    /// Start the scenarios only after /metrics (--listen) has been scraped once, so the
    /// scraper saw every series before its first event
    #[arg(long, requires = "listen")]
    wait_scrape: bool,
}

fn plan(a: &PlanArgs, default_span: Option<Duration>) -> Result<Plan, String> {
    let scenario = Scenario::load(&a.scenario)?;
    let interval: Duration = a.interval.parse().map_err(|e| format!("--interval: {e}"))?;
    let end = parse_time(&a.end, chrono::Utc::now()).map_err(|e| format!("--end: {e}"))?;
    let span = match (&a.days, &a.length) {
        (Some(d), _) => {
            if !(d.is_finite() && *d > 0.0 && *d <= 400.0) {
                return Err("--days must be between 0 and 400".into());
            }
            Duration::from_millis((d * 86_400_000.0).round() as u64)
        }
        (None, Some(l)) => l.parse().map_err(|e| format!("--length: {e}"))?,
        (None, None) => default_span.unwrap_or(scenario.length),
    };
    Plan::new(
        a.site.topology()?,
        scenario,
        a.seed,
        end.timestamp_millis(),
        span,
        interval,
    )
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::History(a) => history(a),
        Command::Serve(a) => serve_cmd(a),
        Command::ScrapeConfig {
            site,
            sim,
            interval,
        } => site.topology().and_then(|t| {
            let p = Plan::new(
                t,
                Scenario::load("normal-week").expect("built-in"),
                0,
                0,
                Duration::from_secs(3600),
                Duration::from_secs(60),
            )?;
            print!("{}", serve::scrape_config(&p.model(), &sim, &interval));
            Ok(())
        }),
        Command::Drive(a) => drive(a),
        Command::Bench {
            plan: p,
            model_only,
        } => bench(&p, model_only),
        Command::Scenarios { show } => match show {
            Some(name) => match BUILTIN.iter().find(|(n, _)| *n == name) {
                Some((_, text)) => {
                    print!("{text}");
                    Ok(())
                }
                None => Err(format!("no built-in scenario `{name}`")),
            },
            None => {
                for (name, _) in BUILTIN {
                    let s = Scenario::load(name).expect("built-in scenarios parse");
                    println!("{name:<14} {:>4}  {}", s.length.to_string(), s.description);
                }
                Ok(())
            }
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn history(a: HistoryArgs) -> Result<(), String> {
    let plan = plan(&a.plan, None)?;
    let t0 = Instant::now();
    let bar = (!a.quiet && std::io::stderr().is_terminal()).then(|| {
        let b = indicatif::ProgressBar::new(plan.ticks());
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{msg} [{bar:40}] {percent:>3}% {elapsed_precise} eta {eta}",
            )
            .expect("static template")
            .progress_chars("=> "),
        );
        b.set_message("simulating");
        b
    });
    let mut progress = |done: u64| {
        if let Some(b) = &bar {
            b.set_position(done);
        }
    };
    let (mut model, samples) = if let Some(out) = &a.out {
        let mut sink = OpenMetricsSink::new(out).map_err(|e| format!("{}: {e}", out.display()))?;
        let m =
            run(&plan, &mut sink, &mut progress).map_err(|e| format!("{}: {e}", out.display()))?;
        let n = sink
            .finish()
            .map_err(|e| format!("{}: {e}", out.display()))?;
        (m, n)
    } else if let Some(dir) = &a.tsdb {
        let err = |e: std::io::Error| format!("{}: {e}", dir.display());
        let mut sink = TsdbSink::new(dir, a.block_hours).map_err(err)?;
        let m = run(&plan, &mut sink, &mut progress).map_err(err)?;
        let n = sink.finish().map_err(err)?;
        (m, n)
    } else {
        let url = a
            .remote_write
            .clone()
            .expect("clap requires one of --out, --remote-write, --tsdb");
        remote_write(&plan, &url, &mut progress)?
    };
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    if let Some(p) = &a.truth {
        model.truth.summarise();
        let text = serde_json::to_string_pretty(&model.truth).expect("truth serialises");
        std::fs::write(p, text + "\n").map_err(|e| format!("{}: {e}", p.display()))?;
    }
    if !a.quiet {
        eprintln!(
            "{} samples of {} series, {} .. {} every {}s ({}), in {:.1}s",
            samples,
            model.reg.series.iter().filter(|s| s.born).count() + model.reg.targets.len(),
            format_time(vitals::timespec::from_unix_seconds(
                plan.start_ms as f64 / 1000.0
            )),
            format_time(vitals::timespec::from_unix_seconds(
                plan.end_ms as f64 / 1000.0
            )),
            plan.interval_ms / 1000,
            plan.scenario.name,
            t0.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// Generates on a thread and sends batches as they are ready, one request at a time: two
/// in flight reach Prometheus in either order, and a series whose next hour landed first
/// takes the earlier one as out-of-order samples, which Prometheus 2.42 keeps in separate
/// head chunks that made the tests' queries several times slower to answer.
fn remote_write(
    plan: &Plan,
    url: &str,
    progress: &mut dyn FnMut(u64),
) -> Result<(vitals_sim::model::Model, u64), String> {
    let url: hyper::Uri = url.parse().map_err(|e| format!("--remote-write: {e}"))?;
    if url.scheme_str() != Some("http") {
        return Err(format!(
            "--remote-write: {url}: only http:// URLs (the simulator writes to a local server)"
        ));
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(4);
    let (ptx, prx) = std::sync::mpsc::channel::<u64>();
    let plan2 = plan.clone();
    // One batch per hour of history keeps requests around a few megabytes.
    let ticks_per_batch = (3_600_000 / plan.interval_ms).max(1) as usize;
    let generator = std::thread::spawn(
        move || -> std::io::Result<(vitals_sim::model::Model, u64)> {
            struct Forward {
                batcher: RemoteWriteBatcher,
                tx: tokio::sync::mpsc::Sender<Vec<u8>>,
            }
            impl Sink for Forward {
                fn tick(&mut self, m: &vitals_sim::model::Model) -> std::io::Result<()> {
                    self.batcher.tick(m)?;
                    for b in self.batcher.take_ready() {
                        self.tx
                            .blocking_send(b)
                            .map_err(|_| std::io::Error::other("remote write stopped"))?;
                    }
                    Ok(())
                }
            }
            let mut f = Forward {
                batcher: RemoteWriteBatcher::new(ticks_per_batch),
                tx,
            };
            let m = run(&plan2, &mut f, &mut |d| {
                let _ = ptx.send(d);
            })?;
            f.batcher.flush();
            for b in f.batcher.take_ready() {
                f.tx.blocking_send(b)
                    .map_err(|_| std::io::Error::other("remote write stopped"))?;
            }
            Ok((m, f.batcher.samples))
        },
    );
    let client = rt.block_on(async {
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http::<http_body_util::Full<bytes::Bytes>>()
    });
    let sent: Result<(), String> = rt.block_on(async {
        let mut inflight = tokio::task::JoinSet::new();
        while let Some(body) = rx.recv().await {
            while let Ok(d) = prx.try_recv() {
                progress(d);
            }
            if !inflight.is_empty()
                && let Some(r) = inflight.join_next().await
            {
                r.map_err(|e| e.to_string())??;
            }
            let c = client.clone();
            let u = url.clone();
            inflight.spawn(async move {
                let req = http::Request::post(u.clone())
                    .header("Content-Encoding", "snappy")
                    .header("Content-Type", "application/x-protobuf")
                    .header("X-Prometheus-Remote-Write-Version", "0.1.0")
                    .body(http_body_util::Full::new(bytes::Bytes::from(body)))
                    .map_err(|e| format!("remote write to {u}: {e}"))?;
                let resp =
                    tokio::time::timeout(std::time::Duration::from_secs(120), c.request(req))
                        .await
                        .map_err(|_| format!("remote write to {u}: no answer in 120 s"))?
                        .map_err(|e| format!("remote write to {u}: {e}"))?;
                let status = resp.status();
                if !status.is_success() {
                    use http_body_util::BodyExt;
                    let text = resp
                        .into_body()
                        .collect()
                        .await
                        .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
                        .unwrap_or_default();
                    return Err(format!(
                        "remote write to {u}: HTTP {status}: {}",
                        text.trim()
                    ));
                }
                Ok(())
            });
        }
        while let Some(r) = inflight.join_next().await {
            r.map_err(|e| e.to_string())??;
        }
        Ok(())
    });
    let generated = generator
        .join()
        .map_err(|_| "the generator panicked".to_string())?;
    sent?;
    generated.map_err(|e| e.to_string())
}

fn bench(a: &PlanArgs, model_only: bool) -> Result<(), String> {
    let plan = plan(a, None)?;
    struct Null(u64);
    impl Sink for Null {
        fn tick(&mut self, m: &vitals_sim::model::Model) -> std::io::Result<()> {
            self.0 += m
                .reg
                .series
                .iter()
                .filter(|s| s.born && m.reg.targets[s.target].reachable)
                .count() as u64
                + m.reg.targets.len() as u64;
            Ok(())
        }
    }
    println!(
        "{} x{}, {} ({}), {} intervals of {}s",
        plan.topology.name,
        plan.topology.scale,
        plan.scenario.name,
        format_time(vitals::timespec::from_unix_seconds(
            plan.end_ms as f64 / 1000.0
        )),
        plan.ticks(),
        plan.interval_ms / 1000
    );
    println!(
        "{:<34} {:>12} {:>9} {:>14}",
        "stage", "samples", "seconds", "samples/s"
    );
    let report = |what: &str, samples: u64, t: Instant| {
        let s = t.elapsed().as_secs_f64();
        println!(
            "{what:<34} {samples:>12} {s:>9.2} {:>14.0}",
            samples as f64 / s
        );
    };
    let t = Instant::now();
    let mut null = Null(0);
    let m = run(&plan, &mut null, &mut |_| {}).map_err(|e| e.to_string())?;
    report("model only", null.0, t);
    let series = m.reg.series.iter().filter(|s| s.born).count() + m.reg.targets.len();
    println!("series at the end: {series} (with `up`)");
    if model_only {
        return Ok(());
    }
    let t = Instant::now();
    let mut om = OpenMetricsSink::discarding();
    run(&plan, &mut om, &mut |_| {}).map_err(|e| e.to_string())?;
    report("model + OpenMetrics text", om.samples, t);
    let t = Instant::now();
    let mut rw = RemoteWriteBatcher::new((3_600_000 / plan.interval_ms).max(1) as usize);
    struct Drain<'a>(&'a mut RemoteWriteBatcher, u64);
    impl Sink for Drain<'_> {
        fn tick(&mut self, m: &vitals_sim::model::Model) -> std::io::Result<()> {
            self.0.tick(m)?;
            self.1 += self
                .0
                .take_ready()
                .iter()
                .map(|b| b.len() as u64)
                .sum::<u64>();
            Ok(())
        }
    }
    let mut d = Drain(&mut rw, 0);
    run(&plan, &mut d, &mut |_| {}).map_err(|e| e.to_string())?;
    let bytes = d.1;
    report("model + remote-write protobuf+snappy", rw.samples, t);
    println!(
        "remote-write payload: {:.1} MB compressed",
        bytes as f64 / 1e6
    );
    Ok(())
}

fn serve_cmd(a: ServeArgs) -> Result<(), String> {
    if !a.listen.ip().is_loopback() {
        return Err(format!(
            "--listen {}: serve only on a loopback address",
            a.listen
        ));
    }
    // Without history flags the model starts fresh now.
    let span = Duration::from_secs(3600);
    let mut plan = plan(&a.plan, Some(span))?;
    if a.plan.days.is_none() && a.plan.length.is_none() {
        plan.start_ms = plan.end_ms;
        plan.scenario_start_ms = plan.end_ms;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(serve::serve(plan, a.listen, |addr| {
        eprintln!("vitals-sim serving on http://{addr}/ (targets listed there); Ctrl-C to stop");
    }))
    .map_err(|e| format!("serve on {}: {e}", a.listen))
}

fn drive(a: DriveArgs) -> Result<(), String> {
    use vitals_sim::{drive, drivers, pgdrive};
    if let Some(l) = a.listen
        && !l.ip().is_loopback()
    {
        return Err(format!("--listen {l}: serve only on a loopback address"));
    }
    for (i, s) in a.postgres.iter().enumerate() {
        if a.postgres[..i].iter().any(|o| o.service == s.service) {
            return Err(format!("--postgres: service {} given twice", s.service));
        }
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let endpoint = drivers::Endpoint::new(
            a.rabbitmq.is_some().then(drive::Driver::new),
            (!a.postgres.is_empty()).then(|| pgdrive::Metrics::new(&a.postgres)),
        );
        if let Some(l) = a.listen {
            let addr = endpoint
                .serve(l)
                .await
                .map_err(|e| format!("--listen {l}: {e}"))?;
            eprintln!("vitals-sim drive: metrics on http://{addr}/metrics");
        }
        if a.wait_scrape {
            endpoint
                .wait_scraped(std::time::Duration::from_secs(60))
                .await?;
        }
        let (rabbitmq, postgres) = tokio::try_join!(
            drive_rabbitmq(a.rabbitmq.as_deref(), endpoint.rabbitmq.as_ref()),
            drive_postgres(&a.postgres, endpoint.postgres.as_ref(), a.settle),
        )?;
        let (rabbitmq, rabbitmq_held) = rabbitmq.unzip();
        let (postgres, postgres_held) = postgres.unzip();
        let truth = drivers::Truth { rabbitmq, postgres };
        if let Some(p) = &a.truth {
            truth.write(p)?;
            eprintln!("vitals-sim drive: truth in {}", p.display());
        }
        let held = truth.rabbitmq.as_ref().map_or(0, |t| t.connections)
            + postgres_held.as_ref().map_or(0, |h| h.len() as u64);
        eprintln!(
            "vitals-sim drive: holding {held} connections {}",
            a.hold
                .map_or("until killed".to_string(), |h| format!("for {h}"))
        );
        let hold = async {
            match a.hold {
                Some(h) => tokio::time::sleep(std::time::Duration::from_millis(h.millis())).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = hold => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        drop((rabbitmq_held, postgres_held));
        Ok(())
    })
}

/// The RabbitMQ scenario, if asked for: its truth and the connections it holds.
async fn drive_rabbitmq(
    url: Option<&str>,
    driver: Option<&vitals_sim::drive::Driver>,
) -> Result<Option<(vitals_sim::drive::Truth, vitals_sim::drive::Held)>, String> {
    let (Some(url), Some(driver)) = (url, driver) else {
        return Ok(None);
    };
    let (truth, held) = vitals_sim::drive::run(url, driver)
        .await
        .map_err(|e| format!("RabbitMQ: {e}"))?;
    eprintln!(
        "vitals-sim drive: RabbitMQ scenario done in {:.1}s ({} published, {} dead-lettered, {} dropped); holding {} connections",
        truth.finished_at - truth.started_at,
        truth.published,
        truth.dead_lettered.values().sum::<u64>(),
        truth.dropped.values().sum::<u64>(),
        truth.connections
    );
    Ok(Some((truth, held)))
}

/// The PostgreSQL scenario, if asked for: its truth and the connections it holds.
async fn drive_postgres(
    servers: &[vitals_sim::pgdrive::Server],
    metrics: Option<&vitals_sim::pgdrive::Metrics>,
    settle: Duration,
) -> Result<Option<(vitals_sim::pgdrive::Truth, Vec<tokio_postgres::Client>)>, String> {
    let Some(metrics) = metrics.filter(|_| !servers.is_empty()) else {
        return Ok(None);
    };
    let settle = std::time::Duration::from_millis(settle.millis());
    let (truth, held) = vitals_sim::pgdrive::drive(servers, metrics, settle)
        .await
        .map_err(|e| format!("PostgreSQL: {e}"))?;
    eprintln!(
        "vitals-sim drive: PostgreSQL scenario done in {:.1}s on {}; holding {} connections",
        truth.finished - truth.started,
        servers
            .iter()
            .map(|s| s.service.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        held.len()
    );
    Ok(Some((truth, held)))
}
