"""An adaptive jitter buffer for one received RTP stream [RFC 3550].

This module is layer 2 of voip-core: a sans-I/O state machine. It owns no
timer and no socket. The caller pushes each packet with its arrival time
(event-loop seconds) and pops, at any time it likes, the slots that are due.
:attr:`JitterBuffer.next_due` says when the next slot will be due, so the
caller can arm its own timer. Nothing here raises on network input: every
packet sequence is turned into slots and counted in :class:`JitterBufferStats`.

Design:

* **Sequence numbers.** 16-bit sequence numbers are extended to unbounded
  integers by adding the shortest signed distance from the highest number seen
  (:func:`~voip_core.rtp.packet.sequence_distance`), as in the receiver
  algorithm of [RFC 3550 Appendix A.1]. Timestamps are extended the same way
  [RFC 3550 §5.1]. Packets are held in a dict keyed by extended sequence
  number and leave in sequence order, so reordering is undone. A packet whose
  slot was already played is a duplicate (when it was played) or late (when
  its slot was concealed or skipped); both are dropped and counted.
* **Playout schedule.** The first packet of a stream sets an anchor: its
  arrival time plus the target delay, and its RTP timestamp. Every packet
  then plays at ``anchor time + (timestamp - anchor timestamp) / clock_rate``,
  so the sender's spacing is reproduced [RFC 3550 §5.1]. :meth:`JitterBuffer.pop`
  returns the slots whose playout time has come, in sequence order. When
  the buffer runs dry nothing is guessed (the talkspurt may have ended); a
  packet that comes after its time is played at once.
* **Loss.** When the next sequence number is missing and a later packet is
  due, each missing packet becomes a loss slot, for the caller's packet-loss
  concealment. The slot just before a present packet carries that packet as
  ``next_packet``, so a codec with in-band FEC (Opus) can rebuild the lost
  frame from it. A lost packet's timestamp is estimated from the packet
  duration learned from its neighbours. A gap longer than ``max_concealed``
  packets is not filled in: playout skips to the next packet.
* **Adaptive delay.** The interarrival jitter ``J`` is estimated as in
  [RFC 3550 §6.4.1] and [RFC 3550 Appendix A.8]: for each packet the
  difference ``D`` of its relative transit time from the previous packet's,
  then ``J += (|D| - J) / 16``. Duplicates, and a packet that resyncs the
  schedule (below), are left out. The target delay is
  ``clamp(jitter_factor * J + packet duration, min_delay, max_delay)``.
  The schedule is moved to the target at the start of a talkspurt (the
  marker bit [RFC 3551 §4.1]), where the silence hides the move; and,
  until its first slot has played, to any packet that comes more than half
  a packet sooner than the schedule says (the first packet of a stream was
  held back at the sender: the next ones would otherwise wait that much
  longer, until a frame of speech is dropped to catch up). Inside a
  talkspurt the buffer only ever moves by one whole packet at a time, at
  most once per ``adjust_interval`` slots: when the smoothed time packets
  wait in the buffer drifts above the target by more than one and a half
  packets, one packet is dropped (``shrinks``); when it drifts below the
  target by more than a packet, one concealment frame is inserted
  (``stretches``). The band is wider than the move, so a correction never
  calls for the opposite one. This also absorbs clock drift between sender
  and receiver (one packet per 2 s at 1 %), so the buffer neither grows
  without bound nor starves.
* **Resets.** A new SSRC [RFC 3550 §8], or a jump of more than
  ``max_sequence_jump`` sequence numbers or ``max_timestamp_jump`` seconds of
  timestamp (a restarted sender, [RFC 3550 Appendix A.1]), starts a new
  stream. What the old stream still held is handed out first, at the next
  pop. A new packet that would wait ``max_delay`` plus two packets longer or
  shorter than the target (the sender's timestamps stepped, or the network
  stalled) re-anchors the schedule at once (``resyncs``).
* **Bounds.** The buffer never holds more than ``max_packets`` packets and
  slots together; on overflow the oldest is dropped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from voip_core.rtp.packet import RTPPacket

__all__ = ["JitterBuffer", "JitterBufferStats", "Slot"]

# How many played sequence numbers are remembered to tell a duplicate from a
# late packet: bit i of the history is the slot ``next - 1 - i``.
_HISTORY_BITS = 64
_HISTORY_MASK = (1 << _HISTORY_BITS) - 1

# Gain of the smoothed buffering delay, the same 1/16 as the jitter
# estimator of [RFC 3550 §6.4.1].
_GAIN = 1 / 16

# The smoothed wait may exceed the target by this many packets before one
# packet is dropped, and fall short of it by this many before one frame is
# inserted.
_SHRINK_ABOVE = 1.5
_STRETCH_BELOW = 1.0

# Timestamp steps larger than this (seconds) are not taken as the packet
# duration: the sender paused (DTX) rather than packetised.
_LONGEST_PACKET = 0.2


@dataclass(slots=True, kw_only=True)
class Slot:
    """One frame of playout: a packet to decode, or a frame to conceal.

    Attributes:
        packet: The packet to decode, or ``None`` for a frame the caller
            conceals (a lost packet, or an inserted frame).
        sequence_number: The 16-bit sequence number of the packet, or of the
            lost one. An inserted frame repeats the number of the packet that
            follows it.
        timestamp: The packet's RTP timestamp; for a lost packet, the one it
            would have had (estimated from its neighbours).
        playout_time: When the slot was scheduled, in event-loop seconds.
        next_packet: For a lost packet, the packet that follows it when the
            buffer already holds that one (for in-band FEC); else ``None``.
        inserted: True for a concealment frame inserted to lengthen the
            playout delay (the sender's clock is slow, or the jitter grew);
            no packet was lost.
        stream: Which stream the slot belongs to: 0 for the first, one more
            for each new SSRC, sender restart or :meth:`JitterBuffer.reset`.
            A caller resets its decoder when it changes.
    """

    packet: RTPPacket | None
    sequence_number: int
    timestamp: int
    playout_time: float
    next_packet: RTPPacket | None = None
    inserted: bool = False
    stream: int = 0

    @property
    def lost(self) -> bool:
        """True when this slot stands for a lost packet."""
        return self.packet is None and not self.inserted


@dataclass(slots=True)
class JitterBufferStats:
    """Counters of a :class:`JitterBuffer`, cumulative over its life.

    Every pushed packet is counted in ``received`` and, at most, once more as
    ``reordered``, ``duplicates`` or ``late``; a packet counted in none of
    these three arrived in order. Every packet kept (neither a duplicate nor
    late) is in the end played, dropped by a shrink or dropped on overflow:
    once the buffer is empty,
    ``played + shrinks + overflow == received - duplicates - late``.

    Attributes:
        received: Packets pushed.
        played: Slots with a packet handed to the caller.
        reordered: Packets that arrived after a later one and were put back
            in order.
        duplicates: Copies of a packet already held or played, dropped.
        late: Packets whose slot was already concealed or skipped, dropped.
        lost: Loss slots handed to the caller for concealment.
        skipped: Missing sequence numbers not concealed: gaps longer than
            ``max_concealed``, or the gap before a packet dropped on overflow.
        overflow: Packets dropped because ``max_packets`` were held.
        resets: New streams started by an SSRC change or a sequence or
            timestamp jump.
        resyncs: Schedule re-anchors because a packet would have waited far
            longer or shorter than the target delay.
        shrinks: Packets dropped to shorten the playout delay.
        stretches: Concealment frames inserted to lengthen it.
    """

    received: int = 0
    played: int = 0
    reordered: int = 0
    duplicates: int = 0
    late: int = 0
    lost: int = 0
    skipped: int = 0
    overflow: int = 0
    resets: int = 0
    resyncs: int = 0
    shrinks: int = 0
    stretches: int = 0


class JitterBuffer:
    """A sans-I/O adaptive jitter buffer for one RTP stream [RFC 3550].

    Push packets as they arrive, pop the slots that are due. Times are
    event-loop seconds; all delays are in seconds.

    Args:
        clock_rate: The RTP timestamp clock rate of the payload format
            [RFC 3550 §5.1] (8000 for G.722, whose audio is 16 kHz).
        packet_duration: The expected audio per packet; the actual duration
            is learned from the timestamps.
        min_delay: The smallest target delay.
        max_delay: The largest target delay.
        initial_delay: The target delay until the jitter estimate has
            settled (the first ``warmup_packets`` packets).
        max_packets: The most packets (and slots not yet popped) held at
            once.
        max_concealed: The longest run of lost packets that is concealed;
            a longer gap is skipped.

    Attributes:
        stats: The counters, cumulative over the buffer's life.

    Raises:
        ValueError: A setting is out of range.

    Example:
        >>> from voip_core.rtp import RTPPacket
        >>> def packet(number: int) -> RTPPacket:
        ...     return RTPPacket(payload_type=0, sequence_number=number,
        ...                      timestamp=160 * number, ssrc=7)
        >>> buffer = JitterBuffer(clock_rate=8000)
        >>> buffer.push(packet(1), arrival=0.000)
        >>> buffer.push(packet(3), arrival=0.038)  # 3 overtook 2
        >>> buffer.push(packet(2), arrival=0.041)
        >>> buffer.push(packet(5), arrival=0.081)  # 4 was lost
        >>> [slot.sequence_number for slot in buffer.pop(now=0.04)]
        [1]
        >>> slots = buffer.pop(now=0.2)
        >>> [(slot.sequence_number, slot.lost) for slot in slots]
        [(2, False), (3, False), (4, True), (5, False)]
        >>> slots[2].next_packet is slots[3].packet  # for Opus FEC
        True
        >>> buffer.stats.reordered, buffer.stats.lost
        (1, 1)
    """

    #: The target delay is this many jitter estimates plus one packet.
    jitter_factor: ClassVar[float] = 3.0
    #: Packets until the jitter estimate is trusted below ``initial_delay``.
    warmup_packets: ClassVar[int] = 50
    #: Slots between two one-packet moves of the schedule inside a talkspurt.
    adjust_interval: ClassVar[int] = 16
    #: A larger sequence number jump starts a new stream [RFC 3550 Appendix A.1].
    max_sequence_jump: ClassVar[int] = 3000
    #: A larger timestamp jump (seconds) starts a new stream.
    max_timestamp_jump: ClassVar[float] = 10.0

    __slots__ = (
        "_anchor_time",
        "_anchor_timestamp",
        "_buffer",
        "_clock_rate",
        "_default_step",
        "_delay",
        "_highest",
        "_highest_timestamp",
        "_history",
        "_initial_delay",
        "_jitter",
        "_jitter_samples",
        "_last_timestamp",
        "_max_concealed",
        "_max_delay",
        "_max_packets",
        "_max_timestamp_step",
        "_min_delay",
        "_next",
        "_pending",
        "_playing",
        "_resync_threshold",
        "_seconds_per_unit",
        "_since_adjust",
        "_ssrc",
        "_step",
        "_stream",
        "_target",
        "_transit",
        "stats",
    )

    def __init__(
        self,
        *,
        clock_rate: int,
        packet_duration: float = 0.02,
        min_delay: float = 0.02,
        max_delay: float = 0.2,
        initial_delay: float = 0.04,
        max_packets: int = 200,
        max_concealed: int = 5,
    ) -> None:
        if clock_rate <= 0:
            raise ValueError(f"clock_rate must be positive, got {clock_rate}")
        if not 0 < packet_duration <= _LONGEST_PACKET:
            raise ValueError(f"packet_duration must be in (0, 0.2] s, got {packet_duration}")
        if not 0 <= min_delay <= max_delay:
            raise ValueError(f"need 0 <= min_delay <= max_delay, got {min_delay} and {max_delay}")
        if max_packets < 1:
            raise ValueError(f"max_packets must be at least 1, got {max_packets}")
        if max_concealed < 0:
            raise ValueError(f"max_concealed must not be negative, got {max_concealed}")
        self._clock_rate = clock_rate
        self._seconds_per_unit = 1.0 / clock_rate
        self._min_delay = min_delay
        self._max_delay = max_delay
        self._initial_delay = min(max(initial_delay, min_delay), max_delay)
        self._max_packets = max_packets
        self._max_concealed = max_concealed
        self._default_step = max(1, round(packet_duration * clock_rate))
        self._max_timestamp_step = round(_LONGEST_PACKET * clock_rate)
        self._resync_threshold = max_delay + 2 * packet_duration
        self.stats = JitterBufferStats()
        self._stream = -1
        self._pending: list[Slot] = []
        self._buffer: dict[int, tuple[RTPPacket, int]] = {}
        self._clear_stream()
        self._jitter = 0.0
        self._jitter_samples = 0
        self._target = self._initial_delay

    def _clear_stream(self) -> None:
        """Forget the current stream (but not the jitter estimate)."""
        self._ssrc: int | None = None
        self._buffer = {}
        self._highest = 0
        self._highest_timestamp = 0
        self._next = 0
        self._playing = False
        self._history = 0
        self._step = self._default_step
        self._last_timestamp = 0
        self._anchor_time = 0.0
        self._anchor_timestamp = 0
        self._delay = 0.0
        self._since_adjust = 0
        self._transit = math.nan

    # -- public API ---------------------------------------------------------

    @property
    def target_delay(self) -> float:
        """The delay, in seconds, the buffer aims to hold packets for."""
        return self._target

    @property
    def jitter(self) -> float:
        """The interarrival jitter estimate in seconds [RFC 3550 §6.4.1].

        Multiply by the clock rate for the timestamp units of an RTCP report.
        """
        return self._jitter

    @property
    def playout_delay(self) -> float:
        """The smoothed time, in seconds, packets wait between arrival and playout."""
        return self._delay

    @property
    def next_due(self) -> float | None:
        """When :meth:`pop` next has a slot to return, or ``None`` when empty.

        A hint for the caller's timer: a slot may come later than this (the
        schedule was stretched) but never earlier, short of a new push.
        """
        if self._pending:
            return self._pending[0].playout_time
        buffer = self._buffer
        if not buffer:
            return None
        entry = buffer.get(self._next)
        if entry is None:
            entry = buffer[min(buffer)]
        return self._playout_time(entry[1])

    def __len__(self) -> int:
        """The number of packets and slots held (so an empty buffer is falsy)."""
        return len(self._buffer) + len(self._pending)

    def push(self, packet: RTPPacket, arrival: float) -> None:
        """Take one received packet.

        Args:
            packet: The packet, as parsed; the buffer keeps a reference.
            arrival: Its arrival time in event-loop seconds.
        """
        stats = self.stats
        stats.received += 1
        if packet.ssrc != self._ssrc:
            if self._ssrc is not None:
                stats.resets += 1  # A new source [RFC 3550 §8].
            self._start(packet, arrival)
            return
        highest_timestamp = self._highest_timestamp
        # sequence_distance and timestamp_distance, inline: this runs per packet.
        step = ((packet.sequence_number - self._highest + 0x8000) & 0xFFFF) - 0x8000
        timestamp = highest_timestamp + (
            ((packet.timestamp - highest_timestamp + 0x80000000) & 0xFFFFFFFF) - 0x80000000
        )
        if (
            step > self.max_sequence_jump
            or -step > self.max_sequence_jump
            or abs(timestamp - highest_timestamp) > self.max_timestamp_jump * self._clock_rate
        ):
            stats.resets += 1  # The sender restarted [RFC 3550 Appendix A.1].
            self._start(packet, arrival)
            return
        number = self._highest + step
        transit = arrival - timestamp * self._seconds_per_unit
        buffer = self._buffer
        if number < self._next:
            if self._playing:
                back = self._next - 1 - number
                if back < _HISTORY_BITS and (self._history >> back) & 1:
                    stats.duplicates += 1
                else:
                    stats.late += 1
                    self._update_jitter(transit)
                return
            # Nothing played yet: an earlier packet simply starts playout.
            self._next = number
            self._last_timestamp = timestamp - self._step
        elif number in buffer:
            stats.duplicates += 1
            return
        buffer[number] = (packet, timestamp)
        lead = self._playout_time(timestamp) - arrival
        if step > 0:
            self._highest = number
            self._highest_timestamp = timestamp
            if abs(lead - self._target) > self._resync_threshold:
                # The sender's timestamps stepped (or the network stalled for
                # far longer than any jitter): follow at once. The step is not
                # jitter, so it stays out of the estimate.
                self._transit = transit
                stats.resyncs += 1
                self._anchor(timestamp, arrival)
            elif packet.marker and number == self._next and len(buffer) == 1:
                # A talkspurt starts after the last one played out: move the
                # schedule to the target here, where silence hides the move
                # [RFC 3551 §4.1].
                self._update_jitter(transit)
                self._anchor(timestamp, arrival)
            elif not self._playing and (
                lead - self._target > self._step * self._seconds_per_unit / 2
            ):
                # Nothing played yet, and this packet came sooner than the
                # schedule set by the first one: the first was held back (at the
                # sender, on the way). Move the schedule to this packet while
                # moving it costs nothing; later, only a dropped frame would.
                self._update_jitter(transit)
                self._anchor(timestamp, arrival)
            else:
                self._update_jitter(transit)
                self._delay += (lead - self._delay) * _GAIN
        else:
            stats.reordered += 1
            self._update_jitter(transit)
            self._delay += (lead - self._delay) * _GAIN
        if len(buffer) + len(self._pending) > self._max_packets:
            self._make_room()

    def pop(self, now: float) -> list[Slot]:
        """Return every slot due at ``now``, in playout order.

        Args:
            now: The current event-loop time in seconds.

        Returns:
            The due slots; empty when none is due.
        """
        if self._pending:
            slots = self._pending
            self._pending = []
            slots += self._drain(now, adjust=True)
        elif buffer := self._buffer:
            entry = buffer.get(self._next)
            if (
                entry is not None
                and self._anchor_time + (entry[1] - self._anchor_timestamp) * self._seconds_per_unit
                > now
            ):
                return []  # the next packet is here and not due: nothing is (the common case)
            slots = self._drain(now, adjust=True)
        else:
            return []
        self._count(slots)
        return slots

    def flush(self) -> list[Slot]:
        """Return every slot still held, due or not (the stream ended).

        Gaps are concealed or skipped as in :meth:`pop`. The stream's state
        is kept, so a straggler afterwards is still known as late.
        """
        slots = self._pending
        self._pending = []
        slots += self._drain(math.inf, adjust=False)
        self._count(slots)
        return slots

    def reset(self) -> None:
        """Drop every held packet and forget the stream and the jitter estimate.

        The statistics are kept; the dropped packets are not counted. The
        next packet starts a new stream.
        """
        self._pending = []
        self._clear_stream()
        self._jitter = 0.0
        self._jitter_samples = 0
        self._target = self._initial_delay

    # -- internals ----------------------------------------------------------

    def _playout_time(self, timestamp: int) -> float:
        """The scheduled playout time of an extended timestamp."""
        return self._anchor_time + (timestamp - self._anchor_timestamp) * self._seconds_per_unit

    def _anchor(self, timestamp: int, arrival: float) -> None:
        """Schedule ``timestamp`` to play the target delay after ``arrival``."""
        self._anchor_time = arrival + self._target
        self._anchor_timestamp = timestamp
        self._delay = self._target

    def _start(self, packet: RTPPacket, arrival: float) -> None:
        """Start a new stream with ``packet``; what the old one held is played first."""
        if self._buffer:
            self._pending += self._drain(math.inf, adjust=False)
        self._clear_stream()
        self._stream += 1
        self._ssrc = packet.ssrc
        number = packet.sequence_number
        timestamp = packet.timestamp
        self._buffer[number] = (packet, timestamp)
        self._highest = self._next = number
        self._highest_timestamp = timestamp
        self._last_timestamp = timestamp - self._step
        self._transit = arrival - timestamp * self._seconds_per_unit
        self._target = self._target_for_jitter()
        self._anchor(timestamp, arrival)
        if 1 + len(self._pending) > self._max_packets:
            self._make_room()

    def _count(self, slots: list[Slot]) -> None:
        """Count the slots handed to the caller."""
        stats = self.stats
        for slot in slots:
            if slot.packet is not None:
                stats.played += 1
            elif not slot.inserted:
                stats.lost += 1

    def _make_room(self) -> None:
        """Drop the oldest slots and packets until at most ``max_packets`` are held."""
        pending = self._pending
        excess = len(self._buffer) + len(pending) - self._max_packets
        if pending and excess > 0:
            # What an old stream left comes first: its slots go first.
            dropped = pending[:excess]
            del pending[:excess]
            excess -= len(dropped)
            stats = self.stats
            for slot in dropped:
                if slot.packet is not None:
                    stats.overflow += 1
                elif not slot.inserted:
                    stats.skipped += 1
        for _ in range(excess):
            self._drop_oldest()

    def _update_jitter(self, transit: float) -> None:
        """Update J and the target delay [RFC 3550 §6.4.1, Appendix A.8].

        Args:
            transit: The packet's relative transit time, arrival time less
                timestamp, both in seconds.
        """
        self._jitter += (abs(transit - self._transit) - self._jitter) * _GAIN
        self._transit = transit
        self._jitter_samples += 1
        self._target = self._target_for_jitter()

    def _target_for_jitter(self) -> float:
        """The target delay for the current jitter estimate."""
        target = self.jitter_factor * self._jitter + self._step * self._seconds_per_unit
        if self._jitter_samples < self.warmup_packets and target < self._initial_delay:
            target = self._initial_delay
        return min(max(target, self._min_delay), self._max_delay)

    def _drop_oldest(self) -> None:
        """Drop the oldest held packet; the slots up to it are given up."""
        buffer = self._buffer
        oldest = min(buffer)
        timestamp = buffer.pop(oldest)[1]
        stats = self.stats
        stats.overflow += 1
        missing = oldest - self._next
        stats.skipped += missing
        self._history = ((self._history << (missing + 1)) | 1) & _HISTORY_MASK
        self._next = oldest + 1
        self._last_timestamp = timestamp
        self._playing = True

    def _drain(self, now: float, *, adjust: bool) -> list[Slot]:
        """Take the slots due at ``now`` out of the buffer, in sequence order.

        Args:
            now: The current time; ``math.inf`` drains everything.
            adjust: Whether the schedule may shrink or stretch by one packet.
        """
        slots: list[Slot] = []
        buffer = self._buffer
        stats = self.stats
        stream = self._stream
        unit = self._seconds_per_unit
        after_gap = False
        while buffer:
            number = self._next
            entry = buffer.get(number)
            if entry is None:
                self._fill_gap(now, slots)
                if self._next == number:
                    break  # The packet after the gap is not due yet.
                after_gap = True
                continue
            packet, timestamp = entry
            due = self._anchor_time + (timestamp - self._anchor_timestamp) * unit
            if due > now:
                break
            # Never right after a gap: the packet after a lost one is played
            # as it is, since its loss slot handed it over for FEC.
            if adjust and not after_gap and self._since_adjust >= self.adjust_interval:
                step = self._step * unit
                if self._delay > self._target + _SHRINK_ABOVE * step:
                    following = buffer.get(number + 1)
                    if following is not None:
                        shift = (following[1] - timestamp) * unit
                        if 0 < shift <= 2 * step:
                            # Waiting too long: drop this packet, pull the
                            # schedule in by its duration.
                            del buffer[number]
                            self._anchor_time -= shift
                            self._delay -= shift
                            self._advance(timestamp, received=True)
                            self._since_adjust = 0
                            stats.shrinks += 1
                            continue
                elif self._delay < self._target - _STRETCH_BELOW * step:
                    # Too close to running dry: conceal one frame and push
                    # the schedule out by one packet.
                    slots.append(
                        Slot(
                            packet=None,
                            sequence_number=packet.sequence_number,
                            timestamp=packet.timestamp,
                            playout_time=due,
                            inserted=True,
                            stream=stream,
                        )
                    )
                    self._anchor_time += step
                    self._delay += step
                    self._since_adjust = 0
                    stats.stretches += 1
                    continue
            del buffer[number]
            if not packet.marker:
                duration = timestamp - self._last_timestamp
                if 0 < duration <= self._max_timestamp_step:
                    self._step = duration
            slots.append(
                Slot(
                    packet=packet,
                    sequence_number=packet.sequence_number,
                    timestamp=packet.timestamp,
                    playout_time=due,
                    stream=stream,
                )
            )
            self._since_adjust += 1
            self._advance(timestamp, received=True)
            after_gap = False
        return slots

    def _advance(self, timestamp: int, *, received: bool) -> None:
        """Move past the next slot, whose (extended) timestamp is ``timestamp``."""
        self._history = ((self._history << 1) | received) & _HISTORY_MASK
        self._next += 1
        self._last_timestamp = timestamp
        self._playing = True

    def _fill_gap(self, now: float, slots: list[Slot]) -> None:
        """Conceal or skip the missing packets before the next held one, once it is due."""
        buffer = self._buffer
        following = min(buffer)
        following_packet, following_timestamp = buffer[following]
        if self._playout_time(following_timestamp) > now:
            return
        number = self._next
        gap = following - number
        stats = self.stats
        if gap > self._max_concealed:
            # A long run is missing: the peer paused, or a burst was lost
            # whose concealment would sound worse than the skip.
            stats.skipped += gap
            self._history = (self._history << gap) & _HISTORY_MASK
            self._next = following
            self._last_timestamp = following_timestamp - self._step
            self._playing = True
            return
        last = self._last_timestamp
        step = self._step
        if last + gap * step >= following_timestamp:
            # The learned step does not fit: spread the gap evenly.
            span = following_timestamp - last
            timestamps = [last + span * (index + 1) // (gap + 1) for index in range(gap)]
        else:
            timestamps = [last + step * (index + 1) for index in range(gap)]
        stream = self._stream
        base = following_packet.sequence_number - gap
        for index, timestamp in enumerate(timestamps):
            slots.append(
                Slot(
                    packet=None,
                    sequence_number=(base + index) & 0xFFFF,
                    timestamp=timestamp & 0xFFFFFFFF,
                    playout_time=self._playout_time(timestamp),
                    next_packet=following_packet if index == gap - 1 else None,
                    stream=stream,
                )
            )
        self._since_adjust += gap
        self._history = (self._history << gap) & _HISTORY_MASK
        self._next = following
        self._last_timestamp = timestamps[-1]
        self._playing = True
