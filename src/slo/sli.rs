//! The SLI layer: every PromQL an SLO needs is built here and nowhere else — a threshold
//! SLO's value and its violation, a ratio or latency SLO's bad/good and total parts, their
//! error ratio over a window, the `le` bucket of a latency threshold, the grouping — for
//! `check`, `status`, `report`, `incidents` and `rules` alike.
//!
//! One failure policy: what can be checked when `slo.toml` is loaded is (a threshold SLO's
//! query is expanded then); what needs Prometheus is decided by [`resolve_buckets`], whose
//! [`BucketProblem`] every command treats the same way: a threshold that is not a bucket is
//! a configuration error (exit 2), no matching series is no data, a failed query is a
//! failed query (exit 3).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::math::{self, BurnPair};
use super::model::{Calendar, Objective, Op, Sli, Slo, SloWindow, ThresholdExpr};
use super::window::resolve;
use crate::catalog::Catalog;
use crate::catalog::params::escape_promql_string;
use crate::catalog::template;
use crate::duration::Duration;
use crate::prom::{Answer, Batch, Prom, PromError, Request, tag};

/// Which part of a budget SLO a series is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Part {
    Bad,
    Good,
    Total,
}

impl Part {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Part::Bad => "bad",
            Part::Good => "good",
            Part::Total => "total",
        }
    }
}

/// How a latency SLO's threshold bucket is matched.
#[derive(Clone, Copy, Debug)]
pub enum Le<'a> {
    /// The `le` label as this Prometheus spells it (found by [`resolve_buckets`]).
    Found(&'a str),
    /// Every spelling client libraries use (`1` and `1.0`): for rules, written without
    /// asking Prometheus.
    AnySpelling,
}

/// A budget SLO's parts as PromQL templates with `{{window}}`: `bad` or `good`, and
/// `total`, each keeping the SLO's grouping.
#[derive(Clone, Debug, PartialEq)]
pub struct Parts {
    /// `Bad` or `Good`.
    pub first: Part,
    pub first_promql: String,
    pub total_promql: String,
    /// Where windows of [`RECORDED_MIN_WINDOW`] or more are read from the recorded
    /// per-interval increases (`vitals rules`) instead of the raw series; None: raw.
    pub recorded: Option<Recorded>,
    /// The counters of both parts, when vitals writes the parts itself (a latency SLO's
    /// histogram): their increase over an interval is then recorded exactly, as the
    /// difference of consecutive samples, instead of by `rate()`'s extrapolation.
    pub counters: Option<[String; 2]>,
    /// `sum` or `sum by (...)` (for [`Parts::counters`]).
    pub group: String,
}

/// How a budget SLO's recorded increases are selected and summed.
#[derive(Clone, Debug, PartialEq)]
pub struct Recorded {
    /// `slo="x", vitals_fingerprint="..."`.
    selector: String,
    /// `sum` or `sum by (...)`: the SLO's grouping.
    group: String,
    /// The time of the last recorded point (Unix seconds), when the probe found it: windows
    /// of [`STITCHED_MIN_WINDOW`] or more are then [`Stitch`]ed, exact at any time.
    last: Option<f64>,
}

impl Recorded {
    /// A part per second over `window`: its recorded increases summed, over the window's
    /// seconds.
    fn over(&self, part: Part, window: Duration) -> String {
        format!(
            "{} (sum_over_time({}{{{}}}[{window}])) / {}",
            self.group,
            increase_record(part),
            self.selector,
            window.secs()
        )
    }
}

impl Parts {
    /// Both parts over `window`, as per-second rates: from the raw series, or, for long
    /// windows of an SLO with [`Parts::recorded`], the recorded increases summed over the
    /// window and divided by its length.
    pub(crate) fn at(&self, window: Duration) -> [(Part, String); 2] {
        [
            (
                self.first,
                self.one_at(self.first, &self.first_promql, window),
            ),
            (
                Part::Total,
                self.one_at(Part::Total, &self.total_promql, window),
            ),
        ]
    }

    fn one_at(&self, part: Part, template: &str, window: Duration) -> String {
        match &self.recorded {
            Some(r) if window >= RECORDED_MIN_WINDOW => r.over(part, window),
            _ => fill_window(template, window),
        }
    }

    /// The first part's template, or the total's.
    fn template(&self, part: Part) -> &str {
        if part == Part::Total {
            &self.total_promql
        } else {
            &self.first_promql
        }
    }

    /// Both parts per second over each `step` (a whole number of [`RECORD_INTERVAL`]s),
    /// summed from the recorded increases whatever its length: on a grid of such steps, each
    /// recorded point falls in exactly one step. Raw without [`Parts::recorded`].
    pub(crate) fn at_step(&self, step: Duration) -> [(Part, String); 2] {
        let forced = |part, template: &str| match &self.recorded {
            Some(r) => r.over(part, step),
            None => fill_window(template, step),
        };
        [
            (self.first, forced(self.first, &self.first_promql)),
            (Part::Total, forced(Part::Total, &self.total_promql)),
        ]
    }

    /// These parts read from the recorded increases of `slo` (rules with its current
    /// fingerprint).
    pub(crate) fn reading_recorded(mut self, slo: &Slo) -> Parts {
        self.recorded = Some(Recorded {
            selector: format!(
                "slo=\"{}\", vitals_fingerprint=\"{}\"",
                escape_promql_string(&slo.name),
                fingerprint(slo)
            ),
            group: group_clause(&slo.group_by),
            last: None,
        });
        self
    }

    /// These parts with the time of the last recorded point known (see [`Stitch`]).
    pub(crate) fn last_recorded_at(mut self, last: Option<f64>) -> Parts {
        if let Some(r) = self.recorded.as_mut() {
            r.last = last.filter(|t| t.is_finite());
        }
        self
    }

