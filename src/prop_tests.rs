//! Property tests across modules: random mutations of the shipped configuration (the
//! catalog's `queries/`, `site.toml`, `slo.toml`) either load or are refused with problems,
//! never a panic; and what loads without a problem — what `vitals lint` accepts — gives
//! PromQL that parses and time arithmetic that does not overflow, in every command's
//! planning (SLI layer, rules, status, incidents, report periods), for windows and ranges up
//! to the largest accepted.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use proptest::prelude::*;

use crate::catalog;
use crate::cli::TimeArgs;
use crate::config::Config;
use crate::duration::{self, Duration};
use crate::fuzzing::{parses, plan_everything, shipped};
use crate::settings::TimeSpec;
use crate::{incidents, report};

/// Loads as lint does; the problems as shown.
fn load(files: &[(String, String)]) -> (Config, Vec<String>) {
    let (config, problems) = crate::fuzzing::load(files);
    (config, problems.iter().map(|p| p.to_string()).collect())
}

/// Values a mutation writes in place of a TOML value: the edges of every kind.
const VALUES: &[&str] = &[
    "0",
    "-1",
    "1",
    "100",
    "99.999999",
    "1e308",
    "-1e308",
    "nan",
    "inf",
    "9223372036854775807",
    "\"\"",
    "\"0s\"",
    "\"1ms\"",
    "\"59m\"",
    "\"1h\"",
    "\"7d\"",
    "\"3660d\"",
    "\"3661d\"",
    "\"292y\"",
    "\"293y\"",
    "\"99999999999999999999d\"",
    "\"week\"",
    "\"month\"",
    "\"Pacific/Apia\"",
    "\"America/Santiago\"",
    "\"Mars/Olympus\"",
    "\"*\"",
    "\"shop|crm\"",
    "\"{{window}}\"",
    "\"{{window\"",
    "'x\"} or vector(1) #'",
    "\"\\u0000\"",
    "\"日本\"",
    "[]",
    "{}",
    "true",
];

#[derive(Clone, Debug)]
enum Mutation {
    /// Replace the value of the n-th `key = value` line.
    Value(usize, usize),
    /// Remove the n-th line.
    DropLine(usize),
    /// Repeat the n-th line.
    DupLine(usize),
    /// Swap two lines.
    Swap(usize, usize),
    /// Insert a byte at a position.
    Insert(usize, u8),
    /// Cut the file at a position.
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        6 => (any::<usize>(), 0..VALUES.len()).prop_map(|(l, v)| Mutation::Value(l, v)),
        1 => any::<usize>().prop_map(Mutation::DropLine),
        1 => any::<usize>().prop_map(Mutation::DupLine),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::Swap(a, b)),
        1 => (any::<usize>(), any::<u8>()).prop_map(|(p, b)| Mutation::Insert(p, b)),
        1 => any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn apply(text: &str, m: &Mutation) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let n = lines.len().max(1);
    match *m {
        Mutation::Value(l, v) => {
            let assigns: Vec<usize> = (0..lines.len())
                .filter(|i| {
                    let t = lines[*i].trim_start();
                    !t.starts_with('#') && t.contains(" = ")
                })
                .collect();
            if let Some(&i) = assigns.get(l % assigns.len().max(1)) {
                let key = lines[i].split(" = ").next().unwrap_or_default().to_string();
                lines[i] = format!("{key} = {}", VALUES[v]);
            }
        }
        Mutation::DropLine(l) => {
            if !lines.is_empty() {
                lines.remove(l % n);
            }
        }
        Mutation::DupLine(l) => {
            if !lines.is_empty() {
                let line = lines[l % n].clone();
                lines.insert(l % n, line);
            }
        }
        Mutation::Swap(a, b) => {
            if !lines.is_empty() {
                lines.swap(a % n, b % n);
            }
        }
        Mutation::Insert(p, b) => {
            let mut bytes = text.as_bytes().to_vec();
            bytes.insert(p % (bytes.len() + 1), b);
            return String::from_utf8_lossy(&bytes).into_owned();
        }
        Mutation::Truncate(p) => {
            let mut cut = p % (text.len() + 1);
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            return text[..cut].to_string();
        }
    }
    lines.join("\n")
}

/// Evaluation times: the present, and the edges of what `--at` accepts.
fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    prop_oneof![
        Just(Utc.with_ymd_and_hms(2026, 11, 18, 11, 35, 0).unwrap()),
        Just(Utc.with_ymd_and_hms(0, 1, 1, 0, 0, 0).unwrap()),
        Just(Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap()),
        (-62_167_219_200i64..253_402_300_799).prop_map(|s| Utc.timestamp_opt(s, 0).unwrap()),
    ]
}

