"""One RTP port per call, from a configurable range.

Why a port per call rather than one port for every call (the seed's way,
still available by giving a :class:`~voip_core.rtp.protocol.RealtimeTransportProtocol`
to the user agent):

* **NAT and symmetric RTP.** Behind a NAT the peer's media leaves from a port
  its SDP cannot know. On a call's own port every packet is that call's, so
  the call can follow the media to where it comes from [RFC 4961]; on a
  shared port a packet from an unknown address cannot be told apart from
  another call's, or a stranger's.
* **Carriers and SBCs** expect it: firewalls are opened for a configured
  range, and RTCP goes to the RTP port + 1 [RFC 3550 §11], which needs the
  pair per call. Ports are even, so that the odd one above stays free for
  RTCP.
* **Peers that all send from one address** (several calls from one PBX, or
  sipp's pcap player, whose packets all come from port 0) stay apart.

The cost is a socket per call (a bind and an epoll registration: tens of
microseconds), and a range the operator must open in firewalls.
"""

from __future__ import annotations

import errno
import random
import socket
from functools import partial

from voip_core.rtp.protocol import RealtimeTransportProtocol

__all__ = ["DEFAULT_RTP_PORTS", "RTPPortRange"]

#: The range ``voip serve`` and a UserAgent without ``rtp`` use.
DEFAULT_RTP_PORTS = (10000, 20000)


class RTPPortRange:
    """Opens a dedicated RTP endpoint per call on an even port of ``[low, high)``.

    The odd port above each is bound too, for the call's RTCP [RFC 3550 §11]
    (unused when the peer multiplexes RTCP on the RTP port, RFC 5761).

    Ports are taken in turn from a random starting point, skipping those in
    use (by us or another program), so that a port just freed is not given
    to the next call at once (late packets of the last call would reach it).

    Args:
        host: The address to bind (and to put in SDP).
        low: The first port of the range (rounded up to even).
        high: One past the last port.

    Example:
        >>> import asyncio
        >>> async def main():
        ...     ports = RTPPortRange("127.0.0.1", 30000, 30010)
        ...     rtp = ports.open()
        ...     host, port = rtp.local_address
        ...     rtp.close()
        ...     await asyncio.sleep(0.01)
        ...     return 30000 <= port < 30010 and port % 2 == 0, ports.in_use
        >>> asyncio.run(main())
        (True, 0)
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        low: int = DEFAULT_RTP_PORTS[0],
        high: int = DEFAULT_RTP_PORTS[1],
    ) -> None:
        low += low % 2
        if not 0 < low < high <= 65536 or high - low < 2:
            raise ValueError(f"RTP port range {low}-{high} holds no even port")
        self.host = host
        self.low = low
        self.high = high
        self._family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._count = (high - low + 1) // 2
        self._next = random.randrange(self._count)
        self._used: set[int] = set()

    def __repr__(self) -> str:
        return f"RTPPortRange({self.host!r}, {self.low}, {self.high})"

    @property
    def in_use(self) -> int:
        """How many ports of the range our calls hold."""
        return len(self._used)

    def _bind_pair(self, port: int) -> tuple[socket.socket, socket.socket] | None:
        """RTP on ``port`` and RTCP on ``port + 1`` [RFC 3550 §11], or None when taken."""
        bound: list[socket.socket] = []
        try:
            for number in (port, port + 1):
                sock = socket.socket(self._family, socket.SOCK_DGRAM)
                bound.append(sock)
                sock.bind((self.host, number))
        except OSError as error:
            for sock in bound:
                sock.close()
            if error.errno in (errno.EADDRINUSE, errno.EACCES):
                return None
            raise
        return bound[0], bound[1]

    def open(self) -> RealtimeTransportProtocol:
        """A dedicated endpoint for one call (closed with the call's session).

        Must be called with the event loop running.

        Raises:
            OSError: every port of the range is taken.
        """
        for _ in range(self._count):
            port = self.low + 2 * self._next
            self._next = (self._next + 1) % self._count
            if port in self._used:
                continue
            pair = self._bind_pair(port)
            if pair is None:
                continue  # another program's
            self._used.add(port)
            return RealtimeTransportProtocol.on_socket(
                pair[0], rtcp_socket=pair[1], on_close=partial(self._used.discard, port)
            )
        raise OSError(
            errno.EADDRINUSE,
            f"no free RTP port in {self.low}-{self.high} on {self.host} "
            f"({len(self._used)} held by calls)",
        )
