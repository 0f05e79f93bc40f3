"""Bounded memo tables for the SIP parsers: a text met before is not parsed again.

SIP traffic repeats itself. Every request and response of a dialog carries
the same From, To, Call-ID and Contact; a user agent's own Via and CSeq
come back in every response to its request, and retransmissions repeat
everything; most other header lines (Max-Forwards, Allow, Supported,
User-Agent, Content-Type ...) are the same in every message a peer sends.
So :func:`~voip_core.sip.message.parse_message` keeps the fields of the
header lines it has split, and the value parsers (``NameAddress.parse``,
``Via.parse``, ``CSeq.parse`` and the Request-URI) keep what they made of
the texts they have parsed, in tables keyed by the exact text.

What a table hands out is a fresh copy (the frozen :class:`CSeq` excepted):
a caller may change it without touching the table or any other message, as
if it had been parsed again. Only texts that parsed are kept, so errors are
raised exactly as before. Each table holds at most :data:`MEMO_ENTRIES`
texts of at most :data:`MEMO_TEXT_LENGTH` characters and is emptied when
full: a peer that sends endless distinct values costs one table's memory
and a miss per value, nothing more. Addresses, Vias and Request-URIs are
kept from their second sighting on (:func:`_met_before`), so that one-off
values (a new branch or tag) cost no copy; header lines and CSeqs, which
need none, from the first. Nothing that carries a secret is kept: no
Authorization or Proxy-Authorization line, no URI with a password.

>>> from voip_core.sip.header_values import NameAddress
>>> text = "<sip:bob@example.com;transport=tcp>;tag=1"
>>> first, second = NameAddress.parse(text), NameAddress.parse(text)  # parsed, then kept
>>> second.parameters["tag"] = "changed"; second.uri.parameters.clear()
>>> NameAddress.parse(text) == first != second  # a fresh copy of what was kept
True
"""

from __future__ import annotations

from typing import Any, TypeVar

from voip_core.sip.uri import SIPURI, URI, AbsoluteURI, TelURI

__all__ = ["MEMO_ENTRIES", "MEMO_TEXT_LENGTH"]

_V = TypeVar("_V")

#: Most texts one memo table keeps before it is emptied.
MEMO_ENTRIES = 2048
#: Longest text a memo table keeps (longer ones are parsed every time).
MEMO_TEXT_LENGTH = 512


def _remember(table: dict[str, _V], text: str, value: _V) -> None:
    """Keep ``value`` under ``text`` in ``table``, within the bounds above.

    >>> table: dict[str, int] = {}
    >>> _remember(table, "70", 70); _remember(table, "x" * 513, 0)
    >>> table
    {'70': 70}
    """
    if len(text) <= MEMO_TEXT_LENGTH:
        if len(table) >= MEMO_ENTRIES:
            table.clear()
        table[text] = value


def _met_before(table: dict[str, Any], text: str) -> bool:
    """Whether ``text`` was met before; if not, it is noted (under ``None``) for next time.

    The value parsers keep a value from its second sighting on: the one-off
    values of SIP (the Via branch, From tag and Call-ID of each new
    transaction or call) would otherwise fill the tables with copies that
    nobody asks for again.

    >>> table: dict[str, int | None] = {}
    >>> _met_before(table, "70"), _met_before(table, "70"), table
    (False, True, {'70': None})
    """
    if text in table:
        return True
    _remember(table, text, None)
    return False


def _keepable(uri: URI) -> bool:
    """Whether a value holding ``uri`` may be kept: not when it carries a password."""
    return not isinstance(uri, SIPURI) or uri.password is None


def _copy_uri(uri: URI) -> URI:
    """A copy of ``uri`` that shares nothing mutable with it."""
    if isinstance(uri, SIPURI):
        return SIPURI(
            uri.scheme,
            uri.user,
            uri.password,
            uri.host,
            uri.port,
            uri.parameters.copy() if uri.parameters else {},
            uri.headers.copy() if uri.headers else {},
        )
    if isinstance(uri, TelURI):
        return TelURI(uri.number, uri.parameters.copy())
    return AbsoluteURI(uri.text)
