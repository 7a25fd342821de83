//! Between vitals' window templates (`sum(rate(x[{{window}}]))`, as the SLI layer writes
//! them) and OpenSLO's Prometheus queries, on the PromQL syntax tree (never by text):
//!
//! - `counter: true` queries read the counters themselves (`sum(x)`): the evaluator takes
//!   their increase over its window. A template is exported in that form when every
//!   `{{window}}` is the range of a `rate()` or `increase()` and no series is read
//!   otherwise; a counter query is imported by taking the `rate()` of every series it reads
//!   over `{{window}}` (the ratio of rates is the ratio of increases).
//! - `counter: false` queries are numbers sampled over time; one whose every series is read
//!   through `rate()` or `increase()` over a fixed range is imported with `{{window}}` as
//!   that range (summed over the window, such samples count the events of the window).

use promql_parser::parser::{self, Expr, FunctionArgs, MatrixSelector};

use crate::duration::Duration;
use crate::slo::model::fill_window;

/// A window no one writes, put where `{{window}}` is so that a template parses.
const SENTINEL: Duration = Duration::from_secs(7_777_777);

fn sentinel() -> std::time::Duration {
    SENTINEL.to_std()
}

/// How the PromQL printer writes the sentinel range (`[90d...]`).
fn sentinel_text() -> String {
    let probe = format!("x[{SENTINEL}]");
    let shown = parser::parse(&probe)
        .map(|e| e.to_string())
        .unwrap_or(probe);
    shown.trim_start_matches('x').to_string()
}

fn parse(q: &str) -> Result<Expr, String> {
    parser::parse(q).map_err(|e| format!("invalid PromQL: {}", crate::catalog::one_line(&e)))
}

/// A query as the PromQL printer writes it (for comparing two spellings).
pub fn canonical(q: &str) -> Result<String, String> {
    parse(q).map(|e| e.to_string())
}

/// The printed form of an expression holding the sentinel, with `{{window}}` back.
fn template_text(e: &Expr) -> String {
    e.to_string().replace(&sentinel_text(), "[{{window}}]")
}

fn is_counter_fn(name: &str) -> bool {
    matches!(name, "rate" | "increase")
}

/// Rebuilds `e` with `f` applied to each node before its children: `Some` replaces the
/// node (its children are not visited), `None` descends.
fn rewrite(
    e: Expr,
    f: &mut impl FnMut(&Expr) -> Result<Option<Expr>, String>,
) -> Result<Expr, String> {
    if let Some(new) = f(&e)? {
        return Ok(new);
    }
    Ok(match e {
        Expr::Aggregate(mut a) => {
            a.expr = Box::new(rewrite(*a.expr, f)?);
            if let Some(p) = a.param {
                a.param = Some(Box::new(rewrite(*p, f)?));
            }
            Expr::Aggregate(a)
        }
        Expr::Unary(mut u) => {
            u.expr = Box::new(rewrite(*u.expr, f)?);
            Expr::Unary(u)
        }
        Expr::Binary(mut b) => {
            b.lhs = Box::new(rewrite(*b.lhs, f)?);
            b.rhs = Box::new(rewrite(*b.rhs, f)?);
            Expr::Binary(b)
        }
        Expr::Paren(mut p) => {
            p.expr = Box::new(rewrite(*p.expr, f)?);
            Expr::Paren(p)
        }
        Expr::Subquery(mut s) => {
            s.expr = Box::new(rewrite(*s.expr, f)?);
            Expr::Subquery(s)
        }
        Expr::Call(mut c) => {
            let mut args = Vec::new();
            for a in c.args.args {
                args.push(Box::new(rewrite(*a, f)?));
            }
            c.args = FunctionArgs { args };
            Expr::Call(c)
        }
        other => other,
    })
}

/// The counter form of a window template: `rate(x[{{window}}])` and
/// `increase(x[{{window}}])` become `x`.
pub fn counter_form(template: &str) -> Result<String, String> {
    let e = parse(&fill_window(template, SENTINEL))?;
    let out = rewrite(e, &mut |e| match e {
        Expr::Call(c) if is_counter_fn(c.func.name) && c.args.args.len() == 1 => {
            match c.args.args[0].as_ref() {
                Expr::MatrixSelector(m) if m.range == sentinel() => {
                    Ok(Some(Expr::VectorSelector(m.vs.clone())))
                }
                Expr::MatrixSelector(m) => Err(format!(
                    "`{m}` has a fixed range: a counter query has no place for it"
                )),
                _ => Ok(None),
            }
        }
        Expr::MatrixSelector(m) if m.range == sentinel() => Err(format!(
            "{{{{window}}}} is used outside rate() or increase() (in `{}`): OpenSLO's counter form cannot say it",
            template_text(e)
        )),
        Expr::MatrixSelector(m) => Err(format!(
            "`{m}` has a fixed range: a counter query has no place for it"
        )),
        Expr::Subquery(_) => Err("a subquery has no counter form".into()),
        Expr::VectorSelector(v) => Err(format!(
            "`{v}` is read without rate() or increase(): in a counter query it would be taken for a counter"
        )),
        _ => Ok(None),
    })?;
    Ok(out.to_string())
}

