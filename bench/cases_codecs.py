"""Benchmark cases for the media path of one call: codec plus resampler, per 20 ms packet.

For every codec that ``voip_core.plugins.codecs()`` returns (PCMU, PCMA,
G722, opus with voip-opus installed) there are two cases, each one call of
which handles one 20 ms packet for one call, with the objects AudioCall
keeps for the whole call made once, outside the timed function:

``<NAME> decode+resample to 16k``
    ``decoder.decode(payload)``, ``Resampler(codec.sample_rate, 16000).push``
    and ``pop_frames(320)``: AudioCall's receive path up to
    ``audio_received`` (its per-frame RMS is the app's cost, left out).
``<NAME> encode from 16k``
    ``Resampler(16000, codec.sample_rate).push`` of one 320-sample frame,
    ``fifo.pop(codec.samples_per_frame)`` and ``encoder.encode``: the send
    path per packet when the app streams 20 ms at a time (the worst case).
``<NAME> encode from 16k, 1 s utterance``
    The same per packet when ``send_audio`` gets a whole utterance at once,
    as AudioCall resamples it: one push and ``finish`` per second, shared by
    its 50 packets.

The codec instance is made as AudioCall makes it:
``from_media_format(media_format(pt), frame_duration_ms=20,
preferred_sample_rate=16000)``. Opus can run at 16 kHz natively, so its
resamplers are passthrough (FIFO only, no filter). The ``opus@48k`` cases make
it at 48 kHz instead, as a library without native-rate decoding would, to
show what that costs.

Input is realistic rather than silent: a logarithmic sweep over the wideband
speech band (100 Hz to 7 kHz) at -12 dBFS; the decode cases cycle through a
ring of 50 packets (1 s) encoded from it beforehand, so the decoder sees
varied data.

The resamplers use AudioCall's default engine: the polyphase FIR for every
rate pair here (8k<->16k, 16k<->48k), soxr for other ratios.

``REPORTS["resampler_delay_ms"]`` is not a timing: it is the added delay
(worst FIFO shortfall, ms) of the streaming resampler per rate pair, for the
FIR engine (column ``fir``) and for soxr at each quality, from
:meth:`voip_core.resample.Resampler.measure_delay`.
"""

from __future__ import annotations

import itertools
import math
import sys
from collections.abc import Callable, Iterator

import numpy as np

from voip_core.codecs.base import FloatArray, RTPCodec, frames
from voip_core.plugins import codecs, load_failures
from voip_core.resample import Resampler, resample

#: AudioCall's default ``sampling_rate_hz``.
APP_RATE = 16000
FRAME_MS = 20
APP_FRAME = APP_RATE * FRAME_MS // 1000
RING_PACKETS = 50
#: Peak level of the sweep.
LEVEL_DBFS = -12.0
SWEEP_HZ = (100.0, 7000.0)
#: Quality AudioCall uses by default (``resample_quality``).
QUALITY = "HQ"
#: Payload type for codecs without a static one (any of 96-127).
DYNAMIC_PAYLOAD_TYPE = 96

DELAY_PAIRS = (
    (8000, 16000),
    (16000, 8000),
    (16000, 48000),
    (48000, 16000),
    (24000, 16000),
    (24000, 8000),
)
DELAY_QUALITIES = ("HQ", "MQ", "LQ", "QQ")


def speech_sweep(
    rate: int = APP_RATE, seconds: float = RING_PACKETS * FRAME_MS / 1000
) -> FloatArray:
    """A logarithmic sine sweep over ``SWEEP_HZ`` at ``LEVEL_DBFS`` peak.

    >>> sweep = speech_sweep(16000, 1.0)
    >>> len(sweep), round(20 * math.log10(float(abs(sweep).max())))
    (16000, -12)
    """
    low, high = SWEEP_HZ
    t = np.arange(round(rate * seconds)) / rate
    k = math.log(high / low) / seconds
    phase = 2 * math.pi * low * (np.exp(k * t) - 1) / k
    return (10 ** (LEVEL_DBFS / 20) * np.sin(phase)).astype(np.float32)


def make_codec(codec_class: type[RTPCodec], sample_rate: int = APP_RATE) -> RTPCodec:
    """A codec instance made the way AudioCall's ``negotiate_codec`` makes it."""
    payload_type = codec_class.static_payload_type
    if payload_type is None:
        payload_type = DYNAMIC_PAYLOAD_TYPE
    return codec_class.from_media_format(
        codec_class.media_format(payload_type),
        frame_duration_ms=FRAME_MS,
        preferred_sample_rate=sample_rate,
    )


