"""Tests for voip_core.rtp.dtmf: RFC 4733 vectors, sender, receiver, SIP INFO bodies."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voip_core.errors import ParseError
from voip_core.rtp import RTPPacket
from voip_core.rtp.dtmf import (
    FLASH_EVENT,
    DTMFReceiver,
    DTMFSchedule,
    TelephoneEvent,
    digit_for_event,
    dtmf_packets,
    event_for_digit,
    parse_dtmf_info,
)

PT = 101
SSRC = 0x5EED5EED
ALL_DIGITS = "0123456789*#ABCD!"


def _vector(vectors: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((vectors / "telephone_event_rfc4733.json").read_text())
    return data


def _schedule(digits: str, **options: Any) -> DTMFSchedule:
    parameters: dict[str, Any] = {
        "clock_rate": 8000,
        "payload_type": PT,
        "ssrc": SSRC,
        "first_sequence": 1000,
        "first_timestamp": 16000,
    }
    parameters.update(options)
    return dtmf_packets(digits, **parameters)


def _event_packet(
    *,
    timestamp: int,
    sequence: int,
    event: int,
    duration: int,
    end: bool = False,
    marker: bool = False,
    ssrc: int = SSRC,
) -> RTPPacket:
    return RTPPacket(
        marker=marker,
        payload_type=PT,
        sequence_number=sequence,
        timestamp=timestamp,
        ssrc=ssrc,
        payload=TelephoneEvent(event, end, 10, duration).serialize(),
    )


def _idle(receiver: DTMFReceiver) -> bool:
    """No event pending (a function, so that mypy does not keep narrowed properties)."""
    return receiver.pending is None and receiver.deadline is None


def _feed_all(
    receiver: DTMFReceiver, timed: list[tuple[float, RTPPacket]]
) -> list[tuple[str, float]]:
    return [digit for at, packet in timed for digit in receiver.feed(packet, at)]


# ---------------------------------------------------------------------------
# Event codes [RFC 4733 §3.2, Table 3]
# ---------------------------------------------------------------------------


def test_event_codes_match_the_rfc_table(vectors: Path) -> None:
    table: dict[str, int] = _vector(vectors)["dtmf_event_codes"]
    assert len(table) == 17
    for name, code in table.items():
        assert event_for_digit(name) == code
        assert digit_for_event(code) == ("!" if name == "Flash" else name)
    assert event_for_digit("!") == FLASH_EVENT == 16


@pytest.mark.parametrize(("digit", "code"), [("a", 12), ("b", 13), ("c", 14), ("d", 15)])
def test_letters_are_case_insensitive(digit: str, code: int) -> None:
    assert event_for_digit(digit) == code
    assert event_for_digit("FLASH") == event_for_digit("flash") == 16


@pytest.mark.parametrize("bad", ["", "E", "10", " 1", "**", "x", "Flashy", ","])
def test_event_for_digit_rejects_non_digits(bad: str) -> None:
    with pytest.raises(ValueError, match="not a DTMF digit"):
        event_for_digit(bad)


@pytest.mark.parametrize("code", [-1, 17, 32, 255, 1000])
def test_digit_for_event_is_none_outside_dtmf(code: int) -> None:
    assert digit_for_event(code) is None


# ---------------------------------------------------------------------------
# The payload [RFC 4733 §2.3]
# ---------------------------------------------------------------------------


def test_derived_payload_examples_parse_and_serialize(vectors: Path) -> None:
    cases = _vector(vectors)["derived_examples"]["cases"]
    assert cases
    for case in cases:
        wire = bytes.fromhex(case["hex"])
        event = TelephoneEvent.parse(wire)
        assert event == TelephoneEvent(case["event"], case["end"], case["volume"], case["duration"])
        assert event.digit == case["digit"]
        assert event.serialize() == wire
        assert bytes(event) == wire


def test_reserved_bit_is_ignored_on_parse_and_zero_on_serialize() -> None:
    event = TelephoneEvent.parse(bytes.fromhex("05 c7 00a0"))  # E=1 R=1 volume 7.
    assert event == TelephoneEvent(event=5, end=True, volume=7, duration=160)
    assert event.serialize() == bytes.fromhex("05 87 00a0")


@pytest.mark.parametrize("size", [0, 1, 2, 3])
def test_short_payload_is_a_parse_error(size: int) -> None:
    with pytest.raises(ParseError, match="shorter than 4") as caught:
        TelephoneEvent.parse(bytes(range(size)))
    assert caught.value.offset == size


def test_longer_payload_keeps_the_first_event() -> None:
    wire = bytes.fromhex("0b8a0320 01000190")
    assert TelephoneEvent.parse(wire) == TelephoneEvent(11, True, 10, 800)
    assert TelephoneEvent.parse(bytearray(wire)) == TelephoneEvent.parse(memoryview(wire))


@pytest.mark.parametrize(
    "fields",
    [
        {"event": 256},
        {"event": -1},
        {"event": 1, "volume": 64},
        {"event": 1, "volume": -1},
        {"event": 1, "duration": 0x10000},
        {"event": 1, "duration": -1},
    ],
)
def test_out_of_range_fields_are_rejected(fields: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must be"):
        TelephoneEvent(**fields)


@given(st.integers(0, 255), st.booleans(), st.integers(0, 63), st.integers(0, 0xFFFF))
def test_payload_round_trips(event: int, end: bool, volume: int, duration: int) -> None:
    value = TelephoneEvent(event, end, volume, duration)
    wire = value.serialize()
    assert len(wire) == 4
    assert TelephoneEvent.parse(wire) == value


@given(st.binary(max_size=12))
def test_random_bytes_parse_or_raise_parse_error_only(data: bytes) -> None:
    try:
        event = TelephoneEvent.parse(data)
    except ParseError:
        assert len(data) < 4
    else:
        assert event.serialize() == bytes([data[0], data[1] & 0xBF, data[2], data[3]])


# ---------------------------------------------------------------------------
# The RFC 4733 §5 example: digit 9, then digit 1
# ---------------------------------------------------------------------------


def test_sender_reproduces_the_rfc_example(vectors: Path) -> None:
    example = _vector(vectors)["section5_example_digit9_then_1"]
    rows = example["rows"]
    schedule = dtmf_packets(
        "91",
        clock_rate=example["clock_rate"],
        payload_type=PT,
        ssrc=SSRC,
        first_sequence=1,
        first_timestamp=0,
        tone_duration=0.2,  # 4 updates of 50 ms: durations 400 .. 1600.
        gap=0.68,  # "9" ends at 200 ms, "1" starts at 880 ms: timestamp 7040.
        packet_interval=example["packetization_ms"] / 1000,
        end_repeats=2,  # Packet 4 plus two retransmissions with E set.
        separate_end_packets=True,
    )
    assert len(schedule.packets) >= len(rows)
    for row, (offset, packet) in zip(rows, schedule.packets, strict=False):
        event = TelephoneEvent.parse(packet.payload)
        assert offset * 1000 == pytest.approx(row["time_ms"]), row["what"]
        assert packet.marker is bool(row["rtp_marker"]), row["what"]
        assert packet.timestamp == row["rtp_timestamp"], row["what"]
        assert packet.sequence_number == row["rtp_seq"], row["what"]
        assert event.event == row["event"], row["what"]
        assert event.duration == row["duration"], row["what"]
        assert event.end is bool(row["end_bit"]), row["what"]
        assert packet.payload_type == PT
        assert packet.ssrc == SSRC


def test_receiver_reports_each_digit_of_the_rfc_example_once(vectors: Path) -> None:
    example = _vector(vectors)["section5_example_digit9_then_1"]
    receiver = DTMFReceiver(example["clock_rate"])
    reported: list[tuple[int, str, float]] = []
    for row in example["rows"]:
        packet = _event_packet(
            timestamp=row["rtp_timestamp"],
            sequence=row["rtp_seq"],
            event=row["event"],
            duration=row["duration"],
            end=bool(row["end_bit"]),
            marker=bool(row["rtp_marker"]),
        )
        for digit, seconds in receiver.feed(packet, row["time_ms"] / 1000):
            reported.append((row["rtp_seq"], digit, seconds))
    # "9" is over with the first E-bit packet (seq 5); seq 6 is a copy.
    assert reported == [(5, "9", 1600 / 8000)]
    # The table stops after the first packet of "1": it is pending until timeout.
    assert receiver.pending == "1"
    deadline = receiver.deadline
    assert deadline == pytest.approx(0.93 + 0.5)
    assert deadline is not None
    assert receiver.expire(deadline - 0.01) == []
    assert receiver.expire(deadline) == [("1", 400 / 8000)]
    assert _idle(receiver)
    assert receiver.expire(10.0) == []


# ---------------------------------------------------------------------------
# Sender [RFC 4733 §2.5.1]
# ---------------------------------------------------------------------------


def _fields(schedule: DTMFSchedule) -> list[tuple[float, bool, int, int, TelephoneEvent]]:
    return [
        (
            round(offset, 6),
            packet.marker,
            packet.sequence_number,
            packet.timestamp,
            TelephoneEvent.parse(packet.payload),
        )
        for offset, packet in schedule.packets
    ]


def test_default_sender_layout_for_one_digit() -> None:
    schedule = _schedule("5")
    assert _fields(schedule) == [
        (0.02, True, 1000, 16000, TelephoneEvent(5, False, 10, 160)),
        (0.04, False, 1001, 16000, TelephoneEvent(5, False, 10, 320)),
        (0.06, False, 1002, 16000, TelephoneEvent(5, False, 10, 480)),
        (0.08, False, 1003, 16000, TelephoneEvent(5, False, 10, 640)),
        (0.1, False, 1004, 16000, TelephoneEvent(5, True, 10, 800)),
        (0.12, False, 1005, 16000, TelephoneEvent(5, True, 10, 800)),
        (0.14, False, 1006, 16000, TelephoneEvent(5, True, 10, 800)),
    ]
    assert schedule.next_sequence == 1007
    assert schedule.next_timestamp == 16000 + 800 + 400


def test_tone_shorter_than_an_interval_sends_only_end_packets() -> None:
    schedule = _schedule("#", tone_duration=0.01, end_repeats=2)
    assert _fields(schedule) == [
        (0.01, True, 1000, 16000, TelephoneEvent(11, True, 10, 80)),
        (0.03, False, 1001, 16000, TelephoneEvent(11, True, 10, 80)),
    ]


def test_flash_goes_with_volume_zero_and_digits_are_case_insensitive() -> None:
    events = [TelephoneEvent.parse(p.payload) for _, p in _schedule("!a", volume=20).packets]
    assert {(e.event, e.volume) for e in events} == {(16, 0), (12, 20)}


def test_pause_adds_silence_between_digits() -> None:
    plain = _schedule("12")
    paused = _schedule("1,2")
    start = [p.timestamp for _, p in plain.packets if p.marker]
    start_paused = [p.timestamp for _, p in paused.packets if p.marker]
    assert start == [16000, 17200]
    assert start_paused == [16000, 17200 + 4000]
    assert paused.next_timestamp == plain.next_timestamp + 4000
    assert _schedule(",,", pause=0.25) == DTMFSchedule(
        packets=[], next_sequence=1000, next_timestamp=20000
    )


def test_empty_string_sends_nothing() -> None:
    assert _schedule("") == DTMFSchedule(packets=[], next_sequence=1000, next_timestamp=16000)


def test_invalid_digits_are_all_named() -> None:
    with pytest.raises(ValueError, match=r"'x', 'E', ' '") as caught:
        _schedule("1x2E x ")
    assert "'1'" not in str(caught.value)


@pytest.mark.parametrize(
    "options",
    [
        {"clock_rate": 0},
        {"first_sequence": 0x10000},
        {"first_timestamp": -1},
        {"volume": 64},
        {"end_repeats": 0},
        {"tone_duration": 0},
        {"tone_duration": float("nan")},
        {"packet_interval": 0.00001},
        {"gap": -0.1},
        {"pause": -1},
        {"payload_type": 128},
        {"ssrc": 2**32},
    ],
)
def test_bad_parameters_are_rejected(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        _schedule("1", **options)
    with pytest.raises(ValueError):
        _schedule(",", **options)  # Checked even when no packet is made.


def test_sequence_and_timestamp_wrap() -> None:
    schedule = _schedule("12", first_sequence=0xFFFE, first_timestamp=0xFFFFFF00)
    sequences = [p.sequence_number for _, p in schedule.packets]
    assert sequences[:3] == [0xFFFE, 0xFFFF, 0]
    assert {p.timestamp for _, p in schedule.packets} == {0xFFFFFF00, (0xFFFFFF00 + 1200) % 2**32}
    assert schedule.next_sequence == (0xFFFE + 14) % 2**16
    assert schedule.next_timestamp == (0xFFFFFF00 + 2400) % 2**32


def test_short_gap_interleaves_packets_in_time_order() -> None:
    schedule = _schedule("12", gap=0.0, end_repeats=4)
    offsets = [offset for offset, _ in schedule.packets]
    assert offsets == sorted(offsets)
    sequences = [p.sequence_number for _, p in schedule.packets]
    assert sequences == list(range(1000, 1000 + len(sequences)))
    starts = [p.timestamp for _, p in schedule.packets]
    assert starts != sorted(starts)  # An end copy of "1" follows a packet of "2".
    receiver = DTMFReceiver(8000)
    assert _feed_all(receiver, schedule.packets) == [("1", 0.1), ("2", 0.1)]


def test_long_tone_is_cut_into_segments() -> None:
    schedule = _schedule("7", tone_duration=10.0, packet_interval=0.05, end_repeats=3)
    events = [(p.timestamp, p.marker, TelephoneEvent.parse(p.payload)) for _, p in schedule.packets]
    starts = sorted({timestamp for timestamp, _, _ in events})
    assert starts == [16000, 16000 + 0xFFFF]
    assert [marker for _, marker, _ in events].count(True) == 1
    first_segment = [e for t, _, e in events if t == 16000]
    second_segment = [e for t, _, e in events if t != 16000]
    assert max(e.duration for e in first_segment) == 0xFFFF
    assert [e.duration for e in first_segment].count(0xFFFF) == 3
    assert not any(e.end for e in first_segment)
    assert max(e.duration for e in second_segment) == 80000 - 0xFFFF
    assert sum(e.end for e in second_segment) == 3
    assert schedule.next_timestamp == 16000 + 80000 + 400
    receiver = DTMFReceiver(8000)
    assert _feed_all(receiver, schedule.packets) == [("7", 10.0)]


@given(
    digits=st.text(ALL_DIGITS, max_size=4),
    more=st.text(ALL_DIGITS + ",", max_size=4),
    first_sequence=st.integers(0, 0xFFFF),
    first_timestamp=st.integers(0, 2**32 - 1),
)
def test_sending_in_two_calls_continues_the_stream(
    digits: str, more: str, first_sequence: int, first_timestamp: int
) -> None:
    whole = _schedule(digits + more, first_sequence=first_sequence, first_timestamp=first_timestamp)
    head = _schedule(digits, first_sequence=first_sequence, first_timestamp=first_timestamp)
    tail = _schedule(more, first_sequence=head.next_sequence, first_timestamp=head.next_timestamp)
    assert [p for _, p in whole.packets] == [p for _, p in head.packets + tail.packets]
    assert (whole.next_sequence, whole.next_timestamp) == (tail.next_sequence, tail.next_timestamp)


# ---------------------------------------------------------------------------
# Receiver [RFC 4733 §2.5.2]
# ---------------------------------------------------------------------------


def test_repeated_end_packets_and_late_updates_report_once() -> None:
    receiver = DTMFReceiver(8000)
    assert receiver.feed(_event_packet(timestamp=0, sequence=1, event=3, duration=160), 0.02) == []
    assert receiver.pending == "3"
    end = _event_packet(timestamp=0, sequence=3, event=3, duration=480, end=True)
    assert receiver.feed(end, 0.06) == [("3", 0.06)]
    assert receiver.feed(end, 0.07) == []
    late = _event_packet(timestamp=0, sequence=2, event=3, duration=320)
    assert receiver.feed(late, 0.08) == []
    assert _idle(receiver)
    assert receiver.expire(5.0) == []


def test_lost_end_packets_are_ended_by_the_next_event() -> None:
    receiver = DTMFReceiver(8000)
    receiver.feed(_event_packet(timestamp=0, sequence=1, event=1, duration=160), 0.02)
    receiver.feed(_event_packet(timestamp=0, sequence=2, event=1, duration=320), 0.04)
    second = _event_packet(timestamp=1200, sequence=7, event=2, duration=160, marker=True)
    assert receiver.feed(second, 0.17) == [("1", 0.04)]
    assert receiver.pending == "2"


def test_lost_end_packets_are_ended_by_silence_in_feed_or_expire() -> None:
    receiver = DTMFReceiver(8000, timeout=0.3)
    receiver.feed(_event_packet(timestamp=0, sequence=1, event=9, duration=160), 1.0)
    assert receiver.deadline == pytest.approx(1.3)
    assert receiver.expire(1.29) == []
    assert receiver.expire(1.3) == [("9", 0.02)]
    # The same again, but the next packet (of the same event) comes too late.
    receiver.feed(_event_packet(timestamp=8000, sequence=5, event=4, duration=160), 2.0)
    late = _event_packet(timestamp=8000, sequence=6, event=4, duration=320, end=True)
    assert receiver.feed(late, 2.5) == [("4", 0.02)]
    assert receiver.pending is None


def test_end_packet_of_an_unseen_event_is_reported_once() -> None:
    receiver = DTMFReceiver(8000)
    end = _event_packet(timestamp=400, sequence=9, event=0, duration=800, end=True)
    assert receiver.feed(end, 0.1) == [("0", 0.1)]
    assert receiver.feed(end, 0.12) == []


def test_packets_older_than_the_pending_event_are_ignored() -> None:
    receiver = DTMFReceiver(8000)
    receiver.feed(_event_packet(timestamp=8000, sequence=10, event=5, duration=160), 1.0)
    assert receiver.feed(_event_packet(timestamp=0, sequence=2, event=6, duration=160), 1.01) == []
    assert receiver.pending == "5"
    # Same timestamp, another event code: not this event; ignored.
    assert (
        receiver.feed(_event_packet(timestamp=8000, sequence=11, event=6, duration=320), 1.02) == []
    )
    assert receiver.feed(
        _event_packet(timestamp=8000, sequence=12, event=5, duration=480, end=True), 1.03
    ) == [("5", 0.06)]


def test_ssrc_change_reports_the_pending_event_and_starts_afresh() -> None:
    receiver = DTMFReceiver(8000)
    receiver.feed(_event_packet(timestamp=5000, sequence=1, event=8, duration=160), 0.0)
    other = _event_packet(timestamp=100, sequence=77, event=8, duration=160, ssrc=1)
    assert receiver.feed(other, 0.05) == [("8", 0.02)]
    # Timestamp 100 is "before" 5000, but it is a new source: a new event.
    assert receiver.pending == "8"
    assert receiver.deadline == pytest.approx(0.55)


def test_events_that_are_not_dtmf_are_followed_but_not_reported() -> None:
    receiver = DTMFReceiver(8000)
    receiver.feed(_event_packet(timestamp=0, sequence=1, event=2, duration=160), 0.0)
    tone = _event_packet(timestamp=800, sequence=2, event=70, duration=160)
    assert receiver.feed(tone, 0.1) == [("2", 0.02)]
    assert receiver.pending is None
    assert receiver.deadline is not None
    end = _event_packet(timestamp=800, sequence=3, event=70, duration=320, end=True)
    assert receiver.feed(end, 0.12) == []
    assert receiver.deadline is None


def test_malformed_payload_raises_and_changes_nothing() -> None:
    receiver = DTMFReceiver(8000)
    receiver.feed(_event_packet(timestamp=0, sequence=1, event=1, duration=160), 0.0)
    bad = RTPPacket(payload_type=PT, sequence_number=2, timestamp=0, ssrc=99, payload=b"\x01")
    with pytest.raises(ParseError):
        receiver.feed(bad, 0.02)
    assert receiver.pending == "1"
    end = _event_packet(timestamp=0, sequence=3, event=1, duration=320, end=True)
    assert receiver.feed(end, 0.04) == [("1", 0.04)]


def test_duplicate_memory_ends_after_ten_seconds() -> None:
    receiver = DTMFReceiver(8000)
    end = _event_packet(timestamp=0, sequence=1, event=1, duration=160, end=True)
    assert receiver.feed(end, 0.0) == [("1", 0.02)]
    assert receiver.feed(end, 9.9) == []
    assert receiver.feed(end, 10.1) == [("1", 0.02)]


@pytest.mark.parametrize(
    ("clock_rate", "timeout"), [(0, 0.5), (-8000, 0.5), (8000, 0.0), (8000, float("nan"))]
)
def test_receiver_rejects_bad_settings(clock_rate: int, timeout: float) -> None:
    with pytest.raises(ValueError):
        DTMFReceiver(clock_rate, timeout=timeout)


# ---------------------------------------------------------------------------
# Receiver properties: a sender's output with loss, duplication and reorder
# ---------------------------------------------------------------------------

SENDER_OPTIONS = st.fixed_dictionaries(
    {
        "tone_duration": st.sampled_from([0.01, 0.04, 0.1, 0.25]),
        "packet_interval": st.sampled_from([0.01, 0.02, 0.05]),
        "separate_end_packets": st.booleans(),
        "first_sequence": st.integers(0, 0xFFFF),
        "first_timestamp": st.integers(0, 2**32 - 1),
    }
)


def _is_subsequence(reported: str, sent: str) -> bool:
    remaining = iter(sent)
    return all(character in remaining for character in reported)


@settings(max_examples=100, deadline=None)
@given(
    digits=st.text(ALL_DIGITS + ",", max_size=6),
    options=SENDER_OPTIONS,
    gap=st.sampled_from([0.0, 0.01, 0.05, 0.3]),
    end_repeats=st.integers(1, 4),
    loss=st.sampled_from([0.0, 0.1, 0.5, 0.9]),
    duplication=st.sampled_from([0.0, 0.2]),
    shuffle=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_receiver_never_reports_an_event_twice(
    digits: str,
    options: dict[str, Any],
    gap: float,
    end_repeats: int,
    loss: float,
    duplication: float,
    shuffle: bool,
    seed: int,
) -> None:
    rng = random.Random(seed)
    schedule = _schedule(digits, gap=gap, end_repeats=end_repeats, **options)
    stream = [packet for _, packet in schedule.packets if rng.random() >= loss]
    stream += [packet for packet in stream if rng.random() < duplication]
    if shuffle:
        rng.shuffle(stream)
    receiver = DTMFReceiver(8000, timeout=0.2)
    now = 0.0
    pauses = 10  # Silences past the timeout; the whole stream stays under 10 s,
    # the time the receiver remembers finished events.
    reported: list[tuple[str, float]] = []
    for packet in stream:
        if pauses and rng.random() < 0.05:
            pauses -= 1
            now += 0.3
        now += rng.choice([0.0, 0.001, 0.01, 0.015])
        reported += receiver.feed(packet, now)
    assert now < 10.0
    reported += receiver.expire(now + 0.2)
    assert receiver.pending is None
    sent = digits.replace(",", "").upper()
    assert _is_subsequence("".join(digit for digit, _ in reported), sent)
    tone = options["tone_duration"]
    assert all(0 <= seconds <= tone + 1e-9 for _, seconds in reported)


@settings(max_examples=100, deadline=None)
@given(
    digits=st.text(ALL_DIGITS, max_size=6),
    options=SENDER_OPTIONS,
    extra_gap=st.sampled_from([0.0, 0.02, 0.5]),
    end_repeats=st.integers(2, 4),
    duplication=st.sampled_from([0.0, 0.3]),
    seed=st.integers(0, 2**32 - 1),
)
def test_receiver_without_loss_reports_exactly_the_digits_sent(
    digits: str,
    options: dict[str, Any],
    extra_gap: float,
    end_repeats: int,
    duplication: float,
    seed: int,
) -> None:
    rng = random.Random(seed)
    # The gap outlasts the end copies, so each event is at least two packets in
    # a row; local reordering (moves of at most one place) and duplicates may
    # not make one event look like two, nor lose one.
    gap = end_repeats * options["packet_interval"] + extra_gap
    schedule = _schedule(digits, gap=gap, end_repeats=end_repeats, **options)
    keyed = [(index + rng.random() * 2, timed) for index, timed in enumerate(schedule.packets)]
    keyed += [(key + rng.random() * 2, timed) for key, timed in keyed if rng.random() < duplication]
    keyed.sort(key=lambda item: item[0])
    receiver = DTMFReceiver(8000)
    reported: list[tuple[str, float]] = []
    now = 0.0
    for _, (offset, packet) in keyed:
        now = max(now, offset + rng.random() * 0.01)
        reported += receiver.feed(packet, now)
    reported += receiver.expire(now + 1.0)
    assert "".join(digit for digit, _ in reported) == digits.upper()
    tone = options["tone_duration"]
    assert all(seconds == pytest.approx(tone) for _, seconds in reported)


# ---------------------------------------------------------------------------
# SIP INFO bodies
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "body", "expected"),
    [
        ("application/dtmf-relay", b"Signal=5\r\nDuration=160\r\n", ("5", 0.16)),
        ("application/dtmf-relay", b"Signal=*\nDuration=250\n", ("*", 0.25)),
        ("application/dtmf-relay", b"signal = #\r\nduration= 100", ("#", 0.1)),
        ("Application/DTMF-Relay; charset=utf-8", b"Signal=d\r\n", ("D", None)),
        ("application/dtmf-relay", b"Signal=10\r\nDuration=80\r\n", ("*", 0.08)),
        ("application/dtmf-relay", b"Signal=11\r\n", ("#", None)),
        ("application/dtmf-relay", b"Signal=16\r\n", ("!", None)),
        ("application/dtmf-relay", b"\r\nFoo=bar\r\nSignal=!\r\n\r\n", ("!", None)),
        ("application/dtmf-relay", b"Duration=120\r\nSignal=0", ("0", 0.12)),
        ("application/dtmf", b"7", ("7", None)),
        ("application/dtmf", b" 11\r\n", ("#", None)),
        ("application/dtmf", b"b", ("B", None)),
        (" APPLICATION/DTMF ", b"*", ("*", None)),
    ],
)
def test_dtmf_info_bodies(
    content_type: str, body: bytes, expected: tuple[str, float | None]
) -> None:
    assert parse_dtmf_info(content_type, body) == expected


@pytest.mark.parametrize("content_type", ["application/sdp", "text/plain", "", "application/dtmfx"])
def test_other_content_types_give_none(content_type: str) -> None:
    assert parse_dtmf_info(content_type, b"Signal=5") is None


@pytest.mark.parametrize(
    ("content_type", "body", "message"),
    [
        ("application/dtmf-relay", b"", "no Signal"),
        ("application/dtmf-relay", b"Duration=160\r\n", "no Signal"),
        ("application/dtmf-relay", b"Signal=5\r\nDuration=abc\r\n", "whole number"),
        ("application/dtmf-relay", b"Signal=5\r\nDuration=-1\r\n", "whole number"),
        ("application/dtmf-relay", b"Signal=E\r\n", "signal 'E'"),
        ("application/dtmf-relay", b"Signal=17\r\n", "signal '17'"),
        ("application/dtmf-relay", b"Signal=\r\n", "signal ''"),
        ("application/dtmf-relay", b"Signal 5\r\n", "without '='"),
        ("application/dtmf-relay", b"Signal=\xff\r\n", "not UTF-8"),
        ("application/dtmf", b"", "signal ''"),
        ("application/dtmf", b"12345", "signal '12345'"),
    ],
)
def test_malformed_dtmf_info_bodies(content_type: str, body: bytes, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        parse_dtmf_info(content_type, body)


def test_malformed_relay_line_is_located() -> None:
    with pytest.raises(ParseError) as caught:
        parse_dtmf_info("application/dtmf-relay", b"Signal=1\r\nDuration=1.5\r\n")
    assert caught.value.line_number == 2
    assert caught.value.line == "Duration=1.5"


@given(st.binary(max_size=40), st.sampled_from(["application/dtmf-relay", "application/dtmf"]))
def test_random_info_bodies_parse_or_raise_parse_error_only(body: bytes, content_type: str) -> None:
    try:
        result = parse_dtmf_info(content_type, body)
    except ParseError:
        return
    assert result is not None
    digit, duration = result
    assert digit in ALL_DIGITS
    assert duration is None or duration >= 0
