"""One call's RTCP: reports sent on schedule, reports received, the call's statistics.

:class:`RTCPSession` glues the sans-I/O pieces of :mod:`voip_core.rtp.rtcp`
to a :class:`~voip_core.rtp.session.Session`: every RTP packet received and
sent is counted (RFC 3550 Appendix A.1, A.3, A.8), a compound SR or RR with
an SDES CNAME goes out at the interval of §6.3 (randomised, the minimum
configurable so tests can run it fast), a BYE when the call ends, and the
reports the peer sends give the round-trip time (§6.4.1) and how the peer
hears us. :attr:`RTCPSession.stats` sums it up, with an estimated MOS
(ITU-T G.107 E-model, simplified: :func:`~voip_core.rtp.rtcp.estimate_mos`).
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from voip_core.errors import ParseError, VoIPError
from voip_core.rtp.rtcp import (
    Bye,
    ReceiverReport,
    ReceiverStatistics,
    ReportBlock,
    RTCPScheduler,
    SDESChunk,
    SDESItem,
    SDESItemType,
    SenderReport,
    SenderStatistics,
    SourceDescription,
    estimate_mos,
    ntp_from_unix,
    parse_compound,
    round_trip_time,
    serialize_compound,
)

if TYPE_CHECKING:
    from voip_core.rtp.packet import RTPPacket
    from voip_core.rtp.session import Session

__all__ = ["CallStats", "RTCPSession"]

logger = logging.getLogger(__name__)

#: RTCP's share of the session bandwidth, in octets per second: 5 % of 64 kbit/s
#: audio [RFC 3550 §6.2].
RTCP_BANDWIDTH = 0.05 * 64000 / 8


@dataclass(frozen=True, slots=True)
class CallStats:
    """What RTCP knows about a call's media, both ways.

    ``lost`` and ``fraction_lost`` are what we did not receive; the
    ``remote_`` figures are what the peer reported about our stream. Times
    in seconds; None where nothing was measured yet.
    """

    packets_sent: int
    packets_received: int
    expected: int
    lost: int
    fraction_lost: float
    jitter: float
    round_trip_time: float | None
    remote_fraction_lost: float | None
    remote_jitter: float | None
    mos: float

    def summary(self) -> str:
        """One line for a log: loss, jitter, RTT and MOS."""
        rtt = "-" if self.round_trip_time is None else f"{self.round_trip_time * 1000:.0f} ms"
        return (
            f"sent {self.packets_sent}, received {self.packets_received} of {self.expected} "
            f"(lost {self.lost}, {self.fraction_lost:.1%}), jitter {self.jitter * 1000:.1f} ms, "
            f"rtt {rtt}, mos {self.mos:.2f}"
        )


class RTCPSession:
    """The RTCP of one session (created by the session on a call's own port).

    Args:
        session: The media session; RTCP goes out through its ``send_rtcp``.
        clock_rate: The RTP clock rate of the call's codec.
        ssrc: Our SSRC (the one our RTP carries).
        minimum_interval: The minimum report interval [RFC 3550 §6.2] (5 s).
        cname: Our canonical name (a random one per call by default).
    """

    def __init__(
        self,
        session: Session,
        *,
        clock_rate: int,
        ssrc: int,
        minimum_interval: float = 5.0,
        cname: str | None = None,
    ) -> None:
        self.session = session
        self.clock_rate = clock_rate
        self.loop = asyncio.get_running_loop()
        self.sender = SenderStatistics(ssrc, clock_rate)
        self.receivers: dict[int, ReceiverStatistics] = {}
        self.cname = cname or f"{secrets.token_hex(6)}@voip-core"
        self.scheduler = RTCPScheduler(
            rtcp_bandwidth=RTCP_BANDWIDTH,
            now=self.loop.time(),
            rng=random.Random(),
            minimum=minimum_interval,
        )
        self.reports_sent = 0
        self.reports_received = 0
        self.malformed = 0
        self.round_trip_time: float | None = None
        self.remote_report: ReportBlock | None = None
        self._sent_since_report = False
        self._timer = self.loop.call_at(self.scheduler.next_due, self._due)
        self._closed = False

    # Counting -------------------------------------------------------------------------------

    def rtp_received(self, packet: RTPPacket) -> None:
        statistics = self.receivers.get(packet.ssrc)
        if statistics is None:
            if len(self.receivers) >= 8:  # a stream of strangers cannot grow this
                return
            statistics = self.receivers[packet.ssrc] = ReceiverStatistics(
                packet.ssrc, self.clock_rate
            )
            self.scheduler.members = 1 + len(self.receivers)
        statistics.packet_received(packet.sequence_number, packet.timestamp, self.loop.time())

    def rtp_sent(self, packet: RTPPacket) -> None:
        self.sender.packet_sent(packet.timestamp, len(packet.payload), self.loop.time())
        self._sent_since_report = True
        self.scheduler.we_sent = True

    # Receiving ------------------------------------------------------------------------------

    def rtcp_received(self, data: bytes) -> None:
        """A compound RTCP packet from the peer (already decrypted with SRTCP)."""
        try:
            packets = parse_compound(data)
        except ParseError as error:
            self.malformed += 1
            if self.malformed & (self.malformed - 1) == 0:
                logger.info("malformed RTCP dropped: %s (%d so far)", error, self.malformed)
            return
        self.reports_received += 1
        self.scheduler.packet_received(len(data))
        arrival = self.loop.time()
        for packet in packets:
            if isinstance(packet, SenderReport):
                statistics = self.receivers.get(packet.ssrc)
                if statistics is not None:
                    statistics.sender_report_received(packet, arrival)
                self._about_us(packet.reports)
            elif isinstance(packet, ReceiverReport):
                self._about_us(packet.reports)

    def _about_us(self, blocks: tuple[ReportBlock, ...]) -> None:
        for block in blocks:
            if block.ssrc != self.sender.ssrc:
                continue
            self.remote_report = block
            rtt = round_trip_time(block, ntp_from_unix(time.time()))
            if rtt is not None:
                self.round_trip_time = rtt

    # Sending --------------------------------------------------------------------------------

    def _due(self) -> None:
        if self._closed:
            return
        now = self.loop.time()
        if self.scheduler.timer_expired(now):
            size = self._send(self._report(now))
            self.scheduler.packet_sent(size, now)
        self._timer = self.loop.call_at(self.scheduler.next_due, self._due)

    def _report(self, now: float, *extra: Any) -> bytes:
        blocks = [
            block
            for statistics in self.receivers.values()
            if (block := statistics.report_block(now)) is not None
        ][:31]
        first: SenderReport | ReceiverReport
        if self._sent_since_report and self.sender.packet_count:
            first = self.sender.sender_report(now, wall_clock=time.time(), reports=blocks)
        else:
            first = ReceiverReport(ssrc=self.sender.ssrc, reports=tuple(blocks))
        self._sent_since_report = False
        cname = SDESItem.from_text(SDESItemType.CNAME, self.cname)
        description = SourceDescription(chunks=(SDESChunk(self.sender.ssrc, (cname,)),))
        return serialize_compound([first, description, *extra])

    def _send(self, data: bytes) -> int:
        try:
            self.session.send_rtcp(data)
        except VoIPError as error:
            logger.info("RTCP not sent: %s", error)
            return len(data)
        self.reports_sent += 1
        return len(data)

    def close(self) -> None:
        """Send a last report with BYE [RFC 3550 §6.6] and stop."""
        if self._closed:
            return
        self._closed = True
        self._timer.cancel()
        self._send(self._report(self.loop.time(), Bye(sources=(self.sender.ssrc,))))

    # Figures --------------------------------------------------------------------------------

    @property
    def stats(self) -> CallStats:
        """The call's figures so far, and the MOS they give."""
        expected = lost = received = 0
        jitter = 0.0
        for statistics in self.receivers.values():
            expected += statistics.expected
            lost += max(0, statistics.lost)
            received += statistics.received
            jitter = max(jitter, statistics.jitter_seconds)
        fraction = lost / expected if expected else 0.0
        remote = self.remote_report
        remote_fraction = remote.fraction_lost / 256 if remote is not None else None
        remote_jitter = remote.jitter / self.clock_rate if remote is not None else None
        codec = getattr(getattr(self.session, "codec", None), "encoding_name", "PCMU")
        try:
            mos = estimate_mos(self.round_trip_time or 0.0, jitter, fraction, codec=codec)
        except (KeyError, ValueError):
            mos = estimate_mos(self.round_trip_time or 0.0, jitter, fraction)
        return CallStats(
            packets_sent=self.sender.packet_count,
            packets_received=received,
            expected=expected,
            lost=lost,
            fraction_lost=fraction,
            jitter=jitter,
            round_trip_time=self.round_trip_time,
            remote_fraction_lost=remote_fraction,
            remote_jitter=remote_jitter,
            mos=mos,
        )
