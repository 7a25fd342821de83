//! Query parameters: their kinds, validation, and safe substitution into PromQL.
//!
//! Every value a user passes with `--param` goes through [`ParamSpec::render`], which either
//! rejects it or returns text that cannot change the shape of the query: label values are
//! escaped for a double-quoted PromQL string, regex alternatives are limited to known (or
//! plainly spelled) names and regex-escaped, numbers and durations are re-printed from their
//! parsed value. Where each kind may appear in a template is checked by `vitals lint` (see
//! [`super::template`]).

use std::fmt;

use serde::{Deserialize, Deserializer};

use crate::duration::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParamKind {
    /// A PromQL duration (`5m`, `7d`), written bare (e.g. inside `[...]`).
    Duration,
    /// `|`-separated names for a `=~` matcher (`shop|crm`); `*` means any. Written inside a
    /// double-quoted string.
    Names,
    /// Any label value, escaped; written inside a double-quoted string.
    Label,
    /// An integer, written bare (`topk({{n}}, ...)`).
    Integer,
    /// A finite number, written bare (`histogram_quantile({{q}}, ...)`).
    Number,
    /// One of `allowed` (identifiers only), written bare (e.g. a grouping label).
    Choice,
}

impl ParamKind {
    /// Whether the placeholder of this kind belongs inside a double-quoted PromQL string.
    pub(crate) fn quoted(self) -> bool {
        matches!(self, ParamKind::Names | ParamKind::Label)
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ParamKind::Duration => "duration",
            ParamKind::Names => "names",
            ParamKind::Label => "label",
            ParamKind::Integer => "integer",
            ParamKind::Number => "number",
            ParamKind::Choice => "choice",
        }
    }
}

impl fmt::Display for ParamKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A parameter of a catalog query, as declared in `queries/*.toml`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParamSpec {
    /// How values are validated and written into the PromQL.
    pub kind: ParamKind,
    /// Used when the caller gives no value. Numbers may be written as TOML numbers.
    /// Required, except for `names` params that take their values from the site.
    #[serde(default, deserialize_with = "scalar_string")]
    pub default: String,
    /// Known values (names, choice). For `names`, an empty list accepts any plainly spelled
    /// name (letters, digits, `_ . : / -`).
    #[serde(default)]
    pub allowed: Vec<String>,
    /// Inclusive bounds for integer and number params.
    #[serde(default)]
    pub min: Option<f64>,
    #[serde(default)]
    pub max: Option<f64>,
    /// One line shown by `vitals queries`.
    #[serde(default)]
    pub help: Option<String>,
    /// `names` params only: the values are the `service` labels of the site's components of
    /// this kind (`api`, `database`, ...); `default` (all of them) and `allowed` follow
    /// site.toml, so a site that adds a component edits no query.
    #[serde(default)]
    pub components: Option<String>,
}

/// Why a parameter value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid value {value:?} for param `{param}`: {reason}")]
pub struct ParamError {
    pub param: String,
    pub value: String,
    pub reason: String,
}

fn is_plain_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'/' | b'-'))
}

