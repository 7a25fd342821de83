//! Service level objectives: the `slo.toml` model, the SLI layer that turns them into
//! PromQL, the budget and burn-rate arithmetic, and their evaluation at an instant.

pub mod eval;
pub mod math;
pub mod model;
pub mod sli;
pub mod window;
