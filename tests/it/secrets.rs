//! No secret in any output: every command, with credentials given every way vitals takes
//! them (a basic-auth file, `user:password@` in the URL, an http_config file, a bearer
//! token file), right and wrong, against a real Prometheus with basic auth and TLS and
//! against a server that is not there; stdout, stderr, JSON, `--stats`, files written with
//! `--out`, and the progress bars and screens of a terminal (a pty from `script`).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use libtest_mimic::Trial;

use crate::auth::{PASSWORD, USER, Web, secure};
use crate::support::mock::{EMPTY_VECTOR, Mock, Reply};
use crate::support::prometheus::which;
use crate::support::{Skip, TestResult, in_ci, scratch, vitals, write};
use crate::trial;

pub fn trials() -> Vec<Trial> {
    vec![trial(
        "secrets::no_output_of_any_command_shows_a_secret",
        no_output_of_any_command_shows_a_secret,
    )]
}

const TOKEN: &str = "tok-9f3b7e1d-s3cr3t";
const WRONG: &str = "wr0ng-pass-7731";

/// Every file under `dir`, as text.
fn files(dir: &Path) -> String {
    let mut out = String::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.push_str(&files(&p));
            } else if let Ok(b) = std::fs::read(&p) {
                out.push_str(&String::from_utf8_lossy(&b));
            }
        }
    }
    out
}

