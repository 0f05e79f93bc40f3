"""The faster-whisper backend: one model per process, loaded on first use."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from voip_core.errors import PluginError

__all__ = ["WhisperSTT"]

_models: dict[tuple[str, str, str], Any] = {}
_models_lock = threading.Lock()


@dataclass(kw_only=True)
class WhisperSTT:
    """Speech to text with faster-whisper, one utterance at a time.

    Args:
        model: A model size name or the path of a CTranslate2 Whisper model.
        device: ``"cpu"``, ``"cuda"`` or ``"auto"``.
        compute_type: CTranslate2 compute type (``"int8"``, ``"float16"``, ...).
        language: Language code, or ``None`` to detect it.
        beam_size: Beam width of the decoder.
    """

    model: str = "base"
    device: str = "cpu"
    compute_type: str = "int8"
    language: str | None = None
    beam_size: int = 5
    transcribe_options: dict[str, Any] = field(default_factory=dict)

    def _load(self) -> Any:
        key = (self.model, self.device, self.compute_type)
        with _models_lock:
            if key not in _models:
                try:
                    from faster_whisper import WhisperModel
                except ImportError as error:
                    raise PluginError(
                        "the whisper backend needs faster-whisper: "
                        "pip install 'voip-whisper[engine]'"
                    ) from error
                _models[key] = WhisperModel(
                    self.model, device=self.device, compute_type=self.compute_type
                )
            return _models[key]

    def _transcribe(self, audio: npt.NDArray[np.float32]) -> str:
        segments, _ = self._load().transcribe(
            audio, language=self.language, beam_size=self.beam_size, **self.transcribe_options
        )
        return "".join(segment.text for segment in segments).strip()

    async def transcribe(self, audio: npt.NDArray[np.float32], sample_rate: int) -> str:
        """The text spoken in ``audio``; resampled to Whisper's 16 kHz when needed."""
        if sample_rate != 16000:
            from voip_core.resample import resample

            audio = resample(audio, sample_rate, 16000)
        return await asyncio.to_thread(self._transcribe, audio)