    /// The rules' expressions of both parts' increase over one [`RECORD_INTERVAL`] (from the
    /// raw series), with the names they are recorded under.
    pub(crate) fn increase_rules(&self) -> [(String, String); 2] {
        let raw = Parts {
            recorded: None,
            ..self.clone()
        };
        let i = RECORD_INTERVAL;
        match &self.counters {
            // Exact differences of consecutive evaluations ([`exact_increase`]).
            Some([first, total]) => [(self.first, first), (Part::Total, total)]
                .map(|(p, c)| (increase_record(p), exact_increase(&self.group, c))),
            None => raw.at(i).map(|(part, promql)| {
                (increase_record(part), format!("({promql})\n* {}", i.secs()))
            }),
        }
    }

    /// Whether the first part counts good events (the bad ones are total - good).
    pub(crate) fn counts_good(&self) -> bool {
        self.first == Part::Good
    }

    /// The error ratio over `window`: bad / total, or 1 - good / total.
    pub(crate) fn error_ratio(&self, window: Duration) -> String {
        let [(_, first), (_, total)] = self.at(window);
        if self.counts_good() {
            format!("1 - (\n  ({first})\n  /\n  ({total})\n)")
        } else {
            format!("({first})\n/\n({total})")
        }
    }

    /// Both parts over every window in one expression, each series tagged `vitals_part`
    /// and `vitals_window` (the window's label).
    pub(crate) fn over_windows(&self, windows: &[(String, Duration)]) -> String {
        let mut terms = Vec::new();
        for (label, d) in windows {
            for (part, promql) in self.at(*d) {
                terms.push(tag(
                    &promql,
                    &[("vitals_part", part.as_str()), ("vitals_window", label)],
                ));
            }
        }
        terms.join("\n  or ")
    }

    /// [`Parts::over_windows`] evaluated at `at` (Unix seconds), with every window that can be
    /// stitched read as its [`Stitch`]'s pieces, tagged `vitals_piece`, each in events: the
    /// recorded intervals (`recorded`), the prorated share of the one before (`head`), and
    /// once for all of them the raw events of the tail (`vitals_window` = [`TAIL`]).
    /// [`Stitches::combine`] adds them up into each window's rate.
    #[cfg(test)]
    pub(crate) fn over_windows_at(
        &self,
        windows: &[(String, Duration)],
        at: f64,
    ) -> (String, Stitches) {
        let (recorded, raw, stitches) = self.over_windows_split(windows, at);
        let joined: Vec<String> = [recorded, raw].into_iter().flatten().collect();
        (joined.join("\n  or "), stitches)
    }

    /// [`Parts::over_windows_at`] as two queries: the pieces that read recorded series
    /// (None when there are none) and those that read raw series (None likewise). Asked in
    /// one query, every raw selector would be read over the span of the longest recorded
    /// window: Prometheus opens one querier for a query's whole time range, and a raw
    /// selector's series then decode their chunks of every block in it (measured at x100:
    /// 3.5 s for one SLO's query, against 0.003 s and 0.45 s for its two halves).
    pub(crate) fn over_windows_split(
        &self,
        windows: &[(String, Duration)],
        at: f64,
    ) -> (Option<String>, Option<String>, Stitches) {
        let mut stitches = Stitches::default();
        let Some(Recorded {
            selector,
            group,
            last: Some(last),
        }) = &self.recorded
        else {
            return (None, Some(self.over_windows(windows)), stitches);
        };
        let both = [self.first, Part::Total];
        let mut recorded = Vec::new();
        let counter = |p: Part| -> Option<&str> {
            let [first, total] = self.counters.as_ref()?;
            Some(if p == Part::Total { total } else { first })
        };
        let mut terms = Vec::new();
        for (label, d) in windows {
            let stitch = (*d >= STITCHED_MIN_WINDOW)
                .then(|| Stitch::new(*last, at, *d))
                .flatten();
            let Some(st) = stitch else {
                for (part, promql) in self.at(*d) {
                    terms.push(tag(
                        &promql,
                        &[("vitals_part", part.as_str()), ("vitals_window", label)],
                    ));
                }
                continue;
            };
            for part in both {
                let record = increase_record(part);
                let pieces = [
                    ("recorded", st.summed(group, &record, selector)),
                    ("head", st.head_share(group, &record, selector)),
                ];
                for (piece, promql) in pieces {
                    recorded.push(tag(
                        &promql,
                        &[
                            ("vitals_part", part.as_str()),
                            ("vitals_window", label),
                            ("vitals_piece", piece),
                        ],
                    ));
                }
            }
            stitches.windows.insert(label.clone(), (*d, st));
        }
        // Every stitched window ends at the same recorded point: one tail for all.
        if let Some((_, st)) = stitches.windows.values().next() {
            for part in both {
                terms.push(tag(
                    &st.tail_events(&self.group, counter(part), self.template(part)),
                    &[
                        ("vitals_part", part.as_str()),
                        ("vitals_window", TAIL),
                        ("vitals_piece", "tail"),
                    ],
                ));
            }
        }
        let joined = |t: Vec<String>| (!t.is_empty()).then(|| t.join("\n  or "));
        (joined(recorded), joined(terms), stitches)
    }
}

/// The `vitals_window` of the raw tail every stitched window shares.
pub(crate) const TAIL: &str = "vitals_tail";

/// Windows at least this long are stitched when the last recorded point is known: only the
/// tail, 5 to 10 minutes shared by all of them, then reads raw series.
pub const STITCHED_MIN_WINDOW: Duration = Duration::from_secs(1800);

/// A window `(at - W, at]` read from recorded increases at any `at`: the recorded
/// intervals `(start - 5m, end]` (each recorded point counts the interval before it), the
/// share of the interval before them that the window covers (the head `(at - W, start]` is
/// one to two intervals long), and the raw events of the tail `(end, at]`, one to two
/// intervals long. A recorded sum alone is the window shifted back to its last point, late
/// by up to an interval (8 % of an hour); stitched, the newest minutes are exact and only
/// the oldest part-interval is prorated.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stitch {
    /// The last recorded point summed (Unix seconds, as recorded: rule groups evaluate off
    /// the minute).
    pub end: f64,
    /// Recorded intervals summed.
    pub intervals: u64,
    /// The raw tail, whole seconds (rounded up: it overlaps the recorded intervals by under
    /// a second).
    pub tail: Duration,
    /// The window's start, `at - W`.
    pub from: f64,
}

