"""Benchmark cases for SIP messages: parse and serialize a softphone's INVITE.

The INVITE is what a softphone sends to start a call: 15 header fields
(Via with rport, Max-Forwards, From with a display name and tag, To,
Call-ID, CSeq, Contact with a transport parameter, Allow, Supported,
User-Agent, Allow-Events, Session-Expires, Min-SE, Content-Type,
Content-Length) and a 12-line SDP offer [RFC 3261 §7, RFC 3264 §5].

* ``sip parse INVITE``: bytes to :class:`~voip_core.sip.SIPRequest`
  (start line, header fields split, compact forms resolved, UTF-8 checked,
  body framed by Content-Length; header values are parsed lazily).
* ``sip parse INVITE + headers``: the same, then the typed accessors a user
  agent reads for every request: ``via``, ``call_id``, ``cseq``,
  ``from_header``, ``to`` and ``contact``. The same message comes every
  time, so header lines and values come from the parsers' memo tables
  (:mod:`voip_core.sip.memo`) as fresh copies, as within one call
  (retransmissions, in-dialog requests and their responses repeat From,
  To, Call-ID and Contact).
* ``sip parse INVITE + headers, new call``: the same for INVITEs that
  differ where one call differs from the next (Via branch, From tag,
  Call-ID), taken in turn from a ring of 5000, longer than the memo
  tables: those values are never met twice and are parsed in full, as on
  a server taking new calls; the other lines and values are remembered.
* ``sip serialize INVITE``: the parsed request back to bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from itertools import cycle

from voip_core.sip import SIPRequest, parse_message

_SDP = (
    b"v=0\r\n"
    b"o=- 3989412345 3989412345 IN IP4 192.0.2.10\r\n"
    b"s=-\r\n"
    b"c=IN IP4 192.0.2.10\r\n"
    b"t=0 0\r\n"
    b"m=audio 40000 RTP/AVP 0 8 101\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
    b"a=rtpmap:8 PCMA/8000\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\n"
    b"a=fmtp:101 0-16\r\n"
    b"a=ptime:20\r\n"
    b"a=sendrecv\r\n"
)
_INVITE = (
    b"INVITE sip:bob@192.0.2.20:5060 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK.lp3JUB5kS;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b'From: "Alice Liddell" <sip:alice@example.com>;tag=hZ8Vd4pQ\r\n'
    b"To: <sip:bob@example.com>\r\n"
    b"Call-ID: 3c26d6b0-53c1-4d0c-bdb0-f6d4c1f5e2a1\r\n"
    b"CSeq: 20 INVITE\r\n"
    b'Contact: <sip:alice@192.0.2.10:5060;transport=udp>;+sip.instance="<urn:uuid:1>"\r\n'
    b"Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY, MESSAGE, INFO, UPDATE\r\n"
    b"Supported: replaces, outbound, gruu, timer\r\n"
    b"User-Agent: voip-core/0.1 (bench)\r\n"
    b"Allow-Events: talk, hold, conference\r\n"
    b"Session-Expires: 1800\r\n"
    b"Min-SE: 90\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: " + str(len(_SDP)).encode() + b"\r\n"
    b"\r\n" + _SDP
)


def _parse_with_headers(data: bytes = _INVITE) -> object:
    request = parse_message(data)
    return (
        request.via,
        request.call_id,
        request.cseq,
        request.from_header,
        request.to,
        request.contact,
    )


# New calls: a new branch, From tag and Call-ID each (same lengths, so same Content-Length).
_NEW_CALLS = [
    _INVITE.replace(b"z9hG4bK.lp3JUB5kS", b"z9hG4bK%010d" % number)
    .replace(b"tag=hZ8Vd4pQ", b"tag=t%07d" % number)
    .replace(b"f6d4c1f5e2a1", b"%012d" % number)
    for number in range(5000)
]
_next_call = cycle(_NEW_CALLS).__next__


def _parse_new_call_with_headers() -> object:
    return _parse_with_headers(_next_call())


_PARSED = parse_message(_INVITE)
assert isinstance(_PARSED, SIPRequest)
assert _PARSED.serialize() == _INVITE
_parse_with_headers()
assert len({parse_message(data).via[0].branch for data in _NEW_CALLS[:2]}) == 2

CASES: dict[str, Callable[[], object]] = {
    "sip parse INVITE": partial(parse_message, _INVITE),
    "sip parse INVITE + headers": _parse_with_headers,
    "sip parse INVITE + headers, new call": _parse_new_call_with_headers,
    "sip serialize INVITE": _PARSED.serialize,
}
