"""Opus through opuslib and libopus: round trips, fmtp, DTX, PLC and FEC, bad input.

Settings are read back from libopus itself (``OPUS_GET_*`` ctls) rather than
from our own properties, so a broken opuslib setter cannot hide behind them.
"""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np
import opuslib
import opuslib.api.ctl
import opuslib.api.encoder
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from voip_opus import Opus

from voip_core import CodecError
from voip_core.codecs import FrameDecoder, FrameEncoder, frames
from voip_core.sdp.negotiation import MediaFormat

RTP_CLOCK = 48000
REMOTE = MediaFormat.from_rtpmap("111 opus/48000/2", fmtp="useinbandfec=1")
OPUS_APPLICATION_VOIP = 2048


def speech_band_sweep(rate: int, seconds: float = 1.0) -> np.ndarray:
    """A linear chirp from 200 Hz to 3.4 kHz (the telephone band), 0.4 full scale."""
    t = np.arange(round(seconds * rate)) / rate
    start, end = 200.0, 3400.0
    phase = 2 * np.pi * (start * t + (end - start) * t**2 / (2 * seconds))
    return (0.4 * np.sin(phase)).astype(np.float32)


def encode_all(encoder: FrameEncoder, audio: np.ndarray, samples_per_frame: int) -> list[bytes]:
    return [encoder.encode(frame) for frame in frames(audio, samples_per_frame)]


def codec_delay(decoded: np.ndarray, original: np.ndarray, max_lag: int) -> int:
    """Lag of ``decoded`` behind ``original``, by cross-correlation."""
    span = len(original) // 2
    scores = [float(np.dot(decoded[lag : lag + span], original[:span])) for lag in range(max_lag)]
    return int(np.argmax(scores))


def libopus_setting(encoder: FrameEncoder, getter: Any) -> int:
    """An encoder setting as libopus reports it (``OPUS_GET_*`` ctl)."""
    state = encoder._state.encoder_state  # type: ignore[attr-defined]
    value: int = opuslib.api.encoder.encoder_ctl(state, getter)
    return value


def samples_at_rtp_clock(packet: bytes) -> int:
    """A packet's duration in 48 kHz samples, read by ``opus_packet_get_nb_samples``."""
    count: int = opuslib.api.libopus.opus_packet_get_nb_samples(
        ctypes.c_char_p(packet), ctypes.c_int32(len(packet)), ctypes.c_int32(RTP_CLOCK)
    )
    return count


def exception_chain_prints(error: BaseException) -> bool:
    """Whether ``str()`` works on the error and on everything chained to it."""
    current: BaseException | None = error
    while current is not None:
        str(current)
        current = current.__cause__ or current.__context__
    return True


# Round trips --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("preferred_rate", "samples_per_frame"), [(None, 960), (48000, 960), (16000, 320)]
)
def test_round_trip_of_a_speech_band_sweep(
    preferred_rate: int | None, samples_per_frame: int
) -> None:
    codec = Opus.from_media_format(REMOTE, preferred_sample_rate=preferred_rate)
    rate = preferred_rate or 48000
    assert isinstance(codec, Opus)
    assert (codec.sample_rate, codec.samples_per_frame) == (rate, samples_per_frame)
    assert (codec.clock_rate, codec.timestamp_increment) == (48000, 960)  # [RFC 7587 §4.1]
    assert codec.payload_type == 111

    encoder, decoder = codec.create_encoder(), codec.create_decoder()
    assert libopus_setting(encoder, opuslib.api.ctl.get_sample_rate) == rate  # native, no resampler
    audio = speech_band_sweep(rate)
    packets = encode_all(encoder, audio, samples_per_frame)
    assert len(packets) == 50
    # The RTP timestamp steps by the packet's duration on the 48 kHz clock,
    # whatever rate the audio was encoded at.
    assert {samples_at_rtp_clock(packet) for packet in packets} == {960}

    pieces = [decoder.decode(packet) for packet in packets]
    assert all(piece.dtype == np.float32 for piece in pieces)
    assert {len(piece) for piece in pieces} == {samples_per_frame}
    decoded = np.concatenate(pieces)

    delay = codec_delay(decoded, audio, samples_per_frame)
    lookahead = libopus_setting(encoder, opuslib.api.ctl.get_lookahead)  # 312 @48k, 104 @16k
    assert abs(delay - lookahead) <= rate // 6000  # measured 309 and 104
    correlation = np.corrcoef(decoded[delay:], audio[: len(audio) - delay])[0, 1]
    assert correlation > 0.95  # measured 0.984 (48 kHz) and 0.994 (16 kHz)


