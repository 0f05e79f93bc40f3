"""The media loopback: a WAV sent as RTP with every codec and decoded back.

For each registered codec, two :class:`~voip_core.audio.AudioCall` sessions on
127.0.0.1 exchange the audio over real UDP sockets, all codecs at once in one
process. The received audio is written to ``OUT_DIR/loopback-CODEC.wav`` and
compared with what was sent (delay found by cross-correlation).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from voip_core.audio import AudioCall
from voip_core.codecs.base import FloatArray, RTPCodec
from voip_core.rtp.protocol import RealtimeTransportProtocol
from voip_core.sdp.description import MediaDescription
from voip_core.wav import write_wav

__all__ = ["LoopbackResult", "compare", "run_loopback", "test_signal"]

SAMPLE_RATE = 16000


def test_signal(seconds: float = 2.0, sample_rate: int = SAMPLE_RATE) -> FloatArray:
    """A speech-band test signal: a 200 Hz - 3.2 kHz sweep with a syllable-like envelope."""
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    sweep = np.sin(2 * np.pi * (200 * t + (3000 / (2 * seconds)) * t**2))
    envelope = 0.25 + 0.2 * np.sin(2 * np.pi * 3 * t)
    return (0.6 * envelope * sweep).astype(np.float32)


@dataclasses.dataclass(kw_only=True, eq=False, repr=False)
class _Collector(AudioCall):
    def __post_init__(self) -> None:
        super().__post_init__()
        self.heard: list[FloatArray] = []

    def audio_received(self, *, audio: FloatArray, rms: float) -> None:
        self.heard.append(audio)


@dataclasses.dataclass(kw_only=True, eq=False, repr=False)
class _Sender(AudioCall):
    def __post_init__(self) -> None:
        super().__post_init__()
        self.done = asyncio.Event()

    def on_audio_sent(self) -> None:
        self.done.set()


@dataclasses.dataclass(slots=True, kw_only=True)
class LoopbackResult:
    """What happened to the audio through one codec."""

    codec: str
    packets_sent: int
    packets_received: int
    payload_bytes: int
    seconds_sent: float
    seconds_received: float
    delay_ms: float
    correlation: float
    snr_db: float
    wav: Path | None

    def line(self) -> str:
        """One line for the terminal."""
        kbps = self.payload_bytes * 8 / self.seconds_sent / 1000 if self.seconds_sent else 0.0
        return (
            f"{self.codec:<18} sent {self.packets_sent:4d} pkts ({kbps:5.1f} kbit/s payload), "
            f"received {self.packets_received:4d}, audio {self.seconds_received:5.2f}s of "
            f"{self.seconds_sent:4.2f}s, delay {self.delay_ms:5.1f} ms, correlation "
            f"{self.correlation:.3f}, SNR {self.snr_db:5.1f} dB"
        )


def compare(sent: FloatArray, received: FloatArray, sample_rate: int) -> tuple[float, float, float]:
    """(delay in ms, correlation, SNR in dB) of ``received`` against ``sent``."""
    if len(received) < len(sent) // 2:
        return float("nan"), 0.0, float("-inf")
    max_lag = min(len(received) - 1, round(0.3 * sample_rate))
    size = len(sent) + max_lag
    spectrum = np.fft.rfft(received[:size], 2 * size) * np.conj(np.fft.rfft(sent, 2 * size))
    cross = np.fft.irfft(spectrum)[: max_lag + 1]
    lag = int(np.argmax(cross))
    aligned = received[lag : lag + len(sent)]
    reference = sent[: len(aligned)]
    correlation = float(np.corrcoef(reference, aligned)[0, 1])
    gain = float(np.dot(reference, aligned) / max(np.dot(reference, reference), 1e-12))
    noise = aligned - gain * reference
    snr = 10 * np.log10(np.dot(reference, reference) * gain**2 / max(np.dot(noise, noise), 1e-20))
    return lag * 1000 / sample_rate, correlation, float(snr)


async def _one(codec: type[RTPCodec], audio: FloatArray, out_dir: Path | None) -> LoopbackResult:
    left = await RealtimeTransportProtocol.bind("127.0.0.1", 0)
    right = await RealtimeTransportProtocol.bind("127.0.0.1", 0)
    try:
        formats = [codec.media_format(96 if codec.static_payload_type is None else None)]

        def media_for(endpoint: RealtimeTransportProtocol) -> MediaDescription:
            host, port = endpoint.local_address
            return MediaDescription.for_formats(formats, port=port, address=host)

        class Sender(_Sender):
            supported_codecs = (codec,)

        class Collector(_Collector):
            supported_codecs = (codec,)

        receiver = Collector(rtp=right, media=media_for(left), sampling_rate_hz=SAMPLE_RATE)
        sender_call = Sender(rtp=left, media=media_for(right), sampling_rate_hz=SAMPLE_RATE)
        sender_call.send_audio(audio)
        await asyncio.wait_for(sender_call.done.wait(), timeout=len(audio) / SAMPLE_RATE + 10)
        await asyncio.sleep(0.1)
        receiver._inbound.finish()
        tail = receiver._inbound.fifo.pop_all()
        heard = (
            np.concatenate([*receiver.heard, tail])
            if receiver.heard or len(tail)
            else np.zeros(0, np.float32)
        )
        name = f"{codec.encoding_name}/{codec.clock_rate}"
        wav = None
        if out_dir is not None:
            wav = out_dir / f"loopback-{codec.encoding_name.lower()}.wav"
            write_wav(wav, heard, SAMPLE_RATE)
        delay, correlation, snr = compare(audio, heard, SAMPLE_RATE)
        result = LoopbackResult(
            codec=name,
            packets_sent=sender_call.packets_sent,
            packets_received=receiver.packets_received,
            payload_bytes=sender_call.payload_bytes_sent,
            seconds_sent=len(audio) / SAMPLE_RATE,
            seconds_received=len(heard) / SAMPLE_RATE,
            delay_ms=delay,
            correlation=correlation,
            snr_db=snr,
            wav=wav,
        )
        sender_call.close()
        receiver.close()
        return result
    finally:
        left.close()
        right.close()


async def run_loopback(
    audio: FloatArray, codecs: Sequence[type[RTPCodec]], out_dir: Path | None = None
) -> list[LoopbackResult]:
    """Send ``audio`` (16 kHz) through every codec at once; one result per codec."""
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    return list(await asyncio.gather(*(_one(codec, audio, out_dir) for codec in codecs)))
