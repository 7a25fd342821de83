//! Configuration problems with a place (`queries/api.toml:12:5: ...`), collected rather than
//! thrown, so that `vitals lint` and every command's start-up report all of them at once.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// A source text and the name it is shown under.
#[derive(Debug, Clone)]
pub struct Source {
    pub path: PathBuf,
    pub text: String,
}

impl Source {
    pub fn new(path: impl Into<PathBuf>, text: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            text: text.into(),
        }
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
        let col = self.text[line_start..offset].chars().count() + 1;
        (line, col)
    }

    /// A problem located at a byte span of this source.
    pub fn problem_at(&self, span: Option<Range<usize>>, message: impl Into<String>) -> Problem {
        let pos = span.map(|s| self.line_col(s.start));
        Problem {
            path: Some(self.path.clone()),
            line_col: pos,
            message: message.into(),
        }
    }

    /// The span of `key = ` inside `within`, for problems found after deserialisation
    /// (where serde no longer knows where a value came from).
    /// `within` is extended to the end of the entry it starts (the next `[[` header), as
    /// TOML spans of array-of-tables entries may cover only their header.
    pub fn find_key(&self, within: &Range<usize>, key: &str) -> Option<Range<usize>> {
        let next_entry = self.text[within.start.min(self.text.len())..]
            .get(1..)
            .and_then(|rest| rest.find("\n[["))
            .map(|i| within.start + 1 + i)
            .unwrap_or(self.text.len());
        let end = within.end.max(next_entry).min(self.text.len());
        let hay = &self.text[within.start.min(end)..end];
        let mut from = 0;
        while let Some(i) = hay[from..].find(key) {
            let at = from + i;
            let before_ok = at == 0
                || !hay.as_bytes()[at - 1].is_ascii_alphanumeric()
                    && hay.as_bytes()[at - 1] != b'_';
            let after = hay[at + key.len()..].trim_start_matches([' ', '\t']);
            if before_ok && (after.starts_with('=') || after.starts_with('.')) {
                let start = within.start + at;
                return Some(start..start + key.len());
            }
            from = at + key.len();
        }
        None
    }
}

/// One thing wrong with the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: Option<PathBuf>,
    pub line_col: Option<(usize, usize)>,
    pub message: String,
}

impl Problem {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            path: None,
            line_col: None,
            message: message.into(),
        }
    }

    pub fn in_file(path: &Path, message: impl Into<String>) -> Self {
        Self {
            path: Some(path.to_path_buf()),
            line_col: None,
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.path, self.line_col) {
            (Some(p), Some((l, c))) => write!(f, "{}:{l}:{c}: {}", p.display(), self.message),
            (Some(p), None) => write!(f, "{}: {}", p.display(), self.message),
            _ => f.write_str(&self.message),
        }
    }
}

/// Deserialises one entry of a file (`[[query]]`, `[[slo]]`) so that one bad field does not
/// hide the others: the field an error points at is reported, left out, and the rest read
/// again. Returns the value, when the remaining fields make one, and the names of the fields
/// left out (so later checks do not report them again as missing).
pub fn deserialize_entry<T: serde::de::DeserializeOwned>(
    src: &Source,
    entry: toml::Spanned<toml::de::DeValue<'_>>,
    problems: &mut Vec<Problem>,
) -> (Option<T>, Vec<String>) {
    use toml::de::{DeValue, ValueDeserializer};
    let span = entry.span();
    let mut dropped = Vec::new();
    let mut table = match entry.into_inner() {
        DeValue::Table(t) => t,
        other => {
            let v = toml::Spanned::new(span.clone(), other);
            return match T::deserialize(ValueDeserializer::from(v)) {
                Ok(t) => (Some(t), dropped),
                Err(e) => {
                    problems.push(src.problem_at(e.span().or(Some(span)), toml_message(&e)));
                    (None, dropped)
                }
            };
        }
    };
    loop {
        let v = toml::Spanned::new(span.clone(), DeValue::Table(table.clone()));
        match T::deserialize(ValueDeserializer::from(v)) {
            Ok(t) => return (Some(t), dropped),
            Err(e) => {
                let at = e.span();
                let message = toml_message(&e);
                // A required field already reported as invalid is not reported again as missing.
                if dropped
                    .iter()
                    .any(|d| message.contains(&format!("missing field `{d}`")))
                {
                    return (None, dropped);
                }
                problems.push(src.problem_at(at.clone().or(Some(span.clone())), message));
                let inside = |r: std::ops::Range<usize>, a: &std::ops::Range<usize>| {
                    r.start <= a.start && a.end <= r.end
                };
                let culprit = at.and_then(|a| {
                    table
                        .iter()
                        .find(|(k, v)| inside(k.span(), &a) || inside(v.span(), &a))
                        .map(|(k, _)| k.get_ref().to_string())
                });
                match culprit {
                    Some(name) => {
                        let mut rest = toml::de::DeTable::new();
                        for (k, v) in table.iter() {
                            if k.get_ref().as_ref() != name.as_str() {
                                rest.insert(k.clone(), v.clone());
                            }
                        }
                        table = rest;
                        dropped.push(name);
                    }
                    // A missing field or an error about the whole entry: nothing to leave out.
                    None => return (None, dropped),
                }
            }
        }
    }
}

/// A TOML error message without the snippet `toml` appends (we print our own location).
pub fn toml_message(e: &toml::de::Error) -> String {
    let m = e.message().trim();
    m.lines().next().unwrap_or(m).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_offsets_as_line_and_column() {
        let s = Source::new("x.toml", "a = 1\nbé = 2\n");
        assert_eq!(s.line_col(0), (1, 1));
        assert_eq!(s.line_col(6), (2, 1));
        // Columns count characters, not bytes.
        assert_eq!(s.line_col(9), (2, 3));
    }

    #[test]
    fn finds_a_key_inside_an_entry() {
        let s = Source::new("x.toml", "[[query]]\nname = 'a'\nhepl = 'b'\n");
        let span = s.find_key(&(0..s.text.len()), "hepl").unwrap();
        assert_eq!(s.line_col(span.start), (3, 1));
        assert!(s.find_key(&(0..s.text.len()), "help").is_none());
    }
}
