"""Benchmark cases for a call's media timing: the receive path per packet, and send pacing.

``CASES``: one call handles one received packet, on a simulated clock, so
the stream is in steady state however fast the calls come. The packets are
built once, at import: a ring of 8192 PCMU packets (sequence 0-8191,
timestamps 160 apart, payloads encoded from a 1 s sweep at -12 dBFS), each
with an arrival time on the 20 ms grid plus 0-2 ms of seeded random network
jitter. Every call pushes the next packet at its arrival time, pops what is
due then (as :meth:`AudioCall.packet_received` does), and then pops at each
due time (:attr:`JitterBuffer.next_due`) up to the next packet's arrival, as
the call's playout timer does; so one call is one packet in and, on average,
one slot out. When the ring wraps the sequence numbers jump back and the
buffer starts a new stream (a reset once every 8192 packets).

``media: jitter buffer push+pop, in order``
    :class:`~voip_core.rtp.jitter.JitterBuffer` alone, with AudioCall's
    settings (20-200 ms, starting at 40 ms).
``media: jitter buffer push+pop, 5% reordered``
    The same with 5 % of the packets arriving one packet late: 410 of the
    ring's pairs (2i, 2i+1) arrive swapped, each packet at the other's
    arrival time. The jitter estimate grows and the target delay with it.
``media: DTMFReceiver.feed``
    :meth:`~voip_core.rtp.dtmf.DTMFReceiver.feed` of one telephone-event
    packet, over the packets :func:`~voip_core.rtp.dtmf.dtmf_packets` makes
    for ``0123456789*#ABCD`` x 8 (100 ms tones, 50 ms gaps: updates, end
    packets x 3), fed at their send offsets; two such runs with different
    SSRCs alternate, so the ring's wrap is a new source, not stale packets.
``media: AudioCall.packet_received PCMU``
    The whole receive path of an :class:`AudioCall` subclass with
    ``supported_codecs = (PCMU,)`` (made on a
    :class:`RealtimeTransportProtocol` inside an event loop, whose socket is
    then closed): jitter buffer, PCMU decode, resampling to 16 kHz, RMS and
    the (empty) ``audio_received``, including the playout timer's callback.
    The call lives on an event loop whose ``time()`` and ``call_at()`` the
    case drives once the loop is stopped (:class:`_SteppedLoop`): ``call_at``
    still makes an :class:`asyncio.TimerHandle` and keeps it in a heap, but
    the loop's select and its ready queue are not in the figure.
``media: AudioCall.packet_received PCMU, use_codec_rate``
    The same with :attr:`AudioCall.use_codec_rate` (the app hears 8 kHz: no
    resampling; what :class:`EchoCall` does).
``media: RTP datagram to audio_received PCMU``
    The whole receive path from the datagram on (the issue's "datagram to
    ``audio_received``"): :meth:`RealtimeTransportProtocol.datagram_received`
    with the packet's bytes, as the socket hands them over, which finds the
    call by the sender's address, parses the packet and counts it for RTCP
    (the receiver report's statistics), then everything above. Only the
    socket's read is not in the figure (about 1-1.5 µs on loopback).

``MEASURED["media: outbound pacing under load"]``: real time, one event
loop per scenario. N AudioCall senders (PCMU, 20 ms packets, each on its own
RTP endpoint) each :meth:`AudioCall.send_audio` 5 s of a 1 kHz tone at
16 kHz to their own UDP socket on 127.0.0.1, all at once. The receivers are
either plain asyncio datagram sinks that note ``loop.time()`` and parse each
packet with :meth:`RTPPacket.parse`, or AudioCall receivers (the whole
receive path above, with the loop's real timers), which note the time in a
``packet_received`` override. Scenarios (:data:`SCENARIOS`): 1 stream and
50 streams into parsing sinks; 50 and 200 streams into AudioCall receivers
(200 two-way streams are more than one Python loop keeps up with on a small
machine: that row shows how pacing gives way). Senders still busy 3 s after
the audio's length are closed. Per scenario:

- ``interval_err_*_ms``: p50, p90, p99 and max over all streams of
  |arrival interval - 20 ms| at the receiving socket;
- ``send_late_*_ms``: when each packet was handed to the socket (a
  ``send_packet`` override notes ``loop.time()``), less the time its RTP
  timestamp stands for, counted from the stream's most punctual packet:
  how far the sender fell behind its 20 ms schedule (the timestamps advance
  160 per packet whatever happens, so a sender that re-anchors its schedule
  after a stall shows the stall here, and keeps showing it);
- ``arrival_late_*_ms``: the same at the receiving socket (what the peer's
  jitter buffer sees);
- ``delivery_*_ms``: arrival less send time of the same packet (loopback
  plus the wait in the receiving socket until the loop reads it);
- ``sent``, ``received``, ``expected``: packets, all streams (5 s at 20 ms
  is 250 per stream); ``senders_finished``: senders done in time;
- ``cpu_pct``: the process's CPU time over the wall time of the scenario
  (the loop is single-threaded: 100 is one core, and it is saturated);
- ``steal_ms``: CPU time the hypervisor took from this machine's CPUs
  meanwhile (``/proc/stat``, all CPUs; ``null`` elsewhere). On a shared
  virtual machine there are loop-wide stalls of 5-20 ms (every stream late
  at once) even far below saturation; they do not line up with the garbage
  collector, and runs with steal have more of them.

``median_us`` and ``p90_us`` of the case are the p50 and p90 of |arrival
interval - 20 ms| with 50 streams into parsing sinks, in µs; ``rounds`` is
the number of streams and ``calls_per_round`` the packets expected per
stream. The notes carry the main figures of every scenario, the report
``media_pacing`` all of them as a table. Nothing is asserted; the module
takes about 30 s (four scenarios of 5-6 s, and the microbenchmarks).
"""

