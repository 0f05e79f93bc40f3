"""SayCall: dial, speak a text, hang up; and the TTS settings every speaking call shares."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from voip_agent.speech import SpeechOutput
from voip_agent.text import SpeakableChunker
from voip_core.audio import AudioCall

if TYPE_CHECKING:
    from voip_core.backends import TTSBackend

__all__ = ["SayCall", "SpeakingCall"]

logger = logging.getLogger(__name__)


@dataclasses.dataclass(kw_only=True, eq=False, repr=False)
class SpeakingCall(AudioCall):
    """An AudioCall with a TTS backend (made once per call through the ``voip_tts`` hook).

    The backend and its options are class attributes (:attr:`default_tts`,
    :attr:`default_tts_options`) that a subclass sets, or per-call arguments
    that win over them. The model behind a backend is loaded once per
    process and shared (the backend's business).

    Args:
        tts: Name of the TTS backend (default :attr:`default_tts`).
        tts_options: Options for it (default :attr:`default_tts_options`).
        voice: The voice (``tts_options["voice"]``): for pocket-tts a voice
            name, a WAV file to clone or an audio tensor; for espeak a voice name.
    """

    #: The TTS backend of every call of this class (a name the ``voip_tts`` hook knows).
    default_tts: ClassVar[str] = "pocket-tts"
    #: Options for that backend.
    default_tts_options: ClassVar[Mapping[str, Any]] = {}

    tts: str | None = None
    tts_options: Mapping[str, Any] | None = None
    voice: Any = None

    def __post_init__(self) -> None:
        self.tts = self.tts if self.tts is not None else self.default_tts
        given = self.tts_options
        options = dict(given if given is not None else self.default_tts_options)
        if self.voice is not None:
            options["voice"] = self.voice
        self.tts_options = options
        #: The TTS backend, made once for the call.
        self.tts_backend: TTSBackend = self.make_tts_backend()
        self._speech: SpeechOutput | None = None
        super().__post_init__()

    def make_tts_backend(self) -> TTSBackend:
        """The call's TTS backend; by default from the ``voip_tts`` hook. Override to inject one.

        Raises:
            PluginError: No plugin makes a backend of that name, or it refused the options.
        """
        from voip_core.plugins import tts_backend

        assert self.tts is not None and self.tts_options is not None
        return tts_backend(self.tts, **self.tts_options)

    def speech_output(self) -> SpeechOutput:
        """A new stretch of speech into this call (it is told when the audio has been sent)."""
        self._speech = SpeechOutput(self, self.tts_backend)
        return self._speech

    def on_audio_sent(self) -> None:
        if self._speech is not None:
            self._speech.audio_sent()
        super().on_audio_sent()


@dataclasses.dataclass(kw_only=True, eq=False, repr=False)
class SayCall(SpeakingCall):
    """Speaks ``text`` as soon as the call starts, then hangs up.

    Sentence by sentence: the first is synthesised and on its way while the
    next are still being made. ``voip call URI --say TEXT`` uses it.

    Args:
        text: What to say.
        hang_up_after: Hang up once it has been said (default True).

    Example:
        >>> SayCall.default_tts
        'pocket-tts'
    """

    text: str = ""
    hang_up_after: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        #: Seconds of speech sent, once said.
        self.said = 0.0
        #: The task speaking the text (None without a running event loop).
        self.saying: asyncio.Task[None] | None = None
        if self._loop is not None:
            self.saying = self._loop.create_task(self._say(), name=f"say of {self!r}")

    async def _say(self) -> None:
        speech = self.speech_output()
        chunker = SpeakableChunker()
        try:
            for piece in [*chunker.feed(self.text), *chunker.flush()]:
                await speech.speak(piece)
            await speech.wait_sent()
        except Exception as error:
            logger.error("%r: speaking failed: %s", self, error)
        self.said = speech.heard
        if self.hang_up_after and not self.closed.is_set():
            self.hang_up()

    def close(self) -> None:
        saying = getattr(self, "saying", None)
        if saying is not None and asyncio.current_task() is not saying:
            saying.cancel()
        super().close()
