//! `vitals-sim drive --rabbitmq`: a short scripted scenario against a real RabbitMQ (AMQP
//! 0-9-1), with the truth of every event it caused.
//!
//! The topology is the reference system's (design/metric-contract.md, section 2):
//! `shop.orders` (quorum, dead-letter exchange, at-least-once dead-lettering, delivery
//! limit), `mes.status` (classic, dead-letter exchange, max length), `crm.notifications`
//! (classic, no dead-letter exchange: its dead letters are dropped) and the two DLQs. Each
//! step waits until the broker has done what it was asked (consumers saw their deliveries,
//! the DLQ consumer saw the dead letters, an expiring queue is empty), so the counts in the
//! truth are exact, not hoped for.
//!
//! Besides the broker's own series, the driver serves the application-side series the
//! contract defines for what it plays: the consumers' `messaging_process_duration_seconds`
//! and the DLQ consumer's `dlq_messages_received_total`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicPublishOptions, BasicQosOptions,
    BasicRejectOptions, ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::publisher_confirm::Confirmation;
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use serde::Serialize;

/// The processing-time buckets of the contract (same as HTTP latency).
pub const BUCKETS: [f64; 16] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 30.0, 60.0,
];

pub const SHOP_ORDERS: &str = "shop.orders";
pub const MES_STATUS: &str = "mes.status";
pub const CRM_NOTIFICATIONS: &str = "crm.notifications";
pub const SHOP_ORDERS_DLQ: &str = "shop.orders.dlq";
pub const MES_STATUS_DLQ: &str = "mes.status.dlq";
/// `x-max-length` of `mes.status` (overflow drops the head, dead-lettered as `maxlen`).
pub const MES_STATUS_MAX_LENGTH: i32 = 10;
/// `x-delivery-limit` of `shop.orders`: a message returned more often is dead-lettered.
pub const SHOP_ORDERS_DELIVERY_LIMIT: i32 = 2;
/// Per-message TTL of the expiring messages, milliseconds.
const TTL_MS: &str = "50";

/// Everything the scenario caused, as the broker should count it.
#[derive(Debug, Default, Serialize, Clone)]
pub struct Truth {
    /// Unix seconds: the scenario's first and last broker operation.
    pub started_at: f64,
    pub finished_at: f64,
    /// Messages published by clients (`rabbitmq_global_messages_received_total`), in all
    /// and by destination queue.
    pub published: u64,
    pub published_by_queue: BTreeMap<String, u64>,
    /// Deliveries to consumers, redeliveries included, by queue and by queue type.
    pub delivered: u64,
    pub delivered_by_queue: BTreeMap<String, u64>,
    pub delivered_by_queue_type: BTreeMap<String, u64>,
    /// Acknowledgements sent, by queue type.
    pub acked: u64,
    pub acked_by_queue_type: BTreeMap<String, u64>,
    /// Rejected without requeue by a consumer (through a DLX or dropped).
    pub rejected: u64,
    /// Dead-lettered through a DLX, by reason (expired, rejected, maxlen, delivery_limit).
    pub dead_lettered: BTreeMap<String, u64>,
    /// Discarded for lack of a DLX, by reason.
    pub dropped: BTreeMap<String, u64>,
    /// Dead letters by source queue and reason (through a DLX or dropped).
    pub dead_lettered_by_queue: BTreeMap<String, BTreeMap<String, u64>>,
    /// What the DLQ consumer received: dlq -> source queue -> reason -> count.
    pub dlq_received: BTreeMap<String, BTreeMap<String, BTreeMap<String, u64>>>,
    /// The state held after the scenario, per queue.
    pub queues: BTreeMap<String, QueueState>,
    /// Unix seconds (the AMQP timestamp) of the oldest message a queue holds, per queue
    /// that holds ready messages. Delivered and unacknowledged messages count: RabbitMQ
    /// 3.10's classic queues take the head timestamp over both (seen on the real broker).
    pub head_timestamp: BTreeMap<String, u64>,
    /// Connections held open after the scenario, opened and closed during it.
    pub connections: u64,
    pub connections_opened: u64,
    pub connections_closed: u64,
    /// Processing times the consumers measured: queue -> outcome -> seconds.
    pub processing: BTreeMap<String, BTreeMap<String, Vec<f64>>>,
}

