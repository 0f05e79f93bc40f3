"""What a user agent server refuses before it looks at a request's meaning [RFC 3261 §8.2].

:func:`refusal` runs the checks of RFC 3261 §8.2.1-§8.2.3 in the RFC's
order on a parsed and validated request and returns the error response to
send, or None to process it: 405/501 for methods we do not allow or do not
know, 416 for a Request-URI scheme we cannot handle, 420 for a ``Require``
option we lack (with ``Unsupported``), 415 for a body type or encoding we
cannot read (with ``Accept``/``Accept-Encoding``), 406 when the request
will not accept the SDP we answer with, and 483 for an exhausted
Max-Forwards. These are the answers RFC 4475 §3.3 asks for.

>>> from voip_core.sip import parse_message
>>> request = parse_message(
...     b"INVITE sips:bob@[::1] SIP/2.0\\r\\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\\r\\n"
...     b"From: <sip:a@h>;tag=1\\r\\nTo: <sip:b@h>\\r\\nCall-ID: c\\r\\nCSeq: 1 INVITE\\r\\n"
...     b"Require: 100rel, foo\\r\\nContent-Length: 0\\r\\n\\r\\n"
... )
>>> refusal(request, allowed=("INVITE", "ACK"))
(420, 'Bad Extension', [('Unsupported', '100rel, foo')])
"""

from __future__ import annotations

from collections.abc import Collection

from voip_core.sip.headers import split_header_list
from voip_core.sip.message import SIPRequest
from voip_core.sip.uri import SIPURI

__all__ = ["KNOWN_METHODS", "SUPPORTED_OPTIONS", "Refusal", "refusal"]

#: Methods defined by an RFC: a UA that does not allow one answers 405, others 501 [§8.2.1].
KNOWN_METHODS = frozenset(
    {
        "INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "PRACK", "SUBSCRIBE",
        "NOTIFY", "PUBLISH", "INFO", "REFER", "MESSAGE", "UPDATE",
    }
)  # fmt: skip
#: Option tags we implement (none needs a Require from the peer).
SUPPORTED_OPTIONS = frozenset({"norefersub"})
#: Body types each method may carry and we can read.
_BODY_TYPES: dict[str, frozenset[str]] = {
    "INVITE": frozenset({"application/sdp"}),
    "ACK": frozenset({"application/sdp"}),
    "UPDATE": frozenset({"application/sdp"}),
    "NOTIFY": frozenset({"message/sipfrag"}),
    "INFO": frozenset({"application/dtmf-relay", "application/dtmf"}),
}

Refusal = tuple[int, str, list[tuple[str, str]]]


def _media_type(value: str) -> str:
    return value.split(";", 1)[0].strip().lower()


def refusal(request: SIPRequest, *, allowed: Collection[str]) -> Refusal | None:
    """The error response a UAS sends before processing ``request``, or None.

    Args:
        request: A request that passed :func:`~voip_core.sip.message.validate_request`.
        allowed: The methods this user agent processes.
    """
    method = request.method
    if method not in allowed:
        allow = [("Allow", ", ".join(allowed))]
        if method in KNOWN_METHODS:
            return 405, "Method Not Allowed", allow
        return 501, "Not Implemented", allow
    if not isinstance(request.uri, SIPURI):
        # [RFC 3261 §8.2.2.1]; tel: and others are for proxies and gateways to translate.
        return 416, "Unsupported URI Scheme", []
    keys = request.headers._keys  # the header fields present, by lookup key
    if method not in ("ACK", "CANCEL") and "require" in keys:
        unsupported = [
            tag
            for value in request.headers.get_all("Require")
            for tag in split_header_list(value)
            if tag and tag.lower() not in SUPPORTED_OPTIONS
        ]
        if unsupported:
            return 420, "Bad Extension", [("Unsupported", ", ".join(unsupported))]  # §8.2.2.3
    if request.body:
        readable = _BODY_TYPES.get(method, frozenset())
        content_type = _media_type(request.headers.get("Content-Type") or "")
        if content_type not in readable:
            return 415, "Unsupported Media Type", [("Accept", ", ".join(sorted(readable)))]
        if "content-encoding" in keys:
            encoding = (request.headers.get("Content-Encoding") or "identity").strip().lower()
            if encoding != "identity":
                return 415, "Unsupported Media Type", [("Accept-Encoding", "identity")]
    if method == "INVITE" and "accept" in keys:
        accepted = {
            _media_type(item)
            for value in request.headers.get_all("Accept")
            for item in split_header_list(value)
        }
        if accepted and not accepted & {"application/sdp", "application/*", "*/*"}:
            return 406, "Not Acceptable", []  # our answer is SDP [RFC 3261 §8.2.3]
    # Max-Forwards 0 is no error here: a UAS is the request's end, it forwards
    # nothing [RFC 3261 §8.2, §16.3; RFC 4475 §3.3.11].
    return None
