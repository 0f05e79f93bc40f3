"""Streaming resampling with two engines, and a FIFO that hands out exact frames.

A call resamples between the codec's rate and the app's rate 20 ms at a
time, so the resampler keeps state across chunks (they join without clicks)
and should add as little delay as it can: ITU-T G.114 puts the whole
mouth-to-ear budget at about 150 ms one way [ITU-T G.114], and a voice agent
spends most of that on recognition and synthesis. :class:`Resampler` has
two engines:

``"fir"``: a polyphase FIR filter in numpy (:class:`PolyphaseStream`) for
    ratios ``L/M`` with small ``L`` and ``M``, which covers every ratio
    telephony uses (8k<->16k, 16k<->48k, 8k<->48k, 8k<->24k, 24k->16k ...).
    The filter is a Kaiser-windowed sinc at the lower of the two Nyquist
    frequencies (:func:`polyphase_design`, one per ratio): flat within 0.1 dB
    up to 0.85 x that Nyquist (3.4 kHz at 8 kHz: the telephone band) and
    65 dB down from 1.1 x on (60 dB required). Like soxr, it compensates its
    delay: output sample ``k`` is the signal at input time
    ``k / output_rate``, nothing is cut at the start, and
    :meth:`Resampler.finish` produces the last samples. Their wait is the
    whole delay: the filter's group delay, ``(taps - 1) / 2`` samples at the
    high rate ``L x input_rate``, about 2 ms when one side is 8 kHz and 1 ms
    between 16 and 48 kHz, for any chunking; every push gives all the output
    it can at once.
``"soxr"``: libsoxr's streaming resampler, for every other ratio (44.1 kHz
    and friends) or when asked for. ``quality`` is soxr's. It works in
    internal blocks: at HQ a 20 ms chunk often gives nothing out and then a
    burst, which delays frames by about 115 ms between 8 and 16 kHz and
    37 ms between 16 and 48 kHz.

``engine="auto"`` (the default) takes the FIR engine where
:func:`fir_applies` and soxr elsewhere. Either way the output goes through a
:class:`FrameFIFO`, from which :meth:`Resampler.pop_frames` hands out frames
of exactly the requested size. :meth:`Resampler.measure_delay` measures the
delay a frame reader sees (the FIFO's worst shortfall against a perfect,
delay-free resampler), :attr:`Resampler.latency` gives it per instance, and
:attr:`Resampler.holding` says whether :meth:`Resampler.finish` would give
more; ``bench/`` prints the table. :func:`resample` does a whole signal at
once, with soxr by default: offline there is no delay to save.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from fractions import Fraction
from typing import Literal

import numpy as np

from voip_core.codecs.base import FloatArray
from voip_core.polyphase import PolyphaseDesign, PolyphaseStream, polyphase_design

__all__ = [
    "EngineChoice",
    "FrameFIFO",
    "Resampler",
    "fir_applies",
    "resample",
]

#: ``"auto"``: the FIR engine where :func:`fir_applies`, else soxr.
EngineChoice = Literal["auto", "fir", "soxr"]

#: ``engine="auto"`` takes the FIR engine when the reduced ratio ``L/M`` has
#: ``max(L, M)`` at most this (8k->96k is 12); soxr beyond (44.1k->16k is 160/441).
AUTO_FIR_MAX_FACTOR = 12

_EMPTY = np.zeros(0, np.float32)


def resample(
    audio: FloatArray,
    input_rate: int,
    output_rate: int,
    quality: str = "HQ",
    *,
    engine: EngineChoice = "soxr",
) -> FloatArray:
    """Resample a whole signal in one go (no state kept).

    Args:
        audio: Mono float32 samples at ``input_rate``.
        input_rate: Sample rate of ``audio``.
        output_rate: Sample rate wanted.
        quality: soxr quality (``engine="soxr"`` only).
        engine: ``"soxr"`` (default: offline, its delay does not matter),
            ``"fir"`` or ``"auto"``: the same result as a :class:`Resampler`
            with that engine fed ``audio`` in any chunks and then flushed.

    >>> len(resample(np.zeros(8000, np.float32), 8000, 16000))
    16000
    >>> len(resample(np.zeros(8000, np.float32), 8000, 16000, engine="fir"))
    16000
    """
    if input_rate == output_rate:
        return np.asarray(audio, dtype=np.float32)
    if _resolve_engine(input_rate, output_rate, engine) == "fir":
        resampler = Resampler(input_rate, output_rate, engine="fir")
        resampler.push(audio)
        return resampler.flush()
    import soxr

    out: FloatArray = soxr.resample(
        np.asarray(audio, dtype=np.float32), input_rate, output_rate, quality
    )
    return out


@functools.lru_cache(maxsize=256)
def _ratio(input_rate: int, output_rate: int) -> tuple[int, int]:
    """``(L, M)``: ``output_rate / input_rate`` in lowest terms (cached: every call asks)."""
    ratio = Fraction(output_rate, input_rate)
    return ratio.numerator, ratio.denominator


def fir_applies(input_rate: int, output_rate: int) -> bool:
    """Whether ``engine="auto"`` resamples between these rates with the FIR engine.

    >>> fir_applies(8000, 48000), fir_applies(24000, 16000), fir_applies(44100, 16000)
    (True, True, False)
    """
    return max(_ratio(input_rate, output_rate)) <= AUTO_FIR_MAX_FACTOR


def _resolve_engine(
    input_rate: int, output_rate: int, engine: EngineChoice
) -> Literal["fir", "soxr"]:
    if engine == "auto":
        return "fir" if fir_applies(input_rate, output_rate) else "soxr"
    if engine not in ("fir", "soxr"):
        raise ValueError(f"unknown resampler engine {engine!r}: 'auto', 'fir' or 'soxr'")
    return engine


class _SoxrStream:
    """soxr's streaming resampler, counting samples in and out like :class:`PolyphaseStream`."""

    __slots__ = ("_engine", "emitted", "received")

    def __init__(self, input_rate: int, output_rate: int, quality: str) -> None:
        self._engine = self._make(input_rate, output_rate, quality)
        self.received = 0
        self.emitted = 0

    @staticmethod
    def _make(
        input_rate: int, output_rate: int, quality: str
    ) -> Callable[[FloatArray, bool], FloatArray]:
        try:
            # soxr's C object straight: the Python wrapper's checks and reshapes
            # cost more than the resampling of a 20 ms chunk.
            from soxr import soxr_ext

            engine = soxr_ext.CSoxr(
                input_rate,
                output_rate,
                1,
                soxr_ext.SOXR_FLOAT32_I,
                getattr(soxr_ext, quality),
                False,
            )

            def process(chunk: FloatArray, last: bool) -> FloatArray:
                out: FloatArray = engine.process_float32(chunk[:, None], last)[:, 0]
                return out

            return process
        except (ImportError, AttributeError, TypeError):  # pragma: no cover - other soxr builds
            import soxr

            stream = soxr.ResampleStream(
                input_rate, output_rate, 1, dtype="float32", quality=quality
            )

            def process_with_wrapper(chunk: FloatArray, last: bool) -> FloatArray:
                out: FloatArray = stream.resample_chunk(chunk, last=last)
                return out

            return process_with_wrapper

    def process(self, chunk: FloatArray, last: bool) -> FloatArray:
        """Resample the next ``chunk``; ``last`` ends the stream."""
        chunk = np.ascontiguousarray(chunk, dtype=np.float32)
        out = self._engine(chunk, last)
        self.received += len(chunk)
        self.emitted += len(out)
        return out


