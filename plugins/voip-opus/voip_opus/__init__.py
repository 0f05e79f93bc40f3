"""voip-opus: the Opus codec (RFC 6716, RTP payload RFC 7587) for voip-core.

Registered through the ``voip_codecs`` hook by the entry point ``opus`` in
group ``voip``; opuslib (and with it libopus) is imported only when the first
encoder or decoder is made.
"""

from __future__ import annotations

from collections.abc import Sequence

from voip_core.codecs import RTPCodec
from voip_core.plugins import hookimpl
from voip_opus.codec import Opus

__all__ = ["Opus", "voip_codecs"]


@hookimpl
def voip_codecs() -> Sequence[type[RTPCodec]]:
    return [Opus]
