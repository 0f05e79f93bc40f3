"""Dialogs between real user agents on loopback: hold and resume, glare, UPDATE, transfer.

Each user agent has its own UDP socket and RTP endpoint; timers are scaled
down (T1 = 50 ms) so retransmission and glare back-off stay short.
"""

from __future__ import annotations

import asyncio
import dataclasses

import numpy as np
import pytest

from voip_core import AudioCall, RealtimeTransportProtocol
from voip_core.codecs import PCMU
from voip_core.errors import CallFailed
from voip_core.sdp import SessionDescription
from voip_core.sip.transaction import TimerConfig
from voip_core.sip.useragent import Dialog, UserAgent

TIMERS = TimerConfig(t1=0.05, t2=0.2, t4=0.25)


@dataclasses.dataclass(kw_only=True, eq=False, repr=False)
class Listener(AudioCall):
    supported_codecs = (PCMU,)

    def __post_init__(self):
        super().__post_init__()
        self.heard = 0

    def audio_received(self, *, audio, rms):
        self.heard += len(audio)


@pytest.fixture
async def agents():
    """Three user agents: made on demand, closed at the end."""
    made = []

    async def make(dialog_class=Dialog):
        rtp = await RealtimeTransportProtocol.bind()
        ua = UserAgent(app=Listener, rtp=rtp, timers=TIMERS, dialog_class=dialog_class)
        host, port = await ua.listen("127.0.0.1", 0)
        made.append((ua, rtp))
        return ua, f"sip:user@{host}:{port}"

    yield make
    for ua, rtp in made:
        ua.close()
        rtp.close()


async def until(condition, timeout=3.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def call(caller, callee_uri):
    dialog = await caller.dial(callee_uri, timeout=2)
    return dialog


async def test_hold_and_resume_change_both_media_sessions(agents):
    alice, _ = await agents()
    bob, bob_uri = await agents()
    outgoing = await call(alice, bob_uri)
    (incoming,) = bob.dialogs.values()
    await until(lambda: incoming.confirmed)
    version = SessionDescription.parse(incoming._local_sdp).origin.session_version

    await outgoing.hold()
    assert outgoing.session.direction == "sendonly"
    assert incoming.session.direction == "recvonly"
    # Bob's answer changed (recvonly): same o= id, version one higher [RFC 3264 §8].
    answer = SessionDescription.parse(incoming._local_sdp)
    assert answer.origin.session_version == version + 1
    assert answer.origin.session_id == incoming._sdp_session_id

    # Held, Bob sends nothing: his packets are counted and dropped before the socket.
    incoming.session.send_audio(np.full(1600, 0.3, np.float32))
    await until(lambda: not incoming.session.sending)
    assert incoming.session.packets_sent == 0 and incoming.session.packets_not_sent >= 5
    assert outgoing.session.heard == 0

    await outgoing.resume()
    assert (outgoing.session.direction, incoming.session.direction) == ("sendrecv", "sendrecv")
    incoming.session.send_audio(np.full(1600, 0.3, np.float32))
    await until(lambda: outgoing.session.heard >= 800)


async def test_the_callee_can_hold_the_caller_and_a_refresh_changes_nothing(agents):
    alice, _ = await agents()
    bob, bob_uri = await agents()
    outgoing = await call(alice, bob_uri)
    (incoming,) = bob.dialogs.values()
    await until(lambda: incoming.confirmed)
    await incoming.hold()
    assert (incoming.session.direction, outgoing.session.direction) == ("sendonly", "recvonly")
    before = outgoing._local_sdp
    await incoming.refresh()  # a session refresh keeps the hold and Alice's SDP version
    assert (incoming.session.direction, outgoing.session.direction) == ("sendonly", "recvonly")
    assert outgoing._local_sdp == before


async def test_glare_491_then_both_holds_succeed(agents):
    glare = []

    class Counting(Dialog):
        def _reply(self, transaction, status, headers=()):
            glare.append(status)
            super()._reply(transaction, status, headers)

    alice, _ = await agents(Counting)
    bob, bob_uri = await agents(Counting)
    outgoing = await call(alice, bob_uri)
    (incoming,) = bob.dialogs.values()
    await until(lambda: incoming.confirmed)
    # Both send a re-INVITE at once: each answers the other's with 491 and retries
    # after a random wait [RFC 3261 §14.1]; in the end both hold: inactive.
    await asyncio.wait_for(asyncio.gather(outgoing.hold(), incoming.hold()), 5)
    assert (outgoing.session.direction, incoming.session.direction) == ("inactive", "inactive")
    assert glare and set(glare) == {491}


async def test_transfer_the_caller_to_a_third_party(agents):
    alice, _ = await agents()
    bob, bob_uri = await agents()
    carol, carol_uri = await agents()
    outgoing = await call(alice, bob_uri)
    (at_bob,) = bob.dialogs.values()
    await until(lambda: at_bob.confirmed)

    # Bob transfers Alice to Carol: Alice calls Carol, NOTIFYs 200, Bob hangs up.
    assert await asyncio.wait_for(at_bob.transfer(carol_uri), 5) == 200
    await until(lambda: len(carol.dialogs) == 1 and outgoing.ended)
    (at_carol,) = carol.dialogs.values()
    assert at_carol.caller.startswith("sip:voip@127.0.0.1")
    assert bob.dialogs == {} and at_bob.ended
    assert [d for d in alice.dialogs.values() if not d.ended]  # Alice-Carol goes on


async def test_a_refused_transfer_and_a_busy_target_keep_the_call(agents):
    class Refuses(Dialog):
        def transfer_received(self, target):
            return False

    class Busy(Dialog):
        def call_received(self):
            self.reject(486)

    alice, _ = await agents(Refuses)
    bob, bob_uri = await agents()
    _carol, carol_uri = await agents(Busy)
    outgoing = await call(alice, bob_uri)
    (at_bob,) = bob.dialogs.values()
    with pytest.raises(CallFailed) as refused:
        await at_bob.transfer(carol_uri)
    assert refused.value.status_code == 603

    outgoing.__class__ = Dialog  # Alice now accepts transfers, but Carol is busy
    with pytest.raises(CallFailed) as busy:
        await asyncio.wait_for(at_bob.transfer(carol_uri), 5)
    assert busy.value.status_code == 486
    assert not at_bob.ended and not outgoing.ended


async def test_update_refreshes_and_out_of_order_cseq_gets_500(agents):
    alice, _ = await agents()
    bob, bob_uri = await agents()
    outgoing = await call(alice, bob_uri)
    (incoming,) = bob.dialogs.values()
    await until(lambda: incoming.confirmed)
    update = await alice.request(
        lambda extra: outgoing.create_request("UPDATE", headers=extra), outgoing.next_hop
    )
    assert update.status_code == 200 and not update.body
    stale = await alice.request(
        lambda extra: outgoing.create_request("UPDATE", cseq=1, headers=extra),
        outgoing.next_hop,
    )
    assert (stale.status_code, stale.reason) == (500, "CSeq Out of Order")
