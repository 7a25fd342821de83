//! `--http-config-file`: a Prometheus `http_config` YAML file, as promtool's
//! `--http.config.file` reads it, so users reuse the file they already have.
//!
//! Read: `basic_auth` (username, username_file, password, password_file), `authorization`
//! (type, credentials, credentials_file), the legacy `bearer_token` / `bearer_token_file`,
//! `tls_config` (ca_file, cert_file, key_file, server_name, insecure_skip_verify,
//! min_version), `follow_redirects` and `enable_http2`. Any other key is an error naming it
//! and its line: a setting vitals would silently ignore (a proxy, OAuth 2) would make it
//! talk to the server in a way the user did not ask for. Relative paths resolve against
//! the file's directory, as in Prometheus.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use saphyr_parser::{Event, Parser, ScalarStyle};

use super::tls::TlsVersion;

/// What the file asks for.
#[derive(Debug, Default)]
pub struct HttpConfig {
    /// The `Authorization` header value, and where it was set (`http.yml:2: basic_auth`).
    pub authorization: Option<(String, String)>,
    pub ca_file: Option<Located<PathBuf>>,
    pub cert_file: Option<Located<PathBuf>>,
    pub key_file: Option<Located<PathBuf>>,
    pub server_name: Option<String>,
    pub insecure_skip_verify: bool,
    pub min_version: Option<TlsVersion>,
    pub follow_redirects: bool,
    /// Accepted for compatibility: vitals speaks HTTP/1.1 either way.
    pub enable_http2: bool,
}

/// A value and where it was written (`http.yml:4: tls_config.ca_file`).
#[derive(Debug, Clone)]
pub struct Located<T> {
    pub value: T,
    pub at: String,
}

/// A YAML node with the line it starts on.
#[derive(Debug)]
enum Node {
    Null,
    Scalar(String),
    Map(Vec<(String, usize, Node)>),
    Seq,
}

struct Reader<'a> {
    name: String,
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
        match first {
            Event::Scalar(v, style, _, _) => Ok(scalar(v, style)),
            Event::MappingStart(..) => {
                let mut entries = Vec::new();
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
                    if entries.iter().any(|(k, _, _)| *k == key) {
                        return Err(format!("{}:{kline}: `{key}` is given twice", self.name));
                    }
                    let (ev, vline) = self.next()?;
                    let value = self.node(ev, vline)?;
                    entries.push((key, kline, value));
                }
                Ok(Node::Map(entries))
            }
            Event::SequenceStart(..) => {
                let mut depth = 1;
                while depth > 0 {
                    match self.next()?.0 {
                        Event::SequenceStart(..) | Event::MappingStart(..) => depth += 1,
                        Event::SequenceEnd | Event::MappingEnd => depth -= 1,
                        Event::StreamEnd => break,
                        _ => {}
                    }
                }
                Ok(Node::Seq)
            }
            Event::Alias(_) => Err(format!(
                "{}:{line}: YAML aliases are not supported here; write the value out",
                self.name
            )),
            _ => Ok(Node::Null),
        }
    }
}

fn scalar(v: Cow<'_, str>, style: ScalarStyle) -> Node {
    if style == ScalarStyle::Plain && matches!(v.as_ref(), "" | "~" | "null" | "Null" | "NULL") {
        Node::Null
    } else {
        Node::Scalar(v.into_owned())
    }
}

/// Keys of Prometheus' `http_config` that vitals does not implement.
const UNSUPPORTED: &[&str] = &[
    "oauth2",
    "proxy_url",
    "no_proxy",
    "proxy_from_environment",
    "proxy_connect_header",
    "http_headers",
];
const UNSUPPORTED_TLS: &[&str] = &["ca", "cert", "key", "max_version"];

/// Reads and checks the file; every message starts with `file:line:`.
pub fn load(path: &Path) -> Result<HttpConfig, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("--http-config-file {}: {e}", path.display()))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    parse(&text, &path.display().to_string(), dir)
}

