//! The shape of a PromQL expression's answer, worked out without running it: whether it is
//! an instant vector, and which labels its series carry. `vitals lint` uses it to catch a
//! signal, KPI or SLO whose query cannot give what the configuration reads from it (a
//! breakdown by a label the query aggregates away, a range vector where one value is needed).

use std::collections::BTreeSet;

use promql_parser::parser::{self, Expr, LabelModifier, VectorMatchCardinality};

/// What kind of value a query returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Type {
    InstantVector,
    RangeVector,
    Scalar,
    String,
}

impl Type {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Type::InstantVector => "an instant vector",
            Type::RangeVector => "a range vector",
            Type::Scalar => "a scalar",
            Type::String => "a string",
        }
    }
}

/// The labels of an answer's series.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Labels {
    /// Exactly these (after an aggregation `by (...)`).
    Exactly(BTreeSet<String>),
    /// Those of the selected series, which the configuration cannot know (a bare selector,
    /// `without (...)`): at least these.
    AtLeast(BTreeSet<String>),
}

impl Labels {
    /// Whether series may carry `label` (never false for raw selectors).
    pub(crate) fn may_have(&self, label: &str) -> bool {
        match self {
            Labels::Exactly(s) => s.contains(label),
            Labels::AtLeast(_) => true,
        }
    }

    /// The labels known to be there, as a readable list.
    pub(crate) fn describe(&self) -> String {
        let list = |s: &BTreeSet<String>| {
            if s.is_empty() {
                "no labels".to_string()
            } else {
                s.iter().cloned().collect::<Vec<_>>().join(", ")
            }
        };
        match self {
            Labels::Exactly(s) => list(s),
            Labels::AtLeast(s) if s.is_empty() => "the selected series' labels".into(),
            Labels::AtLeast(s) => format!("{} and the selected series' labels", list(s)),
        }
    }

    fn with(self, extra: &str) -> Labels {
        match self {
            Labels::Exactly(mut s) => {
                s.insert(extra.to_string());
                Labels::Exactly(s)
            }
            Labels::AtLeast(mut s) => {
                s.insert(extra.to_string());
                Labels::AtLeast(s)
            }
        }
    }

    fn without(self, gone: &str) -> Labels {
        match self {
            Labels::Exactly(mut s) => {
                s.remove(gone);
                Labels::Exactly(s)
            }
            Labels::AtLeast(mut s) => {
                s.remove(gone);
                Labels::AtLeast(s)
            }
        }
    }

    fn union(self, other: Labels) -> Labels {
        match (self, other) {
            (Labels::Exactly(mut a), Labels::Exactly(b)) => {
                a.extend(b);
                Labels::Exactly(a)
            }
            (Labels::Exactly(mut a) | Labels::AtLeast(mut a), Labels::AtLeast(b))
            | (Labels::AtLeast(mut a), Labels::Exactly(b)) => {
                a.extend(b);
                Labels::AtLeast(a)
            }
        }
    }
}

/// An answer's type and labels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shape {
    pub kind: Type,
    pub labels: Labels,
}

/// `sum [by (labels)] (inner)` (no `without`, no parameter): the labels kept and the inner
/// expression.
pub(crate) fn plain_sum(e: &Expr) -> Option<(Vec<String>, &Expr)> {
    let Expr::Aggregate(a) = e else {
        return None;
    };
    if a.op.to_string() != "sum" || a.param.is_some() {
        return None;
    }
    let by = match &a.modifier {
        None => Vec::new(),
        Some(LabelModifier::Include(l)) => l.labels.clone(),
        Some(LabelModifier::Exclude(_)) => return None,
    };
    Some((by, a.expr.as_ref()))
}

/// The shape of `promql`, or the parser's message.
pub(crate) fn of(promql: &str) -> Result<Shape, String> {
    let expr = parser::parse(promql).map_err(|e| super::one_line(&e))?;
    Ok(shape(&expr))
}

/// A ranking query (`topk`/`bottomk` at the top): whether it ranks the highest first, and
/// the labels it ranks within (`topk by (service)`). Its answer reads best in that order.
pub(crate) fn ranking(promql: &str) -> Option<(bool, Vec<String>)> {
    let mut e = parser::parse(promql).ok()?;
    while let Expr::Paren(p) = e {
        e = *p.expr;
    }
    let Expr::Aggregate(a) = e else {
        return None;
    };
    let highest = match a.op.to_string().as_str() {
        "topk" => true,
        "bottomk" => false,
        _ => return None,
    };
    let within = match &a.modifier {
        Some(LabelModifier::Include(l)) => l.labels.clone(),
        _ => Vec::new(),
    };
    Some((highest, within))
}

fn none() -> Labels {
    Labels::Exactly(BTreeSet::new())
}

fn names(l: &promql_parser::label::Labels) -> BTreeSet<String> {
    l.labels.iter().cloned().collect()
}

fn shape(e: &Expr) -> Shape {
    let vector = |labels| Shape {
        kind: Type::InstantVector,
        labels,
    };
    match e {
        Expr::Paren(p) => shape(&p.expr),
        Expr::Unary(u) => shape(&u.expr),
        Expr::NumberLiteral(_) => Shape {
            kind: Type::Scalar,
            labels: none(),
        },
        Expr::StringLiteral(_) => Shape {
            kind: Type::String,
            labels: none(),
        },
        Expr::VectorSelector(v) => vector(selected(v)),
        Expr::MatrixSelector(m) => Shape {
            kind: Type::RangeVector,
            labels: selected(&m.vs),
        },
        Expr::Subquery(s) => Shape {
            kind: Type::RangeVector,
            labels: shape(&s.expr).labels,
        },
        Expr::Aggregate(a) => vector(aggregate(a)),
        Expr::Binary(b) => binary(b),
        Expr::Call(c) => call(c),
        Expr::Extension(_) => vector(Labels::AtLeast(BTreeSet::new())),
    }
}