#[derive(Debug, Default, Serialize, Clone, PartialEq, Eq)]
pub struct QueueState {
    pub ready: u64,
    pub unacked: u64,
    pub consumers: u64,
}

/// What a consumer does with a message: the message says so in its `action` header.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Action {
    Ack,
    /// basic.reject without requeue: dead-lettered (DLX) or dropped.
    Reject,
    /// basic.nack with requeue, until the delivery limit dead-letters it.
    Requeue,
    /// Never settled: stays unacknowledged while the driver runs.
    Hold,
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Action::Ack => "ack",
            Action::Reject => "reject",
            Action::Requeue => "requeue",
            Action::Hold => "hold",
        }
    }
    fn parse(s: &str) -> Action {
        match s {
            "reject" => Action::Reject,
            "requeue" => Action::Requeue,
            "hold" => Action::Hold,
            _ => Action::Ack,
        }
    }
}

/// A histogram with the contract's buckets.
#[derive(Default, Clone)]
struct Histogram {
    counts: [u64; 16],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, v: f64) {
        for (i, b) in BUCKETS.iter().enumerate() {
            if v <= *b {
                self.counts[i] += 1;
            }
        }
        self.count += 1;
        self.sum += v;
    }
}

/// Shared between the consumers, the scenario and the metrics endpoint.
#[derive(Default)]
struct State {
    truth: Truth,
    /// (service, queue, outcome) -> histogram.
    hist: BTreeMap<(String, String, String), Histogram>,
    /// (dlq, source queue, reason) -> count; a series appears with its first message.
    dlq: BTreeMap<(String, String, String), u64>,
    /// Deliveries seen, per queue and action (for the scenario's waits).
    seen: BTreeMap<(String, Action), u64>,
}

type Shared = Arc<Mutex<State>>;

fn lock(s: &Shared) -> std::sync::MutexGuard<'_, State> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

fn now_unix() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn err(what: &str) -> impl Fn(lapin::Error) -> String + '_ {
    move |e| format!("{what}: {e}")
}

fn long(s: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(s))
}

fn args(kv: &[(&str, AMQPValue)]) -> FieldTable {
    let mut t = FieldTable::default();
    for (k, v) in kv {
        t.insert(ShortString::from(*k), v.clone());
    }
    t
}

fn header_str(props: &BasicProperties, key: &str) -> Option<String> {
    let h = props.headers().as_ref()?;
    match h.inner().get(key)? {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_string()),
        _ => None,
    }
}

fn queue_type(queue: &str) -> &'static str {
    if queue == SHOP_ORDERS {
        "rabbit_quorum_queue"
    } else {
        "rabbit_classic_queue"
    }
}

