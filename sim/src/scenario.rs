//! Scenarios: a name, a length, traffic multipliers and scripted incidents. The built-in
//! ones are TOML files in `scenarios/`, written in the same format users write theirs in.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use vitals::duration::Duration;

use crate::topology::Topology;

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
    /// The production API (the consumer of the orders queue, MES) answers 503 to
    /// `magnitude` of its requests; its order consumer first rejects every order
    /// (dead-lettered as `rejected`), then disconnects, so the orders queue backs up;
    /// latency climbs.
    MesOutage,
    /// An API answers 503 to `magnitude` of its requests and latency climbs (for the
    /// production API, the same as `mes-outage`).
    ApiOutage,
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
            IncidentKind::ApiOutage => "api-outage",
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
    /// An API (`mes`), an instance (`shop-2`), a database (`mes-db`) or a queue, of the
    /// topology simulated.
    pub target: String,
    /// Kind-specific strength (error share, latency factor, connection share).
    #[serde(default)]
    pub magnitude: Option<f64>,
    /// The CRM incident it opens; none for blips nobody files.
    #[serde(default)]
    pub severity: Option<Severity>,
}

/// Traffic factors: one per API of the topology (by name, 1 when not given), and the
/// customer-reported incidents.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Traffic {
    /// Minor incidents customers report per day (resolved by staff, feeding MTTR).
    #[serde(default = "one")]
    pub minor_incidents_per_day: f64,
    /// Multipliers of the APIs' baseline load, by API name.
    #[serde(flatten)]
    pub apis: BTreeMap<String, f64>,
}

fn one() -> f64 {
    1.0
}

impl Traffic {
    /// The load factor of an API.
    pub fn factor(&self, api: &str) -> f64 {
        self.apis.get(api).copied().unwrap_or(1.0)
    }
}

impl Default for Traffic {
    fn default() -> Self {
        Traffic {
            minor_incidents_per_day: 1.0,
            apis: BTreeMap::new(),
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
    /// Where it was read from, and its text (for locating problems found later).
    #[serde(skip)]
    pub origin: String,
    #[serde(skip)]
    pub text: String,
}

fn default_tz() -> String {
    "Europe/Moscow".into()
}

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
        Self::parse_named(name_or_path, &text)
    }

    pub fn parse(text: &str) -> Result<Scenario, String> {
        Self::parse_named("scenario", text)
    }

    /// Parses a scenario shown as `origin` in errors (`origin:line:col: problem`).
    pub fn parse_named(origin: &str, text: &str) -> Result<Scenario, String> {
        let mut s: Scenario = toml::from_str(text).map_err(|e| {
            let src = vitals::diag::Source::new(origin, text);
            src.problem_at(e.span(), vitals::diag::toml_message(&e))
                .to_string()
        })?;
        s.origin = origin.to_string();
        s.text = text.to_string();
        s.validate().map_err(|e| format!("{origin}: {e}"))?;
        Ok(s)
    }

    /// The place of key `key` in the `k`-th `[[incident]]` (or in `[traffic]`), for errors.
    fn place(&self, k: Option<usize>, key: &str) -> String {
        let src = vitals::diag::Source::new(&self.origin, self.text.as_str());
        let header = match k {
            Some(_) => "[[incident]]",
            None => "[traffic]",
        };
        let start = self
            .text
            .match_indices(header)
            .nth(k.unwrap_or(0))
            .map(|(i, _)| i);
        let span = start.and_then(|i| src.find_key(&(i..i + header.len()), key));
        src.problem_at(span, "").to_string()
    }

    /// Checks that every incident's target, and every traffic factor, names a part of
    /// `topology` that fits.
    pub fn check(&self, topology: &Topology) -> Result<(), String> {
        let mut problems = Vec::new();
        let apis: Vec<String> = topology.apis.iter().map(|a| a.name.clone()).collect();
        for (k, v) in &self.traffic.apis {
            if !apis.contains(k) {
                problems.push(format!(
                    "{}traffic.{k}: no API {k:?} in topology {:?} (APIs: {})",
                    self.place(None, k),
                    topology.name,
                    apis.join(", ")
                ));
            } else if !(0.0..=100.0).contains(v) {
                problems.push(format!(
                    "{}traffic.{k} = {v} is outside 0..100",
                    self.place(None, k)
                ));
            }
        }
        for (k, i) in self.incidents.iter().enumerate() {
            let valid = targets(i.kind, topology);
            if !valid.contains(&i.target) {
                problems.push(format!(
                    "{}incident {:?}: target {:?} does not fit kind {} in topology {:?} (valid targets: {})",
                    self.place(Some(k), "target"),
                    i.name,
                    i.target,
                    i.kind.as_str(),
                    topology.name,
                    valid.join(", ")
                ));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("\n"))
        }
    }

    fn validate(&self) -> Result<(), String> {
        if self.length.secs() < 3600 {
            return Err(format!("length {} is shorter than an hour", self.length));
        }
        self.time_zone
            .parse::<chrono_tz::Tz>()
            .map_err(|_| format!("unknown time_zone {:?}", self.time_zone))?;
        for i in &self.incidents {
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

/// The targets an incident of `kind` may name in `t`.
fn targets(kind: IncidentKind, t: &Topology) -> Vec<String> {
    match kind {
        IncidentKind::MesOutage => t
            .queue_of(crate::topology::Role::Orders)
            .and_then(|q| t.queues[q].consumers.first())
            .and_then(|c| t.api_instance(&c.instance))
            .map(|(a, _)| vec![t.apis[a].name.clone()])
            .unwrap_or_default(),
        IncidentKind::ApiOutage | IncidentKind::SlowRelease => {
            t.apis.iter().map(|a| a.name.clone()).collect()
        }
        IncidentKind::Restart | IncidentKind::ScrapeGap => t.instances(),
        IncidentKind::DbConnectionPileup => t.databases.iter().map(|d| d.name.clone()).collect(),
        IncidentKind::ExpiredMessages => t.queues.iter().map(|q| q.name.clone()).collect(),
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
        let s = Scenario::parse_named(
            "x.toml",
            "name='x'\nlength='1d'\n[[incident]]\nname='a'\nkind='restart'\ntarget='shop-9'\nat='1h'\nduration='1m'\n",
        )
        .unwrap();
        let e = s.check(&Topology::reference()).unwrap_err();
        assert!(
            e.starts_with(
                "x.toml:6:1: incident \"a\": target \"shop-9\" does not fit kind restart"
            ),
            "{e}"
        );
        assert!(e.contains("shop-3, crm-1"), "{e}");
        let s = Scenario::parse("name='x'\nlength='1d'\n[traffic]\npayments = 2.0\n").unwrap();
        let e = s.check(&Topology::reference()).unwrap_err();
        assert!(
            e.contains("scenario:4:1: traffic.payments: no API \"payments\""),
            "{e}"
        );
        let e = Scenario::parse("name='x'\nlength='1d'\ncolour='red'\n").unwrap_err();
        assert!(e.contains("unknown field `colour`"), "{e}");
    }
}
