"""REGISTER, digest challenges on INVITE and BYE, and route sets, against a scripted peer.

The peer is a UDP socket on loopback that checks digests with our server-side
code (voip_core.sip.auth: make_challenge / check_authorization, tested on
the RFC vectors elsewhere); kamailio does the same for real in
tests/interop/test_kamailio.py.
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from voip_core import RealtimeTransportProtocol
from voip_core.errors import AuthenticationError
from voip_core.sdp import SessionDescription, create_answer
from voip_core.sip.auth import AuthResult, Credentials, check_authorization, make_challenge
from voip_core.sip.message import SIPRequest, parse_message
from voip_core.sip.registration import refresh_delay
from voip_core.sip.transaction import TimerConfig
from voip_core.sip.useragent import UserAgent

from .test_sip_dialog_features import Listener

PASSWORD = "s3cret-Pa55"
TIMERS = TimerConfig(t1=0.05, t2=0.2, t4=0.25)


class Server(asyncio.DatagramProtocol):
    """A registrar / proxy stand-in: challenges, then answers what ``respond`` says."""

    def __init__(self, header="WWW-Authenticate", algorithm="SHA-256"):
        self.header, self.algorithm = header, algorithm
        self.requests: list[SIPRequest] = []
        self.nonces: set[str] = set()
        self.stale_sent = 0
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        request = parse_message(data)
        if not isinstance(request, SIPRequest):
            return
        self.requests.append(request)
        if request.method == "ACK":
            return
        name = "Authorization" if self.header == "WWW-Authenticate" else "Proxy-Authorization"
        value = request.headers.get(name)
        result = None
        if value is not None:
            result = check_authorization(
                value,
                password_lookup=lambda user, realm: PASSWORD if user == "alice" else None,
                method=request.method,
                uri=str(request.uri),
                nonce_is_valid=self.nonces.__contains__,
            )
        if result is not AuthResult.OK:
            stale = result is AuthResult.STALE
            self.stale_sent += stale
            challenge = make_challenge("test.invalid", algorithm=self.algorithm, stale=stale)
            self.nonces.add(challenge.split('nonce="', 1)[1].split('"', 1)[0])
            status = 401 if self.header == "WWW-Authenticate" else 407
            response = request.create_response(
                status, to_tag="srv", headers=[(self.header, challenge)]
            )
        else:
            response = self.respond(request)
        self.transport.sendto(response.serialize(), addr)

    def respond(self, request):
        if request.method == "REGISTER":
            contact = request.headers.get("Contact")
            expires = request.headers.get("Expires")
            return request.create_response(
                200,
                to_tag="srv",
                headers=[
                    (
                        "Contact",
                        contact.split(";")[0] + f";expires={expires if expires == '0' else 2}",
                    )
                ],
            )
        if request.method == "INVITE":
            offer = SessionDescription.parse(request.body)
            answer = create_answer(offer, Listener.sdp_formats(), address="127.0.0.1", port=40999)
            host, port = self.transport.get_extra_info("sockname")
            response = request.create_response(
                200,
                to_tag="srv",
                headers=[
                    ("Contact", f"<sip:bob@{host}:{port}>"),
                    ("Record-Route", f"<sip:{host}:{port};lr>"),
                    ("Content-Type", "application/sdp"),
                ],
            )
            response.body = answer.serialize()
            return response
        return request.create_response(200)


@pytest.fixture
async def server_and_agent():
    made = []

    async def make(header="WWW-Authenticate", password=PASSWORD, algorithm="SHA-256"):
        loop = asyncio.get_running_loop()
        transport, server = await loop.create_datagram_endpoint(
            lambda: Server(header, algorithm), local_addr=("127.0.0.1", 0)
        )
        host, port = transport.get_extra_info("sockname")
        rtp = await RealtimeTransportProtocol.bind()
        ua = UserAgent(
            app=Listener,
            rtp=rtp,
            timers=TIMERS,
            credentials=Credentials("alice", password),
            outbound_proxy=f"sip:{host}:{port}",
        )
        await ua.listen("127.0.0.1", 0)
        made.append((ua, rtp, transport))
        return server, ua, f"sip:alice@{host}:{port}"

    yield make
    for ua, rtp, transport in made:
        ua.close()
        rtp.close()
        transport.close()


def test_refresh_comes_well_before_expiry():
    assert refresh_delay(3600) == 3240 and refresh_delay(2) == 1.0
    assert all(0 < refresh_delay(n) < n for n in (1, 10, 59, 60, 600, 86400))


@pytest.mark.parametrize("algorithm", ["MD5", "SHA-256", "SHA-512-256"])
async def test_register_answers_the_challenge_refreshes_and_unregisters(
    server_and_agent, caplog, algorithm
):
    caplog.set_level(logging.DEBUG)
    server, ua, aor = await server_and_agent(algorithm=algorithm)
    registration = ua.register(aor, expires=300)
    assert await registration.register() == 2  # the registrar granted 2 s of the 300 asked
    first, second = server.requests
    assert "Authorization" not in first.headers and "Authorization" in second.headers
    assert second.headers.get("Expires") == "300"

    # The refresh comes after 1 s (half of 2 s): same Call-ID, next CSeq, and the
    # nonce reused with nonce count 2, so no new challenge [RFC 7616 §3.4].
    await asyncio.sleep(1.3)
    refresh = server.requests[2]
    assert refresh.call_id == first.call_id and refresh.cseq.number == 3
    assert "nc=00000002" in refresh.headers.get("Authorization")
    assert registration.registered.is_set()

    await ua.shutdown()
    unregister = server.requests[-1]
    assert unregister.headers.get("Expires") == "0" and ";expires=0" in unregister.headers.get(
        "Contact"
    )
    assert not registration.registered.is_set()
    assert PASSWORD not in caplog.text


async def test_wrong_password_raises_without_looping(server_and_agent, caplog):
    server, ua, aor = await server_and_agent(password="wrong")
    with pytest.raises(AuthenticationError):
        await ua.register(aor).register()
    assert [r.method for r in server.requests] == ["REGISTER", "REGISTER"]
    assert "wrong" not in caplog.text.replace("wrong credentials", "")


async def test_invite_and_bye_answer_407_and_follow_the_route_set(server_and_agent):
    server, ua, _ = await server_and_agent(header="Proxy-Authenticate")
    host, port = server.transport.get_extra_info("sockname")
    dialog = await ua.dial(f"sip:bob@127.0.0.1:{port}", timeout=2)
    methods = [(r.method, r.cseq.number) for r in server.requests]
    # INVITE 407 -> ACK (same CSeq) -> INVITE with Proxy-Authorization (CSeq 2) -> 200 -> ACK
    assert methods == [("INVITE", 1), ("ACK", 1), ("INVITE", 2), ("ACK", 2)]
    retry = server.requests[2]
    assert retry.call_id == server.requests[0].call_id
    assert retry.from_header.tag == server.requests[0].from_header.tag
    assert "Proxy-Authorization" in retry.headers
    assert retry.headers.get("Route") == f"<sip:{host}:{port};lr>"  # the outbound proxy
    # The 2xx's Record-Route is the route set: the ACK carries it, to the Contact.
    ack = server.requests[3]
    assert str(ack.uri) == f"sip:bob@{host}:{port}"
    assert ack.headers.get("Route") == f"<sip:{host}:{port};lr>"
    assert dialog.route_set[0].parameters == {"lr": None}

    dialog.bye()
    await asyncio.sleep(0.3)
    byes = [r for r in server.requests if r.method == "BYE"]
    assert len(byes) == 2 and "Proxy-Authorization" in byes[1].headers
    assert byes[1].cseq.number == byes[0].cseq.number + 1


async def test_a_stale_nonce_is_answered_once_with_the_new_one(server_and_agent):
    """The registrar expires its nonces: the refresh gets 401 stale=true, and the
    retry with the new nonce (nonce count 1 again) succeeds [RFC 7616 §3.3]."""
    server, ua, aor = await server_and_agent()
    registration = ua.register(aor, expires=300)
    await registration.register()
    server.nonces.clear()  # every nonce issued so far is now stale
    assert await registration.register() == 2
    refresh, retry = server.requests[2:4]
    assert "nc=00000002" in refresh.headers.get("Authorization")  # the old nonce, reused
    assert server.stale_sent == 1
    assert "nc=00000001" in retry.headers.get("Authorization")
    assert registration.registered.is_set()


async def test_a_registration_flow_that_breaks_is_reconnected_and_registered_again():
    """REGISTER over TCP keeps its connection as a flow [RFC 5626 §4.4]; when the
    registrar drops it, the agent reconnects (back-off) and registers again."""
    from voip_core.sip.framing import StreamFramer

    registers: list[tuple[int, SIPRequest]] = []
    connections = 0

    async def registrar(reader, writer):
        nonlocal connections
        connections += 1
        number = connections
        framer = StreamFramer()
        while data := await reader.read(65536):
            for item in framer.feed(data):
                if not isinstance(item, bytes):
                    continue
                request = parse_message(item)
                registers.append((number, request))
                contact = request.headers.get("Contact").split(";")[0]
                response = request.create_response(
                    200, to_tag="r", headers=[("Contact", f"{contact};expires=3600")]
                )
                writer.write(response.serialize())
                await writer.drain()
                if number == 1:
                    writer.close()  # the registrar restarts: the flow breaks
                    return

    server = await asyncio.start_server(registrar, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    rtp = await RealtimeTransportProtocol.bind()
    ua = UserAgent(app=Listener, rtp=rtp, timers=TIMERS)
    await ua.listen("127.0.0.1", 0, transport="tcp")
    registration = ua.register(f"sip:alice@127.0.0.1:{port};transport=tcp")
    assert await registration.register() == 3600
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while len(registers) < 2:
        assert loop.time() < deadline, "no REGISTER on a new connection"
        await asyncio.sleep(0.02)
    (first_connection, first), (second_connection, second) = registers[:2]
    assert (first_connection, second_connection) == (1, 2)
    assert second.call_id == first.call_id and second.cseq.number == first.cseq.number + 1
    ua.close()
    rtp.close()
    server.close()
