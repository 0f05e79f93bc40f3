"""The RTP socket: an asyncio datagram endpoint, shared by many calls or one call's own.

Calls are registered by the remote address their media comes from; each
datagram is parsed once and handed to that call's
:meth:`~voip_core.rtp.session.Session.packet_received`. Malformed datagrams
and datagrams from unknown addresses are counted and dropped with a log line
(rate-limited), never raised into the event loop.

A **dedicated** endpoint (one call's own port, from
:class:`~voip_core.rtp.ports.RTPPortRange`) also takes media from an address
other than the one in the peer's SDP, and then sends there: symmetric RTP
[RFC 4961], the practice that gets audio through NATs, where the peer's
packets leave from a port its SDP cannot know. A stranger cannot take the
stream over: only a packet with a payload type the call negotiated is
considered, and once media has arrived, only one with the SSRC the call is
receiving (the peer's NAT binding changed) moves it. A packet from UDP port 0
(sipp's pcap player forges such) is delivered but never latched to.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from voip_core.datagram import (
    RECEIVE_BUFFER_BYTES,
    SocketDatagramTransport,
    attach_datagram_socket,
    tune_datagram_transport,
)
from voip_core.errors import ParseError, VoIPError
from voip_core.rtp.clock import MediaReader
from voip_core.rtp.packet import RTPPacket

if TYPE_CHECKING:
    from voip_core.rtp.session import Session
    from voip_core.stun_client import StunClient

__all__ = ["Address", "RealtimeTransportProtocol"]

logger = logging.getLogger(__name__)

Address = tuple[str, int]

_starting: set[asyncio.Task[Any]] = set()


def _started(
    sock: socket.socket, protocol: RealtimeTransportProtocol, task: asyncio.Task[Any]
) -> None:
    _starting.discard(task)
    protocol._starting = None
    if task.cancelled() or task.exception() is not None:
        if not task.cancelled():  # cancelled: closed before it started, or the loop ended
            logger.error(
                "RTP endpoint on %s did not start: %s", protocol._local_address, task.exception()
            )
        sock.close()
        protocol._closed()


class _RTCPEndpoint(asyncio.DatagramProtocol):
    """A call's RTCP socket: every datagram goes to the call."""

    def __init__(self, deliver: Callable[[bytes, Address], None]) -> None:
        self.deliver = deliver
        self.transport: asyncio.DatagramTransport | None = None
        self.closing = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)
        if self.closing:
            transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        try:
            self.deliver(data, (str(addr[0]), int(addr[1])))
        except Exception:
            logger.exception("RTCP from %s could not be handled", addr[:2])

    def close(self) -> None:
        self.closing = True
        if self.transport is not None:
            self.transport.close()


def _rtcp_started(sock: socket.socket, task: asyncio.Task[Any]) -> None:
    _starting.discard(task)
    if task.cancelled() or task.exception() is not None:
        sock.close()


