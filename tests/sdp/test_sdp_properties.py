"""Property tests for the SDP parser, serializer and offer/answer (hypothesis)."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sdp_samples import sdp_body

from voip_core.errors import NegotiationError, ParseError
from voip_core.sdp import (
    Attribute,
    Bandwidth,
    Connection,
    CryptoAttribute,
    MediaDescription,
    MediaFormat,
    Origin,
    SessionDescription,
    Timing,
    create_answer,
    create_offer,
    negotiate_formats,
)

# --- strategies for valid descriptions -------------------------------------------------------
#
# "Valid" is what the serializer can write and the parser reads back the same: tokens
# without whitespace, text without CR, LF or NUL (RFC 8866 §5) and without trailing
# blanks (the parser forgives those, so they cannot survive), lone surrogates excluded
# (not UTF-8).

_VISIBLE = st.characters(min_codepoint=0x21, max_codepoint=0x7E)
tokens = st.text(_VISIBLE, min_size=1, max_size=12)
names = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters=":"),
                min_size=1, max_size=12)  # fmt: skip
addresses = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="/"),
                    min_size=1, max_size=40)  # fmt: skip
texts = st.text(
    st.characters(exclude_categories=["Cs"], exclude_characters="\r\n\x00"), max_size=30
).filter(lambda text: not text.endswith((" ", "\t")))
numbers = st.integers(min_value=0, max_value=2**70)


@st.composite
def connections(draw: st.DrawFn) -> Connection:
    if draw(st.booleans()):
        return Connection(
            network_type=draw(tokens),
            address_type="IP6",
            address=draw(addresses),
            number_of_addresses=draw(st.none() | st.integers(1, 1000)),
        )
    address_type = draw(tokens.filter(lambda token: token != "IP6"))
    ttl = draw(st.none() | st.integers(0, 255))
    count = None if ttl is None else draw(st.none() | st.integers(1, 1000))
    return Connection(
        network_type=draw(tokens),
        address_type=address_type,
        address=draw(addresses),
        ttl=ttl,
        number_of_addresses=count,
    )


bandwidths = st.builds(Bandwidth, names, numbers)
attributes = st.builds(Attribute, names, st.none() | texts)
timings = st.builds(Timing, start=numbers, stop=numbers, repeats=st.lists(texts, max_size=2))
origins = st.builds(
    Origin,
    username=tokens,
    session_id=numbers,
    session_version=numbers,
    network_type=tokens,
    address_type=tokens,
    address=tokens,
)
rtp_protocols = st.sampled_from(["RTP/AVP", "RTP/SAVP", "RTP/AVPF", "UDP/TLS/RTP/SAVPF"])
other_protocols = tokens.filter(lambda token: "RTP/" not in token)


@st.composite
def media_descriptions(draw: st.DrawFn) -> MediaDescription:
    if draw(st.booleans()):
        protocol = draw(rtp_protocols)
        formats = draw(st.lists(st.integers(0, 127).map(str), max_size=6))
    else:
        protocol = draw(other_protocols)
        formats = draw(st.lists(tokens, max_size=3))
    return MediaDescription(
        media=draw(tokens),
        port=draw(st.integers(0, 65535)),
        port_count=draw(st.none() | st.integers(1, 65535)),
        protocol=protocol,
        formats=formats,
        information=draw(st.none() | texts),
        connection=draw(st.none() | connections()),
        bandwidths=draw(st.lists(bandwidths, max_size=2)),
        key=draw(st.none() | texts),
        attributes=draw(st.lists(attributes, max_size=5)),
    )


session_names = st.just(" ") | texts.filter(lambda text: text != "")
session_descriptions = st.builds(
    SessionDescription,
    origin=origins,
    session_name=session_names,
    information=st.none() | texts,
    uri=st.none() | texts,
    emails=st.lists(texts, max_size=2),
    phones=st.lists(texts, max_size=2),
    connection=st.none() | connections(),
    bandwidths=st.lists(bandwidths, max_size=2),
    timings=st.lists(timings, max_size=2),
    time_zones=st.none() | texts,
    key=st.none() | texts,
    attributes=st.lists(attributes, max_size=4),
    media=st.lists(media_descriptions(), max_size=3),
)


@given(session_descriptions)
def test_round_trip(sdp: SessionDescription) -> None:
    wire = sdp.serialize()
    assert SessionDescription.parse(wire) == sdp
    assert SessionDescription.parse(wire.replace(b"\r\n", b"\n")) == sdp
    assert SessionDescription.parse(str(sdp)) == sdp


@given(
    st.integers(0, 999_999_999),
    st.text(st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789"), min_size=1),
    st.lists(
        st.tuples(st.sampled_from(["inline", "x-method"]), st.text(_VISIBLE, min_size=1)).map(
            ":".join
        ),
        min_size=1,
        max_size=3,
    ).filter(lambda params: not any(";" in param for param in params)),
    st.lists(tokens, max_size=3),
)
def test_crypto_round_trip(
    tag: int, suite: str, key_params: list[str], session_params: list[str]
) -> None:
    crypto = CryptoAttribute(
        tag=tag, suite=suite, key_params=key_params, session_params=session_params
    )
    assert CryptoAttribute.parse(crypto.value) == crypto


# --- hostile input never raises anything but ParseError --------------------------------------


def exercise(data: bytes | str) -> None:
    """Parse; if that works, every derived view either works or raises ParseError."""
    try:
        sdp = SessionDescription.parse(data)
    except ParseError:
        return
    again = SessionDescription.parse(sdp.serialize())
    assert again == sdp
    assert again.serialize() == sdp.serialize()
    for media in sdp.media:
        sdp.direction_of(media)
        media.rtcp_mux  # noqa: B018
        for view in ("media_formats", "crypto", "ptime", "maxptime"):
            with contextlib.suppress(ParseError):
                getattr(media, view)


@given(st.binary(max_size=300))
def test_random_bytes(data: bytes) -> None:
    exercise(data)


@given(st.binary(max_size=200))
def test_random_bytes_after_a_valid_start(data: bytes) -> None:
    exercise(b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\n" + data)


_LINE_TYPES = "vosiuepcbtrzkam"
sdp_like_lines = st.tuples(
    st.sampled_from(_LINE_TYPES), st.text(st.sampled_from(" 0123456789:/=-abIPNVA\t"), max_size=25)
).map(lambda pair: f"{pair[0]}={pair[1]}")


@given(st.lists(sdp_like_lines, max_size=15))
def test_random_sdp_shaped_text(lines: list[str]) -> None:
    exercise("\r\n".join(["v=0", *lines]))


REALWORLD = [
    "arcor_200_ok_sdp.sip",
    "broadworks_vsbc_invite_crypto_dual_audio.sip",
    "sipjs_invite_websocket.sip",
    "microsip_invite_nondefault_port.sip",
    "sipp_ipv6_invite_fragmented.sip",
    "belle_sip_android_invite.sip",
]


@st.composite
def mutations(draw: st.DrawFn, body: bytes) -> bytes:
    data = bytearray(body)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "insert", "delete", "line"]))
        position = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[position] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[position:position] = draw(
                st.binary(max_size=4) | st.sampled_from([b"\r\n", b"\n", b":", b"/", b" ", b"="])
            )
        elif kind == "delete":
            del data[position : position + draw(st.integers(1, 8))]
        else:
            lines = bytes(data).split(b"\r\n")
            index = draw(st.integers(0, len(lines) - 1))
            action = draw(st.sampled_from(["drop", "duplicate", "move"]))
            line = lines.pop(index)
            if action == "duplicate":
                lines[index:index] = [line, line]
            elif action == "move":
                lines.insert(draw(st.integers(0, len(lines))), line)
            data = bytearray(b"\r\n".join(lines))
    return bytes(data)


@pytest.mark.parametrize("name", REALWORLD)
@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_realworld_sdp(vectors: Path, name: str, data: st.DataObject) -> None:
    body = sdp_body(vectors, name)
    exercise(body)  # the original parses; the property is about the mutants
    exercise(data.draw(mutations(body)))


# --- offer/answer ----------------------------------------------------------------------------

encodings = st.sampled_from(["PCMU", "PCMA", "G722", "opus", "telephone-event", "CN", "AMR"])
media_formats = st.builds(
    MediaFormat,
    st.none() | st.integers(0, 127),
    encodings,
    st.sampled_from([8000, 16000, 48000]),
    st.integers(1, 2),
    st.none() | st.sampled_from(["0-16", "useinbandfec=1", "mode-set=0,1;octet-align=1"]),
)


@given(st.lists(media_formats, max_size=6), st.lists(media_formats, max_size=6))
def test_negotiated_formats_are_offered_ones_in_order(
    offered: list[MediaFormat], supported: list[MediaFormat]
) -> None:
    try:
        common = negotiate_formats(offered, supported)
    except NegotiationError:
        assert all(
            f.is_auxiliary or not any(f.matches(ours) for ours in supported) for f in offered
        )
        return
    iterator = iter(offered)
    assert all(any(f is candidate for candidate in iterator) for f in common)  # a subsequence
    assert all(any(f.matches(ours) for ours in supported) for f in common)
    assert any(not f.is_auxiliary for f in common)


@given(
    st.lists(media_formats.filter(lambda f: f.payload_type is None), min_size=1, max_size=5),
    st.lists(media_formats, max_size=6),
    st.sampled_from(["sendrecv", "sendonly", "recvonly", "inactive"]),
)
def test_offer_answer_over_the_wire(
    ours: list[MediaFormat], theirs: list[MediaFormat], direction: str
) -> None:
    offer = SessionDescription.parse(
        create_offer(ours, address="192.0.2.1", port=4000, direction=direction).serialize()
    )
    assert [f.rtpmap_value for f in offer.media[0].media_formats] == [f.rtpmap_value for f in ours]
    try:
        answer = create_answer(offer, theirs, address="2001:db8::1", port=5000)
    except NegotiationError:
        return
    wire = SessionDescription.parse(answer.serialize())
    assert wire == answer
    offered_numbers = offer.media[0].formats
    answered = wire.media[0]
    assert set(answered.formats) <= set(offered_numbers)
    assert answered.formats == [n for n in offered_numbers if n in answered.formats]
    reversed_direction = {"sendonly": "recvonly", "recvonly": "sendonly"}
    assert answered.direction == reversed_direction.get(direction, direction)
