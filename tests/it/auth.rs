//! Authentication and TLS against a real Prometheus started with `--web.config.file`: TLS
//! with a CA that `openssl` makes here, basic auth with a bcrypt hash, client certificates;
//! the flags and a Prometheus `http_config` file; and every way of getting it wrong, each a
//! clear message and exit 3 (exit 2 for a bad file or conflicting flags).
//!
//! One server serves every case: Prometheus re-reads its web config for each connection,
//! so each case rewrites it under a lock. The server also has a route prefix (`/prom`),
//! which proves that path prefixes in `--prometheus` work against a real server.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use libtest_mimic::Trial;

use crate::support::mock::{EMPTY_VECTOR, Mock, Reply};
use crate::support::prometheus::{Prometheus, Spec, which};
use crate::support::{Run, Skip, TestResult, in_ci, vitals, write};
use crate::trial;

pub fn trials() -> Vec<Trial> {
    vec![
        trial(
            "auth::tls_is_verified_against_the_given_ca_and_fails_clearly_otherwise",
            tls_is_verified_against_the_given_ca_and_fails_clearly_otherwise,
        ),
        trial(
            "auth::basic_auth_with_a_bcrypt_hash_takes_the_right_password_only",
            basic_auth_with_a_bcrypt_hash_takes_the_right_password_only,
        ),
        trial(
            "auth::client_certificates_are_sent_and_required",
            client_certificates_are_sent_and_required,
        ),
        trial(
            "auth::http_config_file_problems_are_usage_errors_with_file_and_line",
            http_config_file_problems_are_usage_errors_with_file_and_line,
        ),
        trial(
            "auth::tenant_header_and_path_prefix_reach_the_server",
            tenant_header_and_path_prefix_reach_the_server,
        ),
        trial(
            "auth::tenant_header_goes_with_every_request_of_every_command",
            tenant_header_goes_with_every_request_of_every_command,
        ),
    ]
}

/// The test password, and its bcrypt hash (cost 5), made with
/// `python3 -c 'import crypt; print(crypt.crypt("pr0m-s3cret-pass", "$2b$05$vitalstestsaltvitalste"))'`
/// (libxcrypt's bcrypt): Prometheus checks it, so a wrong hash fails every case below.
pub const USER: &str = "vitals";
pub const PASSWORD: &str = "pr0m-s3cret-pass";
const HASH: &str = "$2b$05$vitalstestsaltvitalstePZm/vjLpcEdPRvkytNkqe//02kVRwaK";

/// Certificates made with the `openssl` command for this run.
pub struct Pki {
    pub dir: PathBuf,
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    /// Same key and names, validity over before it began.
    pub expired_cert: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    /// A client certificate from a CA the server does not know.
    pub rogue_cert: PathBuf,
    pub rogue_key: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

const EC: [&str; 4] = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];

