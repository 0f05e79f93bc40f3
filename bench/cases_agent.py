"""Benchmark cases for voip-agent: the chunker, and AgentCall's own delay in a turn.

``CASES``
    ``agent: speakable chunker per delta``: :meth:`SpeakableChunker.feed` of
    one LLM delta (a word and its space) of a 60-word reply with sentence and
    clause ends, the pieces it completes included.

``MEASURED``
    ``agent: overhead end of utterance -> first reply audio``: an AgentCall
    on a real RTP socket, fed 0.6 s of voice per turn by hand, with backends
    of fixed latency (STT 50 ms, LLM first delta after 100 ms and one every
    10 ms, the first a whole sentence; TTS first chunk after 30 ms), so every
    figure is the framework's:
    for each of 20 turns, the time the first reply audio was queued less the
    end of the utterance (when the endpointer fired) less the STT, LLM
    time-to-first-token and TTS time-to-first-audio as measured inside the
    backends. What is left: the reorder buffer, the task hand-offs, the
    chunker, resampling and queueing (with word-by-word deltas, the time the
    model takes to write the first piece comes on top: a property of the
    model, not counted here). ``median_us`` is its median; the notes
    carry p99 and max (``overhead_ms``) and the mean voice-to-voice.

Nothing is asserted.
"""

from __future__ import annotations

import asyncio
import importlib.util
import statistics
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import numpy as np

REPLY = (
    "Sure, we are open from nine in the morning until six in the evening, every day "
    "but Sunday. On public holidays, however, we close at noon; please call ahead if "
    "you plan to come late. Is there anything else I can help you with today, or "
    "would you like me to book an appointment for you?"
)

FIRST_SENTENCE = "Sure, we are open from nine to six."
STT_SECONDS = 0.05
LLM_FIRST_SECONDS = 0.1
LLM_EACH_SECONDS = 0.01
TTS_FIRST_SECONDS = 0.03


def _chunker_case() -> Callable[[], object]:
    from voip_agent.text import SpeakableChunker

    deltas = [word + " " for word in REPLY.split()]
    state = {"chunker": SpeakableChunker(), "index": 0}

    def feed_one() -> object:
        index = state["index"]
        if index == len(deltas):
            state["chunker"], index = SpeakableChunker(), 0
        state["index"] = index + 1
        return state["chunker"].feed(deltas[index])  # type: ignore[attr-defined]

    return feed_one


class _FixedSTT:
    def __init__(self) -> None:
        self.times: list[float] = []

    async def transcribe(self, audio: Any, sample_rate: int) -> str:
        await asyncio.sleep(STT_SECONDS)
        return "When are you open?"


class _FixedLLM:
    async def chat(self, messages: Sequence[Any]) -> AsyncIterator[str]:
        # The first delta is a whole sentence: the chunker hands it on at once, so what
        # the model takes to write a first piece is not counted as overhead.
        await asyncio.sleep(LLM_FIRST_SECONDS)
        yield FIRST_SENTENCE + " "
        for word in REPLY.split():
            await asyncio.sleep(LLM_EACH_SECONDS)
            yield word + " "


class _FixedTTS:
    sample_rate = 24000

    async def synthesize(self, text: str) -> AsyncIterator[np.ndarray]:
        await asyncio.sleep(TTS_FIRST_SECONDS)
        seconds = 0.06 * len(text.split())
        chunk = np.full(2400, 0.05, np.float32)  # 0.1 s chunks
        for _ in range(max(1, round(seconds / 0.1))):
            yield chunk
            await asyncio.sleep(0)


async def _turns(count: int) -> dict[str, Any]:
    from voip_agent.agent import AgentCall

    from voip_core import RealtimeTransportProtocol
    from voip_core.codecs import PCMU
    from voip_core.sdp import MediaDescription

    class Timed(AgentCall):
        supported_codecs = (PCMU,)

        def make_stt_backend(self) -> Any:
            return _FixedSTT()

        def make_llm_backend(self) -> Any:
            return _FixedLLM()

        def make_tts_backend(self) -> Any:
            return _FixedTTS()

    rtp = await RealtimeTransportProtocol.bind()
    media = MediaDescription.for_formats([PCMU.media_format()], port=9, address="127.0.0.1")
    call = Timed(rtp=rtp, media=media, salutation="", silence_gap=0.3)
    voice = (0.1 * np.sin(np.arange(320) * 0.3)).astype(np.float32)
    overheads, voice_to_voice = [], []
    try:
        for _ in range(count):
            for _ in range(30):  # 0.6 s of voice, at the pace it would arrive
                call.audio_received(audio=voice, rms=call.rms(voice))
                await asyncio.sleep(0.02)
            turns = len(call.turns)
            speech = None
            while len(call.turns) == turns:
                await asyncio.sleep(0.01)
                speech = call._speech
            metrics = call.turns[-1]
            utterance = call.last_utterance
            assert speech is not None and utterance is not None
            assert speech.first_audio_queued_at is not None
            assert metrics.llm_time_to_first_token is not None
            assert metrics.tts_time_to_first_audio is not None and metrics.stt is not None
            overhead = (
                speech.first_audio_queued_at
                - utterance.ended_at
                - metrics.stt
                - metrics.llm_time_to_first_token
                - metrics.tts_time_to_first_audio
            )
            overheads.append(overhead)
            if metrics.voice_to_voice is not None:
                voice_to_voice.append(metrics.voice_to_voice)
            call.cancel_outbound_audio()
    finally:
        call.close()
        rtp.close()
    ordered = sorted(overheads)
    return {
        "median_us": statistics.median(overheads) * 1e6,
        "notes": {
            "turns": count,
            "overhead_ms": {
                "p50": round(statistics.median(overheads) * 1000, 2),
                "p99": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000, 2),
                "max": round(max(overheads) * 1000, 2),
            },
            "voice_to_voice_ms_mean": round(statistics.mean(voice_to_voice) * 1000, 1),
            "backends_ms": {
                "stt": STT_SECONDS * 1000,
                "llm_first": LLM_FIRST_SECONDS * 1000,
                "tts_first": TTS_FIRST_SECONDS * 1000,
            },
        },
    }


def _overhead() -> dict[str, Any]:
    return asyncio.run(_turns(20))


if importlib.util.find_spec("voip_agent") is not None:
    CASES: dict[str, Callable[[], object]] = {"agent: speakable chunker per delta": _chunker_case()}
    MEASURED: dict[str, Callable[[], dict[str, Any]]] = {
        "agent: overhead end of utterance -> first reply audio": _overhead,
    }
