//! The query catalog: named PromQL templates from `queries/*.toml`, their parameters, and
//! the mapping from the monitoring plan to the queries that answer it.

pub mod params;
pub mod shape;
pub mod template;

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use crate::diag::{Problem, Source, toml_message};
use crate::duration::Duration;
use crate::exit::Failure;
use crate::units::Unit;
pub use params::{ParamError, ParamKind, ParamSpec};
use template::Context;

/// The catalog compiled into the binary, used when no `queries/` directory is around.
pub const BUILTIN: [(&str, &str); 6] = [
    ("api.toml", include_str!("../../queries/api.toml")),
    ("business.toml", include_str!("../../queries/business.toml")),
    ("db.toml", include_str!("../../queries/db.toml")),
    ("plan.toml", include_str!("../../queries/plan.toml")),
    ("rabbitmq.toml", include_str!("../../queries/rabbitmq.toml")),
    ("s3.toml", include_str!("../../queries/s3.toml")),
];

/// One named query.
#[derive(Clone, Debug)]
pub struct QueryDef {
    pub name: String,
    pub help: String,
    pub unit: Unit,
    pub promql: String,
    pub params: BTreeMap<String, ParamSpec>,
    /// Ids of the monitoring-plan lines this query answers.
    pub plan: Vec<String>,
    /// Where it was defined (for messages).
    pub origin: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQuery {
    name: String,
    help: String,
    unit: Unit,
    promql: String,
    #[serde(default)]
    params: BTreeMap<String, ParamSpec>,
    #[serde(default)]
    plan: Vec<String>,
}

/// A metric the monitoring plan asks for.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanItem {
    pub id: String,
    /// Section of the plan (RabbitMQ, Shop API, ...).
    pub section: String,
    /// The plan's line, in English.
    pub en: String,
    /// The plan's line as written (Russian).
    pub ru: String,
}

/// A query with every parameter resolved and validated.
#[derive(Clone, Debug)]
pub struct Expanded {
    pub promql: String,
    /// Effective parameter values (defaults filled in), as the user would write them.
    pub params: BTreeMap<String, String>,
}

/// Why a query could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpandError {
    #[error("unknown catalog query `{0}`")]
    UnknownQuery(String),
    #[error("query `{query}` has no param `{param}`{}", known_list(.known))]
    UnknownParam {
        query: String,
        param: String,
        known: Vec<String>,
    },
    #[error("query `{query}`: {source}")]
    Invalid {
        query: String,
        #[source]
        source: ParamError,
    },
}

fn known_list(known: &[String]) -> String {
    if known.is_empty() {
        " (it takes none)".into()
    } else {
        format!(" (its params: {})", known.join(", "))
    }
}

impl QueryDef {
    /// Fills in parameters (`overrides` win over defaults) and validates every value.
    pub(crate) fn expand(
        &self,
        overrides: &BTreeMap<String, String>,
    ) -> Result<Expanded, ExpandError> {
        for k in overrides.keys() {
            if !self.params.contains_key(k) {
                return Err(ExpandError::UnknownParam {
                    query: self.name.clone(),
                    param: k.clone(),
                    known: self.params.keys().cloned().collect(),
                });
            }
        }
        let mut rendered = BTreeMap::new();
        let mut effective = BTreeMap::new();
        for (name, spec) in &self.params {
            let value = overrides.get(name).unwrap_or(&spec.default);
            let text = spec
                .render(name, value)
                .map_err(|source| ExpandError::Invalid {
                    query: self.name.clone(),
                    source,
                })?;
            if spec.kind == ParamKind::Duration {
                rendered.insert(seconds_name(name), duration_seconds(&text));
            }
            rendered.insert(name.clone(), text);
            effective.insert(name.clone(), value.clone());
        }
        Ok(Expanded {
            promql: template::substitute(&self.promql, &rendered),
            params: effective,
        })
    }

