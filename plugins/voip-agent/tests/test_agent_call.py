"""AgentCall end to end on loopback: a caller asks, the tiny Whisper model hears, the Ollama
stand-in answers through the real ollama client, espeak-ng speaks, the caller hears it.

The tiny programmed Whisper model transcribes any utterance as PROGRAMMED_TEXT; the LLM's
replies are scripted token by token, so the tests decide when every word is written.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.util
import json
import logging
from typing import Any, ClassVar

import numpy as np
import pytest
from agent_testing import ERROR, OllamaStandIn, script
from voip_agent import AgentCall, EspeakTTS, TurnMetrics
from whisper_testing import PROGRAMMED_TEXT, espeak, feed, hand_fed

from conftest import need
from voip_core import PluginError, plugins
from voip_core.audio import AudioCall
from voip_core.codecs import PCMU
from voip_core.plugins import hookimpl
from voip_core.sip.useragent import UserAgent

RATE = 16000
REPLY = "We are open from nine to five. On Saturdays we open at ten."


@pytest.fixture(autouse=True)
def _engines() -> None:
    need(importlib.util.find_spec("ollama") is not None, "pip install 'voip-agent[ollama]'")


@dataclasses.dataclass(kw_only=True, eq=False, repr=False)
class Agent(AgentCall):
    """An agent on the tiny model, espeak-ng and the stand-in; every call kept in ``calls``."""

    supported_codecs = (PCMU,)
    default_tts = "espeak"
    calls: ClassVar[list[Agent]] = []

    salutation: str = ""
    silence_gap: float = 0.3

    def __post_init__(self) -> None:
        super().__post_init__()
        self.interrupted_at: list[tuple[float, int]] = []
        type(self).calls.append(self)

    def interrupt(self, reason: str = "interrupted") -> None:
        if self.replying and self._loop is not None:
            self.interrupted_at.append((self._loop.time(), self.packets_sent))
        super().interrupt(reason)


def agent_class(tiny_models: Any, server: OllamaStandIn, **fields: Any) -> type[Agent]:
    """An Agent subclass of its own (own ``calls``) with the tiny model and the stand-in."""
    attributes = {
        "calls": [],
        "default_stt_options": {"model": str(tiny_models.programmed)},
        "default_llm_options": {"model": "llama3.2", "host": server.url},
    }
    cls = type("TestAgent", (Agent,), attributes)
    if fields:
        cls = dataclasses.make_dataclass(
            "TestAgent",
            [
                (name, type(value), dataclasses.field(default=value))
                for name, value in fields.items()
            ],
            bases=(cls,),
            kw_only=True,
            eq=False,
            repr=False,
        )
    return cls


class Caller(AudioCall):
    """Keeps what it hears, with the event-loop time each frame came."""

    supported_codecs = (PCMU,)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.heard: list[tuple[float, np.ndarray]] = []

    def audio_received(self, *, audio: np.ndarray, rms: float) -> None:
        assert self._loop is not None
        self.heard.append((self._loop.time(), audio))

    def heard_after(self, moment: float) -> np.ndarray:
        frames = [audio for at, audio in self.heard if at >= moment]
        return np.concatenate(frames) if frames else np.zeros(0, np.float32)


async def call_agent(app: type[Agent]) -> tuple[Agent, Caller, UserAgent, UserAgent]:
    callee = UserAgent(app=app)
    _, port = await callee.listen("127.0.0.1", 0)
    caller = UserAgent(app=Caller)
    await caller.listen("127.0.0.1", 0)
    dialog = await caller.dial(f"sip:agent@127.0.0.1:{port}", timeout=5)
    for _ in range(100):
        if app.calls:
            break
        await asyncio.sleep(0.01)
    return app.calls[0], dialog.session, callee, caller


async def wait_until(condition: Any, seconds: float, what: str) -> None:
    for _ in range(round(seconds / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


async def espeak_seconds(*texts: str) -> float:
    tts = EspeakTTS(sample_rate=RATE)
    total = 0
    for text in texts:
        total += sum([len(chunk) async for chunk in tts.synthesize(text)])
    return total / RATE


async def test_a_question_is_answered_while_the_model_still_writes(tiny_models, caplog):
    """Salutation, question, streamed answer; history, metrics line, and what the caller heard."""
    question = espeak("What are your opening hours?")
    first, second = REPLY.split(". ", 1)
    # The first sentence and the next word at once (the chunker needs to see what follows
    # a full stop), then the model stalls for 1.5 s.
    steps = [*script(first + ". On", first=0.05), *script(" " + second[3:], first=1.5)]
    with OllamaStandIn([steps]) as server:
        app = agent_class(tiny_models, server, salutation="Welcome to the shop.")
        caplog.set_level(logging.INFO, logger="voip_agent.metrics")
        agent, caller, callee_ua, caller_ua = await call_agent(app)
        try:
            await wait_until(lambda: agent.turns, 10, "the salutation")
            asked_at = asyncio.get_running_loop().time()
            caller.send_audio(question)
            await wait_until(lambda: len(agent.turns) == 2, 20, "the answer")
            await asyncio.sleep(0.2)  # the last packets on their way
        finally:
            caller.hang_up()
            caller_ua.close()
            callee_ua.close()

    salutation, turn = agent.turns
    assert salutation.turn == 0 and salutation.reply_text == "Welcome to the shop."
    assert turn.user_text == PROGRAMMED_TEXT and turn.reply_text == REPLY
    assert not turn.interrupted and turn.error is None
    # The model saw the system prompt, the greeting it had said, and the question.
    assert [(m["role"], m["content"]) for m in server.streams[0].body["messages"]] == [
        ("system", agent.system_prompt),
        ("assistant", "Welcome to the shop."),
        ("user", PROGRAMMED_TEXT),
    ]
    assert [(m.role, m.content) for m in agent.messages[-2:]] == [
        ("user", PROGRAMMED_TEXT),
        ("assistant", REPLY),
    ]
    # Streaming: the first sentence was on its way long before the model wrote the second.
    assert turn.stt is not None and turn.llm_duration is not None
    assert turn.llm_duration >= 1.5
    assert turn.voice_to_voice is not None
    assert 0 < turn.voice_to_voice < agent.silence_gap + turn.stt + turn.llm_duration - 1.0
    assert turn.llm_time_to_first_token is not None and turn.tts_time_to_first_audio is not None
    # One JSON line per turn, with every stage.
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "voip_agent.metrics"]
    assert [line["turn"] for line in lines] == [0, 1]
    assert lines[1]["caller"] == agent.caller and lines[1]["agent"] == REPLY
    for key in ("stt_ms", "llm_time_to_first_token_ms", "tts_time_to_first_audio_ms"):
        assert lines[1][key] > 0, key
    assert lines[1]["voice_to_voice_ms"] == pytest.approx(turn.voice_to_voice * 1000, abs=0.1)
    assert lines[1]["end_of_speech"] == pytest.approx(turn.end_of_speech, abs=1e-3)
    # The caller heard the whole answer: as long as espeak-ng says it, and speech.
    answer = caller.heard_after(asked_at)
    expected = await espeak_seconds(first + ".", second)
    assert len(answer) / RATE == pytest.approx(expected, rel=0.1)
    assert float(np.sqrt(np.mean(answer**2))) > 0.02


async def test_speaking_over_the_reply_stops_it_within_a_packet(tiny_models):
    """Barge-in: audio stops, the model's stream is dropped, history keeps what was heard."""
    sentences = [f"This is sentence number {n} of a long answer." for n in range(1, 11)]
    long_reply = [step for n, s in enumerate(sentences) for step in script(s + " ", first=0.4 * n)]
    with OllamaStandIn([long_reply, script("Of course, I will stop.")]) as server:
        app = agent_class(tiny_models, server)
        agent, caller, callee_ua, caller_ua = await call_agent(app)
        try:
            caller.send_audio(espeak("Tell me a long story."))
            await wait_until(lambda: agent.replying and agent._speech.heard > 1.0, 20, "a reply")
            caller.send_audio(espeak("Stop, please stop talking now."))
            await wait_until(lambda: agent.interrupted_at, 10, "the barge-in")
            _, packets_then = agent.interrupted_at[0]
            await asyncio.sleep(0.3)
            packets_after = agent.packets_sent
            await wait_until(lambda: len(agent.turns) == 2, 20, "the second answer")
        finally:
            caller.hang_up()
            caller_ua.close()
            callee_ua.close()
        await asyncio.to_thread(server.streams[0].ended.wait, 5)

    assert packets_after - packets_then <= 1  # stopped before the next packet time
    first, second = agent.turns
    assert first.interrupted and not second.interrupted
    # What was heard: the words of the reply's first 1.4 s or so, not all of it.
    full = " ".join(sentences)
    assert full.startswith(first.reply_text) and len(first.reply_text.split()) >= 3
    assert len(first.reply_text) < len(full)
    assert [(m.role, m.content) for m in agent.messages[1:]] == [
        ("user", PROGRAMMED_TEXT),
        ("assistant", first.reply_text),
        ("user", PROGRAMMED_TEXT),
        ("assistant", "Of course, I will stop."),
    ]
    stream = server.streams[0]
    assert stream.client_left and not stream.finished  # the LLM work was cancelled


