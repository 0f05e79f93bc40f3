"""Tests for voip_core.rtp.jitter: ordering, loss, adaptation, drift and properties."""

from __future__ import annotations

import itertools
import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voip_core.rtp import RTPPacket, sequence_distance
from voip_core.rtp.jitter import JitterBuffer, Slot

CLOCK_RATE = 8000
STEP = 160  # 20 ms at 8 kHz
PTIME = 0.02


def packet(
    sequence_number: int, timestamp: int, *, ssrc: int = 0x1234, marker: bool = False
) -> RTPPacket:
    """A PCMU packet whose payload names its sequence number."""
    return RTPPacket(
        payload_type=0,
        sequence_number=sequence_number & 0xFFFF,
        timestamp=timestamp & 0xFFFFFFFF,
        ssrc=ssrc,
        marker=marker,
        payload=sequence_number.to_bytes(4, "big", signed=True),
    )


def stream(
    count: int, *, first: int = 0, first_timestamp: int = 0, ssrc: int = 0x1234
) -> list[RTPPacket]:
    """``count`` consecutive 20 ms packets; the first one has the marker bit."""
    return [
        packet(first + index, first_timestamp + STEP * index, ssrc=ssrc, marker=index == 0)
        for index in range(count)
    ]


class Run:
    """What one simulated call did: the slots with their pop times, and the deepest buffer."""

    def __init__(self, buffer: JitterBuffer) -> None:
        self.buffer = buffer
        self.popped: list[tuple[float, Slot]] = []
        self.max_depth = 0

    @property
    def slots(self) -> list[Slot]:
        return [slot for _, slot in self.popped]

    @property
    def packets(self) -> list[RTPPacket | None]:
        """The packet (or None when lost) of every slot but the inserted ones."""
        return [slot.packet for slot in self.slots if not slot.inserted]

    @property
    def numbers(self) -> list[int]:
        return [slot.sequence_number for slot in self.slots if not slot.inserted]


def play(
    arrivals: list[tuple[float, RTPPacket]],
    *,
    buffer: JitterBuffer | None = None,
    tick: float = 0.002,
) -> Run:
    """Push each packet at its arrival time and pop every ``tick`` seconds, then flush.

    Packets with the same arrival time are pushed in list order.
    """
    if buffer is None:
        buffer = JitterBuffer(clock_rate=CLOCK_RATE)
    run = Run(buffer)
    events = sorted(arrivals, key=lambda event: event[0])
    end = events[-1][0] + 1.0
    index = 0
    tick_number = 0
    while True:
        now = tick_number * tick
        if now > end:
            break
        while index < len(events) and events[index][0] <= now:
            buffer.push(events[index][1], events[index][0])
            index += 1
        run.max_depth = max(run.max_depth, len(buffer))
        run.popped += [(now, slot) for slot in buffer.pop(now)]
        tick_number += 1
    run.popped += [(math.inf, slot) for slot in buffer.flush()]
    assert len(buffer) == 0
    return run


def on_time(packets: list[RTPPacket], *, rate: float = 1.0) -> list[tuple[float, RTPPacket]]:
    """Each packet arrives when a sender whose clock runs ``rate`` times ours sends it."""
    return [(index * PTIME / rate, item) for index, item in enumerate(packets)]


def assert_accounted(buffer: JitterBuffer) -> None:
    """Every kept packet was played, shrunk away or dropped on overflow."""
    stats = buffer.stats
    assert stats.played + stats.shrinks + stats.overflow == (
        stats.received - stats.duplicates - stats.late
    )


# ---------------------------------------------------------------------------
# Ordering, duplicates, loss and lateness
# ---------------------------------------------------------------------------


def test_in_order_stream_comes_out_in_order_with_constant_delay() -> None:
    packets = stream(200, first=1000)
    run = play(on_time(packets), tick=0.001)
    assert [slot.packet for slot in run.slots] == packets
    delays = [now - index * PTIME for index, (now, _) in enumerate(run.popped)]
    assert min(delays) >= 0.04 - 1e-9  # the initial delay
    assert max(delays) - min(delays) <= 0.001 + 1e-9  # one tick of the caller's timer
    stats = run.buffer.stats
    assert (stats.played, stats.lost, stats.shrinks, stats.stretches) == (200, 0, 0, 0)
    assert [slot.playout_time for slot in run.slots] == pytest.approx(
        [0.04 + index * PTIME for index in range(200)]
    )


