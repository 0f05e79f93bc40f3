"""The plugin system: entry points, a third-party codec, overrides, broken plugins, the CLI."""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from readme_blocks import named

from voip_core import AudioCall, PluginError, RealtimeTransportProtocol, plugins
from voip_core.backends import STTBackend
from voip_core.cli import main
from voip_core.codecs import G722, PCMA, PCMU
from voip_core.sdp import MediaDescription, SessionDescription, create_answer, create_offer


def install_fake_distribution(
    root: Path, distribution: str, module: str, source: str, entry: str
) -> None:
    """A distribution as pip installs it: the module, and a dist-info with entry_points.txt."""
    (root / f"{module}.py").write_text(source)
    info = root / f"{distribution.replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[voip]\n{entry} = {module}\n")


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A site directory on sys.path, and a fresh plugin manager before and after."""
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    plugins.reset_plugin_manager()
    yield tmp_path
    for name in ("voip_l16", "voip_broken"):
        sys.modules.pop(name, None)
    plugins.reset_plugin_manager()


@pytest.fixture
def l16_installed(site):
    install_fake_distribution(site, "voip-l16", "voip_l16", named("voip_l16.py"), "l16")
    return site


def test_builtins_and_opus_come_through_the_same_hook():
    plugins.reset_plugin_manager()
    manager = plugins.get_plugin_manager()
    assert manager.get_plugin("voip-core") is not None
    found = plugins.codecs()
    names = [codec.encoding_name for codec in found]
    assert names[:4] == ["opus", "G722", "PCMU", "PCMA"]
    assert {PCMU, PCMA, G722} <= set(found)
    assert plugins.plugin_distributions()["opus"][0] == "voip-opus"
    assert plugins.apps()["echo"].__name__ == "EchoCall"


def test_entry_points_are_loaded_once_lazily():
    plugins.reset_plugin_manager()
    first = plugins.get_plugin_manager()
    assert plugins.get_plugin_manager() is first
    assert sorted(name for name, _ in first.list_name_plugin()) == sorted(
        ["voip-core", "opus", "whisper", "agent"]
    )


def test_third_party_codec_is_discovered_offered_and_negotiated(l16_installed):
    codecs = plugins.codecs()
    l16 = next(codec for codec in codecs if codec.encoding_name == "L16")
    assert l16.__module__ == "voip_l16"
    assert plugins.plugin_distributions()["l16"] == ("voip-l16", "0.1")

    offered = AudioCall.sdp_formats()
    l16_format = next(f for f in offered if f.encoding_name == "L16")
    assert l16_format.payload_type is not None and l16_format.payload_type >= 96
    offer = create_offer(offered, address="127.0.0.1", port=4000, session_id=1)
    text = offer.serialize().decode()
    assert f"a=rtpmap:{l16_format.payload_type} L16/16000\r\n" in text

    # A peer that offers L16 first (with its own payload type number) gets L16 in the answer.
    peer_offer = SessionDescription.parse(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        "m=audio 4002 RTP/AVP 112 0\r\na=rtpmap:112 L16/16000\r\n"
    )
    answer = create_answer(peer_offer, offered, address="127.0.0.1", port=4004, session_id=2)
    assert answer.media[0].formats[0] == "112"
    assert answer.media[0].media_formats[0].encoding_name == "L16"


async def test_third_party_codec_carries_audio_over_rtp(l16_installed):
    l16 = next(codec for codec in plugins.codecs() if codec.encoding_name == "L16")

    @dataclasses.dataclass(kw_only=True, eq=False)
    class Collector(AudioCall):
        # Packets decoded as they come: a jitter buffer on a loaded machine
        # may conceal a slot whose packet is late, which is not the codec's doing.
        use_jitter_buffer = False

        def __post_init__(self):
            super().__post_init__()
            self.heard = []

        def audio_received(self, *, audio, rms):
            self.heard.append(audio)

    left = await RealtimeTransportProtocol.bind()
    right = await RealtimeTransportProtocol.bind()

    def media_to(endpoint):
        host, port = endpoint.local_address
        return MediaDescription.for_formats([l16.media_format(97)], port=port, address=host)

    listener = Collector(rtp=right, media=media_to(left))
    speaker = AudioCall(rtp=left, media=media_to(right))
    assert type(speaker.codec) is l16 and speaker.codec.payload_type == 97
    audio = (0.25 * np.sin(2 * np.pi * 300 * np.arange(8000) / 16000)).astype(np.float32)
    speaker.send_audio(audio)
    for _ in range(60):
        await asyncio.sleep(0.02)
        if sum(map(len, listener.heard)) >= len(audio):
            break
    heard = np.concatenate(listener.heard)
    assert len(heard) == len(audio)  # same rate: no resampler in the way
    assert np.max(np.abs(heard - audio)) <= 1 / 32768  # lossless up to int16 rounding
    left.close()
    right.close()


def test_tryfirst_hookimpl_overrides_the_default_backend():
    plugins.reset_plugin_manager()
    default = plugins.stt_backend("whisper", model="tiny")
    assert type(default).__name__ == "WhisperSTT"
    assert default.model == "tiny"
    try:
        namespace: dict[str, object] = {}
        exec(compile(named("override.py"), "README.md:override.py", "exec"), namespace)

        # A plain hookimpl registered after it would be called first; tryfirst still wins.
        class LaterDefault:
            @plugins.hookimpl
            def voip_stt(self, name, options):
                return "later" if name == "whisper" else None

        plugins.get_plugin_manager().register(LaterDefault(), name="later-default")
        stt = plugins.stt_backend("whisper")
        assert type(stt).__name__ == "CannedSTT"
        assert isinstance(stt, STTBackend)
        assert asyncio.run(stt.transcribe(np.zeros(160, np.float32), 8000)) == "hello from the test"
        # Other names still reach their plugins.
        assert type(plugins.tts_backend("espeak")).__name__ == "EspeakTTS"
    finally:
        plugins.reset_plugin_manager()
    assert type(plugins.stt_backend("whisper")).__name__ == "WhisperSTT"


def test_unknown_backend_is_a_clear_error():
    plugins.reset_plugin_manager()
    with pytest.raises(PluginError, match=r"no STT backend named 'nope' \(known: whisper\)"):
        plugins.stt_backend("nope")


def test_broken_plugin_is_reported_and_others_still_load(site, caplog, capsys):
    install_fake_distribution(
        site, "voip-broken", "voip_broken", "raise RuntimeError('boom: missing libfoo')\n", "broken"
    )
    install_fake_distribution(site, "voip-l16", "voip_l16", named("voip_l16.py"), "l16")
    with caplog.at_level(logging.ERROR, logger="voip_core.plugins"):
        found = plugins.codecs()
    assert {"L16", "opus", "PCMU"} <= {codec.encoding_name for codec in found}
    (failure,) = plugins.load_failures()
    assert failure.name == "broken" and failure.distribution == "voip-broken"
    assert isinstance(failure.error, RuntimeError)
    assert "plugin 'broken' (voip_broken from voip-broken) failed to load" in caplog.text
    assert "boom: missing libfoo" in caplog.text

    assert main(["plugins"]) == 1
    out = capsys.readouterr().out
    assert "broken       FAILED: plugin 'broken'" in out
    assert "L16" in out


def test_cli_lists_plugins_codecs_backends_apps(capsys):
    plugins.reset_plugin_manager()
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "opus         voip-opus 0.1.0" in out
    assert "PCMU       pt 0        clock  8000 Hz  audio  8000 Hz" in out
    assert "G722       pt 9        clock  8000 Hz  audio 16000 Hz" in out
    assert "opus       pt dynamic  clock 48000 Hz  audio 48000 Hz  channels 2" in out
    assert "stt  whisper" in out and "tts  espeak" in out
    assert "echo         voip_core.audio.voice.EchoCall" in out
    assert "record       voip_core.audio.apps.RecordCall" in out


def test_a_hook_that_raises_when_called_spares_the_others(site, caplog):
    install_fake_distribution(
        site,
        "voip-flaky",
        "voip_flaky",
        "from voip_core.plugins import hookimpl\n\n"
        "@hookimpl\ndef voip_codecs():\n    raise RuntimeError('codec table missing')\n\n"
        "@hookimpl\ndef voip_backends():\n    raise RuntimeError('no backends either')\n",
        "flaky",
    )
    with caplog.at_level(logging.ERROR, logger="voip_core.plugins"):
        names = {codec.encoding_name for codec in plugins.codecs()}
    assert {"PCMU", "PCMA", "G722", "opus"} <= names
    assert "codec table missing" in caplog.text
    with pytest.raises(PluginError, match="no STT backend named 'nope'"):
        plugins.stt_backend("nope")
    failed = {(f.name, f.value) for f in plugins.load_failures()}
    assert {("flaky", "voip_codecs()"), ("flaky", "voip_backends()")} <= failed
    sys.modules.pop("voip_flaky", None)


def test_a_plugin_using_the_manager_at_import_fails_alone(site):
    install_fake_distribution(
        site,
        "voip-eager",
        "voip_eager",
        "from voip_core import plugins\nCODECS = plugins.codecs()\n",
        "eager",
    )
    names = {codec.encoding_name for codec in plugins.codecs()}  # no hang, no recursion
    assert "PCMU" in names
    (failure,) = [f for f in plugins.load_failures() if f.name == "eager"]
    assert "while plugins were loading" in str(failure.error)
    sys.modules.pop("voip_eager", None)


def test_a_backend_that_raises_while_being_made_is_a_plugin_error():
    plugins.reset_plugin_manager()

    class Broken:
        @plugins.hookimpl
        def voip_tts(self, name, options):
            raise OSError("sound card on fire")

    plugins.get_plugin_manager().register(Broken())
    try:
        with pytest.raises(PluginError, match="making the TTS backend 'espeak' failed: OSError"):
            plugins.tts_backend("espeak")
    finally:
        plugins.reset_plugin_manager()


def test_importing_the_media_classes_loads_no_plugin():
    code = (
        "import sys\nimport voip_core.audio\nfrom voip_core import plugins\n"
        "print(plugins._manager is None, 'voip_opus' in sys.modules, 'opuslib' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.stdout.split() == ["True", "False", "False"], result.stderr
