"""Property tests for SIP messages and URIs (hypothesis).

* Generated requests, responses, URIs, name-addrs and Vias survive
  serialise-then-parse unchanged.
* Random bytes and random mutations of real messages never raise anything
  but ParseError, from parse_message, from any typed accessor, from the
  validators and from create_response; salvage_for_400 never raises at all.
* StreamFramer gives the same messages however the stream is cut.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import string
from collections.abc import Callable
from pathlib import Path

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from conftest import VECTORS
from voip_core.errors import ParseError
from voip_core.sip import (
    SIPURI,
    CSeq,
    Headers,
    KeepAlive,
    NameAddress,
    SIPRequest,
    SIPResponse,
    StreamFramer,
    TelURI,
    Via,
    parse_message,
    parse_uri,
    salvage_for_400,
    validate_request,
    validate_response,
)

_TOKEN_CHARS = string.ascii_letters + string.digits + "-.!%*_+`'~"
tokens = st.text(_TOKEN_CHARS, min_size=1, max_size=10)
# Text that a header value, parameter or URI part may hold once escaped: no
# surrogates (not UTF-8), no CR, LF or NUL in header values.
_text = st.characters(exclude_categories=("Cs",))
any_text = st.text(_text, max_size=12)
header_text = st.text(
    st.characters(exclude_categories=("Cs",), exclude_characters="\r\n\x00"), max_size=30
).map(lambda text: text.strip(" \t"))
lower_names = st.text(_text, min_size=1, max_size=8).filter(lambda name: name.lower() == name)
hostnames = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,20}", fullmatch=True)
hosts = st.one_of(
    hostnames,
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(lambda address: str(ipaddress.IPv6Address(address))),
)


@st.composite
def sip_uris(draw: st.DrawFn) -> SIPURI:
    user = draw(st.none() | st.text(_text, min_size=1, max_size=12))
    return SIPURI(
        scheme=draw(st.sampled_from(["sip", "sips"])),
        user=user,
        password=None if user is None else draw(st.none() | any_text),
        host=draw(hosts),
        port=draw(st.none() | st.integers(0, 65535)),
        parameters=draw(st.dictionaries(lower_names, st.none() | any_text, max_size=3)),
        headers=draw(st.dictionaries(st.text(_text, min_size=1, max_size=6), any_text, max_size=2)),
    )


tel_uris = st.builds(
    TelURI,
    number=st.from_regex(r"\+[0-9][0-9\-.()]{0,12}|[0-9A-F*#]{1,8}", fullmatch=True),
    parameters=st.dictionaries(
        st.text(string.ascii_lowercase + "-", min_size=1, max_size=6),
        st.none() | tokens,
        max_size=2,
    ),
)
uris = st.one_of(sip_uris(), tel_uris)
header_parameter_values = st.none() | tokens | st.from_regex(r'"[^"\\\r\n]{0,8}"', fullmatch=True)
header_parameters = st.dictionaries(tokens.map(str.lower), header_parameter_values, max_size=3)
names_and_addresses = st.builds(
    NameAddress,
    display_name=st.none()
    | st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\r\n"), max_size=12),
    uri=uris,
    parameters=header_parameters,
)
vias = st.builds(
    Via,
    transport=st.sampled_from(["UDP", "TCP", "TLS", "SCTP", "WS", "WSS"]),
    host=hosts,
    port=st.none() | st.integers(0, 65535),
    parameters=st.dictionaries(
        tokens.map(str.lower), st.none() | tokens | st.just("2001:db8::1"), max_size=3
    ),
)

_KNOWN_HEADERS = [
    *("Via", "v", "From", "f", "To", "t", "Call-ID", "i", "CSeq", "Contact", "m", "Max-Forwards"),
    *("Route", "Record-Route", "Subject", "s", "Supported", "k", "Allow", "User-Agent"),
    *("WWW-Authenticate", "Date", "Content-Type", "c"),
]
header_names = st.one_of(st.sampled_from(_KNOWN_HEADERS), tokens).filter(
    lambda name: name.lower() not in ("content-length", "l")
)
headers = st.lists(st.tuples(header_names, header_text), max_size=12).map(Headers)
bodies = st.binary(max_size=64)


@st.composite
def requests(draw: st.DrawFn) -> SIPRequest:
    return SIPRequest(draw(tokens), draw(uris), draw(headers), draw(bodies))


@st.composite
def responses(draw: st.DrawFn) -> SIPResponse:
    reason = draw(st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\r\n")))
    return SIPResponse(draw(st.integers(100, 699)), reason, draw(headers), draw(bodies))


messages = st.one_of(requests(), responses())


def _without_length(message: SIPRequest | SIPResponse) -> list[tuple[str, str]]:
    return [(name, value) for name, value in message.headers if name != "Content-Length"]


# Round trips ---------------------------------------------------------------------------------


@given(sip_uris())
def test_sip_uri_round_trip(uri: SIPURI) -> None:
    assert SIPURI.parse(str(uri)) == uri
    assert parse_uri(str(uri)) == uri


@given(tel_uris)
def test_tel_uri_round_trip(uri: TelURI) -> None:
    assert TelURI.parse(str(uri)) == uri


@given(names_and_addresses)
def test_name_addr_round_trip(address: NameAddress) -> None:
    assert NameAddress.parse(str(address)) == address


@given(vias)
def test_via_round_trip(via: Via) -> None:
    assert Via.parse(str(via)) == via


@given(st.integers(0, 2**31 - 1), tokens)
def test_cseq_round_trip(number: int, method: str) -> None:
    assert CSeq.parse(str(CSeq(number, method))) == CSeq(number, method)


@settings(max_examples=200, deadline=None)
@given(messages)
def test_message_round_trip(message: SIPRequest | SIPResponse) -> None:
    parsed = parse_message(message.serialize())
    assert type(parsed) is type(message)
    if isinstance(message, SIPRequest):
        assert isinstance(parsed, SIPRequest)
        assert (parsed.method, parsed.uri) == (message.method, message.uri)
    else:
        assert isinstance(parsed, SIPResponse)
        assert (parsed.status_code, parsed.reason) == (message.status_code, message.reason)
    assert _without_length(parsed) == list(message.headers)
    assert parsed.content_length == len(message.body)
    assert parsed.body == message.body
    assert parsed.serialize() == message.serialize()


# Robustness ----------------------------------------------------------------------------------


def _accessors(message: SIPRequest | SIPResponse) -> list[Callable[[], object]]:
    calls: list[Callable[[], object]] = [
        lambda: message.via,
        lambda: message.call_id,
        lambda: message.cseq,
        lambda: message.from_header,
        lambda: message.to,
        lambda: message.contact,
        lambda: message.max_forwards,
        lambda: message.content_length,
        lambda: message.content_type,
        lambda: message.record_route,
        lambda: message.route,
        lambda: [via.rport for via in message.via],
        lambda: [str(value) for value in (*message.via, message.to, *message.contact)],
        message.serialize,
    ]
    if isinstance(message, SIPRequest):
        calls.append(lambda: validate_request(message))
        calls.append(lambda: message.create_response(400, to_tag="t").serialize())
    else:
        calls.append(lambda: validate_response(message))
    return calls


def _only_parse_errors(data: bytes) -> None:
    """parse_message and everything after it raise nothing but ParseError."""
    salvaged = salvage_for_400(data)  # never raises
    if salvaged is not None:
        assert parse_message(salvaged.serialize()).start_line.startswith("SIP/2.0 400 ")
    try:
        message = parse_message(data)
    except ParseError:
        return
    for call in _accessors(message):
        with contextlib.suppress(ParseError):
            call()


def _samples() -> list[bytes]:
    samples: list[bytes] = []
    for folder in ("rfc4475", "realworld"):
        directory = VECTORS / folder
        if not directory.is_dir():
            continue
        manifest = json.loads((directory / "manifest.json").read_text())
        names = sorted(manifest["files"])
        samples += [(directory / name).read_bytes() for name in names]
    return samples or [
        b"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nTo: <sip:a@b>\r\n"
        b"From: <sip:c@d>;tag=1\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nl: 0\r\n\r\n"
    ]


SAMPLES = _samples()


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_random_bytes_raise_only_parse_error(data: bytes) -> None:
    _only_parse_errors(data)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            ["INVITE sip:a@b SIP/2.0", "SIP/2.0 200 OK", "Via: ", "v:", "To:", "From: ", "i:",
             "CSeq: ", "Contact: ", "m:", "l: ", "Content-Length: 3", "Max-Forwards: ", "<", ">",
             "sip:", "sips:[", "]", "tel:+1", '"', "\\", ";", ",", "=", ":", "@", "?", "&", "%",
             "%4", " ", "\t", "\r\n", "\n", "\r", "\r\n ", "tag=", "branch=", "rport", "SIP/2.0/",
             "UDP ", "*", "0", "99999999999", "é", "\x00", "\xff"]
        ),
        max_size=40,
    )
)  # fmt: skip
def test_random_sip_like_text_raises_only_parse_error(pieces: list[str]) -> None:
    _only_parse_errors("".join(pieces).encode("utf-8", "surrogateescape"))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(SAMPLES),
    st.lists(
        st.tuples(
            st.sampled_from(["replace", "insert", "delete", "duplicate"]),
            st.floats(0, 1),
            st.binary(min_size=1, max_size=4)
            | st.sampled_from([b"\r\n", b" ", b";", b",", b'"', b"<", b">", b":", b"\r\n ", b"%"]),
        ),
        min_size=1,
        max_size=6,
    ),
)
def test_mutated_real_messages_raise_only_parse_error(
    sample: bytes, mutations: list[tuple[str, float, bytes]]
) -> None:
    data = bytearray(sample)
    for operation, where, piece in mutations:
        at = int(where * len(data))
        if operation == "replace":
            data[at : at + len(piece)] = piece
        elif operation == "insert":
            data[at:at] = piece
        elif operation == "delete":
            del data[at : at + len(piece) * 3]
        else:
            line_end = data.find(b"\r\n", at)
            line_start = data.rfind(b"\r\n", 0, at) + 2
            if line_end != -1:
                data[line_end:line_end] = data[line_start - 2 : line_end]
    _only_parse_errors(bytes(data))


# Stream framing ------------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.one_of(requests(), responses()).map(lambda m: m.serialize()), max_size=5),
    st.lists(st.booleans(), max_size=5),
    st.lists(st.integers(1, 200), max_size=30),
)
def test_framer_yields_the_same_messages_however_cut(
    wire: list[bytes], pings: list[bool], cuts: list[int]
) -> None:
    stream = b"".join(
        (b"\r\n\r\n" if index < len(pings) and pings[index] else b"") + message
        for index, message in enumerate(wire)
    )
    whole = StreamFramer().feed(stream)
    assert [item for item in whole if isinstance(item, bytes)] == wire
    assert whole.count(KeepAlive.PING) == sum(pings[: len(wire)])
    framer = StreamFramer()
    pieces: list[bytes | KeepAlive] = []
    position = 0
    for cut in cuts:
        pieces += framer.feed(stream[position : position + cut])
        position += cut
    pieces += framer.feed(stream[position:])
    assert [item for item in pieces if isinstance(item, bytes)] == wire
    assert framer.buffered == 0
    for message in wire:
        assume(True)
        parse_message(message)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400), st.lists(st.integers(1, 50), max_size=10))
def test_framer_raises_only_parse_error(data: bytes, cuts: list[int]) -> None:
    framer = StreamFramer(max_message_size=300)
    position = 0
    try:
        for cut in [*cuts, len(data)]:
            framer.feed(data[position : position + cut])
            position += cut
    except ParseError:
        pass


def test_samples_were_found() -> None:
    assert len(SAMPLES) > 1 or not Path(VECTORS).is_dir()
