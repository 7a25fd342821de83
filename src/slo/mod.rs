//! Service level objectives: the `slo.toml` model and (later) their evaluation.

pub mod eval;
pub mod math;
pub mod model;
pub mod window;
