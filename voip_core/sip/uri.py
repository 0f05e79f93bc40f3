"""SIP, SIPS and tel URIs: text in, objects out, and back.

* :class:`SIPURI` is the ``sip:`` / ``sips:`` URI of [RFC 3261 §19.1]:
  ``sip:user:password@host:port;uri-parameters?headers``. The user part,
  password, parameter names and values and header names and values are kept
  *unescaped* (``%41`` becomes ``A``, once: ``%2541`` becomes ``%41``
  [RFC 3261 §19.1.2], [RFC 4475 §3.1.1.3]) and escaped again by ``str()``
  [RFC 3261 §25.1]. An IPv6 host is kept without its brackets (``"::1"``) and
  written with them.
* :class:`TelURI` is the ``tel:`` URI of [RFC 3966 §3].
* :class:`AbsoluteURI` keeps any other scheme as opaque text: RFC 3261 allows
  an absoluteURI in the Request-URI and in To, From and Contact
  [RFC 3261 §25.1], and an element answers 416 only after parsing
  [RFC 4475 §3.3.2].

:func:`parse_uri` picks the right one. Every parser raises
:class:`~voip_core.errors.ParseError` on bad input and never anything else.

Unbracketed IPv6 hosts (``sip:1@fe80::1:5060``) are rejected: RFC 3261
requires the brackets and without them the port is ambiguous [RFC 5118 §4.10].

>>> uri = SIPURI.parse("sip:bob@[::1]:5062;transport=TCP")
>>> uri.host, uri.port, uri.transport
('::1', 5062, 'tcp')
>>> str(uri.with_parameters(lr=None))
'sip:bob@[::1]:5062;transport=TCP;lr'
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeAlias

from voip_core.errors import ParseError

__all__ = ["SIPURI", "URI", "AbsoluteURI", "TelURI", "parse_uri"]

# Character classes of [RFC 3261 §25.1], as regular-expression class bodies.
_UNRESERVED = r"A-Za-z0-9\-_.!~*'()"
_USER_CHARS = _UNRESERVED + r"%&=+$,;?/"
_PASSWORD_CHARS = _UNRESERVED + r"%&=+$,"
_PARAM_CHARS = _UNRESERVED + r"%\[\]/:&+$"
_HEADER_CHARS = _UNRESERVED + r"%\[\]/?:+$"

# Seven groups: scheme, user, password, host, port, parameters, headers.
# Also used inside the name-addr pattern of voip_core.sip.headers.
_SIP_URI_PATTERN = (
    r"([sS][iI][pP][sS]?):"
    rf"(?:([{_USER_CHARS}]+)(?::([{_PASSWORD_CHARS}]*))?@)?"
    r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_][A-Za-z0-9_.\-]*)"
    r"(?::([0-9]{1,5}))?"
    rf"((?:;[{_PARAM_CHARS}]+(?:=[{_PARAM_CHARS}]*)?)*)"
    rf"(?:\?([{_HEADER_CHARS}=&]*))?"
)
_SIP_URI = re.compile(_SIP_URI_PATTERN)
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*")
# uric of [RFC 3261 §25.1] (reserved / unreserved / escaped) plus the brackets
# of IPv6 references.
_ABSOLUTE_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:[A-Za-z0-9\-_.!~*'();/?:@&=+$,%\[\]]+")
_TEL_NUMBER = re.compile(
    r"\+[0-9\-.()]*[0-9][0-9\-.()]*"  # global-number-digits [RFC 3966 §3]
    r"|[0-9A-Fa-f*#\-.()]*[0-9A-Fa-f*#][0-9A-Fa-f*#\-.()]*"  # local-number-digits
)
_TEL_PARAMS = re.compile(rf"(?:;[{_PARAM_CHARS}]+(?:=[{_PARAM_CHARS}]*)?)*")
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")

# What str() leaves unescaped in each component [RFC 3261 §25.1].
_UNSAFE_USER = re.compile(rf"[^{_USER_CHARS.replace('%', '')}]")
_UNSAFE_PASSWORD = re.compile(rf"[^{_PASSWORD_CHARS.replace('%', '')}]")
_UNSAFE_PARAM = re.compile(rf"[^{_PARAM_CHARS.replace('%', '')}]")
_UNSAFE_HEADER = re.compile(rf"[^{_HEADER_CHARS.replace('%', '')}]")


def _unescape(text: str, what: str) -> str:
    """Undo %HH escapes once [RFC 3261 §19.1.2]; bytes that are not UTF-8 survive.

    A byte that does not decode is kept as a surrogate (``surrogateescape``),
    so that :func:`_escape` writes it back as the same %HH.
    """
    if "%" not in text:
        return text
    pieces = text.split("%")
    data = bytearray(pieces[0].encode("utf-8", "surrogateescape"))
    for piece in pieces[1:]:
        if len(piece) < 2 or _ESCAPE.match("%" + piece[:2]) is None:
            raise ParseError(f"bad %-escape in URI {what} [RFC 3261 §25.1]")
        data.append(int(piece[:2], 16))
        data += piece[2:].encode("utf-8", "surrogateescape")
    return data.decode("utf-8", "surrogateescape")


def _escape(text: str, unsafe: re.Pattern[str]) -> str:
    """%HH-escape every character that ``unsafe`` matches [RFC 3261 §25.1]."""
    if unsafe.search(text) is None:
        return text
    return unsafe.sub(
        lambda match: "".join(
            f"%{byte:02X}" for byte in match[0].encode("utf-8", "surrogateescape")
        ),
        text,
    )


def _port(text: str) -> int:
    port = int(text)
    if port > 65535:
        raise ParseError(f"port {port} is not 0..65535 [RFC 3261 §25.1]")
    return port


def _host(text: str) -> str:
    """The host of a URI or Via without IPv6 brackets; ParseError if malformed."""
    if text.startswith("["):
        address = text[1:-1]
        try:
            ipaddress.IPv6Address(address)
        except ValueError:
            raise ParseError(f"bad IPv6 reference {text!r} [RFC 3261 §25.1]") from None
        return address
    return text


def _format_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _split_parameters(text: str) -> dict[str, str | None]:
    """``;a=b;c`` (already checked against the grammar) to ``{"a": "b", "c": None}``."""
    parameters: dict[str, str | None] = {}
    if "%" not in text:
        for item in text[1:].split(";"):
            name, equals, value = item.partition("=")
            parameters[name.lower()] = value if equals else None
        return parameters
    for item in text[1:].split(";"):
        name, equals, value = item.partition("=")
        name = _unescape(name, "parameter").lower()
        parameters[name] = _unescape(value, "parameter") if equals else None
    return parameters


def _lower_names(parameters: Mapping[str, str | None]) -> dict[str, str | None]:
    return {name.lower(): value for name, value in parameters.items()}


@dataclass(slots=True)
class SIPURI:
    """A ``sip:`` or ``sips:`` URI [RFC 3261 §19.1.1].

    Attributes:
        scheme: ``"sip"`` or ``"sips"`` (lower case).
        user: The user part, unescaped; ``None`` when there is no ``@``.
        password: The password, unescaped (discouraged, [RFC 3261 §19.1.1]);
            never logged by voip-core, and left out of ``repr()``.
        host: Host name, IPv4 address, or IPv6 address *without* brackets.
        port: The port, or ``None`` for the scheme's default.
        parameters: URI parameters (``transport``, ``lr``, ``maddr``,
            ``user``, ...) with lower-cased names, unescaped; a parameter
            without a value (``;lr``) maps to ``None``.
        headers: URI headers (``?Subject=hi``), unescaped, in order.

    Instances are mutable dataclasses, but those a message hands out are
    shared with its cache: build a changed copy with :meth:`with_parameters`
    or :func:`dataclasses.replace` (give ``parameters=dict(...)`` a new dict)
    rather than changing one in place.
    """

    scheme: str = "sip"
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    host: str = ""
    port: int | None = None
    parameters: dict[str, str | None] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> SIPURI:
        """Parse a SIP or SIPS URI [RFC 3261 §19.1.1, §25.1].

        Raises:
            ParseError: not a well-formed ``sip:``/``sips:`` URI.
        """
        match = _SIP_URI.fullmatch(text)
        if match is None:
            if text[:4].lower() in ("sip:", "sips"):
                raise ParseError(f"malformed SIP URI {text[:80]!r} [RFC 3261 §25.1]")
            raise ParseError(f"not a SIP URI: {text[:80]!r} [RFC 3261 §19.1.1]")
        return cls._from_groups(*match.groups())

    @classmethod
    def _from_groups(
        cls,
        scheme: str,
        user: str | None,
        password: str | None,
        host: str,
        port: str | None,
        parameters: str,
        headers: str | None,
    ) -> SIPURI:
        """Build the URI from the groups of ``_SIP_URI_PATTERN`` (already checked)."""
        if scheme != "sip" and scheme != "sips":
            scheme = scheme.lower()
        if user is not None and "%" in user:
            user = _unescape(user, "user")
        if password is not None and "%" in password:
            password = _unescape(password, "password")
        uri = cls(
            scheme,
            user,
            password,
            _host(host) if host[0] == "[" else host,
            None if port is None else (int(port) if len(port) < 5 else _port(port)),
            _split_parameters(parameters) if parameters else {},
            {},
        )
        if headers:
            for item in headers.split("&"):
                name, equals, value = item.partition("=")
                if not name or not equals:
                    raise ParseError(f"malformed URI header {item[:80]!r} [RFC 3261 §25.1]")
                uri.headers[_unescape(name, "header")] = _unescape(value, "header")
        return uri

    def __str__(self) -> str:
        """The URI text, escaped per [RFC 3261 §25.1], IPv6 hosts in brackets."""
        parts = [self.scheme, ":"]
        if self.user is not None:
            parts.append(_escape(self.user, _UNSAFE_USER))
            if self.password is not None:
                parts += (":", _escape(self.password, _UNSAFE_PASSWORD))
            parts.append("@")
        parts.append(_format_host(self.host))
        if self.port is not None:
            parts += (":", str(self.port))
        for name, value in self.parameters.items():
            parts += (";", _escape(name, _UNSAFE_PARAM))
            if value is not None:
                parts += ("=", _escape(value, _UNSAFE_PARAM))
        if self.headers:
            parts.append("?")
            parts.append(
                "&".join(
                    f"{_escape(name, _UNSAFE_HEADER)}={_escape(value, _UNSAFE_HEADER)}"
                    for name, value in self.headers.items()
                )
            )
        return "".join(parts)

    @property
    def transport(self) -> str | None:
        """The ``transport`` parameter in lower case, ``None`` when absent [RFC 3261 §19.1.1]."""
        value = self.parameters.get("transport")
        return None if value is None else value.lower()

    @property
    def host_port(self) -> str:
        """``host[:port]`` with IPv6 brackets, as in a Via sent-by or a Host line."""
        host = _format_host(self.host)
        return host if self.port is None else f"{host}:{self.port}"

    def with_parameters(
        self, parameters: Mapping[str, str | None] | None = None, /, **more: str | None
    ) -> SIPURI:
        """A copy with parameters added or replaced (``None``: a flag such as ``lr``).

        Names are lower-cased. Pass a mapping for names that are not Python
        identifiers (``{"x-y": "1"}``).

        >>> str(SIPURI.parse("sip:a@b;transport=udp").with_parameters(transport="tcp"))
        'sip:a@b;transport=tcp'
        """
        merged = dict(self.parameters)
        merged.update(_lower_names(parameters or {}))
        merged.update(_lower_names(more))
        return SIPURI(
            self.scheme, self.user, self.password, self.host, self.port, merged, dict(self.headers)
        )

    def without_parameters(self, *names: str) -> SIPURI:
        """A copy without the named parameters (case-insensitive names)."""
        drop = {name.lower() for name in names}
        kept = {name: value for name, value in self.parameters.items() if name not in drop}
        return SIPURI(
            self.scheme, self.user, self.password, self.host, self.port, kept, dict(self.headers)
        )


@dataclass(slots=True)
class TelURI:
    """A ``tel:`` URI [RFC 3966 §3]: ``tel:+1-201-555-0123;ext=1234``.

    Attributes:
        number: The telephone number as written, visual separators included
            (``+1-201-555-0123``, or a local number such as ``7042``).
        parameters: ``ext``, ``isub``, ``phone-context`` and others, names
            lower-cased, unescaped like those of :class:`SIPURI`.
    """

    number: str
    parameters: dict[str, str | None] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> TelURI:
        """Parse a ``tel:`` URI [RFC 3966 §3].

        Raises:
            ParseError: not a well-formed ``tel:`` URI.
        """
        scheme, colon, rest = text.partition(":")
        if not colon or scheme.lower() != "tel":
            raise ParseError(f"not a tel URI: {text!r} [RFC 3966 §3]")
        number, semicolon, parameters = rest.partition(";")
        if _TEL_NUMBER.fullmatch(number) is None:
            raise ParseError(f"malformed telephone number in {text!r} [RFC 3966 §3]")
        parsed: dict[str, str | None] = {}
        if semicolon:
            if _TEL_PARAMS.fullmatch(";" + parameters) is None:
                raise ParseError(f"malformed tel URI parameters in {text!r} [RFC 3966 §3]")
            parsed = _split_parameters(";" + parameters)
        return cls(number, parsed)

    def __str__(self) -> str:
        """The URI text [RFC 3966 §3]."""
        parameters = "".join(
            f";{_escape(name, _UNSAFE_PARAM)}"
            if value is None
            else f";{_escape(name, _UNSAFE_PARAM)}={_escape(value, _UNSAFE_PARAM)}"
            for name, value in self.parameters.items()
        )
        return f"tel:{self.number}{parameters}"

    @property
    def is_global(self) -> bool:
        """Whether the number is a global (E.164, ``+``-prefixed) number [RFC 3966 §5.1.4]."""
        return self.number.startswith("+")


@dataclass(slots=True)
class AbsoluteURI:
    """A URI of any other scheme, kept as opaque text [RFC 3261 §25.1].

    The wildcard ``Contact: *`` is represented as ``AbsoluteURI("*")``
    [RFC 3261 §10.2.2].
    """

    text: str

    @classmethod
    def parse(cls, text: str) -> AbsoluteURI:
        """Check the absoluteURI grammar [RFC 3261 §25.1] and keep the text.

        Raises:
            ParseError: not ``scheme:something`` made of URI characters.
        """
        if _ABSOLUTE_URI.fullmatch(text) is None:
            raise ParseError(f"malformed URI {text!r} [RFC 3261 §25.1]")
        return cls(text)

    @property
    def scheme(self) -> str:
        """The scheme in lower case (``"*"`` for the Contact wildcard)."""
        return self.text.partition(":")[0].lower()

    def __str__(self) -> str:
        return self.text


URI: TypeAlias = SIPURI | TelURI | AbsoluteURI


def parse_uri(text: str) -> URI:
    """Parse a Request-URI or a name-addr's URI: SIP/SIPS, tel, or any other scheme.

    >>> parse_uri("tel:+1-201-555-0123")
    TelURI(number='+1-201-555-0123', parameters={})
    >>> parse_uri("urn:service:sos")
    AbsoluteURI(text='urn:service:sos')

    Raises:
        ParseError: not a URI [RFC 3261 §25.1].
    """
    match = _SIP_URI.fullmatch(text)
    if match is not None:
        return SIPURI._from_groups(*match.groups())
    scheme, colon, _ = text.partition(":")
    if not colon or _SCHEME.fullmatch(scheme) is None:
        raise ParseError(f"not a URI: {text[:80]!r} [RFC 3261 §25.1]")
    lowered = scheme.lower()
    if lowered in ("sip", "sips"):
        raise ParseError(f"malformed SIP URI {text[:80]!r} [RFC 3261 §25.1]")
    if lowered == "tel":
        return TelURI.parse(text)
    return AbsoluteURI.parse(text)
