"""G.711 PCMU (mu-law) and PCMA (A-law) by table look-up, vectorised in numpy.

The tables are computed once, on first use, with the integer algorithm of the
ITU-T G.191 Software Tool Library (``g711.c``), so encoding is bit-exact with
the ITU reference for all 65536 int16 inputs and decoding for all 256 codes
(the tests check both against the STL test files). Note that mu-law differs
from Sun's ``g711.c`` (and CPython's ``audioop``) at 508 negative inputs on
decision boundaries; ITU is normative [ITU-T G.711 Table 2a].
"""

from __future__ import annotations

import functools
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from voip_core.codecs.base import FloatArray, FrameDecoder, FrameEncoder, RTPCodec, to_int16

__all__ = [
    "PCMA",
    "PCMU",
    "alaw_decode_table",
    "alaw_encode_table",
    "ulaw_decode_table",
    "ulaw_encode_table",
]

_ALL_INT16 = np.arange(-32768, 32768, dtype=np.int32)


@functools.cache
def ulaw_encode_table() -> npt.NDArray[np.uint8]:
    """mu-law code of every int16 input; index ``x + 32768`` (ITU-T G.191 ``ulaw_compress``)."""
    x = _ALL_INT16
    magnitude = np.minimum(np.where(x < 0, ((~x) >> 2) + 33, (x >> 2) + 33), 0x1FFF)
    segment = np.ones_like(magnitude)
    rest = magnitude >> 6
    for _ in range(8):
        segment += rest != 0
        rest >>= 1
    code = ((8 - segment) << 4) | (0xF - ((magnitude >> segment) & 0xF))
    return np.where(x >= 0, code | 0x80, code).astype(np.uint8)


@functools.cache
def alaw_encode_table() -> npt.NDArray[np.uint8]:
    """A-law code of every int16 input; index ``x + 32768`` (ITU-T G.191 ``alaw_compress``)."""
    x = _ALL_INT16
    magnitude = np.where(x < 0, (~x) >> 4, x >> 4)
    large = magnitude > 15
    mantissa = magnitude.copy()
    exponent = large.astype(np.int32)
    for _ in range(8):
        shift = large & (mantissa > 31)
        mantissa = np.where(shift, mantissa >> 1, mantissa)
        exponent += shift
    code = np.where(large, (mantissa - 16) + (exponent << 4), magnitude)
    code = np.where(x >= 0, code | 0x80, code)
    return (code ^ 0x55).astype(np.uint8)


@functools.cache
def ulaw_decode_table() -> npt.NDArray[np.int16]:
    """Linear int16 value of every mu-law code (ITU-T G.191 ``ulaw_expand``)."""
    code = ~np.arange(256, dtype=np.int32) & 0xFF
    exponent = (code >> 4) & 7
    magnitude = ((((code & 0xF) << 3) + 0x84) << exponent) - 0x84
    return np.where(code & 0x80, -magnitude, magnitude).astype(np.int16)


@functools.cache
def alaw_decode_table() -> npt.NDArray[np.int16]:
    """Linear int16 value of every A-law code (ITU-T G.191 ``alaw_expand``)."""
    code = np.arange(256, dtype=np.int32) ^ 0x55
    exponent = (code >> 4) & 7
    mantissa = code & 0xF
    magnitude = np.where(
        exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << np.maximum(exponent - 1, 0)
    )
    return np.where(code & 0x80, magnitude, -magnitude).astype(np.int16)


def _encode_table_by_bits(table: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    # Reorder so that the int16 sample's bit pattern read as uint16 is the index.
    return np.roll(table, 32768)


class _TableEncoder(FrameEncoder):
    __slots__ = ("_table",)

    def __init__(self, table: npt.NDArray[np.uint8]) -> None:
        self._table = table

    def encode(self, pcm: FloatArray) -> bytes:
        return self._table.take(to_int16(pcm).view(np.uint16)).tobytes()


class _TableDecoder(FrameDecoder):
    def __init__(self, table: npt.NDArray[np.float32], samples_per_frame: int) -> None:
        super().__init__(samples_per_frame)
        self._table = table

    def _decode(self, payload: bytes) -> FloatArray:
        return self._table.take(np.frombuffer(payload, np.uint8))

    def decode(self, payload: bytes) -> FloatArray:
        # FrameDecoder.decode with _decode inline: one call less, per packet.
        pcm = self._table.take(np.frombuffer(payload, np.uint8))
        self._last = pcm
        self._lost_in_a_row = 0
        return pcm


class _G711(RTPCodec):
    clock_rate: ClassVar[int] = 8000
    sample_rate = 8000

    @staticmethod
    def _tables() -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.float32]]:
        raise NotImplementedError  # pragma: no cover - both subclasses define it

    def create_encoder(self) -> FrameEncoder:
        return _TableEncoder(self._tables()[0])

    def create_decoder(self) -> FrameDecoder:
        return _TableDecoder(self._tables()[1], self.samples_per_frame)


class PCMU(_G711):
    """G.711 mu-law, static payload type 0 [RFC 3551 §4.5.14]."""

    encoding_name: ClassVar[str] = "PCMU"
    static_payload_type: ClassVar[int | None] = 0
    priority: ClassVar[int] = 20

    @staticmethod
    @functools.cache
    def _tables() -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.float32]]:
        decode = (ulaw_decode_table() / np.float32(32768.0)).astype(np.float32)
        return _encode_table_by_bits(ulaw_encode_table()), decode


class PCMA(_G711):
    """G.711 A-law, static payload type 8 [RFC 3551 §4.5.14]."""

    encoding_name: ClassVar[str] = "PCMA"
    static_payload_type: ClassVar[int | None] = 8
    priority: ClassVar[int] = 10

    @staticmethod
    @functools.cache
    def _tables() -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.float32]]:
        decode = (alaw_decode_table() / np.float32(32768.0)).astype(np.float32)
        return _encode_table_by_bits(alaw_encode_table()), decode
