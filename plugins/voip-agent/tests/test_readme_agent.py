"""README's voice-agent example runs: the tiny Whisper model hears, the stand-in answers."""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

from agent_testing import OllamaStandIn, script
from readme_blocks import named
from whisper_testing import PROGRAMMED_TEXT

from conftest import need, need_program


def test_readme_agent_example(tiny_models, tmp_path):
    need_program("espeak-ng")
    need(importlib.util.find_spec("ollama") is not None, "pip install 'voip-agent[ollama]'")
    example = tmp_path / "agent.py"
    example.write_text(named("agent.py"))
    answer = "We open at seven every morning."
    with OllamaStandIn([script(answer, between=0.02)]) as ollama:
        result = subprocess.run(
            [sys.executable, str(example)],
            capture_output=True,
            text=True,
            timeout=90,
            env={
                **os.environ,
                "OLLAMA_HOST": ollama.url,
                "WHISPER_MODEL": str(tiny_models.programmed),
            },
        )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines() == [f"{PROGRAMMED_TEXT!r} -> {answer!r}"]
    (stream,) = ollama.streams
    assert stream.body["messages"][0]["content"].startswith("You answer the phone of a bakery")


def test_plugin_readme_example_defines_a_working_agent_class():
    """The plugin README's AgentCall subclass: valid code, the fields and options it says."""
    text = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    (code,) = [block for block in re.findall(r"```python\n(.*?)```", text, re.DOTALL)]
    assert code.startswith("# example: receptionist.py")
    namespace: dict[str, object] = {}
    exec(compile(code, "receptionist.py", "exec"), namespace)
    receptionist = namespace["Receptionist"]
    fields = {field.name: field.default for field in dataclasses.fields(receptionist)}
    assert fields["audio_interrupt_duration"] == 0.4
    assert fields["salutation"].startswith("Good morning")
    assert receptionist.default_llm == "ollama" and receptionist.default_tts == "pocket-tts"
