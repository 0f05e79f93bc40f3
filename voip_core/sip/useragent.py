"""The user agent: SIP over UDP, transactions on the event loop, and calls (UAS side).

:class:`UserAgent` listens on a UDP socket, runs the sans-I/O transactions of
:mod:`voip_core.sip.transaction` with timers on the event loop, and answers
calls in direct mode (no registrar): an INVITE makes a :class:`Dialog`,
whose :meth:`Dialog.call_received` decides (by default: answer with the
user agent's app). The media side is any Session class (the app), made with
the SDP offer's audio stream; this module knows it only through
``sdp_formats()`` and its constructor, so ``sip`` imports no media code.

What is here: INVITE (with 100 Trying, 180, 200 with the SDP answer and its
retransmission until ACK [RFC 3261 §13.3.1.4]), ACK, BYE both ways, CANCEL
received (200, then 487 to the INVITE), OPTIONS, 481 for unknown dialogs,
405 for other methods, 483 on Max-Forwards 0, 400 for what cannot be parsed
but can be answered, 505 for other SIP versions, and received/rport
[RFC 3581]. Registration, dialing, TCP/TLS, re-INVITE, REFER and auth build
on these pieces.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
from collections.abc import Callable, Coroutine
from typing import Any

from voip_core.errors import AuthenticationError, CallFailed, NegotiationError, ParseError
from voip_core.sdp import create_offer
from voip_core.sip.auth import Credentials, DigestSession
from voip_core.sip.dialog import ALLOWED_METHODS, Dialog, _address_of, new_tag
from voip_core.sip.headers import Headers, Via
from voip_core.sip.message import (
    SIPRequest,
    SIPResponse,
    VersionNotSupported,
    parse_message,
    salvage_for_400,
    validate_request,
)
from voip_core.sip.policy import SUPPORTED_OPTIONS, refusal
from voip_core.sip.registration import Registration
from voip_core.sip.transaction import (
    Action,
    ClientInviteTransaction,
    ClientNonInviteTransaction,
    Deliver,
    Send,
    ServerInviteTransaction,
    ServerNonInviteTransaction,
    StartTimer,
    State,
    StopTimer,
    Terminated,
    TimedOut,
    TimerConfig,
    Transaction,
    TransportFailed,
    client_key,
    new_branch,
    server_key,
)
from voip_core.sip.transfer import notify_received, refer_received
from voip_core.sip.uri import SIPURI

__all__ = ["ALLOWED_METHODS", "Dialog", "UserAgent"]

logger = logging.getLogger(__name__)

Address = tuple[str, int]
USER_AGENT = "voip-core"


def _reason(error: ParseError) -> str:
    """A reason phrase naming what was wrong (printable, one line)."""
    text = "Bad Request: " + str(error).splitlines()[0]
    return "".join(c if c.isprintable() else " " for c in text)[:120]


def _host_for_uri(host: str) -> str:
    """An IPv6 address in brackets, as URIs and Via want it [RFC 3261 §19.1.1]."""
    return f"[{host}]" if ":" in host else host


class _SIPDatagramProtocol(asyncio.DatagramProtocol):
    def __init__(self, user_agent: UserAgent) -> None:
        self.user_agent = user_agent

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self.user_agent._datagram_received(data, (str(addr[0]), int(addr[1])))

    def error_received(self, exc: Exception) -> None:
        logger.debug("SIP socket error: %s", exc)


class UserAgent:
    """A SIP user agent on one UDP socket, answering calls with ``app``.

    Args:
        app: The Session class that serves each answered call (``EchoCall``...).
        rtp: The RTP endpoint the calls' media use.
        dialog_class: The Dialog class made for each incoming INVITE.
        timers: T1, T2, T4.
        on_call_ended: Called with each dialog that ends.
        credentials: Username and password for digest challenges (401/407)
            on REGISTER, INVITE, BYE and the rest [RFC 3261 §22].
        outbound_proxy: Send every request through this proxy (a SIP URI).
    """

    def __init__(
        self,
        *,
        app: Any,
        rtp: Any,
        dialog_class: type[Dialog] = Dialog,
        timers: TimerConfig | None = None,
        on_call_ended: Callable[[Dialog], None] | None = None,
        credentials: Credentials | None = None,
        outbound_proxy: str | SIPURI | None = None,
    ) -> None:
        self.app = app
        self.rtp = rtp
        self.dialog_class = dialog_class
        self.timers = timers or TimerConfig()
        self.on_call_ended = on_call_ended
        self.transport: asyncio.DatagramTransport | None = None
        self.loop = asyncio.get_running_loop()
        self.dialogs: dict[tuple[str, str], Dialog] = {}
        self._server: dict[tuple[str, ...], tuple[Transaction, Address]] = {}
        self._client: dict[tuple[str, str], tuple[Transaction, Address]] = {}
        self._timers: dict[tuple[int, str], asyncio.TimerHandle] = {}
        self._outgoing: dict[int, Dialog] = {}
        self._handlers: dict[int, Callable[[SIPResponse], None]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self.credentials = credentials
        self.outbound_proxy = (
            SIPURI.parse(outbound_proxy) if isinstance(outbound_proxy, str) else outbound_proxy
        )
        self.registrations: list[Registration] = []
        self.dropped_datagrams = 0

    async def listen(self, host: str = "127.0.0.1", port: int = 0) -> Address:
        """Open the UDP socket; returns the bound (host, port)."""
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        transport, _ = await self.loop.create_datagram_endpoint(
            lambda: _SIPDatagramProtocol(self), local_addr=(host, port), family=family
        )
        self.transport = transport
        return self.local_address

    @property
    def local_address(self) -> Address:
        """The SIP socket's (host, port)."""
        assert self.transport is not None
        sockname = self.transport.get_extra_info("sockname")
        return (str(sockname[0]), int(sockname[1]))

    @property
    def contact_uri(self) -> SIPURI:
        """Our Contact: where in-dialog requests reach us."""
        host, port = self.local_address
        return SIPURI(
            scheme="sip", user=None, password=None, host=host, port=port, parameters={}, headers={}
        )

    def close(self) -> None:
        """Hang up every call and close the socket (registrations just stop refreshing)."""
        for dialog in list(self.dialogs.values()):
            dialog.bye()
        for registration in self.registrations:
            registration.close()
        for handle in self._timers.values():
            handle.cancel()
        for task in self._tasks:
            task.cancel()
        if self.transport is not None:
            self.transport.close()

    async def shutdown(self, timeout: float = 2.0) -> None:
        """Hang up every call, unregister every AOR, then close [RFC 3261 §10.2.2]."""
        for dialog in list(self.dialogs.values()):
            dialog.bye()
        unregistering = [registration.unregister() for registration in self.registrations]
        pending = [*unregistering, *[asyncio.shield(task) for task in list(self._tasks)]]
        if pending:
            await asyncio.wait([asyncio.ensure_future(item) for item in pending], timeout=timeout)
        self.close()

    # Receiving ----------------------------------------------------------------------------

    def _datagram_received(self, data: bytes, source: Address) -> None:
        if not data.strip(b"\r\n"):
            return  # keep-alive
        try:
            message = parse_message(data)
        except VersionNotSupported as error:
            if isinstance(error.sip_message, SIPRequest):
                self._answer_bad(error.sip_message, source, 505, "Version Not Supported")
            return
        except ParseError as error:
            self._answer_unparsed(data, source, error)
            return
        try:
            if isinstance(message, SIPRequest):
                try:
                    validate_request(message)
                except ParseError as error:
                    self._answer_bad(message, source, 400, _reason(error))
                    return
                self._request_received(self._note_source(message, source), source)
            else:
                self._response_received(message)
        except ParseError as error:
            self._answer_unparsed(data, source, error)

    def _answer_bad(self, request: SIPRequest, source: Address, status: int, reason: str) -> None:
        """Answer a request we cannot process, unless it is an ACK [RFC 3261 §17.2.1]."""
        if request.method == "ACK":
            return
        response = request.create_response(status, reason, to_tag=new_tag())
        self._send(response, self._response_destination(response, source))

    def _answer_unparsed(self, data: bytes, source: Address, error: ParseError) -> None:
        response = salvage_for_400(data, to_tag=new_tag())
        if response is None:
            self.dropped_datagrams += 1
            if self.dropped_datagrams & (self.dropped_datagrams - 1) == 0:
                logger.info("dropped an unparseable message from %s: %s", source, error)
            return
        self._send(response, self._response_destination(response, source))

    def _note_source(self, request: SIPRequest, source: Address) -> SIPRequest:
        """Add received/rport to the top Via [RFC 3261 §18.2.1, RFC 3581 §4]."""
        top = request.via[0]
        parameters = dict(top.parameters)
        if top.host != source[0]:
            parameters["received"] = source[0]
        if "rport" in parameters:
            parameters["rport"] = str(source[1])
            parameters["received"] = source[0]
        if parameters == top.parameters:
            return request
        values = request.headers.get_all("Via")
        values[0] = str(
            Via(transport=top.transport, host=top.host, port=top.port, parameters=parameters)
        )
        request.headers.remove("Via")
        for index, value in enumerate(values):
            request.headers.insert(index, "Via", value)
        return request

    def _response_destination(self, response: SIPResponse, source: Address) -> Address:
        """Where a response goes: received/rport, else the Via's sent-by [RFC 3261 §18.2.2]."""
        try:
            top = response.via[0]
        except ParseError:
            return source
        host = top.received or top.host
        port = top.rport or (source[1] if "rport" in top.parameters else None) or top.port or 5060
        return (host, port)

    def _request_received(self, request: SIPRequest, source: Address) -> None:
        key = server_key(request)
        existing = self._server.get(key)
        if existing is not None:
            self._execute(existing[0], existing[0].receive_request(request))  # type: ignore[attr-defined]
            return
        if request.method == "ACK":
            dialog = self._dialog_for(request)
            if dialog is not None:
                dialog.ack_received(request)
            return
        transaction: Transaction
        if request.method == "INVITE":
            transaction = ServerInviteTransaction(request, timers=self.timers)
        else:
            transaction = ServerNonInviteTransaction(request, timers=self.timers)
        self._server[key] = (
            transaction,
            self._response_destination(request.create_response(100), source),
        )
        self._execute(transaction, transaction.start())

    def _dialog_for(self, request: SIPRequest | SIPResponse) -> Dialog | None:
        tag = request.to.tag
        if tag is None:
            return None
        return self.dialogs.get((request.call_id, tag))

    def _dialog_for_response(self, response: SIPResponse) -> Dialog | None:
        tag = response.from_header.tag
        return None if tag is None else self.dialogs.get((response.call_id, tag))

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
            contact = [("Contact", f"<{self.contact_uri}>")] if status == 202 else []
            self._reply(transaction, status, headers=contact, reason=reason)
        elif method == "NOTIFY":
            status, reason = notify_received(dialog, request)
            self._reply(transaction, status, reason=reason)
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

    def _new_call(self, transaction: Transaction, request: SIPRequest) -> None:
        assert isinstance(transaction, ServerInviteTransaction)
        source = self._server[server_key(request)][1]
        dialog = self.dialog_class(self, request, transaction, source)
        self.dialogs[(request.call_id, dialog.local_tag)] = dialog
        try:
            dialog.call_received()
        except Exception:
            logger.exception("call_received failed for %s", request.call_id)
            if transaction.state is State.PROCEEDING:
                dialog.reject(500)

    def _cancel(self, transaction: Transaction, cancel: SIPRequest) -> None:
        """CANCEL: 200 to it, 487 to the INVITE if still pending [RFC 3261 §9.2]."""
        invite_key = server_key(
            SIPRequest("INVITE", cancel.uri, cancel.headers.copy(), cancel.body)
        )
        pending = self._server.get(invite_key)
        if pending is None or not isinstance(pending[0], ServerInviteTransaction):
            self._reply(transaction, 481)
            return
        self._reply(transaction, 200)
        invite_transaction = pending[0]
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

    def _response_received(self, response: SIPResponse) -> None:
        entry = self._client.get(client_key(response))
        if entry is None:
            dialog = self._dialog_for_response(response)
            if dialog is not None and 200 <= response.status_code < 300:
                dialog.response_received(response)  # a late 2xx retransmission: ACK again
            else:
                logger.debug("stray response %s %s", response.status_code, response.call_id)
            return
        self._execute(entry[0], entry[0].receive_response(response))  # type: ignore[attr-defined]

    # Sending ------------------------------------------------------------------------------

    def _via(self) -> str:
        host, port = self.local_address
        return f"SIP/2.0/UDP {_host_for_uri(host)}:{port};branch={new_branch()};rport"

    def _build_request(
        self, method: str, uri: Any, fields: list[tuple[str, str]], body: bytes = b""
    ) -> SIPRequest:
        """A request from its header fields, with our User-Agent."""
        headers = Headers(fields)
        headers.add("User-Agent", USER_AGENT)
        return SIPRequest(method, uri, headers, body)

    def _spawn(self, coroutine: Coroutine[Any, Any, Any], name: str) -> None:
        """Run a coroutine in the background; its failure is logged, never lost."""
        task = self.loop.create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("%s failed: %r", task.get_name(), task.exception())

    def start_client(
        self,
        request: SIPRequest,
        destination: Address,
        on_response: Callable[[SIPResponse], None],
    ) -> Transaction:
        """Send ``request`` in a new client transaction; responses go to ``on_response``.

        A timeout comes as a 408 and a transport failure as a 503 made
        locally [RFC 3261 §8.1.3.1].
        """
        transaction: Transaction
        if request.method == "INVITE":
            transaction = ClientInviteTransaction(request, timers=self.timers)
        else:
            transaction = ClientNonInviteTransaction(request, timers=self.timers)
        self._client[client_key(request)] = (transaction, destination)
        self._handlers[id(transaction)] = on_response
        self._execute(transaction, transaction.start())
        return transaction

    async def request(
        self,
        build: Callable[[list[tuple[str, str]]], SIPRequest],
        destination: Address,
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
            response = await self._final_response(request, destination)
            authorization = self._answer_challenge(digest, request, response)
            if authorization is None:
                return response
            extra = [authorization]

    async def _final_response(self, request: SIPRequest, destination: Address) -> SIPResponse:
        future: asyncio.Future[SIPResponse] = self.loop.create_future()

        def on_response(response: SIPResponse) -> None:
            if response.status_code >= 200 and not future.done():
                future.set_result(response)

        self.start_client(request, destination, on_response)
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
                    ("Contact", f"<{self.contact_uri}>"),
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
        from_header = f"<{caller or f'sip:voip@{_host_for_uri(host)}:{port}'}>;tag={local_tag}"
        call_id = f"{secrets.token_hex(10)}@{_host_for_uri(host)}"
        proxy = self.outbound_proxy
        destination = _address_of(proxy) if proxy is not None else _address_of(uri)
        cseq = 1
        extra: list[tuple[str, str]] = []
        digest = DigestSession()
        loop = self.loop
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            identity = (from_header, local_tag, call_id, cseq)
            dialog = self._invite(uri, destination, app, identity, extra)
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
        destination: Address,
        app: Any,
        identity: tuple[str, str, str, int],
        extra: list[tuple[str, str]],
    ) -> Dialog:
        """Send one INVITE (a new transaction; a retry after 401/407 keeps Call-ID and tag).

        ``identity`` is (From, its tag, Call-ID, CSeq number).
        """
        from_header, local_tag, call_id, cseq = identity
        rtp_host, rtp_port = self.rtp.local_address
        offer = create_offer(app.sdp_formats(), address=rtp_host, port=rtp_port)
        proxy = self.outbound_proxy
        routes = [("Route", f"<{proxy.with_parameters(lr=None)}>")] if proxy is not None else []
        invite = self._build_request(
            "INVITE",
            uri,
            [
                ("Via", self._via()),
                ("Max-Forwards", "70"),
                ("From", from_header),
                ("To", f"<{uri}>"),
                ("Call-ID", call_id),
                ("CSeq", f"{cseq} INVITE"),
                *routes,
                ("Contact", f"<{self.contact_uri}>"),
                ("Allow", ", ".join(ALLOWED_METHODS)),
                *extra,
                ("Content-Type", "application/sdp"),
            ],
            offer.serialize(),
        )
        transaction = ClientInviteTransaction(invite, timers=self.timers)
        dialog = self.dialog_class(
            self, invite, transaction, destination, local_tag=local_tag, outgoing=True
        )
        dialog.local_header = from_header
        dialog.remote_target = uri
        dialog._app = app
        dialog._answered = self.loop.create_future()
        # After a timeout nobody awaits it any more: a late 487 must not be "never retrieved".
        dialog._answered.add_done_callback(lambda done: done.cancelled() or done.exception())
        self._client[client_key(invite)] = (transaction, destination)
        self._handlers[id(transaction)] = dialog.response_received
        self._outgoing[id(transaction)] = dialog
        self._execute(transaction, transaction.start())
        return dialog

    def _send(self, message: SIPRequest | SIPResponse, destination: Address) -> None:
        if self.transport is None:
            return
        self.transport.sendto(message.serialize(), destination)

    def _destination(self, transaction: Transaction) -> Address | None:
        for table in (self._server, self._client):
            for entry in table.values():
                if entry[0] is transaction:
                    return entry[1]
        return None

    def _execute(self, transaction: Transaction, actions: list[Action]) -> None:
        """Carry out what a transaction asked for."""
        for action in actions:
            if isinstance(action, Send):
                destination = self._destination(transaction)
                if destination is not None:
                    self._send(action.message, destination)
            elif isinstance(action, StartTimer):
                key = (id(transaction), action.name)
                if key in self._timers:
                    self._timers[key].cancel()
                self._timers[key] = self.loop.call_later(
                    action.delay, self._timer_fired, transaction, action.name
                )
            elif isinstance(action, StopTimer):
                handle = self._timers.pop((id(transaction), action.name), None)
                if handle is not None:
                    handle.cancel()
            elif isinstance(action, Deliver):
                if isinstance(action.message, SIPRequest):
                    self._deliver_request(transaction, action.message)
                elif (handler := self._handlers.get(id(transaction))) is not None:
                    handler(action.message)
            elif isinstance(action, (TimedOut, TransportFailed)):
                logger.info("%r: %s", transaction, action)
                if (dialog := self._outgoing.get(id(transaction))) is not None:
                    if isinstance(action, TimedOut):
                        dialog.failed(CallFailed(408, "Request Timeout"))
                    else:
                        dialog.failed(CallFailed(503, "Service Unavailable"))
                elif (handler := self._handlers.get(id(transaction))) is not None:
                    status = 408 if isinstance(action, TimedOut) else 503
                    handler(transaction.request.create_response(status))
            elif isinstance(action, Terminated):
                self._drop(transaction)

    def _timer_fired(self, transaction: Transaction, name: str) -> None:
        self._timers.pop((id(transaction), name), None)
        self._execute(transaction, transaction.timer_fired(name))

    def _drop(self, transaction: Transaction) -> None:
        self._outgoing.pop(id(transaction), None)
        self._handlers.pop(id(transaction), None)
        for table in (self._server, self._client):
            for key, entry in list(table.items()):
                if entry[0] is transaction:
                    del table[key]  # type: ignore[arg-type]
        for timer in [k for k in self._timers if k[0] == id(transaction)]:
            self._timers.pop(timer).cancel()

    def _forget(self, dialog: Dialog) -> None:
        forgotten = self.dialogs.pop((dialog.call_id, dialog.local_tag), None)
        if forgotten is not None and self.on_call_ended is not None:
            self.on_call_ended(dialog)
