"""The core's own plugin: PCMU, PCMA and G.722, and the echo app.

Registered by :mod:`voip_core.plugins` through the same hooks as any third
party; the classes are imported when the hooks are called, not before.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from voip_core.plugins import hookimpl

if TYPE_CHECKING:
    from voip_core.codecs.base import RTPCodec
    from voip_core.rtp.session import Session


@hookimpl
def voip_codecs() -> Sequence[type[RTPCodec]]:
    from voip_core.codecs import G722, PCMA, PCMU

    return [G722, PCMU, PCMA]


@hookimpl
def voip_apps() -> Mapping[str, type[Session]]:
    from voip_core.audio import EchoCall, RecordCall

    return {"echo": EchoCall, "record": RecordCall}
