"""The user agent: calls, registrations and in-dialog requests over the SIP endpoint.

:class:`UserAgent` is the transaction user of RFC 3261 on top of
:class:`~voip_core.sip.endpoint.SIPEndpoint` (transports UDP/TCP/TLS over
IPv4 and IPv6, transactions, received/rport). It answers calls in direct
mode (no registrar needed): an INVITE makes a :class:`Dialog`, whose
:meth:`Dialog.call_received` decides (by default: answer with the user
agent's app). It places calls (:meth:`UserAgent.dial`), registers AORs
(:meth:`UserAgent.register`), and answers digest challenges with its
credentials. The media side is any Session class (the app), made with the
SDP offer's audio stream; this module knows it only through
``sdp_formats()`` and its constructor, so ``sip`` imports no media code.

Requests it answers: INVITE (100 Trying, 180, 200 with the SDP answer and
its retransmission until ACK [RFC 3261 §13.3.1.4]), re-INVITE and UPDATE,
ACK, BYE, CANCEL (200, then 487 to the INVITE), OPTIONS, REFER and NOTIFY
(transfer), 481 for unknown dialogs, and the refusals of
:mod:`voip_core.sip.policy` (405, 501, 415, 416, 420, 406).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

from voip_core.errors import (
    AuthenticationError,
    CallFailed,
    NegotiationError,
    ParseError,
    VoIPError,
)
from voip_core.rtp.ports import RTPPortRange
from voip_core.rtp.protocol import RealtimeTransportProtocol
from voip_core.sdp import create_offer
from voip_core.sip.auth import Credentials, DigestSession
from voip_core.sip.dialog import ALLOWED_METHODS, Dialog
from voip_core.sip.endpoint import Hop, SIPEndpoint, hop_for_uri, host_for_uri, new_tag
from voip_core.sip.headers import Headers
from voip_core.sip.media_security import DEFAULT_SRTP_SUITES, SRTP_POLICIES, offer_security
from voip_core.sip.message import SIPRequest, SIPResponse
from voip_core.sip.offer_answer import mux_attributes
from voip_core.sip.policy import SUPPORTED_OPTIONS, refusal
from voip_core.sip.registration import Registration
from voip_core.sip.transaction import (
    ClientInviteTransaction,
    ServerInviteTransaction,
    State,
    TimedOut,
    TimerConfig,
    Transaction,
    TransportFailed,
    client_key,
    server_key,
)
from voip_core.sip.transfer import notify_received, refer_received
from voip_core.sip.transport import Flow
from voip_core.sip.uri import SIPURI

__all__ = ["ALLOWED_METHODS", "Dialog", "UserAgent"]

logger = logging.getLogger(__name__)

Address = tuple[str, int]
USER_AGENT = "voip-core"


class UserAgent(SIPEndpoint):
    """A SIP user agent, answering calls with ``app`` and placing them.

    Args:
        app: The Session class that serves each answered call (``EchoCall``...).
        rtp: Where the calls' media go: an
            :class:`~voip_core.rtp.ports.RTPPortRange` (each call its own
            port: symmetric RTP, what carriers expect), or one
            :class:`~voip_core.rtp.protocol.RealtimeTransportProtocol` that
            every call shares, told apart by remote address. ``None``: ports
            10000-20000 on the host of the first :meth:`listen`.
        dialog_class: The Dialog class made for each incoming INVITE.
        timers: T1, T2, T4.
        on_call_ended: Called with each dialog that ends.
        credentials: Username and password for digest challenges (401/407)
            on REGISTER, INVITE, BYE and the rest [RFC 3261 §22].
        outbound_proxy: Send every request through this proxy (a SIP URI;
            ``;transport=tcp`` picks the transport).
        tls_verify: Verify TLS certificates (default); False only for tests.
        tls_cafile: Extra CA certificates (PEM) to trust for TLS.
        srtp: ``"off"`` (plain RTP), ``"offer"`` (SRTP when the peer takes it)
            or ``"require"`` (SRTP or no call): see
            :mod:`voip_core.sip.media_security`.
        srtp_suites: The SRTP suites we offer and accept, ours first.
        rtcp_mux: Offer and accept RTCP on the RTP port [RFC 5761].
        stun_server: (host, port) of a STUN server [RFC 5389]: each call asks
            it, from the call's RTP socket, where that socket is seen from
            outside, and puts that address in its SDP (behind a NAT). None
            (the default): the socket's own address.
    """

    def __init__(
        self,
        *,
        app: Any,
        rtp: Any = None,
        dialog_class: type[Dialog] = Dialog,
        timers: TimerConfig | None = None,
        on_call_ended: Callable[[Dialog], None] | None = None,
        credentials: Credentials | None = None,
        outbound_proxy: str | SIPURI | None = None,
        tls_verify: bool = True,
        tls_cafile: str | None = None,
        srtp: str = "off",
        srtp_suites: Sequence[str] = DEFAULT_SRTP_SUITES,
        rtcp_mux: bool = True,
        stun_server: tuple[str, int] | None = None,
    ) -> None:
        if srtp not in SRTP_POLICIES:
            raise ValueError(f"srtp={srtp!r}: one of {', '.join(SRTP_POLICIES)}")
        super().__init__(timers=timers, tls_verify=tls_verify, tls_cafile=tls_cafile)
        self.app = app
        self.rtp = rtp
        self.dialog_class = dialog_class
        self.on_call_ended = on_call_ended
        self.dialogs: dict[tuple[str, str], Dialog] = {}
        self._outgoing: dict[int, Dialog] = {}
        self.credentials = credentials
        self.outbound_proxy = (
            SIPURI.parse(outbound_proxy) if isinstance(outbound_proxy, str) else outbound_proxy
        )
        self.registrations: list[Registration] = []
        self.srtp = srtp
        self.srtp_suites = tuple(srtp_suites)
        self.rtcp_mux = rtcp_mux
        self.stun_server = stun_server

    def close(self) -> None:
        """Hang up every call and close the sockets (registrations just stop refreshing)."""
        for dialog in list(self.dialogs.values()):
            dialog.bye()
        for registration in self.registrations:
            registration.close()
        super().close()

    async def shutdown(self, timeout: float = 2.0) -> None:
        """Hang up every call, unregister every AOR, then close [RFC 3261 §10.2.2]."""
        for dialog in list(self.dialogs.values()):
            dialog.bye()
        pending = [
            *[asyncio.ensure_future(r.unregister()) for r in self.registrations],
            *list(self._tasks),
        ]
        if pending:
            await asyncio.wait(pending, timeout=timeout)
        self.close()
        await self.transports.close()

    def open_media(self) -> RealtimeTransportProtocol:
        """The RTP endpoint for a new call: its own port from the range, or the shared one."""
        rtp = self.rtp
        if rtp is None:
            rtp = self.rtp = RTPPortRange(self.local_address[0])
        if isinstance(rtp, RTPPortRange):
            return rtp.open()
        return rtp  # type: ignore[no-any-return]

    def next_hop(self, uri: SIPURI) -> Hop:
        """Where a new request for ``uri`` goes: the outbound proxy, else the URI's host."""
        proxy = self.outbound_proxy
        return hop_for_uri(proxy if proxy is not None else uri, self.default_transport)

    # Receiving ----------------------------------------------------------------------------

    def _dialog_for(self, request: SIPRequest | SIPResponse) -> Dialog | None:
        tag = request.to.tag
        if tag is None:
            return None
        return self.dialogs.get((request.call_id, tag))

    def _ack_received(self, ack: SIPRequest) -> None:
        dialog = self._dialog_for(ack)
        if dialog is not None:
            dialog.ack_received(ack)

    def _stray_response(self, response: SIPResponse) -> None:
        tag = response.from_header.tag
        dialog = None if tag is None else self.dialogs.get((response.call_id, tag))
        if dialog is not None and 200 <= response.status_code < 300:
            dialog.response_received(response)  # a late 2xx retransmission: ACK again
        else:
            super()._stray_response(response)

    def _client_failed(self, transaction: Transaction, action: TimedOut | TransportFailed) -> bool:
        dialog = self._outgoing.get(id(transaction))
        if dialog is None:
            return False
        if isinstance(action, TimedOut):
            dialog.failed(CallFailed(408, "Request Timeout"))
        else:
            dialog.failed(CallFailed(503, "Service Unavailable"))
        return True

    def _flow_recovered(self, flow: Flow) -> None:
        for registration in self.registrations:
            if registration.hop.address == flow.remote and registration.registered.is_set():
                logger.info(
                    "flow to %s is back: registering %s again", flow.remote, registration.aor
                )
                self._spawn(registration.register(), f"re-register {registration.aor}")

    def _deliver_request(self, transaction: Transaction, request: SIPRequest) -> None:
        method = request.method
        refused = refusal(request, allowed=ALLOWED_METHODS)
        if refused is not None:
            status, reason, headers = refused
            self._reply(transaction, status, headers=headers, reason=reason)
            return
        if method == "CANCEL":
            self._cancel(transaction, request)
            return
        if request.to.tag is None:
            if method == "INVITE":
                self._new_call(transaction, request)
            elif method == "OPTIONS":
                self._reply(transaction, 200, headers=self._capabilities())
            else:
                self._reply(transaction, 481)  # BYE, REFER, NOTIFY... need a dialog
            return
        dialog = self._dialog_for(request)
        if dialog is None:
            self._reply(transaction, 200 if method == "OPTIONS" else 481)
            return
        if not dialog.check_cseq(request):
            self._reply(transaction, 500, reason="CSeq Out of Order")  # [RFC 3261 §12.2.2]
            return
        if method == "INVITE":
            assert isinstance(transaction, ServerInviteTransaction)
            dialog.reinvite_received(transaction, request)
        elif method == "BYE":
            self._reply(transaction, 200)
            dialog.bye_received()
        elif method == "UPDATE":
            try:
                response = dialog.update_received(request)
            except (NegotiationError, ParseError) as error:
                logger.info("call %s: UPDATE refused (%s)", dialog.call_id, error)
                self._reply(transaction, 488)
                return
            self._execute(transaction, transaction.send_response(response))  # type: ignore[attr-defined]
        elif method == "REFER":
            status, reason = refer_received(dialog, request)
            contact = [("Contact", f"<{dialog.contact}>")] if status == 202 else []
            self._reply(transaction, status, headers=contact, reason=reason)
        elif method == "NOTIFY":
            status, reason = notify_received(dialog, request)
            self._reply(transaction, status, reason=reason)
        elif method == "INFO":
            self._reply(transaction, dialog.info_received(request))
        else:
            self._reply(transaction, 200, headers=self._capabilities())  # OPTIONS

    def _capabilities(self) -> list[tuple[str, str]]:
        """What OPTIONS answers [RFC 3261 §11.2]."""
        return [
            ("Allow", ", ".join(ALLOWED_METHODS)),
            ("Accept", "application/sdp"),
            ("Accept-Encoding", "identity"),
            ("Supported", ", ".join(sorted(SUPPORTED_OPTIONS))),
        ]

    async def _public_media_address(self, rtp: RealtimeTransportProtocol) -> tuple[str, int] | None:
        """What the STUN server sees of ``rtp`` (None without a server, or when it fails).

        Kept as the endpoint's ``mapped_address``, which our SDP then carries.
        """
        if self.stun_server is None or not rtp.dedicated:
            return None
        try:
            return await rtp.public_address(self.stun_server)
        except VoIPError as error:
            logger.warning(
                "STUN server %s: %s; our SDP carries the local address", self.stun_server, error
            )
            return None

    async def _new_call_behind_nat(self, dialog: Dialog) -> None:
        dialog.rtp = self.open_media()
        await self._public_media_address(dialog.rtp)
        if not dialog.ended:
            self._call_received(dialog)

    def _new_call(self, transaction: Transaction, request: SIPRequest) -> None:
        assert isinstance(transaction, ServerInviteTransaction)
        source = self._hops[id(transaction)]
        dialog = self.dialog_class(self, request, transaction, source)
        self.dialogs[(request.call_id, dialog.local_tag)] = dialog
        if self.stun_server is not None:  # the SDP needs our public address first
            self._spawn(self._new_call_behind_nat(dialog), f"STUN for {request.call_id}")
            return
        self._call_received(dialog)

    def _call_received(self, dialog: Dialog) -> None:
        transaction = dialog.transaction
        try:
            dialog.call_received()
        except Exception:
            logger.exception("call_received failed for %s", dialog.call_id)
            if transaction.state is State.PROCEEDING:
                dialog.reject(500)

    def _cancel(self, transaction: Transaction, cancel: SIPRequest) -> None:
        """CANCEL: 200 to it, 487 to the INVITE if still pending [RFC 3261 §9.2]."""
        invite_key = server_key(
            SIPRequest("INVITE", cancel.uri, cancel.headers.copy(), cancel.body)
        )
        invite_transaction = self._server.get(invite_key)
        if not isinstance(invite_transaction, ServerInviteTransaction):
            self._reply(transaction, 481)
            return
        self._reply(transaction, 200)
        if invite_transaction.state is State.PROCEEDING:
            dialog = next(
                (d for d in self.dialogs.values() if d.transaction is invite_transaction), None
            )
            if dialog is not None:
                dialog.reject(487)
                dialog.hangup_received()

    def _reply(
        self,
        transaction: Transaction,
        status: int,
        *,
        headers: list[tuple[str, str]] | None = None,
        reason: str | None = None,
    ) -> None:
        request = transaction.request
        to_tag = None
        if status > 100 and request.to.tag is None:
            to_tag = new_tag()
        response = request.create_response(status, reason, to_tag=to_tag, headers=headers or [])
        self._execute(transaction, transaction.send_response(response))  # type: ignore[attr-defined]

    # Sending ------------------------------------------------------------------------------

    def _build_request(
        self, method: str, uri: Any, fields: list[tuple[str, str]], body: bytes = b""
    ) -> SIPRequest:
        """A request from its header fields, with our User-Agent."""
        headers = Headers(fields)
        headers.add("User-Agent", USER_AGENT)
        return SIPRequest(method, uri, headers, body)

    async def request(
        self,
        build: Callable[[list[tuple[str, str]]], SIPRequest],
        hop: Hop,
        *,
        digest: DigestSession | None = None,
    ) -> SIPResponse:
        """Send a non-INVITE request and return its final response, answering challenges.

        ``build(extra_headers)`` makes the request (a fresh CSeq each call);
        on 401/407 it is rebuilt with our credentials [RFC 3261 §22.2]. A
        refused answer ends in the 401/407 being returned, never a loop.
        Pass a ``digest`` kept between requests (a registration's) to reuse
        its nonce with the next nonce count instead of waiting to be
        challenged again [RFC 7616 §3.4].
        """
        preemptive = digest is not None
        digest = digest or DigestSession()
        extra: list[tuple[str, str]] = []
        while True:
            request = build(extra)
            if preemptive and self.credentials is not None:
                header = digest.preemptive_authorization(
                    self.credentials, method=request.method, uri=str(request.uri), body=request.body
                )
                if header is not None:
                    request.headers.add(*header)
                preemptive = False
            response = await self._final_response(request, hop)
            authorization = self._answer_challenge(digest, request, response)
            if authorization is None:
                return response
            extra = [authorization]

    async def _final_response(self, request: SIPRequest, hop: Hop) -> SIPResponse:
        future: asyncio.Future[SIPResponse] = self.loop.create_future()

        def on_response(response: SIPResponse) -> None:
            if response.status_code >= 200 and not future.done():
                future.set_result(response)

        self.start_client(request, hop, on_response)
        return await future

    def _answer_challenge(
        self, digest: DigestSession, request: SIPRequest, response: SIPResponse
    ) -> tuple[str, str] | None:
        """The header answering a 401/407, or None to stop (no credentials, refused)."""
        if response.status_code not in (401, 407) or self.credentials is None:
            return None
        name = "WWW-Authenticate" if response.status_code == 401 else "Proxy-Authenticate"
        try:
            return digest.response_to(
                response.status_code,
                response.headers.get_all(name),
                self.credentials,
                request.method,
                str(request.uri),
                request.body,
            )
        except AuthenticationError as error:
            logger.warning("%s to %s: %s", request.method, request.uri, error)
            return None

    async def invite_in_dialog(self, dialog: Dialog, body: bytes) -> SIPResponse:
        """A re-INVITE with ``body`` (our offer); ACKs a 2xx and returns the final response."""
        extra: list[tuple[str, str]] = []
        digest = DigestSession()
        while True:
            invite = dialog.create_request(
                "INVITE",
                body=body,
                headers=[
                    ("Contact", f"<{dialog.contact}>"),
                    ("Allow", ", ".join(ALLOWED_METHODS)),
                    ("Content-Type", "application/sdp"),
                    *extra,
                ],
            )
            response = await self._final_response(invite, dialog.next_hop)
            if 200 <= response.status_code < 300:
                ack = dialog.create_request("ACK", cseq=invite.cseq.number)
                self._send(ack, dialog.next_hop)
                return response
            authorization = self._answer_challenge(digest, invite, response)
            if authorization is None:
                return response
            extra = [authorization]

    def _send_cancel(self, dialog: Dialog) -> None:
        """CANCEL: the INVITE's Request-URI, Call-ID, From, To, CSeq number and top Via."""
        invite = dialog.invite
        headers = Headers()
        headers.add("Via", invite.headers.get_all("Via")[0])
        headers.add("Max-Forwards", "70")
        headers.add("From", invite.headers.get("From") or "")
        headers.add("To", invite.headers.get("To") or "")
        headers.add("Call-ID", invite.call_id)
        headers.add("CSeq", f"{invite.cseq.number} CANCEL")
        for route in invite.headers.get_all("Route"):
            headers.add("Route", route)  # [RFC 3261 §9.1]
        cancel = SIPRequest("CANCEL", invite.uri, headers)
        self.start_client(cancel, dialog.source, lambda response: None)

    def register(
        self,
        aor: str | SIPURI,
        *,
        registrar: str | SIPURI | None = None,
        expires: int = 3600,
    ) -> Registration:
        """A :class:`Registration` of ``aor`` to our Contact; await its ``register()``."""
        registration = Registration(self, aor, registrar=registrar, expires=expires)
        self.registrations.append(registration)
        return registration

    async def dial(
        self,
        target: str | SIPURI,
        *,
        app: Any = None,
        caller: str | None = None,
        timeout: float | None = None,
        **session_options: Any,
    ) -> Dialog:
        """Call ``target`` and wait until it answers.

        Without an outbound proxy the INVITE goes straight to the target's
        host and port (direct mode, no registrar); with one, through it with
        a preloaded Route [RFC 3261 §8.1.2]. 401/407 challenges are answered
        with the user agent's credentials.

        Args:
            target: A SIP URI (``sip:bob@127.0.0.1:5062``).
            app: The Session class for the call's media (default: the UA's app).
            caller: Our From URI (default: the registered AOR, else
                ``sip:voip@HOST:PORT``).
            timeout: Seconds to wait for an answer before sending CANCEL.
            session_options: More arguments for the app's constructor.

        Returns:
            The confirmed dialog; its ``session`` is the app running the media.

        Raises:
            CallFailed: A final error response (486, 404 ...), 408 when nobody
                answered (timer B or ``timeout``), 503 when it could not be sent.
        """
        uri = target if isinstance(target, SIPURI) else SIPURI.parse(target)
        app = app or self.app
        host, port = self.local_address
        if caller is None and self.registrations:
            caller = str(self.registrations[0].aor)
        local_tag = new_tag()
        from_header = f"<{caller or f'sip:voip@{host_for_uri(host)}:{port}'}>;tag={local_tag}"
        call_id = self.new_call_id(host_for_uri(host))
        hop = self.next_hop(uri)
        cseq = 1
        loop = self.loop
        deadline = None if timeout is None else loop.time() + timeout
        rtp = self.open_media()  # one port for every attempt (401/407 retries)
        try:
            await self._public_media_address(rtp)
            return await self._dial(
                uri,
                hop,
                app,
                rtp,
                (from_header, local_tag, call_id, cseq),
                deadline,
                session_options,
            )
        except BaseException:
            if rtp.dedicated:
                rtp.close()
            raise

    async def _dial(
        self,
        uri: SIPURI,
        hop: Hop,
        app: Any,
        rtp: RealtimeTransportProtocol,
        identity: tuple[str, str, str, int],
        deadline: float | None,
        session_options: dict[str, Any],
    ) -> Dialog:
        """INVITE until answered, answering 401/407 once each (see :meth:`dial`)."""
        from_header, local_tag, call_id, cseq = identity
        extra: list[tuple[str, str]] = []
        digest = DigestSession()
        loop = self.loop
        while True:
            identity = (from_header, local_tag, call_id, cseq)
            dialog = self._invite(uri, hop, app, rtp, identity, extra)
            dialog._session_options = session_options
            remaining = None if deadline is None else max(0.0, deadline - loop.time())
            assert dialog._answered is not None
            try:
                await asyncio.wait_for(asyncio.shield(dialog._answered), remaining)
                return dialog
            except TimeoutError:
                dialog.cancel()
                raise CallFailed(408, "Request Timeout") from None
            except asyncio.CancelledError:
                dialog.cancel()
                raise
            except CallFailed:
                final = dialog._final
                dialog.ended = True
                authorization = (
                    None if final is None else self._answer_challenge(digest, dialog.invite, final)
                )
                if authorization is None:
                    raise
                extra, cseq = [authorization], cseq + 1

    def _invite(
        self,
        uri: SIPURI,
        hop: Hop,
        app: Any,
        rtp: RealtimeTransportProtocol,
        identity: tuple[str, str, str, int],
        extra: list[tuple[str, str]],
    ) -> Dialog:
        """Send one INVITE (a new transaction; a retry after 401/407 keeps Call-ID and tag).

        ``identity`` is (From, its tag, Call-ID, CSeq number).
        """
        from_header, local_tag, call_id, cseq = identity
        rtp_host, rtp_port = rtp.mapped_address or rtp.local_address
        dialog_keys = _OfferKeys(self)
        protocol, crypto = offer_security(dialog_keys)  # type: ignore[arg-type]
        offer = create_offer(
            app.sdp_formats(),
            address=rtp_host,
            port=rtp_port,
            protocol=protocol,
            extra_attributes=[*crypto, *mux_attributes(self.rtcp_mux)],
        )
        proxy = self.outbound_proxy
        routes = [("Route", f"<{proxy.with_parameters(lr=None)}>")] if proxy is not None else []
        invite = self._build_request(
            "INVITE",
            uri,
            [
                ("Via", self._via(hop.transport)),
                ("Max-Forwards", "70"),
                ("From", from_header),
                ("To", f"<{uri}>"),
                ("Call-ID", call_id),
                ("CSeq", f"{cseq} INVITE"),
                *routes,
                ("Contact", f"<{self.contact_for(hop.transport)}>"),
                ("Allow", ", ".join(ALLOWED_METHODS)),
                *extra,
                ("Content-Type", "application/sdp"),
            ],
            offer.serialize(),
        )
        transaction = ClientInviteTransaction(
            invite, timers=self.timers, reliable=hop.transport != "udp"
        )
        dialog = self.dialog_class(
            self, invite, transaction, hop, local_tag=local_tag, outgoing=True
        )
        dialog.local_header = from_header
        dialog.remote_target = uri
        dialog.rtp = rtp
        dialog._sdes_offer = dialog_keys._sdes_offer
        dialog._srtp_protocol = dialog_keys._srtp_protocol
        dialog._app = app
        dialog._answered = self.loop.create_future()
        # After a timeout nobody awaits it any more: a late 487 must not be "never retrieved".
        dialog._answered.add_done_callback(lambda done: done.cancelled() or done.exception())
        self._client[key := client_key(invite)] = transaction
        self._keys[id(transaction)] = key
        self._hops[id(transaction)] = hop
        self._handlers[id(transaction)] = dialog.response_received
        self._outgoing[id(transaction)] = dialog
        self._execute(transaction, transaction.start())
        return dialog

    def _drop(self, transaction: Transaction) -> None:
        self._outgoing.pop(id(transaction), None)
        super()._drop(transaction)

    def _forget(self, dialog: Dialog) -> None:
        rtp = dialog.rtp
        if rtp is not None and rtp.dedicated:
            rtp.close()  # the call's own port (its session, if any, has closed it already)
        forgotten = self.dialogs.pop((dialog.call_id, dialog.local_tag), None)
        if forgotten is not None and self.on_call_ended is not None:
            self.on_call_ended(dialog)
        # The session holds its dialog weakly from now on: the two are freed
        # when nobody holds the dialog, without waiting for the cyclic collector.
        let_go = getattr(dialog.session, "_let_go_of_dialog", None)
        if let_go is not None:
            let_go()


class _OfferKeys:
    """What :func:`offer_security` reads and writes, before the INVITE's dialog exists."""

    def __init__(self, user_agent: UserAgent) -> None:
        self.user_agent = user_agent
        self._srtp_keys = None
        self._srtp_protocol = "RTP/AVP"
        self._sdes_offer: Any = None
