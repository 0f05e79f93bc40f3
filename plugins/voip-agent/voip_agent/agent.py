"""AgentCall: a phone call with a language model, streamed from the caller's voice to ours."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from voip_whisper.call import TranscribeCall

from voip_agent.say import SpeakingCall
from voip_agent.speech import closing
from voip_agent.text import SpeakableChunker
from voip_core.backends import ChatMessage
from voip_core.errors import PluginError

if TYPE_CHECKING:
    from voip_agent.speech import SpeechOutput
    from voip_core.backends import LLMBackend
    from voip_core.codecs.base import FloatArray

__all__ = ["AgentCall", "TurnMetrics"]

logger = logging.getLogger(__name__)
#: One JSON line per turn (INFO): ``logging.getLogger("voip_agent.metrics")``.
metrics_logger = logging.getLogger("voip_agent.metrics")


@dataclasses.dataclass(slots=True, kw_only=True)
class TurnMetrics:
    """How one turn of the conversation went, as voice-agent frameworks report it.

    Times are seconds; None where that stage did not happen (no LLM for the
    salutation, no audio when the reply was cut off before any).

    Attributes:
        turn: 0 for the salutation, then 1, 2, ... for each reply.
        user_text: What the caller said ("" for the salutation).
        reply_text: What the caller heard of the reply.
        end_of_speech: Wall-clock time (UNIX seconds) the caller stopped speaking:
            when the endpointer ended the utterance, minus its silence window.
        stt: From the end of the utterance to its text.
        llm_time_to_first_token: From the request to the first text delta.
        llm_duration: From the request to the end of the reply's text.
        tts_time_to_first_audio: From the first piece's synthesis start to its first audio.
        voice_to_voice: From the end of the caller's speech to the first
            audio of the reply going out.
        interrupted: The caller cut the reply short (barge-in or a new utterance).
        error: What failed, if something did.
    """

    turn: int
    user_text: str = ""
    reply_text: str = ""
    end_of_speech: float | None = None
    stt: float | None = None
    llm_time_to_first_token: float | None = None
    llm_duration: float | None = None
    tts_time_to_first_audio: float | None = None
    voice_to_voice: float | None = None
    interrupted: bool = False
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The metrics as JSON-ready values (durations in milliseconds)."""
        result: dict[str, Any] = {"turn": self.turn}
        if self.end_of_speech is not None:
            result["end_of_speech"] = round(self.end_of_speech, 3)
        for name in (
            "stt",
            "llm_time_to_first_token",
            "llm_duration",
            "tts_time_to_first_audio",
            "voice_to_voice",
        ):
            value = getattr(self, name)
            result[f"{name}_ms"] = None if value is None else round(value * 1000, 1)
        result["interrupted"] = self.interrupted
        result["user"] = self.user_text
        result["agent"] = self.reply_text
        if self.error is not None:
            result["error"] = self.error
        return result


