"""AudioCall, VoiceActivityCall and EchoCall end to end over UDP on loopback."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging

import numpy as np
import pytest

from voip_core import (
    AudioCall,
    EchoCall,
    NegotiationError,
    RealtimeTransportProtocol,
    VoiceActivityCall,
)
from voip_core.codecs import G722, PCMA, PCMU, RTPCodec
from voip_core.rtp.packet import RTPPacket
from voip_core.sdp import MediaDescription, MediaFormat

RATE = 16000


def sweep(seconds: float = 1.0, level: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (level * np.sin(2 * np.pi * (200 * t + 1400 / seconds * t**2))).astype(np.float32)


def media_to(endpoint, formats) -> MediaDescription:
    host, port = endpoint.local_address
    return MediaDescription.for_formats(formats, port=port, address=host)


def best_lag(sent: np.ndarray, received: np.ndarray, max_lag: int = 4000) -> tuple[int, float]:
    scores = [
        np.dot(received[lag : lag + len(sent) // 2], sent[: len(sent) // 2])
        for lag in range(max_lag)
    ]
    lag = int(np.argmax(scores))
    n = min(len(sent), len(received) - lag)
    return lag, float(np.corrcoef(sent[:n], received[lag : lag + n])[0, 1])


@dataclasses.dataclass(kw_only=True, eq=False)
class Collector(AudioCall):
    def __post_init__(self):
        super().__post_init__()
        self.heard = []
        self.levels = []

    def audio_received(self, *, audio, rms):
        self.heard.append(audio)
        self.levels.append(rms)


@dataclasses.dataclass(kw_only=True, eq=False)
class Speaker(AudioCall):
    def __post_init__(self):
        super().__post_init__()
        self.sent_event = asyncio.Event()
        self.sent_count = 0

    def on_audio_sent(self):
        self.sent_count += 1
        self.sent_event.set()


class PacketSink(asyncio.DatagramProtocol):
    """A plain UDP socket standing in for a peer, keeping every packet and its arrival time."""

    def __init__(self):
        self.packets: list[tuple[float, RTPPacket]] = []

    def datagram_received(self, data, addr):
        self.packets.append((asyncio.get_running_loop().time(), RTPPacket.parse(data)))


async def open_sink(host="127.0.0.1"):
    transport, sink = await asyncio.get_running_loop().create_datagram_endpoint(
        PacketSink, local_addr=(host, 0)
    )
    return transport, sink


def only(codec: type[RTPCodec]):
    class Narrowed:
        supported_codecs = (codec,)

    return Narrowed


CODECS = [PCMU, PCMA, G722]


@pytest.mark.parametrize("codec", CODECS, ids=lambda c: c.encoding_name)
async def test_audio_flows_through_each_codec(codec):
    left = await RealtimeTransportProtocol.bind()
    right = await RealtimeTransportProtocol.bind()
    formats = [codec.media_format()]
    listener = type("L", (only(codec), Collector), {})(rtp=right, media=media_to(left, formats))
    speaker = type("S", (only(codec), Speaker), {})(rtp=left, media=media_to(right, formats))
    audio = sweep(1.0)
    speaker.send_audio(audio)
    await asyncio.wait_for(speaker.sent_event.wait(), 5)
    await asyncio.sleep(0.05)
    heard = np.concatenate([*listener.heard, listener._inbound.flush()])
    assert speaker.packets_sent == listener.packets_received == 50
    assert abs(len(heard) - len(audio)) <= 320
    _, correlation = best_lag(audio, heard)
    assert correlation > 0.98
    assert all(len(frame) == 320 for frame in listener.heard)
    assert listener.levels[10] == pytest.approx(AudioCall.rms(listener.heard[10]))
    left.close()
    right.close()


async def test_packets_are_paced_with_consecutive_sequence_and_timestamps():
    transport, sink = await open_sink()
    rtp = await RealtimeTransportProtocol.bind()
    host, port = transport.get_extra_info("sockname")
    formats = [PCMU.media_format()]
    speaker = type("S", (only(PCMU), Speaker), {})(
        rtp=rtp, media=MediaDescription.for_formats(formats, port=port, address=host)
    )
    speaker.send_audio(sweep(0.5))
    await asyncio.wait_for(speaker.sent_event.wait(), 5)
    await asyncio.sleep(0.05)
    packets = [p for _, p in sink.packets]
    times = [t for t, _ in sink.packets]
    assert len(packets) == 25
    assert [p.marker for p in packets] == [True] + [False] * 24
    assert {p.ssrc for p in packets} == {speaker.ssrc}
    assert all(
        (b.sequence_number - a.sequence_number) % 65536 == 1 for a, b in itertools.pairwise(packets)
    )
    assert all((b.timestamp - a.timestamp) % 2**32 == 160 for a, b in itertools.pairwise(packets))
    assert all(p.payload_type == 0 and len(p.payload) == 160 for p in packets)
    # Paced, not sent in a burst: 25 packets of 20 ms span about 480 ms.
    assert times[-1] - times[0] >= 0.4

    # A second talkspurt: marker set again, timestamp advanced by the silence in between.
    speaker.sent_event.clear()
    await asyncio.sleep(0.2)
    speaker.send_audio(sweep(0.1))
    await asyncio.wait_for(speaker.sent_event.wait(), 5)
    await asyncio.sleep(0.05)
    second = [p for _, p in sink.packets[25:]]
    assert second[0].marker and not any(p.marker for p in second[1:])
    gap = (second[0].timestamp - packets[-1].timestamp) % 2**32
    assert gap >= 160 * 10  # at least the 200 ms we waited
    assert speaker.sent_count == 2
    transport.close()
    rtp.close()


async def test_cancel_outbound_audio_stops_within_one_packet():
    transport, sink = await open_sink()
    rtp = await RealtimeTransportProtocol.bind()
    host, port = transport.get_extra_info("sockname")
    speaker = type("S", (only(PCMU), Speaker), {})(
        rtp=rtp, media=MediaDescription.for_formats([PCMU.media_format()], port=port, address=host)
    )
    speaker.send_audio(sweep(2.0))
    await asyncio.sleep(0.2)
    assert speaker.sending
    speaker.cancel_outbound_audio()
    count = len(sink.packets)
    await asyncio.sleep(0.1)
    assert len(sink.packets) <= count + 1
    assert not speaker.sending
    assert speaker.sent_count == 0  # cancelled audio was not "sent"
    transport.close()
    rtp.close()


async def test_ipv6_loopback():
    try:
        left = await RealtimeTransportProtocol.bind("::1")
    except OSError as error:
        pytest.skip(f"no IPv6 loopback here: {error}")
    right = await RealtimeTransportProtocol.bind("::1")
    formats = [PCMA.media_format()]
    media = media_to(left, formats)
    assert media.connection is not None and media.connection.address_type == "IP6"
    listener = type("L", (only(PCMA), Collector), {})(rtp=right, media=media)
    speaker = type("S", (only(PCMA), Speaker), {})(rtp=left, media=media_to(right, formats))
    speaker.send_audio(sweep(0.4))
    await asyncio.wait_for(speaker.sent_event.wait(), 5)
    await asyncio.sleep(0.05)
    assert listener.packets_received == 20
    left.close()
    right.close()


async def test_negotiation_follows_remote_order_and_keeps_its_payload_type():
    rtp = await RealtimeTransportProtocol.bind()
    remote = [
        MediaFormat(payload_type=118, encoding_name="AMR", clock_rate=8000),
        MediaFormat(payload_type=8, encoding_name="PCMA", clock_rate=8000),
        MediaFormat(payload_type=0, encoding_name="PCMU", clock_rate=8000),
    ]
    media = MediaDescription.for_formats(remote, port=40000, address="127.0.0.1")
    call = type("C", (Collector,), {"supported_codecs": (PCMU, PCMA)})(rtp=rtp, media=media)
    assert isinstance(call.codec, PCMA) and call.codec.payload_type == 8
    call.close()

    g722_dynamic = MediaDescription.for_formats(
        [MediaFormat(payload_type=109, encoding_name="g722", clock_rate=8000)],
        port=40002,
        address="127.0.0.1",
    )
    call = type("C", (Collector,), {"supported_codecs": (PCMU, G722)})(rtp=rtp, media=g722_dynamic)
    assert isinstance(call.codec, G722) and call.codec.payload_type == 109
    call.close()

    with pytest.raises(NegotiationError, match="AMR/8000") as raised:
        type("C", (Collector,), {"supported_codecs": (G722,)})(
            rtp=rtp, media=MediaDescription.for_formats(remote[:1], port=40004, address="127.0.0.1")
        )
    assert raised.value.status_code == 488
    rtp.close()


async def test_bad_datagrams_are_counted_not_raised(caplog):
    rtp = await RealtimeTransportProtocol.bind()
    host, port = rtp.local_address
    transport, _ = await open_sink()
    peer = transport.get_extra_info("sockname")
    call = type("C", (only(PCMU), Collector), {})(
        rtp=rtp,
        media=MediaDescription.for_formats([PCMU.media_format()], port=peer[1], address=peer[0]),
    )
    good = RTPPacket(payload_type=0, sequence_number=1, timestamp=0, ssrc=5, payload=b"\xff" * 160)
    foreign = RTPPacket(
        payload_type=101, sequence_number=2, timestamp=0, ssrc=5, payload=b"\x01\x00\x00\xa0"
    )
    with caplog.at_level(logging.INFO):
        for datagram in [
            b"\x00" * 5,
            b"\x80" * 11,
            b"\x40" + b"\x00" * 20,
            foreign.serialize(),
            good.serialize(),
        ]:
            transport.sendto(datagram, (host, port))
        stranger, _ = await open_sink()
        stranger.sendto(good.serialize(), (host, port))
        await asyncio.sleep(0.1)
    assert rtp.malformed_packets == 3
    assert rtp.unknown_source_packets == 1
    assert call.foreign_payload_packets == 1
    assert call.packets_received == 2
    assert "malformed RTP" in caplog.text and "unknown source" in caplog.text
    for endpoint in (transport, stranger):
        endpoint.close()
    rtp.close()


async def test_sdp_formats_come_from_the_plugin_manager_in_priority_order():
    formats = AudioCall.sdp_formats()
    names = [f.encoding_name for f in formats]
    assert names[-1] == "telephone-event"
    assert names.index("G722") < names.index("PCMU") < names.index("PCMA")
    dynamic = [f.payload_type for f in formats if f.encoding_name not in {"PCMU", "PCMA", "G722"}]
    assert all(pt is not None and 96 <= pt <= 127 for pt in dynamic)
    assert len(set(f.payload_type for f in formats)) == len(formats)


# Voice activity ---------------------------------------------------------------------------


@dataclasses.dataclass(kw_only=True, eq=False)
class Utterances(VoiceActivityCall):
    def __post_init__(self):
        super().__post_init__()
        self.utterances = []
        self.starts = 0

    def voice_started(self):
        self.starts += 1

    def voice_received(self, audio):
        self.utterances.append(audio)


def feed(call: VoiceActivityCall, audio: np.ndarray) -> None:
    for start in range(0, len(audio), call.frame_size):
        frame = audio[start : start + call.frame_size]
        call.audio_received(audio=frame, rms=call.rms(frame))


async def test_voice_activity_cuts_utterances():
    rtp = await RealtimeTransportProtocol.bind()
    media = MediaDescription.for_formats([PCMU.media_format()], port=40010, address="127.0.0.1")
    call = Utterances(rtp=rtp, media=media, silence_gap=0.3, pre_roll=0.04)
    silence = np.zeros(RATE, np.float32)
    speech = sweep(0.6)
    feed(call, np.concatenate([silence, speech, silence, sweep(0.4), silence]))
    assert call.starts == 2
    assert [round(len(u) / RATE, 2) for u in call.utterances] == [
        0.64,
        0.44,
    ]  # speech plus 40 ms pre-roll
    # Trailing silence is cut; pre-roll is the silence just before the onset.
    assert np.allclose(call.utterances[0][640:], speech)
    call.close()
    rtp.close()


async def test_voice_activity_ignores_noise_and_blips():
    rtp = await RealtimeTransportProtocol.bind()
    media = MediaDescription.for_formats([PCMU.media_format()], port=40012, address="127.0.0.1")
    call = Utterances(rtp=rtp, media=media, silence_gap=0.2)
    noise = (np.random.default_rng(1).standard_normal(RATE) * 0.003).astype(np.float32)
    blip = np.concatenate(
        [np.zeros(RATE // 2, np.float32), sweep(0.02), np.zeros(RATE // 2, np.float32)]
    )
    feed(call, np.concatenate([noise, blip]))
    assert call.utterances == []
    assert call.starts == 1  # the blip started something, too short to deliver
    call.close()
    rtp.close()


async def test_echo_call_sends_utterances_back():
    client_rtp = await RealtimeTransportProtocol.bind()
    server_rtp = await RealtimeTransportProtocol.bind()
    formats = [G722.media_format()]
    echo = type("E", (only(G722), EchoCall), {})(
        rtp=server_rtp, media=media_to(client_rtp, formats), silence_gap=0.2
    )
    client = type("C", (only(G722), Collector), {})(
        rtp=client_rtp, media=media_to(server_rtp, formats)
    )
    utterance = sweep(0.5)
    client.send_audio(np.concatenate([utterance, np.zeros(RATE // 2, np.float32)]))
    for _ in range(100):
        await asyncio.sleep(0.05)
        if echo.packets_sent >= 25 and not echo.sending:
            break
    await asyncio.sleep(0.1)
    heard = np.concatenate([*client.heard, client._inbound.flush()])
    assert echo.packets_sent >= 25
    _, correlation = best_lag(utterance, heard, max_lag=len(heard) - len(utterance))
    assert correlation > 0.95
    echo.close()
    client.close()
    client_rtp.close()
    server_rtp.close()
