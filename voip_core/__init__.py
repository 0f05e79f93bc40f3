"""voip-core: an asyncio VoIP framework.

Only light names are imported here; the media classes are loaded on first use
so that ``import voip_core`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from voip_core.errors import CodecError, NegotiationError, ParseError, PluginError, VoIPError

__version__ = "0.1.0"

__all__ = [
    "AudioCall",
    "CallRecorder",
    "CodecError",
    "EchoCall",
    "NegotiationError",
    "ParseError",
    "PlayCall",
    "PluginError",
    "RTPPortRange",
    "RealtimeTransportProtocol",
    "RecordCall",
    "Session",
    "VoIPError",
    "VoiceActivityCall",
    "__version__",
]

_LAZY = {
    "AudioCall": "voip_core.audio",
    "VoiceActivityCall": "voip_core.audio",
    "EchoCall": "voip_core.audio",
    "PlayCall": "voip_core.audio",
    "RecordCall": "voip_core.audio",
    "CallRecorder": "voip_core.audio",
    "RTPPortRange": "voip_core.rtp.ports",
    "Session": "voip_core.rtp.session",
    "RealtimeTransportProtocol": "voip_core.rtp.protocol",
}

if TYPE_CHECKING:
    from voip_core.audio import (
        AudioCall,
        CallRecorder,
        EchoCall,
        PlayCall,
        RecordCall,
        VoiceActivityCall,
    )
    from voip_core.rtp.ports import RTPPortRange
    from voip_core.rtp.protocol import RealtimeTransportProtocol
    from voip_core.rtp.session import Session


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'voip_core' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value