impl Pki {
    fn make(dir: &Path) -> Pki {
        let o = |args: &[&str]| openssl(dir, args);
        let req = |name: &str, cn: &str| {
            let mut a = vec!["req"];
            a.extend(EC);
            let key = format!("{name}.key");
            let csr = format!("{name}.csr");
            let subj = format!("/CN={cn}");
            a.extend(["-nodes", "-keyout", &key, "-out", &csr, "-subj", &subj]);
            o(&a);
        };
        let mut ca = vec!["req", "-x509"];
        ca.extend(EC);
        ca.extend([
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=vitals test CA",
        ]);
        o(&ca);
        std::fs::write(
            dir.join("server.ext"),
            "subjectAltName=IP:127.0.0.1,DNS:prom.test\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
        req("server", "prom.test");
        let sign = |csr: &str, out: &str, days: &str, ext: &str, ca: &str, key: &str| {
            o(&[
                "x509",
                "-req",
                "-in",
                csr,
                "-CA",
                ca,
                "-CAkey",
                key,
                "-CAcreateserial",
                "-out",
                out,
                "-days",
                days,
                "-extfile",
                ext,
            ]);
        };
        sign(
            "server.csr",
            "server.pem",
            "2",
            "server.ext",
            "ca.pem",
            "ca.key",
        );
        // OpenSSL 3 takes a negative validity: not-after one day before not-before.
        sign(
            "server.csr",
            "expired.pem",
            "-1",
            "server.ext",
            "ca.pem",
            "ca.key",
        );
        req("client", "vitals-client");
        sign(
            "client.csr",
            "client.pem",
            "2",
            "client.ext",
            "ca.pem",
            "ca.key",
        );
        let mut rogue_ca = vec!["req", "-x509"];
        rogue_ca.extend(EC);
        rogue_ca.extend([
            "-nodes",
            "-keyout",
            "rogue-ca.key",
            "-out",
            "rogue-ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=rogue CA",
        ]);
        o(&rogue_ca);
        req("rogue", "rogue-client");
        sign(
            "rogue.csr",
            "rogue.pem",
            "2",
            "client.ext",
            "rogue-ca.pem",
            "rogue-ca.key",
        );
        let p = |n: &str| dir.join(n);
        Pki {
            dir: dir.to_path_buf(),
            ca: p("ca.pem"),
            server_cert: p("server.pem"),
            server_key: p("server.key"),
            expired_cert: p("expired.pem"),
            client_cert: p("client.pem"),
            client_key: p("client.key"),
            rogue_cert: p("rogue.pem"),
            rogue_key: p("rogue.key"),
        }
    }
}

/// The shared TLS server and the lock its web config is edited under.
pub struct Secure {
    pub prom: Prometheus,
    pub pki: Pki,
    /// `https://127.0.0.1:PORT/prom`
    pub url: String,
    /// A catalog with one query whose answer is known: `t.answer` = 42.
    pub queries: PathBuf,
    lock: Mutex<()>,
}

/// What a case wants of the server.
#[derive(Default)]
pub struct Web {
    pub basic_auth: bool,
    pub client_certs: bool,
    pub expired: bool,
}

impl Secure {
    /// Takes the server for one case and configures it.
    pub fn configure(&self, w: Web) -> MutexGuard<'_, ()> {
        let g = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        std::fs::write(self.prom.dir.join("web.yml"), web_yml(&self.pki, &w)).unwrap();
        g
    }

    /// `vitals query t.answer --format json` with `args`, against `url`.
    pub fn query(&self, url: &str, args: &[&str]) -> Run {
        let mut a = vec![
            "query",
            "t.answer",
            "--format",
            "json",
            "--queries",
            self.queries.to_str().unwrap(),
        ];
        a.extend(args);
        vitals(&a).prometheus(url).run()
    }
}

fn web_yml(pki: &Pki, w: &Web) -> String {
    let cert = if w.expired {
        &pki.expired_cert
    } else {
        &pki.server_cert
    };
    let mut s = format!(
        "tls_server_config:\n  cert_file: {}\n  key_file: {}\n",
        cert.display(),
        pki.server_key.display()
    );
    if w.client_certs {
        s.push_str(&format!(
            "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {}\n",
            pki.ca.display()
        ));
    }
    if w.basic_auth {
        s.push_str(&format!("basic_auth_users:\n  {USER}: '{HASH}'\n"));
    }
    s
}

/// GET /prom/-/ready over TLS without verification (the test's own readiness check).
fn tls_ready(port: u16) -> bool {
    use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode};
    let mut b = SslConnector::builder(SslMethod::tls()).unwrap();
    b.set_verify(SslVerifyMode::NONE);
    let c = b.build();
    let Ok(tcp) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = tcp.set_read_timeout(Some(Duration::from_secs(5)));
    let Ok(mut s) = c.connect("127.0.0.1", tcp) else {
        return false;
    };
    if write!(s, "GET /prom/-/ready HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").is_err() {
        return false;
    }
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf);
    buf.starts_with("HTTP/1.0 200") || buf.starts_with("HTTP/1.1 200")
}

