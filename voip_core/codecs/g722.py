"""G.722 at 64 kbit/s through the ``g722`` package (sippy/libg722, bit-exact ITU).

G.722 carries 16 kHz audio but is written ``G722/8000`` in SDP and its RTP
timestamp advances at 8000 Hz, an error kept for compatibility
[RFC 3551 §4.5.2]. The ADPCM coder is stateful: one encoder object per
outgoing stream and one decoder per incoming stream, for the whole call.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from voip_core.codecs.base import FloatArray, FrameDecoder, FrameEncoder, RTPCodec, to_int16
from voip_core.errors import CodecError

__all__ = ["G722"]

BIT_RATE = 64000


def _new_state() -> Any:
    try:
        from G722 import G722 as Coder
    except ImportError as error:  # pragma: no cover - g722 is a core dependency
        raise CodecError("G.722 needs the 'g722' package: pip install g722") from error
    return Coder(16000, BIT_RATE)


class _Encoder(FrameEncoder):
    def __init__(self) -> None:
        self._state = _new_state()

    def encode(self, pcm: FloatArray) -> bytes:
        return bytes(self._state.encode(to_int16(pcm)))


class _Decoder(FrameDecoder):
    def __init__(self, samples_per_frame: int) -> None:
        super().__init__(samples_per_frame)
        self._state = _new_state()

    def _decode(self, payload: bytes) -> FloatArray:
        pcm = np.asarray(self._state.decode(payload), dtype=np.int16)
        return pcm.astype(np.float32) * np.float32(1 / 32768)


class G722(RTPCodec):
    """G.722 wideband ADPCM, static payload type 9 [RFC 3551 §4.5.2]."""

    encoding_name: ClassVar[str] = "G722"
    static_payload_type: ClassVar[int | None] = 9
    clock_rate: ClassVar[int] = 8000
    sample_rate = 16000
    priority: ClassVar[int] = 30

    def create_encoder(self) -> FrameEncoder:
        return _Encoder()

    def create_decoder(self) -> FrameDecoder:
        return _Decoder(self.samples_per_frame)
