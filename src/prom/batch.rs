//! Requests sent together and answers matched to them by name, never by position; and the
//! tags that let one PromQL expression carry many named parts.

use std::collections::BTreeMap;

use super::{Answer, Prom, PromError, Request, Series};

/// Requests to send together, each under a key (an enum or a name).
pub struct Batch<K> {
    items: Vec<(K, Request)>,
}

impl<K: Ord + Clone> Default for Batch<K> {
    fn default() -> Self {
        Self { items: Vec::new() }
    }
}

impl<K: Ord + Clone> Batch<K> {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Adds a request; a key given twice keeps the first request.
    pub(crate) fn add(&mut self, key: K, request: Request) {
        if !self.items.iter().any(|(k, _)| *k == key) {
            self.items.push((key, request));
        }
    }
}

/// The answers of a batch, by key.
pub struct Answers<K> {
    map: BTreeMap<K, Result<Answer, PromError>>,
}

impl<K: Ord> Answers<K> {
    /// The answer to `key` (taken out: each is read once); `None` if it was not asked.
    pub(crate) fn take(&mut self, key: &K) -> Option<Result<Answer, PromError>> {
        self.map.remove(key)
    }

    pub(crate) fn get(&self, key: &K) -> Option<&Result<Answer, PromError>> {
        self.map.get(key)
    }

    /// Puts an answer in (a later phase's, read in place of the first one's).
    pub(crate) fn put(&mut self, key: K, answer: Result<Answer, PromError>) {
        self.map.insert(key, answer);
    }
}

impl Prom {
    /// Runs a batch (at most `--concurrency` requests at a time); `progress` is called once
    /// per finished request.
    pub(crate) async fn run_batch<K: Ord + Clone>(
        &self,
        batch: Batch<K>,
        progress: &(dyn Fn() + Sync),
    ) -> Answers<K> {
        let (keys, requests): (Vec<K>, Vec<Request>) = batch.items.into_iter().unzip();
        let answers = self.run_all(requests, progress).await;
        Answers {
            map: keys.into_iter().zip(answers).collect(),
        }
    }
}

/// `promql` with constant labels added to every series (`label_replace` of an empty
/// source), so several expressions can be joined with `or` and told apart in the answer.
pub(crate) fn tag(promql: &str, labels: &[(&str, &str)]) -> String {
    labels.iter().fold(format!("({promql})"), |inner, (k, v)| {
        format!(
            "label_replace({inner}, \"{k}\", \"{}\", \"\", \"\")",
            crate::catalog::params::escape_promql_string(v)
        )
    })
}

/// The series of an answer split by the value of a tag label (which is removed).
pub(crate) fn split_by(series: &[Series], label: &str) -> BTreeMap<String, Vec<Series>> {
    let mut out: BTreeMap<String, Vec<Series>> = BTreeMap::new();
    for s in series {
        let mut s = s.clone();
        if let Some(v) = s.labels.remove(label) {
            out.entry(v).or_default().push(s);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_nest_label_replace_and_escape_values() {
        assert_eq!(
            tag("sum(x)", &[("a", "1")]),
            r#"label_replace((sum(x)), "a", "1", "", "")"#
        );
        let t = tag("x", &[("a", "q\"b"), ("b", "2")]);
        assert!(promql_parser::parser::parse(&t).is_ok(), "{t}");
        assert!(t.contains(r#""q\"b""#));
    }
}
