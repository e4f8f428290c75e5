//! Message body framing (RFC 9112 §6.3) as a pure function of the request
//! method, the response status and the framing header fields. The inspector
//! asks it once per message head, whole or cut by a capture gap, and only
//! decides what to do with the answer.

use super::inspector::Framing;
use super::parser::{ContentLength, MessageHeaders};

/// The header facts that decide framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct BodyHeaders {
    /// Transfer-Encoding is present with a coding other than `identity`.
    pub transfer_coding: bool,
    /// ...and `chunked` is its final coding.
    pub chunked_last: bool,
    pub content_length: ContentLength,
}

impl BodyHeaders {
    pub fn of(h: &MessageHeaders) -> BodyHeaders {
        BodyHeaders {
            transfer_coding: h.has_transfer_coding(),
            chunked_last: h.chunked(),
            content_length: h.content_length,
        }
    }
}

/// Why a body cannot be framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unframeable {
    /// §6.3 rule 4, request: Transfer-Encoding whose final coding is not chunked.
    TeNotChunked,
    /// §6.3 rule 5: an invalid Content-Length, or several that differ.
    BadContentLength,
}

/// How one message body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyFraming {
    /// 101 Switching Protocols: the Upgrade protocol follows the head
    /// (RFC 9110 §15.2.2, §7.8).
    Upgrade,
    /// §6.3 rule 2: a 2xx answer to CONNECT; a tunnel follows the head.
    Tunnel,
    /// §6.3 rule 1 (a response to HEAD; 1xx, 204, 304) or rule 7 (a request
    /// without Transfer-Encoding or Content-Length).
    NoBody,
    /// §6.3 rule 4: chunked is the final transfer coding. `cl_ignored`:
    /// rule 3, a Content-Length was there too and Transfer-Encoding overrides it.
    Chunked { cl_ignored: bool },
    /// §6.3 rule 4, response: a transfer coding that does not end in chunked;
    /// the body runs until the server closes.
    TeUntilClose { cl_ignored: bool },
    /// §6.3 rule 6: a valid Content-Length.
    ContentLength(u64),
    /// §6.3 rule 8: a response without a declared length runs until close.
    UntilClose,
    /// The framing cannot be determined.
    Invalid(Unframeable),
}

impl BodyFraming {
    /// The framing word recorded on the exchange; None when it cannot be framed.
    pub fn public(self) -> Option<Framing> {
        Some(match self {
            BodyFraming::Upgrade | BodyFraming::Tunnel | BodyFraming::NoBody => Framing::None,
            BodyFraming::Chunked { .. } => Framing::Chunked,
            BodyFraming::TeUntilClose { .. } | BodyFraming::UntilClose => Framing::UntilClose,
            BodyFraming::ContentLength(_) => Framing::ContentLength,
            BodyFraming::Invalid(_) => return None,
        })
    }
}

/// §6.3 rules 3-6, common to requests and responses; `None` where the
/// rules for the two differ (rule 4's non-chunked coding, rules 7 and 8).
fn by_headers(h: BodyHeaders) -> Option<BodyFraming> {
    let cl_ignored = h.content_length != ContentLength::Absent;
    if h.transfer_coding {
        return h
            .chunked_last
            .then_some(BodyFraming::Chunked { cl_ignored });
    }
    match h.content_length {
        ContentLength::Valid(n) => Some(BodyFraming::ContentLength(n)),
        ContentLength::Invalid | ContentLength::Conflicting => {
            Some(BodyFraming::Invalid(Unframeable::BadContentLength))
        }
        ContentLength::Absent => None,
    }
}

/// Framing of a request body (RFC 9112 §6.3 rules 3-7).
pub(crate) fn request(h: BodyHeaders) -> BodyFraming {
    match by_headers(h) {
        Some(f) => f,
        None if h.transfer_coding => BodyFraming::Invalid(Unframeable::TeNotChunked),
        None => BodyFraming::NoBody,
    }
}

/// Framing of a response body (RFC 9112 §6.3 rules 1-6, 8), given the method
/// of its request (None if the request was not seen) and its status.
pub(crate) fn response(method: Option<&str>, status: u16, h: BodyHeaders) -> BodyFraming {
    if status == 101 {
        return BodyFraming::Upgrade;
    }
    if method == Some("CONNECT") && (200..300).contains(&status) {
        return BodyFraming::Tunnel;
    }
    if method == Some("HEAD") || (100..200).contains(&status) || status == 204 || status == 304 {
        return BodyFraming::NoBody;
    }
    match by_headers(h) {
        Some(f) => f,
        None if h.transfer_coding => BodyFraming::TeUntilClose {
            cl_ignored: h.content_length != ContentLength::Absent,
        },
        None => BodyFraming::UntilClose,
    }
}

#[cfg(test)]
mod tests {
    use super::BodyFraming::{
        Chunked, ContentLength as Length, Invalid, NoBody, TeUntilClose, Tunnel, UntilClose,
        Upgrade,
    };
    use super::ContentLength::{Absent, Conflicting, Invalid as BadCl, Valid};
    use super::{
        request, response, BodyFraming, BodyHeaders, ContentLength, Framing, MessageHeaders,
        Unframeable,
    };

    const NONE: BodyHeaders = BodyHeaders {
        transfer_coding: false,
        chunked_last: false,
        content_length: Absent,
    };
    fn cl(c: ContentLength) -> BodyHeaders {
        BodyHeaders {
            content_length: c,
            ..NONE
        }
    }
    fn te(chunked_last: bool, c: ContentLength) -> BodyHeaders {
        BodyHeaders {
            transfer_coding: true,
            chunked_last,
            content_length: c,
        }
    }