def test_swapped_pairs_come_out_in_order() -> None:
    packets = stream(100)
    arrivals = []
    for index in range(0, 100, 2):
        arrivals.append((index * PTIME, packets[index + 1]))
        arrivals.append((index * PTIME + 0.005, packets[index]))
    run = play(arrivals)
    assert run.packets == packets
    stats = run.buffer.stats
    assert stats.reordered == 50
    assert stats.lost == stats.late == 0


def test_duplicates_are_dropped_and_counted() -> None:
    packets = stream(100)
    arrivals = on_time(packets)
    # Every packet twice, straight away; every tenth once more after it was played.
    arrivals += [
        (when + 0.001, packet(item.sequence_number, item.timestamp))
        for when, item in on_time(packets)
    ]
    arrivals += [(when + 0.3, item) for when, item in on_time(packets)[::10]]
    run = play(arrivals)
    assert run.packets == packets
    stats = run.buffer.stats
    assert stats.duplicates == 110
    assert stats.late == 0
    assert_accounted(run.buffer)


def test_lost_packets_give_loss_slots_carrying_the_next_packet() -> None:
    packets = stream(40)
    kept = [item for item in packets if item.sequence_number not in {10, 20, 21}]
    run = play([(item.sequence_number * PTIME, item) for item in kept])
    slots = run.slots
    assert [slot.sequence_number for slot in slots] == list(range(40))
    lost = {slot.sequence_number: slot for slot in slots if slot.lost}
    assert sorted(lost) == [10, 20, 21]
    assert lost[10].next_packet is packets[11]
    assert lost[20].next_packet is None  # 21 is missing too
    assert lost[21].next_packet is packets[22]
    assert [lost[number].timestamp for number in (10, 20, 21)] == [1600, 3200, 3360]
    assert lost[10].playout_time == pytest.approx(0.04 + 10 * PTIME)
    stats = run.buffer.stats
    assert (stats.lost, stats.played, stats.skipped) == (3, 37, 0)


def test_gap_longer_than_max_concealed_is_skipped() -> None:
    packets = stream(40)
    kept = [item for item in packets if not 10 <= item.sequence_number < 16]
    buffer = JitterBuffer(clock_rate=CLOCK_RATE, max_concealed=5)
    run = play([(item.sequence_number * PTIME, item) for item in kept], buffer=buffer)
    assert [slot.packet for slot in run.slots] == kept
    assert (buffer.stats.lost, buffer.stats.skipped) == (0, 6)


def test_late_packet_is_dropped_and_counted() -> None:
    packets = stream(40)
    arrivals = on_time(packets)
    arrivals[10] = (10 * PTIME + 0.3, packets[10])  # arrives after 11 and 12 played
    run = play(arrivals)
    assert run.numbers == list(range(40))
    assert run.packets == [None if item is packets[10] else item for item in packets]
    stats = run.buffer.stats
    assert (stats.late, stats.lost, stats.duplicates) == (1, 1, 0)
    # A packet 300 ms late is jitter: the target grows, by one inserted frame.
    assert stats.stretches <= 1
    assert_accounted(run.buffer)


def test_earlier_packet_before_playout_starts_the_stream() -> None:
    packets = stream(10, first=500)
    arrivals = on_time(packets)
    arrivals[0], arrivals[1] = (0.01, packets[0]), (0.0, packets[1])  # 501 first
    run = play(arrivals)
    assert [slot.packet for slot in run.slots] == packets
    assert run.buffer.stats.late == 0


# ---------------------------------------------------------------------------
# Wrap-around [RFC 3550 §5.1], resets and resyncs
# ---------------------------------------------------------------------------