def test_a_16_khz_encoder_talks_to_a_48_khz_decoder() -> None:
    narrow = Opus(payload_type=111, sample_rate=16000)
    wide = Opus(payload_type=111)
    packets = encode_all(narrow.create_encoder(), speech_band_sweep(16000), 320)
    decoder = wide.create_decoder()
    assert {len(decoder.decode(packet)) for packet in packets} == {960}


# fmtp -> encoder settings [RFC 7587 §6.1] -----------------------------------------------------


@pytest.mark.parametrize(
    ("fmtp", "fec", "dtx", "bitrate", "loss"),
    [
        ("useinbandfec=1; usedtx=1; maxaveragebitrate=20000", 1, 1, 20000, 10),
        ("useinbandfec=0", 0, 0, 32000, 0),
        ("usedtx=1", 0, 1, 32000, 0),
        ("useinbandfec=1", 1, 0, 32000, 10),
        ("maxaveragebitrate=1000", 0, 0, 6000, 0),  # clamped to 6..510 kbit/s
        ("maxaveragebitrate=999999", 0, 0, 510000, 0),
        ("maxaveragebitrate=lots", 0, 0, 32000, 0),
        ("USEINBANDFEC=1;USEDTX=1", 1, 1, 32000, 10),  # names are case-insensitive
        ("useinbandfec=true; usedtx=yes", 0, 0, 32000, 0),  # only "1" turns them on
        (None, 0, 0, 32000, 0),  # no fmtp from the remote: RFC 7587 defaults, not our offer's
    ],
)
def test_remote_fmtp_reaches_libopus(
    fmtp: str | None, fec: int, dtx: int, bitrate: int, loss: int
) -> None:
    codec = Opus.from_media_format(MediaFormat.from_rtpmap("111 opus/48000/2", fmtp=fmtp))
    assert isinstance(codec, Opus)
    assert (codec.inband_fec, codec.dtx, codec.bitrate) == (bool(fec), bool(dtx), bitrate)
    encoder = codec.create_encoder()
    ctl = opuslib.api.ctl
    assert libopus_setting(encoder, ctl.get_inband_fec) == fec
    assert libopus_setting(encoder, ctl.get_dtx) == dtx
    # libopus 1.3 caps a mono encoder at 300 kbit/s, below RFC 7587's 510.
    assert libopus_setting(encoder, ctl.get_bitrate) == min(bitrate, 300000)
    assert libopus_setting(encoder, ctl.get_packet_loss_perc) == loss
    assert libopus_setting(encoder, ctl.get_application) == OPUS_APPLICATION_VOIP
    assert libopus_setting(encoder, ctl.get_complexity) == Opus.complexity == 5
    assert libopus_setting(encoder, ctl.get_max_bandwidth) == opuslib.BANDWIDTH_FULLBAND


@pytest.mark.parametrize(
    ("fmtp", "rate", "hertz", "constant"),
    [
        ("maxplaybackrate=8000", 48000, 4000, "BANDWIDTH_NARROWBAND"),
        ("maxplaybackrate=16000", 48000, 8000, "BANDWIDTH_WIDEBAND"),
        ("maxplaybackrate=24000", 48000, 12000, "BANDWIDTH_SUPERWIDEBAND"),
        (None, 16000, 8000, "BANDWIDTH_WIDEBAND"),  # a 16 kHz encoder cannot go wider
        ("maxplaybackrate=junk", 48000, 20000, "BANDWIDTH_FULLBAND"),
    ],
)
def test_maxplaybackrate_limits_the_encoded_band(
    fmtp: str | None, rate: int, hertz: int, constant: str
) -> None:
    codec = Opus(payload_type=111, fmtp=fmtp or "", sample_rate=rate)
    assert codec.max_audio_bandwidth == hertz
    encoder = codec.create_encoder()
    assert libopus_setting(encoder, opuslib.api.ctl.get_max_bandwidth) == getattr(opuslib, constant)


