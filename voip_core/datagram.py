"""Settings every UDP socket of voip-core gets: read size and receive buffer.

Shared by the SIP listener (:mod:`voip_core.sip.connection`) and the RTP
endpoint (:mod:`voip_core.rtp.protocol`), which both receive bursts of small
datagrams on one socket.

* **Read size.** asyncio's selector transports read each datagram into a
  fresh buffer of 256 KiB (``max_size``), which glibc serves with ``mmap``
  and gives back with ``munmap``: three system calls and a TLB flush per
  datagram, several times the cost of the ``recvfrom`` itself. A UDP
  datagram carries at most 65535 bytes [RFC 768; the IPv4 and IPv6 length
  fields], so reading 64 KiB loses nothing (anything longer than 65535
  bytes still reads as longer than any message allowed) and stays on the
  heap.
* **Receive buffer.** The kernel's default (about 208 KiB on Linux) holds a
  few hundred datagrams; a burst of calls, or the event loop busy for a few
  milliseconds, overflows it and the kernel drops what follows (the peer
  retransmits after 500 ms [RFC 3261 §17.1.1.2], if it does at all: RTP
  does not). The buffer is raised to :data:`RECEIVE_BUFFER_BYTES` where the
  system allows: Linux caps what a process may ask at ``net.core.rmem_max``
  (and reports twice what it grants, its bookkeeping included).
* **Starting a call's own sockets.** :func:`attach_datagram_socket` puts a
  bound socket on the event loop at once, without asyncio's
  ``create_datagram_endpoint`` (a coroutine, a task, a waiter future and a
  transport per socket: about 60 µs, where a call opens two sockets for
  RTP and RTCP). Where the loop cannot watch sockets (Windows' proactor),
  it falls back to asyncio's transport.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable
from typing import Any, Protocol

__all__ = [
    "DATAGRAMS_PER_WAKEUP",
    "DATAGRAM_READ_SIZE",
    "RECEIVE_BUFFER_BYTES",
    "SocketDatagramTransport",
    "attach_datagram_socket",
    "tune_datagram_transport",
]

logger = logging.getLogger(__name__)


class _Reader(Protocol):
    """What watches a transport's socket: the loop, or a reader standing in for it."""

    def add_reader(self, fd: int, callback: Callable[[], object], /) -> Any: ...
    def remove_reader(self, fd: int, /) -> bool: ...


#: Bytes asked of each ``recvfrom``: one more than the largest UDP payload.
DATAGRAM_READ_SIZE = 65536
#: Receive buffer asked for each UDP socket.
RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024
#: Most datagrams one readiness of a UDP socket hands over (the SIP listener's
#: and :class:`SocketDatagramTransport`'s), so that one busy socket cannot hold the loop.
DATAGRAMS_PER_WAKEUP = 16


def tune_datagram_transport(
    transport: asyncio.BaseTransport, receive_buffer: int = RECEIVE_BUFFER_BYTES
) -> None:
    """Give a datagram transport a 64 KiB read size and a larger receive buffer.

    Either setting is skipped where the transport or the system does not
    allow it; the socket works as before then. ``receive_buffer`` 0 keeps
    the system's default.
    """
    if getattr(transport, "max_size", 0) > DATAGRAM_READ_SIZE:  # asyncio's selector transports
        transport.max_size = DATAGRAM_READ_SIZE  # type: ignore[attr-defined]
    sock = transport.get_extra_info("socket")
    if sock is None or receive_buffer <= 0:  # 0: keep the system's buffer
        return
    with contextlib.suppress(OSError):
        if sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) < receive_buffer:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        logger.debug(
            "UDP socket %s: receive buffer %d bytes",
            transport.get_extra_info("sockname"),
            sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF),
        )


