"""The sockets under the SIP transport layer: flows, the UDP endpoint, stream connections.

:class:`Flow` names the path of a message [RFC 5626 §3.1]; the UDP listener
and each TCP/TLS connection are asyncio protocols that frame what they
receive (:class:`~voip_core.sip.message.StreamFramer` on streams
[RFC 3261 §18.3]), answer CRLF keep-alive pings and watch for pongs
[RFC 5626 §4.4.1], and report to their
:class:`~voip_core.sip.transport.TransportLayer`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import random
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from voip_core.datagram import (
    DATAGRAM_READ_SIZE,
    DATAGRAMS_PER_WAKEUP,
    tune_datagram_transport,
)
from voip_core.errors import ParseError
from voip_core.sip.message import MAX_MESSAGE_SIZE, KeepAlive, StreamFramer
from voip_core.sip.workers import RELAY_HEAD_SIZE, unpack

if TYPE_CHECKING:
    from voip_core.sip.transport import TransportLayer

__all__ = ["UDP_FLOWS_KEPT", "Flow"]

logger = logging.getLogger("voip_core.sip.transport")

Address = tuple[str, int]

#: How many remote addresses a UDP socket keeps a :class:`Flow` for (then it starts afresh).
UDP_FLOWS_KEPT = 4096
_PING = b"\r\n\r\n"
_CR_LF = (13, 10)
_PONG = b"\r\n"
#: A connection whose unsent data grows past this is treated as failed (a peer that never reads).
_WRITE_BUFFER_LIMIT = 16 * MAX_MESSAGE_SIZE


@dataclass(frozen=True, eq=False, slots=True)
class Flow:
    """Where a message came from or goes over [RFC 5626 §3.1].

    Flows compare by identity: every message on one connection carries the
    same Flow object, and a new connection (a reconnect included) is a new
    Flow. Over UDP the datagrams from one address to one socket share a
    Flow as long as the socket remembers it (the last
    :data:`UDP_FLOWS_KEPT` addresses). For an outbound connection still
    being opened ``local`` is ``("", 0)`` until it is connected.

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
        return _FAMILIES[host]
    except KeyError:
        pass
    try:
        version = ipaddress.ip_address(host.strip("[]")).version
    except ValueError:
        family = None
    else:
        family = socket.AF_INET6 if version == 6 else socket.AF_INET
    if len(_FAMILIES) >= _FAMILIES_LIMIT:
        _FAMILIES.clear()
    _FAMILIES[host] = family
    return family


#: Hosts met before -> their family (every datagram sent asks); emptied when full.
_FAMILIES: dict[str, socket.AddressFamily | None] = {}
_FAMILIES_LIMIT = 1024


def _call(callback: Callable[..., None], *args: Any) -> None:
    """Run a user callback; an exception is logged, never thrown into the event loop."""
    try:
        callback(*args)
    except Exception:
        logger.exception("SIP transport callback %r failed", callback)


def _worth_logging(count: int) -> bool:
    """True for the 1st, 2nd, 4th, 8th ... occurrence: rate-limits a repeated log line."""
    return count & (count - 1) == 0


async def _bound_datagram_socket(
    loop: asyncio.AbstractEventLoop, host: str, port: int
) -> socket.socket:
    """A non-blocking UDP socket bound to ``host:port``, as ``local_addr=`` would bind it.

    The first address ``host`` resolves to that can be bound wins; an IP
    literal is not sent to the resolver.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM, flags=socket.AI_NUMERICHOST)
    except socket.gaierror:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    errors: list[OSError] = []
    for family, kind, proto, _, address in infos:
        sock = socket.socket(family, kind, proto)
        try:
            sock.setblocking(False)
            sock.bind(address)
        except OSError as error:
            sock.close()
            errors.append(error)
            continue
        return sock
    if errors:
        raise errors[0]
    raise OSError(f"cannot resolve {host!r}")


class _DatagramEndpoint(asyncio.DatagramProtocol):
    """The UDP listener socket: every datagram is a message [RFC 3261 §18.1.1].

    When asyncio reports a datagram, the endpoint reads the ones queued
    behind it straight from ``sock`` (up to :data:`~voip_core.datagram.DATAGRAMS_PER_WAKEUP` in
    all), instead of one per turn of the event loop: under load that saves
    a ``select`` and a turn per message, and other callbacks still get the
    loop after each batch.

    What the stack sends while it handles such a batch (a 100 Trying and
    the 200 OK of an INVITE, say) goes out together at its end, in order:
    every datagram to a process that sleeps in ``select`` wakes it, and on a
    virtual machine a wake-up costs more than the send itself. A batch takes
    a few milliseconds at most; no timer is that short.

    ``relayed``: the datagrams come from a relay in another process
    (:mod:`voip_core.sip.workers`), each with its sender in front.
    """

    def __init__(
        self, layer: TransportLayer, sock: socket.socket | None = None, *, relayed: bool = False
    ) -> None:
        self.layer = layer
        self.relayed = relayed
        self.read_size = DATAGRAM_READ_SIZE + RELAY_HEAD_SIZE if relayed else DATAGRAM_READ_SIZE
        self.local: Address = ("", 0)
        self.family = socket.AF_INET
        self.transport: asyncio.DatagramTransport
        self._sock = sock
        self._outbox: list[tuple[bytes, Address]] | None = None  # a list while in a batch
        # One Flow per remote address: a server transaction keeps its request's
        # flow for 32 s, and a peer sends many requests.
        self._flows: dict[Any, Flow] = {}

    def send(self, data: bytes, destination: Address) -> None:
        """Send one datagram now, or at the end of the batch being handled."""
        outbox = self._outbox
        if outbox is None:
            self.transport.sendto(data, destination)
        else:
            outbox.append((data, destination))

    def flush(self) -> None:
        """Send what the batch being handled has queued (and send at once from now on)."""
        outbox, self._outbox = self._outbox, None
        if outbox:
            sendto = self.transport.sendto
            for data, destination in outbox:
                sendto(data, destination)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)  # not a subclass in 3.11
        tune_datagram_transport(transport)
        sock = transport.get_extra_info("socket")
        self.family = sock.family
        self.local = _address(transport.get_extra_info("sockname"))

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self._outbox = []
        try:
            self._message(data, addr)
            sock = self._sock
            if sock is None:
                return
            transport = self.transport
            for _ in range(DATAGRAMS_PER_WAKEUP - 1):
                if transport.is_closing():
                    return
                try:
                    data, addr = sock.recvfrom(self.read_size)
                except (BlockingIOError, InterruptedError):
                    return
                except OSError as error:  # as asyncio's own read does
                    self.error_received(error)
                    return
                self._message(data, addr)
        finally:
            self.flush()

    def _message(self, data: bytes, addr: Any) -> None:
        if self.relayed:
            data, addr = unpack(data)
        layer = self.layer
        # A CRLF keep-alive [RFC 5626 §3.5.1 does it on streams]; a message starts otherwise.
        if not data or (data[0] in _CR_LF and not data.strip(b"\r\n")):
            return
        if len(data) > layer.max_message_size:
            layer.dropped_datagrams += 1
            if _worth_logging(layer.dropped_datagrams):
                count, size = layer.dropped_datagrams, len(data)
                logger.warning("dropped %d oversized UDP datagram(s), latest %d bytes", count, size)
            return
        flow = self._flows.get(addr)
        if flow is None:
            if len(self._flows) >= UDP_FLOWS_KEPT:
                self._flows.clear()
            flow = self._flows[addr] = Flow("udp", self.local, _address(addr), self)
        _call(layer.on_message, data, flow)

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
