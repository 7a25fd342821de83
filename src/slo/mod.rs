//! Service level objectives: the `slo.toml` model and (later) their evaluation.

pub mod model;
