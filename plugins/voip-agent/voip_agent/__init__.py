"""voip-agent: voice agents for voip-core calls.

Through the core's hooks it registers

- the LLM backend ``"ollama"`` (:class:`OllamaLLM`: a model on an Ollama
  server, streamed; needs the ``ollama`` extra);
- the TTS backends ``"pocket-tts"`` (Kyutai's Pocket TTS on torch, the
  ``pocket-tts`` extra) and ``"espeak"`` (espeak-ng: offline, light, no torch);
- the apps ``"agent"`` (:class:`AgentCall`) and ``"say"`` (:class:`SayCall`).

Engines (ollama, torch, pocket_tts) are imported when a backend is first
used, never when the plugin loads.

>>> from voip_core import plugins
>>> sorted(name for name in plugins.apps() if name in ("agent", "say"))
['agent', 'say']
>>> sorted(info.name for info in plugins.backends() if info.kind in ("llm", "tts"))
['espeak', 'ollama', 'pocket-tts']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from voip_agent.espeak import EspeakTTS
from voip_agent.ollama_llm import OllamaLLM
from voip_agent.text import SpeakableChunker, speakable
from voip_core.backends import BackendInfo, TTSBackend
from voip_core.plugins import hookimpl

if TYPE_CHECKING:
    from voip_agent.agent import AgentCall, TurnMetrics
    from voip_agent.say import SayCall
    from voip_core.rtp.session import Session

__all__ = [
    "AgentCall",
    "EspeakTTS",
    "OllamaLLM",
    "SayCall",
    "SpeakableChunker",
    "TurnMetrics",
    "speakable",
]


def __getattr__(name: str) -> Any:
    # The calls import voip-whisper and the core's audio stack: only when asked for.
    if name in ("AgentCall", "TurnMetrics"):
        from voip_agent import agent

        return getattr(agent, name)
    if name == "SayCall":
        from voip_agent.say import SayCall

        return SayCall
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@hookimpl
def voip_backends() -> Sequence[BackendInfo]:
    return [
        BackendInfo(kind="llm", name="ollama", description="a model on an Ollama server"),
        BackendInfo(kind="tts", name="pocket-tts", description="Kyutai Pocket TTS (torch, CPU)"),
        BackendInfo(kind="tts", name="espeak", description="espeak-ng (offline, light)"),
    ]


@hookimpl
def voip_tts(name: str, options: Mapping[str, Any]) -> TTSBackend | None:
    if name == "espeak":
        return EspeakTTS(**options)
    if name == "pocket-tts":
        from voip_agent.pocket import PocketTTS

        return PocketTTS(**options)
    return None


@hookimpl
def voip_llm(name: str, options: Mapping[str, Any]) -> OllamaLLM | None:
    if name != "ollama":
        return None
    return OllamaLLM(**options)


@hookimpl
def voip_apps() -> Mapping[str, type[Session]]:
    from voip_agent.agent import AgentCall
    from voip_agent.say import SayCall

    return {"agent": AgentCall, "say": SayCall}