def test_maxaveragebitrate_caps_the_real_bitrate() -> None:
    def bits_per_second(fmtp: str) -> float:
        codec = Opus(payload_type=111, fmtp=fmtp)
        packets = encode_all(codec.create_encoder(), speech_band_sweep(48000), 960)
        return sum(len(packet) for packet in packets) * 8 / 1.0

    capped = bits_per_second("useinbandfec=1; usedtx=1; maxaveragebitrate=20000")
    assert 17000 < capped < 23000  # measured 19920
    assert capped < bits_per_second("useinbandfec=1")  # 32 kbit/s default: measured 35784


@pytest.mark.parametrize("fmtp", ["usedtx=1", "useinbandfec=1; usedtx=1; maxaveragebitrate=20000"])
@pytest.mark.parametrize("lead_in_seconds", [0.3, 1.0])
def test_dtx_sends_nothing_in_silence(fmtp: str, lead_in_seconds: float) -> None:
    codec = Opus(payload_type=111, fmtp=fmtp)
    encoder, decoder = codec.create_encoder(), codec.create_decoder()
    encode_all(encoder, speech_band_sweep(48000, lead_in_seconds), 960)
    silence = np.zeros(960, np.float32)
    sizes = [len(encoder.encode(silence)) for _ in range(100)]
    # libopus 1.3.1: 200 ms of silence before DTX starts, then 1-byte packets
    # (the TOC byte alone) with a comfort-noise update every 400 ms. The TOC-only
    # packets need not be sent [RFC 7587 §3.1.3]: the encoder returns b"" for
    # them, which AudioCall does not send. Measured: 10 full frames, then 86 of
    # 90 frames give nothing to send.
    assert min(sizes[:5]) > 2
    settled = sizes[20:]
    assert settled.count(0) >= 0.9 * len(settled)
    assert all(size == 0 or size > 2 for size in sizes)
    # The receiver conceals what was not sent: a whole frame of (near) silence.
    concealed = decoder.conceal()
    assert len(concealed) == 960
    assert float(np.max(np.abs(concealed))) < 0.01


@pytest.mark.parametrize("lead_in_seconds", [0.3, 1.0])
def test_without_dtx_digital_silence_is_still_sent(lead_in_seconds: float) -> None:
    codec = Opus(payload_type=111, fmtp="usedtx=0")
    encoder = codec.create_encoder()
    encode_all(encoder, speech_band_sweep(48000, lead_in_seconds), 960)
    sizes = [len(encoder.encode(np.zeros(960, np.float32))) for _ in range(100)]
    # No TOC-only packets. What a silent frame costs depends on the mode the
    # encoder is left in: 35 bytes in hybrid mode (after the 0.3 s sweep),
    # 3 bytes in CELT mode (after the 1 s one, which ends above SILK's band).
    assert min(sizes[20:]) >= 3


# Packet loss: PLC and FEC [RFC 6716 §2.1.7] ----------------------------------------------------


def _decoder_after(codec: Opus, packets: list[bytes], count: int) -> FrameDecoder:
    decoder = codec.create_decoder()
    for packet in packets[:count]:
        decoder.decode(packet)
    return decoder


@pytest.mark.parametrize("rate", [48000, 16000])
def test_plc_continues_voiced_audio(rate: int) -> None:
    codec = Opus(payload_type=111, sample_rate=rate)
    audio = speech_band_sweep(rate)
    packets = encode_all(codec.create_encoder(), audio, codec.samples_per_frame)
    decoder = _decoder_after(codec, packets, 20)
    concealed = decoder.conceal()
    assert concealed.dtype == np.float32
    assert len(concealed) == codec.samples_per_frame
    rms = float(np.sqrt(np.mean(concealed**2)))
    assert rms > 0.05  # the sweep's RMS is 0.28; silence would be 0
    # The decoder goes on after the gap.
    assert len(decoder.decode(packets[21])) == codec.samples_per_frame


