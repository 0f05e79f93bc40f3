"""The pieces of RFC 3261's header grammar that several header values share [RFC 3261 §25.1].

Tokens, quoted strings and ``;name=value`` parameter lists, as compiled
patterns and small readers and writers: :func:`parse_parameters` (also
importable from :mod:`voip_core.sip.headers`), quoting for display names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from voip_core.errors import ParseError

__all__ = ["parse_parameters"]

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
_NEEDS_QUOTES = re.compile(r'["\\]')
# A parameter list without LWS, the common case, checked in one go; and its items.
_SIMPLE_PARAMETERS = re.compile(
    rf"(?:;[{_TOKEN_CHARS}]+(?:=(?:[{_TOKEN_CHARS}:\[\]]+|{_QUOTED}))?)+", re.DOTALL
)
_SIMPLE_PARAMETER = re.compile(
    rf";([{_TOKEN_CHARS}]+)(?:=([{_TOKEN_CHARS}:\[\]]+|{_QUOTED}))?", re.DOTALL
)
_KNOWN_METHODS = frozenset(
    ("INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "PRACK", "SUBSCRIBE", "NOTIFY",
     "PUBLISH", "INFO", "REFER", "MESSAGE", "UPDATE")
)  # fmt: skip


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
