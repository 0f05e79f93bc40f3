"""Streaming resampling: 20 ms chunks join without clicks, and the FIFO hands out exact frames.

Both engines are covered: the polyphase FIR (the default for the ratios
telephony uses) and soxr (every other ratio, or on request). The FIR
engine's filter is measured on the streaming path with tones at exact FFT
bins: passband ripple, images of interpolation, aliases of decimation, and
the alignment of its output with its input.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voip_core.polyphase import PASSBAND_EDGE, STOPBAND_EDGE, PolyphaseStream, polyphase_design
from voip_core.resample import FrameFIFO, Resampler, fir_applies, resample

RATES = [
    (8000, 16000),
    (16000, 8000),
    (48000, 16000),
    (16000, 48000),
    (24000, 16000),
    (24000, 8000),
]
#: Every ratio telephony uses: the FIR engine's by default.
FIR_RATES = [
    (8000, 16000),
    (16000, 8000),
    (16000, 48000),
    (48000, 16000),
    (8000, 48000),
    (48000, 8000),
    (8000, 24000),
    (24000, 8000),
    (24000, 16000),
    (16000, 24000),
]
ENGINES = ["fir", "soxr"]


def sine(rate: int, seconds: float = 1.0, frequency: float = 440.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (0.5 * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def stream(resampler: Resampler, audio: np.ndarray, chunks: list[int]) -> np.ndarray:
    """Push ``audio`` cut at ``chunks`` (sizes, cycled), popping as we go; then flush."""
    pieces = [np.zeros(0, np.float32)]
    start = 0
    index = 0
    while start < len(audio):
        size = chunks[index % len(chunks)]
        resampler.push(audio[start : start + size])
        pieces.append(resampler.fifo.pop_all())
        start += size
        index += 1
    pieces.append(resampler.flush())
    return np.concatenate(pieces)


def dbfs(difference: np.ndarray) -> float:
    return 20 * math.log10(float(np.max(np.abs(difference), initial=0.0)) + 1e-15)


def lower_nyquist(source: int, target: int) -> float:
    return min(source, target) / 2


# Chunked equals one piece -----------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("source", "target"), RATES)
def test_chunked_equals_one_piece_below_minus_60_dbfs(source, target, engine):
    audio = sine(source)
    resampler = Resampler(source, target, engine=engine)
    assert resampler.engine == engine
    chunk = source // 50
    pieces = []
    for start in range(0, len(audio), chunk):
        resampler.push(audio[start : start + chunk])
        pieces.extend(resampler.pop_frames(target // 50))
    pieces.append(resampler.flush())
    streamed = np.concatenate(pieces)
    whole = resample(audio, source, target, engine=engine)  # the same engine, in one go
    assert len(streamed) == len(whole) == target
    assert dbfs(streamed - whole) < -60


@pytest.mark.parametrize(("source", "target"), RATES)
def test_fir_output_lines_up_with_soxr_output(source, target):
    # Both compensate their filter's delay: same signal, same place, same gain.
    audio = sine(source)
    fir = stream(Resampler(source, target, engine="fir"), audio, [source // 50])
    soxr = resample(audio, source, target, engine="soxr")
    assert len(fir) == len(soxr)
    assert dbfs(fir - soxr) < -60


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from(FIR_RATES),
    st.lists(st.integers(0, 1500), min_size=1, max_size=20).filter(any),
    st.integers(1, 12000),
)
def test_fir_any_chunking_equals_one_piece_below_minus_100_dbfs(rates, chunks, length):
    source, target = rates
    audio = np.random.default_rng(length).uniform(-0.9, 0.9, length).astype(np.float32)
    streamed = stream(Resampler(source, target, engine="fir"), audio, chunks)
    whole = resample(audio, source, target, engine="fir")
    # As many samples as soxr gives: length x ratio, rounded.
    assert len(streamed) == len(whole) == len(resample(audio, source, target, engine="soxr"))
    assert dbfs(streamed - whole) < -100


def test_fir_pushes_longer_than_its_buffer_equal_small_ones():
    audio = np.random.default_rng(7).uniform(-0.9, 0.9, 40000).astype(np.float32)
    whole = resample(audio, 16000, 48000, engine="fir")  # pushed in one go: cut inside
    assert len(whole) == 120000
    assert dbfs(stream(Resampler(16000, 48000), audio, [320]) - whole) < -100


@pytest.mark.parametrize(("source", "target"), [(16000, 8000), (48000, 16000), (24000, 16000)])
def test_fir_decimation_keeps_its_phase_across_odd_chunks(source, target):
    # Chunks that are no multiple of M: each output still comes from the right input.
    audio = sine(source, 0.5, 1000.0)
    odd = stream(Resampler(source, target), audio, [1, 7, 161, 2, 333])
    assert dbfs(odd - resample(audio, source, target, engine="fir")) < -100
    assert len(odd) == len(audio) * target // source


# The FIR filter, measured on the streaming path --------------------------------------------


def spectrum(audio: np.ndarray, rate: int) -> np.ndarray:
    """Complex rfft of one second from 0.25 s on: 1 Hz bins, away from the edges."""
    return np.fft.rfft(audio[rate // 4 : rate // 4 + rate].astype(np.float64))


def streamed_in_20_ms(source: int, target: int, audio: np.ndarray) -> np.ndarray:
    out = stream(Resampler(source, target), audio, [source // 50])
    assert len(out) == len(audio) * target // source
    return out


@pytest.mark.parametrize(("source", "target"), FIR_RATES)
def test_fir_passband_is_flat_within_0_1_db_and_in_phase(source, target):
    # Telephone band (300-3400 Hz) and on to 0.85 x the lower Nyquist, all at once.
    top = int(PASSBAND_EDGE * lower_nyquist(source, target))
    frequencies = np.arange(300, top + 1, 100)
    assert 3400 in frequencies
    rng = np.random.default_rng(1)
    t = np.arange(int(1.5 * source)) / source
    phases = rng.uniform(0, 2 * np.pi, len(frequencies))
    waves = np.sin(2 * np.pi * frequencies[:, None] * t + phases[:, None])
    audio = (0.02 * waves.sum(axis=0)).astype(np.float32)
    response = spectrum(streamed_in_20_ms(source, target, audio), target)[frequencies] / (
        spectrum(audio, source)[frequencies] * target / source
    )
    gain_db = 20 * np.log10(np.abs(response))
    assert gain_db.max() - gain_db.min() <= 0.1
    assert np.all(np.abs(gain_db) <= 0.05)
    # Zero phase: the group delay is compensated, output k is input time k / target.
    assert np.all(np.abs(np.angle(response)) < 1e-3)


def spurious_db(source: int, target: int, frequency: int) -> float:
    """Power of everything but ``frequency`` in the output, dB relative to the input tone."""
    out = spectrum(streamed_in_20_ms(source, target, sine(source, 1.5, frequency)), target)
    power = np.abs(out) ** 2
    tone = (0.5 * target / 2) ** 2  # a 0.5-amplitude sine's bin in a 1 s rfft
    if frequency < target / 2:
        power[frequency] = 0.0
    return 10 * math.log10(float(power.sum()) / tone + 1e-30)


@pytest.mark.parametrize(("source", "target"), FIR_RATES)
def test_fir_images_and_aliases_are_60_db_down(source, target):
    nyquist = lower_nyquist(source, target)
    # In the passband: the tone passes, its images are stopped (first image: source - f).
    for fraction in (0.75, PASSBAND_EDGE):
        assert spurious_db(source, target, round(fraction * nyquist)) < -60
    # In the stopband (where the input has room for it): nothing passes, nothing aliases.
    for fraction in (STOPBAND_EDGE + 0.05, 1.25):
        frequency = round(fraction * nyquist)
        if frequency < source / 2:
            assert spurious_db(source, target, frequency) < -60


def test_8k_to_16k_image_of_3_khz_at_5_khz_and_16k_to_8k_alias_of_5_khz():
    up = spectrum(streamed_in_20_ms(8000, 16000, sine(8000, 1.5, 3000)), 16000)
    assert 20 * math.log10(abs(up[5000]) / abs(up[3000])) < -60
    down = spectrum(streamed_in_20_ms(16000, 8000, sine(16000, 1.5, 5000)), 8000)
    assert 20 * math.log10(abs(down[3000]) / (0.5 * 8000 / 2)) < -60


@pytest.mark.parametrize(("up", "down"), [(2, 1), (1, 2), (3, 1), (1, 3), (6, 1), (1, 6), (2, 3)])
def test_fir_design_meets_its_targets(up, down):
    design = polyphase_design(up, down)
    taps = design.taps
    assert design.passband_ripple_db <= 0.1
    assert design.stopband_attenuation_db >= 65
    assert len(taps) % 2 == 1 and design.delay == (len(taps) - 1) // 2
    assert np.allclose(taps, taps[::-1])  # linear phase
    assert math.isclose(taps.sum(), up)  # gain x L for the zero-stuffing
    assert not taps.flags.writeable and not design.matrix.flags.writeable
    assert polyphase_design(up, down) is design  # designed once per ratio
    # A few ms of group delay, whichever side is 8 kHz: (taps - 1) / 2 at the high rate.
    assert design.group_delay(8000 if up >= down else 8000 * down) < 0.0025


def test_fir_filter_lengths_for_telephony_ratios():
    lengths = {
        ratio: len(polyphase_design(*ratio).taps) for ratio in [(2, 1), (3, 1), (6, 1), (2, 3)]
    }
    assert lengths == {(2, 1): 67, (3, 1): 99, (6, 1): 197, (2, 3): 99}


# Delay, latency and holding ----------------------------------------------------------------


@pytest.mark.parametrize(("source", "target"), FIR_RATES)
def test_measured_delay_is_the_fir_group_delay_and_below_10_ms(source, target):
    resampler = Resampler(source, target)
    assert resampler.engine == "fir"
    delay = Resampler.measure_delay(source, target)
    # The group delay, rounded down to whole output samples by the FIFO's count.
    assert delay <= resampler.latency < delay + 1 / target
    assert resampler.latency < 0.0025 < 0.01
    assert Resampler.measure_delay(source, target, chunk_ms=7) == delay  # any chunking


def test_measured_delay_is_bounded_and_lower_for_wideband():
    assert Resampler.measure_delay(8000, 16000) < 0.01  # the FIR engine
    assert Resampler.measure_delay(48000, 16000) < Resampler.measure_delay(8000, 16000)
    # soxr keeps its block: wherever asked for, and for ratios the FIR engine leaves to it.
    narrowband = Resampler.measure_delay(8000, 16000, engine="soxr")
    wideband = Resampler.measure_delay(48000, 16000, engine="soxr")
    assert 0 <= wideband < narrowband <= 0.12
    assert Resampler(44100, 16000).engine == "soxr"
    assert 0.02 < Resampler.measure_delay(44100, 16000) <= 0.12
    assert Resampler.measure_delay(16000, 16000) == 0


def test_fir_output_follows_its_input_by_the_group_delay():
    # The output at a click's time comes out once the input is the group delay past it.
    resampler = Resampler(8000, 16000)
    audio = np.zeros(8000, np.float32)
    audio[800] = 1.0
    ahead = math.floor(resampler.latency * 8000)  # 33 / 2 input samples, rounded down
    resampler.push(audio[: 800 + ahead])
    before = resampler.fifo.pop_all()
    assert len(before) == 1600 - 1  # output 1600 (the click's time) needs one more
    resampler.push(audio[800 + ahead : 800 + ahead + 1])
    out = np.concatenate([before, resampler.fifo.pop_all()])
    assert len(out) == 1600 + 1 and np.argmax(out) == 1600


def test_latency_per_engine():
    assert Resampler(8000, 16000).latency == pytest.approx(33 / 16000)  # 67 taps
    assert Resampler(16000, 48000).latency == pytest.approx(49 / 48000)  # 99 taps
    assert Resampler(8000, 16000, engine="soxr").latency == pytest.approx(0.115, abs=0.01)
    assert Resampler(16000, 16000).latency == 0.0


@pytest.mark.parametrize("engine", ENGINES)
def test_holding_says_whether_finish_has_more(engine):
    resampler = Resampler(8000, 16000, engine=engine)
    assert not resampler.holding
    resampler.push(np.ones(160, np.float32))
    assert resampler.holding  # FIR: the compensated delay's tail; soxr: its block
    resampler.finish()
    assert not resampler.holding
    assert len(resampler.fifo) == 320
    passthrough = Resampler(16000, 16000)
    passthrough.push(np.ones(320, np.float32))
    assert not passthrough.holding


# Engines ------------------------------------------------------------------------------------


def test_auto_takes_fir_for_telephony_ratios_and_soxr_for_the_rest():
    assert all(fir_applies(source, target) for source, target in FIR_RATES)
    assert {Resampler(source, target).engine for source, target in FIR_RATES} == {"fir"}
    for source, target in [(44100, 16000), (16000, 44100), (22050, 8000)]:
        assert Resampler(source, target).engine == "soxr"
    with pytest.raises(ValueError, match="engine"):
        Resampler(8000, 16000, engine="sinc")  # type: ignore[arg-type]


def test_fir_ignores_soxr_quality_and_takes_any_ratio_when_asked():
    audio = sine(8000, 0.2)
    assert np.array_equal(
        resample(audio, 8000, 16000, engine="fir"),
        stream(Resampler(8000, 16000, quality="QQ"), audio, [len(audio)]),
    )
    audio = sine(44100, 0.5, 1000.0)
    fir = resample(audio, 44100, 16000, engine="fir")
    assert len(fir) == 8000
    assert dbfs(fir[800:-800] - resample(audio, 44100, 16000)[800:-800]) < -50


def test_stream_restarts_after_its_last_chunk():
    stream_ = PolyphaseStream(polyphase_design(1, 3))
    click = np.zeros(300, np.float32)
    click[0] = 1.0
    first = np.concatenate([stream_.process(click, False), stream_.process(click[:0], True)])
    second = np.concatenate([stream_.process(click, False), stream_.process(click[:0], True)])
    assert len(first) == 100 and np.array_equal(first, second)
    assert stream_.received == stream_.emitted == 0


# The FIFO -----------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("source", "target"), RATES)
def test_fifo_hands_out_exact_frames(source, target, engine):
    resampler = Resampler(source, target, engine=engine)
    frame = target // 50
    sizes = []
    for _ in range(100):
        resampler.push(np.zeros(source // 50, np.float32))
        sizes.extend(len(f) for f in resampler.pop_frames(frame))
    assert set(sizes) == {frame}
    # Nothing is lost: what is still inside comes out at the end of the stream.
    assert len(sizes) * frame + len(resampler.flush()) == 100 * frame


@pytest.mark.parametrize(("source", "target"), FIR_RATES)
def test_a_lead_in_gives_each_packets_frame_with_it_and_delays_by_the_look_ahead(source, target):
    """lead_in: every 20 ms pushed gives its 20 ms frame at once; the audio is the same, later."""
    signal = np.random.default_rng(3).uniform(-0.5, 0.5, source).astype(np.float32)  # 1 s
    plain, led = Resampler(source, target), Resampler(source, target, lead_in=True)
    chunk, frame = source // 50, target // 50
    plain_frames, led_frames = [], []
    for start in range(0, len(signal), chunk):
        plain.push(signal[start : start + chunk])
        led.push(signal[start : start + chunk])
        plain_frames += list(plain.pop_frames(frame))
        got = list(led.pop_frames(frame))
        assert [len(f) for f in got] == [frame] and not len(led.fifo)  # its frame, whole, now
        led_frames += got
    assert len(plain_frames) == 49  # without: each frame waits for the next packet
    plain_out = np.concatenate([*plain_frames, plain.flush()])
    led_out = np.concatenate([*led_frames, led.flush()])
    lead = len(led_out) - len(plain_out)
    assert 0 < lead <= round(0.003 * target)  # the held-back look-ahead: at most 3 ms
    assert not led_out[:lead].any()
    np.testing.assert_allclose(led_out[lead:], plain_out, atol=1e-6)


@pytest.mark.parametrize(("source", "target"), [(8000, 16000), (16000, 8000), (48000, 16000)])
def test_push_frame_hands_a_whole_frame_on_and_buffers_the_rest(source, target):
    """push_frame gives what push and pop_frames give, the whole frames without the FIFO."""
    signal = np.random.default_rng(5).uniform(-0.5, 0.5, source // 2).astype(np.float32)
    chunk, frame = source // 50, target // 50
    for lead_in in (True, False):
        by_frame, by_fifo = Resampler(source, target, lead_in=lead_in), Resampler(source, target)
        by_fifo.lead_in = lead_in
        got, expected, direct = [], [], 0
        for start in range(0, len(signal), chunk):
            whole = by_frame.push_frame(signal[start : start + chunk], frame)
            if whole is not None:
                direct += 1
                got.append(whole)
            got += list(by_frame.pop_frames(frame))
            by_fifo.push(signal[start : start + chunk])
            expected += list(by_fifo.pop_frames(frame))
        assert [len(f) for f in got] == [len(f) for f in expected]
        np.testing.assert_array_equal(np.concatenate(got), np.concatenate(expected))
        # With the lead-in every packet after the first is handed on whole.
        assert direct == (len(expected) - 1 if lead_in else 0)


def test_passthrough_needs_no_engine():
    resampler = Resampler(16000, 16000)
    resampler.push(np.arange(640, dtype=np.float32))
    frames = list(resampler.pop_frames(320))
    assert [f[0] for f in frames] == [0.0, 320.0]


@pytest.mark.parametrize("engine", ENGINES)
def test_reset_drops_state(engine):
    resampler = Resampler(8000, 16000, engine=engine)
    resampler.push(sine(8000, 0.5))
    resampler.reset()
    assert not resampler.holding
    assert len(resampler.flush()) == 0
    # A fresh stream afterwards: the same output as a new resampler's.
    resampler.push(sine(8000, 0.1))
    assert np.array_equal(resampler.flush(), resample(sine(8000, 0.1), 8000, 16000, engine=engine))


@settings(max_examples=60)
@given(st.lists(st.integers(0, 700), max_size=30), st.integers(1, 500))
def test_fifo_preserves_order_and_count(pushes, frame):
    fifo = FrameFIFO(capacity=16)
    expected = []
    counter = 0
    popped = []
    for count in pushes:
        chunk = np.arange(counter, counter + count, dtype=np.float32)
        counter += count
        expected.append(chunk)
        fifo.push(chunk)
        while (f := fifo.pop(frame)) is not None:
            assert len(f) == frame
            popped.append(f)
    popped.append(fifo.pop_all())
    everything = np.concatenate([np.zeros(0, np.float32), *popped])
    assert np.array_equal(everything, np.arange(counter, dtype=np.float32))
