//! Recorded signals: what keeps a `vitals status` screen at a few thousand samples whatever
//! the cardinality.
//!
//! Raw, the screen's signals are catalog queries over the last 5 minutes of every series they
//! select (every histogram bucket of every route and instance for a p99), and its
//! sparklines the same queries at 30 steps of the last hour: the samples read grow with the
//! series. `vitals rules` records each of those queries every minute in the
//! [`SIGNAL_GROUP`] group, under [`SIGNAL_RECORD`] with the query's own labels plus
//! `vitals_signal` (the screen's tag) and `vitals_term` (a hash of the tag and the PromQL),
//! and one [`SIGNAL_HEARTBEAT`] point per query and evaluation. A screen then reads one
//! point per answer series: the value of the group's last evaluation (at most
//! [`FRESH`] seconds before the screen's time, else the query is read raw), and the
//! sparkline's steps from the recorded points when they cover the hour.
//!
//! The recorded value is the query's value at that evaluation, not at the screen's time:
//! up to a minute older, as any dashboard on recording rules. The screen says which source
//! it used and the time of the oldest evaluation it shows.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::catalog::params::escape_promql_string;
use crate::cli::SliSource;
use crate::duration::Duration;
use crate::prom::{Answer, PromError, Request, tag};
use crate::slo::sli::fnv1a;

/// The record of a signal's value at an evaluation.
pub const SIGNAL_RECORD: &str = "vitals:status_signal";
/// One point per signal at every evaluation of the group: whether it is current.
pub const SIGNAL_HEARTBEAT: &str = "vitals:status_signal_evaluations";
/// The rule group's name.
pub const SIGNAL_GROUP: &str = "vitals-status-signals";
/// Its interval.
pub const SIGNAL_INTERVAL: Duration = Duration::from_secs(60);
/// The oldest evaluation a screen shows, in seconds before its time: two intervals (one
/// evaluation missed or late), else the signal is read raw.
pub const FRESH: f64 = 120.0;
/// The evaluations a sparkline's hour must have to be drawn from recorded points (of 60:
/// a few missed, or the rules loaded a little less than an hour ago, still cover it).
const SPARK_EVALUATIONS: f64 = 54.0;

/// One catalog query of the screen, as `vitals rules` records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Term {
    /// The screen's tag (`vitals_signal`).
    pub key: String,
    pub promql: String,
}

impl Term {
    /// 16 hex digits of the FNV-1a hash of the tag and PromQL: the `vitals_term` label. An
    /// edit of the query (its catalog entry or parameters) gives another one, and the points
    /// recorded for the old one are not read for the new one.
    pub(crate) fn id(&self) -> String {
        fnv1a(&format!(
            "status-signal=1\nkey={}\nexpr={}\n",
            self.key, self.promql
        ))
    }

    /// The rule's expression: the query as it is.
    pub(crate) fn rule(&self) -> &str {
        &self.promql
    }

    /// The recorded series with the labels the raw query's answer has (and its tag).
    pub(crate) fn recorded(&self) -> String {
        format!(
            "sum without (vitals_term) ({SIGNAL_RECORD}{{vitals_term=\"{}\"}})",
            escape_promql_string(&self.id())
        )
    }

    /// The raw query, tagged.
    pub(crate) fn raw(&self) -> String {
        tag(&self.promql, &[("vitals_signal", &self.key)])
    }
}

/// Where each term is read from on one screen.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Choice {
    /// Keys whose value is the recorded one.
    pub signals: BTreeMap<String, bool>,
    /// Keys whose sparkline is drawn from recorded points.
    pub sparks: BTreeMap<String, bool>,
    /// The oldest evaluation shown (unix seconds), when any term is recorded.
    pub oldest: Option<f64>,
    /// What the screen says about it (empty when everything is raw with nothing to say).
    pub lines: Vec<String>,
}

impl Choice {
    /// Everything raw (`--source raw`, or nothing to record).
    pub(crate) fn raw() -> Choice {
        Choice::default()
    }

