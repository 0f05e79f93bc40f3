"""voip-whisper registers its STT backend through the core's hook, without importing its engine."""

from __future__ import annotations

import subprocess
import sys

from voip_core import plugins
from voip_core.backends import STTBackend


def test_whisper_backend_comes_from_the_hook_with_options():
    plugins.reset_plugin_manager()
    backend = plugins.stt_backend("whisper", model="/models/tiny", language="de", beam_size=1)
    assert type(backend).__module__ == "voip_whisper.backend"
    assert (backend.model, backend.language, backend.beam_size) == ("/models/tiny", "de", 1)
    assert isinstance(backend, STTBackend)
    assert plugins.plugin_distributions()["whisper"][0] == "voip-whisper"
    assert any(info.kind == "stt" and info.name == "whisper" for info in plugins.backends())


def test_loading_the_plugin_imports_no_engine():
    code = (
        "import sys; from voip_core import plugins; plugins.stt_backend('whisper'); "
        "engines = ('faster_whisper', 'ctranslate2', 'torch', 'onnxruntime'); "
        "print(sorted(m for m in engines if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