class SocketDatagramTransport(asyncio.DatagramTransport):
    """A datagram transport over a bound, non-blocking socket, started at once.

    The loop's reader callback reads up to :data:`DATAGRAMS_PER_WAKEUP`
    datagrams per wake-up and hands each to the protocol's
    ``datagram_received``. :meth:`sendto` sends at once; a datagram the
    kernel cannot take right now (its send buffer full) is dropped and
    counted in :attr:`dropped_sends`: for media a late packet is worth
    nothing, and asyncio's transport would only queue it. Errors of the
    socket go to the protocol's ``error_received``, as asyncio's do.
    :meth:`close` stops reading at once, closes the socket and calls
    ``connection_lost`` soon after, as asyncio's does.

    With ``send_sock`` it reads ``sock`` and sends from ``send_sock``,
    which then is the transport's ``socket`` and ``sockname``: a worker
    process (:mod:`voip_core.sip.workers`) reads what its relay hands it
    and answers from the socket the relay reads.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        protocol: asyncio.DatagramProtocol,
        *,
        send_sock: socket.socket | None = None,
        reader: _Reader | None = None,
    ) -> None:
        super().__init__()
        self._loop = loop
        self._reader: _Reader = reader or loop
        self._sock = sock
        self._send_sock = send_sock or sock
        self._protocol = protocol
        self._closing = False
        #: Datagrams dropped because the socket's send buffer was full.
        self.dropped_sends = 0
        #: Bytes asked of each read.
        self.read_size = DATAGRAM_READ_SIZE
        #: Most datagrams read per wake-up. After the last one waiting, one
        #: more read fails (an exception, about 2 µs): a socket that mostly
        #: holds one datagram when it wakes (one call's RTP) does better with
        #: 1, and the loop wakes it again for any more.
        self.datagrams_per_wakeup = DATAGRAMS_PER_WAKEUP
        self._extra = {"socket": self._send_sock, "sockname": self._send_sock.getsockname()}
        sock.setblocking(False)
        self._send_sock.setblocking(False)
        self._reader.add_reader(sock.fileno(), self._read_ready)

    def get_extra_info(self, name: str, default: object = None) -> object:
        return self._extra.get(name, default)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._protocol

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._protocol = protocol  # type: ignore[assignment]

    def is_closing(self) -> bool:
        return self._closing

    def get_write_buffer_size(self) -> int:
        return 0

    def _read_ready(self) -> None:
        sock, protocol, size = self._sock, self._protocol, self.read_size
        for _ in range(self.datagrams_per_wakeup):
            if self._closing:
                return
            try:
                data, address = sock.recvfrom(size)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:
                protocol.error_received(error)
                return
            protocol.datagram_received(data, address)

    def sendto(self, data: bytes | bytearray | memoryview, addr: Any = None) -> None:
        if self._closing:
            return
        try:
            self._send_sock.sendto(data, addr)
        except (BlockingIOError, InterruptedError):
            self.dropped_sends += 1
            if self.dropped_sends & (self.dropped_sends - 1) == 0:
                logger.info(
                    "UDP socket %s: send buffer full, %d datagram(s) dropped",
                    self._extra["sockname"],
                    self.dropped_sends,
                )
        except OSError as error:
            self._protocol.error_received(error)

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        self._reader.remove_reader(self._sock.fileno())
        self._sock.close()
        self._send_sock.close()
        self._loop.call_soon(self._protocol.connection_lost, None)

    def abort(self) -> None:
        self.close()


def attach_datagram_socket(
    sock: socket.socket, protocol: asyncio.DatagramProtocol, *, reader: _Reader | None = None
) -> asyncio.DatagramTransport | asyncio.Task[Any]:
    """Put a bound UDP socket on the running loop, delivering to ``protocol``.

    On a loop that can watch sockets the result is a started
    :class:`SocketDatagramTransport` (``connection_made`` has run);
    elsewhere a task that makes asyncio's transport (``connection_made``
    runs when it does; the caller closes ``sock`` if the task fails).
    ``reader`` watches the socket instead of the loop (its ``add_reader``
    and ``remove_reader``): :class:`voip_core.rtp.clock.MediaReader`.
    """
    loop = asyncio.get_running_loop()
    try:
        transport = SocketDatagramTransport(loop, sock, protocol, reader=reader)
    except NotImplementedError:  # no add_reader: the proactor loop
        sock.setblocking(False)
        return loop.create_task(loop.create_datagram_endpoint(lambda: protocol, sock=sock))
    protocol.connection_made(transport)
    return transport
