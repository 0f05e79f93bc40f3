"""SIP header fields: the ordered multi-map and the typed values the stack reads.

* :class:`Headers` keeps every header field in order of appearance, under
  its canonical name (compact forms such as ``v`` and ``i`` become ``Via``
  and ``Call-ID`` [RFC 3261 §7.3.3]), with lookups that ignore case
  [RFC 3261 §7.3.1].
* :class:`NameAddress` (From, To, Contact, Route, Record-Route,
  Refer-To ...), :class:`Via` and :class:`CSeq` are the parsed forms of the
  header values the transaction and dialog layers read [RFC 3261 §20, §25.1].

Values are parsed from the text of one header field value after line
folding has been undone (:func:`voip_core.sip.message.parse_message` does
that): linear white space may appear wherever RFC 3261's grammar allows LWS
or SWS [RFC 3261 §7.3.1, §25.1].

Parameter names are case-insensitive and kept lower-cased; parameter values
are kept exactly as written, including the double quotes of a quoted-string
value (``+sip.instance="<urn:uuid:...>"``), so that ``str()`` gives back an
equivalent header value.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload

from voip_core.errors import ParseError
from voip_core.sip.uri import (
    _SIP_URI_PATTERN,
    SIPURI,
    URI,
    _format_host,
    _host,
    _lower_names,
    parse_uri,
)

__all__ = [
    "COMPACT_FORMS",
    "CSeq",
    "Headers",
    "NameAddress",
    "Via",
    "canonical_name",
    "header_key",
    "parse_parameters",
    "split_header_list",
]

_T = TypeVar("_T")

#: Compact form -> canonical name [RFC 3261 §7.3.3, §20], and the later RFCs
#: that define one (3265, 3515, 3892, 3841, 4028, 4474, 3903 ...).
COMPACT_FORMS: dict[str, str] = {
    "a": "Accept-Contact",
    "b": "Referred-By",
    "c": "Content-Type",
    "d": "Request-Disposition",
    "e": "Content-Encoding",
    "f": "From",
    "i": "Call-ID",
    "j": "Reject-Contact",
    "k": "Supported",
    "l": "Content-Length",
    "m": "Contact",
    "n": "Identity-Info",
    "o": "Event",
    "r": "Refer-To",
    "s": "Subject",
    "t": "To",
    "u": "Allow-Events",
    "v": "Via",
    "x": "Session-Expires",
    "y": "Identity",
}

_KNOWN_NAMES = (
    *COMPACT_FORMS.values(),
    "Accept", "Accept-Encoding", "Accept-Language", "Accept-Resource-Priority", "Alert-Info",
    "Allow", "Authentication-Info", "Authorization", "Call-Info", "Content-Disposition",
    "Content-Language", "Content-Transfer-Encoding", "CSeq", "Date", "Error-Info", "Expires",
    "History-Info", "In-Reply-To", "Max-Breadth", "Max-Forwards", "MIME-Version", "Min-Expires",
    "Min-SE", "Organization", "P-Asserted-Identity", "P-Preferred-Identity", "Path", "Priority",
    "Privacy", "Proxy-Authenticate", "Proxy-Authorization", "Proxy-Require", "RAck", "Reason",
    "Record-Route", "Refer-Sub", "Replaces", "Reply-To", "Require", "Resource-Priority",
    "Retry-After", "Route", "RSeq", "Security-Client", "Security-Server", "Security-Verify",
    "Server", "Service-Route", "SIP-ETag", "SIP-If-Match", "Subscription-State", "Timestamp",
    "Unsupported", "User-Agent", "Warning", "WWW-Authenticate",
)  # fmt: skip

#: Lower-case name (or compact form) -> lower-case canonical name, the lookup key.
_KEYS: dict[str, str] = {name.lower(): name.lower() for name in _KNOWN_NAMES}
_KEYS.update({short: name.lower() for short, name in COMPACT_FORMS.items()})
#: Lower-case canonical name -> the spelling serialisation writes.
_CANONICAL: dict[str, str] = {name.lower(): name for name in _KNOWN_NAMES}

#: Headers whose grammar is a comma-separated list [RFC 3261 §7.3.1, §20]:
#: :meth:`Headers.get_all` splits their values. Never listed: the
#: authentication headers, Date, and anything else whose value may hold a
#: comma of its own.
_LIST_KEYS = frozenset(
    name.lower()
    for name in (
        "Accept", "Accept-Contact", "Accept-Encoding", "Accept-Language", "Alert-Info", "Allow",
        "Allow-Events", "Call-Info", "Contact", "Content-Encoding", "Content-Language",
        "Error-Info", "History-Info", "In-Reply-To", "P-Asserted-Identity",
        "P-Preferred-Identity", "Path", "Privacy", "Proxy-Require", "Reason", "Record-Route",
        "Reject-Contact", "Request-Disposition", "Require", "Route", "Security-Client",
        "Security-Server", "Security-Verify", "Service-Route", "Supported", "Unsupported",
        "Via", "Warning",
    )
)  # fmt: skip

_TOKEN_CHARS = r"A-Za-z0-9\-.!%*_+`'~"
_TOKEN = re.compile(rf"[{_TOKEN_CHARS}]+")
# A quoted-string [RFC 3261 §25.1], its loop unrolled for speed.
_QUOTED = r'"[^"\\]*(?:\\.[^"\\]*)*"'
# One ;name[=value] of a header's parameter list [RFC 3261 §25.1 generic-param]:
# the value is a token, a host (IPv6 addresses included) or a quoted-string.
_PARAMETER = re.compile(
    rf"[ \t]*;[ \t]*([{_TOKEN_CHARS}]+)"
    rf"(?:[ \t]*=[ \t]*([{_TOKEN_CHARS}:\[\]]+|{_QUOTED}))?[ \t]*",
    re.DOTALL,
)
# An unquoted display name: tokens separated by LWS [RFC 3261 §25.1]; UTF-8
# letters are accepted too, as some phones send them unquoted.
_DISPLAY_TOKENS = re.compile(
    rf"[{_TOKEN_CHARS}\x80-\U0010ffff]+(?:[ \t]+[{_TOKEN_CHARS}\x80-\U0010ffff]+)*"
)
_VIA = re.compile(
    rf"([{_TOKEN_CHARS}]+)[ \t]*/[ \t]*([{_TOKEN_CHARS}]+)[ \t]*/[ \t]*([{_TOKEN_CHARS}]+)"
    r"[ \t]+(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_][A-Za-z0-9_.\-]*)"
    r"(?:[ \t]*:[ \t]*([0-9]{1,5}))?"
)
_NEEDS_QUOTES = re.compile(r'["\\]')
# A parameter list without LWS, the common case, checked in one go; and its items.
_SIMPLE_PARAMETERS = re.compile(
    rf"(?:;[{_TOKEN_CHARS}]+(?:=(?:[{_TOKEN_CHARS}:\[\]]+|{_QUOTED}))?)+", re.DOTALL
)
_SIMPLE_PARAMETER = re.compile(
    rf";([{_TOKEN_CHARS}]+)(?:=([{_TOKEN_CHARS}:\[\]]+|{_QUOTED}))?", re.DOTALL
)
# The common shapes, matched in one go (the general parsers handle the rest):
# a name-addr holding a SIP URI ...
_DISPLAY_CHARS = rf"{_TOKEN_CHARS}\x80-\U0010ffff"
_SIP_NAME_ADDR = re.compile(
    rf'(?:"([^"\\]*(?:\\.[^"\\]*)*)"|([{_DISPLAY_CHARS}]+(?:[ \t]+[{_DISPLAY_CHARS}]+)*))?'
    rf"[ \t]*<{_SIP_URI_PATTERN}>(.*)",
    re.DOTALL,
)
# ... and a Via as stacks write it.
_SIMPLE_VIA = re.compile(
    rf"SIP/2\.0/([{_TOKEN_CHARS}]+) (\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_][A-Za-z0-9_.\-]*)"
    rf"(?::([0-9]{{1,5}}))?((?:;[{_TOKEN_CHARS}]+(?:=[{_TOKEN_CHARS}:\[\]]+)?)*)"
)
_KNOWN_METHODS = frozenset(
    ("INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "PRACK", "SUBSCRIBE", "NOTIFY",
     "PUBLISH", "INFO", "REFER", "MESSAGE", "UPDATE")
)  # fmt: skip

#: Header names as seen on the wire -> lookup key, for names known to be
#: tokens: lets the parser skip lower-casing and checking familiar names.
#: Unknown names are added as they are met, up to _NAME_KEYS_LIMIT entries.
_NAME_KEYS: dict[str, str] = {
    spelling: _KEYS[name.lower()]
    for name in (*_KNOWN_NAMES, *COMPACT_FORMS)
    for spelling in (name, name.lower(), name.upper())
}
_NAME_KEYS_LIMIT = 4096


def _key_of_name(name: str) -> str | None:
    """The lookup key of a header name from the wire, or ``None`` if it is not a token."""
    key = _NAME_KEYS.get(name)
    if key is not None:
        return key
    if _TOKEN.fullmatch(name) is None:
        return None
    key = header_key(name)
    if len(_NAME_KEYS) < _NAME_KEYS_LIMIT:
        _NAME_KEYS[name] = key
    return key


def header_key(name: str) -> str:
    """The lookup key of a header name: lower-case canonical name (``"v"`` -> ``"via"``)."""
    lowered = name.lower()
    return _KEYS.get(lowered, lowered)


def canonical_name(name: str) -> str:
    """The spelling written on the wire: ``"v"``/``"VIA"`` -> ``"Via"``; unknown names as given.

    >>> canonical_name("i"), canonical_name("call-id"), canonical_name("X-Custom")
    ('Call-ID', 'Call-ID', 'X-Custom')
    """
    return _CANONICAL.get(header_key(name), name)


def split_header_list(value: str) -> list[str]:
    """Split a comma-separated header value outside quotes and ``<...>`` [RFC 3261 §7.3.1].

    Elements are stripped of LWS; empty elements are dropped.

    >>> split_header_list('"Doe, J" <sip:j@x;a=1,2>, <sip:k@y>')
    ['"Doe, J" <sip:j@x;a=1,2>', '<sip:k@y>']
    """
    if "," not in value:
        value = value.strip(" \t")
        return [value] if value else []
    if '"' not in value and "<" not in value:
        return [item for item in (part.strip(" \t") for part in value.split(",")) if item]
    items: list[str] = []
    start = 0
    index = 0
    length = len(value)
    while index < length:
        char = value[index]
        if char == '"':
            index += 1
            while index < length and value[index] != '"':
                index += 2 if value[index] == "\\" else 1
        elif char == "<":
            close = value.find(">", index)
            index = length if close == -1 else close
        elif char == ",":
            items.append(value[start:index])
            start = index + 1
        index += 1
    items.append(value[start:])
    return [item for item in (part.strip(" \t") for part in items) if item]


def _check_value(name: str, value: str) -> str:
    if "\r" in value or "\n" in value or "\x00" in value:
        raise ValueError(f"header {name!r}: value may not contain CR, LF or NUL")
    return value.strip(" \t")


def _check_name(name: str) -> None:
    if _TOKEN.fullmatch(name) is None:
        raise ValueError(f"header name {name!r} is not a token [RFC 3261 §7.3.1]")


class Headers:
    """An ordered, case-insensitive multi-map of header fields [RFC 3261 §7.3].

    Each entry is one header field as it appeared (name, raw value), in
    order. Names are looked up ignoring case and compact forms, and come out
    of iteration and serialisation in canonical form (``v`` -> ``Via``,
    ``CALL-ID`` -> ``Call-ID``; unknown names as given). Values are kept
    stripped of surrounding white space, otherwise as received.

    The typed accessors of :class:`~voip_core.sip.message.SIPMessage` cache
    their parsed values here (:meth:`parsed`); every change (:meth:`add`,
    :meth:`insert`, :meth:`set`, :meth:`remove`) drops the cache, so they
    never go stale.

    >>> headers = Headers([("v", "SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b")])
    >>> headers.add("Call-ID", "x@y")
    >>> list(headers)
    [('Via', 'SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b'), ('Call-ID', 'x@y')]
    >>> headers.get_all("VIA")
    ['SIP/2.0/UDP a;branch=z9hG4bK1', 'SIP/2.0/UDP b']
    >>> headers.get("i")
    'x@y'
    """

    # Three parallel lists: lookup keys (lower-case canonical names), names
    # as given, and values. Parallel lists let the parser build them, and
    # lookups scan them, in C (list.count, list.index).
    __slots__ = ("_cache", "_keys", "_names", "_values")

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._keys: list[str] = []
        self._names: list[str] = []
        self._values: list[str] = []
        self._cache: dict[str, Any] = {}
        for name, value in items:
            self.add(name, value)

    @classmethod
    def _adopt(cls, keys: list[str], names: list[str], values: list[str]) -> Headers:
        """Adopt parallel lists that the parser has already checked."""
        headers = cls.__new__(cls)
        headers._keys = keys
        headers._names = names
        headers._values = values
        headers._cache = {}
        return headers

    # Reading -------------------------------------------------------------------------------

    def _lines(self, key: str) -> list[str]:
        """Every value under lookup key ``key``, one per header field."""
        keys = self._keys
        count = keys.count(key)
        if count == 1:
            return [self._values[keys.index(key)]]
        if count == 0:
            return []
        return [
            value for entry_key, value in zip(keys, self._values, strict=True) if entry_key == key
        ]

    @overload
    def get(self, name: str) -> str | None: ...
    @overload
    def get(self, name: str, default: str) -> str: ...
    @overload
    def get(self, name: str, default: _T) -> str | _T: ...

    def get(self, name: str, default: object = None) -> object:
        """The first value of ``name``, or ``default`` when there is none.

        For a list header (Via, Contact, Allow ...) that is the first element
        of :meth:`get_all`, not the whole first line.
        """
        key = header_key(name)
        if key not in _LIST_KEYS:
            keys = self._keys
            return self._values[keys.index(key)] if key in keys else default
        for value in self._lines(key):
            items = split_header_list(value)
            if items:
                return items[0]
        return default

    def get_all(self, name: str) -> list[str]:
        """Every value of ``name`` in order; comma lists split for list headers.

        Splitting happens only for headers whose grammar is a comma list
        (Via, Contact, Route, Record-Route, Allow, Supported, Require,
        Accept ...), and only outside quoted strings and ``<...>``
        [RFC 3261 §7.3.1]. WWW-Authenticate, Authorization, Proxy-*, Date and
        unknown headers are never split: one entry per header field.
        ``Contact: *`` gives ``["*"]``.
        """
        key = header_key(name)
        values = self._lines(key)
        if key not in _LIST_KEYS:
            return values
        if len(values) == 1:
            return split_header_list(values[0])
        return [item for value in values for item in split_header_list(value)]

    def get_lines(self, name: str) -> list[str]:
        """Every value of ``name``, one per header field, never split."""
        return self._lines(header_key(name))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and header_key(name) in self._keys

    def __iter__(self) -> Iterator[tuple[str, str]]:
        """``(name, value)`` for every header field, in order, names canonical."""
        return zip(map(_CANONICAL.get, self._keys, self._names), self._values, strict=True)

    def __len__(self) -> int:
        return len(self._keys)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        return self._keys == other._keys and self._values == other._values

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Headers({list(self)!r})"

    def copy(self) -> Headers:
        """An independent copy (the typed-value cache is not shared)."""
        return Headers._adopt(list(self._keys), list(self._names), list(self._values))

    # Changing ------------------------------------------------------------------------------

    def add(self, name: str, value: str) -> None:
        """Append a header field (after any others of the same name).

        Raises:
            ValueError: ``name`` is not a token, or ``value`` holds CR, LF or NUL.
        """
        self.insert(len(self._keys), name, value)

    def insert(self, index: int, name: str, value: str) -> None:
        """Insert a header field at ``index`` among all fields (0: first, as a proxy's Via).

        Raises:
            ValueError: ``name`` is not a token, or ``value`` holds CR, LF or NUL.
        """
        _check_name(name)
        value = _check_value(name, value)
        self._keys.insert(index, header_key(name))
        self._names.insert(index, name)
        self._values.insert(index, value)
        self._cache.clear()

    def set(self, name: str, value: str) -> None:
        """Replace every field of ``name`` by one, where the first one was (else at the end).

        Raises:
            ValueError: ``name`` is not a token, or ``value`` holds CR, LF or NUL.
        """
        _check_name(name)
        value = _check_value(name, value)
        key = header_key(name)
        keys = self._keys
        if key not in keys:
            self.add(name, value)
            return
        index = keys.index(key)
        self._names[index] = name
        self._values[index] = value
        if keys.count(key) > 1:
            self._keep(lambda position, entry_key: position <= index or entry_key != key)
        self._cache.clear()

    def remove(self, name: str) -> None:
        """Remove every field of ``name`` (nothing happens when there is none)."""
        key = header_key(name)
        if key in self._keys:
            self._keep(lambda _, entry_key: entry_key != key)
            self._cache.clear()

    def _keep(self, keep: Callable[[int, str], bool]) -> None:
        kept = [position for position, key in enumerate(self._keys) if keep(position, key)]
        self._keys = [self._keys[position] for position in kept]
        self._names = [self._names[position] for position in kept]
        self._values = [self._values[position] for position in kept]

    # Typed values --------------------------------------------------------------------------

    def parsed(self, key: str, parse: Callable[[Headers], _T]) -> _T:
        """``parse(self)``, cached under ``key`` until the headers change."""
        cache = self._cache
        if key in cache:
            cached: _T = cache[key]
            return cached
        value = cache[key] = parse(self)
        return value


# Parameters and quoted strings ---------------------------------------------------------


def _read_quoted(text: str, start: int) -> tuple[str, int]:
    """The content of the quoted-string at ``text[start] == '"'``, unescaped, and the end.

    ``\\x`` stands for ``x`` [RFC 3261 §25.1 quoted-pair].
    """
    end = text.find('"', start + 1)
    backslash = text.find("\\", start + 1, end if end != -1 else len(text))
    if end != -1 and backslash == -1:
        return text[start + 1 : end], end + 1
    pieces: list[str] = []
    index = start + 1
    length = len(text)
    while index < length:
        char = text[index]
        if char == '"':
            return "".join(pieces), index + 1
        if char == "\\":
            index += 1
            if index == length:
                break
            char = text[index]
        pieces.append(char)
        index += 1
    raise ParseError(f"unterminated quoted string in {text[:80]!r} [RFC 3261 §25.1]")


def _quote(text: str) -> str:
    """``text`` as a quoted-string, escaping ``"`` and ``\\`` [RFC 3261 §25.1]."""
    if _NEEDS_QUOTES.search(text) is not None:
        text = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def parse_parameters(text: str, start: int = 0, what: str = "header") -> dict[str, str | None]:
    """``;name=value`` pairs from ``text[start:]`` to its end [RFC 3261 §25.1].

    Names are lower-cased; values are kept as written (quotes included).
    LWS is allowed around ``;`` and ``=`` [RFC 3261 §25.1 SEMI, EQUAL].

    >>> parse_parameters(' ; tag = a1;lr;+sip.instance="<urn:x>"')
    {'tag': 'a1', 'lr': None, '+sip.instance': '"<urn:x>"'}

    Raises:
        ParseError: anything but a (possibly empty) list of parameters.
    """
    if start:
        text = text[start:]
    parameters: dict[str, str | None] = {}
    if _SIMPLE_PARAMETERS.fullmatch(text) is not None:
        if '"' in text:  # a ';' may hide in a quoted value
            return {name.lower(): value or None for name, value in _SIMPLE_PARAMETER.findall(text)}
        for item in text[1:].split(";"):
            name, equals, value = item.partition("=")
            parameters[name.lower()] = value if equals else None
        return parameters
    length = len(text)
    position = 0
    while position < length:
        match = _PARAMETER.match(text, position)
        if match is None:
            if not text[position:].strip(" \t"):
                break
            raise ParseError(f"malformed {what} parameters {text[position:][:80]!r}")
        parameters[match[1].lower()] = match[2]
        position = match.end()
    return parameters


def _format_parameters(parameters: Mapping[str, str | None]) -> str:
    return "".join(
        f";{name}" if value is None else f";{name}={value}" for name, value in parameters.items()
    )


# Name-addr -----------------------------------------------------------------------------


@dataclass(slots=True)
class NameAddress:
    """A name-addr or addr-spec with header parameters: From, To, Contact, Route...

    ``"Bob" <sip:bob@[::1]:5062;transport=tcp>;tag=abc`` has display name
    ``Bob``, the URI in brackets (with *its* parameters) and header parameter
    ``tag`` [RFC 3261 §20.10, §25.1].

    Attributes:
        display_name: Unquoted and unescaped; ``None`` when absent (``""``
            when written as ``""``).
        uri: The SIP, SIPS, tel or other URI.
        parameters: Header parameters (``tag``, ``expires``, ``q`` ...),
            lower-cased names, values as written.

    Instances handed out by a message are shared with its cache: make a
    changed copy (:meth:`with_tag`, :meth:`with_parameters`) instead of
    changing one in place.
    """

    display_name: str | None
    uri: URI
    parameters: dict[str, str | None] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> NameAddress:
        """Parse a name-addr (``Name <uri>;p=v``) or an addr-spec (``uri;p=v``).

        Without angle brackets every ``;parameter`` belongs to the header,
        not to the URI, and the URI may not hold ``,``, ``?`` or ``;``
        [RFC 3261 §20.10]; a URI with headers must therefore be bracketed
        [RFC 4475 §3.1.2.13]. LWS inside the brackets is rejected
        [RFC 4475 §3.1.2.14], as are unquoted display names with characters
        outside ``token`` [RFC 4475 §3.1.2.15] (UTF-8 letters excepted), and
        an unterminated quoted string [RFC 4475 §3.1.2.6]. No LWS is needed
        before ``<`` [RFC 4475 §3.1.1.6].

        Raises:
            ParseError: the value breaks the grammar above.
        """
        match = _SIP_NAME_ADDR.fullmatch(text)
        if match is not None:
            groups = match.groups()
            display_name = groups[1]
            if display_name is None:
                display_name = groups[0]
                if display_name is not None and "\\" in display_name:
                    display_name = _read_quoted(f'"{display_name}"', 0)[0]
            uri = SIPURI._from_groups(*groups[2:9])
            tail = groups[9]
            if not tail:
                return cls(display_name, uri, {})
            if '"' in tail or _SIMPLE_PARAMETERS.fullmatch(tail) is None:
                return cls(display_name, uri, parse_parameters(tail))
            parameters: dict[str, str | None] = {}
            for item in tail[1:].split(";"):
                name, equals, value = item.partition("=")
                parameters[name.lower()] = value if equals else None
            return cls(display_name, uri, parameters)
        return cls._parse_slowly(text)

    @classmethod
    def _parse_slowly(cls, text: str) -> NameAddress:
        text = text.strip(" \t")
        if not text:
            raise ParseError("empty name-addr [RFC 3261 §25.1]")
        display_name: str | None
        if text[0] == '"':
            display_name, after = _read_quoted(text, 0)
            less = after
            while less < len(text) and text[less] in " \t":
                less += 1
            if less == len(text) or text[less] != "<":
                raise ParseError(f"quoted display name without <URI> in {text[:80]!r}")
        else:
            less = text.find("<")
            quote = text.find('"')
            if less == -1 or -1 < quote < less:  # no brackets, or a '<' in a quoted param
                return cls._parse_addr_spec(text)
            display_name = text[:less].rstrip(" \t") or None
            if display_name is not None and _DISPLAY_TOKENS.fullmatch(display_name) is None:
                raise ParseError(
                    f"display name {display_name[:80]!r} must be tokens or a quoted string "
                    "[RFC 3261 §25.1]"
                )
        greater = text.find(">", less)
        if greater == -1:
            raise ParseError(f"'<' without '>' in {text[:80]!r} [RFC 3261 §25.1]")
        inner = text[less + 1 : greater]
        if not inner or inner[0] in " \t" or inner[-1] in " \t":
            raise ParseError(f"white space inside <...> in {text[:80]!r} [RFC 3261 §25.1]")
        uri = parse_uri(inner)
        if greater + 1 == len(text):
            return cls(display_name, uri, {})
        return cls(display_name, uri, parse_parameters(text, greater + 1, "header"))

    @classmethod
    def _parse_addr_spec(cls, text: str) -> NameAddress:
        semicolon = text.find(";")
        uri_text = text if semicolon == -1 else text[:semicolon].rstrip(" \t")
        if "?" in uri_text or "," in uri_text:
            raise ParseError(
                f"a URI with ',' or '?' must be in <...> [RFC 3261 §20.10]: {text[:80]!r}"
            )
        uri = parse_uri(uri_text)
        if semicolon == -1:
            return cls(None, uri, {})
        return cls(None, uri, parse_parameters(text, semicolon, "header"))

    def __str__(self) -> str:
        """Always the name-addr form, ``"Display" <uri>;params`` [RFC 3261 §20.10]."""
        display = "" if self.display_name is None else _quote(self.display_name) + " "
        return f"{display}<{self.uri}>{_format_parameters(self.parameters)}"

    @property
    def tag(self) -> str | None:
        """The ``tag`` parameter (From/To), ``None`` when absent [RFC 3261 §19.3]."""
        return self.parameters.get("tag")

    def with_tag(self, tag: str) -> NameAddress:
        """A copy with ``tag`` set [RFC 3261 §8.2.6.2].

        >>> str(NameAddress.parse("Bob <sip:bob@b>").with_tag("7"))
        '"Bob" <sip:bob@b>;tag=7'
        """
        return self.with_parameters(tag=tag)

    def with_parameters(
        self, parameters: Mapping[str, str | None] | None = None, /, **more: str | None
    ) -> NameAddress:
        """A copy with header parameters added or replaced (``None``: no value)."""
        merged = dict(self.parameters)
        merged.update(_lower_names(parameters or {}))
        merged.update(_lower_names(more))
        return NameAddress(self.display_name, self.uri, merged)


# Via -----------------------------------------------------------------------------------


@dataclass(slots=True)
class Via:
    """One Via value: ``SIP/2.0/UDP host:port;branch=...;received=...;rport`` [RFC 3261 §20.42].

    Attributes:
        transport: Upper case: ``UDP``, ``TCP``, ``TLS``, ``SCTP``, ``WS`` ...
            (unknown ones are accepted [RFC 4475 §3.1.1.10]).
        host: The sent-by host, IPv6 without brackets.
        port: The sent-by port, ``None`` when absent.
        parameters: ``branch``, ``received``, ``rport`` (``None`` when sent
            as a bare flag [RFC 3581 §3]), ``maddr``, ``ttl`` and others,
            names lower-cased.
        protocol: The sent-protocol, ``SIP/2.0`` in any message that
            :func:`~voip_core.sip.message.parse_message` accepts; another
            version is kept as written (upper-cased name) rather than refused
            here, so that a request with one can still be answered.

    Instances handed out by a message are shared with its cache: make a
    changed copy with :meth:`with_parameters`.
    """

    transport: str
    host: str
    port: int | None = None
    parameters: dict[str, str | None] = field(default_factory=dict)
    protocol: str = "SIP/2.0"

    @classmethod
    def parse(cls, text: str) -> Via:
        """Parse one via-parm (not a comma list) [RFC 3261 §25.1].

        LWS is allowed around ``/``, ``:``, ``;`` and ``=`` [RFC 4475 §3.1.1.1].

        Raises:
            ParseError: malformed sent-protocol, sent-by or parameters.
        """
        simple = _SIMPLE_VIA.fullmatch(text)
        if simple is not None:
            transport, host, port, parameters = simple.groups()
            sent_by_port = None if port is None else int(port)
            if sent_by_port is not None and sent_by_port > 65535:
                raise ParseError(f"Via port {sent_by_port} is not 0..65535 [RFC 3261 §25.1]")
            parsed: dict[str, str | None] = {}
            if parameters:
                for item in parameters[1:].split(";"):
                    name, equals, value = item.partition("=")
                    parsed[name.lower()] = value if equals else None
            return cls(
                transport if transport.isupper() else transport.upper(),
                _host(host) if host[0] == "[" else host,
                sent_by_port,
                parsed,
                "SIP/2.0",
            )
        text = text.strip(" \t")
        match = _VIA.match(text)
        if match is None:
            raise ParseError(f"malformed Via {text[:80]!r} [RFC 3261 §20.42]")
        name, version, transport, host, port = match.groups()
        protocol = "SIP/2.0" if name == "SIP" and version == "2.0" else f"{name.upper()}/{version}"
        port_number: int | None = None
        if port is not None:
            port_number = int(port)
            if port_number > 65535:
                raise ParseError(f"Via port {port_number} is not 0..65535 [RFC 3261 §25.1]")
        end = match.end()
        return cls(
            transport.upper(),
            _host(host) if host[0] == "[" else host,
            port_number,
            parse_parameters(text, end, "Via") if end < len(text) else {},
            protocol,
        )

    def __str__(self) -> str:
        """``SIP/2.0/UDP host:port;params`` [RFC 3261 §20.42]."""
        port = "" if self.port is None else f":{self.port}"
        parameters = _format_parameters(self.parameters)
        return f"{self.protocol}/{self.transport} {_format_host(self.host)}{port}{parameters}"

    @property
    def branch(self) -> str | None:
        """The ``branch`` parameter, the transaction id [RFC 3261 §8.1.1.7]."""
        return self.parameters.get("branch")

    @property
    def received(self) -> str | None:
        """The ``received`` parameter [RFC 3261 §18.2.1]."""
        return self.parameters.get("received")

    @property
    def rport(self) -> int | None:
        """The value of ``rport`` [RFC 3581 §4]; ``None`` when absent *or* a bare flag.

        Use ``"rport" in via.parameters`` to ask whether the client wants one.

        Raises:
            ParseError: ``rport`` has a value that is not a port number.
        """
        value = self.parameters.get("rport")
        if value is None:
            return None
        if not (value.isascii() and value.isdigit()) or len(value) > 5 or int(value) > 65535:
            raise ParseError(f"Via rport {value!r} is not a port [RFC 3581 §4]")
        return int(value)

    @property
    def sent_by(self) -> str:
        """``host[:port]`` with IPv6 brackets."""
        host = _format_host(self.host)
        return host if self.port is None else f"{host}:{self.port}"

    def with_parameters(
        self, parameters: Mapping[str, str | None] | None = None, /, **more: str | None
    ) -> Via:
        """A copy with parameters added or replaced (``None``: a flag such as ``rport``).

        >>> via = Via.parse("SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1;rport")
        >>> str(via.with_parameters(received="198.51.100.7", rport="5070"))
        'SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1;rport=5070;received=198.51.100.7'
        """
        merged = dict(self.parameters)
        merged.update(_lower_names(parameters or {}))
        merged.update(_lower_names(more))
        return Via(self.transport, self.host, self.port, merged, self.protocol)


# CSeq ----------------------------------------------------------------------------------

#: Largest CSeq number [RFC 3261 §8.1.1.5]: "MUST be expressible as a 32-bit
#: unsigned integer" and "less than 2**31" for requests a UAC generates.
MAX_CSEQ = 2**31 - 1


@dataclass(slots=True, frozen=True)
class CSeq:
    """The CSeq header: sequence number and method [RFC 3261 §20.16].

    >>> CSeq.parse("0009\\t INVITE")
    CSeq(number=9, method='INVITE')
    """

    number: int
    method: str

    @classmethod
    def parse(cls, text: str) -> CSeq:
        """Parse ``number LWS method``; the number must be 0..2**31-1 [RFC 3261 §8.1.1.5].

        Raises:
            ParseError: not two fields, a number out of range, or a method that is not a token.
        """
        digits, space, method = text.partition(" ")
        if (
            space
            and method in _KNOWN_METHODS
            and len(digits) < 10
            and digits.isdigit()
            and digits.isascii()
        ):
            return cls(int(digits), method)
        fields = text.split()
        if len(fields) != 2:
            raise ParseError(f"CSeq must be '<number> <method>': {text[:80]!r} [RFC 3261 §20.16]")
        digits, method = fields
        if not (digits.isascii() and digits.isdigit()):
            raise ParseError(f"CSeq number {digits[:40]!r} is not a number [RFC 3261 §20.16]")
        number = int(digits) if len(digits.lstrip("0")) <= 10 else MAX_CSEQ + 1
        if number > MAX_CSEQ:
            raise ParseError(f"CSeq number {digits[:40]} exceeds 2**31-1 [RFC 3261 §8.1.1.5]")
        if _TOKEN.fullmatch(method) is None:
            raise ParseError(f"CSeq method {method[:40]!r} is not a token [RFC 3261 §20.16]")
        return cls(number, method)

    def __str__(self) -> str:
        return f"{self.number} {self.method}"