@dataclasses.dataclass(kw_only=True, eq=False, repr=False)
class HandFedAgent(AgentCall):
    default_tts = "espeak"
    salutation: str = ""
    silence_gap: float = 0.2


async def test_a_new_utterance_cancels_the_reply_being_made(tiny_models):
    slow = [(2.0, "This answer comes too late.")]
    with OllamaStandIn([slow, script("Here is the answer.")]) as server:
        options = {"model": "llama3.2", "host": server.url}
        stt = {"model": str(tiny_models.programmed)}
        async with hand_fed(HandFedAgent, llm_options=options, stt_options=stt) as agent:
            feed(agent, espeak("First question."))
            await wait_until(lambda: agent.replying and server.streams, 10, "the first request")
            feed(agent, espeak("Second question."))
            await wait_until(lambda: len(agent.turns) == 2, 20, "the second answer")
            await asyncio.to_thread(server.streams[0].ended.wait, 5)
    first, second = agent.turns
    assert first.interrupted and first.reply_text == "" and first.llm_time_to_first_token is None
    assert second.reply_text == "Here is the answer."
    assert [(m.role, m.content) for m in agent.messages[1:]] == [
        ("user", PROGRAMMED_TEXT),
        ("user", PROGRAMMED_TEXT),
        ("assistant", "Here is the answer."),
    ]
    assert server.streams[0].client_left and not server.streams[0].finished