impl Stitch {
    /// The stitch of `window` at `at` with recorded points every [`RECORD_INTERVAL`] up to
    /// `last`; None when the window is too short for a recorded interval between a head and
    /// a tail, or the last point is more than two intervals old (the rules stopped).
    pub(crate) fn new(last: f64, at: f64, window: Duration) -> Option<Stitch> {
        let i = RECORD_INTERVAL.secs_f64();
        if !(last.is_finite() && at.is_finite()) || at - last > 2.0 * i || last - at > i {
            return None;
        }
        // The newest point at least one interval before `at`.
        let end = last - ((i - (at - last)) / i).ceil().max(0.0) * i;
        let from = at - window.secs_f64();
        let intervals = ((end - from - i) / i).floor();
        if intervals < 1.0 {
            return None;
        }
        Some(Stitch {
            end,
            intervals: intervals as u64,
            tail: Duration::from_secs((at - end).ceil() as u64),
            from,
        })
    }

    /// The recorded point whose interval holds the head's oldest part, `(from, start - 5m]`,
    /// and the share of that interval the head covers: the head's events are the point at
    /// `start` (its last 5 minutes) plus this share of that point's, as if its events were
    /// spread evenly over its interval.
    pub fn head_point(&self) -> (f64, f64) {
        let i = RECORD_INTERVAL.secs_f64();
        let point = self.start() - i;
        (point, ((point - self.from) / i).clamp(0.0, 1.0))
    }

    /// The recorded sum of the intervals `(start - 5m, end]` (the stitch's whole intervals
    /// and the head's last one) of `record{selector}`, by `group`.
    pub fn summed(&self, group: &str, record: &str, selector: &str) -> String {
        format!(
            "{group} (sum_over_time({record}{{{selector}}}[{}] @ {:.3}))",
            Duration::from_secs((self.intervals + 1) * RECORD_INTERVAL.secs() - 1),
            self.end
        )
    }

    /// The head's events before its last 5 minutes: [`Stitch::head_point`]'s share of that
    /// point of `record{selector}`, by `group`.
    pub fn head_share(&self, group: &str, record: &str, selector: &str) -> String {
        let (point, share) = self.head_point();
        format!(
            "{group} ({record}{{{selector}}} @ {point:.3}) * {}",
            number(share)
        )
    }

    /// The events of the tail, `(end, at]`: the exact difference of `counter` between its
    /// ends when the counter is known, else `template`'s rate over the tail times its length.
    pub(crate) fn tail_events(&self, group: &str, counter: Option<&str>, template: &str) -> String {
        match counter {
            Some(c) => exact_between(group, c, Some(self.end), None),
            None => format!(
                "({}) * {}",
                fill_window(template, self.tail),
                self.tail.secs()
            ),
        }
    }

    /// Where the recorded intervals start: the head's end.
    pub fn start(&self) -> f64 {
        self.end - self.intervals as f64 * RECORD_INTERVAL.secs_f64()
    }
}

/// The stitched windows of one query, by label (they share one tail).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stitches {
    pub windows: BTreeMap<String, (Duration, Stitch)>,
}

/// Pieces of a window by part, for [`Stitches::combine`]: the events of the recorded
/// intervals, of the head and of the tail.
pub(crate) type Pieces = BTreeMap<String, [Option<f64>; 3]>;

impl Stitches {
    /// Index of a `vitals_piece` in [`Pieces`].
    pub(crate) fn piece_index(piece: &str) -> Option<usize> {
        match piece {
            "recorded" => Some(0),
            "head" => Some(1),
            "tail" => Some(2),
            _ => None,
        }
    }

    /// The per-second rate of each part over window `label`: the events of its recorded
    /// intervals, head and tail, over the window's length. `tail` holds the tail's pieces
    /// (of the same group). A missing piece counts no events (no series: no traffic there).
    pub(crate) fn combine(
        &self,
        label: &str,
        pieces: &Pieces,
        tail: Option<&Pieces>,
    ) -> BTreeMap<String, f64> {
        let Some((w, _)) = self.windows.get(label) else {
            return BTreeMap::new();
        };
        let mut parts: Vec<&String> = pieces.keys().collect();
        if let Some(t) = tail {
            parts.extend(t.keys());
        }
        parts.sort();
        parts.dedup();
        parts
            .into_iter()
            .map(|part| {
                let [rec, head, _] = pieces.get(part).copied().unwrap_or_default();
                let tail = tail.and_then(|t| t.get(part)).and_then(|p| p[2]);
                let events = rec.unwrap_or(0.0) + head.unwrap_or(0.0) + tail.unwrap_or(0.0);
                (part.clone(), events.max(0.0) / w.secs_f64())
            })
            .collect()
    }
}

/// The increase of the counters `selector` picks since one [`RECORD_INTERVAL`] ago, per
/// series, aggregated by `group` (`sum`, `sum by (...)`). Recorded at every interval, these
/// differences telescope: their sum over any window is the counters' increase between its
/// ends. A counter that went down was reset: its value is what it counted since.
pub(crate) fn exact_increase(group: &str, selector: &str) -> String {
    let (c, i) = (selector, RECORD_INTERVAL);
    format!("{group} (\n  ({c} - {c} offset {i}) >= 0\n  or\n  ({c} and {c} < {c} offset {i})\n)")
}

/// The increase of the counters `selector` picks between `from` and `to` (Unix seconds;
/// None: the evaluation time), per series as [`exact_increase`] counts it between
/// consecutive evaluations, aggregated by `group`.
pub(crate) fn exact_between(
    group: &str,
    selector: &str,
    from: Option<f64>,
    to: Option<f64>,
) -> String {
    let at = |t: Option<f64>| {
        t.map(|t| format!("{selector} @ {t:.3}"))
            .unwrap_or_else(|| selector.to_string())
    };
    let (c0, c1) = (at(from), at(to));
    format!("{group} (\n  ({c1} - {c0}) >= 0\n  or\n  ({c1} and {c1} < {c0})\n)")
}

/// `{{window}}` replaced by a duration.
pub(crate) fn fill_window(t: &str, w: Duration) -> String {
    let mut v = BTreeMap::new();
    v.insert("window".to_string(), w.to_string());
    template::substitute(t, &v)
}

