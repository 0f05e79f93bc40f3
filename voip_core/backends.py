"""Backend contracts for speech-to-text, text-to-speech and language models.

Backends are plain objects that a plugin returns from the ``voip_stt``,
``voip_tts`` and ``voip_llm`` hooks (see :mod:`voip_core.plugins`). pluggy
hooks are synchronous, so the hooks only *make* backends; the work happens in
the async methods below. Everything is streaming first: an LLM yields text
deltas as they are generated, a TTS yields audio chunks as soon as they
exist. Heavy models are loaded once per process, lazily, and shared by all
calls that use the backend.

These are :class:`typing.Protocol` classes: a backend needs no base class,
only the methods.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

__all__ = [
    "BackendInfo",
    "ChatMessage",
    "LLMBackend",
    "STTBackend",
    "StreamingSTTBackend",
    "TTSBackend",
    "Transcript",
]

FloatArray = npt.NDArray[np.float32]
BackendKind = Literal["stt", "tts", "llm"]


@dataclass(slots=True, frozen=True, kw_only=True)
class BackendInfo:
    """What a plugin announces through ``voip_backends`` (for ``voip plugins``)."""

    kind: BackendKind
    name: str
    description: str = ""


@dataclass(slots=True, frozen=True, kw_only=True)
class ChatMessage:
    """One message of a chat history, as LLM APIs take it."""

    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(slots=True, frozen=True, kw_only=True)
class Transcript:
    """A piece of recognised speech from a streaming STT backend."""

    text: str
    final: bool = True
    language: str | None = None
    extra: dict[str, object] = field(default_factory=dict)


@runtime_checkable
class STTBackend(Protocol):
    """Speech to text, one utterance at a time (behind a VAD)."""

    async def transcribe(self, audio: FloatArray, sample_rate: int) -> str:
        """The text spoken in ``audio`` (float32 mono), stripped; ``""`` for none."""
        ...


@runtime_checkable
class StreamingSTTBackend(Protocol):
    """Speech to text for engines that recognise while audio still arrives."""

    def stream(self, sample_rate: int) -> STTStream:
        """A new recognition stream for one call."""
        ...


class STTStream(Protocol):
    """One streaming recognition: push audio, read transcripts."""

    def push_audio(self, audio: FloatArray) -> None:
        """Add audio (float32 mono at the stream's sample rate)."""
        ...

    def flush(self) -> None:
        """Mark the end of an utterance: the engine finalises what it has."""
        ...

    def end_input(self) -> None:
        """No more audio will come; iteration ends after the last transcript."""
        ...

    def __aiter__(self) -> AsyncIterator[Transcript]:
        """Transcripts, interim (``final=False``) and final."""
        ...


@runtime_checkable
class TTSBackend(Protocol):
    """Text to speech, streamed."""

    @property
    def sample_rate(self) -> int:
        """Sample rate of the audio chunks this backend yields."""
        ...

    def synthesize(self, text: str) -> AsyncIterator[FloatArray]:
        """Audio for ``text`` (float32 mono chunks), each yielded as soon as it exists."""
        ...


@runtime_checkable
class LLMBackend(Protocol):
    """A chat language model, streamed."""

    def chat(self, messages: Sequence[ChatMessage]) -> AsyncIterator[str]:
        """The assistant's reply to ``messages``, as text deltas."""
        ...
