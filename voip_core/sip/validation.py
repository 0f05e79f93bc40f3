"""What a UAS checks before it processes a message, and the 400 it sends when it cannot.

:func:`validate_request` and :func:`validate_response` run every typed
accessor and add the cross-header rules [RFC 3261 §8.1.1, §8.2];
:func:`salvage_for_400` builds a 400 Bad Request from bytes that did not
even parse [RFC 3261 §8.2.6.1]. All are importable from
:mod:`voip_core.sip.message` too.
"""

from __future__ import annotations

import re
import secrets

from voip_core.errors import ParseError
from voip_core.sip.framing import MAX_MESSAGE_SIZE, _blank_line
from voip_core.sip.grammar import _TOKEN
from voip_core.sip.header_values import _VIA
from voip_core.sip.headers import _CANONICAL, Headers, header_key, split_header_list
from voip_core.sip.message_types import SIPMessage, SIPRequest, SIPResponse, _with_to_tag
from voip_core.sip.parser import MAX_HEADERS, parse_message
from voip_core.sip.uri import SIPURI

__all__ = ["salvage_for_400", "validate_request", "validate_response"]

_REASON_UNSAFE = re.compile(r"[^A-Za-z0-9 \-_.!~*'();/?:@&=+$,\x80-\U0010ffff]")


_MANDATORY = (
    ("via", "Via"),
    ("to", "To"),
    ("from", "From"),
    ("call-id", "Call-ID"),
    ("cseq", "CSeq"),
)


def _validate_common(message: SIPMessage) -> None:
    keys = message.headers._keys
    missing = [name for key, name in _MANDATORY if key not in keys]
    if missing:
        raise ParseError(f"missing {', '.join(missing)} [RFC 3261 §8.1.1]")
    if not message._vias:
        raise ParseError("empty Via header [RFC 3261 §20.42]")
    # Each accessor parses its header and raises ParseError naming it.
    _ = (message.to, message.from_header, message.call_id, message.cseq, message._contacts)
    _ = (message._name_addresses("record-route"), message.content_length)
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
    _ = (request.max_forwards, request._name_addresses("route"))
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