/// `sum` or `sum by (a, b)`: the aggregation that keeps an SLO's groups.
pub(crate) fn group_clause(group_by: &[String]) -> String {
    if group_by.is_empty() {
        "sum".into()
    } else {
        format!("sum by ({})", group_by.join(", "))
    }
}

/// ` by (a, b)` or nothing.
fn by_clause(group_by: &[String]) -> String {
    if group_by.is_empty() {
        String::new()
    } else {
        format!(" by ({})", group_by.join(", "))
    }
}

fn le_matcher(le: Le, threshold: f64) -> String {
    match le {
        Le::Found(l) => format!("le=\"{}\"", escape_promql_string(l)),
        Le::AnySpelling => {
            let mut forms = vec![format!("{threshold}")];
            if threshold.fract() == 0.0 {
                forms.push(format!("{threshold:.1}"));
            }
            let alts: Vec<String> = forms.iter().map(|f| f.replace('.', "\\\\.")).collect();
            format!("le=~\"{}\"", alts.join("|"))
        }
    }
}

/// The parts of a budget SLO (None for a threshold SLO).
pub(crate) fn parts(slo: &Slo, le: Le) -> Option<Parts> {
    let Objective::Budget { sli, .. } = &slo.objective else {
        return None;
    };
    Some(match sli {
        Sli::BadTotal { bad, total } => Parts {
            first: Part::Bad,
            first_promql: bad.clone(),
            total_promql: total.clone(),
            recorded: None,
            counters: rate_counters(bad, total, &slo.group_by),
            group: group_clause(&slo.group_by),
        },
        Sli::GoodTotal { good, total } => Parts {
            first: Part::Good,
            first_promql: good.clone(),
            total_promql: total.clone(),
            recorded: None,
            counters: rate_counters(good, total, &slo.group_by),
            group: group_clause(&slo.group_by),
        },
        Sli::Latency {
            metric,
            selector,
            threshold,
        } => {
            let sel = selector.trim().trim_end_matches(',');
            let m = le_matcher(le, *threshold);
            let with_le = if sel.is_empty() {
                m
            } else {
                format!("{sel}, {m}")
            };
            let g = group_clause(&slo.group_by);
            Parts {
                first: Part::Good,
                first_promql: format!("{g} (rate({metric}_bucket{{{with_le}}}[{{{{window}}}}]))"),
                total_promql: format!("{g} (rate({metric}_count{{{sel}}}[{{{{window}}}}]))"),
                recorded: None,
                counters: Some([
                    format!("{metric}_bucket{{{with_le}}}"),
                    format!("{metric}_count{{{sel}}}"),
                ]),
                group: g,
            }
        }
    })
}

/// The counters of a ratio SLO whose parts are both `sum [by (group_by)]
/// (rate(selector[{{window}}]))`: their increases are then recorded as exact differences,
/// as a latency SLO's are, instead of `rate()` over each interval (whose extrapolation makes
/// a window of a few dozen bad events differ from the raw one by a quarter).
fn rate_counters(first: &str, total: &str, group_by: &[String]) -> Option<[String; 2]> {
    let (a, b) = (
        crate::report::recorded::rate_term(first)?,
        crate::report::recorded::rate_term(total)?,
    );
    (a.by == group_by && b.by == group_by).then_some([a.selector, b.selector])
}

/// The evaluation interval of the rule group recording budget SLOs' increases, and the
/// increase window of every point.
pub const RECORD_INTERVAL: Duration = Duration::from_secs(300);

/// Without the time of the last recorded point (no [`Stitch`]), windows at least this long
/// are summed from the recorded increases as they are (288 points or more) and shorter ones
/// read raw: a plain recorded sum is late by up to one interval, which is 0.35 % of a day but
/// 8 % of an hour. See docs/recording.md for the error bound.
pub const RECORDED_MIN_WINDOW: Duration = Duration::from_secs(86_400);

/// One point per budget SLO at every evaluation of `vitals-slo-increases` (labels `slo`,
/// `component`, `vitals_fingerprint`): how much of a window its recorded increases cover,
/// counted on one series however many groups the SLO has.
pub const EVALUATIONS_RECORD: &str = "slo:sli_evaluations:5m";

/// The record name of a part's increase over one interval: `slo:sli_bad:increase5m`.
pub(crate) fn increase_record(part: Part) -> String {
    format!("slo:sli_{}:increase{RECORD_INTERVAL}", part.as_str())
}

/// A budget SLO's definition, normalised: what its recorded series and rules depend on
/// (name, component, parts as PromQL, grouping, objective, window).
fn normalised(slo: &Slo) -> String {
    // The version of the recording rules' form: a new form makes every fingerprint new (2:
    // exact differences for ratio SLOs of plain rates, and the heartbeat).
    let mut s = format!(
        "recording=2\nname={}\ncomponent={}\n",
        slo.name, slo.component
    );
    if let Objective::Budget { target, window, .. } = &slo.objective {
        if let Some(p) = parts(slo, Le::AnySpelling) {
            s.push_str(&format!(
                "{}={}\ntotal={}\n",
                p.first.as_str(),
                p.first_promql.trim(),
                p.total_promql.trim()
            ));
        }
        s.push_str(&format!("target={}\n", number(*target)));
        s.push_str(&match window {
            SloWindow::Rolling(d) => format!("window={d}\n"),
            SloWindow::Calendar { period, tz } => format!("calendar={period:?} {tz}\n"),
        });
    }
    s.push_str(&format!("group_by={}\n", slo.group_by.join(",")));
    s
}

/// The fingerprint of a budget SLO's definition: 16 hex digits of the FNV-1a hash of its
/// normalised form. `vitals rules` writes it on every recorded increase
/// (`vitals_fingerprint`); the commands read only series with the current one.
pub fn fingerprint(slo: &Slo) -> String {
    fnv1a(&normalised(slo))
}