    /// Every term recorded (what the screen's queries look like with current rules).
    pub(crate) fn all_recorded(terms: &[Term]) -> Choice {
        let keys: BTreeMap<String, bool> = terms.iter().map(|t| (t.key.clone(), true)).collect();
        Choice {
            signals: keys.clone(),
            sparks: keys,
            ..Choice::default()
        }
    }

    fn signal(&self, key: &str) -> bool {
        self.signals.get(key).copied().unwrap_or(false)
    }

    fn spark(&self, key: &str) -> bool {
        self.sparks.get(key).copied().unwrap_or(false)
    }

    /// The term as the signals' instant query reads it.
    pub(crate) fn signal_query(&self, t: &Term) -> String {
        if self.signal(&t.key) {
            t.recorded()
        } else {
            t.raw()
        }
    }

    /// The term as the sparklines' range query reads it.
    pub(crate) fn spark_query(&self, t: &Term) -> String {
        if self.spark(&t.key) {
            t.recorded()
        } else {
            t.raw()
        }
    }
}

/// The probe, at the screen's time: each term's last evaluation (`vitals_probe="last"`)
/// and how many evaluations the hour before has (`vitals_probe="hour"`), one series per
/// term.
pub(crate) fn probe(terms: &[Term], at: DateTime<Utc>) -> Option<Request> {
    if terms.is_empty() {
        return None;
    }
    let ids: Vec<String> = terms.iter().map(Term::id).collect();
    let sel = format!("{SIGNAL_HEARTBEAT}{{vitals_term=~\"{}\"}}", ids.join("|"));
    let promql = format!(
        "{}\n  or {}",
        tag(&format!("timestamp({sel})"), &[("vitals_probe", "last")]),
        tag(
            &format!("count_over_time({sel}[1h])"),
            &[("vitals_probe", "hour")]
        )
    );
    Some(Request::instant("status signals probe", promql, at))
}