pub fn secure() -> Result<&'static Secure, Skip> {
    if which("openssl").is_none() {
        if in_ci() {
            panic!("`openssl` is not installed, and CI is set: scripts/test installs it");
        }
        return Err(Skip("`openssl` not installed".into()));
    }
    static S: OnceLock<Result<Secure, String>> = OnceLock::new();
    let r = S.get_or_init(|| {
        let pki_dir = tempfile::Builder::new()
            .prefix("vitals-pki-")
            .tempdir()
            .unwrap()
            .keep();
        let pki = Pki::make(&pki_dir);
        let prom = Prometheus::start(Spec {
            web_config: Some(web_yml(&pki, &Web::default())),
            args: vec!["--web.route-prefix=/prom".into()],
            ready: Some(Box::new(tls_ready)),
            ..Spec::default()
        })
        .map_err(|s| s.0)?;
        let queries = pki_dir.join("queries");
        write(
            &queries,
            "t.toml",
            "[[query]]\nname = \"t.answer\"\nhelp = \"a known answer\"\nunit = \"count\"\npromql = 'vector(42)'\n",
        );
        Ok(Secure {
            url: format!("https://127.0.0.1:{}/prom", prom.port),
            prom,
            pki,
            queries,
            lock: Mutex::new(()),
        })
    });
    match r {
        Ok(s) => Ok(s),
        Err(reason) => Err(Skip(reason.clone())),
    }
}

/// The answer came from the server: 42, exit 0.
#[track_caller]
fn answered(r: &Run) {
    r.expect_code(0);
    assert_eq!(r.json()["series"][0]["value"], 42.0, "{}", r.stdout);
}

/// Exit 3, nothing on stdout, and an error line and a hint that say `what` and `hint`.
#[track_caller]
fn refused(r: &Run, what: &str, hint: &str) {
    r.expect_code(3);
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    let first = r.stderr.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("error: query `t.answer`: ") && first.contains(what),
        "expected `{what}` in:\n{}",
        r.stderr
    );
    assert!(
        r.stderr
            .lines()
            .any(|l| l.starts_with("hint: ") && l.contains(hint)),
        "expected hint `{hint}` in:\n{}",
        r.stderr
    );
}

pub fn tls_is_verified_against_the_given_ca_and_fails_clearly_otherwise() -> TestResult {
    let s = secure()?;
    let ca = s.pki.ca.to_str().unwrap();
    let _g = s.configure(Web::default());
    answered(&s.query(&s.url, &["--ca-cert", ca]));
    // The system's CAs do not know the test CA.
    refused(
        &s.query(&s.url, &[]),
        "unable to get local issuer certificate",
        "give its CA with --ca-cert",
    );
    // A name the certificate does not list (it lists 127.0.0.1 and prom.test).
    let by_name = s.url.replace("127.0.0.1", "localhost");
    refused(
        &s.query(&by_name, &["--ca-cert", ca]),
        "hostname mismatch",
        "does not name the host",
    );
    // ... unless tls_config.server_name says which name to expect.
    let dir = crate::support::scratch();
    let cfg = write(
        dir.path(),
        "http.yml",
        &format!("tls_config:\n  ca_file: {ca}\n  server_name: prom.test\n  min_version: TLS12\n"),
    );
    answered(&s.query(&by_name, &["--http-config-file", cfg.to_str().unwrap()]));
    // Plain http to the TLS port: Prometheus answers 400, and the hint says https.
    let plain = s.url.replace("https://", "http://");
    refused(
        &s.query(&plain, &[]),
        "HTTP 400: Client sent an HTTP request to an HTTPS server",
        "use https://",
    );
    // https to a plain-http server.
    let mock = Mock::start(|_| Reply::json(200, EMPTY_VECTOR));
    refused(
        &s.query(&mock.url.replace("http://", "https://"), &[]),
        "no TLS connection",
        "use http:// instead of https://",
    );
    drop(_g);
    let _g = s.configure(Web {
        expired: true,
        ..Web::default()
    });
    refused(
        &s.query(&s.url, &["--ca-cert", ca]),
        "certificate has expired",
        "renew it",
    );
    Ok(())
}

