"""SDP session descriptions: the data model, its parser and its serializer.

The syntax is that of [RFC 8866 §5] (which obsoletes RFC 4566 without changing
the wire format). A :class:`SessionDescription` holds the session-level lines
and one :class:`MediaDescription` per ``m=`` line, each field already split
into typed values; ``a=`` attributes are kept as written, in order, and the
well-known ones are read on demand through properties, so nothing is stored
twice.

Parsing is strict about the line grammar and tolerant of what real phones
send:

* lines end in CRLF or a bare LF [RFC 8866 §5]; trailing spaces, tabs and a
  stray final CR are ignored, and so are blank lines;
* a missing ``s=`` line, or an empty one (``s=``/``s= ``), is accepted: the
  session name becomes ``"-"`` when the line is absent and ``" "`` (the
  single-space form RFC 8866 §5.3 recommends) when it is empty;
* a missing ``t=`` line gives an empty :attr:`SessionDescription.timings`;
* lines with a type letter this module does not know are skipped. RFC 8866
  §5 allows a parser to ignore or reject the whole description instead; we
  skip the line, as most SIP stacks do, so that one odd vendor line does not
  fail a call;
* within the session section and within a media section the optional lines
  may come in any order; what is enforced is that ``v=0`` comes first and
  that session-only lines (``o s u e p t r z``) do not follow the first
  ``m=`` line.

Rejected are: bad UTF-8, NUL or a lone CR inside a line, a line that is not
``<lowercase letter>=<value>``, a missing or repeated ``o=``, a repeated
``v s u z`` line or a repeated ``c i k`` line within one section (several
``c=`` lines for layered multicast are not supported), malformed ``o c b t
m`` fields, ports outside 0..65535, RTP payload types outside 0..127 and
numbers longer than 40 digits. Every rejection is a
:class:`~voip_core.errors.ParseError` naming the 1-based line number and the
offending line.
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

_SESSION_ONLY_TYPES = frozenset("vosueptrz")
# Longest number accepted anywhere (NTP times and 64-bit ids have 20 digits);
# it also keeps int() clear of its 4300-digit limit.
_MAX_DIGITS = 40
_TYPE_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyz")
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
        from voip_core.sdp.negotiation import assign_payload_types

        if not formats:
            raise ValueError("a media description needs at least one format")
        if not 0 <= port <= 65535:
            raise ValueError(f"port {port} is out of range 0..65535")
        if direction not in DIRECTIONS:
            raise ValueError(f"unknown direction {direction!r}")
        attributes: list[Attribute] = []
        numbers: list[str] = []
        for media_format in assign_payload_types(formats):
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
        from voip_core.sdp.negotiation import STATIC_PAYLOAD_TYPES, MediaFormat

        if not self.is_rtp:
            return []
        mapped: dict[int, MediaFormat] = {}
        fmtps: dict[int, str] = {}
        for attribute in self.attributes:
            if attribute.name == "rtpmap":
                media_format = MediaFormat.from_rtpmap(attribute.value or "")
                if media_format.payload_type is not None:  # always, for a parsed rtpmap
                    mapped.setdefault(media_format.payload_type, media_format)
            elif attribute.name == "fmtp":
                payload_text, _, parameters = (attribute.value or "").partition(" ")
                line = f"a=fmtp:{attribute.value}"
                payload_type = _number(payload_text, "fmtp payload type", 127, line, None)
                if parameters.strip():
                    fmtps.setdefault(payload_type, parameters.strip())
        result: list[MediaFormat] = []
        for token in self.formats:
            payload_type = _number(token, "payload type", 127, f"m={self.media} ...", None)
            found = mapped.get(payload_type) or STATIC_PAYLOAD_TYPES.get(payload_type)
            if found is not None and all(f.payload_type != payload_type for f in result):
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
        if isinstance(data, str):
            return _parse_text(data)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as error:
            number = data.count(b"\n", 0, error.start) + 1
            bad_line = data.split(b"\n")[number - 1].decode("utf-8", "replace").rstrip("\r")
            raise ParseError(
                "session description is not valid UTF-8 [RFC 8866 §5]",
                offset=error.start,
                line=bad_line,
                line_number=number,
            ) from None
        return _parse_text(text)

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


def _parse_origin(value: str, line: str, number: int) -> Origin:
    fields = value.split()
    if len(fields) != 6:
        if len(fields) < 6:
            raise _fail("o= needs 6 fields [RFC 8866 §5.2]", line, number)
        # A username with spaces is not allowed, but it is unambiguous: the
        # last five fields are fixed.
        fields[: len(fields) - 5] = [" ".join(fields[: len(fields) - 5])]
    username, session_id, session_version, network_type, address_type, address = fields
    digits = session_id + session_version
    if not (digits.isdigit() and digits.isascii()) or len(digits) > 2 * _MAX_DIGITS:
        raise _fail("o= session id and version must be decimal numbers", line, number)
    return Origin(
        username=username,
        session_id=int(session_id),
        session_version=int(session_version),
        network_type=network_type,
        address_type=address_type,
        address=address,
    )


def _parse_connection(value: str, line: str, number: int) -> Connection:
    fields = value.split()
    if len(fields) != 3:
        raise _fail("c= needs 3 fields [RFC 8866 §5.7]", line, number)
    network_type, address_type, address_text = fields
    if "/" not in address_text:  # the unicast case, by far the most common
        return Connection(
            network_type=network_type, address_type=address_type, address=address_text
        )
    address, *suffixes = address_text.split("/")
    if not address:
        raise _fail("c= has an empty address", line, number)
    ttl: int | None = None
    count: int | None = None
    if address_type == "IP6":
        if len(suffixes) > 1:
            raise _fail("an IP6 c= address takes only /<number of addresses>", line, number)
    elif len(suffixes) > 2:
        raise _fail("c= address must be <address>[/<ttl>[/<number>]]", line, number)
    elif suffixes:
        ttl = _number(suffixes.pop(0), "c= TTL", 255, line, number)
    if suffixes:
        count = _number(suffixes[0], "c= number of addresses", None, line, number)
        if count == 0:
            raise _fail("c= number of addresses must be positive", line, number)
    return Connection(
        network_type=network_type,
        address_type=address_type,
        address=address,
        ttl=ttl,
        number_of_addresses=count,
    )


def _parse_bandwidth(value: str, line: str, number: int) -> Bandwidth:
    bandwidth_type, colon, amount = value.partition(":")
    if not colon or not bandwidth_type or " " in bandwidth_type:
        raise _fail("b= must be <type>:<bandwidth> [RFC 8866 §5.8]", line, number)
    return Bandwidth(bandwidth_type, _number(amount, "b= bandwidth", None, line, number))


def _parse_timing(value: str, line: str, number: int) -> Timing:
    if value == "0 0":  # what SIP always sends
        return Timing()
    fields = value.split()
    if len(fields) != 2:
        raise _fail("t= must be <start> <stop> [RFC 8866 §5.9]", line, number)
    return Timing(
        start=_number(fields[0], "t= start time", None, line, number),
        stop=_number(fields[1], "t= stop time", None, line, number),
    )


def _parse_media(value: str, line: str, number: int) -> MediaDescription:
    fields = value.split()
    if len(fields) < 3:
        raise _fail("m= needs <media> <port> <proto> <fmt>... [RFC 8866 §5.14]", line, number)
    port_text = fields[1]
    protocol = fields[2]
    formats = fields[3:]
    port_count: int | None = None
    if "/" in port_text:
        port_text, _, count_text = port_text.partition("/")
        port_count = _number(count_text, "m= port count", 65535, line, number)
        if port_count == 0:
            raise _fail("m= port count must be positive", line, number)
    if not (port_text.isdigit() and port_text.isascii() and len(port_text) < 6) or (
        int(port_text) > 65535
    ):
        raise _fail(f"m= port {port_text!r} is not 0..65535", line, number)
    if "RTP/" in protocol and formats:
        digits = "".join(formats)
        if not (digits.isdigit() and digits.isascii()):
            raise _fail("RTP payload types must be numbers 0..127 [RFC 3551 §3]", line, number)
        for token in formats:
            if len(token) > 2 and (len(token) > 3 or int(token) > 127):
                raise _fail(f"RTP payload type {token} is not 0..127 [RFC 3551 §3]", line, number)
    return MediaDescription(
        media=fields[0],
        port=int(port_text),
        port_count=port_count,
        protocol=protocol,
        formats=formats,
    )


def _parse_text(text: str) -> SessionDescription:
    """The SDP grammar of RFC 8866 §5 (and §9), line by line."""
    if "\x00" in text:
        number = text.count("\n", 0, text.index("\x00")) + 1
        bad_line = text.split("\n")[number - 1].rstrip("\r")
        raise _fail("NUL character in session description [RFC 8866 §5]", bad_line, number)
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    if text.endswith("\n"):
        text = text[:-1]
    lines = text.split("\n")
    # Tidy text (no blank lines, no trailing whitespace, no stray CR) skips the
    # per-line clean-up below; real-world bodies nearly always are. A tab
    # anywhere counts as untidy: one-character searches are the cheap ones.
    untidy = "\r" in text or "\t" in text or " \n" in text or text.endswith(" ") or "" in lines
    number = 0
    line = ""
    for raw_line in lines:  # the first line that is not blank must be v=0
        number += 1
        line = raw_line.rstrip(" \t\r")
        if line:
            break
    if line != "v=0":
        if not line:
            raise _fail("empty session description", line, number)
        if line.startswith("v="):
            raise _fail("unsupported SDP version [RFC 8866 §5.1]", line, number)
        raise _fail("a session description must start with v=0 [RFC 8866 §5.1]", line, number)
    session = SessionDescription(origin=_NO_ORIGIN, session_name="", timings=[])
    # The lines c= b= i= k= a= mean the same at both levels, so they go to the
    # current section: the session until the first m=, then that media.
    section: SessionDescription | MediaDescription = session
    for number, line in enumerate(lines[number:], number + 1):  # noqa: B020
        if untidy:
            line = line.rstrip(" \t\r")
            if not line:
                continue
            if "\r" in line:
                raise _fail("carriage return inside a line [RFC 8866 §5]", line, number)
        if line[:2] == "a=":  # the most common line first
            name, colon, attribute_value = line.partition(":")
            if len(name) == 2 or " " in name or "\t" in name:
                raise _fail("a= attribute name must be a token [RFC 8866 §5.13]", line, number)
            section.attributes.append(Attribute(name[2:], attribute_value if colon else None))
            continue
        kind = line[0]
        if line[1:2] != "=" or kind not in _TYPE_LETTERS:
            raise _fail("not a <type>=<value> line [RFC 8866 §5]", line, number)
        value = line[2:]
        if kind == "m":
            if session.origin is _NO_ORIGIN:
                raise _fail("o= line missing before the first m= [RFC 8866 §5.2]", line, number)
            section = _parse_media(value, line, number)
            session.media.append(section)
        elif kind == "c":
            if section.connection is not None:
                raise _fail("more than one c= line in a section", line, number)
            section.connection = _parse_connection(value, line, number)
        elif kind == "b":
            section.bandwidths.append(_parse_bandwidth(value, line, number))
        elif kind == "i":
            if section.information is not None:
                raise _fail("more than one i= line in a section", line, number)
            section.information = value
        elif kind == "k":
            if section.key is not None:
                raise _fail("more than one k= line in a section", line, number)
            section.key = value
        elif kind not in _SESSION_ONLY_TYPES:
            pass  # an unknown type letter: skipped (see the module docstring)
        elif section is not session:
            message = f"{kind}= is a session-level line and cannot follow m= [RFC 8866 §5]"
            raise _fail(message, line, number)
        elif kind == "t":
            session.timings.append(_parse_timing(value, line, number))
        elif kind == "r":
            if not session.timings:
                raise _fail("r= must follow a t= line [RFC 8866 §5.10]", line, number)
            session.timings[-1].repeats.append(value)
        elif kind == "o":
            if session.origin is not _NO_ORIGIN:
                raise _fail("more than one o= line", line, number)
            session.origin = _parse_origin(value, line, number)
        elif kind == "s":
            if session.session_name:
                raise _fail("more than one s= line", line, number)
            session.session_name = value or " "
        elif kind == "u":
            if session.uri is not None:
                raise _fail("more than one u= line", line, number)
            session.uri = value
        elif kind == "z":
            if session.time_zones is not None:
                raise _fail("more than one z= line", line, number)
            session.time_zones = value
        elif kind == "e":
            session.emails.append(value)
        elif kind == "p":
            session.phones.append(value)
        else:
            raise _fail("more than one v= line", line, number)
    if session.origin is _NO_ORIGIN:  # and no m= line, or that branch would have raised
        lines = text.split("\n")
        while not lines[-1].strip(" \t\r"):
            lines.pop()
        raise _fail("o= line missing [RFC 8866 §5.2]", lines[-1].rstrip(" \t\r"), len(lines))
    if not session.session_name:
        session.session_name = "-"
    return session


# Stands for "no o= line seen yet" while parsing; never escapes the parser.
_NO_ORIGIN = Origin(session_id=0, session_version=0, address="")
