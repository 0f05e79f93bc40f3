"""Opus through opuslib, with the fmtp parameters of RFC 7587 §6.1 applied.

The RTP clock is always 48 kHz and ``a=rtpmap`` says ``opus/48000/2``
whatever the audio [RFC 7587 §4.1, §7]. We encode and decode mono; the
encoder and decoder can run natively at 8, 12, 16, 24 or 48 kHz, so a call
at 16 kHz needs no resampler.

opuslib 3.0.1 quirks handled here (see the project's FINDINGS): PCM must be
bytes; the ``inband_fec`` setter and ``dtx`` property are broken, so the ctl
calls are made directly; ``str(OpusError)`` itself raises, so ``.code`` is read.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from voip_core.codecs import FloatArray, FrameDecoder, FrameEncoder, RTPCodec
from voip_core.errors import CodecError

__all__ = ["Opus"]

#: Longest Opus packet: 120 ms [RFC 6716 §3.2.1].
MAX_PACKET_SECONDS = 0.12


def _opuslib() -> Any:
    try:
        import opuslib
        import opuslib.api.ctl
        import opuslib.api.encoder
    except Exception as error:  # opuslib raises a bare Exception when libopus is missing
        raise CodecError(
            f"Opus needs opuslib and libopus ({error}); install the system package libopus0"
        ) from error
    return opuslib


def _error_text(error: Exception) -> str:
    code = getattr(error, "code", None)
    return f"OpusError {code!r}" if code is not None else repr(error)


def _flag(parameters: dict[str, str], name: str) -> bool:
    return parameters.get(name, "0").strip() == "1"


class _Encoder(FrameEncoder):
    def __init__(self, codec: Opus) -> None:
        opuslib = _opuslib()
        self._frame_size = codec.samples_per_frame
        try:
            self._state = opuslib.Encoder(codec.sample_rate, 1, opuslib.APPLICATION_VOIP)
            self._state.bitrate = codec.bitrate
            ctl, api = opuslib.api.ctl, opuslib.api.encoder
            api.encoder_ctl(self._state.encoder_state, ctl.set_inband_fec, int(codec.inband_fec))
            if codec.inband_fec:
                api.encoder_ctl(self._state.encoder_state, ctl.set_packet_loss_perc, codec.expected_loss)
            api.encoder_ctl(self._state.encoder_state, ctl.set_dtx, int(codec.dtx))
        except opuslib.OpusError as error:
            raise CodecError(f"cannot make an Opus encoder: {_error_text(error)}") from error
        self._error = opuslib.OpusError

    def encode(self, pcm: FloatArray) -> bytes:
        try:
            packet: bytes = self._state.encode_float(
                np.ascontiguousarray(pcm, dtype=np.float32).tobytes(), self._frame_size
            )
        except self._error as error:
            raise CodecError(f"Opus encode failed: {_error_text(error)}") from error
        return packet


class _Decoder(FrameDecoder):
    has_fec: ClassVar[bool] = True

    def __init__(self, codec: Opus) -> None:
        super().__init__(codec.samples_per_frame)
        opuslib = _opuslib()
        self._max_samples = round(codec.sample_rate * MAX_PACKET_SECONDS)
        try:
            self._state = opuslib.Decoder(codec.sample_rate, 1)
        except opuslib.OpusError as error:
            raise CodecError(f"cannot make an Opus decoder: {_error_text(error)}") from error
        self._error = opuslib.OpusError

    def _decode(self, payload: bytes) -> FloatArray:
        if not payload:
            raise CodecError("empty Opus payload")
        try:
            pcm = self._state.decode_float(payload, self._max_samples)
        except self._error as error:
            raise CodecError(f"Opus decode failed: {_error_text(error)}") from error
        return np.frombuffer(pcm, dtype=np.float32)

    def conceal(self, next_payload: bytes | None = None) -> FloatArray:
        """libopus PLC for one frame, or the frame recovered from ``next_payload``'s FEC."""
        try:
            if next_payload:
                pcm = self._state.decode_float(next_payload, self.samples_per_frame, decode_fec=True)
            else:
                pcm = self._state.decode_float(b"", self.samples_per_frame)
        except self._error:
            return super().conceal()
        return np.frombuffer(pcm, dtype=np.float32)


class Opus(RTPCodec):
    """Opus, dynamic payload type, ``opus/48000/2`` [RFC 7587].

    fmtp parameters from the remote (what the remote's decoder wants, RFC 7587
    §6.1) are applied to our encoder: ``useinbandfec=1`` turns on in-band FEC,
    ``usedtx=1`` turns on DTX, ``maxaveragebitrate`` caps the bitrate.
    """

    encoding_name: ClassVar[str] = "opus"
    clock_rate: ClassVar[int] = 48000
    sample_rate = 48000
    supported_sample_rates: ClassVar[tuple[int, ...]] = (8000, 12000, 16000, 24000, 48000)
    channels: ClassVar[int] = 2
    priority: ClassVar[int] = 40
    default_fmtp: ClassVar[str | None] = "minptime=10;useinbandfec=1"

    #: Bitrate when the remote sets no ``maxaveragebitrate``.
    default_bitrate: ClassVar[int] = 32000
    #: Loss percentage the encoder plans FEC for when FEC is on.
    expected_loss: ClassVar[int] = 10

    @property
    def inband_fec(self) -> bool:
        """Whether our encoder adds in-band FEC (remote ``useinbandfec=1``)."""
        return _flag(self.fmtp, "useinbandfec")

    @property
    def dtx(self) -> bool:
        """Whether our encoder uses discontinuous transmission (remote ``usedtx=1``)."""
        return _flag(self.fmtp, "usedtx")

    @property
    def bitrate(self) -> int:
        """Encoder bitrate: ``maxaveragebitrate`` clamped to 6-510 kbit/s [RFC 7587 §6.1]."""
        try:
            wanted = int(self.fmtp.get("maxaveragebitrate", self.default_bitrate))
        except ValueError:
            wanted = self.default_bitrate
        return min(max(wanted, 6000), 510000)

    def create_encoder(self) -> FrameEncoder:
        return _Encoder(self)

    def create_decoder(self) -> FrameDecoder:
        return _Decoder(self)
