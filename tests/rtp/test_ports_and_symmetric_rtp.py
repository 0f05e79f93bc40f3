"""A port per call (RTPPortRange) and symmetric RTP with its guard, on loopback sockets."""

from __future__ import annotations

import asyncio
import errno
import socket

import pytest

from tests.conftest import free_port
from voip_core import EchoCall
from voip_core.codecs import PCMU
from voip_core.rtp.packet import RTPPacket
from voip_core.rtp.ports import RTPPortRange
from voip_core.sdp import MediaDescription
from voip_core.sip.message import SIPRequest, parse_message
from voip_core.sip.useragent import UserAgent

#: A loud 500 Hz square wave in µ-law (0x80 and 0x00 are the extremes): voice, to the echo.
ULAW_TONE = (b"\x80" * 8 + b"\x00" * 8) * 10
#: The echo app answers an utterance once it ends (silence_gap 0.5 s after the last packet).
ECHO_WAIT = 1.2


def udp_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    return sock


def packet(seq: int, *, ssrc: int = 0x1234, payload_type: int = 0) -> bytes:
    return RTPPacket(
        payload_type=payload_type,
        sequence_number=seq,
        timestamp=160 * seq,
        ssrc=ssrc,
        payload=ULAW_TONE,
    ).serialize()


async def received(sock: socket.socket, wait: float = 0.3) -> list[bytes]:
    """Every datagram that reaches ``sock`` within ``wait`` seconds."""
    await asyncio.sleep(wait)
    got = []
    while True:
        try:
            got.append(sock.recv(2048))
        except BlockingIOError:
            return got


def free_even_range(size: int = 20) -> tuple[int, int]:
    low = free_port() & ~1
    return low, low + size


# RTPPortRange -----------------------------------------------------------------------------


async def test_each_call_gets_its_own_even_port_back_when_it_closes():
    low, high = free_even_range(8)
    ports = RTPPortRange("127.0.0.1", low, high)
    endpoints = []
    for _ in range(3):
        try:
            endpoints.append(ports.open())
        except OSError as error:  # another test's socket landed in the range
            pytest.skip(f"range taken: {error}")
    numbers = [rtp.local_address[1] for rtp in endpoints]
    assert len(set(numbers)) == 3
    assert all(low <= n < high and n % 2 == 0 for n in numbers)
    assert ports.in_use == 3
    for rtp in endpoints:
        rtp.close()
    await asyncio.sleep(0.05)
    assert ports.in_use == 0


async def test_a_full_range_raises_a_clear_error_and_skips_ports_of_other_programs():
    low, high = free_even_range(4)  # even ports low, low + 2
    other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        other.bind(("127.0.0.1", low))
    except OSError:
        pytest.skip("port taken meanwhile")
    ports = RTPPortRange("127.0.0.1", low, high)
    try:
        rtp = ports.open()
        assert rtp.local_address[1] == low + 2  # low is another program's
        with pytest.raises(OSError, match="no free RTP port") as raised:
            ports.open()
        assert raised.value.errno == errno.EADDRINUSE
        rtp.close()
    finally:
        other.close()


def test_a_range_without_an_even_port_is_refused():
    with pytest.raises(ValueError, match="no even port"):
        RTPPortRange("127.0.0.1", 10001, 10002)


async def test_an_endpoint_closed_before_its_transport_started_still_frees_its_port():
    low, high = free_even_range(4)
    ports = RTPPortRange("127.0.0.1", low, high)
    rtp = ports.open()
    rtp.close()  # before the loop ran the transport's start
    await asyncio.sleep(0.05)
    assert ports.in_use == 0 and rtp.transport is None


# Symmetric RTP [RFC 4961] -----------------------------------------------------------------


async def echo_call_on_own_port():
    """An EchoCall on a port of its own, told (by SDP) that the peer is at ``sdp_peer``."""
    low, high = free_even_range(10)
    rtp = RTPPortRange("127.0.0.1", low, high).open()
    sdp_peer = udp_socket()
    host, port = sdp_peer.getsockname()
    media = MediaDescription.for_formats([PCMU.media_format()], port=port, address=host)
    call = EchoCall(rtp=rtp, media=media, caller="test")
    await asyncio.sleep(0.01)  # the transport starts
    return call, rtp, sdp_peer