from __future__ import annotations

import asyncio
import contextvars
import heapq
import itertools
import math
import os
import random
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from voip_core import AudioCall, RealtimeTransportProtocol
from voip_core.codecs import PCMU
from voip_core.rtp import RTPPacket
from voip_core.rtp.dtmf import DTMFReceiver, dtmf_packets
from voip_core.rtp.jitter import JitterBuffer
from voip_core.rtp.ports import RTPPortRange
from voip_core.sdp import MediaDescription

PACKET_S = 0.02
CLOCK_RATE = 8000
STEP = round(PACKET_S * CLOCK_RATE)
#: Packets in the replayed ring (164 s of audio).
RING = 8192
#: Arrivals are spread by up to this much after their 20 ms grid point.
NETWORK_JITTER_S = 0.002
REORDERED_SHARE = 0.05
SEED = 20_260_101
#: Playout timer firings between two arrivals before the case gives up (never reached).
MAX_FIRINGS = 16

HOST = "127.0.0.1"
PACING_SECONDS = 5.0
PACING_STREAMS = 50
#: (streams, AudioCall receivers rather than parsing sinks); the last one overloads the loop.
SCENARIOS = ((1, False), (PACING_STREAMS, False), (PACING_STREAMS, True), (200, True))
#: Senders not done this long after the audio's length are closed (an overloaded loop).
PACING_GRACE_S = 3.0
APP_RATE = 16000
TONE_HZ = 1000.0
TONE_LEVEL = 0.25  # -12 dBFS


# Input ------------------------------------------------------------------------------------


def _pcmu_payloads(count: int = 50) -> list[bytes]:
    """``count`` PCMU payloads (20 ms each) of a 100 Hz - 3.4 kHz sweep at -12 dBFS."""
    seconds = count * PACKET_S
    t = np.arange(round(seconds * CLOCK_RATE)) / CLOCK_RATE
    low, high = 100.0, 3400.0
    phase = 2 * np.pi * low * seconds / math.log(high / low) * ((high / low) ** (t / seconds) - 1)
    sweep = (TONE_LEVEL * np.sin(phase)).astype(np.float32)
    encoder = PCMU.from_media_format(PCMU.media_format()).create_encoder()
    return [encoder.encode(sweep[i * STEP : (i + 1) * STEP]) for i in range(count)]


def _pcmu_ring() -> list[RTPPacket]:
    payloads = _pcmu_payloads()
    return [
        RTPPacket(
            marker=number == 0,
            payload_type=0,
            sequence_number=number,
            timestamp=number * STEP,
            ssrc=0x5EED_0001,
            payload=payloads[number % len(payloads)],
        )
        for number in range(RING)
    ]


def _arrivals(packets: list[RTPPacket], *, reordered: float) -> list[tuple[float, RTPPacket]]:
    """(arrival time, packet) in arrival order; ``reordered`` of the packets one slot late."""
    rng = random.Random(SEED)
    times = [slot * PACKET_S + rng.uniform(0.0, NETWORK_JITTER_S) for slot in range(len(packets))]
    order = list(range(len(packets)))
    for first in rng.sample(range(0, len(packets) - 1, 2), round(reordered * len(packets))):
        order[first], order[first + 1] = order[first + 1], order[first]
    return [(times[slot], packets[order[slot]]) for slot in range(len(packets))]


