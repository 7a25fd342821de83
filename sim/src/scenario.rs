//! Scenarios: a name, a length, traffic multipliers and scripted incidents. The built-in
//! ones are TOML files in `scenarios/`, written in the same format users write theirs in.

use std::path::Path;

use serde::{Deserialize, Serialize};

use vitals::duration::Duration;

pub const BUILTIN: [(&str, &str); 3] = [
    (
        "normal-week",
        include_str!("../../scenarios/normal-week.toml"),
    ),
    (
        "incident-week",
        include_str!("../../scenarios/incident-week.toml"),
    ),
    (
        "mes-outage",
        include_str!("../../scenarios/mes-outage.toml"),
    ),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IncidentKind {
    /// MES answers 503 to `magnitude` of its requests; its order consumer first rejects
    /// every order (dead-lettered as `rejected`), then disconnects, so `shop.orders` backs
    /// up; latency climbs.
    MesOutage,
    /// A release of `target` (an API) multiplies its latency by `magnitude`.
    SlowRelease,
    /// The instance `target` restarts: its counters start again from zero.
    Restart,
    /// Prometheus cannot scrape the instance `target`: `up` is 0, no samples.
    ScrapeGap,
    /// Idle-in-transaction connections pile up on the database `target` to `magnitude` of
    /// `max_connections`; queries slow down and start failing.
    DbConnectionPileup,
    /// The consumer of queue `target` stops; messages outlive their TTL and expire.
    ExpiredMessages,
}

impl IncidentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentKind::MesOutage => "mes-outage",
            IncidentKind::SlowRelease => "slow-release",
            IncidentKind::Restart => "restart",
            IncidentKind::ScrapeGap => "scrape-gap",
            IncidentKind::DbConnectionPileup => "db-connection-pileup",
            IncidentKind::ExpiredMessages => "expired-messages",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Critical,
    Major,
    Minor,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Major => "major",
            Severity::Minor => "minor",
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Incident {
    /// Shown in the ground truth.
    pub name: String,
    pub kind: IncidentKind,
    /// Offset from the scenario's start.
    pub at: Duration,
    pub duration: Duration,
    /// An API (`mes`), an instance (`shop-2`), a database (`mes-db`) or a queue.
    pub target: String,
    /// Kind-specific strength (error share, latency factor, connection share).
    #[serde(default)]
    pub magnitude: Option<f64>,
    /// The CRM incident it opens; none for blips nobody files.
    #[serde(default)]
    pub severity: Option<Severity>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Traffic {
    #[serde(default = "one")]
    pub shop: f64,
    #[serde(default = "one")]
    pub crm: f64,
    #[serde(default = "one")]
    pub mes: f64,
    /// Minor incidents customers report per day (resolved by staff, feeding MTTR).
    #[serde(default = "one")]
    pub minor_incidents_per_day: f64,
}

fn one() -> f64 {
    1.0
}

impl Default for Traffic {
    fn default() -> Self {
        Traffic {
            shop: 1.0,
            crm: 1.0,
            mes: 1.0,
            minor_incidents_per_day: 1.0,
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// How long the scenario runs; histories longer than this start with normal days.
    pub length: Duration,
    /// The shop's local time zone (traffic follows its day).
    #[serde(default = "default_tz")]
    pub time_zone: String,
    #[serde(default)]
    pub traffic: Traffic,
    #[serde(default, rename = "incident")]
    pub incidents: Vec<Incident>,
}

fn default_tz() -> String {
    "Europe/Moscow".into()
}

const APIS: [&str; 3] = ["shop", "crm", "mes"];
const INSTANCES: [&str; 13] = [
    "shop-1",
    "shop-2",
    "shop-3",
    "crm-1",
    "crm-2",
    "mes-1",
    "mes-2",
    "rabbitmq-1",
    "dlq-consumer-1",
    "shop-db-1",
    "mes-db-1",
    "minio-1",
    "minio-2",
];
const DBS: [&str; 2] = ["shop-db", "mes-db"];
const QUEUES: [&str; 3] = ["shop.orders", "mes.status", "crm.notifications"];

impl Scenario {
    /// A built-in scenario by name, or a TOML file by path.
    pub fn load(name_or_path: &str) -> Result<Scenario, String> {
        let text = if let Some((_, t)) = BUILTIN.iter().find(|(n, _)| *n == name_or_path) {
            t.to_string()
        } else if name_or_path.ends_with(".toml") || Path::new(name_or_path).exists() {
            std::fs::read_to_string(name_or_path)
                .map_err(|e| format!("cannot read scenario {name_or_path}: {e}"))?
        } else {
            return Err(format!(
                "unknown scenario `{name_or_path}`: built-in ones are {}; or give a .toml file",
                BUILTIN.iter().map(|b| b.0).collect::<Vec<_>>().join(", ")
            ));
        };
        let s = Self::parse(&text).map_err(|e| format!("{name_or_path}: {e}"))?;
        Ok(s)
    }

    pub fn parse(text: &str) -> Result<Scenario, String> {
        let s: Scenario = toml::from_str(text).map_err(|e| {
            let src = vitals::diag::Source::new("scenario", text);
            src.problem_at(e.span(), vitals::diag::toml_message(&e))
                .to_string()
        })?;
        s.validate()?;
        Ok(s)
    }

    fn validate(&self) -> Result<(), String> {
        if self.length.secs() < 3600 {
            return Err(format!("length {} is shorter than an hour", self.length));
        }
        self.time_zone
            .parse::<chrono_tz::Tz>()
            .map_err(|_| format!("unknown time_zone {:?}", self.time_zone))?;
        for (k, v) in [
            ("shop", self.traffic.shop),
            ("crm", self.traffic.crm),
            ("mes", self.traffic.mes),
        ] {
            if !(0.0..=100.0).contains(&v) {
                return Err(format!("traffic.{k} = {v} is outside 0..100"));
            }
        }
        for i in &self.incidents {
            let ok = match i.kind {
                IncidentKind::MesOutage => i.target == "mes",
                IncidentKind::SlowRelease => APIS.contains(&i.target.as_str()),
                IncidentKind::Restart | IncidentKind::ScrapeGap => {
                    INSTANCES.contains(&i.target.as_str())
                }
                IncidentKind::DbConnectionPileup => DBS.contains(&i.target.as_str()),
                IncidentKind::ExpiredMessages => QUEUES.contains(&i.target.as_str()),
            };
            if !ok {
                return Err(format!(
                    "incident {:?}: target {:?} does not fit kind {}",
                    i.name,
                    i.target,
                    i.kind.as_str()
                ));
            }
            if i.duration.millis() == 0 {
                return Err(format!("incident {:?}: duration must be positive", i.name));
            }
            if let Some(m) = i.magnitude
                && !(m.is_finite() && m > 0.0)
            {
                return Err(format!("incident {:?}: magnitude must be positive", i.name));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_scenarios_parse() {
        for (name, _) in BUILTIN {
            let s = Scenario::load(name).unwrap();
            assert_eq!(s.name, name);
        }
    }

    #[test]
    fn rejects_incidents_aimed_at_unknown_targets() {
        let e = Scenario::parse(
            "name='x'\nlength='1d'\n[[incident]]\nname='a'\nkind='restart'\ntarget='shop-9'\nat='1h'\nduration='1m'\n",
        )
        .unwrap_err();
        assert!(e.contains("does not fit kind restart"), "{e}");
        let e = Scenario::parse("name='x'\nlength='1d'\ncolour='red'\n").unwrap_err();
        assert!(e.contains("unknown field `colour`"), "{e}");
    }
}
