"""A text-to-speech backend on the espeak-ng program (offline, no models)."""

from __future__ import annotations

import asyncio
import io
import shutil
import wave
from collections.abc import AsyncIterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from voip_core.errors import PluginError

__all__ = ["EspeakTTS"]


@dataclass(kw_only=True)
class EspeakTTS:
    """Speech from ``espeak-ng``: one chunk per call of :meth:`synthesize`.

    Args:
        voice: espeak-ng voice name (``espeak-ng --voices``).
        words_per_minute: Speaking rate.
        executable: Program name or path.
    """

    voice: str = "en-us"
    words_per_minute: int = 160
    executable: str = "espeak-ng"
    sample_rate: int = 22050

    async def synthesize(self, text: str) -> AsyncIterator[npt.NDArray[np.float32]]:
        """Audio for ``text`` as float32 mono at :attr:`sample_rate`."""
        program = shutil.which(self.executable)
        if program is None:
            raise PluginError(
                f"{self.executable} not found: install espeak-ng (apt-get install espeak-ng)"
            )
        # The text goes through stdin: text that starts with "-" is not an option then.
        process = await asyncio.create_subprocess_exec(
            program,
            "-v",
            self.voice,
            "-s",
            str(self.words_per_minute),
            "--stdout",
            "--stdin",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            stdout, stderr = await process.communicate(text.encode())
        except BaseException:
            if process.returncode is None:
                process.kill()
                await process.wait()
            raise
        if process.returncode != 0:
            raise PluginError(
                f"espeak-ng failed ({process.returncode}): {stderr.decode(errors='replace')}"
            )
        # --stdout writes a streaming header with a bogus data size: read frames up to EOF.
        with wave.open(io.BytesIO(stdout)) as reader:
            rate = reader.getframerate()
            pcm = np.frombuffer(stdout[44:], dtype="<i2")
        audio = pcm.astype(np.float32) / 32768.0
        if rate != self.sample_rate:
            from voip_core.resample import resample

            audio = resample(audio, rate, self.sample_rate)
        yield audio