    /// Parses the query expanded with its defaults; `Some(message)` when PromQL rejects it.
    pub(crate) fn check_promql(&self) -> Option<String> {
        // A param that follows a site without components of its kind is parsed with "any".
        let any: BTreeMap<String, String> = self
            .params
            .iter()
            .filter(|(_, p)| p.components.is_some() && p.allowed.is_empty())
            .map(|(k, _)| (k.clone(), "*".to_string()))
            .collect();
        match self.expand(&any) {
            // Unresolved placeholders are reported by the load-time checks already.
            Ok(e) if template::scan(&e.promql).is_ok_and(|p| !p.is_empty()) => None,
            Ok(e) => promql_parser::parser::parse(&e.promql)
                .err()
                .map(|m| format!("invalid PromQL (expanded with defaults): {}", one_line(&m))),
            Err(ExpandError::Invalid { source, .. }) => Some(source.to_string()),
            Err(e) => Some(e.to_string()),
        }
    }
}

pub(crate) fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// All queries and plan lines.
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    pub queries: Vec<QueryDef>,
    pub plan: Vec<PlanItem>,
    /// `queries/` path, or "built-in".
    pub origin: String,
}

impl Catalog {
    pub fn get(&self, name: &str) -> Option<&QueryDef> {
        self.queries.iter().find(|q| q.name == name)
    }

    /// The closest known name, for "did you mean" hints.
    pub(crate) fn suggest(&self, name: &str) -> Option<&str> {
        closest(name, self.queries.iter().map(|q| q.name.as_str()))
    }

    /// Loads every `*.toml` file of a directory.
    pub fn load_dir(dir: &Path) -> (Catalog, Vec<Problem>) {
        let mut sources = Vec::new();
        let mut problems = Vec::new();
        match std::fs::read_dir(dir) {
            Ok(entries) => {
                let mut paths: Vec<PathBuf> = entries
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                    .collect();
                paths.sort();
                for p in paths {
                    match std::fs::read_to_string(&p) {
                        Ok(text) => sources.push(Source::new(p, text)),
                        Err(e) => problems.push(Problem::in_file(&p, format!("cannot read: {e}"))),
                    }
                }
                if sources.is_empty() && problems.is_empty() {
                    problems.push(Problem::in_file(
                        dir,
                        "no *.toml query files in this directory",
                    ));
                }
            }
            Err(e) => problems.push(Problem::in_file(
                dir,
                format!("cannot read the queries directory: {e}"),
            )),
        }
        let (mut cat, more) = Catalog::from_sources(&sources);
        cat.origin = dir.display().to_string();
        problems.extend(more);
        (cat, problems)
    }

    /// The catalog compiled into this binary.
    pub(crate) fn builtin() -> (Catalog, Vec<Problem>) {
        let sources: Vec<Source> = BUILTIN
            .iter()
            .map(|(name, text)| Source::new(format!("<built-in>/queries/{name}"), *text))
            .collect();
        let (mut cat, problems) = Catalog::from_sources(&sources);
        cat.origin = "built-in".into();
        (cat, problems)
    }

