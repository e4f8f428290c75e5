//! TLS record and handshake inspector (no keys: only what is visible on the wire).