fn is_identifier(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Escapes text for the inside of a double-quoted PromQL string.
pub(crate) fn escape_promql_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Escapes RE2 metacharacters so that a name matches only itself.
pub(crate) fn escape_regex(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl ParamSpec {
    /// Validates `value` and returns the text that replaces the placeholder.
    pub(crate) fn render(&self, name: &str, value: &str) -> Result<String, ParamError> {
        let fail = |reason: String| ParamError {
            param: name.to_string(),
            value: value.to_string(),
            reason,
        };
        match self.kind {
            ParamKind::Duration => {
                let d: Duration =
                    value
                        .parse()
                        .map_err(|e: crate::duration::ParseDurationError| {
                            fail(
                                e.to_string()
                                    .split(": ")
                                    .nth(1)
                                    .unwrap_or("bad duration")
                                    .into(),
                            )
                        })?;
                if d.millis() == 0 {
                    return Err(fail("a window must be longer than zero".into()));
                }
                Ok(d.to_string())
            }
            ParamKind::Names => {
                if value == "*" {
                    return Ok(".+".into());
                }
                if let (Some(kind), true) = (&self.components, self.allowed.is_empty()) {
                    return Err(fail(format!(
                        "the site has no components of kind `{kind}` (site.toml)"
                    )));
                }
                let mut parts = Vec::new();
                for alt in value.split('|') {
                    let alt = alt.trim();
                    if !self.allowed.is_empty() {
                        if !self.allowed.iter().any(|a| a == alt) {
                            return Err(fail(format!(
                                "`{alt}` is not one of {} (or `*` for all)",
                                self.allowed.join(", ")
                            )));
                        }
                    } else if !is_plain_name(alt) {
                        return Err(fail(format!(
                            "`{alt}` is not a plain name (letters, digits, _ . : / -), separate names with |"
                        )));
                    }
                    parts.push(escape_promql_string(&escape_regex(alt)));
                }
                Ok(parts.join("|"))
            }
            ParamKind::Label => Ok(escape_promql_string(value)),
            ParamKind::Integer => {
                let n: i64 = value
                    .trim()
                    .parse()
                    .map_err(|_| fail("expected an integer".into()))?;
                self.check_bounds(n as f64).map_err(fail)?;
                Ok(n.to_string())
            }
            ParamKind::Number => {
                let x: f64 = value
                    .trim()
                    .parse()
                    .map_err(|_| fail("expected a number".into()))?;
                if !x.is_finite() {
                    return Err(fail("expected a finite number".into()));
                }
                self.check_bounds(x).map_err(fail)?;
                Ok(format!("{x}"))
            }
            ParamKind::Choice => {
                if self.allowed.iter().any(|a| a == value) {
                    Ok(value.to_string())
                } else {
                    Err(fail(format!("expected one of {}", self.allowed.join(", "))))
                }
            }
        }
    }

    fn check_bounds(&self, x: f64) -> Result<(), String> {
        match (self.min, self.max) {
            (Some(lo), _) if x < lo => Err(format!("must be at least {lo}")),
            (_, Some(hi)) if x > hi => Err(format!("must be at most {hi}")),
            _ => Ok(()),
        }
    }

    /// Problems with the declaration itself (checked at load time).
    pub(crate) fn check_declaration(&self, name: &str) -> Vec<String> {
        let mut out = Vec::new();
        if !is_identifier(name) {
            out.push(format!(
                "param name `{name}` must be an identifier (letters, digits, _)"
            ));
        }
        match self.kind {
            ParamKind::Choice => {
                if self.allowed.is_empty() {
                    out.push(format!("param `{name}`: kind \"choice\" needs `allowed`"));
                }
                for a in &self.allowed {
                    if !is_identifier(a) {
                        out.push(format!(
                            "param `{name}`: choice `{a}` must be an identifier (it is written into PromQL unquoted)"
                        ));
                    }
                }
            }
            ParamKind::Names if self.components.is_some() => {
                if !self.allowed.is_empty() || !self.default.is_empty() {
                    out.push(format!(
                        "param `{name}`: `components` takes `default` and `allowed` from the site's components; remove them"
                    ));
                }
            }
            ParamKind::Names => {
                for a in &self.allowed {
                    if !is_plain_name(a) {
                        out.push(format!(
                            "param `{name}`: allowed name `{a}` is not a plain name"
                        ));
                    }
                }
            }
            _ => {
                if !self.allowed.is_empty() {
                    out.push(format!(
                        "param `{name}`: `allowed` only applies to kinds \"names\" and \"choice\""
                    ));
                }
            }
        }
        if self.components.is_some() && self.kind != ParamKind::Names {
            out.push(format!(
                "param `{name}`: `components` only applies to kind \"names\""
            ));
        }
        if (self.min.is_some() || self.max.is_some())
            && !matches!(self.kind, ParamKind::Integer | ParamKind::Number)
        {
            out.push(format!(
                "param `{name}`: `min`/`max` only apply to kinds \"integer\" and \"number\""
            ));
        }
        if self.components.is_none() {
            if self.default.is_empty() {
                out.push(format!("param `{name}` needs a `default`"));
            } else if let Err(e) = self.render(name, &self.default) {
                out.push(format!("default of param `{name}`: {}", e.reason));
            }
        }
        out
    }
}

/// A TOML scalar read as text: `"5m"`, `10` and `0.95` alike (parameter values).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scalar(pub String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Any {
            S(String),
            I(i64),
            F(f64),
        }
        Ok(Scalar(match Any::deserialize(d)? {
            Any::S(s) => s,
            Any::I(i) => i.to_string(),
            Any::F(f) => f.to_string(),
        }))
    }
}

