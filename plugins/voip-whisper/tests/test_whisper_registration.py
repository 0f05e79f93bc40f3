"""voip-whisper registers its STT backend and its app through the core's hooks, engine-free."""

from __future__ import annotations

import subprocess
import sys

import pytest
import voip_whisper
from voip_whisper.call import TranscribeCall

from voip_core import PluginError, plugins
from voip_core.backends import STTBackend


def test_whisper_backend_comes_from_the_hook_with_options(tmp_path):
    plugins.reset_plugin_manager()
    backend = plugins.stt_backend(
        "whisper", model=str(tmp_path), language="de", beam_size=1, initial_prompt="Voip"
    )
    assert type(backend).__module__ == "voip_whisper.backend"
    assert (backend.model, backend.language, backend.beam_size) == (str(tmp_path), "de", 1)
    assert backend.initial_prompt == "Voip"
    assert isinstance(backend, STTBackend)
    assert plugins.plugin_distributions()["whisper"][0] == "voip-whisper"
    assert any(info.kind == "stt" and info.name == "whisper" for info in plugins.backends())


def test_the_transcribe_app_is_registered():
    plugins.reset_plugin_manager()
    assert plugins.apps()["transcribe"] is TranscribeCall
    assert voip_whisper.TranscribeCall is TranscribeCall
    with pytest.raises(AttributeError):
        _ = voip_whisper.NoSuchThing  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"device": "tpu"}, "device='tpu': one of cpu, cuda, auto"),
        ({"beam_size": 0}, "beam_size=0"),
        ({"workers": -1}, "workers=-1"),
        ({"model": "/no/such/whisper-model"}, "'/no/such/whisper-model' does not exist"),
        ({"model": "./missing-model"}, "'./missing-model' does not exist"),
    ],
)
def test_bad_options_fail_when_the_backend_is_made(options, message):
    with pytest.raises(PluginError, match=message.replace("(", r"\(")):
        plugins.stt_backend("whisper", **options)


def test_loading_the_plugin_imports_no_engine():
    code = (
        "import sys; from voip_core import plugins; plugins.stt_backend('whisper'); "
        "plugins.apps(); import voip_whisper; voip_whisper.TranscribeCall; "
        "engines = ('faster_whisper', 'ctranslate2', 'torch', 'onnxruntime'); "
        "print(sorted(m for m in engines if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
