//! Fuzzes template expansion: the input's first line is a parameter value, the rest a
//! PromQL template. Scanning and filling any template never panics, and a value that every
//! shipped query's params accept expands to PromQL that parses (it cannot change the shape
//! of the query: no injection).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (value, template) = text.split_once('\n').unwrap_or((text, ""));
    if let Err(e) = vitals::fuzzing::expand(template, value) {
        panic!("{e}");
    }
});
