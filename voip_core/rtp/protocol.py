"""The RTP socket: one asyncio datagram endpoint shared by many calls.

Calls are registered by the remote address their media comes from; each
datagram is parsed once and handed to that call's
:meth:`~voip_core.rtp.session.Session.packet_received`. Malformed datagrams
and datagrams from unknown addresses are counted and dropped with a log line
(rate-limited), never raised into the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import TYPE_CHECKING

from voip_core.datagram import tune_datagram_transport
from voip_core.errors import ParseError
from voip_core.rtp.packet import RTPPacket

if TYPE_CHECKING:
    from voip_core.rtp.session import Session

__all__ = ["Address", "RealtimeTransportProtocol"]

logger = logging.getLogger(__name__)

Address = tuple[str, int]


def _normalise(address: tuple[object, ...]) -> Address:
    # IPv6 sockets report (host, port, flowinfo, scope_id); calls are keyed by (host, port).
    return (str(address[0]), int(address[1]))  # type: ignore[call-overload]


class RealtimeTransportProtocol(asyncio.DatagramProtocol):
    """One UDP endpoint for RTP, demultiplexing datagrams to sessions by remote address.

    Example:
        >>> async def main():
        ...     rtp = await RealtimeTransportProtocol.bind("127.0.0.1", 0)
        ...     host, port = rtp.local_address
        ...     rtp.close()
        ...     return host
        >>> asyncio.run(main())
        '127.0.0.1'
    """

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.sessions: dict[Address, Session] = {}
        self.malformed_packets = 0
        self.unknown_source_packets = 0
        self.session_errors = 0

    @classmethod
    async def bind(cls, host: str = "127.0.0.1", port: int = 0) -> RealtimeTransportProtocol:
        """Open an RTP endpoint on ``host:port`` (port 0: any free port)."""
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        _, protocol = await loop.create_datagram_endpoint(
            cls, local_addr=(host, port), family=family
        )
        return protocol

    @property
    def local_address(self) -> Address:
        """The (host, port) this endpoint is bound to."""
        if self.transport is None:
            raise RuntimeError("RTP endpoint is not open")
        return _normalise(self.transport.get_extra_info("sockname"))

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # The selector loop's datagram transport does not subclass DatagramTransport.
        self.transport = transport  # type: ignore[assignment]
        tune_datagram_transport(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable and the like: the peer went away; keep serving others.
        logger.debug("RTP socket error: %s", exc)

    def register(self, address: Address, session: Session) -> None:
        """Deliver packets from ``address`` to ``session``.

        A session already registered there is replaced, with a warning: two
        live calls cannot share one remote address and port.
        """
        key = _normalise(address)
        previous = self.sessions.get(key)
        if previous is not None and previous is not session:
            logger.info("RTP from %s now goes to %r instead of %r", key, session, previous)
        self.sessions[key] = session

    def unregister(self, address: Address, session: Session | None = None) -> None:
        """Stop delivering packets from ``address`` (only to ``session``, when given)."""
        key = _normalise(address)
        if session is None or self.sessions.get(key) is session:
            self.sessions.pop(key, None)

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        address = (addr[0], addr[1]) if len(addr) == 2 else _normalise(addr)
        session = self.sessions.get(address)  # type: ignore[arg-type]
        if session is None:
            self.unknown_source_packets += 1
            if self.unknown_source_packets & (self.unknown_source_packets - 1) == 0:
                logger.info(
                    "RTP from unknown source %s dropped (%d so far)",
                    address,
                    self.unknown_source_packets,
                )
            return
        try:
            packet = RTPPacket.parse(data)
        except ParseError as error:
            self.malformed_packets += 1
            if self.malformed_packets & (self.malformed_packets - 1) == 0:
                logger.warning(
                    "malformed RTP from %s dropped: %s (%d so far)",
                    address,
                    error,
                    self.malformed_packets,
                )
            return
        if not session.receives_media:
            return  # on hold: recvonly/inactive streams are not delivered [RFC 3264 §5.1]
        try:
            session.packet_received(packet)
        except Exception:
            self.session_errors += 1
            if self.session_errors & (self.session_errors - 1) == 0:
                logger.exception(
                    "%r failed to handle an RTP packet (%d so far)", session, self.session_errors
                )

    def send(self, data: bytes, address: Address) -> None:
        """Send one datagram (dropped with a debug log when the socket is closed)."""
        if self.transport is None:
            logger.debug("RTP endpoint closed; %d bytes to %s dropped", len(data), address)
            return
        self.transport.sendto(data, address)

    def close(self) -> None:
        """Close the socket; registered sessions stop receiving."""
        if self.transport is not None:
            self.transport.close()
