"""voip-agent: language-model and text-to-speech backends for voice agents.

At this stage it registers the ``"espeak"`` TTS backend (espeak-ng, offline,
no torch) through the ``voip_tts`` hook, and cuts streamed LLM text into
speakable pieces (:mod:`voip_agent.text`). The Ollama LLM, Pocket TTS, SayCall
and AgentCall arrive with the voice-agent work.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from voip_agent.espeak import EspeakTTS
from voip_core.backends import BackendInfo
from voip_core.plugins import hookimpl

__all__ = ["EspeakTTS"]


@hookimpl
def voip_backends() -> Sequence[BackendInfo]:
    return [BackendInfo(kind="tts", name="espeak", description="espeak-ng (offline, light)")]


@hookimpl
def voip_tts(name: str, options: Mapping[str, Any]) -> EspeakTTS | None:
    if name != "espeak":
        return None
    return EspeakTTS(**options)
