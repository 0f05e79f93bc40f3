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
  ``from_header``, ``to`` and ``contact`` (each header parsed in full).
* ``sip serialize INVITE``: the parsed request back to bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

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


def _parse_with_headers() -> object:
    request = parse_message(_INVITE)
    return (
        request.via,
        request.call_id,
        request.cseq,
        request.from_header,
        request.to,
        request.contact,
    )


_PARSED = parse_message(_INVITE)
assert isinstance(_PARSED, SIPRequest)
assert _PARSED.serialize() == _INVITE
_parse_with_headers()

CASES: dict[str, Callable[[], object]] = {
    "sip parse INVITE": partial(parse_message, _INVITE),
    "sip parse INVITE + headers": _parse_with_headers,
    "sip serialize INVITE": _PARSED.serialize,
}
