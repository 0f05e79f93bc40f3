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


async def speaker_to_sink():
    """A PCMU Speaker on a fresh RTP endpoint, sending to a PacketSink."""
    transport, sink = await open_sink()
    rtp = await RealtimeTransportProtocol.bind()
    host, port = transport.get_extra_info("sockname")
    speaker = type("S", (only(PCMU), Speaker), {})(
        rtp=rtp, media=MediaDescription.for_formats([PCMU.media_format()], port=port, address=host)
    )
    return transport, sink, rtp, speaker


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
    transport, sink, rtp, speaker = await speaker_to_sink()
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
    transport, _, rtp, speaker = await speaker_to_sink()
    speaker.send_audio(sweep(2.0))
    await asyncio.sleep(0.2)
    assert speaker.sending
    speaker.cancel_outbound_audio()
    count = speaker.packets_sent
    await asyncio.sleep(0.1)
    assert speaker.packets_sent == count
    assert not speaker.sending
    assert speaker.sent_count == 0  # cancelled audio was not "sent"

    # A new talkspurt right after a barge-in keeps one packet time to the last packet.
    speaker.send_audio(sweep(0.1))
    await asyncio.wait_for(speaker.sent_event.wait(), 5)
    transport.close()
    rtp.close()


async def test_comfort_silence_keeps_one_steady_stream():
    transport, sink = await open_sink()
    rtp = await RealtimeTransportProtocol.bind()
    host, port = transport.get_extra_info("sockname")
    steady = type("S", (only(PCMU), Speaker), {"comfort_silence": True})(
        rtp=rtp, media=MediaDescription.for_formats([PCMU.media_format()], port=port, address=host)
    )
    await asyncio.sleep(0.2)  # nothing queued yet: silence flows from the start
    before = len(sink.packets)
    assert before >= 5 and not steady.sending
    steady.send_audio(sweep(0.2))
    await asyncio.wait_for(steady.sent_event.wait(), 5)
    assert steady.sent_count == 1  # on_audio_sent once the sweep has gone ...
    await asyncio.sleep(0.2)
    steady.cancel_outbound_audio()  # ... barge-in drops queued audio, not the stream
    await asyncio.sleep(0.2)
    steady.close()
    packets = [p for _, p in sink.packets]
    assert len(packets) >= before + 25
    assert [p.marker for p in packets].count(True) == 1  # one talkspurt, never interrupted
    assert all(
        (b.sequence_number - a.sequence_number) % 65536 == 1 for a, b in itertools.pairwise(packets)
    )
    stamps = [p.timestamp for p in packets]
    assert all((b - a) % 2**32 >= 160 for a, b in itertools.pairwise(stamps))
    silent = [p for p in packets if set(p.payload) == {0xFF}]  # µ-law silence
    assert len(silent) >= len(packets) - 12
    transport.close()
    rtp.close()


async def test_streamed_chunks_are_sent_like_one_piece():
    """A TTS or a bridge feeding 23 ms at a time in real time: no seams, nothing added."""
    left = await RealtimeTransportProtocol.bind()
    right = await RealtimeTransportProtocol.bind()
    formats = [PCMU.media_format()]
    listener = type("L", (only(PCMU), Collector), {})(rtp=right, media=media_to(left, formats))
    speaker = type("S", (only(PCMU), Speaker), {})(rtp=left, media=media_to(right, formats))
    audio = sweep(1.0)
    chunk = round(0.023 * RATE)
    for start in range(0, len(audio), chunk):
        speaker.send_audio(audio[start : start + chunk])
        await asyncio.sleep(0.023)
    await asyncio.wait_for(speaker.sent_event.wait(), 5)
    await asyncio.sleep(0.05)
    assert speaker.sent_count == 1  # one stream, ended once
    streamed = np.concatenate([*listener.heard, listener._inbound.flush()])
    streamed = streamed[listener._inbound.lead_in_samples :]  # the filter's look-ahead
    reference = (
        PCMU()
        .create_decoder()
        .decode(PCMU().create_encoder().encode(AudioCall.resample(audio, RATE, 8000)))
    )
    reference = AudioCall.resample(reference, 8000, RATE)
    n = min(len(streamed), len(reference))
    assert abs(len(streamed) - len(audio)) <= 160
    error = np.max(np.abs(streamed[:n] - reference[:n]))
    assert 20 * np.log10(error) < -30  # PCMU's own quantisation noise is about -36 dBFS
    left.close()
    right.close()


