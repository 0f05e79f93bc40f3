"""Tests for voip_core.rtp.packet: wire fixtures, rejections and properties."""

from __future__ import annotations

import re
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from voip_core.errors import ParseError
from voip_core.rtp import HeaderExtension, RTPPacket, sequence_distance, timestamp_distance

# ---------------------------------------------------------------------------
# Hand-built wire fixtures [RFC 3550 §5.1]
# ---------------------------------------------------------------------------

# V=2 P=0 X=0 CC=0 | M=0 PT=0 | seq 1 | ts 160 | SSRC 0xDEADBEEF; no payload.
MINIMAL = bytes.fromhex("80 00 0001 000000a0 deadbeef")

# M=1 PT=8 (PCMA) | seq 0x1234 | ts 123456 | SSRC 0x11223344 | payload 01 02 03.
MARKER = bytes.fromhex("80 88 1234 0001e240 11223344 010203")

# CC=2: CSRCs 1 and 0xFFFFFFFF, then a 2-octet payload.
TWO_CSRCS = bytes.fromhex("82 00 0002 00000140 cafebabe 00000001 ffffffff abcd")

# X=1, profile 0xBEDE, 2 words: element ID 1 (3 octets ab cd ef), element ID 3
# (1 octet 05), two padding octets [RFC 8285 §4.2]; then payload "hi".
ONE_BYTE_EXTENSION = bytes.fromhex("90 60 0005 00000320 00000007 bede0002 12abcdef 30050000 6869")

# P=1: payload de ad, then 4 padding octets whose last one counts them.
PADDING_FOUR = bytes.fromhex("a0 00 0003 000001e0 00000009 dead 00000004")


def _everything_wire() -> bytes:
    """Build the P=1 X=1 CC=2 M=1 PT=96 fixture part by part."""
    return (
        bytes.fromhex("b2 e0 ffff ffffffff 01020304")  # V=2 P X CC=2 | M PT=96
        + bytes.fromhex("0000000a 0000000b")  # CSRC 10, 11
        + bytes.fromhex("bede0001 41aabb00")  # ID 4, 2 octets aa bb, padding
        + bytes.fromhex("55")  # payload
        + bytes.fromhex("000003")  # 3 padding octets, count last
    )


EVERYTHING = _everything_wire()


def test_minimal_header_parses_to_its_fields() -> None:
    packet = RTPPacket.parse(MINIMAL)
    assert packet.marker is False
    assert packet.payload_type == 0
    assert packet.sequence_number == 1
    assert packet.timestamp == 160
    assert packet.ssrc == 0xDEADBEEF
    assert packet.csrc == ()
    assert packet.extension is None
    assert packet.payload == b""
    assert packet.padding == 0


def test_minimal_header_serializes_to_12_octets() -> None:
    packet = RTPPacket(payload_type=0, sequence_number=1, timestamp=160, ssrc=0xDEADBEEF)
    assert packet.serialize() == MINIMAL
    assert bytes(packet) == MINIMAL


def test_marker_and_payload_type_share_the_second_octet() -> None:
    packet = RTPPacket.parse(MARKER)
    assert packet == RTPPacket(
        marker=True,
        payload_type=8,
        sequence_number=0x1234,
        timestamp=123456,
        ssrc=0x11223344,
        payload=b"\x01\x02\x03",
    )
    assert packet.serialize() == MARKER


def test_payload_type_127_without_marker() -> None:
    wire = bytes.fromhex("80 7f 0000 00000000 00000000")
    packet = RTPPacket.parse(wire)
    assert (packet.marker, packet.payload_type) == (False, 127)
    assert packet.serialize() == wire