_PCMU_RING = _pcmu_ring()
_IN_ORDER = _arrivals(_PCMU_RING, reordered=0.0)
_REORDERED = _arrivals(_PCMU_RING, reordered=REORDERED_SHARE)


# Microbenchmarks --------------------------------------------------------------------------


class _Ring:
    """Arrival times and packets, replayed lap after lap on an ever-increasing clock."""

    def __init__(self, arrivals: list[tuple[float, RTPPacket]], lap: float) -> None:
        self._times = [arrival for arrival, _ in arrivals]
        self._packets = [packet for _, packet in arrivals]
        self._lap = lap
        self._offset = 0.0
        self._index = 0

    def take(self) -> tuple[float, RTPPacket, float]:
        """The next (arrival, packet) and the arrival time of the one after it."""
        index = self._index
        times = self._times
        arrival = times[index] + self._offset
        packet = self._packets[index]
        index += 1
        if index == len(times):
            index = 0
            self._offset += self._lap
        self._index = index
        return arrival, packet, times[index] + self._offset


class _JitterBufferSteps:
    """One call: push the next packet, pop at its arrival, pop at each due time until the next."""

    def __init__(self, arrivals: list[tuple[float, RTPPacket]]) -> None:
        self._ring = _Ring(arrivals, RING * PACKET_S)
        self.buffer = JitterBuffer(
            clock_rate=CLOCK_RATE,
            packet_duration=PACKET_S,
            min_delay=AudioCall.jitter_min_delay,
            max_delay=AudioCall.jitter_max_delay,
            initial_delay=AudioCall.jitter_initial_delay,
            max_concealed=AudioCall.max_concealed_packets,
        )

    def __call__(self) -> None:
        arrival, packet, following = self._ring.take()
        buffer = self.buffer
        buffer.push(packet, arrival)
        buffer.pop(arrival)
        for _ in range(MAX_FIRINGS):
            due = buffer.next_due
            if due is None or due > following:
                break
            buffer.pop(due)


class _DTMFSteps:
    """One call: feed the next telephone-event packet at its send offset."""

    def __init__(self) -> None:
        arrivals: list[tuple[float, RTPPacket]] = []
        start = 0.0
        for ssrc in (0xD7F0_0001, 0xD7F0_0002):
            schedule = dtmf_packets(
                "0123456789*#ABCD" * 8,
                clock_rate=CLOCK_RATE,
                payload_type=101,
                ssrc=ssrc,
                first_sequence=1000,
                first_timestamp=123_456,
            )
            arrivals += [(start + offset, packet) for offset, packet in schedule.packets]
            start = arrivals[-1][0] + 0.2
        self._ring = _Ring(arrivals, start)
        self.receiver = DTMFReceiver(CLOCK_RATE)

    def __call__(self) -> None:
        arrival, packet, _ = self._ring.take()
        self.receiver.feed(packet, arrival)


class _SteppedLoop(asyncio.SelectorEventLoop):
    """An event loop that runs normally until :meth:`step_from`; then the case drives its clock.

    Once stepping, :meth:`time` is :attr:`now` and :meth:`call_at` keeps an
    :class:`asyncio.TimerHandle` in a heap of its own, which :meth:`run_until`
    fires in order; the loop itself is closed by then.
    """

    def __init__(self) -> None:
        super().__init__()
        self.stepping = False
        self.now = 0.0
        self._timers: list[
            tuple[float, int, asyncio.TimerHandle, Callable[..., object], tuple[Any, ...]]
        ] = []
        self._counter = itertools.count()

    def step_from(self, now: float) -> None:
        self.close()
        self.stepping = True
        self.now = now

    def time(self) -> float:
        return self.now if self.stepping else super().time()

    def call_at(  # type: ignore[override]
        self,
        when: float,
        callback: Callable[..., object],
        *args: Any,
        context: contextvars.Context | None = None,
    ) -> asyncio.TimerHandle:
        if not self.stepping:
            return super().call_at(when, callback, *args, context=context)
        handle = asyncio.TimerHandle(when, callback, args, self, context)
        heapq.heappush(self._timers, (when, next(self._counter), handle, callback, args))
        return handle

    def run_until(self, limit: float) -> None:
        """Fire every live timer due at or before ``limit``, each at its own time."""
        timers = self._timers
        for _ in range(MAX_FIRINGS):
            if not timers or timers[0][0] > limit:
                return
            when, _, handle, callback, args = heapq.heappop(timers)
            if not handle.cancelled():
                self.now = when
                callback(*args)


