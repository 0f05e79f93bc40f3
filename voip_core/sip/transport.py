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
import logging
import math
import random
import socket
import ssl
from collections.abc import Callable, Coroutine
from typing import Any

from voip_core.datagram import SocketDatagramTransport
from voip_core.sip.connection import (
    Flow,
    _address,
    _bound_datagram_socket,
    _call,
    _Connection,
    _DatagramEndpoint,
    _family,
    _key,
)
from voip_core.sip.message import MAX_MESSAGE_SIZE

__all__ = ["Address", "Flow", "TransportLayer", "client_ssl_context", "reconnect_delay"]

logger = logging.getLogger(__name__)

Address = tuple[str, int]
#: The transport kinds this layer speaks, as ``Flow.transport`` spells them.
TRANSPORTS = ("udp", "tcp", "tls")


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
            sock = await _bound_datagram_socket(self.loop, host, port)
            try:
                _, endpoint = await self.loop.create_datagram_endpoint(
                    lambda: _DatagramEndpoint(self, sock), sock=sock
                )
            except BaseException:
                sock.close()
                raise
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

    def listen_relayed(self, sock: socket.socket, inbox: socket.socket) -> Address:
        """Serve UDP on ``sock`` as a worker: read ``inbox``, send from ``sock``.

        ``sock`` is a bound SIP socket that a relay in another process reads
        and hands this worker its share of (see :mod:`voip_core.sip.workers`).
        Returns ``sock``'s (host, port), which Via and Contact then carry.
        """
        if self._closed:
            raise RuntimeError("transport layer is closed")
        endpoint = _DatagramEndpoint(self, inbox, relayed=True)
        transport = SocketDatagramTransport(self.loop, inbox, endpoint, send_sock=sock)
        transport.read_size = endpoint.read_size
        endpoint.connection_made(transport)
        self._listeners.append(("udp", endpoint.local, endpoint))
        return endpoint.local

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
            endpoint.send(data, destination)
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
        self,
        kind: str,
        destination: Address,
        server_name: str | None,
        persistent: bool,
        *,
        start: bool = True,
    ) -> _Connection:
        """A new connection, usable (queueing) at once; opened in the background if ``start``."""
        connection = _Connection(self, kind, destination)
        connection.server_name, connection.persistent = server_name, persistent
        self._connections.add(connection)
        self._register(connection, destination)
        if start:
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
                    connection = self._connect(kind, remote, server_name, True, start=False)
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
                listener.flush()  # what the batch being handled sent goes out first
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
