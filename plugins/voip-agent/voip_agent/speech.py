"""Speaking into a call: TTS audio streamed to the call as it is made, and what was heard."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from voip_core.resample import Resampler

if TYPE_CHECKING:
    from voip_core.audio import AudioCall
    from voip_core.backends import TTSBackend

__all__ = ["SpeechOutput", "SpokenPiece", "closing"]

logger = logging.getLogger(__name__)

T = TypeVar("T")


@contextlib.asynccontextmanager
async def closing(stream: AsyncIterator[T]) -> AsyncIterator[AsyncIterator[T]]:
    """``stream``, closed on the way out (at once when cancelled) if it can be.

    A backend's async generator then stops its work (an HTTP stream, a
    synthesis thread) when its consumer stops, not when it is collected.
    """
    try:
        yield stream
    finally:
        close = getattr(stream, "aclose", None)
        if close is not None:
            await close()


@dataclasses.dataclass(slots=True)
class SpokenPiece:
    """A piece of text and where its audio lies in the speech (seconds from its start)."""

    text: str
    start: float
    end: float


class SpeechOutput:
    """One stretch of speech into a call: text pieces in, audio queued as it is made.

    Each piece goes to the TTS backend; every chunk it yields is resampled
    to the call's ``sampling_rate_hz`` (with one streaming resampler, so the
    chunk edges leave no seams) and queued with ``call.send_audio`` at once,
    so the caller hears the first words while the rest is still being made.
    It counts the seconds of audio each piece took, so that when the speech
    is cut short (barge-in) :meth:`heard_text` says what the caller heard.

    Args:
        call: The call to speak into.
        tts: The TTS backend.
    """

    def __init__(self, call: AudioCall, tts: TTSBackend) -> None:
        self.call = call
        self.tts = tts
        self.pieces: list[SpokenPiece] = []
        #: Seconds of audio queued so far.
        self.queued = 0.0
        self._rate = call.sampling_rate_hz
        self._loop = asyncio.get_running_loop()
        self._sent = asyncio.Event()
        #: When the first audio was queued, and when it goes out (event loop clock).
        self.first_audio_queued_at: float | None = None
        self.first_audio_at: float | None = None
        #: Seconds from each of the first piece's synthesis start to its first audio.
        self.time_to_first_audio: float | None = None

    async def speak(self, text: str) -> None:
        """Synthesise ``text`` and queue its audio chunk by chunk as it comes.

        Raises:
            Exception: What the TTS backend raised (the audio already queued stays).
        """
        if not text.strip():
            return
        started = self._loop.time()
        resampler: Resampler | None = None
        piece = SpokenPiece(text, self.queued, self.queued)
        self.pieces.append(piece)
        # Closed at once when cancelled, so the synthesis stops (barge-in).
        async with closing(self.tts.synthesize(text)) as chunks:
            async for chunk in chunks:
                samples = np.asarray(chunk, dtype=np.float32).reshape(-1)
                if not len(samples):
                    continue
                if resampler is None:
                    resampler = Resampler(self.tts.sample_rate, self._rate)
                resampler.push(samples)
                self._queue(resampler.fifo.pop_all(), started)
                piece.end = self.queued
        if resampler is not None:
            self._queue(resampler.flush(), started)
            piece.end = self.queued

    def _queue(self, audio: np.typing.NDArray[np.float32], started: float) -> None:
        if not len(audio):
            return
        now = self._loop.time()
        if self.first_audio_queued_at is None:
            self.first_audio_queued_at = now
            # What is queued ahead goes first [it drains at one second per second].
            self.first_audio_at = now + self.call.outbound_queued
            self.time_to_first_audio = now - started
        self.call.send_audio(audio)
        self.queued += len(audio) / self._rate

    @property
    def heard(self) -> float:
        """Seconds of this speech sent to the caller so far."""
        # This speech's audio is the tail of what the call has queued.
        return self.queued - min(self.queued, self.call.outbound_queued)

    def heard_text(self, heard: float | None = None) -> str:
        """The text of the speech up to ``heard`` seconds (default: :attr:`heard`).

        Whole pieces up to there, and of the piece cut in two the words whose
        share of its audio was sent (speech runs at a steady enough pace).
        """
        seconds = self.heard if heard is None else heard
        spoken = []
        for piece in self.pieces:
            if piece.end == piece.start:
                continue  # no audio came for it (the TTS failed): not heard
            if piece.end <= seconds:
                spoken.append(piece.text)
                continue
            if piece.start < seconds < piece.end:
                words = piece.text.split()
                share = (seconds - piece.start) / (piece.end - piece.start)
                count = int(len(words) * share)
                if count:
                    spoken.append(" ".join(words[:count]))
            break
        return " ".join(spoken)

    @property
    def text(self) -> str:
        """Everything spoken or queued to be spoken."""
        return " ".join(piece.text for piece in self.pieces)

    def audio_sent(self) -> None:
        """The call's ``on_audio_sent``: everything queued went out."""
        self._sent.set()

    async def wait_sent(self) -> None:
        """Wait until all the audio queued so far has been sent."""
        while self.call.outbound_queued > 0 or self.call.sending:
            self._sent.clear()
            await self._sent.wait()