fn scalar_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Scalar::deserialize(d).map(|s| s.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(kind: ParamKind, default: &str, allowed: &[&str]) -> ParamSpec {
        ParamSpec {
            kind,
            default: default.into(),
            allowed: allowed.iter().map(|s| s.to_string()).collect(),
            min: None,
            max: None,
            help: None,
            components: None,
        }
    }

    #[test]
    fn names_accept_known_alternatives_and_escape_regex_dots() {
        let s = spec(
            ParamKind::Names,
            "shop.orders",
            &["shop.orders", "mes.status"],
        );
        assert_eq!(
            s.render("queue", "shop.orders|mes.status").unwrap(),
            r"shop\\.orders|mes\\.status"
        );
        assert_eq!(s.render("queue", "*").unwrap(), ".+");
        assert!(s.render("queue", "shop.orders|.*").is_err());
    }

    #[test]
    fn names_reject_injection_attempts() {
        let s = spec(ParamKind::Names, "shop", &["shop", "crm", "mes"]);
        let e = s.render("service", r#"x"} or vector(1) #"#).unwrap_err();
        assert!(e.reason.contains("not one of"), "{e}");
        let free = spec(ParamKind::Names, "a", &[]);
        assert!(free.render("x", r#"a"}"#).is_err());
        assert!(free.render("x", "a b").is_err());
    }

    #[test]
    fn labels_are_escaped_so_they_cannot_leave_their_quotes() {
        let s = spec(ParamKind::Label, "", &[]);
        assert_eq!(
            s.render("user", r#"x"} or vector(1) #"#).unwrap(),
            r#"x\"} or vector(1) #"#
        );
        assert_eq!(s.render("user", "a\\b\nc").unwrap(), r"a\\b\nc");
    }

    #[test]
    fn numbers_and_durations_are_reprinted_from_their_parsed_value() {
        let mut n = spec(ParamKind::Integer, "10", &[]);
        n.min = Some(1.0);
        n.max = Some(100.0);
        assert_eq!(n.render("n", " 5 ").unwrap(), "5");
        assert!(n.render("n", "0").is_err());
        assert!(n.render("n", "5) or vector(1").is_err());
        let d = spec(ParamKind::Duration, "5m", &[]);
        assert_eq!(d.render("window", "90s").unwrap(), "1m30s");
        assert!(d.render("window", "5m] or vector(1)").is_err());
        assert!(d.render("window", "0s").is_err());
        let q = spec(ParamKind::Number, "0.5", &[]);
        assert!(q.render("q", "NaN").is_err());
    }

    #[test]
    fn declarations_are_checked() {
        let c = spec(ParamKind::Choice, "a b", &["a b"]);
        assert_eq!(c.check_declaration("by").len(), 1);
        let d = spec(ParamKind::Duration, "soon", &[]);
        assert_eq!(d.check_declaration("window").len(), 1);
    }
}
