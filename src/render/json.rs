//! JSON helpers shared by every `--format json` model. The models themselves live with
//! their commands and are `#[derive(Serialize)]` with a doc comment per field.

use serde::Serialize;

/// Version of every JSON document vitals writes; bumped only on incompatible changes.
pub use crate::SCHEMA_VERSION;
pub(crate) use crate::units::{finite, non_finite_note};

pub(crate) fn to_string<T: Serialize>(v: &T) -> String {
    let mut s = serde_json::to_string_pretty(v).expect("our models always serialise");
    s.push('\n');
    s
}
