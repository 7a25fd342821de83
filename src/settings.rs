//! Flags, environment and files turned into validated settings before any network I/O.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Timelike, Utc};
use http::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use percent_encoding::percent_decode_str;
use url::Url;

use crate::catalog::Catalog;
use crate::cli::{ColorChoice, Format, GlobalArgs, TimeArgs};
use crate::diag::{Problem, Source};
use crate::duration::Duration;
use crate::exit::Failure;
use crate::prom::http_config::{self, HttpConfig, Located};
use crate::prom::{self, Pem, Prom, TlsOptions};
use crate::slo::model::{self as slo_model, Slo};
use crate::timespec::parse_time;

/// Prometheus refuses range queries of more than 11,000 points per series.
pub const MAX_POINTS: u64 = 11_000;
/// What an automatically chosen step aims for.
pub const TARGET_POINTS: u64 = 1_000;

/// Everything a command needs to know about how it was invoked.
pub struct Settings {
    pub global: GlobalArgs,
    /// The instant this run treats as "now" (one value for every query of a run).
    pub now: DateTime<Utc>,
    pub timeout: Duration,
    pub color_stdout: bool,
    pub color_stderr: bool,
    /// Whether stderr is a terminal (progress bars).
    pub stderr_tty: bool,
    /// Whether stdout is a terminal (tables fit its width; piped output keeps whole lines).
    pub stdout_tty: bool,
}

