"""SDP: session descriptions [RFC 8866] and the offer/answer model [RFC 3264].

Pure and synchronous: bytes in, objects out, and back.

>>> from voip_core.sdp import MediaFormat, SessionDescription, create_offer
>>> offer = create_offer([MediaFormat(0, "PCMU", 8000)], address="192.0.2.1",
...                      port=4000, session_id=1)
>>> SessionDescription.parse(offer.serialize()) == offer
True
"""

from __future__ import annotations

from voip_core.sdp.description import (
    DIRECTIONS,
    Attribute,
    Bandwidth,
    Connection,
    CryptoAttribute,
    MediaDescription,
    Origin,
    SessionDescription,
    Timing,
)
from voip_core.sdp.negotiation import (
    STATIC_PAYLOAD_TYPES,
    MediaFormat,
    assign_payload_types,
    create_answer,
    create_offer,
    negotiate_formats,
    reverse_direction,
)

__all__ = [
    "DIRECTIONS",
    "STATIC_PAYLOAD_TYPES",
    "Attribute",
    "Bandwidth",
    "Connection",
    "CryptoAttribute",
    "MediaDescription",
    "MediaFormat",
    "Origin",
    "SessionDescription",
    "Timing",
    "assign_payload_types",
    "create_answer",
    "create_offer",
    "negotiate_formats",
    "reverse_direction",
]