async def test_rtp_timestamp_wraps_around():
    transport, sink, rtp, speaker = await speaker_to_sink()
    speaker._timestamp = 2**32 - 400
    speaker._sequence_number = 65534
    speaker.send_audio(sweep(0.1))
    await asyncio.wait_for(speaker.sent_event.wait(), 5)
    speaker.sent_event.clear()
    await asyncio.sleep(0.1)
    speaker.send_audio(sweep(0.1))
    await asyncio.wait_for(speaker.sent_event.wait(), 5)
    await asyncio.sleep(0.05)
    packets = [p for _, p in sink.packets]
    assert len(packets) == 10
    assert [p.timestamp for p in packets[:5]] == [2**32 - 400, 2**32 - 240, 2**32 - 80, 80, 240]
    assert [p.sequence_number for p in packets[:3]] == [65534, 65535, 0]
    transport.close()
    rtp.close()


async def test_send_audio_checks_its_input_and_the_call_state():
    rtp = await RealtimeTransportProtocol.bind()
    media = MediaDescription.for_formats([PCMU.media_format()], port=40020, address="127.0.0.1")
    speaker = type("S", (only(PCMU), Speaker), {})(rtp=rtp, media=media)
    with pytest.raises(ValueError, match="1-D float audio"):
        speaker.send_audio(np.zeros((160, 2), np.float32))
    with pytest.raises(ValueError, match="int16"):
        speaker.send_audio(np.zeros(160, np.int16))
    speaker.close()
    speaker.send_audio(sweep(0.1))  # after close: dropped, nothing sent
    await asyncio.sleep(0.05)
    assert speaker.packets_sent == 0 and not speaker.sending
    rtp.close()


async def test_send_audio_from_another_thread():
    transport, sink, rtp, speaker = await speaker_to_sink()
    await asyncio.to_thread(speaker.send_audio, sweep(0.2))
    await asyncio.wait_for(speaker.sent_event.wait(), 5)
    await asyncio.sleep(0.05)
    assert len(sink.packets) == 10
    transport.close()
    rtp.close()


async def test_loss_is_concealed_and_duplicates_dropped():
    rtp = await RealtimeTransportProtocol.bind()
    transport, _ = await open_sink()
    peer = transport.get_extra_info("sockname")
    call = type("C", (only(PCMA), Collector), {})(
        rtp=rtp,
        media=MediaDescription.for_formats([PCMA.media_format()], port=peer[1], address=peer[0]),
        sampling_rate_hz=8000,
    )
    encoder = PCMA().create_encoder()
    tone = (0.3 * np.sin(2 * np.pi * 400 * np.arange(160) / 8000)).astype(np.float32)
    for sequence in [10, 11, None, 11, 14, 9, 15]:  # duplicate 11, lost 12-13, late 9
        if sequence is None:
            await asyncio.sleep(0.1)  # 10 and 11 are played out by now
            continue
        packet = RTPPacket(
            payload_type=8,
            sequence_number=sequence,
            timestamp=sequence * 160,
            ssrc=7,
            payload=encoder.encode(tone),
        )
        transport.sendto(packet.serialize(), rtp.local_address)
    await asyncio.sleep(0.2)
    assert call.late_or_duplicate_packets == 2
    assert call.concealed_frames == 2
    assert len(call.heard) == 6  # 10, 11, two concealed, 14, 15
    # Concealment continues the tone, fading out frame by frame.
    assert call.levels[1] > call.levels[2] > call.levels[3] > 0.05
    transport.close()
    rtp.close()


