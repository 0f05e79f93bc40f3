"""Benchmark cases for SDP: parse and serialize a typical softphone audio offer.

The offer is 12 lines, as a softphone sends in an INVITE: two codecs (PCMU,
PCMA) plus telephone-event with its fmtp, ptime and a direction attribute
[RFC 8866 §5, RFC 3264 §5]. One call of ``sdp parse`` turns its bytes into a
:class:`~voip_core.sdp.SessionDescription`; one call of ``sdp serialize``
writes that description back to bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from voip_core.sdp import SessionDescription

_OFFER = (
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
_PARSED = SessionDescription.parse(_OFFER)
assert _PARSED.serialize() == _OFFER

CASES: dict[str, Callable[[], object]] = {
    "sdp parse": partial(SessionDescription.parse, _OFFER),
    "sdp serialize": _PARSED.serialize,
}