class _BenchCall(AudioCall):
    supported_codecs = (PCMU,)


class _NativeRateCall(_BenchCall):
    use_codec_rate = True


class _PacketReceivedSteps:
    """One call: the clock to the next arrival, ``packet_received``, timers up to the next."""

    def __init__(
        self, arrivals: list[tuple[float, RTPPacket]], app: type[_BenchCall] = _BenchCall
    ) -> None:
        loop = _SteppedLoop()
        self.call = loop.run_until_complete(self._open(app))
        loop.step_from(0.0)
        self._loop = loop
        self._ring = _Ring(arrivals, RING * PACKET_S)

    @staticmethod
    async def _open(app: type[_BenchCall]) -> _BenchCall:
        rtp = await RealtimeTransportProtocol.bind(HOST, 0)
        # Where it would send; nothing is sent.
        media = MediaDescription.for_formats([PCMU.media_format()], port=9, address=HOST)
        call = app(rtp=rtp, media=media)
        rtp.close()  # packets are handed to packet_received directly
        await asyncio.sleep(0)
        return call

    def __call__(self) -> None:
        arrival, packet, following = self._ring.take()
        loop = self._loop
        loop.now = arrival
        self.call.packet_received(packet)
        loop.run_until(following)


class _DatagramSteps:
    """One call: the clock to the next arrival, the datagram to the RTP endpoint, timers."""

    def __init__(self, arrivals: list[tuple[float, RTPPacket]]) -> None:
        loop = _SteppedLoop()
        self.rtp, self.call = loop.run_until_complete(self._open())
        loop.step_from(0.0)
        self._loop = loop
        datagrams = [(arrival, packet.serialize()) for arrival, packet in arrivals]
        self._ring = _Ring(datagrams, RING * PACKET_S)  # type: ignore[arg-type]

    @staticmethod
    async def _open() -> tuple[RealtimeTransportProtocol, _BenchCall]:
        rtp = RTPPortRange(HOST, 20000, 60000).open()  # with its RTCP port, as calls have
        await asyncio.sleep(0)
        media = MediaDescription.for_formats([PCMU.media_format()], port=9, address=HOST)
        call = _BenchCall(rtp=rtp, media=media)
        if call._begin_rtcp() is None:  # as the first packet would: RTCP counts every packet
            raise RuntimeError("the bench call has no RTCP session")
        assert rtp.transport is not None
        rtp.transport.close()  # datagrams are handed to datagram_received directly
        await asyncio.sleep(0)
        return rtp, call

    def __call__(self) -> None:
        arrival, datagram, following = self._ring.take()
        loop = self._loop
        loop.now = arrival
        self.rtp.datagram_received(datagram, _REMOTE)  # type: ignore[arg-type]
        loop.run_until(following)


_REMOTE = (HOST, 9)


CASES: dict[str, Callable[[], object]] = {
    "media: jitter buffer push+pop, in order": _JitterBufferSteps(_IN_ORDER),
    "media: jitter buffer push+pop, 5% reordered": _JitterBufferSteps(_REORDERED),
    "media: DTMFReceiver.feed": _DTMFSteps(),
    "media: AudioCall.packet_received PCMU": _PacketReceivedSteps(_IN_ORDER),
    "media: AudioCall.packet_received PCMU, use_codec_rate": _PacketReceivedSteps(
        _IN_ORDER, _NativeRateCall
    ),
    "media: RTP datagram to audio_received PCMU": _DatagramSteps(_IN_ORDER),
}


# Outbound pacing under load ---------------------------------------------------------------


class _PacedSender(AudioCall):
    """A PCMU sender that notes when each packet goes to its socket, and its RTP timestamp."""

    supported_codecs = (PCMU,)

    def __post_init__(self) -> None:
        super().__post_init__()
        loop = asyncio.get_running_loop()
        self._bench_time = loop.time
        self.sent: list[tuple[float, int]] = []
        self.finished: asyncio.Future[None] = loop.create_future()

    def send_packet(self, packet: RTPPacket) -> None:
        self.sent.append((self._bench_time(), packet.timestamp))
        super().send_packet(packet)

    def on_audio_sent(self) -> None:
        if not self.finished.done():
            self.finished.set_result(None)


