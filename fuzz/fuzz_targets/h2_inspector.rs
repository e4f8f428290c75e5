//! H2Inspector: an arbitrary sequence of data / gap events in both directions
//! (a fin only records the time: the inspector has no `on_fin`), then
//! `finish`, then every accessor.
#![no_main]

use keepwatch::inspect::h2::H2Inspector;
use keepwatch::Timestamp;
use keepwatch_fuzz::{events, Event};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // A leading server→client fin (op & 7 == 7) selects the inspector made
    // for an `Upgrade: h2c` connection.
    let mut x = if data.first().is_some_and(|&b| b & 7 == 7) {
        H2Inspector::after_upgrade()
    } else {
        H2Inspector::new()
    };
    let mut last = Timestamp(0);
    for ev in events(data) {
        match ev {
            Event::Data(dir, ts, bytes) => {
                last = ts;
                x.on_data(dir, ts, bytes);
            }
            Event::Gap(dir, ts, n) => {
                last = ts;
                x.on_gap(dir, ts, n);
            }
            Event::Fin(_, ts) => last = ts,
        }
    }
    x.finish(Timestamp(last.0 + 1_000_000));
    let _ = serde_json::to_string(x.info()).expect("info serializes");
    let _ = x.warnings().len();
});
