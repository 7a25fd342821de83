//! Exit codes are an API (see `--help` and the README): they are decided here and nowhere
//! else.

use std::process::ExitCode;

use crate::diag::Problem;
use crate::prom::PromError;

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ExitStatus {
    /// 0: every evaluated SLO passed (warnings pass unless `--fail-on warn`).
    Success,
    /// 3: could not decide (Prometheus unreachable, a query failed, no data) and nothing
    /// breached.
    Undecided,
    /// 1: at least one SLO breached.
    Breach,
    /// 2: usage or configuration error, found before any query was sent.
    Usage,
}

impl ExitStatus {
    pub(crate) fn code(self) -> u8 {
        match self {
            ExitStatus::Success => 0,
            ExitStatus::Breach => 1,
            ExitStatus::Usage => 2,
            ExitStatus::Undecided => 3,
        }
    }

    /// The status a run ends with when several outcomes were seen: a breach wins over
    /// "could not decide" (the CI gate must fail either way, and a breach is the more
    /// useful answer), and both win over success.
    pub(crate) fn worst(self, other: ExitStatus) -> ExitStatus {
        self.max(other)
    }
}

impl From<ExitStatus> for ExitCode {
    fn from(s: ExitStatus) -> ExitCode {
        ExitCode::from(s.code())
    }
}

/// Why a command could not do its work.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// Bad flags or arguments (exit 2).
    #[error("{message}")]
    Usage {
        message: String,
        hint: Option<String>,
    },
    /// Problems in `queries/` or `slo.toml` (exit 2), all of them.
    #[error("{} configuration problem(s)", .0.len())]
    Config(Vec<Problem>),
    /// A query failed (exit 3).
    #[error(transparent)]
    Prom(#[from] PromError),
    /// Output could not be written (exit 2: a bad `--out`, a full disk).
    #[error("{0}")]
    Output(String),
}

impl Failure {
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Failure::Usage {
            message: message.into(),
            hint: None,
        }
    }

    pub(crate) fn usage_hint(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Failure::Usage {
            message: message.into(),
            hint: Some(hint.into()),
        }
    }

    pub(crate) fn status(&self) -> ExitStatus {
        match self {
            Failure::Usage { .. } | Failure::Config(_) | Failure::Output(_) => ExitStatus::Usage,
            Failure::Prom(_) => ExitStatus::Undecided,
        }
    }

    /// The lines printed on stderr: `error: ...` and, where there is one, `hint: ...`.
    pub(crate) fn report(&self) -> Vec<(Severity, String)> {
        match self {
            Failure::Usage { message, hint } => {
                let mut v = vec![(Severity::Error, message.clone())];
                if let Some(h) = hint {
                    v.push((Severity::Hint, h.clone()));
                }
                v
            }
            Failure::Config(problems) => {
                let mut v: Vec<_> = problems
                    .iter()
                    .map(|p| (Severity::Error, p.to_string()))
                    .collect();
                v.push((
                    Severity::Hint,
                    "fix the files above (`vitals lint` checks them without contacting Prometheus)"
                        .into(),
                ));
                v
            }
            Failure::Prom(e) => vec![(Severity::Error, e.to_string()), (Severity::Hint, e.hint())],
            Failure::Output(m) => vec![(Severity::Error, m.clone())],
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
    Hint,
    Note,
}

impl Severity {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Hint => "hint",
            Severity::Note => "note",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_match_the_documented_api() {
        assert_eq!(ExitStatus::Success.code(), 0);
        assert_eq!(ExitStatus::Breach.code(), 1);
        assert_eq!(ExitStatus::Usage.code(), 2);
        assert_eq!(ExitStatus::Undecided.code(), 3);
    }

    #[test]
    fn a_breach_outranks_an_undecided_slo() {
        assert_eq!(
            ExitStatus::Undecided.worst(ExitStatus::Breach),
            ExitStatus::Breach
        );
        assert_eq!(
            ExitStatus::Success.worst(ExitStatus::Undecided),
            ExitStatus::Undecided
        );
    }
}
