"""G.722 through the g722 package: 16 kHz audio on an 8000 Hz RTP clock, state kept per call."""

from __future__ import annotations

import numpy as np

from voip_core.codecs import G722, frames


def sweep(seconds: float = 1.0, rate: int = 16000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.4 * np.sin(2 * np.pi * (200 * t + 3000 * t**2))).astype(np.float32)


def test_clock_rate_versus_sample_rate():
    codec = G722()
    assert (G722.static_payload_type, G722.clock_rate, codec.sample_rate) == (9, 8000, 16000)
    assert codec.samples_per_frame == 320  # 20 ms of 16 kHz audio
    assert codec.timestamp_increment == 160  # but the RTP clock says 8000 [RFC 3551 §4.5.2]
    assert G722.media_format().rtpmap_value == "G722/8000"


def test_round_trip_over_many_frames_keeps_state():
    codec = G722()
    encoder, decoder = codec.create_encoder(), codec.create_decoder()
    audio = sweep()
    payloads = [encoder.encode(frame) for frame in frames(audio, codec.samples_per_frame)]
    assert {len(p) for p in payloads} == {160}  # 64 kbit/s
    out = np.concatenate([decoder.decode(p) for p in payloads])
    delay = int(np.argmax([np.dot(out[d : d + 8000], audio[:8000]) for d in range(64)]))
    correlation = np.corrcoef(out[delay : delay + 12000], audio[:12000])[0, 1]
    assert correlation > 0.99


def test_encoder_is_stateful():
    codec = G722()
    encoder = codec.create_encoder()
    frame = sweep(0.02)
    first, second = encoder.encode(frame), encoder.encode(frame)
    assert first != second  # ADPCM state moved on
    assert codec.create_encoder().encode(frame) == first  # a fresh encoder starts over
