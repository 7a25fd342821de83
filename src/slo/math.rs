//! Error budgets and burn rates: pure functions, one place for the arithmetic that
//! `check`, `status`, `report` and the generated alerting rules share.
//!
//! Definitions (Google SRE workbook, "Alerting on SLOs"):
//! - error ratio = bad / total events in a window; SLI = 1 - error ratio;
//! - error budget = 1 - target (a ratio of events);
//! - budget consumed = error ratio / budget (1.0 = all of it; more when breached);
//! - burn rate = error ratio / budget over an alerting window (1.0 spends the budget exactly
//!   over the SLO window);
//! - a multi-window alert fires when both its long and short window burn faster than its
//!   factor.

use serde::Serialize;

use crate::duration::Duration;

/// The workbook's multi-window, multi-burn-rate alerts for a 30-day SLO.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BurnPair {
    pub severity: Severity,
    pub long: Duration,
    pub short: Duration,
    pub factor: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Page,
    Ticket,
}

impl Severity {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Severity::Page => "page",
            Severity::Ticket => "ticket",
        }
    }
}

/// 1h/5m 14.4x and 6h/30m 6x page; 1d/2h 3x and 3d/6h 1x open a ticket.
pub const WORKBOOK: [BurnPair; 4] = [
    BurnPair {
        severity: Severity::Page,
        long: Duration::from_secs(3600),
        short: Duration::from_secs(300),
        factor: 14.4,
    },
    BurnPair {
        severity: Severity::Page,
        long: Duration::from_secs(6 * 3600),
        short: Duration::from_secs(1800),
        factor: 6.0,
    },
    BurnPair {
        severity: Severity::Ticket,
        long: Duration::from_secs(86_400),
        short: Duration::from_secs(2 * 3600),
        factor: 3.0,
    },
    BurnPair {
        severity: Severity::Ticket,
        long: Duration::from_secs(3 * 86_400),
        short: Duration::from_secs(6 * 3600),
        factor: 1.0,
    },
];

const WORKBOOK_WINDOW_S: u64 = 30 * 86_400;

/// The shortest burn-rate window: four scrapes at the common 60 s interval, so `rate()` has
/// samples to work with (a 7-day SLO's 5 m window would scale to 70 s, which at a 60 s
/// scrape often holds one sample and then no rate at all).
pub const MIN_WINDOW: Duration = Duration::from_secs(240);

/// The workbook pairs for an SLO window: windows scaled by `window / 30d` (so each still
/// spends the same share of the budget), factors unchanged. Windows are rounded to whole
/// seconds, and never below [`MIN_WINDOW`].
pub(crate) fn burn_pairs(window: Duration) -> [BurnPair; 4] {
    WORKBOOK.map(|p| {
        let scale = |d: Duration| {
            let s = d.scale(window.secs(), WORKBOOK_WINDOW_S);
            Duration::from_secs(s.secs()).max(MIN_WINDOW)
        };
        BurnPair {
            long: scale(p.long),
            short: scale(p.short),
            ..p
        }
    })
}

/// Every distinct alerting window of the pairs, shortest first.
pub(crate) fn alert_windows(pairs: &[BurnPair]) -> Vec<Duration> {
    let mut w: Vec<Duration> = pairs.iter().flat_map(|p| [p.long, p.short]).collect();
    w.sort();
    w.dedup();
    w
}

/// Error budget of an SLO over a window, from event counts.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Budget {
    /// 1 - target: the share of events allowed to be bad.
    pub total_ratio: f64,
    /// Share of the budget used (error ratio / budget); above 1 when breached.
    pub consumed_ratio: f64,
    /// 1 - consumed: negative when breached.
    pub remaining_ratio: f64,
    /// Bad events the window allows (budget × total events).
    pub total_events: f64,
    /// Allowed bad events not yet spent (negative when breached).
    pub remaining_events: f64,
    /// The budget as time: minutes of total outage the window allows.
    pub total_minutes: f64,
    pub remaining_minutes: f64,
}

/// `target` is a fraction (0.995); `window` is the SLO window's full length (a calendar
/// period's whole length, even while it is under way).
pub(crate) fn budget(target: f64, total: f64, bad: f64, window: Duration) -> Option<Budget> {
    if total <= 0.0 || !total.is_finite() || !bad.is_finite() {
        return None;
    }
    let allowed = 1.0 - target;
    let consumed = (bad / total) / allowed;
    let total_minutes = allowed * window.secs_f64() / 60.0;
    Some(Budget {
        total_ratio: allowed,
        consumed_ratio: consumed,
        remaining_ratio: 1.0 - consumed,
        total_events: allowed * total,
        remaining_events: allowed * total - bad,
        total_minutes,
        remaining_minutes: (1.0 - consumed) * total_minutes,
    })
}

