"""SDP session descriptions: the data model and its serializer.

The syntax is that of [RFC 8866 §5] (which obsoletes RFC 4566 without changing
the wire format). A :class:`SessionDescription` holds the session-level lines
and one :class:`MediaDescription` per ``m=`` line, each field already split
into typed values; ``a=`` attributes are kept as written, in order, and the
well-known ones are read on demand through properties, so nothing is stored
twice.

:meth:`SessionDescription.parse` reads a body; the grammar it applies, and
what it accepts and rejects, are in :mod:`voip_core.sdp.parser`.
:meth:`SessionDescription.serialize` writes one back in RFC 8866 §5 order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from voip_core.errors import ParseError

if TYPE_CHECKING:
    from voip_core.sdp.negotiation import MediaFormat

__all__ = [
    "DIRECTIONS",
    "Attribute",
    "Bandwidth",
    "Connection",
    "CryptoAttribute",
    "MediaDescription",
    "Origin",
    "SessionDescription",
    "Timing",
]

#: The four direction attributes [RFC 8866 §6.7] (also RFC 3264 §5.1).
DIRECTIONS = frozenset({"sendrecv", "sendonly", "recvonly", "inactive"})

# Longest number accepted anywhere (NTP times and 64-bit ids have 20 digits);
# it also keeps int() clear of its 4300-digit limit.
_MAX_DIGITS = 40
_CRYPTO_SUITE_CHARACTERS = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_"
)


def _fail(message: str, line: str, number: int | None) -> ParseError:
    return ParseError(message, line=line, line_number=number)


def _number(text: str, what: str, maximum: int | None, line: str, number: int | None) -> int:
    """Read an unsigned decimal field (ASCII digits only), checking its range."""
    if not (text.isascii() and text.isdigit()) or len(text) > _MAX_DIGITS:
        raise _fail(f"{what} is not a decimal number: {text!r}", line, number)
    value = int(text)
    if maximum is not None and value > maximum:
        raise _fail(f"{what} {value} is out of range 0..{maximum}", line, number)
    return value


@dataclass(slots=True, kw_only=True)
class Origin:
    """The ``o=`` line: who created the session and its version [RFC 8866 §5.2].

    ``session_id`` and ``session_version`` are decimal numbers on the wire
    (``sess-id = 1*DIGIT``); the version is what a re-offer increments
    [RFC 3264 §8].
    """

    username: str = "-"
    session_id: int
    session_version: int
    network_type: str = "IN"
    address_type: str = "IP4"
    address: str


@dataclass(slots=True, kw_only=True)
class Connection:
    """A ``c=`` line [RFC 8866 §5.7].

    Addresses are not checked beyond being one token: the RFC allows fully
    qualified domain names as well as IPv4 and IPv6 literals. For multicast
    the IP4 form is ``address/ttl[/number]`` and the IP6 form is
    ``address[/number]`` (IPv6 has no TTL field).
    """

    network_type: str = "IN"
    address_type: str = "IP4"
    address: str
    ttl: int | None = None
    number_of_addresses: int | None = None

    @classmethod
    def for_address(cls, address: str) -> Connection:
        """A unicast ``IN`` connection, ``IP6`` when ``address`` contains a colon."""
        return cls(address_type="IP6" if ":" in address else "IP4", address=address)


@dataclass(slots=True, kw_only=True)
class Timing:
    """A ``t=`` line and the ``r=`` lines that follow it [RFC 8866 §5.9, §5.10].

    ``start`` and ``stop`` are NTP seconds; ``0 0`` means a permanent session,
    which is what SIP uses. Repeat lines are kept as written (without ``r=``).
    """

    start: int = 0
    stop: int = 0
    repeats: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Bandwidth:
    """A ``b=<type>:<value>`` line, e.g. ``AS`` in kilobits/s [RFC 8866 §5.8]."""

    type: str
    value: int


@dataclass(slots=True)
class Attribute:
    """An ``a=`` line [RFC 8866 §5.13].

    A property attribute (``a=sendrecv``) has ``value`` None; a value
    attribute keeps everything after the first colon as written, so
    ``a=fingerprint:sha-256 AB:CD`` has name ``fingerprint`` and value
    ``sha-256 AB:CD``. Unlike the other description classes this one takes
    positional arguments (``Attribute("ptime", "20")``): it is the most
    numerous object in a description and positional construction is faster.
    """

    name: str
    value: str | None = None


@dataclass(slots=True, kw_only=True)
class CryptoAttribute:
    """An SDES ``a=crypto`` attribute [RFC 4568 §9.1].

    ``a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:KEY|2^20|1:4 KDR=1`` has tag
    1, the suite, ``key_params == ["inline:KEY|2^20|1:4"]`` (one entry per
    ``;``-separated key parameter, kept as strings) and
    ``session_params == ["KDR=1"]``. The key parameters carry the master key,
    so they are left out of ``repr()``.
    """

    tag: int
    suite: str
    key_params: list[str] = field(repr=False)
    session_params: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, value: str) -> CryptoAttribute:
        """Read the value of an ``a=crypto`` line (the text after ``crypto:``).

        Raises:
            ParseError: the value does not follow the RFC 4568 §9.1 grammar.
        """
        line = f"a=crypto:{value}"
        fields = value.split()
        if len(fields) < 3:
            raise ParseError("a=crypto needs a tag, a suite and key parameters", line=line)
        tag_text, suite, key_text = fields[0], fields[1], fields[2]
        if not (tag_text.isascii() and tag_text.isdigit()) or len(tag_text) > 9:
            raise ParseError("a=crypto tag must be 1 to 9 digits [RFC 4568 §9.1]", line=line)
        if not set(suite) <= _CRYPTO_SUITE_CHARACTERS:
            raise ParseError(f"a=crypto suite {suite!r} is not a valid name", line=line)
        key_params = key_text.split(";")
        for key_param in key_params:
            method, colon, info = key_param.partition(":")
            if not method or not colon or not info:
                raise ParseError("a=crypto key parameter must be <method>:<info>", line=line)
        return cls(tag=int(tag_text), suite=suite, key_params=key_params, session_params=fields[3:])

    @property
    def value(self) -> str:
        """The attribute value as it goes on the wire (after ``a=crypto:``)."""
        return " ".join(
            [str(self.tag), self.suite, ";".join(self.key_params), *self.session_params]
        )

    def to_attribute(self) -> Attribute:
        """This crypto line as a plain :class:`Attribute`."""
        return Attribute("crypto", self.value)


def _first(attributes: list[Attribute], name: str) -> Attribute | None:
    for attribute in attributes:
        if attribute.name == name:
            return attribute
    return None


def _direction(attributes: list[Attribute]) -> str | None:
    for attribute in attributes:
        if attribute.name in DIRECTIONS:
            return attribute.name
    return None


def _milliseconds(attribute: Attribute | None) -> int | None:
    """Read ``a=ptime``/``a=maxptime``; RFC 8866 §6.4 allows a decimal value."""
    if attribute is None:
        return None
    text = attribute.value or ""
    if text.isascii() and text.isdigit() and len(text) < 10:
        value = int(text)
    else:
        try:
            value = round(float(text)) if 0 < float(text) < 1e9 else 0
        except ValueError:
            value = 0
    if value <= 0:
        raise ParseError(
            f"a={attribute.name} is not a positive number of milliseconds",
            line=f"a={attribute.name}:{text}",
        )
    return value


@dataclass(slots=True, kw_only=True)
class MediaDescription:
    """One media section: an ``m=`` line and the lines under it [RFC 8866 §5.14].

    ``formats`` are the format tokens of the ``m=`` line as written; for RTP
    profiles they are payload type numbers [RFC 3551 §6].
    """

    media: str = "audio"
    port: int
    port_count: int | None = None
    protocol: str = "RTP/AVP"
    formats: list[str] = field(default_factory=list)
    information: str | None = None
    connection: Connection | None = None
    bandwidths: list[Bandwidth] = field(default_factory=list)
    key: str | None = None
    attributes: list[Attribute] = field(default_factory=list)

    @classmethod
    def for_formats(
        cls,
        formats: Sequence[MediaFormat],
        *,
        port: int,
        address: str,
        protocol: str = "RTP/AVP",
        ptime: int | None = 20,
        direction: str = "sendrecv",
        media: str = "audio",
    ) -> MediaDescription:
        """Build a media section that offers ``formats`` in the given order.

        Formats whose payload type is None get dynamic numbers first
        (:func:`~voip_core.sdp.negotiation.assign_payload_types`). Every
        format gets an ``a=rtpmap`` line, static ones too, then its
        ``a=fmtp`` if it has one [RFC 8866 §6.6, §6.15]; then ``a=ptime``
        (left out when ``ptime`` is None) and the direction attribute.

        Raises:
            ValueError: no formats, a port outside 0..65535 or an unknown
                direction.
        """
        if not formats:
            raise ValueError("a media description needs at least one format")
        if not 0 <= port <= 65535:
            raise ValueError(f"port {port} is out of range 0..65535")
        if direction not in DIRECTIONS:
            raise ValueError(f"unknown direction {direction!r}")
        attributes: list[Attribute] = []
        numbers: list[str] = []
        for media_format in _negotiation.assign_payload_types(formats):
            numbers.append(str(media_format.payload_type))
            attributes.extend(media_format.attributes())
        if ptime is not None:
            attributes.append(Attribute("ptime", str(ptime)))
        attributes.append(Attribute(direction))
        return cls(
            media=media,
            port=port,
            protocol=protocol,
            formats=numbers,
            connection=Connection.for_address(address),
            attributes=attributes,
        )

    @property
    def is_rtp(self) -> bool:
        """Whether the transport is an RTP profile (RTP/AVP, RTP/SAVPF, ...)."""
        return "RTP/" in self.protocol

    def get_attribute(self, name: str) -> Attribute | None:
        """The first attribute called ``name`` (compared exactly), or None."""
        return _first(self.attributes, name)

    def get_attributes(self, name: str) -> list[Attribute]:
        """All attributes called ``name``, in order."""
        return [attribute for attribute in self.attributes if attribute.name == name]

    @property
    def direction(self) -> str | None:
        """The media-level direction attribute, or None when there is none.

        This does not look at the session level; use
        :meth:`SessionDescription.direction_of` for the effective direction
        [RFC 8866 §6.7].
        """
        return _direction(self.attributes)

    @property
    def ptime(self) -> int | None:
        """``a=ptime`` in milliseconds (rounded), or None [RFC 8866 §6.4]."""
        return _milliseconds(_first(self.attributes, "ptime"))

    @property
    def maxptime(self) -> int | None:
        """``a=maxptime`` in milliseconds (rounded), or None [RFC 8866 §6.5]."""
        return _milliseconds(_first(self.attributes, "maxptime"))

    @property
    def rtcp_mux(self) -> bool:
        """Whether ``a=rtcp-mux`` is present [RFC 5761 §5.1.1]."""
        return _first(self.attributes, "rtcp-mux") is not None

    @property
    def crypto(self) -> list[CryptoAttribute]:
        """The ``a=crypto`` lines, parsed [RFC 4568 §9.1].

        Raises:
            ParseError: a crypto line is malformed.
        """
        return [
            CryptoAttribute.parse(attribute.value or "")
            for attribute in self.attributes
            if attribute.name == "crypto"
        ]

    @property
    def media_formats(self) -> list[MediaFormat]:
        """The RTP formats of the ``m=`` line, in its order, with rtpmap/fmtp applied.

        A payload type with an ``a=rtpmap`` takes its encoding, clock rate and
        channels from it [RFC 8866 §6.6]; a static one without is filled in
        from RFC 3551 §6; one with neither (a dynamic payload type missing
        its rtpmap, or an unassigned number) is skipped, since nothing says
        what it is. ``a=fmtp`` parameters go to ``fmtp`` [RFC 8866 §6.15].
        A payload type listed twice appears once; non-RTP media give ``[]``.

        Raises:
            ParseError: a malformed ``a=rtpmap``/``a=fmtp`` line or format.
        """
        if not self.is_rtp:
            return []
        from_rtpmap = _negotiation.MediaFormat.from_rtpmap
        static_payload_types = _negotiation.STATIC_PAYLOAD_TYPES
        mapped: dict[int, MediaFormat] = {}
        fmtps: dict[int, str] = {}
        for attribute in self.attributes:
            if attribute.name == "rtpmap":
                media_format = from_rtpmap(attribute.value or "")
                if media_format.payload_type is not None:  # always, for a parsed rtpmap
                    mapped.setdefault(media_format.payload_type, media_format)
            elif attribute.name == "fmtp":
                payload_text, _, parameters = (attribute.value or "").partition(" ")
                line = f"a=fmtp:{attribute.value}"
                payload_type = _number(payload_text, "fmtp payload type", 127, line, None)
                if parameters.strip():
                    fmtps.setdefault(payload_type, parameters.strip())
        result: list[MediaFormat] = []
        listed: set[int] = set()
        for token in self.formats:
            if len(token) < 4 and token.isdigit() and token.isascii() and int(token) <= 127:
                payload_type = int(token)
            else:
                payload_type = _number(token, "payload type", 127, f"m={self.media} ...", None)
            found = mapped.get(payload_type) or static_payload_types.get(payload_type)
            if found is not None and payload_type not in listed:
                listed.add(payload_type)
                fmtp = fmtps.get(payload_type)
                result.append(found if fmtp is None else replace(found, fmtp=fmtp))
        return result

    def _append_lines(self, lines: list[str]) -> None:
        port = self.port if self.port_count is None else f"{self.port}/{self.port_count}"
        lines.append(" ".join([f"m={self.media}", str(port), self.protocol, *self.formats]))
        if self.information is not None:
            lines.append(f"i={self.information}")
        if self.connection is not None:
            lines.append(_connection_line(self.connection))
        for bandwidth in self.bandwidths:
            lines.append(f"b={bandwidth.type}:{bandwidth.value}")
        if self.key is not None:
            lines.append(f"k={self.key}")
        for attribute in self.attributes:
            value = attribute.value
            lines.append(f"a={attribute.name}" if value is None else f"a={attribute.name}:{value}")


def _connection_line(connection: Connection) -> str:
    address = connection.address
    if connection.ttl is not None:
        address = f"{address}/{connection.ttl}"
    if connection.number_of_addresses is not None:
        address = f"{address}/{connection.number_of_addresses}"
    return f"c={connection.network_type} {connection.address_type} {address}"


def _default_timings() -> list[Timing]:
    return [Timing()]


@dataclass(slots=True, kw_only=True)
class SessionDescription:
    """A whole SDP body [RFC 8866 §5].

    ``time_zones`` (``z=``) and ``key`` (``k=``, obsolete) are kept as
    written. The default ``timings`` is one ``t=0 0`` line, as SIP uses.
    """

    version: int = 0
    origin: Origin
    session_name: str = "-"
    information: str | None = None
    uri: str | None = None
    emails: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    connection: Connection | None = None
    bandwidths: list[Bandwidth] = field(default_factory=list)
    timings: list[Timing] = field(default_factory=_default_timings)
    time_zones: str | None = None
    key: str | None = None
    attributes: list[Attribute] = field(default_factory=list)
    media: list[MediaDescription] = field(default_factory=list)

    @classmethod
    def parse(cls, data: bytes | str) -> SessionDescription:
        """Parse an SDP body (UTF-8 bytes or text) [RFC 8866 §5].

        Raises:
            ParseError: the body is not valid UTF-8 or breaks the SDP grammar;
                ``line_number`` (1-based) and ``line`` say where.
        """
        return _parser.parse_session_description(data)

    def serialize(self) -> bytes:
        """The description as UTF-8 bytes, CRLF line ends, in RFC 8866 §5 order."""
        return self._text().encode()

    def __bytes__(self) -> bytes:
        return self.serialize()

    def __str__(self) -> str:
        return self._text()

    def get_attribute(self, name: str) -> Attribute | None:
        """The first session-level attribute called ``name``, or None."""
        return _first(self.attributes, name)

    def get_attributes(self, name: str) -> list[Attribute]:
        """All session-level attributes called ``name``, in order."""
        return [attribute for attribute in self.attributes if attribute.name == name]

    @property
    def direction(self) -> str | None:
        """The session-level direction attribute, or None [RFC 8866 §6.7]."""
        return _direction(self.attributes)

    def direction_of(self, media: MediaDescription) -> str:
        """The effective direction of ``media``.

        The media-level attribute wins, then the session-level one, then the
        default ``sendrecv`` [RFC 8866 §6.7, RFC 3264 §5.1].
        """
        return media.direction or _direction(self.attributes) or "sendrecv"

    def _text(self) -> str:
        origin = self.origin
        lines = [
            f"v={self.version}",
            f"o={origin.username} {origin.session_id} {origin.session_version} "
            f"{origin.network_type} {origin.address_type} {origin.address}",
            f"s={self.session_name}",
        ]
        if self.information is not None:
            lines.append(f"i={self.information}")
        if self.uri is not None:
            lines.append(f"u={self.uri}")
        lines.extend([f"e={email}" for email in self.emails])
        lines.extend([f"p={phone}" for phone in self.phones])
        if self.connection is not None:
            lines.append(_connection_line(self.connection))
        for bandwidth in self.bandwidths:
            lines.append(f"b={bandwidth.type}:{bandwidth.value}")
        for timing in self.timings:
            lines.append(f"t={timing.start} {timing.stop}")
            lines.extend([f"r={repeat}" for repeat in timing.repeats])
        if self.time_zones is not None:
            lines.append(f"z={self.time_zones}")
        if self.key is not None:
            lines.append(f"k={self.key}")
        for attribute in self.attributes:
            value = attribute.value
            lines.append(f"a={attribute.name}" if value is None else f"a={attribute.name}:{value}")
        for media in self.media:
            media._append_lines(lines)
        lines.append("")
        return "\r\n".join(lines)


# Last, because the parser builds the classes above: it imports them from this
# module, and SessionDescription.parse finds it through this name when called.
# The same for negotiation (MediaFormat), which the media sections use.
from voip_core.sdp import negotiation as _negotiation  # noqa: E402
from voip_core.sdp import parser as _parser  # noqa: E402
