"""Reading and writing WAV files (stdlib :mod:`wave`) as float32 mono."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from voip_core.codecs.base import FloatArray

__all__ = ["read_wav", "write_wav"]


def read_wav(path: str | Path) -> tuple[FloatArray, int]:
    """Read a PCM WAV file; returns float32 mono audio and its sample rate.

    8-, 16-, 24- and 32-bit integer PCM are accepted; channels are averaged.
    """
    with wave.open(str(path), "rb") as reader:
        channels, width, rate = reader.getnchannels(), reader.getsampwidth(), reader.getframerate()
        raw = reader.readframes(reader.getnframes())
    if width == 1:
        samples = (np.frombuffer(raw, np.uint8).astype(np.float32) - 128) / 128
    elif width == 2:
        samples = np.frombuffer(raw, "<i2").astype(np.float32) / 32768
    elif width == 3:
        triplets = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        values = triplets[:, 0] | (triplets[:, 1] << 8) | (triplets[:, 2] << 16)
        values = np.where(values & 0x800000, values - 0x1000000, values)
        samples = values.astype(np.float32) / 8388608
    elif width == 4:
        samples = np.frombuffer(raw, "<i4").astype(np.float32) / 2147483648
    else:
        raise ValueError(f"{path}: unsupported sample width {width}")
    audio = samples.reshape(-1, channels).mean(axis=1, dtype=np.float32)
    return audio.astype(np.float32, copy=False), rate


def write_wav(path: str | Path, audio: FloatArray, sample_rate: int) -> None:
    """Write float32 audio as a 16-bit PCM WAV file (clipped to full scale).

    ``audio`` is mono (samples,) or (samples, channels), channels interleaved.
    """
    samples = np.asarray(audio, np.float32)
    channels = 1 if samples.ndim == 1 else samples.shape[1]
    pcm = np.clip(np.rint(samples * 32768), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(channels)
        writer.setsampwidth(2)
        writer.setframerate(sample_rate)
        writer.writeframes(pcm.tobytes())
