//! The connection's state, as an observer between the two endpoints sees it:
//! the RFC 9293 §3.3.2 state diagram followed for both endpoints at once.
//!
//! An endpoint knows its own state; an observer knows only the segments it
//! captured, in capture order, and a capture can miss or reorder any of them
//! (a SPAN port, a merged file, a RST crossing the client's last handshake
//! ACK). So the state is two plain state machines, each driven by
//! `match (state, direction, event)`:
//! - [`Opening`]: how much of the three-way handshake (§3.5, Figure 6) has
//!   been seen;
//! - [`Closing`]: FINs (§3.6) and RSTs (§3.5.3).
//!
//! They are independent on purpose: the close can be seen before the
//! handshake's last ACK (which still completes the handshake), and a
//! connection picked up mid-stream never opens at all.
//!
//! Where the observer deliberately departs from RFC 9293 (it is not an
//! endpoint, and it must report what happened rather than refuse it):
//! - a connection whose first segment is not a SYN (picked up mid-stream) is
//!   taken as open, where an endpoint in CLOSED or LISTEN would answer with a
//!   RST (§3.5.2, §3.10.7.1-2);
//! - no segment is checked for acceptability against a window (§3.4,
//!   §3.10.7.4): retransmissions and out-of-order data are sorted out by
//!   reassembly, and a RST counts whatever its sequence number (§3.5.3
//!   would accept only one in the window);
//! - simultaneous open (§3.5, Figure 7: a SYN from the server, a SYN-ACK from
//!   the client) is not followed: such segments leave the state as it is;
//! - there is no TIME-WAIT: a closed connection lingers in the flow table a
//!   little (`closed_linger`) so that late ACKs and retransmissions land on it.

use super::Direction::{self, ClientToServer, ServerToClient};

/// Both parts of the connection's state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpState {
    pub opening: Opening,
    pub closing: Closing,
}

/// How much of the three-way handshake has been seen (RFC 9293 §3.5).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Opening {
    /// No SYN seen: picked up mid-stream (so far).
    #[default]
    Unseen,
    /// The client's SYN: the client is in SYN-SENT.
    SynSent,
    /// The server's SYN-ACK without the client's SYN (missed by the capture,
    /// or still to come in a reordered one).
    SynAckOnly,
    /// SYN and SYN-ACK: the server is in SYN-RECEIVED, waiting for the
    /// client's ACK.
    SynReceived,
    /// The client acknowledged the SYN-ACK: both ESTABLISHED. `syn`: the
    /// client's SYN was seen too (it may still come after, reordered).
    Established { syn: bool },
}

/// A segment's flags, as they matter to the handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenEvent {
    /// SYN without ACK.
    Syn,
    /// SYN with ACK.
    SynAck,
    /// ACK without SYN that acknowledges the server's SYN (its ack is the
    /// server's ISN + 1).
    AckOfSyn,
    /// Anything else.
    Other,
}

/// What the handshake made of a segment; the flow table acts on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opened {
    /// The client's first SYN: its ISN starts the client's stream.
    FirstSyn,
    /// The client's SYN again (a retransmission).
    SynAgain,
    /// The server's first SYN-ACK: its ISN starts the server's stream.
    FirstSynAck,
    /// The server's SYN-ACK again.
    SynAckAgain,
    /// The client's ACK of the SYN-ACK: the handshake is complete.
    Acked,
    /// Nothing for the handshake.
    Nothing,
}

impl Opening {
    /// One segment from `dir`.
    pub fn on(self, dir: Direction, ev: OpenEvent) -> (Opening, Opened) {
        use OpenEvent as E;
        use Opening as S;
        match (self, dir, ev) {
            // Figure 6, line 2: the client sends SYN (CLOSED -> SYN-SENT).
            (S::Unseen, ClientToServer, E::Syn) => (S::SynSent, Opened::FirstSyn),
            // The SYN captured after what answered it (reordered).
            (S::SynAckOnly, ClientToServer, E::Syn) => (S::SynReceived, Opened::FirstSyn),
            (S::Established { syn: false }, ClientToServer, E::Syn) => {
                (S::Established { syn: true }, Opened::FirstSyn)
            }
            (_, ClientToServer, E::Syn) => (self, Opened::SynAgain),
            // Line 3: the server answers SYN-ACK (LISTEN -> SYN-RECEIVED).
            (S::Unseen, ServerToClient, E::SynAck) => (S::SynAckOnly, Opened::FirstSynAck),
            (S::SynSent, ServerToClient, E::SynAck) => (S::SynReceived, Opened::FirstSynAck),
            (_, ServerToClient, E::SynAck) => (self, Opened::SynAckAgain),
            // Line 4: the client acknowledges it (both ESTABLISHED).
            (S::SynAckOnly, ClientToServer, E::AckOfSyn) => {
                (S::Established { syn: false }, Opened::Acked)
            }
            (S::SynReceived, ClientToServer, E::AckOfSyn) => {
                (S::Established { syn: true }, Opened::Acked)
            }
            // A SYN from the server or a SYN-ACK from the client
            // (simultaneous open, not followed), and every other segment.
            _ => (self, Opened::Nothing),
        }
    }

    /// The client's SYN was seen.
    pub fn syn_seen(self) -> bool {
        matches!(
            self,
            Opening::SynSent | Opening::SynReceived | Opening::Established { syn: true }
        )
    }

    /// The server's SYN-ACK was seen.
    pub fn syn_ack_seen(self) -> bool {
        !matches!(self, Opening::Unseen | Opening::SynSent)
    }
}

