"""The SIP transport layer over real sockets on loopback [RFC 3261 §18, RFC 5626 §4.4]."""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest
from tls_certs import Certificates, make_certificates

from conftest import free_port, need_ipv6
from voip_core.sip.transport import (
    Address,
    Flow,
    TransportLayer,
    client_ssl_context,
    reconnect_delay,
)

TIMEOUT = 3.0


def message(number: int = 1, body: bytes = b"") -> bytes:
    """A small framed SIP request (Content-Length present, as streams require)."""
    return (
        f"OPTIONS sip:bob@example.com SIP/2.0\r\n"
        f"Via: SIP/2.0/TCP 127.0.0.1;branch=z9hG4bK{number}\r\n"
        f"Call-ID: call-{number}\r\nCSeq: {number} OPTIONS\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


async def until(condition: Callable[[], object], timeout: float = TIMEOUT) -> None:
    """Poll ``condition`` until true; fail after ``timeout`` seconds."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.005)


@dataclass
class Peer:
    """A TransportLayer with everything its callbacks saw."""

    layer: TransportLayer
    received: list[tuple[bytes, Flow]] = field(default_factory=list)
    failed: list[Flow] = field(default_factory=list)
    recovered: list[Flow] = field(default_factory=list)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("tls"))


@pytest.fixture
async def make_peer() -> AsyncIterator[Callable[..., Peer]]:
    peers: list[Peer] = []

    def make(**options: object) -> Peer:
        received: list[tuple[bytes, Flow]] = []
        failed: list[Flow] = []
        recovered: list[Flow] = []
        layer = TransportLayer(
            lambda data, flow: received.append((data, flow)),
            on_flow_failed=failed.append,
            on_flow_recovered=recovered.append,
            **options,  # type: ignore[arg-type]
        )
        peer = Peer(layer, received, failed, recovered)
        peers.append(peer)
        return peer

    yield make
    for peer in peers:
        await peer.layer.close()


# UDP ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
async def test_udp_send_and_receive_both_ways(make_peer: Callable[..., Peer], host: str) -> None:
    if host == "::1":
        need_ipv6()
    server, client = make_peer(), make_peer()
    server_address = await server.layer.listen("udp", host)
    client_address = await client.layer.listen("UDP", host)
    assert server_address[0] == host and server.layer.local_address("udp") == server_address

    sent = client.layer.send(message(1), "udp", server_address)
    assert sent is not None and sent.transport == "udp" and sent.remote == server_address
    await until(lambda: server.received)
    data, flow = server.received[0]
    assert data == message(1)
    assert (flow.transport, flow.local, flow.remote) == ("udp", server_address, client_address)
    assert flow.is_open

    server.layer.send(message(2), "udp", flow.remote, flow=flow)
    await until(lambda: client.received)
    assert client.received[0][0] == message(2)
    assert client.received[0][1].remote == server_address


async def test_udp_drops_blank_and_oversized_datagrams(make_peer: Callable[..., Peer]) -> None:
    server = make_peer(max_message_size=500)
    address = await server.layer.listen("udp")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as raw:
        for datagram in (b"\r\n\r\n", b"\r\n", b"", message(1, b"x" * 600), message(2)):
            raw.sendto(datagram, address)
        await until(lambda: server.received)
    assert [data for data, _ in server.received] == [message(2)]
    assert server.layer.dropped_datagrams == 1


async def test_udp_without_listener_for_the_family_gives_none(
    make_peer: Callable[..., Peer],
) -> None:
    peer = make_peer()
    assert peer.layer.send(message(), "udp", ("127.0.0.1", 9)) is None
    with pytest.raises(KeyError):
        peer.layer.local_address("udp")
    with pytest.raises(ValueError, match="unknown SIP transport"):
        peer.layer.send(message(), "sctp", ("127.0.0.1", 9))


async def test_udp_picks_the_listener_of_the_destination_family(
    make_peer: Callable[..., Peer],
) -> None:
    need_ipv6()
    server, client = make_peer(), make_peer()
    server_v4 = await server.layer.listen("udp", "127.0.0.1")
    server_v6 = await server.layer.listen("udp", "::1")
    client_v4 = await client.layer.listen("udp", "127.0.0.1")
    client_v6 = await client.layer.listen("udp", "::1")
    client.layer.send(message(6), "udp", server_v6)
    client.layer.send(message(4), "udp", server_v4)
    await until(lambda: len(server.received) == 2)
    remotes = {data: flow.remote for data, flow in server.received}
    assert remotes == {message(6): client_v6, message(4): client_v4}
    assert server.layer.local_address("udp") == server_v4  # the first one


async def test_bad_destination_is_dropped_and_the_socket_survives(
    make_peer: Callable[..., Peer],
) -> None:
    server, client = make_peer(), make_peer()
    address = await server.layer.listen("udp")
    await client.layer.listen("udp")
    assert client.layer.send(message(1), "udp", ("127.0.0.1", 70000)) is None
    assert client.layer.send(message(1), "tcp", ("127.0.0.1", 0)) is None
    client.layer.send(message(2), "udp", ("bad\x00name", 5060))  # resolution fails, logged
    client.layer.send(message(3), "udp", address)
    await until(lambda: server.received)
    assert [data for data, _ in server.received] == [message(3)]


async def test_udp_to_a_name_is_resolved_without_blocking(make_peer: Callable[..., Peer]) -> None:
    server, client = make_peer(), make_peer()
    port = (await server.layer.listen("udp"))[1]
    await client.layer.listen("udp")
    assert client.layer.send(message(), "udp", ("localhost", port)) is not None
    await until(lambda: server.received)


# TCP ---------------------------------------------------------------------------------------


async def test_tcp_request_and_response_over_the_same_connection(
    make_peer: Callable[..., Peer],
) -> None:
    server, client = make_peer(), make_peer()
    address = await server.layer.listen("tcp")
    assert server.layer.transports == ["tcp"]

    outbound = client.layer.send(message(1), "tcp", address)
    assert outbound is not None and outbound.transport == "tcp" and outbound.remote == address
    await until(lambda: server.received)
    data, inbound = server.received[0]
    assert data == message(1)
    assert inbound.transport == "tcp" and inbound.local == address
    assert inbound.remote == outbound.local  # the client's ephemeral port

    # The response goes over the request's connection, whatever the destination says.
    nowhere = ("127.0.0.1", 9)
    assert server.layer.send(message(2), "tcp", nowhere, flow=inbound) is inbound
    await until(lambda: client.received)
    assert client.received == [(message(2), outbound)]  # the very same Flow object

    # Either direction: a send to the client's address reuses the inbound connection.
    assert server.layer.send(message(3), "TCP", inbound.remote) is inbound
    await until(lambda: len(client.received) == 2)
    assert client.received[1] == (message(3), outbound)
    assert not server.failed and not client.failed


async def test_tcp_reuses_the_connection_to_a_destination(make_peer: Callable[..., Peer]) -> None:
    server, client = make_peer(), make_peer()
    address = await server.layer.listen("tcp")
    flows = [client.layer.send(message(n), "tcp", address) for n in range(1, 4)]
    assert flows[0] is flows[1] is flows[2]
    await until(lambda: len(server.received) == 3)
    assert [data for data, _ in server.received] == [message(1), message(2), message(3)]
    assert len({id(flow) for _, flow in server.received}) == 1  # one inbound connection


async def test_tcp_framing_split_and_batched_writes(make_peer: Callable[..., Peer]) -> None:
    server = make_peer()
    host, port = await server.layer.listen("tcp")
    _, writer = await asyncio.open_connection(host, port)
    whole = message(1, b"v=0\r\n")
    for offset in range(0, len(whole), 7):  # one message in many writes
        writer.write(whole[offset : offset + 7])
        await writer.drain()
        await asyncio.sleep(0)
    await until(lambda: server.received)
    writer.write(message(2) + message(3, b"hello") + message(4))  # many messages in one write
    await until(lambda: len(server.received) == 4)
    assert [data for data, _ in server.received] == [
        whole,
        message(2),
        message(3, b"hello"),
        message(4),
    ]
    writer.close()
    await writer.wait_closed()


async def test_ping_is_answered_with_pong(make_peer: Callable[..., Peer]) -> None:
    server = make_peer()
    host, port = await server.layer.listen("tcp")
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(b"\r\n\r\n")
    async with asyncio.timeout(TIMEOUT):
        assert await reader.readexactly(2) == b"\r\n"
    assert not server.received
    writer.close()
    await writer.wait_closed()


async def test_garbage_closes_only_that_connection(make_peer: Callable[..., Peer]) -> None:
    server = make_peer()
    host, port = await server.layer.listen("tcp")
    good_reader, good_writer = await asyncio.open_connection(host, port)
    bad_reader, bad_writer = await asyncio.open_connection(host, port)
    bad_writer.write(b"INVITE sip:x SIP/2.0\r\nVia: nothing\r\n\r\n")  # no Content-Length
    async with asyncio.timeout(TIMEOUT):
        assert await bad_reader.read() == b""  # closed by the server
    good_writer.write(message(1))
    await until(lambda: server.received)
    other_reader, other_writer = await asyncio.open_connection(host, port)
    other_writer.write(message(2))
    await until(lambda: len(server.received) == 2)
    assert [data for data, _ in server.received] == [message(1), message(2)]
    for writer in (good_writer, bad_writer, other_writer):
        writer.close()
    del good_reader, other_reader


async def test_connect_to_a_closed_port_fails_promptly(make_peer: Callable[..., Peer]) -> None:
    client = make_peer()
    loop = asyncio.get_running_loop()
    started = loop.time()
    flow = client.layer.send(message(), "tcp", ("127.0.0.1", free_port(socket.SOCK_STREAM)))
    assert flow is not None
    await until(lambda: client.failed)
    assert client.failed == [flow] and not flow.is_open
    assert loop.time() - started < 2.0


async def test_idle_inbound_connection_is_closed(make_peer: Callable[..., Peer]) -> None:
    server = make_peer(idle_timeout=0.1)
    host, port = await server.layer.listen("tcp")
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(message(1))
    await until(lambda: server.received)
    async with asyncio.timeout(TIMEOUT):
        assert await reader.read() == b""
    assert not server.failed  # an idle close is ours, not a failure
    writer.close()


async def test_connections_over_the_limit_are_refused(make_peer: Callable[..., Peer]) -> None:
    server = make_peer(max_connections=1)
    host, port = await server.layer.listen("tcp")
    _, first = await asyncio.open_connection(host, port)
    first.write(message(1))
    await until(lambda: server.received)
    second_reader, second = await asyncio.open_connection(host, port)
    async with asyncio.timeout(TIMEOUT):
        assert await second_reader.read() == b""
    assert server.layer.refused_connections == 1
    first.write(message(2))  # the first is still served
    await until(lambda: len(server.received) == 2)
    for writer in (first, second):
        writer.close()


async def test_tcp_over_ipv6(make_peer: Callable[..., Peer]) -> None:
    need_ipv6()
    server, client = make_peer(), make_peer()
    address = await server.layer.listen("tcp", "::1")
    flow = client.layer.send(message(), "tcp", ("[::1]", address[1]))
    await until(lambda: server.received)
    assert server.received[0][1].remote == (flow.local if flow else None)
    assert server.received[0][1].local == ("::1", address[1])


async def test_a_peer_that_never_reads_fails_its_flow_only(
    make_peer: Callable[..., Peer],
) -> None:
    stalled: list[asyncio.StreamWriter] = []

    async def never_read(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        stalled.append(writer)

    sink = await asyncio.start_server(never_read, "127.0.0.1", 0)
    server = make_peer()
    address = await server.layer.listen("tcp")
    client = make_peer()
    big = message(1, b"x" * 60_000)
    flow = client.layer.send(big, "tcp", sink.sockets[0].getsockname())
    for _ in range(2000):  # up to 120 MB: kernel buffers fill, then ours
        if client.failed:
            break
        client.layer.send(big, "tcp", sink.sockets[0].getsockname())
        await asyncio.sleep(0)
    assert client.failed == [flow]
    client.layer.send(message(2), "tcp", address)  # others are still served
    await until(lambda: server.received)
    for writer in stalled:
        writer.close()
    sink.close()


# TLS ---------------------------------------------------------------------------------------


async def tls_server(
    make_peer: Callable[..., Peer], certificates: Certificates
) -> tuple[Peer, Address]:
    server = make_peer()
    address = await server.layer.listen("tls", ssl_context=certificates.server_context())
    return server, address


async def test_tls_verified_with_the_ca(
    make_peer: Callable[..., Peer], certificates: Certificates
) -> None:
    server, address = await tls_server(make_peer, certificates)
    client = make_peer(tls_cafile=certificates.ca_file)
    flow = client.layer.send(message(1), "tls", address)
    await until(lambda: server.received)
    assert server.received[0][0] == message(1)
    assert flow is not None and flow.transport == "tls"
    server.layer.send(message(2), "tls", address, flow=server.received[0][1])
    await until(lambda: client.received)
    assert client.received == [(message(2), flow)]
    # By name: the certificate's DNS name checked against server_name.
    by_name = make_peer(tls_cafile=certificates.ca_file)
    by_name.layer.send(message(3), "tls", address, server_name="localhost")
    await until(lambda: len(server.received) == 2)
    assert not client.failed and not by_name.failed


async def test_tls_unknown_ca_is_rejected(
    make_peer: Callable[..., Peer], certificates: Certificates, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="voip_core.sip.transport")
    server, address = await tls_server(make_peer, certificates)
    client = make_peer()  # default verification, system CAs only
    flow = client.layer.send(message(), "tls", address)
    await until(lambda: client.failed)
    assert client.failed == [flow]
    assert "CERTIFICATE_VERIFY_FAILED" in caplog.text
    await asyncio.sleep(0.05)
    assert not server.received


async def test_tls_wrong_name_is_rejected(
    make_peer: Callable[..., Peer], certificates: Certificates
) -> None:
    server, address = await tls_server(make_peer, certificates)
    client = make_peer(tls_cafile=certificates.ca_file)
    flow = client.layer.send(message(), "tls", address, server_name="sip.example.com")
    await until(lambda: client.failed)
    assert client.failed == [flow] and not server.received


async def test_tls_without_verification_when_asked(
    make_peer: Callable[..., Peer], certificates: Certificates
) -> None:
    server, address = await tls_server(make_peer, certificates)
    client = make_peer(tls_verify=False)
    client.layer.send(message(), "tls", address)
    await until(lambda: server.received)
    assert not client.failed


def test_client_ssl_context_flags() -> None:
    strict = client_ssl_context()
    assert strict.verify_mode is ssl.CERT_REQUIRED and strict.check_hostname
    loose = client_ssl_context(verify=False)
    assert loose.verify_mode is ssl.CERT_NONE and not loose.check_hostname


async def test_listen_tls_needs_a_context(make_peer: Callable[..., Peer]) -> None:
    with pytest.raises(ValueError, match="ssl_context"):
        await make_peer().layer.listen("tls")


# Keep-alive and reconnection [RFC 5626 §4.4.1, §4.5] ---------------------------------------


def test_reconnect_delay_grows_and_is_capped() -> None:
    for failures, upper in [(0, 1.0), (1, 2.0), (2, 4.0), (3, 8.0), (10, 30.0), (500, 30.0)]:
        for _ in range(50):
            assert upper / 2 <= reconnect_delay(failures, 1.0, 30.0) <= upper


async def serve_silently(port: int = 0) -> tuple[asyncio.Server, list[asyncio.StreamWriter]]:
    """A TCP server that reads everything and answers nothing (no pongs)."""
    writers: list[asyncio.StreamWriter] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        while await reader.read(4096):
            pass

    return await asyncio.start_server(handle, "127.0.0.1", port), writers


async def test_keepalive_timeout_then_reconnect_with_backoff(
    make_peer: Callable[..., Peer], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="voip_core.sip.transport")
    silent, writers = await serve_silently()
    port = silent.sockets[0].getsockname()[1]
    client = make_peer(
        keepalive_interval=0.05, keepalive_timeout=0.05, reconnect_base=0.05, reconnect_max=0.2
    )
    flow = client.layer.send(message(1), "tcp", ("127.0.0.1", port), persistent=True)
    await until(lambda: client.failed)  # the silent server never pongs
    assert client.failed == [flow] and not flow.is_open
    assert "no keep-alive pong" in caplog.text

    silent.close()
    for writer in writers:
        writer.close()
    await silent.wait_closed()
    await until(lambda: caplog.text.count("reconnect 2 to") == 1)  # refused, backing off

    server = make_peer()
    await server.layer.listen("tcp", "127.0.0.1", port)  # the server comes back
    await until(lambda: client.recovered)
    recovered = client.recovered[0]
    assert recovered is not flow and recovered.is_open and recovered.transport == "tcp"
    assert client.failed == [flow]
    delays = [r.args[2] for r in caplog.records if str(r.msg).startswith("reconnecting")]
    assert len(delays) >= 3
    for failures, delay in enumerate(delays):  # 0.05 * 2**n, capped at 0.2, minus jitter
        bound = min(0.2, 0.05 * 2**failures)
        assert isinstance(delay, float) and bound / 2 <= delay <= bound

    # The new flow is kept alive: pings are answered, so it does not fail again.
    await asyncio.sleep(0.3)
    assert client.failed == [flow] and recovered.is_open
    assert client.layer.send(message(2), "tcp", ("127.0.0.1", port)) is recovered
    await until(lambda: server.received)


async def test_peer_closing_a_persistent_flow_triggers_reconnect(
    make_peer: Callable[..., Peer],
) -> None:
    server = make_peer()
    address = await server.layer.listen("tcp")
    client = make_peer(keepalive_interval=10, reconnect_base=0.01, reconnect_max=0.05)
    flow = client.layer.send(message(1), "tcp", address, persistent=True)
    await until(lambda: server.received)
    await server.layer.close()  # the registrar goes away ...
    await until(lambda: client.failed)
    assert client.failed == [flow]
    again = make_peer()
    await again.layer.listen("tcp", *address)  # ... and comes back
    await until(lambda: client.recovered)
    assert client.recovered[0] is not flow and client.recovered[0].is_open


async def test_garbage_from_the_server_fails_a_persistent_flow_and_reconnects(
    make_peer: Callable[..., Peer],
) -> None:
    server = make_peer()
    address = await server.layer.listen("tcp")
    client = make_peer(keepalive_interval=10, reconnect_base=0.01, reconnect_max=0.05)
    flow = client.layer.send(message(1), "tcp", address, persistent=True)
    await until(lambda: server.received)
    inbound = server.received[0][1]
    server.layer.send(b"garbage without framing\r\n\r\n", "tcp", address, flow=inbound)
    await until(lambda: client.recovered)  # the client's framer gave up; reconnect
    assert client.failed == [flow] and client.recovered[0] is not flow


# Closing -----------------------------------------------------------------------------------


async def test_close_is_idempotent_and_leaves_no_tasks(
    make_peer: Callable[..., Peer], certificates: Certificates
) -> None:
    peer = make_peer(keepalive_interval=0.05, reconnect_base=5.0)
    await peer.layer.listen("udp")
    await peer.layer.listen("tcp")
    await peer.layer.listen("tls", ssl_context=certificates.server_context())
    other = make_peer()
    address = await other.layer.listen("tcp")
    peer.layer.send(message(), "tcp", address, persistent=True)  # connected, pinging
    closed_port = free_port(socket.SOCK_STREAM)
    peer.layer.send(message(), "tcp", ("127.0.0.1", closed_port), persistent=True)
    await until(lambda: len(peer.failed) == 1)  # that one now waits 2.5-5 s to reconnect
    await until(lambda: other.received)

    await peer.layer.close()
    await peer.layer.close()
    assert asyncio.all_tasks() == {asyncio.current_task()}
    assert peer.layer.send(message(), "udp", address) is None
    assert len(peer.failed) == 1  # closing is not a failure


async def test_a_raising_callback_does_not_break_the_connection(
    make_peer: Callable[..., Peer],
) -> None:
    seen: list[bytes] = []

    def on_message(data: bytes, flow: Flow) -> None:
        seen.append(data)
        raise RuntimeError("application bug")

    server = TransportLayer(on_message)
    try:
        address = await server.listen("tcp")
        client = make_peer()
        client.layer.send(message(1), "tcp", address)
        client.layer.send(message(2), "tcp", address)
        await until(lambda: len(seen) == 2)
    finally:
        await server.close()


async def test_every_message_of_one_connection_has_the_same_flow(
    make_peer: Callable[..., Peer],
) -> None:
    server = make_peer()
    host, port = await server.layer.listen("tcp")
    _, writer = await asyncio.open_connection(host, port)
    writer.write(message(1) + b"\r\n" + message(2))  # a stray CRLF between messages is fine
    await until(lambda: len(server.received) == 2)
    assert server.received[0][1] is server.received[1][1]
    writer.close()
