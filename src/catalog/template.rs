//! `{{param}}` placeholders in PromQL templates: where they are, and what surrounds them.

use std::collections::BTreeMap;
use std::ops::Range;

/// What a placeholder sits in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Context {
    /// Outside any string literal.
    Bare,
    /// Inside `"..."`.
    DoubleQuoted,
    /// Inside `'...'` or `` `...` `` (where our escaping does not apply).
    OtherQuoted,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placeholder {
    pub name: String,
    /// Byte range of `{{name}}` in the template.
    pub span: Range<usize>,
    pub context: Context,
}

/// Finds every placeholder; `Err` carries the offset of an unterminated `{{`.
pub(crate) fn scan(template: &str) -> Result<Vec<Placeholder>, usize> {
    let bytes = template.as_bytes();
    let mut out = Vec::new();
    let mut quote: Option<u8> = None;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'{' && bytes.get(i + 1) == Some(&b'{') {
            let Some(end) = template[i + 2..].find("}}") else {
                return Err(i);
            };
            let name = template[i + 2..i + 2 + end].trim().to_string();
            let context = match quote {
                None => Context::Bare,
                Some(b'"') => Context::DoubleQuoted,
                Some(_) => Context::OtherQuoted,
            };
            out.push(Placeholder {
                name,
                span: i..i + 2 + end + 2,
                context,
            });
            i += 2 + end + 2;
            continue;
        }
        match quote {
            Some(q) if b == b'\\' && q != b'`' => i += 1,
            Some(q) if b == q => quote = None,
            None if matches!(b, b'"' | b'\'' | b'`') => quote = Some(b),
            _ => {}
        }
        i += 1;
    }
    Ok(out)
}

/// Replaces each placeholder by its rendered value. Placeholders without a value are left
/// as they are (callers validate names first).
pub(crate) fn substitute(template: &str, values: &BTreeMap<String, String>) -> String {
    let Ok(placeholders) = scan(template) else {
        return template.to_string();
    };
    let mut out = String::with_capacity(template.len() + 32);
    let mut last = 0;
    for p in placeholders {
        out.push_str(&template[last..p.span.start]);
        match values.get(&p.name) {
            Some(v) => out.push_str(v),
            None => out.push_str(&template[p.span.clone()]),
        }
        last = p.span.end;
    }
    out.push_str(&template[last..]);
    out
}

/// The names of single-brace placeholders (`{service}`) in a text meant for people (a hint
/// or a reason), in order.
pub(crate) fn braced_names(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) => {
                let name = &after[..close];
                if !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                {
                    out.push(name.to_string());
                }
                rest = &after[close + 1..];
            }
            None => break,
        }
    }
    out
}

/// Replaces `{name}` placeholders of a text for people; unknown names become empty, and
/// the spaces they leave are folded.
pub(crate) fn fill_braced(text: &str, value: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) => {
                out.push_str(&value(&after[..close]).unwrap_or_default());
                rest = &after[close + 1..];
            }
            None => {
                out.push_str(&rest[open..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn braced_placeholders_are_listed_and_filled() {
        assert_eq!(
            braced_names("{service} 5xx {before} -> {now}"),
            ["service", "before", "now"]
        );
        let v = |n: &str| (n == "now").then(|| "3".to_string());
        assert_eq!(fill_braced("{service} p99 {now}", &v), "p99 3");
    }

    #[test]
    fn finds_placeholders_and_their_quoting() {
        let t = r#"sum(rate(x{service=~"{{service}}", h='{{h}}'}[{{ window }}]))"#;
        let found = scan(t).unwrap();
        let names: Vec<_> = found.iter().map(|p| (p.name.as_str(), p.context)).collect();
        assert_eq!(
            names,
            [
                ("service", Context::DoubleQuoted),
                ("h", Context::OtherQuoted),
                ("window", Context::Bare)
            ]
        );
    }

    #[test]
    fn escaped_quotes_do_not_end_a_string() {
        let found = scan(r#"x{a="\"{{v}}"} + {{n}}"#).unwrap();
        assert_eq!(found[0].context, Context::DoubleQuoted);
        assert_eq!(found[1].context, Context::Bare);
    }

    #[test]
    fn reports_unterminated_placeholders() {
        assert_eq!(scan("rate(x[{{window]))"), Err(7));
    }

    #[test]
    fn substitutes_values() {
        let mut v = BTreeMap::new();
        v.insert("w".to_string(), "5m".to_string());
        assert_eq!(
            substitute("rate(x[{{w}}]) {{other}}", &v),
            "rate(x[5m]) {{other}}"
        );
    }
}
