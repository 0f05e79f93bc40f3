"""The whisper backend on tiny CTranslate2 models, through the real faster-whisper code path."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import threading

import numpy as np
import pytest
from voip_whisper import backend as whisper_backend
from voip_whisper.backend import WhisperSTT, pool_size, pool_stats
from whisper_testing import PROGRAMMED_TEXT, RATE, LoopLag, espeak, need_engine

from voip_core import PluginError, plugins

#: The event loop must answer a 10 ms ticker within this while the pool works
#: (a check that nothing blocks it, not a speed figure).
MAX_LOOP_LAG = 0.2


async def test_the_programmed_model_says_its_text_for_speech(tiny_models):
    stt = plugins.stt_backend("whisper", model=str(tiny_models.programmed), device="cpu")
    assert await stt.transcribe(espeak("hello world"), RATE) == PROGRAMMED_TEXT


async def test_audio_at_another_rate_is_resampled_and_empty_audio_is_no_text(tiny_models):
    stt = WhisperSTT(model=str(tiny_models.programmed), beam_size=1)
    assert await stt.transcribe(espeak("hello world", rate=8000), 8000) == PROGRAMMED_TEXT
    assert await stt.transcribe(np.zeros(0, np.float32), RATE) == ""


async def test_faster_whispers_own_vad_filter_runs(tiny_models):
    stt = WhisperSTT(model=str(tiny_models.programmed), vad_filter=True, beam_size=1)
    assert await stt.transcribe(espeak("hello world"), RATE) == PROGRAMMED_TEXT


async def test_one_model_per_process_loaded_in_the_pool(tiny_models):
    loaded_in: list[str] = []
    original = WhisperSTT._load

    def spy(self: WhisperSTT) -> object:
        loaded_in.append(threading.current_thread().name)
        return original(self)

    path = str(tiny_models.programmed)
    whisper_backend.clear_models()
    try:
        WhisperSTT._load = spy  # type: ignore[method-assign]
        first, second = WhisperSTT(model=path), WhisperSTT(model=path, language="en")
        audio = espeak("one")
        await asyncio.gather(first.transcribe(audio, RATE), second.transcribe(audio, RATE))
        await first.transcribe(audio, RATE)
    finally:
        WhisperSTT._load = original  # type: ignore[method-assign]
    assert first._whisper is second._whisper is not None
    assert len(loaded_in) == 1  # once, although two utterances asked at the same time
    assert loaded_in[0].startswith("voip-whisper")  # in the pool, not on the event loop


async def test_utterances_queue_in_the_bounded_pool_and_the_loop_stays_responsive(tiny_models):
    # The random model is slow (it decodes up to 448 tokens), so utterances pile up.
    stt = WhisperSTT(model=str(tiny_models.random), beam_size=1)
    await stt.load()
    audio = espeak("queue")
    pool_stats(reset_peak=True)
    with LoopLag() as lag:
        texts = await asyncio.gather(*(stt.transcribe(audio, RATE) for _ in range(3 * pool_size())))
    stats = pool_stats()
    assert len(texts) == 3 * pool_size()
    assert stats.peak_running == pool_size()  # all workers busy, never more
    assert stats.running == stats.queued == 0
    assert pool_size() == min(2, len(os.sched_getaffinity(0)))  # the default: min(2, CPUs)
    assert lag.max < MAX_LOOP_LAG, f"event loop blocked for {lag.max * 1000:.0f} ms"
    assert len(lag.lags) > 5


async def test_loading_does_not_block_the_loop(tiny_models, tmp_path):
    """First use: import of the engine and load of the model happen in the pool."""
    copy = shutil.copytree(tiny_models.programmed, tmp_path / "fresh")  # not loaded yet
    stt = WhisperSTT(model=str(copy))
    with LoopLag() as lag:
        assert await stt.transcribe(espeak("load"), RATE) == PROGRAMMED_TEXT
    assert lag.max < MAX_LOOP_LAG, f"event loop blocked for {lag.max * 1000:.0f} ms"


# Clear errors ----------------------------------------------------------------------------------


async def test_a_directory_without_a_model(tmp_path):
    need_engine()
    stt = WhisperSTT(model=str(tmp_path))
    with pytest.raises(PluginError, match="not a CTranslate2 model directory"):
        await stt.transcribe(np.ones(1600, np.float32), RATE)


async def test_a_model_path_removed_after_the_backend_was_made(tmp_path):
    need_engine()
    folder = tmp_path / "gone"
    folder.mkdir()
    stt = WhisperSTT(model=str(folder))
    folder.rmdir()
    with pytest.raises(PluginError, match="gone' does not exist"):
        await stt.load()


async def test_a_named_model_not_in_the_cache_without_downloads(tmp_path):
    need_engine()
    stt = WhisperSTT(model="tiny", download=False, download_root=str(tmp_path))
    with pytest.raises(PluginError) as caught:
        await stt.load()
    message = str(caught.value)
    assert "'tiny' is not in the local Hugging Face cache" in message
    assert "download=False" in message
    assert "model=/path/to/a/CTranslate2" in message and "download_model('tiny')" in message
    # Remembered: the next utterance fails at once with the same words.
    with pytest.raises(PluginError, match="not in the local Hugging Face cache"):
        await stt.transcribe(np.ones(1600, np.float32), RATE)


async def test_hf_hub_offline_means_no_download(tmp_path, monkeypatch):
    need_engine()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    stt = WhisperSTT(model="Systran/faster-whisper-tiny", download_root=str(tmp_path))
    with pytest.raises(PluginError, match="cannot be downloaded \\(HF_HUB_OFFLINE is set\\)"):
        await stt.load()


async def test_an_unknown_model_name(tmp_path):
    need_engine()
    with pytest.raises(PluginError, match=r"unknown Whisper model 'huge-v9'.*large-v3"):
        await WhisperSTT(model="huge-v9", download_root=str(tmp_path)).load()


async def test_cuda_asked_on_a_machine_without_it(tiny_models):
    import ctranslate2

    if ctranslate2.get_cuda_device_count() > 0:
        pytest.skip("this machine has a CUDA device: the error cannot happen here")
    with pytest.raises(PluginError, match="device='cuda', but CTranslate2 finds no CUDA device"):
        await WhisperSTT(model=str(tiny_models.programmed), device="cuda").load()
    auto = WhisperSTT(model=str(tiny_models.programmed), device="auto")  # falls back to the CPU
    assert await auto.transcribe(espeak("auto"), RATE) == PROGRAMMED_TEXT


async def test_an_unsupported_compute_type_names_the_supported_ones(tiny_models):
    stt = WhisperSTT(model=str(tiny_models.programmed), device="cpu", compute_type="float8")
    with pytest.raises(PluginError, match=r"could not load .* on cpu \(float8\)"):
        await stt.load()


async def test_missing_faster_whisper_says_how_to_install(tiny_models, tmp_path, monkeypatch):
    copy = shutil.copytree(tiny_models.programmed, tmp_path / "no-engine")
    monkeypatch.setitem(sys.modules, "faster_whisper", None)  # import faster_whisper fails
    with pytest.raises(PluginError, match=r"pip install 'voip-whisper\[engine\]'"):
        await WhisperSTT(model=str(copy)).load()


# A real model, when there is one ------------------------------------------------------------


async def test_a_real_model_hears_hello_world():
    model = os.environ.get("VOIP_WHISPER_MODEL")
    if not model:
        pytest.skip(
            "no real Whisper model: set VOIP_WHISPER_MODEL to a CTranslate2 Whisper directory "
            "(or a cached model name) to run this test; none can be downloaded here"
        )
    stt = plugins.stt_backend("whisper", model=model, language="en", download=False)
    text = await stt.transcribe(espeak("hello world"), RATE)
    assert "hello" in text.lower(), text
