"""Benchmark cases for voip-whisper: the backend, TranscribeCall's own delay, loop lag, the VADs.

Everything runs offline on the tiny CTranslate2 Whisper models that
``plugins/voip-whisper/tests/make_tiny_whisper.py`` builds (into a temporary
folder, on first use): ``programmed`` always says one fixed sentence (its
decoder stops after 25 tokens), ``random`` has random weights and decodes up
to 448 tokens of garbage per utterance (the slow case). Neither says anything
about a real model's speed; they measure this machine and the plumbing.
Speech comes from espeak-ng when it is installed, else from chirps (noted as
``speech`` in the results). Nothing is asserted.

``CASES``
    ``whisper: VAD energy per frame``: what VoiceActivityCall decides a
    20 ms frame with (its RMS against ``voice_rms_threshold``);
    ``whisper: VAD silero per frame``: :meth:`SileroVoiceDetector.voiced` on
    the same 20 ms frames (one 512-sample window every 1.6 frames), over a
    ring of speech with pauses.

``MEASURED``
    ``whisper: backend RTF, tiny programmed model`` and ``... random model``:
    :meth:`WhisperSTT.transcribe` of one utterance (3 s of speech), one at a
    time, on CPU with the default options (int8, beam 5; beam 1 for the
    random model), model loaded beforehand. ``median_us`` per utterance;
    ``rtf`` = seconds of work per second of audio (median).

    ``whisper: overhead end of speech -> transcription_received``: a real
    call on loopback (PlayCall -> TranscribeCall, PCMU, default
    ``silence_gap`` 0.5 s) with 8 utterances of 0.5 s chirps 0.9 s apart,
    and a backend that takes a fixed 50 ms. For each utterance:
    ``transcription_received`` time less the arrival of the last voiced
    frame at the app (``audio_received``) less ``silence_gap`` less the
    backend's own time (measured inside it) = TranscribeCall's overhead (end
    detection, task, reorder buffer, delivery). ``median_us`` is its median
    (it can be a little below zero: frames reach the app on the jitter
    buffer's timers, so 25 silent frames may take slightly less than 0.5 s).
    The notes carry p50/p99/max of it (``app_overhead_ms``), and the same
    counted from the moment the sender handed the last voiced packet to its
    socket (``from_send_overhead_ms``: adds loopback, the jitter buffer's
    delay, decoding and resampling, i.e. the core's receive path).

    ``whisper: loop lag, 8 calls transcribing``: 8 calls at once (PCMU), each
    two utterances of speech, transcribed by the random tiny model (~0.3 s
    each on 2 cores, so they queue in the pool), while a 10 ms ticker notes
    how late it wakes. ``median_us`` is the median lag; notes: p99 and max,
    utterances, pool size, peak of jobs running at once.

``REPORTS``
    ``whisper_vad_boundaries``: the utterance boundaries the energy and the
    Silero VAD find on the same speech (start = first voiced frame, end = last
    voiced frame, in seconds), and the utterances each finds in 1 s of white
    noise and 1 s of a 1 kHz tone (energy says voice; Silero should not).
"""

from __future__ import annotations

import asyncio
import atexit
import importlib.metadata
import importlib.util
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import numpy as np
from voip_whisper.backend import WhisperSTT, pool_size, pool_stats
from voip_whisper.call import TranscribeCall

from voip_core import PlayCall, RealtimeTransportProtocol
from voip_core.codecs import PCMU
from voip_core.resample import resample
from voip_core.sdp import MediaDescription
from voip_core.sip.useragent import UserAgent
from voip_core.wav import read_wav, write_wav

REPOSITORY = Path(__file__).resolve().parent.parent
RECIPE = REPOSITORY / "plugins" / "voip-whisper" / "tests" / "make_tiny_whisper.py"
RATE = 16000
FRAME = 320  # 20 ms at 16 kHz
PROGRAMMED_TEXT = "hello from the tiny model"
#: The backend latency of the overhead case, and its utterances.
FAKE_LATENCY_S = 0.05
OVERHEAD_UTTERANCES = 8
LAG_CALLS = 8


