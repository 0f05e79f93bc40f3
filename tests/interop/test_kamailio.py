"""kamailio (registrar + record-routing proxy, digest auth) between baresip and our stack.

The ``kamailio`` fixture (tests/interop/conftest.py) yields ``(host, port, users)``
for tests of our own REGISTER; the tests here use baresip as the registering
UA, and put kamailio in the path of a call to `voip serve`, so that our UAS
answers an INVITE that carries Record-Route and sees the in-dialog requests
come through the proxy.
"""

from __future__ import annotations

import pytest
from interop.peers import piecewise_match, rms, wait_for

pytestmark = pytest.mark.interop


def test_kamailio_answers_options_on_udp_and_tcp(kamailio, kamailio_process):
    """The fixture's proxy is up on both transports of its port (for our UA's TCP tests)."""
    host, port, users = kamailio
    assert host == "127.0.0.1" and port != 5060 and users["alice"] == "alicepw"
    assert kamailio_process.answers_options("udp")
    assert kamailio_process.answers_options("tcp")


def test_two_baresips_register_with_digest_auth(kamailio, start_baresip):
    host, port, users = kamailio
    peers = [
        start_baresip(user=user, registrar=(host, port), password=users[user])
        for user in ("alice", "bob")
    ]
    for peer in peers:
        info = peer.wait_registered()
        assert f"{host}:{port}" in info, info
        trace = peer.sent_and_received()
        registers = [(d, line, c) for d, line, c in trace if c.endswith(" REGISTER")]
        # challenged first (401 + WWW-Authenticate), then 200 with the digest
        answers = [line for d, line, _ in registers if d == "in"]
        assert answers[:2] == ["SIP/2.0 401 Unauthorized", "SIP/2.0 200 OK"], registers
        assert any(
            "Authorization: Digest" in message and f'username="{peer.user}"' in message
            for message in peer.sip_trace()
            if message.split("\n", 2)[1].startswith("REGISTER ")
        )


def test_a_wrong_password_is_refused(kamailio, start_baresip):
    host, port, _ = kamailio
    carol = start_baresip(
        user="carol", registrar=(host, port), password="not-her-password", wait_registration=False
    )
    with pytest.raises(AssertionError, match=r"REGISTER failed|timed out"):
        carol.wait_registered(timeout=5)
    answers = [
        line for d, line, c in carol.sent_and_received() if d == "in" and c.endswith("REGISTER")
    ]
    assert answers and all(line.startswith("SIP/2.0 401") for line in answers), answers


def _call_through_proxy(kamailio, start_baresip, start_voip_server, **server_options):
    """alice, registered at kamailio and using it as outbound proxy, calls our echo app."""
    host, port, users = kamailio
    server = start_voip_server(**server_options)
    alice = start_baresip(
        user="alice",
        registrar=(host, port),
        password=users["alice"],
        outbound=True,
        codecs="G722/16000/1,PCMU",
    )
    alice.dial(server.address)
    alice.wait_event("CALL_ESTABLISHED", timeout=10)
    return server, alice


def _invite_answer(alice) -> str:
    """The 200 OK to alice's INVITE as she received it."""
    return next(
        message
        for message in alice.sip_trace()
        if message.split("\n", 2)[1].startswith("SIP/2.0 200 ") and " INVITE\n" in message
    )