def test_sequence_numbers_wrap_from_65535_to_0() -> None:
    packets = stream(20, first=65530)
    kept = [item for item in packets if item.sequence_number != 65535]
    run = play([((item.timestamp // STEP) * PTIME, item) for item in kept])
    assert run.numbers == [(65530 + index) & 0xFFFF for index in range(20)]
    lost = [slot for slot in run.slots if slot.lost]
    assert [slot.sequence_number for slot in lost] == [65535]
    assert lost[0].next_packet is packets[6]  # sequence number 0
    assert run.buffer.stats.resets == 0


def test_timestamps_wrap() -> None:
    first_timestamp = 2**32 - 5 * STEP
    packets = stream(20, first_timestamp=first_timestamp)
    run = play(on_time(packets), tick=0.001)
    assert [slot.packet for slot in run.slots] == packets
    assert [slot.timestamp for slot in run.slots][4:7] == [2**32 - STEP, 0, STEP]
    delays = [now - index * PTIME for index, (now, _) in enumerate(run.popped)]
    assert max(delays) - min(delays) <= 0.001 + 1e-9
    stats = run.buffer.stats
    assert stats.resets == stats.resyncs == 0


def test_ssrc_change_starts_a_new_stream() -> None:
    old = stream(50, first=100, ssrc=1)
    new = stream(50, first=7, first_timestamp=99_999, ssrc=2)
    run = play(on_time(old + new))
    assert [slot.packet for slot in run.slots] == old + new
    assert [slot.stream for slot in run.slots] == [0] * 50 + [1] * 50
    stats = run.buffer.stats
    assert stats.resets == 1
    assert stats.lost == stats.late == 0


def test_old_stream_is_played_out_before_the_new_one() -> None:
    buffer = JitterBuffer(clock_rate=CLOCK_RATE)
    for index, item in enumerate(stream(3, ssrc=1)):
        buffer.push(item, index * 0.001)
    buffer.push(packet(9, 0, ssrc=2), 0.003)  # before any of the old ones was due
    slots = buffer.pop(0.004)
    assert [(slot.stream, slot.sequence_number) for slot in slots] == [(0, 0), (0, 1), (0, 2)]
    assert [slot.sequence_number for slot in buffer.flush()] == [9]


@pytest.mark.parametrize(
    ("sequence_jump", "timestamp_jump"),
    [(5000, 5000 * STEP), (1, 11 * CLOCK_RATE), (-4000, STEP)],
    ids=["sequence", "timestamp", "backwards"],
)
def test_big_jump_resets_the_stream(sequence_jump: int, timestamp_jump: int) -> None:
    before = stream(30, first=40_000)
    after = stream(30, first=40_029 + sequence_jump, first_timestamp=29 * STEP + timestamp_jump)
    after[0].marker = False
    run = play(on_time(before + after))
    assert [slot.packet for slot in run.slots] == before + after
    assert [slot.stream for slot in run.slots] == [0] * 30 + [1] * 30
    stats = run.buffer.stats
    assert stats.resets == 1
    assert stats.skipped == stats.lost == 0


def test_timestamp_step_resyncs_the_schedule() -> None:
    # The sender's timestamps step 3 s ahead without a marker: the schedule
    # follows instead of holding packets back for 3 s.
    packets = [
        packet(index, STEP * index + (3 * CLOCK_RATE if index >= 100 else 0))
        for index in range(200)
    ]
    run = play(on_time(packets))
    assert [slot.packet for slot in run.slots] == packets
    waits = [now - index * PTIME for index, (now, _) in enumerate(run.popped)]
    assert max(waits) < 0.25
    stats = run.buffer.stats
    assert (stats.resyncs, stats.resets) == (1, 0)


def test_marker_reanchors_each_talkspurt() -> None:
    # A sender 1 % slow, talking 1 s then silent 1 s: the schedule is moved at
    # each talkspurt start, so no frame is inserted inside a talkspurt.
    arrivals = []
    timestamp = 0
    number = 0
    for _ in range(20):
        for index in range(50):
            item = packet(number, timestamp, marker=index == 0)
            arrivals.append((timestamp / CLOCK_RATE / 0.99, item))
            number += 1
            timestamp += STEP
        timestamp += CLOCK_RATE
    run = play(arrivals)
    assert run.numbers == list(range(1000))
    stats = run.buffer.stats
    assert stats.stretches == stats.shrinks == stats.lost == 0
    waits = [now - arrival for (now, _), (arrival, _) in zip(run.popped, arrivals, strict=True)]
    assert max(waits) < 0.06


# ---------------------------------------------------------------------------
# Jitter estimate and adaptation [RFC 3550 §6.4.1, Appendix A.8]
# ---------------------------------------------------------------------------


def test_jitter_estimate_is_the_rfc3550_estimator() -> None:
    rng = random.Random(5)
    buffer = JitterBuffer(clock_rate=CLOCK_RATE)
    expected = 0.0
    previous_transit = None
    for index, item in enumerate(stream(300)):
        arrival = index * PTIME + rng.uniform(0, 0.03)
        buffer.push(item, arrival)
        buffer.pop(arrival)
        transit = arrival - item.timestamp / CLOCK_RATE
        if previous_transit is not None:
            expected += (abs(transit - previous_transit) - expected) / 16
        previous_transit = transit
    assert buffer.jitter == pytest.approx(expected, abs=1e-12)
    assert buffer.jitter * CLOCK_RATE > 50  # in timestamp units for RTCP


@pytest.mark.parametrize(
    ("spread", "lowest", "highest"),
    [(0.0, 0.02, 0.02), (0.06, 0.06, 0.12), (1.0, 0.2, 0.2)],
    ids=["steady", "jittery", "wild"],
)
def test_target_delay_follows_the_jitter_within_bounds(
    spread: float, lowest: float, highest: float
) -> None:
    rng = random.Random(9)
    arrivals = [
        (index * PTIME + rng.uniform(0, spread), item) for index, item in enumerate(stream(1000))
    ]
    buffer = JitterBuffer(clock_rate=CLOCK_RATE, min_delay=0.02, max_delay=0.2)
    targets = []
    for arrival, item in sorted(arrivals, key=lambda event: event[0]):
        buffer.push(item, arrival)
        buffer.pop(arrival)
        targets.append(buffer.target_delay)
    assert all(0.02 <= target <= 0.2 for target in targets)
    assert lowest <= buffer.target_delay <= highest
    assert buffer.target_delay == pytest.approx(min(max(3 * buffer.jitter + PTIME, 0.02), 0.2))


def test_playout_delay_grows_with_the_jitter_and_nothing_is_late() -> None:
    rng = random.Random(3)
    arrivals = [
        (index * PTIME + rng.uniform(0, 0.06), item) for index, item in enumerate(stream(1500))
    ]
    run = play(arrivals)
    buffer = run.buffer
    numbers = run.numbers
    assert numbers == sorted(numbers)
    assert len(numbers) + buffer.stats.shrinks == 1500
    assert buffer.stats.stretches >= 1  # from 40 ms towards the ~80 ms target
    assert 0.06 < buffer.target_delay < 0.12
    assert abs(buffer.playout_delay - buffer.target_delay) < 2 * PTIME
    assert buffer.stats.lost <= 5  # only while the estimate settles
    assert buffer.stats.late <= 5


@pytest.mark.parametrize("rate", [1.01, 0.99, 1.005, 0.995])
def test_clock_drift_keeps_the_buffer_bounded(rate: float) -> None:
    # 60 s of packets from a sender whose clock runs 1 % (or 0.5 %) fast or slow.
    run = play(on_time(stream(3000), rate=rate), tick=0.005)
    buffer = run.buffer
    stats = buffer.stats
    assert run.max_depth <= 4  # without correction 30 packets pile up or run dry
    assert stats.lost == stats.late == stats.skipped == 0
    drift_packets = 3000 * abs(rate - 1) / rate  # 30 packets' worth at 1 %
    corrections = stats.shrinks if rate > 1 else stats.stretches
    assert drift_packets - 3 <= corrections <= drift_packets + 3
    assert stats.shrinks + stats.stretches == corrections  # never the other way
    assert 0 <= buffer.playout_delay <= buffer.target_delay + 2 * PTIME


# ---------------------------------------------------------------------------
# A simulated network
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2])
def test_simulated_network(seed: int) -> None:
    rng = random.Random(seed)
    count = 3000
    packets = stream(count, first=60_000, first_timestamp=2**32 - 100 * STEP)
    arrivals = []
    dropped = 0
    copies = 0
    for index, item in enumerate(packets):
        if 0 < index < count - 1 and rng.random() < 0.05:
            dropped += 1
            continue
        delay = rng.uniform(0, 0.06) + (0.03 if rng.random() < 0.03 else 0)
        arrivals.append((index * PTIME + delay, item))
        if rng.random() < 0.02:
            copies += 1
            arrivals.append((index * PTIME + rng.uniform(0, 0.06), item))
    run = play(arrivals, tick=0.005)
    stats = run.buffer.stats
    slots = [slot for slot in run.slots if not slot.inserted]
    steps = [
        sequence_distance(a.sequence_number, b.sequence_number)
        for a, b in itertools.pairwise(slots)
    ]
    assert min(steps) == 1  # strictly increasing
    assert sum(step - 1 for step in steps) == stats.shrinks + stats.skipped
    assert len(slots) + stats.shrinks + stats.skipped == count
    assert stats.reordered > 100
    assert stats.duplicates == copies
    assert dropped <= stats.lost <= dropped + 10
    assert stats.late <= 10
    assert stats.resets == stats.resyncs == 0
    assert_accounted(run.buffer)
    for index, slot in enumerate(slots[:-1]):
        if slot.next_packet is not None:
            assert slots[index + 1].packet is slot.next_packet


# ---------------------------------------------------------------------------
# Bounds, API details and properties
# ---------------------------------------------------------------------------


def test_overflow_drops_the_oldest() -> None:
    buffer = JitterBuffer(clock_rate=CLOCK_RATE, max_packets=10)
    packets = stream(50)
    for item in packets:
        buffer.push(item, 0.0)  # the caller never pops
        assert len(buffer) <= 10
    assert [slot.packet for slot in buffer.flush()] == packets[40:]
    assert buffer.stats.overflow == 40
    assert_accounted(buffer)


def test_next_due_and_reset() -> None:
    buffer = JitterBuffer(clock_rate=CLOCK_RATE, initial_delay=0.06)
    assert buffer.next_due is None
    first, second, third = stream(3)
    buffer.push(first, 1.0)
    buffer.push(third, 1.045)  # on time, give or take jitter
    assert buffer.next_due == pytest.approx(1.06)
    assert buffer.pop(1.059) == []
    assert [slot.packet for slot in buffer.pop(1.06)] == [first]
    assert buffer.next_due == pytest.approx(1.1)  # 2 is missing: 3's time
    buffer.reset()
    assert len(buffer) == 0
    assert buffer.next_due is None
    buffer.push(second, 2.0)
    assert [(slot.stream, slot.packet) for slot in buffer.flush()] == [(1, second)]
    assert buffer.stats.resets == 0  # a reset asked for is not counted


@pytest.mark.parametrize(
    "settings_",
    [
        {"clock_rate": 0},
        {"clock_rate": 8000, "packet_duration": 0.0},
        {"clock_rate": 8000, "min_delay": 0.3, "max_delay": 0.2},
        {"clock_rate": 8000, "max_packets": 0},
        {"clock_rate": 8000, "max_concealed": -1},
    ],
)
def test_bad_settings_are_refused(settings_: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        JitterBuffer(**settings_)  # type: ignore[arg-type]


_events = st.lists(
    st.tuples(
        st.one_of(st.integers(-6, 8), st.sampled_from([3500, -3500, 32768])),  # sequence step
        st.one_of(st.integers(-400, 1000), st.sampled_from([2**31, 9 * CLOCK_RATE, 2**32 - STEP])),
        st.sampled_from([1, 1, 1, 2]),  # SSRC
        st.booleans(),  # marker
        st.floats(0, 0.3),  # time since the previous packet
        st.sampled_from([0, 1, 1, 2]),  # pop: no, now, far later
    ),
    max_size=60,
)


@settings(max_examples=100, deadline=None)
@given(
    events=_events,
    max_packets=st.integers(1, 12),
    max_concealed=st.integers(0, 6),
    start=st.integers(0, 65535),
)
def test_any_packet_sequence_is_handled(
    events: list[tuple[int, int, int, bool, float, int]],
    max_packets: int,
    max_concealed: int,
    start: int,
) -> None:
    buffer = JitterBuffer(
        clock_rate=CLOCK_RATE, max_packets=max_packets, max_concealed=max_concealed
    )
    out: list[Slot] = []
    number, timestamp, now = start, start * STEP, 0.0
    for sequence_step, timestamp_step, ssrc, marker, elapsed, pop in events:
        number += sequence_step
        timestamp += timestamp_step
        now += elapsed
        buffer.push(packet(number, timestamp, ssrc=ssrc, marker=marker), now)
        assert len(buffer) <= max_packets
        if pop:
            out += buffer.pop(now if pop == 1 else now + 5.0)
        assert len(buffer) <= max_packets
    out += buffer.flush()
    assert len(buffer) == 0
    stats = buffer.stats
    assert stats.received == len(events)
    assert_accounted(buffer)
    assert stats.played == sum(slot.packet is not None for slot in out)
    assert stats.lost == sum(slot.lost for slot in out)
    assert stats.stretches == sum(slot.inserted for slot in out)
    streams = [slot.stream for slot in out]
    assert streams == sorted(streams)
    # Within a stream, sequence numbers strictly increase: none repeats.
    for previous, current in itertools.pairwise(out):
        if previous.stream == current.stream and not (previous.inserted or current.inserted):
            assert sequence_distance(previous.sequence_number, current.sequence_number) > 0
        if previous.next_packet is not None:
            assert current.packet is previous.next_packet


class _DrainingBuffer(JitterBuffer):
    """``pop`` without its shortcuts: every pop goes through ``_drain``, as the RFC logic reads."""

    def pop(self, now: float) -> list[Slot]:
        slots = self._pending
        self._pending = []
        slots += self._drain(now, adjust=True)
        self._count(slots)
        return slots


def _slot_fields(slot: Slot) -> tuple[object, ...]:
    return (
        slot.packet,
        slot.sequence_number,
        slot.timestamp,
        slot.playout_time,
        slot.next_packet,
        slot.inserted,
        slot.stream,
    )


# A stream that mostly goes on in order, with bursts of jitter: long enough for the
# schedule to shrink and stretch (at most once per adjust_interval slots).
_streams = st.lists(
    st.tuples(
        st.sampled_from([1] * 12 + [2, 0, -1]),
        st.just(STEP),
        st.just(1),
        st.just(False),
        st.one_of(st.just(0.02), st.floats(0, 0.09)),
        st.just(1),
    ),
    min_size=40,
    max_size=160,
)


@settings(max_examples=150, deadline=None)
@given(
    events=st.one_of(_events, _streams),
    start=st.integers(0, 65535),
    pops=st.lists(st.floats(0, 0.1), max_size=160),
)
def test_pops_shortcuts_give_what_the_whole_drain_gives(
    events: list[tuple[int, int, int, bool, float, int]], start: int, pops: list[float]
) -> None:
    """Same packets, same pop times: the same slots and statistics, shortcut or not."""
    fast, reference = JitterBuffer(clock_rate=CLOCK_RATE), _DrainingBuffer(clock_rate=CLOCK_RATE)
    number, timestamp, now = start, start * STEP, 0.0
    for index, (sequence_step, timestamp_step, ssrc, marker, elapsed, _) in enumerate(events):
        number += sequence_step
        timestamp += timestamp_step
        now += elapsed
        item = packet(number, timestamp, ssrc=ssrc, marker=marker)
        fast.push(item, now)
        reference.push(item, now)
        # Pop at arrival, then at the buffer's own due times (as AudioCall does) or later.
        moments = [now] + [now + offset for offset in pops[index : index + 2]]
        for moment in moments:
            for _ in range(50):
                due = fast.next_due
                if due is None or due > moment:
                    break
                assert due == reference.next_due
                assert list(map(_slot_fields, fast.pop(due))) == list(
                    map(_slot_fields, reference.pop(due))
                )
            assert list(map(_slot_fields, fast.pop(moment))) == list(
                map(_slot_fields, reference.pop(moment))
            )
    assert list(map(_slot_fields, fast.flush())) == list(map(_slot_fields, reference.flush()))
    assert fast.stats == reference.stats


@pytest.mark.parametrize("held_back", [0.012, 0.035, 0.06])
def test_a_held_back_first_packet_moves_the_schedule_before_playout(held_back: float) -> None:
    # The sender's first packet left late (its first-packet work), the ones due
    # meanwhile right after it, the rest on time: the schedule follows them
    # before anything has played, so nothing is dropped later to catch up,
    # and they wait the target delay.
    arrivals = [(max(arrival, held_back), item) for arrival, item in on_time(stream(150))]
    run = play(arrivals, tick=0.001)
    assert run.numbers == list(range(150))
    stats = run.buffer.stats
    assert (stats.shrinks, stats.stretches, stats.lost, stats.late) == (0, 0, 0, 0)
    waits = [now - arrival for (now, _), (arrival, _) in zip(run.popped, arrivals, strict=True)]
    assert max(waits[5:]) == pytest.approx(0.04, abs=0.0015)


def test_an_early_packet_before_playout_does_not_move_the_schedule_by_jitter_alone() -> None:
    # Within half a packet of the schedule is jitter: the first packet's anchor stays.
    arrivals = on_time(stream(50))
    arrivals[1] = (arrivals[1][0] - 0.008, arrivals[1][1])
    run = play(arrivals, tick=0.001)
    assert run.slots[0].playout_time == pytest.approx(0.04)
