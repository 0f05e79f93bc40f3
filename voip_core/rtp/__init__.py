"""RTP: packets, and (later) the RTP socket, sessions, jitter buffer and RTCP.

Only light names are imported here, so ``import voip_core.rtp`` stays fast.
"""

from __future__ import annotations

from voip_core.rtp.packet import HeaderExtension, RTPPacket, sequence_distance, timestamp_distance

__all__ = [
    "HeaderExtension",
    "RTPPacket",
    "sequence_distance",
    "timestamp_distance",
]
