//! JSON helpers shared by every `--format json` model. The models themselves live with
//! their commands and are `#[derive(Serialize)]` with a doc comment per field.

use serde::Serialize;

/// Version of every JSON document vitals writes; bumped only on incompatible changes.
pub const SCHEMA_VERSION: u32 = 1;

/// A number for JSON: `None` for NaN and ±Inf (JSON has no such values; the caller adds
/// a `note`).
pub fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// Why a value is `null`, when it is.
pub fn non_finite_note(v: f64) -> Option<String> {
    if v.is_nan() {
        Some("value is NaN".into())
    } else if v.is_infinite() {
        Some(format!("value is {}Inf", if v > 0.0 { "+" } else { "-" }))
    } else {
        None
    }
}

/// Pretty JSON with a trailing newline.
pub fn to_string<T: Serialize>(v: &T) -> String {
    let mut s = serde_json::to_string_pretty(v).expect("our models always serialise");
    s.push('\n');
    s
}