async def test_media_from_another_port_than_the_sdp_s_is_answered_there():
    call, rtp, sdp_peer = await echo_call_on_own_port()
    nat = udp_socket()  # the peer's media leaves from a port its SDP did not say
    try:
        for seq in range(10):
            nat.sendto(packet(seq), rtp.local_address)
            await asyncio.sleep(0.02)
        echoed = await received(nat, ECHO_WAIT)
        assert echoed and all(RTPPacket.parse(d).payload_type == 0 for d in echoed)
        assert await received(sdp_peer, 0.0) == []
        assert call.remote_address == nat.getsockname()
    finally:
        call.close()
        nat.close()
        sdp_peer.close()
    assert rtp.transport is None or rtp.transport.is_closing()  # closed with the call


async def test_a_stranger_cannot_take_the_stream_over():
    call, rtp, sdp_peer = await echo_call_on_own_port()
    stranger = udp_socket()
    try:
        for seq in range(5):
            sdp_peer.sendto(packet(seq), rtp.local_address)  # the real peer starts
            await asyncio.sleep(0.02)
        received_before = call.packets_received
        for seq in range(5, 10):
            stranger.sendto(packet(seq, ssrc=0xBAD), rtp.local_address)  # wrong SSRC
            stranger.sendto(packet(seq, payload_type=96), rtp.local_address)  # not negotiated
        await asyncio.sleep(0.1)
        assert call.packets_received == received_before
        assert rtp.refused_source_packets == 10
        assert call.remote_address == sdp_peer.getsockname()
        assert await received(sdp_peer, ECHO_WAIT)  # the echo goes to the real peer
        assert await received(stranger, 0.0) == []
    finally:
        call.close()
        stranger.close()
        sdp_peer.close()


async def test_the_same_stream_from_a_new_port_moves_the_call_there():
    # The peer's NAT binding changed mid-call: same SSRC, new source port.
    call, rtp, sdp_peer = await echo_call_on_own_port()
    rebound = udp_socket()
    try:
        for seq in range(5):
            sdp_peer.sendto(packet(seq), rtp.local_address)
            await asyncio.sleep(0.02)
        for seq in range(5, 15):
            rebound.sendto(packet(seq), rtp.local_address)
            await asyncio.sleep(0.02)
        assert call.remote_address == rebound.getsockname()
        assert await received(rebound, ECHO_WAIT)
    finally:
        call.close()
        rebound.close()
        sdp_peer.close()


async def test_media_from_port_0_is_heard_but_never_answered_there():
    # sipp's pcap player forges packets with source port 0.
    call, rtp, sdp_peer = await echo_call_on_own_port()
    try:
        rtp.datagram_received(packet(1), ("127.0.0.1", 0))
        assert call.packets_received == 1
        assert call.remote_address == sdp_peer.getsockname()
    finally:
        call.close()
        sdp_peer.close()


# Through the user agent ---------------------------------------------------------------------


def invite(sip_port: int, peer_port: int, media_port: int, call_id: str) -> bytes:
    sdp = (
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        f"m=audio {media_port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
    )
    return (
        f"INVITE sip:echo@127.0.0.1:{sip_port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{peer_port};branch=z9hG4bK-{call_id}\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:peer@127.0.0.1:{peer_port}>;tag=p-{call_id}\r\n"
        f"To: <sip:echo@127.0.0.1:{sip_port}>\r\n"
        f"Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\n"
        f"Contact: <sip:peer@127.0.0.1:{peer_port}>\r\n"
        f"Content-Type: application/sdp\r\nContent-Length: {len(sdp)}\r\n\r\n{sdp}"
    ).encode()


async def test_the_user_agent_answers_each_call_on_its_own_port_and_frees_it():
    low, high = free_even_range(20)
    ua = UserAgent(app=EchoCall, rtp=RTPPortRange("127.0.0.1", low, high))
    _, sip_port = await ua.listen("127.0.0.1", 0)
    signalling = udp_socket()
    media = [udp_socket() for _ in range(3)]
    try:
        answered = []
        for index, sock in enumerate(media):
            signalling.sendto(
                invite(sip_port, signalling.getsockname()[1], sock.getsockname()[1], f"c{index}"),
                ("127.0.0.1", sip_port),
            )
            await asyncio.sleep(0.1)
            (ok,) = [parse_message(d) for d in await received(signalling, 0.0)]
            assert not isinstance(ok, SIPRequest) and ok.status_code == 200
            port = int(ok.body.split(b"m=audio ")[1].split()[0])
            answered.append(port)
        assert len(set(answered)) == 3 and all(low <= p < high for p in answered)
        assert ua.rtp.in_use == 3
    finally:
        ua.close()
        signalling.close()
        for sock in media:
            sock.close()
    await asyncio.sleep(0.05)
    assert ua.rtp.in_use == 0  # every call's port back
