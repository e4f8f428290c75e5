//! The HTTP/1 inspector's warnings, typed. `Display` renders the text users
//! see in every report; tests match the variant.

pub use super::framing::Unframeable;
use super::inspector::{MAX_HEAD, MAX_TUNNEL};
use super::log::UNANSWERED_KEPT;
use crate::Direction;
use std::fmt;

pub(crate) fn dir_label(dir: Direction) -> &'static str {
    match dir {
        Direction::ClientToServer => "client->server",
        Direction::ServerToClient => "server->client",
    }
}

pub(crate) fn msg_word(dir: Direction) -> &'static str {
    match dir {
        Direction::ClientToServer => "request",
        Direction::ServerToClient => "response",
    }
}

/// One message of an exchange, as warnings name it: "client->server:
/// exchange #2 (GET /)" or "server->client: response to exchange #2 (GET /)".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Of {
    pub dir: Direction,
    /// The exchange's label ("exchange #2 (GET /)").
    pub label: String,
}

impl fmt::Display for Of {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.dir {
            Direction::ClientToServer => write!(f, "client->server: {}", self.label),
            Direction::ServerToClient => write!(f, "server->client: response to {}", self.label),
        }
    }
}

/// What losing sync cost when a message is known to have started in the lost
/// region (said at the end of the warning).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LostMessage {
    /// Client: placeholder exchange #n stands for the lost request.
    Placeholder(usize),
    /// Server: the response to this exchange (label) is lost.
    Response(String),
}

fn lost(f: &mut fmt::Formatter<'_>, l: &Option<LostMessage>) -> fmt::Result {
    match l {
        None => Ok(()),
        Some(LostMessage::Placeholder(n)) => write!(
            f,
            " (placeholder exchange #{n} stands for the lost request)"
        ),
        Some(LostMessage::Response(label)) => write!(f, " (response to {label} lost)"),
    }
}

/// After a head cut by a gap: what the inspector concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CutThen {
    /// The gap can hold the rest of the head and this body: still in sync.
    InSync(u64),
    /// A body of this length goes on past the gap: lost sync.
    BodyPastGap(u64),
    /// The captured headers do not frame the body: lost sync.
    Unframed,
}

/// Why a side stopped: a FIN or the end of the connection/capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Fin,
    EndOfConnection,
}

impl fmt::Display for Ending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Ending::Fin => "FIN",
            Ending::EndOfConnection => "end of connection",
        })
    }
}

