"""The codec contract: :class:`RTPCodec` and its per-call encoder and decoder.

A codec *class* describes a format (encoding name, static payload type, RTP
clock rate, real sample rate). A codec *instance* is one negotiated use of it
in one call (payload type and fmtp as agreed in SDP); it makes one stateful
:class:`FrameEncoder` and one :class:`FrameDecoder` per direction, kept for
the whole call, because ADPCM (G.722) and Opus carry state from packet to
packet.

Audio is float32 mono numpy in [-1.0, 1.0) at the codec's ``sample_rate``.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator, Mapping
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from voip_core.errors import CodecError
from voip_core.sdp.negotiation import MediaFormat

__all__ = [
    "FloatArray",
    "FrameDecoder",
    "FrameEncoder",
    "RTPCodec",
    "format_fmtp",
    "frames",
    "parse_fmtp",
    "to_int16",
]

FloatArray = npt.NDArray[np.float32]


_INT16_SCALE = np.float32(32768.0)
_INT16_LOW = np.float32(-32768.0)
_INT16_HIGH = np.float32(32767.0)


def to_int16(pcm: FloatArray) -> npt.NDArray[np.int16]:
    """Float audio (full scale 1.0) to int16, rounded to nearest and clipped.

    >>> to_int16(np.array([0.5, -1.5, 1.0], np.float32)).tolist()
    [16384, -32768, 32767]
    """
    scaled = np.asarray(pcm, dtype=np.float32) * _INT16_SCALE
    np.rint(scaled, out=scaled)
    # np.minimum/np.maximum: np.clip's Python-level wrapper costs more than the work.
    np.minimum(scaled, _INT16_HIGH, out=scaled)
    np.maximum(scaled, _INT16_LOW, out=scaled)
    return scaled.astype(np.int16)


def parse_fmtp(value: str | None) -> dict[str, str]:
    """Split an fmtp parameter string into a dict.

    ``"useinbandfec=1; usedtx=1"`` gives ``{"useinbandfec": "1", "usedtx": "1"}``;
    a parameter without ``=`` (``"0-15"`` for telephone-event) maps to ``""``.
    Names are lower-cased [RFC 8866 §6.15: format-specific parameters].

    >>> parse_fmtp("maxplaybackrate=16000; useinbandfec=1")
    {'maxplaybackrate': '16000', 'useinbandfec': '1'}
    """
    result: dict[str, str] = {}
    if not value:
        return result
    for item in value.split(";"):
        item = item.strip()
        if not item:
            continue
        name, _, val = item.partition("=")
        result[name.strip().lower()] = val.strip()
    return result


def format_fmtp(parameters: Mapping[str, str]) -> str | None:
    """Join fmtp parameters back into the SDP form (``None`` when empty)."""
    if not parameters:
        return None
    return ";".join(f"{k}={v}" if v else k for k, v in parameters.items())


def frames(pcm: FloatArray, samples_per_frame: int, *, pad: bool = True) -> Iterator[FloatArray]:
    """Cut audio into frames of ``samples_per_frame`` samples.

    The last partial frame is padded with silence when ``pad`` is true and
    dropped otherwise.

    >>> [len(f) for f in frames(np.zeros(400, np.float32), 160)]
    [160, 160, 160]
    """
    total = len(pcm)
    whole = total - total % samples_per_frame
    for start in range(0, whole, samples_per_frame):
        yield pcm[start : start + samples_per_frame]
    if pad and whole < total:
        last = np.zeros(samples_per_frame, np.float32)
        last[: total - whole] = pcm[whole:]
        yield last


class FrameEncoder(abc.ABC):
    """Stateful encoder for one outgoing stream: one frame in, one payload out."""

    @abc.abstractmethod
    def encode(self, pcm: FloatArray) -> bytes:
        """Encode one frame (``codec.samples_per_frame`` float32 samples).

        Returns ``b""`` when there is nothing to send for this frame
        (discontinuous transmission); the RTP timestamp still advances.
        """


class FrameDecoder(abc.ABC):
    """Stateful decoder for one incoming stream.

    ``conceal()`` makes one frame of packet-loss concealment for the jitter
    buffer. The default repeats the last good frame, halving its level with
    every further lost frame (the repeat-and-fade of ITU-T G.711 Appendix I in
    its simplest form); codecs with their own PLC (Opus) override it and may
    use the next packet's in-band FEC.
    """

    #: True when ``conceal(next_payload)`` can recover audio from the next packet (FEC).
    has_fec: ClassVar[bool] = False

    def __init__(self, samples_per_frame: int) -> None:
        self.samples_per_frame = samples_per_frame
        self._last: FloatArray = np.zeros(samples_per_frame, np.float32)
        self._lost_in_a_row = 0

    def decode(self, payload: bytes) -> FloatArray:
        """Decode one payload into float32 PCM at the codec's sample rate."""
        pcm = self._decode(payload)
        self._last = pcm
        self._lost_in_a_row = 0
        return pcm

    @abc.abstractmethod
    def _decode(self, payload: bytes) -> FloatArray:
        """Codec-specific decoding of one payload."""

    def conceal(self, next_payload: bytes | None = None) -> FloatArray:
        """One frame standing in for a lost packet.

        Args:
            next_payload: The packet after the lost one, when the jitter buffer
                already holds it (used by codecs with in-band FEC).
        """
        self._lost_in_a_row += 1
        n = len(self._last)
        start = 0.5 ** (self._lost_in_a_row - 1)
        ramp = np.linspace(start, start / 2, n, endpoint=False, dtype=np.float32)
        return (self._last * ramp).astype(np.float32, copy=False)


