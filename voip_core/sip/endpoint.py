"""The SIP endpoint: transports and transactions on the event loop [RFC 3261 §17, §18].

:class:`SIPEndpoint` joins the :class:`~voip_core.sip.transport.TransportLayer`
(UDP, TCP, TLS; IPv4 and IPv6) to the sans-I/O transactions of
:mod:`voip_core.sip.transaction`: it parses what arrives, answers what
cannot be processed (400 with the parse error, 505), stamps received/rport
on requests [RFC 3581], matches requests and responses to transactions,
carries out their Send and timer actions, and fails client transactions
whose connection broke. What a request *means* is the transaction user's
business: the :class:`~voip_core.sip.useragent.UserAgent` subclass.

A :class:`Hop` names where a message goes: transport, address and, for TCP
and TLS, the connection (flow) to use when it is still open, so responses
and in-dialog requests go back over the connection a request came on
[RFC 3261 §18.2.2, RFC 5923 practice].
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import ssl
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from voip_core.errors import ParseError
from voip_core.sip.headers import Via
from voip_core.sip.message import (
    SIPRequest,
    SIPResponse,
    VersionNotSupported,
    parse_message,
    salvage_for_400,
    validate_request,
)
from voip_core.sip.timers import TransactionTimers
from voip_core.sip.transaction import (
    Action,
    ClientInviteTransaction,
    ClientNonInviteTransaction,
    Deliver,
    Send,
    ServerInviteTransaction,
    ServerNonInviteTransaction,
    StartTimer,
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
from voip_core.sip.transport import Flow, TransportLayer
from voip_core.sip.uri import SIPURI

if TYPE_CHECKING:
    from voip_core.sip.workers import WorkerChannel

__all__ = ["Hop", "SIPEndpoint", "default_port", "hop_for_uri", "host_for_uri", "new_tag"]

logger = logging.getLogger(__name__)

Address = tuple[str, int]
TRANSPORTS = ("udp", "tcp", "tls")


@dataclass(frozen=True, slots=True)
class Hop:
    """Where a message goes: ``transport`` (udp/tcp/tls), ``address``, and a flow to reuse."""

    transport: str
    address: Address
    flow: Flow | None = None


_AnyTransaction = (
    ServerInviteTransaction
    | ServerNonInviteTransaction
    | ClientInviteTransaction
    | ClientNonInviteTransaction
)

#: Every transaction timer [RFC 3261 §17, RFC 6026 §8.4].
_TIMER_NAMES = "ABDEFGHIJKLM"
#: The timers a server transaction waits out after its final response (non-INVITE
#: Completed, INVITE Accepted) [RFC 3261 §17.2.2, RFC 6026 §8.7]: its request is
#: then kept only to be matched and dropped.
_WAITING_TIMERS = frozenset("JL")


def new_tag() -> str:
    """A random From/To tag [RFC 3261 §19.3]."""
    return secrets.token_hex(6)


def default_port(transport: str) -> int:
    """5061 for TLS, 5060 otherwise [RFC 3261 §19.1.2]."""
    return 5061 if transport == "tls" else 5060


def hop_for_uri(uri: SIPURI, default_transport: str = "udp") -> Hop:
    """The next hop a URI names: its transport parameter (TLS for sips:), maddr or host, port.

    Without DNS (RFC 3263 §4 NAPTR/SRV), which loopback use does not need.

    >>> hop_for_uri(SIPURI.parse("sips:bob@[::1]"))
    Hop(transport='tls', address=('::1', 5061), flow=None)
    """
    transport = (uri.parameters.get("transport") or "").lower()
    if uri.scheme == "sips":
        transport = "tls"
    elif transport not in TRANSPORTS:
        transport = default_transport
    host = uri.parameters.get("maddr") or uri.host
    return Hop(transport, (host, uri.port or default_port(transport)))


def host_for_uri(host: str) -> str:
    """An IPv6 address in brackets, as URIs and Via want it [RFC 3261 §19.1.1]."""
    return f"[{host}]" if ":" in host else host


def _reason(error: ParseError) -> str:
    """A reason phrase naming what was wrong (printable, one line)."""
    text = "Bad Request: " + str(error).splitlines()[0]
    return "".join(c if c.isprintable() else " " for c in text)[:120]


class SIPEndpoint:
    """Transports and transactions; subclasses decide what requests mean.

    Args:
        timers: T1, T2, T4.
        tls_verify: Verify TLS peers' certificates (the default; turn off only for tests).
        tls_cafile: Trust these CA certificates for TLS (PEM).
        keepalive_interval: RFC 5626 CRLF ping period on flows to registrars.
    """

    def __init__(
        self,
        *,
        timers: TimerConfig | None = None,
        tls_verify: bool = True,
        tls_cafile: str | None = None,
        keepalive_interval: float = 25.0,
    ) -> None:
        self.timers = timers or TimerConfig()
        self.loop = asyncio.get_running_loop()
        self.transports = TransportLayer(
            self._message_received,
            on_flow_failed=self._flow_failed,
            on_flow_recovered=self._flow_recovered,
            keepalive_interval=keepalive_interval,
            tls_verify=tls_verify,
            tls_cafile=tls_cafile,
        )
        #: The transport for requests whose URI names none (the first one we listen on).
        self.default_transport = "udp"
        self._server: dict[tuple[str, ...], Transaction] = {}
        self._client: dict[tuple[str, str], Transaction] = {}
        self._hops: dict[int, Hop] = {}
        self._timers = TransactionTimers(self.loop, self._timer_fired)
        self._handlers: dict[int, Callable[[SIPResponse], None]] = {}
        #: The key each transaction is filed under in _server or _client.
        self._keys: dict[int, tuple[str, ...]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        #: Contact header values (see _contact_value).
        self._contact_values: dict[tuple[str | None, str, int], str] = {}
        self.dropped_datagrams = 0
        #: ACKs dropped because they did not validate (an ACK gets no 400).
        self.dropped_acks = 0
        #: In a worker process (:mod:`voip_core.sip.workers`): whether the
        #: messages of a Call-ID are relayed to this process.
        self.owns_call_id: Callable[[str], bool] | None = None

    async def listen(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        transport: str = "udp",
        ssl_context: ssl.SSLContext | None = None,
    ) -> Address:
        """Listen on ``transport`` (udp, tcp, tls with ``ssl_context``); returns (host, port).

        Call it once per transport; the first one becomes the default.
        """
        transport = transport.lower()
        first = not self.transports.transports
        address = await self.transports.listen(transport, host, port, ssl_context=ssl_context)
        if first:
            self.default_transport = transport
        return address

    def listen_relayed(self, channel: WorkerChannel) -> Address:
        """Serve UDP as one of several worker processes (``voip serve --workers``).

        Reads the datagrams the relay hands ``channel`` and answers from the
        shared socket; Call-IDs made here are ones the relay routes back.
        Returns the shared socket's (host, port).
        """
        first = not self.transports.transports
        address = self.transports.listen_relayed(channel.sock, channel.inbox)
        self.owns_call_id = channel.owns
        if first:
            self.default_transport = "udp"
        return address

    def new_call_id(self, host: str) -> str:
        """A new Call-ID ``random@host`` [RFC 3261 §8.1.1.4], one routed back to this process."""
        while True:
            call_id = f"{secrets.token_hex(10)}@{host}"
            if self.owns_call_id is None or self.owns_call_id(call_id):
                return call_id

    @property
    def local_address(self) -> Address:
        """The default transport's listening (host, port)."""
        return self.transports.local_address(self.default_transport)

    def contact_for(self, transport: str | None = None) -> SIPURI:
        """Our Contact for requests and dialogs over ``transport`` [RFC 3261 §8.1.1.8]."""
        transport = transport or self.default_transport
        try:
            host, port = self.transports.local_address(transport)
        except KeyError:
            transport = self.default_transport
            host, port = self.local_address
        parameters: dict[str, str | None] = {}
        if transport != "udp":
            parameters["transport"] = transport
        return SIPURI(scheme="sip", host=host, port=port, parameters=parameters)

    def _contact_value(self, transport: str | None = None) -> str:
        """``<contact>`` for a Contact header over ``transport``: what every answer carries.

        Kept per transport, default transport and number of listeners: all
        that :meth:`contact_for` reads.
        """
        key = (transport, self.default_transport, len(self.transports._listeners))
        value = self._contact_values.get(key)
        if value is None:
            if len(self._contact_values) >= 16:
                self._contact_values.clear()
            value = self._contact_values[key] = f"<{self.contact_for(transport)}>"
        return value

    @property
    def contact_uri(self) -> SIPURI:
        """Our Contact over the default transport."""
        return self.contact_for()

    def close(self) -> None:
        """Cancel timers and tasks and close the sockets now."""
        self._timers.close()
        for task in self._tasks:
            task.cancel()
        self.transports.close_now()

    # Receiving ----------------------------------------------------------------------------

    def _message_received(self, data: bytes, flow: Flow) -> None:
        try:
            message = parse_message(data)
        except VersionNotSupported as error:
            if isinstance(error.sip_message, SIPRequest):
                self._answer_bad(error.sip_message, flow, 505, "Version Not Supported")
            return
        except ParseError as error:
            self._answer_unparsed(data, flow, error)
            return
        try:
            if isinstance(message, SIPRequest):
                try:
                    validate_request(message)
                except ParseError as error:
                    self._answer_bad(message, flow, 400, _reason(error))
                    return
                self._request_received(self._note_source(message, flow.remote), flow)
            else:
                self._response_received(message)
        except ParseError as error:
            self._answer_unparsed(data, flow, error)

    def _answer_bad(self, request: SIPRequest, flow: Flow, status: int, reason: str) -> None:
        """Answer a request we cannot process; an ACK is dropped and logged [RFC 3261 §17.2.1]."""
        if request.method == "ACK":
            self.dropped_acks += 1
            if self.dropped_acks & (self.dropped_acks - 1) == 0:  # 1st, 2nd, 4th ...
                logger.info(
                    "dropped a malformed ACK from %s (%d so far): %s",
                    flow.remote,
                    self.dropped_acks,
                    reason,
                )
            return
        response = request.create_response(status, reason, to_tag=new_tag())
        self._send(response, self._response_hop(response, flow))

    def _answer_unparsed(self, data: bytes, flow: Flow, error: ParseError) -> None:
        response = salvage_for_400(data, to_tag=new_tag())
        if response is None:
            self.dropped_datagrams += 1
            if self.dropped_datagrams & (self.dropped_datagrams - 1) == 0:
                logger.info("dropped an unparseable message from %s: %s", flow.remote, error)
            return
        self._send(response, self._response_hop(response, flow))

    def _note_source(self, request: SIPRequest, source: Address) -> SIPRequest:
        """Add received/rport to the top Via [RFC 3261 §18.2.1, RFC 3581 §4]."""
        top = request._vias[0]
        if top.host == source[0] and "rport" not in top.parameters:
            return request  # nothing to add
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

    def _response_hop(self, response: SIPRequest | SIPResponse, flow: Flow) -> Hop:
        """Where a response goes [RFC 3261 §18.2.2, RFC 3581 §4].

        Over TCP/TLS back on the request's connection (or, once it is gone, a
        new one to received and the Via port); over UDP to received/rport,
        else the Via's sent-by. ``response`` may be the request itself: its
        responses carry its Via.
        """
        try:
            top = response._vias[0]
        except ParseError:
            return Hop(flow.transport, flow.remote, flow)
        host = top.received or top.host
        if flow.transport != "udp":
            return Hop(flow.transport, (host, top.port or default_port(flow.transport)), flow)
        rport = top.rport or (flow.remote[1] if "rport" in top.parameters else None)
        return Hop("udp", (host, rport or top.port or 5060), flow)

    def _new_transaction(
        self, request: SIPRequest, transport: str, *, server: bool
    ) -> _AnyTransaction:
        """The transaction for ``request``: INVITE or not, server or client [RFC 3261 §17].

        Over TCP and TLS it is reliable: no retransmissions, zero wait timers.
        """
        invite = request.method == "INVITE"
        kind: type[_AnyTransaction]
        if server:
            kind = ServerInviteTransaction if invite else ServerNonInviteTransaction
        else:
            kind = ClientInviteTransaction if invite else ClientNonInviteTransaction
        return kind(request, timers=self.timers, reliable=transport != "udp")

    def _request_received(self, request: SIPRequest, flow: Flow) -> None:
        key = server_key(request)
        existing = self._server.get(key)
        if existing is not None:
            self._execute(existing, existing.receive_request(request))  # type: ignore[attr-defined]
            return
        if request.method == "ACK":
            self._ack_received(request)
            return
        transaction = self._new_transaction(request, flow.transport, server=True)
        self._server[key] = transaction
        self._keys[id(transaction)] = key
        # Responses copy the request's Via, so the request tells where they go.
        self._hops[id(transaction)] = self._response_hop(request, flow)
        self._execute(transaction, transaction.start())

    def _response_received(self, response: SIPResponse) -> None:
        transaction = self._client.get(client_key(response))
        if transaction is None:
            self._stray_response(response)
            return
        self._execute(transaction, transaction.receive_response(response))  # type: ignore[attr-defined]

    # What subclasses decide ---------------------------------------------------------------

    def _deliver_request(self, transaction: Transaction, request: SIPRequest) -> None:
        """A new request for the transaction user. Override it."""
        raise NotImplementedError

    def _ack_received(self, ack: SIPRequest) -> None:
        """An ACK outside any transaction: the ACK of a 2xx [RFC 3261 §17.2.1]."""

    def _stray_response(self, response: SIPResponse) -> None:
        """A response no client transaction is waiting for (a retransmitted 2xx...)."""
        logger.debug("stray response %s %s", response.status_code, response.call_id)

    def _client_failed(self, transaction: Transaction, action: TimedOut | TransportFailed) -> bool:
        """A client transaction timed out or lost its transport; True when handled."""
        return False

    def _flow_recovered(self, flow: Flow) -> None:
        """A persistent flow (to a registrar) was reconnected: re-register. Override it."""

    # Sending ------------------------------------------------------------------------------

    def _via(self, transport: str | None = None) -> str:
        transport = transport or self.default_transport
        try:
            host, port = self.transports.local_address(transport)
        except KeyError:
            host, port = self.local_address
        return (
            f"SIP/2.0/{transport.upper()} {host_for_uri(host)}:{port};branch={new_branch()};rport"
        )

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
        hop: Hop,
        on_response: Callable[[SIPResponse], None],
    ) -> Transaction:
        """Send ``request`` in a new client transaction; responses go to ``on_response``.

        A timeout comes as a 408 and a transport failure as a 503 made
        locally [RFC 3261 §8.1.3.1].
        """
        transaction = self._new_transaction(request, hop.transport, server=False)
        self._client[key := client_key(request)] = transaction
        self._keys[id(transaction)] = key
        self._hops[id(transaction)] = hop
        self._handlers[id(transaction)] = on_response
        self._execute(transaction, transaction.start())
        return transaction

    def _send(
        self, message: SIPRequest | SIPResponse, hop: Hop, *, persistent: bool = False
    ) -> Flow | None:
        flow = hop.flow if hop.flow is not None and hop.flow.transport == hop.transport else None
        return self.transports.send(
            message.serialize(), hop.transport, hop.address, flow=flow, persistent=persistent
        )

    def _destination(self, transaction: Transaction) -> Hop | None:
        return self._hops.get(id(transaction))

    def _execute(self, transaction: Transaction, actions: list[Action]) -> None:
        """Carry out what a transaction asked for."""
        for action in actions:
            if isinstance(action, Send):
                hop = self._hops.get(id(transaction))
                if hop is not None:
                    message = action.message
                    persistent = isinstance(message, SIPRequest) and message.method == "REGISTER"
                    flow = self._send(action.message, hop, persistent=persistent)
                    if flow is not None and flow.transport != "udp" and hop.flow is not flow:
                        self._hops[id(transaction)] = Hop(hop.transport, hop.address, flow)
            elif isinstance(action, StartTimer):
                self._timers.start(transaction, action.name, action.delay)
                if action.name in _WAITING_TIMERS:
                    transaction.request._forget_parsed()
                    last = getattr(transaction, "last_response", None)
                    if last is not None:
                        last._forget_parsed()
            elif isinstance(action, StopTimer):
                self._timers.stop(transaction, action.name)
            elif isinstance(action, Deliver):
                if isinstance(action.message, SIPRequest):
                    self._deliver_request(transaction, action.message)
                elif (handler := self._handlers.get(id(transaction))) is not None:
                    handler(action.message)
            elif isinstance(action, (TimedOut, TransportFailed)):
                logger.info("%r: %s", transaction, action)
                if self._client_failed(transaction, action):
                    continue
                if (handler := self._handlers.get(id(transaction))) is not None:
                    status = 408 if isinstance(action, TimedOut) else 503
                    handler(transaction.request.create_response(status))
            elif isinstance(action, Terminated):
                self._drop(transaction)

    def _timer_fired(self, transaction: Transaction, name: str) -> None:
        self._execute(transaction, transaction.timer_fired(name))

    def _flow_failed(self, flow: Flow) -> None:
        """A TCP/TLS connection broke: fail the client transactions sent over it."""
        for transaction in list(self._client.values()):
            hop = self._hops.get(id(transaction))
            if hop is not None and hop.flow is flow:
                self._execute(transaction, transaction.transport_error())

    def _drop(self, transaction: Transaction) -> None:
        self._handlers.pop(id(transaction), None)
        self._hops.pop(id(transaction), None)
        request = transaction.request
        if isinstance(transaction, (ClientInviteTransaction, ClientNonInviteTransaction)):
            known = self._keys.pop(id(transaction), None)
            client = client_key(request) if known is None else (known[0], known[1])
            if self._client.get(client) is transaction:
                del self._client[client]
        else:
            key = self._keys.pop(id(transaction), None) or server_key(request)
            if self._server.get(key) is transaction:
                del self._server[key]
        self._timers.stop_all(transaction, _TIMER_NAMES)
