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
from collections.abc import Callable
from typing import Any

from voip_core.errors import CallFailed, ParseError
from voip_core.sdp import create_offer
from voip_core.sip.dialog import ALLOWED_METHODS, Dialog, new_tag
from voip_core.sip.headers import Headers, Via
from voip_core.sip.message import (
    SIPRequest,
    SIPResponse,
    VersionNotSupported,
    parse_message,
    salvage_for_400,
    validate_request,
)
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
    """

    def __init__(
        self,
        *,
        app: Any,
        rtp: Any,
        dialog_class: type[Dialog] = Dialog,
        timers: TimerConfig | None = None,
        on_call_ended: Callable[[Dialog], None] | None = None,
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
        """Hang up every call and close the socket."""
        for dialog in list(self.dialogs.values()):
            dialog.bye()
        for handle in self._timers.values():
            handle.cancel()
        if self.transport is not None:
            self.transport.close()

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
                dialog.ack_received()
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
        max_forwards = request.max_forwards
        if max_forwards is not None and max_forwards <= 0 and method != "OPTIONS":
            self._reply(transaction, 483)
            return
        if method == "INVITE":
            if request.to.tag is not None:
                self._reply(transaction, 481 if self._dialog_for(request) is None else 488)
                return
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
        elif method == "BYE":
            existing = self._dialog_for(request)
            if existing is None:
                self._reply(transaction, 481)
                return
            self._reply(transaction, 200)
            existing.ended = True
            existing.hangup_received()
            self._forget(existing)
        elif method == "CANCEL":
            self._cancel(transaction, request)
        elif method == "OPTIONS":
            self._reply(
                transaction,
                200,
                headers=[
                    ("Allow", ", ".join(ALLOWED_METHODS)),
                    ("Accept", "application/sdp"),
                    ("Supported", ""),
                ],
            )
        else:
            self._reply(transaction, 405, headers=[("Allow", ", ".join(ALLOWED_METHODS))])

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
        self, transaction: Transaction, status: int, headers: list[tuple[str, str]] | None = None
    ) -> None:
        response = transaction.request.create_response(
            status, to_tag=new_tag() if status > 100 else None, headers=headers or []
        )
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

    def _in_dialog_request(
        self, dialog: Dialog, method: str, *, cseq: int | None = None
    ) -> SIPRequest:
        """A request inside ``dialog`` [RFC 3261 §12.2.1.1]."""
        headers = Headers()
        headers.add("Via", self._via())
        headers.add("Max-Forwards", "70")
        headers.add("From", dialog.local_header)
        headers.add("To", dialog.remote_header)
        headers.add("Call-ID", dialog.call_id)
        if cseq is None:
            dialog._local_cseq += 1
            cseq = dialog._local_cseq
        headers.add("CSeq", f"{cseq} {method}")
        headers.add("User-Agent", USER_AGENT)
        return SIPRequest(method, dialog.remote_target, headers)

    def _send_bye(self, dialog: Dialog) -> None:
        bye = self._in_dialog_request(dialog, "BYE")
        # To where the INVITE came from (or went to), not to the Contact's host: behind
        # NAT the Contact is a private address the BYE would never reach (the
        # symmetric-signalling practice of RFC 3581 carried into the dialog).
        destination = dialog.source
        transaction = ClientNonInviteTransaction(bye, timers=self.timers)
        self._client[client_key(bye)] = (transaction, destination)
        self._execute(transaction, transaction.start())

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
        cancel = SIPRequest("CANCEL", invite.uri, headers)
        transaction = ClientNonInviteTransaction(cancel, timers=self.timers)
        self._client[client_key(cancel)] = (transaction, dialog.source)
        self._execute(transaction, transaction.start())

    async def dial(
        self,
        target: str | SIPURI,
        *,
        app: Any = None,
        caller: str | None = None,
        timeout: float | None = None,
        **session_options: Any,
    ) -> Dialog:
        """Call ``target`` directly (no registrar) and wait until it answers.

        Args:
            target: A SIP URI (``sip:bob@127.0.0.1:5062``).
            app: The Session class for the call's media (default: the UA's app).
            caller: Our From URI (default ``sip:voip@HOST:PORT``).
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
        rtp_host, rtp_port = self.rtp.local_address
        local_tag = new_tag()
        offer = create_offer(app.sdp_formats(), address=rtp_host, port=rtp_port)
        headers = Headers()
        headers.add("Via", self._via())
        headers.add("Max-Forwards", "70")
        headers.add(
            "From", f"<{caller or f'sip:voip@{_host_for_uri(host)}:{port}'}>;tag={local_tag}"
        )
        headers.add("To", f"<{uri}>")
        headers.add("Call-ID", f"{secrets.token_hex(10)}@{_host_for_uri(host)}")
        headers.add("CSeq", "1 INVITE")
        headers.add("Contact", f"<{self.contact_uri}>")
        headers.add("Allow", ", ".join(ALLOWED_METHODS))
        headers.add("User-Agent", USER_AGENT)
        headers.add("Content-Type", "application/sdp")
        invite = SIPRequest("INVITE", uri, headers, offer.serialize())
        destination = (uri.host, uri.port or 5060)
        transaction = ClientInviteTransaction(invite, timers=self.timers)
        dialog = self.dialog_class(
            self, invite, transaction, destination, local_tag=local_tag, outgoing=True
        )
        dialog.local_header = headers.get("From") or ""
        dialog.remote_target = uri
        dialog._app = app
        dialog._session_options = session_options
        dialog._answered = self.loop.create_future()
        # After a timeout nobody awaits it any more: a late 487 must not be "never retrieved".
        dialog._answered.add_done_callback(lambda done: done.cancelled() or done.exception())
        self._client[client_key(invite)] = (transaction, destination)
        self._outgoing[id(transaction)] = dialog
        self._execute(transaction, transaction.start())
        try:
            await asyncio.wait_for(asyncio.shield(dialog._answered), timeout)
        except TimeoutError:
            dialog.cancel()
            raise CallFailed(408, "Request Timeout") from None
        except asyncio.CancelledError:
            dialog.cancel()
            raise
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
                elif (dialog := self._outgoing.get(id(transaction))) is not None:
                    dialog.response_received(action.message)
            elif isinstance(action, (TimedOut, TransportFailed)):
                logger.info("%r: %s", transaction, action)
                if (dialog := self._outgoing.get(id(transaction))) is not None:
                    if isinstance(action, TimedOut):
                        dialog.failed(CallFailed(408, "Request Timeout"))
                    else:
                        dialog.failed(CallFailed(503, "Service Unavailable"))
            elif isinstance(action, Terminated):
                self._drop(transaction)

    def _timer_fired(self, transaction: Transaction, name: str) -> None:
        self._timers.pop((id(transaction), name), None)
        self._execute(transaction, transaction.timer_fired(name))

    def _drop(self, transaction: Transaction) -> None:
        self._outgoing.pop(id(transaction), None)
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