/// A selector's series carry at least the labels it matches with `=`.
fn selected(v: &promql_parser::parser::VectorSelector) -> Labels {
    Labels::AtLeast(
        v.matchers
            .matchers
            .iter()
            .filter(|m| m.name != "__name__" && !m.value.is_empty())
            .map(|m| m.name.clone())
            .collect(),
    )
}

fn aggregate(a: &promql_parser::parser::AggregateExpr) -> Labels {
    let inner = shape(&a.expr).labels;
    let op = a.op.to_string();
    if matches!(op.as_str(), "topk" | "bottomk" | "limitk" | "limit_ratio") {
        // These pick series without changing their labels.
        return inner;
    }
    let mut out = match &a.modifier {
        Some(LabelModifier::Include(l)) => Labels::Exactly(names(l)),
        Some(LabelModifier::Exclude(l)) => names(l).iter().fold(inner, |acc, g| acc.without(g)),
        None => none(),
    };
    if op == "count_values"
        && let Some(p) = &a.param
        && let Expr::StringLiteral(s) = p.as_ref()
    {
        out = out.with(&s.val);
    }
    out
}

fn binary(b: &promql_parser::parser::BinaryExpr) -> Shape {
    let (l, r) = (shape(&b.lhs), shape(&b.rhs));
    let scalar = |s: &Shape| s.kind == Type::Scalar;
    if scalar(&l) && scalar(&r) {
        return Shape {
            kind: Type::Scalar,
            labels: none(),
        };
    }
    if scalar(&l) {
        return r;
    }
    if scalar(&r) {
        return l;
    }
    let kind = Type::InstantVector;
    if b.op.to_string() == "or" {
        return Shape {
            kind,
            labels: l.labels.union(r.labels),
        };
    }
    let labels = match b.modifier.as_ref().map(|m| &m.card) {
        // `group_left(x)`: the many side's labels and x from the one side.
        Some(VectorMatchCardinality::ManyToOne(extra)) => {
            names(extra).iter().fold(l.labels, |acc, x| acc.with(x))
        }
        Some(VectorMatchCardinality::OneToMany(extra)) => {
            names(extra).iter().fold(r.labels, |acc, x| acc.with(x))
        }
        _ => l.labels,
    };
    Shape { kind, labels }
}

fn call(c: &promql_parser::parser::Call) -> Shape {
    let arg = |i: usize| c.args.args.get(i).map(|a| shape(a));
    let string_arg = |i: usize| match c.args.args.get(i).map(|a| a.as_ref()) {
        Some(Expr::StringLiteral(s)) => Some(s.val.clone()),
        _ => None,
    };
    let vector = |labels| Shape {
        kind: Type::InstantVector,
        labels,
    };
    match c.func.name {
        "label_replace" | "label_join" => {
            let inner = arg(0).map(|s| s.labels).unwrap_or_else(none);
            vector(match string_arg(1) {
                Some(dst) => inner.with(&dst),
                None => inner,
            })
        }
        "histogram_quantile" => vector(arg(1).map(|s| s.labels).unwrap_or_else(none).without("le")),
        "vector" | "time" | "pi" | "scalar" => Shape {
            kind: if c.func.name == "vector" {
                Type::InstantVector
            } else {
                Type::Scalar
            },
            labels: none(),
        },
        "absent" | "absent_over_time" => vector(Labels::AtLeast(BTreeSet::new())),
        _ => {
            // Functions over a vector or a range (rate, *_over_time, abs, clamp...) keep the
            // labels of the series they are given and return an instant vector.
            let first = c
                .args
                .args
                .iter()
                .map(|a| shape(a))
                .find(|s| matches!(s.kind, Type::InstantVector | Type::RangeVector));
            vector(first.map(|s| s.labels).unwrap_or_else(none))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(promql: &str) -> Labels {
        of(promql).unwrap().labels
    }

    fn set(l: &[&str]) -> BTreeSet<String> {
        l.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn aggregations_keep_exactly_their_grouping_labels() {
        assert_eq!(
            labels("sum by (service) (rate(http_requests_total[5m]))"),
            Labels::Exactly(set(&["service"]))
        );
        assert_eq!(labels("sum(rate(x[5m]))"), Labels::Exactly(set(&[])));
        assert_eq!(
            labels("histogram_quantile(0.95, sum by (service, le) (rate(h_bucket[5m])))"),
            Labels::Exactly(set(&["service"]))
        );
        assert_eq!(
            labels("topk by (service) (3, sum by (service, user) (rate(x[5m])))"),
            Labels::Exactly(set(&["service", "user"]))
        );
    }

    #[test]
    fn selectors_and_label_replace_are_followed() {
        assert_eq!(
            labels(r#"rabbitmq_queue_messages_ready{queue="a"}"#),
            Labels::AtLeast(set(&["queue"]))
        );
        assert_eq!(
            labels(r#"label_replace(sum(x), "reason", "expired", "", "")"#),
            Labels::Exactly(set(&["reason"]))
        );
        assert_eq!(
            labels(r#"sum by (a) (x) / sum by (a) (y) or sum by (b) (z)"#),
            Labels::Exactly(set(&["a", "b"]))
        );
    }

    #[test]
    fn ranges_and_scalars_are_told_apart() {
        assert_eq!(of("x[5m]").unwrap().kind, Type::RangeVector);
        assert_eq!(of("1 + 2").unwrap().kind, Type::Scalar);
        assert_eq!(of("sum(x) * 100").unwrap().kind, Type::InstantVector);
        assert!(of("sum(").is_err());
    }
}
