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
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket

__all__ = ["DATAGRAM_READ_SIZE", "RECEIVE_BUFFER_BYTES", "tune_datagram_transport"]

logger = logging.getLogger(__name__)

#: Bytes asked of each ``recvfrom``: one more than the largest UDP payload.
DATAGRAM_READ_SIZE = 65536
#: Receive buffer asked for each UDP socket.
RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024


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
