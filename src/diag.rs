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