class _ParsingSink(asyncio.DatagramProtocol):
    """A plain UDP receiver: notes the loop time of each datagram and parses it."""

    def __init__(self) -> None:
        self._time = asyncio.get_running_loop().time
        self.arrivals: list[tuple[float, int]] = []

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        now = self._time()
        self.arrivals.append((now, RTPPacket.parse(data).timestamp))


class _TimedReceiver(AudioCall):
    """A PCMU AudioCall receiver that notes when each packet reaches it."""

    supported_codecs = (PCMU,)

    def __post_init__(self) -> None:
        super().__post_init__()
        self._bench_time = asyncio.get_running_loop().time
        self.arrivals: list[tuple[float, int]] = []

    def packet_received(self, packet: RTPPacket) -> None:
        self.arrivals.append((self._bench_time(), packet.timestamp))
        super().packet_received(packet)


def _media_at(address: tuple[Any, ...]) -> MediaDescription:
    return MediaDescription.for_formats([PCMU.media_format()], port=address[1], address=address[0])


def _tone() -> np.ndarray:
    t = np.arange(round(PACING_SECONDS * APP_RATE)) / APP_RATE
    return (TONE_LEVEL * np.sin(2 * np.pi * TONE_HZ * t)).astype(np.float32)


async def _pace(streams: int, *, audio_receivers: bool) -> dict[str, Any]:
    """Send from ``streams`` calls at once; return their send and arrival records."""
    loop = asyncio.get_running_loop()
    closers: list[Callable[[], None]] = []
    senders: list[_PacedSender] = []
    receivers: list[_ParsingSink | _TimedReceiver] = []
    try:
        for _ in range(streams):
            rtp = await RealtimeTransportProtocol.bind(HOST, 0)
            closers.append(rtp.close)
            if audio_receivers:
                endpoint = await RealtimeTransportProtocol.bind(HOST, 0)
                closers.append(endpoint.close)
                receiver = _TimedReceiver(rtp=endpoint, media=_media_at(rtp.local_address))
                closers.append(receiver.close)
                receivers.append(receiver)
                address: tuple[Any, ...] = endpoint.local_address
            else:
                transport, sink = await loop.create_datagram_endpoint(
                    _ParsingSink, local_addr=(HOST, 0)
                )
                closers.append(transport.close)
                receivers.append(sink)
                address = transport.get_extra_info("sockname")
            sender = _PacedSender(rtp=rtp, media=_media_at(address))
            closers.append(sender.close)
            senders.append(sender)
        tone = _tone()
        await asyncio.sleep(0.05)
        cpu = time.process_time()
        steal = _steal_ms()
        started = loop.time()
        for sender in senders:
            sender.send_audio(tone)
        await asyncio.wait(
            [sender.finished for sender in senders], timeout=PACING_SECONDS + PACING_GRACE_S
        )
        await asyncio.sleep(0.1)  # the last packets' arrival
        wall = loop.time() - started
        cpu = time.process_time() - cpu
        steal_after = _steal_ms()
    finally:
        for close in reversed(closers):
            close()
        await asyncio.sleep(0)
    return {
        "sent": [sender.sent for sender in senders],
        "arrived": [receiver.arrivals for receiver in receivers],
        "finished": sum(sender.finished.done() for sender in senders),
        "cpu_pct": 100 * cpu / wall,
        "steal_ms": None if steal is None or steal_after is None else steal_after - steal,
    }


def _steal_ms() -> float | None:
    """CPU time stolen from this (virtual) machine so far, all CPUs, ms (Linux /proc/stat)."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            fields = stat.readline().split()
        return 1000 * int(fields[8]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def _quantile(values: list[float], fraction: float) -> float:
    """The ``fraction`` quantile of ``values``, nearest rank (values need not be sorted)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


def _lateness(records: list[tuple[float, int]]) -> list[float]:
    """Seconds each packet came after the time its RTP timestamp stands for.

    Counted from the stream's most punctual packet, so the best one is 0.
    """
    if not records:
        return []
    first = records[0][1]
    offsets = [at - ((stamp - first) & 0xFFFFFFFF) / CLOCK_RATE for at, stamp in records]
    best = min(offsets)
    return [offset - best for offset in offsets]


