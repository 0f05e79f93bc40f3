"""The SDP parser: text or UTF-8 bytes in, a :class:`SessionDescription` out.

The syntax is that of [RFC 8866 §5] (which obsoletes RFC 4566 without changing
the wire format). The data model it fills in, and the serializer that writes
it back, are in :mod:`voip_core.sdp.description`; call
:meth:`SessionDescription.parse <voip_core.sdp.SessionDescription.parse>`,
which delegates here.

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

from voip_core.errors import ParseError
from voip_core.sdp.description import (
    _MAX_DIGITS,
    Attribute,
    Bandwidth,
    Connection,
    MediaDescription,
    Origin,
    SessionDescription,
    Timing,
    _fail,
    _number,
)

__all__ = ["parse_session_description"]

_SESSION_ONLY_TYPES = frozenset("vosueptrz")
_TYPE_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyz")


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


def parse_session_description(data: bytes | str) -> SessionDescription:
    """Parse an SDP body (UTF-8 bytes or text) [RFC 8866 §5].

    This is what :meth:`SessionDescription.parse` runs.

    Raises:
        ParseError: the body is not valid UTF-8 or breaks the SDP grammar;
            ``line_number`` (1-based) and ``line`` say where.
    """
    if isinstance(data, str):
        text = data
    else:
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
    # The grammar of RFC 8866 §5 (and §9), line by line. Decoding shares this
    # function so that SessionDescription.parse is a single call deep.
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
