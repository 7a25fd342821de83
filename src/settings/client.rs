//! The Prometheus client from the flags and the `http_config` file: URL, headers,
//! credentials (one way only), TLS material and limits, every problem a usage error (exit 2)
//! found before any request.

use std::path::{Path, PathBuf};

use http::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use percent_encoding::percent_decode_str;
use url::Url;

use super::Settings;
use crate::cli::GlobalArgs;
use crate::duration::Duration;
use crate::exit::Failure;
use crate::prom::http_config::{self, HttpConfig, Located};
use crate::prom::{self, Pem, Prom, TlsOptions};

/// Every way credentials were given: (where, the Authorization value; empty for a raw
/// `--header Authorization`). More than one is refused.
type Credentials = Vec<(String, String)>;

impl Settings {
    /// The Prometheus client, with auth and TLS files read and checked: every problem with
    /// them is a usage error (exit 2) found before any request.
    pub(crate) fn prom(&self) -> Result<Prom, Failure> {
        let g = &self.global;
        let mut auth = Credentials::new();
        let url = url(g, &mut auth)?;
        let https = url.scheme() == "https";
        let mut headers = headers(g, &mut auth)?;
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
        flag_credentials(g, &mut auth)?;
        if let Some((value, at)) = &file.authorization {
            auth.push((format!("--http-config-file ({at})"), value.clone()));
        }
        let credentials = authorize(&mut headers, auth)?;
        if !https && (g.ca_cert.is_some() || g.client_cert.is_some()) {
            return Err(Failure::usage_hint(
                "--ca-cert and --client-cert/--client-key apply to https:// URLs, and --prometheus is http://",
                "use https:// in --prometheus, or leave the TLS flags out",
            ));
        }
        let tls = tls(g, &file)?;
        let limits = limits(g, credentials)?;
        Prom::new(prom::Options {
            url,
            timeout: self.timeout,
            concurrency: g.concurrency,
            retries: 2,
            headers,
            tls,
            follow_redirects: file.follow_redirects,
            limits,
            allow_partial: g.allow_partial,
        })
        .map_err(Failure::usage)
    }
}

/// `--prometheus`, without the credentials a `user:password@` in it gives.
fn url(g: &GlobalArgs, auth: &mut Credentials) -> Result<Url, Failure> {
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
    Ok(url)
}

/// `--header` and `--tenant`.
fn headers(g: &GlobalArgs, auth: &mut Credentials) -> Result<HeaderMap, Failure> {
    let mut headers = HeaderMap::new();
    for h in &g.headers {
        let (k, v) = h
            .split_once(':')
            .ok_or_else(|| Failure::usage("--header: expected 'Name: value'"))?;
        let name = HeaderName::from_bytes(k.trim().as_bytes())
            .map_err(|_| Failure::usage(format!("--header: invalid header name {:?}", k.trim())))?;
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
    Ok(headers)
}

/// One non-empty line of a secret file.
fn secret(p: &Path, flag: &str) -> Result<String, Failure> {
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
}

/// `--bearer-token-file` and `--basic-auth-file`.
fn flag_credentials(g: &GlobalArgs, auth: &mut Credentials) -> Result<(), Failure> {
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
    Ok(())
}

/// Sets the one Authorization header; returns whether credentials are sent at all.
fn authorize(headers: &mut HeaderMap, mut auth: Credentials) -> Result<bool, Failure> {
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
    Ok(credentials)
}

/// The CA and client identity, from the flags or the file (not both).
fn tls(g: &GlobalArgs, file: &HttpConfig) -> Result<TlsOptions, Failure> {
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
            (None, Some(f)) => pem(&f.value, format!("{} {}", f.at, f.value.display())).map(Some),
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
    Ok(TlsOptions {
        ca,
        identity,
        server_name: file.server_name.clone(),
        insecure_skip_verify: file.insecure_skip_verify,
        min_version: file.min_version,
    })
}

/// `--deadline`, `--max-series`, `--max-body-size`.
fn limits(g: &GlobalArgs, credentials: bool) -> Result<prom::Limits, Failure> {
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
    Ok(prom::Limits {
        deadline,
        max_series: g.max_series,
        max_body,
        credentials,
    })
}