def test_csrc_list_of_two() -> None:
    packet = RTPPacket.parse(TWO_CSRCS)
    assert packet.csrc == (1, 0xFFFFFFFF)
    assert packet.ssrc == 0xCAFEBABE
    assert packet.payload == b"\xab\xcd"
    assert packet.serialize() == TWO_CSRCS
    built = RTPPacket(
        payload_type=0,
        sequence_number=2,
        timestamp=320,
        ssrc=0xCAFEBABE,
        csrc=(1, 0xFFFFFFFF),
        payload=b"\xab\xcd",
    )
    assert built.serialize() == TWO_CSRCS


def test_one_byte_header_extension() -> None:
    packet = RTPPacket.parse(ONE_BYTE_EXTENSION)
    assert packet.payload_type == 96
    assert packet.sequence_number == 5
    assert packet.extension == HeaderExtension(0xBEDE, bytes.fromhex("12abcdef30050000"))
    assert packet.extension.elements() == [(1, b"\xab\xcd\xef"), (3, b"\x05")]
    assert packet.payload == b"hi"
    assert packet.serialize() == ONE_BYTE_EXTENSION


def test_empty_header_extension_is_valid() -> None:
    wire = bytes.fromhex("90 00 0000 00000000 00000000 abcd0000 ff")
    packet = RTPPacket.parse(wire)
    assert packet.extension == HeaderExtension(0xABCD, b"")
    assert packet.payload == b"\xff"
    assert packet.serialize() == wire


def test_padding_of_four() -> None:
    packet = RTPPacket.parse(PADDING_FOUR)
    assert packet.padding == 4
    assert packet.payload == b"\xde\xad"
    assert packet.serialize() == PADDING_FOUR


def test_padding_filling_everything_after_the_header() -> None:
    wire = bytes.fromhex("a0 00 0000 00000000 00000000 0000000005")
    packet = RTPPacket.parse(wire)
    assert packet.padding == 5
    assert packet.payload == b""
    assert packet.serialize() == wire


def test_padding_of_one_is_just_the_count_octet() -> None:
    wire = bytes.fromhex("a0 00 0000 00000000 00000000 77 01")
    packet = RTPPacket.parse(wire)
    assert (packet.payload, packet.padding) == (b"\x77", 1)
    assert packet.serialize() == wire


def test_padding_contents_are_not_kept() -> None:
    # Only the count octet matters [RFC 3550 §5.1]; we send zeros.
    wire = bytes.fromhex("a0 00 0000 00000000 00000000 99 aabb03")
    packet = RTPPacket.parse(wire)
    assert (packet.payload, packet.padding) == (b"\x99", 3)
    assert packet.serialize() == bytes.fromhex("a0 00 0000 00000000 00000000 99 000003")


def test_everything_combined() -> None:
    packet = RTPPacket.parse(EVERYTHING)
    expected = RTPPacket(
        marker=True,
        payload_type=96,
        sequence_number=0xFFFF,
        timestamp=0xFFFFFFFF,
        ssrc=0x01020304,
        csrc=(10, 11),
        extension=HeaderExtension(0xBEDE, bytes.fromhex("41aabb00")),
        payload=b"\x55",
        padding=3,
    )
    assert packet == expected
    assert packet.extension is not None
    assert packet.extension.elements() == [(4, b"\xaa\xbb")]
    assert expected.serialize() == EVERYTHING


@pytest.mark.parametrize("kind", [bytearray, memoryview])
def test_parse_accepts_other_buffers_and_returns_bytes(kind: type) -> None:
    packet = RTPPacket.parse(kind(EVERYTHING))
    assert packet == RTPPacket.parse(EVERYTHING)
    assert type(packet.payload) is bytes
    assert packet.extension is not None
    assert type(packet.extension.data) is bytes


def test_parse_of_a_memoryview_slice() -> None:
    datagram = b"junk" + MARKER
    packet = RTPPacket.parse(memoryview(datagram)[4:])
    assert packet.payload == b"\x01\x02\x03"
    assert packet.sequence_number == 0x1234