/// A warning of the HTTP/1 inspector. Fields hold what the text shows;
/// `label`s are exchange labels, `head`/`got`/`at` escaped excerpts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpWarning {
    DataAfterClose {
        dir: Direction,
        bytes: usize,
        after_finish: bool,
    },
    NoProgress {
        dir: Direction,
        dropped: usize,
    },
    NotAMessageStart {
        dir: Direction,
        got: String,
    },
    HeadTooLong {
        dir: Direction,
        start: String,
        lost: Option<LostMessage>,
    },
    MalformedHead {
        dir: Direction,
        head: String,
        lost: Option<LostMessage>,
    },
    /// A problem the header parser found in a request or final response.
    HeaderIssue {
        of: Of,
        issue: String,
    },
    /// The same in an interim (1xx) response.
    InterimHeaderIssue {
        status: u16,
        issue: String,
    },
    ControlInTarget {
        /// 1-based exchange number.
        exchange: usize,
        target: String,
    },
    BothTeAndCl {
        of: Of,
    },
    UnframeableRequest {
        label: String,
        why: Unframeable,
        /// The Transfer-Encoding or Content-Length value.
        value: String,
    },
    InterimWithoutRequest {
        status: u16,
    },
    UnmatchedResponse {
        status: u16,
        exchange: usize,
    },
    CutSwitch {
        label: String,
        status: u16,
        missing: u64,
        captured: u64,
        fields: u32,
    },
    TeInHttp10 {
        label: String,
    },
    TeNotChunked {
        label: String,
        te: String,
    },
    BadResponseContentLength {
        label: String,
        raw: String,
    },
    CutHead {
        of: Of,
        missing: u64,
        captured: u64,
        fields: u32,
        then: CutThen,
    },
    CutInterim {
        status: u16,
        missing: u64,
        captured: u64,
        fields: u32,
        in_sync: bool,
    },
    TunnelGapBeforeSwitch {
        bytes: u64,
    },
    UnfinishedHeadAtSwitch {
        bytes: usize,
        label: String,
    },
    BodyAtSwitch {
        other: String,
        label: String,
    },
    LostAtSwitch {
        label: String,
    },
    PipelinedPastSwitch {
        requests: usize,
        label: String,
    },
    HoldOverflow {
        bytes: usize,
    },
    TunnelOverflow {
        dir: Direction,
    },
    ContinueBodyNotSent {
        label: String,
        total: u64,
        status: u16,
    },
    ChunkError {
        dir: Direction,
        label: String,
        why: &'static str,
        at: String,
    },
    Resynced {
        dir: Direction,
        at: String,
        skipped: u64,
    },
    GapForHead {
        dir: Direction,
        missing: u64,
        lost: Option<LostMessage>,
    },
    GapInHead {
        dir: Direction,
        missing: u64,
        head: String,
        lost: Option<LostMessage>,
    },
    GapInBody {
        dir: Direction,
        missing: u64,
        label: String,
        still: u64,
    },
    GapEndsBody {
        dir: Direction,
        missing: u64,
        label: String,
    },
    GapPastBody {
        dir: Direction,
        missing: u64,
        rest: u64,
        label: String,
        lost: Option<LostMessage>,
    },
    GapInChunkData {
        dir: Direction,
        missing: u64,
        label: String,
    },
    GapInChunkFraming {
        dir: Direction,
        missing: u64,
        label: String,
    },
    GapInCloseBody {
        dir: Direction,
        missing: u64,
        label: String,
    },
    GapInHold {
        missing: u64,
        label: String,
    },
    GapInTunnel {
        dir: Direction,
        missing: u64,
    },
    EndInHead {
        dir: Direction,
        why: Ending,
        bytes: usize,
        head: String,
    },
    EndInLengthBody {
        dir: Direction,
        why: Ending,
        remaining: u64,
        total: u64,
        label: String,
    },
    EndInChunkedBody {
        dir: Direction,
        why: Ending,
        label: String,
        decoded: u64,
    },
    EndInCloseBody {
        dir: Direction,
        why: Ending,
        label: String,
        bytes: u64,
    },
    EndInHold {
        dir: Direction,
        bytes: usize,
        label: String,
    },
    EndLost {
        dir: Direction,
        bytes: u64,
        why: Ending,
    },
    UnansweredDropped {
        requests: usize,
    },
    NeverAnswered {
        label: String,
    },
}