    /// Parses query files; every problem is collected, none stops the others.
    pub(crate) fn from_sources(sources: &[Source]) -> (Catalog, Vec<Problem>) {
        let mut cat = Catalog::default();
        let mut problems = Vec::new();
        let mut seen: BTreeMap<String, String> = BTreeMap::new();
        let mut plan_ids: BTreeMap<String, String> = BTreeMap::new();
        for src in sources {
            let table = match DeTable::parse(&src.text) {
                Ok(t) => t,
                Err(e) => {
                    problems.push(src.problem_at(e.span(), toml_message(&e)));
                    continue;
                }
            };
            for (key, value) in table.into_inner() {
                let (kind, entries) = match (key.get_ref().as_ref(), value.get_ref()) {
                    (k @ ("query" | "plan"), DeValue::Array(a)) => (k.to_string(), a.to_vec()),
                    (k @ ("query" | "plan"), _) => {
                        problems.push(src.problem_at(
                            Some(key.span()),
                            format!("`{k}` must be an array of tables: write [[{k}]]"),
                        ));
                        continue;
                    }
                    (k, _) => {
                        problems.push(src.problem_at(
                            Some(key.span()),
                            format!("unknown top-level key `{k}` (expected [[query]] or [[plan]])"),
                        ));
                        continue;
                    }
                };
                for entry in entries {
                    let span = entry.span();
                    if kind == "plan" {
                        match PlanItem::deserialize(ValueDeserializer::from(entry)) {
                            Ok(item) => {
                                let at = src.problem_at(Some(span.clone()), "");
                                if let Some(prev) = plan_ids.insert(item.id.clone(), at.to_string())
                                {
                                    problems.push(src.problem_at(
                                        Some(span),
                                        format!(
                                            "duplicate plan id `{}` (first at {prev})",
                                            item.id
                                        ),
                                    ));
                                }
                                cat.plan.push(item);
                            }
                            Err(e) => problems
                                .push(src.problem_at(e.span().or(Some(span)), toml_message(&e))),
                        }
                        continue;
                    }
                    let (raw, _) =
                        crate::diag::deserialize_entry::<RawQuery>(src, entry, &mut problems);
                    let Some(raw) = raw else {
                        continue;
                    };
                    let (line, _) = src.line_col(span.start);
                    let origin = format!("{}:{line}", src.path.display());
                    let q = QueryDef {
                        name: raw.name,
                        help: raw.help,
                        unit: raw.unit,
                        promql: raw.promql,
                        params: raw.params,
                        plan: raw.plan,
                        origin: origin.clone(),
                    };
                    // A duplicate is still checked: its own mistakes are reported too.
                    problems.extend(check_query(src, &span, &q));
                    if let Some(prev) = seen.get(&q.name) {
                        problems.push(src.problem_at(
                            Some(span.clone()),
                            format!(
                                "duplicate query name `{}` (first defined at {prev})",
                                q.name
                            ),
                        ));
                        // It never joins the catalog, whose queries `lint` parses: parse it here.
                        if let Some(m) = q.check_promql() {
                            problems.push(Problem::new(format!(
                                "{}: query `{}`: {m}",
                                q.origin, q.name
                            )));
                        }
                        continue;
                    }
                    seen.insert(q.name.clone(), origin);
                    cat.queries.push(q);
                }
            }
        }
        if !cat.plan.is_empty() {
            let ids: BTreeSet<&str> = cat.plan.iter().map(|p| p.id.as_str()).collect();
            for q in &cat.queries {
                for id in &q.plan {
                    if !ids.contains(id.as_str()) {
                        problems.push(Problem::new(format!(
                            "{}: query `{}` refers to unknown plan line `{id}`",
                            q.origin, q.name
                        )));
                    }
                }
            }
        }
        (cat, problems)
    }

    /// Fills the `names` params that follow the site (`components = "api"`) with the
    /// `service` labels of its components of that kind: `values` maps a kind to them.
    /// Returns a problem for each param naming a kind the site does not know.
    pub(crate) fn bind_components(
        &mut self,
        kinds: &[&str],
        values: &BTreeMap<String, Vec<String>>,
    ) -> Vec<Problem> {
        let mut problems = Vec::new();
        for q in &mut self.queries {
            for (name, spec) in &mut q.params {
                let Some(kind) = &spec.components else {
                    continue;
                };
                if !kinds.contains(&kind.as_str()) {
                    problems.push(Problem::new(format!(
                        "{}: query `{}`: param `{name}`: unknown component kind `{kind}` (kinds: {})",
                        q.origin,
                        q.name,
                        kinds.join(", ")
                    )));
                    continue;
                }
                let v = values.get(kind).cloned().unwrap_or_default();
                spec.default = v.join("|");
                spec.allowed = v;
            }
        }
        problems
    }

