"""Opus through opuslib, with the fmtp parameters of RFC 7587 §6.1 applied.

The RTP clock is always 48 kHz and ``a=rtpmap`` says ``opus/48000/2``
whatever the audio [RFC 7587 §4.1, §7]. We encode and decode mono; the
encoder and decoder can run natively at 8, 12, 16, 24 or 48 kHz, so a call
at 16 kHz needs no resampler.

opuslib 3.0.1 quirks handled here (see the project's FINDINGS): PCM must be
bytes; the ``inband_fec`` setter and ``dtx`` property are broken, so the ctl
calls are made directly; ``str(OpusError)`` itself raises, so ``.code`` is read;
the C functions read ``frame_size`` samples whatever the buffer holds, so the
frame length is checked before each encode; ``c_char_p`` takes only bytes.
"""

from __future__ import annotations

import ctypes
import re
from typing import Any, ClassVar

import numpy as np

from voip_core.codecs import FloatArray, FrameDecoder, FrameEncoder, RTPCodec
from voip_core.errors import CodecError

__all__ = ["Opus"]

#: Longest Opus packet: 120 ms [RFC 6716 §3.2.1].
MAX_PACKET_SECONDS = 0.12
#: Packet durations the encoder can make, in whole milliseconds: one frame of
#: 5-60 ms [RFC 6716 §2.1.4] or several up to 120 ms (libopus >= 1.2);
#: 2.5 ms frames exist too but cannot be asked for in whole milliseconds.
FRAME_DURATIONS_MS = (5, 10, 20, 40, 60, 80, 100, 120)
#: Output buffer for one packet: the size libopus's documentation recommends.
MAX_PACKET_BYTES = 4000

_ERROR_NAMES = {
    -1: "OPUS_BAD_ARG",
    -2: "OPUS_BUFFER_TOO_SMALL",
    -3: "OPUS_INTERNAL_ERROR",
    -4: "OPUS_INVALID_PACKET",
    -5: "OPUS_UNIMPLEMENTED",
    -6: "OPUS_INVALID_STATE",
    -7: "OPUS_ALLOC_FAIL",
}


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
    """Name the libopus error code of an OpusError without calling its ``str()``.

    opuslib's encoder puts a sentence (``'Encoder returned result="-1"'``) in
    ``code`` where the decoder puts the number; both are read.
    """
    code = getattr(error, "code", None)
    if isinstance(code, str):
        number = re.search(r"-?\d+", code)
        code = int(number.group()) if number else code
    if isinstance(code, int):
        return f"{_ERROR_NAMES.get(code, 'libopus error')} ({code})"
    return type(error).__name__


def _bandwidths() -> dict[int, int]:
    """Audio bandwidth (Hz) -> libopus's OPUS_BANDWIDTH_* constant."""
    import opuslib

    return {
        4000: opuslib.BANDWIDTH_NARROWBAND,
        6000: opuslib.BANDWIDTH_MEDIUMBAND,
        8000: opuslib.BANDWIDTH_WIDEBAND,
        12000: opuslib.BANDWIDTH_SUPERWIDEBAND,
        20000: opuslib.BANDWIDTH_FULLBAND,
    }


def _error_text_of(code: int) -> str:
    """Name a negative libopus return code."""
    return f"{_ERROR_NAMES.get(code, 'libopus error')} ({code})"


def _flag(parameters: dict[str, str], name: str) -> bool:
    return parameters.get(name, "0").strip() == "1"


class _Encoder(FrameEncoder):
    """One libopus encoder, called through ctypes into reused buffers.

    opuslib's own ``encode_float`` allocates a 4000-byte buffer and copies the
    packet through a Python list on every call; here the float32 frame is
    passed by pointer and the packet read straight from one output buffer.
    """

    def __init__(self, codec: Opus) -> None:
        opuslib = _opuslib()
        self._frame_size = codec.samples_per_frame
        try:
            self._state = opuslib.Encoder(codec.sample_rate, 1, opuslib.APPLICATION_VOIP)
            self._state.bitrate = codec.bitrate
            # Straight ctl calls: opuslib's inband_fec setter drops the value and
            # its dtx "property" is a plain attribute.
            ctl, api, state = opuslib.api.ctl, opuslib.api.encoder, self._state.encoder_state
            api.encoder_ctl(state, ctl.set_complexity, codec.complexity)
            api.encoder_ctl(state, ctl.set_inband_fec, int(codec.inband_fec))
            if codec.inband_fec:
                # libopus adds FEC (LBRR) only when it expects some loss.
                api.encoder_ctl(state, ctl.set_packet_loss_perc, codec.expected_loss)
            api.encoder_ctl(state, ctl.set_dtx, int(codec.dtx))
            api.encoder_ctl(state, ctl.set_max_bandwidth, _bandwidths()[codec.max_audio_bandwidth])
        except opuslib.OpusError as error:
            raise CodecError(f"cannot make an Opus encoder: {_error_text(error)}") from None
        self._encode_float = opuslib.api.encoder.libopus_encode_float
        self._float_pointer = opuslib.api.c_float_pointer
        self._output = ctypes.create_string_buffer(MAX_PACKET_BYTES)
        self._dtx = codec.dtx

    def encode(self, pcm: FloatArray) -> bytes:
        samples = np.ascontiguousarray(pcm, dtype=np.float32)
        if samples.shape != (self._frame_size,):
            # libopus would read frame_size samples past the end of a short buffer.
            raise CodecError(
                f"Opus encoder takes frames of {self._frame_size} samples, "
                f"got shape {samples.shape}"
            )
        length: int = self._encode_float(
            self._state.encoder_state,
            samples.ctypes.data_as(self._float_pointer),
            self._frame_size,
            self._output,
            MAX_PACKET_BYTES,
        )
        if length < 0:
            raise CodecError(f"Opus encode failed: {_error_text_of(length)}")
        if length <= 2 and self._dtx:
            # A DTX frame: "need not be transmitted" [RFC 7587 §3.1.3]; b"" sends nothing.
            return b""
        return ctypes.string_at(self._output, length)


