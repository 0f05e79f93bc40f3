"""The paths that make calls cheap: caches, lazy objects, timer queues, UDP batches.

Each is a code path of its own that must behave exactly as the plain one it
replaces: the codec list cached until plugins change, SDP formats cached
per codec attributes, rtpmap reads shared, resamplers made on first use,
transaction timers in per-delay queues, UDP datagrams read and answered in
batches, header lists kept as tuples until changed, and parsed header values
dropped from a finished transaction's request.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np
import pytest

from voip_core import AudioCall, RealtimeTransportProtocol, plugins
from voip_core.codecs import PCMA, PCMU
from voip_core.codecs.base import RTPCodec
from voip_core.datagram import DATAGRAM_READ_SIZE, RECEIVE_BUFFER_BYTES
from voip_core.resample import FrameFIFO, Resampler
from voip_core.sdp import MediaDescription, MediaFormat, SessionDescription
from voip_core.sip.message import Headers, parse_message, validate_request
from voip_core.sip.timers import COALESCE_FROM, COALESCE_STEP, TransactionTimers
from voip_core.sip.transport import TransportLayer

INVITE = (
    "INVITE sip:bob@127.0.0.1 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1\r\n"
    "From: Alice <sip:alice@127.0.0.1>;tag=a1\r\n"
    "To: Bob <sip:bob@127.0.0.1>\r\n"
    "Call-ID: c1@127.0.0.1\r\n"
    "CSeq: 1 INVITE\r\n"
    "Contact: <sip:alice@127.0.0.1:5070>\r\n"
    "Max-Forwards: 70\r\n"
    "Content-Length: 0\r\n\r\n"
)


# The codec list and the SDP formats --------------------------------------------------------


@pytest.fixture
def fresh_plugins() -> Iterator[None]:
    plugins.reset_plugin_manager()
    yield
    plugins.reset_plugin_manager()


class _L8(RTPCodec):
    encoding_name: ClassVar[str] = "L8TEST"
    clock_rate: ClassVar[int] = 8000
    sample_rate = 8000
    priority: ClassVar[int] = 1

    def create_encoder(self) -> Any:  # pragma: no cover - never used
        raise NotImplementedError

    def create_decoder(self) -> Any:  # pragma: no cover - never used
        raise NotImplementedError


class _L8Plugin:
    @plugins.hookimpl
    def voip_codecs(self) -> list[type[RTPCodec]]:
        return [_L8]


def test_codec_list_is_kept_until_a_plugin_comes_or_goes(fresh_plugins: None) -> None:
    first = plugins.codecs()
    assert plugins.codecs() == first and plugins.codecs() is not first  # a new list each call
    first.clear()  # the caller's list: the kept one is not touched
    assert plugins.codecs()
    manager = plugins.get_plugin_manager()
    plugin = _L8Plugin()
    manager.register(plugin, name="l8-test")
    assert _L8 in plugins.codecs()
    assert "L8TEST" in {f.encoding_name for f in AudioCall.sdp_formats()}
    manager.unregister(plugin)
    assert _L8 not in plugins.codecs()
    manager.register(_L8Plugin(), name="l8-test-again")
    manager.set_blocked("l8-test-again")  # unregisters it
    assert _L8 not in plugins.codecs()
    plugins.reset_plugin_manager()
    assert _L8 not in plugins.codecs()


def test_sdp_formats_follow_the_codec_attributes(monkeypatch: pytest.MonkeyPatch) -> None:
    @dataclasses.dataclass(kw_only=True, eq=False, repr=False)
    class Call(AudioCall):
        supported_codecs = (PCMU, PCMA)

    before = Call.sdp_formats()
    assert Call.sdp_formats() == before
    assert Call.sdp_formats() is not before  # the caller may change its list
    monkeypatch.setattr(PCMA, "default_fmtp", "x=1")
    changed = Call.sdp_formats()
    assert next(f for f in changed if f.encoding_name == "PCMA").fmtp == "x=1"
    monkeypatch.undo()
    assert Call.sdp_formats() == before


def test_a_codec_with_its_own_media_format_is_asked_every_time() -> None:
    calls = []

    class Own(_L8):
        @classmethod
        def media_format(cls, payload_type: int | None = None) -> MediaFormat:
            calls.append(1)
            return MediaFormat(payload_type, "OWN", 8000, 1, None)

    @dataclasses.dataclass(kw_only=True, eq=False, repr=False)
    class Call(AudioCall):
        supported_codecs = (Own,)

    Call.sdp_formats()
    Call.sdp_formats()
    assert len(calls) >= 2
    assert Own.matches(MediaFormat(96, "own", 8000)) and not Own.matches(MediaFormat(0, "L8", 8000))


def test_rtpmap_reads_are_shared_and_errors_are_not_kept() -> None:
    first = MediaFormat.from_rtpmap("96 opus/48000/2", "useinbandfec=1")
    assert MediaFormat.from_rtpmap("96 opus/48000/2", "useinbandfec=1") == first
    assert MediaFormat.from_rtpmap("96 opus/48000/2").fmtp is None
    assert first == MediaFormat(96, "opus", 48000, 2, "useinbandfec=1")
    for bad in ("96 opus/48000/2/1", "x PCMU/8000", "0 PCMU/0", "0 PCMU/８000", "128 a/8000"):
        for _ in range(2):
            with pytest.raises(Exception, match="rtpmap"):
                MediaFormat.from_rtpmap(bad)


def test_media_formats_skip_duplicates_and_check_payload_types() -> None:
    media = MediaDescription(port=4000, formats=["0", "8", "0", "96"])
    media.attributes.append(dataclasses.replace(MediaFormat(0, "x", 1).attributes()[0]))
    assert [f.payload_type for f in media.media_formats] == [0, 8]  # 96 has no rtpmap
    with pytest.raises(Exception, match="payload type"):
        _ = MediaDescription(port=4000, formats=["200"]).media_formats


# Lazy media objects ------------------------------------------------------------------------


async def test_resamplers_are_made_on_first_use_with_the_rates_of_the_call() -> None:
    rtp = await RealtimeTransportProtocol.bind()
    try:
        media = MediaDescription.for_formats([PCMU.media_format()], port=4000, address="127.0.0.1")
        call = AudioCall(rtp=rtp, media=media)
        assert call._inbound_resampler is None and call._outbound_resampler is None
        call.sampling_rate_hz = 48000  # too late: the call keeps the rates it was made with
        inbound = call._inbound
        assert (inbound.input_rate, inbound.output_rate) == (8000, 16000)
        assert call._inbound is inbound
        assert call._outbound_resampler is None
        call.cancel_outbound_audio()  # nothing queued: no resampler needed
        assert call._outbound_resampler is None
        outbound = call._outbound
        assert (outbound.input_rate, outbound.output_rate) == (16000, 8000)
        call.close()
        assert call.closed.is_set()
    finally:
        rtp.close()


def test_fifo_buffer_is_allocated_on_first_push() -> None:
    fifo = FrameFIFO(capacity=8)
    assert len(fifo) == 0 and fifo.pop(0) is not None and fifo.pop(1) is None
    assert len(fifo.pop_all()) == 0
    fifo.push(np.arange(5, dtype=np.float32))
    fifo.push(np.arange(5, 10, dtype=np.float32))  # past the first capacity
    assert fifo.pop(4).tolist() == [0, 1, 2, 3]
    assert fifo.pop_all().tolist() == [4, 5, 6, 7, 8, 9]
    resampler = Resampler(8000, 16000)
    assert len(resampler.flush()) == 0


# Transaction timers ------------------------------------------------------------------------


async def test_timers_fire_in_due_order_and_can_be_cancelled_or_restarted() -> None:
    loop = asyncio.get_running_loop()
    fired: list[tuple[str, str]] = []
    timers = TransactionTimers(loop, lambda owner, name: fired.append((owner, name)))
    timers.start("a", "L", 0.06)
    timers.start("b", "J", 0.02)
    timers.start("c", "E", 0.04)
    timers.start("d", "E", 0.01)
    timers.start("e", "K", 0.03)
    timers.stop("e", "K")
    timers.start("c", "E", 0.05)  # restarted: fires once, at the new time
    assert len(timers) == 4 and (id("a"), "L") in timers
    await asyncio.sleep(0.12)
    assert fired == [("d", "E"), ("b", "J"), ("c", "E"), ("a", "L")]
    assert len(timers) == 0


async def test_long_timers_fall_due_together_on_a_grid_and_never_early() -> None:
    loop = asyncio.get_running_loop()
    timers = TransactionTimers(loop, lambda owner, name: None)
    owners = [object() for _ in range(20)]
    starts = []
    for owner in owners:  # 20 transactions ending over 20 ms, as at 1000 calls/s
        starts.append(loop.time())
        timers.start(owner, "J", 32.0)
        timers.start(owner, "G", 0.5)  # a retransmission timer keeps its exact time
        await asyncio.sleep(0.001)
    long_dues = [timer.due for timer in timers._queues[32.0]]
    assert all(due >= start + 32.0 for due, start in zip(long_dues, starts, strict=True))
    assert all(
        due - start < 32.0 + COALESCE_STEP + 0.01
        for due, start in zip(long_dues, starts, strict=True)
    )
    assert all(round(due / COALESCE_STEP, 6).is_integer() for due in long_dues)
    assert len(set(long_dues)) <= 2  # one wake-up (two across a grid line), not 20
    short_dues = [timer.due for timer in timers._queues[0.5]]
    assert len(set(short_dues)) == 20 and COALESCE_FROM > 0.5
    timers.close()


async def test_a_timer_started_by_a_timer_waits_for_the_next_turn() -> None:
    loop = asyncio.get_running_loop()
    fired: list[str] = []
    timers: TransactionTimers

    def fire(owner: str, name: str) -> None:
        fired.append(name)
        if name == "A":
            timers.start(owner, "B", 0.0)
            fired.append("started B")

    timers = TransactionTimers(loop, fire)
    timers.start("x", "A", 0.0)
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert fired[:2] == ["A", "started B"]
    await asyncio.sleep(0.01)
    assert fired == ["A", "started B", "B"]


async def test_closing_cancels_running_timers_and_many_cancelled_ones_are_compacted() -> None:
    loop = asyncio.get_running_loop()
    fired: list[str] = []
    timers = TransactionTimers(loop, lambda owner, name: fired.append(name))
    owners = [object() for _ in range(3000)]
    for owner in owners:
        timers.start(owner, "F", 30.0)
    timers.stop_all(owners[0], "ABF")
    for owner in owners[1:2500]:
        timers.stop(owner, "F")
    assert len(timers) == 500
    assert timers._queued < 3000  # the cancelled ones were dropped from the queue
    timers.start("late", "A", 0.01)
    timers.close()
    assert len(timers) == 0
    timers.start("after", "B", 0.01)  # timers still work after close, as loop timers do
    await asyncio.sleep(0.05)
    assert fired == ["B"]


# UDP: read size, buffer, batches -------------------------------------------------------------


def _peer() -> socket.socket:
    """The far end: a plain non-blocking UDP socket on loopback."""
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", 0))
    peer.setblocking(False)
    return peer


async def _receive(peer: socket.socket) -> bytes:
    return await asyncio.wait_for(asyncio.get_running_loop().sock_recv(peer, 100), 2)


async def test_udp_listener_reads_in_batches_and_answers_in_order() -> None:
    received: list[bytes] = []
    layer: TransportLayer

    def on_message(data: bytes, flow: Any) -> None:
        received.append(data)
        layer.send(b"reply to " + data, "udp", flow.remote)
        layer.send(b"again " + data, "udp", flow.remote)

    layer = TransportLayer(on_message)
    host, port = await layer.listen("udp", "127.0.0.1", 0)
    (_, _, endpoint) = layer._listeners[0]
    transport = endpoint.transport  # type: ignore[union-attr]
    assert getattr(transport, "max_size", DATAGRAM_READ_SIZE) <= DATAGRAM_READ_SIZE
    sock = transport.get_extra_info("socket")
    granted = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    with open("/proc/sys/net/core/rmem_max") as limit:
        assert granted >= min(RECEIVE_BUFFER_BYTES, int(limit.read()))
    peer = _peer()
    try:
        for index in range(40):  # queued before the loop looks: read in batches
            peer.sendto(b"m%d" % index, (host, port))
        peer.sendto(b"\r\n\r\n", (host, port))  # a keep-alive: dropped
        replies = [await _receive(peer) for _ in range(80)]
        assert received == [b"m%d" % index for index in range(40)]
        expected = [r for i in range(40) for r in (b"reply to m%d" % i, b"again m%d" % i)]
        assert replies == expected
    finally:
        peer.close()
        await layer.close()


async def test_udp_datagrams_from_one_address_share_a_flow() -> None:
    flows: list[Any] = []
    layer = TransportLayer(lambda data, flow: flows.append(flow))
    host, port = await layer.listen("udp", "127.0.0.1", 0)
    first, second = _peer(), _peer()
    try:
        for count, peer in enumerate((first, second, first), start=1):
            peer.sendto(b"OPTIONS", (host, port))
            for _ in range(400):
                if len(flows) == count:
                    break
                await asyncio.sleep(0.005)
        assert len(flows) == 3 and flows[0] is flows[2] is not flows[1]
        assert flows[0].remote == first.getsockname() and flows[1].remote == second.getsockname()
        assert flows[0].transport == "udp" and flows[0].local == (host, port)
    finally:
        first.close()
        second.close()
        await layer.close()


async def test_what_a_batch_sends_goes_out_even_when_a_handler_closes_the_layer() -> None:
    layer: TransportLayer

    def on_message(data: bytes, flow: Any) -> None:
        layer.send(b"bye", "udp", flow.remote)
        layer.close_now()

    layer = TransportLayer(on_message)
    host, port = await layer.listen("udp", "127.0.0.1", 0)
    peer = _peer()
    try:
        peer.sendto(b"hello", (host, port))
        assert await _receive(peer) == b"bye"
    finally:
        peer.close()
        await layer.close()


async def test_udp_listener_on_a_name_binds_like_local_addr() -> None:
    layer = TransportLayer(lambda data, flow: None)
    try:
        host, port = await layer.listen("udp", "localhost", 0)
        assert port > 0 and host in ("127.0.0.1", "::1")
    finally:
        await layer.close()


# SIP messages --------------------------------------------------------------------------------


def test_parsed_headers_become_lists_on_the_first_change() -> None:
    request = parse_message(INVITE.encode())
    headers = request.headers
    copy = headers.copy()
    assert copy == headers and isinstance(headers._keys, tuple)
    headers.add("Subject", "hi")
    headers.set("Max-Forwards", "69")
    assert copy != headers and copy.get("Subject") is None
    assert headers.get("Subject") == "hi" and headers.get("Max-Forwards") == "69"
    headers.remove("Subject")
    assert headers.get_all("Subject") == []
    assert request.max_forwards == 69
    built = Headers([("Via", "SIP/2.0/UDP a;branch=z9hG4bK2")])
    assert built == Headers._adopt(("via",), ("Via",), ("SIP/2.0/UDP a;branch=z9hG4bK2",))


def test_responses_copy_the_request_and_tag_to_as_before() -> None:
    request = parse_message(INVITE.encode())
    untouched = parse_message(INVITE.encode())
    validate_request(request)  # To parsed: the tag check uses it
    for made in (
        request.create_response(200, to_tag="t9"),
        untouched.create_response(200, to_tag="t9"),
    ):
        assert made.headers.get("To") == "Bob <sip:bob@127.0.0.1>;tag=t9"
        assert made.to.tag == "t9" and made.cseq.number == 1
    tagged = parse_message(
        INVITE.replace("To: Bob <sip:bob@127.0.0.1>", "To: <sip:b@h>;tag=x").encode()
    )
    validate_request(tagged)
    assert tagged.create_response(486, to_tag="y").to.tag == "x"
    extra = request.create_response(200, headers=[("X-Extra", " v "), ("Contact", "<sip:h>")])
    assert extra.headers.get("X-Extra") == "v" and extra.headers.get("contact") == "<sip:h>"
    with pytest.raises(ValueError):
        request.create_response(200, headers=[("Bad Name", "v")])
    with pytest.raises(ValueError):
        request.create_response(200, headers=[("X-Bad", "a\r\nb")])
    extra.headers.add("X-More", "1")  # still a normal, changeable message
    assert b"X-More: 1\r\n" in extra.serialize()


def test_a_request_parses_again_after_its_values_are_forgotten() -> None:
    request = parse_message(INVITE.encode())
    validate_request(request)
    via, sender = request.via[0], request.from_header
    request._forget_parsed()
    assert request.via[0] == via and request.from_header == sender
    assert request.record_route == [] and request.route == [] and request.content_type is None


def test_session_description_round_trip_still_holds() -> None:
    text = (
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        "m=audio 4000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n"
    )
    description = SessionDescription.parse(text)
    formats = description.media[0].media_formats
    assert [(f.payload_type, f.encoding_name, f.fmtp) for f in formats] == [
        (0, "PCMU", None),
        (101, "telephone-event", "0-16"),
    ]
    assert SessionDescription.parse(description.serialize()) == description
