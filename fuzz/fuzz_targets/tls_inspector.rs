//! TlsInspector: an arbitrary sequence of data / gap events in both directions
//! (a fin only records the time: the inspector has no `on_fin`), then
//! `finish`, then every accessor.
#![no_main]

use keepwatch::inspect::tls::TlsInspector;
use keepwatch::Timestamp;
use keepwatch_fuzz::{events, Event};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut x = TlsInspector::new();
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