@pytest.mark.parametrize("rate", [48000, 16000])
def test_fec_recovers_a_lost_frame_better_than_plc(rate: int) -> None:
    codec = Opus(payload_type=111, fmtp="useinbandfec=1", sample_rate=rate)
    samples = codec.samples_per_frame
    audio = speech_band_sweep(rate)
    packets = encode_all(codec.create_encoder(), audio, samples)
    lossless = codec.create_decoder()
    delay = codec_delay(np.concatenate([lossless.decode(p) for p in packets]), audio, samples)

    fec_error = plc_error = 0.0
    for lost in range(5, 48, 3):
        # The original audio that decoded frame ``lost`` stands for.
        original = audio[lost * samples - delay : (lost + 1) * samples - delay]
        with_plc = _decoder_after(codec, packets, lost).conceal()
        with_fec = _decoder_after(codec, packets, lost).conceal(next_payload=packets[lost + 1])
        assert len(with_fec) == samples
        fec_error += float(np.sum((with_fec - original) ** 2))
        plc_error += float(np.sum((with_plc - original) ** 2))
    # Measured: FEC 31.4 against PLC 1130 at 48 kHz (0.028), 2.8 against 376 at 16 kHz.
    assert fec_error < 0.1 * plc_error


def test_without_fec_in_the_stream_conceal_with_next_payload_is_plain_plc() -> None:
    codec = Opus(payload_type=111, fmtp="useinbandfec=0")
    packets = encode_all(codec.create_encoder(), speech_band_sweep(48000), 960)
    with_plc = _decoder_after(codec, packets, 20).conceal()
    with_next = _decoder_after(codec, packets, 20).conceal(next_payload=packets[21])
    np.testing.assert_array_equal(with_next, with_plc)


def test_conceal_with_an_undecodable_next_payload_still_gives_a_frame() -> None:
    codec = Opus(payload_type=111)
    packets = encode_all(codec.create_encoder(), speech_band_sweep(48000), 960)
    concealed = _decoder_after(codec, packets, 20).conceal(next_payload=b"\x03")
    assert concealed.dtype == np.float32
    assert len(concealed) == 960


def test_decoder_has_fec() -> None:
    assert Opus(payload_type=111).create_decoder().has_fec is True


# Bad input ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        b"\x03",  # code 3 (frame count follows) cut after the TOC byte
        b"\xfb",  # code 3 again: CELT FB 20 ms
        b"\x01\x00",  # code 1 (two equal frames) with an odd number of bytes left
        b"\x02\x05",  # code 2: first frame says 5 bytes, none follow
        b"\x02\xff",  # code 2: a frame length byte that needs a second byte
    ],
)
def test_malformed_packets_raise_codec_error(payload: bytes) -> None:
    decoder = Opus(payload_type=111).create_decoder()
    with pytest.raises(CodecError, match="OPUS_INVALID_PACKET") as caught:
        decoder.decode(payload)
    assert exception_chain_prints(caught.value)