/// FIN and RST: how the connection ends (RFC 9293 §3.6, §3.5.3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Closing {
    /// Neither side has sent FIN or RST.
    #[default]
    Open,
    /// One side (this one) sent FIN and closed its half: it is in
    /// FIN-WAIT-1/2, its peer in CLOSE-WAIT and may still send (§3.6).
    HalfClosed(Direction),
    /// Both sides sent FIN: CLOSING or TIME-WAIT at one end, LAST-ACK at the
    /// other, then CLOSED (§3.6, Figures 12 and 13).
    Closed,
    /// A RST (from this side) ended the connection at once: the receiver
    /// goes to CLOSED (§3.5.3), whatever was happening before.
    Reset(Direction),
}

/// A segment's flags, as they matter to the close. A segment with both
/// gives both, FIN first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseEvent {
    Fin,
    Rst,
}

impl Closing {
    /// One FIN or RST from `dir`.
    pub fn on(self, dir: Direction, ev: CloseEvent) -> Closing {
        use CloseEvent::{Fin, Rst};
        use Closing as S;
        match (self, dir, ev) {
            (S::Open, _, Fin) => S::HalfClosed(dir),
            (S::HalfClosed(by), _, Fin) if by != dir => S::Closed,
            // A retransmitted FIN, or a FIN after the end: nothing changes.
            (S::HalfClosed(_) | S::Closed | S::Reset(_), _, Fin) => self,
            (S::Open | S::HalfClosed(_) | S::Closed, _, Rst) => S::Reset(dir),
            (S::Reset(_), _, Rst) => self,
        }
    }

    /// Nothing more is expected: both FINs, or a RST.
    pub fn is_over(self) -> bool {
        matches!(self, Closing::Closed | Closing::Reset(_))
    }

    /// Data from `dir` now comes after the close: `dir` sent its FIN, or
    /// the connection was reset.
    pub fn is_after_close(self, dir: Direction) -> bool {
        match self {
            Closing::Open => false,
            Closing::HalfClosed(by) => by == dir,
            Closing::Closed | Closing::Reset(_) => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use CloseEvent::{Fin, Rst};

    const C: Direction = ClientToServer;
    const S: Direction = ServerToClient;

    fn open(events: &[(Direction, OpenEvent)]) -> (Opening, Vec<Opened>) {
        let mut st = Opening::default();
        let mut seen = Vec::new();
        for &(d, e) in events {
            let (next, what) = st.on(d, e);
            st = next;
            seen.push(what);
        }
        (st, seen)
    }

    #[test]
    fn the_three_way_handshake_in_order_and_reordered() {
        use OpenEvent::*;
        let (st, seen) = open(&[(C, Syn), (S, SynAck), (C, AckOfSyn)]);
        assert_eq!(st, Opening::Established { syn: true });
        assert_eq!(seen, [Opened::FirstSyn, Opened::FirstSynAck, Opened::Acked]);
        // SYN-ACK and ACK captured before the SYN.
        let (st, seen) = open(&[(S, SynAck), (C, AckOfSyn), (C, Syn), (C, Syn)]);
        assert_eq!(st, Opening::Established { syn: true });
        assert_eq!(
            seen,
            [
                Opened::FirstSynAck,
                Opened::Acked,
                Opened::FirstSyn,
                Opened::SynAgain
            ]
        );
        // The ACK counts only once the SYN-ACK is known, and only once.
        let (st, seen) = open(&[(C, Syn), (C, AckOfSyn), (S, SynAck), (S, SynAck)]);
        assert_eq!(st, Opening::SynReceived);
        assert_eq!(
            seen,
            [
                Opened::FirstSyn,
                Opened::Nothing,
                Opened::FirstSynAck,
                Opened::SynAckAgain
            ]
        );
        assert!(st.syn_seen() && st.syn_ack_seen());
    }

    #[test]
    fn simultaneous_open_and_stray_segments_change_nothing() {
        use OpenEvent::*;
        let (st, seen) = open(&[(S, Syn), (C, SynAck), (S, AckOfSyn), (C, Other)]);
        assert_eq!(st, Opening::Unseen);
        assert!(seen.iter().all(|&w| w == Opened::Nothing));
        assert!(!st.syn_seen() && !st.syn_ack_seen());
        let (st, _) = open(&[(S, SynAck)]);
        assert!(!st.syn_seen() && st.syn_ack_seen());
    }

    fn close(events: &[(Direction, CloseEvent)]) -> Closing {
        events
            .iter()
            .fold(Closing::default(), |st, &(d, e)| st.on(d, e))
    }

    #[test]
    fn fins_half_close_then_close() {
        let half = close(&[(C, Fin), (C, Fin)]);
        assert_eq!(half, Closing::HalfClosed(C));
        assert!(!half.is_over());
        assert!(half.is_after_close(C) && !half.is_after_close(S));
        let both = close(&[(C, Fin), (S, Fin)]);
        assert_eq!(both, Closing::Closed);
        assert!(both.is_over() && both.is_after_close(C) && both.is_after_close(S));
        assert!(!Closing::Open.is_after_close(C) && !Closing::Open.is_over());
    }

    #[test]
    fn a_reset_ends_it_from_any_state_and_stays() {
        assert_eq!(close(&[(S, Rst)]), Closing::Reset(S));
        assert_eq!(close(&[(C, Fin), (S, Rst)]), Closing::Reset(S));
        assert_eq!(close(&[(C, Fin), (S, Fin), (C, Rst)]), Closing::Reset(C));
        // The first RST's sender is kept; FINs after it change nothing.
        let r = close(&[(C, Rst), (S, Rst), (S, Fin)]);
        assert_eq!(r, Closing::Reset(C));
        assert!(r.is_over() && r.is_after_close(S));
    }
}