/// Parses `text` (named `name` in messages); relative paths are read from `dir`.
pub fn parse(text: &str, name: &str, dir: &Path) -> Result<HttpConfig, String> {
    let mut r = Reader {
        name: name.to_string(),
        parser: Parser::new_from_str(text),
    };
    // StreamStart, DocumentStart, the root node.
    let mut root = Node::Null;
    loop {
        let (ev, line) = r.next()?;
        match ev {
            Event::StreamStart | Event::DocumentStart(_) => continue,
            Event::StreamEnd | Event::DocumentEnd => break,
            ev => {
                root = r.node(ev, line)?;
                break;
            }
        }
    }
    let entries = match root {
        Node::Map(e) => e,
        Node::Null => Vec::new(),
        _ => return Err(format!("{name}:1: expected a mapping of http_config keys")),
    };
    let mut l = Loader {
        name,
        dir,
        auth_set: None,
        c: HttpConfig {
            follow_redirects: true,
            enable_http2: true,
            ..HttpConfig::default()
        },
    };
    for (key, line, value) in entries {
        l.key(key, line, value)?;
    }
    Ok(l.c)
}

/// What is being read, and what has been read so far.
struct Loader<'a> {
    name: &'a str,
    dir: &'a Path,
    /// Where the credentials were set, once they are.
    auth_set: Option<String>,
    c: HttpConfig,
}

