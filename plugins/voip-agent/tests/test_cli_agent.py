"""The CLI of voip-agent's apps: `voip call --say`, `voip serve --app agent`, as real processes."""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
from pathlib import Path

import numpy as np
import pytest
from agent_testing import OllamaStandIn, script, start_voip, stop_voip, voip
from whisper_testing import PROGRAMMED_TEXT, espeak

from conftest import free_port, need, need_program
from voip_core.wav import read_wav, write_wav

RATE = 16000


def voiced_seconds(audio: np.ndarray, rate: int) -> float:
    """Seconds of 20 ms frames that carry speech."""
    frame = rate // 50
    frames = audio[: len(audio) // frame * frame].reshape(-1, frame)
    return float(np.count_nonzero(np.sqrt(np.mean(frames**2, axis=1)) > 0.01)) / 50


def test_voip_call_say_speaks_then_hangs_up(tmp_path: Path):
    need_program("espeak-ng")
    port = free_port()
    server = start_voip(
        [
            "serve",
            "--listen",
            f"127.0.0.1:{port}",
            "--app",
            "record",
            "--record-dir",
            str(tmp_path / "rec"),
        ],
        tmp_path / "serve.log",
    )
    text = "Your parcel arrives tomorrow between nine and noon. Goodbye."
    try:
        result = subprocess.run(
            voip("call", f"sip:record@127.0.0.1:{port}", "--say", text, "--tts", "espeak"),
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
        )
    finally:
        stop_voip(server)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "hung up by us" in result.stdout, result.stdout
    said = float(result.stdout.split(" said ")[1].split("s,")[0])
    expected = len(espeak(text)) / RATE
    assert said == pytest.approx(expected, rel=0.1)
    # The other side recorded it (stereo, the caller left): speech, as long as said.
    (recording,) = (tmp_path / "rec").glob("*.wav")
    audio, rate = read_wav(recording)
    heard = audio[:, 0] if audio.ndim == 2 else audio
    assert voiced_seconds(heard, rate) > 0.6 * expected


def test_voip_call_say_without_a_tts_says_why(tmp_path: Path):
    result = subprocess.run(
        voip("call", f"sip:x@127.0.0.1:{free_port()}", "--say", "hi", "--tts", "nope"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "TTS backend 'nope'" in result.stderr and "espeak" in result.stderr


def test_voip_serve_agent_answers_a_caller(tiny_models, tmp_path: Path):
    need_program("espeak-ng")
    need(importlib.util.find_spec("ollama") is not None, "pip install 'voip-agent[ollama]'")
    question = tmp_path / "question.wav"
    write_wav(question, np.concatenate([espeak("What time is it?"), np.zeros(RATE)]), RATE)
    answer = "It is noon. Anything else?"
    port = free_port()
    with OllamaStandIn([script(answer, between=0.02)]) as ollama:
        server = start_voip(
            [
                *("serve", "--listen", f"127.0.0.1:{port}", "--app", "agent", "--json"),
                *("--tts", "espeak", "--stt-option", f"model={tiny_models.programmed}"),
                *("--llm-option", "model=llama3.2", "--llm-option", "temperature=0.1"),
                *("--salutation", "", "--system-prompt", "You tell the time."),
            ],
            tmp_path / "serve.log",
            OLLAMA_HOST=ollama.url,
        )
        try:
            result = subprocess.run(
                voip(
                    *("call", f"sip:agent@127.0.0.1:{port}", "--play", str(question)),
                    *("--duration", "6", "--record", str(tmp_path / "heard.wav")),
                ),
                capture_output=True,
                text=True,
                timeout=60,
            )
        finally:
            stop_voip(server)
    log = (tmp_path / "serve.log").read_text()
    assert result.returncode == 0, result.stdout + result.stderr + log
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert [line.get("text") for line in lines if "text" in line] == [PROGRAMMED_TEXT], log
    (turn,) = [line for line in lines if "turn" in line]
    assert turn["agent"] == answer and turn["user"] == PROGRAMMED_TEXT
    assert turn["voice_to_voice_ms"] > 0 and not turn["interrupted"]
    body = ollama.streams[0].body
    assert body["messages"][0] == {"role": "system", "content": "You tell the time."}
    assert body["options"] == {"temperature": 0.1}
    heard, rate = read_wav(tmp_path / "heard.wav")
    assert voiced_seconds(heard, rate) > 0.6 * len(espeak(answer)) / RATE


def test_voip_serve_agent_without_ollama_fails_at_start(tiny_models):
    need(importlib.util.find_spec("ollama") is not None, "pip install 'voip-agent[ollama]'")
    nobody = f"http://127.0.0.1:{free_port(socket.SOCK_STREAM)}"
    result = subprocess.run(
        voip(
            *("serve", "--listen", f"127.0.0.1:{free_port()}", "--app", "agent"),
            *("--tts", "espeak", "--stt-option", f"model={tiny_models.programmed}"),
        ),
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "OLLAMA_HOST": nobody},
    )
    assert result.returncode == 2
    assert f"LLM backend 'ollama': Ollama is not reachable at {nobody}" in result.stderr
