"""Helpers of voip-whisper's tests: espeak-ng speech, fake STT plugins, loop lag, the CI rule.

``conftest.py`` registers this module as ``whisper_testing`` (the tests import
it by that name; pytest's importlib mode puts no test folder on ``sys.path``).
Outside CI a missing engine or espeak-ng skips the tests that need it; in CI
(``CI=true``) it fails them.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import numpy as np
import pytest

from voip_core import AudioCall, RealtimeTransportProtocol
from voip_core.codecs import PCMU
from voip_core.plugins import hookimpl
from voip_core.resample import resample
from voip_core.sdp import MediaDescription
from voip_core.wav import read_wav

HERE = Path(__file__).resolve().parent
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
RATE = 16000
T = TypeVar("T", bound=AudioCall)
#: What the programmed tiny model says, whatever it hears.
PROGRAMMED_TEXT = "hello from the tiny model"


def need(condition: bool, reason: str) -> None:
    """Skip when ``condition`` is false, outside CI only; in CI it fails."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


def need_engine() -> None:
    need(
        importlib.util.find_spec("faster_whisper") is not None,
        "faster-whisper is not installed (pip install 'voip-whisper[engine]')",
    )


def need_espeak() -> str:
    path = shutil.which("espeak-ng")
    need(path is not None, "espeak-ng is not installed")
    assert path is not None
    return path


# Models -------------------------------------------------------------------------------------


def recipe() -> ModuleType:
    """``make_tiny_whisper.py``, imported by path."""
    script = HERE / "make_tiny_whisper.py"
    spec = importlib.util.spec_from_file_location("make_tiny_whisper", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_tiny_models(root: Path) -> TinyModels:
    """Build the programmed and the random tiny model under ``root`` (about 0.5 s)."""
    need_engine()
    make = recipe()
    programmed = Path(make.build_model(str(root / "programmed"), text=PROGRAMMED_TEXT))
    random = Path(make.build_model(str(root / "random")))
    return TinyModels(programmed=programmed, random=random)


@dataclass(frozen=True)
class TinyModels:
    """Paths of the session's tiny models."""

    programmed: Path  # always says PROGRAMMED_TEXT
    random: Path  # random weights: garbage text, and slower (it decodes up to 448 tokens)


# Speech -------------------------------------------------------------------------------------


def espeak(text: str, rate: int = RATE) -> np.ndarray:
    """``text`` spoken by espeak-ng (en-us), float32 mono at ``rate``."""
    program = need_espeak()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "speech.wav"
        subprocess.run([program, "-v", "en-us", "-w", str(path), text], check=True, timeout=30)
        audio, source_rate = read_wav(path)
    return resample(audio, source_rate, rate) if source_rate != rate else audio


def speech_with_gaps(
    texts: list[str], *, gap: float = 1.0, lead: float = 0.3, tail: float = 0.6
) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """The texts spoken one after the other with ``gap`` s of silence; and where each is (s)."""
    pieces = [np.zeros(round(lead * RATE), np.float32)]
    spans = []
    at = lead
    for index, text in enumerate(texts):
        speech = espeak(text)
        spans.append((at, at + len(speech) / RATE))
        pieces.append(speech)
        at += len(speech) / RATE
        silence = gap if index < len(texts) - 1 else tail
        pieces.append(np.zeros(round(silence * RATE), np.float32))
        at += silence
    return np.concatenate(pieces), spans


# Fake STT backends through a test plugin --------------------------------------------------------


@dataclass
class FakeSTT:
    """An STT backend that answers ``replies`` in turn, each after its delay (seconds)."""

    replies: list[tuple[float, str | BaseException]] = field(default_factory=list)
    latency: float = 0.0
    calls: list[float] = field(default_factory=list)  # seconds of audio of each utterance
    finished: list[int] = field(default_factory=list)  # utterance numbers, as they finish

    async def transcribe(self, audio: np.ndarray, sample_rate: int) -> str:
        index = len(self.calls)
        self.calls.append(len(audio) / sample_rate)
        delay, reply = (
            self.replies[index] if index < len(self.replies) else (self.latency, f"u{index}")
        )
        await asyncio.sleep(delay)
        self.finished.append(index)
        if isinstance(reply, BaseException):
            raise reply
        return reply


class FakeSTTPlugin:
    """A third-party STT plugin: makes ``FakeSTT`` backends for the names it knows."""

    def __init__(self, names: tuple[str, ...] = ("fake", "whisper")) -> None:
        self.names = names
        self.made: list[tuple[str, Mapping[str, Any], FakeSTT]] = []

    @hookimpl(tryfirst=True)
    def voip_stt(self, name: str, options: Mapping[str, Any]) -> FakeSTT | None:
        if name not in self.names:
            return None
        backend = FakeSTT(**options)
        self.made.append((name, options, backend))
        return backend


# Calls fed by hand ------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def hand_fed(app: type[T], **options: Any) -> AsyncIterator[T]:
    """A PCMU call of class ``app`` on a real RTP socket that no packet reaches: feed it frames."""
    rtp = await RealtimeTransportProtocol.bind()
    media = MediaDescription.for_formats([PCMU.media_format()], port=9, address="127.0.0.1")
    try:
        call = app(rtp=rtp, media=media, **options)
        try:
            yield call
        finally:
            call.close()
    finally:
        rtp.close()


def feed(call: AudioCall, audio: np.ndarray) -> None:
    """Hand ``audio`` to ``call`` frame by frame, as its receive path would (no waiting)."""
    size = call.frame_size
    for start in range(0, len(audio) - size + 1, size):
        frame = np.ascontiguousarray(audio[start : start + size], np.float32)
        call.audio_received(audio=frame, rms=call.rms(frame))


# Event-loop lag -------------------------------------------------------------------------------


class LoopLag:
    """A 10 ms ticker on the running loop; ``lags`` holds how late each tick woke (seconds)."""

    def __init__(self, period: float = 0.01) -> None:
        self.period = period
        self.lags: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + self.period
            await asyncio.sleep(self.period)
            self.lags.append(max(0.0, loop.time() - due))

    def __enter__(self) -> LoopLag:
        self._task = asyncio.get_running_loop().create_task(self._tick())
        return self

    def __exit__(self, *_: object) -> None:
        assert self._task is not None
        self._task.cancel()

    @property
    def max(self) -> float:
        return max(self.lags, default=0.0)

    @property
    def p99(self) -> float:
        """The 99th percentile of the lags."""
        return float(np.percentile(self.lags, 99)) if self.lags else 0.0
