#![warn(clippy::too_many_lines)]

//! `vitals-sim`: a deterministic simulator of a site (the reference system by default),
//! with ground truth.
//!
//! [`Plan`] fixes what to simulate (topology, scenario, seed, time range, interval); [`run`]
//! steps the
//! [`model::Model`] through it and hands every interval's state to a [`output::Sink`]
//! (an OpenMetrics file, Prometheus remote write, Prometheus TSDB blocks); [`serve`] keeps a model running in real
//! time behind `/metrics` endpoints.

pub mod drive;
pub mod drivers;
pub mod model;
pub mod openmetrics;
pub mod output;
pub mod pgdrive;
pub mod registry;
pub mod scenario;
pub mod serve;
pub mod topology;
pub mod truth;
pub mod tsdb;

use std::io;

use model::Model;
use output::Sink;
use scenario::Scenario;
use topology::Topology;

use vitals::duration::Duration;

/// What to simulate.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The site's shape (already scaled).
    pub topology: Topology,
    pub scenario: Scenario,
    pub seed: u64,
    /// First sample (all counters zero), milliseconds since the epoch.
    pub start_ms: i64,
    /// Where the scenario's offsets count from.
    pub scenario_start_ms: i64,
    /// Last sample.
    pub end_ms: i64,
    pub interval_ms: i64,
}

impl Plan {
    /// A history of `span` ending at `end` (rounded down to the interval grid). The scenario
    /// is aligned to the end when it fits; a longer history starts with normal days. The
    /// scenario's targets must exist in the topology.
    pub fn new(
        topology: Topology,
        scenario: Scenario,
        seed: u64,
        end_ms: i64,
        span: Duration,
        interval: Duration,
    ) -> Result<Plan, String> {
        scenario.check(&topology)?;
        let interval_ms = interval.millis() as i64;
        if interval_ms < 1000 || 3_600_000 % interval_ms != 0 {
            return Err(format!(
                "interval {interval} must be at least 1s and divide an hour evenly (e.g. 15s, 30s, 60s)"
            ));
        }
        let span_ms = span.round_to(interval).millis() as i64;
        if span_ms < interval_ms {
            return Err("the history must span at least one interval".into());
        }
        let end_ms = end_ms.div_euclid(interval_ms) * interval_ms;
        let start_ms = end_ms - span_ms;
        let scenario_len = (scenario.length.millis() as i64).min(span_ms);
        Ok(Plan {
            topology,
            scenario_start_ms: end_ms - scenario_len,
            scenario,
            seed,
            start_ms,
            end_ms,
            interval_ms,
        })
    }

    pub fn ticks(&self) -> u64 {
        ((self.end_ms - self.start_ms) / self.interval_ms) as u64
    }

    pub fn model(&self) -> Model {
        Model::new(
            &self.topology,
            self.scenario.clone(),
            self.seed,
            self.start_ms,
            self.scenario_start_ms,
            self.interval_ms,
        )
    }
}

/// How many series a model of `topology` registers (none of its time simulated): what
/// `--scale` multiplies.
pub fn series_count(topology: &Topology) -> usize {
    let scenario = Scenario::load("normal-week").expect("built-in scenarios parse");
    Model::new(topology, scenario, 0, 0, 0, 60_000)
        .reg
        .series
        .len()
}

/// Simulates the plan, sending every interval (the start included) to `sink`.
/// `progress` is called with the number of intervals done.
pub fn run(plan: &Plan, sink: &mut dyn Sink, progress: &mut dyn FnMut(u64)) -> io::Result<Model> {
    let mut m = plan.model();
    sink.tick(&m)?;
    for i in 0..plan.ticks() {
        m.step();
        sink.tick(&m)?;
        if i % 64 == 0 {
            progress(i + 1);
        }
    }
    progress(plan.ticks());
    Ok(m)
}
