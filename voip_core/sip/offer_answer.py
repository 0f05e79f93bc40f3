"""Offer and answer inside a dialog: re-INVITE, UPDATE, hold and resume [RFC 3264 §8].

Functions on a :class:`~voip_core.sip.dialog.Dialog`: our SDP keeps one
``o=`` session id per dialog with a version that grows when it changes
[RFC 3264 §8]; a new offer is answered keeping our codec and our hold
(``sendonly`` while we hold the remote) [RFC 3264 §8.4]; the answer's
direction and address go to the media session (``media_updated``); an old
style hold to ``c=0.0.0.0`` stops our sending [RFC 3264 §8.4, RFC 2543];
our own re-INVITE is retried after 491 with the back-off of RFC 3261 §14.1.

>>> intersect("sendrecv", "recvonly"), intersect("sendonly", "recvonly")
('recvonly', 'inactive')
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import TYPE_CHECKING, Any

from voip_core.errors import CallFailed, NegotiationError, ParseError
from voip_core.sdp import SessionDescription, create_answer, create_offer
from voip_core.sdp.description import Attribute
from voip_core.sdp.negotiation import reverse_direction
from voip_core.sip.media_security import (
    accept_security,
    answer_security,
    offer_security,
    srtp_session,
)

if TYPE_CHECKING:
    from voip_core.sdp.description import MediaDescription
    from voip_core.sip.dialog import Dialog

__all__ = [
    "answer_offer",
    "apply_media",
    "apply_remote_sdp",
    "audio_stream",
    "intersect",
    "mux_attributes",
    "offer",
    "reinvite",
    "rtcp_options",
    "versioned",
]

logger = logging.getLogger(__name__)

Address = tuple[str, int]

#: What our side does while it holds the remote, and what resuming restores [RFC 3264 §8.4].
_DIRECTION_SENDS = {"sendrecv": True, "sendonly": True, "recvonly": False, "inactive": False}
_DIRECTION_RECEIVES = {"sendrecv": True, "recvonly": True, "sendonly": False, "inactive": False}


def _direction(sends: bool, receives: bool) -> str:
    if sends:
        return "sendrecv" if receives else "sendonly"
    return "recvonly" if receives else "inactive"


def intersect(first: str, second: str) -> str:
    """The direction both allow: a held side caps what an offer may ask [RFC 3264 §6.1]."""
    return _direction(
        _DIRECTION_SENDS[first] and _DIRECTION_SENDS[second],
        _DIRECTION_RECEIVES[first] and _DIRECTION_RECEIVES[second],
    )


def audio_stream(description: SessionDescription) -> tuple[MediaDescription, Address, str]:
    """The first active audio stream: media, RTP address, the remote's direction."""
    media = next((m for m in description.media if m.media == "audio" and m.port), None)
    if media is None:
        raise ParseError("the SDP has no active audio stream")
    connection = media.connection or description.connection
    if connection is None:
        raise ParseError("the SDP has no connection line")
    return media, (connection.address, media.port), description.direction_of(media)


def mux_attributes(wanted: bool) -> list[Attribute]:
    """``a=rtcp-mux`` when wanted [RFC 5761 §5.1.1]."""
    return [Attribute("rtcp-mux")] if wanted else []


def rtcp_options(media: MediaDescription, remote: Address, mux: bool) -> dict[str, Any]:
    """The session's RTCP settings from the remote's media description.

    ``rtcp_mux`` when both sides want it; else the remote's RTCP address:
    its ``a=rtcp:PORT`` [RFC 3605] or the RTP port + 1 [RFC 3550 §11].
    """
    if mux and media.rtcp_mux:
        return {"rtcp_mux": True}
    attribute = next((a for a in media.attributes if a.name == "rtcp"), None)
    port = (attribute.value or "").split(" ", 1)[0] if attribute is not None else ""
    if port.isdigit() and 0 < int(port) < 65536:
        return {"rtcp_address": (remote[0], int(port))}
    return {"rtcp_address": (remote[0], remote[1] + 1)}


def versioned(dialog: Dialog, description: SessionDescription) -> bytes:
    """Our SDP: one o= id per dialog, a version that grows on change [RFC 3264 §8]."""
    description.origin.session_id = dialog._sdp_session_id
    description.origin.session_version = dialog._sdp_version
    body = description.serialize()
    if dialog._local_sdp and body != dialog._local_sdp:
        dialog._sdp_version += 1
        description.origin.session_version = dialog._sdp_version
        body = description.serialize()
    dialog._local_sdp = body
    return body