#[test]
fn the_shipped_configuration_plans_valid_promql_at_the_edges_of_time() {
    let (config, problems) = load(&shipped());
    assert!(problems.is_empty(), "{problems:#?}");
    for at in [
        Utc.with_ymd_and_hms(2026, 11, 18, 11, 35, 0).unwrap(),
        Utc.with_ymd_and_hms(0, 1, 1, 0, 0, 0).unwrap(),
        Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap(),
    ] {
        let n = plan_everything(&config, at).unwrap();
        assert!(n > 100, "only {n} expressions planned");
    }
}

#[test]
fn a_calendar_slo_judged_at_the_first_instant_of_its_period_asks_valid_promql() {
    // Found by `every_accepted_window_objective_for_and_zone_loads_and_plans`: at the first
    // instant of a calendar month (`check --at 2026-11-01`) the window so far is 0s, and the
    // data coverage query asked `[0s:1m]`, which Prometheus refuses.
    let mut files: Vec<(String, String)> = shipped()
        .into_iter()
        .filter(|(p, _)| p.starts_with("queries/"))
        .collect();
    files.push((
        "slo.toml".into(),
        "[[slo]]\nname = \"m\"\ncomponent = \"c\"\nkind = \"ratio\"\nbad = 'sum(rate(x[{{window}}]))'\ntotal = 'sum(rate(y[{{window}}]))'\nobjective = 99\ncalendar = \"month\"\n".into(),
    ));
    let (config, problems) = load(&files);
    assert!(problems.is_empty(), "{problems:#?}");
    let at = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
    let req = crate::slo::eval::data_start_request(&config.slos, at).unwrap();
    parses(&req.promql).unwrap();
    plan_everything(&config, at).unwrap();
}