pub fn basic_auth_with_a_bcrypt_hash_takes_the_right_password_only() -> TestResult {
    let s = secure()?;
    let ca = s.pki.ca.to_str().unwrap();
    let dir = crate::support::scratch();
    let good = write(dir.path(), "good", &format!("{USER}:{PASSWORD}\n"));
    let bad = write(dir.path(), "bad", &format!("{USER}:not-{PASSWORD}\n"));
    let _g = s.configure(Web {
        basic_auth: true,
        ..Web::default()
    });
    answered(&s.query(
        &s.url,
        &["--ca-cert", ca, "--basic-auth-file", good.to_str().unwrap()],
    ));
    refused(
        &s.query(
            &s.url,
            &["--ca-cert", ca, "--basic-auth-file", bad.to_str().unwrap()],
        ),
        "HTTP 401",
        "check the credentials",
    );
    refused(
        &s.query(&s.url, &["--ca-cert", ca]),
        "HTTP 401",
        "Prometheus wants credentials",
    );
    // user:password in the URL is basic auth (and never shown: see secrets.rs).
    let with_creds = s
        .url
        .replace("https://", &format!("https://{USER}:{PASSWORD}@"));
    answered(&s.query(&with_creds, &["--ca-cert", ca]));
    // The same through a Prometheus http_config file, paths relative to the file.
    write(dir.path(), "cfg/password", &format!("{PASSWORD}\n"));
    std::fs::copy(&s.pki.ca, dir.path().join("cfg/ca.pem")).unwrap();
    let cfg = write(
        dir.path(),
        "cfg/http.yml",
        &format!(
            "basic_auth:\n  username: {USER}\n  password_file: password\ntls_config:\n  ca_file: ca.pem\nfollow_redirects: true\nenable_http2: true\n"
        ),
    );
    let cfg = cfg.to_str().unwrap();
    answered(&s.query(&s.url, &["--http-config-file", cfg]));
    // Two sources of credentials, or of the CA, are refused before any request.
    let r = s.query(
        &s.url,
        &[
            "--http-config-file",
            cfg,
            "--basic-auth-file",
            good.to_str().unwrap(),
        ],
    );
    r.expect_code(2);
    assert!(
        r.stderr
            .contains("credentials are set twice, by --basic-auth-file and --http-config-file"),
        "{}",
        r.stderr
    );
    let r = s.query(&s.url, &["--http-config-file", cfg, "--ca-cert", ca]);
    r.expect_code(2);
    assert!(
        r.stderr.contains("--ca-cert and --http-config-file (")
            && r.stderr
                .contains("http.yml:5: tls_config.ca_file) both set it"),
        "{}",
        r.stderr
    );
    Ok(())
}

pub fn client_certificates_are_sent_and_required() -> TestResult {
    let s = secure()?;
    let ca = s.pki.ca.to_str().unwrap();
    let _g = s.configure(Web {
        client_certs: true,
        ..Web::default()
    });
    let cert = s.pki.client_cert.to_str().unwrap();
    let key = s.pki.client_key.to_str().unwrap();
    answered(&s.query(
        &s.url,
        &["--ca-cert", ca, "--client-cert", cert, "--client-key", key],
    ));
    refused(
        &s.query(&s.url, &["--ca-cert", ca]),
        "alert bad certificate",
        "did not accept vitals' client certificate",
    );
    refused(
        &s.query(
            &s.url,
            &[
                "--ca-cert",
                ca,
                "--client-cert",
                s.pki.rogue_cert.to_str().unwrap(),
                "--client-key",
                s.pki.rogue_key.to_str().unwrap(),
            ],
        ),
        "alert bad certificate",
        "did not accept vitals' client certificate",
    );
    let dir = crate::support::scratch();
    let cfg = write(
        dir.path(),
        "http.yml",
        &format!("tls_config:\n  ca_file: {ca}\n  cert_file: {cert}\n  key_file: {key}\n"),
    );
    answered(&s.query(&s.url, &["--http-config-file", cfg.to_str().unwrap()]));
    // A key that is not the certificate's is a usage error, found before any request.
    let r = s.query(
        &s.url,
        &[
            "--ca-cert",
            ca,
            "--client-cert",
            cert,
            "--client-key",
            s.pki.rogue_key.to_str().unwrap(),
        ],
    );
    r.expect_code(2);
    assert!(
        r.stderr.contains("does not belong to the certificate"),
        "{}",
        r.stderr
    );
    let _ = &s.pki.dir;
    Ok(())
}

