"""The user agent in direct mode, driven by a plain UDP socket on loopback."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import weakref

import pytest

from voip_core import AudioCall, RealtimeTransportProtocol
from voip_core.codecs import PCMU
from voip_core.sip.message import SIPRequest, SIPResponse, parse_message
from voip_core.sip.transaction import TimerConfig
from voip_core.sip.useragent import Dialog, UserAgent

SDP_OFFER = (
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio {port} RTP/AVP {formats}\r\n{rtpmaps}"
)


@dataclasses.dataclass(kw_only=True, eq=False, repr=False)
class Silent(AudioCall):
    supported_codecs = (PCMU,)


class Peer(asyncio.DatagramProtocol):
    """The far end: a UDP socket that keeps what it receives."""

    def __init__(self) -> None:
        self.received: asyncio.Queue[SIPRequest | SIPResponse] = asyncio.Queue()

    def datagram_received(self, data, addr):
        self.received.put_nowait(parse_message(data))


@pytest.fixture
async def ua_and_peer():
    rtp = await RealtimeTransportProtocol.bind()
    ended: list[Dialog] = []
    ua = UserAgent(
        app=Silent,
        rtp=rtp,
        timers=TimerConfig(t1=0.05, t2=0.2, t4=0.25),
        on_call_ended=ended.append,
    )
    address = await ua.listen("127.0.0.1", 0)
    transport, peer = await asyncio.get_running_loop().create_datagram_endpoint(
        Peer, local_addr=("127.0.0.1", 0)
    )
    peer.port = transport.get_extra_info("sockname")[1]
    peer.send = lambda text: transport.sendto(text.encode(), address)
    peer.ended = ended
    yield ua, peer
    ua.close()
    transport.close()
    rtp.close()


def request(
    peer,
    method,
    *,
    call_id="c1",
    cseq=1,
    to_tag=None,
    branch="z9hG4bK-b1",
    body="",
    extra="",
    version="SIP/2.0",
    content_type=True,
):
    to = "<sip:bob@127.0.0.1>" + (f";tag={to_tag}" if to_tag else "")
    lines = [
        f"{method} sip:bob@127.0.0.1 {version}",
        f"Via: SIP/2.0/UDP 127.0.0.1:{peer.port};branch={branch};rport",
        "Max-Forwards: 70",
        "From: <sip:alice@127.0.0.1>;tag=a1",
        f"To: {to}",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} {method}",
        f"Contact: <sip:alice@127.0.0.1:{peer.port}>",
    ]
    if body and content_type:
        lines.append("Content-Type: application/sdp")
    if extra:
        lines.append(extra)
    lines.append(f"Content-Length: {len(body.encode())}")
    return "\r\n".join(lines) + "\r\n\r\n" + body


def offer(formats="0 101", rtpmaps="a=rtpmap:101 telephone-event/8000\r\n", port=40100):
    return SDP_OFFER.format(port=port, formats=formats, rtpmaps=rtpmaps)


async def next_message(peer, timeout=2.0):
    return await asyncio.wait_for(peer.received.get(), timeout)


async def test_options_is_answered_with_what_we_allow(ua_and_peer):
    _ua, peer = ua_and_peer
    peer.send(request(peer, "OPTIONS"))
    response = await next_message(peer)
    assert response.status_code == 200
    assert response.headers.get_all("Allow") == [
        "INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "UPDATE", "REFER", "NOTIFY", "INFO"
    ]  # fmt: skip
    # rport and received were filled in [RFC 3581 §4]
    assert response.via[0].rport == peer.port


async def test_a_call_answered_acked_and_hung_up_by_the_caller(ua_and_peer):
    ua, peer = ua_and_peer
    peer.send(request(peer, "INVITE", body=offer()))
    ok = await next_message(peer)
    assert ok.status_code == 200  # answered at once: no 100 Trying [RFC 3261 §17.2.1]
    assert ok.content_type == "application/sdp" and b"m=audio" in ok.body
    assert b"a=rtpmap:0 PCMU/8000" in ok.body
    tag = ok.to.tag
    (dialog,) = ua.dialogs.values()
    assert isinstance(dialog.session, Silent) and dialog.session.codec.payload_type == 0
    peer.send(request(peer, "ACK", to_tag=tag, branch="z9hG4bK-ack"))
    await asyncio.sleep(0.3)
    assert dialog.confirmed
    assert peer.received.empty()  # no 200 retransmission after the ACK
    peer.send(request(peer, "BYE", to_tag=tag, cseq=2, branch="z9hG4bK-bye"))
    bye_ok = await next_message(peer)
    assert (bye_ok.status_code, bye_ok.cseq.method) == (200, "BYE")
    assert peer.ended == [dialog] and dialog.session.closed.is_set()


async def test_an_ended_call_is_freed_without_the_cyclic_garbage_collector(ua_and_peer):
    """Dialog and session refer to each other during the call, not after it."""
    _ua, peer = ua_and_peer
    gc.disable()  # only reference counting frees anything here
    try:
        peer.send(request(peer, "INVITE", body=offer()))
        tag = (await next_message(peer)).to.tag
        peer.send(request(peer, "ACK", to_tag=tag, branch="z9hG4bK-ack"))
        peer.send(request(peer, "BYE", to_tag=tag, cseq=2, branch="z9hG4bK-bye"))
        assert (await next_message(peer)).cseq.method == "BYE"
        (dialog,) = peer.ended
        session = dialog.session
        assert isinstance(session, Silent) and session.dialog is dialog  # we hold the dialog
        peer.ended.clear()
        dialog_gone = weakref.ref(dialog)
        del dialog
        assert dialog_gone() is None and session.dialog is None  # the session held it weakly
        session_gone = weakref.ref(session)
        del session
        assert session_gone() is None
    finally:
        gc.enable()


async def test_a_malformed_ack_gets_no_answer_but_a_log_line(ua_and_peer, caplog):
    ua, peer = ua_and_peer
    caplog.set_level("INFO", logger="voip_core.sip")
    bad = request(peer, "ACK", to_tag="x1", branch="z9hG4bK-ack").replace(
        "CSeq: 1 ACK", "CSeq: 1 BYE"
    )
    peer.send(bad)
    peer.send(request(peer, "OPTIONS", branch="z9hG4bK-after"))  # still answering
    assert (await next_message(peer)).cseq.method == "OPTIONS"
    assert ua.dropped_acks == 1
    assert any("dropped a malformed ACK" in record.getMessage() for record in caplog.records)


async def test_200_is_retransmitted_until_ack_then_we_hang_up(ua_and_peer):
    _ua, peer = ua_and_peer
    peer.send(request(peer, "INVITE", body=offer()))
    statuses = []
    bye = None
    while bye is None:
        message = await next_message(peer, timeout=5)
        if isinstance(message, SIPRequest):
            bye = message
        else:
            statuses.append(message.status_code)
    # T1=50 ms doubling to T2=200 ms for 64*T1 = 3.2 s [RFC 3261 §13.3.1.4]
    assert statuses[0] == 200 and statuses.count(200) >= 10  # answered at once: no 100
    assert bye.method == "BYE" and bye.to.tag == "a1"


async def test_requests_outside_a_dialog_get_481(ua_and_peer):
    _, peer = ua_and_peer
    peer.send(request(peer, "BYE", to_tag="nope"))
    assert (await next_message(peer)).status_code == 481


async def test_cancel_before_answer_gives_200_and_487(ua_and_peer):
    ua, peer = ua_and_peer

    class Ringing(Dialog):
        def call_received(self):
            self.ringing()

    ua.dialog_class = Ringing
    peer.send(request(peer, "INVITE", body=offer(), branch="z9hG4bK-c"))
    assert (await next_message(peer)).status_code == 180  # no 100 before it
    peer.send(request(peer, "CANCEL", branch="z9hG4bK-c"))
    answers = {}
    for _ in range(2):
        message = await next_message(peer)
        answers[message.cseq.method] = message.status_code
    assert answers == {"CANCEL": 200, "INVITE": 487}


async def test_a_slow_answer_is_preceded_by_100_trying(ua_and_peer):
    ua, peer = ua_and_peer

    class Slow(Dialog):
        def call_received(self):
            asyncio.get_running_loop().call_later(0.5, self.answer)

    ua.dialog_class = Slow
    peer.send(request(peer, "INVITE", body=offer(), branch="z9hG4bK-slow"))
    trying = await next_message(peer)
    assert trying.status_code == 100  # the TU took over 200 ms [RFC 3261 §17.2.1]
    assert (await next_message(peer)).status_code == 200


async def test_no_common_codec_is_488(ua_and_peer):
    _, peer = ua_and_peer
    peer.send(request(peer, "INVITE", body=offer("18", "a=rtpmap:18 G729/8000\r\n")))
    assert (await next_message(peer)).status_code == 488


async def test_bad_input_gets_400_505_or_nothing(ua_and_peer):
    ua, peer = ua_and_peer
    peer.send("this is not SIP\r\n\r\n")
    peer.send(request(peer, "OPTIONS", version="SIP/3.0", branch="z9hG4bK-v"))
    version = await next_message(peer)
    assert version.status_code == 505
    peer.send(request(peer, "OPTIONS", extra="CSeq: 9 OPTIONS", branch="z9hG4bK-dup"))
    assert (await next_message(peer)).status_code == 400  # two CSeq headers
    # Max-Forwards 0 reaching its endpoint is processed: only proxies refuse it
    # [RFC 4475 §3.3.11].
    peer.send(
        request(peer, "OPTIONS", branch="z9hG4bK-mf").replace("Max-Forwards: 70", "Max-Forwards: 0")
    )
    assert (await next_message(peer)).status_code == 200
    peer.send(request(peer, "MESSAGE", branch="z9hG4bK-405"))
    assert (await next_message(peer)).status_code == 405
    await asyncio.sleep(0.1)
    assert peer.received.empty() and ua.dropped_datagrams == 1


# Placing calls: our UA calls our UA --------------------------------------------------------


@pytest.fixture
async def two_user_agents():
    rtps = [await RealtimeTransportProtocol.bind() for _ in range(2)]
    timers = TimerConfig(t1=0.05, t2=0.2, t4=0.25)
    callee = UserAgent(app=Silent, rtp=rtps[0], timers=timers)
    caller = UserAgent(app=Silent, rtp=rtps[1], timers=timers)
    host, port = await callee.listen("127.0.0.1", 0)
    await caller.listen("127.0.0.1", 0)
    yield caller, callee, f"sip:bob@{host}:{port}"
    for agent in (caller, callee):
        agent.close()
    for rtp in rtps:
        rtp.close()


async def test_dial_answer_and_hang_up_from_the_callee(two_user_agents):
    caller, callee, uri = two_user_agents
    dialog = await caller.dial(uri, timeout=2)
    assert dialog.confirmed and isinstance(dialog.session, Silent)
    assert dialog.session.codec.encoding_name == "PCMU"
    (remote,) = callee.dialogs.values()
    await asyncio.sleep(0.1)
    assert remote.confirmed  # our ACK arrived
    remote.bye()
    await asyncio.wait_for(dialog.session.wait_closed(), 2)
    assert caller.dialogs == {} and callee.dialogs == {}


async def test_a_rejected_call_raises_call_failed(two_user_agents):
    from voip_core.errors import CallFailed

    caller, callee, uri = two_user_agents

    class Busy(Dialog):
        def call_received(self):
            self.reject(486)

    callee.dialog_class = Busy
    with pytest.raises(CallFailed) as failure:
        await caller.dial(uri, timeout=2)
    assert (failure.value.status_code, failure.value.reason) == (486, "Busy Here")


async def test_an_unanswered_call_is_cancelled_at_the_timeout(two_user_agents):
    from voip_core.errors import CallFailed

    caller, callee, uri = two_user_agents
    hung_up = asyncio.Event()

    class RingForever(Dialog):
        def call_received(self):
            self.ringing()

        def hangup_received(self):
            hung_up.set()

    callee.dialog_class = RingForever
    with pytest.raises(CallFailed, match="408"):
        await caller.dial(uri, timeout=0.3)
    await asyncio.wait_for(hung_up.wait(), 2)  # the CANCEL reached the callee
