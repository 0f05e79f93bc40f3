"""TranscribeCall: what the caller says, as text, utterance by utterance."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from voip_core.audio import VoiceActivityCall
from voip_core.errors import PluginError

if TYPE_CHECKING:
    from voip_core.backends import STTBackend
    from voip_core.codecs.base import FloatArray
    from voip_whisper.vad import SileroModel, SileroVoiceDetector

__all__ = ["VAD_KINDS", "TranscribeCall", "Utterance"]

logger = logging.getLogger(__name__)

#: The voice activity detectors a call can use.
VAD_KINDS = ("energy", "silero")


@dataclasses.dataclass(slots=True, kw_only=True)
class Utterance:
    """One utterance of the caller and its transcription's timing (event loop clock).

    Attributes:
        number: 1 for the call's first utterance, and so on.
        ended_at: When the endpointer ended it (``silence_gap`` after the speech).
        speech_ended_at: When the caller stopped speaking: ``ended_at - silence_gap``.
        transcribed_at: When the STT backend returned its text.
        text: The stripped text ("" until transcribed).
    """

    number: int
    ended_at: float
    speech_ended_at: float
    transcribed_at: float = 0.0
    text: str = ""

    @property
    def stt_seconds(self) -> float:
        """Time the STT backend took (including waiting for a worker)."""
        return self.transcribed_at - self.ended_at


@dataclasses.dataclass(kw_only=True, eq=False, repr=False)
class TranscribeCall(VoiceActivityCall):
    """Transcribes every utterance of the caller with an STT backend.

    :class:`~voip_core.audio.VoiceActivityCall` cuts the caller's audio into
    utterances; each whole utterance goes to the STT backend (made once per
    call through the ``voip_stt`` hook, so any plugin's backend can serve),
    and :meth:`transcription_received` gets the stripped text of each, in
    the order they were spoken, even when a later one is transcribed first.
    Empty transcriptions are skipped. A backend that fails is logged (once
    per kind of error, per call) and the call goes on.

    The backend, its options and the voice detector are class attributes
    (:attr:`default_stt`, :attr:`default_stt_options`, :attr:`default_vad`)
    that a subclass sets, or per-call arguments (``stt``, ``stt_options``,
    ``vad``) that win over them.

    With ``vad="silero"`` the frames are judged voice or not by the Silero VAD
    network that faster-whisper ships (no download), instead of by their
    energy; the utterance logic (``silence_gap``, ``pre_roll``, ...) stays.
    Until the network is loaded (in a thread, at the start of the call) the
    energy threshold judges.

    Args:
        stt: Name of the STT backend (default :attr:`default_stt`).
        stt_options: Options for it (default :attr:`default_stt_options`).
        vad: ``"energy"`` or ``"silero"`` (default :attr:`default_vad`).
        silero_threshold: Speech probability from which a Silero window is voice.

    Example: print what callers say, with a smaller model:

        >>> class Printer(TranscribeCall):
        ...     default_stt_options = {"model": "small", "language": "en"}
        ...
        ...     def transcription_received(self, text):
        ...         print(self.caller, text)
        >>> Printer.default_stt, Printer.default_vad
        ('whisper', 'energy')
    """

    #: The STT backend of every call of this class (a name the ``voip_stt`` hook knows).
    default_stt: ClassVar[str] = "whisper"
    #: Options for that backend (``{"model": "small", "language": "de"}``).
    default_stt_options: ClassVar[Mapping[str, Any]] = {}
    #: ``"energy"`` (RMS threshold) or ``"silero"`` (neural network).
    default_vad: ClassVar[str] = "energy"

    stt: str | None = None
    stt_options: Mapping[str, Any] | None = None
    vad: str | None = None
    silero_threshold: float = 0.5

    def __post_init__(self) -> None:
        # The backend first: a call that cannot have one starts no media at all.
        self.stt = self.stt if self.stt is not None else self.default_stt
        self.stt_options = dict(
            self.stt_options if self.stt_options is not None else self.default_stt_options
        )
        self.vad = self.vad if self.vad is not None else self.default_vad
        if self.vad not in VAD_KINDS:
            raise ValueError(f"vad={self.vad!r}: one of {', '.join(VAD_KINDS)}")
        if self.vad == "silero" and self.sampling_rate_hz != 16000:
            raise ValueError(
                f"vad='silero' needs sampling_rate_hz=16000, not {self.sampling_rate_hz}"
            )
        #: The STT backend, made once for the call.
        self.stt_backend: STTBackend = self.make_stt_backend()
        self._transcriptions: collections.deque[asyncio.Future[Utterance]] = collections.deque()
        #: The utterance whose text :meth:`transcription_received` is being given.
        self.last_utterance: Utterance | None = None
        self._errors_seen: dict[type[BaseException], int] = {}
        #: Utterances handed to the backend, and transcriptions delivered.
        self.utterances = 0
        self.transcriptions = 0
        self._detector: SileroVoiceDetector | None = None
        self._silero_loading: asyncio.Future[SileroModel] | None = None
        super().__post_init__()
        if self.vad == "silero":
            self._start_silero()

    def make_stt_backend(self) -> STTBackend:
        """The call's STT backend; by default from the ``voip_stt`` hook. Override to inject one.

        Raises:
            PluginError: No plugin makes a backend of that name, or it refused the options.
        """
        from voip_core.plugins import stt_backend

        assert self.stt is not None and self.stt_options is not None
        return stt_backend(self.stt, **self.stt_options)

    # Voice activity -----------------------------------------------------------------------

    def _start_silero(self) -> None:
        from voip_whisper import vad

        model = vad.silero_model_if_loaded()
        if model is None and self._loop is None:  # no running loop (a call made by hand)
            model = vad.silero_model()
        if model is not None:
            self._detector = vad.SileroVoiceDetector(model, threshold=self.silero_threshold)
            return
        assert self._loop is not None
        loading = self._loop.run_in_executor(None, vad.silero_model)  # ~0.1 s: off the loop
        self._silero_loading = loading
        loading.add_done_callback(self._silero_loaded)

    def _silero_loaded(self, loading: asyncio.Future[SileroModel]) -> None:
        self._silero_loading = None
        if loading.cancelled():
            return
        error = loading.exception()
        if error is not None:
            logger.error("%r: no Silero VAD (%s); the energy threshold judges", self, error)
            return
        from voip_whisper.vad import SileroVoiceDetector

        self._detector = SileroVoiceDetector(loading.result(), threshold=self.silero_threshold)

    async def wait_vad_ready(self) -> None:
        """Wait until the Silero VAD is loaded, or failed to load (then energy judges).

        Returns at once with the energy VAD, or when the model was loaded already.
        """
        loading = self._silero_loading
        if loading is not None:
            with contextlib.suppress(Exception):  # logged by _silero_loaded
                await asyncio.shield(loading)

    def audio_received(self, *, audio: FloatArray, rms: float) -> None:
        """Judge the frame by the Silero VAD when it is on, then cut utterances as usual.

        The Silero decision reaches :class:`VoiceActivityCall` as ``rms``: a
        voiced frame's RMS is raised to ``voice_rms_threshold`` if below it,
        an unvoiced frame's lowered to just under it.
        """
        detector = self._detector
        if detector is not None:
            threshold = self.voice_rms_threshold
            if detector.voiced(audio):
                rms = max(rms, threshold)
            elif rms >= threshold:
                rms = float(np.nextafter(np.float32(threshold), np.float32(0.0)))
        super().audio_received(audio=audio, rms=rms)

    # Transcription ------------------------------------------------------------------------

    def voice_received(self, audio: FloatArray) -> None:
        """Send the utterance to the STT backend; its text goes to :meth:`transcription_received`.

        Runs concurrently with earlier utterances still being transcribed.
        """
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        self.utterances += 1
        now = loop.time()
        utterance = Utterance(
            number=self.utterances, ended_at=now, speech_ended_at=now - self.silence_gap
        )
        future = loop.create_task(
            self._transcribe(utterance, audio),
            name=f"transcribe utterance {self.utterances} of {self!r}",
        )
        self._transcriptions.append(future)
        future.add_done_callback(self._deliver_ready)

    async def _transcribe(self, utterance: Utterance, audio: FloatArray) -> Utterance:
        text = await self.stt_backend.transcribe(audio, self.sampling_rate_hz)
        utterance.transcribed_at = asyncio.get_running_loop().time()
        utterance.text = (text or "").strip()
        return utterance

    def _deliver_ready(self, _: asyncio.Future[Utterance]) -> None:
        """Deliver every transcription that is done and has no earlier one still pending."""
        pending = self._transcriptions
        while pending and pending[0].done():
            future = pending.popleft()
            if future.cancelled():
                continue
            error = future.exception()
            if error is not None:
                self._backend_failed(error)
                continue
            utterance = future.result()
            if not utterance.text:
                continue
            self.transcriptions += 1
            self.last_utterance = utterance
            try:
                self.transcription_received(utterance.text)
            except Exception:
                logger.exception("%r: transcription_received failed", self)

    def _backend_failed(self, error: BaseException) -> None:
        kind = type(error)
        seen = self._errors_seen.get(kind, 0) + 1
        self._errors_seen[kind] = seen
        if seen == 1:
            logger.error(
                "%r: the STT backend %r failed on an utterance: %s%s",
                self,
                self.stt,
                f"{kind.__name__}: " if not isinstance(error, PluginError) else "",
                error,
                exc_info=error if not isinstance(error, PluginError) else None,
            )
        else:
            logger.debug("%r: STT failure %d of kind %s: %s", self, seen, kind.__name__, error)

    @property
    def backend_errors(self) -> dict[str, int]:
        """Failed utterances so far, by kind of error."""
        return {kind.__name__: count for kind, count in self._errors_seen.items()}

    @property
    def pending_transcriptions(self) -> int:
        """Utterances whose text has not been delivered yet."""
        return len(self._transcriptions)

    async def wait_transcribed(self) -> None:
        """Wait until every utterance so far has been transcribed and delivered."""
        while self._transcriptions:
            await asyncio.wait(list(self._transcriptions))
            await asyncio.sleep(0)  # their done callbacks deliver

    def transcription_received(self, text: str) -> None:
        """Called with the stripped text of each utterance, in order. Override it."""
        logger.debug("%r: transcribed %r", self, text)

    def close(self) -> None:
        """End the call; utterances already sent to the backend are still transcribed."""
        loading = getattr(self, "_silero_loading", None)
        if loading is not None:
            loading.remove_done_callback(self._silero_loaded)
            self._silero_loading = None
        super().close()
