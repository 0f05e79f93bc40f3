"""Benchmark cases for RTP packets: parse and serialize one 172-octet PCMU packet.

The lead's runner times each callable in :data:`CASES`; each call handles
one packet, as the media path does for every 20 ms PCMU frame.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from voip_core.rtp import RTPPacket

# 12-octet fixed header (V=2, PT=0 PCMU, seq 4660, ts 160000, SSRC 0x12345678)
# followed by 160 octets of PCMU silence: 20 ms at 8000 Hz.
_PCMU_PACKET = RTPPacket(
    payload_type=0,
    sequence_number=4660,
    timestamp=160_000,
    ssrc=0x12345678,
    payload=b"\xff" * 160,
)
_PCMU_WIRE = _PCMU_PACKET.serialize()
assert len(_PCMU_WIRE) == 172

CASES: dict[str, Callable[[], object]] = {
    "rtp parse": partial(RTPPacket.parse, _PCMU_WIRE),
    "rtp serialize": _PCMU_PACKET.serialize,
}
