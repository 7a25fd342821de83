//! Fuzzes site.toml: any text loads or gives problems, never a panic; and a configuration
//! that loads without a problem (what `vitals lint` accepts) plans PromQL that parses, with
//! no overflow in its time arithmetic (see `vitals::fuzzing::plan_everything`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (config, problems) = vitals::fuzzing::load_with("site.toml", text);
    if problems.is_empty() {
        if let Err(e) = vitals::fuzzing::plan_everything(&config, vitals::fuzzing::AT) {
            panic!("accepted by lint but not plannable: {e}");
        }
    }
});