@dataclasses.dataclass(kw_only=True, eq=False, repr=False)
class AgentCall(SpeakingCall, TranscribeCall):
    """A voice agent: the caller speaks, a language model answers, a TTS voice says it.

    Each utterance is transcribed (:class:`~voip_whisper.TranscribeCall`),
    added to the chat history and sent to the LLM backend (``voip_llm``
    hook). The reply streams back as text deltas, which a
    :class:`~voip_agent.text.SpeakableChunker` cuts into pieces at sentence
    or clause ends; each piece goes to the TTS backend as soon as it is
    complete while the model goes on writing, and its audio is queued chunk
    by chunk. So the caller hears the first words about one LLM first token
    plus one TTS first chunk after the end of the question.

    Barge-in: when the caller speaks over the reply for longer than
    ``audio_interrupt_duration``, the outbound audio stops before the next
    packet and the LLM and TTS work is cancelled; the history then holds the
    part of the reply that was heard. A new utterance while a reply is being
    made or said also ends that reply. LLM failures are logged and the
    caller hears :attr:`apology`; the call goes on.

    After each turn, :meth:`turn_ended` gets its :class:`TurnMetrics`, which
    are logged as one JSON line on the ``voip_agent.metrics`` logger and
    kept in :attr:`turns`.

    Args:
        system_prompt: The system message that starts the chat.
        llm_model: The model (``llm_options["model"]``), e.g. ``"llama3.2"``.
        salutation: Said when the call starts ("" for nothing).
        audio_interrupt_duration: Seconds of caller speech that interrupt the reply.
        llm: Name of the LLM backend (default :attr:`default_llm`).
        llm_options: Options for it (default :attr:`default_llm_options`).

    Example:
        >>> class Receptionist(AgentCall):
        ...     default_tts = "espeak"
        ...     default_llm_options = {"model": "llama3.2", "temperature": 0.3}
        >>> Receptionist.default_llm, Receptionist.default_stt
        ('ollama', 'whisper')
    """

    #: The LLM backend of every call of this class (a name the ``voip_llm`` hook knows).
    default_llm: ClassVar[str] = "ollama"
    #: Options for that backend.
    default_llm_options: ClassVar[Mapping[str, Any]] = {}
    #: Said when the language model fails.
    apology: ClassVar[str] = "Sorry, I cannot answer that right now. Please try again later."

    system_prompt: str = (
        "You are a friendly assistant on a phone call. Answer in one to three short "
        "sentences of plain spoken language: no lists, no markdown, no emoji."
    )
    llm_model: str | None = None
    salutation: str = "Hello! How can I help you today?"
    audio_interrupt_duration: float = 0.4
    llm: str | None = None
    llm_options: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        self.llm = self.llm if self.llm is not None else self.default_llm
        given = self.llm_options
        options = dict(given if given is not None else self.default_llm_options)
        if self.llm_model is not None:
            options["model"] = self.llm_model
        self.llm_options = options
        #: The LLM backend, made once for the call.
        self.llm_backend: LLMBackend = self.make_llm_backend()
        #: The chat so far: the system prompt, then what was said and heard.
        self.messages: list[ChatMessage] = [ChatMessage(role="system", content=self.system_prompt)]
        #: Metrics of every finished turn.
        self.turns: list[TurnMetrics] = []
        self._reply: asyncio.Task[None] | None = None
        self._reply_metrics: TurnMetrics | None = None
        self._reply_speech_ended_at: float | None = None
        self._turn = 0
        super().__post_init__()
        if self.salutation and self._loop is not None:
            self._start_reply(TurnMetrics(turn=0), said=self.salutation)

    def make_llm_backend(self) -> LLMBackend:
        """The call's LLM backend; by default from the ``voip_llm`` hook. Override to inject one.

        Raises:
            PluginError: No plugin makes a backend of that name, or it refused the options.
        """
        from voip_core.plugins import llm_backend

        assert self.llm is not None and self.llm_options is not None
        return llm_backend(self.llm, **self.llm_options)

    # The caller's side ----------------------------------------------------------------------

    def audio_received(self, *, audio: FloatArray, rms: float) -> None:
        """Cut utterances (and transcribe them); interrupt the reply on long speech over it."""
        super().audio_received(audio=audio, rms=rms)
        if self._reply is not None and self.voiced_duration >= self.audio_interrupt_duration:
            self.interrupt("barge-in")

    def transcription_received(self, text: str) -> None:
        """A new utterance: end the reply in progress, answer this one."""
        self.interrupt("new utterance")
        utterance = self.last_utterance
        metrics = TurnMetrics(turn=self._turn + 1, user_text=text)
        if utterance is not None:
            metrics.stt = utterance.stt_seconds
            assert self._loop is not None
            metrics.end_of_speech = time.time() - (self._loop.time() - utterance.speech_ended_at)
        self.messages.append(ChatMessage(role="user", content=text))
        self._start_reply(metrics, speech_ended_at=utterance and utterance.speech_ended_at)

    # Our side ------------------------------------------------------------------------------

    @property
    def replying(self) -> bool:
        """True while a reply (or the salutation) is being made or said."""
        return self._reply is not None

    def _start_reply(
        self, metrics: TurnMetrics, *, said: str | None = None, speech_ended_at: float | None = None
    ) -> None:
        assert self._loop is not None
        self._turn = metrics.turn
        self._reply_metrics = metrics
        self._reply_speech_ended_at = speech_ended_at
        speech = self.speech_output()
        self._reply = self._loop.create_task(
            self._run_reply(speech, metrics, said),
            name=f"reply {metrics.turn} of {self!r}",
        )

    async def _run_reply(
        self, speech: SpeechOutput, metrics: TurnMetrics, said: str | None
    ) -> None:
        pieces: asyncio.Queue[str | None] = asyncio.Queue()
        try:
            if said is not None:
                chunker = SpeakableChunker()
                for piece in [*chunker.feed(said), *chunker.flush()]:
                    pieces.put_nowait(piece)
                pieces.put_nowait(None)
                await self._speak_pieces(speech, pieces, metrics)
            else:
                async with asyncio.TaskGroup() as group:
                    group.create_task(self._think(pieces, metrics))
                    group.create_task(self._speak_pieces(speech, pieces, metrics))
        except* PluginError as errors:
            metrics.error = str(errors.exceptions[0])
            logger.error("%r: turn %d failed: %s", self, metrics.turn, metrics.error)
        except* Exception as errors:
            error = errors.exceptions[0]
            metrics.error = f"{type(error).__name__}: {error}"
            logger.error("%r: turn %d failed", self, metrics.turn, exc_info=error)
        if metrics.error is not None and not speech.queued:
            try:
                await speech.speak(self.apology)
            except Exception as error:
                logger.error("%r: could not even apologise: %s", self, error)
        await speech.wait_sent()
        if asyncio.current_task() is self._reply:
            self._reply = None
            self._finish_turn(speech, metrics)

    async def _think(self, pieces: asyncio.Queue[str | None], metrics: TurnMetrics) -> None:
        """Stream the LLM's reply into speakable pieces."""
        assert self._loop is not None
        chunker = SpeakableChunker()
        asked = self._loop.time()
        try:
            # Closed at once when cancelled, so the model stops writing (barge-in).
            async with closing(self.llm_backend.chat(list(self.messages))) as deltas:
                async for delta in deltas:
                    if metrics.llm_time_to_first_token is None:
                        metrics.llm_time_to_first_token = self._loop.time() - asked
                    for piece in chunker.feed(delta):
                        pieces.put_nowait(piece)
            for piece in chunker.flush():
                pieces.put_nowait(piece)
            metrics.llm_duration = self._loop.time() - asked
        finally:
            pieces.put_nowait(None)

    async def _speak_pieces(
        self, speech: SpeechOutput, pieces: asyncio.Queue[str | None], metrics: TurnMetrics
    ) -> None:
        while (piece := await pieces.get()) is not None:
            await speech.speak(piece)
            if metrics.tts_time_to_first_audio is None:
                metrics.tts_time_to_first_audio = speech.time_to_first_audio

    def interrupt(self, reason: str = "interrupted") -> None:
        """Stop the reply in progress: its audio at the next packet, its LLM and TTS work now.

        The history keeps what the caller heard of it. Does nothing without one.
        """
        reply, speech, metrics = self._reply, self._speech, self._reply_metrics
        if reply is None or speech is None or metrics is None:
            return
        heard = speech.heard
        self.cancel_outbound_audio()
        self._reply = None
        reply.cancel()
        metrics.interrupted = True
        logger.info("%r: reply %d interrupted (%s) after %.2f s", self, metrics.turn, reason, heard)
        self._finish_turn(speech, metrics, heard=heard)

    def _finish_turn(
        self, speech: SpeechOutput, metrics: TurnMetrics, *, heard: float | None = None
    ) -> None:
        metrics.reply_text = speech.heard_text(heard)
        if metrics.reply_text:
            self.messages.append(ChatMessage(role="assistant", content=metrics.reply_text))
        speech_ended_at = self._reply_speech_ended_at
        if speech_ended_at is not None and speech.first_audio_at is not None:
            metrics.voice_to_voice = speech.first_audio_at - speech_ended_at
        self._reply_metrics = None
        self.turns.append(metrics)
        metrics_logger.info(json.dumps({"caller": self.caller, **metrics.as_dict()}))
        try:
            self.turn_ended(metrics)
        except Exception:
            logger.exception("%r: turn_ended failed", self)

    def turn_ended(self, metrics: TurnMetrics) -> None:
        """Called with the metrics of each finished turn (salutation included). Override it."""

    def close(self) -> None:
        """End the call: the reply in progress is cancelled."""
        reply = getattr(self, "_reply", None)
        if reply is not None and asyncio.current_task() is not reply:
            self.interrupt("call ended")
        super().close()
