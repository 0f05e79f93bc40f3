"""voip-opus is found through its entry point, like any third-party plugin."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterator

import pytest
import voip_opus
from voip_opus import Opus

from voip_core import builtins, plugins
from voip_core.audio import AudioCall
from voip_core.sdp.negotiation import MediaFormat


@pytest.fixture(autouse=True)
def fresh_plugin_manager() -> Iterator[None]:
    """Load the entry points anew for each test, and leave no state behind."""
    plugins.reset_plugin_manager()
    yield
    plugins.reset_plugin_manager()


def test_entry_point_names_the_distribution() -> None:
    distribution, version = plugins.plugin_distributions()["opus"]
    assert distribution == "voip-opus"
    assert version == importlib.metadata.version("voip-opus")
    assert plugins.get_plugin_manager().get_plugin("opus") is voip_opus
    assert not [failure for failure in plugins.load_failures() if failure.name == "opus"]


def test_opus_comes_from_the_plugin_not_the_core() -> None:
    assert Opus not in builtins.voip_codecs()
    assert Opus in plugins.codecs()


def test_opus_is_first_in_priority() -> None:
    registered = plugins.codecs()
    assert registered[0] is Opus
    assert all(codec.priority < Opus.priority for codec in registered[1:])
    names = [codec.encoding_name for codec in registered]
    assert names[:2] == ["opus", "G722"]


def test_media_format_is_opus_48000_2() -> None:
    media_format = Opus.media_format()
    assert media_format.rtpmap_value == "opus/48000/2"  # always /2 [RFC 7587 §7]
    assert media_format.payload_type is None  # dynamic
    assert media_format.fmtp == "minptime=10;useinbandfec=1"


def test_audio_call_offers_opus_with_a_dynamic_payload_type() -> None:
    formats = AudioCall.sdp_formats()
    opus = [f for f in formats if f.encoding_name == "opus"]
    assert len(opus) == 1
    payload_type = opus[0].payload_type
    assert payload_type is not None
    assert 96 <= payload_type <= 127
    assert (opus[0].clock_rate, opus[0].channels) == (48000, 2)
    assert formats[0] is opus[0]  # offered first: highest priority
    numbers = [f.payload_type for f in formats]
    assert len(numbers) == len(set(numbers))


@pytest.mark.parametrize("rtpmap", ["111 opus/48000/2", "96 OPUS/48000/2"])
def test_matches_a_remote_offer(rtpmap: str) -> None:
    remote = MediaFormat.from_rtpmap(rtpmap, fmtp="useinbandfec=0")
    assert Opus.matches(remote)
    codec = Opus.from_media_format(remote)
    assert codec.payload_type == remote.payload_type
    assert isinstance(codec, Opus)
    assert not codec.inband_fec


@pytest.mark.parametrize("rtpmap", ["111 opus/48000", "111 opus/16000/2", "0 PCMU/8000"])
def test_does_not_match_other_formats(rtpmap: str) -> None:
    assert not Opus.matches(MediaFormat.from_rtpmap(rtpmap))


async def test_a_lost_packet_is_recovered_from_the_next_one_s_fec() -> None:
    """The jitter buffer hands the packet after a loss to Opus, whose in-band FEC restores it."""
    import asyncio

    import numpy as np

    from voip_core import RealtimeTransportProtocol
    from voip_core.rtp.packet import RTPPacket
    from voip_core.sdp import MediaDescription

    media_format = Opus.media_format(111)
    rtp = await RealtimeTransportProtocol.bind()
    media = MediaDescription.for_formats([media_format], port=9, address="127.0.0.1")

    class Listener(AudioCall):
        supported_codecs = (Opus,)

        def __post_init__(self) -> None:
            super().__post_init__()
            self.heard: list[np.ndarray] = []
            self.fec: list[bool] = []
            conceal = self._decoder.conceal

            def spy(next_payload: bytes | None = None) -> np.ndarray:
                self.fec.append(next_payload is not None)
                return conceal(next_payload)

            self._decoder.conceal = spy  # type: ignore[method-assign]

        def audio_received(self, *, audio: np.ndarray, rms: float) -> None:
            self.heard.append(audio)

    listener = Listener(rtp=rtp, media=media)
    sender = Opus.from_media_format(media_format, preferred_sample_rate=16000)
    encoder = sender.create_encoder()
    t = np.arange(16000) / 16000
    voice = (0.3 * np.sin(2 * np.pi * (200 * t + 200 * t**2))).astype(np.float32)
    frame = sender.samples_per_frame
    loop = asyncio.get_running_loop()
    start = loop.time()
    for index in range(len(voice) // frame):
        payload = encoder.encode(voice[index * frame : (index + 1) * frame])
        if index in (20, 31):  # lost on the way
            continue
        packet = RTPPacket(
            payload_type=111,
            sequence_number=index,
            timestamp=index * 960,
            ssrc=5,
            payload=payload,
        )
        await asyncio.sleep(max(0.0, start + 0.02 * index - loop.time()))
        listener.packet_received(packet)
    await asyncio.sleep(0.3)
    listener.close()
    rtp.close()
    assert listener.concealed_frames == 2
    assert listener.fec == [True, True]  # the next packet was there to recover from
    assert len(np.concatenate(listener.heard)) == pytest.approx(len(voice), abs=2 * frame)