impl fmt::Display for HttpWarning {
    // One arm per variant, each a line of text: long, but flat.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use HttpWarning::*;
        const RESCAN: &str = "lost sync, scanning for the next message";
        match self {
            DataAfterClose { dir, bytes, after_finish } => {
                let what = if *after_finish { "after finish()" } else { "after FIN" };
                write!(f, "{}: {bytes} bytes of data {what} ignored", dir_label(*dir))
            }
            NoProgress { dir, dropped } => write!(
                f,
                "{}: internal error: parser made no progress; {dropped} bytes dropped",
                dir_label(*dir)
            ),
            NotAMessageStart { dir, got } => {
                let expected = match dir {
                    Direction::ClientToServer => "a request line",
                    Direction::ServerToClient => "a status line",
                };
                write!(f, "{}: expected {expected} but got \"{got}\"; {RESCAN}", dir_label(*dir))
            }
            HeadTooLong { dir, start, lost: l } => {
                write!(
                    f,
                    "{}: {} head starting \"{start}\" exceeds {} KiB without an empty line; {RESCAN}",
                    dir_label(*dir),
                    msg_word(*dir),
                    MAX_HEAD / 1024
                )?;
                lost(f, l)
            }
            MalformedHead { dir, head, lost: l } => {
                write!(
                    f,
                    "{}: malformed {} head \"{head}\"; skipped, lost sync",
                    dir_label(*dir),
                    msg_word(*dir)
                )?;
                lost(f, l)
            }
            HeaderIssue { of, issue } => write!(f, "{of}: {issue}"),
            InterimHeaderIssue { status, issue } => {
                write!(f, "server->client: interim response {status}: {issue}")
            }
            ControlInTarget { exchange, target } => write!(
                f,
                "client->server: exchange #{exchange}: malformed request line \"{target}\": control bytes in the target; counted as a request"
            ),
            BothTeAndCl { of } => write!(
                f,
                "{of}: both Transfer-Encoding and Content-Length; Content-Length ignored"
            ),
            UnframeableRequest { label, why, value } => {
                write!(f, "client->server: {label}: ")?;
                match why {
                    Unframeable::TeNotChunked => {
                        write!(f, "Transfer-Encoding \"{value}\" does not end in chunked")?
                    }
                    Unframeable::BadContentLength => {
                        write!(f, "invalid Content-Length \"{value}\"")?
                    }
                }
                f.write_str("; cannot frame the request body, lost sync")
            }
            InterimWithoutRequest { status } => write!(
                f,
                "server->client: interim response {status} without an outstanding request"
            ),
            UnmatchedResponse { status, exchange } => write!(
                f,
                "server->client: response {status} without a matching request (exchange #{exchange}): more responses than requests seen"
            ),
            CutSwitch { label, status, missing, captured, fields } => write!(
                f,
                "server->client: response to {label}: {status} head cut by {missing} missing bytes after {captured} captured ({fields} header fields); counted, marked incomplete; protocol switched, tunnel bytes may be among the missing ones"
            ),
            TeInHttp10 { label } => write!(
                f,
                "server->client: response to {label}: Transfer-Encoding in an HTTP/1.0 response"
            ),
            TeNotChunked { label, te } => write!(
                f,
                "server->client: response to {label}: Transfer-Encoding \"{te}\" does not end in chunked; body delimited by connection close"
            ),
            BadResponseContentLength { label, raw } => write!(
                f,
                "server->client: response to {label}: invalid Content-Length \"{raw}\"; cannot frame the body, lost sync"
            ),
            CutHead { of, missing, captured, fields, then } => {
                let line = match of.dir {
                    Direction::ClientToServer => "request line",
                    Direction::ServerToClient => "status line",
                };
                write!(
                    f,
                    "{of}: {} head cut by {missing} missing bytes after {captured} captured; counted from its {line} and {fields} captured header fields, marked incomplete",
                    msg_word(of.dir)
                )?;
                match then {
                    CutThen::InSync(n) => write!(
                        f,
                        "; the gap can hold the rest of the head and the {n}-byte body: still in sync"
                    ),
                    CutThen::BodyPastGap(n) => write!(
                        f,
                        "; the {n}-byte body goes on past the gap at an unknown offset: {RESCAN}"
                    ),
                    CutThen::Unframed => {
                        write!(f, "; the captured headers do not frame the body: {RESCAN}")
                    }
                }
            }
            CutInterim { status, missing, captured, fields, in_sync } => {
                write!(
                    f,
                    "server->client: interim response {status}: head cut by {missing} missing bytes after {captured} captured ({fields} header fields); counted"
                )?;
                if *in_sync {
                    f.write_str("; the gap can hold the rest of the head: still in sync")
                } else {
                    write!(f, "; {RESCAN}")
                }
            }
            TunnelGapBeforeSwitch { bytes } => write!(
                f,
                "client->server: {bytes} bytes of tunnel data sent before the switch were not captured; drained tunnel bytes are not contiguous"
            ),
            UnfinishedHeadAtSwitch { bytes, label } => write!(
                f,
                "client->server: {bytes} bytes of an unfinished request head when {label} switched protocols; passed to the tunnel"
            ),
            BodyAtSwitch { other, label } => write!(
                f,
                "client->server: body of {other} still in progress when {label} switched protocols; rest treated as tunnel data"
            ),
            LostAtSwitch { label } => write!(
                f,
                "client->server: out of sync when {label} switched protocols; later client bytes treated as tunnel data"
            ),
            PipelinedPastSwitch { requests, label } => write!(
                f,
                "client->server: {requests} request(s) pipelined after {label} will not get HTTP responses: protocol switched"
            ),
            HoldOverflow { bytes } => write!(
                f,
                "client->server: {bytes} bytes sent after a CONNECT/Upgrade request without a deciding response; parsing them as HTTP"
            ),
            TunnelOverflow { dir } => write!(
                f,
                "{}: more than {} KiB of tunnel data fed without drain_tunnel; excess dropped",
                dir_label(*dir),
                MAX_TUNNEL / 1024
            ),
            ContinueBodyNotSent { label, total, status } => write!(
                f,
                "client->server: {label}: announced body of {total} bytes (Expect: 100-continue) was not sent after final response {status}; next request follows"
            ),
            ChunkError { dir, label, why, at } => write!(
                f,
                "{}: chunked {} body of {label}: {why} at \"{at}\"; lost sync",
                dir_label(*dir),
                msg_word(*dir)
            ),
            Resynced { dir, at, skipped } => write!(
                f,
                "{}: resynchronized at \"{at}\" after skipping {skipped} bytes",
                dir_label(*dir)
            ),
            GapForHead { dir, missing, lost: l } => {
                write!(
                    f,
                    "{}: gap of {missing} bytes where a {} head was expected; {RESCAN}",
                    dir_label(*dir),
                    msg_word(*dir)
                )?;
                lost(f, l)
            }
            GapInHead { dir, missing, head, lost: l } => {
                write!(
                    f,
                    "{}: gap of {missing} bytes inside a {} head (\"{head}\"); {RESCAN}",
                    dir_label(*dir),
                    msg_word(*dir)
                )?;
                lost(f, l)
            }
            GapInBody { dir, missing, label, still } => write!(
                f,
                "{}: gap of {missing} bytes inside the {} body of {label} (Content-Length, {still} bytes still expected); still in sync",
                dir_label(*dir),
                msg_word(*dir)
            ),
            GapEndsBody { dir, missing, label } => write!(
                f,
                "{}: gap of {missing} bytes at the end of the {} body of {label} (Content-Length); still in sync",
                dir_label(*dir),
                msg_word(*dir)
            ),
            GapPastBody { dir, missing, rest, label, lost: l } => {
                write!(
                    f,
                    "{}: gap of {missing} bytes covers the last {rest} bytes of the {} body of {label} and {} bytes of what follows; lost sync",
                    dir_label(*dir),
                    msg_word(*dir),
                    missing - rest
                )?;
                lost(f, l)
            }
            GapInChunkData { dir, missing, label } => write!(
                f,
                "{}: gap of {missing} bytes inside chunk data of the {} body of {label}; still in sync",
                dir_label(*dir),
                msg_word(*dir)
            ),
            GapInChunkFraming { dir, missing, label } => write!(
                f,
                "{}: gap of {missing} bytes in the chunked framing of the {} body of {label}; lost sync",
                dir_label(*dir),
                msg_word(*dir)
            ),
            GapInCloseBody { dir, missing, label } => write!(
                f,
                "{}: gap of {missing} bytes inside the {} body of {label} (delimited by connection close); still in sync",
                dir_label(*dir),
                msg_word(*dir)
            ),
            GapInHold { missing, label } => write!(
                f,
                "client->server: gap of {missing} bytes in data sent after {label} (held until the response decides on a protocol switch)"
            ),
            GapInTunnel { dir, missing } => write!(
                f,
                "{}: gap of {missing} bytes in tunnel data after the protocol switch",
                dir_label(*dir)
            ),
            EndInHead { dir, why, bytes, head } => write!(
                f,
                "{}: {why} after an unfinished {} head of {bytes} bytes (\"{head}\")",
                dir_label(*dir),
                msg_word(*dir)
            ),
            EndInLengthBody { dir, why, remaining, total, label } => write!(
                f,
                "{}: {why} with {remaining} of {total} Content-Length bytes of the {} body of {label} missing",
                dir_label(*dir),
                msg_word(*dir)
            ),
            EndInChunkedBody { dir, why, label, decoded } => write!(
                f,
                "{}: {why} inside the chunked {} body of {label} after {decoded} decoded bytes",
                dir_label(*dir),
                msg_word(*dir)
            ),
            EndInCloseBody { dir, why, label, bytes } => write!(
                f,
                "{}: {} body of {label} is delimited by connection close but the connection ended without FIN ({why}); marked incomplete after {bytes} bytes",
                dir_label(*dir),
                msg_word(*dir)
            ),
            EndInHold { dir, bytes, label } => write!(
                f,
                "{}: {bytes} bytes sent after {label} were never parsed: no response decided on a protocol switch",
                dir_label(*dir)
            ),
            EndLost { dir, bytes, why } => write!(
                f,
                "{}: {bytes} bytes skipped out of sync before {why} without finding a message start",
                dir_label(*dir)
            ),
            UnansweredDropped { requests } => write!(
                f,
                "{requests} more requests were never answered (counted; their details were not kept: more than {UNANSWERED_KEPT} awaited a response at once)"
            ),
            NeverAnswered { label } => write!(f, "{label}: request was never answered"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::HttpWarning as W;
    use super::*;
    use crate::Direction::{ClientToServer as C, ServerToClient as S};

    fn of(dir: Direction) -> Of {
        Of {
            dir,
            label: "exchange #2 (GET /x)".into(),
        }
    }

    /// The text users read: pinned for the variants whose wording is assembled
    /// from parts (the output identity corpus does not reach them all).
    #[test]
    fn text_is_what_users_read() {
        let cases: Vec<(W, &str)> = vec![
            (
                W::UnframeableRequest {
                    label: "exchange #1 (POST /)".into(),
                    why: Unframeable::TeNotChunked,
                    value: "gzip".into(),
                },
                "client->server: exchange #1 (POST /): Transfer-Encoding \"gzip\" does not end in chunked; cannot frame the request body, lost sync",
            ),
            (
                W::UnframeableRequest {
                    label: "exchange #1 (POST /)".into(),
                    why: Unframeable::BadContentLength,
                    value: "x".into(),
                },
                "client->server: exchange #1 (POST /): invalid Content-Length \"x\"; cannot frame the request body, lost sync",
            ),
            (
                W::CutHead {
                    of: of(S),
                    missing: 50,
                    captured: 20,
                    fields: 1,
                    then: CutThen::InSync(7),
                },
                "server->client: response to exchange #2 (GET /x): response head cut by 50 missing bytes after 20 captured; counted from its status line and 1 captured header fields, marked incomplete; the gap can hold the rest of the head and the 7-byte body: still in sync",
            ),
            (
                W::CutHead {
                    of: of(C),
                    missing: 5,
                    captured: 9,
                    fields: 0,
                    then: CutThen::Unframed,
                },
                "client->server: exchange #2 (GET /x): request head cut by 5 missing bytes after 9 captured; counted from its request line and 0 captured header fields, marked incomplete; the captured headers do not frame the body: lost sync, scanning for the next message",
            ),
            (
                W::MalformedHead {
                    dir: C,
                    head: "GET".into(),
                    lost: Some(LostMessage::Placeholder(3)),
                },
                "client->server: malformed request head \"GET\"; skipped, lost sync (placeholder exchange #3 stands for the lost request)",
            ),
            (
                W::GapForHead {
                    dir: S,
                    missing: 4,
                    lost: Some(LostMessage::Response("exchange #1".into())),
                },
                "server->client: gap of 4 bytes where a response head was expected; lost sync, scanning for the next message (response to exchange #1 lost)",
            ),
            (
                W::BothTeAndCl { of: of(C) },
                "client->server: exchange #2 (GET /x): both Transfer-Encoding and Content-Length; Content-Length ignored",
            ),
            (
                W::EndLost {
                    dir: S,
                    bytes: 8,
                    why: Ending::EndOfConnection,
                },
                "server->client: 8 bytes skipped out of sync before end of connection without finding a message start",
            ),
            (
                W::DataAfterClose {
                    dir: C,
                    bytes: 3,
                    after_finish: false,
                },
                "client->server: 3 bytes of data after FIN ignored",
            ),
            (
                W::CutInterim {
                    status: 100,
                    missing: 2,
                    captured: 12,
                    fields: 0,
                    in_sync: false,
                },
                "server->client: interim response 100: head cut by 2 missing bytes after 12 captured (0 header fields); counted; lost sync, scanning for the next message",
            ),
        ];
        for (w, text) in cases {
            assert_eq!(w.to_string(), text);
        }
    }
}