# ---------------------------------------------------------------------------
# Rejections: ParseError with the offset of the offending octets
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wire", "offset", "words"),
    [
        pytest.param(b"", 0, "shorter than the 12-octet", id="empty"),
        pytest.param(MINIMAL[:1], 1, "shorter than the 12-octet", id="1-octet"),
        pytest.param(MINIMAL[:11], 11, "shorter than the 12-octet", id="11-octets"),
        pytest.param(b"\x00" + MINIMAL[1:], 0, "version 0", id="version-0"),
        pytest.param(b"\x40" + MINIMAL[1:], 0, "version 1", id="version-1"),
        pytest.param(b"\xc0" + MINIMAL[1:], 0, "version 3", id="version-3"),
        pytest.param(b"\x7f" + MINIMAL[1:], 0, "version 1", id="version-1-all-bits"),
        pytest.param(b"\x81" + MINIMAL[1:], 12, "CSRC list of 1", id="csrc-missing"),
        pytest.param(TWO_CSRCS[:19], 12, "CSRC list of 2", id="csrc-truncated"),
        pytest.param(b"\x8f" + MINIMAL[1:] + bytes(56), 12, "CSRC list of 15", id="csrc-15"),
        pytest.param(b"\x90" + MINIMAL[1:], 12, "extension header", id="ext-header-missing"),
        pytest.param(
            b"\x90" + MINIMAL[1:] + b"\xbe\xde\x00",
            12,
            "extension header",
            id="ext-header-truncated",
        ),
        pytest.param(
            TWO_CSRCS[:12].replace(b"\x82", b"\x92", 1) + bytes(8) + b"\xbe\xde",
            20,
            "extension header",
            id="ext-header-after-csrc-truncated",
        ),
        pytest.param(
            b"\x90" + MINIMAL[1:] + b"\xbe\xde\x00\x01",
            14,
            "extension of 1 words",
            id="ext-body-missing",
        ),
        pytest.param(
            ONE_BYTE_EXTENSION[:23],
            14,
            "extension of 2 words",
            id="ext-body-truncated",
        ),
        pytest.param(
            b"\x90" + MINIMAL[1:] + b"\xbe\xde\xff\xff" + bytes(100),
            14,
            "extension of 65535 words",
            id="ext-length-huge",
        ),
        pytest.param(b"\xa0" + MINIMAL[1:], 12, "no octet follows", id="padding-no-room"),
        pytest.param(
            b"\xa0" + MINIMAL[1:] + b"\x11\x22\x00",
            14,
            "padding count is zero",
            id="padding-zero",
        ),
        pytest.param(
            b"\xa0" + MINIMAL[1:] + b"\x11\x04",
            13,
            "padding count 4 exceeds the 2 octets",
            id="padding-too-big",
        ),
        pytest.param(
            b"\xa0" + MINIMAL[1:] + b"\xff",
            12,
            "padding count 255 exceeds the 1 octets",
            id="padding-255-after-header",
        ),
        pytest.param(
            b"\xb0" + MINIMAL[1:] + b"\xbe\xde\x00\x01\x10\x00\x00\x00" + b"\x77\x03",
            21,
            "padding count 3 exceeds the 2 octets",
            id="padding-into-extension",
        ),
        pytest.param(
            b"\xa1" + MINIMAL[1:] + b"\x00\x00\x00\x01" + b"\x05",
            16,
            "padding count 5 exceeds the 1 octets",
            id="padding-into-csrc",
        ),
    ],
)
def test_malformed_packets_are_rejected(wire: bytes, offset: int, words: str) -> None:
    with pytest.raises(ParseError) as caught:
        RTPPacket.parse(wire)
    assert caught.value.offset == offset
    assert words in str(caught.value)
    assert f"at offset {offset}" in str(caught.value)


def test_parse_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="shorter"):
        RTPPacket.parse(b"\x80")


# ---------------------------------------------------------------------------
# Construction and serialization limits
# ---------------------------------------------------------------------------

