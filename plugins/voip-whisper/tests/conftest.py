"""Fixtures of voip-whisper's tests: tiny Whisper models, espeak-ng speech, a fake STT plugin.

The models are built once per session by ``make_tiny_whisper.py`` (our shared
recipe: numpy + CTranslate2 specs, no download) and loaded through the real
faster-whisper code path. The helpers live in ``whisper_testing.py``,
registered here under that name for the test modules to import.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from voip_core import plugins
from voip_core.wav import write_wav

collect_ignore = ["make_tiny_whisper.py", "whisper_testing.py"]


def _register_helpers() -> None:
    if "whisper_testing" in sys.modules:
        return
    path = Path(__file__).resolve().parent / "whisper_testing.py"
    spec = importlib.util.spec_from_file_location("whisper_testing", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["whisper_testing"] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)


_register_helpers()

from whisper_testing import (  # noqa: E402
    RATE,
    FakeSTTPlugin,
    TinyModels,
    build_tiny_models,
    speech_with_gaps,
)


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> TinyModels:
    """The programmed and the random tiny model, built once per session."""
    return build_tiny_models(tmp_path_factory.mktemp("tiny-whisper"))


@pytest.fixture(scope="session")
def two_utterances(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    """A 16 kHz WAV of two sentences with a second of silence between them."""
    audio, _ = speech_with_gaps(["hello world", "this is a test"])
    path = tmp_path_factory.mktemp("speech") / "two-utterances.wav"
    write_wav(path, audio, RATE)
    return path, audio


@pytest.fixture
def stt_plugin() -> Iterator[FakeSTTPlugin]:
    """A FakeSTTPlugin registered on the plugin manager for the test, removed after."""
    plugin = FakeSTTPlugin()
    manager = plugins.get_plugin_manager()
    manager.register(plugin, name="test-fake-stt")
    try:
        yield plugin
    finally:
        if manager.is_registered(plugin):
            manager.unregister(plugin)