async def test_a_failing_model_gets_an_apology_and_the_call_goes_on(tiny_models, caplog):
    with OllamaStandIn([[(0.0, f"{ERROR} model crashed")], script("Now it works.")]) as server:
        options = {"model": "llama3.2", "host": server.url}
        stt = {"model": str(tiny_models.programmed)}
        async with hand_fed(HandFedAgent, llm_options=options, stt_options=stt) as agent:
            feed(agent, espeak("First question."))
            await wait_until(lambda: len(agent.turns) == 1, 20, "the apology")
            feed(agent, espeak("Second question."))
            await wait_until(lambda: len(agent.turns) == 2, 20, "the answer")
    failed, answered = agent.turns
    assert failed.error is not None and "model crashed" in failed.error
    assert failed.reply_text == AgentCall.apology
    assert answered.error is None and answered.reply_text == "Now it works."
    assert any("turn 1 failed" in r.getMessage() for r in caplog.records)


async def test_turn_metrics_as_json_values():
    metrics = TurnMetrics(turn=3, user_text="hi", reply_text="hello", stt=0.1234, interrupted=True)
    assert metrics.as_dict() == {
        "turn": 3,
        "stt_ms": 123.4,
        "llm_time_to_first_token_ms": None,
        "llm_duration_ms": None,
        "tts_time_to_first_audio_ms": None,
        "voice_to_voice_ms": None,
        "interrupted": True,
        "user": "hi",
        "agent": "hello",
    }


class BrokenTTS:
    sample_rate = 16000

    async def synthesize(self, text: str):
        raise PluginError("the voice model is gone")
        yield np.zeros(0, np.float32)  # an async generator, like a real backend


class BrokenTTSPlugin:
    @hookimpl(tryfirst=True)
    def voip_tts(self, name: str, options: Any) -> BrokenTTS | None:
        return BrokenTTS() if name == "broken" else None


async def test_a_failing_voice_is_logged_and_the_call_goes_on(tiny_models, caplog):
    manager = plugins.get_plugin_manager()
    plugin = BrokenTTSPlugin()
    manager.register(plugin, name="broken-tts")
    try:
        with OllamaStandIn([script("An answer nobody hears.")]) as server:
            options = {"model": "llama3.2", "host": server.url}
            stt = {"model": str(tiny_models.programmed)}
            async with hand_fed(
                HandFedAgent, llm_options=options, stt_options=stt, tts="broken"
            ) as agent:
                feed(agent, espeak("A question."))
                await wait_until(lambda: len(agent.turns) == 1, 20, "the failed turn")
                assert not agent.closed.is_set()
    finally:
        manager.unregister(plugin)
    (turn,) = agent.turns
    assert turn.error == "the voice model is gone" and turn.reply_text == ""
    assert turn.voice_to_voice is None
    messages = [r.getMessage() for r in caplog.records]
    assert any("turn 1 failed: the voice model is gone" in m for m in messages)
    assert any("could not even apologise" in m for m in messages)
