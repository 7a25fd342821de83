//! Failures said once: a Prometheus that cannot be reached fails every query the same way,
//! and saying so twenty times helps nobody. Each distinct cause is one line naming what it
//! affected.

/// The cause of a failure message, without the query it came from, and its hint apart (the
/// hint is the same for every query of a cause: it is said once).
fn cause(what: &str) -> (String, Option<String>) {
    let (what, hint) = match what.split_once(" (hint: ") {
        Some((m, h)) => (m, Some(h.trim_end_matches(')').to_string())),
        None => (what, None),
    };
    // `query `NAME`: cause`, where NAME may itself hold ": ".
    let what = what
        .strip_prefix("query `")
        .and_then(|rest| rest.split_once("`: "))
        .map(|(_, cause)| cause)
        .unwrap_or(what);
    (what.to_string(), hint)
}

/// One line per distinct cause of `(who, what)` failures, in the order first seen:
/// `who[, who2 and N more]: cause (hint: ...)`.
pub(crate) fn distinct(failures: impl IntoIterator<Item = (String, String)>) -> Vec<String> {
    let mut grouped: Vec<(String, Option<String>, Vec<String>)> = Vec::new();
    for (who, what) in failures {
        let (what, hint) = cause(&what);
        match grouped.iter_mut().find(|(w, _, _)| *w == what) {
            Some((_, h, whos)) => {
                if h.is_none() {
                    *h = hint;
                }
                if !whos.contains(&who) {
                    whos.push(who);
                }
            }
            None => grouped.push((what, hint, vec![who])),
        }
    }
    grouped
        .into_iter()
        .map(|(what, hint, whos)| {
            let who = if whos.len() > 4 {
                format!("{}, {} and {} more", whos[0], whos[1], whos.len() - 2)
            } else {
                whos.join(", ")
            };
            match hint {
                Some(h) => format!("{who}: {what} (hint: {h})"),
                None => format!("{who}: {what}"),
            }
        })
        .collect()
}

/// [`distinct`] for messages that name what failed before their first `: `
/// (`KPIs of this week: ...`); a message that starts with the query itself counts as `what`
/// failed for the query.
pub(crate) fn distinct_messages<'a>(
    messages: impl IntoIterator<Item = &'a String>,
    what: &str,
) -> Vec<String> {
    distinct(messages.into_iter().map(|m| match m.split_once(": ") {
        Some((head, rest)) if !head.starts_with("query `") && !head.contains('(') => {
            (head.to_string(), rest.to_string())
        }
        _ => (what.to_string(), m.clone()),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_cause_is_one_line() {
        let msgs: Vec<String> = (0..18)
            .map(|i| {
                format!(
                    "query `incidents: up{{job=\"{i}\"}}`: cannot reach http://127.0.0.1:9/ (hint: is Prometheus running?)"
                )
            })
            .chain(["KPIs of this week: timed out".to_string()])
            .collect();
        let out = distinct_messages(&msgs, "a query");
        assert_eq!(
            out,
            vec![
                "a query: cannot reach http://127.0.0.1:9/ (hint: is Prometheus running?)"
                    .to_string(),
                "KPIs of this week: timed out".to_string()
            ]
        );
        let many = distinct((0..6).map(|i| (format!("SLO s{i}"), "boom".to_string())));
        assert_eq!(many, vec!["SLO s0, SLO s1 and 4 more: boom".to_string()]);
    }
}
