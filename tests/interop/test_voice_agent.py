"""voip-agent's registered mode against real peers: `voip sip AOR agent` answers baresip
through kamailio (tiny Whisper model, an Ollama stand-in, espeak-ng), and `voip sip AOR say`
calls baresip and speaks.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from interop.peers import make_speech_wav, voiced_seconds, wait_for

from conftest import ROOT, need, need_program

pytestmark = pytest.mark.interop


def _helpers(name: str, path: Path) -> ModuleType:
    """A plugin's test helpers (``whisper_testing``, ``agent_testing``), imported by path."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture
def agent_helpers() -> tuple[ModuleType, ModuleType]:
    need(importlib.util.find_spec("voip_agent") is not None, "voip-agent is not installed")
    need(importlib.util.find_spec("ollama") is not None, "pip install 'voip-agent[ollama]'")
    need_program("espeak-ng")
    whisper = _helpers(
        "whisper_testing", ROOT / "plugins" / "voip-whisper" / "tests" / "whisper_testing.py"
    )
    agent = _helpers(
        "agent_testing", ROOT / "plugins" / "voip-agent" / "tests" / "agent_testing.py"
    )
    return whisper, agent


def espeak_seconds(text: str) -> float:
    result = subprocess.run(
        ["espeak-ng", "-v", "en-us", "--stdout", text], capture_output=True, check=True
    )
    return (len(result.stdout) - 44) / 2 / 22050


def test_voip_sip_agent_answers_baresip_through_kamailio(
    kamailio, start_baresip, agent_helpers, tmp_path: Path
):
    whisper, agent = agent_helpers
    host, port, users = kamailio
    models = whisper.build_tiny_models(tmp_path / "models")
    # baresip asks once the greeting (about 1.5 s) is over, or it would interrupt it.
    question = make_speech_wav(
        tmp_path / "question.wav",
        "What are your opening hours?",
        silence_before=3.0,
        silence_after=10.0,
    )
    salutation, answer = "Hello, the shop here.", "We are open from nine to five."
    log = tmp_path / "agent.log"
    with agent.OllamaStandIn([agent.script(answer, between=0.02)]) as ollama:
        with log.open("w") as output:
            process = subprocess.Popen(
                [
                    *(sys.executable, "-m", "voip_core", "sip", f"sip:agent@{host}:{port}"),
                    *("agent", "--json", "--tts", "espeak", "--salutation", salutation),
                    *("--stt-option", f"model={models.programmed}"),
                    *("--llm-option", "model=llama3.2"),
                ],
                stdout=output,
                stderr=subprocess.STDOUT,
                env={
                    **os.environ,
                    "VOIP_SIP_PASSWORD": users["agent"],
                    "OLLAMA_HOST": ollama.url,
                    "PYTHONUNBUFFERED": "1",
                },
            )
        try:
            wait_for(lambda: "registered sip:agent" in log.read_text(), 20, "the agent to register")
            bob = start_baresip(
                user="bob", registrar=(host, port), password=users["bob"], wav=question
            )
            bob.dial(f"sip:agent@{host}:{port}")
            bob.wait_event("CALL_ESTABLISHED", timeout=10)

            def turns() -> list[dict]:
                lines = log.read_text().splitlines()
                return [
                    json.loads(line) for line in lines if line.startswith('{"') and "turn" in line
                ]

            wait_for(lambda: len(turns()) >= 2, 30, "the agent's answer")
            bob.command("hangup")
            bob.wait_event("CALL_CLOSED", timeout=10)
            wait_for(lambda: "call from sip:bob" in log.read_text(), 5, "the call's log line")
        finally:
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=15) == 0, log.read_text()
    greeting, reply = turns()[:2]
    assert greeting["agent"] == salutation and greeting["turn"] == 0
    assert reply["user"] == whisper.PROGRAMMED_TEXT and reply["agent"] == answer
    assert reply["voice_to_voice_ms"] > 0
    assert users["agent"] not in log.read_text()
    # baresip heard the greeting and the answer.
    (heard, rate), _ = bob.recorded()
    spoken = espeak_seconds(salutation) + espeak_seconds(answer)
    assert voiced_seconds(heard, rate) > 0.6 * spoken


def test_voip_sip_say_calls_baresip_through_kamailio(kamailio, start_baresip, agent_helpers):
    host, port, users = kamailio
    bob = start_baresip(user="bob", registrar=(host, port), password=users["bob"])
    text = "This is a reminder of your appointment tomorrow at ten."
    result = subprocess.run(
        [
            *(sys.executable, "-m", "voip_core", "sip", f"sip:alice@{host}:{port}"),
            *("say", f"sip:bob@{host}:{port}", text, "--tts", "espeak"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "VOIP_SIP_PASSWORD": users["alice"]},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "registered sip:alice" in result.stdout and "hung up by us" in result.stdout
    bob.wait_event("CALL_CLOSED", timeout=10)
    (heard, rate), _ = bob.recorded()
    assert voiced_seconds(heard, rate) > 0.6 * espeak_seconds(text)
