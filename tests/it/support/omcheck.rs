//! A validator for OpenMetrics histories, in the spirit of `promtool check metrics` but for
//! files with timestamps: families declared once and contiguous, sample names that fit the
//! family type, per-series timestamps increasing, counters never decreasing except where a
//! reset is expected, histogram buckets cumulative with `+Inf == _count`.

use std::collections::{BTreeMap, HashMap, HashSet};

#[derive(Debug, Default)]
pub struct Report {
    pub families: usize,
    pub samples: usize,
    pub series: usize,
    /// Series (name + labels) whose value went down, with the timestamp.
    pub resets: Vec<(String, i64)>,
    pub errors: Vec<String>,
}

pub fn parse_labels(s: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let start = i;
        while i < b.len() && b[i] != b'=' {
            i += 1;
        }
        let name = s[start..i].to_string();
        if i + 1 >= b.len() || b[i + 1] != b'"' {
            return Err(format!("bad label syntax in {s:?}"));
        }
        i += 2;
        let mut value = String::new();
        while i < b.len() && b[i] != b'"' {
            if b[i] == b'\\' && i + 1 < b.len() {
                value.push(match b[i + 1] {
                    b'n' => '\n',
                    c => c as char,
                });
                i += 2;
            } else {
                let ch = s[i..].chars().next().unwrap();
                value.push(ch);
                i += ch.len_utf8();
            }
        }
        i += 1;
        out.push((name, value));
        if i < b.len() && b[i] == b',' {
            i += 1;
        }
    }
    Ok(out)
}

/// The `}` closing the label set (label values may contain braces: `/orders/{id}`).
fn closing_brace(line: &str) -> Option<usize> {
    let open = line.find('{')?;
    if line[..open].contains(' ') {
        return None;
    }
    let b = line.as_bytes();
    let mut quoted = false;
    let mut i = open + 1;
    while i < b.len() {
        match b[i] {
            b'\\' if quoted => i += 1,
            b'"' => quoted = !quoted,
            b'}' if !quoted => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

/// `(name, labels text, value, timestamp ms)` of a sample line.
pub fn parse_sample(line: &str) -> Result<(String, String, f64, i64), String> {
    let (series, rest) = match closing_brace(line) {
        Some(i) => (&line[..=i], line[i + 1..].trim()),
        None => {
            let i = line.find(' ').ok_or("no value")?;
            (&line[..i], line[i + 1..].trim())
        }
    };
    let (name, labels) = match series.find('{') {
        Some(i) => (&series[..i], &series[i + 1..series.len() - 1]),
        None => (series, ""),
    };
    let mut parts = rest.split_whitespace();
    let v = parts.next().ok_or("no value")?;
    let value = match v {
        "NaN" => f64::NAN,
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().map_err(|_| format!("bad value {v:?}"))?,
    };
    let ts: f64 = parts
        .next()
        .ok_or("no timestamp")?
        .parse()
        .map_err(|_| "bad timestamp")?;
    Ok((
        name.to_string(),
        labels.to_string(),
        value,
        (ts * 1000.0).round() as i64,
    ))
}

pub fn check(text: &str) -> Report {
    let mut r = Report::default();
    let mut seen_families = HashSet::new();
    let mut current: Option<(String, String)> = None;
    let mut last: HashMap<String, (i64, f64)> = HashMap::new();
    // (family, labels without le, ts) -> [(le, count)], and _count values
    let mut buckets: BTreeMap<(String, String, i64), Vec<(f64, f64)>> = BTreeMap::new();
    let mut counts: HashMap<(String, String, i64), f64> = HashMap::new();
    let mut eof = false;
    for (n, line) in text.lines().enumerate() {
        let lineno = n + 1;
        if eof {
            r.errors.push(format!("line {lineno}: content after # EOF"));
            break;
        }
        if line == "# EOF" {
            eof = true;
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut p = rest.split_whitespace();
            let (name, kind) = (p.next().unwrap_or(""), p.next().unwrap_or(""));
            if !seen_families.insert(name.to_string()) {
                r.errors.push(format!(
                    "line {lineno}: family {name} declared twice (families must be contiguous)"
                ));
            }
            if !matches!(kind, "counter" | "gauge" | "histogram" | "unknown") {
                r.errors
                    .push(format!("line {lineno}: unexpected type {kind}"));
            }
            current = Some((name.to_string(), kind.to_string()));
            r.families += 1;
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let Some((fam, kind)) = &current else {
            r.errors
                .push(format!("line {lineno}: sample before any # TYPE"));
            continue;
        };
        let (name, labels, value, ts) = match parse_sample(line) {
            Ok(s) => s,
            Err(e) => {
                r.errors.push(format!("line {lineno}: {e}"));
                continue;
            }
        };
        r.samples += 1;
        let fits = match kind.as_str() {
            "counter" => name == format!("{fam}_total"),
            "histogram" => [
                format!("{fam}_bucket"),
                format!("{fam}_sum"),
                format!("{fam}_count"),
            ]
            .contains(&name),
            _ => name == *fam,
        };
        if !fits {
            r.errors.push(format!(
                "line {lineno}: sample {name} does not belong to {kind} family {fam}"
            ));
        }
        let key = format!("{name}{{{labels}}}");
        let monotonic = kind == "counter" || kind == "histogram" || name.ends_with("_distribution");
        match last.get(&key) {
            Some((pts, pv)) => {
                if ts <= *pts {
                    r.errors
                        .push(format!("line {lineno}: {key} timestamps not increasing"));
                }
                if monotonic && value < *pv {
                    r.resets.push((key.clone(), ts));
                }
            }
            None => r.series += 1,
        }
        last.insert(key, (ts, value));
        if kind == "histogram" || name.ends_with("_distribution") {
            let parsed = parse_labels(&labels).unwrap_or_default();
            let le = parsed
                .iter()
                .find(|(k, _)| k == "le")
                .map(|(_, v)| v.clone());
            let rest: Vec<String> = parsed
                .iter()
                .filter(|(k, _)| k != "le")
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let group = (fam.clone(), rest.join(","), ts);
            if let Some(le) = le {
                let b: f64 = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().unwrap_or(f64::NAN)
                };
                buckets.entry(group).or_default().push((b, value));
            } else if name.ends_with("_count") {
                counts.insert(group, value);
            }
        }
    }
    if !eof {
        r.errors.push("missing # EOF".into());
    }
    for (group, mut bs) in buckets {
        bs.sort_by(|a, b| a.0.total_cmp(&b.0));
        if bs.windows(2).any(|w| w[1].1 < w[0].1) {
            r.errors.push(format!("{group:?}: buckets not cumulative"));
        }
        if bs.last().is_none_or(|b| !b.0.is_infinite()) {
            r.errors.push(format!("{group:?}: no +Inf bucket"));
        } else if let Some(c) = counts.get(&group)
            && *c != bs.last().unwrap().1
        {
            r.errors.push(format!(
                "{group:?}: +Inf bucket {} != _count {c}",
                bs.last().unwrap().1
            ));
        }
    }
    r
}
