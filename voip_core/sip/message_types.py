"""SIP requests and responses as objects: :class:`SIPRequest`, :class:`SIPResponse`.

:class:`SIPMessage` holds what both share: the header fields, the body, the
typed accessors (``.via``, ``.cseq``, ``.to`` ...) that parse their header
on first use, and serialisation. :meth:`SIPRequest.create_response` builds
an answer per [RFC 3261 §8.2.6]. Parsing from bytes is
:func:`voip_core.sip.message.parse_message`; everything here is importable
from :mod:`voip_core.sip.message` too.

>>> from voip_core.sip.uri import SIPURI
>>> request = SIPRequest("OPTIONS", SIPURI.parse("sip:bob@example.com"))
>>> request.headers.add("Call-ID", "a84b4c76e66710")
>>> request.serialize().splitlines()
[b'OPTIONS sip:bob@example.com SIP/2.0', b'Call-ID: a84b4c76e66710', b'Content-Length: 0', b'']
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import ClassVar

from voip_core.errors import ParseError
from voip_core.sip.grammar import _TOKEN
from voip_core.sip.header_values import CSeq, NameAddress, Via
from voip_core.sip.headers import (
    _CANONICAL,
    _NAME_KEYS,
    Headers,
    _check_name,
    _check_value,
    header_key,
    split_header_list,
)
from voip_core.sip.reasons import reason_phrase
from voip_core.sip.uri import URI, AbsoluteURI

__all__ = ["SIPMessage", "SIPRequest", "SIPResponse"]

_FIELD = "{}: {}\r\n"


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
    if "max-forwards" not in headers._keys:
        return None
    value = _single(headers, "max-forwards")
    if not (value.isascii() and value.isdigit()) or len(value.lstrip("0")) > 3:
        raise ParseError(f"Max-Forwards {value[:40]!r} is not 0..255 [RFC 3261 §20.22]")
    number = int(value)
    if number > 255:
        raise ParseError(f"Max-Forwards {number} is not 0..255 [RFC 3261 §20.22]")
    return number


def _parse_content_type(headers: Headers) -> str | None:
    if "content-type" not in headers._keys:
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
        return list(self._vias)

    @property
    def _vias(self) -> tuple[Via, ...]:
        """:attr:`via` without the copy, for the stack's own reading (read-only)."""
        # The accessors a user agent reads for every message cache by hand:
        # Headers.parsed does the same with one call more.
        headers = self.headers
        vias: tuple[Via, ...] | None = headers._cache.get("via")
        if vias is None:
            vias = headers._cache["via"] = _parse_vias(headers)
        return vias

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

    def _single_address(self, key: str, label: str) -> NameAddress:
        """The one From or To value, parsed once and cached on the headers."""
        headers = self.headers
        address = headers._cache.get(key)
        if address is None:
            keys = headers._keys
            if keys.count(key) == 1:
                try:
                    address = NameAddress.parse(headers._values[keys.index(key)])
                except ParseError as error:
                    raise ParseError(f"bad {label} header: {error}") from None
            else:
                address = _parse_address(headers, key)
            headers._cache[key] = address
        return address

    @property
    def from_header(self) -> NameAddress:
        """The From header [RFC 3261 §20.20]."""
        return self._single_address("from", "From")

    @property
    def to(self) -> NameAddress:
        """The To header [RFC 3261 §20.39]."""
        return self._single_address("to", "To")

    @property
    def contact(self) -> list[NameAddress]:
        """Every Contact value [RFC 3261 §20.10]; empty for none.

        ``Contact: *`` (remove all bindings, [RFC 3261 §10.2.2]) gives one
        entry whose ``uri`` is ``AbsoluteURI("*")``.
        """
        return list(self._contacts)

    @property
    def _contacts(self) -> tuple[NameAddress, ...]:
        """:attr:`contact` without the copy (read-only)."""
        headers = self.headers
        contacts: tuple[NameAddress, ...] | None = headers._cache.get("contact")
        if contacts is None:
            contacts = headers._cache["contact"] = _parse_contacts(headers)
        return contacts

    @property
    def max_forwards(self) -> int | None:
        """Max-Forwards 0..255, ``None`` when absent [RFC 3261 §20.22]."""
        headers = self.headers
        if "max-forwards" not in headers._keys:
            return None
        return headers.parsed("max-forwards", _parse_max_forwards)

    @property
    def content_length(self) -> int:
        """The Content-Length header's value, or ``len(body)`` when there is none.

        :meth:`serialize` always writes ``len(body)``, whatever this says.
        """
        headers = self.headers
        count = headers._keys.count("content-length")
        if not count:
            return len(self.body)
        if count == 1:
            return _content_length_value(headers._values[headers._keys.index("content-length")])
        values = headers._lines("content-length")
        if len(set(values)) > 1:
            raise ParseError(f"conflicting Content-Length values [RFC 3261 §20.14]: {values[:4]}")
        return _content_length_value(values[0])

    @property
    def content_type(self) -> str | None:
        """The Content-Type value as written (``application/sdp``), ``None`` if absent.

        Checked to start with ``type/subtype`` [RFC 3261 §20.15].
        """
        headers = self.headers
        if "content-type" not in headers._keys:
            return None
        return headers.parsed("content-type", _parse_content_type)

    @property
    def record_route(self) -> list[NameAddress]:
        """Every Record-Route value, in order [RFC 3261 §20.30]."""
        return list(self._name_addresses("record-route"))

    @property
    def route(self) -> list[NameAddress]:
        """Every Route value, in order [RFC 3261 §20.34]."""
        return list(self._name_addresses("route"))

    def _name_addresses(self, key: str) -> tuple[NameAddress, ...]:
        """Every value of a list-of-addresses header (Route, Record-Route), cached, read-only."""
        headers = self.headers
        if key not in headers._keys:
            return ()  # nothing to parse, nothing to cache
        cache = headers._cache
        addresses: tuple[NameAddress, ...] | None = cache.get(key)
        if addresses is None:
            addresses = cache[key] = _name_addresses(headers, key)
        return addresses

    def _forget_parsed(self) -> None:
        """Drop the typed values parsed so far; they are parsed again if asked for.

        For a message kept only in case it is retransmitted (a server
        transaction's request while its timer J or L runs, 32 s): the parsed
        values are objects the garbage collector would visit all that time.
        """
        self.headers._cache.clear()

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
        request_headers = self.headers
        request_keys, request_values = request_headers._keys, request_headers._values
        for key in _COPIED_TO_100 if status_code == 100 else _COPIED:
            count = request_keys.count(key)
            if not count:
                continue
            if count == 1:
                copied = [request_values[request_keys.index(key)]]
            else:
                copied = request_headers._lines(key)
            if key == "to" and to_tag is not None:
                parsed = request_headers._cache.get("to")  # the one To, parsed before
                if parsed is None:
                    copied = [_with_to_tag(value, to_tag) for value in copied]
                elif parsed.tag is None:
                    copied = [f"{copied[0]};tag={to_tag}"]
            keys += [key] * count
            values += copied
        names = [_CANONICAL[key] for key in keys]
        for name, value in headers:  # as Headers.add checks them
            extra_key = _NAME_KEYS.get(name)  # names met before are tokens
            if extra_key is None:
                _check_name(name)
                extra_key = header_key(name)
            keys.append(extra_key)
            names.append(name)
            values.append(_check_value(name, value))
        # Tuples, as a parsed message has (see Headers).
        return SIPResponse(
            status_code, reason, Headers._adopt(tuple(keys), tuple(names), tuple(values))
        )


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