def _scenario(streams: int, *, audio_receivers: bool) -> dict[str, Any]:
    run = asyncio.run(_pace(streams, audio_receivers=audio_receivers))
    interval_error: list[float] = []
    send_late: list[float] = []
    arrival_late: list[float] = []
    delivery: list[float] = []
    for sent, arrived in zip(run["sent"], run["arrived"], strict=True):
        times = [at for at, _ in arrived]
        interval_error += [abs(b - a - PACKET_S) for a, b in itertools.pairwise(times)]
        send_late += _lateness(sent)
        arrival_late += _lateness(arrived)
        sent_at = dict((stamp, at) for at, stamp in sent)
        delivery += [at - sent_at[stamp] for at, stamp in arrived if stamp in sent_at]
    per_stream = round(PACING_SECONDS / PACKET_S)

    def ms(values: list[float], fraction: float) -> float | None:
        return round(1000 * _quantile(values, fraction), 3) if values else None

    return {
        "streams": streams,
        "interval_err_p50_ms": ms(interval_error, 0.5),
        "interval_err_p90_ms": ms(interval_error, 0.9),
        "interval_err_p99_ms": ms(interval_error, 0.99),
        "interval_err_max_ms": ms(interval_error, 1.0),
        "send_late_p50_ms": ms(send_late, 0.5),
        "send_late_p99_ms": ms(send_late, 0.99),
        "send_late_max_ms": ms(send_late, 1.0),
        "arrival_late_p99_ms": ms(arrival_late, 0.99),
        "arrival_late_max_ms": ms(arrival_late, 1.0),
        "delivery_p50_ms": ms(delivery, 0.5),
        "delivery_p99_ms": ms(delivery, 0.99),
        "delivery_max_ms": ms(delivery, 1.0),
        "sent": sum(len(sent) for sent in run["sent"]),
        "received": sum(len(arrived) for arrived in run["arrived"]),
        "expected": streams * per_stream,
        "senders_finished": run["finished"],
        "cpu_pct": round(run["cpu_pct"], 1),
        "steal_ms": None if run["steal_ms"] is None else round(run["steal_ms"]),
        "interval_err_us": [1e6 * error for error in interval_error],
    }


def _scenario_name(streams: int, audio_receivers: bool) -> str:
    plural = "s" if streams > 1 else ""
    receiving = "AudioCall receiver" if audio_receivers else "parsing sink"
    return f"{streams} stream{plural}, {receiving}{plural}"


_HEADLINE = _scenario_name(PACING_STREAMS, False)
_pacing: dict[str, dict[str, Any]] | None = None


def pacing() -> dict[str, dict[str, Any]]:
    """Run every scenario once (later calls return the same result)."""
    global _pacing
    if _pacing is None:
        _pacing = {
            _scenario_name(streams, audio_receivers): _scenario(
                streams, audio_receivers=audio_receivers
            )
            for streams, audio_receivers in SCENARIOS
        }
    return _pacing


#: The figures of each scenario that go into the notes (the report has them all).
_NOTED = (
    "interval_err_p50_ms",
    "interval_err_p99_ms",
    "interval_err_max_ms",
    "send_late_p99_ms",
    "send_late_max_ms",
    "arrival_late_p99_ms",
    "delivery_p99_ms",
    "sent",
    "expected",
    "received",
    "cpu_pct",
    "steal_ms",
)


def outbound_pacing() -> dict[str, Any]:
    scenarios = pacing()
    errors = scenarios[_HEADLINE]["interval_err_us"]
    result: dict[str, Any] = {
        "median_us": _quantile(errors, 0.5),
        "p90_us": _quantile(errors, 0.9),
        "rounds": PACING_STREAMS,
        "calls_per_round": round(PACING_SECONDS / PACKET_S),
        "headline": f"|arrival interval - 20 ms| in µs, {_HEADLINE}",
    }
    for name, figures in scenarios.items():
        result[name] = {key: figures[key] for key in _NOTED}
    return result


def pacing_table() -> dict[str, dict[str, Any]]:
    """The scenarios as rows (numbers only, for the printed table)."""
    return {
        name: {
            key: value
            for key, value in figures.items()
            if key not in {"interval_err_us", "streams"} and value is not None
        }
        for name, figures in pacing().items()
    }


MEASURED: dict[str, Callable[[], dict[str, Any]]] = {
    "media: outbound pacing under load": outbound_pacing,
}
REPORTS: dict[str, Callable[[], object]] = {
    "media_pacing": pacing_table,
}
