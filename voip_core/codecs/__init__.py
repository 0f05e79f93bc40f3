"""Audio codecs: the :class:`RTPCodec` contract and the built-in G.711 and G.722.

Other codecs (Opus, ...) arrive through the ``voip_codecs`` plugin hook.
"""

from voip_core.codecs.base import FloatArray, FrameDecoder, FrameEncoder, RTPCodec, frames
from voip_core.codecs.g711 import PCMA, PCMU
from voip_core.codecs.g722 import G722

__all__ = [
    "G722",
    "PCMA",
    "PCMU",
    "FloatArray",
    "FrameDecoder",
    "FrameEncoder",
    "RTPCodec",
    "frames",
]