/// Decides, from the probe's answer, where each term is read from.
pub(crate) fn choose(
    terms: &[Term],
    probe: Result<&Answer, &PromError>,
    at: DateTime<Utc>,
    source: SliSource,
) -> Choice {
    if source == SliSource::Raw || terms.is_empty() {
        return Choice::raw();
    }
    let answer = match probe {
        Ok(a) => a,
        Err(e) => {
            return Choice {
                lines: vec![format!(
                    "could not read the recorded signals ({e}): raw series used"
                )],
                ..Choice::default()
            };
        }
    };
    let mut last: BTreeMap<&str, f64> = BTreeMap::new();
    let mut hour: BTreeMap<&str, f64> = BTreeMap::new();
    for s in &answer.series {
        let (Some(kind), Some(id), Some(v)) = (
            s.labels.get("vitals_probe"),
            s.labels.get("vitals_term"),
            s.value(),
        ) else {
            continue;
        };
        let map = match kind.as_str() {
            "last" => &mut last,
            "hour" => &mut hour,
            _ => continue,
        };
        let e = map.entry(id.as_str()).or_insert(v);
        *e = e.max(v);
    }
    let now = crate::timespec::unix_seconds(at);
    let mut choice = Choice::default();
    let (mut raw, mut late, mut old) = (Vec::new(), Vec::new(), false);
    for t in terms {
        let id = t.id();
        let fresh = last
            .get(id.as_str())
            .copied()
            .filter(|l| now - l <= FRESH && *l <= now + 1.0);
        match (fresh, last.get(id.as_str())) {
            (Some(l), _) => {
                choice.signals.insert(t.key.clone(), true);
                choice.oldest = Some(choice.oldest.map_or(l, |o: f64| o.min(l)));
                let evaluations = hour.get(id.as_str()).copied().unwrap_or(0.0);
                choice
                    .sparks
                    .insert(t.key.clone(), evaluations >= SPARK_EVALUATIONS);
                if evaluations < SPARK_EVALUATIONS {
                    late.push(t.key.as_str());
                }
            }
            (None, Some(_)) => {
                old = true;
                raw.push(format!("{} (its last evaluation is old)", t.key));
            }
            (None, None) => raw.push(t.key.clone()),
        }
    }
    if let Some(oldest) = choice.oldest {
        choice.lines.push(format!(
            "signals from recorded series ({SIGNAL_GROUP}), as of {} or later",
            crate::timespec::format_time(crate::timespec::from_unix_seconds(oldest))
        ));
        if !raw.is_empty() {
            choice.lines.push(format!(
                "signals read raw (no current recorded series with their definition): {}",
                raw.join(", ")
            ));
        }
        if !late.is_empty() {
            choice.lines.push(format!(
                "sparklines read raw (the recorded series cover less of the hour): {}",
                late.join(", ")
            ));
        }
    } else if old || source == SliSource::Recorded {
        // Recorded once, none of it current; or recorded series asked for and absent.
        choice.lines.push(format!(
            "signals read raw: no current recorded series (load the {SIGNAL_GROUP} group of `vitals rules`)"
        ));
    }
    choice
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prom::Series;

    fn term(key: &str) -> Term {
        Term {
            key: key.into(),
            promql: format!("sum(rate({key}_total[5m]))"),
        }
    }

    fn point(kind: &str, t: &Term, v: f64) -> Series {
        Series {
            labels: [
                ("vitals_probe".to_string(), kind.to_string()),
                ("vitals_term".to_string(), t.id()),
                ("vitals_signal".to_string(), t.key.clone()),
            ]
            .into_iter()
            .collect(),
            samples: vec![(0.0, v)],
        }
    }

    #[test]
    fn current_terms_are_read_recorded_and_the_others_raw() {
        let at = crate::timespec::from_unix_seconds(10_000.0);
        let (a, b, c) = (term("a"), term("b"), term("c"));
        let answer = Answer {
            series: vec![
                point("last", &a, 9_950.0),
                point("hour", &a, 60.0),
                point("last", &b, 9_900.0),
                point("hour", &b, 30.0),
                // Older than two intervals.
                point("last", &c, 9_700.0),
                point("hour", &c, 60.0),
            ],
            warnings: vec![],
        };
        let terms = [a.clone(), b.clone(), c.clone()];
        let ch = choose(&terms, Ok(&answer), at, SliSource::Auto);
        assert_eq!(ch.signal_query(&a), a.recorded());
        assert_eq!(ch.spark_query(&a), a.recorded());
        assert_eq!(ch.signal_query(&b), b.recorded());
        assert_eq!(ch.spark_query(&b), b.raw(), "half an hour of points");
        assert_eq!(ch.signal_query(&c), c.raw());
        assert_eq!(ch.oldest, Some(9_900.0));
        assert_eq!(ch.lines.len(), 3, "{:?}", ch.lines);
        assert!(ch.lines[1].contains("c (its last evaluation is old)"));
        let raw = choose(&terms, Ok(&answer), at, SliSource::Raw);
        assert_eq!(raw, Choice::raw());
        assert_eq!(raw.signal_query(&a), a.raw());
    }

    #[test]
    fn a_changed_query_is_another_term() {
        let a = term("a");
        let mut edited = a.clone();
        edited.promql = "sum(rate(a_total[10m]))".into();
        assert_ne!(a.id(), edited.id());
        let at = crate::timespec::from_unix_seconds(10_000.0);
        let answer = Answer {
            series: vec![point("last", &a, 9_990.0), point("hour", &a, 60.0)],
            warnings: vec![],
        };
        let ch = choose(&[edited.clone()], Ok(&answer), at, SliSource::Auto);
        assert_eq!(ch.signal_query(&edited), edited.raw());
        assert!(ch.lines.is_empty(), "{:?}", ch.lines);
        let asked = choose(&[edited], Ok(&answer), at, SliSource::Recorded);
        assert_eq!(asked.lines.len(), 1);
    }

    #[test]
    fn the_probe_and_the_recorded_form_are_valid_promql() {
        let at = crate::timespec::from_unix_seconds(10_000.0);
        let terms = [term("a"), term("b")];
        let p = probe(&terms, at).unwrap();
        promql_parser::parser::parse(&p.promql).unwrap();
        promql_parser::parser::parse(&terms[0].recorded()).unwrap();
        assert!(probe(&[], at).is_none());
    }
}
