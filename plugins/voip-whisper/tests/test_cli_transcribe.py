"""`voip serve --app transcribe`: one line per utterance, or JSON lines, with any STT backend."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from whisper_testing import PROGRAMMED_TEXT


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def voip(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "voip_core", *arguments]


def test_voip_serve_transcribe_prints_json_lines_per_utterance(
    tiny_models, two_utterances, tmp_path
):
    wav, _ = two_utterances
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as output:
        server = subprocess.Popen(
            voip(
                *("serve", "--listen", f"127.0.0.1:{port}", "--app", "transcribe", "--json"),
                *("--stt-option", f"model={tiny_models.programmed}"),
            ),
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:
        for _ in range(200):
            if "listening on" in log.read_text():
                break
            time.sleep(0.05)
        call = subprocess.run(
            voip("call", f"sip:transcribe@127.0.0.1:{port}", "--play", str(wav), "--timeout", "10"),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert call.returncode == 0, call.stdout + call.stderr
        lines: list[dict] = []
        for _ in range(200):
            lines = [
                json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")
            ]
            if len(lines) >= 2:
                break
            time.sleep(0.05)
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert [line["text"] for line in lines] == [PROGRAMMED_TEXT, PROGRAMMED_TEXT], log.read_text()
    assert all(line["caller"].startswith("sip:voip@127.0.0.1") for line in lines)
    assert all("T" in line["time"] for line in lines)


def test_a_bad_stt_backend_fails_at_start(tmp_path: Path):
    missing = tmp_path / "no-model-here"
    result = subprocess.run(
        voip(
            *("serve", "--listen", f"127.0.0.1:{free_port()}", "--app", "transcribe"),
            *("--stt-option", f"model={missing}"),
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "STT backend 'whisper'" in result.stderr and str(missing) in result.stderr
    result = subprocess.run(
        voip(
            "serve", "--listen", f"127.0.0.1:{free_port()}", "--app", "transcribe", "--stt", "nope"
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "nope" in result.stderr