# Set-up, on first use ---------------------------------------------------------------------

_state: dict[str, Any] = {}


def _workdir() -> Path:
    if "workdir" not in _state:
        folder = Path(tempfile.mkdtemp(prefix="voip-whisper-bench-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        _state["workdir"] = folder
    path: Path = _state["workdir"]
    return path


def _recipe() -> ModuleType:
    spec = importlib.util.spec_from_file_location("_voip_bench_make_tiny_whisper", RECIPE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tiny_model(kind: str) -> str:
    """The path of the ``programmed`` or ``random`` tiny model, built on first use."""
    key = f"model:{kind}"
    if key not in _state:
        text = PROGRAMMED_TEXT if kind == "programmed" else None
        _state[key] = _recipe().build_model(str(_workdir() / kind), text=text)
    path: str = _state[key]
    return path


def _chirp(seconds: float) -> np.ndarray:
    t = np.arange(round(seconds * RATE)) / RATE
    return (0.3 * np.sin(2 * np.pi * (250 * t + 300 * t**2))).astype(np.float32)


def speech(text: str) -> np.ndarray:
    """``text`` from espeak-ng at 16 kHz, or a chirp as long when espeak-ng is missing."""
    program = shutil.which("espeak-ng")
    if program is None:
        _state["speech"] = "chirps (no espeak-ng)"
        return _chirp(0.08 * len(text))
    _state.setdefault("speech", "espeak-ng")
    path = _workdir() / "espeak.wav"
    subprocess.run([program, "-v", "en-us", "-w", str(path), text], check=True, timeout=30)
    audio, rate = read_wav(path)
    return resample(audio, rate, RATE) if rate != RATE else audio


def with_gaps(pieces: list[np.ndarray], gap: float, lead: float = 0.3) -> np.ndarray:
    silence = np.zeros(round(gap * RATE), np.float32)
    out = [np.zeros(round(lead * RATE), np.float32)]
    for piece in pieces:
        out += [piece, silence]
    return np.concatenate(out)


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


# Backend real-time factor -----------------------------------------------------------------


def _rtf(kind: str, beam_size: int, runs: int) -> dict[str, Any]:
    utterance = speech("Hello, this is a test of the speech recognition on a phone call.")
    utterance = utterance[: 3 * RATE] if len(utterance) >= 3 * RATE else utterance
    seconds = len(utterance) / RATE
    stt = WhisperSTT(model=tiny_model(kind), device="cpu", beam_size=beam_size)

    async def main() -> list[float]:
        await stt.load()
        await stt.transcribe(utterance, RATE)  # warm-up
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            await stt.transcribe(utterance, RATE)
            times.append(time.perf_counter() - started)
        return times

    times = asyncio.run(main())
    median = statistics.median(times)
    return {
        "median_us": median * 1e6,
        "p90_us": _percentile(times, 0.9) * 1e6,
        "min_us": min(times) * 1e6,
        "rounds": runs,
        "calls_per_round": 1,
        "audio_s": round(seconds, 2),
        "rtf": round(median / seconds, 4),
        "beam_size": beam_size,
        "compute_type": "int8",
        "pool_workers": pool_size(),
        "speech": _state.get("speech"),
        "versions": _engine_versions(),
    }


def _engine_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for distribution in ("faster-whisper", "ctranslate2", "onnxruntime"):
        try:
            versions[distribution] = importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            versions[distribution] = None
    return versions


def rtf_programmed() -> dict[str, Any]:
    return _rtf("programmed", beam_size=5, runs=20)


def rtf_random() -> dict[str, Any]:
    return _rtf("random", beam_size=1, runs=8)


# Framework overhead -----------------------------------------------------------------------


class _FixedLatencySTT:
    """Answers after FAKE_LATENCY_S; notes how long each answer really took."""

    def __init__(self) -> None:
        self.took: list[float] = []

    async def transcribe(self, audio: np.ndarray, sample_rate: int) -> str:
        started = time.perf_counter()
        await asyncio.sleep(FAKE_LATENCY_S)
        self.took.append(time.perf_counter() - started)
        return f"utterance {len(self.took)}"


class _Timed(TranscribeCall):
    supported_codecs = (PCMU,)
    calls: ClassVar[list[_Timed]] = []

    def __post_init__(self) -> None:
        super().__post_init__()
        self.last_voiced = 0.0
        self.ends: list[float] = []  # last voiced frame of each utterance (loop time)
        self.delivered: list[tuple[float, str]] = []
        type(self).calls.append(self)

    def make_stt_backend(self) -> Any:
        return _FixedLatencySTT()

    def audio_received(self, *, audio: np.ndarray, rms: float) -> None:
        if rms >= self.voice_rms_threshold:
            self.last_voiced = asyncio.get_running_loop().time()
        super().audio_received(audio=audio, rms=rms)

    def voice_received(self, audio: np.ndarray) -> None:
        self.ends.append(self.last_voiced)
        super().voice_received(audio)

    def transcription_received(self, text: str) -> None:
        self.delivered.append((asyncio.get_running_loop().time(), text))


class _TimedPlayer(PlayCall):
    supported_codecs = (PCMU,)
    sent: ClassVar[list[tuple[float, float]]] = []  # (loop time, RMS of the packet)

    def send_packet(self, packet: Any) -> None:
        samples = self.codec.create_decoder().decode(packet.payload)
        type(self).sent.append((asyncio.get_running_loop().time(), self.rms(samples)))
        super().send_packet(packet)


async def _one_call(app: type[TranscribeCall], player: type[PlayCall], wav: Path) -> None:
    callee = UserAgent(app=app)
    _, port = await callee.listen("127.0.0.1", 0)
    caller = UserAgent(app=player)
    await caller.listen("127.0.0.1", 0)
    try:
        dialog = await caller.dial(f"sip:transcribe@127.0.0.1:{port}", play=wav, timeout=5)
        await asyncio.wait_for(dialog.session.wait_closed(), 60)
        await asyncio.sleep(0.3)
    finally:
        caller.close()
        callee.close()


def overhead() -> dict[str, Any]:
    bursts = [_chirp(0.5) for _ in range(OVERHEAD_UTTERANCES)]
    wav = _workdir() / "bursts.wav"
    write_wav(wav, with_gaps(bursts, gap=0.9), RATE)
    _Timed.calls.clear()
    _TimedPlayer.sent.clear()
    asyncio.run(_one_call(_Timed, _TimedPlayer, wav))
    (call,) = _Timed.calls
    backend = call.stt_backend
    assert isinstance(backend, _FixedLatencySTT)
    threshold = call.voice_rms_threshold
    # The last voiced packet of each burst, as sent: the packet before each run of silence.
    sent_ends = [
        at
        for (at, level), (_, following) in zip(
            _TimedPlayer.sent, _TimedPlayer.sent[1:], strict=False
        )
        if level >= threshold > following
    ]
    app_overhead, wire_overhead = [], []
    for index, (delivered, _) in enumerate(call.delivered):
        budget = call.silence_gap + backend.took[index]
        app_overhead.append(delivered - call.ends[index] - budget)
        if index < len(sent_ends):
            wire_overhead.append(delivered - sent_ends[index] - budget)
    return {
        "median_us": statistics.median(app_overhead) * 1e6,
        "p90_us": _percentile(app_overhead, 0.9) * 1e6,
        "min_us": min(app_overhead) * 1e6,
        "rounds": len(app_overhead),
        "calls_per_round": 1,
        "utterances": f"{len(call.delivered)}/{OVERHEAD_UTTERANCES}",
        "app_overhead_ms_p50_p99_max": [
            round(statistics.median(app_overhead) * 1000, 2),
            round(_percentile(app_overhead, 0.99) * 1000, 2),
            round(max(app_overhead) * 1000, 2),
        ],
        "from_send_overhead_ms_p50_p99_max": [
            round(statistics.median(wire_overhead) * 1000, 2),
            round(_percentile(wire_overhead, 0.99) * 1000, 2),
            round(max(wire_overhead) * 1000, 2),
        ],
        "backend_latency_ms": FAKE_LATENCY_S * 1000,
        "silence_gap_ms": call.silence_gap * 1000,
        "target_ms": 20,
    }


# Loop lag with 8 calls transcribing -------------------------------------------------------


class _Counting(TranscribeCall):
    supported_codecs = (PCMU,)
    calls: ClassVar[list[_Counting]] = []

    def __post_init__(self) -> None:
        super().__post_init__()
        type(self).calls.append(self)


def loop_lag() -> dict[str, Any]:
    model = tiny_model("random")
    wav = _workdir() / "two-utterances.wav"
    write_wav(wav, with_gaps([speech("hello world"), speech("this is a test")], gap=1.0), RATE)
    _Counting.calls.clear()
    app = type("App", (_Counting,), {"default_stt_options": {"model": model, "beam_size": 1}})
    player = type("Player", (PlayCall,), {"supported_codecs": (PCMU,)})

    async def main() -> tuple[list[float], float]:
        await WhisperSTT(model=model, beam_size=1).load()
        pool_stats(reset_peak=True)
        lags: list[float] = []

        async def ticker() -> None:
            loop = asyncio.get_running_loop()
            while True:
                due = loop.time() + 0.01
                await asyncio.sleep(0.01)
                lags.append(max(0.0, loop.time() - due))

        tick = asyncio.get_running_loop().create_task(ticker())
        started = time.perf_counter()
        try:
            await asyncio.gather(*(_one_call(app, player, wav) for _ in range(LAG_CALLS)))
            await asyncio.gather(*(call.wait_transcribed() for call in _Counting.calls))
        finally:
            tick.cancel()
        return lags, time.perf_counter() - started

    lags, wall = asyncio.run(main())
    stats = pool_stats()
    return {
        "median_us": statistics.median(lags) * 1e6,
        "p90_us": _percentile(lags, 0.9) * 1e6,
        "min_us": min(lags) * 1e6,
        "rounds": len(lags),
        "calls_per_round": 1,
        "lag_ms_p50_p99_max": [
            round(statistics.median(lags) * 1000, 2),
            round(_percentile(lags, 0.99) * 1000, 2),
            round(max(lags) * 1000, 2),
        ],
        "calls": LAG_CALLS,
        "utterances": sum(call.utterances for call in _Counting.calls),
        "pool_workers": pool_size(),
        "pool_peak_running": stats.peak_running,
        "wall_s": round(wall, 2),
        "speech": _state.get("speech"),
    }


# VAD cost per frame -----------------------------------------------------------------------


class _FrameRing:
    """20 ms frames of speech with pauses, one per call, round and round."""

    def __init__(self) -> None:
        self.frames: list[np.ndarray] = []
        self.index = 0

    def next(self) -> np.ndarray:
        if not self.frames:
            audio = with_gaps([speech("good morning"), speech("please call me back")], gap=0.5)
            self.frames = [
                np.ascontiguousarray(audio[i : i + FRAME])
                for i in range(0, len(audio) - FRAME, FRAME)
            ]
        frame = self.frames[self.index]
        self.index = (self.index + 1) % len(self.frames)
        return frame


class _EnergyStep:
    def __init__(self) -> None:
        self.ring = _FrameRing()
        self.threshold = TranscribeCall.voice_rms_threshold

    def __call__(self) -> bool:
        return TranscribeCall.rms(self.ring.next()) >= self.threshold


class _SileroStep:
    def __init__(self) -> None:
        self.ring = _FrameRing()
        self.detector: Any = None

    def __call__(self) -> bool:
        if self.detector is None:
            from voip_whisper.vad import SileroVoiceDetector, silero_model

            self.detector = SileroVoiceDetector(silero_model())
        voiced: bool = self.detector.voiced(self.ring.next())
        return voiced


# Boundaries -------------------------------------------------------------------------------


class _Boundaries(TranscribeCall):
    supported_codecs = (PCMU,)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.frames = 0
        self.starts: list[float] = []
        self.ends: list[float] = []

    def make_stt_backend(self) -> Any:
        return _FixedLatencySTT()

    def audio_received(self, *, audio: np.ndarray, rms: float) -> None:
        self.frames += 1
        super().audio_received(audio=audio, rms=rms)

    def voice_started(self) -> None:
        self.starts.append(round(self.frames * self.rtp_packet_duration, 3))

    def voice_received(self, audio: np.ndarray) -> None:
        self.ends.append(round(self.frames * self.rtp_packet_duration - self.silence_gap, 3))


async def _boundaries(vad: str, audio: np.ndarray) -> _Boundaries:
    rtp = await RealtimeTransportProtocol.bind()
    media = MediaDescription.for_formats([PCMU.media_format()], port=9, address="127.0.0.1")
    call = _Boundaries(rtp=rtp, media=media, vad=vad, silence_gap=0.3)
    try:
        await call.wait_vad_ready()
        for start in range(0, len(audio) - FRAME + 1, FRAME):
            frame = np.ascontiguousarray(audio[start : start + FRAME])
            call.audio_received(audio=frame, rms=call.rms(frame))
    finally:
        call.close()
        rtp.close()
    return call


def vad_boundaries() -> dict[str, Any]:
    texts = ["one two three", "good morning", "please call me back", "hello world"]
    audio = with_gaps([speech(text) for text in texts], gap=0.8)
    rng = np.random.default_rng(7)
    noise = (0.05 * rng.standard_normal(RATE)).astype(np.float32)
    tone = (0.1 * np.sin(2 * np.pi * 1000 * np.arange(RATE) / RATE)).astype(np.float32)
    result: dict[str, Any] = {"speech": _state.get("speech")}
    found = {}
    for vad in ("energy", "silero"):
        call = asyncio.run(_boundaries(vad, audio))
        found[vad] = call
        result[vad] = {
            "starts_s": call.starts,
            "ends_s": call.ends,
            "utterances_in_noise": len(
                asyncio.run(_boundaries(vad, with_gaps([noise], 0.5))).starts
            ),
            "utterances_in_tone": len(asyncio.run(_boundaries(vad, with_gaps([tone], 0.5))).starts),
        }
    energy, silero = found["energy"], found["silero"]
    result["silero_minus_energy_ms"] = {
        "starts": [
            round((s - e) * 1000) for s, e in zip(silero.starts, energy.starts, strict=False)
        ],
        "ends": [round((s - e) * 1000) for s, e in zip(silero.ends, energy.ends, strict=False)],
    }
    return result


CASES: dict[str, Callable[[], object]] = {
    "whisper: VAD energy per frame": _EnergyStep(),
    "whisper: VAD silero per frame": _SileroStep(),
}
MEASURED: dict[str, Callable[[], dict[str, Any]]] = {
    "whisper: backend RTF, tiny programmed model": rtf_programmed,
    "whisper: backend RTF, tiny random model": rtf_random,
    "whisper: overhead end of speech -> transcription_received": overhead,
    "whisper: loop lag, 8 calls transcribing": loop_lag,
}
REPORTS: dict[str, Callable[[], object]] = {
    "whisper_vad_boundaries": vad_boundaries,
}

if __name__ == "__main__":  # a quick look without the harness
    for name, measure in MEASURED.items():
        print(name, measure(), file=sys.stderr)