pub fn no_output_of_any_command_shows_a_secret() -> TestResult {
    let s = secure()?;
    if which("script").is_none() {
        if in_ci() {
            panic!("`script` (util-linux) is not installed, and CI is set");
        }
        return Err(Skip("`script` not installed".into()));
    }
    let secrets: Vec<String> = vec![
        PASSWORD.into(),
        WRONG.into(),
        TOKEN.into(),
        vitals::base64(format!("{USER}:{PASSWORD}").as_bytes()),
        vitals::base64(format!("{USER}:{WRONG}").as_bytes()),
    ];
    let dir = scratch();
    let d = dir.path();
    let ca = s.pki.ca.to_str().unwrap().to_string();
    let good = write(d, "good", &format!("{USER}:{PASSWORD}\n"));
    let bad = write(d, "bad", &format!("{USER}:{WRONG}\n"));
    let token = write(d, "token", &format!("{TOKEN}\n"));
    let cfg = write(
        d,
        "http.yml",
        &format!(
            "basic_auth:\n  username: {USER}\n  password: {PASSWORD}\ntls_config:\n  ca_file: {ca}\n"
        ),
    );
    let url = s.url.clone();
    let in_url = url.replace("https://", &format!("https://{USER}:{PASSWORD}@"));
    let wrong_in_url = url.replace("https://", &format!("https://{USER}:{WRONG}@"));
    let gone = format!(
        "http://{USER}:{PASSWORD}@127.0.0.1:{}",
        crate::support::prometheus::free_port()
    );
    // How to reach the server, each with the flags it needs.
    let ways: Vec<(&str, String, Vec<String>)> = vec![
        (
            "basic-auth file",
            url.clone(),
            vec![
                "--ca-cert".into(),
                ca.clone(),
                "--basic-auth-file".into(),
                good.display().to_string(),
            ],
        ),
        (
            "password in the URL",
            in_url.clone(),
            vec!["--ca-cert".into(), ca.clone()],
        ),
        (
            "http_config file",
            url.clone(),
            vec!["--http-config-file".into(), cfg.display().to_string()],
        ),
        (
            "wrong password file",
            url.clone(),
            vec![
                "--ca-cert".into(),
                ca.clone(),
                "--basic-auth-file".into(),
                bad.display().to_string(),
            ],
        ),
        (
            "wrong password in the URL",
            wrong_in_url,
            vec!["--ca-cert".into(), ca.clone()],
        ),
        // (with a deadline: the retries of every query would take long, and its message is
        // one more output to check)
        (
            "unreachable, password in the URL",
            gone.clone(),
            vec!["--deadline".into(), "1s".into()],
        ),
    ];
    let out = d.join("out");
    let o = out.to_str().unwrap().to_string();
    let svg = d.join("c.svg").display().to_string();
    let commands: Vec<Vec<&str>> = vec![
        vec!["status"],
        vec!["status", "--format", "json"],
        vec!["check"],
        vec!["check", "--format", "json"],
        vec!["check", "--format", "junit"],
        vec!["check", "--format", "markdown"],
        vec!["query", "api.rps"],
        vec!["query", "api.rps", "--format", "json"],
        vec!["query", "api.rps", "--since", "1h", "--format", "csv"],
        vec!["chart", "api.rps", "--since", "1h"],
        vec!["chart", "api.rps", "--since", "1h", "--out", &svg],
        vec!["incidents", "--since", "1h", "--format", "json"],
        vec!["incidents", "--since", "1h", "--format", "markdown"],
        vec![
            "report", "--from", "now-2h", "--to", "now", "--format", "json",
        ],
        vec![
            "report", "--from", "now-2h", "--to", "now", "--format", "markdown", "--out", &o,
        ],
        vec![
            "report", "--from", "now-2h", "--to", "now", "--format", "html", "--out", &o,
        ],
        vec!["rules"],
        vec!["dashboard"],
        vec!["openslo", "export"],
        vec!["queries"],
        vec!["lint"],
        vec!["completions", "bash"],
        vec!["man"],
        vec!["--help"],
    ];
    let _g = s.configure(Web {
        basic_auth: true,
        ..Web::default()
    });
    let mut seen = 0;
    let mut answered = 0;
    for (how, url, flags) in &ways {
        for c in &commands {
            let mut a: Vec<&str> = c.clone();
            a.extend(flags.iter().map(String::as_str));
            a.extend(["--stats", "--timeout", "10s"]);
            let r = vitals(&a).prometheus(url).run();
            // What it wrote: the report directory and the chart.
            let written = files(&out) + &std::fs::read_to_string(&svg).unwrap_or_default();
            let text = format!("{}\n{}\n{written}", r.stdout, r.stderr);
            for secret in &secrets {
                assert!(
                    !text.contains(secret.as_str()),
                    "{how}: `vitals {}` shows a secret:\n{text}",
                    a.join(" ")
                );
            }
            seen += 1;
            if c == &vec!["query", "api.rps", "--format", "json"] && r.code == 0 {
                answered += 1;
            }
        }
    }
    // The right credentials were used (the server answered), the wrong ones were not.
    assert_eq!(answered, 3, "the three right ways must be answered");

    // A terminal: progress bars and the status screen, through a pty. The mock is slow so
    // that the bars appear (after 300 ms); a bearer token and URL credentials go to it.
    let mock = Mock::start(|_| Reply::json(200, EMPTY_VECTOR).after(Duration::from_millis(120)));
    let murl = mock
        .url
        .replace("http://", &format!("http://{USER}:{PASSWORD}@"));
    let bin = env!("CARGO_BIN_EXE_vitals");
    let tok = token.display().to_string();
    for cmd in [
        format!("{bin} --prometheus {murl} check --stats"),
        format!("{bin} --prometheus {murl} status --stats"),
        format!("{bin} --prometheus {murl} report --from now-2h --to now --stats --out {o}"),
        format!(
            "{bin} --prometheus {} --bearer-token-file {tok} incidents --since 1h --stats",
            mock.url
        ),
        format!("timeout -s INT 3 {bin} --prometheus {murl} status --watch 1s"),
    ] {
        let out = Command::new("script")
            .args(["-qec", &cmd, "/dev/null"])
            .current_dir(crate::support::repo())
            .env_remove("NO_COLOR")
            .output()
            .expect("run script");
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        for secret in &secrets {
            assert!(
                !text.contains(secret.as_str()),
                "`{cmd}` on a terminal shows a secret:\n{text}"
            );
        }
        if cmd.contains(" check ") {
            assert!(
                text.contains(" queries ["),
                "no progress bar on the terminal:\n{text}"
            );
        }
        seen += 1;
    }
    let reqs = mock.requests().join("\n").to_lowercase();
    assert!(
        reqs.contains(&format!("authorization: bearer {}", TOKEN.to_lowercase())),
        "the token was not sent"
    );
    assert!(
        reqs.contains("authorization: basic "),
        "the URL's credentials were not sent"
    );
    eprintln!("{seen} runs, no secret in any output");
    Ok(())
}