def payload_ring(codec: RTPCodec) -> list[bytes]:
    """``RING_PACKETS`` payloads of the sweep, encoded by a separate encoder."""
    source = resample(speech_sweep(), APP_RATE, codec.sample_rate)
    encoder = codec.create_encoder()
    ring = [encoder.encode(frame) for frame in frames(source, codec.samples_per_frame)]
    return ring[:RING_PACKETS]


def decode_case(codec: RTPCodec) -> Callable[[], object]:
    """One packet: decode, resample to 16 kHz, pop every whole 20 ms frame."""
    payloads = itertools.cycle(payload_ring(codec))
    decoder = codec.create_decoder()
    inbound = Resampler(codec.sample_rate, APP_RATE, quality=QUALITY)

    def decode_and_resample() -> object:
        inbound.push(decoder.decode(next(payloads)))
        return list(inbound.pop_frames(APP_FRAME))

    return decode_and_resample


def encode_case(codec: RTPCodec) -> Callable[[], object]:
    """One packet: resample a 20 ms 16 kHz frame to the codec's rate, pop a frame, encode."""
    app_frames: Iterator[FloatArray] = itertools.cycle(list(frames(speech_sweep(), APP_FRAME)))
    encoder = codec.create_encoder()
    outbound = Resampler(APP_RATE, codec.sample_rate, quality=QUALITY)
    fifo = outbound.fifo
    samples = codec.samples_per_frame
    # The resampler holds back its delay (soxr: a block, FIR: its group delay):
    # prime the FIFO with it plus a frame, so every timed call has a frame to encode.
    delay = Resampler.measure_delay(APP_RATE, codec.sample_rate, quality=QUALITY)
    for _ in range(math.ceil(delay * 1000 / FRAME_MS) + 1):
        outbound.push(next(app_frames))

    def resample_and_encode() -> object:
        outbound.push(next(app_frames))
        frame = fifo.pop(samples)
        return encoder.encode(frame) if frame is not None else None

    return resample_and_encode


def utterance_encode_case(codec: RTPCodec) -> Callable[[], object]:
    """One packet of a whole utterance given to ``send_audio`` at once, as AudioCall sends it.

    AudioCall resamples what ``send_audio`` gets in one push, and when its
    queue runs dry ends the resampler's stream (``finish``); the sender then pops and
    encodes one frame per packet. The resampling of a 1 s utterance (and the
    new stream for the next one) is thus shared by its 50 packets.
    """
    utterance = speech_sweep()
    encoder = codec.create_encoder()
    outbound = Resampler(APP_RATE, codec.sample_rate, quality=QUALITY)
    fifo = outbound.fifo
    samples = codec.samples_per_frame

    def encode_utterance_packet() -> object:
        frame = fifo.pop(samples)
        if frame is None:
            fifo.clear()
            outbound.push(utterance)
            outbound.finish()
            frame = fifo.pop(samples)
            assert frame is not None
        return encoder.encode(frame)

    return encode_utterance_packet


def _cases() -> dict[str, Callable[[], object]]:
    cases: dict[str, Callable[[], object]] = {}
    for failure in load_failures():
        print(f"warning: {failure}", file=sys.stderr)
    variants: list[tuple[str, type[RTPCodec], int]] = []
    for codec_class in codecs():
        variants.append((codec_class.encoding_name, codec_class, APP_RATE))
        if APP_RATE in codec_class.supported_sample_rates and codec_class.sample_rate != APP_RATE:
            variants.append(
                (
                    f"{codec_class.encoding_name}@{codec_class.sample_rate // 1000}k",
                    codec_class,
                    codec_class.sample_rate,
                )
            )
    for label, codec_class, rate in variants:
        try:
            codec = make_codec(codec_class, rate)
            cases[f"{label} decode+resample to 16k"] = decode_case(codec)
            cases[f"{label} encode from 16k"] = encode_case(codec)
            cases[f"{label} encode from 16k, 1 s utterance"] = utterance_encode_case(codec)
        except Exception as error:  # a codec whose library is missing must not hide the others
            print(f"warning: skipping {label}: {type(error).__name__}: {error}", file=sys.stderr)
    return cases


def resampler_delay_ms() -> dict[str, dict[str, float]]:
    """Added delay (ms) of the streaming resampler, by rate pair: FIR, and soxr per quality."""
    return {
        f"{source // 1000}k->{target // 1000}k": {
            "fir": round(Resampler.measure_delay(source, target, engine="fir") * 1000, 3),
            **{
                quality: round(
                    Resampler.measure_delay(source, target, quality=quality, engine="soxr") * 1000,
                    3,
                )
                for quality in DELAY_QUALITIES
            },
        }
        for source, target in DELAY_PAIRS
    }


CASES: dict[str, Callable[[], object]] = _cases()
REPORTS: dict[str, Callable[[], object]] = {"resampler_delay_ms": resampler_delay_ms}