def test_baresip_calls_our_echo_app_through_kamailio(
    kamailio, kamailio_process, start_baresip, start_voip_server
):
    host, port, _ = kamailio
    server, alice = _call_through_proxy(kamailio, start_baresip, start_voip_server)
    # the WAV ends: alice hangs up; her BYE follows the Route set through kamailio
    alice.wait_event("CALL_CLOSED", timeout=30)
    wait_for(
        lambda: any(
            d == "in" and line.startswith("SIP/2.0 200 ") and c.endswith(" BYE")
            for d, line, c in alice.sent_and_received()
        ),
        5,
        "the 200 OK to alice's BYE",
    )
    trace = alice.sent_and_received()
    invites = [line for d, line, c in trace if d == "in" and c.endswith(" INVITE")]
    # 407 from the proxy, then our 100 and 200 relayed by it
    assert invites[0].startswith("SIP/2.0 407"), invites
    assert invites[-1].startswith("SIP/2.0 200"), invites
    # our 200 OK carried kamailio's Record-Route back to alice, once: the ACK reached us
    # through the proxy, or we would have retransmitted the 200 [RFC 3261 §13.3.1.4]
    oks = [c for d, line, c in trace if d == "in" and line.startswith("SIP/2.0 200")]
    assert len([c for c in oks if c.endswith(" INVITE")]) == 1, trace
    answer = _invite_answer(alice)
    assert f"Record-Route: <sip:{host}:{port};lr" in answer, answer
    assert answer.startswith(f"UDP {host}:{port} -> "), answer  # came via the proxy
    # ACK and BYE went to the proxy, with a Route for it
    for method in ("ACK", "BYE"):
        message = next(m for m in alice.sip_trace() if m.split("\n", 2)[1].startswith(method))
        assert message.split("\n", 1)[0].endswith(f"-> {host}:{port}"), message
        assert f"Route: <sip:{host}:{port};lr" in message, message
    ended = wait_for(server.calls_ended, 5, "voip serve to log the end of the call")
    assert len(ended) == 1 and "codec G722" in ended[0], ended
    kamailio_log = kamailio_process.log.read_text()
    assert "in-dialog BYE routed to" in kamailio_log
    assert "without a Route for us" not in kamailio_log
    # media went straight between the two (kamailio relays no RTP): the echo came back
    (heard, rate), (sent, _) = alice.recorded()
    assert rms(heard) > 0.02
    correlation = piecewise_match(sent, heard, rate)  # baresip drops a frame under load
    assert correlation > 0.8, correlation


def test_our_uas_hangs_up_through_kamailio(
    kamailio, kamailio_process, start_baresip, start_voip_server
):
    """Our BYE follows the Route set that the INVITE's Record-Route made [RFC 3261 §12.1.1]."""
    host, port, _ = kamailio
    server, alice = _call_through_proxy(
        kamailio, start_baresip, start_voip_server, hang_up_after=1.5
    )
    assert f"Record-Route: <sip:{host}:{port};lr" in _invite_answer(alice)
    closed = alice.wait_event("CALL_CLOSED", timeout=10)
    assert "end of file" not in str(closed.get("param", "")), closed  # not her own hang-up
    wait_for(
        lambda: any(
            d == "out" and line.startswith("SIP/2.0 200 ") and c.endswith(" BYE")
            for d, line, c in alice.sent_and_received()
        ),
        5,
        "alice's 200 OK to our BYE",
    )
    bye = next(m for m in alice.sip_trace() if m.split("\n", 2)[1].startswith("BYE "))
    assert bye.startswith(f"UDP {host}:{port} -> "), bye  # relayed by the proxy
    trace = alice.sent_and_received()
    assert not any(d == "out" and line.startswith("BYE ") for d, line, _ in trace), trace
    kamailio_log = kamailio_process.log.read_text()
    assert "in-dialog BYE routed to" in kamailio_log
    assert "without a Route for us" not in kamailio_log
    ended = wait_for(server.calls_ended, 5, "our UAS to log the end of the call")
    assert len(ended) == 1, ended


def test_voip_serve_stopped_hangs_up_through_kamailio(
    kamailio, kamailio_process, start_baresip, start_voip_server
):
    """On SIGTERM `voip serve` sends BYE for the call in progress, via the proxy, and exits 0."""
    host, port, _ = kamailio
    server, alice = _call_through_proxy(kamailio, start_baresip, start_voip_server)
    assert server.stop() == 0
    closed = alice.wait_event("CALL_CLOSED", timeout=10)
    assert "end of file" not in str(closed.get("param", "")), closed  # not her own hang-up
    trace = alice.sent_and_received()
    assert any(d == "in" and line.startswith("BYE ") for d, line, _ in trace), trace
    bye = next(m for m in alice.sip_trace() if m.split("\n", 2)[1].startswith("BYE "))
    assert bye.startswith(f"UDP {host}:{port} -> "), bye  # relayed by the proxy
    assert "in-dialog BYE routed to" in kamailio_process.log.read_text()
