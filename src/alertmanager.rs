//! `vitals status --alertmanager URL`: the alerts firing and the silences active in an
//! Alertmanager, beside vitals' own judgement, and where the two disagree (an SLO failing with
//! no alert firing for it, an alert silenced, an alert firing for an SLO that passes).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::prom::http::{Http, HttpOptions, Transport};
use crate::slo::eval::{Row, Status};

/// What the Alertmanager says, and where it disagrees with vitals.
#[derive(Clone, Debug, Serialize)]
pub struct View {
    /// The Alertmanager asked (credentials never shown).
    pub url: String,
    /// Alerts it has, active or suppressed.
    pub alerts: Vec<Alert>,
    /// Silences in force now.
    pub silences: Vec<Silence>,
    /// Where vitals and the Alertmanager disagree, one line each.
    pub disagreements: Vec<String>,
    /// The Alertmanager's state is now's even with `--at`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Alert {
    pub name: String,
    pub severity: Option<String>,
    pub slo: Option<String>,
    pub component: Option<String>,
    /// `active`, `suppressed` or `unprocessed`, as Alertmanager says.
    pub state: String,
    pub silenced: bool,
    pub inhibited: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct Silence {
    pub id: String,
    /// `name="value"` matchers, joined by commas.
    pub matchers: String,
    pub ends_at: String,
    pub created_by: String,
    pub comment: String,
}

#[derive(Deserialize)]
struct RawAlert {
    labels: std::collections::BTreeMap<String, String>,
    status: RawAlertStatus,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawAlertStatus {
    state: String,
    #[serde(default)]
    silenced_by: Vec<String>,
    #[serde(default)]
    inhibited_by: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSilence {
    id: String,
    matchers: Vec<RawMatcher>,
    ends_at: String,
    #[serde(default)]
    created_by: String,
    #[serde(default)]
    comment: String,
    status: RawSilenceStatus,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawMatcher {
    name: String,
    value: String,
    #[serde(default)]
    is_regex: bool,
    #[serde(default = "yes")]
    is_equal: bool,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
struct RawSilenceStatus {
    state: String,
}

fn transport(e: Transport) -> String {
    match e {
        Transport::Connect(s) | Transport::Broken(s) => s,
        Transport::Tls(_, s) => s,
        other => format!("{other:?}"),
    }
}

async fn get<T: for<'de> Deserialize<'de>>(
    http: &Http,
    base: &Url,
    path: &str,
) -> Result<T, String> {
    let url = base
        .join(path)
        .map_err(|e| format!("--alertmanager: {e}"))?;
    let fut = http.send(url.clone(), None);
    let reply = tokio::time::timeout(Duration::from_secs(10), fut)
        .await
        .map_err(|_| format!("{url} did not answer within 10s"))?
        .map_err(transport)?;
    if reply.status != 200 {
        return Err(format!("{url} answered HTTP {}", reply.status));
    }
    serde_json::from_slice(&reply.body)
        .map_err(|e| format!("{url} did not answer with Alertmanager's API v2 JSON: {e}"))
}

/// Reads the Alertmanager at `url` and compares it with the SLO rows vitals judged.
pub(crate) async fn view(
    url: &str,
    rows: &[Row],
    alerting: &dyn Fn(&str) -> bool,
    past: bool,
) -> Result<View, String> {
    let mut base = Url::parse(url).map_err(|e| format!("--alertmanager {url}: {e}"))?;
    if !base.path().ends_with('/') {
        base.set_path(&format!("{}/", base.path()));
    }
    let shown = crate::prom::redact(&base);
    let http = Http::new(
        HttpOptions {
            headers: Default::default(),
            tls: Default::default(),
            follow_redirects: true,
            max_body: 64 << 20,
            connect_timeout: Duration::from_secs(5),
            pool_size: 2,
        },
        base.scheme() == "https",
    )?;
    let (alerts, silences) = tokio::join!(
        get::<Vec<RawAlert>>(&http, &base, "api/v2/alerts"),
        get::<Vec<RawSilence>>(&http, &base, "api/v2/silences")
    );
    let alerts: Vec<Alert> = alerts
        .map_err(|e| format!("Alertmanager at {shown}: {e}"))?
        .into_iter()
        .map(|a| Alert {
            name: a.labels.get("alertname").cloned().unwrap_or_default(),
            severity: a.labels.get("severity").cloned(),
            slo: a.labels.get("slo").cloned(),
            component: a.labels.get("component").cloned(),
            state: a.status.state,
            silenced: !a.status.silenced_by.is_empty(),
            inhibited: !a.status.inhibited_by.is_empty(),
        })
        .collect();
    let silences: Vec<Silence> = silences
        .map_err(|e| format!("Alertmanager at {shown}: {e}"))?
        .into_iter()
        .filter(|s| s.status.state == "active")
        .map(|s| Silence {
            id: s.id,
            matchers: s
                .matchers
                .iter()
                .map(|m| {
                    let op = match (m.is_equal, m.is_regex) {
                        (true, false) => "=",
                        (false, false) => "!=",
                        (true, true) => "=~",
                        (false, true) => "!~",
                    };
                    format!("{}{op}\"{}\"", m.name, m.value)
                })
                .collect::<Vec<_>>()
                .join(","),
            ends_at: s.ends_at,
            created_by: s.created_by,
            comment: s.comment,
        })
        .collect();
    let disagreements = compare(rows, &alerts, alerting);
    Ok(View {
        url: shown,
        alerts,
        silences,
        disagreements,
        note: past.then(|| {
            "the Alertmanager's alerts and silences are those of now, not of --at".to_string()
        }),
    })
}

/// Where vitals and the Alertmanager tell different stories.
fn compare(rows: &[Row], alerts: &[Alert], alerting: &dyn Fn(&str) -> bool) -> Vec<String> {
    let mut out = Vec::new();
    fn of<'a>(alerts: &'a [Alert], slo: &'a str) -> impl Iterator<Item = &'a Alert> + 'a {
        alerts.iter().filter(move |a| a.slo.as_deref() == Some(slo))
    }
    let mut failing: Vec<&str> = rows
        .iter()
        .filter(|r| r.status == Status::Fail && alerting(&r.name))
        .map(|r| r.name.as_str())
        .collect();
    failing.dedup();
    for slo in &failing {
        let mine: Vec<&Alert> = of(alerts, slo).collect();
        if mine.is_empty() {
            out.push(format!("SLO {slo} fails, but no alert fires for it"));
        } else if mine.iter().all(|a| a.silenced) {
            out.push(format!("SLO {slo} fails, and its alert is silenced"));
        } else if mine.iter().all(|a| a.silenced || a.inhibited) {
            out.push(format!("SLO {slo} fails, and its alert is inhibited"));
        }
    }
    let mut passing: Vec<&str> = rows
        .iter()
        .filter(|r| r.status == Status::Pass)
        .map(|r| r.name.as_str())
        .filter(|n| {
            !failing.contains(n)
                && rows
                    .iter()
                    .filter(|r| r.name == *n)
                    .all(|r| r.status == Status::Pass)
        })
        .collect();
    passing.dedup();
    for slo in passing {
        if let Some(a) = of(alerts, slo).find(|a| a.state == "active") {
            out.push(format!(
                "alert {} fires for SLO {slo}, which vitals judges passing",
                a.name
            ));
        }
    }
    for a in alerts.iter().filter(|a| a.silenced && a.slo.is_none()) {
        out.push(format!("alert {} is silenced", a.name));
    }
    out
}

impl View {
    /// One line for the screen: what fires, what is silenced.
    pub(crate) fn summary(&self) -> String {
        let active: Vec<&Alert> = self.alerts.iter().filter(|a| a.state == "active").collect();
        let count = |sev: &str| {
            active
                .iter()
                .filter(|a| a.severity.as_deref() == Some(sev))
                .count()
        };
        let suppressed = self.alerts.len() - active.len();
        format!(
            "alertmanager: {} firing ({} page, {} ticket), {suppressed} suppressed, {} silence(s) active",
            active.len(),
            count("page"),
            count("ticket"),
            self.silences.len()
        )
    }
}