async def test_a_resampled_packet_is_heard_when_it_plays_not_a_packet_later():
    """PCMU heard at 16 kHz: each packet played out gives its own 20 ms frame at once."""
    rtp = await RealtimeTransportProtocol.bind()
    transport, _ = await open_sink()
    peer = transport.get_extra_info("sockname")
    call = type("C", (only(PCMU), Collector), {})(
        rtp=rtp,
        media=MediaDescription.for_formats([PCMU.media_format()], port=peer[1], address=peer[0]),
    )
    encoder = PCMU().create_encoder()
    tone = (0.3 * np.sin(2 * np.pi * 400 * np.arange(480) / 8000)).astype(np.float32)
    for number in range(3):
        packet = RTPPacket(
            payload_type=0,
            sequence_number=number,
            timestamp=number * 160,
            ssrc=7,
            payload=encoder.encode(tone[number * 160 : (number + 1) * 160]),
        )
        transport.sendto(packet.serialize(), rtp.local_address)
    for _ in range(100):
        await asyncio.sleep(0.01)
        if call.jitter_buffer is not None and call.jitter_buffer.stats.played == 3:
            break
    assert call.jitter_buffer is not None and call.jitter_buffer.stats.played == 3
    assert [len(frame) for frame in call.heard] == [320, 320, 320]  # not two: none waits
    assert call.levels[2] > 0.15  # the third packet's tone, not the filter's lead-in
    transport.close()
    rtp.close()


async def test_a_failed_negotiation_leaves_no_registration():
    rtp = await RealtimeTransportProtocol.bind()
    media = MediaDescription.for_formats(
        [MediaFormat(payload_type=18, encoding_name="G729", clock_rate=8000)],
        port=40030,
        address="127.0.0.1",
    )
    with pytest.raises(NegotiationError):
        type("C", (only(PCMU), Collector), {})(rtp=rtp, media=media)
    assert rtp.sessions == {}
    rtp.close()


