"""The datagram transport a call's own RTP and RTCP sockets run on (voip_core.datagram)."""

from __future__ import annotations

import asyncio
import socket

import pytest

from voip_core.datagram import (
    DATAGRAMS_PER_WAKEUP,
    SocketDatagramTransport,
    attach_datagram_socket,
)
from voip_core.rtp.ports import RTPPortRange


class Recorder(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.made: list[asyncio.BaseTransport] = []
        self.datagrams: list[tuple[bytes, tuple[str, int]]] = []
        self.errors: list[Exception] = []
        self.lost: list[Exception | None] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.made.append(transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.datagrams.append((data, addr))

    def error_received(self, exc: Exception) -> None:
        self.errors.append(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost.append(exc)


def bound() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    return sock


async def until(condition, timeout: float = 2.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.005)


async def test_started_at_once_receives_a_burst_and_sends():
    protocol = Recorder()
    sock = bound()
    address = sock.getsockname()
    transport = attach_datagram_socket(sock, protocol)
    assert isinstance(transport, SocketDatagramTransport)
    assert protocol.made == [transport]  # connection_made ran before it returned
    assert transport.get_extra_info("sockname") == address
    assert transport.get_extra_info("socket") is sock and transport.get_protocol() is protocol
    peer = bound()
    peer.setblocking(False)
    count = 3 * DATAGRAMS_PER_WAKEUP + 1  # several wake-ups' worth, none lost
    for number in range(count):
        peer.sendto(b"%d" % number, address)
    await until(lambda: len(protocol.datagrams) == count)
    assert [data for data, _ in protocol.datagrams] == [b"%d" % n for n in range(count)]
    assert {source for _, source in protocol.datagrams} == {peer.getsockname()}
    transport.sendto(b"back", peer.getsockname())
    await until(lambda: _readable(peer))
    assert peer.recvfrom(100) == (b"back", address)
    transport.close()
    peer.close()


def _readable(sock: socket.socket) -> bool:
    try:
        sock.recvfrom(100, socket.MSG_PEEK)
    except BlockingIOError:
        return False
    return True


async def test_close_stops_reading_closes_the_socket_then_tells_the_protocol_once():
    protocol = Recorder()
    sock = bound()
    transport = attach_datagram_socket(sock, protocol)
    transport.close()
    transport.close()
    assert transport.is_closing() and sock.fileno() == -1
    assert protocol.lost == []  # soon after, as asyncio's transports do
    await asyncio.sleep(0)
    assert protocol.lost == [None]
    transport.sendto(b"after close", ("127.0.0.1", 9))  # ignored, no error
    assert protocol.errors == []


async def test_send_errors_go_to_the_protocol_and_a_full_buffer_drops_and_counts(caplog):
    class FullBuffer(socket.socket):
        def sendto(self, *args):  # what the kernel answers when its send buffer is full
            raise BlockingIOError

    protocol = Recorder()
    transport = attach_datagram_socket(bound(), protocol)
    transport.sendto(b"x", ("127.0.0.1", 0))  # port 0: EINVAL
    assert len(protocol.errors) == 1 and isinstance(protocol.errors[0], OSError)
    transport.close()
    full = FullBuffer(socket.AF_INET, socket.SOCK_DGRAM)
    full.bind(("127.0.0.1", 0))
    protocol = Recorder()
    transport = attach_datagram_socket(full, protocol)
    with caplog.at_level("INFO", logger="voip_core.datagram"):
        for _ in range(5):
            transport.sendto(b"x", ("127.0.0.1", 9))
    assert transport.dropped_sends == 5 and protocol.errors == []
    # Logged at 1, 2 and 4: rate-limited.
    assert caplog.records[-1].getMessage().endswith("4 datagram(s) dropped")
    transport.close()


async def test_a_loop_that_cannot_watch_sockets_gets_asyncios_transport(monkeypatch):
    loop = asyncio.get_running_loop()

    def no_readers(*args):
        raise NotImplementedError  # as Windows' proactor loop

    monkeypatch.setattr(loop, "add_reader", no_readers)
    protocol = Recorder()
    sock = bound()
    started = attach_datagram_socket(sock, protocol)
    assert isinstance(started, asyncio.Task)
    transport, _ = await started
    assert protocol.made == [transport] and not isinstance(transport, SocketDatagramTransport)
    transport.close()


async def test_a_calls_ports_work_on_a_loop_without_readers(monkeypatch):
    """RTP and RTCP of a call's own port pair, through the fallback."""
    loop = asyncio.get_running_loop()

    def no_readers(*args):
        raise NotImplementedError

    monkeypatch.setattr(loop, "add_reader", no_readers)
    ports = RTPPortRange("127.0.0.1", 41000, 41100)
    rtp = ports.open()
    heard: list[bytes] = []
    assert rtp.start_rtcp(lambda data, address: heard.append(data))
    host, port = rtp.local_address
    await until(lambda: rtp.transport is not None and rtp._rtcp.transport is not None)
    peer = bound()
    peer.sendto(b"\x81\xc9\x00\x01\x00\x00\x00\x01", (host, port + 1))  # an empty RR
    await until(lambda: heard)
    rtp.close()
    await until(lambda: ports.in_use == 0)
    peer.close()


async def test_a_calls_ports_are_released_and_reused():
    ports = RTPPortRange("127.0.0.1", 41200, 41204)  # two pairs
    for _ in range(3):
        opened = [ports.open(), ports.open()]
        assert ports.in_use == 2
        with pytest.raises(OSError):
            ports.open()
        for rtp in opened:
            assert isinstance(rtp.transport, SocketDatagramTransport)
            rtp.close()
        await until(lambda: ports.in_use == 0)
