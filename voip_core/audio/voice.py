"""VoiceActivityCall and EchoCall: the caller's audio cut into utterances by energy."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import ClassVar

import numpy as np

from voip_core.audio.call import AudioCall
from voip_core.codecs.base import FloatArray

__all__ = ["EchoCall", "VoiceActivityCall"]

logger = logging.getLogger(__name__)


@dataclasses.dataclass(kw_only=True, eq=False, repr=False)
class VoiceActivityCall(AudioCall):
    """An AudioCall that cuts the caller's audio into utterances by energy.

    A frame whose RMS reaches ``voice_rms_threshold`` is voice. An utterance
    starts at the first voiced frame (with ``pre_roll`` of audio before it, so
    soft onsets are kept) and ends after ``silence_gap`` seconds without voice,
    whether silent frames arrive or the remote stops sending (DTX, silence
    suppression, hold): a timer on the event loop ends it then. Trailing
    silence beyond ``post_roll`` is cut. Utterances whose overall RMS stays
    below ``utterances_rms_threshold``, or with less than ``minimum_utterance``
    of voice, are dropped as noise; the others go to :meth:`voice_received`.
    An utterance longer than ``max_utterance`` is delivered in parts.

    Args:
        voice_rms_threshold: Frame RMS (full scale 1.0) that counts as voice.
        utterances_rms_threshold: Minimum RMS of a whole utterance.
        silence_gap: Seconds of silence that end an utterance.
        pre_roll: Seconds of audio kept before the first voiced frame.
        post_roll: Seconds of silence kept after the last voiced frame.
        minimum_utterance: Utterances with less voice than this are dropped.
        max_utterance: Longest utterance, in seconds, before it is delivered.

    Example: the utterances of a call whose frames are fed by hand:

        >>> import asyncio
        >>> from voip_core import RealtimeTransportProtocol
        >>> from voip_core.codecs import PCMU
        >>> from voip_core.sdp import MediaDescription
        >>> class Utterances(VoiceActivityCall):
        ...     supported_codecs = (PCMU,)
        ...     def voice_received(self, audio):
        ...         print(f"utterance of {len(audio) / self.sampling_rate_hz:.2f} s")
        >>> async def main():
        ...     rtp = await RealtimeTransportProtocol.bind()
        ...     pcmu = [PCMU.media_format()]
        ...     media = MediaDescription.for_formats(pcmu, port=9, address="127.0.0.1")
        ...     call = Utterances(rtp=rtp, media=media, silence_gap=0.1)
        ...     voice, quiet = np.full(320, 0.1, np.float32), np.zeros(320, np.float32)
        ...     for frame in [voice] * 25 + [quiet] * 10:  # 0.5 s of voice, then silence
        ...         call.audio_received(audio=frame, rms=call.rms(frame))
        ...         await asyncio.sleep(0.02)
        ...     call.close()
        ...     rtp.close()
        >>> asyncio.run(main())
        utterance of 0.54 s
    """

    voice_rms_threshold: float = 0.01
    utterances_rms_threshold: float = 0.005
    silence_gap: float = 0.5
    pre_roll: float = 0.1
    post_roll: float = 0.04
    minimum_utterance: float = 0.06
    max_utterance: float = 30.0

    def __post_init__(self) -> None:
        super().__post_init__()
        self._utterance: list[FloatArray] = []
        self._history: list[FloatArray] = []
        self._silent_frames = 0
        self._voiced_frames = 0
        self._last_frame_time = 0.0
        self._silence_timer: asyncio.TimerHandle | None = None

    @property
    def in_utterance(self) -> bool:
        """True while the caller is speaking (or within ``silence_gap`` after)."""
        return bool(self._utterance)

    @property
    def voiced_duration(self) -> float:
        """Seconds of voice in the utterance in progress (0.0 outside one).

        Barge-in waits for this to pass a threshold, so a cough does not
        interrupt whoever speaks to the caller.
        """
        return self._voiced_frames * self.rtp_packet_duration if self._utterance else 0.0

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
            self._watch_for_silence()
            self.voice_started()
            return
        self._utterance.append(audio)
        self._watch_for_silence()
        if voiced:
            self._silent_frames = 0
            self._voiced_frames += 1
            if len(self._utterance) * self.rtp_packet_duration >= self.max_utterance:
                self._end_utterance()
            return
        self._silent_frames += 1
        if self._silent_frames * self.rtp_packet_duration >= self.silence_gap:
            self._end_utterance()

    def _watch_for_silence(self) -> None:
        """Arm the timer that ends the utterance when frames stop arriving."""
        loop = self._loop
        if loop is None:
            return
        self._last_frame_time = loop.time()
        if self._silence_timer is None:
            self._silence_timer = loop.call_later(self.silence_gap, self._silence_timeout)

    def _silence_timeout(self) -> None:
        assert self._loop is not None
        self._silence_timer = None
        if not self._utterance:
            return
        waited = self._loop.time() - self._last_frame_time
        if waited < self.silence_gap:
            self._silence_timer = self._loop.call_later(
                self.silence_gap - waited, self._silence_timeout
            )
            return
        # No audio for silence_gap: what the resampler holds is the end of it.
        self.flush_inbound()
        if self._utterance:
            self._end_utterance()

    def _end_utterance(self) -> None:
        keep_silent = min(self._silent_frames, round(self.post_roll / self.rtp_packet_duration))
        frames = self._utterance[: len(self._utterance) - self._silent_frames + keep_silent]
        voiced_frames = self._voiced_frames
        self._utterance = []
        self._silent_frames = self._voiced_frames = 0
        if self._silence_timer is not None:
            self._silence_timer.cancel()
            self._silence_timer = None
        if voiced_frames * self.rtp_packet_duration < self.minimum_utterance:
            return
        utterance = np.concatenate(frames)
        if self.rms(utterance) < self.utterances_rms_threshold:
            return
        self.voice_received(utterance)

    def close(self) -> None:
        """Deliver an utterance in progress, then stop the media."""
        if not self.closed.is_set() and getattr(self, "_utterance", None):
            self._end_utterance()
        super().close()

    def voice_started(self) -> None:
        """Called when the caller starts speaking (barge-in starts here). Override it."""

    def voice_received(self, audio: FloatArray) -> None:
        """Called with each whole utterance (float32 at ``sampling_rate_hz``). Override it."""


@dataclasses.dataclass(kw_only=True, eq=False, repr=False)
class EchoCall(VoiceActivityCall):
    """Sends every utterance back to the caller once it is complete.

    It hears and speaks at the codec's own rate (:attr:`~AudioCall.use_codec_rate`):
    what goes back is what came in, without resampling it twice.

    The app ``voip serve --app echo`` answers with; a subclass can change what
    goes back:

    >>> class LouderEcho(EchoCall):
    ...     def voice_received(self, audio):
    ...         self.send_audio(np.clip(audio * 2, -1.0, 1.0))
    >>> LouderEcho.silence_gap, LouderEcho.use_codec_rate
    (0.5, True)
    """

    use_codec_rate: ClassVar[bool] = True

    def voice_received(self, audio: FloatArray) -> None:
        self.send_audio(audio)
