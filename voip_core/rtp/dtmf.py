"""DTMF: RFC 4733 telephone events on RTP, and DTMF in SIP INFO bodies.

Sans-I/O, like the rest of layers 1 and 2: nothing here reads a clock or a
socket. Times come in as arguments, packets go out as values.

- :class:`TelephoneEvent` is the 4-octet payload [RFC 4733 §2.3].
- :func:`dtmf_packets` turns a digit string into the RTP packets that carry
  it, each with the offset at which to send it [RFC 4733 §2.5.1].
- :class:`DTMFReceiver` turns received telephone-event packets back into
  digits, reporting each key press once however many times its end packet
  arrives [RFC 4733 §2.5.2].
- :func:`parse_dtmf_info` reads ``application/dtmf-relay`` and
  ``application/dtmf`` bodies of SIP INFO requests.

Digits are ``0``-``9``, ``*``, ``#``, ``A``-``D`` (event codes 0-15) and ``!``
for a hook flash (event code 16) [RFC 4733 §3.2, Table 3].

A digit string goes out and comes back:

>>> schedule = dtmf_packets(
...     "1#", clock_rate=8000, payload_type=101, ssrc=0x1234,
...     first_sequence=100, first_timestamp=0,
... )
>>> [(offset, packet.sequence_number) for offset, packet in schedule.packets[:2]]
[(0.02, 100), (0.04, 101)]
>>> TelephoneEvent.parse(schedule.packets[0][1].payload)
TelephoneEvent(event=1, end=False, volume=10, duration=160)
>>> receiver = DTMFReceiver(8000)
>>> [digit for offset, packet in schedule.packets for digit in receiver.feed(packet, offset)]
[('1', 0.1), ('#', 0.1)]
>>> schedule.next_sequence, schedule.next_timestamp
(114, 2400)
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Self

from voip_core.errors import ParseError
from voip_core.rtp.packet import RTPPacket, timestamp_distance

__all__ = [
    "FLASH_EVENT",
    "DTMFReceiver",
    "DTMFSchedule",
    "TelephoneEvent",
    "digit_for_event",
    "dtmf_packets",
    "event_for_digit",
    "parse_dtmf_info",
]

#: Event code of a hook flash [RFC 4733 §3.2, Table 3].
FLASH_EVENT = 16

# Event codes 0-15 in order [RFC 4733 §3.2, Table 3].
_DTMF_DIGITS = "0123456789*#ABCD"
_FLASH_DIGIT = "!"
_PAUSE = ","

_MAX_DURATION = 0xFFFF  # The 16-bit duration field [RFC 4733 §2.3.5].
_MAX_VOLUME = 0x3F  # The 6-bit volume field [RFC 4733 §2.3.4].
_MAX_EVENT = 0xFF
_END_BIT = 0x80
_VOLUME_MASK = 0x3F
_PAYLOAD = struct.Struct("!BBH")
_PAYLOAD_SIZE = 4

# A finished event's timestamp is remembered this long (seconds of arrival
# time) to drop its late duplicates; past it, comparisons of 32-bit
# timestamps could mislead after a very long call.
_DUPLICATE_WINDOW = 10.0

# A packet whose timestamp lies this far (or up to 0xFFFF) past the pending
# event's segment start continues that event as a new segment
# [RFC 4733 §2.5.1.3, §2.5.2]; senders may stop a segment at the last whole
# packet interval below 0xFFFF.
_MIN_SEGMENT_LENGTH = 0xF000


def digit_for_event(code: int) -> str | None:
    """Return the digit of a DTMF event code [RFC 4733 §3.2, Table 3].

    Args:
        code: The event code, 0-255.

    Returns:
        ``"0"``-``"9"``, ``"*"``, ``"#"``, ``"A"``-``"D"`` for codes 0-15,
        ``"!"`` for the hook flash (16), and None for any other code (tones
        and signals of RFC 4734 that are not DTMF).

    >>> digit_for_event(11), digit_for_event(16), digit_for_event(32)
    ('#', '!', None)
    """
    if 0 <= code < len(_DTMF_DIGITS):
        return _DTMF_DIGITS[code]
    if code == FLASH_EVENT:
        return _FLASH_DIGIT
    return None


def event_for_digit(digit: str) -> int:
    """Return the event code of a DTMF digit [RFC 4733 §3.2, Table 3].

    Args:
        digit: ``"0"``-``"9"``, ``"*"``, ``"#"``, ``"A"``-``"D"`` (either
            case), or ``"!"`` or ``"Flash"`` (either case) for a hook flash.

    Returns:
        The event code, 0-16.

    Raises:
        ValueError: ``digit`` is none of those.

    >>> event_for_digit("*"), event_for_digit("d"), event_for_digit("flash")
    (10, 15, 16)
    """
    upper = digit.upper()
    if len(upper) == 1:
        code = _DTMF_DIGITS.find(upper)
        if code >= 0:
            return code
    if upper in {_FLASH_DIGIT, "FLASH"}:
        return FLASH_EVENT
    raise ValueError(f"not a DTMF digit: {digit!r} (expected 0-9, *, #, A-D or !)")


@dataclass(slots=True, frozen=True)
class TelephoneEvent:
    """One telephone-event payload [RFC 4733 §2.3]::

         0                   1                   2                   3
         0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
        +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
        |     event     |E|R| volume    |          duration             |
        +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

    Attributes:
        event: The event code, 0-255 [RFC 4733 §2.3.1]; 0-16 are DTMF
            (:func:`digit_for_event`).
        end: The E bit: this packet reports the end of the event
            [RFC 4733 §2.3.2].
        volume: Power level of the tone in dBm0 with the sign dropped, 0-63,
            0 being loudest [RFC 4733 §2.3.4].
        duration: Duration of the event (of the segment, for a long event) so
            far, in RTP timestamp units, 0-65535 [RFC 4733 §2.3.5].

    Raises:
        ValueError: A field is out of its wire range.
    """

    event: int
    end: bool = False
    volume: int = 0
    duration: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.event <= _MAX_EVENT:
            raise ValueError(f"event must be 0..255, got {self.event}")
        if not 0 <= self.volume <= _MAX_VOLUME:
            raise ValueError(f"volume must be 0..63, got {self.volume} [RFC 4733 §2.3.4]")
        if not 0 <= self.duration <= _MAX_DURATION:
            raise ValueError(f"duration must be 0..65535, got {self.duration} [RFC 4733 §2.3.5]")

    @property
    def digit(self) -> str | None:
        """The DTMF digit of :attr:`event`, or None (:func:`digit_for_event`)."""
        return digit_for_event(self.event)

    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview) -> Self:
        """Parse a telephone-event payload [RFC 4733 §2.3].

        Every value of the 4 octets is valid: unknown event codes are kept
        (a receiver ignores events it does not know [RFC 4733 §2.5.2]) and
        the R bit is ignored [RFC 4733 §2.3.3]. A plain telephone-event
        payload is exactly 4 octets; several events travel in one packet only
        through RFC 2198 redundancy, a payload format of its own
        [RFC 4733 §2.5.1.5]. Octets after the first 4 are therefore ignored,
        so that a peer appending junk does not lose its digits.

        Args:
            data: The RTP payload (padding already removed).

        Returns:
            The event.

        Raises:
            ParseError: The payload is shorter than 4 octets.
        """
        if len(data) < _PAYLOAD_SIZE:
            raise ParseError(
                f"telephone-event payload of {len(data)} octets is shorter than 4 [RFC 4733 §2.3]",
                offset=len(data),
            )
        event, flags, duration = _PAYLOAD.unpack_from(data)
        return cls(
            event=event,
            end=flags >= _END_BIT,
            volume=flags & _VOLUME_MASK,
            duration=duration,
        )

    def serialize(self) -> bytes:
        """Return the 4-octet payload, R bit zero [RFC 4733 §2.3.3]."""
        flags = self.volume | _END_BIT if self.end else self.volume
        return _PAYLOAD.pack(self.event, flags, self.duration)

    __bytes__ = serialize


@dataclass(slots=True, frozen=True, kw_only=True)
class DTMFSchedule:
    """What :func:`dtmf_packets` returns.

    Attributes:
        packets: ``(offset, packet)`` pairs in sequence-number order, where
            ``offset`` is when to send the packet, in seconds after the
            instant of ``first_timestamp``; offsets never decrease.
        next_sequence: The sequence number the stream continues with.
        next_timestamp: The timestamp where a following digit (or the media
            that follows) starts: the end of the last tone plus the gap (and
            any trailing pause).
    """

    packets: list[tuple[float, RTPPacket]]
    next_sequence: int
    next_timestamp: int


def dtmf_packets(
    digits: str,
    *,
    clock_rate: int,
    payload_type: int,
    ssrc: int,
    first_sequence: int,
    first_timestamp: int,
    tone_duration: float = 0.1,
    gap: float = 0.05,
    packet_interval: float = 0.02,
    volume: int = 10,
    end_repeats: int = 3,
    pause: float = 0.5,
    separate_end_packets: bool = False,
) -> DTMFSchedule:
    """Build the RTP packets that send ``digits`` [RFC 4733 §2.5.1].

    Each digit is one event, timed in timestamp units from
    ``first_timestamp``: a tone of ``tone_duration`` then ``gap`` of
    silence, so the next digit starts at the previous start plus both. A
    ``","`` in ``digits`` adds ``pause`` more silence.

    Per event [RFC 4733 §2.5.1.2 - §2.5.1.4]:

    - every packet carries the event's start as RTP timestamp; the first one
      has the marker bit [RFC 4733 §2.2.2];
    - an update goes out every ``packet_interval`` with the duration so far
      (interval, 2 x interval, ...), sent at the moment it reports;
    - the packet with the full duration and the E bit is sent
      ``end_repeats`` times, ``packet_interval`` apart, each time with the
      same timestamp and duration and a new sequence number
      [RFC 4733 §2.5.1.4]. By default the first of them goes out at the end
      of the tone. With ``separate_end_packets`` the update reaching the full
      duration goes out without the E bit and the ``end_repeats`` E-bit
      copies follow, as in the example of [RFC 4733 §5];
    - a tone longer than 65535 timestamp units is cut into segments of at
      most 65535 units, each starting where the previous one ends; a
      continuation segment has no marker bit and only the last segment's
      final packets carry the E bit, while every segment's final packet is
      repeated [RFC 4733 §2.5.1.3, §2.3.2].

    The volume is sent for DTMF tones; the hook flash is a signal, not a tone,
    so it goes with volume 0 [RFC 4733 §2.3.4]. Sequence numbers follow the
    send order; where the end packets of one event are still due when the
    next event starts (a ``gap`` shorter than the repeats), the packets of
    the two interleave in time order.

    Args:
        digits: The digits (see :func:`event_for_digit`; ``a``-``d`` may be
            lower case) and ``","`` pauses.
        clock_rate: RTP clock rate of the telephone-event format, in Hz.
        payload_type: The negotiated telephone-event payload type.
        ssrc: The SSRC of the audio stream the events belong to.
        first_sequence: Sequence number of the first packet.
        first_timestamp: RTP timestamp at which the first digit starts.
        tone_duration: Length of each tone, seconds.
        gap: Silence after each tone, seconds.
        packet_interval: Time between updates, seconds [RFC 4733 §2.5.1.2].
        volume: Tone power in -dBm0, 0-63 [RFC 4733 §2.3.4].
        end_repeats: How many times the end packet is sent
            [RFC 4733 §2.5.1.4].
        pause: Length of a ``","`` pause, seconds.
        separate_end_packets: Send the full-duration update without the E bit
            before the end packets (the RFC 4733 §5 example).

    Returns:
        The packets with their send offsets and where the stream continues.

    Raises:
        ValueError: ``digits`` holds characters that are not digits (all are
            named), or a parameter is out of range.
    """
    codes = _digit_codes(digits)
    if clock_rate <= 0:
        raise ValueError(f"clock_rate must be positive, got {clock_rate}")
    if not 0 <= first_sequence <= 0xFFFF:
        raise ValueError(f"first_sequence must be 0..65535, got {first_sequence}")
    if not 0 <= first_timestamp <= 0xFFFFFFFF:
        raise ValueError(f"first_timestamp must be 0..2**32-1, got {first_timestamp}")
    if not 0 <= volume <= _MAX_VOLUME:
        raise ValueError(f"volume must be 0..63, got {volume} [RFC 4733 §2.3.4]")
    if end_repeats < 1:
        raise ValueError(f"end_repeats must be at least 1, got {end_repeats}")
    if not 0 <= payload_type <= 0x7F:
        raise ValueError(f"payload_type must be 0..127, got {payload_type}")
    if not 0 <= ssrc <= 0xFFFFFFFF:
        raise ValueError(f"ssrc must be 0..2**32-1, got {ssrc}")
    tone = _samples("tone_duration", tone_duration, clock_rate, minimum=1)
    step = _samples("packet_interval", packet_interval, clock_rate, minimum=1)
    gap_samples = _samples("gap", gap, clock_rate, minimum=0)
    pause_samples = _samples("pause", pause, clock_rate, minimum=0)
    # (send time in samples after first_timestamp, emission order, marker, timestamp, payload)
    planned: list[tuple[int, int, bool, int, bytes]] = []
    cursor = 0
    for code in codes:
        if code is None:
            cursor += pause_samples
            continue
        event_volume = 0 if code == FLASH_EVENT else volume
        segment_start = 0
        marker = True
        while segment_start < tone:
            length = min(tone - segment_start, _MAX_DURATION)
            last_segment = segment_start + length == tone
            timestamp = (first_timestamp + cursor + segment_start) & 0xFFFFFFFF
            origin = cursor + segment_start
            sends: list[tuple[int, int, bool]] = [
                (origin + duration, duration, False) for duration in range(step, length, step)
            ]
            if separate_end_packets:
                sends.append((origin + length, length, False))
                first_end = origin + length + step
            else:
                first_end = origin + length
            sends.extend(
                (first_end + repeat * step, length, last_segment) for repeat in range(end_repeats)
            )
            for at, duration, end in sends:
                payload = _PAYLOAD.pack(
                    code, event_volume | _END_BIT if end else event_volume, duration
                )
                planned.append((at, len(planned), marker, timestamp, payload))
                marker = False
            segment_start += length
        cursor += tone + gap_samples
    planned.sort()
    packets = [
        (
            at / clock_rate,
            RTPPacket(
                marker=marker,
                payload_type=payload_type,
                sequence_number=(first_sequence + index) & 0xFFFF,
                timestamp=timestamp,
                ssrc=ssrc,
                payload=payload,
            ),
        )
        for index, (at, _, marker, timestamp, payload) in enumerate(planned)
    ]
    return DTMFSchedule(
        packets=packets,
        next_sequence=(first_sequence + len(packets)) & 0xFFFF,
        next_timestamp=(first_timestamp + cursor) & 0xFFFFFFFF,
    )


def _digit_codes(digits: str) -> list[int | None]:
    """Map each character to its event code, None for a pause; name all bad ones."""
    codes: list[int | None] = []
    bad: list[str] = []
    for character in digits:
        if character == _PAUSE:
            codes.append(None)
            continue
        try:
            codes.append(event_for_digit(character))
        except ValueError:
            if character not in bad:
                bad.append(character)
    if bad:
        listed = ", ".join(repr(character) for character in bad)
        raise ValueError(
            f"not DTMF digits: {listed} in {digits!r} (expected 0-9, *, #, A-D, ! or ,)"
        )
    return codes


def _samples(name: str, seconds: float, clock_rate: int, *, minimum: int) -> int:
    """Convert ``seconds`` to whole timestamp units, checking the result."""
    if not seconds >= 0:  # Also catches NaN.
        raise ValueError(f"{name} must not be negative, got {seconds}")
    samples = round(seconds * clock_rate)
    if samples < minimum:
        raise ValueError(
            f"{name} of {seconds} s is less than {minimum} timestamp unit at {clock_rate} Hz"
        )
    return samples


@dataclass(slots=True)
class _Event:
    """The event a :class:`DTMFReceiver` is following."""

    code: int
    segment_start: int  # RTP timestamp of the current segment.
    completed: int  # Timestamp units of the earlier segments.
    duration: int  # Largest duration seen in the current segment.
    last_arrival: float


@dataclass(slots=True)
class DTMFReceiver:
    """Turns received telephone-event packets into digits [RFC 4733 §2.5.2].

    Feed it every packet of the telephone-event payload type, in arrival
    order (no jitter buffer needed). It reports each event once, when it is
    known to be over, as ``(digit, duration in seconds)``:

    - An event is identified by its RTP timestamp, its start
      [RFC 4733 §2.2.1, §2.5.2]; packets with the same timestamp update its
      duration, duplicates and reordered updates included (the largest
      duration wins).
    - An E-bit packet ends it [RFC 4733 §2.3.2]; the usual two further copies
      of the end packet [RFC 4733 §2.5.1.4] and any late packet of an
      event already reported are dropped: once an event is over, a packet
      whose timestamp is not after that event's is ignored for
      ``_DUPLICATE_WINDOW`` (10) seconds of arrival time. A packet older than
      the pending event is ignored too: digits come out in timestamp order.
    - When all end packets are lost, a packet of a newer event ends it
      [RFC 4733 §2.5.2], and so does silence: no packet for ``timeout``
      seconds, checked by :meth:`feed` and by :meth:`expire`.
    - A long event comes in segments [RFC 4733 §2.5.1.3]: a packet
      with the same event code and no marker bit whose timestamp lies
      0xF000-0xFFFF units after the current segment's start (and not before
      the duration seen so far) continues the event; the reported duration
      is the sum of the segments.
    - A packet from a different SSRC starts afresh: the pending event is
      reported, the memory of finished ones forgotten.
    - Events that are not DTMF (codes above 16) are followed the same way,
      so they end the previous event, but are not reported.

    Args:
        clock_rate: RTP clock rate of the telephone-event format, Hz.
        timeout: Seconds without a packet after which a pending event is
            taken to be over.
    """

    clock_rate: int
    timeout: float = 0.5
    _ssrc: int | None = field(default=None, init=False, repr=False)
    _current: _Event | None = field(default=None, init=False, repr=False)
    _floor: int | None = field(default=None, init=False, repr=False)
    _floor_arrival: float = field(default=0.0, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.clock_rate <= 0:
            raise ValueError(f"clock_rate must be positive, got {self.clock_rate}")
        if not self.timeout > 0:
            raise ValueError(f"timeout must be positive, got {self.timeout}")

    @property
    def pending(self) -> str | None:
        """The digit of the event in progress, or None when there is none (or not DTMF)."""
        current = self._current
        return None if current is None else digit_for_event(current.code)

    @property
    def deadline(self) -> float | None:
        """When :meth:`expire` will end the event in progress, or None without one."""
        current = self._current
        return None if current is None else current.last_arrival + self.timeout

    def feed(self, packet: RTPPacket, arrival_time: float) -> list[tuple[str, float]]:
        """Take one telephone-event packet.

        Args:
            packet: The RTP packet; its payload type is not checked.
            arrival_time: When it arrived, seconds on any monotonic clock
                (the one :meth:`expire` is given).

        Returns:
            The events this packet shows to be over, as ``(digit, seconds)``,
            oldest first: usually none or one.

        Raises:
            ParseError: The payload is not a telephone event
                (:meth:`TelephoneEvent.parse`); nothing changed, the caller
                may log it and go on.
        """
        event = TelephoneEvent.parse(packet.payload)
        finished: list[tuple[str, float]] = []
        if packet.ssrc != self._ssrc:
            self._finish(finished, arrival_time)
            self._ssrc = packet.ssrc
            self._floor = None
        else:
            finished.extend(self.expire(arrival_time))
        timestamp = packet.timestamp
        current = self._current
        if current is not None:
            distance = timestamp_distance(current.segment_start, timestamp)
            if distance < 0:
                return finished  # A late packet of an earlier event.
            if distance == 0:
                if event.event == current.code:
                    current.duration = max(current.duration, event.duration)
                    current.last_arrival = arrival_time
                    if event.end:
                        self._finish(finished, arrival_time)
                return finished
            if (
                event.event == current.code
                and not packet.marker
                and _MIN_SEGMENT_LENGTH <= distance <= _MAX_DURATION
                and distance >= current.duration
            ):
                # The next segment of a long event [RFC 4733 §2.5.1.3].
                current.completed += distance
                current.segment_start = timestamp
                current.duration = event.duration
                current.last_arrival = arrival_time
                if event.end:
                    self._finish(finished, arrival_time)
                return finished
            # A newer event: the pending one is over [RFC 4733 §2.5.2].
            self._finish(finished, arrival_time)
        floor = self._floor
        if (
            floor is not None
            and arrival_time - self._floor_arrival < _DUPLICATE_WINDOW
            and timestamp_distance(floor, timestamp) <= 0
        ):
            return finished  # A copy or late packet of an event already reported.
        self._current = _Event(
            code=event.event,
            segment_start=timestamp,
            completed=0,
            duration=event.duration,
            last_arrival=arrival_time,
        )
        if event.end:
            self._finish(finished, arrival_time)
        return finished

    def expire(self, now: float) -> list[tuple[str, float]]:
        """End the pending event if no packet came for ``timeout`` seconds.

        Call it when :attr:`deadline` passes: it is how an event whose end
        packets were all lost is reported when no other event follows
        [RFC 4733 §2.5.2].

        Args:
            now: The current time, on the clock of ``arrival_time``.

        Returns:
            The event ended, as ``(digit, seconds)``, or an empty list.
        """
        finished: list[tuple[str, float]] = []
        current = self._current
        if current is not None and now >= current.last_arrival + self.timeout:
            self._finish(finished, now)
        return finished

    def _finish(self, finished: list[tuple[str, float]], now: float) -> None:
        """Report the pending event (if DTMF) into ``finished`` and remember it."""
        current = self._current
        if current is None:
            return
        self._current = None
        self._floor = current.segment_start
        self._floor_arrival = now
        digit = digit_for_event(current.code)
        if digit is not None:
            finished.append((digit, (current.completed + current.duration) / self.clock_rate))


_RELAY_TYPE = "application/dtmf-relay"
_DTMF_TYPE = "application/dtmf"


def parse_dtmf_info(content_type: str, body: bytes) -> tuple[str, float | None] | None:
    """Read the digit from the body of a SIP INFO request.

    Two bodies are understood:

    - ``application/dtmf-relay``: lines ``Signal=5`` and ``Duration=160``
      (milliseconds), as sent by many phones and gateways. Keys are
      case-insensitive, spaces around keys and values are allowed, lines end
      in CRLF or LF, empty lines and unknown keys are skipped. ``Duration``
      is optional.
    - ``application/dtmf``: the body is the digit alone.

    The signal is a digit (:func:`event_for_digit`) or its event code,
    ``10`` for ``*`` and ``11`` for ``#`` as some phones send
    [RFC 4733 §3.2, Table 3].

    Args:
        content_type: The Content-Type header value; parameters and case are
            ignored.
        body: The message body.

    Returns:
        ``(digit, duration in seconds or None)``, or None when the content
        type is neither of the two.

    Raises:
        ParseError: The body of one of the two types is not valid: not
            UTF-8, no ``Signal``, a line without ``=``, an unknown signal or
            a duration that is not a whole number of milliseconds.

    >>> parse_dtmf_info("application/dtmf-relay", b"Signal=11\\r\\nDuration=250\\r\\n")
    ('#', 0.25)
    >>> parse_dtmf_info("application/sdp", b"v=0") is None
    True
    """
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type not in {_RELAY_TYPE, _DTMF_TYPE}:
        return None
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ParseError(f"{media_type} body is not UTF-8", offset=error.start) from None
    if media_type == _DTMF_TYPE:
        return _signal_digit(text.strip(), media_type), None
    signal: str | None = None
    duration: float | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        key, equals, value = line.partition("=")
        if not equals:
            raise ParseError(f"{media_type} line without '='", line=line, line_number=number)
        key = key.strip().lower()
        value = value.strip()
        if key == "signal":
            signal = _signal_digit(value, media_type, line=line, line_number=number)
        elif key == "duration":
            if not value.isascii() or not value.isdigit():
                raise ParseError(
                    f"{media_type} duration is not a whole number of milliseconds",
                    line=line,
                    line_number=number,
                )
            duration = int(value) / 1000
    if signal is None:
        raise ParseError(f"{media_type} body has no Signal line")
    return signal, duration


def _digit_of(code: int) -> str:
    """The digit of a code that :func:`event_for_digit` returned."""
    digit = digit_for_event(code)
    assert digit is not None
    return digit


def _signal_digit(
    value: str, media_type: str, *, line: str | None = None, line_number: int | None = None
) -> str:
    """Map a signal (digit or event code) to its digit, raising ParseError."""
    try:
        return _digit_of(event_for_digit(value))
    except ValueError:
        pass
    # An event code; at most 3 digits, which also keeps int() cheap.
    if value.isascii() and value.isdigit() and len(value) <= 3:
        digit = digit_for_event(int(value))
        if digit is not None:
            return digit
    raise ParseError(
        f"{media_type} signal {value!r} is not a DTMF digit or event code 0-16",
        line=line,
        line_number=line_number,
    )