def answer_offer(dialog: Dialog, body: bytes) -> bytes:
    """Answer a new offer, keeping our codec and our hold [RFC 3264 §8]."""
    offer = SessionDescription.parse(body)
    host, port = dialog.media_address
    formats = _current_formats(dialog)
    media, remote, direction = audio_stream(offer)
    crypto = answer_security(dialog, media)
    mux = getattr(dialog.session, "rtcp_mux", False) and media.rtcp_mux
    answer = create_answer(
        offer,
        formats,
        address=host,
        port=port,
        protocols=("RTP/AVP", "RTP/SAVP"),
        extra_attributes=[*crypto, *mux_attributes(mux)],
    )
    wanted = "sendonly" if dialog.local_hold else "sendrecv"
    ours = intersect(reverse_direction(direction), wanted)
    answer_media = next(m for m in answer.media if m.port)
    answer_media.attributes = [
        a for a in answer_media.attributes if a.name not in _DIRECTION_SENDS
    ] + [Attribute(ours)]
    apply_media(dialog, media, remote, ours)
    return versioned(dialog, answer)


def _current_formats(dialog: Dialog) -> list[Any]:
    """What we offer or accept in a re-INVITE: the app's formats, ours first."""
    app = dialog._app or dialog.user_agent.app
    session = dialog.session
    return list(session.sdp_formats() if session is not None else app.sdp_formats())


def offer(dialog: Dialog, *, direction: str | None = None) -> bytes:
    host, port = dialog.media_address
    direction = direction or ("sendonly" if dialog.local_hold else "sendrecv")
    protocol, crypto = offer_security(dialog)
    offer = create_offer(
        _current_formats(dialog),
        address=host,
        port=port,
        direction=direction,
        protocol=protocol,
        extra_attributes=[*crypto, *mux_attributes(getattr(dialog.session, "rtcp_mux", False))],
    )
    return versioned(dialog, offer)


def apply_media(dialog: Dialog, media: MediaDescription, remote: Address, direction: str) -> None:
    if dialog.session is None or not hasattr(dialog.session, "media_updated"):
        return
    _update_srtp(dialog)
    if remote[0] in ("0.0.0.0", "::"):  # RFC 2543 hold: keep the address, stop sending
        remote = dialog.session.remote_address
        direction = intersect(direction, "recvonly")
    dialog.session.media_updated(media, remote, direction)


def _update_srtp(dialog: Dialog) -> None:
    """New keys from the remote (a re-INVITE) make a new SRTP for the session."""
    if dialog.session is not None and dialog._srtp_keys != dialog._srtp_applied:
        dialog.session.srtp = srtp_session(dialog)


def apply_remote_sdp(dialog: Dialog, body: bytes) -> None:
    """Take the remote's answer to our offer: its direction reversed is ours."""
    try:
        description = SessionDescription.parse(body)
        media, remote, direction = audio_stream(description)
        accept_security(dialog, media)
    except (ParseError, NegotiationError) as error:
        logger.warning("call %s: unusable SDP answer (%s)", dialog.call_id, error)
        return
    apply_media(dialog, media, remote, reverse_direction(direction))


async def reinvite(dialog: Dialog, attempts: int = 4) -> None:
    """Send a re-INVITE with our offer; on 491 wait and retry [RFC 3261 §14.1].

    Raises:
        CallFailed: the remote refused the change (the session stays as it
            was), or the dialog ended (481/408: we hang up).
    """
    if dialog.ended:
        raise CallFailed(481, "Call/Transaction Does Not Exist")
    for _ in range(attempts):
        while dialog._updating or dialog._ok is not None:
            await asyncio.sleep(dialog.user_agent.timers.t1)
        dialog._updating = True
        try:
            response = await dialog.user_agent.invite_in_dialog(dialog, offer(dialog))
        finally:
            dialog._updating = False
        code = response.status_code
        if code < 300:
            apply_remote_sdp(dialog, response.body)
            return
        if code == 491:
            # The Call-ID's owner waits 2.1-4 s, the other side 0-2 s [RFC 3261 §14.1].
            scale = dialog.user_agent.timers.t1 / 0.5
            low, high = (2.1, 4.0) if dialog.outgoing else (0.0, 2.0)
            await asyncio.sleep(random.uniform(low, high) * scale)
            continue
        if code in (408, 481):
            dialog.bye()  # the dialog is gone [RFC 3261 §12.2.1.2]
        raise CallFailed(code, response.reason)
    raise CallFailed(491, "Request Pending")
