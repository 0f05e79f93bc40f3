"""SRTP calls between user agents: SDES in SDP, the srtp policy, bad packets, re-INVITEs."""

from __future__ import annotations

import asyncio
import socket

import numpy as np
import pytest

from voip_core import AudioCall, EchoCall
from voip_core.errors import CallFailed
from voip_core.sip.message import SIPRequest, parse_message
from voip_core.sip.useragent import UserAgent


class Listener(AudioCall):
    def __post_init__(self):
        super().__post_init__()
        self.heard = []

    def audio_received(self, *, audio, rms):
        self.heard.append(rms)


async def pair(caller_policy: str, callee_policy: str, *, suites=None, callee_app=EchoCall):
    options = {} if suites is None else {"srtp_suites": suites}
    callee = UserAgent(app=callee_app, srtp=callee_policy)
    _, port = await callee.listen("127.0.0.1", 0)
    caller = UserAgent(app=Listener, srtp=caller_policy, **options)
    await caller.listen("127.0.0.1", 0)
    return caller, callee, f"sip:srtp@127.0.0.1:{port}"


def tone(seconds=0.6):
    t = np.arange(int(16000 * seconds)) / 16000
    return (0.3 * np.sin(2 * np.pi * 500 * t)).astype(np.float32)


@pytest.mark.parametrize(
    ("policies", "suites"),
    [
        (("offer", "offer"), None),
        (("require", "require"), ["AEAD_AES_128_GCM"]),
        (("require", "offer"), ["AEAD_AES_256_GCM"]),
        (("offer", "require"), ["AES_CM_128_HMAC_SHA1_32"]),
    ],
)
async def test_an_srtp_call_carries_audio_both_ways(policies, suites):
    caller, callee, uri = await pair(*policies, suites=suites)
    try:
        call = await caller.dial(uri, timeout=5)
        session = call.session
        (theirs,) = callee.dialogs.values()
        assert session.srtp is not None and theirs.session.srtp is not None
        suite = (suites or ["AES_CM_128_HMAC_SHA1_80"])[0]
        assert call._srtp_keys.suite == theirs._srtp_keys.suite == suite
        assert call.invite.body.count(b"a=crypto:") == len(suites or [1, 2, 3, 4])
        secure = policies[0] == "require"
        assert (b"RTP/SAVP" in call.invite.body) == secure
        session.send_audio(tone())
        # Said (0.6 s), the echo's utterance ends after its silence gap, it comes back.
        for _ in range(100):
            await asyncio.sleep(0.05)
            if session.srtp.inbound.unprotected > 20 and session.heard and max(session.heard) > 0.1:
                break
        assert max(session.heard) > 0.1  # decrypted and decoded
        assert session.srtp.outbound.protected > 20 and session.srtp.inbound.unprotected > 20
        assert session.rtp.srtp_failures == 0 and theirs.session.rtp.srtp_failures == 0
    finally:
        caller.close()
        callee.close()


async def test_policies_that_cannot_agree_fail_with_the_reason():
    cases = [
        ("require", "off", "SRTP offered (RTP/SAVP), and SRTP is off here"),
        ("off", "require", "SRTP is required here, and the offer has no a=crypto"),
        ("require", "require", "suite"),  # no suite in common
    ]
    for caller_policy, callee_policy, reason in cases:
        suites = ["AES_CM_128_HMAC_SHA1_32"] if reason == "suite" else None
        caller, callee, uri = await pair(caller_policy, callee_policy, suites=suites)
        if reason == "suite":
            callee.srtp_suites = ("AEAD_AES_128_GCM",)
        try:
            with pytest.raises(CallFailed) as failed:
                await caller.dial(uri, timeout=5)
            assert failed.value.status_code == 488
            assert reason in str(failed.value)
        finally:
            caller.close()
            callee.close()


async def test_offer_falls_back_to_plain_rtp_only_when_allowed():
    caller, callee, uri = await pair("offer", "off")
    try:
        call = await caller.dial(uri, timeout=5)
        assert call.session.srtp is None  # the callee ignored our crypto lines
        assert b"a=crypto" not in callee.dialogs[next(iter(callee.dialogs))]._local_sdp
    finally:
        caller.close()
        callee.close()


