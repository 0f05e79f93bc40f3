"""voip-whisper: speech to text for voip-core calls, with faster-whisper.

- the STT backend ``"whisper"`` (:class:`WhisperSTT`), through the ``voip_stt`` hook;
- the app ``"transcribe"`` (:class:`TranscribeCall`), through the ``voip_apps`` hook.

The engine (faster-whisper, CTranslate2, onnxruntime) is imported when the
first utterance is transcribed, never when the plugin loads; TranscribeCall
is imported when it is first asked for.

>>> from voip_core import plugins
>>> plugins.apps()["transcribe"].__name__
'TranscribeCall'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from voip_core.backends import BackendInfo
from voip_core.plugins import hookimpl
from voip_whisper.backend import WhisperSTT

if TYPE_CHECKING:
    from voip_core.rtp.session import Session
    from voip_whisper.call import TranscribeCall

__all__ = ["TranscribeCall", "WhisperSTT"]


def __getattr__(name: str) -> Any:
    if name == "TranscribeCall":
        from voip_whisper.call import TranscribeCall

        return TranscribeCall
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@hookimpl
def voip_backends() -> Sequence[BackendInfo]:
    return [BackendInfo(kind="stt", name="whisper", description="faster-whisper (CTranslate2)")]


@hookimpl
def voip_stt(name: str, options: Mapping[str, Any]) -> WhisperSTT | None:
    if name != "whisper":
        return None
    return WhisperSTT(**options)


@hookimpl
def voip_apps() -> Mapping[str, type[Session]]:
    from voip_whisper.call import TranscribeCall

    return {"transcribe": TranscribeCall}
