"""Streaming resampling: 20 ms chunks join without clicks, and the FIFO hands out exact frames."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voip_core.resample import FrameFIFO, Resampler, resample

RATES = [
    (8000, 16000),
    (16000, 8000),
    (48000, 16000),
    (16000, 48000),
    (24000, 16000),
    (24000, 8000),
]


def sine(rate: int, seconds: float = 1.0, frequency: float = 440.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (0.5 * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


@pytest.mark.parametrize(("source", "target"), RATES)
def test_chunked_equals_one_piece_below_minus_60_dbfs(source, target):
    audio = sine(source)
    resampler = Resampler(source, target)
    chunk = source // 50
    pieces = []
    for start in range(0, len(audio), chunk):
        resampler.push(audio[start : start + chunk])
        pieces.extend(resampler.pop_frames(target // 50))
    pieces.append(resampler.flush())
    streamed = np.concatenate(pieces)
    whole = resample(audio, source, target)
    assert len(streamed) == len(whole) == target
    difference = np.max(np.abs(streamed - whole))
    assert 20 * np.log10(difference + 1e-12) < -60


@pytest.mark.parametrize(("source", "target"), RATES)
def test_fifo_hands_out_exact_frames(source, target):
    resampler = Resampler(source, target)
    frame = target // 50
    sizes = []
    for _ in range(100):
        resampler.push(np.zeros(source // 50, np.float32))
        sizes.extend(len(f) for f in resampler.pop_frames(frame))
    assert set(sizes) == {frame}
    # Nothing is lost: what is still inside comes out at the end of the stream.
    assert len(sizes) * frame + len(resampler.flush()) == 100 * frame


def test_measured_delay_is_bounded_and_lower_for_wideband():
    narrowband = Resampler.measure_delay(8000, 16000)
    wideband = Resampler.measure_delay(48000, 16000)
    assert 0 <= wideband < narrowband <= 0.12
    assert Resampler.measure_delay(16000, 16000) == 0


def test_passthrough_needs_no_soxr():
    resampler = Resampler(16000, 16000)
    resampler.push(np.arange(640, dtype=np.float32))
    frames = list(resampler.pop_frames(320))
    assert [f[0] for f in frames] == [0.0, 320.0]


def test_reset_drops_state():
    resampler = Resampler(8000, 16000)
    resampler.push(sine(8000, 0.5))
    resampler.reset()
    assert len(resampler.flush()) == 0


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