async def test_closing_one_session_keeps_the_one_that_replaced_it(caplog):
    rtp = await RealtimeTransportProtocol.bind()
    media = MediaDescription.for_formats([PCMU.media_format()], port=40032, address="127.0.0.1")
    first = type("C", (only(PCMU), Collector), {})(rtp=rtp, media=media)
    with caplog.at_level(logging.INFO):
        second = type("C", (only(PCMU), Collector), {})(rtp=rtp, media=media)
    assert "now goes to" in caplog.text
    first.close()
    assert rtp.sessions[("127.0.0.1", 40032)] is second
    second.close()
    assert rtp.sessions == {}
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
    foreign = RTPPacket(  # not 101: that is telephone-event, which we offer
        payload_type=96, sequence_number=2, timestamp=0, ssrc=5, payload=b"\x01\x00\x00\xa0"
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
    assert rtp.malformed_packets == 2  # and the 5 zero octets: STUN by their first octet
    assert rtp.stun_dropped == 1
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
    call = Utterances(rtp=rtp, media=media, silence_gap=0.3, pre_roll=0.04, post_roll=0.04)
    silence = np.zeros(RATE, np.float32)
    speech = sweep(0.6)
    feed(call, np.concatenate([silence, speech, silence, sweep(0.4), silence]))
    assert call.starts == 2
    # speech, plus 40 ms of pre-roll before it and 40 ms of post-roll after it
    assert [round(len(u) / RATE, 2) for u in call.utterances] == [0.68, 0.48]
    assert np.allclose(call.utterances[0][640 : 640 + len(speech)], speech)
    assert not np.any(call.utterances[0][-640:])  # the post-roll is the silence after it
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


async def test_utterance_ends_when_the_remote_stops_sending():
    """DTX, silence suppression or hold: no packets at all after the speech."""
    left = await RealtimeTransportProtocol.bind()
    right = await RealtimeTransportProtocol.bind()
    formats = [PCMU.media_format()]
    listener = type("U", (only(PCMU), Utterances), {})(
        rtp=right, media=media_to(left, formats), silence_gap=0.3
    )
    speaker = type("S", (only(PCMU), Speaker), {})(rtp=left, media=media_to(right, formats))
    speech = sweep(0.6)
    speaker.send_audio(speech)  # and nothing after it
    await asyncio.wait_for(speaker.sent_event.wait(), 5)
    for _ in range(100):
        if listener.utterances:
            break
        await asyncio.sleep(0.02)
    (utterance,) = listener.utterances
    assert abs(len(utterance) - len(speech)) <= 2 * 320  # all of it, the resampler's tail too
    assert not listener.in_utterance
    left.close()
    right.close()


async def test_utterance_in_progress_is_delivered_at_close():
    rtp = await RealtimeTransportProtocol.bind()
    media = MediaDescription.for_formats([PCMU.media_format()], port=40014, address="127.0.0.1")
    call = Utterances(rtp=rtp, media=media)
    feed(call, sweep(0.3))
    assert call.in_utterance and call.utterances == []
    call.close()
    assert len(call.utterances) == 1
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


async def test_a_long_reply_is_resampled_as_it_is_sent():
    """send_audio returns at once; the audio is resampled a few packets ahead of sending."""
    transport, _, rtp, speaker = await speaker_to_sink()
    speaker.send_audio(sweep(10.0))
    assert speaker.outbound_queued == pytest.approx(10.0)
    await asyncio.sleep(0.3)
    # Only what the next packets need has gone through the resampler (8 kHz side).
    assert len(speaker._outbound.fifo) <= speaker.resample_ahead_packets * 160
    # What is queued is what was given less what went (the filter holds 2 ms).
    assert speaker.packets_sent > 0
    assert abs(speaker.outbound_queued - (10.0 - 0.02 * speaker.packets_sent)) < 0.005
    speaker.cancel_outbound_audio()
    assert speaker.outbound_queued == 0.0
    transport.close()
    rtp.close()


async def test_a_player_that_queues_more_when_told_keeps_one_stream():
    """on_audio_sent may queue the next piece (a loop, a playlist): no seam, no extra packet."""
    transport, sink, rtp, speaker = await speaker_to_sink()
    pieces = iter([sweep(0.1), sweep(0.1)])

    def next_piece():
        speaker.sent_count += 1
        piece = next(pieces, None)
        if piece is None:
            speaker.sent_event.set()
        else:
            speaker.send_audio(piece)

    speaker.on_audio_sent = next_piece
    speaker.send_audio(sweep(0.1))
    await asyncio.wait_for(speaker.sent_event.wait(), 5)
    await asyncio.sleep(0.05)
    packets = [p for _, p in sink.packets]
    assert len(packets) == 15  # three pieces of 5 packets
    assert all(
        (b.sequence_number - a.sequence_number) % 65536 == 1 for a, b in itertools.pairwise(packets)
    )
    # Each piece follows one packet time after the last packet of the one before
    # (two, when the loop was late to see the piece end: the stream notes the gap).
    steps = [(b.timestamp - a.timestamp) % 2**32 for a, b in itertools.pairwise(packets)]
    assert all(step in (160, 320) for step in steps)
    assert steps.count(160) >= 12  # within each piece, always one packet apart
    transport.close()
    rtp.close()


@pytest.mark.parametrize(("codec", "rate"), [(PCMU, 8000), (G722, 16000)])
async def test_echo_hears_and_speaks_at_the_codec_rate(codec, rate):
    rtp = await RealtimeTransportProtocol.bind()
    echo = type("E", (only(codec), EchoCall), {})(
        rtp=rtp, media=media_to(rtp, [codec.media_format()])
    )
    assert echo.sampling_rate_hz == rate
    assert echo.frame_size == rate // 50
    assert echo._inbound.passthrough and echo._outbound.passthrough
    echo.close()
    rtp.close()
