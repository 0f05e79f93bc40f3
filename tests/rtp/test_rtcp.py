"""Tests for voip_core.rtp.rtcp: wire fixtures, validity, statistics, timing and quality."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voip_core.errors import ParseError
from voip_core.rtp.packet import timestamp_distance
from voip_core.rtp.rtcp import (
    CODEC_IMPAIRMENTS,
    NTP_UNIX_OFFSET,
    Bye,
    CodecImpairment,
    RawRTCPPacket,
    ReceiverReport,
    ReceiverStatistics,
    ReportBlock,
    RTCPPacket,
    RTCPScheduler,
    SDESChunk,
    SDESItem,
    SDESItemType,
    SenderReport,
    SenderStatistics,
    SourceDescription,
    estimate_mos,
    ntp_from_unix,
    ntp_short,
    parse_compound,
    round_trip_time,
    rtcp_interval,
    serialize_compound,
    unix_from_ntp,
)

COMPENSATION = 1.21828  # e - 3/2 as RFC 3550 Appendix A.7 writes it.

# ---------------------------------------------------------------------------
# Hand-built wire fixtures, laid out as the figures of RFC 3550 §6.4 - §6.6
# ---------------------------------------------------------------------------

# RR: V=2 P=0 RC=1 | PT=201 | length 7 (8 words) | SSRC 0x11223344, then one
# block: SSRC 0x55667788 | fraction 0x40 cumulative 5 | extended highest
# 0x00010010 | jitter 32 | LSR 0xAABBCCDD | DLSR 0x8000 (0.5 s).
RR_ONE_BLOCK = bytes.fromhex(
    "81c90007 11223344 55667788 40000005 00010010 00000020 aabbccdd 00008000"
)

# SR: RC=0, length 6 | SSRC | NTP 0x83AA7E80_80000000 | RTP 160 | 3 packets | 480 octets.
SR_NO_BLOCKS = bytes.fromhex("80c80006 11223344 83aa7e80 80000000 000000a0 00000003 000001e0")

# SDES, SC=1: chunk SSRC 0x11223344, CNAME (1) of 5 octets "alice"; 4 + 2 + 5
# = 11 octets, so one null octet ends the list and reaches the boundary.
SDES_ALICE = bytes.fromhex("81ca0003 11223344 0105 616c696365 00")

# CNAME "bob@h1" (6 octets): 4 + 2 + 6 = 12 is already on a boundary, but the
# list must still end with a null, so a whole word of nulls follows [RFC 3550 §6.5].
SDES_BOB = bytes.fromhex("81ca0004 11223344 0106 626f62406831 00000000")

# BYE, SC=1, reason "bye": length octet 3 + 3 octets fill one word exactly.
BYE_REASON = bytes.fromhex("81cb0002 11223344 03 627965")

# BYE reason "ciao": 1 + 4 octets, then 3 null octets of padding.
BYE_CIAO = bytes.fromhex("81cb0003 11223344 04 6369616f 000000")

# APP, subtype 4: SSRC, name "name", 4 octets of data; kept raw.
APP_PACKET = bytes.fromhex("84cc0003 11223344 6e616d65 deadbeef")

# An empty RR (RC=0) heading a compound.
EMPTY_RR = bytes.fromhex("80c90001 11223344")


def test_receiver_report_with_one_block_byte_exact() -> None:
    block = ReportBlock(
        ssrc=0x55667788,
        fraction_lost=0x40,
        cumulative_lost=5,
        highest_sequence=0x00010010,
        jitter=32,
        last_sr=0xAABBCCDD,
        delay_since_last_sr=0x8000,
    )
    report = ReceiverReport(ssrc=0x11223344, reports=(block,))
    assert report.serialize() == RR_ONE_BLOCK
    assert bytes(report) == RR_ONE_BLOCK
    assert ReceiverReport.parse(RR_ONE_BLOCK) == report
    assert parse_compound(RR_ONE_BLOCK, strict=True) == [report]


def test_sender_report_byte_exact() -> None:
    report = SenderReport(
        ssrc=0x11223344,
        ntp_timestamp=0x83AA7E80_80000000,
        rtp_timestamp=160,
        packet_count=3,
        octet_count=480,
    )
    assert report.serialize() == SR_NO_BLOCKS
    assert SenderReport.parse(SR_NO_BLOCKS) == report
    # 0x83AA7E80 is 1970-01-01 in NTP seconds; the fraction is one half.
    assert unix_from_ntp(report.ntp_timestamp) == 0.5


@pytest.mark.parametrize(
    ("cname", "wire"),
    [("alice", SDES_ALICE), ("bob@h1", SDES_BOB)],
)
def test_sdes_cname_chunk_byte_exact(cname: str, wire: bytes) -> None:
    chunk = SDESChunk(0x11223344, (SDESItem.from_text(SDESItemType.CNAME, cname),))
    packet = SourceDescription(chunks=(chunk,))
    assert packet.serialize() == wire
    parsed = SourceDescription.parse(wire)
    assert parsed == packet
    assert parsed.chunks[0].cname == cname


@pytest.mark.parametrize("size", range(12))
def test_sdes_chunk_ends_with_one_to_four_nulls_on_a_boundary(size: int) -> None:
    chunk = SDESChunk(1, (SDESItem(SDESItemType.NOTE, b"x" * size),))
    wire = chunk.serialize()
    assert len(wire) % 4 == 0
    items_end = 4 + 2 + size
    assert 1 <= len(wire) - items_end <= 4
    assert wire[items_end:] == bytes(len(wire) - items_end)


def test_sdes_chunk_without_items_is_four_nulls() -> None:
    packet = SourceDescription(chunks=(SDESChunk(7),))
    assert packet.serialize() == bytes.fromhex("81ca0002 00000007 00000000")
    assert SourceDescription.parse(packet.serialize()) == packet
    assert packet.chunks[0].cname is None


def test_sdes_other_items_are_kept_raw() -> None:
    items = (
        SDESItem(SDESItemType.CNAME, b"me@example.org"),
        SDESItem(SDESItemType.TOOL, b"voip-core"),
        SDESItem(SDESItemType.PRIV, b"\x03abc\xff\x00"),
        SDESItem(200, b""),
    )
    packet = SourceDescription(chunks=(SDESChunk(1, items), SDESChunk(2)))
    assert SourceDescription.parse(packet.serialize()) == packet


@pytest.mark.parametrize(
    ("reason", "wire"),
    [("bye", BYE_REASON), ("ciao", BYE_CIAO)],
)
def test_bye_byte_exact(reason: str, wire: bytes) -> None:
    packet = Bye(sources=(0x11223344,), reason=reason)
    assert packet.serialize() == wire
    assert Bye.parse(wire) == packet


def test_bye_without_reason_and_with_an_undecodable_reason() -> None:
    assert Bye(sources=(1, 2)).serialize() == bytes.fromhex("82cb0002 00000001 00000002")
    wire = bytes.fromhex("81cb0002 00000001 02 ff fe 00")
    parsed = Bye.parse(wire)
    assert parsed.reason is not None
    assert parsed.serialize() == wire


def test_app_packet_is_kept_raw() -> None:
    [packet] = parse_compound(APP_PACKET)
    assert packet == RawRTCPPacket(
        packet_type=204, subtype=4, payload=bytes.fromhex("11223344 6e616d65 deadbeef")
    )
    assert packet.serialize() == APP_PACKET
    assert RawRTCPPacket.parse(APP_PACKET) == packet


@pytest.mark.parametrize(
    ("cumulative", "field"),
    [(-1, "ffffff"), (-2, "fffffe"), (-0x800000, "800000"), (0x7FFFFF, "7fffff"), (0, "000000")],
)
def test_cumulative_lost_is_24_bit_signed(cumulative: int, field: str) -> None:
    block = ReportBlock(ssrc=1, fraction_lost=0xFF, cumulative_lost=cumulative)
    wire = block.serialize()
    assert wire[4:8] == bytes.fromhex("ff" + field)
    report = ReceiverReport(ssrc=9, reports=(block,))
    assert ReceiverReport.parse(report.serialize()).reports[0].cumulative_lost == cumulative


@pytest.mark.parametrize("cumulative", [-0x800001, 0x800000])
def test_cumulative_lost_out_of_range_is_refused(cumulative: int) -> None:
    with pytest.raises(ValueError, match="cumulative_lost"):
        ReportBlock(ssrc=1, cumulative_lost=cumulative)


def test_compound_round_trip_byte_exact() -> None:
    wire = RR_ONE_BLOCK + SDES_ALICE + APP_PACKET + BYE_REASON
    packets = parse_compound(wire, strict=True)
    assert [type(packet) for packet in packets] == [
        ReceiverReport,
        SourceDescription,
        RawRTCPPacket,
        Bye,
    ]
    assert serialize_compound(packets) == wire


def test_thirty_one_is_the_most_the_count_field_holds() -> None:
    blocks = tuple(ReportBlock(ssrc=n, cumulative_lost=-n) for n in range(31))
    report = SenderReport(
        ssrc=1, ntp_timestamp=2, rtp_timestamp=3, packet_count=4, octet_count=5, reports=blocks
    )
    wire = report.serialize()
    assert wire[0] == 0x80 | 31
    assert SenderReport.parse(wire) == report
    chunks = tuple(SDESChunk(n, (SDESItem(1, bytes(n)),)) for n in range(31))
    assert SourceDescription.parse(SourceDescription(chunks=chunks).serialize()).chunks == chunks
    sources = tuple(range(31))
    assert Bye.parse(Bye(sources=sources, reason="x" * 255).serialize()).sources == sources
    with pytest.raises(ValueError, match="at most 31"):
        ReceiverReport(ssrc=1, reports=(*blocks, ReportBlock(ssrc=99)))
    with pytest.raises(ValueError, match="at most 31"):
        Bye(sources=tuple(range(32)))
    with pytest.raises(ValueError, match="255 octets"):
        Bye(sources=(), reason="é" * 128)
    with pytest.raises(ValueError, match="item_type"):
        SDESItem(0, b"")
    with pytest.raises(ValueError, match="multiple of 4"):
        RawRTCPPacket(packet_type=204, payload=b"abc")


def test_serialize_compound_of_nothing_is_refused() -> None:
    with pytest.raises(ValueError):
        serialize_compound([])


# ---------------------------------------------------------------------------
# Validity checks [RFC 3550 Appendix A.2]
# ---------------------------------------------------------------------------


def _padded_sdes() -> bytes:
    """SDES_ALICE with P=1 and one word of padding whose last octet counts 4."""
    return bytes.fromhex("a1ca0004") + SDES_ALICE[4:] + bytes.fromhex("00000004")


def test_padding_on_the_last_packet_is_stripped() -> None:
    packets = parse_compound(EMPTY_RR + _padded_sdes(), strict=True)
    assert packets[1] == SourceDescription.parse(SDES_ALICE)
    assert serialize_compound(packets) == EMPTY_RR + SDES_ALICE


def test_padding_on_a_packet_that_is_not_last() -> None:
    wire = bytes.fromhex("a0c90002 11223344 00000004") + SDES_ALICE
    with pytest.raises(ParseError, match="only the last"):
        parse_compound(wire, strict=True)
    assert parse_compound(wire) == [
        ReceiverReport(ssrc=0x11223344),
        SourceDescription.parse(SDES_ALICE),
    ]


@pytest.mark.parametrize("lone", [BYE_REASON, SDES_ALICE, APP_PACKET])
def test_lone_packets_are_accepted_unless_strict(lone: bytes) -> None:
    assert len(parse_compound(lone)) == 1
    with pytest.raises(ParseError, match="not SR or RR"):
        parse_compound(lone, strict=True)


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        (b"", "empty"),
        (bytes.fromhex("41c90001 11223344"), "version is 1"),
        (bytes.fromhex("80c90002 11223344"), "runs past"),
        (EMPTY_RR + b"\x80\xc9", "too few"),
        (bytes.fromhex("a0c90002 11223344 00000000"), "padding count 0"),
        (bytes.fromhex("a0c90002 11223344 00000003"), "padding count 3"),
        (bytes.fromhex("a0c90002 11223344 0000000c"), "padding count 12"),
        (bytes.fromhex("81c90001 11223344"), "report blocks do not fit"),
        (bytes.fromhex("80c80001 11223344"), "sender info"),
        (bytes.fromhex("80c90000"), "no SSRC"),
        (bytes.fromhex("81ca0002 11223344 01050000"), "runs past"),
        (bytes.fromhex("81ca0002 11223344 01026869"), "not ended"),
        (bytes.fromhex("81ca0003 11223344 00000000 00000000"), "follow the 1 SDES"),
        (bytes.fromhex("82cb0001 00000001"), "sources do not fit"),
        (bytes.fromhex("81cb0002 00000001 05616263"), "reason runs past"),
        (bytes.fromhex("81cb0003 00000001 00000000 00000000"), "follow the BYE reason"),
    ],
)
def test_malformed_compounds_raise_parse_error(wire: bytes, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        parse_compound(wire)


def test_single_packet_parse_wants_exactly_that_packet() -> None:
    with pytest.raises(ParseError, match="is not SenderReport"):
        SenderReport.parse(RR_ONE_BLOCK)
    with pytest.raises(ParseError, match="follow"):
        ReceiverReport.parse(RR_ONE_BLOCK + SDES_ALICE)
    with pytest.raises(ParseError, match="follow"):
        RawRTCPPacket.parse(APP_PACKET + APP_PACKET)


# ---------------------------------------------------------------------------
# Properties: round trips, and nothing but ParseError on bad bytes
# ---------------------------------------------------------------------------

uint32 = st.integers(0, 0xFFFFFFFF)
words = st.integers(0, 6).map(lambda n: n * 4).flatmap(lambda n: st.binary(min_size=n, max_size=n))
report_blocks = st.builds(
    ReportBlock,
    ssrc=uint32,
    fraction_lost=st.integers(0, 255),
    cumulative_lost=st.integers(-0x800000, 0x7FFFFF),
    highest_sequence=uint32,
    jitter=uint32,
    last_sr=uint32,
    delay_since_last_sr=uint32,
)
block_lists = st.lists(report_blocks, max_size=4).map(tuple)
sender_reports = st.builds(
    SenderReport,
    ssrc=uint32,
    ntp_timestamp=st.integers(0, (1 << 64) - 1),
    rtp_timestamp=uint32,
    packet_count=uint32,
    octet_count=uint32,
    reports=block_lists,
    extension=words,
)
receiver_reports = st.builds(ReceiverReport, ssrc=uint32, reports=block_lists, extension=words)
sdes_items = st.builds(SDESItem, st.integers(1, 255), st.binary(max_size=255))
sdes_packets = st.builds(
    SourceDescription,
    chunks=st.lists(
        st.builds(SDESChunk, uint32, st.lists(sdes_items, max_size=3).map(tuple)), max_size=4
    ).map(tuple),
)
byes = st.builds(
    Bye,
    sources=st.lists(uint32, max_size=8).map(tuple),
    reason=st.none() | st.text(max_size=60),
)
raw_packets = st.builds(
    RawRTCPPacket,
    packet_type=st.integers(0, 255).filter(lambda pt: pt not in (200, 201, 202, 203)),
    subtype=st.integers(0, 31),
    payload=words,
)
any_packet = sender_reports | receiver_reports | sdes_packets | byes | raw_packets


@settings(max_examples=80, deadline=None)
@given(any_packet)
def test_every_packet_round_trips(packet: RTCPPacket) -> None:
    wire = packet.serialize()
    assert len(wire) % 4 == 0
    assert type(packet).parse(wire) == packet
    assert parse_compound(wire) == [packet]


@settings(max_examples=60, deadline=None)
@given(st.lists(any_packet, min_size=1, max_size=4))
def test_compounds_round_trip(packets: list[RTCPPacket]) -> None:
    wire = serialize_compound(packets)
    assert parse_compound(wire) == packets
    assert serialize_compound(parse_compound(wire)) == wire


def _parse_and_reserialize(data: bytes, *, strict: bool) -> None:
    """Parse ``data``; ParseError is fine, any other exception fails the test.

    What parses must serialize to bytes that parse to the same packets.
    """
    try:
        packets = parse_compound(data, strict=strict)
    except ParseError:
        return
    assert parse_compound(serialize_compound(packets), strict=strict) == packets


@given(st.binary(max_size=200), st.booleans())
def test_random_bytes_raise_only_parse_error(data: bytes, strict: bool) -> None:
    _parse_and_reserialize(data, strict=strict)


@given(st.binary(min_size=4, max_size=120))
def test_random_bodies_behind_a_valid_header_raise_only_parse_error(body: bytes) -> None:
    body = body[: len(body) // 4 * 4]
    for first in (0x80, 0x81, 0x83, 0xA1):
        for packet_type in (200, 201, 202, 203, 204):
            header = bytes((first, packet_type)) + (len(body) // 4).to_bytes(2, "big")
            _parse_and_reserialize(header + body, strict=False)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(any_packet, min_size=1, max_size=3),
    st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=4),
    st.integers(0, 10_000),
)
def test_mutated_and_truncated_compounds_raise_only_parse_error(
    packets: list[RTCPPacket], flips: list[tuple[int, int]], cut: int
) -> None:
    wire = bytearray(serialize_compound(packets))
    for position, value in flips:
        wire[position % len(wire)] = value
    for data in (bytes(wire), bytes(wire[: cut % len(wire)])):
        for strict in (False, True):
            _parse_and_reserialize(data, strict=strict)


# ---------------------------------------------------------------------------
# Receiver statistics [RFC 3550 Appendix A.1, A.3]
# ---------------------------------------------------------------------------


def _feed(stats: ReceiverStatistics, sequence_numbers: list[int]) -> list[bool]:
    return [
        stats.packet_received(seq, seq * 160, index * 0.02)
        for index, seq in enumerate(sequence_numbers)
    ]


def test_loss_reorder_and_duplicates_by_hand() -> None:
    stats = ReceiverStatistics(ssrc=5, clock_rate=8000)
    # 10 starts probation and is not counted; 11 makes the source valid and
    # becomes the base. 15 is lost, 13 arrives late and twice, 16 after 17.
    counted = _feed(stats, [10, 11, 12, 14, 13, 13, 17, 16])
    assert counted == [False, True, True, True, True, True, True, True]
    assert stats.base_sequence == 11
    assert stats.received == 7
    assert stats.expected == 17 - 11 + 1 == 7
    assert stats.lost == 0  # One loss cancelled by one duplicate.
    first = stats.report_block(now=1.0)
    assert first is not None
    assert (first.fraction_lost, first.cumulative_lost, first.highest_sequence) == (0, 0, 17)
    # Next interval: 18 and 21 arrive, 19 and 20 are lost: 2 of 4 expected.
    _feed(stats, [18, 21])
    second = stats.report_block(now=2.0)
    assert second is not None
    assert stats.expected == 11
    assert stats.received == 9
    assert second.cumulative_lost == 2
    assert second.fraction_lost == (2 << 8) // 4 == 128
    assert second.highest_sequence == 21
    # Nothing new: the interval expected nothing.
    third = stats.report_block(now=3.0)
    assert third is not None
    assert (third.fraction_lost, third.cumulative_lost) == (0, 2)


def test_duplicates_make_the_loss_negative() -> None:
    stats = ReceiverStatistics(ssrc=5, clock_rate=8000)
    _feed(stats, [1, 2, 3, 3, 3, 3])
    block = stats.report_block(now=0.0)
    assert block is not None
    assert stats.expected == 2
    assert block.cumulative_lost == -3
    assert block.fraction_lost == 0
    wire = ReceiverReport(ssrc=1, reports=(block,)).serialize()
    assert wire[12:16] == bytes.fromhex("00fffffd")


def test_cumulative_loss_is_clamped_to_24_bits() -> None:
    stats = ReceiverStatistics(ssrc=5, clock_rate=8000)
    _feed(stats, [1, 2])
    stats.received = 10_000_000
    block = stats.report_block(now=0.0)
    assert block is not None
    assert block.cumulative_lost == -0x800000
    stats.received = 1
    stats.cycles = 1 << 32
    block = stats.report_block(now=0.0)
    assert block is not None
    assert block.cumulative_lost == 0x7FFFFF
    assert block.fraction_lost == 255
    assert block.highest_sequence == 2  # The cycles overflow the 32-bit field.


def test_sequence_wrap_counts_a_cycle() -> None:
    stats = ReceiverStatistics(ssrc=5, clock_rate=8000)
    assert _feed(stats, [65534, 65535, 0, 1]) == [False, True, True, True]
    assert stats.cycles == 65536
    assert stats.extended_highest_sequence == 65537
    assert stats.expected == 3
    assert stats.lost == 0
    block = stats.report_block(now=0.0)
    assert block is not None
    assert block.highest_sequence == 0x0001_0001


def _counted_as_rfc_3550_appendix_a_writes_it(
    stats: ReceiverStatistics, sequence_number: int, timestamp: int, arrival: float
) -> bool:
    """``packet_received`` without its inline in-order case: init_seq, update_seq, jitter."""
    if not stats._heard:
        stats._heard = True
        stats._init_sequence(sequence_number)
        stats.max_sequence = (sequence_number - 1) & 0xFFFF
        stats.probation = stats.min_sequential
    if not stats._update_sequence(sequence_number):
        return False
    if stats._last_arrival is not None:
        difference = (arrival - stats._last_arrival) * stats.clock_rate - timestamp_distance(
            stats._last_timestamp, timestamp
        )
        stats.jitter += (abs(difference) - stats.jitter) / 16
    stats._last_arrival = arrival
    stats._last_timestamp = timestamp
    return True


@settings(max_examples=200, deadline=None)
@given(
    start=st.one_of(st.integers(0xFFE0, 0xFFFF), st.integers(0, 0xFFFF)),  # wraps, too
    steps=st.lists(
        st.tuples(
            st.sampled_from([1, 1, 1, 1, 0, 2, -1, -5, 3000, -3000, 40000]),
            st.integers(-2000, 2000),
            st.floats(0.0, 0.1),
        ),
        max_size=60,
    ),
)
def test_the_in_order_shortcut_counts_as_the_rfc_does(
    start: int, steps: list[tuple[int, int, float]]
) -> None:
    """In order, wrapping, reordered, duplicated, jumping: every figure as without the shortcut."""
    fast = ReceiverStatistics(ssrc=5, clock_rate=8000)
    reference = ReceiverStatistics(ssrc=5, clock_rate=8000)
    sequence, timestamp, arrival = start, 0xFFFF_FF00, 0.0
    for step, jitter, gap in steps:
        sequence = (sequence + step) & 0xFFFF
        timestamp = (timestamp + 160 * step + jitter) & 0xFFFF_FFFF
        arrival += gap
        assert fast.packet_received(
            sequence, timestamp, arrival
        ) == _counted_as_rfc_3550_appendix_a_writes_it(reference, sequence, timestamp, arrival)
        assert (fast.received, fast.max_sequence, fast.cycles, fast.probation) == (
            reference.received,
            reference.max_sequence,
            reference.cycles,
            reference.probation,
        )
        assert (fast.base_sequence, fast.restarts) == (reference.base_sequence, reference.restarts)
        assert fast.jitter == pytest.approx(reference.jitter)


def test_probation_needs_min_sequential_packets_in_order() -> None:
    stats = ReceiverStatistics(ssrc=5, clock_rate=8000)
    assert stats.report_block(now=0.0) is None
    assert _feed(stats, [100, 102]) == [False, False]  # Out of order: probation again.
    assert not stats.valid
    assert stats.report_block(now=0.0) is None
    assert _feed(stats, [103]) == [True]
    assert stats.valid
    assert (stats.base_sequence, stats.expected, stats.received) == (103, 1, 1)


def test_probation_across_the_wrap() -> None:
    stats = ReceiverStatistics(ssrc=5, clock_rate=8000)
    assert _feed(stats, [65535, 0]) == [False, True]
    assert stats.valid


def test_min_sequential_one_accepts_the_first_packet() -> None:
    stats = ReceiverStatistics(ssrc=5, clock_rate=8000, min_sequential=1)
    assert _feed(stats, [7]) == [True]
    assert stats.expected == 1


def test_a_large_jump_restarts_only_when_confirmed() -> None:
    stats = ReceiverStatistics(ssrc=5, clock_rate=8000)
    _feed(stats, list(range(1, 11)))
    assert stats.received == 9
    # A lone jump of MAX_DROPOUT or more is not counted...
    assert not stats.packet_received(10 + 3000, 0, 1.0)
    assert stats.received == 9
    # ...and the stream goes on as before.
    assert stats.packet_received(11, 11 * 160, 1.02)
    assert (stats.expected, stats.received, stats.restarts) == (10, 10, 0)
    # Two packets in sequence after a jump: the sender restarted.
    assert not stats.packet_received(5000, 0, 2.0)
    assert stats.packet_received(5001, 160, 2.02)
    assert stats.restarts == 1
    assert (stats.base_sequence, stats.expected, stats.received) == (5001, 1, 1)


def test_forward_gap_below_max_dropout_is_loss() -> None:
    stats = ReceiverStatistics(ssrc=5, clock_rate=8000)
    _feed(stats, [1, 2])
    assert stats.packet_received(2 + 2999, 0, 1.0)
    assert stats.lost == 2998


def test_misorder_boundary() -> None:
    stats = ReceiverStatistics(ssrc=5, clock_rate=8000)
    _feed(stats, list(range(1, 202)))
    assert stats.packet_received(201 - 99, 0, 5.0)  # Within MAX_MISORDER: reordered.
    assert not stats.packet_received(201 - 100, 0, 5.0)  # Beyond it: a jump.


def test_statistics_settings_are_checked() -> None:
    with pytest.raises(ValueError):
        ReceiverStatistics(ssrc=1, clock_rate=0)
    with pytest.raises(ValueError):
        ReceiverStatistics(ssrc=1, clock_rate=8000, min_sequential=0)
    with pytest.raises(ValueError):
        ReceiverStatistics(ssrc=1, clock_rate=8000, max_dropout=65500)
    stats = ReceiverStatistics(ssrc=1, clock_rate=8000)
    with pytest.raises(ValueError):
        stats.packet_received(65536, 0, 0.0)


# ---------------------------------------------------------------------------
# Interarrival jitter [RFC 3550 §6.4.1, Appendix A.8]
# ---------------------------------------------------------------------------


def test_constant_transit_gives_zero_jitter() -> None:
    stats = ReceiverStatistics(ssrc=5, clock_rate=8000)
    for seq in range(200):
        stats.packet_received(seq, 1000 + seq * 160, 3.0 + seq * 0.02)
    assert stats.jitter == pytest.approx(0.0, abs=1e-6)
    block = stats.report_block(now=10.0)
    assert block is not None
    assert block.jitter == 0


def test_alternating_transit_converges_to_twice_the_swing() -> None:
    # Transit alternates +d, -d, so every |D| is 2d and J_n = 2d (1 - (15/16)^n).
    swing = 0.002  # Seconds: 16 timestamp units at 8 kHz.
    stats = ReceiverStatistics(ssrc=5, clock_rate=8000)
    packets = 300
    for seq in range(packets):
        offset = swing if seq % 2 else -swing
        stats.packet_received(seq, (seq * 160) & 0xFFFFFFFF, seq * 0.02 + offset)
        if seq == 2:  # Packet 0 is on probation, 1 sets the transit: one update.
            assert stats.jitter == pytest.approx(32 / 16)
    updates = packets - 2
    assert stats.jitter == pytest.approx(32 * (1 - (15 / 16) ** updates), rel=1e-9)
    assert stats.jitter == pytest.approx(32, rel=1e-6)
    assert stats.jitter_seconds == pytest.approx(2 * swing, rel=1e-6)
    block = stats.report_block(now=10.0)
    assert block is not None
    assert block.jitter in (31, 32)


def test_jitter_survives_a_timestamp_wrap() -> None:
    stats = ReceiverStatistics(ssrc=5, clock_rate=8000)
    start = 0xFFFFFFFF - 160 * 5
    for seq in range(20):
        stats.packet_received(seq, (start + seq * 160) & 0xFFFFFFFF, seq * 0.02)
    assert stats.jitter == pytest.approx(0.0, abs=1e-6)


# ---------------------------------------------------------------------------
# NTP, LSR, DLSR and round-trip time [RFC 3550 §4, §6.4.1]
# ---------------------------------------------------------------------------


def test_ntp_conversions() -> None:
    assert ntp_from_unix(0) == NTP_UNIX_OFFSET << 32
    assert ntp_from_unix(0.5) == (NTP_UNIX_OFFSET << 32) | 0x80000000
    assert ntp_short(ntp_from_unix(0.5)) == ((NTP_UNIX_OFFSET & 0xFFFF) << 16) | 0x8000
    now = 1_700_000_000.123456
    assert unix_from_ntp(ntp_from_unix(now)) == pytest.approx(now, abs=1e-6)


def test_lsr_dlsr_and_round_trip_time() -> None:
    wall = 1_700_000_000.25
    # We send an SR at wall time t.
    sender = SenderStatistics(ssrc=0xAAAA, clock_rate=8000)
    sender.packet_sent(timestamp=0, payload_size=160, time=wall - 0.01)
    sr = sender.sender_report(now=wall)
    # The peer gets it at its own (monotonic) time 500.0, after some RTP...
    peer = ReceiverStatistics(ssrc=0xAAAA, clock_rate=8000)
    peer.packet_received(1, 0, 499.0)
    peer.packet_received(2, 160, 499.02)
    peer.sender_report_received(sr, arrival=500.0)
    # ...and reports on us 0.5 s later.
    block = peer.report_block(now=500.5)
    assert block is not None
    assert block.last_sr == ntp_short(sr.ntp_timestamp)
    assert block.delay_since_last_sr == 32768
    # Its RR reaches us at t + 0.7: the network took 0.2 s both ways together.
    rtt = round_trip_time(block, ntp_from_unix(wall + 0.7))
    assert rtt == pytest.approx(0.2, abs=2 / 65536)


def test_round_trip_time_without_an_sr_and_when_negative() -> None:
    assert round_trip_time(ReportBlock(ssrc=1), ntp_from_unix(1e9)) is None
    now = ntp_from_unix(1e9)
    early = ReportBlock(ssrc=1, last_sr=ntp_short(now), delay_since_last_sr=65536)
    assert round_trip_time(early, now) == 0.0


def test_block_without_sr_has_zero_lsr_and_dlsr() -> None:
    stats = ReceiverStatistics(ssrc=5, clock_rate=8000)
    _feed(stats, [1, 2])
    block = stats.report_block(now=100.0)
    assert block is not None
    assert (block.last_sr, block.delay_since_last_sr) == (0, 0)


def test_sender_report_extrapolates_the_rtp_timestamp() -> None:
    sender = SenderStatistics(ssrc=7, clock_rate=8000)
    with pytest.raises(ValueError, match="no RTP packet"):
        sender.sender_report(now=0.0)
    with pytest.raises(ValueError):
        sender.packet_sent(timestamp=1 << 32, payload_size=0, time=0.0)
    with pytest.raises(ValueError):
        sender.packet_sent(timestamp=0, payload_size=-1, time=0.0)
    for index in range(3):
        timestamp = (0xFFFFFF00 + index * 160) & 0xFFFFFFFF
        sender.packet_sent(timestamp=timestamp, payload_size=160, time=10 + index * 0.02)
    block = ReportBlock(ssrc=9)
    sr = sender.sender_report(now=10.05, wall_clock=1_700_000_000.0, reports=[block])
    assert sr.packet_count == 3
    assert sr.octet_count == 480
    # The last packet (10.04 s) wrapped to 0x40; 10 ms later is 80 units on.
    assert sr.rtp_timestamp == 0x40 + 80
    assert sr.ntp_timestamp == ntp_from_unix(1_700_000_000.0)
    assert sr.reports == (block,)


# ---------------------------------------------------------------------------
# Report interval [RFC 3550 §6.3.1, Appendix A.7]
# ---------------------------------------------------------------------------


class FixedRandom(random.Random):
    """A Random whose random() always returns ``value``."""

    def __init__(self, value: float) -> None:
        super().__init__(0)
        self.value = value

    def random(self) -> float:
        return self.value


def _bounds(deterministic: float) -> tuple[float, float]:
    return 0.5 * deterministic / COMPENSATION, 1.5 * deterministic / COMPENSATION


def test_interval_is_deterministic_with_a_seeded_rng() -> None:
    first = [rtcp_interval(2, 1, 500.0, True, 120.0, False, rng=random.Random(7)) for _ in range(3)]
    again = [rtcp_interval(2, 1, 500.0, True, 120.0, False, rng=random.Random(7)) for _ in range(3)]
    assert first == again
    rng = random.Random(7)
    draws = {rtcp_interval(2, 1, 500.0, True, 120.0, False, rng=rng) for _ in range(20)}
    assert len(draws) > 1


def test_interval_bounds_and_the_minimum() -> None:
    rng = random.Random(1)
    low, high = _bounds(5.0)  # 2 members, 120 octets at 500 octets/s: 0.48 s < 5 s.
    for _ in range(200):
        assert low <= rtcp_interval(2, 1, 500.0, True, 120.0, False, rng=rng) < high
    assert rtcp_interval(2, 1, 500.0, True, 120.0, False, rng=FixedRandom(0.0)) == pytest.approx(
        low, rel=1e-5
    )
    assert rtcp_interval(2, 1, 500.0, True, 120.0, False, rng=FixedRandom(1.0)) == pytest.approx(
        high, rel=1e-5
    )


def test_initial_interval_halves_the_minimum() -> None:
    value = rtcp_interval(2, 1, 500.0, False, 120.0, True, rng=FixedRandom(0.5))
    assert value == pytest.approx(2.5 / COMPENSATION, rel=1e-5)
    small = rtcp_interval(2, 1, 500.0, False, 120.0, True, minimum=0.2, rng=FixedRandom(0.5))
    assert small == pytest.approx(0.48 / COMPENSATION, rel=1e-5)  # Above the halved 0.1 s.


def test_senders_share_a_quarter_when_they_are_few() -> None:
    fixed = FixedRandom(0.5)  # Factor 1: the result is Td / (e - 3/2).
    # 1000 members, 10 senders (1 %). A receiver: 990 share 75 % of 1000 octets/s.
    receiver = rtcp_interval(1000, 10, 1000.0, False, 100.0, False, rng=fixed)
    assert receiver == pytest.approx(100 * 990 / 750 / COMPENSATION, rel=1e-5)
    # A sender: 10 share 25 %, so 4 s, below the 5 s minimum unless it is lowered.
    sender = rtcp_interval(1000, 10, 1000.0, True, 100.0, False, minimum=0.01, rng=fixed)
    assert sender == pytest.approx(100 * 10 / 250 / COMPENSATION, rel=1e-5)
    assert rtcp_interval(1000, 10, 1000.0, True, 100.0, False, rng=fixed) == pytest.approx(
        5 / COMPENSATION, rel=1e-5
    )
    # Senders above 25 %: everyone shares the whole bandwidth.
    shared = rtcp_interval(10, 5, 1000.0, True, 100.0, False, minimum=0.01, rng=fixed)
    assert shared == pytest.approx(100 * 10 / 1000 / COMPENSATION, rel=1e-5)
    # Exactly 25 % still splits.
    split = rtcp_interval(8, 2, 1000.0, False, 100.0, False, minimum=0.01, rng=fixed)
    assert split == pytest.approx(100 * 6 / 750 / COMPENSATION, rel=1e-5)


@given(
    members=st.integers(1, 5000),
    data=st.data(),
    rtcp_bw=st.floats(10, 1e6),
    we_sent=st.booleans(),
    avg_rtcp_size=st.floats(28, 1500),
    initial=st.booleans(),
    seed=st.integers(0, 2**32),
)
def test_interval_within_half_and_one_and_a_half_td(
    members: int,
    data: st.DataObject,
    rtcp_bw: float,
    we_sent: bool,
    avg_rtcp_size: float,
    initial: bool,
    seed: int,
) -> None:
    senders = data.draw(st.integers(0, members))
    minimum = 5.0 / 2 if initial else 5.0
    if senders <= members / 4:
        share, count = (0.25, senders) if we_sent else (0.75, members - senders)
    else:
        share, count = 1.0, members
    deterministic = max(avg_rtcp_size * count / (rtcp_bw * share), minimum)
    low, high = _bounds(deterministic)
    value = rtcp_interval(
        members, senders, rtcp_bw, we_sent, avg_rtcp_size, initial, rng=random.Random(seed)
    )
    assert low * (1 - 1e-5) <= value <= high * (1 + 1e-5)


def test_interval_arguments_are_checked() -> None:
    rng = random.Random(0)
    with pytest.raises(ValueError):
        rtcp_interval(0, 0, 100.0, False, 100.0, False, rng=rng)
    with pytest.raises(ValueError):
        rtcp_interval(2, 3, 100.0, False, 100.0, False, rng=rng)
    with pytest.raises(ValueError):
        rtcp_interval(2, 1, 0.0, False, 100.0, False, rng=rng)


def test_scheduler_average_size_initial_flag_and_reconsideration() -> None:
    scheduler = RTCPScheduler(
        rtcp_bandwidth=1000.0, now=100.0, rng=FixedRandom(0.5), minimum=1.0, initial_packet_size=100
    )
    assert scheduler.initial
    assert scheduler.next_due == pytest.approx(100.0 + 0.5 / COMPENSATION, rel=1e-6)
    scheduler.packet_received(size=200)
    assert scheduler.avg_rtcp_size == pytest.approx(100 + (200 - 100) / 16)
    # The timer fires on time with nothing changed: send.
    assert scheduler.timer_expired(scheduler.next_due)
    due = scheduler.packet_sent(size=100, now=scheduler.next_due)
    assert not scheduler.initial
    assert scheduler.avg_rtcp_size == pytest.approx(106.25 + (100 - 106.25) / 16)
    assert due == pytest.approx(scheduler.last_sent + 1.0 / COMPENSATION, rel=1e-6)
    # The session grew before the timer fired: reconsideration postpones.
    scheduler.members = 100
    assert not scheduler.timer_expired(due)
    expected_td = scheduler.avg_rtcp_size * 100 / 750
    assert scheduler.next_due == pytest.approx(
        scheduler.last_sent + expected_td / COMPENSATION, rel=1e-6
    )
    assert scheduler.timer_expired(scheduler.next_due)


# ---------------------------------------------------------------------------
# Quality: the simplified E-model
# ---------------------------------------------------------------------------


def test_perfect_network_is_about_four_point_four() -> None:
    # d = 10 ms: Id = 0.24, R = 92.96, MOS = 1 + 3.2536 + 0.1510.
    assert estimate_mos(0.0, 0.0, 0.0) == pytest.approx(4.4046, abs=1e-3)


def test_five_percent_loss_by_hand() -> None:
    # Ie_eff = 95 * 5 / (5 + 25.1) = 15.781; R = 92.96 - 15.781 = 77.179;
    # MOS = 1 + 2.7013 + 7e-6 * 77.179 * 17.179 * 22.821 = 3.9131.
    assert estimate_mos(0.0, 0.0, 0.05) == pytest.approx(3.9131, abs=1e-3)


def test_long_round_trip_lowers_the_score() -> None:
    # d = 210 ms: Id = 5.04 + 0.11 * 32.7 = 8.64; R = 84.56.
    assert estimate_mos(0.4, 0.0, 0.0) == pytest.approx(4.1842, abs=1e-3)
    assert estimate_mos(0.4, 0.0, 0.0) < estimate_mos(0.0, 0.0, 0.0)
    assert estimate_mos(0.0, 0.03, 0.0) < estimate_mos(0.0, 0.0, 0.0)


def test_terrible_network_floors_at_one() -> None:
    assert estimate_mos(3.0, 0.5, 1.0) == 1.0


def test_codecs() -> None:
    assert estimate_mos(0.1, 0.01, 0.02, "pcma") == estimate_mos(0.1, 0.01, 0.02, "PCMU")
    assert estimate_mos(0.0, 0.0, 0.0, "opus") < estimate_mos(0.0, 0.0, 0.0, "G722")
    assert set(CODEC_IMPAIRMENTS) == {"pcmu", "pcma", "g722", "opus"}
    custom = CodecImpairment(equipment_impairment=20.0, loss_robustness=10.0)
    assert estimate_mos(0.0, 0.0, 0.0, custom) < estimate_mos(0.0, 0.0, 0.0, "opus")
    with pytest.raises(ValueError, match="no E-model values"):
        estimate_mos(0.0, 0.0, 0.0, "speex")


@pytest.mark.parametrize(
    ("rtt", "jitter", "loss"),
    [(-0.1, 0.0, 0.0), (0.0, -0.1, 0.0), (0.0, 0.0, -0.01), (0.0, 0.0, 1.5), (float("nan"), 0, 0)],
)
def test_mos_refuses_impossible_measures(rtt: float, jitter: float, loss: float) -> None:
    with pytest.raises(ValueError):
        estimate_mos(rtt, jitter, loss)


measures = st.tuples(st.floats(0, 2), st.floats(0, 0.5), st.floats(0, 1))


@given(measures, st.sampled_from(["rtt", "jitter", "loss"]), st.floats(0, 1))
def test_mos_never_rises_as_a_measure_grows(
    base: tuple[float, float, float], which: str, increase: float
) -> None:
    rtt, jitter, loss = base
    before = estimate_mos(rtt, jitter, loss)
    assert 1.0 <= before <= 4.5
    if which == "rtt":
        rtt += increase
    elif which == "jitter":
        jitter += increase
    else:
        loss = min(1.0, loss + increase)
    assert estimate_mos(rtt, jitter, loss) <= before + 1e-12