#: Bytes read per datagram on a call's own RTP socket: RTP audio over UDP stays
#: under the path MTU (about 1500 octets), so 8 KiB loses nothing real, and a
#: smaller buffer costs the allocator less than the 64 KiB a shared socket reads.
RTP_READ_SIZE = 8192


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

    def __init__(self, *, dedicated: bool = False) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.sessions: dict[Address, Session] = {}
        #: One call's own port: symmetric RTP, and closed with the call.
        self.dedicated = dedicated
        self.malformed_packets = 0
        self.unknown_source_packets = 0
        self.refused_source_packets = 0
        self.srtp_failures = 0
        self.stun_dropped = 0
        #: Where a STUN server saw this socket (:meth:`public_address`), if asked.
        self.mapped_address: Address | None = None
        self._stun: StunClient | None = None
        self.session_errors = 0
        self._local_address: Address | None = None
        self._closing = False
        self._starting: asyncio.Task[Any] | None = None
        self._rtcp_socket: socket.socket | None = None
        self._rtcp: _RTCPEndpoint | None = None
        self._on_close: list[Callable[[], None]] = []

    @classmethod
    def on_socket(
        cls,
        sock: socket.socket,
        *,
        rtcp_socket: socket.socket | None = None,
        on_close: Callable[[], None] | None = None,
    ) -> RealtimeTransportProtocol:
        """A dedicated endpoint on a bound UDP socket, usable at once.

        Its transport is started before this returns
        (:func:`~voip_core.datagram.attach_datagram_socket`; on a loop that
        cannot watch sockets, soon after, and datagrams that arrive before
        then wait in the socket), so the SDP can carry :attr:`local_address`
        right away.
        ``rtcp_socket`` (bound to the port above) is the call's RTCP socket,
        started by :meth:`start_rtcp`. ``on_close`` is called once when the
        endpoint closes.
        """
        protocol = cls(dedicated=True)
        protocol._local_address = _normalise(sock.getsockname())
        protocol._rtcp_socket = rtcp_socket
        if on_close is not None:
            protocol._on_close.append(on_close)
        # Read in batches with the other calls' sockets (see MediaReader).
        reader = MediaReader.of(asyncio.get_running_loop())
        starting = attach_datagram_socket(sock, protocol, reader=reader)
        if isinstance(starting, asyncio.Task):
            protocol._starting = starting
            _starting.add(starting)
            starting.add_done_callback(partial(_started, sock, protocol))
        return protocol

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
        if self._local_address is None:
            if self.transport is None:
                raise RuntimeError("RTP endpoint is not open")
            self._local_address = _normalise(self.transport.get_extra_info("sockname"))
        return self._local_address

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # The selector loop's datagram transport does not subclass DatagramTransport.
        self.transport = transport  # type: ignore[assignment]
        if self._closing:  # closed before its transport started
            transport.close()
            return
        # One call's media fits the system's default receive buffer (about 208 KiB
        # on Linux): a dedicated socket keeps it and spares the calls that ask.
        tune_datagram_transport(transport, 0 if self.dedicated else RECEIVE_BUFFER_BYTES)
        if self.dedicated and isinstance(transport, SocketDatagramTransport):
            # A packet every 20 ms: a wake-up finds one, and a second read would fail.
            transport.datagrams_per_wakeup = 1
            transport.read_size = RTP_READ_SIZE

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self._closed()

    def _closed(self) -> None:
        callbacks, self._on_close = self._on_close, []
        for callback in callbacks:
            callback()

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
        if data and data[0] < 4:  # STUN shares the port: first octet 0-3 [RFC 7983 §7]
            self._stun_received(data, address)  # type: ignore[arg-type]
            return
        session = self.sessions.get(address)  # type: ignore[arg-type]
        if session is None and not (self.dedicated and len(self.sessions) == 1):
            self.unknown_source_packets += 1
            if self.unknown_source_packets & (self.unknown_source_packets - 1) == 0:
                logger.info(
                    "RTP from unknown source %s dropped (%d so far)",
                    address,
                    self.unknown_source_packets,
                )
            return
        owner = session or next(iter(self.sessions.values()))
        if len(data) > 1 and 192 <= data[1] <= 223 and owner.rtcp_mux:  # [RFC 5761 §4]
            owner.rtcp_received(data, address)  # type: ignore[arg-type]
            return
        srtp = owner.srtp
        if srtp is not None:  # authenticated and decrypted, or dropped [RFC 3711 §3.3]
            try:
                data = srtp.unprotect(data)
            except VoIPError as error:
                self.srtp_failures += 1
                if self.srtp_failures & (self.srtp_failures - 1) == 0:
                    logger.warning(
                        "SRTP from %s dropped: %s (%d so far)", address, error, self.srtp_failures
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
        if session is None:
            (session,) = self.sessions.values()
            if not self._from_elsewhere(session, packet, address):  # type: ignore[arg-type]
                return
        else:
            session.remote_ssrc = packet.ssrc
        rtcp = session.rtcp if session._rtcp_armed is None else session._begin_rtcp()
        if rtcp is not None:
            rtcp.rtp_received(packet)
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

    def _from_elsewhere(self, session: Session, packet: RTPPacket, address: Address) -> bool:
        """Whether a packet from an address other than the call's is its media [RFC 4961].

        It is when its payload type is one the call negotiated and, once media
        has arrived, its SSRC is the one arriving. The call then sends to that
        address (unless its port is 0, which nothing can be sent to).
        """
        expected = session.remote_ssrc
        if not session.accepts_payload_type(packet.payload_type) or (
            expected is not None and packet.ssrc != expected
        ):
            self.refused_source_packets += 1
            if self.refused_source_packets & (self.refused_source_packets - 1) == 0:
                logger.info(
                    "%r: RTP from %s (SSRC %08x, payload type %d) refused: not this call's "
                    "media (%d so far)",
                    session,
                    address,
                    packet.ssrc,
                    packet.payload_type,
                    self.refused_source_packets,
                )
            return False
        session.remote_ssrc = packet.ssrc
        if address[1] != 0 and session.symmetric_rtp:
            logger.info(
                "%r: media comes from %s: sending there (symmetric RTP) [RFC 4961]",
                session,
                address,
            )
            session.remote_moved(address)
        return True

    # STUN [RFC 5389] on the RTP port ----------------------------------------------------------

    async def public_address(
        self, server: Address, *, rto: float = 0.25, attempts: int = 4
    ) -> Address:
        """Where this socket is seen from ``server``: a STUN Binding request from it.

        Retransmitted on the RFC 5389 §7.2.1 schedule, shortened (``attempts``
        requests from ``rto``) so that a call does not wait 39.5 s.

        Raises:
            StunTimeout: no answer.
            StunError: the server answered with an error.
        """
        from voip_core.stun_client import StunClient

        starting = self._starting
        if starting is not None and not starting.done():
            await asyncio.shield(starting)  # the socket can send once its transport runs
        if self._stun is None:
            self._stun = StunClient(self.send, rto=rto, rc=attempts, rm=4, software="voip-core")
        self.mapped_address = await self._stun.request(server)
        return self.mapped_address

    def _stun_received(self, data: bytes, address: Address) -> None:
        """A STUN datagram: an answer to our request, or a Binding request to answer."""
        if self._stun is not None and self._stun.datagram_received(data, address):
            return
        from voip_core.stun import answer_request

        answer = answer_request(data, address, software="voip-core")
        if answer is not None:  # a peer's keepalive or connectivity check
            self.send(answer, address)
        else:
            self.stun_dropped += 1

    def send(self, data: bytes, address: Address) -> None:
        """Send one datagram (dropped with a debug log when the socket is closed)."""
        if self.transport is None:
            logger.debug("RTP endpoint closed; %d bytes to %s dropped", len(data), address)
            return
        self.transport.sendto(data, address)

    def start_rtcp(self, deliver: Callable[[bytes, Address], None]) -> bool:
        """Receive RTCP on the port above ours, handing each datagram to ``deliver``.

        False when this endpoint has no RTCP socket (a shared endpoint).
        """
        sock, self._rtcp_socket = self._rtcp_socket, None
        if sock is None:
            return self._rtcp is not None
        endpoint = self._rtcp = _RTCPEndpoint(deliver)
        starting = attach_datagram_socket(sock, endpoint)
        if isinstance(starting, asyncio.Task):
            _starting.add(starting)
            starting.add_done_callback(partial(_rtcp_started, sock))
        return True

    def send_rtcp(self, data: bytes, address: Address) -> None:
        """Send an RTCP datagram from the RTCP port (dropped before it has started)."""
        endpoint = self._rtcp
        if endpoint is not None and endpoint.transport is not None:
            endpoint.transport.sendto(data, address)

    def close(self) -> None:
        """Close the socket; registered sessions stop receiving. Idempotent."""
        if self._rtcp_socket is not None:
            self._rtcp_socket.close()
            self._rtcp_socket = None
        if self._rtcp is not None:
            self._rtcp.close()
        self._closing = True
        if self.transport is not None:
            self.transport.close()
        elif self._starting is not None:
            self._starting.cancel()  # its socket is closed when the task ends
