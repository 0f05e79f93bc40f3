"""Playing WAV files into calls and recording both directions, in Python and from the CLI."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import wave
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import free_port, run_voip
from voip_core import CallRecorder, EchoCall, PlayCall, RecordCall
from voip_core.sip.useragent import UserAgent
from voip_core.wav import read_wav, write_wav

RATE = 16000


def tone_sweep(seconds: float, rate: int) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * (250 * t + 300 * t**2))).astype(np.float32)


def write_stereo_44k(path: Path, seconds: float = 1.5) -> np.ndarray:
    """A 44.1 kHz stereo WAV (same sweep on both channels); returns the mono sweep at 16 kHz."""
    sweep = tone_sweep(seconds, 44100)
    write_wav(path, np.stack([sweep, sweep], axis=1), 44100)
    return tone_sweep(seconds, RATE)


def best_correlation(sent: np.ndarray, heard: np.ndarray) -> float:
    """The median best normalised correlation of 0.1 s pieces of ``sent`` within ``heard``.

    Piece by piece, so that a packet time the event loop lost under load (the
    sender restarts its schedule then) costs one piece, not the whole match.
    """
    n = int(0.1 * RATE)
    energy = np.concatenate(([0.0], np.cumsum(heard.astype(np.float64) ** 2)))
    norms = np.sqrt(energy[n:] - energy[:-n])
    scores = []
    for start in range(0, len(sent) - n + 1, n):
        piece = sent[start : start + n]
        dots = np.correlate(heard, piece, "valid")
        scores.append(float(np.max(dots / np.maximum(norms * np.linalg.norm(piece), 1e-12))))
    return float(np.median(scores))


# CallRecorder ------------------------------------------------------------------------------


def test_chunks_keep_time_and_gaps_become_silence():
    recorder = CallRecorder(8000, we_called=True)
    frame = np.full(160, 0.5, np.float32)
    for index in range(5):  # 20 ms frames, delivered with a little scheduling jitter
        recorder.heard(frame, 1.0 + 0.02 * index + (0.003 if index % 2 else 0.0))
    recorder.heard(frame, 2.0)  # after a second without audio (hold, DTX)
    recorder.said(np.full(320, 0.25, np.float32), 16000, 1.5)  # said at another rate
    stereo = recorder.stereo()
    caller, callee = stereo[:, 0], stereo[:, 1]  # we called: we are the caller (left)
    assert np.all(callee[:800] == 0.5)  # five frames end to end despite the jitter
    assert np.all(callee[800:7990] == 0.0) and np.all(callee[8000:8160] == 0.5)
    assert abs(float(np.mean(caller[4020:4140])) - 0.25) < 0.01  # resampled to 8 kHz, at 0.5 s
    assert recorder.duration == pytest.approx(1.02)


def test_layouts(tmp_path):
    recorder = CallRecorder(8000, we_called=False)
    recorder.heard(np.full(160, 0.5, np.float32), 0.0)
    recorder.said(np.full(160, -0.5, np.float32), 8000, 0.0)
    (stereo,) = recorder.write(tmp_path / "call.wav")
    with wave.open(str(stereo)) as reader:
        assert (reader.getnchannels(), reader.getframerate(), reader.getnframes()) == (2, 8000, 160)
    heard, said = recorder.write(tmp_path / "call.wav", "mono")
    assert heard.name == "call-heard.wav" and said.name == "call-said.wav"
    assert read_wav(heard)[0][0] == pytest.approx(0.5, abs=1e-4)
    assert read_wav(said)[0][0] == pytest.approx(-0.5, abs=1e-4)
    (mix,) = recorder.write(tmp_path / "mix.wav", "mix")
    assert np.allclose(read_wav(mix)[0], 0.0, atol=1e-4)
    with pytest.raises(ValueError, match="layout"):
        recorder.write(tmp_path / "x.wav", "quad")


# Through real calls --------------------------------------------------------------------------


async def test_a_played_wav_is_recorded_by_the_callee_in_stereo(tmp_path):
    played = write_stereo_44k(tmp_path / "prompt.wav")
    recordings = tmp_path / "recordings"
    recorder_app = type("R", (RecordCall,), {"record_to": recordings})
    callee = UserAgent(app=recorder_app)
    _, port = await callee.listen("127.0.0.1", 0)
    caller = UserAgent(app=PlayCall)
    await caller.listen("127.0.0.1", 0)
    try:
        dialog = await caller.dial(
            f"sip:record@127.0.0.1:{port}", play=tmp_path / "prompt.wav", timeout=5
        )
        assert dialog.session.played == pytest.approx(1.5, abs=0.01)
        await asyncio.wait_for(dialog.session.wait_closed(), 5)  # hangs up when played
        for _ in range(100):
            files = list(recordings.glob("*.wav"))
            if files:
                break
            await asyncio.sleep(0.05)
    finally:
        caller.close()
        callee.close()
    (file,) = files
    assert "sip_" in file.name or "voip@" in file.name  # named after the caller
    with wave.open(str(file)) as reader:
        frames = np.frombuffer(reader.readframes(reader.getnframes()), "<i2").reshape(-1, 2)
        assert (reader.getnchannels(), reader.getframerate()) == (2, RATE)
    caller_side = frames[:, 0].astype(np.float32) / 32768
    callee_side = frames[:, 1].astype(np.float32) / 32768
    assert len(frames) / RATE == pytest.approx(1.5, abs=0.15)
    assert best_correlation(played, caller_side) > 0.9  # what was played, on the left
    assert np.max(np.abs(callee_side)) < 0.01  # the recorder said nothing


def run_cli(*arguments: str, **options) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "voip_core", *arguments],
        capture_output=True,
        text=True,
        timeout=60,
        **options,
    )


def test_voip_serve_record_app_and_voip_call_play_record(tmp_path):
    prompt = tmp_path / "prompt.wav"
    played = write_stereo_44k(prompt)
    port = free_port()
    recordings = tmp_path / "recordings"
    log = tmp_path / "serve.log"
    server = run_voip(
        log,
        *("-v", "serve", "--listen", f"127.0.0.1:{port}", "--app", "record"),
        *("--record-dir", str(recordings)),
    )
    try:
        for _ in range(100):
            if "listening on" in log.read_text():
                break
            time.sleep(0.05)
        ours = tmp_path / "ours.wav"
        result = run_cli(
            "call", f"sip:record@127.0.0.1:{port}", "--play", str(prompt), "--record", str(ours),
            "--record-layout", "stereo", "--timeout", "10",
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
        assert "played 1.50s" in result.stdout
        for _ in range(100):
            if list(recordings.glob("*.wav")):
                break
            time.sleep(0.05)
    finally:
        server.terminate()
        server.wait(timeout=10)
    (theirs,) = recordings.glob("*.wav")
    for path, channel in ((theirs, 0), (ours, 0)):  # the caller (us) is left in both
        with wave.open(str(path)) as reader:
            assert reader.getnchannels() == 2
            frames = np.frombuffer(reader.readframes(reader.getnframes()), "<i2").reshape(-1, 2)
        assert best_correlation(played, frames[:, channel].astype(np.float32) / 32768) > 0.9
    assert "recorded to" in log.read_text()


async def test_an_echo_call_records_both_directions_when_asked(tmp_path):
    echo = type("E", (EchoCall,), {"record_to": tmp_path, "record_layout": "mono"})
    callee = UserAgent(app=echo)
    _, port = await callee.listen("127.0.0.1", 0)
    caller = UserAgent(app=PlayCall)
    await caller.listen("127.0.0.1", 0)
    write_wav(tmp_path / "say.wav", tone_sweep(0.6, RATE), RATE)
    try:
        dialog = await caller.dial(
            f"sip:echo@127.0.0.1:{port}", play=tmp_path / "say.wav", hang_up_after=False
        )
        await asyncio.sleep(2.0)  # said, the utterance ends, the echo comes back
        dialog.bye()
        for _ in range(100):
            if len(list(tmp_path.glob("*-said.wav"))) == 1:
                break
            await asyncio.sleep(0.05)
    finally:
        caller.close()
        callee.close()
    (heard,) = tmp_path.glob("*-heard.wav")
    (said,) = tmp_path.glob("*-said.wav")
    sweep = tone_sweep(0.6, RATE)
    assert best_correlation(sweep, read_wav(heard)[0]) > 0.9  # the echo heard our sweep
    assert best_correlation(sweep, read_wav(said)[0]) > 0.9  # and said it back