impl Settings {
    pub fn new(global: GlobalArgs) -> Result<Self, Failure> {
        let timeout: Duration = global
            .timeout
            .parse()
            .map_err(|e| Failure::usage(format!("--timeout: {e}")))?;
        if timeout.millis() < 100 {
            return Err(Failure::usage("--timeout must be at least 100ms"));
        }
        if global.concurrency == 0 || global.concurrency > 64 {
            return Err(Failure::usage("--concurrency must be between 1 and 64"));
        }
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let decide = |tty: bool| match global.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => tty && !no_color,
        };
        let stderr_tty = std::io::stderr().is_terminal();
        let stdout_tty = std::io::stdout().is_terminal();
        Ok(Settings {
            color_stdout: decide(stdout_tty),
            stdout_tty,
            color_stderr: decide(stderr_tty),
            stderr_tty,
            timeout,
            // Whole seconds: every query of a run shares this instant, and outputs read better.
            now: Utc::now().with_nanosecond(0).unwrap_or_else(Utc::now),
            global,
        })
    }

    /// The output format, checked against what the command supports.
    pub fn format(&self, command: &str, supported: &[Format]) -> Result<Format, Failure> {
        let f = self.global.format.unwrap_or(supported[0]);
        if supported.contains(&f) {
            Ok(f)
        } else {
            Err(Failure::usage(format!(
                "`{command}` cannot write --format {}; it supports {}",
                f.name(),
                supported
                    .iter()
                    .map(|f| f.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            )))
        }
    }

    /// Progress bars and notes are for people: not with --quiet, not off a terminal.
    pub fn chatty(&self) -> bool {
        !self.global.quiet
    }

    /// The query catalog: `--queries`, else `./queries`, else the built-in one.
    pub fn catalog(&self) -> Result<Catalog, Failure> {
        let (cat, problems) = self.load_catalog();
        if problems.is_empty() {
            Ok(cat)
        } else {
            Err(Failure::Config(problems))
        }
    }

    /// The catalog and its problems (for `lint`, which reports rather than stops).
    pub fn load_catalog(&self) -> (Catalog, Vec<Problem>) {
        match &self.global.queries {
            Some(dir) if !dir.is_dir() => (
                Catalog::default(),
                vec![Problem::in_file(dir, "--queries: no such directory")],
            ),
            Some(dir) => Catalog::load_dir(dir),
            None if Path::new("queries").is_dir() => Catalog::load_dir(Path::new("queries")),
            None => Catalog::builtin(),
        }
    }

    /// Where the SLOs come from: `--config`, else `./slo.toml`, else the built-in file.
    pub fn slo_source(&self) -> Result<Source, Problem> {
        let read = |p: &Path| {
            std::fs::read_to_string(p)
                .map(|t| Source::new(p, t))
                .map_err(|e| Problem::in_file(p, format!("cannot read the SLO file: {e}")))
        };
        match &self.global.config {
            Some(p) => read(p),
            None if Path::new("slo.toml").is_file() => read(Path::new("slo.toml")),
            None => Ok(Source::new("<built-in>/slo.toml", slo_model::BUILTIN)),
        }
    }

    /// SLOs, validated against the catalog.
    pub fn slos(&self, catalog: &Catalog) -> Result<(Source, Vec<Slo>), Failure> {
        let src = self.slo_source().map_err(|p| Failure::Config(vec![p]))?;
        let (slos, problems) = slo_model::load(&src, catalog);
        if problems.is_empty() {
            Ok((src, slos))
        } else {
            Err(Failure::Config(problems))
        }
    }

    /// The Prometheus client, with auth and TLS files read and checked: every problem with
    /// them is a usage error (exit 2) found before any request.
    pub fn prom(&self) -> Result<Prom, Failure> {
        let g = &self.global;
        let mut url: Url = g.prometheus.parse().map_err(|e| {
            Failure::usage_hint(
                format!("--prometheus: invalid URL: {e}"),
                "write it like http://127.0.0.1:9090",
            )
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Failure::usage(format!(
                "--prometheus: unsupported scheme `{}` (use http or https)",
                url.scheme()
            )));
        }
        let https = url.scheme() == "https";
        // Every way of setting credentials, to refuse two at once.
        let mut auth: Vec<(String, String)> = Vec::new();
        if !url.username().is_empty() || url.password().is_some() {
            let dec = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
            let pair = format!(
                "{}:{}",
                dec(url.username()),
                dec(url.password().unwrap_or(""))
            );
            let _ = url.set_username("");
            let _ = url.set_password(None);
            auth.push((
                "the user:password in --prometheus".into(),
                format!("Basic {}", prom::base64(pair.as_bytes())),
            ));
        }
        let mut headers = HeaderMap::new();
        for h in &g.headers {
            let (k, v) = h
                .split_once(':')
                .ok_or_else(|| Failure::usage("--header: expected 'Name: value'"))?;
            let name = HeaderName::from_bytes(k.trim().as_bytes()).map_err(|_| {
                Failure::usage(format!("--header: invalid header name {:?}", k.trim()))
            })?;
            let mut value = HeaderValue::from_str(v.trim())
                .map_err(|_| Failure::usage(format!("--header {name}: invalid value")))?;
            value.set_sensitive(true);
            if name == AUTHORIZATION {
                auth.push(("--header Authorization".into(), String::new()));
            }
            headers.append(name, value);
        }
        if let Some(t) = &g.tenant {
            let name = HeaderName::from_static("x-scope-orgid");
            if headers.contains_key(&name) {
                return Err(Failure::usage(
                    "--tenant and --header X-Scope-OrgID both set the tenant; keep one",
                ));
            }
            let v = HeaderValue::from_str(t.trim())
                .ok()
                .filter(|_| !t.trim().is_empty())
                .ok_or_else(|| {
                    Failure::usage("--tenant: expected a tenant ID (e.g. shop, or a|b for several)")
                })?;
            headers.insert(name, v);
        }
        let secret = |p: &PathBuf, flag: &str| -> Result<String, Failure> {
            let text = std::fs::read_to_string(p)
                .map_err(|e| Failure::usage(format!("{flag} {}: {e}", p.display())))?;
            let t = text.trim().to_string();
            if t.is_empty() || t.contains('\n') {
                return Err(Failure::usage(format!(
                    "{flag} {}: expected one non-empty line",
                    p.display()
                )));
            }
            Ok(t)
        };
        if let Some(p) = &g.bearer_token_file {
            let t = secret(p, "--bearer-token-file")?;
            auth.push(("--bearer-token-file".into(), format!("Bearer {t}")));
        }
        if let Some(p) = &g.basic_auth_file {
            let pair = secret(p, "--basic-auth-file")?;
            if !pair.contains(':') {
                return Err(Failure::usage(format!(
                    "--basic-auth-file {}: expected `user:password`",
                    p.display()
                )));
            }
            auth.push((
                "--basic-auth-file".into(),
                format!("Basic {}", prom::base64(pair.as_bytes())),
            ));
        }
        let file = match &g.http_config_file {
            Some(p) => http_config::load(p).map_err(|e| {
                Failure::usage_hint(
                    e,
                    "the README's `--http-config-file` section lists the http_config keys vitals reads",
                )
            })?,
            None => HttpConfig {
                follow_redirects: true,
                enable_http2: true,
                ..HttpConfig::default()
            },
        };
        if let Some((value, at)) = &file.authorization {
            auth.push((format!("--http-config-file ({at})"), value.clone()));
        }
        if auth.len() > 1 {
            let names: Vec<&str> = auth.iter().map(|(w, _)| w.as_str()).collect();
            return Err(Failure::usage(format!(
                "credentials are set twice, by {}; keep one",
                names.join(" and ")
            )));
        }
        let credentials = !auth.is_empty();
        if let Some((_, value)) = auth.pop().filter(|(_, v)| !v.is_empty()) {
            let mut v = HeaderValue::from_str(&value).map_err(|_| {
                Failure::usage("the credentials hold characters not allowed in an HTTP header")
            })?;
            v.set_sensitive(true);
            headers.insert(AUTHORIZATION, v);
        }
        if !https && (g.ca_cert.is_some() || g.client_cert.is_some()) {
            return Err(Failure::usage_hint(
                "--ca-cert and --client-cert/--client-key apply to https:// URLs, and --prometheus is http://",
                "use https:// in --prometheus, or leave the TLS flags out",
            ));
        }
        let pem = |p: &Path, source: String| -> Result<Pem, Failure> {
            let bytes = std::fs::read(p).map_err(|e| Failure::usage(format!("{source}: {e}")))?;
            Ok(Pem { bytes, source })
        };
        let one = |flag: Option<&PathBuf>,
                   flag_name: &str,
                   in_file: &Option<Located<PathBuf>>|
         -> Result<Option<Pem>, Failure> {
            match (flag, in_file) {
                (Some(_), Some(f)) => Err(Failure::usage(format!(
                    "{flag_name} and --http-config-file ({}) both set it; keep one",
                    f.at
                ))),
                (Some(p), None) => pem(p, format!("{flag_name} {}", p.display())).map(Some),
                (None, Some(f)) => {
                    pem(&f.value, format!("{} {}", f.at, f.value.display())).map(Some)
                }
                (None, None) => Ok(None),
            }
        };
        let ca = one(g.ca_cert.as_ref(), "--ca-cert", &file.ca_file)?;
        let cert = one(g.client_cert.as_ref(), "--client-cert", &file.cert_file)?;
        let key = one(g.client_key.as_ref(), "--client-key", &file.key_file)?;
        let identity = match (cert, key) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            _ => {
                return Err(Failure::usage(
                    "a client certificate and its key go together: give both, from the flags or from the same file",
                ));
            }
        };
        let tls = TlsOptions {
            ca,
            identity,
            server_name: file.server_name.clone(),
            insecure_skip_verify: file.insecure_skip_verify,
            min_version: file.min_version,
        };
        let deadline = match g.deadline.as_deref() {
            Some(d) => {
                let d: Duration = d
                    .parse()
                    .map_err(|e| Failure::usage(format!("--deadline: {e}")))?;
                if d.millis() < 100 {
                    return Err(Failure::usage("--deadline must be at least 100ms"));
                }
                Some(d)
            }
            None => None,
        };
        if g.max_series == 0 {
            return Err(Failure::usage("--max-series must be at least 1"));
        }
        let max_body = prom::parse_size(&g.max_body_size)
            .map_err(|e| Failure::usage(format!("--max-body-size: {e}")))?;
        if max_body < 1024 {
            return Err(Failure::usage("--max-body-size must be at least 1KiB"));
        }
        Prom::new(prom::Options {
            url,
            timeout: self.timeout,
            concurrency: g.concurrency,
            retries: 2,
            headers,
            tls,
            follow_redirects: file.follow_redirects,
            limits: prom::Limits {
                deadline,
                max_series: g.max_series,
                max_body,
                credentials,
            },
            allow_partial: g.allow_partial,
        })
        .map_err(Failure::usage)
    }
}