#[test]
fn the_longest_accepted_windows_plan_without_overflow() {
    // Every rolling window at the largest value lint accepts; every `for` and query
    // window at the largest duration.
    let mut files = shipped();
    for (path, text) in &mut files {
        let mut out = Vec::new();
        for line in text.lines() {
            let t = line.trim_start();
            out.push(if path == "slo.toml" && t.starts_with("window = ") {
                format!("window = \"{}\"", crate::slo::model::MAX_WINDOW)
            } else if path == "slo.toml" && t.starts_with("for = ") {
                format!("for = \"{}\"", duration::MAX)
            } else {
                line.to_string()
            });
        }
        *text = out.join("\n");
    }
    let (config, problems) = load(&files);
    assert!(problems.is_empty(), "{problems:#?}");
    for at in [
        Utc.with_ymd_and_hms(2026, 11, 18, 11, 35, 0).unwrap(),
        Utc.with_ymd_and_hms(0, 1, 1, 0, 0, 0).unwrap(),
        Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap(),
    ] {
        plan_everything(&config, at).unwrap();
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn mutated_configurations_load_or_say_why_and_what_loads_plans_valid_promql(
        file in 0usize..8,
        mutations in proptest::collection::vec(mutation(), 1..4),
        at in instant(),
    ) {
        let mut files = shipped();
        let i = file % files.len();
        for m in &mutations {
            files[i].1 = apply(&files[i].1, m);
        }
        let (config, problems) = load(&files);
        for p in &problems {
            prop_assert!(!p.trim().is_empty());
        }
        if problems.is_empty() {
            if let Err(e) = plan_everything(&config, at) {
                return Err(TestCaseError::fail(format!("{}: {e}", files[i].0)));
            }
        }
    }

    #[test]
    fn every_accepted_window_objective_for_and_zone_loads_and_plans(
        window_s in 3600u64..=crate::slo::model::MAX_WINDOW.secs(),
        objective in 50.0f64..99.999,
        for_ms in 0..=duration::MAX.millis(),
        calendar in prop_oneof![Just("week"), Just("month")],
        z in 0..5usize,
        at in instant(),
    ) {
        let zone = ["UTC", "America/Santiago", "Pacific/Apia", "Australia/Lord_Howe", "Asia/Kathmandu"][z];
        let mut files = shipped();
        let slo = files.iter_mut().find(|(p, _)| p == "slo.toml").unwrap();
        let edited: Vec<String> = slo.1.lines().map(|line| {
            match line.split(" = ").next().unwrap_or_default() {
                "window" => format!("window = \"{}\"", Duration::from_secs(window_s)),
                "objective" => format!("objective = {objective}"),
                "for" => format!("for = \"{}\"", Duration::from_millis(for_ms)),
                "calendar" => format!("calendar = \"{calendar}\""),
                "time_zone" => format!("time_zone = \"{zone}\""),
                _ => line.to_string(),
            }
        }).collect();
        slo.1 = edited.join("\n");
        let (config, problems) = load(&files);
        prop_assert!(problems.is_empty(), "{problems:#?}");
        if let Err(e) = plan_everything(&config, at) {
            return Err(TestCaseError::fail(e));
        }
    }

    #[test]
    fn query_params_render_to_promql_that_parses_or_are_refused(
        value in prop_oneof![
            "\\PC{0,24}",
            "[a-z0-9_.:/|* -]{0,24}",
            "-?[0-9]{0,20}(\\.[0-9]{0,10})?(e-?[0-9]{1,3})?",
            "[0-9]{1,25}(ms|s|m|h|d|w|y)",
            any::<String>(),
        ],
    ) {
        let (config, problems) = load(&shipped());
        prop_assert!(problems.is_empty());
        for q in &config.catalog.queries {
            for name in q.params.keys() {
                let mut p = BTreeMap::new();
                p.insert(name.clone(), value.clone());
                if let Ok(e) = q.expand(&p) {
                    if let Err(m) = parses(&e.promql) {
                        return Err(TestCaseError::fail(format!("{} {name}={value:?}: {m}", q.name)));
                    }
                }
            }
        }
    }

    #[test]
    fn label_values_stay_inside_their_quotes(value: String) {
        let escaped = catalog::params::escape_promql_string(&value);
        let promql = format!("up{{job=\"{escaped}\"}}");
        let expr = promql_parser::parser::parse(&promql).map_err(TestCaseError::fail)?;
        match expr {
            promql_parser::parser::Expr::VectorSelector(v) => {
                let m = v.matchers.matchers.iter().find(|m| m.name == "job");
                prop_assert_eq!(m.map(|m| m.value.as_str()), Some(value.as_str()));
            }
            other => return Err(TestCaseError::fail(format!("not a selector: {other:?}"))),
        }
    }

    #[test]
    fn templates_scan_and_substitute_any_text(t in "\\PC{0,60}|[{}\"'`\\\\a-z ]{0,40}", v in "\\PC{0,10}") {
        let values: BTreeMap<String, String> =
            [("window".to_string(), v.clone()), ("x".to_string(), v)].into_iter().collect();
        match catalog::template::scan(&t) {
            Ok(found) => {
                for p in &found {
                    prop_assert!(t.is_char_boundary(p.span.start) && t.is_char_boundary(p.span.end));
                    prop_assert!(t[p.span.clone()].starts_with("{{"));
                }
                let out = catalog::template::substitute(&t, &values);
                if found.iter().all(|p| !values.contains_key(&p.name)) {
                    prop_assert_eq!(out, t.clone());
                }
            }
            Err(at) => prop_assert!(t[at..].starts_with("{{")),
        }
        let _ = catalog::template::braced_names(&t);
        let _ = catalog::template::fill_braced(&t, &|n| (n == "x").then(|| "1".to_string()));
    }

    #[test]
    fn report_periods_resolve_or_are_refused(
        week in "[0-9]{1,6}-W[0-9]{1,3}",
        month in "[0-9]{1,6}-[0-9]{1,3}",
        from in "(now-[0-9]{1,4}(d|w|y))|[0-9]{4}-[0-9]{2}-[0-9]{2}",
        kind in 0..4,
        z in 0..4usize,
        at in instant(),
    ) {
        let tz = [Tz::UTC, chrono_tz::Europe::Berlin, chrono_tz::America::Santiago, chrono_tz::Pacific::Apia][z];
        let (w, m, f) = match kind {
            0 => (Some(week.as_str()), None, None),
            1 => (None, Some(month.as_str()), None),
            2 => (None, None, Some(from.as_str())),
            _ => (None, None, None),
        };
        if let Ok(p) = report::period::resolve(w, m, f, None, tz, at) {
            prop_assert!(p.start < p.end);
            prop_assert!(p.end <= at);
            let prev = p.previous(tz);
            prop_assert!(prev.end <= p.start);
        }
    }

    #[test]
    fn time_flags_resolve_or_are_usage_errors(
        since in prop_oneof![Just(None), "[0-9]{1,21}(ms|s|m|h|d|w|y)".prop_map(Some)],
        from in prop_oneof![Just(None), "now-[0-9]{1,20}(s|d|y)|[0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{1,16}".prop_map(Some)],
        step in prop_oneof![Just(None), "[0-9]{1,21}(ms|s|m|h|d|y)".prop_map(Some)],
        at in instant(),
    ) {
        let args = TimeArgs {
            since: since.clone(),
            from: if since.is_some() { None } else { from },
            step,
            ..Default::default()
        };
        match args.resolve(at) {
            Ok(TimeSpec::Range { start, end, step }) => {
                prop_assert!(start < end);
                if let Some(s) = step {
                    prop_assert!(crate::prom::points(end - start, s) <= crate::settings::MAX_POINTS);
                }
                let _ = crate::prom::auto_step(end - start, 1000, Duration::from_secs(15));
                let _ = incidents::choose_step(&[], start, end, None);
            }
            Ok(TimeSpec::At(t)) => prop_assert!(t <= at),
            Err(f) => prop_assert_eq!(f.status(), crate::exit::ExitStatus::Usage),
        }
    }
}
