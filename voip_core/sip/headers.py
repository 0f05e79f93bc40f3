"""SIP header fields: the ordered multi-map and the typed values the stack reads.

* :class:`Headers` keeps every header field in order of appearance, under
  its canonical name (compact forms such as ``v`` and ``i`` become ``Via``
  and ``Call-ID`` [RFC 3261 §7.3.3]), with lookups that ignore case
  [RFC 3261 §7.3.1].
* :class:`NameAddress` (From, To, Contact, Route, Record-Route,
  Refer-To ...), :class:`Via` and :class:`CSeq` are the parsed forms of the
  header values the transaction and dialog layers read [RFC 3261 §20, §25.1].

:class:`Headers` and the header names live here; the typed values live in
:mod:`voip_core.sip.header_values` and the shared grammar
(:func:`parse_parameters`) in :mod:`voip_core.sip.grammar`, and both are
importable from this module too.

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

from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar, overload

from voip_core.errors import ParseError as ParseError
from voip_core.sip.grammar import _KNOWN_METHODS as _KNOWN_METHODS
from voip_core.sip.grammar import _TOKEN as _TOKEN
from voip_core.sip.grammar import parse_parameters
from voip_core.sip.header_values import _VIA as _VIA
from voip_core.sip.header_values import MAX_CSEQ as MAX_CSEQ
from voip_core.sip.header_values import CSeq, NameAddress, Via
from voip_core.sip.uri import SIPURI as SIPURI
from voip_core.sip.uri import URI as URI
from voip_core.sip.uri import parse_uri as parse_uri

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

    # Three parallel sequences: lookup keys (lower-case canonical names), names
    # as given, and values. Parallel sequences let the parser build them, and
    # lookups scan them, in C (count, index). A parsed message holds tuples,
    # turned into lists on its first change: tuples of strings cost the cyclic
    # garbage collector nothing once it has seen them, and a message can be
    # kept for a transaction's 32 s [RFC 3261 §17.2.2].
    __slots__ = ("_cache", "_keys", "_names", "_values")

    _keys: list[str] | tuple[str, ...]
    _names: list[str] | tuple[str, ...]
    _values: list[str] | tuple[str, ...]

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._keys = []
        self._names = []
        self._values = []
        self._cache: dict[str, Any] = {}
        for name, value in items:
            self.add(name, value)

    @classmethod
    def _adopt(
        cls,
        keys: list[str] | tuple[str, ...],
        names: list[str] | tuple[str, ...],
        values: list[str] | tuple[str, ...],
    ) -> Headers:
        """Adopt parallel lists or tuples that the parser has already checked."""
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
        return tuple(self._keys) == tuple(other._keys) and tuple(self._values) == tuple(
            other._values
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Headers({list(self)!r})"

    def copy(self) -> Headers:
        """An independent copy (the typed-value cache is not shared)."""
        if isinstance(self._keys, tuple):  # immutable: shared until either side changes
            return Headers._adopt(self._keys, self._names, self._values)
        return Headers._adopt(list(self._keys), list(self._names), list(self._values))

    def _lists(self) -> tuple[list[str], list[str], list[str]]:
        """The three sequences as lists, ready to be changed."""
        keys, names, values = self._keys, self._names, self._values
        if not isinstance(keys, list) or not isinstance(names, list):
            keys = self._keys = list(keys)
            names = self._names = list(names)
        if not isinstance(values, list):
            values = self._values = list(values)
        return keys, names, values

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
        key = _NAME_KEYS.get(name)  # names met before are tokens
        if key is None:
            _check_name(name)
            key = header_key(name)
        value = _check_value(name, value)
        keys, names, values = self._lists()
        keys.insert(index, key)
        names.insert(index, name)
        values.insert(index, value)
        self._cache.clear()

    def set(self, name: str, value: str) -> None:
        """Replace every field of ``name`` by one, where the first one was (else at the end).

        Raises:
            ValueError: ``name`` is not a token, or ``value`` holds CR, LF or NUL.
        """
        _check_name(name)
        value = _check_value(name, value)
        key = header_key(name)
        if key not in self._keys:
            self.add(name, value)
            return
        keys, names, values = self._lists()
        index = keys.index(key)
        names[index] = name
        values[index] = value
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
