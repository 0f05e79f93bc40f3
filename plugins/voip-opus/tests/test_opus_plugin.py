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
