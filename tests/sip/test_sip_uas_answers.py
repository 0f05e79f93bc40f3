"""What the user agent server answers to the RFC 4475 application-layer messages [RFC 4475 §3.3].

Each torture message goes over UDP to a real UserAgent with one Via of ours
added on top, so the answer comes back to this test's socket on loopback
and never to the example hosts in the messages.
"""

from __future__ import annotations

import asyncio
import socket

import pytest

from voip_core import EchoCall, RealtimeTransportProtocol
from voip_core.sip.message import parse_message
from voip_core.sip.transaction import TimerConfig
from voip_core.sip.useragent import UserAgent

# file -> the status the RFC wants from a UA (the torture table in test_sip_torture.py)
EXPECTED = {
    "unkscm.dat": 416,  # 3.3.2 unknown Request-URI scheme
    "novelsc.dat": 416,  # 3.3.3 soap.beep Request-URI
    "bext01.dat": 420,  # 3.3.5 Require we do not support
    "invut.dat": 415,  # 3.3.6 unknown Content-Type
    "sdp01.dat": 406,  # 3.3.15 Accept without application/sdp
    "intmeth.dat": 501,  # 3.1.1.2 unknown method
    "esc02.dat": 501,  # 3.1.1.5 unknown method (RE%47IST%45R is not REGISTER)
    "zeromf.dat": 200,  # 3.3.11 Max-Forwards 0 at its endpoint: processed
    "regaut01.dat": 405,  # 3.3.7 a UA is no registrar
    "cparam01.dat": 405,  # 3.3.12 (a registrar would say 200)
    "insuf.dat": 400,  # 3.3.1 missing headers
    "mismatch02.dat": 400,  # 3.1.2.18 CSeq method differs
    "inv2543.dat": 200,  # 3.4.1 RFC 2543 INVITE: processed (answered)
}


@pytest.fixture
async def user_agent():
    rtp = await RealtimeTransportProtocol.bind()
    ua = UserAgent(app=EchoCall, rtp=rtp, timers=TimerConfig(t1=0.05, t2=0.2, t4=0.25))
    address = await ua.listen("127.0.0.1", 0)
    yield address
    ua.close()
    rtp.close()


@pytest.mark.parametrize("name", sorted(EXPECTED))
async def test_the_uas_answers_as_rfc_4475_wants(user_agent, vectors, name):
    data = (vectors / "rfc4475" / name).read_bytes()
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.bind(("127.0.0.1", 0))
        client.setblocking(False)
        port = client.getsockname()[1]
        via = f"\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-t{abs(hash(name))};rport"
        data = data.replace(b"\r\n", via.encode() + b"\r\n", 1)
        await loop.sock_sendto(client, data, user_agent)
        while True:
            answer = parse_message(await asyncio.wait_for(loop.sock_recv(client, 65535), 2))
            if answer.status_code >= 200:  # type: ignore[union-attr]
                break
    assert answer.status_code == EXPECTED[name], answer  # type: ignore[union-attr]
    if EXPECTED[name] == 420:
        assert answer.headers.get_all("Unsupported") == [
            "nothingSupportsThis",
            "nothingSupportsThisEither",
        ]
    if EXPECTED[name] in (405, 501):
        assert "INVITE" in (answer.headers.get("Allow") or "")
    if EXPECTED[name] == 415:
        assert answer.headers.get("Accept") == "application/sdp"