_VALID: dict[str, object] = {"payload_type": 0, "sequence_number": 0, "timestamp": 0, "ssrc": 0}


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("payload_type", 128, "payload_type must be 0..127, got 128"),
        ("payload_type", -1, "payload_type must be 0..127, got -1"),
        ("sequence_number", 65536, "sequence_number must be 0..65535"),
        ("sequence_number", -1, "sequence_number must be 0..65535"),
        ("timestamp", 2**32, "timestamp must be 0..2**32-1"),
        ("timestamp", -1, "timestamp must be 0..2**32-1"),
        ("ssrc", 2**32, "ssrc must be 0..2**32-1"),
        ("ssrc", -5, "ssrc must be 0..2**32-1"),
        ("csrc", tuple(range(16)), "at most 15 CSRC identifiers fit, got 16"),
        ("csrc", (1, 2**32), "CSRC identifiers must be 0..2**32-1, got 4294967296"),
        ("csrc", (-1,), "CSRC identifiers must be 0..2**32-1, got -1"),
        ("padding", 256, "padding must be 0..255 octets, got 256"),
        ("padding", -1, "padding must be 0..255 octets, got -1"),
    ],
)
def test_out_of_range_fields_are_refused(field: str, value: object, words: str) -> None:
    fields: dict[str, object] = {**_VALID, field: value}
    pattern = re.escape(words)
    with pytest.raises(ValueError, match=pattern):
        RTPPacket(**fields)  # type: ignore[arg-type]
    packet = RTPPacket(payload_type=0, sequence_number=0, timestamp=0, ssrc=0)
    setattr(packet, field, value)
    with pytest.raises(ValueError, match=pattern):
        packet.serialize()


def test_limits_are_accepted() -> None:
    packet = RTPPacket(
        marker=True,
        payload_type=127,
        sequence_number=65535,
        timestamp=2**32 - 1,
        ssrc=2**32 - 1,
        csrc=tuple(range(15)),
        padding=255,
    )
    wire = packet.serialize()
    assert wire[0] == 0x80 | 0x20 | 15
    assert wire[1] == 0xFF
    assert len(wire) == 12 + 15 * 4 + 255
    assert wire[-1] == 255
    assert RTPPacket.parse(wire) == packet


def test_a_reused_packet_serializes_its_new_fields() -> None:
    packet = RTPPacket(payload_type=0, sequence_number=65535, timestamp=0, ssrc=7, payload=b"a")
    first = packet.serialize()
    packet.sequence_number = 0
    packet.timestamp = 160
    packet.marker = True
    second = packet.serialize()
    assert first == bytes.fromhex("80 00 ffff 00000000 00000007 61")
    assert second == bytes.fromhex("80 80 0000 000000a0 00000007 61")