    /// Plan lines no query answers.
    pub fn unmapped_plan_items(&self) -> Vec<&PlanItem> {
        self.plan
            .iter()
            .filter(|p| !self.queries.iter().any(|q| q.plan.contains(&p.id)))
            .collect()
    }
}

/// For a range: a query's `window` left at its default is widened to the step when the step
/// is longer, so that every moment of the range is counted once (a 15-minute step over
/// 5-minute rates would skip two thirds of the time). Returns the params to use.
pub(crate) fn cover_step(
    def: &QueryDef,
    params: &BTreeMap<String, String>,
    step: Duration,
) -> Option<BTreeMap<String, String>> {
    let spec = def.params.get("window")?;
    if params.contains_key("window") {
        return None;
    }
    let default: Duration = spec.default.parse().ok()?;
    (step > default).then(|| {
        let mut p = params.clone();
        p.insert("window".into(), step.to_string());
        p
    })
}

impl Catalog {
    /// Finds a query and expands it with `params`, or says precisely why not (a usage error:
    /// the name or params came from the command line).
    pub(crate) fn resolve(
        &self,
        name: &str,
        params: &BTreeMap<String, String>,
    ) -> Result<(&QueryDef, Expanded), Failure> {
        let Some(def) = self.get(name) else {
            let hint = match self.suggest(name) {
                Some(s) => format!("did you mean `{s}`? `vitals queries` lists them all"),
                None => "`vitals queries` lists the catalog".into(),
            };
            return Err(Failure::usage_hint(format!("unknown query `{name}`"), hint));
        };
        let expanded = def.expand(params).map_err(|e| {
            let hint = def
                .params
                .iter()
                .map(|(k, p)| format!("{k} ({}, default {})", p.kind, p.default))
                .collect::<Vec<_>>()
                .join(", ");
            Failure::usage_hint(e.to_string(), format!("params of {name}: {hint}"))
        })?;
        if let Err(m) = promql_parser::parser::parse(&expanded.promql) {
            return Err(Failure::usage(format!(
                "query `{name}` expands to invalid PromQL: {} ({})",
                one_line(&m),
                def.origin
            )));
        }
        Ok((def, expanded))
    }
}

/// Schema-level checks of one query (everything except PromQL syntax).
fn check_query(src: &Source, span: &Range<usize>, q: &QueryDef) -> Vec<Problem> {
    let mut out = Vec::new();
    let at = |key: &str, msg: String| {
        src.problem_at(src.find_key(span, key).or(Some(span.clone())), msg)
    };
    let valid_name = !q.name.is_empty()
        && q.name.split('.').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        });
    if !valid_name {
        out.push(at(
            "name",
            format!(
                "query name `{}` must be dotted lowercase words (e.g. api.rps)",
                q.name
            ),
        ));
    }
    if q.help.trim().is_empty() {
        out.push(at("help", format!("query `{}` needs a help text", q.name)));
    }
    for (name, spec) in &q.params {
        for m in spec.check_declaration(name) {
            out.push(at(name, format!("query `{}`: {m}", q.name)));
        }
    }
    match template::scan(&q.promql) {
        Err(offset) => out.push(at(
            "promql",
            format!(
                "query `{}`: unterminated `{{{{` at character {offset} of promql",
                q.name
            ),
        )),
        Ok(found) => {
            let mut used = BTreeSet::new();
            for p in &found {
                used.insert(p.name.as_str());
                // `{{window_seconds}}`: a duration param as a number of seconds.
                if let Some(base) = p.name.strip_suffix(SECONDS_SUFFIX)
                    && q.params
                        .get(base)
                        .is_some_and(|s| s.kind == ParamKind::Duration)
                    && !q.params.contains_key(&p.name)
                {
                    used.insert(base);
                    if p.context != Context::Bare {
                        out.push(at(
                            "promql",
                            format!(
                                "query `{}`: `{{{{{}}}}}` (the seconds of `{base}`) must be written outside string literals",
                                q.name, p.name
                            ),
                        ));
                    }
                    continue;
                }
                let Some(spec) = q.params.get(&p.name) else {
                    out.push(at(
                        "promql",
                        format!(
                            "query `{}`: unknown param `{{{{{}}}}}` in promql{}",
                            q.name,
                            p.name,
                            known_list(&q.params.keys().cloned().collect::<Vec<_>>())
                        ),
                    ));
                    continue;
                };
                let ok = match p.context {
                    Context::DoubleQuoted => spec.kind.quoted(),
                    Context::Bare => !spec.kind.quoted(),
                    Context::OtherQuoted => false,
                };
                if !ok {
                    let want = if spec.kind.quoted() {
                        "inside a double-quoted string"
                    } else {
                        "outside string literals"
                    };
                    out.push(at(
                        "promql",
                        format!(
                            "query `{}`: param `{}` of kind \"{}\" must be written {want}",
                            q.name, p.name, spec.kind
                        ),
                    ));
                }
            }
            for name in q.params.keys() {
                if !used.contains(name.as_str()) {
                    out.push(at(
                        name,
                        format!(
                            "query `{}`: param `{name}` is declared but not used in promql",
                            q.name
                        ),
                    ));
                }
            }
        }
    }
    out
}

