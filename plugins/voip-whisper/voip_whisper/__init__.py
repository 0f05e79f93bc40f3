"""voip-whisper: a faster-whisper speech-to-text backend for voip-core.

Registers the STT backend ``"whisper"`` through the ``voip_stt`` hook. The
engine (faster-whisper, CTranslate2) is imported when the first utterance is
transcribed, never at import time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from voip_core.backends import BackendInfo
from voip_core.plugins import hookimpl
from voip_whisper.backend import WhisperSTT

__all__ = ["WhisperSTT"]


@hookimpl
def voip_backends() -> Sequence[BackendInfo]:
    return [BackendInfo(kind="stt", name="whisper", description="faster-whisper (CTranslate2)")]


@hookimpl
def voip_stt(name: str, options: Mapping[str, Any]) -> WhisperSTT | None:
    if name != "whisper":
        return None
    return WhisperSTT(**options)