# The FIFO and the resampler ----------------------------------------------------------------


class FrameFIFO:
    """A FIFO of float32 samples that returns fixed-size frames.

    Amortised O(1) per sample: the buffer grows by doubling and is compacted
    only when the read position passes half of it. It is allocated on the
    first push: a call that never hears or says anything costs no buffer.
    """

    __slots__ = ("_buffer", "_capacity", "_end", "_start")

    def __init__(self, capacity: int = 4096) -> None:
        self._capacity = capacity
        self._buffer = _EMPTY
        self._start = 0
        self._end = 0

    def __len__(self) -> int:
        return self._end - self._start

    def push(self, samples: FloatArray) -> None:
        """Append samples."""
        count = len(samples)
        if not count:
            return
        if self._buffer is _EMPTY:
            self._buffer = np.zeros(self._capacity, np.float32)
        if self._end + count > len(self._buffer):
            size = self._end - self._start
            if size + count > len(self._buffer) // 2:
                grown = np.zeros(max(2 * len(self._buffer), 2 * (size + count)), np.float32)
                grown[:size] = self._buffer[self._start : self._end]
                self._buffer = grown
            else:
                self._buffer[:size] = self._buffer[self._start : self._end]
            self._start, self._end = 0, size
        self._buffer[self._end : self._end + count] = samples
        self._end += count

    def pop(self, count: int) -> FloatArray | None:
        """The next ``count`` samples as a new array, or ``None`` if fewer are buffered."""
        if self._end - self._start < count:
            return None
        frame = self._buffer[self._start : self._start + count].copy()
        self._start += count
        if self._start == self._end:
            self._start = self._end = 0
        return frame

    def pop_all(self) -> FloatArray:
        """Everything buffered."""
        rest = self._buffer[self._start : self._end].copy()
        self._start = self._end = 0
        return rest

    def clear(self) -> None:
        """Drop everything buffered."""
        self._start = self._end = 0


