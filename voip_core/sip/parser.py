"""Parsing one SIP message from bytes [RFC 3261 §7]: :func:`parse_message`.

The start line is checked, the header fields split and unfolded, the header
section decoded as UTF-8 and the body framed by Content-Length; header
values are parsed later by the typed accessors of
:class:`~voip_core.sip.message_types.SIPMessage`. What is accepted and
refused is listed in :mod:`voip_core.sip.message`, which re-exports all of
this.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import cast

from voip_core.errors import ParseError
from voip_core.sip.framing import MAX_MESSAGE_SIZE, _blank_line
from voip_core.sip.grammar import _KNOWN_METHODS, _TOKEN
from voip_core.sip.headers import _NAME_KEYS, Headers, _key_of_name, header_key
from voip_core.sip.memo import _copy_uri, _keepable, _met_before, _remember
from voip_core.sip.message_types import SIPRequest, SIPResponse, _content_length_value
from voip_core.sip.uri import _SIP_URI, SIPURI, URI, parse_uri

__all__ = ["MAX_HEADERS", "VersionNotSupported", "parse_message"]

#: Most header fields (after unfolding) one message may have.
MAX_HEADERS = 256
_SIP_VERSION = re.compile(r"SIP/[0-9]+\.[0-9]+", re.IGNORECASE)


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


#: Header lines met before -> (lookup key, name as given, value), and
#: Request-URIs met before -> the URI (see voip_core.sip.memo).
_LINES: dict[str, tuple[str, str, str]] = {}
_REQUEST_URIS: dict[str, URI | None] = {}
#: Lines never kept: they carry credentials.
_CREDENTIALS = frozenset(("authorization", "proxy-authorization"))


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


def _fields(
    lines: list[str],
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]] | None:
    """Keys, names and values of the header lines ``lines[1:]``, or ``None`` for the slow path.

    ``None`` when the start line or a header line holds a CR or LF (bare line
    ends, a lone CR), a line is folded, has no colon, LWS before it or a name
    that is not a token: :func:`_fields_slowly` and :func:`_lenient_lines`
    sort those out and say what is wrong. Lines met before cost one lookup in
    :data:`_LINES`; new ones are split and remembered there.
    """
    first_line = lines[0]
    if "\r" in first_line or "\n" in first_line:
        return None
    if len(lines) == 1:
        return (), (), ()
    header_lines = lines[1:]
    entries = list(map(_LINES.get, header_lines))
    missing = entries.count(None)
    index = -1
    for _ in range(missing):
        index = entries.index(None, index + 1)
        line = header_lines[index]
        name, colon, value = line.partition(":")
        key = _NAME_KEYS.get(name) or _key_of_name(name)
        if key is None or not colon or "\r" in line or "\n" in line:
            return None
        fresh = entries[index] = (key, name, value.strip(" \t"))
        if key not in _CREDENTIALS:
            _remember(_LINES, line, fresh)
    keys, names, values = zip(*cast("list[tuple[str, str, str]]", entries), strict=True)
    return keys, names, values


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
    # anything else is sorted out by _lenient_lines. The header fields are
    # split here too, unless something unusual sends them to _fields_slowly
    # (after the start line, whose errors come first).
    end = data.find(b"\r\n\r\n", start)
    lines: list[str] | None = None
    fields = None
    if end != -1:
        try:
            text = data[start:end].decode()
        except UnicodeDecodeError:
            pass  # _lenient_lines says where
        else:
            lines = text.split("\r\n")
            fields = _fields(lines)
            if fields is None:
                line_ends = len(lines) - 1
                if text.count("\n") != line_ends or text.count("\r") != line_ends:
                    lines = None
            body_start = end + 4
    if lines is None:
        lines, body_start = _lenient_lines(data, start)
        fields = _fields(lines)
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
        if version_text == "SIP/2.0":
            version = version_text
        else:
            version = _check_version(version_text, first_line)
        known = _REQUEST_URIS.get(uri_text)
        if known is not None:
            uri = _copy_uri(known)
        else:
            match = _SIP_URI.fullmatch(uri_text)
            if match is not None:
                uri = SIPURI._from_groups(*match.groups())
            else:
                try:
                    uri = parse_uri(uri_text)
                except ParseError as error:
                    raise ParseError(f"bad Request-URI: {error}", line_number=1) from None
            if _keepable(uri) and _met_before(_REQUEST_URIS, uri_text):
                _REQUEST_URIS[uri_text] = uri
                uri = _copy_uri(uri)

    # Header fields [RFC 3261 §7.3]: split at the first colon (by _fields,
    # above); folding, LWS before a colon and errors take the slow path.
    keys: Sequence[str]
    names: Sequence[str]
    values: Sequence[str]
    if fields is not None:
        keys, names, values = fields
    else:
        names, values = _fields_slowly(lines[1:])
        keys = tuple(map(header_key, names))
        names, values = tuple(names), tuple(values)
    if len(names) > MAX_HEADERS:
        raise ParseError(f"more than {MAX_HEADERS} header fields")

    # Body, framed by Content-Length [RFC 3261 §7.4.2, §18.3].
    size = len(data)
    lengths_given = keys.count("content-length")
    if not lengths_given:
        body = data[body_start:]
    else:
        length_text = values[keys.index("content-length")]
        if lengths_given > 1:
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
