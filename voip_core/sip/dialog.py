"""The SIP dialog of one call [RFC 3261 §12], incoming or outgoing.

A :class:`Dialog` is made by the :class:`~voip_core.sip.useragent.UserAgent`
for each INVITE it receives or sends. It decides about an incoming call
(:meth:`Dialog.call_received`), starts the app's media session from the SDP
offer or answer, keeps the dialog state (route set, remote target, CSeq
numbers), changes the session (re-INVITE: hold, resume, refresh), transfers
it (REFER, in :mod:`voip_core.sip.transfer`) and ends the call (BYE,
CANCEL). The user agent carries its messages and timers.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from voip_core.errors import CallFailed, NegotiationError, ParseError
from voip_core.rtp.dtmf import event_for_digit, parse_dtmf_info
from voip_core.sdp import SessionDescription, create_answer
from voip_core.sdp.negotiation import reverse_direction
from voip_core.sip.endpoint import Hop, hop_for_uri, new_tag
from voip_core.sip.headers import NameAddress
from voip_core.sip.media_security import (
    accept_security,
    answer_security,
    srtp_session,
)
from voip_core.sip.message import SIPRequest, SIPResponse
from voip_core.sip.offer_answer import (
    answer_offer,
    apply_remote_sdp,
    audio_stream,
    mux_attributes,
    offer,
    reinvite,
    rtcp_options,
    versioned,
)
from voip_core.sip.transaction import ClientInviteTransaction, ServerInviteTransaction
from voip_core.sip.uri import SIPURI

if TYPE_CHECKING:
    from voip_core.sdp.sdes import OfferedKey, SRTPKeys
    from voip_core.sip.useragent import UserAgent

__all__ = ["ALLOWED_METHODS", "Dialog", "new_tag"]  # new_tag: kept importable here

logger = logging.getLogger(__name__)

ALLOWED_METHODS = (
    "INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "UPDATE", "REFER", "NOTIFY", "INFO",
)  # fmt: skip
_ALLOW = ", ".join(ALLOWED_METHODS)


def _reason_phrase(base: str, why: object) -> str:
    """``base (why)``, with only what a Reason-Phrase may hold [RFC 3261 §25.1]."""
    text = " ".join(str(why).split())[:120]
    return f"{base} ({text})" if text else base


def _sip_uris(routes: Iterable[NameAddress]) -> list[SIPURI]:
    """The route set: Record-Route URIs (non-SIP ones cannot route and are skipped)."""
    return [route.uri for route in routes if isinstance(route.uri, SIPURI)]


@dataclass(eq=False)
class Dialog:
    """One call's SIP dialog [RFC 3261 §12].

    Override :meth:`call_received` to decide per call; the default answers
    with the user agent's app. Seed API: ``call_received``, ``ringing``,
    ``answer``, ``reject``, ``bye``, ``hangup_received``; also :meth:`hold`,
    :meth:`resume`, :meth:`refresh`, :meth:`transfer` and the
    :meth:`transfer_received` hook.
    """

    user_agent: UserAgent
    invite: SIPRequest
    transaction: ServerInviteTransaction | ClientInviteTransaction
    #: Where the INVITE came from (the hop its responses go to) or went to.
    source: Hop
    local_tag: str = field(default_factory=new_tag)
    outgoing: bool = False
    session: Any = None
    #: The call's RTP endpoint (its own port, or the user agent's shared one).
    rtp: Any = None
    confirmed: bool = False
    ended: bool = False
    started_at: float = field(default_factory=time.monotonic)
    #: From value of our in-dialog requests, To value (the remote's, with its tag),
    #: where they go, and the proxies on the way [RFC 3261 §12.1].
    local_header: str = ""
    remote_header: str = ""
    remote_target: Any = None
    route_set: list[SIPURI] = field(default_factory=list)
    #: Whether we hold the remote (our re-INVITE offered sendonly) [RFC 3264 §8.4].
    local_hold: bool = False
    _local_cseq: int = 0
    _remote_cseq: int | None = None
    _ok: SIPResponse | None = None
    _ok_destination: Any = None
    _ack: SIPRequest | None = None
    _retransmit: asyncio.TimerHandle | None = None
    _answered: asyncio.Future[None] | None = None
    _final: SIPResponse | None = None
    _app: Any = None
    _session_options: dict[str, Any] = field(default_factory=dict)
    _sdp_session_id: int = field(default_factory=lambda: secrets.randbits(62))
    _sdp_version: int = 0
    _local_sdp: bytes = b""
    _updating: bool = False  # our re-INVITE is pending
    _offer_in_ok: bool = False  # we offered in a 200 and wait for the answer in the ACK
    _transfer_progress: asyncio.Queue[int] | None = None
    # SRTP (voip_core.sip.media_security): what we offered, the keys agreed, their tag.
    _sdes_offer: dict[int, OfferedKey] | None = None
    _srtp_keys: SRTPKeys | None = None
    _srtp_tag: int = 1
    _srtp_protocol: str = "RTP/AVP"
    _srtp_applied: SRTPKeys | None = None  # the keys the session's SRTP runs on
    _media_error: str = ""

    def __post_init__(self) -> None:
        if not self.outgoing:
            invite = self.invite
            self.local_header = str(invite.to.with_tag(self.local_tag))
            self.remote_header = invite.headers.get("From") or ""
            contacts = invite._contacts
            self.remote_target = contacts[0].uri if contacts else invite.from_header.uri
            self.route_set = _sip_uris(invite._name_addresses("record-route"))  # [RFC 3261 §12.1.1]
            self._remote_cseq = invite.cseq.number
        else:
            self._local_cseq = self.invite.cseq.number

    def __repr__(self) -> str:
        return f"Dialog({self.call_id!r}, {'out' if self.outgoing else 'in'})"

    @property
    def call_id(self) -> str:
        """The dialog's Call-ID."""
        return self.invite.call_id

    @property
    def caller(self) -> str:
        """Who is calling: the From URI of the INVITE."""
        return str(self.invite.from_header.uri)

    @property
    def local_uri(self) -> str:
        """Our URI in this dialog (From of our requests)."""
        return str(NameAddress.parse(self.local_header).uri)

    @property
    def media_address(self) -> tuple[str, int]:
        """The (host, port) our SDP offers for media: the RTP socket's, or what a
        STUN server saw of it (UserAgent ``stun_server``)."""
        mapped = getattr(self.rtp, "mapped_address", None)
        return mapped or self.rtp.local_address  # type: ignore[no-any-return]

    # Hooks --------------------------------------------------------------------------------

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

    def transfer_received(self, target: SIPURI) -> bool:
        """The remote asks us to call ``target`` instead (REFER) [RFC 3515]. Override it.

        Return True to accept (202, then we dial ``target`` with the same app
        and report progress in NOTIFYs), False to refuse (603). The default
        accepts.
        """
        return True

    # Answering ----------------------------------------------------------------------------

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
        self._app = app  # re-INVITEs and transfers go on with it
        ua = self.user_agent
        try:
            offer = SessionDescription.parse(self.invite.body)
            if self.rtp is None:
                self.rtp = ua.open_media()
            host, port = self.media_address
            # versioned() below gives the answer this dialog's o= id and version.
            media, remote, direction = audio_stream(offer)
            crypto = answer_security(self, media)
            rtcp = rtcp_options(media, remote, ua.rtcp_mux)
            answer = create_answer(
                offer,
                app.sdp_formats(),
                address=host,
                port=port,
                session_id=self._sdp_session_id,
                protocols=("RTP/AVP", "RTP/SAVP"),
                extra_attributes=[*crypto, *mux_attributes("rtcp_mux" in rtcp)],
            )
            self.session = app(
                rtp=self.rtp,
                dialog=self,
                media=media,
                caller=self.caller,
                remote_address=remote,
                direction=reverse_direction(direction),
                srtp=srtp_session(self),
                **rtcp,
                **session_options,
            )
        except (NegotiationError, ParseError) as error:
            logger.info("call %s from %s: 488 (%s)", self.call_id, self.caller, error)
            self.reject(488, _reason_phrase("Not Acceptable Here", error))
            return None
        ok = self.invite.create_response(
            200,
            to_tag=self.local_tag,
            headers=[
                *self._contact_headers(),
                *[("Record-Route", value) for value in self.invite.headers.get_all("Record-Route")],
            ],
        )
        ok.body = versioned(self, answer)
        self._send_ok(ok, self._server_transaction())
        return self.session

    def _contact_headers(self) -> list[tuple[str, str]]:
        return [
            ("Contact", self.user_agent._contact_value(self.source.transport)),
            ("Allow", _ALLOW),
            ("Content-Type", "application/sdp"),
        ]

    def _server_transaction(self) -> ServerInviteTransaction:
        assert isinstance(self.transaction, ServerInviteTransaction)
        return self.transaction

    def _send_ok(self, ok: SIPResponse, transaction: ServerInviteTransaction) -> None:
        """Send a 2xx to an INVITE and retransmit it until the ACK [RFC 3261 §13.3.1.4]."""
        if self._retransmit is not None:
            self._retransmit.cancel()
        self._ok = ok
        self._ok_destination = self.user_agent._destination(transaction) or self.source
        self.user_agent._execute(transaction, transaction.send_response(ok))
        self._schedule_retransmission(self.user_agent.timers.t1, 0.0)

    def _schedule_retransmission(self, interval: float, elapsed: float) -> None:
        ua = self.user_agent
        if elapsed + interval > 64 * ua.timers.t1:
            self._retransmit = ua.loop.call_later(interval, self._ack_timeout)
            return
        self._retransmit = ua.loop.call_later(
            interval, self._retransmit_ok, interval, elapsed + interval
        )

    def _retransmit_ok(self, interval: float, elapsed: float) -> None:
        if self.ended or self._ok is None:
            return
        self.user_agent._send(self._ok, self._ok_destination)
        self._schedule_retransmission(min(2 * interval, self.user_agent.timers.t2), elapsed)

    def _ack_timeout(self) -> None:
        if self.ended or self._ok is None:
            return
        logger.warning("call %s: no ACK for our 200 OK; hanging up", self.call_id)
        self._ok = None
        self.bye()

    def ack_received(self, ack: SIPRequest | None = None) -> None:
        """The ACK for our 2xx: the dialog is confirmed (and an offer in our 2xx answered)."""
        if ack is not None and self._ok is not None and ack.cseq.number != self._ok.cseq.number:
            return  # the ACK of an older INVITE, retransmitted
        self.confirmed = True
        self._ok = None
        if self._retransmit is not None:
            self._retransmit.cancel()
        if self._offer_in_ok:
            self._offer_in_ok = False
            if ack is not None and ack.body:
                apply_remote_sdp(self, ack.body)

    def _respond(self, response: SIPResponse) -> None:
        transaction = self._server_transaction()
        self.user_agent._execute(transaction, transaction.send_response(response))

    # Ending -------------------------------------------------------------------------------

    def cancel(self) -> None:
        """Abandon our INVITE before it is answered: send CANCEL [RFC 3261 §9.1]."""
        if self.ended or not self.outgoing:
            return
        self.ended = True
        if self.session is not None:
            self.session.close()
        self.user_agent._send_cancel(self)

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
        self.user_agent._spawn(self._send_bye(), f"BYE {self.call_id}")
        self.user_agent._forget(self)

    async def _send_bye(self) -> None:
        response = await self.user_agent.request(
            lambda extra: self.create_request("BYE", headers=extra), self.next_hop
        )
        if response.status_code >= 300:
            logger.info("call %s: BYE answered %d", self.call_id, response.status_code)

    def bye_received(self) -> None:
        """The remote hung up: stop the media, end the dialog."""
        self.ended = True
        if self._retransmit is not None:
            self._retransmit.cancel()
        self.hangup_received()
        self.user_agent._forget(self)

    # In-dialog requests -------------------------------------------------------------------

    @property
    def contact(self) -> SIPURI:
        """Our Contact in this dialog (for the transport the call uses)."""
        return self.user_agent.contact_for(self.source.transport)

    @property
    def next_hop(self) -> Hop:
        """Where our in-dialog requests go [RFC 3261 §12.2.1.1, §8.1.2].

        The first route when there is a route set; else the outbound proxy;
        else where the INVITE came from (or went to): behind NAT the remote's
        Contact is a private address a request would never reach (the
        symmetric signalling of RFC 3581 carried into the dialog).
        """
        ua = self.user_agent
        if self.route_set:
            return hop_for_uri(self.route_set[0], self.source.transport)
        proxy = ua.outbound_proxy
        return hop_for_uri(proxy, self.source.transport) if proxy is not None else self.source

    def create_request(
        self,
        method: str,
        *,
        cseq: int | None = None,
        body: bytes = b"",
        headers: Iterable[tuple[str, str]] = (),
    ) -> SIPRequest:
        """A request inside this dialog [RFC 3261 §12.2.1.1].

        The Request-URI is the remote target, with the route set in Route
        (loose routing); with a strict router first, the Request-URI is that
        router and the remote target goes last in Route.
        """
        if cseq is None:
            self._local_cseq += 1
            cseq = self._local_cseq
        uri = self.remote_target
        routes = [f"<{route}>" for route in self.route_set]
        if self.route_set and "lr" not in self.route_set[0].parameters:
            uri = dataclasses.replace(self.route_set[0], parameters={}, headers={})
            routes = [*routes[1:], f"<{self.remote_target}>"]
        fields = [
            ("Via", self.user_agent._via(self.next_hop.transport)),
            ("Max-Forwards", "70"),
            ("From", self.local_header),
            ("To", self.remote_header),
            ("Call-ID", self.call_id),
            ("CSeq", f"{cseq} {method}"),
            *[("Route", route) for route in routes],
            *headers,
        ]
        return self.user_agent._build_request(method, uri, fields, body)

    def check_cseq(self, request: SIPRequest) -> bool:
        """Whether an in-dialog request's CSeq is in order (else 500) [RFC 3261 §12.2.2]."""
        number = request.cseq.number
        if request.method in ("ACK", "CANCEL"):
            return True
        if self._remote_cseq is not None and number < self._remote_cseq:
            return False
        self._remote_cseq = number
        return True

    # Session changes (re-INVITE) ----------------------------------------------------------

    def reinvite_received(self, transaction: ServerInviteTransaction, request: SIPRequest) -> None:
        """An INVITE in the dialog: hold, resume, new address or refresh [RFC 3261 §14.2]."""
        if self._updating:
            self._reply(transaction, 491)  # glare: both sides sent a re-INVITE [RFC 3261 §14.2]
            return
        if self._ok is not None:  # still waiting for the ACK of the previous one
            self._reply(transaction, 500, headers=[("Retry-After", str(random.randint(0, 10)))])
            return
        if request.contact:
            self.remote_target = request.contact[0].uri  # a target refresh [RFC 3261 §12.2.2]
        ok = request.create_response(200, headers=self._contact_headers())
        if request.body:
            try:
                ok.body = answer_offer(self, request.body)
            except (NegotiationError, ParseError) as error:
                logger.info("call %s: re-INVITE refused with 488 (%s)", self.call_id, error)
                self._reply(transaction, 488)
                return
        else:
            ok.body = offer(self)  # the offer goes in our 200, the answer in the ACK
            self._offer_in_ok = True
        self._send_ok(ok, transaction)

    def update_received(self, request: SIPRequest) -> SIPResponse:
        """UPDATE [RFC 3311]: a session refresh, or a new offer answered at once."""
        ok = request.create_response(200, headers=self._contact_headers())
        if request.body:
            ok.body = answer_offer(self, request.body)
        else:
            ok.headers.remove("Content-Type")
        return ok

    def _reply(
        self,
        transaction: ServerInviteTransaction,
        status: int,
        headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        response = transaction.request.create_response(status, headers=headers)
        self.user_agent._execute(transaction, transaction.send_response(response))

    async def hold(self) -> None:
        """Put the remote on hold: re-INVITE with ``sendonly`` [RFC 3264 §8.4]."""
        self.local_hold = True
        await reinvite(self)

    async def resume(self) -> None:
        """Take the remote off hold: re-INVITE with ``sendrecv`` [RFC 3264 §8.4]."""
        self.local_hold = False
        await reinvite(self)

    async def refresh(self) -> None:
        """Refresh the session: a re-INVITE with the unchanged SDP [RFC 4028 §7.4]."""
        await reinvite(self)

    # Transfer -----------------------------------------------------------------------------

    async def transfer(self, target: str | SIPURI, *, timeout: float = 32.0) -> int:
        """Blind transfer: ask the remote to call ``target`` (REFER) [RFC 3515, RFC 5589].

        Waits for the remote's NOTIFY with the final status of its call to
        ``target``; on success hangs up this call.

        Returns:
            The final status code the transfer target answered (200...).

        Raises:
            CallFailed: REFER refused, or the transfer failed, or no final
                NOTIFY came within ``timeout`` seconds (408).
        """
        from voip_core.sip.transfer import send_refer

        return await send_refer(self, target, timeout=timeout)

    # DTMF in SIP INFO ---------------------------------------------------------------------

    def info_received(self, request: SIPRequest) -> int:
        """An INFO: a DTMF digit (``application/dtmf-relay`` or ``application/dtmf``) goes to
        the session's ``dtmf_received``; an empty INFO is a keep-alive. Returns the status."""
        content_type = request.content_type or ""
        if not request.body:
            return 200
        try:
            found = parse_dtmf_info(content_type, request.body)
        except ParseError as error:
            logger.info("call %s: bad INFO body (%s)", self.call_id, error)
            return 400
        if found is None:
            return 415  # refused earlier by the policy; kept for a subclass's own types
        digit, duration = found
        handler = getattr(self.session, "dtmf_received", None)
        if handler is not None:
            handler(digit, duration)
        return 200

    async def send_dtmf_info(self, digits: str, *, duration: float = 0.1) -> None:
        """Send each digit in a SIP INFO (``application/dtmf-relay``), for peers without RFC 4733.

        Raises:
            ValueError: a character that is no DTMF digit.
            CallFailed: the peer refused an INFO.
        """
        for digit in digits:
            event_for_digit(digit)  # ValueError before anything is sent
        for digit in digits:
            body = f"Signal={digit}\r\nDuration={round(duration * 1000)}\r\n".encode()

            def info(extra: list[tuple[str, str]], body: bytes = body) -> SIPRequest:
                headers = [*extra, ("Content-Type", "application/dtmf-relay")]
                return self.create_request("INFO", headers=headers, body=body)

            response = await self.user_agent.request(info, self.next_hop)
            if response.status_code >= 300:
                raise CallFailed(response.status_code, response.reason)

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
            self._final = response
            if future is not None and not future.done():
                future.set_exception(CallFailed(code, response.reason))
            return
        if self._ack is not None:  # a retransmitted 2xx: ACK it again [RFC 3261 §13.2.2.4]
            self.user_agent._send(self._ack, self.next_hop)
            return
        self.remote_header = response.headers.get("To") or ""
        if response.contact:
            self.remote_target = response.contact[0].uri
        # The UAC's route set is the 2xx's Record-Route reversed [RFC 3261 §12.1.2].
        self.route_set = _sip_uris(reversed(response.record_route))
        self.user_agent.dialogs[(self.call_id, self.local_tag)] = self
        self._ack = self.create_request("ACK", cseq=self.invite.cseq.number)
        self._local_cseq = max(self._local_cseq, self.invite.cseq.number)
        self.user_agent._send(self._ack, self.next_hop)
        self.confirmed = True
        if self.session is None and not self._start_media(response):
            self.bye()
            if future is not None and not future.done():
                reason = _reason_phrase("Not Acceptable Here", self._media_error)
                future.set_exception(CallFailed(488, reason))
            return
        if self.session is not None and response.body and self.session.media is not None:
            apply_remote_sdp(self, response.body)  # 200 may differ from 183
        if future is not None and not future.done():
            future.set_result(None)

    def _start_media(self, response: SIPResponse) -> bool:
        try:
            answer = SessionDescription.parse(response.body)
            media, remote, direction = audio_stream(answer)
            accept_security(self, media)
            self.session = self._app(
                rtp=self.rtp,
                dialog=self,
                media=media,
                caller=str(self.invite.to.uri),
                remote_address=remote,
                direction=reverse_direction(direction),
                srtp=srtp_session(self),
                **rtcp_options(media, remote, self.user_agent.rtcp_mux),
                **self._session_options,
            )
        except (NegotiationError, ParseError) as error:
            logger.warning("call %s: unusable SDP answer (%s)", self.call_id, error)
            self._media_error = str(error)
            return False
        return True

    def failed(self, error: CallFailed) -> None:
        """The INVITE timed out or could not be sent."""
        self.ended = True
        if self._answered is not None and not self._answered.done():
            self._answered.set_exception(error)