@pytest.mark.parametrize(
    ("profile", "data", "words"),
    [
        (0xBEDE, b"\x00\x00\x00", "multiple of 4 octets, got 3"),
        (0xBEDE, b"\x00" * 5, "multiple of 4 octets, got 5"),
        (0xBEDE, b"\x00" * 6, "multiple of 4 octets, got 6"),
        (0x10000, b"", "profile must be 0..65535, got 65536"),
        (-1, b"", "profile must be 0..65535, got -1"),
        (0xBEDE, bytes(4 * 65536), "at most 262140 octets, got 262144"),
    ],
)
def test_bad_header_extensions_are_refused(profile: int, data: bytes, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        HeaderExtension(profile, data)


def test_largest_header_extension_round_trips() -> None:
    extension = HeaderExtension(0x1234, bytes(range(256)) * 1023 + bytes(252))
    packet = RTPPacket(payload_type=0, sequence_number=0, timestamp=0, ssrc=0, extension=extension)
    wire = packet.serialize()
    assert wire[12:16] == b"\x12\x34\xff\xff"
    assert RTPPacket.parse(wire) == packet


# ---------------------------------------------------------------------------
# RFC 8285 elements
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("profile", "data", "elements"),
    [
        pytest.param(0xBEDE, b"", [], id="one-byte-empty"),
        pytest.param(0xBEDE, bytes(4), [], id="one-byte-only-padding"),
        pytest.param(
            0xBEDE,
            bytes.fromhex("10aa 0000 2f") + bytes(range(16)) + bytes.fromhex("000000"),
            [(1, b"\xaa"), (2, bytes(range(16)))],
            id="one-byte-padding-between-and-16-octets",
        ),
        pytest.param(
            0xBEDE,
            bytes.fromhex("10aa f3bb 20cc 0000"),
            [(1, b"\xaa")],
            id="one-byte-id-15-stops",
        ),
        pytest.param(
            0xBEDE,
            bytes.fromhex("10aa 10bb 5f01 0203"),
            [(1, b"\xaa"), (1, b"\xbb")],
            id="one-byte-truncated-element-stops-repeated-id-kept",
        ),
        pytest.param(
            0x1000,
            bytes.fromhex("0100 0203 aabbcc00"),
            [(1, b""), (2, b"\xaa\xbb\xcc")],
            id="two-byte-empty-and-3-octets",
        ),
        pytest.param(
            0x100F,
            bytes.fromhex("00 ff01 7e"),
            [(255, b"\x7e")],
            id="two-byte-appbits-padding-first",
        ),
        pytest.param(
            0x1000,
            bytes.fromhex("0501 aa 06"),
            [(5, b"\xaa")],
            id="two-byte-id-without-length-stops",
        ),
        pytest.param(
            0x1000,
            bytes.fromhex("0501 aa 0609 000000"),
            [(5, b"\xaa")],
            id="two-byte-truncated-element-stops",
        ),
        pytest.param(0x1010, bytes.fromhex("0101aa00"), [], id="not-two-byte-profile"),
        pytest.param(0xABCD, bytes.fromhex("10aa0000"), [], id="other-profile"),
    ],
)
def test_rfc8285_elements(profile: int, data: bytes, elements: list[tuple[int, bytes]]) -> None:
    assert HeaderExtension(profile, data).elements() == elements


# ---------------------------------------------------------------------------
# Sequence and timestamp arithmetic [RFC 3550 Appendix A.1]
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [
        (100, 100, 0),
        (0, 1, 1),
        (1, 0, -1),
        (65535, 0, 1),
        (0, 65535, -1),
        (65530, 5, 11),
        (5, 65530, -11),
        (0, 32767, 32767),
        (0, 32768, -32768),
        (32768, 0, -32768),
        (1000, 1000 + 65536, 0),
    ],
)
def test_sequence_distance(a: int, b: int, distance: int) -> None:
    assert sequence_distance(a, b) == distance


@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [
        (0, 160, 160),
        (160, 0, -160),
        (2**32 - 160, 0, 160),
        (0, 2**32 - 160, -160),
        (0, 2**31 - 1, 2**31 - 1),
        (0, 2**31, -(2**31)),
        (7, 7, 0),
    ],
)
def test_timestamp_distance(a: int, b: int, distance: int) -> None:
    assert timestamp_distance(a, b) == distance


@given(st.integers(0, 65535), st.integers(-32768, 32767))
def test_sequence_distance_inverts_modular_addition(a: int, step: int) -> None:
    assert sequence_distance(a, (a + step) % 65536) == step


@given(st.integers(0, 2**32 - 1), st.integers(-(2**31), 2**31 - 1))
def test_timestamp_distance_inverts_modular_addition(a: int, step: int) -> None:
    assert timestamp_distance(a, (a + step) % 2**32) == step


# ---------------------------------------------------------------------------
# Property tests
# ---------------------------------------------------------------------------

_UINT32 = st.integers(0, 2**32 - 1)
_extensions = st.builds(
    HeaderExtension,
    st.integers(0, 0xFFFF),
    st.integers(0, 6).flatmap(lambda words: st.binary(min_size=4 * words, max_size=4 * words)),
)
_packets = st.builds(
    RTPPacket,
    marker=st.booleans(),
    payload_type=st.integers(0, 127),
    sequence_number=st.integers(0, 65535),
    timestamp=_UINT32,
    ssrc=_UINT32,
    csrc=st.lists(_UINT32, max_size=15).map(tuple),
    extension=st.none() | _extensions,
    payload=st.binary(max_size=64),
    padding=st.integers(0, 255),
)


