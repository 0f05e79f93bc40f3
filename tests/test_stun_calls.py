"""STUN on a call's RTP port: our public address in SDP, and Binding requests answered there."""

from __future__ import annotations

import asyncio
import logging
import socket

from voip_core import AudioCall, EchoCall
from voip_core.sip.useragent import UserAgent
from voip_core.stun import StunMessage, binding_request, binding_success, parse


class NattingServer(asyncio.DatagramProtocol):
    """A STUN server on loopback that reports every client behind a made-up NAT port.

    The mapped port is the client's port + 1000 (a NAT's rewriting), so a test
    can tell the SDP carries what STUN said, not the socket's own address.
    """

    def __init__(self) -> None:
        self.sources: list[tuple[str, int]] = []

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data, addr) -> None:
        request = parse(data)
        self.sources.append(addr[:2])
        mapped = (addr[0], addr[1] + 1000)
        self.transport.sendto(binding_success(request, mapped).serialize(fingerprint=True), addr)


async def natting_server():
    loop = asyncio.get_running_loop()
    transport, server = await loop.create_datagram_endpoint(
        NattingServer, local_addr=("127.0.0.1", 0), family=socket.AF_INET
    )
    return transport, server, transport.get_extra_info("sockname")[:2]


def sdp_media_port(body: bytes) -> int:
    return int(body.split(b"m=audio ")[1].split()[0])


async def test_calls_both_ways_put_the_stun_mapped_address_in_sdp():
    transport, server, address = await natting_server()
    callee = UserAgent(app=EchoCall, stun_server=address)
    _, port = await callee.listen("127.0.0.1", 0)
    caller = UserAgent(app=AudioCall, stun_server=address)
    await caller.listen("127.0.0.1", 0)
    try:
        call = await caller.dial(f"sip:echo@127.0.0.1:{port}", timeout=5)
        (theirs,) = callee.dialogs.values()
        ours_port = call.session.rtp.local_address[1]
        theirs_port = theirs.session.rtp.local_address[1]
        # Each side asked from its call's RTP socket ...
        assert ("127.0.0.1", ours_port) in server.sources
        assert ("127.0.0.1", theirs_port) in server.sources
        # ... and offered / answered what the server saw.
        assert sdp_media_port(call.invite.body) == ours_port + 1000
        assert sdp_media_port(theirs._local_sdp) == theirs_port + 1000
    finally:
        caller.close()
        callee.close()
        transport.close()


async def test_a_silent_stun_server_leaves_the_local_address(caplog):
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))  # never answers
    callee = UserAgent(app=EchoCall)
    _, port = await callee.listen("127.0.0.1", 0)
    caller = UserAgent(app=AudioCall, stun_server=silent.getsockname())
    await caller.listen("127.0.0.1", 0)
    try:
        with caplog.at_level(logging.WARNING):
            call = await caller.dial(f"sip:echo@127.0.0.1:{port}", timeout=10)
        assert sdp_media_port(call.invite.body) == call.session.rtp.local_address[1]
        assert "STUN server" in caplog.text
    finally:
        caller.close()
        callee.close()
        silent.close()


async def test_binding_requests_to_a_call_s_port_are_answered_beside_its_rtp():
    callee = UserAgent(app=EchoCall)
    _, port = await callee.listen("127.0.0.1", 0)
    caller = UserAgent(app=AudioCall)
    await caller.listen("127.0.0.1", 0)
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    probe.settimeout(2)
    try:
        await caller.dial(f"sip:echo@127.0.0.1:{port}", timeout=5)
        (theirs,) = callee.dialogs.values()
        request = binding_request()
        probe.sendto(request.serialize(fingerprint=True), theirs.session.rtp.local_address)
        answer: StunMessage = parse(await asyncio.to_thread(probe.recv, 2048))
        assert answer.transaction_id == request.transaction_id
        assert answer.xor_mapped_address == probe.getsockname()
        assert theirs.session.rtp.malformed_packets == 0  # never taken for RTP
    finally:
        caller.close()
        callee.close()
        probe.close()
