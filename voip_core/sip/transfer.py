"""Blind call transfer: REFER and its NOTIFY progress [RFC 3515, RFC 5589 §5].

The transferor sends REFER with ``Refer-To: <target>`` inside the call's
dialog; the transferee answers 202 Accepted, calls the target, and reports
how that call goes in NOTIFYs carrying a ``message/sipfrag`` status line
(``SIP/2.0 100 Trying``, then the final one) [RFC 3515 §2.4.5]. The
transferor hangs up the original call once the transfer succeeded
[RFC 5589 §6.1].

>>> sipfrag_status(b"SIP/2.0 486 Busy Here\\r\\n")
486
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from voip_core.errors import CallFailed, ParseError, VoIPError
from voip_core.sip.headers import NameAddress
from voip_core.sip.message import SIPRequest, SIPResponse, reason_phrase
from voip_core.sip.uri import SIPURI

if TYPE_CHECKING:
    from voip_core.sip.dialog import Dialog

__all__ = ["notify_received", "refer_received", "send_refer", "sipfrag_status"]

logger = logging.getLogger(__name__)

SIPFRAG = "message/sipfrag;version=2.0"


def sipfrag_status(body: bytes) -> int:
    """The status code of a ``message/sipfrag`` status line [RFC 3420].

    Raises:
        ParseError: the body does not start with ``SIP/2.0 NNN``.
    """
    line = body.split(b"\r\n", 1)[0].split(b"\n", 1)[0].decode("utf-8", "replace")
    parts = line.split(" ", 2)
    if len(parts) < 2 or parts[0].upper() != "SIP/2.0" or not parts[1].isdigit():
        raise ParseError(f"not a sipfrag status line: {line[:80]!r}")
    code = int(parts[1])
    if not 100 <= code <= 699:
        raise ParseError(f"sipfrag status {code} out of range")
    return code


async def send_refer(dialog: Dialog, target: str | SIPURI, *, timeout: float) -> int:
    """The transferor's side of :meth:`Dialog.transfer`."""
    uri = target if isinstance(target, SIPURI) else SIPURI.parse(target)
    progress: asyncio.Queue[int] = asyncio.Queue()
    dialog._transfer_progress = progress
    try:
        response = await dialog.user_agent.request(
            lambda extra: dialog.create_request(
                "REFER",
                headers=[
                    ("Refer-To", f"<{uri}>"),
                    ("Referred-By", f"<{dialog.local_uri}>"),
                    ("Contact", f"<{dialog.contact}>"),
                    *extra,
                ],
            ),
            dialog.next_hop,
        )
        if response.status_code >= 300:
            raise CallFailed(response.status_code, response.reason)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            remaining = deadline - loop.time()
            try:
                code = await asyncio.wait_for(progress.get(), max(0.0, remaining))
            except TimeoutError:
                raise CallFailed(408, "transfer: no final NOTIFY") from None
            if code >= 200:
                break
    finally:
        dialog._transfer_progress = None
    if code >= 300:
        raise CallFailed(code, reason_phrase(code))
    logger.info("call %s transferred to %s (%d)", dialog.call_id, uri, code)
    dialog.bye()
    return code


def notify_received(dialog: Dialog, request: SIPRequest) -> tuple[int, str]:
    """A NOTIFY in the dialog: transfer progress for our REFER [RFC 3515 §2.4.4].

    Returns the status and reason to answer with.
    """
    event = (request.headers.get("Event") or "").split(";", 1)[0].strip().lower()
    if event != "refer":
        return 489, "Bad Event"  # [RFC 6665 §8.3.1]
    progress = dialog._transfer_progress
    if progress is None:
        return 481, "Subscription Does Not Exist"
    try:
        code = sipfrag_status(request.body)
    except ParseError as error:
        logger.info("call %s: bad NOTIFY body (%s)", dialog.call_id, error)
        return 400, "Bad sipfrag"
    progress.put_nowait(code)
    return 200, "OK"


def refer_received(dialog: Dialog, request: SIPRequest) -> tuple[int, str]:
    """A REFER in the dialog: ask the app, then call the target [RFC 3515 §2.4.2].

    Returns the status and reason to answer with (202 when accepted).
    """
    values = request.headers.get_all("Refer-To")
    if len(values) != 1:
        return 400, "Exactly one Refer-To is required"
    try:
        target = NameAddress.parse(values[0]).uri
    except ParseError:
        return 400, "Bad Refer-To"
    if not isinstance(target, SIPURI):
        return 416, "Unsupported URI Scheme"
    try:
        accepted = dialog.transfer_received(target)
    except Exception:
        logger.exception("transfer_received failed for %s", dialog.call_id)
        return 500, "Server Internal Error"
    if not accepted:
        return 603, "Declined"
    dialog.user_agent._spawn(_transfer(dialog, target), f"transfer {dialog.call_id}")
    return 202, "Accepted"


async def _transfer(dialog: Dialog, target: SIPURI) -> None:
    """Call the target and report progress to the transferor in NOTIFYs."""
    await _notify(dialog, 100, "Trying", final=False)
    app: Any = dialog._app or dialog.user_agent.app
    try:
        await dialog.user_agent.dial(target, app=app, timeout=32.0)
    except CallFailed as error:
        await _notify(dialog, error.status_code, error.reason, final=True)
        return
    except VoIPError as error:
        logger.info("call %s: transfer to %s failed: %s", dialog.call_id, target, error)
        await _notify(dialog, 503, "Service Unavailable", final=True)
        return
    await _notify(dialog, 200, "OK", final=True)


async def _notify(dialog: Dialog, code: int, reason: str, *, final: bool) -> SIPResponse | None:
    if dialog.ended:
        return None
    state = "terminated;reason=noresource" if final else "active;expires=60"
    body = f"SIP/2.0 {code} {reason}\r\n".encode()
    return await dialog.user_agent.request(
        lambda extra: dialog.create_request(
            "NOTIFY",
            body=body,
            headers=[
                ("Event", "refer"),
                ("Subscription-State", state),
                ("Contact", f"<{dialog.contact}>"),
                ("Content-Type", SIPFRAG),
                *extra,
            ],
        ),
        dialog.next_hop,
    )
