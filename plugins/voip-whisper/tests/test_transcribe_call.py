"""TranscribeCall: real calls on loopback, speech from espeak-ng, tiny Whisper models, fake STTs."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, ClassVar

import numpy as np
import pytest
from voip_opus import Opus
from voip_whisper import vad as silero
from voip_whisper.backend import default_workers, pool_size, pool_stats
from voip_whisper.call import TranscribeCall

try:
    from voip_opus import Opus
except ImportError:  # voip-opus is another distribution
    Opus = None
from whisper_testing import (
    PROGRAMMED_TEXT,
    RATE,
    FakeSTT,
    LoopLag,
    feed,
    hand_fed,
    need,
    need_engine,
    speech_with_gaps,
)

from voip_core import PlayCall, PluginError, RealtimeTransportProtocol
from voip_core.codecs import PCMU
from voip_core.sdp import MediaDescription
from voip_core.sip.useragent import UserAgent

MAX_LOOP_LAG = 0.2  # s: the loop must stay responsive (not a speed figure)


class Collector(TranscribeCall):
    """Keeps its transcriptions, and every call made of it in ``calls``."""

    supported_codecs = (PCMU,)
    calls: ClassVar[list[Collector]] = []

    def __post_init__(self) -> None:
        super().__post_init__()
        self.texts: list[str] = []
        self.lengths: list[float] = []
        type(self).calls.append(self)

    def voice_received(self, audio: np.ndarray) -> None:
        self.lengths.append(len(audio) / self.sampling_rate_hz)
        super().voice_received(audio)

    def transcription_received(self, text: str) -> None:
        self.texts.append(text)


def collector(codec: Any = PCMU, **attributes: Any) -> type[Collector]:
    """A Collector subclass of its own (its own ``calls``) for one codec."""
    return type(
        "Collector", (Collector,), {"supported_codecs": (codec,), "calls": [], **attributes}
    )


async def call_with(
    app: type[Collector], wavs: list[Any], codec: Any = PCMU, **options: Any
) -> list[Collector]:
    """Play each WAV in its own call, all at once, to a UserAgent serving ``app``; wait for all."""
    callee = UserAgent(app=app)
    _, port = await callee.listen("127.0.0.1", 0)
    caller = UserAgent(app=type("Player", (PlayCall,), {"supported_codecs": (codec,)}))
    await caller.listen("127.0.0.1", 0)
    try:
        dialogs = await asyncio.gather(
            *(
                caller.dial(f"sip:transcribe@127.0.0.1:{port}", play=wav, timeout=5, **options)
                for wav in wavs
            )
        )
        await asyncio.wait_for(
            asyncio.gather(*(dialog.session.wait_closed() for dialog in dialogs)), 20
        )
        for _ in range(200):  # the BYE reaches the callee
            if len(app.calls) == len(wavs) and all(c.closed.is_set() for c in app.calls):
                break
            await asyncio.sleep(0.02)
        await asyncio.wait_for(asyncio.gather(*(c.wait_transcribed() for c in app.calls)), 20)
    finally:
        caller.close()
        callee.close()
    return app.calls


# Through real calls, with the programmed tiny model --------------------------------------------


@pytest.mark.parametrize("codec", [PCMU, Opus], ids=["PCMU", "opus"])
async def test_each_utterance_of_a_call_is_transcribed_once(codec, tiny_models, two_utterances):
    need(codec is not None, "voip-opus is not installed")
    wav, _ = two_utterances
    app = collector(codec, default_stt_options={"model": str(tiny_models.programmed)})
    (call,) = await call_with(app, [wav], codec)
    assert call.codec.encoding_name.lower() == codec.encoding_name.lower()
    assert call.texts == [PROGRAMMED_TEXT, PROGRAMMED_TEXT]  # two utterances, two texts
    assert call.utterances == call.transcriptions == 2
    # "hello world" (1.05 s) and "this is a test" (1.07 s), with pre- and post-roll.
    assert call.lengths == [pytest.approx(1.0, abs=0.25)] * 2
    assert call.backend_errors == {}


async def test_calls_at_once_queue_in_the_pool_and_the_loop_stays_responsive(
    tiny_models, two_utterances
):
    """Four calls (PCMU and Opus), eight utterances on the slow random model: they queue."""
    need(Opus is not None, "voip-opus is not installed")
    wav, _ = two_utterances
    options = {"default_stt_options": {"model": str(tiny_models.random), "beam_size": 1}}
    pcmu, opus = collector(PCMU, **options), collector(Opus, **options)
    before = pool_stats(reset_peak=True)
    with LoopLag() as lag:
        calls = await asyncio.gather(
            call_with(pcmu, [wav, wav], PCMU), call_with(opus, [wav, wav], Opus)
        )
    after = pool_stats()
    everyone = [call for group in calls for call in group]
    assert len(everyone) == 4
    assert [call.utterances for call in everyone] == [2, 2, 2, 2]
    assert all(call.backend_errors == {} for call in everyone)
    assert after.transcribed - before.transcribed == 8
    # Every worker busy at some point, never more (no test asks for another pool size).
    assert after.peak_running == pool_size() == default_workers()
    assert lag.max < MAX_LOOP_LAG, f"event loop blocked for {lag.max * 1000:.0f} ms"


# Order, errors and backends by name, with a fake STT plugin --------------------------------------


def utterances(count: int, *, voice: float = 0.3, gap: float = 0.2) -> np.ndarray:
    """``count`` bursts of a loud chirp, each followed by ``gap`` s of silence."""
    t = np.arange(round(voice * RATE)) / RATE
    burst = (0.3 * np.sin(2 * np.pi * (300 * t + 400 * t**2))).astype(np.float32)
    silence = np.zeros(round(gap * RATE), np.float32)
    return np.concatenate([np.concatenate([burst, silence]) for _ in range(count)])


async def test_a_plugin_replaces_whisper_and_order_survives_a_slow_first_utterance(stt_plugin):
    app = collector(
        default_stt_options={"replies": [(0.3, " first "), (0.0, "second"), (0.1, "third")]}
    )
    async with hand_fed(app, silence_gap=0.1) as call:
        feed(call, utterances(3))
        await asyncio.wait_for(call.wait_transcribed(), 5)
    (backend,) = [made for name, _, made in stt_plugin.made if name == "whisper"]
    assert call.stt == "whisper" and call.stt_backend is backend  # the plugin's, by name
    assert isinstance(backend, FakeSTT)
    assert backend.finished == [1, 2, 0]  # the first utterance came back last ...
    assert call.texts == ["first", "second", "third"]  # ... and was still delivered first
    # The whole utterance each time: 0.3 s of voice, 0.04 s post-roll, 0.1 s pre-roll (not the
    # first: nothing came before it).
    assert backend.calls == [pytest.approx(0.34), pytest.approx(0.44), pytest.approx(0.44)]


async def test_backend_and_options_per_call_win_over_the_class(stt_plugin):
    app = collector(default_stt="no-such-backend")
    async with hand_fed(app, stt="fake", stt_options={"latency": 0.01}, silence_gap=0.1) as call:
        feed(call, utterances(2))
        await asyncio.wait_for(call.wait_transcribed(), 5)
    assert call.texts == ["u0", "u1"]
    assert stt_plugin.made[-1][:2] == ("fake", {"latency": 0.01})
    with pytest.raises(PluginError, match="no STT backend named 'no-such-backend'"):
        async with hand_fed(app):
            pass


async def test_failures_are_logged_once_per_kind_and_the_call_goes_on(stt_plugin, caplog):
    replies = [
        (0.0, RuntimeError("engine hiccup")),
        (0.0, "  "),  # nothing said: skipped
        (0.0, RuntimeError("engine hiccup again")),
        (0.0, ValueError("bad audio")),
        (0.0, "still here"),
    ]
    app = collector(default_stt="fake", default_stt_options={"replies": replies})
    with caplog.at_level(logging.DEBUG, logger="voip_whisper.call"):
        async with hand_fed(app, silence_gap=0.1) as call:
            feed(call, utterances(5))
            await asyncio.wait_for(call.wait_transcribed(), 5)
    assert call.texts == ["still here"]
    assert call.utterances == 5 and call.transcriptions == 1
    assert call.backend_errors == {"RuntimeError": 2, "ValueError": 1}
    errors = [record.getMessage() for record in caplog.records if record.levelname == "ERROR"]
    assert len(errors) == 2
    assert "RuntimeError: engine hiccup" in errors[0] and "ValueError: bad audio" in errors[1]


async def test_transcriptions_of_the_last_utterance_arrive_after_the_call_ends(stt_plugin):
    app = collector(default_stt="fake", default_stt_options={"latency": 0.2})
    async with hand_fed(app, silence_gap=0.5) as call:
        feed(call, utterances(1, gap=0.1))  # still speaking (within silence_gap) ...
    assert call.closed.is_set()  # ... when the call ends: the utterance goes to the backend
    await asyncio.wait_for(call.wait_transcribed(), 5)
    assert call.texts == ["u0"]


# Silero VAD ---------------------------------------------------------------------------------


class Boundaries(Collector):
    """Notes when each utterance starts (first voiced frame) and ends (last voiced frame)."""

    default_stt = "fake"
    calls: ClassVar[list[Collector]] = []

    def __post_init__(self) -> None:
        super().__post_init__()
        self.frames = 0
        self.starts: list[float] = []
        self.ends: list[float] = []

    def audio_received(self, *, audio: np.ndarray, rms: float) -> None:
        self.frames += 1
        super().audio_received(audio=audio, rms=rms)

    def voice_started(self) -> None:
        self.starts.append(self.frames * self.rtp_packet_duration)

    def voice_received(self, audio: np.ndarray) -> None:
        self.ends.append(self.frames * self.rtp_packet_duration - self.silence_gap)
        super().voice_received(audio)


async def test_silero_finds_the_utterances_the_energy_threshold_finds(stt_plugin):
    need_engine()
    speech, spans = speech_with_gaps(
        ["one two three", "good morning", "please call me back"], gap=0.8
    )
    found = {}
    for vad in ("energy", "silero"):
        async with hand_fed(Boundaries, vad=vad, silence_gap=0.3) as call:
            await asyncio.wait_for(call.wait_vad_ready(), 10)
            feed(call, speech)
            await call.wait_transcribed()
        found[vad] = call
    energy, silero = found["energy"], found["silero"]
    assert silero._detector is not None and silero._detector.windows > 0  # the network judged
    assert len(energy.starts) == len(silero.starts) == len(spans) == 3
    for name in ("starts", "ends"):
        for by_energy, by_silero in zip(getattr(energy, name), getattr(silero, name), strict=True):
            assert by_silero == pytest.approx(by_energy, abs=0.1), name
    assert silero.texts == ["u0", "u1", "u2"]


async def test_silero_is_not_fooled_by_noise_and_tones(stt_plugin):
    need_engine()
    rng = np.random.default_rng(7)
    noise = (0.05 * rng.standard_normal(RATE)).astype(np.float32)
    tone = (0.1 * np.sin(2 * np.pi * 1000 * np.arange(RATE) / RATE)).astype(np.float32)
    signal = np.concatenate([noise, np.zeros(RATE // 2, np.float32), tone])
    signal = np.concatenate([signal, np.zeros(RATE // 2, np.float32)])
    heard = {}
    for vad in ("energy", "silero"):
        async with hand_fed(Boundaries, vad=vad, silence_gap=0.3) as call:
            await asyncio.wait_for(call.wait_vad_ready(), 10)
            feed(call, signal)
        heard[vad] = call.utterances
    assert heard == {"energy": 2, "silero": 0}


async def test_without_silero_the_energy_threshold_judges(stt_plugin, monkeypatch, caplog):
    def no_model() -> list[object]:
        raise PluginError("no Silero VAD model in /nowhere")

    monkeypatch.setattr(silero, "_model", None)
    monkeypatch.setattr(silero, "silero_model_path", no_model)
    async with hand_fed(Boundaries, vad="silero", silence_gap=0.1) as call:
        await asyncio.wait_for(call.wait_vad_ready(), 10)
        feed(call, utterances(2))
        await call.wait_transcribed()
    assert call._detector is None
    assert call.texts == ["u0", "u1"]  # found by energy
    assert "no Silero VAD (no Silero VAD model in /nowhere)" in caplog.text


async def test_vad_choice_is_checked():
    rtp = await RealtimeTransportProtocol.bind()
    media = MediaDescription.for_formats([PCMU.media_format()], port=9, address="127.0.0.1")
    try:
        with pytest.raises(ValueError, match="vad='webrtc': one of energy, silero"):
            Collector(rtp=rtp, media=media, vad="webrtc")
        with pytest.raises(ValueError, match="needs sampling_rate_hz=16000"):
            Collector(rtp=rtp, media=media, vad="silero", sampling_rate_hz=8000)
    finally:
        rtp.close()