def test_truncated_packet_raises_codec_error() -> None:
    # A single-frame (code 0) packet cut short still decodes: the range decoder
    # reads zeros past the end [RFC 6716 §4.1]. Framing errors are detectable
    # only in multi-frame packets, so cut a 40 ms one (code 2: 2 x 20 ms of
    # different sizes) inside its first frame.
    codec = Opus(payload_type=111, frame_duration_ms=40)
    packets = encode_all(codec.create_encoder(), speech_band_sweep(48000), 1920)
    packet = packets[5]
    assert packet[0] & 0x03 == 2
    first_frame = packet[1]
    assert first_frame < 252  # one length byte [RFC 6716 §3.2.1]
    decoder = codec.create_decoder()
    with pytest.raises(CodecError):
        decoder.decode(packet[: 2 + first_frame // 2])
    assert len(decoder.decode(packet)) == 1920  # the whole packet is fine


def test_empty_payload_raises_codec_error() -> None:
    with pytest.raises(CodecError, match="empty"):
        Opus(payload_type=111).create_decoder().decode(b"")


def test_random_garbage_is_refused_or_decoded_never_crashes() -> None:
    decoder = Opus(payload_type=111).create_decoder()
    rng = np.random.default_rng(7)
    refused = 0
    for _ in range(500):
        payload = rng.bytes(int(rng.integers(1, 300)))
        try:
            pcm = decoder.decode(payload)
        except CodecError as error:
            refused += 1
            assert exception_chain_prints(error)
        else:
            assert pcm.dtype == np.float32
    # libopus accepts any byte string whose framing is consistent (about half
    # of random ones); the rest must come back as CodecError.
    assert 100 < refused < 400


@pytest.mark.parametrize("wrap", [bytearray, memoryview])
def test_decoder_takes_any_bytes_like_payload(wrap: Any) -> None:
    codec = Opus(payload_type=111)
    packet = codec.create_encoder().encode(speech_band_sweep(48000, 0.02))
    decoder = codec.create_decoder()
    assert len(decoder.decode(wrap(packet))) == 960
    assert len(decoder.conceal(next_payload=wrap(packet))) == 960


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=1500))
def test_decoding_random_bytes_raises_only_codec_error(payload: bytes) -> None:
    decoder = Opus(payload_type=111).create_decoder()
    try:
        pcm = decoder.decode(payload)
    except CodecError:
        return
    assert pcm.dtype == np.float32
    assert pcm.ndim == 1
    assert 0 < len(pcm) <= 5760  # at most 120 ms [RFC 6716 §3.2.1]
    assert len(pcm) % 120 == 0  # whole 2.5 ms frames


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=400))
def test_conceal_with_random_next_payload_always_gives_one_frame(payload: bytes) -> None:
    codec = Opus(payload_type=111, sample_rate=16000)
    concealed = codec.create_decoder().conceal(next_payload=payload)
    assert concealed.dtype == np.float32
    assert len(concealed) == 320


# Frame durations --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("duration_ms", "samples_per_frame"), [(5, 240), (10, 480), (20, 960), (40, 1920), (60, 2880)]
)
def test_other_frame_durations(duration_ms: int, samples_per_frame: int) -> None:
    codec = Opus(payload_type=111, frame_duration_ms=duration_ms)
    assert codec.samples_per_frame == samples_per_frame
    assert codec.timestamp_increment == samples_per_frame  # 48 kHz audio on a 48 kHz clock
    encoder, decoder = codec.create_encoder(), codec.create_decoder()
    audio = speech_band_sweep(48000, 0.24)
    packets = encode_all(encoder, audio, samples_per_frame)
    assert {samples_at_rtp_clock(packet) for packet in packets} == {samples_per_frame}
    decoded = np.concatenate([decoder.decode(packet) for packet in packets])
    assert len(decoded) == len(audio)
    assert len(decoder.conceal()) == samples_per_frame
    delay = codec_delay(decoded, audio, 480)
    assert np.corrcoef(decoded[delay:], audio[: len(audio) - delay])[0, 1] > 0.8


@pytest.mark.parametrize("duration_ms", [25, 30, 15, 2, 0, -20, 121])
def test_bad_frame_duration_is_refused_at_construction(duration_ms: int) -> None:
    with pytest.raises(CodecError, match="frame duration"):
        Opus(payload_type=111, frame_duration_ms=duration_ms)
    with pytest.raises(CodecError, match="frame duration"):
        Opus.from_media_format(REMOTE, frame_duration_ms=duration_ms)


@pytest.mark.parametrize("length", [0, 959, 961, 320])
def test_encoder_refuses_a_frame_of_the_wrong_length(length: int) -> None:
    encoder = Opus(payload_type=111).create_encoder()
    with pytest.raises(CodecError, match="960 samples"):
        encoder.encode(np.zeros(length, np.float32))


def test_encoder_refuses_two_dimensional_audio() -> None:
    encoder = Opus(payload_type=111).create_encoder()
    with pytest.raises(CodecError):
        encoder.encode(np.zeros((960, 1), np.float32))


def test_encoder_accepts_float64_and_survives_non_finite_samples() -> None:
    codec = Opus(payload_type=111)
    encoder, decoder = codec.create_encoder(), codec.create_decoder()
    assert len(decoder.decode(encoder.encode(np.zeros(960, np.float64)))) == 960  # type: ignore[arg-type]
    for value in (np.nan, np.inf):
        pcm = decoder.decode(encoder.encode(np.full(960, value, np.float32)))
        assert np.all(np.isfinite(pcm))
