"""SIP transports: UDP, TCP and TLS on asyncio [RFC 3261 §18].

One :class:`TransportLayer` owns every SIP socket of a user agent: the
listeners (a datagram endpoint for UDP, a stream server for TCP and TLS) and
the connections, inbound and outbound. Upwards it speaks in bytes and
:class:`Flow` objects: ``on_message(data, flow)`` for every message that
arrives, ``send(data, transport, destination)`` for every message to go out.
Parsing stays above (``voip_core.sip.message``); this layer only frames.

Design:

- A *flow* is the path a message took or will take [RFC 5626 §3.1]: the
  transport kind, the local and remote address and, for TCP and TLS, the
  connection. Flows compare by identity; a connection keeps one Flow for its
  whole life, so the user agent can key state on it.
- Stream bytes go through a :class:`~voip_core.sip.message.StreamFramer` per
  connection [RFC 3261 §18.3]. Unframeable input closes that connection and
  nothing else. A double-CRLF ping is answered with a CRLF pong
  [RFC 5626 §4.4.1].
- Responses go back over the connection the request came on
  [RFC 3261 §18.2.2]; other messages reuse any open connection to the
  destination, in either direction, before a new one is opened
  [RFC 3261 §18.1.1].
- ``send`` never blocks and never raises for network trouble: a connection
  is opened in the background with the data queued, and any failure comes
  back through ``on_flow_failed``.
- Flows sent with ``persistent=True`` (a registration) are kept alive with
  CRLF pings and reconnected with exponential back-off when they fail
  [RFC 5626 §4.4.1, §4.5]; ``on_flow_recovered`` tells the user agent to
  register again.
- UDP has no flows to fail: each datagram gets its own Flow; blank
  datagrams (CRLF keep-alives, common practice) are dropped here.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import math
import random
import socket
import ssl
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, cast

from voip_core.errors import ParseError
from voip_core.sip.message import MAX_MESSAGE_SIZE, KeepAlive, StreamFramer

__all__ = ["Address", "Flow", "TransportLayer", "client_ssl_context", "reconnect_delay"]

logger = logging.getLogger(__name__)

Address = tuple[str, int]
#: The transport kinds this layer speaks, as ``Flow.transport`` spells them.
TRANSPORTS = ("udp", "tcp", "tls")

_PING = b"\r\n\r\n"
_PONG = b"\r\n"
#: A connection whose unsent data grows past this is treated as failed (a peer that never reads).
_WRITE_BUFFER_LIMIT = 16 * MAX_MESSAGE_SIZE


@dataclass(frozen=True, eq=False, slots=True)
class Flow:
    """Where a message came from or goes over [RFC 5626 §3.1].

    Flows compare by identity: every message on one connection carries the
    same Flow object, and a new connection (a reconnect included) is a new
    Flow. For an outbound connection still being opened ``local`` is
    ``("", 0)`` until it is connected.

    Attributes:
        transport: ``"udp"``, ``"tcp"`` or ``"tls"``.
        local: Our (host, port) on this flow.
        remote: The peer's (host, port).
    """

    transport: str
    local: Address
    remote: Address
    _channel: _Connection | _DatagramEndpoint | None = field(default=None, repr=False)

    @property
    def is_open(self) -> bool:
        """Whether messages can still be sent over this flow."""
        channel = self._channel
        if isinstance(channel, _Connection):
            return not channel.ended
        return channel is not None and not channel.transport.is_closing()


def client_ssl_context(verify: bool = True, cafile: str | None = None) -> ssl.SSLContext:
    """A TLS client context for SIP over TLS [RFC 3261 §26.2.1, RFC 5922].

    Args:
        verify: Check the server's certificate chain and name (the default).
            ``False`` accepts any certificate: for tests only.
        cafile: PEM file of trusted CAs; the system store when None.
    """
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cafile)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def reconnect_delay(failures: int, base: float, maximum: float) -> float:
    """Seconds to wait before the next connection attempt [RFC 5626 §4.5].

    The upper bound is ``min(maximum, base * 2**failures)``; the wait is drawn
    uniformly between half of it and all of it, so that many clients cut off
    together do not come back together.
    """
    bound = min(maximum, math.ldexp(base, min(failures, 64)))
    return bound * random.uniform(0.5, 1.0)


def _address(sockaddr: Any) -> Address:
    """(host, port) of a socket address; IPv6 4-tuples lose flow info and scope."""
    return (str(sockaddr[0]), int(sockaddr[1]))


def _key(kind: str, address: Address) -> tuple[str, Address]:
    """How connections are found: transport and remote address, the host normalised."""
    host = address[0].strip("[]").lower()
    with contextlib.suppress(ValueError):
        host = ipaddress.ip_address(host).compressed
    return (kind, (host, address[1]))


def _family(host: str) -> socket.AddressFamily | None:
    """The address family of an IP literal, None for a name."""
    try:
        version = ipaddress.ip_address(host.strip("[]")).version
    except ValueError:
        return None
    return socket.AF_INET6 if version == 6 else socket.AF_INET


def _call(callback: Callable[..., None], *args: Any) -> None:
    """Run a user callback; an exception is logged, never thrown into the event loop."""
    try:
        callback(*args)
    except Exception:
        logger.exception("SIP transport callback %r failed", callback)


def _worth_logging(count: int) -> bool:
    """True for the 1st, 2nd, 4th, 8th ... occurrence: rate-limits a repeated log line."""
    return count & (count - 1) == 0


class _DatagramEndpoint(asyncio.DatagramProtocol):
    """The UDP listener socket: every datagram is a message [RFC 3261 §18.1.1]."""

    def __init__(self, layer: TransportLayer) -> None:
        self.layer = layer
        self.local: Address = ("", 0)
        self.family = socket.AF_INET
        self.transport: asyncio.DatagramTransport

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)  # not a subclass in 3.11
        sock = transport.get_extra_info("socket")
        self.family = sock.family
        self.local = _address(transport.get_extra_info("sockname"))

    def datagram_received(self, data: bytes, addr: Any) -> None:
        layer = self.layer
        if not data.strip(b"\r\n"):  # a CRLF keep-alive [RFC 5626 §3.5.1 does it on streams]
            return
        if len(data) > layer.max_message_size:
            layer.dropped_datagrams += 1
            if _worth_logging(layer.dropped_datagrams):
                count, size = layer.dropped_datagrams, len(data)
                logger.warning("dropped %d oversized UDP datagram(s), latest %d bytes", count, size)
            return
        _call(layer.on_message, data, Flow("udp", self.local, _address(addr), self))

    def error_received(self, exc: Exception) -> None:
        logger.debug("SIP UDP socket %s: %s", self.local, exc)


class _Connection(asyncio.Protocol):
    """One TCP or TLS connection: framing, keep-alive and its Flow [RFC 3261 §18.3]."""

    def __init__(self, layer: TransportLayer, kind: str, remote: Address | None = None) -> None:
        self.layer = layer
        self.kind = kind
        self.outbound = remote is not None  # inbound ones learn the remote when connected
        self.server_name: str | None = None
        self.persistent = False
        self.framer = StreamFramer(layer.max_message_size)
        self.transport: asyncio.Transport | None = None
        self.flow = Flow(kind, ("", 0), remote or ("", 0), self)
        self.pending: list[bytes] = []
        self.pending_size = 0
        self.ended = False
        self.quiet = False  # ended by us on purpose: no on_flow_failed
        self.announced = False  # on_flow_failed only for flows the user has seen
        self.counted = False  # an inbound connection within max_connections
        self.last_activity = layer.loop.time()
        self.timer: asyncio.TimerHandle | None = None  # idle check or keep-alive
        self.awaiting_pong = False
        self.keys: set[tuple[str, Address]] = set()

    # asyncio.Protocol ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = self.transport = cast(asyncio.Transport, transport)
        layer = self.layer
        if self.ended or layer._closed:  # aborted while connecting, or closing down
            transport.abort()
            return
        local = _address(transport.get_extra_info("sockname"))
        peer = _address(transport.get_extra_info("peername"))
        if self.outbound:
            object.__setattr__(self.flow, "local", local)
        else:
            if layer._inbound >= layer.max_connections:
                layer.refused_connections += 1
                if _worth_logging(layer.refused_connections):
                    count = layer.refused_connections
                    logger.warning("refused %d SIP connection(s) over max_connections", count)
                self.ended = True
                transport.abort()
                return
            layer._inbound += 1
            self.counted = True
            self.flow = Flow(self.kind, local, peer, self)
            layer._connections.add(self)
        layer._register(self, peer)
        if self.pending:
            data, self.pending, self.pending_size = b"".join(self.pending), [], 0
            self.write(data)
        self._schedule()

    def data_received(self, data: bytes) -> None:
        self.last_activity = self.layer.loop.time()
        try:
            items = self.framer.feed(data)
        except ParseError as error:
            logger.warning("closing SIP %s flow %s: %s", self.kind, self.flow.remote, error)
            self.abort(error)
            return
        for item in items:
            if self.ended:
                return
            if item is KeepAlive.PING:
                self.write(_PONG)  # [RFC 5626 §4.4.1]
            elif item is KeepAlive.PONG:
                if self.awaiting_pong:
                    self.awaiting_pong = False
                    self._schedule()
            else:
                assert isinstance(item, bytes)
                self.announced = True
                _call(self.layer.on_message, item, self.flow)

    def eof_received(self) -> bool | None:
        return None  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.finish(exc or "closed by peer")

    # Ours ----------------------------------------------------------------------------------

    def write(self, data: bytes) -> bool:
        """Write ``data`` (or queue it while connecting); False when the flow has ended."""
        if self.ended:
            return False
        transport = self.transport
        if transport is None:
            self.pending.append(data)
            self.pending_size += len(data)
            if self.pending_size > _WRITE_BUFFER_LIMIT:
                logger.warning("SIP %s flow %s: too much queued", self.kind, self.flow.remote)
                self.abort("too much data queued while connecting")
            return not self.ended
        try:
            if transport.is_closing():
                raise ConnectionError("connection is closing")
            transport.write(data)
        except Exception as error:
            self.abort(error)
            return False
        self.last_activity = self.layer.loop.time()
        if transport.get_write_buffer_size() > _WRITE_BUFFER_LIMIT:
            logger.warning("SIP %s flow %s: peer does not read", self.kind, self.flow.remote)
            self.abort("peer does not read (write buffer full)")
            return False
        return True

    def abort(self, reason: object, *, quiet: bool = False) -> None:
        """Close the connection now; ``quiet`` suppresses ``on_flow_failed``."""
        self.quiet = self.quiet or quiet
        if self.transport is not None:
            self.transport.abort()
        self.finish(reason)

    def finish(self, reason: object) -> None:
        """Forget the connection once; report the failure and reconnect where wanted."""
        if self.ended:
            return
        self.ended = True
        if self.timer is not None:
            self.timer.cancel()
        layer = self.layer
        layer._forget(self)
        if layer._closed or self.quiet:
            return
        logger.debug("SIP %s flow %s ended: %s", self.kind, self.flow.remote, reason)
        if self.announced and layer.on_flow_failed is not None:
            _call(layer.on_flow_failed, self.flow)
        if self.persistent:
            layer._start_reconnect(self.kind, self.flow.remote, self.server_name)

    def _schedule(self) -> None:
        """Arm the one timer this connection needs: the next ping, or the idle check."""
        if self.ended or self.transport is None:
            return
        if self.timer is not None:
            self.timer.cancel()
        loop = self.layer.loop
        if self.persistent:  # the client sends pings at 80-100 % of the interval [RFC 5626 §4.4.1]
            delay = self.layer.keepalive_interval * random.uniform(0.8, 1.0)
            self.timer = loop.call_later(delay, self._ping)
        elif not self.outbound and self.layer.idle_timeout is not None:
            due = self.last_activity + self.layer.idle_timeout
            self.timer = loop.call_at(due, self._idle_check)

    def _ping(self) -> None:
        if self.write(_PING):
            self.awaiting_pong = True
            self.timer = self.layer.loop.call_later(self.layer.keepalive_timeout, self._no_pong)

    def _no_pong(self) -> None:
        if self.awaiting_pong:
            logger.warning("SIP %s flow %s: no keep-alive pong", self.kind, self.flow.remote)
            self.abort(f"no keep-alive pong within {self.layer.keepalive_timeout} s")

    def _idle_check(self) -> None:
        idle_timeout = self.layer.idle_timeout
        assert idle_timeout is not None
        if self.layer.loop.time() - self.last_activity >= idle_timeout:
            self.abort(f"idle for {idle_timeout} s", quiet=True)
        else:
            self._schedule()


class TransportLayer:
    """Every SIP socket of one user agent: listeners and connections [RFC 3261 §18].

    Args:
        on_message: Called with each complete message and the Flow it came on.
        on_flow_failed: Called once when a TCP/TLS flow the user has seen
            (returned by ``send``, or passed to ``on_message``) ends other
            than by ``close()`` or idle timeout: connect or TLS failure, write
            failure, keep-alive timeout, framing error, or the peer closing.
        on_flow_recovered: Called with the new Flow after a persistent flow
            has been reconnected [RFC 5626 §4.5]; register again over it.
        keepalive_interval: Seconds between CRLF pings on persistent flows.
        keepalive_timeout: Seconds to wait for the pong before the flow fails.
        reconnect_base: Back-off base, seconds [RFC 5626 §4.5].
        reconnect_max: Back-off cap, seconds.
        connect_timeout: Seconds for a TCP connect plus TLS handshake.
        idle_timeout: Close inbound connections idle this long; None keeps them.
        max_connections: Most inbound connections at once; more are refused.
        max_message_size: Largest message accepted on any transport.
        tls_verify: Verify server certificates on TLS connections we open.
        tls_cafile: PEM file of trusted CAs for them (system store when None).
    """

    def __init__(
        self,
        on_message: Callable[[bytes, Flow], None],
        *,
        on_flow_failed: Callable[[Flow], None] | None = None,
        on_flow_recovered: Callable[[Flow], None] | None = None,
        keepalive_interval: float = 25.0,
        keepalive_timeout: float = 10.0,
        reconnect_base: float = 1.0,
        reconnect_max: float = 60.0,
        connect_timeout: float = 5.0,
        idle_timeout: float | None = None,
        max_connections: int = 1024,
        max_message_size: int = MAX_MESSAGE_SIZE,
        tls_verify: bool = True,
        tls_cafile: str | None = None,
    ) -> None:
        self.on_message = on_message
        self.on_flow_failed = on_flow_failed
        self.on_flow_recovered = on_flow_recovered
        self.keepalive_interval = keepalive_interval
        self.keepalive_timeout = keepalive_timeout
        self.reconnect_base = reconnect_base
        self.reconnect_max = reconnect_max
        self.connect_timeout = connect_timeout
        self.idle_timeout = idle_timeout
        self.max_connections = max_connections
        self.max_message_size = max_message_size
        self.tls_verify = tls_verify
        self.tls_cafile = tls_cafile
        self.loop = asyncio.get_running_loop()
        self._listeners: list[tuple[str, Address, asyncio.Server | _DatagramEndpoint]] = []
        self._connections: set[_Connection] = set()
        self._by_key: dict[tuple[str, Address], _Connection] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._reconnecting: dict[tuple[str, Address], asyncio.Task[None]] = {}
        self._client_context: ssl.SSLContext | None = None
        self._inbound = 0
        self._closed = False
        self._closing_servers: list[asyncio.AbstractServer] = []
        self.dropped_datagrams = 0  # oversized
        self.refused_connections = 0  # over max_connections

    # Listening -----------------------------------------------------------------------------

    async def listen(
        self,
        transport: str,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        ssl_context: ssl.SSLContext | None = None,
    ) -> Address:
        """Open a listener and return its bound (host, port) [RFC 3261 §18.2.1].

        Args:
            transport: ``"udp"``, ``"tcp"`` or ``"tls"``.
            host: Local address to bind (``"::1"`` and other IPv6 work).
            port: Local port; 0 picks a free one.
            ssl_context: The server context (certificate and key); TLS only, required there.

        Raises:
            ValueError: Unknown transport, or TLS without ``ssl_context``.
            OSError: The address cannot be bound.
        """
        kind = self._kind(transport)
        if self._closed:
            raise RuntimeError("transport layer is closed")
        host = host.strip("[]")
        if kind == "udp":
            _, endpoint = await self.loop.create_datagram_endpoint(
                lambda: _DatagramEndpoint(self), local_addr=(host, port)
            )
            self._listeners.append((kind, endpoint.local, endpoint))
            return endpoint.local
        if (kind == "tls") != (ssl_context is not None):
            raise ValueError("ssl_context is required for tls and only for tls")
        server = await self.loop.create_server(
            lambda: _Connection(self, kind),
            host,
            port,
            ssl=ssl_context,
            ssl_handshake_timeout=self.connect_timeout if ssl_context else None,
        )
        local = _address(server.sockets[0].getsockname())
        self._listeners.append((kind, local, server))
        return local

    def local_address(self, transport: str) -> Address:
        """The (host, port) of the first listener of ``transport``, for Via and Contact.

        Raises:
            KeyError: No listener of that transport.
        """
        kind = transport.lower()
        for listener_kind, local, _ in self._listeners:
            if listener_kind == kind:
                return local
        raise KeyError(transport)

    @property
    def transports(self) -> list[str]:
        """The transport kinds we listen on, in the order they were opened."""
        return list(dict.fromkeys(kind for kind, _, _ in self._listeners))

    # Sending -------------------------------------------------------------------------------

    def send(
        self,
        data: bytes,
        transport: str,
        destination: Address,
        *,
        flow: Flow | None = None,
        server_name: str | None = None,
        persistent: bool = False,
    ) -> Flow | None:
        """Send one message; never blocks, never raises for network trouble [RFC 3261 §18.1.1].

        UDP: a datagram from the UDP listener (of ``flow`` if given, else of
        the destination's address family) to ``destination``. TCP and TLS:
        over ``flow`` if it is still open (responses go back over the
        request's connection [RFC 3261 §18.2.2]); else over an open
        connection to ``destination``; else over a new connection, with
        ``data`` queued until it is up. Failures arrive at ``on_flow_failed``.

        Args:
            data: The whole message.
            transport: ``"udp"``, ``"tcp"`` or ``"tls"`` (any case).
            destination: (host, port); UDP wants an IP address (a name is
                resolved in the background).
            flow: The flow to answer over, if any.
            server_name: The name a TLS certificate must match (default: the
                destination host) [RFC 5922 §7.2].
            persistent: Keep this outbound flow alive with CRLF pings and
                reconnect it after failures [RFC 5626 §4.4.1, §4.5].

        Returns:
            The Flow used, or None when nothing could be sent (layer closed,
            no UDP listener for that address family).

        Raises:
            ValueError: Unknown transport.
        """
        kind = self._kind(transport)
        if self._closed:
            logger.warning("SIP transport layer closed; message to %s dropped", destination)
            return None
        destination = (destination[0].strip("[]"), int(destination[1]))
        if not 0 < destination[1] < 65536:
            logger.warning("bad SIP destination %s; message dropped", destination)
            return None
        if kind == "udp":
            return self._send_datagram(data, destination, flow)
        connection = None
        if flow is not None and isinstance(flow._channel, _Connection) and flow.transport == kind:
            connection = flow._channel if not flow._channel.ended else None
        if connection is None:
            connection = self._by_key.get(_key(kind, destination))
        if connection is None:
            connection = self._connect(kind, destination, server_name, persistent)
        elif persistent and not connection.persistent:
            connection.persistent = True
            connection._schedule()
        connection.announced = True
        connection.write(data)
        return connection.flow

    def _send_datagram(self, data: bytes, destination: Address, flow: Flow | None) -> Flow | None:
        endpoint = None
        if flow is not None and isinstance(flow._channel, _DatagramEndpoint) and flow.is_open:
            endpoint = flow._channel
        family = _family(destination[0])
        for _, _, listener in self._listeners:
            if endpoint is not None:
                break
            if isinstance(listener, _DatagramEndpoint) and family in (None, listener.family):
                endpoint = listener
        if endpoint is None:
            logger.warning("no UDP listener for %s; message dropped", destination)
            return None
        if family is None:
            self._spawn(self._resolve_and_send(endpoint, data, destination))
        else:
            endpoint.transport.sendto(data, destination)
        return Flow("udp", endpoint.local, destination, endpoint)

    async def _resolve_and_send(
        self, endpoint: _DatagramEndpoint, data: bytes, destination: Address
    ) -> None:
        family, kind = endpoint.family, socket.SOCK_DGRAM
        try:
            infos = await self.loop.getaddrinfo(*destination, family=family, type=kind)
        except Exception as error:
            logger.warning("cannot resolve %r: %s", destination[0], error)
            return
        if infos and not endpoint.transport.is_closing():
            endpoint.transport.sendto(data, _address(infos[0][4]))

    # Connections ---------------------------------------------------------------------------

    def _connect(
        self, kind: str, destination: Address, server_name: str | None, persistent: bool
    ) -> _Connection:
        """Start opening a connection; it is usable (queueing) at once."""
        connection = _Connection(self, kind, destination)
        connection.server_name, connection.persistent = server_name, persistent
        self._connections.add(connection)
        self._register(connection, destination)
        self._spawn(self._open(connection))
        return connection

    async def _open(self, connection: _Connection) -> bool:
        """Connect (and handshake) ``connection``; False, with the failure reported, if not."""
        host, port = connection.flow.remote
        context = name = None
        if connection.kind == "tls":  # [RFC 5922 §7.2]: the certificate must name the server
            if self._client_context is None:
                self._client_context = client_ssl_context(self.tls_verify, self.tls_cafile)
            context, name = self._client_context, connection.server_name or host
        opening = self.loop.create_connection(
            lambda: connection, host, port, ssl=context, server_hostname=name
        )
        try:
            await asyncio.wait_for(opening, self.connect_timeout)
        except Exception as error:
            reason = str(error) or type(error).__name__
            logger.info("SIP %s connection to %s failed: %s", connection.kind, (host, port), reason)
            connection.abort(reason)
            return False
        return not connection.ended

    def _register(self, connection: _Connection, remote: Address) -> None:
        """Make ``connection`` findable by (transport, remote address)."""
        key = _key(connection.kind, remote)
        connection.keys.add(key)
        self._by_key[key] = connection

    def _forget(self, connection: _Connection) -> None:
        self._connections.discard(connection)
        if connection.counted:
            self._inbound -= 1
        for key in connection.keys:
            if self._by_key.get(key) is connection:
                del self._by_key[key]

    def _start_reconnect(self, kind: str, remote: Address, server_name: str | None) -> None:
        key = _key(kind, remote)
        if key not in self._reconnecting:
            self._reconnecting[key] = self._spawn(self._reconnect(key, remote, server_name))

    async def _reconnect(
        self, key: tuple[str, Address], remote: Address, server_name: str | None
    ) -> None:
        """Reopen a persistent flow with back-off until it is up [RFC 5626 §4.5]."""
        kind = key[0]
        failures = 0
        try:
            while True:
                delay = reconnect_delay(failures, self.reconnect_base, self.reconnect_max)
                logger.info("reconnecting SIP %s flow to %s in %.2f s", kind, remote, delay)
                await asyncio.sleep(delay)
                connection = self._by_key.get(key)
                if connection is not None:  # someone opened one meanwhile: keep that alive
                    connection.persistent = True
                    connection._schedule()
                else:
                    connection = self._connect(kind, remote, server_name, True)
                    if not await self._open(connection):
                        failures += 1
                        logger.info("reconnect %d to %s failed", failures, remote)
                        continue
                break
        finally:
            del self._reconnecting[key]
        connection.announced = True
        if self.on_flow_recovered is not None:
            _call(self.on_flow_recovered, connection.flow)

    def _spawn(self, coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = self.loop.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    @staticmethod
    def _kind(transport: str) -> str:
        kind = transport.lower()
        if kind not in TRANSPORTS:
            raise ValueError(f"unknown SIP transport {transport!r}")
        return kind

    # Closing -------------------------------------------------------------------------------

    def close_now(self) -> list[asyncio.Task[Any]]:
        """Close listeners and connections and cancel tasks, without waiting; idempotent.

        Returns the cancelled tasks (:meth:`close` waits for them).
        """
        if self._closed:
            return []
        self._closed = True
        for _, _, listener in self._listeners:
            if isinstance(listener, _DatagramEndpoint):
                listener.transport.close()
            else:
                listener.close()
                self._closing_servers.append(listener)
        for connection in list(self._connections):
            connection.abort("closing", quiet=True)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        return tasks

    async def close(self) -> None:
        """Close listeners and connections and cancel every timer and task; idempotent."""
        tasks = self.close_now()
        await asyncio.gather(*tasks, return_exceptions=True)
        servers, self._closing_servers = self._closing_servers, []
        for server in servers:
            with contextlib.suppress(Exception):
                await server.wait_closed()
        for _ in range(3):  # let transports run their connection_lost callbacks
            await asyncio.sleep(0)