/// Burn rate: how many times faster than "exactly on budget" errors are spent.
pub(crate) fn burn_rate(target: f64, error_ratio: f64) -> f64 {
    error_ratio / (1.0 - target)
}

/// Time until the remaining budget is spent at `burn` (None when nothing burns; zero when
/// it is already spent).
pub(crate) fn time_to_exhaustion(
    remaining_ratio: f64,
    window: Duration,
    burn: f64,
) -> Option<Duration> {
    if remaining_ratio <= 0.0 {
        return Some(Duration::default());
    }
    if burn.is_nan() || burn <= 0.0 || burn.is_infinite() {
        return None;
    }
    let secs = remaining_ratio * window.secs_f64() / burn;
    Some(Duration::from_millis((secs * 1000.0).round() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
    }

    #[test]
    fn budget_of_the_workbook_example() {
        // 99.9 % over 30 d, 10 M requests, 4,000 bad: 40 % of the budget consumed, 60 % left,
        // 10,000 bad requests allowed of which 6,000 remain, 43.2 minutes of budget as time.
        let b = budget(
            0.999,
            10_000_000.0,
            4_000.0,
            Duration::from_secs(30 * 86_400),
        )
        .unwrap();
        assert!(close(b.total_ratio, 0.001));
        assert!(close(b.consumed_ratio, 0.4));
        assert!(close(b.remaining_ratio, 0.6));
        assert!(close(b.total_events, 10_000.0));
        assert!(close(b.remaining_events, 6_000.0));
        assert!(close(b.total_minutes, 43.2));
        assert!(close(b.remaining_minutes, 25.92));
    }

    #[test]
    fn an_overspent_budget_is_negative() {
        // 99 % over 28 d, 100,000 requests, 1,500 bad: 150 % consumed.
        let b = budget(0.99, 100_000.0, 1_500.0, Duration::from_secs(28 * 86_400)).unwrap();
        assert!(close(b.consumed_ratio, 1.5));
        assert!(close(b.remaining_ratio, -0.5));
        assert!(close(b.remaining_events, -500.0));
        // 1 % of 28 days is 403.2 minutes; half of it overspent.
        assert!(close(b.remaining_minutes, -201.6));
    }

    #[test]
    fn no_events_means_no_budget_rather_than_nan() {
        assert_eq!(budget(0.99, 0.0, 0.0, Duration::from_secs(86_400)), None);
    }

    #[test]
    fn burn_rates_of_the_workbook_table() {
        // 2 % of a 30-day budget spent in one hour is a 14.4x burn.
        let hour_share = 3600.0 / (30.0 * 86_400.0);
        assert!(close(0.02 / hour_share, 14.4));
        // An error ratio of 1.44 % against a 99.9 % SLO burns at 14.4x.
        assert!(close(burn_rate(0.999, 0.0144), 14.4));
        assert!(close(burn_rate(0.99, 0.6), 60.0));
    }

    #[test]
    fn windows_scale_with_the_slo_window_and_factors_do_not() {
        let p30 = burn_pairs(Duration::from_secs(30 * 86_400));
        assert_eq!(p30, WORKBOOK);
        let p28 = burn_pairs(Duration::from_secs(28 * 86_400));
        assert_eq!(p28[0].long, Duration::from_secs(56 * 60));
        assert_eq!(p28[0].short, Duration::from_secs(280));
        assert_eq!(p28[3].long, "2d19h12m".parse().unwrap());
        assert_eq!(p28.map(|p| p.factor), [14.4, 6.0, 3.0, 1.0]);
        // A one-week SLO: the 5 m short window would be 70 s, too short for a 60 s scrape.
        let p7 = burn_pairs(Duration::from_secs(7 * 86_400));
        assert_eq!(p7[0].short, MIN_WINDOW);
        assert_eq!(p7[0].long, Duration::from_secs(14 * 60));
        assert_eq!(alert_windows(&p28).len(), 7);
    }

    #[test]
    fn exhaustion_at_the_current_burn() {
        // 60 % of a 30-day budget left, burning at 14.4x: 1.25 days.
        let t = time_to_exhaustion(0.6, Duration::from_secs(30 * 86_400), 14.4).unwrap();
        assert_eq!(t, Duration::from_secs(108_000));
        assert_eq!(
            time_to_exhaustion(-0.1, Duration::from_secs(86_400), 2.0),
            Some(Duration::default())
        );
        assert_eq!(
            time_to_exhaustion(0.5, Duration::from_secs(86_400), 0.0),
            None
        );
    }
}