class PlainAnswerer(asyncio.DatagramProtocol):
    """A UAS that answers every INVITE with RTP/AVP and no crypto, and keeps what it gets."""

    def __init__(self):
        self.received: list = []

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        message = parse_message(data)
        self.received.append(message)
        if not isinstance(message, SIPRequest) or message.method == "ACK":
            return
        if message.method == "INVITE":
            sdp = (
                b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                b"m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
            )
            response = message.create_response(
                200,
                to_tag="plain",
                headers=[
                    (
                        "Contact",
                        f"<sip:plain@127.0.0.1:{self.transport.get_extra_info('sockname')[1]}>",
                    ),
                    ("Content-Type", "application/sdp"),
                ],
            )
            response.body = sdp
        else:
            response = message.create_response(200)
        self.transport.sendto(response.serialize(), addr)


async def test_required_srtp_answered_with_plain_rtp_fails_and_hangs_up():
    loop = asyncio.get_running_loop()
    transport, peer = await loop.create_datagram_endpoint(
        PlainAnswerer, local_addr=("127.0.0.1", 0), family=socket.AF_INET
    )
    port = transport.get_extra_info("sockname")[1]
    caller = UserAgent(app=Listener, srtp="require")
    await caller.listen("127.0.0.1", 0)
    try:
        with pytest.raises(CallFailed) as failed:
            await caller.dial(f"sip:plain@127.0.0.1:{port}", timeout=5)
        assert failed.value.status_code == 488
        assert "SRTP is required, and the answer is RTP/AVP without a=crypto" in str(failed.value)
        await asyncio.sleep(0.2)
        methods = [m.method for m in peer.received if isinstance(m, SIPRequest)]
        assert methods == ["INVITE", "ACK", "BYE"]  # never a plain call
    finally:
        caller.close()
        transport.close()


async def test_tampered_or_foreign_packets_are_dropped_and_counted():
    caller, callee, uri = await pair("require", "require")
    try:
        call = await caller.dial(uri, timeout=5)
        (theirs,) = callee.dialogs.values()
        port = theirs.session.rtp.local_address
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        plain = bytes.fromhex("80000001000000a0deadbeef") + b"\xff" * 160  # not encrypted
        sock.sendto(plain, port)
        call.session.send_audio(tone(0.1))
        await asyncio.sleep(0.3)
        assert theirs.session.rtp.srtp_failures >= 1
        assert theirs.session.srtp.inbound.auth_failures >= 1
        assert theirs.session.srtp.inbound.unprotected >= 4  # the real packets got through
        sock.close()
    finally:
        caller.close()
        callee.close()


async def test_hold_and_resume_keep_the_keys():
    caller, callee, uri = await pair("require", "require")
    try:
        call = await caller.dial(uri, timeout=5)
        keys = call._srtp_keys
        srtp = call.session.srtp
        await call.hold()
        await call.resume()
        assert call._srtp_keys == keys and call.session.srtp is srtp  # nothing re-keyed
        call.session.send_audio(tone())
        await asyncio.sleep(1.6)
        assert max(call.session.heard) > 0.1
    finally:
        caller.close()
        callee.close()


async def test_a_malformed_or_unusable_crypto_line_gets_488_with_the_reason():
    callee = UserAgent(app=EchoCall, srtp="offer")
    _, port = await callee.listen("127.0.0.1", 0)
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", 0))
    peer.settimeout(2)
    lines = {
        "short": "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:c2hvcnQ=",
        "mki": "a=crypto:1 AES_CM_128_HMAC_SHA1_80 "
        "inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^20|1:4",
        "grammar": "a=crypto:x AES_CM_128_HMAC_SHA1_80",
    }
    expected = {"short": "octets", "mki": "MKI", "grammar": "malformed a=crypto"}
    try:
        for name, line in lines.items():
            sdp = (
                "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                f"m=audio 40000 RTP/SAVP 0\r\na=rtpmap:0 PCMU/8000\r\n{line}\r\n"
            )
            peer_port = peer.getsockname()[1]
            invite = (
                f"INVITE sip:echo@127.0.0.1:{port} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP 127.0.0.1:{peer_port};branch=z9hG4bK-{name}\r\n"
                f"Max-Forwards: 70\r\nFrom: <sip:p@127.0.0.1>;tag={name}\r\n"
                f"To: <sip:echo@127.0.0.1>\r\nCall-ID: {name}\r\nCSeq: 1 INVITE\r\n"
                f"Contact: <sip:p@127.0.0.1:{peer_port}>\r\nContent-Type: application/sdp\r\n"
                f"Content-Length: {len(sdp)}\r\n\r\n{sdp}"
            )
            peer.sendto(invite.encode(), ("127.0.0.1", port))
            answer = parse_message(await asyncio.to_thread(peer.recv, 4096))
            assert answer.status_code == 488, name
            assert expected[name] in answer.reason, (name, answer.reason)
    finally:
        callee.close()
        peer.close()