/// Declares the reference topology on a fresh channel.
async fn declare(ch: &Channel) -> Result<(), String> {
    let durable = ExchangeDeclareOptions {
        durable: true,
        ..Default::default()
    };
    let qopts = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    for (dlx, dlq) in [
        ("shop.orders.dlx", SHOP_ORDERS_DLQ),
        ("mes.status.dlx", MES_STATUS_DLQ),
    ] {
        ch.exchange_declare(dlx, ExchangeKind::Fanout, durable, FieldTable::default())
            .await
            .map_err(err(dlx))?;
        ch.queue_declare(dlq, qopts, FieldTable::default())
            .await
            .map_err(err(dlq))?;
        ch.queue_bind(
            dlq,
            dlx,
            "",
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(err(dlq))?;
    }
    // At-least-once dead-lettering needs `reject-publish` overflow on a quorum queue.
    ch.queue_declare(
        SHOP_ORDERS,
        qopts,
        args(&[
            ("x-queue-type", long("quorum")),
            ("x-dead-letter-exchange", long("shop.orders.dlx")),
            ("x-dead-letter-strategy", long("at-least-once")),
            ("x-overflow", long("reject-publish")),
            (
                "x-delivery-limit",
                AMQPValue::LongInt(SHOP_ORDERS_DELIVERY_LIMIT),
            ),
        ]),
    )
    .await
    .map_err(err(SHOP_ORDERS))?;
    ch.queue_declare(
        MES_STATUS,
        qopts,
        args(&[
            ("x-dead-letter-exchange", long("mes.status.dlx")),
            ("x-max-length", AMQPValue::LongInt(MES_STATUS_MAX_LENGTH)),
        ]),
    )
    .await
    .map_err(err(MES_STATUS))?;
    ch.queue_declare(CRM_NOTIFICATIONS, qopts, FieldTable::default())
        .await
        .map_err(err(CRM_NOTIFICATIONS))?;
    Ok(())
}

/// A publisher: a confirming channel on its service's connection.
struct Publisher {
    ch: Channel,
    state: Shared,
    seq: u64,
}

impl Publisher {
    async fn new(conn: &Connection, state: Shared) -> Result<Publisher, String> {
        let ch = conn.create_channel().await.map_err(err("channel"))?;
        ch.confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(err("confirm.select"))?;
        Ok(Publisher { ch, state, seq: 0 })
    }

    /// Publishes `n` messages to `queue` (default exchange) and waits for the broker's
    /// confirms; returns the AMQP timestamp of the first.
    async fn publish(
        &mut self,
        queue: &str,
        n: u64,
        action: Action,
        work_ms: u64,
        ttl: bool,
    ) -> Result<u64, String> {
        let mut first = None;
        for _ in 0..n {
            self.seq += 1;
            let ts = now_unix() as u64;
            first.get_or_insert(ts);
            let mut props = BasicProperties::default()
                .with_timestamp(ts)
                .with_message_id(ShortString::from(format!("{queue}-{}", self.seq)))
                .with_headers(args(&[
                    ("action", long(action.name())),
                    ("work_ms", AMQPValue::LongLongInt(work_ms as i64)),
                ]));
            if ttl {
                props = props.with_expiration(ShortString::from(TTL_MS));
            }
            let confirm = self
                .ch
                .basic_publish(
                    "",
                    queue,
                    BasicPublishOptions::default(),
                    format!("{{\"seq\":{}}}", self.seq).as_bytes(),
                    props,
                )
                .await
                .map_err(err(queue))?
                .await
                .map_err(err(queue))?;
            if !matches!(confirm, Confirmation::Ack(_)) {
                return Err(format!("{queue}: the broker did not confirm a publish"));
            }
            let mut s = lock(&self.state);
            s.truth.published += 1;
            *s.truth
                .published_by_queue
                .entry(queue.to_string())
                .or_default() += 1;
        }
        Ok(first.unwrap_or(0))
    }
}

fn work_ms(props: &BasicProperties) -> u64 {
    props
        .headers()
        .as_ref()
        .and_then(|h| match h.inner().get("work_ms") {
            Some(AMQPValue::LongLongInt(v)) => Some(*v as u64),
            _ => None,
        })
        .unwrap_or(0)
}

/// Starts a consumer of `queue` for `service`, acting on each message as it says.
async fn consume(
    conn: &Connection,
    service: &str,
    queue: &str,
    prefetch: u16,
    state: Shared,
) -> Result<Channel, String> {
    let ch = conn.create_channel().await.map_err(err("channel"))?;
    ch.basic_qos(prefetch, BasicQosOptions::default())
        .await
        .map_err(err("basic.qos"))?;
    let mut consumer = ch
        .basic_consume(
            queue,
            &format!("{service}-{queue}"),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(err(queue))?;
    let (service, queue) = (service.to_string(), queue.to_string());
    let ret = ch.clone();
    tokio::spawn(async move {
        let _ch = ch;
        let mut held = Vec::new();
        while let Some(Ok(d)) = consumer.next().await {
            let action = header_str(&d.properties, "action")
                .map(|a| Action::parse(&a))
                .unwrap_or(Action::Ack);
            {
                let mut s = lock(&state);
                s.truth.delivered += 1;
                *s.truth.delivered_by_queue.entry(queue.clone()).or_default() += 1;
                *s.truth
                    .delivered_by_queue_type
                    .entry(queue_type(&queue).to_string())
                    .or_default() += 1;
            }
            let t0 = Instant::now();
            let work = work_ms(&d.properties);
            if work > 0 && action != Action::Hold {
                tokio::time::sleep(Duration::from_millis(work)).await;
            }
            let settled = match action {
                Action::Ack => d.ack(BasicAckOptions::default()).await,
                Action::Reject => d.reject(BasicRejectOptions { requeue: false }).await,
                Action::Requeue => {
                    d.nack(BasicNackOptions {
                        requeue: true,
                        multiple: false,
                    })
                    .await
                }
                Action::Hold => {
                    held.push(d);
                    Ok(())
                }
            };
            if settled.is_err() {
                break;
            }
            let took = t0.elapsed().as_secs_f64();
            let mut s = lock(&state);
            *s.seen.entry((queue.clone(), action)).or_default() += 1;
            let outcome = match action {
                Action::Ack => "ack",
                Action::Reject | Action::Requeue => "nack",
                Action::Hold => continue,
            };
            if action == Action::Ack {
                s.truth.acked += 1;
                *s.truth
                    .acked_by_queue_type
                    .entry(queue_type(&queue).to_string())
                    .or_default() += 1;
            }
            if action == Action::Reject {
                s.truth.rejected += 1;
            }
            s.hist
                .entry((service.clone(), queue.clone(), outcome.to_string()))
                .or_default()
                .observe(took);
            s.truth
                .processing
                .entry(queue.clone())
                .or_default()
                .entry(outcome.to_string())
                .or_default()
                .push(took);
        }
    });
    Ok(ret)
}

/// The DLQ consumer: acknowledges every dead letter and counts it by the source queue and
/// reason of its first death.
async fn consume_dlq(conn: &Connection, dlq: &str, state: Shared) -> Result<(), String> {
    let ch = conn.create_channel().await.map_err(err("channel"))?;
    let mut consumer = ch
        .basic_consume(
            dlq,
            &format!("dlq-consumer-{dlq}"),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(err(dlq))?;
    let dlq = dlq.to_string();
    tokio::spawn(async move {
        let _ch = ch;
        while let Some(Ok(d)) = consumer.next().await {
            let source = header_str(&d.properties, "x-first-death-queue").unwrap_or_default();
            let reason = header_str(&d.properties, "x-first-death-reason").unwrap_or_default();
            if d.ack(BasicAckOptions::default()).await.is_err() {
                break;
            }
            let mut s = lock(&state);
            s.truth.delivered += 1;
            *s.truth.delivered_by_queue.entry(dlq.clone()).or_default() += 1;
            *s.truth
                .delivered_by_queue_type
                .entry("rabbit_classic_queue".to_string())
                .or_default() += 1;
            s.truth.acked += 1;
            *s.truth
                .acked_by_queue_type
                .entry("rabbit_classic_queue".to_string())
                .or_default() += 1;
            *s.dlq
                .entry((dlq.clone(), source.clone(), reason.clone()))
                .or_default() += 1;
            *s.truth
                .dlq_received
                .entry(dlq.clone())
                .or_default()
                .entry(source)
                .or_default()
                .entry(reason)
                .or_default() += 1;
        }
    });
    Ok(())
}

/// Waits until `done` holds of the shared state, or fails naming `what`.
async fn wait_for(state: &Shared, what: &str, done: impl Fn(&State) -> bool) -> Result<(), String> {
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(60) {
        if done(&lock(state)) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err(format!("timed out after 60s waiting for {what}"))
}

/// Ready messages of a queue, as the broker reports them (passive declare).
async fn ready(ch: &Channel, queue: &str) -> Result<u64, String> {
    let q = ch
        .queue_declare(
            queue,
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .map_err(err(queue))?;
    Ok(u64::from(q.message_count()))
}

async fn wait_empty(ch: &Channel, queue: &str) -> Result<(), String> {
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(30) {
        if ready(ch, queue).await? == 0 {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err(format!("timed out after 30s waiting for {queue} to empty"))
}

fn seen(s: &State, queue: &str, action: Action) -> u64 {
    s.seen
        .get(&(queue.to_string(), action))
        .copied()
        .unwrap_or(0)
}

fn dlq_seen(s: &State, dlq: &str) -> u64 {
    s.dlq
        .iter()
        .filter(|((d, _, _), _)| d == dlq)
        .map(|(_, n)| *n)
        .sum()
}

fn count(map: &mut BTreeMap<String, u64>, key: &str, n: u64) {
    *map.entry(key.to_string()).or_default() += n;
}

fn dead(t: &mut Truth, queue: &str, reason: &str, n: u64, dlx: bool) {
    count(
        if dlx {
            &mut t.dead_lettered
        } else {
            &mut t.dropped
        },
        reason,
        n,
    );
    count(
        t.dead_lettered_by_queue
            .entry(queue.to_string())
            .or_default(),
        reason,
        n,
    );
}

/// The connections the scenario holds (one per service, as the reference system has).
pub struct Held {
    _conns: Vec<Connection>,
}

/// mes.status: expiry and max-length overflow through its DLX, then its consumer.
async fn mes_status_phase(
    mes_pub: &mut Publisher,
    shop: &Connection,
    probe: &Channel,
    state: &Shared,
) -> Result<(), String> {
    // mes.status, before its consumer: 6 messages expire (dead-lettered: expired), then
    // 15 into a queue of at most 10: the 5 oldest are dead-lettered (maxlen).
    mes_pub.publish(MES_STATUS, 6, Action::Ack, 0, true).await?;
    wait_empty(probe, MES_STATUS).await?;
    wait_for(state, "6 expired mes.status dead letters", |s| {
        dlq_seen(s, MES_STATUS_DLQ) >= 6
    })
    .await?;
    dead(&mut lock(state).truth, MES_STATUS, "expired", 6, true);
    mes_pub
        .publish(MES_STATUS, 5, Action::Ack, 0, false)
        .await?;
    mes_pub
        .publish(MES_STATUS, 8, Action::Ack, 3, false)
        .await?;
    mes_pub
        .publish(MES_STATUS, 2, Action::Reject, 1, false)
        .await?;
    let overflow = 15 - MES_STATUS_MAX_LENGTH as u64;
    wait_for(state, "5 maxlen mes.status dead letters", |s| {
        dlq_seen(s, MES_STATUS_DLQ) >= 6 + overflow
    })
    .await?;
    dead(&mut lock(state).truth, MES_STATUS, "maxlen", overflow, true);
    // Its consumer (the Shop) acks 8 and rejects 2 (dead-lettered: rejected).
    let _ = consume(shop, "shop", MES_STATUS, 10, state.clone()).await?;
    wait_for(state, "mes.status consumed", |s| {
        seen(s, MES_STATUS, Action::Ack) >= 8
            && seen(s, MES_STATUS, Action::Reject) >= 2
            && dlq_seen(s, MES_STATUS_DLQ) >= 6 + overflow + 2
    })
    .await?;
    dead(&mut lock(state).truth, MES_STATUS, "rejected", 2, true);

    Ok(())
}

/// crm.notifications: expiry and rejection without a DLX (dropped).
async fn crm_phase(
    crm_pub: &mut Publisher,
    crm: &Connection,
    probe: &Channel,
    state: &Shared,
) -> Result<(), String> {
    // crm.notifications has no DLX: 4 expire and are dropped, then its consumer (the CRM,
    // one message at a time) acks 5 and rejects 2 (dropped).
    crm_pub
        .publish(CRM_NOTIFICATIONS, 4, Action::Ack, 0, true)
        .await?;
    wait_empty(probe, CRM_NOTIFICATIONS).await?;
    dead(
        &mut lock(state).truth,
        CRM_NOTIFICATIONS,
        "expired",
        4,
        false,
    );
    let _ = consume(crm, "crm", CRM_NOTIFICATIONS, 1, state.clone()).await?;
    crm_pub
        .publish(CRM_NOTIFICATIONS, 5, Action::Ack, 8, false)
        .await?;
    crm_pub
        .publish(CRM_NOTIFICATIONS, 2, Action::Reject, 2, false)
        .await?;
    wait_for(state, "crm.notifications consumed", |s| {
        seen(s, CRM_NOTIFICATIONS, Action::Ack) >= 5
            && seen(s, CRM_NOTIFICATIONS, Action::Reject) >= 2
    })
    .await?;
    wait_empty(probe, CRM_NOTIFICATIONS).await?;
    dead(
        &mut lock(state).truth,
        CRM_NOTIFICATIONS,
        "rejected",
        2,
        false,
    );

    Ok(())
}

/// The driver: its state is shared by the scenario, the consumers and the metrics endpoint.
#[derive(Default, Clone)]
pub struct Driver {
    state: Shared,
}

impl Driver {
    /// Registers the consumers' histograms at zero, as a client library does for label
    /// values known in advance: a series born with its first observation loses that
    /// scrape's count to `rate()`.
    pub fn new() -> Driver {
        let d = Driver::default();
        let mut s = lock(&d.state);
        for (service, queue) in [
            ("mes", SHOP_ORDERS),
            ("shop", MES_STATUS),
            ("crm", CRM_NOTIFICATIONS),
        ] {
            for outcome in ["ack", "nack"] {
                s.hist.insert(
                    (service.into(), queue.into(), outcome.into()),
                    Histogram::default(),
                );
            }
        }
        drop(s);
        d
    }

    /// The application-side series, in the Prometheus text format.
    pub fn exposition(&self) -> String {
        exposition(&lock(&self.state))
    }
}

/// Runs the scenario against `url`; returns the truth and the connections to hold.
pub async fn run(url: &str, driver: &Driver) -> Result<(Truth, Held), String> {
    let state = driver.state.clone();
    let props = ConnectionProperties::default;
    lock(&state).truth.started_at = now_unix();

    // Topology, on a connection of its own that is closed again (connection churn).
    let setup = Connection::connect(
        url,
        props().with_connection_name("vitals-drive-setup".into()),
    )
    .await
    .map_err(err(url))?;
    let sch = setup.create_channel().await.map_err(err("channel"))?;
    declare(&sch).await?;
    setup
        .close(200, "topology declared")
        .await
        .map_err(err("close"))?;

    let connect =
        |name: &'static str| Connection::connect(url, props().with_connection_name(name.into()));
    let shop = connect("shop").await.map_err(err(url))?;
    let mes = connect("mes").await.map_err(err(url))?;
    let crm = connect("crm").await.map_err(err(url))?;
    let dlqc = connect("dlq-consumer").await.map_err(err(url))?;
    {
        let mut s = lock(&state);
        s.truth.connections_opened = 5;
        s.truth.connections_closed = 1;
        s.truth.connections = 4;
    }
    let probe = crm.create_channel().await.map_err(err("channel"))?;
    consume_dlq(&dlqc, SHOP_ORDERS_DLQ, state.clone()).await?;
    consume_dlq(&dlqc, MES_STATUS_DLQ, state.clone()).await?;

    let mut shop_pub = Publisher::new(&shop, state.clone()).await?;
    let mut mes_pub = Publisher::new(&mes, state.clone()).await?;
    let mut crm_pub = Publisher::new(&crm, state.clone()).await?;

    mes_status_phase(&mut mes_pub, &shop, &probe, &state).await?;
    crm_phase(&mut crm_pub, &crm, &probe, &state).await?;

    // shop.orders (quorum, at-least-once DLX, delivery limit 2), consumed by the MES two at
    // a time: 20 acked, 4 rejected, 3 returned until the delivery limit dead-letters them.
    let phase1 = consume(&mes, "mes", SHOP_ORDERS, 2, state.clone()).await?;
    shop_pub
        .publish(SHOP_ORDERS, 20, Action::Ack, 20, false)
        .await?;
    shop_pub
        .publish(SHOP_ORDERS, 4, Action::Reject, 5, false)
        .await?;
    shop_pub
        .publish(SHOP_ORDERS, 3, Action::Requeue, 1, false)
        .await?;
    wait_for(&state, "shop.orders consumed and dead-lettered", |s| {
        seen(s, SHOP_ORDERS, Action::Ack) >= 20
            && seen(s, SHOP_ORDERS, Action::Reject) >= 4
            && dlq_seen(s, SHOP_ORDERS_DLQ) >= 7
    })
    .await?;
    dead(&mut lock(&state).truth, SHOP_ORDERS, "rejected", 4, true);
    dead(
        &mut lock(&state).truth,
        SHOP_ORDERS,
        "delivery_limit",
        3,
        true,
    );

    // What stays: the MES holds 2 orders unacknowledged (its prefetch), 5 wait behind
    // them; the CRM holds 1 notification and 3 wait. RabbitMQ 3.10 lets a quorum queue's
    // consumer that returned messages (nack, requeue) exceed its prefetch, so the MES
    // consumes the rest on a fresh channel.
    phase1
        .close(200, "phase done")
        .await
        .map_err(err("channel close"))?;
    consume(&mes, "mes", SHOP_ORDERS, 2, state.clone()).await?;
    let shop_held = shop_pub
        .publish(SHOP_ORDERS, 2, Action::Hold, 0, false)
        .await?;
    wait_for(&state, "2 held orders", |s| {
        seen(s, SHOP_ORDERS, Action::Hold) >= 2
    })
    .await?;
    let shop_head = shop_pub
        .publish(SHOP_ORDERS, 5, Action::Ack, 0, false)
        .await?;
    let crm_held = crm_pub
        .publish(CRM_NOTIFICATIONS, 1, Action::Hold, 0, false)
        .await?;
    wait_for(&state, "1 held notification", |s| {
        seen(s, CRM_NOTIFICATIONS, Action::Hold) >= 1
    })
    .await?;
    // The ready messages are stamped in a later second than the held one (AMQP timestamps
    // are whole seconds), so a test tells which the broker takes as the oldest: the held
    // one, delivered but unacknowledged, as RabbitMQ 3.10 does.
    let next_second = crm_held as f64 + 1.05 - now_unix();
    if next_second > 0.0 {
        tokio::time::sleep(Duration::from_secs_f64(next_second)).await;
    }
    let crm_head = crm_pub
        .publish(CRM_NOTIFICATIONS, 3, Action::Ack, 0, false)
        .await?;
    let settled = |q: &str, want: u64| {
        let ch = &probe;
        let q = q.to_string();
        async move {
            let t0 = Instant::now();
            while t0.elapsed() < Duration::from_secs(30) {
                if ready(ch, &q).await? == want {
                    return Ok(());
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(format!("{q} did not settle at {want} ready messages"))
        }
    };
    settled(SHOP_ORDERS, 5).await?;
    settled(CRM_NOTIFICATIONS, 3).await?;
    settled(MES_STATUS, 0).await?;
    settled(SHOP_ORDERS_DLQ, 0).await?;
    settled(MES_STATUS_DLQ, 0).await?;

    let mut s = lock(&state);
    let t = &mut s.truth;
    let q = |ready, unacked, consumers| QueueState {
        ready,
        unacked,
        consumers,
    };
    t.queues.insert(SHOP_ORDERS.into(), q(5, 2, 1));
    t.queues.insert(MES_STATUS.into(), q(0, 0, 1));
    t.queues.insert(CRM_NOTIFICATIONS.into(), q(3, 1, 1));
    t.queues.insert(SHOP_ORDERS_DLQ.into(), q(0, 0, 1));
    t.queues.insert(MES_STATUS_DLQ.into(), q(0, 0, 1));
    t.head_timestamp
        .insert(SHOP_ORDERS.into(), shop_held.min(shop_head));
    t.head_timestamp
        .insert(CRM_NOTIFICATIONS.into(), crm_held.min(crm_head));
    t.finished_at = now_unix();
    let truth = t.clone();
    drop(s);
    drop(probe);
    Ok((
        truth,
        Held {
            _conns: vec![shop, mes, crm, dlqc],
        },
    ))
}

fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn fmt_f64(v: f64) -> String {
    if v.is_infinite() {
        "+Inf".into()
    } else {
        format!("{v}")
    }
}

/// The application-side series in the Prometheus text format.
fn exposition(s: &State) -> String {
    let mut out = String::new();
    out.push_str(
        "# HELP dlq_messages_received_total Dead-lettered messages by source queue and first death reason\n# TYPE dlq_messages_received_total counter\n",
    );
    for ((dlq, source, reason), n) in &s.dlq {
        let _ = writeln!(
            out,
            "dlq_messages_received_total{{service=\"rabbitmq\",dlq=\"{}\",source_queue=\"{}\",reason=\"{}\"}} {n}",
            label(dlq),
            label(source),
            label(reason)
        );
    }
    out.push_str(
        "# HELP messaging_process_duration_seconds Time consumers take to process a message\n# TYPE messaging_process_duration_seconds histogram\n",
    );
    for ((service, queue, outcome), h) in &s.hist {
        let l = format!(
            "service=\"{}\",queue=\"{}\",outcome=\"{}\"",
            label(service),
            label(queue),
            label(outcome)
        );
        for (i, b) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "messaging_process_duration_seconds_bucket{{{l},le=\"{}\"}} {}",
                fmt_f64(*b),
                h.counts[i]
            );
        }
        let _ = writeln!(
            out,
            "messaging_process_duration_seconds_bucket{{{l},le=\"+Inf\"}} {}",
            h.count
        );
        let _ = writeln!(
            out,
            "messaging_process_duration_seconds_sum{{{l}}} {}",
            h.sum
        );
        let _ = writeln!(
            out,
            "messaging_process_duration_seconds_count{{{l}}} {}",
            h.count
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let mut h = Histogram::default();
        h.observe(0.02);
        h.observe(0.3);
        assert_eq!(h.counts[0], 0);
        assert_eq!(h.counts[2], 1); // le=0.025
        assert_eq!(h.counts[7], 2); // le=0.5
        assert_eq!(h.count, 2);
    }

    #[test]
    fn dlq_series_appear_with_their_first_message() {
        let mut s = State::default();
        assert!(!exposition(&s).contains("dlq_messages_received_total{"));
        s.dlq.insert(
            (
                "shop.orders.dlq".into(),
                "shop.orders".into(),
                "rejected".into(),
            ),
            4,
        );
        assert!(exposition(&s).contains(
            "dlq_messages_received_total{service=\"rabbitmq\",dlq=\"shop.orders.dlq\",source_queue=\"shop.orders\",reason=\"rejected\"} 4"
        ));
    }
}