    #[test]
    fn response_framing_follows_rfc9112_6_3() {
        let bad = Invalid(Unframeable::BadContentLength);
        #[rustfmt::skip]
        let table: &[(&str, Option<&str>, u16, BodyHeaders, BodyFraming)] = &[
            ("rule 1: HEAD ignores Content-Length", Some("HEAD"), 200, cl(Valid(10)), NoBody),
            ("rule 1: HEAD ignores chunked", Some("HEAD"), 200, te(true, Absent), NoBody),
            ("rule 1: 1xx", Some("GET"), 103, cl(Valid(5)), NoBody),
            ("rule 1: 204", Some("GET"), 204, te(true, Absent), NoBody),
            ("rule 1: 304", Some("GET"), 304, cl(Valid(99)), NoBody),
            ("rule 1: 304 to an unseen request", None, 304, NONE, NoBody),
            ("101 switches protocols", Some("GET"), 101, cl(Valid(3)), Upgrade),
            ("101 even to HEAD", Some("HEAD"), 101, NONE, Upgrade),
            ("rule 2: 200 to CONNECT", Some("CONNECT"), 200, cl(Valid(3)), Tunnel),
            ("rule 2: 204 to CONNECT", Some("CONNECT"), 204, NONE, Tunnel),
            ("rule 2: only 2xx", Some("CONNECT"), 407, cl(Valid(3)), Length(3)),
            ("rule 2: CONNECT is case-sensitive", Some("connect"), 200, NONE, UntilClose),
            ("rule 4: chunked last", Some("GET"), 200, te(true, Absent), Chunked { cl_ignored: false }),
            ("rule 3: TE overrides CL", Some("GET"), 200, te(true, Valid(7)), Chunked { cl_ignored: true }),
            ("rule 3: TE overrides a bad CL", Some("GET"), 200, te(true, BadCl), Chunked { cl_ignored: true }),
            ("rule 4: not chunked last", Some("GET"), 200, te(false, Absent), TeUntilClose { cl_ignored: false }),
            ("rules 3+4: not chunked, CL too", Some("GET"), 200, te(false, Valid(7)), TeUntilClose { cl_ignored: true }),
            ("rule 5: invalid CL", Some("GET"), 200, cl(BadCl), bad),
            ("rule 5: differing CLs", Some("GET"), 200, cl(Conflicting), bad),
            ("rule 6: CL", Some("GET"), 200, cl(Valid(42)), Length(42)),
            ("rule 6: CL 0", Some("POST"), 500, cl(Valid(0)), Length(0)),
            ("rule 8: close-delimited", Some("GET"), 200, NONE, UntilClose),
            ("rule 8: to an unseen request", None, 404, NONE, UntilClose),
        ];
        for (why, method, status, h, want) in table {
            assert_eq!(response(*method, *status, *h), *want, "{why}");
        }
    }

    #[test]
    fn request_framing_follows_rfc9112_6_3() {
        #[rustfmt::skip]
        let table: &[(&str, BodyHeaders, BodyFraming)] = &[
            ("rule 4: chunked last", te(true, Absent), Chunked { cl_ignored: false }),
            ("rule 3: TE overrides CL", te(true, Valid(3)), Chunked { cl_ignored: true }),
            ("rule 4: not chunked last", te(false, Absent), Invalid(Unframeable::TeNotChunked)),
            ("rule 4: not chunked last, CL too", te(false, Valid(3)), Invalid(Unframeable::TeNotChunked)),
            ("rule 5: invalid CL", cl(BadCl), Invalid(Unframeable::BadContentLength)),
            ("rule 5: differing CLs", cl(Conflicting), Invalid(Unframeable::BadContentLength)),
            ("rule 6: CL", cl(Valid(12)), Length(12)),
            ("rule 6: CL 0", cl(Valid(0)), Length(0)),
            ("rule 7: neither", NONE, NoBody),
        ];
        for (why, h, want) in table {
            assert_eq!(request(*h), *want, "{why}");
        }
    }

    #[test]
    fn framing_facts_come_from_the_headers() {
        let mut h = MessageHeaders::default();
        assert_eq!(BodyHeaders::of(&h), NONE);
        h.transfer_encoding = Some("gzip, Chunked".into());
        h.content_length = Valid(4);
        assert_eq!(BodyHeaders::of(&h), te(true, Valid(4)));
        h.transfer_encoding = Some("chunked, gzip".into());
        assert_eq!(BodyHeaders::of(&h), te(false, Valid(4)));
        h.transfer_encoding = Some("identity".into());
        assert_eq!(BodyHeaders::of(&h), cl(Valid(4)));
    }

    #[test]
    fn public_framing_words() {
        assert_eq!(Upgrade.public(), Some(Framing::None));
        assert_eq!(Tunnel.public(), Some(Framing::None));
        assert_eq!(NoBody.public(), Some(Framing::None));
        assert_eq!(
            Chunked { cl_ignored: true }.public(),
            Some(Framing::Chunked)
        );
        assert_eq!(
            TeUntilClose { cl_ignored: false }.public(),
            Some(Framing::UntilClose)
        );
        assert_eq!(UntilClose.public(), Some(Framing::UntilClose));
        assert_eq!(Length(0).public(), Some(Framing::ContentLength));
        assert_eq!(Invalid(Unframeable::TeNotChunked).public(), None);
    }
}
