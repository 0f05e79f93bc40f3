"""voip-agent's espeak-ng TTS backend, through the hook, with the real espeak-ng program."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import need_program
from voip_core import PluginError, plugins
from voip_core.backends import TTSBackend


async def test_espeak_speaks_through_the_tts_hook():
    need_program("espeak-ng")
    plugins.reset_plugin_manager()
    tts = plugins.tts_backend("espeak", sample_rate=16000)
    assert isinstance(tts, TTSBackend)
    chunks = [chunk async for chunk in tts.synthesize("Hello world, this is a test.")]
    audio = np.concatenate(chunks)
    assert audio.dtype == np.float32
    assert 1.0 < len(audio) / 16000 < 4.0  # about two seconds of speech
    assert 0.02 < float(np.sqrt(np.mean(audio**2))) < 0.5  # speech, not silence or clipping


async def test_missing_program_is_a_clear_error():
    tts = plugins.tts_backend("espeak", executable="no-such-espeak")
    with pytest.raises(PluginError, match="no-such-espeak not found: install espeak-ng"):
        [chunk async for chunk in tts.synthesize("hi")]


async def test_text_that_looks_like_an_option_is_spoken():
    need_program("espeak-ng")
    tts = plugins.tts_backend("espeak", sample_rate=16000)
    for text in ("- first item", "--help"):
        audio = np.concatenate([chunk async for chunk in tts.synthesize(text)])
        assert len(audio) / 16000 > 0.3, text
