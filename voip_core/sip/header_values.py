"""The typed header values the stack reads: :class:`NameAddress`, :class:`Via`, :class:`CSeq`.

:class:`NameAddress` is From, To, Contact, Route, Record-Route, Refer-To...;
:class:`Via` one via-parm; :class:`CSeq` the sequence number and method
[RFC 3261 §20, §25.1]. Each ``parse`` takes the text of one header value
(one list element for list headers) after line folding has been undone, and
raises :class:`~voip_core.errors.ParseError` on what the grammar refuses.
All of them are importable from :mod:`voip_core.sip.headers` too.

Parameter names are case-insensitive and kept lower-cased; parameter values
are kept exactly as written, including the double quotes of a quoted-string
value (``+sip.instance="<urn:uuid:...>"``), so that ``str()`` gives back an
equivalent header value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from voip_core.errors import ParseError
from voip_core.sip.grammar import (
    _DISPLAY_TOKENS,
    _KNOWN_METHODS,
    _SIMPLE_PARAMETERS,
    _TOKEN,
    _TOKEN_CHARS,
    _format_parameters,
    _quote,
    _read_quoted,
    parse_parameters,
)
from voip_core.sip.memo import _copy_uri, _keepable, _met_before, _remember
from voip_core.sip.uri import (
    _SIP_URI_PATTERN,
    SIPURI,
    URI,
    _format_host,
    _host,
    _lower_names,
    parse_uri,
)

__all__ = ["MAX_CSEQ", "CSeq", "NameAddress", "Via"]

# Texts parsed before -> what they gave (see voip_core.sip.memo).
_ADDRESSES: dict[str, NameAddress | None] = {}
_VIAS: dict[str, Via | None] = {}
_CSEQS: dict[str, CSeq] = {}

_VIA = re.compile(
    rf"([{_TOKEN_CHARS}]+)[ \t]*/[ \t]*([{_TOKEN_CHARS}]+)[ \t]*/[ \t]*([{_TOKEN_CHARS}]+)"
    r"[ \t]+(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_][A-Za-z0-9_.\-]*)"
    r"(?:[ \t]*:[ \t]*([0-9]{1,5}))?"
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
        known = _ADDRESSES.get(text)
        if known is None or cls is not NameAddress:
            parsed = cls._parse_text(text)
            if (
                cls is not NameAddress
                or not _keepable(parsed.uri)
                or not _met_before(_ADDRESSES, text)
            ):
                return parsed
            _ADDRESSES[text] = known = parsed
        # A copy: the table's instance never leaves this module (see voip_core.sip.memo).
        return NameAddress(
            known.display_name,
            _copy_uri(known.uri),
            known.parameters.copy() if known.parameters else {},
        )

    @classmethod
    def _parse_text(cls, text: str) -> NameAddress:
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
        return NameAddress(self.display_name, self.uri, {**self.parameters, "tag": tag})

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
        known = _VIAS.get(text)
        if known is None or cls is not Via:
            parsed = cls._parse_text(text)
            if cls is not Via or not _met_before(_VIAS, text):
                return parsed
            _VIAS[text] = known = parsed
        return Via(known.transport, known.host, known.port, known.parameters.copy(), known.protocol)

    @classmethod
    def _parse_text(cls, text: str) -> Via:
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
        known = _CSEQS.get(text)
        if known is not None and cls is CSeq:
            return known  # frozen: safe to share
        parsed = cls._parse_text(text)
        if cls is CSeq:
            _remember(_CSEQS, text, parsed)
        return parsed

    @classmethod
    def _parse_text(cls, text: str) -> CSeq:
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