pub fn http_config_file_problems_are_usage_errors_with_file_and_line() -> TestResult {
    let dir = crate::support::scratch();
    let mock = Mock::start(|_| Reply::json(200, EMPTY_VECTOR));
    for (text, expect) in [
        (
            "tls_config:\n  insecure_skip_verify: false\noauth2:\n  client_id: x\n",
            "http.yml:3: oauth2: `oauth2` is not supported by vitals",
        ),
        (
            "proxy_url: http://127.0.0.1:3128\n",
            "http.yml:1: proxy_url: `proxy_url` is not supported by vitals",
        ),
        (
            "basic_auth:\n  username: a\n  pasword: b\n",
            "http.yml:3: basic_auth.pasword: unknown key `pasword` in basic_auth",
        ),
        (
            "tls_config:\n  ca_file: missing.pem\n",
            "http.yml:2: tls_config.ca_file",
        ),
        (
            "authorization:\n  type: Bearer\n",
            "http.yml:1: authorization: authorization needs credentials",
        ),
        ("basic_auth: [a\n", "invalid YAML"),
    ] {
        let cfg = write(dir.path(), "http.yml", text);
        let r = vitals(&[
            "query",
            "api.rps",
            "--http-config-file",
            cfg.to_str().unwrap(),
        ])
        .prometheus(&mock.url)
        .run();
        r.expect_code(2);
        assert!(r.stderr.contains(expect), "{text:?}: {}", r.stderr);
    }
    // TLS flags with a plain-http URL are a mistake, not silently unused.
    let r = vitals(&["query", "api.rps", "--ca-cert", "/nonexistent.pem"])
        .prometheus(&mock.url)
        .run();
    r.expect_code(2);
    assert!(r.stderr.contains("apply to https:// URLs"), "{}", r.stderr);
    assert_eq!(mock.hits(), 0, "nothing is sent for a usage error");
    Ok(())
}

pub fn tenant_header_and_path_prefix_reach_the_server() -> TestResult {
    let mock = Mock::start(|_| Reply::json(200, EMPTY_VECTOR));
    let base = format!("{}/select/0/prometheus?extra_label=env%3Dprod", mock.url);
    vitals(&["query", "api.rps", "--tenant", "shop|crm"])
        .prometheus(&base)
        .run()
        .expect_code(0);
    let req = &mock.requests()[0];
    assert!(
        req.starts_with("POST /select/0/prometheus/api/v1/query?extra_label=env%3Dprod HTTP/1.1"),
        "{req}"
    );
    assert!(
        req.to_lowercase().contains("x-scope-orgid: shop|crm"),
        "{req}"
    );
    let r = vitals(&[
        "query",
        "api.rps",
        "--tenant",
        "a",
        "-H",
        "X-Scope-OrgID: b",
    ])
    .prometheus(&mock.url)
    .run();
    r.expect_code(2);
    assert!(
        r.stderr.contains("--tenant and --header X-Scope-OrgID"),
        "{}",
        r.stderr
    );
    assert_eq!(mock.hits(), 1);
    Ok(())
}

/// `--tenant` (and `VITALS_TENANT`) goes with every request of a command that sends many:
/// `check`, `status` and `report`, against a server that answers everything with no data.
pub fn tenant_header_goes_with_every_request_of_every_command() -> TestResult {
    let mock = Mock::start(|_| Reply::json(200, EMPTY_VECTOR));
    let mut sent = 0;
    for (args, env) in [
        (vec!["--tenant", "shop", "check", "--format", "json"], None),
        (vec!["status", "--format", "json"], Some("shop")),
        (
            vec![
                "--tenant", "shop", "report", "--week", "2026-W47", "--format", "json",
            ],
            None,
        ),
    ] {
        let mut v = vitals(&args).prometheus(&mock.url);
        if let Some(t) = env {
            v = v.env("VITALS_TENANT", t);
        }
        let r = v.run();
        assert!([0, 1, 3].contains(&r.code), "{args:?}: {}", r.stderr);
        let reqs = mock.requests();
        assert!(
            reqs.len() >= sent + 3,
            "{args:?} sent {} requests",
            reqs.len() - sent
        );
        for req in &reqs[sent..] {
            assert!(
                req.lines()
                    .any(|l| l.to_ascii_lowercase().trim_end() == "x-scope-orgid: shop"),
                "{args:?}: a request without the tenant:\n{req}"
            );
        }
        sent = reqs.len();
    }
    Ok(())
}