/// The `rate()` function, as the parser has it.
fn rate_fn() -> parser::Function {
    match parser::parse("rate(x[1m])") {
        Ok(Expr::Call(c)) => c.func,
        _ => unreachable!("rate(x[1m]) parses as a call"),
    }
}

/// A window template from a `counter: true` query: every series read becomes its rate over
/// `{{window}}`.
pub fn from_counter(query: &str) -> Result<String, String> {
    let e = parse(query)?;
    let rate = rate_fn();
    let out = rewrite(e, &mut |e| {
        match e {
        Expr::VectorSelector(v) => Ok(Some(Expr::Call(parser::Call {
            func: rate.clone(),
            args: FunctionArgs::new_args(Expr::MatrixSelector(MatrixSelector {
                vs: v.clone(),
                range: sentinel(),
            })),
        }))),
        Expr::MatrixSelector(m) => Err(format!(
            "`counter: true`, but the query reads the range `{m}`: a counter query reads the counters themselves (vitals takes their rate over each window)"
        )),
        Expr::Subquery(_) => Err(
            "`counter: true`, but the query has a subquery: a counter query reads the counters themselves"
                .into(),
        ),
        _ => Ok(None),
    }
    })?;
    Ok(template_text(&out))
}

/// A window template from a `counter: false` query whose every series is read through
/// `rate()` or `increase()`: their range becomes `{{window}}`.
pub fn from_rates(query: &str) -> Result<String, String> {
    let e = parse(query)?;
    let out = rewrite(e, &mut |e| match e {
        Expr::Call(c) if is_counter_fn(c.func.name) && c.args.args.len() == 1 => {
            match c.args.args[0].as_ref() {
                Expr::MatrixSelector(m) => {
                    let mut c = c.clone();
                    c.args = FunctionArgs::new_args(Expr::MatrixSelector(MatrixSelector {
                        vs: m.vs.clone(),
                        range: sentinel(),
                    }));
                    Ok(Some(Expr::Call(c)))
                }
                _ => Ok(None),
            }
        }
        Expr::MatrixSelector(m) => Err(format!(
            "`counter: false` and the range `{m}` is not read by rate() or increase(): vitals counts events over its windows"
        )),
        Expr::Subquery(_) => {
            Err("`counter: false` and a subquery: vitals cannot scale it to its windows".into())
        }
        Expr::VectorSelector(v) => Err(format!(
            "`counter: false` and `{v}` is a value, not a count of events (vitals counts events over its windows: give counters with `counter: true`, or their rate())"
        )),
        _ => Ok(None),
    })?;
    Ok(template_text(&out))
}

/// A latency SLI in counter form: `sum [by (g)] (M_bucket{sel, le="X"})` over
/// `sum [by (g)] (M_count{sel})`.
#[derive(Debug, PartialEq)]
pub struct LatencyShape {
    /// The histogram's base name.
    pub metric: String,
    /// The other matchers, as slo.toml's `selector` writes them.
    pub selector: String,
    /// The `le` label's value.
    pub le: String,
    pub group_by: Vec<String>,
}

/// `sum [by (labels)] (selector)`: the labels and the selector.
fn summed_selector(e: &Expr) -> Option<(Vec<String>, parser::VectorSelector)> {
    let (by, inner) = crate::catalog::shape::plain_sum(e)?;
    match inner {
        Expr::VectorSelector(v) if v.offset.is_none() && v.at.is_none() => Some((by, v.clone())),
        _ => None,
    }
}

/// The labels of the outermost `sum by (...)` of a query, when it has one.
pub fn outer_by(q: &str) -> Option<Vec<String>> {
    match parse(q).ok()? {
        Expr::Aggregate(a) => match &a.modifier {
            Some(parser::LabelModifier::Include(l)) if !l.labels.is_empty() => {
                Some(l.labels.clone())
            }
            _ => None,
        },
        _ => None,
    }
}