impl Loader<'_> {
    fn at(&self, line: usize, key: &str) -> String {
        format!("{}:{line}: {key}", self.name)
    }

    fn resolve(&self, p: String) -> PathBuf {
        let p = PathBuf::from(p);
        if p.is_relative() { self.dir.join(p) } else { p }
    }

    fn read_secret(&self, p: &Path, key: &str, line: usize) -> Result<String, String> {
        let t = std::fs::read_to_string(p)
            .map_err(|e| format!("{}: cannot read {}: {e}", self.at(line, key), p.display()))?;
        Ok(t.trim().to_string())
    }

    fn set_auth(&mut self, where_: String, header: String) -> Result<(), String> {
        if let Some(prev) = &self.auth_set {
            return Err(format!(
                "{where_}: credentials are already set by {prev}; keep one way of authenticating"
            ));
        }
        self.auth_set = Some(where_.clone());
        self.c.authorization = Some((header, where_));
        Ok(())
    }

    /// One top-level key.
    fn key(&mut self, key: String, line: usize, value: Node) -> Result<(), String> {
        let here = self.at(line, &key);
        match key.as_str() {
            "basic_auth" => self.basic_auth(value, here),
            "authorization" => self.authorization(value, here),
            "bearer_token" => {
                let t = string(value, &here)?;
                self.set_auth(here, format!("Bearer {t}"))
            }
            "bearer_token_file" => {
                let p = self.resolve(string(value, &here)?);
                let t = self.read_secret(&p, &key, line)?;
                self.set_auth(here, format!("Bearer {t}"))
            }
            "tls_config" => self.tls_config(value, here),
            "follow_redirects" => {
                self.c.follow_redirects = boolean(value, &here)?;
                Ok(())
            }
            "enable_http2" => {
                self.c.enable_http2 = boolean(value, &here)?;
                Ok(())
            }
            k if UNSUPPORTED.contains(&k) => Err(format!(
                "{here}: `{k}` is not supported by vitals (it reads basic_auth, authorization, bearer_token, bearer_token_file, tls_config, follow_redirects and enable_http2)"
            )),
            _ => Err(unknown(
                &here,
                &key,
                "http_config",
                &[
                    "basic_auth",
                    "authorization",
                    "bearer_token",
                    "bearer_token_file",
                    "tls_config",
                    "follow_redirects",
                    "enable_http2",
                ],
            )),
        }
    }

    fn basic_auth(&mut self, value: Node, here: String) -> Result<(), String> {
        let mut user: Option<String> = None;
        let mut pass: Option<String> = None;
        for (k, l, v) in map(value, &here)? {
            let key = format!("basic_auth.{k}");
            let h = self.at(l, &key);
            let (slot, what) = match k.as_str() {
                "username" | "username_file" => (&mut user, "username"),
                "password" | "password_file" => (&mut pass, "password"),
                _ => {
                    return Err(unknown(
                        &h,
                        &k,
                        "basic_auth",
                        &["username", "username_file", "password", "password_file"],
                    ));
                }
            };
            if slot.is_some() {
                return Err(format!(
                    "{h}: the {what} is already set; give either the value or the file"
                ));
            }
            let s = string(v, &h)?;
            *slot = Some(if k.ends_with("_file") {
                self.read_secret(&self.resolve(s), &key, l)?
            } else {
                s
            });
        }
        let user = user.unwrap_or_default();
        if user.is_empty() {
            return Err(format!("{here}: basic_auth needs a username"));
        }
        let pair = format!("{user}:{}", pass.unwrap_or_default());
        self.set_auth(here, format!("Basic {}", super::base64(pair.as_bytes())))
    }

    fn authorization(&mut self, value: Node, here: String) -> Result<(), String> {
        let mut kind = "Bearer".to_string();
        let mut cred: Option<String> = None;
        for (k, l, v) in map(value, &here)? {
            let h = self.at(l, &format!("authorization.{k}"));
            match k.as_str() {
                "type" => kind = string(v, &h)?,
                "credentials" | "credentials_file" => {
                    if cred.is_some() {
                        return Err(format!(
                            "{h}: the credentials are already set; give either credentials or credentials_file"
                        ));
                    }
                    let s = string(v, &h)?;
                    cred = Some(if k == "credentials" {
                        s
                    } else {
                        self.read_secret(&self.resolve(s), &format!("authorization.{k}"), l)?
                    });
                }
                _ => {
                    return Err(unknown(
                        &h,
                        &k,
                        "authorization",
                        &["type", "credentials", "credentials_file"],
                    ));
                }
            }
        }
        if kind.eq_ignore_ascii_case("basic") {
            return Err(format!(
                "{here}: authorization type cannot be `Basic`; use basic_auth"
            ));
        }
        let cred = cred.filter(|c| !c.is_empty()).ok_or_else(|| {
            format!("{here}: authorization needs credentials or credentials_file")
        })?;
        self.set_auth(here, format!("{kind} {cred}"))
    }

    fn tls_config(&mut self, value: Node, here: String) -> Result<(), String> {
        for (k, l, v) in map(value, &here)? {
            let h = self.at(l, &format!("tls_config.{k}"));
            let file = |me: &Self, v: Node, h: String| -> Result<Located<PathBuf>, String> {
                Ok(Located {
                    value: me.resolve(string(v, &h)?),
                    at: h,
                })
            };
            match k.as_str() {
                "ca_file" => self.c.ca_file = Some(file(self, v, h)?),
                "cert_file" => self.c.cert_file = Some(file(self, v, h)?),
                "key_file" => self.c.key_file = Some(file(self, v, h)?),
                "server_name" => self.c.server_name = Some(string(v, &h)?),
                "insecure_skip_verify" => self.c.insecure_skip_verify = boolean(v, &h)?,
                "min_version" => {
                    let s = string(v, &h)?;
                    self.c.min_version = Some(TlsVersion::parse(&s).ok_or_else(|| {
                        format!("{h}: unknown TLS version {s:?} (TLS10, TLS11, TLS12 or TLS13)")
                    })?);
                }
                k if UNSUPPORTED_TLS.contains(&k) => {
                    return Err(format!(
                        "{h}: tls_config.{k} is not supported by vitals{}",
                        match k {
                            "ca" => "; put the certificate in a file and use ca_file",
                            "cert" => "; put the certificate in a file and use cert_file",
                            "key" => "; put the key in a file and use key_file",
                            _ => "",
                        }
                    ));
                }
                _ => {
                    return Err(unknown(
                        &h,
                        &k,
                        "tls_config",
                        &[
                            "ca_file",
                            "cert_file",
                            "key_file",
                            "server_name",
                            "insecure_skip_verify",
                            "min_version",
                        ],
                    ));
                }
            }
        }
        if self.c.cert_file.is_some() != self.c.key_file.is_some() {
            return Err(format!("{here}: cert_file and key_file go together"));
        }
        Ok(())
    }
}