/// Levenshtein-closest candidate within a small distance.
pub(crate) fn closest<'a>(
    name: &str,
    candidates: impl Iterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .map(|c| (edit_distance(name, c), c))
        .filter(|(d, c)| *d <= 3.max(c.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The placeholder suffix that writes a duration param as its number of seconds:
/// `{{window_seconds}}` is `300` where `{{window}}` is `5m` (to divide an exact count by its
/// window; PromQL has no duration arithmetic).
pub(crate) const SECONDS_SUFFIX: &str = "_seconds";

pub(crate) fn seconds_name(param: &str) -> String {
    format!("{param}{SECONDS_SUFFIX}")
}

/// The seconds of a rendered duration, as a bare PromQL number.
pub(crate) fn duration_seconds(rendered: &str) -> String {
    rendered
        .parse::<Duration>()
        .map(|d| crate::slo::sli::number(d.millis() as f64 / 1000.0))
        .unwrap_or_else(|_| rendered.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> (Catalog, Vec<String>) {
        let (c, p) = Catalog::from_sources(&[Source::new("q.toml", text)]);
        (c, p.iter().map(|p| p.to_string()).collect())
    }

    #[test]
    fn the_builtin_catalog_loads_without_problems() {
        let (mut cat, problems) = Catalog::builtin();
        assert!(problems.is_empty(), "{problems:#?}");
        // Bound to a site with one component of each kind its params name.
        let values: BTreeMap<String, Vec<String>> = [("api", "shop"), ("database", "shop-db")]
            .iter()
            .map(|(k, v)| (k.to_string(), vec![v.to_string()]))
            .collect();
        assert!(
            cat.bind_components(&["api", "database"], &values)
                .is_empty()
        );
        for q in &cat.queries {
            assert_eq!(q.check_promql(), None, "{}", q.name);
        }
        assert!(cat.unmapped_plan_items().is_empty());
    }

    #[test]
    fn a_duration_is_also_written_as_its_seconds() {
        let (cat, p) = load(
            r#"
[[query]]
name = "a.rate"
help = "x"
unit = "per_second"
promql = '(x - x offset {{window}}) / {{window_seconds}}'
[query.params]
window = { kind = "duration", default = "5m" }

[[query]]
name = "a.quoted"
help = "x"
unit = "count"
promql = 'x{a="{{window_seconds}}"} offset {{window}}'
[query.params]
window = { kind = "duration", default = "5m" }

[[query]]
name = "a.other"
help = "x"
unit = "count"
promql = 'topk({{n_seconds}}, x)'
[query.params]
n = { kind = "integer", default = 3 }
"#,
        );
        let q = cat.get("a.rate").unwrap();
        let mut params = BTreeMap::new();
        assert_eq!(q.expand(&params).unwrap().promql, "(x - x offset 5m) / 300");
        params.insert("window".to_string(), "1h30m500ms".to_string());
        assert_eq!(
            q.expand(&params).unwrap().promql,
            "(x - x offset 1h30m500ms) / 5400.5"
        );
        assert!(
            p.iter().any(|m| m.contains("`{{window_seconds}}` (the seconds of `window`) must be written outside string literals")),
            "{p:#?}"
        );
        // Only durations have seconds.
        assert!(
            p.iter()
                .any(|m| m.contains("unknown param `{{n_seconds}}`")),
            "{p:#?}"
        );
        assert!(!p.iter().any(|m| m.contains("a.rate")), "{p:#?}");
    }

    #[test]
    fn reports_every_problem_with_file_line_and_column() {
        let (_, p) = load(
            r#"
[[query]]
name = "a.one"
hepl = "typo"
help = "x"
unit = "count"
promql = "up"

[[query]]
name = "a.two"
help = "x"
unit = "furlongs"
promql = "up"

[[query]]
name = "a.three"
help = "x"
unit = "count"
promql = 'rate(x{s="{{svc}}"}[{{window}}])'
[query.params]
window = { kind = "duration", default = "5m" }
unused = { kind = "integer", default = 3 }
"#,
        );
        assert!(
            p.iter()
                .any(|m| m.starts_with("q.toml:4:1: unknown field `hepl`")),
            "{p:#?}"
        );
        assert!(
            p.iter()
                .any(|m| m.starts_with("q.toml:12:8: unknown variant `furlongs`")),
            "{p:#?}"
        );
        assert!(
            p.iter().any(|m| m.contains("unknown param `{{svc}}`")),
            "{p:#?}"
        );
        assert!(
            p.iter()
                .any(|m| m.contains("`unused` is declared but not used")),
            "{p:#?}"
        );
        assert_eq!(p.len(), 4, "{p:#?}");
    }

    #[test]
    fn rejects_duplicates_and_misplaced_placeholders() {
        let (_, p) = load(
            r#"
[[query]]
name = "a.one"
help = "x"
unit = "count"
promql = 'x{s={{svc}}}'
[query.params]
svc = { kind = "label", default = "a" }

[[query]]
name = "a.one"
help = "y"
unit = "count"
promql = "up"
"#,
        );
        assert!(
            p.iter()
                .any(|m| m.contains("must be written inside a double-quoted string")),
            "{p:#?}"
        );
        assert!(
            p.iter().any(|m| m.contains("duplicate query name `a.one`")),
            "{p:#?}"
        );
    }

    #[test]
    fn expands_defaults_and_rejects_unknown_params() {
        let (cat, p) = load(
            r#"
[[query]]
name = "a.rps"
help = "x"
unit = "rps"
promql = 'sum(rate(x{service=~"{{service}}"}[{{window}}]))'
[query.params]
service = { kind = "names", default = "shop|crm", allowed = ["shop", "crm", "mes"] }
window = { kind = "duration", default = "5m" }
"#,
        );
        assert!(p.is_empty(), "{p:?}");
        let q = cat.get("a.rps").unwrap();
        let e = q.expand(&BTreeMap::new()).unwrap();
        assert_eq!(e.promql, r#"sum(rate(x{service=~"shop|crm"}[5m]))"#);
        let mut o = BTreeMap::new();
        o.insert("sevrice".to_string(), "mes".to_string());
        let err = q.expand(&o).unwrap_err().to_string();
        assert_eq!(
            err,
            "query `a.rps` has no param `sevrice` (its params: service, window)"
        );
    }

    #[test]
    fn suggests_close_names() {
        let names = ["api.rps", "api.error_ratio", "db.size_bytes"];
        assert_eq!(closest("api.rsp", names.iter().copied()), Some("api.rps"));
        assert_eq!(closest("nothing.like.it", names.iter().copied()), None);
    }
}
