"""SIP messages: bytes in, :class:`SIPRequest` / :class:`SIPResponse` out, and back.

Parsing follows [RFC 3261 §7] and is strict about framing and lazy about
meaning: :func:`parse_message` checks the start line, splits and unfolds the
header fields, decodes them as UTF-8 and frames the body by Content-Length;
the header values the stack reads are parsed on first use by the typed
accessors of :class:`SIPMessage` (``.via``, ``.cseq``, ``.to`` ...), which
raise :class:`~voip_core.errors.ParseError` naming the header when one is
malformed. :func:`validate_request` and :func:`validate_response` run all of
them at once and add the cross-header rules, so that a UAS can answer 400
with the headers it does have; :func:`salvage_for_400` builds that 400 from
bytes that did not even parse.

What the parser accepts beyond the letter of RFC 3261, and why:

* CRLFs before the start line are skipped [RFC 3261 §7.5]; a bare LF is
  accepted as a line end.
* A datagram whose header fields run to its end without the empty line is
  accepted, with an empty body (a real SER proxy sends such ACKs, and
  RFC 4475's ``baddn.dat`` has no empty line either).
* A missing Content-Length means "the rest of the datagram" [RFC 3261 §18.3];
  a smaller one truncates the body [RFC 4475 §3.1.1.8]. A larger one, a
  negative or non-numeric one and two different ones are rejected
  [RFC 4475 §3.1.2.2, §3.1.2.3, §3.3.9]. Over TCP and TLS the
  :class:`StreamFramer` requires Content-Length.

What it rejects: a Request-Line that is not exactly ``Method SP URI SP
SIP/2.0`` (extra or trailing spaces, LWS or ``<>`` in the URI
[RFC 4475 §3.1.2.7-10]), status codes outside 100..699 [RFC 4475 §3.1.2.19],
other SIP versions (:class:`VersionNotSupported`, so that a UAS can answer
505), bad UTF-8 in the header section, a lone CR, header lines without a
colon or with a name that is not a token, more than :data:`MAX_HEADERS`
header fields and messages over :data:`MAX_MESSAGE_SIZE` bytes.

Familiar texts are parsed once: header lines, Request-URIs and the values
of From, To, Contact, Via and CSeq met before come from bounded memo
tables, as fresh copies (:mod:`voip_core.sip.memo`).

Everything named here is importable from this module; it lives in:

* :mod:`voip_core.sip.parser`: :func:`parse_message`, :data:`MAX_HEADERS`,
  :class:`VersionNotSupported`;
* :mod:`voip_core.sip.message_types`: :class:`SIPMessage`,
  :class:`SIPRequest`, :class:`SIPResponse` and their typed accessors;
* :mod:`voip_core.sip.validation`: :func:`validate_request`,
  :func:`validate_response`, :func:`salvage_for_400`;
* :mod:`voip_core.sip.framing`: :class:`StreamFramer`, :class:`KeepAlive`,
  :data:`MAX_MESSAGE_SIZE`;
* :mod:`voip_core.sip.reasons`: :data:`REASON_PHRASES`, :func:`reason_phrase`.

>>> request = parse_message(
...     b"OPTIONS sip:bob@example.com SIP/2.0\\r\\n"
...     b"v: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK77\\r\\n"
...     b"f: <sip:alice@example.com>;tag=1\\r\\nt: <sip:bob@example.com>\\r\\n"
...     b"i: 42@192.0.2.1\\r\\nCSeq: 1 OPTIONS\\r\\nMax-Forwards: 70\\r\\n\\r\\n"
... )
>>> request.via[0].branch, request.cseq, request.from_header.tag
('z9hG4bK77', CSeq(number=1, method='OPTIONS'), '1')
>>> response = request.create_response(200, to_tag="x")
>>> response.to.tag, response.reason
('x', 'OK')
"""

from voip_core.errors import ParseError as ParseError
from voip_core.sip.framing import MAX_MESSAGE_SIZE, KeepAlive, StreamFramer
from voip_core.sip.header_values import CSeq as CSeq
from voip_core.sip.header_values import NameAddress as NameAddress
from voip_core.sip.header_values import Via as Via
from voip_core.sip.headers import Headers
from voip_core.sip.headers import header_key as header_key
from voip_core.sip.headers import split_header_list as split_header_list
from voip_core.sip.message_types import SIPMessage, SIPRequest, SIPResponse
from voip_core.sip.parser import MAX_HEADERS, VersionNotSupported, parse_message
from voip_core.sip.reasons import REASON_PHRASES, reason_phrase
from voip_core.sip.uri import SIPURI as SIPURI
from voip_core.sip.uri import URI as URI
from voip_core.sip.uri import AbsoluteURI as AbsoluteURI
from voip_core.sip.uri import parse_uri as parse_uri
from voip_core.sip.validation import salvage_for_400, validate_request, validate_response

__all__ = [
    "MAX_HEADERS",
    "MAX_MESSAGE_SIZE",
    "REASON_PHRASES",
    "Headers",
    "KeepAlive",
    "SIPMessage",
    "SIPRequest",
    "SIPResponse",
    "StreamFramer",
    "VersionNotSupported",
    "parse_message",
    "reason_phrase",
    "salvage_for_400",
    "validate_request",
    "validate_response",
]