/// 16 hex digits of the 64-bit FNV-1a hash of `s`: the fingerprints of recorded series.
pub(crate) fn fnv1a(s: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// The probe of a budget SLO's recorded increases: how many points each fingerprint has
/// over `window` before the evaluation time (`vitals_probe="window"`) and over the last two
/// intervals (`vitals_probe="recent"`), and the time of its last point
/// (`vitals_probe="last"`, for [`Stitch`]), one series per SLO and fingerprint. The probes of
/// every SLO are joined with `or` into one query.
pub(crate) fn recorded_probe(slo: &Slo, window: Duration, at: f64) -> String {
    let sel = format!("slo=\"{}\"", escape_promql_string(&slo.name));
    let count = |record: &str, w: Duration| {
        format!("max by (slo, vitals_fingerprint) (count_over_time({record}{{{sel}}}[{w}]))")
    };
    // Pinned at the evaluation time, which changes nothing but fails the probe, and so
    // leaves every SLO raw with a note, on an engine without the `@` modifier the stitched
    // windows need.
    let last = format!(
        "max by (slo, vitals_fingerprint) (timestamp({EVALUATIONS_RECORD}{{{sel}}} @ {at:.3}))"
    );
    // The window on the one heartbeat series; the recent points on the increases, which
    // rules of every version record, so that stale ones are named.
    format!(
        "{}\n  or {}\n  or {}",
        tag(
            &count(EVALUATIONS_RECORD, window),
            &[("vitals_probe", "window")]
        ),
        tag(
            &count(
                &increase_record(Part::Total),
                Duration::from_secs(2 * RECORD_INTERVAL.secs())
            ),
            &[("vitals_probe", "recent")]
        ),
        tag(&last, &[("vitals_probe", "last")])
    )
}

/// A threshold SLO's value (None for a budget SLO).
pub(crate) fn threshold(slo: &Slo) -> Option<&ThresholdExpr> {
    match &slo.objective {
        Objective::Threshold { expr, .. } => Some(expr),
        Objective::Budget { .. } => None,
    }
}

/// The alert condition of a threshold SLO: its value where the objective is violated.
pub(crate) fn violation(slo: &Slo) -> Option<String> {
    let Objective::Threshold {
        expr, op, value, ..
    } = &slo.objective
    else {
        return None;
    };
    let indented: Vec<String> = expr
        .promql
        .trim()
        .lines()
        .map(|l| format!("  {l}"))
        .collect();
    Some(format!(
        "(\n{}\n) {} {}",
        indented.join("\n"),
        op.violated_promql(),
        number(*value)
    ))
}

/// 1 where a threshold SLO is violated and 0 where it holds, worst group member per group.
pub(crate) fn violated_bool(slo: &Slo) -> Option<String> {
    let Objective::Threshold {
        expr, op, value, ..
    } = &slo.objective
    else {
        return None;
    };
    Some(format!(
        "max{} (({}) {} bool {})",
        by_clause(&slo.group_by),
        expr.promql,
        op.violated_promql(),
        number(*value)
    ))
}

/// The worst value per group of `promql` for a threshold SLO's comparison (the highest for
/// an upper bound).
pub(crate) fn worst(slo: &Slo, op: Op, promql: &str) -> String {
    let f = if op.upper_bound() { "max" } else { "min" };
    format!("{f}{} ({promql})", by_clause(&slo.group_by))
}

/// A period KPI's value over `window` instead of its own: its catalog query with `window`
/// set, worst per group (None unless it is a catalog query that takes a `window`).
pub(crate) fn threshold_over(slo: &Slo, catalog: &Catalog, window: Duration) -> Option<String> {
    let Objective::Threshold { expr, op, .. } = &slo.objective else {
        return None;
    };
    let (name, params) = expr.query.as_ref()?;
    let def = catalog.get(name)?;
    if !def.params.contains_key("window") {
        return None;
    }
    let mut p = params.clone();
    p.insert("window".into(), window.to_string());
    let e = def.expand(&p).ok()?;
    Some(worst(slo, *op, &e.promql))
}

/// Minutes in which a threshold SLO was violated during the `window` before the evaluation
/// time, per group: its violation sampled every `step` (see [`sample_step`]), each sample
/// counting for `step`. A breach is counted to within one step at each of its ends.
pub(crate) fn minutes_violated(slo: &Slo, window: Duration, step: Duration) -> Option<String> {
    violated_bool(slo).map(|v| {
        let per = step.secs_f64() / 60.0;
        if step == Duration::from_secs(60) {
            format!("sum_over_time(({v})[{window}:1m])")
        } else {
            format!("sum_over_time(({v})[{window}:{step}]) * {}", number(per))
        }
    })
}

/// The most samples a subquery over a period takes (a week and its daylight-saving hour at
/// one minute): what a period's peaks and breaches cost does not grow with its length.
pub const MAX_SAMPLES: u64 = 10_200;

/// The step at which a subquery samples a period of length `len` (peaks, time broken): one
/// minute up to a week, then the shortest of 2, 5, 10, 15, 30 minutes or an hour that keeps
/// it under [`MAX_SAMPLES`] (5 minutes for a month).
pub fn sample_step(len: Duration) -> Duration {
    [60u64, 120, 300, 600, 900, 1800, 3600]
        .into_iter()
        .map(Duration::from_secs)
        .find(|s| len.secs() / s.secs() <= MAX_SAMPLES)
        .unwrap_or(Duration::from_secs(3600))
}

/// A number as PromQL reads it, without the binary noise of `1 - 0.995`
/// (0.0050000000000000044 is written 0.005: they differ in the 17th digit).
pub(crate) fn number(v: f64) -> String {
    let s = format!("{:.12e}", v);
    let back: f64 = s.parse().unwrap_or(v);
    format!("{back}")
}

/// The length the burn-rate windows are scaled from, for rules (written once, not per
/// evaluation): the rolling window, or the calendar period's usual length (a week; 30 days
/// for a month, whose real length `check` uses).
pub(crate) fn rule_window(w: &SloWindow) -> Duration {
    match w {
        SloWindow::Rolling(d) => *d,
        SloWindow::Calendar {
            period: Calendar::Week,
            ..
        } => Duration::from_secs(7 * 86_400),
        SloWindow::Calendar {
            period: Calendar::Month,
            ..
        } => Duration::from_secs(30 * 86_400),
    }
}

/// A budget SLO's target and burn-rate pairs as evaluated at `at`.
pub(crate) fn pairs_at(slo: &Slo, at: DateTime<Utc>) -> Option<(f64, [BurnPair; 4])> {
    match &slo.objective {
        Objective::Budget { target, window, .. } => {
            Some((*target, math::burn_pairs(resolve(window, at).length)))
        }
        Objective::Threshold { .. } => None,
    }
}

/// The query listing a latency SLO's `le` buckets (None for other SLOs).
pub(crate) fn bucket_query(slo: &Slo) -> Option<String> {
    match &slo.objective {
        Objective::Budget {
            sli: Sli::Latency {
                metric, selector, ..
            },
            ..
        } => {
            let sel = selector.trim().trim_end_matches(',');
            Some(format!("count by (le) ({metric}_bucket{{{sel}}})"))
        }
        _ => None,
    }
}

/// Matches a latency threshold with the `le` labels Prometheus has.
pub(crate) fn find_le(threshold: f64, les: &[String]) -> Option<String> {
    les.iter()
        .find(|le| {
            le.parse::<f64>().is_ok_and(|v| {
                v.is_finite() && (v - threshold).abs() <= 1e-9 * v.abs().max(threshold.abs())
            })
        })
        .cloned()
}

/// Why a latency SLO's bucket could not be found.
#[derive(Clone, Debug)]
pub enum BucketProblem {
    /// The threshold is not one of the histogram's buckets: a configuration error.
    NotABucket { message: String },
    /// No series of the histogram match the selector: no data.
    NoSeries { message: String },
    /// The query failed.
    Query(PromError),
}

/// The `le` label of every latency SLO, by name (other SLOs are not in it).
pub type Buckets = BTreeMap<String, Result<String, BucketProblem>>;

/// Asks Prometheus which `le` buckets each latency SLO's histogram has at `at` (one query
/// per latency SLO, sent together).
pub(crate) async fn resolve_buckets(
    slos: &[Slo],
    prom: &Prom,
    at: DateTime<Utc>,
    progress: &(dyn Fn() + Sync),
) -> Buckets {
    let mut batch = Batch::new();
    for slo in slos {
        if let Some(q) = bucket_query(slo) {
            batch.add(
                slo.name.clone(),
                Request::instant(format!("slo {} buckets", slo.name), q, at),
            );
        }
    }
    let mut answers = prom.run_batch(batch, progress).await;
    let mut out = Buckets::new();
    for slo in slos {
        let Some(answer) = answers.take(&slo.name) else {
            continue;
        };
        out.insert(slo.name.clone(), bucket_of(slo, answer));
    }
    out
}

fn bucket_of(slo: &Slo, answer: Result<Answer, PromError>) -> Result<String, BucketProblem> {
    let Objective::Budget {
        sli: Sli::Latency {
            metric, threshold, ..
        },
        ..
    } = &slo.objective
    else {
        unreachable!("only latency SLOs ask for buckets");
    };
    let a = answer.map_err(BucketProblem::Query)?;
    let les: Vec<String> = a
        .series
        .iter()
        .filter_map(|s| s.labels.get("le").cloned())
        .collect();
    if les.is_empty() {
        return Err(BucketProblem::NoSeries {
            message: format!("no data: no `{metric}_bucket` series match the selector"),
        });
    }
    find_le(*threshold, &les).ok_or_else(|| {
        let mut bounds: Vec<f64> = les
            .iter()
            .filter_map(|l| l.parse().ok())
            .filter(|v: &f64| v.is_finite())
            .collect();
        bounds.sort_by(f64::total_cmp);
        BucketProblem::NotABucket {
            message: format!(
                "threshold {threshold} s is not an `le` bucket of {metric} (its buckets: {}); pick one of them",
                bounds
                    .iter()
                    .map(|b| b.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    })
}

/// The parts of an SLO with the bucket found for it: `Ok(None)` for a threshold SLO.
pub(crate) fn parts_with(slo: &Slo, buckets: &Buckets) -> Result<Option<Parts>, BucketProblem> {
    match buckets.get(&slo.name) {
        Some(Ok(le)) => Ok(parts(slo, Le::Found(le))),
        Some(Err(p)) => Err(p.clone()),
        None => Ok(parts(slo, Le::AnySpelling)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_le_label_of_a_threshold_numerically() {
        let les = ["+Inf".to_string(), "0.25".into(), "0.5".into(), "1".into()];
        assert_eq!(find_le(0.5, &les), Some("0.5".into()));
        assert_eq!(find_le(1.0, &les), Some("1".into()));
        assert_eq!(find_le(0.3, &les), None);
        let python = ["1.0".to_string()];
        assert_eq!(find_le(1.0, &python), Some("1.0".into()));
    }

    fn latency_slo(group_by: &[&str]) -> Slo {
        Slo {
            name: "x".into(),
            component: "shop".into(),
            description: String::new(),
            kind: super::super::model::SloKind::Latency,
            objective: Objective::Budget {
                sli: Sli::Latency {
                    metric: "http_request_duration_seconds".into(),
                    selector: "service=\"shop\"".into(),
                    threshold: 0.5,
                },
                target: 0.95,
                window: SloWindow::Rolling(Duration::from_secs(86_400)),
                min_events: 0.0,
            },
            on_no_data: Default::default(),
            group_by: group_by.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn latency_parts_add_the_le_matcher_to_the_selector() {
        let p = parts(&latency_slo(&["handler"]), Le::Found("0.5")).unwrap();
        assert_eq!(
            p.first_promql,
            "sum by (handler) (rate(http_request_duration_seconds_bucket{service=\"shop\", le=\"0.5\"}[{{window}}]))"
        );
        assert_eq!(
            p.total_promql,
            "sum by (handler) (rate(http_request_duration_seconds_count{service=\"shop\"}[{{window}}]))"
        );
        let any = parts(&latency_slo(&[]), Le::AnySpelling).unwrap();
        assert!(
            any.first_promql.contains(r#"le=~"0\\.5""#),
            "{}",
            any.first_promql
        );
    }

    #[test]
    fn tags_every_part_and_window_in_one_query() {
        let p = parts(&latency_slo(&[]), Le::Found("0.5")).unwrap();
        let q = p.over_windows(&[
            ("slo".into(), Duration::from_secs(86_400)),
            ("5m".into(), Duration::from_secs(300)),
        ]);
        assert_eq!(q.matches(" or ").count(), 3);
        assert!(q.contains(r#""vitals_part", "good""#), "{q}");
        assert!(q.contains("[1d]"), "{q}");
        assert!(promql_parser::parser::parse(&q).is_ok());
    }

    #[test]
    fn long_windows_read_recorded_increases_and_short_ones_raw() {
        let slo = latency_slo(&["handler"]);
        let p = parts(&slo, Le::Found("0.5"))
            .unwrap()
            .reading_recorded(&slo);
        let fp = fingerprint(&slo);
        let [(_, good), (_, total)] = p.at(Duration::from_secs(28 * 86_400));
        assert_eq!(
            good,
            format!(
                "sum by (handler) (sum_over_time(slo:sli_good:increase5m{{slo=\"x\", vitals_fingerprint=\"{fp}\"}}[28d])) / 2419200"
            )
        );
        assert!(total.starts_with("sum by (handler) (sum_over_time(slo:sli_total:increase5m"));
        let [(_, short), _] = p.at(Duration::from_secs(3600));
        assert!(
            short.contains("rate(http_request_duration_seconds_bucket"),
            "{short}"
        );
        // Per step (incidents, the burn-down), recorded whatever the step's length.
        let [(_, good), _] = p.at_step(Duration::from_secs(600));
        assert_eq!(
            good,
            format!(
                "sum by (handler) (sum_over_time(slo:sli_good:increase5m{{slo=\"x\", vitals_fingerprint=\"{fp}\"}}[10m])) / 600"
            )
        );
        let raw = parts(&slo, Le::Found("0.5")).unwrap();
        assert_eq!(
            raw.at_step(Duration::from_secs(600)),
            raw.at(Duration::from_secs(600))
        );
        for (_, e) in p.increase_rules() {
            assert!(promql_parser::parser::parse(&e).is_ok(), "{e}");
            assert!(
                e.contains("offset 5m"),
                "latency SLOs record exact differences: {e}"
            );
        }
        // Another objective, another fingerprint.
        let mut edited = slo.clone();
        if let Objective::Budget { target, .. } = &mut edited.objective {
            *target = 0.96;
        }
        assert_ne!(fingerprint(&edited), fp);
        assert_eq!(fingerprint(&slo.clone()), fp);
    }

    #[test]
    fn a_stitched_window_is_whole_intervals_between_a_raw_head_and_tail() {
        let i = RECORD_INTERVAL.secs_f64();
        let hour = Duration::from_secs(3600);
        // Rules evaluated at 137 s past every fifth minute; asked 40 s after an evaluation.
        let last = 1_796_083_337.0;
        let at = last + 40.0;
        let st = Stitch::new(last, at, hour).unwrap();
        // The newest point is too recent for a tail of a whole interval: the one before.
        assert_eq!(st.end, last - i);
        assert_eq!(st.tail, Duration::from_secs(340));
        // (at - 1h, start] + (start, end] + (end, at] is the hour, each raw piece one to two
        // intervals long.
        let head = st.start() - st.from;
        assert!((st.from - (at - 3600.0)).abs() < 1e-9, "{st:?}");
        assert!(head >= i && head < 2.0 * i, "{st:?}");
        assert_eq!(st.intervals, 9);
        // An interval after the evaluation the newest point itself ends the sum.
        let later = Stitch::new(last, last + i + 10.0, hour).unwrap();
        assert_eq!((later.end, later.tail), (last, Duration::from_secs(310)));
        // For every offset of `at` the pieces cover the window to within a second.
        for k in 0..60 {
            let at = last + f64::from(k) * 10.0;
            for w in [1800u64, 3600, 20_160, 80_640, 2_419_200] {
                let st = Stitch::new(last, at, Duration::from_secs(w)).unwrap();
                let covered = (st.start() - st.from) + st.intervals as f64 * i + st.tail.secs_f64();
                assert!((covered - w as f64).abs() < 2.0, "{w} at +{k}0 s: {st:?}");
                assert!(st.tail.secs_f64() >= i && st.tail.secs_f64() < 3.0 * i);
            }
        }
        // Too short for an interval between a head and a tail; rules that stopped.
        assert_eq!(Stitch::new(last, at, Duration::from_secs(900)), None);
        assert_eq!(Stitch::new(last, last + 3.0 * i, hour), None);
        assert_eq!(Stitch::new(f64::NAN, at, hour), None);
    }

    #[test]
    fn stitched_windows_read_recorded_intervals_and_add_up_their_pieces() {
        let slo = latency_slo(&["handler"]);
        let last = 1_796_083_337.0;
        let at = last + 100.0;
        let p = parts(&slo, Le::Found("0.5"))
            .unwrap()
            .reading_recorded(&slo)
            .last_recorded_at(Some(last));
        let windows = [
            ("slo".to_string(), Duration::from_secs(28 * 86_400)),
            ("1h".to_string(), Duration::from_secs(3600)),
            ("5m".to_string(), Duration::from_secs(300)),
        ];
        let (q, st) = p.over_windows_at(&windows, at);
        assert!(promql_parser::parser::parse(&q).is_ok(), "{q}");
        assert_eq!(
            st.windows.keys().collect::<Vec<_>>(),
            ["1h", "slo"],
            "5 minutes stay raw"
        );
        // 28 days: the 8,061 whole intervals up to the point before the newest (the tail is
        // 6m40s, the head 8m20s) and the head's last one, summed; then 2/3 of the point
        // before them (the head's oldest 3m20s of that interval).
        let month = st.windows["slo"].1;
        assert_eq!((month.intervals, month.start() - month.from), (8061, 500.0));
        assert!(
            q.contains("sum_over_time(slo:sli_good:increase5m{slo=\"x\", vitals_fingerprint=")
                && q.contains("[27d23h49m59s] @ 1796083037.000"),
            "{q}"
        );
        let (point, share) = month.head_point();
        assert_eq!(point, month.start() - 300.0);
        assert!((share - 200.0 / 300.0).abs() < 1e-9, "{share}");
        assert!(
            q.contains(&format!("}} @ {point:.3}) * {}", number(share))),
            "the head's share of a recorded point: {q}"
        );
        assert_eq!(
            q.matches("\"vitals_piece\", \"tail\"").count(),
            2,
            "one tail per part"
        );
        // Only the tail reads raw series: for a latency SLO, its counters' exact difference.
        assert_eq!(
            q.matches("http_request_duration_seconds_count{service=\"shop\"} @")
                .count(),
            2,
            "{q}"
        );
        assert!(q.contains("http_request_duration_seconds_count{service=\"shop\"} - http_request_duration_seconds_count{service=\"shop\"} @ 1796083037.000"), "{q}");
        // A ratio SLO whose parts are not plain sums of rate(): its template's rate over the
        // tail times the tail's length.
        let mut ratio = slo.clone();
        ratio.objective = Objective::Budget {
            sli: Sli::BadTotal {
                bad: "sum by (handler) (rate(x{code=\"500\"}[{{window}}])) * 2".into(),
                total: "sum by (handler) (rate(x[{{window}}]))".into(),
            },
            target: 0.99,
            window: SloWindow::Rolling(Duration::from_secs(28 * 86_400)),
            min_events: 0.0,
        };
        let rp = parts(&ratio, Le::AnySpelling).unwrap();
        assert!(rp.counters.is_none(), "not a plain term");
        let (rq, _) = rp
            .reading_recorded(&ratio)
            .last_recorded_at(Some(last))
            .over_windows_at(&windows, at);
        assert!(promql_parser::parser::parse(&rq).is_ok(), "{rq}");
        assert!(
            rq.contains(&format!(
                "[{}])) * 2) * {}",
                st.windows["slo"].1.tail,
                st.windows["slo"].1.tail.secs()
            )),
            "{rq}"
        );
        // Without the last point's time, the old form: a day or more recorded, late.
        let (old, none) = parts(&slo, Le::Found("0.5"))
            .unwrap()
            .reading_recorded(&slo)
            .over_windows_at(&windows, at);
        assert!(none.windows.is_empty() && !old.contains("vitals_piece") && old.contains("[28d]"));
        // The pieces add up: the events of the recorded intervals, head and tail.
        let (w, _) = st.windows["1h"];
        let pieces: Pieces = [("good".to_string(), [Some(900.0), Some(30.0), None])].into();
        let tail: Pieces = [
            ("good".to_string(), [None, None, Some(10.0)]),
            ("total".to_string(), [None, None, Some(20.0)]),
        ]
        .into();
        let rates = st.combine("1h", &pieces, Some(&tail));
        assert!(
            (rates["good"] - 940.0 / w.secs_f64()).abs() < 1e-12,
            "{rates:?}"
        );
        assert!((rates["total"] - 20.0 / 3600.0).abs() < 1e-12);
    }

    #[test]
    fn the_probe_counts_one_heartbeat_series_per_slo() {
        let q = recorded_probe(
            &latency_slo(&["handler"]),
            Duration::from_secs(28 * 86_400),
            1_796_083_200.0,
        );
        assert!(promql_parser::parser::parse(&q).is_ok(), "{q}");
        // The window and the last point's time on the heartbeat, whatever the groups.
        assert!(
            q.contains("count_over_time(slo:sli_evaluations:5m{slo=\"x\"}[28d])"),
            "{q}"
        );
        assert!(
            q.contains("timestamp(slo:sli_evaluations:5m{slo=\"x\"} @ 1796083200.000)"),
            "{q}"
        );
        // The recent points on the increases, which stale rules of any version have.
        assert!(
            q.contains("count_over_time(slo:sli_total:increase5m{slo=\"x\"}[10m])"),
            "{q}"
        );
    }

    #[test]
    fn ratio_slos_of_plain_rates_record_exact_differences() {
        let mut slo = latency_slo(&[]);
        slo.objective = Objective::Budget {
            sli: Sli::BadTotal {
                bad: "sum(rate(http_requests_total{service=\"shop\", code=~\"5..\"}[{{window}}]))"
                    .into(),
                total: "sum(rate(http_requests_total{service=\"shop\"}[{{window}}]))".into(),
            },
            target: 0.995,
            window: SloWindow::Rolling(Duration::from_secs(28 * 86_400)),
            min_events: 0.0,
        };
        let p = parts(&slo, Le::AnySpelling).unwrap();
        for (_, e) in p.increase_rules() {
            assert!(
                e.contains("offset 5m") && !e.contains("rate("),
                "exact: {e}"
            );
        }
        // Grouped otherwise than the SLO: the rate() form stays.
        slo.group_by = vec!["handler".into()];
        assert!(parts(&slo, Le::AnySpelling).unwrap().counters.is_none());
    }

    #[test]
    fn subqueries_take_as_many_samples_for_a_month_as_for_a_week() {
        let d = |days: u64| Duration::from_secs(days * 86_400);
        assert_eq!(sample_step(d(1)), Duration::from_secs(60));
        assert_eq!(
            sample_step(Duration::from_secs(7 * 86_400 + 3600)),
            Duration::from_secs(60)
        );
        assert_eq!(sample_step(d(31)), Duration::from_secs(300));
        assert!(d(31).secs() / 300 <= MAX_SAMPLES);
        let slo = Slo {
            objective: Objective::Threshold {
                expr: ThresholdExpr {
                    promql: "x".into(),
                    unit: crate::units::Unit::Ratio,
                    query: None,
                    window: None,
                    members: None,
                },
                op: Op::Le,
                value: 0.05,
                warn: None,
                for_: None,
                severity: Default::default(),
            },
            ..latency_slo(&[])
        };
        assert_eq!(
            minutes_violated(&slo, d(30), Duration::from_secs(300)).unwrap(),
            "sum_over_time((max ((x) > bool 0.05))[30d:5m]) * 5"
        );
    }

    #[test]
    fn numbers_are_written_without_binary_noise() {
        assert_eq!(number(1.0 - 0.995), "0.005");
        assert_eq!(number(14.4), "14.4");
    }
}
