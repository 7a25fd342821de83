//! The YAML of OpenSLO documents: a reader of multi-document streams into a small tree
//! that keeps every node's line (on the event parser `saphyr-parser`, as
//! `--http-config-file` is read), and the quoting the writer uses.

use saphyr_parser::{Event, Parser, ScalarStyle};

/// A YAML node and the line (1-based) it starts on.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub line: usize,
    pub value: Value,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    /// A scalar; `plain` when written without quotes (so `true` and `12` are a boolean and
    /// a number, `'true'` a string).
    Scalar {
        text: String,
        plain: bool,
    },
    Map(Vec<(String, Node)>),
    Seq(Vec<Node>),
}

/// One document of a stream: its index (1-based) and root.
#[derive(Debug)]
pub struct Document {
    pub index: usize,
    pub root: Node,
}

impl Node {
    /// The value of `key` in a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, n)| n),
            _ => None,
        }
    }

    /// The keys of a mapping, in order (none for other nodes).
    #[cfg(test)]
    pub fn keys(&self) -> Vec<&str> {
        match &self.value {
            Value::Map(entries) => entries.iter().map(|(k, _)| k.as_str()).collect(),
            _ => Vec::new(),
        }
    }

    /// Whether two nodes say the same, wherever they are written.
    pub fn same_content(&self, other: &Node) -> bool {
        match (&self.value, &other.value) {
            (Value::Map(a), Value::Map(b)) => {
                a.len() == b.len()
                    && a.iter()
                        .zip(b)
                        .all(|((ka, na), (kb, nb))| ka == kb && na.same_content(nb))
            }
            (Value::Seq(a), Value::Seq(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.same_content(y))
            }
            (a, b) => a == b,
        }
    }

    pub fn is_map(&self) -> bool {
        matches!(self.value, Value::Map(_))
    }

    /// A scalar's text (a string, number or boolean as written).
    pub fn text(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    pub fn items(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Seq(items) => Some(items),
            _ => None,
        }
    }

    pub fn number(&self) -> Option<f64> {
        match &self.value {
            Value::Scalar { text, plain: true } => {
                text.parse::<f64>().ok().filter(|v| v.is_finite())
            }
            _ => None,
        }
    }

    pub fn boolean(&self) -> Option<bool> {
        match &self.value {
            Value::Scalar { text, plain: true } => match text.as_str() {
                "true" | "True" | "TRUE" => Some(true),
                "false" | "False" | "FALSE" => Some(false),
                _ => None,
            },
            _ => None,
        }
    }

    /// A mapping of strings to strings (labels, annotations); None when it is not one.
    pub fn string_map(&self) -> Option<Vec<(String, String)>> {
        match &self.value {
            Value::Map(entries) => entries
                .iter()
                .map(|(k, n)| n.text().map(|t| (k.clone(), t.to_string())))
                .collect(),
            _ => None,
        }
    }
}

struct Reader<'a> {
    name: &'a str,
    parser: Parser<'a, saphyr_parser::StrInput<'a>>,
}

impl<'a> Reader<'a> {
    fn next(&mut self) -> Result<(Event<'a>, usize), String> {
        match self.parser.next_event() {
            Some(Ok((ev, span))) => Ok((ev, span.start.line())),
            Some(Err(e)) => Err(format!(
                "{}:{}:{}: invalid YAML: {}",
                self.name,
                e.marker().line(),
                e.marker().col() + 1,
                e.info()
            )),
            None => Ok((Event::StreamEnd, 0)),
        }
    }

    fn node(&mut self, first: Event<'a>, line: usize) -> Result<Node, String> {
        let value = match first {
            Event::Scalar(v, style, _, _) => {
                let plain = style == ScalarStyle::Plain;
                if plain && matches!(v.as_ref(), "" | "~" | "null" | "Null" | "NULL") {
                    Value::Null
                } else {
                    Value::Scalar {
                        text: v.into_owned(),
                        plain,
                    }
                }
            }
            Event::MappingStart(..) => {
                let mut entries: Vec<(String, Node)> = Vec::new();
                loop {
                    let (ev, kline) = self.next()?;
                    let key = match ev {
                        Event::MappingEnd => break,
                        Event::Scalar(k, _, _, _) => k.into_owned(),
                        _ => {
                            return Err(format!(
                                "{}:{kline}: a key must be a plain name",
                                self.name
                            ));
                        }
                    };
                    if entries.iter().any(|(k, _)| *k == key) {
                        return Err(format!("{}:{kline}: `{key}` is given twice", self.name));
                    }
                    let (ev, vline) = self.next()?;
                    let mut value = self.node(ev, vline)?;
                    // A value is where its key is (a block mapping's first key is on the
                    // line after it): messages point at the field they name.
                    value.line = kline;
                    entries.push((key, value));
                }
                Value::Map(entries)
            }
            Event::SequenceStart(..) => {
                let mut items = Vec::new();
                loop {
                    let (ev, iline) = self.next()?;
                    if matches!(ev, Event::SequenceEnd) {
                        break;
                    }
                    items.push(self.node(ev, iline)?);
                }
                Value::Seq(items)
            }
            Event::Alias(_) => {
                return Err(format!(
                    "{}:{line}: YAML aliases are not supported; write the value out",
                    self.name
                ));
            }
            Event::StreamEnd => {
                return Err(format!("{}:{line}: the YAML ends early", self.name));
            }
            _ => Value::Null,
        };
        Ok(Node { line, value })
    }
}

