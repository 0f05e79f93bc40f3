"""The SIP dialog of one call [RFC 3261 §12], incoming or outgoing.

A :class:`Dialog` is made by the :class:`~voip_core.sip.useragent.UserAgent`
for each INVITE it receives or sends. It decides about an incoming call
(:meth:`Dialog.call_received`), starts the app's media session from the SDP
offer or answer, and ends the call (BYE, CANCEL). The user agent carries its
messages and timers.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from voip_core.errors import CallFailed, NegotiationError, ParseError
from voip_core.sdp import SessionDescription, create_answer
from voip_core.sip.message import SIPRequest, SIPResponse
from voip_core.sip.transaction import ClientInviteTransaction, ServerInviteTransaction

if TYPE_CHECKING:
    from voip_core.sip.useragent import UserAgent

__all__ = ["ALLOWED_METHODS", "Dialog"]

logger = logging.getLogger(__name__)

Address = tuple[str, int]
ALLOWED_METHODS = ("INVITE", "ACK", "BYE", "CANCEL", "OPTIONS")


def new_tag() -> str:
    """A random From/To tag [RFC 3261 §19.3]."""
    return secrets.token_hex(6)


@dataclass(eq=False)
class Dialog:
    """One call's SIP dialog, made by an incoming INVITE [RFC 3261 §12].

    Override :meth:`call_received` to decide per call; the default answers
    with the user agent's app. Seed API: ``call_received``, ``ringing``,
    ``answer``, ``reject``, ``bye``, ``hangup_received``.
    """

    user_agent: UserAgent
    invite: SIPRequest
    transaction: ServerInviteTransaction | ClientInviteTransaction
    source: Address
    local_tag: str = field(default_factory=new_tag)
    outgoing: bool = False
    session: Any = None
    confirmed: bool = False
    ended: bool = False
    started_at: float = field(default_factory=time.monotonic)
    #: From value of our in-dialog requests, To value (the remote's, with its tag),
    #: and where they go [RFC 3261 §12.1].
    local_header: str = ""
    remote_header: str = ""
    remote_target: Any = None
    _local_cseq: int = 0
    _ok: SIPResponse | None = None
    _ack: SIPRequest | None = None
    _retransmit: asyncio.TimerHandle | None = None
    _answered: asyncio.Future[None] | None = None
    _app: Any = None
    _session_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.outgoing:
            invite = self.invite
            self.local_header = str(invite.to.with_tag(self.local_tag))
            self.remote_header = invite.headers.get("From") or ""
            self.remote_target = invite.contact[0].uri if invite.contact else invite.from_header.uri
        else:
            self._local_cseq = self.invite.cseq.number

    @property
    def call_id(self) -> str:
        """The dialog's Call-ID."""
        return self.invite.call_id

    @property
    def caller(self) -> str:
        """Who is calling: the From URI of the INVITE."""
        return str(self.invite.from_header.uri)

    def call_received(self) -> None:
        """An INVITE arrived: answer with the app, or reject when there is none. Override it."""
        if self.user_agent.app is None:
            self.reject(480)
        else:
            self.answer()

    def hangup_received(self) -> None:
        """The caller hung up (BYE or CANCEL). Override it; call super() to close the media."""
        if self.session is not None:
            self.session.close()

    def ringing(self) -> None:
        """Send 180 Ringing."""
        self._respond(self.invite.create_response(180, to_tag=self.local_tag))

    def reject(self, status_code: int = 486, reason: str | None = None) -> None:
        """Refuse the call with a final error response (486 Busy Here by default)."""
        self.ended = True
        self._respond(self.invite.create_response(status_code, reason, to_tag=self.local_tag))
        self.user_agent._forget(self)

    def answer(self, app: Any = None, **session_options: Any) -> Any:
        """Accept the call: negotiate the SDP offer, start the app's media session, send 200 OK.

        Returns the session, or ``None`` when the offer had nothing in common
        with the app (the call is then rejected with 488).
        """
        app = app or self.user_agent.app
        ua = self.user_agent
        try:
            offer = SessionDescription.parse(self.invite.body)
            host, port = ua.rtp.local_address
            answer = create_answer(offer, app.sdp_formats(), address=host, port=port)
            media = next(m for m in offer.media if m.media == "audio" and m.port)
            connection = media.connection or offer.connection
            if connection is None:
                raise ParseError("the SDP offer has no connection line")
            self.session = app(
                rtp=ua.rtp,
                dialog=self,
                media=media,
                caller=self.caller,
                remote_address=(connection.address, media.port),
                **session_options,
            )
        except (NegotiationError, ParseError, StopIteration) as error:
            logger.info("call %s from %s: 488 (%s)", self.call_id, self.caller, error)
            self.reject(488, "Not Acceptable Here")
            return None
        ok = self.invite.create_response(
            200,
            to_tag=self.local_tag,
            headers=[
                ("Contact", f"<{ua.contact_uri}>"),
                ("Allow", ", ".join(ALLOWED_METHODS)),
                ("Content-Type", "application/sdp"),
                *[("Record-Route", value) for value in self.invite.headers.get_all("Record-Route")],
            ],
        )
        ok.body = answer.serialize()
        self._ok = ok
        self._respond(ok)
        self._schedule_retransmission(ua.timers.t1, 0.0)
        return self.session

    def _schedule_retransmission(self, interval: float, elapsed: float) -> None:
        ua = self.user_agent
        if elapsed + interval > 64 * ua.timers.t1:
            self._retransmit = ua.loop.call_later(interval, self._ack_timeout)
            return
        self._retransmit = ua.loop.call_later(
            interval, self._retransmit_ok, interval, elapsed + interval
        )

    def _retransmit_ok(self, interval: float, elapsed: float) -> None:
        if self.confirmed or self.ended or self._ok is None:
            return
        self._respond(self._ok)
        self._schedule_retransmission(min(2 * interval, self.user_agent.timers.t2), elapsed)

    def _ack_timeout(self) -> None:
        if self.confirmed or self.ended:
            return
        logger.warning("call %s: no ACK for our 200 OK; hanging up", self.call_id)
        self.bye()

    def cancel(self) -> None:
        """Abandon our INVITE before it is answered: send CANCEL [RFC 3261 §9.1]."""
        if self.ended or not self.outgoing:
            return
        self.ended = True
        if self.session is not None:
            self.session.close()
        self.user_agent._send_cancel(self)

    def ack_received(self) -> None:
        """The ACK for our 2xx: the dialog is confirmed."""
        self.confirmed = True
        if self._retransmit is not None:
            self._retransmit.cancel()

    def bye(self) -> None:
        """Hang up: send BYE [RFC 3261 §15.1.1] and stop the media."""
        if self.ended:
            return
        if self.outgoing and not self.confirmed:
            self.cancel()
            return
        self.ended = True
        if self._retransmit is not None:
            self._retransmit.cancel()
        if self.session is not None:
            self.session.close()
        self.user_agent._send_bye(self)
        self.user_agent._forget(self)

    def _respond(self, response: SIPResponse) -> None:
        assert isinstance(self.transaction, ServerInviteTransaction)
        self.user_agent._execute(self.transaction, self.transaction.send_response(response))

    # Outgoing calls -----------------------------------------------------------------------

    def response_received(self, response: SIPResponse) -> None:
        """A response to our INVITE (the UAC side) [RFC 3261 §13.2.2]."""
        code = response.status_code
        future = self._answered
        if code < 200:
            if code == 183 and response.body and self.session is None:
                self._start_media(response)  # early media [RFC 3960]
            return
        if code >= 300:
            self.ended = True
            if future is not None and not future.done():
                future.set_exception(CallFailed(code, response.reason))
            return
        if self._ack is not None:  # a retransmitted 2xx: ACK it again [RFC 3261 §13.2.2.4]
            self.user_agent._send(self._ack, self.source)
            return
        self.remote_header = response.headers.get("To") or ""
        if response.contact:
            self.remote_target = response.contact[0].uri
        self.user_agent.dialogs[(self.call_id, self.local_tag)] = self
        self._ack = self.user_agent._in_dialog_request(self, "ACK", cseq=self.invite.cseq.number)
        self.user_agent._send(self._ack, self.source)
        self.confirmed = True
        if self.session is None and not self._start_media(response):
            self.bye()
            if future is not None and not future.done():
                future.set_exception(CallFailed(488, "Not Acceptable Here"))
            return
        if future is not None and not future.done():
            future.set_result(None)

    def _start_media(self, response: SIPResponse) -> bool:
        ua = self.user_agent
        try:
            answer = SessionDescription.parse(response.body)
            media = next(m for m in answer.media if m.media == "audio" and m.port)
            connection = media.connection or answer.connection
            if connection is None:
                raise ParseError("the SDP answer has no connection line")
            self.session = self._app(
                rtp=ua.rtp,
                dialog=self,
                media=media,
                caller=str(self.invite.to.uri),
                remote_address=(connection.address, media.port),
                **self._session_options,
            )
        except (NegotiationError, ParseError, StopIteration) as error:
            logger.warning("call %s: unusable SDP answer (%s)", self.call_id, error)
            return False
        return True

    def failed(self, error: CallFailed) -> None:
        """The INVITE timed out or could not be sent."""
        self.ended = True
        if self._answered is not None and not self._answered.done():
            self._answered.set_exception(error)
