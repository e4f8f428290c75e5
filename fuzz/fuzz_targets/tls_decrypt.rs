//! TLS with a key log: the key log parser on arbitrary text, then an
//! `inspect::AppInspector` with a key store holding secrets for a fixed client
//! random, fed a real-looking ClientHello/ServerHello (suite and version from
//! the first input byte) followed by arbitrary events. Records never
//! authenticate (they are random), so this drives the failure paths:
//! bad keys, lost records, resync, held records (growing store), giving up.
#![no_main]

use keepwatch::inspect::AppInspector;
use keepwatch::tcp::{Direction, StreamHandler};
use keepwatch::inspect::tls::KeyStore;
use keepwatch::Timestamp;
use keepwatch_fuzz::{events, Event};
use libfuzzer_sys::fuzz_target;

const SUITES: [u16; 8] = [0x1301, 0x1302, 0x1303, 0xC02F, 0xC030, 0xCCA8, 0xC013, 0x009C];

fn handshake(typ: u8, body: &[u8]) -> Vec<u8> {
    let n = body.len() as u32;
    let mut m = vec![typ, (n >> 16) as u8, (n >> 8) as u8, n as u8];
    m.extend_from_slice(body);
    let mut r = vec![22, 3, 3, (m.len() >> 8) as u8, m.len() as u8];
    r.extend(m);
    r
}

fn hello(client: bool, suite: u16, tls13: bool) -> Vec<u8> {
    let mut b = vec![3, 3];
    b.extend([if client { 0x11 } else { 0x22 }; 32]);
    b.push(0); // session id
    if client {
        b.extend([0, 2]);
        b.extend(suite.to_be_bytes());
        b.extend([1, 0]);
    } else {
        b.extend(suite.to_be_bytes());
        b.push(0);
    }
    let mut ext = Vec::new();
    if tls13 {
        if client {
            ext.extend([0, 43, 0, 3, 2, 3, 4]);
        } else {
            ext.extend([0, 43, 0, 2, 3, 4]);
        }
    }
    b.extend((ext.len() as u16).to_be_bytes());
    b.extend(ext);
    handshake(if client { 1 } else { 2 }, &b)
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    // The key log parser on the same bytes.
    let ks = KeyStore::new();
    ks.add_text("fuzz", rest, 1);
    let _ = ks.warnings();

    let suite = SUITES[(sel & 7) as usize];
    let tls13 = suite >> 8 == 0x13;
    let store = if sel & 8 != 0 {
        KeyStore::new_growing()
    } else {
        KeyStore::new()
    };
    let cr = "11".repeat(32);
    let text = format!(
        "CLIENT_RANDOM {cr} {m}\nCLIENT_HANDSHAKE_TRAFFIC_SECRET {cr} {s}\n\
         SERVER_HANDSHAKE_TRAFFIC_SECRET {cr} {s}\nCLIENT_TRAFFIC_SECRET_0 {cr} {s}\n\
         SERVER_TRAFFIC_SECRET_0 {cr} {s}\n",
        m = "ab".repeat(48),
        s = if suite == 0x1302 { "cd".repeat(48) } else { "cd".repeat(32) },
    );
    store.add_text("fixed", text.as_bytes(), 1);
    let mut a = AppInspector::with_keys(Some(store));
    let t0 = Timestamp(1_700_000_000_000_000_000);
    a.on_data(Direction::ClientToServer, t0, &hello(true, suite, tls13));
    a.on_data(Direction::ServerToClient, t0, &hello(false, suite, tls13));
    if !tls13 {
        a.on_data(Direction::ServerToClient, t0, &[20, 3, 3, 0, 1, 1]);
        a.on_data(Direction::ClientToServer, t0, &[20, 3, 3, 0, 1, 1]);
    }
    let mut last = t0;
    for ev in events(rest) {
        match ev {
            Event::Data(dir, ts, bytes) => {
                last = ts;
                a.on_data(dir, ts, bytes);
            }
            Event::Gap(dir, ts, n) => {
                last = ts;
                a.on_gap(dir, ts, n);
            }
            Event::Fin(dir, ts) => {
                last = ts;
                a.on_fin(dir, ts);
            }
        }
    }
    a.on_finish(Timestamp(last.0 + 1_000_000));
    let t = a.tls().expect("TLS layer");
    let _ = serde_json::to_string(t.info()).expect("info serializes");
    let _ = a.warnings();
});