fn unknown(here: &str, key: &str, section: &str, known: &[&str]) -> String {
    format!(
        "{here}: unknown key `{key}` in {section} (known: {})",
        known.join(", ")
    )
}

fn map(n: Node, here: &str) -> Result<Vec<(String, usize, Node)>, String> {
    match n {
        Node::Map(m) => Ok(m),
        Node::Null => Ok(Vec::new()),
        _ => Err(format!("{here}: expected a mapping")),
    }
}

fn string(n: Node, here: &str) -> Result<String, String> {
    match n {
        Node::Scalar(s) => Ok(s),
        Node::Null => Ok(String::new()),
        _ => Err(format!("{here}: expected a single value")),
    }
}

fn boolean(n: Node, here: &str) -> Result<bool, String> {
    match n {
        Node::Scalar(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" => Ok(true),
            "false" | "no" | "off" => Ok(false),
            _ => Err(format!("{here}: expected true or false, not {s:?}")),
        },
        _ => Err(format!("{here}: expected true or false")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<HttpConfig, String> {
        parse(text, "http.yml", Path::new("/nonexistent"))
    }

    #[test]
    fn reads_auth_tls_and_switches() {
        let c = p("basic_auth:\n  username: u\n  password: 'p w'\ntls_config:\n  ca_file: ca.pem\n  server_name: prom\n  min_version: TLS13\n  insecure_skip_verify: false\nfollow_redirects: false\nenable_http2: true\n").unwrap();
        let (h, at) = c.authorization.unwrap();
        assert_eq!(h, format!("Basic {}", crate::prom::base64(b"u:p w")));
        assert_eq!(at, "http.yml:1: basic_auth");
        assert_eq!(
            c.ca_file.unwrap().value,
            PathBuf::from("/nonexistent/ca.pem")
        );
        assert_eq!(c.server_name.as_deref(), Some("prom"));
        assert_eq!(c.min_version, Some(TlsVersion::Tls13));
        assert!(!c.follow_redirects);
        let c = p("authorization:\n  credentials: abc\n").unwrap();
        assert_eq!(c.authorization.unwrap().0, "Bearer abc");
        let c = p("").unwrap();
        assert!(c.authorization.is_none() && c.follow_redirects);
    }

    #[test]
    fn names_unsupported_and_unknown_keys_with_their_line() {
        let e = p("tls_config:\n  ca_file: x\noauth2:\n  client_id: a\n").unwrap_err();
        assert!(
            e.starts_with("http.yml:3: oauth2: `oauth2` is not supported"),
            "{e}"
        );
        let e = p("tls_config:\n  max_version: TLS13\n").unwrap_err();
        assert!(
            e.starts_with(
                "http.yml:2: tls_config.max_version: tls_config.max_version is not supported"
            ),
            "{e}"
        );
        let e = p("basic_auth:\n  user: a\n").unwrap_err();
        assert!(
            e.contains("http.yml:2: basic_auth.user: unknown key `user`"),
            "{e}"
        );
        let e = p("proxy_url: http://127.0.0.1:3128\n").unwrap_err();
        assert!(e.starts_with("http.yml:1:"), "{e}");
        let e = p("basic_auth:\n  username: a\nbearer_token: b\n").unwrap_err();
        assert!(e.contains("already set by http.yml:1: basic_auth"), "{e}");
        let e = p("follow_redirects: maybe\n").unwrap_err();
        assert!(e.contains("expected true or false"), "{e}");
        let e = p("basic_auth: [\n").unwrap_err();
        assert!(e.contains("invalid YAML"), "{e}");
        let e = p("tls_config:\n  cert_file: c.pem\n").unwrap_err();
        assert!(e.contains("cert_file and key_file go together"), "{e}");
    }
}
