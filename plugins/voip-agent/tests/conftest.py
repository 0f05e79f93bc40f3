"""Fixtures of voip-agent's tests: an Ollama stand-in, tiny Whisper models, espeak-ng speech.

The helpers live in ``agent_testing.py`` here and in voip-whisper's
``whisper_testing.py`` (the tiny CTranslate2 models, espeak-ng speech, the
loop-lag meter), registered under those names for the test modules to import.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
collect_ignore = ["agent_testing.py", "pocket_testing.py"]


def _register(name: str, path: Path) -> None:
    if name in sys.modules:
        return
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)


_register("whisper_testing", HERE.parent.parent / "voip-whisper" / "tests" / "whisper_testing.py")
_register("agent_testing", HERE / "agent_testing.py")

from whisper_testing import TinyModels, build_tiny_models  # noqa: E402


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> TinyModels:
    """The programmed tiny Whisper model (always says PROGRAMMED_TEXT) and a random one."""
    return build_tiny_models(tmp_path_factory.mktemp("tiny-whisper"))
