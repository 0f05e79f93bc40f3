"""SIP: messages, URIs and header values [RFC 3261], the sans-I/O layer.

Pure and synchronous: bytes in, objects out, and back. The transaction,
dialog and transport layers build on these names.

>>> from voip_core.sip import parse_message
>>> message = parse_message(
...     b"SIP/2.0 180 Ringing\\r\\nVia: SIP/2.0/UDP [2001:db8::1]:5062;branch=z9hG4bKa\\r\\n"
...     b"To: <sip:bob@example.com>;tag=9\\r\\nFrom: \\"Al\\" <sip:al@example.com>;tag=3\\r\\n"
...     b"Call-ID: c1\\r\\nCSeq: 2 INVITE\\r\\nContent-Length: 0\\r\\n\\r\\n"
... )
>>> message.status_code, message.via[0].host, message.from_header.display_name
(180, '2001:db8::1', 'Al')
"""

from __future__ import annotations

from voip_core.sip.headers import (
    COMPACT_FORMS,
    CSeq,
    Headers,
    NameAddress,
    Via,
    canonical_name,
    split_header_list,
)
from voip_core.sip.message import (
    MAX_HEADERS,
    MAX_MESSAGE_SIZE,
    REASON_PHRASES,
    KeepAlive,
    SIPMessage,
    SIPRequest,
    SIPResponse,
    StreamFramer,
    VersionNotSupported,
    parse_message,
    reason_phrase,
    salvage_for_400,
    validate_request,
    validate_response,
)
from voip_core.sip.uri import SIPURI, URI, AbsoluteURI, TelURI, parse_uri

__all__ = [
    "COMPACT_FORMS",
    "MAX_HEADERS",
    "MAX_MESSAGE_SIZE",
    "REASON_PHRASES",
    "SIPURI",
    "URI",
    "AbsoluteURI",
    "CSeq",
    "Headers",
    "KeepAlive",
    "NameAddress",
    "SIPMessage",
    "SIPRequest",
    "SIPResponse",
    "StreamFramer",
    "TelURI",
    "VersionNotSupported",
    "Via",
    "canonical_name",
    "parse_message",
    "parse_uri",
    "reason_phrase",
    "salvage_for_400",
    "split_header_list",
    "validate_request",
    "validate_response",
]
