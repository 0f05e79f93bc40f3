"""Calls between two user agents over UDP, TCP and TLS, on IPv4 and IPv6 loopback."""

from __future__ import annotations

import asyncio

import pytest
from tls_certs import make_certificates

from conftest import need_ipv6
from voip_core import RealtimeTransportProtocol
from voip_core.errors import CallFailed
from voip_core.sip.transaction import TimerConfig
from voip_core.sip.useragent import UserAgent

from .test_sip_dialog_features import Listener, until

TIMERS = TimerConfig(t1=0.05, t2=0.2, t4=0.25)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    return make_certificates(tmp_path_factory.mktemp("tls"))


@pytest.fixture
async def pair(certificates):
    made = []

    async def make(transport, host):
        agents = []
        for _ in range(2):
            rtp = await RealtimeTransportProtocol.bind(host, 0)
            ua = UserAgent(app=Listener, rtp=rtp, timers=TIMERS, tls_cafile=certificates.ca_file)
            context = certificates.server_context() if transport == "tls" else None
            await ua.listen(host, 0, transport=transport, ssl_context=context)
            made.append((ua, rtp))
            agents.append(ua)
        return agents

    yield make
    for ua, rtp in made:
        await ua.shutdown()
        rtp.close()


@pytest.mark.parametrize("transport", ["udp", "tcp", "tls"])
@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
async def test_call_hold_and_hang_up_over_each_transport(pair, transport, host):
    if host == "::1":
        need_ipv6()
    caller, callee = await pair(transport, host)
    port = callee.local_address[1]
    bracketed = f"[{host}]" if ":" in host else host
    dialog = await caller.dial(f"sip:bob@{bracketed}:{port};transport={transport}", timeout=3)
    (incoming,) = callee.dialogs.values()
    assert incoming.source.transport == transport
    assert incoming.invite.via[0].transport == transport.upper()
    if transport != "udp":
        assert incoming.contact.parameters == {"transport": transport}
    await until(lambda: incoming.confirmed)
    await dialog.hold()
    assert incoming.session.direction == "recvonly"
    incoming.bye()  # the callee's BYE goes back over the caller's connection
    await asyncio.wait_for(dialog.session.wait_closed(), 3)
    assert caller.dialogs == {} and callee.dialogs == {}
    if transport != "udp":
        # One connection carried the whole call, both ways.
        assert len(caller.transports._connections) == 1
        assert len(callee.transports._connections) == 1


async def test_tls_refuses_an_unverified_server(certificates):
    rtp = await RealtimeTransportProtocol.bind()
    server = UserAgent(app=Listener, rtp=rtp, timers=TIMERS)
    await server.listen(transport="tls", ssl_context=certificates.server_context())
    client = UserAgent(app=Listener, rtp=rtp, timers=TIMERS)  # default trust store only
    await client.listen()
    port = server.local_address[1]
    with pytest.raises(CallFailed) as failure:
        await client.dial(f"sip:bob@127.0.0.1:{port};transport=tls", timeout=3)
    assert failure.value.status_code == 503 and server.dialogs == {}
    await client.shutdown()
    await server.shutdown()
    rtp.close()
