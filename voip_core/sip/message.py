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

from __future__ import annotations

import enum
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import repeat
from typing import ClassVar, cast

from voip_core.errors import ParseError
from voip_core.sip.headers import (
    _CANONICAL,
    _KNOWN_METHODS,
    _NAME_KEYS,
    _TOKEN,
    _VIA,
    CSeq,
    Headers,
    NameAddress,
    Via,
    _key_of_name,
    header_key,
    split_header_list,
)
from voip_core.sip.uri import _SIP_URI, SIPURI, URI, AbsoluteURI, parse_uri

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

#: Largest message accepted, in bytes: the largest UDP payload; the stream
#: framer enforces it too, so that a peer cannot make us buffer without end.
MAX_MESSAGE_SIZE = 65535
#: Most header fields (after unfolding) one message may have.
MAX_HEADERS = 256

#: Reason phrases for the status codes of [RFC 3261 §21] and of later RFCs
#: (3265, 3329, 3903, 4028, 4412, 4474, 5360, 5626, 5839, 6086, 6228, 8197...).
REASON_PHRASES: dict[int, str] = {
    100: "Trying",
    180: "Ringing",
    181: "Call Is Being Forwarded",
    182: "Queued",
    183: "Session Progress",
    199: "Early Dialog Terminated",
    200: "OK",
    202: "Accepted",
    204: "No Notification",
    300: "Multiple Choices",
    301: "Moved Permanently",
    302: "Moved Temporarily",
    305: "Use Proxy",
    380: "Alternative Service",
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    410: "Gone",
    412: "Conditional Request Failed",
    413: "Request Entity Too Large",
    414: "Request-URI Too Long",
    415: "Unsupported Media Type",
    416: "Unsupported URI Scheme",
    417: "Unknown Resource-Priority",
    420: "Bad Extension",
    421: "Extension Required",
    422: "Session Interval Too Small",
    423: "Interval Too Brief",
    428: "Use Identity Header",
    429: "Provide Referrer Identity",
    433: "Anonymity Disallowed",
    436: "Bad Identity-Info",
    437: "Unsupported Certificate",
    438: "Invalid Identity Header",
    439: "First Hop Lacks Outbound Support",
    440: "Max-Breadth Exceeded",
    469: "Bad Info Package",
    470: "Consent Needed",
    480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist",
    482: "Loop Detected",
    483: "Too Many Hops",
    484: "Address Incomplete",
    485: "Ambiguous",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    489: "Bad Event",
    491: "Request Pending",
    493: "Undecipherable",
    494: "Security Agreement Required",
    500: "Server Internal Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Server Time-out",
    505: "Version Not Supported",
    513: "Message Too Large",
    555: "Push Notification Service Not Supported",
    580: "Precondition Failure",
    600: "Busy Everywhere",
    603: "Decline",
    604: "Does Not Exist Anywhere",
    606: "Not Acceptable",
    607: "Unwanted",
    608: "Rejected",
}
_CLASS_PHRASES = {
    1: "Provisional",
    2: "Success",
    3: "Redirection",
    4: "Client Error",
    5: "Server Error",
    6: "Global Failure",
}

_FIELD = "{}: {}\r\n"
_SIP_VERSION = re.compile(r"SIP/[0-9]+\.[0-9]+", re.IGNORECASE)
_REASON_UNSAFE = re.compile(r"[^A-Za-z0-9 \-_.!~*'();/?:@&=+$,\x80-\U0010ffff]")