class RTPCodec(abc.ABC):
    """An audio codec as used in one RTP session.

    Subclasses set the class attributes and implement :meth:`create_encoder`
    and :meth:`create_decoder`. Register a codec class through the
    ``voip_codecs`` hook (see :mod:`voip_core.plugins`).

    Attributes:
        encoding_name: Name in ``a=rtpmap`` (``"PCMU"``, ``"opus"``).
        static_payload_type: Payload type from [RFC 3551 §6] table 4, or
            ``None`` for a dynamic one (96-127, chosen in SDP).
        clock_rate: RTP timestamp clock rate as written in SDP. Not always the
            audio rate: G.722 says 8000 but carries 16 kHz audio [RFC 3551 §4.5.2].
        sample_rate: The real PCM sample rate of encoder input / decoder output.
            An instance may run at another rate from ``supported_sample_rates``
            (Opus encodes and decodes natively at 8-48 kHz), which saves a
            resampling step.
        supported_sample_rates: Rates besides ``sample_rate`` an instance may use.
        channels: Channel count written in ``a=rtpmap`` (Opus: always 2, RFC 7587).
        priority: Order of preference when we offer; higher first.
        frame_duration_ms: Packet duration (AudioCall sends 20 ms packets and
            decodes whatever duration arrives).
    """

    encoding_name: ClassVar[str]
    static_payload_type: ClassVar[int | None] = None
    clock_rate: ClassVar[int]
    sample_rate: int
    supported_sample_rates: ClassVar[tuple[int, ...]] = ()
    channels: ClassVar[int] = 1
    priority: ClassVar[int] = 0
    default_fmtp: ClassVar[str | None] = None

    def __init__(
        self,
        *,
        payload_type: int | None = None,
        fmtp: str | None = None,
        frame_duration_ms: int = 20,
        sample_rate: int | None = None,
    ) -> None:
        if sample_rate is not None and sample_rate != self.sample_rate:
            if sample_rate not in self.supported_sample_rates:
                raise CodecError(f"{self.encoding_name} cannot run at {sample_rate} Hz")
            self.sample_rate = sample_rate
        pt = payload_type if payload_type is not None else self.static_payload_type
        if pt is not None and not 0 <= pt <= 127:
            raise CodecError(f"{self.encoding_name}: payload type {pt} is outside 0..127")
        self.payload_type: int | None = pt
        self.fmtp: dict[str, str] = parse_fmtp(fmtp if fmtp is not None else self.default_fmtp)
        if frame_duration_ms <= 0 or (self.sample_rate * frame_duration_ms) % 1000:
            raise CodecError(f"{self.encoding_name}: bad frame duration {frame_duration_ms} ms")
        self.frame_duration_ms = frame_duration_ms

    @property
    def samples_per_frame(self) -> int:
        """PCM samples in one packet at ``sample_rate``."""
        return self.sample_rate * self.frame_duration_ms // 1000

    @property
    def timestamp_increment(self) -> int:
        """RTP timestamp step per packet, in ``clock_rate`` units [RFC 3550 §5.1]."""
        return self.clock_rate * self.frame_duration_ms // 1000

    @classmethod
    def media_format(cls, payload_type: int | None = None) -> MediaFormat:
        """The SDP format that offers this codec."""
        return MediaFormat(
            payload_type=payload_type if payload_type is not None else cls.static_payload_type,
            encoding_name=cls.encoding_name,
            clock_rate=cls.clock_rate,
            channels=cls.channels,
            fmtp=cls.default_fmtp,
        )

    @classmethod
    def matches(cls, media_format: MediaFormat) -> bool:
        """Whether ``media_format`` (from the peer's SDP) is this codec."""
        if getattr(cls.media_format, "__func__", None) is not _MEDIA_FORMAT:
            return cls.media_format().matches(media_format)
        # MediaFormat.matches on the class attributes :meth:`media_format` copies,
        # without making the object.
        return (
            cls.clock_rate == media_format.clock_rate
            and cls.channels == media_format.channels
            and cls.encoding_name.lower() == media_format.encoding_name.lower()
        )

    @classmethod
    def from_media_format(
        cls,
        media_format: MediaFormat,
        *,
        frame_duration_ms: int = 20,
        preferred_sample_rate: int | None = None,
    ) -> RTPCodec:
        """A codec instance for a negotiated SDP format (its payload type and fmtp).

        ``preferred_sample_rate`` is used when the codec can run at it natively.
        """
        rate = (
            preferred_sample_rate if preferred_sample_rate in cls.supported_sample_rates else None
        )
        return cls(
            payload_type=media_format.payload_type,
            # The remote's parameters, or none: our defaults describe what we offer, not them.
            fmtp=media_format.fmtp or "",
            frame_duration_ms=frame_duration_ms,
            sample_rate=rate,
        )

    def negotiated_format(self) -> MediaFormat:
        """This instance's format, with its payload type and fmtp."""
        return MediaFormat(
            payload_type=self.payload_type,
            encoding_name=self.encoding_name,
            clock_rate=self.clock_rate,
            channels=self.channels,
            fmtp=format_fmtp(self.fmtp),
        )

    @abc.abstractmethod
    def create_encoder(self) -> FrameEncoder:
        """A new encoder for one outgoing stream (keep it for the whole call)."""

    @abc.abstractmethod
    def create_decoder(self) -> FrameDecoder:
        """A new decoder for one incoming stream (keep it for the whole call)."""

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(pt={self.payload_type}, {self.encoding_name}/"
            f"{self.clock_rate}, {self.sample_rate} Hz)"
        )


_MEDIA_FORMAT = RTPCodec.media_format.__func__  # type: ignore[attr-defined]
