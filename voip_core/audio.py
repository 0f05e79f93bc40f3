"""Audio calls: RTP in and out as float32 numpy audio.

:class:`AudioCall` decodes incoming packets with the negotiated codec,
resamples to ``sampling_rate_hz`` and calls :meth:`AudioCall.audio_received`
once per 20 ms frame; :meth:`AudioCall.send_audio` queues audio that a
sender task encodes and sends, paced every packet time on the event-loop
clock. :class:`VoiceActivityCall` cuts the incoming audio into utterances by
energy, and :class:`EchoCall` sends every utterance back.

Example: an app that echoes what the caller says, twice as loud:

>>> from voip_core import EchoCall
>>> class LoudEcho(EchoCall):
...     def voice_received(self, audio):
...         self.send_audio(audio * 2)
>>> LoudEcho.silence_gap  # seconds of silence that end an utterance
0.5
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, overload

import numpy as np

from voip_core.codecs.base import FloatArray
from voip_core.errors import CodecError
from voip_core.resample import Resampler, resample
from voip_core.rtp.packet import RTPPacket
from voip_core.rtp.session import Session

if TYPE_CHECKING:
    from voip_core.codecs.base import RTPCodec

__all__ = ["AudioCall", "EchoCall", "VoiceActivityCall"]

logger = logging.getLogger(__name__)


class _PluginCodecs:
    """Class attribute that reads the codecs registered with the plugin manager.

    Subclasses may replace it with a plain list (``supported_codecs = [PCMU]``).
    """

    @overload
    def __get__(self, instance: None, owner: type[Any]) -> Sequence[type[RTPCodec]]: ...
    @overload
    def __get__(self, instance: object, owner: type[Any]) -> Sequence[type[RTPCodec]]: ...
    def __get__(self, instance: object | None, owner: type[Any]) -> Sequence[type[RTPCodec]]:
        from voip_core.plugins import codecs

        return codecs()


@dataclasses.dataclass(kw_only=True, eq=False)
class AudioCall(Session):
    """A call that hears and speaks float32 mono audio at ``sampling_rate_hz``.

    Args:
        sampling_rate_hz: Rate of the audio handed to :meth:`audio_received`
            and taken by :meth:`send_audio` (16 kHz suits speech recognition).
        resample_quality: soxr quality between the app's and the codec's rates.

    Example:
        Collect what the caller says:

        >>> class Recorder(AudioCall):
        ...     def __post_init__(self):
        ...         super().__post_init__()
        ...         self.heard = []
        ...
        ...     def audio_received(self, *, audio, rms):
        ...         self.heard.append(audio)
        >>> Recorder.rtp_packet_duration
        0.02
    """

    supported_codecs: ClassVar[Sequence[type[RTPCodec]]] = _PluginCodecs()  # type: ignore[assignment]
    #: Duration of one RTP packet, in seconds.
    rtp_packet_duration: ClassVar[float] = 0.02

    sampling_rate_hz: int = 16000
    resample_quality: str = "HQ"

    def __post_init__(self) -> None:
        super().__post_init__()
        self.codec: RTPCodec = self.negotiate_codec(self.media)
        self._encoder = self.codec.create_encoder()
        self._decoder = self.codec.create_decoder()
        self.frame_size = round(self.sampling_rate_hz * self.rtp_packet_duration)
        self._inbound = Resampler(
            self.codec.sample_rate, self.sampling_rate_hz, quality=self.resample_quality
        )
        self._outbound = Resampler(
            self.sampling_rate_hz, self.codec.sample_rate, quality=self.resample_quality
        )
        self.ssrc = random.getrandbits(32)
        self._sequence_number = random.getrandbits(16)
        self._timestamp = random.getrandbits(32)
        self._last_packet_time: float | None = None
        self._sender: asyncio.Task[None] | None = None
        self.decode_errors = 0
        self.foreign_payload_packets = 0

    def _codec_options(self) -> dict[str, Any]:
        return {
            "frame_duration_ms": round(self.rtp_packet_duration * 1000),
            "preferred_sample_rate": self.sampling_rate_hz,
        }

    # Receiving ------------------------------------------------------------------------------

    def packet_received(self, packet: RTPPacket) -> None:
        """Decode one packet and hand every complete frame to :meth:`audio_received`."""
        self.packets_received += 1
        if packet.payload_type != self.codec.payload_type:
            self.foreign_payload_packets += 1
            return
        try:
            pcm = self._decoder.decode(packet.payload)
        except (CodecError, ValueError) as error:
            self.decode_errors += 1
            logger.warning("%s: undecodable %s payload (%s); concealed", self, self.codec, error)
            pcm = self._decoder.conceal()
        self._deliver(pcm)

    def _deliver(self, pcm: FloatArray) -> None:
        self._inbound.push(pcm)
        for frame in self._inbound.pop_frames(self.frame_size):
            self.audio_received(audio=frame, rms=self.rms(frame))

    def audio_received(self, *, audio: FloatArray, rms: float) -> None:
        """Called with each frame of received audio (``frame_size`` samples). Override it."""

    # Sending --------------------------------------------------------------------------------

    def send_audio(self, audio: FloatArray) -> None:
        """Queue audio at ``sampling_rate_hz`` to be sent; returns at once.

        Audio queued by consecutive calls is sent back to back, so a TTS may
        call this with each chunk as it comes. :meth:`on_audio_sent` is called
        when everything queued has been sent.
        """
        self._outbound.push(np.asarray(audio, dtype=np.float32).reshape(-1))
        if self._sender is None or self._sender.done():
            self._sender = asyncio.get_running_loop().create_task(self._send_loop())
            self._sender.add_done_callback(self._sender_done)

    def _sender_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            logger.error("%r: sending audio failed", self, exc_info=task.exception())

    def cancel_outbound_audio(self) -> None:
        """Drop all queued audio; sending stops before the next packet."""
        if self._sender is not None:
            self._sender.cancel()
            self._sender = None
        self._outbound.reset()

    @property
    def sending(self) -> bool:
        """True while queued audio is being sent."""
        return self._sender is not None and not self._sender.done()

    def on_audio_sent(self) -> None:
        """Called when all audio queued with :meth:`send_audio` has been sent. Override it."""

    async def _send_loop(self) -> None:
        loop = asyncio.get_running_loop()
        codec = self.codec
        samples = codec.samples_per_frame
        fifo = self._outbound.fifo
        start = loop.time()
        if self._last_packet_time is not None:
            # A new talkspurt: the timestamp keeps counting through the silence [RFC 3550 §5.1].
            silent_frames = max(
                0, round((start - self._last_packet_time) / self.rtp_packet_duration) - 1
            )
            self._timestamp += silent_frames * codec.timestamp_increment
        marker = True
        index = 0
        while True:
            frame = fifo.pop(samples)
            if frame is None:
                # Queue ran dry: take soxr's tail, then send what is left, padded with silence.
                self._outbound.finish()
                frame = fifo.pop(samples)
                if frame is None:
                    rest = fifo.pop_all()
                    if not len(rest):
                        break
                    frame = np.zeros(samples, np.float32)
                    frame[: len(rest)] = rest
            self._send_frame(frame, marker=marker)
            marker = False
            index += 1
            delay = start + index * self.rtp_packet_duration - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
        self._sender = None
        self.on_audio_sent()

    def _send_frame(self, frame: FloatArray, *, marker: bool) -> None:
        assert self.codec.payload_type is not None
        packet = RTPPacket(
            marker=marker,
            payload_type=self.codec.payload_type,
            sequence_number=self._sequence_number,
            timestamp=self._timestamp,
            ssrc=self.ssrc,
            payload=self._encoder.encode(frame),
        )
        self.send_packet(packet)
        self._sequence_number = (self._sequence_number + 1) & 0xFFFF
        self._timestamp = (self._timestamp + self.codec.timestamp_increment) & 0xFFFFFFFF
        self._last_packet_time = asyncio.get_running_loop().time()

    def close(self) -> None:
        """Stop sending and receiving."""
        self.cancel_outbound_audio()
        super().close()

    # Helpers --------------------------------------------------------------------------------

    @staticmethod
    def rms(audio: FloatArray) -> float:
        """Root mean square of ``audio`` (0.0 for an empty array).

        >>> AudioCall.rms(np.full(160, 0.5, np.float32))
        0.5
        """
        if not len(audio):
            return 0.0
        return float(np.sqrt(np.dot(audio, audio) / len(audio)))

    @staticmethod
    def resample(audio: FloatArray, source_rate_hz: int, target_rate_hz: int) -> FloatArray:
        """Resample a whole signal (one shot, soxr HQ).

        >>> len(AudioCall.resample(np.zeros(4800, np.float32), 48000, 16000))
        1600
        """
        return resample(audio, source_rate_hz, target_rate_hz)


@dataclasses.dataclass(kw_only=True, eq=False)
class VoiceActivityCall(AudioCall):
    """An AudioCall that cuts the caller's audio into utterances by energy.

    A frame whose RMS reaches ``voice_rms_threshold`` is voice. An utterance
    starts at the first voiced frame (with ``pre_roll`` of audio before it, so
    soft onsets are kept) and ends after ``silence_gap`` seconds without voice.
    Utterances whose overall RMS stays below ``utterances_rms_threshold`` are
    dropped as noise; the others go to :meth:`voice_received`.

    Args:
        voice_rms_threshold: Frame RMS (full scale 1.0) that counts as voice.
        utterances_rms_threshold: Minimum RMS of a whole utterance.
        silence_gap: Seconds of silence that end an utterance.
        pre_roll: Seconds of audio kept before the first voiced frame.
        minimum_utterance: Utterances shorter than this (voice only) are dropped.
    """

    voice_rms_threshold: float = 0.01
    utterances_rms_threshold: float = 0.005
    silence_gap: float = 0.5
    pre_roll: float = 0.1
    minimum_utterance: float = 0.06

    def __post_init__(self) -> None:
        super().__post_init__()
        self._utterance: list[FloatArray] = []
        self._history: list[FloatArray] = []
        self._silent_frames = 0
        self._voiced_frames = 0

    @property
    def in_utterance(self) -> bool:
        """True while the caller is speaking (or within ``silence_gap`` after)."""
        return bool(self._utterance)

    def audio_received(self, *, audio: FloatArray, rms: float) -> None:
        voiced = rms >= self.voice_rms_threshold
        if not self._utterance:
            if not voiced:
                self._history.append(audio)
                keep = max(0, round(self.pre_roll / self.rtp_packet_duration))
                del self._history[: max(0, len(self._history) - keep)]
                return
            self._utterance = [*self._history, audio]
            self._history = []
            self._silent_frames = 0
            self._voiced_frames = 1
            self.voice_started()
            return
        self._utterance.append(audio)
        if voiced:
            self._silent_frames = 0
            self._voiced_frames += 1
            return
        self._silent_frames += 1
        if self._silent_frames * self.rtp_packet_duration >= self.silence_gap:
            self._end_utterance()

    def _end_utterance(self) -> None:
        frames = self._utterance[: len(self._utterance) - self._silent_frames]
        voiced_frames = self._voiced_frames
        self._utterance = []
        self._silent_frames = self._voiced_frames = 0
        if voiced_frames * self.rtp_packet_duration < self.minimum_utterance:
            return
        utterance = np.concatenate(frames)
        if self.rms(utterance) < self.utterances_rms_threshold:
            return
        self.voice_received(utterance)

    def voice_started(self) -> None:
        """Called when the caller starts speaking (barge-in starts here). Override it."""

    def voice_received(self, audio: FloatArray) -> None:
        """Called with each whole utterance (float32 at ``sampling_rate_hz``). Override it."""


@dataclasses.dataclass(kw_only=True, eq=False)
class EchoCall(VoiceActivityCall):
    """Sends every utterance back to the caller once it is complete."""

    def voice_received(self, audio: FloatArray) -> None:
        self.send_audio(audio)
