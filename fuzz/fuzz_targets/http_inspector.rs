//! HTTP/1.x inspector: an arbitrary sequence of data / gap / fin events in
//! both directions, then `finish`, then every accessor.
#![no_main]

use keepwatch::inspect::http::HttpInspector;
use keepwatch::{Direction, Timestamp};
use keepwatch_fuzz::{events, Event};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut h = HttpInspector::new();
    let mut last = Timestamp(0);
    for ev in events(data) {
        match ev {
            Event::Data(dir, ts, bytes) => {
                last = ts;
                h.on_data(dir, ts, bytes);
                // As keepwatch::inspect does after a protocol switch.
                if h.switched().is_some() {
                    let _ = h.drain_tunnel(Direction::ClientToServer);
                    let _ = h.drain_tunnel(Direction::ServerToClient);
                }
            }
            Event::Gap(dir, ts, n) => {
                last = ts;
                h.on_gap(dir, ts, n);
            }
            Event::Fin(dir, ts) => {
                last = ts;
                h.on_fin(dir, ts);
            }
        }
    }
    h.finish(Timestamp(last.0 + 1_000_000));

    for x in h.exchanges() {
        let _ = (
            x.request_wants_close(),
            x.response_wants_close(),
            x.request_wants_keep_alive(),
            x.response_wants_keep_alive(),
            x.persistent(),
        );
    }
    let _ = serde_json::to_string(h.exchanges()).expect("exchanges serialize");
    let _ = (
        h.exchanges_omitted(),
        h.requests(),
        h.responses(),
        h.interim_responses(),
        h.max_pipeline_depth(),
        h.http_version(),
        h.keep_alive(),
        h.switched().cloned(),
        h.is_http(),
        h.warnings().len(),
    );
    let _ = serde_json::to_string(&h.keep_alive()).expect("keep-alive serialize");
    let _ = h.drain_tunnel(Direction::ClientToServer);
    let _ = h.drain_tunnel(Direction::ServerToClient);
});