@given(_packets)
def test_packets_round_trip(packet: RTPPacket) -> None:
    assert RTPPacket.parse(packet.serialize()) == packet


@st.composite
def _valid_wire(draw: st.DrawFn) -> tuple[bytes, dict[str, object]]:
    """Encode a packet by hand, independently of RTPPacket.serialize."""
    marker = draw(st.booleans())
    payload_type = draw(st.integers(0, 127))
    sequence_number = draw(st.integers(0, 65535))
    timestamp = draw(_UINT32)
    ssrc = draw(_UINT32)
    csrc = tuple(draw(st.lists(_UINT32, max_size=15)))
    extension = draw(st.none() | st.tuples(st.integers(0, 0xFFFF), st.integers(0, 4)))
    payload = draw(st.binary(max_size=48))
    padding = draw(st.integers(0, 255))
    first = (2 << 6) | (0x20 if padding else 0) | (0x10 if extension is not None else 0) | len(csrc)
    second = marker << 7 | payload_type
    wire = struct.pack("!BBHII", first, second, sequence_number, timestamp, ssrc)
    wire += b"".join(struct.pack("!I", source) for source in csrc)
    extension_value = None
    if extension is not None:
        profile, words = extension
        body = draw(st.binary(min_size=4 * words, max_size=4 * words))
        wire += struct.pack("!HH", profile, words) + body
        extension_value = HeaderExtension(profile, body)
    wire += payload
    if padding:
        wire += bytes(padding - 1) + bytes([padding])
    fields: dict[str, object] = {
        "marker": marker,
        "payload_type": payload_type,
        "sequence_number": sequence_number,
        "timestamp": timestamp,
        "ssrc": ssrc,
        "csrc": csrc,
        "extension": extension_value,
        "payload": payload,
        "padding": padding,
    }
    return wire, fields


@given(_valid_wire())
def test_valid_wire_round_trips(case: tuple[bytes, dict[str, object]]) -> None:
    wire, fields = case
    packet = RTPPacket.parse(wire)
    assert packet == RTPPacket(**fields)  # type: ignore[arg-type]
    assert packet.serialize() == wire


def _parse_or_refuse(data: bytes) -> None:
    """Parse data; only ParseError may escape, and a success must re-encode."""
    try:
        packet = RTPPacket.parse(data)
    except ParseError as error:
        assert error.offset is not None
        assert 0 <= error.offset <= len(data)
        return
    wire = packet.serialize()
    assert len(wire) == len(data)
    assert wire[:2] == data[:2]
    if packet.extension is not None:
        packet.extension.elements()


@given(st.binary(max_size=96))
def test_random_bytes_only_raise_parse_error(data: bytes) -> None:
    _parse_or_refuse(data)


@given(st.integers(0x80, 0xBF), st.binary(min_size=11, max_size=96))
def test_random_version_2_bytes_only_raise_parse_error(first: int, rest: bytes) -> None:
    _parse_or_refuse(bytes([first]) + rest)


@given(st.sampled_from([0xBEDE, 0x1000, 0x100A]), st.binary(max_size=64))
def test_elements_never_raise_and_respect_the_forms(profile: int, body: bytes) -> None:
    data = body + bytes(-len(body) % 4)
    elements = HeaderExtension(profile, data).elements()
    consumed = 0
    for identifier, value in elements:
        if profile == 0xBEDE:
            assert 1 <= identifier <= 14
            assert 1 <= len(value) <= 16
            consumed += 1 + len(value)
        else:
            assert 1 <= identifier <= 255
            assert len(value) <= 255
            consumed += 2 + len(value)
    assert consumed <= len(data)
