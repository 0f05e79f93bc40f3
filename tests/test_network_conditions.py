"""Received audio through a simulated network: loss, reordering, jitter, duplication, drift.

A sender on a loopback socket sends a known signal as RTP, each packet at
its nominal time (stretched by the sender's clock drift) plus a random
network delay, some dropped and some sent twice; an AudioCall receives it
through its jitter buffer. What it delivers must have the source's length
and stay correlated with it, window by window.
"""

from __future__ import annotations

import asyncio
import random
import socket

import numpy as np
import pytest

from tests.conftest import free_port
from voip_core import AudioCall
from voip_core.codecs import G722, PCMU
from voip_core.rtp.packet import RTPPacket
from voip_core.rtp.ports import RTPPortRange
from voip_core.sdp import MediaDescription

RATE = 16000
SECONDS = 3.0


def source_signal() -> np.ndarray:
    """A sweep with a slow tremolo: every window differs from its neighbours."""
    t = np.arange(int(SECONDS * RATE)) / RATE
    sweep = np.sin(2 * np.pi * (300 * t + 150 * t**2))
    return (0.3 * sweep * (0.6 + 0.4 * np.sin(2 * np.pi * 1.3 * t))).astype(np.float32)


class Collector(AudioCall):
    def __post_init__(self):
        super().__post_init__()
        self.heard = []

    def audio_received(self, *, audio, rms):
        self.heard.append(audio)


def windowed_correlation(sent: np.ndarray, heard: np.ndarray, window: int = RATE // 10) -> list:
    """Per window of ``sent``: its best normalised correlation with ``heard`` within ±120 ms."""
    scores = []
    reach = int(0.12 * RATE)
    for start in range(0, len(sent) - window, window):
        piece = sent[start : start + window].astype(np.float64)
        low, high = max(0, start - reach), min(len(heard), start + reach + window)
        segment = heard[low:high].astype(np.float64)
        if len(segment) < window:
            scores.append(0.0)
            continue
        dots = np.correlate(segment, piece, "valid")
        energy = np.concatenate(([0.0], np.cumsum(segment**2)))
        norms = np.sqrt(energy[window:] - energy[:-window]) * np.linalg.norm(piece)
        scores.append(float(np.max(dots / np.maximum(norms, 1e-12))))
    return scores


async def send_through_network(codec, target, *, loss, duplication, jitter, drift, seed):
    """Send the signal as RTP to ``target`` the way an unreliable network would deliver it."""
    rng = random.Random(seed)
    instance = codec()
    encoder = instance.create_encoder()
    audio = source_signal()
    if codec.sample_rate != RATE:
        audio = AudioCall.resample(audio, RATE, codec.sample_rate)
    frame = codec.sample_rate // 50
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    start = loop.time() + 0.05
    sent = 0
    handles = []
    for index in range(len(audio) // frame):
        packet = RTPPacket(
            marker=index == 0,
            payload_type=codec.static_payload_type,
            sequence_number=(65500 + index) & 0xFFFF,  # wraps on the way
            timestamp=(4_294_960_000 + index * instance.timestamp_increment) & 0xFFFFFFFF,
            ssrc=0xC0FFEE,
            payload=encoder.encode(audio[index * frame : (index + 1) * frame]),
        ).serialize()
        if rng.random() < loss:
            continue
        nominal = start + index * 0.02 * (1 + drift)
        for _ in range(2 if rng.random() < duplication else 1):
            when = nominal + rng.uniform(0, jitter)
            handles.append(loop.call_at(when, sock.sendto, packet, target))
            sent += 1
    await asyncio.sleep(start + SECONDS * (1 + drift) + jitter - loop.time() + 0.05)
    sock.close()
    return sent


@pytest.mark.parametrize(
    ("codec", "loss", "duplication", "jitter", "drift"),
    [
        (PCMU, 0.0, 0.0, 0.0, 0.0),
        (PCMU, 0.03, 0.02, 0.06, 0.005),  # reordering: delays up to 3 packet times
        (G722, 0.03, 0.02, 0.04, -0.005),
    ],
)
async def test_audio_through_a_bad_network_keeps_its_length_and_shape(
    codec, loss, duplication, jitter, drift
):
    low = free_port() & ~1
    rtp = RTPPortRange("127.0.0.1", low, low + 10).open()  # takes media from any source port
    await asyncio.sleep(0.01)
    media = MediaDescription.for_formats([codec.media_format()], port=9, address="127.0.0.1")
    receiver = type("R", (Collector,), {"supported_codecs": (codec,)})(rtp=rtp, media=media)
    try:
        sent = await send_through_network(
            codec,
            rtp.local_address,
            loss=loss,
            duplication=duplication,
            jitter=jitter,
            drift=drift,
            seed=7,
        )
        await asyncio.sleep(0.3)
        receiver.flush_inbound()
    finally:
        receiver.close()
    assert receiver.packets_received == sent
    heard = np.concatenate(receiver.heard)
    frames = int(SECONDS * 50)
    stats = receiver.jitter_buffer.stats
    # Length: every packet time is there once (lost ones concealed); drift costs a
    # frame now and then, which the buffer drops or inserts to stay bounded.
    assert abs(len(heard) / (RATE // 50) - frames) <= 4 + stats.shrinks + stats.stretches, stats
    assert (stats.duplicates > 0) == (duplication > 0), stats
    # Shape: 100 ms windows, each found in what was heard near its place. A window
    # holding a concealed or inserted frame scores lower; most hold none.
    scores = np.array(windowed_correlation(source_signal(), heard))
    assert np.median(scores) > 0.95, scores
    assert np.mean(scores > 0.9) > 0.75, scores