class Resampler:
    """Per-stream, stateful resampler with a frame FIFO.

    Args:
        input_rate: Sample rate of the audio pushed in.
        output_rate: Sample rate of the frames popped out.
        quality: soxr quality (``"HQ"``, ``"MQ"``, ``"LQ"``, ``"QQ"``, ``"VHQ"``);
            the FIR engine has one design and ignores it.
        engine: ``"auto"`` (FIR where :func:`fir_applies`, else soxr),
            ``"fir"`` (any ratio, though large ``L`` or ``M`` make long
            filters) or ``"soxr"``. :attr:`engine` is the one chosen.
        lead_in: With the FIR engine, start each stream with the output
            samples it holds back (they need input still to come) as
            silence: the output is that much later (about 2 ms when one
            side is 8 kHz), and then every push's output is whole at once.
            160 samples in give 320 out, so a 20 ms frame comes out with
            the packet that holds it, not a packet later. For audio
            received in packets; soxr ignores it.

    Example:
        >>> r = Resampler(8000, 16000)
        >>> r.engine, round(r.latency * 1000, 2)  # the FIR engine: 2 ms delay
        ('fir', 2.06)
        >>> r.push(np.zeros(160, np.float32))  # 20 ms in
        >>> frames = list(r.pop_frames(320))   # 287 samples out: no whole frame yet
        >>> r.holding                          # the compensated delay's 33 are inside
        True
        >>> tail = r.flush()                   # end of stream: everything out
        >>> sum(len(f) for f in frames) + len(tail)
        320
        >>> r = Resampler(8000, 16000, lead_in=True)
        >>> r.push(np.ones(160, np.float32))
        >>> [len(f) for f in r.pop_frames(320)]  # 33 samples of silence, then 287
        [320]
    """

    def __init__(
        self,
        input_rate: int,
        output_rate: int,
        *,
        quality: str = "HQ",
        engine: EngineChoice = "auto",
        lead_in: bool = False,
    ) -> None:
        self.input_rate = input_rate
        self.output_rate = output_rate
        self.quality = quality
        self.lead_in = lead_in
        #: Samples of silence the last stream started with (see ``lead_in``).
        self.lead_in_samples = 0
        self.engine: Literal["fir", "soxr"] = _resolve_engine(input_rate, output_rate, engine)
        self.fifo = FrameFIFO()
        self._design: PolyphaseDesign | None = None
        if self.engine == "fir" and not self.passthrough:
            self._design = polyphase_design(*_ratio(input_rate, output_rate))
        self._passthrough = input_rate == output_rate
        self._stream: PolyphaseStream | _SoxrStream | None = None

    @property
    def passthrough(self) -> bool:
        """True when both rates are equal and samples are only buffered."""
        return self.input_rate == self.output_rate

    @property
    def holding(self) -> bool:
        """True when the engine holds input whose output it has not produced yet.

        That is, :meth:`finish` would add samples to the FIFO: soxr's block
        in progress, or the FIR engine's last ``delay / down`` output samples
        (which need input that has not come yet, or the end of the stream).
        """
        stream = self._stream
        return stream is not None and self._owed(stream) > 0

    def _owed(self, stream: PolyphaseStream | _SoxrStream) -> int:
        """Output samples the stream holds for the input taken so far."""
        expected = (2 * stream.received * self.output_rate + self.input_rate) // (
            2 * self.input_rate
        )
        return expected - stream.emitted

    @property
    def latency(self) -> float:
        """Worst-case delay, in seconds, this resampler adds between input and popped frames.

        FIR: the filter's group delay (no chunking makes it worse).
        soxr: :meth:`measure_delay` with 20 ms chunks. Passthrough: 0.
        Cached per rate pair, engine (and soxr quality).
        """
        return _latency(
            self.input_rate,
            self.output_rate,
            self.engine,
            self.quality if self.engine == "soxr" else "",
        )

    def push(self, audio: FloatArray) -> None:
        """Resample ``audio`` and buffer the result.

        With the FIR engine the output of every push comes out at once but
        for the last ``delay / down`` samples; soxr's may arrive later, in bursts.
        """
        stream = self._stream
        if stream is None:
            if self._passthrough:
                self.fifo.push(audio)
                return
            if self._design is not None:
                stream = self._stream = PolyphaseStream(self._design)
                if self.lead_in:
                    out = stream.process(audio, False)
                    self.lead_in_samples = self._owed(stream)
                    self.fifo.push(np.zeros(self.lead_in_samples, np.float32))
                    self.fifo.push(out)
                    return
            else:
                stream = self._stream = _SoxrStream(self.input_rate, self.output_rate, self.quality)
        self.fifo.push(stream.process(audio, False))

    def push_frame(self, audio: FloatArray, frame_size: int) -> FloatArray | None:
        """:meth:`push`, but a whole frame that the FIFO would hand straight on comes back.

        When nothing is buffered and ``audio`` resamples to exactly
        ``frame_size`` samples (each packet, with ``lead_in``), that frame is
        returned (a new array) and the FIFO is not touched; otherwise the
        output is buffered as :meth:`push` does and None is returned.
        """
        stream = self._stream
        if stream is None or len(self.fifo):
            self.push(audio)
            return None
        out = stream.process(audio, False)
        if len(out) == frame_size:
            return out.copy()
        self.fifo.push(out)
        return None

    def pop_frames(self, frame_size: int) -> Iterator[FloatArray]:
        """Every whole frame of ``frame_size`` samples buffered so far."""
        while (frame := self.fifo.pop(frame_size)) is not None:
            yield frame

    def finish(self) -> None:
        """End the stream: move the engine's tail into the FIFO.

        The next :meth:`push` starts a fresh stream (silence before it), so
        this belongs where the audio has a gap anyway (end of an utterance).
        """
        if self._stream is not None:
            self.fifo.push(self._stream.process(_EMPTY, True))
            self._stream = None

    def flush(self) -> FloatArray:
        """End the stream and return everything buffered (see :meth:`finish`)."""
        self.finish()
        return self.fifo.pop_all()

    def reset(self) -> None:
        """Drop buffered audio and the engine's state."""
        self.fifo.clear()
        self._stream = None

    @staticmethod
    def measure_delay(
        input_rate: int,
        output_rate: int,
        *,
        quality: str = "HQ",
        engine: EngineChoice = "auto",
        chunk_ms: int = 20,
        seconds: float = 2.0,
    ) -> float:
        """Worst added delay, in seconds, of frames popped from a streaming resampler.

        Feeds ``chunk_ms`` chunks and, after each, compares how many output
        samples a perfect resampler would have produced with how many the
        FIFO holds: the largest shortfall is the pre-roll a real-time reader
        needs so it never runs dry. Both engines compensate their filter's
        delay, so this is the delay: for the FIR engine its group delay
        rounded down to whole output samples, for soxr its block.
        """
        resampler = Resampler(input_rate, output_rate, quality=quality, engine=engine)
        chunk = np.zeros(input_rate * chunk_ms // 1000, np.float32)
        produced = 0
        worst = 0
        for index in range(int(seconds * 1000 / chunk_ms)):
            resampler.push(chunk)
            produced += len(resampler.fifo.pop_all())
            ideal = (index + 1) * output_rate * chunk_ms // 1000
            worst = max(worst, ideal - produced)
        return worst / output_rate


@functools.lru_cache(maxsize=128)
def _latency(
    input_rate: int, output_rate: int, engine: Literal["fir", "soxr"], quality: str
) -> float:
    if input_rate == output_rate:
        return 0.0
    if engine == "fir":
        return polyphase_design(*_ratio(input_rate, output_rate)).group_delay(input_rate)
    return Resampler.measure_delay(input_rate, output_rate, quality=quality, engine="soxr")