/// Whether two counter queries are a histogram's bucket and count, as a latency SLO reads
/// them (the caller checks it against the SLI layer).
pub fn latency_shape(good: &str, total: &str) -> Option<LatencyShape> {
    let (g_by, g) = summed_selector(&parse(good).ok()?)?;
    let (t_by, t) = summed_selector(&parse(total).ok()?)?;
    let metric = g.name.as_deref()?.strip_suffix("_bucket")?.to_string();
    if g_by != t_by
        || t.name.as_deref() != Some(&format!("{metric}_count"))
        || !g.matchers.or_matchers.is_empty()
        || !t.matchers.or_matchers.is_empty()
    {
        return None;
    }
    let (les, rest): (Vec<_>, Vec<_>) = g
        .matchers
        .matchers
        .iter()
        .filter(|m| m.name != "__name__")
        .cloned()
        .partition(|m| m.name == "le");
    let [le] = les.as_slice() else {
        return None;
    };
    if !matches!(le.op, promql_parser::label::MatchOp::Equal) {
        return None;
    }
    let shown = |ms: &[promql_parser::label::Matcher]| {
        let mut v: Vec<String> = ms.iter().map(|m| m.to_string()).collect();
        v.sort();
        v
    };
    let total_rest: Vec<_> = t
        .matchers
        .matchers
        .iter()
        .filter(|m| m.name != "__name__")
        .cloned()
        .collect();
    if shown(&rest) != shown(&total_rest) {
        return None;
    }
    Some(LatencyShape {
        metric,
        selector: shown(&rest).join(", "),
        le: le.value.clone(),
        group_by: g_by,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_and_its_counter_form_go_both_ways() {
        let t = r#"sum(rate(http_requests_total{service="shop", code=~"5.."}[{{window}}]))"#;
        let c = counter_form(t).unwrap();
        assert!(!c.contains("rate") && !c.contains('['), "{c}");
        assert!(c.starts_with("sum(http_requests_total{"), "{c}");
        let back = from_counter(&c).unwrap();
        assert_eq!(
            canonical(&fill_window(&back, Duration::from_secs(300))).unwrap(),
            canonical(&fill_window(t, Duration::from_secs(300))).unwrap()
        );
        assert!(back.contains("[{{window}}]"), "{back}");
    }

    #[test]
    fn grouping_and_increase_keep_their_shape() {
        let t = "sum by (handler) (increase(x_bucket{le=\"0.5\"}[{{window}}]))";
        let c = counter_form(t).unwrap();
        assert!(c.contains("by (handler)"), "{c}");
        assert!(!c.contains("increase"), "{c}");
    }

    #[test]
    fn what_has_no_counter_form_is_said() {
        for (t, says) in [
            ("sum_over_time(x[{{window}}])", "outside rate()"),
            ("sum(rate(x[{{window}}])) / sum(rate(y[5m]))", "fixed range"),
            (
                "sum(rate(x[{{window}}])) * on() group_left() y",
                "read without rate()",
            ),
        ] {
            let e = counter_form(t).unwrap_err();
            assert!(e.contains(says), "{t}: {e}");
        }
        assert!(
            from_counter("sum(rate(x[5m]))")
                .unwrap_err()
                .contains("counter: true")
        );
    }

    #[test]
    fn a_bucket_over_its_count_is_a_latency_shape() {
        let s = latency_shape(
            r#"sum by (handler) (h_bucket{service="shop",le="0.5"})"#,
            r#"sum by (handler) (h_count{service="shop"})"#,
        )
        .unwrap();
        assert_eq!(s.metric, "h");
        assert_eq!(s.selector, r#"service="shop""#);
        assert_eq!(s.le, "0.5");
        assert_eq!(s.group_by, ["handler"]);
        // Other matchers on the count, another grouping, a regex le: not one.
        assert!(latency_shape(r#"sum(h_bucket{le="1"})"#, r#"sum(h_count{a="b"})"#).is_none());
        assert!(latency_shape(r#"sum by (x) (h_bucket{le="1"})"#, "sum(h_count)").is_none());
        assert!(latency_shape(r#"sum(h_bucket{le=~"1|1.0"})"#, "sum(h_count)").is_none());
        assert_eq!(
            outer_by("sum by (a, b) (x)"),
            Some(vec!["a".into(), "b".into()])
        );
        assert_eq!(outer_by("sum(x)"), None);
    }

    #[test]
    fn sampled_rates_take_the_window_as_their_range() {
        let t = from_rates("sum(rate(x{a=\"b\"}[1m]))").unwrap();
        assert_eq!(t, "sum(rate(x{a=\"b\"}[{{window}}]))");
        assert!(
            from_rates("sum(x)")
                .unwrap_err()
                .contains("not a count of events")
        );
    }
}
