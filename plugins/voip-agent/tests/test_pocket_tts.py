"""The Pocket TTS backend on a tiny random model, through the real pocket_tts code path.

The model (``pocket_testing.build_tiny_model``) has random weights: its audio is
noise and it would end speech at random, so the backends here raise the
end-of-speech threshold out of reach and pocket-tts generates up to its length
limit for the text (about 2 s plus a third of a second per character, far
faster than real time). The tests check types, streaming, timing and threads,
never what is said or an exact duration. No download: everything is local and
Hugging Face is kept offline.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

if sys.version_info[:2] != (3, 11):
    pytest.skip("pocket-tts needs torch, installed for Python 3.11 only", allow_module_level=True)

_MISSING = [name for name in ("torch", "pocket_tts") if importlib.util.find_spec(name) is None]
_REASON = f"{' and '.join(_MISSING)} not installed (pip install 'voip-agent[pocket-tts]')"
_IN_CI = os.environ.get("CI", "").lower() == "true"
if _MISSING and not _IN_CI:
    pytest.skip(_REASON, allow_module_level=True)


@pytest.fixture(autouse=True)
def _engine_required_in_ci() -> None:
    """In CI a missing pocket-tts fails every test here (outside CI the module skips)."""
    if _MISSING:
        pytest.fail(f"required in CI: {_REASON}", pytrace=False)


@pytest.fixture(autouse=True)
def _hub_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """No download, ever; for each test only (other plugins' tests read the variable too)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)


def _register_helpers() -> None:
    # pytest's importlib mode puts no test folder on sys.path: import the helpers by path.
    if "pocket_testing" in sys.modules:
        return
    spec = importlib.util.spec_from_file_location(
        "pocket_testing", Path(__file__).with_name("pocket_testing.py")
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["pocket_testing"] = module
    spec.loader.exec_module(module)


_register_helpers()

from pocket_testing import RATE, build_tiny_model, noise  # noqa: E402
from voip_agent.pocket import PocketTTS  # noqa: E402
from voip_agent.say import SayCall  # noqa: E402
from whisper_testing import LoopLag  # noqa: E402

from voip_core import PluginError, plugins  # noqa: E402
from voip_core.audio import AudioCall  # noqa: E402
from voip_core.backends import TTSBackend  # noqa: E402
from voip_core.codecs import PCMU  # noqa: E402
from voip_core.sip.useragent import UserAgent  # noqa: E402
from voip_core.wav import write_wav  # noqa: E402

#: End-of-speech threshold out of reach: the random model speaks up to pocket-tts's limit.
NEVER_ENDS = 1e9
SHORT = "Hi there."  # about 3 s of audio
LONG = "Hello world, this is a test of streaming speech."  # about 18 s of audio
#: The event loop must answer a 10 ms ticker this fast while the model works (p99, worst).
MAX_LAG_P99 = 0.1
MAX_LAG = 0.25


@pytest.fixture(scope="session")
def tiny_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The YAML config of a tiny random model (local files only), built once per session."""
    return build_tiny_model(tmp_path_factory.mktemp("pocket-tts"))


@pytest.fixture(scope="session")
def voice_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second of noise as a 24 kHz WAV voice prompt."""
    path = tmp_path_factory.mktemp("pocket-voice") / "voice.wav"
    write_wav(path, noise(1.0, seed=1), RATE)
    return path


def tensor_voice(seed: int = 0) -> object:
    import torch

    return torch.from_numpy(noise(1.0, seed=seed)).reshape(1, -1)


def backend(config: Path, **options: object) -> PocketTTS:
    options.setdefault("voice", tensor_voice())
    return PocketTTS(config=str(config), eos_threshold=NEVER_ENDS, **options)  # type: ignore[arg-type]


async def timed_chunks(stream: AsyncIterator[np.ndarray]) -> list[tuple[float, np.ndarray]]:
    """Each chunk with the time it arrived (perf_counter)."""
    return [(time.perf_counter(), chunk) async for chunk in stream]


def pocket_threads() -> list[threading.Thread]:
    """pocket-tts's own generation and decoding threads still alive."""
    names = ("run_generation", "_decode_audio_worker")
    return [thread for thread in threading.enumerate() if any(n in thread.name for n in names)]


async def first_chunk_delay(tts: PocketTTS) -> float:
    """Seconds until a new synthesis yields its first chunk (late while the worker is busy)."""
    start = time.perf_counter()
    stream = tts.synthesize(SHORT)
    await anext(stream)
    delay = time.perf_counter() - start
    await stream.aclose()
    return delay


async def test_synthesize_yields_float32_mono_chunks_at_24k(tiny_config):
    tts = plugins.tts_backend("pocket-tts", config=str(tiny_config), voice=tensor_voice())
    assert isinstance(tts, PocketTTS) and isinstance(tts, TTSBackend)
    tts.eos_threshold = NEVER_ENDS
    chunks = [chunk async for chunk in tts.synthesize(SHORT)]
    assert tts.sample_rate == RATE == tts.model.sample_rate
    assert len(chunks) >= 3
    for chunk in chunks:
        assert isinstance(chunk, np.ndarray) and chunk.dtype == np.float32 and chunk.ndim == 1
        assert chunk.size > 0 and np.isfinite(chunk).all()
    audio = np.concatenate(chunks)
    assert 1.0 < audio.size / RATE < 30.0  # the 2 s padding of pocket-tts's limit, and more
    assert float(np.abs(audio).max()) > 0.0


async def test_chunks_stream_while_generation_goes_on(tiny_config):
    tts = backend(tiny_config)
    await tts.load()
    start = time.perf_counter()
    arrivals = await timed_chunks(tts.synthesize(LONG))
    total = arrivals[-1][0] - start
    first = arrivals[0][0] - start
    audio_seconds = sum(chunk.size for _, chunk in arrivals) / RATE
    assert len(arrivals) >= 20
    assert first < total / 4, (first, total)
    # Chunks keep arriving over the whole generation, not in one burst at its end.
    halfway = sum(1 for arrived, _ in arrivals if arrived - start < total / 2)
    assert 2 <= halfway <= len(arrivals) - 2, (halfway, len(arrivals))
    assert total < audio_seconds  # faster than real time, even the random model on a busy CPU


async def test_two_backends_share_one_model_and_both_complete(tiny_config, voice_wav):
    first = backend(tiny_config, voice=voice_wav, temperature=0.5)
    second = backend(tiny_config, voice=str(voice_wav))

    async def speak(tts: PocketTTS, text: str) -> np.ndarray:
        return np.concatenate([chunk async for chunk in tts.synthesize(text)])

    one, two = await asyncio.gather(speak(first, SHORT), speak(second, "Good morning."))
    assert one.size > RATE and two.size > RATE
    assert first.model is second.model is not None
    assert first._voice_state is second._voice_state  # the same WAV file is encoded once


async def test_the_event_loop_is_not_blocked_while_generating(tiny_config):
    tts = backend(tiny_config)
    await tts.load()
    with LoopLag() as lag:
        await asyncio.gather(
            *(timed_chunks(tts.synthesize(text)) for text in (LONG, SHORT)),
            timed_chunks(backend(tiny_config, voice=tensor_voice(seed=2)).synthesize(SHORT)),
        )
    assert len(lag.lags) >= 20
    assert lag.p99 < MAX_LAG_P99 and lag.max < MAX_LAG, (lag.p99, lag.max)


@pytest.mark.parametrize("how", ["aclose", "cancel"])
async def test_a_consumer_that_stops_early_stops_the_worker(tiny_config, how):
    tts = backend(tiny_config)
    await tts.load()
    start = time.perf_counter()
    [chunk async for chunk in tts.synthesize(LONG)]
    whole = time.perf_counter() - start

    got_first = asyncio.Event()

    async def listen() -> None:
        async for _ in tts.synthesize(LONG):
            got_first.set()
            await asyncio.sleep(3600)  # as a call that plays its audio

    stream = tts.synthesize(LONG)
    if how == "aclose":
        await anext(stream)
        await stream.aclose()
    else:
        task = asyncio.create_task(listen())
        await got_first.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    # The worker is free again: the next reply starts at once, not after the stopped one.
    assert await first_chunk_delay(tts) < whole / 3
    for _ in range(100):  # pocket-tts's own threads end within a frame or two
        if not pocket_threads():
            break
        await asyncio.sleep(0.01)
    assert pocket_threads() == []


@pytest.mark.parametrize("kind", ["wav path", "wav str", "tensor", "numpy"])
async def test_voice_from_a_wav_file_or_audio(tiny_config, voice_wav, kind):
    voices = {
        "wav path": voice_wav,
        "wav str": str(voice_wav),
        "tensor": tensor_voice(seed=3),
        "numpy": noise(0.5, seed=4),
    }
    tts = backend(tiny_config, voice=voices[kind])
    audio = np.concatenate([chunk async for chunk in tts.synthesize(SHORT)])
    assert audio.dtype == np.float32 and audio.size > RATE


async def test_empty_text_is_no_audio(tiny_config):
    assert [chunk async for chunk in backend(tiny_config).synthesize("  \n")] == []


async def test_a_missing_config_file_is_a_clear_error(tmp_path):
    missing = tmp_path / "no-such-model.yaml"
    tts = PocketTTS(config=str(missing))
    with pytest.raises(PluginError, match=re.escape(f"config {missing} not found")):
        await tts.load()
    with pytest.raises(PluginError, match="not found"):
        [chunk async for chunk in tts.synthesize("hello")]


async def test_a_missing_voice_file_or_unknown_config_name_is_a_clear_error(tiny_config, tmp_path):
    missing = tmp_path / "nobody.wav"
    with pytest.raises(PluginError, match=re.escape(f"voice file {missing} not found")):
        await PocketTTS(config=str(tiny_config), voice=missing).load()
    with pytest.raises(PluginError, match=r"no config 'klingon': one of \[.*'english'"):
        await PocketTTS(config="klingon").load()


async def test_weights_not_obtainable_offline_say_how_to_use_local_files(monkeypatch, tmp_path):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(PluginError, match=r"could not fetch .*config='/path/model.yaml'"):
        await PocketTTS(config="english").load()


def test_importing_the_backend_does_not_import_torch():
    code = (
        "import sys, voip_agent.pocket; print(sorted({'torch', 'pocket_tts'} & set(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"


# In a call ---------------------------------------------------------------------------------


class Listener(AudioCall):
    """Keeps what it hears, with the event-loop time of each frame."""

    supported_codecs = (PCMU,)
    calls: ClassVar[list[Listener]] = []

    def __post_init__(self) -> None:
        super().__post_init__()
        self.frames: list[tuple[float, np.ndarray]] = []
        self.calls.append(self)

    def audio_received(self, *, audio: np.ndarray, rms: float) -> None:
        self.frames.append((asyncio.get_running_loop().time(), audio))


class TimedSay(SayCall):
    """A SayCall that notes when its TTS yielded each chunk, and how long each was."""

    supported_codecs = (PCMU,)

    def make_tts_backend(self) -> TTSBackend:
        backend = super().make_tts_backend()
        self.chunks: list[tuple[float, int]] = []
        synthesize = backend.synthesize

        async def timed(text: str) -> AsyncIterator[np.ndarray]:
            async for chunk in synthesize(text):
                self.chunks.append((asyncio.get_running_loop().time(), len(chunk)))
                yield chunk

        backend.synthesize = timed  # type: ignore[method-assign]
        return backend


async def test_say_call_streams_pocket_tts_into_a_call(tiny_config, voice_wav):
    """Pocket TTS's 24 kHz chunks, resampled to the call, reach the callee while it still speaks."""
    callee = UserAgent(app=Listener)
    _, port = await callee.listen("127.0.0.1", 0)
    caller = UserAgent(app=TimedSay)
    await caller.listen("127.0.0.1", 0)
    try:
        dialog = await caller.dial(
            f"sip:listener@127.0.0.1:{port}",
            timeout=5,
            text=SHORT,
            tts="pocket-tts",
            tts_options={"config": str(tiny_config), "eos_threshold": NEVER_ENDS},
            voice=str(voice_wav),
        )
        say = dialog.session
        assert isinstance(say, TimedSay)
        await asyncio.wait_for(say.wait_closed(), 60)  # it hangs up when it has said it
    finally:
        await caller.shutdown()
        await callee.shutdown()
    (listener,) = Listener.calls
    generated = sum(size for _, size in say.chunks) / RATE
    assert len(say.chunks) >= 3 and generated > 1.0
    # All of it went out (at the call's 16 kHz: the same seconds), and all of it was heard.
    assert say.said == pytest.approx(generated, abs=0.03)
    heard = sum(len(frame) for _, frame in listener.frames) / listener.sampling_rate_hz
    assert heard == pytest.approx(generated, abs=0.1)
    # Streaming: the callee heard the first words before the model had made the last chunk.
    assert listener.frames[0][0] < say.chunks[-1][0]


def test_voip_call_say_with_pocket_tts(tiny_config, voice_wav, tmp_path):
    """The CLI passes --tts, --tts-option (typed) and --voice to the backend, which loads first."""
    from agent_testing import start_voip, stop_voip, voip

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = start_voip(
        ["serve", "--listen", f"127.0.0.1:{port}", "--app", "echo"], tmp_path / "serve.log"
    )
    try:
        result = subprocess.run(
            voip(
                *("call", f"sip:echo@127.0.0.1:{port}", "--say", SHORT),
                *("--tts", "pocket-tts", "--voice", str(voice_wav)),
                *("--tts-option", f"config={tiny_config}", "--tts-option", "eos_threshold=1e9"),
            ),
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )
    finally:
        stop_voip(server)
    assert result.returncode == 0, result.stdout + result.stderr
    said = float(result.stdout.split(" said ")[1].split("s,")[0])
    assert said > 1.0 and "hung up by us" in result.stdout
    missing = subprocess.run(
        voip(
            *("call", "sip:x@127.0.0.1:9", "--say", "hi", "--tts", "pocket-tts"),
            *("--tts-option", f"config={tmp_path / 'nothing.yaml'}"),
        ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert missing.returncode == 2 and "nothing.yaml" in missing.stderr