/// Every document of a YAML stream (`---` separated); an empty document is skipped.
pub fn parse_stream(text: &str, name: &str) -> Result<Vec<Document>, String> {
    let mut r = Reader {
        name,
        parser: Parser::new_from_str(text),
    };
    let mut docs = Vec::new();
    let mut index = 0;
    let mut in_doc = false;
    loop {
        let (ev, line) = r.next()?;
        match ev {
            Event::StreamStart => {}
            Event::StreamEnd => break,
            Event::DocumentStart(_) => {
                index += 1;
                in_doc = true;
            }
            Event::DocumentEnd => in_doc = false,
            ev => {
                if !in_doc {
                    index += 1;
                }
                let root = r.node(ev, line)?;
                if root.value != Value::Null {
                    docs.push(Document { index, root });
                }
            }
        }
    }
    Ok(docs)
}

/// A YAML string that reads back as `s`: single-quoted (`''` for a quote), or
/// double-quoted with escapes when it holds a line break or another control character.
pub fn quote(s: &str) -> String {
    if s.chars().any(|c| c.is_control()) {
        // A JSON string is a valid YAML double-quoted scalar.
        serde_json::to_string(s).unwrap_or_default()
    } else {
        format!("'{}'", s.replace('\'', "''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_strings_read_back_as_written() {
        let hard = [
            "plain",
            "it's",
            "sum(rate(x{a=\"b\", c=~\"5..\"}[5m]))",
            "line one\nline two\ttab",
            "true",
            "12",
            "- dash",
            "# hash: colon",
            "{{window}}",
            "",
        ];
        let mut doc = String::new();
        for (i, s) in hard.iter().enumerate() {
            doc.push_str(&format!("k{i}: {}\n", quote(s)));
        }
        let docs = parse_stream(&doc, "t.yaml").unwrap();
        assert_eq!(docs.len(), 1);
        for (i, s) in hard.iter().enumerate() {
            let n = docs[0].root.get(&format!("k{i}")).unwrap();
            assert_eq!(n.text(), Some(*s), "k{i}");
            assert_eq!(n.number(), None, "a quoted {s:?} is a string");
        }
    }

    #[test]
    fn reads_every_document_with_its_index_and_lines() {
        let text = "---\na: 1\nb:\n  - x: true\n    y: 'no'\n---\n# empty\n---\nc: [1, 2]\n";
        let docs = parse_stream(text, "t.yaml").unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].index, 1);
        assert_eq!(docs[1].index, 3);
        let a = docs[0].root.get("a").unwrap();
        assert_eq!((a.line, a.number()), (2, Some(1.0)));
        let item = &docs[0].root.get("b").unwrap().items().unwrap()[0];
        assert_eq!(item.get("x").unwrap().boolean(), Some(true));
        assert_eq!(item.get("y").unwrap().line, 5);
        assert_eq!(item.get("y").unwrap().boolean(), None);
        assert_eq!(docs[1].root.get("c").unwrap().items().unwrap().len(), 2);
    }

    #[test]
    fn the_same_document_elsewhere_has_the_same_content() {
        let a = parse_stream("a: 1\nb: [x, {c: d}]\n", "a").unwrap();
        let b = parse_stream("\n\na: 1\nb:\n  - x\n  - c: d\n", "b").unwrap();
        let c = parse_stream("a: 1\nb: [x, {c: e}]\n", "c").unwrap();
        assert!(a[0].root.same_content(&b[0].root));
        assert!(!a[0].root.same_content(&c[0].root));
    }

    #[test]
    fn a_yaml_error_names_the_file_and_line() {
        let e = parse_stream("a: 1\nb: [\n", "bad.yaml").unwrap_err();
        assert!(e.starts_with("bad.yaml:"), "{e}");
        let e = parse_stream("a: 1\na: 2\n", "dup.yaml").unwrap_err();
        assert!(e.starts_with("dup.yaml:2:"), "{e}");
    }
}