def reason_phrase(status_code: int) -> str:
    """The usual reason phrase of ``status_code``, or its class's name [RFC 3261 §21].

    >>> reason_phrase(486), reason_phrase(499)
    ('Busy Here', 'Client Error')
    """
    return REASON_PHRASES.get(status_code) or _CLASS_PHRASES.get(status_code // 100, "Unknown")


class VersionNotSupported(ParseError):
    """A message whose SIP-Version is not SIP/2.0 [RFC 3261 §7.1].

    A UAS answers such a request with 505 Version Not Supported
    [RFC 3261 §21.5.6, RFC 4475 §3.1.2.16]; ``sip_message`` is
    the message as parsed otherwise (``None`` when nothing else could be
    parsed), so ``error.sip_message.create_response(505)`` builds the answer.

    Args:
        message: What is wrong, in words.
        version: The version as received.
        sip_message: The rest of the message, parsed.
    """

    def __init__(
        self,
        message: str,
        *,
        version: str,
        sip_message: SIPRequest | SIPResponse | None = None,
        line: str | None = None,
        line_number: int | None = None,
    ) -> None:
        super().__init__(message, line=line, line_number=line_number)
        self.version = version
        self.sip_message = sip_message


def _single(headers: Headers, key: str) -> str:
    """The one value of a single-valued header; ParseError if missing or repeated."""
    keys = headers._keys
    if keys.count(key) == 1:
        return headers._values[keys.index(key)]
    values = headers._lines(key)
    name = _CANONICAL[key]
    if not values:
        raise ParseError(f"missing {name} header [RFC 3261 §8.1.1]")
    raise ParseError(f"{name} header appears {len(values)} times [RFC 3261 §7.3.1]")


def _name_addresses(headers: Headers, key: str) -> tuple[NameAddress, ...]:
    try:
        return tuple(NameAddress.parse(value) for value in headers.get_all(key))
    except ParseError as error:
        raise ParseError(f"bad {_CANONICAL[key]} header: {error}") from None


def _parse_vias(headers: Headers) -> tuple[Via, ...]:
    keys = headers._keys
    if keys.count("via") == 1:
        value = headers._values[keys.index("via")]
        if "," not in value:
            return (Via.parse(value),)
        return tuple(map(Via.parse, split_header_list(value)))
    values = headers._lines("via")
    return tuple(Via.parse(item) for value in values for item in split_header_list(value))


def _parse_call_id(headers: Headers) -> str:
    value = _single(headers, "call-id")
    if not value or " " in value or "\t" in value or not value.isprintable():
        raise ParseError(f"bad Call-ID {value[:80]!r} [RFC 3261 §20.8]")
    return value


def _parse_address(headers: Headers, key: str) -> NameAddress:
    value = _single(headers, key)
    try:
        return NameAddress.parse(value)
    except ParseError as error:
        raise ParseError(f"bad {_CANONICAL[key]} header: {error}") from None


def _parse_contacts(headers: Headers) -> tuple[NameAddress, ...]:
    keys = headers._keys
    count = keys.count("contact")
    if count == 0:
        return ()
    value = headers._values[keys.index("contact")]
    if count == 1 and "," not in value:
        if value == "*":
            return (NameAddress(None, AbsoluteURI("*"), {}),)
        try:
            return (NameAddress.parse(value),)
        except ParseError as error:
            raise ParseError(f"bad Contact header: {error}") from None
    if "*" in headers.get_all("contact"):
        raise ParseError("Contact: * must be the only Contact [RFC 3261 §10.2.2]")
    return _name_addresses(headers, "contact")


def _parse_max_forwards(headers: Headers) -> int | None:
    values = headers.get_lines("max-forwards")
    if not values:
        return None
    value = _single(headers, "max-forwards")
    if not (value.isascii() and value.isdigit()) or len(value.lstrip("0")) > 3:
        raise ParseError(f"Max-Forwards {value[:40]!r} is not 0..255 [RFC 3261 §20.22]")
    number = int(value)
    if number > 255:
        raise ParseError(f"Max-Forwards {number} is not 0..255 [RFC 3261 §20.22]")
    return number


def _parse_content_type(headers: Headers) -> str | None:
    values = headers.get_lines("content-type")
    if not values:
        return None
    value = _single(headers, "content-type")
    media_type, _, subtype = value.partition(";")[0].partition("/")
    if _TOKEN.fullmatch(media_type.strip(" \t")) is None or (
        _TOKEN.fullmatch(subtype.strip(" \t")) is None
    ):
        raise ParseError(f"bad Content-Type {value[:80]!r} [RFC 3261 §20.15]")
    return value


def _content_length_value(value: str) -> int:
    if not (value.isascii() and value.isdigit()) or len(value.lstrip("0")) > 9:
        raise ParseError(f"bad Content-Length {value[:40]!r} [RFC 3261 §20.14]")
    return int(value)


class SIPMessage:
    """What requests and responses share: headers, body, typed accessors, serialisation.

    The typed accessors parse their header on first use and cache the result
    in :attr:`headers` (see :meth:`Headers.parsed`); any change to the
    headers drops the cache. The values they return are shared with that
    cache: treat them as read-only and write changes back with
    ``headers.set(name, str(new_value))``. A malformed or (for a
    single-valued header) missing or repeated header raises
    :class:`~voip_core.errors.ParseError` naming it.
    """

    __slots__ = ()

    headers: Headers
    body: bytes
    version: str
    is_request: ClassVar[bool] = False
    is_response: ClassVar[bool] = False

    @property
    def start_line(self) -> str:
        """The Request-Line or Status-Line, without CRLF [RFC 3261 §7.1, §7.2]."""
        raise NotImplementedError

    # Typed accessors -----------------------------------------------------------------------

    @property
    def via(self) -> list[Via]:
        """Every Via value, topmost first [RFC 3261 §20.42]; empty when there is none."""
        # The six accessors a user agent reads for every message cache by
        # hand: Headers.parsed does the same with one call more.
        headers = self.headers
        vias = headers._cache.get("via")
        if vias is None:
            vias = headers._cache["via"] = _parse_vias(headers)
        return list(vias)

    @property
    def call_id(self) -> str:
        """The Call-ID [RFC 3261 §20.8] (any printable text without white space)."""
        headers = self.headers
        call_id = headers._cache.get("call-id")
        if call_id is None:
            call_id = headers._cache["call-id"] = _parse_call_id(headers)
        return call_id

    @property
    def cseq(self) -> CSeq:
        """The CSeq [RFC 3261 §20.16]."""
        headers = self.headers
        cseq = headers._cache.get("cseq")
        if cseq is None:
            keys = headers._keys
            if keys.count("cseq") == 1:
                cseq = CSeq.parse(headers._values[keys.index("cseq")])
            else:
                cseq = CSeq.parse(_single(headers, "cseq"))
            headers._cache["cseq"] = cseq
        return cseq

    @property
    def from_header(self) -> NameAddress:
        """The From header [RFC 3261 §20.20]."""
        headers = self.headers
        address = headers._cache.get("from")
        if address is None:
            keys = headers._keys
            if keys.count("from") == 1:
                try:
                    address = NameAddress.parse(headers._values[keys.index("from")])
                except ParseError as error:
                    raise ParseError(f"bad From header: {error}") from None
            else:
                address = _parse_address(headers, "from")
            headers._cache["from"] = address
        return address

    @property
    def to(self) -> NameAddress:
        """The To header [RFC 3261 §20.39]."""
        headers = self.headers
        address = headers._cache.get("to")
        if address is None:
            keys = headers._keys
            if keys.count("to") == 1:
                try:
                    address = NameAddress.parse(headers._values[keys.index("to")])
                except ParseError as error:
                    raise ParseError(f"bad To header: {error}") from None
            else:
                address = _parse_address(headers, "to")
            headers._cache["to"] = address
        return address

    @property
    def contact(self) -> list[NameAddress]:
        """Every Contact value [RFC 3261 §20.10]; empty for none.

        ``Contact: *`` (remove all bindings, [RFC 3261 §10.2.2]) gives one
        entry whose ``uri`` is ``AbsoluteURI("*")``.
        """
        headers = self.headers
        contacts = headers._cache.get("contact")
        if contacts is None:
            contacts = headers._cache["contact"] = _parse_contacts(headers)
        return list(contacts)

    @property
    def max_forwards(self) -> int | None:
        """Max-Forwards 0..255, ``None`` when absent [RFC 3261 §20.22]."""
        return self.headers.parsed("max-forwards", _parse_max_forwards)

    @property
    def content_length(self) -> int:
        """The Content-Length header's value, or ``len(body)`` when there is none.

        :meth:`serialize` always writes ``len(body)``, whatever this says.
        """
        values = self.headers.get_lines("content-length")
        if not values:
            return len(self.body)
        if len(set(values)) > 1:
            raise ParseError(f"conflicting Content-Length values [RFC 3261 §20.14]: {values[:4]}")
        return _content_length_value(values[0])

    @property
    def content_type(self) -> str | None:
        """The Content-Type value as written (``application/sdp``), ``None`` if absent.

        Checked to start with ``type/subtype`` [RFC 3261 §20.15].
        """
        return self.headers.parsed("content-type", _parse_content_type)

    @property
    def record_route(self) -> list[NameAddress]:
        """Every Record-Route value, in order [RFC 3261 §20.30]."""
        return list(
            self.headers.parsed("record-route", lambda h: _name_addresses(h, "record-route"))
        )

    @property
    def route(self) -> list[NameAddress]:
        """Every Route value, in order [RFC 3261 §20.34]."""
        return list(self.headers.parsed("route", lambda h: _name_addresses(h, "route")))

    # Serialisation -------------------------------------------------------------------------

    def serialize(self) -> bytes:
        """The message as bytes: CRLF line ends, canonical names, a correct Content-Length.

        Content-Length is written where the first one was, or last, and
        always says ``len(body)`` [RFC 3261 §7.4.2, §20.14].
        """
        body = self.body
        headers = self.headers
        keys = headers._keys
        names = map(_CANONICAL.get, keys, headers._names)
        if "content-length" not in keys:
            fields = "".join(map(_FIELD.format, names, headers._values))
            return (
                f"{self.start_line}\r\n{fields}Content-Length: {len(body)}\r\n\r\n".encode() + body
            )
        values = list(headers._values)
        first = keys.index("content-length")
        values[first] = str(len(body))
        if keys.count("content-length") == 1:
            fields = "".join(map(_FIELD.format, names, values))
        else:
            fields = "".join(
                _FIELD.format(name, value)
                for index, (key, name, value) in enumerate(zip(keys, names, values, strict=True))
                if key != "content-length" or index == first
            )
        return f"{self.start_line}\r\n{fields}\r\n".encode() + body

    def __bytes__(self) -> bytes:
        return self.serialize()


@dataclass(slots=True)
class SIPRequest(SIPMessage):
    """A SIP request [RFC 3261 §7.1].

    Attributes:
        method: The method, case-sensitive (``INVITE``, ``OPTIONS``, or any token).
        uri: The Request-URI.
        headers: The header fields, in order.
        body: The message body (Content-Length is computed on serialisation).
        version: Always ``SIP/2.0`` for a parsed message.
    """

    method: str
    uri: URI
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""
    version: str = "SIP/2.0"

    is_request: ClassVar[bool] = True

    @property
    def start_line(self) -> str:
        """``METHOD uri SIP/2.0`` [RFC 3261 §7.1]."""
        return f"{self.method} {self.uri} {self.version}"

    def create_response(
        self,
        status_code: int,
        reason: str | None = None,
        *,
        to_tag: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
    ) -> SIPResponse:
        """A response to this request, built per [RFC 3261 §8.2.6].

        Copies every Via (in order), From, To, Call-ID and CSeq, and for 100
        Trying also Timestamp [RFC 3261 §8.2.6.1]; adds ``to_tag`` to To
        when To has no tag yet [RFC 3261 §8.2.6.2]. Header fields are copied
        as text, so a request with a malformed or missing one still gets an
        answer (a 400 to what :func:`validate_request` refused). Record-Route
        is *not* copied: the dialog layer adds it to responses that create a
        dialog [RFC 3261 §12.1.1] (pass ``headers=``).

        Args:
            status_code: 100..699.
            reason: The reason phrase; default from :data:`REASON_PHRASES`.
            to_tag: The tag to add to To when it has none.
            headers: More ``(name, value)`` fields to append.

        Raises:
            ValueError: ``status_code`` out of range, or a bad header or reason.
        """
        if not 100 <= status_code <= 699:
            raise ValueError(f"status code {status_code} is not 100..699 [RFC 3261 §7.2]")
        if reason is None:
            reason = reason_phrase(status_code)
        elif "\r" in reason or "\n" in reason:
            raise ValueError("a reason phrase may not contain CR or LF")
        keys: list[str] = []
        values: list[str] = []
        for key in _COPIED_TO_100 if status_code == 100 else _COPIED:
            for value in self.headers._lines(key):
                keys.append(key)
                values.append(
                    value if key != "to" or to_tag is None else _with_to_tag(value, to_tag)
                )
        names = [_CANONICAL[key] for key in keys]
        response = SIPResponse(status_code, reason, Headers._adopt(keys, names, values))
        for name, value in headers:
            response.headers.add(name, value)
        return response


#: What a response copies from its request [RFC 3261 §8.2.6.1].
_COPIED = ("via", "from", "to", "call-id", "cseq")
_COPIED_TO_100 = (*_COPIED, "timestamp")


def _with_to_tag(value: str, tag: str) -> str:
    """``value`` with ``;tag=`` appended unless it has a tag or cannot be parsed."""
    try:
        if NameAddress.parse(value).tag is not None:
            return value
    except ParseError:
        return value
    return f"{value};tag={tag}"


@dataclass(slots=True)
class SIPResponse(SIPMessage):
    """A SIP response [RFC 3261 §7.2].

    Attributes:
        status_code: 100..699.
        reason: The reason phrase (may be empty [RFC 4475 §3.1.1.13], may be UTF-8).
        headers: The header fields, in order.
        body: The message body.
        version: Always ``SIP/2.0`` for a parsed message.
    """

    status_code: int
    reason: str
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""
    version: str = "SIP/2.0"

    is_response: ClassVar[bool] = True

    @property
    def start_line(self) -> str:
        """``SIP/2.0 code reason`` [RFC 3261 §7.2]."""
        return f"{self.version} {self.status_code} {self.reason}"


# Parsing -------------------------------------------------------------------------------

_COLON = repeat(":")
_LWS = repeat(" \t")


def _blank_line(data: bytes | bytearray, start: int) -> tuple[int, int] | None:
    """Where the first empty line starts (the header section's end) and ends (the body's start).

    CRLF CRLF [RFC 3261 §7], or the same with bare LFs; ``None`` when there is none.
    """
    end = data.find(b"\r\n\r\n", start)
    limit = len(data) if end == -1 else end
    bare = data.find(b"\n\n", start, limit)
    mixed = data.find(b"\n\r\n", start, limit)
    if bare == -1 and mixed == -1:
        return None if end == -1 else (end, end + 4)
    if mixed == -1 or (bare != -1 and bare < mixed):
        return (bare - 1 if data[bare - 1 : bare] == b"\r" else bare), bare + 2
    return mixed, mixed + 3


def _decode(data: bytes, start: int, end: int) -> str:
    try:
        return data[start:end].decode()
    except UnicodeDecodeError as error:
        offset = start + error.start
        number = data.count(b"\n", start, offset) + 1
        raise ParseError(
            "header section is not valid UTF-8 [RFC 3261 §7.3.1]",
            offset=offset,
            line_number=number,
        ) from None


def _lenient_lines(data: bytes, start: int) -> tuple[list[str], int]:
    """The start line and header lines, and where the body starts, for unusual framing.

    Bare LF line ends are accepted; a header section that runs to the end
    of the datagram without an empty line gives an empty body; a CR that is
    not part of a CRLF is refused [RFC 3261 §7].
    """
    found = _blank_line(data, start)
    if found is None:
        end = body_start = len(data)
        if data.endswith(b"\n"):
            end -= 2 if data.endswith(b"\r\n") else 1
    else:
        end, body_start = found
    text = _decode(data, start, max(start, end))
    if "\r" in text:
        text = text.replace("\r\n", "\n")
        if "\r" in text:
            raise ParseError(
                "CR without LF in header section [RFC 3261 §7]",
                line_number=text.count("\n", 0, text.index("\r")) + 1,
            )
    return text.split("\n"), body_start


def _fields_slowly(lines: list[str]) -> tuple[list[str], list[str]]:
    """Names and values of header lines with folding, LWS before colons or errors."""
    names: list[str] = []
    values: list[str] = []
    for number, line in enumerate(lines, start=2):
        if line[:1] in (" ", "\t"):  # folded: join with one SP [RFC 3261 §7.3.1]
            if not names:
                raise ParseError(
                    "continuation line before the first header [RFC 3261 §7.3.1]",
                    line=line[:80],
                    line_number=number,
                )
            values[-1] = (values[-1] + " " + line.strip(" \t")).strip(" \t")
            continue
        name, colon, value = line.partition(":")
        if not colon:
            raise ParseError(
                "header line without ':' [RFC 3261 §7.3.1]", line=line[:80], line_number=number
            )
        name = name.rstrip(" \t")
        if _TOKEN.fullmatch(name) is None:
            raise ParseError(
                "header name is not a token [RFC 3261 §7.3.1]", line=line[:80], line_number=number
            )
        names.append(name)
        values.append(value.strip(" \t"))
    return names, [value.strip(" \t") for value in values]


def _check_version(version: str, first_line: str) -> str | None:
    """``"SIP/2.0"``, or ``None`` for another well-formed version; ParseError otherwise."""
    if version == "SIP/2.0":
        return version
    if _SIP_VERSION.fullmatch(version) is None:
        raise ParseError("bad SIP-Version [RFC 3261 §7.1]", line=first_line[:80], line_number=1)
    return "SIP/2.0" if version.upper() == "SIP/2.0" else None


def parse_message(data: bytes) -> SIPRequest | SIPResponse:
    """Parse one SIP message: a UDP datagram, or one message cut by :class:`StreamFramer`.

    See the module documentation for exactly what is accepted. Header values
    are parsed later, on first use of the typed accessors.

    Raises:
        VersionNotSupported: the version is not SIP/2.0 (the rest is parsed
            and attached, so that a UAS can answer 505).
        ParseError: anything else that breaks [RFC 3261 §7]'s framing.
    """
    size = len(data)
    if size > MAX_MESSAGE_SIZE:
        raise ParseError(f"message of {size} bytes exceeds {MAX_MESSAGE_SIZE} [RFC 3261 §18.1.1]")
    start = 0
    if data[:1] in (b"\r", b"\n", b""):  # CRLFs before the start line are ignored [RFC 3261 §7.5]
        start = size - len(data.lstrip(b"\r\n"))
        if start == size:
            raise ParseError("empty message [RFC 3261 §7]")
    # The common case, CRLF throughout and an empty line, takes this path;
    # anything else is sorted out by _lenient_lines.
    end = data.find(b"\r\n\r\n", start)
    lines: list[str] | None = None
    if end != -1:
        try:
            text = data[start:end].decode()
        except UnicodeDecodeError:
            pass  # _lenient_lines says where
        else:
            lines = text.split("\r\n")
            line_ends = len(lines) - 1
            if text.count("\n") != line_ends or text.count("\r") != line_ends:
                lines = None
            body_start = end + 4
    if lines is None:
        lines, body_start = _lenient_lines(data, start)
    first_line = lines[0]

    # Start line [RFC 3261 §7.1, §7.2].
    version: str | None
    uri: URI | None = None
    if first_line[:4] == "SIP/" or first_line[:4].upper() == "SIP/":
        version_text, _, rest = first_line.partition(" ")
        code, _, reason = rest.partition(" ")
        if not (len(code) == 3 and code.isascii() and code.isdigit()) or code[0] in "0789":
            raise ParseError(
                "status code must be 100..699 [RFC 3261 §7.2]",
                line=first_line[:80],
                line_number=1,
            )
        version = _check_version(version_text, first_line)
    else:
        parts = first_line.split(" ")
        if len(parts) != 3:
            raise ParseError(
                "Request-Line must be 'Method SP Request-URI SP SIP-Version' [RFC 3261 §7.1]",
                line=first_line[:80],
                line_number=1,
            )
        method, uri_text, version_text = parts
        if method not in _KNOWN_METHODS and _TOKEN.fullmatch(method) is None:
            raise ParseError(
                "method is not a token [RFC 3261 §25.1]", line=first_line[:80], line_number=1
            )
        version = _check_version(version_text, first_line)
        match = _SIP_URI.fullmatch(uri_text)
        if match is not None:
            uri = SIPURI._from_groups(*match.groups())
        else:
            try:
                uri = parse_uri(uri_text)
            except ParseError as error:
                raise ParseError(f"bad Request-URI: {error}", line_number=1) from None

    # Header fields [RFC 3261 §7.3]: split at the first colon, names checked
    # all at once; folding and LWS before a colon take the slow path.
    header_lines = lines[1:]
    names: list[str]
    values: list[str]
    if not header_lines:
        names, values, keys = [], [], []
    else:
        split_names, colons, raw_values = zip(
            *map(str.partition, header_lines, _COLON), strict=True
        )
        found = list(map(_NAME_KEYS.get, split_names))
        if None in found and "" not in colons:  # names not met before: check and learn them
            found = list(map(_key_of_name, split_names))
        if None not in found and "" not in colons:
            keys = cast(list[str], found)
            names = list(split_names)
            values = list(map(str.strip, raw_values, _LWS))
        else:  # folding, LWS before a colon, or an error
            names, values = _fields_slowly(header_lines)
            keys = list(map(header_key, names))
        if len(names) > MAX_HEADERS:
            raise ParseError(f"more than {MAX_HEADERS} header fields")

    # Body, framed by Content-Length [RFC 3261 §7.4.2, §18.3].
    size = len(data)
    if "content-length" not in keys:
        body = data[body_start:]
    else:
        index = keys.index("content-length")
        length_text = values[index]
        if keys.count("content-length") > 1:
            lengths = {
                value for key, value in zip(keys, values, strict=True) if key == "content-length"
            }
            if len(lengths) > 1:
                raise ParseError(
                    f"conflicting Content-Length values {', '.join(sorted(lengths))[:80]} "
                    "[RFC 3261 §20.14]"
                )
        if length_text.isdigit() and len(length_text) < 10 and length_text.isascii():
            length = int(length_text)
        else:
            length = _content_length_value(length_text)
        available = size - body_start
        if length > available:
            raise ParseError(
                f"Content-Length {length} exceeds the {available} bytes after the header "
                "section [RFC 3261 §18.3]"
            )
        body = data[body_start : body_start + length]

    headers = Headers._adopt(keys, names, values)
    message: SIPRequest | SIPResponse
    if uri is None:
        message = SIPResponse(int(code), reason, headers, body)
    else:
        message = SIPRequest(method, uri, headers, body)
    if version is None:
        raise VersionNotSupported(
            "SIP version not supported [RFC 3261 §7.1]",
            version=version_text,
            sip_message=message,
            line=first_line[:80],
            line_number=1,
        )
    return message


# Validation ----------------------------------------------------------------------------

_MANDATORY = (
    ("via", "Via"),
    ("to", "To"),
    ("from", "From"),
    ("call-id", "Call-ID"),
    ("cseq", "CSeq"),
)


def _validate_common(message: SIPMessage) -> None:
    headers = message.headers
    missing = [name for key, name in _MANDATORY if key not in headers]
    if missing:
        raise ParseError(f"missing {', '.join(missing)} [RFC 3261 §8.1.1]")
    if not message.via:
        raise ParseError("empty Via header [RFC 3261 §20.42]")
    # Each accessor parses its header and raises ParseError naming it.
    _ = (message.to, message.from_header, message.call_id, message.cseq, message.contact)
    _ = (message.record_route, message.content_length)
    if message.content_type is None and message.body:
        raise ParseError("a body without Content-Type [RFC 3261 §20.15]")


def validate_request(request: SIPRequest) -> None:
    """Check what a UAS needs before it can process ``request`` [RFC 3261 §8.2].

    Via, To, From, Call-ID and CSeq must be present, once each (Via at least
    once) and well-formed [RFC 3261 §8.1.1]; the CSeq method must match the
    Request-Line's [RFC 3261 §8.1.1.5, RFC 4475 §3.1.2.17]; Max-Forwards
    (optional, for RFC 2543 peers), Contact, Route, Record-Route and
    Content-Type must parse; a body needs a Content-Type [RFC 3261 §20.15];
    a SIP Request-URI may not carry headers [RFC 3261 §19.1.1,
    RFC 4475 §3.1.2.11]. A From without tag is accepted (RFC 2543
    [RFC 4475 §3.4.1]).

    On ParseError a UAS answers ``request.create_response(400, ...)`` naming
    the problem; that works even with headers missing.

    Raises:
        ParseError: naming the first problem found.
    """
    _validate_common(request)
    cseq = request.cseq
    if cseq.method != request.method:
        raise ParseError(
            f"CSeq method {cseq.method!r} does not match {request.method!r} [RFC 3261 §8.1.1.5]"
        )
    _ = (request.max_forwards, request.route)
    if isinstance(request.uri, SIPURI) and request.uri.headers:
        raise ParseError("headers are not allowed in a Request-URI [RFC 3261 §19.1.1]")


def validate_response(response: SIPResponse) -> None:
    """Check a response before a UAC matches it: Via, To, From, Call-ID, CSeq [RFC 3261 §8.1.3].

    A client simply discards a response that fails [RFC 4475 §3.1.2.5].

    Raises:
        ParseError: naming the first problem found.
    """
    _validate_common(response)


# Salvage -------------------------------------------------------------------------------

_SALVAGED = frozenset(("via", "from", "to", "call-id", "cseq"))


def _reason_for(error: ParseError) -> str:
    """A reason phrase naming ``error``, with only characters Reason-Phrase allows."""
    text = str(error).split(" [RFC", 1)[0].split(" (line ", 1)[0]
    text = " ".join(_REASON_UNSAFE.sub("", text).split())[:100].rstrip()
    return f"Bad Request ({text})" if text else "Bad Request"


def _problem(data: bytes) -> ParseError | None:
    try:
        message = parse_message(data)
        if isinstance(message, SIPRequest):
            validate_request(message)
    except ParseError as error:
        return error
    return None


def salvage_for_400(data: bytes, *, to_tag: str | None = None) -> SIPResponse | None:
    """A 400 Bad Request for a request that did not parse, when one can be addressed.

    Scans the raw header lines for Via, From, To, Call-ID and CSeq
    [RFC 3261 §8.2.6.1]. When all are found (with a readable sent-by in
    the top Via, so that the answer can be addressed, and a CSeq of digits
    and a method, so that the client can match it), the result is a
    400 whose reason phrase names the problem (``Bad Request (Content-Length
    9999 exceeds ...)``); a random To tag is added when To has none and
    ``to_tag`` is not given. ``None`` means the message cannot be answered:
    it is a response, or an ACK (never answered [RFC 3261 §17.2.1]), or one
    of those headers is missing or unusable; a UAS then drops it with one
    log line.

    It does not judge the message: given one that parses and validates, it
    still builds a plain ``Bad Request``. For a request that parsed but
    failed :func:`validate_request`, ``request.create_response(400, ...)``
    answers too, even with From, To or Call-ID missing [RFC 4475 §3.3.1].
    """
    data = data[:MAX_MESSAGE_SIZE]
    stripped = data.lstrip(b"\r\n")
    found_blank = _blank_line(stripped, 0)
    end = len(stripped) if found_blank is None else found_blank[0]
    raw_lines = stripped[:end].split(b"\n")
    start_line = raw_lines[0].rstrip(b"\r")
    if start_line[:4].upper() == b"SIP/":
        return None
    found: dict[str, list[str]] = {key: [] for key in _SALVAGED}
    current: str | None = None
    for raw in raw_lines[1 : MAX_HEADERS * 4]:
        raw = raw.rstrip(b"\r")
        try:
            line = raw.decode()
        except UnicodeDecodeError:
            current = None
            continue
        if "\r" in line or "\x00" in line:
            current = None
            continue
        if line[:1] in (" ", "\t"):
            if current is not None and found[current]:
                found[current][-1] = (found[current][-1] + " " + line.strip(" \t")).strip(" \t")
            continue
        name, colon, value = line.partition(":")
        key = header_key(name.rstrip(" \t"))
        current = key if colon and key in _SALVAGED else None
        if current is not None:
            found[current].append(value.strip(" \t"))
    if not all(found[key] and found[key][0] for key in _SALVAGED):
        return None
    # The client needs its top Via back to match the answer, and a readable
    # sent-by lets the transport address it [RFC 3261 §18.2.2]; its parameters
    # may be broken (RFC 4475 §3.1.2.1). Of CSeq, the method must be readable
    # and the number digits, whatever their size (RFC 4475 §3.1.2.4).
    top_via = split_header_list(found["via"][0])
    sent_by = _VIA.match(top_via[0]) if top_via else None
    cseq_fields = found["cseq"][0].split()
    if (
        sent_by is None
        or top_via[0][sent_by.end() :].lstrip(" \t")[:1] not in ("", ";")
        or len(cseq_fields) != 2
        or not (cseq_fields[0].isascii() and cseq_fields[0].isdigit())
        or _TOKEN.fullmatch(cseq_fields[1]) is None
    ):
        return None
    if cseq_fields[1] == "ACK" or start_line.split(b" ", 1)[0] == b"ACK":
        return None
    problem = _problem(data)
    reason = "Bad Request" if problem is None else _reason_for(problem)
    tag = to_tag if to_tag is not None else secrets.token_hex(6)
    keys = ["via"] * len(found["via"]) + ["from", "to", "call-id", "cseq"]
    values = [
        *found["via"],
        found["from"][0],
        _with_to_tag(found["to"][0], tag),
        found["call-id"][0],
        found["cseq"][0],
    ]
    names = [_CANONICAL[key] for key in keys]
    return SIPResponse(400, reason, Headers._adopt(keys, names, values))


# Stream framing ------------------------------------------------------------------------


class KeepAlive(enum.Enum):
    """An RFC 5626 keep-alive seen between messages on a stream [RFC 5626 §4.4.1].

    ``PING`` is a double CRLF (answer it with a single CRLF); ``PONG`` is
    a single CRLF (the answer to our ping).
    """

    PING = b"\r\n\r\n"
    PONG = b"\r\n"


_CONTENT_LENGTH_LINE = re.compile(
    rb"^(?:content-length|l)[ \t]*:((?:[^\r\n]|\r(?!\n))*(?:\r?\n[ \t][^\r\n]*)*)",
    re.IGNORECASE | re.MULTILINE,
)


class StreamFramer:
    """Cut a TCP/TLS byte stream into SIP messages [RFC 3261 §18.3].

    Feed it whatever the socket gives; it returns every complete message
    (bytes, for :func:`parse_message`) and every keep-alive between
    messages. Content-Length is required on streams; a message without it,
    with a bad one, or larger than ``max_message_size`` raises ParseError,
    after which the framer is spent and the connection should be closed
    [RFC 4475 §3.1.2.2-3].

    A CRLF CRLF between messages is a ``KeepAlive.PING``, a lone CRLF a
    ``KeepAlive.PONG`` [RFC 5626 §4.4.1]. A CRLF directly followed by a
    message is still reported as a ``PONG`` (it is harmless: RFC 3261 §7.5
    ignores CRLFs before a start line). A ping whose two CRLFs arrive in
    different reads is reported as two pongs, as the framer cannot wait to
    see whether a second CRLF follows without delaying a real pong.

    >>> framer = StreamFramer()
    >>> framer.feed(b"\\r\\n\\r\\nOPTIONS sip:a SIP/2.0\\r\\nl: 2\\r\\n\\r\\nhi")
    [<KeepAlive.PING: b'\\r\\n\\r\\n'>, b'OPTIONS sip:a SIP/2.0\\r\\nl: 2\\r\\n\\r\\nhi']
    """

    __slots__ = ("_buffer", "_failed", "max_message_size")

    def __init__(self, max_message_size: int = MAX_MESSAGE_SIZE) -> None:
        self.max_message_size = max_message_size
        self._buffer = bytearray()
        self._failed = False

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as a message."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes | KeepAlive]:
        """Add ``data`` and return the messages and keep-alives it completes, in order.

        Raises:
            ParseError: unframeable input; the stream cannot be resynchronised.
        """
        if self._failed:
            raise ParseError("stream framing already failed; close the connection")
        buffer = self._buffer
        buffer += data
        out: list[bytes | KeepAlive] = []
        try:
            while buffer:
                if buffer[0] == 0x0D or buffer[0] == 0x0A:
                    if buffer.startswith(b"\r\n\r\n"):
                        out.append(KeepAlive.PING)
                        del buffer[:4]
                    elif buffer.startswith(b"\r\n"):
                        out.append(KeepAlive.PONG)
                        del buffer[:2]
                    elif buffer == b"\r":
                        break  # the rest of a CRLF is still on its way
                    else:  # a bare LF, or CR without LF: skip it [RFC 3261 §7.5]
                        del buffer[:1]
                    continue
                message = self._next_message(buffer)
                if message is None:
                    break
                out.append(message)
        except ParseError:
            self._failed = True
            raise
        return out

    def _next_message(self, buffer: bytearray) -> bytes | None:
        found = _blank_line(buffer, 0)
        if found is None:
            if len(buffer) > self.max_message_size:
                raise ParseError(f"header section exceeds {self.max_message_size} bytes")
            return None
        end, body_start = found
        head = bytes(buffer[:end]) + b"\n"
        values = [
            match[1].strip() for match in _CONTENT_LENGTH_LINE.finditer(head, head.find(b"\n") + 1)
        ]
        if not values:
            raise ParseError("Content-Length is required on stream transports [RFC 3261 §18.3]")
        if len(set(values)) > 1:
            raise ParseError("conflicting Content-Length values [RFC 3261 §20.14]")
        text = values[0]
        if not text.isdigit() or len(text.lstrip(b"0")) > 9:
            raise ParseError(f"bad Content-Length {text[:40]!r} [RFC 3261 §20.14]")
        total = body_start + int(text)
        if total > self.max_message_size:
            raise ParseError(f"message of {total} bytes exceeds {self.max_message_size}")
        if len(buffer) < total:
            return None
        message = bytes(buffer[:total])
        del buffer[:total]
        return message