/// Parses repeated `--param k=v` flags.
pub fn parse_params(raw: &[String]) -> Result<BTreeMap<String, String>, Failure> {
    let mut out = BTreeMap::new();
    for p in raw {
        let Some((k, v)) = p.split_once('=') else {
            return Err(Failure::usage(format!(
                "--param {p:?}: expected NAME=VALUE"
            )));
        };
        if out.insert(k.trim().to_string(), v.to_string()).is_some() {
            return Err(Failure::usage(format!("--param {}: given twice", k.trim())));
        }
    }
    Ok(out)
}

/// An instant or a range, resolved.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TimeSpec {
    At(DateTime<Utc>),
    Range {
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        /// `None`: the caller picks a step for its drawing width or point budget.
        step: Option<Duration>,
    },
}

impl TimeArgs {
    /// Resolves the flags against `now`.
    pub fn resolve(&self, now: DateTime<Utc>) -> Result<TimeSpec, Failure> {
        let time = |flag: &str, s: &str| {
            parse_time(s, now).map_err(|e| Failure::usage(format!("{flag}: {e}")))
        };
        let step = self
            .step
            .as_deref()
            .map(|s| {
                s.parse::<Duration>()
                    .map_err(|e| Failure::usage(format!("--step: {e}")))
            })
            .transpose()?;
        if step.is_some_and(|s| s.millis() == 0) {
            return Err(Failure::usage("--step must be longer than zero"));
        }
        let (start, end) = match (&self.since, &self.from, &self.to) {
            (Some(since), _, _) => {
                let d: Duration = since
                    .parse()
                    .map_err(|e| Failure::usage(format!("--since: {e}")))?;
                if d.millis() == 0 {
                    return Err(Failure::usage("--since must be longer than zero"));
                }
                (now - d.to_chrono(), now)
            }
            (None, Some(from), to) => {
                let start = time("--from", from)?;
                let end = match to {
                    Some(t) => time("--to", t)?,
                    None => now,
                };
                (start, end)
            }
            (None, None, _) => {
                if step.is_some() {
                    return Err(Failure::usage(
                        "--step needs a range: give --since or --from",
                    ));
                }
                let at = match &self.at {
                    Some(a) => time("--at", a)?,
                    None => now,
                };
                return Ok(TimeSpec::At(at));
            }
        };
        if end <= start {
            return Err(Failure::usage(format!(
                "the range is empty: --from {} is not before --to {}",
                crate::timespec::format_time(start),
                crate::timespec::format_time(end)
            )));
        }
        if let Some(s) = step {
            let n = prom::points(end - start, s);
            if n > MAX_POINTS {
                let min = prom::auto_step(end - start, MAX_POINTS - 1, Duration::from_secs(1));
                return Err(Failure::usage_hint(
                    format!(
                        "--step {s} gives {n} points per series; Prometheus allows at most {MAX_POINTS}"
                    ),
                    format!("use --step {min} or more, or leave --step out"),
                ));
            }
        }
        Ok(TimeSpec::Range { start, end, step })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn params_are_name_value_pairs() {
        let p = parse_params(&["service=shop|crm".into(), "window=1h".into()]).unwrap();
        assert_eq!(p["service"], "shop|crm");
        assert!(parse_params(&["service".into()]).is_err());
        assert!(parse_params(&["a=1".into(), "a=2".into()]).is_err());
    }

    #[test]
    fn time_flags_resolve_to_an_instant_or_a_range() {
        let now = Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap();
        let args = TimeArgs::default();
        assert_eq!(args.resolve(now).unwrap(), TimeSpec::At(now));
        let since = TimeArgs {
            since: Some("24h".into()),
            ..Default::default()
        };
        assert_eq!(
            since.resolve(now).unwrap(),
            TimeSpec::Range {
                start: now - chrono::Duration::hours(24),
                end: now,
                step: None
            }
        );
        let too_fine = TimeArgs {
            since: Some("7d".into()),
            step: Some("15s".into()),
            ..Default::default()
        };
        let e = too_fine.resolve(now).unwrap_err().to_string();
        assert!(e.contains("40321 points"), "{e}");
        let backwards = TimeArgs {
            from: Some("now".into()),
            to: Some("now-1h".into()),
            ..Default::default()
        };
        assert!(backwards.resolve(now).is_err());
    }
}
