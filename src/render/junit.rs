//! JUnit XML for CI systems: one test case per SLO (per group), failures carrying the numbers.

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use crate::slo::eval::{CheckReport, Row, Status};

fn details(r: &Row) -> String {
    let mut d = format!(
        "{}\nvalue vs objective: {}",
        r.reason,
        r.value_vs_objective()
    );
    if let Some(b) = r.budget {
        d.push_str(&format!(
            "\nbudget: {:.4} consumed, {:.4} remaining ({:.1} of {:.1} minutes)",
            b.consumed_ratio, b.remaining_ratio, b.remaining_minutes, b.total_minutes
        ));
    }
    for b in &r.burn_rates {
        d.push_str(&format!(
            "\nburn {} {}/{} > {}x: {} / {}{}",
            b.severity,
            b.long,
            b.short,
            b.factor,
            b.long_rate
                .map(|v| format!("{v:.3}"))
                .unwrap_or_else(|| "no data".into()),
            b.short_rate
                .map(|v| format!("{v:.3}"))
                .unwrap_or_else(|| "no data".into()),
            if b.firing { " FIRING" } else { "" }
        ));
    }
    if let Some(e) = &r.error {
        d.push_str(&format!("\nerror: {e}"));
    }
    d
}

/// `vitals check --format junit`. Warnings fail only with `--fail-on warn`; inconclusive
/// SLOs are errors (the CI could not decide).
/// `elapsed` is how long the evaluation took.
pub(crate) fn check(
    report: &CheckReport,
    fail_on_warn: bool,
    elapsed: std::time::Duration,
) -> String {
    let mut suite = TestSuite::new("vitals check");
    for r in &report.slos {
        let mut status = match r.status {
            Status::Pass => TestCaseStatus::success(),
            Status::Warn if !fail_on_warn => TestCaseStatus::success(),
            Status::Warn | Status::Fail => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_type(r.status.as_str());
                s
            }
            Status::Inconclusive => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
                s.set_type("inconclusive");
                s
            }
        };
        if r.status != Status::Pass {
            status.set_message(format!("{}: {}", r.status.as_str(), r.reason));
            status.set_description(details(r));
        }
        let mut tc = TestCase::new(r.display_name(), status);
        tc.set_classname(format!("slo.{}", r.component));
        tc.set_time(std::time::Duration::ZERO);
        tc.set_system_out(details(r));
        suite.add_test_case(tc);
    }
    suite.set_time(elapsed);
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(&report.at) {
        suite.set_timestamp(t);
    }
    let mut report_xml = Report::new("vitals");
    report_xml.set_time(elapsed);
    report_xml.add_test_suite(suite);
    report_xml.to_string().expect("JUnit serialises")
}