class _Decoder(FrameDecoder):
    """One libopus decoder, called through ctypes into one reused float32 buffer."""

    has_fec: ClassVar[bool] = True

    def __init__(self, codec: Opus) -> None:
        super().__init__(codec.samples_per_frame)
        opuslib = _opuslib()
        self._max_samples = round(codec.sample_rate * MAX_PACKET_SECONDS)
        try:
            self._state = opuslib.Decoder(codec.sample_rate, 1)
        except opuslib.OpusError as error:
            raise CodecError(f"cannot make an Opus decoder: {_error_text(error)}") from None
        self._decode_float = opuslib.api.decoder.libopus_decode_float
        self._buffer = np.zeros(self._max_samples, np.float32)
        self._buffer_pointer = self._buffer.ctypes.data_as(opuslib.api.c_float_pointer)

    def _run(self, payload: bytes | None, samples: int, fec: int) -> int:
        result: int = self._decode_float(
            self._state.decoder_state,
            payload,
            len(payload) if payload else 0,
            self._buffer_pointer,
            samples,
            fec,
        )
        return result

    def _decode(self, payload: bytes) -> FloatArray:
        if not payload:
            # libopus would conceal, not decode; a packet has at least one byte [RFC 6716 §3.4 R1].
            raise CodecError("empty Opus payload")
        count = self._run(bytes(payload), self._max_samples, 0)
        if count < 0:
            raise CodecError(f"Opus decode failed: {_error_text_of(count)}")
        return self._buffer[:count].copy()

    def conceal(self, next_payload: bytes | None = None) -> FloatArray:
        """One frame of libopus PLC, or the lost frame recovered from ``next_payload``'s FEC.

        Call it once per lost packet, before decoding ``next_payload`` itself.
        ``next_payload`` without FEC data (sent with ``useinbandfec=0``, or in
        CELT mode) gives plain PLC [RFC 6716 §2.1.7, §4.4]; an undecodable one
        falls back to the base class's repeat-and-fade.
        """
        if next_payload:
            count = self._run(bytes(next_payload), self.samples_per_frame, 1)
        else:
            count = self._run(None, self.samples_per_frame, 0)
        if count < 0:
            return super().conceal()
        return self._buffer[:count].copy()


class Opus(RTPCodec):
    """Opus, dynamic payload type, ``opus/48000/2`` [RFC 7587].

    fmtp parameters from the remote (what the remote's decoder wants, RFC 7587
    §6.1) are applied to our encoder: ``useinbandfec=1`` turns on in-band FEC,
    ``usedtx=1`` turns on DTX, ``maxaveragebitrate`` caps the bitrate.
    With DTX, libopus 1.3 sends 1-byte packets (the TOC byte alone) after
    about 200 ms of silence, with a comfort-noise update every 400 ms.

    Raises:
        CodecError: ``frame_duration_ms`` is not one of :data:`FRAME_DURATIONS_MS`
            (besides the base class's checks).
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
    #: libopus encoder complexity, 0-10. 5 (PJSIP's default too) costs half of
    #: libopus's default 9 for speech quality within measurement noise; raise it
    #: in a subclass when CPU is plentiful (see bench/ for the figures).
    complexity: ClassVar[int] = 5

    def __init__(
        self,
        *,
        payload_type: int | None = None,
        fmtp: str | None = None,
        frame_duration_ms: int = 20,
        sample_rate: int | None = None,
    ) -> None:
        if frame_duration_ms not in FRAME_DURATIONS_MS:
            raise CodecError(
                f"opus: bad frame duration {frame_duration_ms} ms "
                f"(Opus packets last {', '.join(map(str, FRAME_DURATIONS_MS))} ms)"
            )
        super().__init__(
            payload_type=payload_type,
            fmtp=fmtp,
            frame_duration_ms=frame_duration_ms,
            sample_rate=sample_rate,
        )

    @property
    def inband_fec(self) -> bool:
        """Whether our encoder adds in-band FEC (remote ``useinbandfec=1``)."""
        return _flag(self.fmtp, "useinbandfec")

    @property
    def dtx(self) -> bool:
        """Whether our encoder uses discontinuous transmission (remote ``usedtx=1``)."""
        return _flag(self.fmtp, "usedtx")

    @property
    def max_audio_bandwidth(self) -> int:
        """Widest audio band (Hz) worth encoding, from the remote's ``maxplaybackrate``.

        A receiver that plays at most 16 kHz gets wideband (8 kHz of audio)
        at most [RFC 7587 §6.1]; our own sample rate limits it too.
        """
        try:
            playback = int(self.fmtp.get("maxplaybackrate", 48000))
        except ValueError:
            playback = 48000
        nyquist = min(playback, self.sample_rate) // 2
        return max(
            (band for band in (4000, 6000, 8000, 12000, 20000) if band <= nyquist), default=4000
        )

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
